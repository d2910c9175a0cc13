"""The record page actions as data: print, call and mail (seed 002, sections 10, 12, 13).

`PAGE_ACTIONS` says which object types offer each action: print on every type; call on types
with a phone field; mail on types with an email field (the seed names sales leads, accounts and
contacts, the types that have one). Calls and mails become SALES_RECORD feed items on the record.
"""

from __future__ import annotations

from enum import StrEnum

from crmfeed.registry.enums import FieldType, ObjectType
from crmfeed.registry.feed import FeedItemType
from crmfeed.registry.objects import OBJECTS, REGISTRY


class PageAction(StrEnum):
    PRINT = "print"
    CALL = "call"
    MAIL = "mail"


class CallDirection(StrEnum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class CallOutcome(StrEnum):
    CONNECTED = "CONNECTED"
    NO_ANSWER = "NO_ANSWER"
    BUSY = "BUSY"
    VOICEMAIL = "VOICEMAIL"
    FAILED = "FAILED"


class MailSecurity(StrEnum):
    """How the SMTP connection is protected: implicit TLS (465), STARTTLS (587), or none."""

    TLS = "TLS"
    STARTTLS = "STARTTLS"
    NONE = "NONE"


class MailStatus(StrEnum):
    """PENDING: waiting to be sent (or retried); SENT; FAILED: given up, the draft is kept."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


def fields_of_type(object_type: ObjectType | str, field_type: FieldType) -> tuple[str, ...]:
    """The names of an object type's fields of one field type, in declared order."""
    return tuple(f.name for f in REGISTRY[ObjectType(object_type)].fields if f.type is field_type)


PAGE_ACTIONS: dict[PageAction, frozenset[ObjectType]] = {
    PageAction.PRINT: frozenset(spec.object_type for spec in OBJECTS),
    PageAction.CALL: frozenset(
        spec.object_type for spec in OBJECTS if fields_of_type(spec.object_type, FieldType.PHONE)
    ),
    PageAction.MAIL: frozenset(
        spec.object_type for spec in OBJECTS if fields_of_type(spec.object_type, FieldType.EMAIL)
    ),
}

ACTIVITY_TYPE = FeedItemType.SALES_RECORD  # what a logged call and a sent mail become
MAX_CALL_SECONDS = 24 * 3600
MAIL_BATCH_LIMIT = 50  # recipients in one sending (seed 13)
MAIL_RETRY_SECONDS = (30, 120, 600, 1800, 3600)  # waits before the 2nd, 3rd, ... attempt
MAIL_LEASE_SECONDS = 120  # a claimed mail returns to the queue if its sender dies
PRINT_ACTIVITY_LIMIT = 20  # recent feed items a default print shows
