"""Checks shared by every mutation's input: ids, names, emails, passwords."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from zxcvbn import zxcvbn

from crmfeed.ids import Kind, from_global
from resolvers.errors import BadUserInput

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crmfeed.settings import Settings

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
KIND_LABELS = {
    Kind.USER: "user",
    Kind.DEPARTMENT: "department",
    Kind.RECORD: "record",
    Kind.SHARING_RULE: "sharing rule",
    Kind.ENTERPRISE: "enterprise",
    Kind.FEED_ITEM: "feed item",
    Kind.REPLY: "reply",
    Kind.TASK: "task",
    Kind.REMINDER: "reminder",
    Kind.CALENDAR_EVENT: "calendar event",
    Kind.FORWARD: "forward",
    Kind.NOTIFICATION: "notification",
    Kind.PRINT_TEMPLATE: "print template",
    Kind.MAIL_TEMPLATE: "mail template",
    Kind.MAIL: "mail",
}


def parse_id(value: str, kind: Kind, field: str) -> int:
    try:
        return from_global(kind, value)
    except ValueError:
        raise BadUserInput(
            f"{field}: '{value}' is not a {KIND_LABELS[kind]} id.", field=field
        ) from None


def parse_optional_id(value: str | None, kind: Kind, field: str) -> int | None:
    return None if value is None else parse_id(value, kind, field)


def parse_ids(values: list[str], kind: Kind, field: str) -> list[int]:
    return list(dict.fromkeys(parse_id(value, kind, field) for value in values))


def clean_text(value: str, field: str, *, max_length: int = 200) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise BadUserInput(f"{field} must not be empty.", field=field)
    if len(cleaned) > max_length:
        raise BadUserInput(f"{field} may be at most {max_length} characters.", field=field)
    return cleaned


def clean_email(value: str, field: str = "email") -> str:
    email = value.strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise BadUserInput(f"{field}: '{value}' is not an email address.", field=field)
    return email


# zxcvbn's cost grows with the length; past this many characters only the start is rated.
STRENGTH_CHECKED_LENGTH = 72


def check_password(
    value: str,
    field: str = "password",
    *,
    settings: Settings,
    user_inputs: Iterable[str] = (),
) -> str:
    """At least 8 characters, at most 1024, and not easy to guess: zxcvbn's score (0-4, with
    common passwords, words, names, keyboard walks, sequences, repeats and the account's own
    email and names counted as guessable) must reach PASSWORD_MIN_STRENGTH."""
    if len(value) < 8:
        raise BadUserInput(f"{field} must be at least 8 characters.", field=field)
    if len(value) > 1024:
        raise BadUserInput(f"{field} may be at most 1024 characters.", field=field)
    words = [part for given in user_inputs for part in re.split(r"[\W_]+", given) if part]
    rating = zxcvbn(value[:STRENGTH_CHECKED_LENGTH], user_inputs=[*user_inputs, *words])
    if rating["score"] < settings.password_min_strength:
        feedback = rating["feedback"]
        why = " ".join(filter(None, [feedback["warning"], *feedback["suggestions"]]))
        raise BadUserInput(
            f"{field} is too easy to guess: {why or 'choose a longer, less common one.'}",
            field=field,
        )
    return value
