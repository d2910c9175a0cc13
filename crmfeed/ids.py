"""Opaque public ids: `<kind>_<number>`, so an id of one kind is never taken for another."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    ENTERPRISE = "ent"
    USER = "usr"
    DEPARTMENT = "dep"
    RECORD = "rec"
    SHARING_RULE = "shr"
    FEED_ITEM = "itm"
    REPLY = "rpl"
    TASK = "tsk"
    REMINDER = "rmd"
    CALENDAR_EVENT = "cal"
    FORWARD = "fwd"
    NOTIFICATION = "ntf"
    PRINT_TEMPLATE = "ptp"
    MAIL_TEMPLATE = "mtp"
    MAIL = "mail"
    TRANSFER_JOB = "job"


def to_global(kind: Kind, number: int) -> str:
    return f"{kind.value}_{number}"


def from_global(kind: Kind, value: str) -> int:
    """The number behind an id of `kind`; ValueError when the id is not of that kind."""
    prefix, _, digits = str(value).partition("_")
    if prefix != kind.value or not digits.isdigit() or len(digits) > 18:
        raise ValueError(value)
    return int(digits)
