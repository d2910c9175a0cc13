"""Checking a record's `values` against the object registry (pure: no database)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global
from crmfeed.registry.enums import FieldType
from crmfeed.registry.transitions import MANAGED_BY
from resolvers.errors import BadUserInput

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from crmfeed.registry.objects import FieldSpec, ObjectSpec

F = FieldType
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")
URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
LONG_TEXT_MAX = 10_000
TEXT_MAX = 500


@dataclass(slots=True)
class CleanValues:
    """Validated values, plus the references the resolver must still check in the database."""

    name: str | None
    values: dict[str, Any]
    lookups: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


def _bad(spec: FieldSpec, message: str) -> BadUserInput:
    return BadUserInput(f"values.{spec.name}: {message}", field=spec.name)


def _text(limit: int) -> Callable[[FieldSpec, Any], Any]:
    def check(spec: FieldSpec, value: Any) -> Any:
        if not isinstance(value, str):
            raise _bad(spec, "expected text.")
        if len(value) > limit:
            raise _bad(spec, f"at most {limit} characters.")
        return value

    return check


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[FieldSpec, Any], Any]:
    def check(spec: FieldSpec, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > TEXT_MAX or not regex.match(value.strip()):
            raise _bad(spec, f"'{value}' is not {what}.")
        return value.strip()

    return check


def _number(spec: FieldSpec, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(spec, "expected a number.")
    return value


def _boolean(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _bad(spec, "expected true or false.")
    return value


def _date(spec: FieldSpec, value: Any) -> Any:
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise _bad(spec, f"'{value}' is not a date (YYYY-MM-DD).") from None


def _datetime(spec: FieldSpec, value: Any) -> Any:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _bad(spec, f"'{value}' is not an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:
        raise _bad(spec, "give the date-time with its UTC offset, e.g. 2026-01-31T09:00:00+00:00.")
    return parsed.isoformat()


def _select(spec: FieldSpec, value: Any) -> Any:
    if value not in spec.options:
        raise _bad(spec, f"'{value}' is not one of {', '.join(spec.options)}.")
    return value


def _multi_select(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, list):
        raise _bad(spec, "expected a list of options.")
    for item in value:
        _select(spec, item)
    return list(dict.fromkeys(value))


def _reference(kind: Kind, what: str) -> Callable[[FieldSpec, Any], Any]:
    def check(spec: FieldSpec, value: Any) -> Any:
        try:
            from_global(kind, value)
        except (TypeError, ValueError):
            raise _bad(spec, f"'{value}' is not {what} id.") from None
        return value

    return check


def _references(kind: Kind, what: str) -> Callable[[FieldSpec, Any], Any]:
    one = _reference(kind, what)

    def check(spec: FieldSpec, value: Any) -> Any:
        if not isinstance(value, list):
            raise _bad(spec, f"expected a list of ids ({what} each).")
        return [one(spec, item) for item in value]

    return check


CHECKS: dict[FieldType, Callable[[FieldSpec, Any], Any]] = {
    F.TEXT: _text(TEXT_MAX),
    F.LONG_TEXT: _text(LONG_TEXT_MAX),
    F.NUMBER: _number,
    F.CURRENCY: _number,
    F.BOOLEAN: _boolean,
    F.DATE: _date,
    F.DATETIME: _datetime,
    F.SELECT: _select,
    F.MULTI_SELECT: _multi_select,
    F.EMAIL: _pattern(EMAIL, "an email address"),
    F.PHONE: _pattern(PHONE, "a phone number"),
    F.URL: _pattern(URL, "an http(s) URL"),
    F.LOOKUP: _reference(Kind.RECORD, "a record"),
    F.USER: _reference(Kind.USER, "a user"),
    F.USERS: _references(Kind.USER, "a user"),
}


def clean_values(spec: ObjectSpec, raw: Any, *, creating: bool) -> CleanValues:
    """Check `raw` against the object's fields; raise BAD_USER_INPUT naming the first bad one.

    `null` clears an optional field. On create, every required field must be present.
    """
    if not isinstance(raw, dict):
        raise BadUserInput("values must be a JSON object of field name to value.", field="values")
    if "status" in raw:
        start = f" A new {spec.label} starts as {spec.default_status}." if creating else ""
        raise BadUserInput(
            "values.status: a status changes only through transitionRecord (the record's "
            f"`transitions` lists the ones you may apply).{start}",
            field="status",
        )
    unknown = [key for key in raw if key not in spec.field_map]
    if unknown:
        raise BadUserInput(
            f"values.{unknown[0]}: {spec.label} has no field '{unknown[0]}'.", field=unknown[0]
        )
    managed = [key for key in raw if (spec.object_type, key) in MANAGED_BY]
    if managed:
        by = MANAGED_BY[(spec.object_type, managed[0])]
        raise BadUserInput(
            f"values.{managed[0]}: set only by the {by} transition (transitionRecord).",
            field=managed[0],
        )
    result = CleanValues(name=None, values={})
    for field_spec in spec.fields:
        if field_spec.name not in raw:
            if creating and field_spec.required:
                raise _bad(field_spec, "this field is required.")
            continue
        value = raw[field_spec.name]
        if value is None:
            if field_spec.required:
                raise _bad(field_spec, "this field is required.")
            result.values[field_spec.name] = None
            continue
        cleaned = CHECKS[field_spec.type](field_spec, value)
        if field_spec.name == "name":
            cleaned = cleaned.strip()
            if not cleaned:
                raise _bad(field_spec, "this field is required.")
            result.name = cleaned
            continue
        result.values[field_spec.name] = cleaned
        if field_spec.type is F.LOOKUP:
            result.lookups[field_spec.name] = from_global(Kind.RECORD, cleaned)
        elif field_spec.type is F.USER:
            result.users[field_spec.name] = from_global(Kind.USER, cleaned)
    return result


def merged(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values updated by `changes`; a None change removes the key."""
    result = {**stored, **changes}
    return {key: value for key, value in result.items() if value is not None}
