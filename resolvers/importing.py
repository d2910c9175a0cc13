"""The import core, shared by the quick import, the background job and the CLI: map a sheet's
header to registry fields, turn each row into the `values` `createRecord` takes, validate it
with the same code (resolvers/validation.py), check owners, references and duplicate keys a
batch at a time, and write the valid rows in batches (store/transfer.py).

Each failed row is reported once, with its row number (as Excel shows it), the column and the
reason, under one of the kinds of `RowErrorKind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from crmfeed.registry.actions import Action
from crmfeed.registry.enums import FieldType, LifeStatus
from crmfeed.registry.objects import DUPLICATE_KEYS, spec_for
from crmfeed.registry.transitions import MANAGED_BY
from crmfeed.sheets import OWNER_EMAIL, OWNER_EMAIL_LABEL, Column, cell_value, is_blank, text_of
from resolvers import checker, system_items
from resolvers.errors import BadUserInput, CrmError, Forbidden
from resolvers.validation import clean_values, merged
from store import org, records, transfer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from crmfeed.registry.enums import ObjectType
    from crmfeed.registry.objects import ObjectSpec
    from crmfeed.sheets import SheetReader
    from resolvers.field_access import FieldAccessMap
    from store.viewer import Viewer

F = FieldType
UPDATABLE = frozenset(DUPLICATE_KEYS)
"""Object types an import may update by duplicate key (sales records, feed items imported by
resolvers/sales_record_import.py, are only ever created)."""
SEPARATOR = "\x1f"  # the ASCII unit separator joins the parts of a duplicate key


class ImportMode(StrEnum):
    ALL_OR_NOTHING = "ALL_OR_NOTHING"
    VALID_ROWS_ONLY = "VALID_ROWS_ONLY"


class RowErrorKind(StrEnum):
    MISSING_REQUIRED = "MISSING_REQUIRED"
    BAD_FORMAT = "BAD_FORMAT"
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    UNKNOWN_OWNER = "UNKNOWN_OWNER"
    OWNER_NOT_ALLOWED = "OWNER_NOT_ALLOWED"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"
    DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
    DUPLICATE_EXISTING = "DUPLICATE_EXISTING"
    NOT_EDITABLE = "NOT_EDITABLE"


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None
    kind: RowErrorKind
    reason: str
    cells: list[Any] = field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        return {
            "row_number": self.row,
            "column_name": self.column,
            "kind": self.kind.value,
            "reason": self.reason,
            "cells": [text_of(cell) for cell in self.cells],
        }


@dataclass(slots=True)
class ValidRow:
    row: int
    name: str
    values: dict[str, Any]
    owner_id: int
    keys: list[str]
    owner_email: str | None = None
    lookups: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    update_id: int | None = None  # the existing record this row updates (update by key)


@dataclass(slots=True)
class Checked:
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def known_headers(spec: ObjectSpec) -> dict[str, str]:
    """Casefolded labels and keys -> field key, for every field an import may set."""
    known: dict[str, str] = {}
    for f in spec.fields:
        if (spec.object_type, f.name) in MANAGED_BY:
            continue
        known[f.label.casefold()] = f.name
        known[f.name.casefold()] = f.name
    known[OWNER_EMAIL_LABEL.casefold()] = OWNER_EMAIL
    known[OWNER_EMAIL.casefold()] = OWNER_EMAIL
    return known


def importable_columns(spec: ObjectSpec, access: FieldAccessMap) -> list[Column]:
    """The template's columns for this caller: fields they may write, not set by transitions."""
    from crmfeed.sheets import import_columns

    writable = [
        f
        for f in spec.fields
        if (spec.object_type, f.name) not in MANAGED_BY
        and access.of(spec.object_type.value, f.name).value == "READ_WRITE"
    ]
    return import_columns(writable)


def _normal(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def duplicate_key(index: int, parts: Sequence[Any]) -> str | None:
    """One key as one string (`<key index> US <part> US ...`, normalized), or None when a part
    is missing: a string, not a tuple, so 300,000 of them stay small."""
    if any(part in (None, "") for part in parts):
        return None
    return SEPARATOR.join([str(index), *(_normal(part) for part in parts)])


def record_keys(object_type: ObjectType, name: str, values: dict[str, Any]) -> list[str]:
    """The duplicate keys a record has (each key whose fields are all given)."""
    found = []
    for index, fields in enumerate(DUPLICATE_KEYS.get(object_type, ())):
        key = duplicate_key(index, [name if f == "name" else values.get(f) for f in fields])
        if key is not None:
            found.append(key)
    return found


class Importer:
    """Validates rows a batch at a time and writes the valid ones (see the module docstring)."""

    def __init__(
        self,
        viewer: Viewer,
        object_type: ObjectType,
        access: FieldAccessMap,
        reader: SheetReader,
        *,
        update_existing: bool = False,
    ) -> None:
        if update_existing and object_type not in UPDATABLE:
            raise BadUserInput(
                f"{spec_for(object_type).label} records have no duplicate key to update by.",
                field="updateExisting",
            )
        self.update_existing = update_existing
        self.viewer = viewer
        self.spec = spec_for(object_type)
        self.access = access
        self.reader = reader
        self.columns: list[tuple[int, str]] = [
            (index, key) for index, key in enumerate(reader.keys) if key is not None
        ]
        self.labels = {
            key: (reader.headers[index] or key).rstrip(" *") for index, key in self.columns
        }
        self.ignored = [
            header
            for header, key in zip(reader.headers, reader.keys, strict=True)
            if header and key is None
        ]
        self.seen: set[str] = set()
        self.updated = 0
        self.existing: dict[str, int] = {}  # duplicate key -> the readable record having it

    def check_header(self) -> None:
        """BAD_USER_INPUT when no column is known; FORBIDDEN (as `createRecord`) for a column
        the caller may not write."""
        if not self.columns:
            known = ", ".join(f.label for f in self.spec.fields[:4])
            raise BadUserInput(
                f"No column of the first sheet's header is a {self.spec.label} field (e.g. "
                f"{known}): download the template and fill it in.",
                field="file",
            )
        self.access.require_writable(
            self.spec.object_type.value, [key for _, key in self.columns if key != OWNER_EMAIL]
        )

    async def load_existing(self, session: AsyncSession) -> None:
        """The duplicate keys of the records of this type the importer may read."""
        keys = DUPLICATE_KEYS.get(self.spec.object_type, ())
        for index, fields in enumerate(keys):
            async for record_id, *parts in transfer.key_values(
                session, self.viewer, self.spec.object_type.value, fields
            ):
                key = duplicate_key(index, parts)
                if key is not None:
                    self.existing.setdefault(key, record_id)

    def _raw(self, cells: Sequence[Any]) -> tuple[dict[str, Any], str | None]:
        raw: dict[str, Any] = {}
        owner: str | None = None
        for index, key in self.columns:
            cell = cells[index] if index < len(cells) else None
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            if key == OWNER_EMAIL:
                owner = text_of(cell).casefold()
                continue
            raw[key] = cell_value(self.spec.field_map[key], cell)
        return raw, owner

    def _error(
        self, row: int, key: str | None, kind: RowErrorKind, reason: str, cells: Sequence[Any]
    ) -> RowError:
        column = self.labels.get(key) if key else None
        if column is None and key in self.spec.field_map:
            column = self.spec.field_map[key].label
        return RowError(row, column, kind, reason, list(cells))

    def _clean(self, row: int, cells: Sequence[Any]) -> ValidRow | RowError:
        raw, owner_email = self._raw(cells)
        try:
            clean = clean_values(self.spec, raw, creating=True)
        except BadUserInput as error:
            key = (error.extensions or {}).get("field")
            reason = error.message.split(": ", 1)[-1]
            spec = self.spec.field_map.get(key) if key else None
            if "required" in reason:
                kind = RowErrorKind.MISSING_REQUIRED
            elif spec is not None and spec.type in (F.SELECT, F.MULTI_SELECT):
                kind = RowErrorKind.UNKNOWN_OPTION
            else:
                kind = RowErrorKind.BAD_FORMAT
            return self._error(row, key, kind, reason, cells)
        name = clean.name or ""
        return ValidRow(
            row=row,
            name=name,
            values=merged({}, clean.values),
            owner_id=self.viewer.id,
            keys=record_keys(self.spec.object_type, name, clean.values),
            owner_email=owner_email,
            lookups=clean.lookups,
            users=clean.users,
        )

    def remember(self, cells: Sequence[Any]) -> None:
        """Note the keys of a row checked before (a job resuming its validation)."""
        if not is_blank(cells):
            result = self._clean(0, cells)
            if isinstance(result, ValidRow):
                self.seen.update(result.keys)

    async def check(self, session: AsyncSession, rows: Sequence[tuple[int, list[Any]]]) -> Checked:
        """Validate a batch: blank rows are skipped; each other row is valid or one error."""
        checked = Checked()
        candidates: list[tuple[ValidRow, list[Any]]] = []
        for row, cells in rows:
            if is_blank(cells):
                continue
            result = self._clean(row, cells)
            if isinstance(result, RowError):
                checked.errors.append(result)
            else:
                candidates.append((result, cells))
        owners = await self._owners(session, [c for c, _ in candidates if c.owner_email])
        found = await records.readable_records(
            session, self.viewer, [n for c, _ in candidates for n in c.lookups.values()]
        )
        users = await org.users_by_ids(
            session, self.viewer.enterprise_id, [n for c, _ in candidates for n in c.users.values()]
        )
        for candidate, cells in candidates:
            problem = self._owner_problem(candidate, owners) or self._reference_problem(
                candidate, found, users
            )
            if problem is None:
                problem = self._duplicate_problem(candidate)
            if problem is not None:
                key, kind, reason = problem
                checked.errors.append(self._error(candidate.row, key, kind, reason, cells))
                continue
            self.seen.update(candidate.keys)
            checked.valid.append(candidate)
        if self.update_existing:
            refused = await self._check_updates(session, checked.valid)
            if refused:
                by_row = {c.row: cells for c, cells in candidates}
                checked.errors += [
                    self._error(row.row, None, RowErrorKind.NOT_EDITABLE, reason, by_row[row.row])
                    for row, reason in refused
                ]
                gone = {row.row for row, _ in refused}
                checked.valid = [row for row in checked.valid if row.row not in gone]
        checked.errors.sort(key=lambda e: e.row)
        return checked

    async def _check_updates(
        self, session: AsyncSession, rows: Sequence[ValidRow]
    ) -> list[tuple[ValidRow, str]]:
        """The action rules decide, row by row, whether the importer may edit the record a row
        updates (as `updateRecord`)."""
        updates = [row for row in rows if row.update_id is not None]
        if not updates:
            return []
        found = await records.readable_records(
            session, self.viewer, [row.update_id for row in updates if row.update_id]
        )
        refused = []
        for row in updates:
            record = found.get(row.update_id or 0)
            try:
                if record is None:
                    raise Forbidden("the record it matches is no longer there.")
                await checker.require(session, self.viewer, record, Action.EDIT)
            except CrmError as error:
                refused.append(
                    (
                        row,
                        f"it matches {record.name if record else 'a record'} by "
                        f"its duplicate key, which you may not edit: {error.message}",
                    )
                )
        return refused

    async def _owners(
        self, session: AsyncSession, rows: Sequence[ValidRow]
    ) -> dict[str, tuple[int, bool]]:
        """Email -> (user id, whether the importer may assign them), as `createRecord`'s
        ownerId: oneself, one's subordinates, or anyone for a CRM administrator."""
        emails = {row.owner_email for row in rows if row.owner_email}
        ids = await transfer.users_by_email(session, self.viewer.enterprise_id, emails)
        if self.viewer.is_admin:
            allowed = set(ids.values())
        else:
            allowed = await transfer.subordinates_among(session, self.viewer.id, ids.values())
        return {email: (uid, uid in allowed or uid == self.viewer.id) for email, uid in ids.items()}

    def _owner_problem(
        self, row: ValidRow, owners: dict[str, tuple[int, bool]]
    ) -> tuple[str, RowErrorKind, str] | None:
        if not row.owner_email:
            return None
        found = owners.get(row.owner_email)
        if found is None:
            return (
                OWNER_EMAIL,
                RowErrorKind.UNKNOWN_OWNER,
                (f"no user with the email {row.owner_email} exists."),
            )
        user_id, allowed = found
        if not allowed:
            return (
                OWNER_EMAIL,
                RowErrorKind.OWNER_NOT_ALLOWED,
                ("you may assign records only to yourself or to your subordinates."),
            )
        row.owner_id = user_id
        return None

    def _reference_problem(
        self, row: ValidRow, found: dict[int, Any], users: dict[int, Any]
    ) -> tuple[str, RowErrorKind, str] | None:
        """As `createRecord`: each lookup a normal record of its type the importer may read,
        each user one of the enterprise's."""
        for name, number in row.lookups.items():
            target = self.spec.field_map[name].target
            record = found.get(number)
            if (
                record is None
                or record.object_type != target
                or record.life_status != LifeStatus.NORMAL
            ):
                label = spec_for(target).label if target else "record"
                return (
                    name,
                    RowErrorKind.UNKNOWN_REFERENCE,
                    (f"no {label} with id {row.values[name]} exists."),
                )
        for name, number in row.users.items():
            if number not in users:
                return (
                    name,
                    RowErrorKind.UNKNOWN_REFERENCE,
                    (f"no user with id {row.values[name]} exists."),
                )
        return None

    def _duplicate_problem(self, row: ValidRow) -> tuple[str, RowErrorKind, str] | None:
        keys = DUPLICATE_KEYS.get(self.spec.object_type, ())
        for key in row.keys:
            fields = keys[int(key.split(SEPARATOR, 1)[0])]
            what = " and ".join(self.spec.field_map[f].label for f in fields)
            if key in self.seen:
                return (
                    fields[0],
                    RowErrorKind.DUPLICATE_IN_FILE,
                    (f"an earlier row of this file has the same {what}."),
                )
            if key in self.existing and self.update_existing:
                target = self.existing[key]
                if row.update_id not in (None, target):
                    return (
                        fields[0],
                        RowErrorKind.DUPLICATE_EXISTING,
                        "its keys match two different records; update one at a time.",
                    )
                row.update_id = target
                continue
            if key in self.existing:
                return (
                    fields[0],
                    RowErrorKind.DUPLICATE_EXISTING,
                    (f"a {self.spec.label} with the same {what} already exists."),
                )
        return None

    async def write(self, session: AsyncSession, rows: Sequence[ValidRow]) -> list[int]:
        """Insert the new rows (in the caller's transaction) as `createRecord` would one by
        one, and update the matched ones as `updateRecord` would (their owner stays; an
        opportunity's stage change gets its feed item and stored notification); returns the
        ids written, created first."""
        created = await transfer.insert_records(
            session,
            enterprise_id=self.viewer.enterprise_id,
            object_type=self.spec.object_type.value,
            status=self.spec.default_status,
            created_by_id=self.viewer.id,
            rows=[(row.name, row.values, row.owner_id) for row in rows if row.update_id is None],
        )
        updates = [row for row in rows if row.update_id is not None]
        if not updates:
            return created
        found = await records.readable_records(
            session, self.viewer, [row.update_id for row in updates if row.update_id]
        )
        for row in updates:
            record = found[row.update_id or 0]
            before = dict(record.values or {})
            await records.update_record(
                session,
                record,
                name=row.name or record.name,
                status=record.status,
                values=merged(before, row.values),
                updated_by_id=self.viewer.id,
            )
            await system_items.after_record_update(session, self.viewer, record, before)
        self.updated += len(updates)
        return [*created, *(row.update_id for row in updates if row.update_id)]
