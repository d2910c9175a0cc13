"""Importing sales records. A sales record is a feed item, not a record of an object type, so
it has its own columns: its content, the account it is about (the Account lookup a posted
sales record has) and/or another related record, each given by its id or by its object's
duplicate key (an account's name, a contact's mobile or email, a product's code; a type with no
one-field key is matched by the record's name). The importer is the author, as when posting.

An import only creates sales records, never updates one (there is no key to match them by).
Each row is checked as `postSalesRecord` checks its input: the content, and the related
records, which must be normal records the importer may read (one they may not read is "not
found", as a missing one). Valid rows are written as a posted sales record is
(`store.feed.insert_items`, the batch form of `insert_item`: the same item, related-to links,
the author following it), so they appear in the feeds of their records exactly as posted ones.
A posted sales record notifies only the people it mentions or copies; imported rows name
nobody, so the only notification is the job's one summary (IMPORT_FINISHED).

The class has the interface of `resolvers.importing.Importer`, so the quick import, the
background job and the CLI run it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global
from crmfeed.registry.enums import FieldType, LifeStatus, ObjectType
from crmfeed.registry.feed import MAX_CONTENT, FeedItemType
from crmfeed.registry.objects import DUPLICATE_KEYS, FieldSpec, spec_for
from crmfeed.sheets import Column, is_blank, text_of
from resolvers.checker import check_permission
from resolvers.errors import BadUserInput
from resolvers.importing import RowError, RowErrorKind
from store import feed, records, transfer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from crmfeed.sheets import SheetReader
    from store.viewer import Viewer

SALES_RECORD = "SALES_RECORD"
"""The import target of sales records (stored as a job's `object_type`; no ObjectType)."""
LABEL = "Sales Record"
CONTENT, ACCOUNT, RELATED_TYPE, RELATED_TO = "content", "account", "relatedType", "relatedTo"
FIELDS = (
    FieldSpec(CONTENT, "Content", FieldType.LONG_TEXT, required=True),
    FieldSpec(ACCOUNT, "Account", FieldType.TEXT),
    FieldSpec(
        RELATED_TYPE,
        "Related type",
        FieldType.SELECT,
        options=tuple(spec_for(t).label for t in ObjectType),
    ),
    FieldSpec(RELATED_TO, "Related to", FieldType.TEXT),
)
NOTES = {
    ACCOUNT: "The account's id (rec_...) or its name.",
    RELATED_TYPE: "The type of the record in Related to (not needed when it is an id).",
    RELATED_TO: "The related record's id (rec_...), or its duplicate key (e.g. a contact's "
    "mobile or email) or name, with Related type.",
}
"""Template notes of the columns (Account or Related to is needed, as a posted sales record
must be related to a record)."""


def require_import_permission(viewer: Viewer) -> None:
    """FORBIDDEN unless the roles grant `SalesRecord.import` and, as it creates sales records,
    `SalesRecord.create` (FAQ 9)."""
    for operation in ("import", "create"):
        check_permission(viewer, "SalesRecord", operation, doing="Importing sales records")


def known_headers() -> dict[str, str]:
    """Casefolded labels and keys -> column key."""
    known: dict[str, str] = {}
    for spec in FIELDS:
        known[spec.label.casefold()] = spec.name
        known[spec.name.casefold()] = spec.name
    return known


def template_columns() -> list[Column]:
    return [Column(spec.name, spec.label, spec) for spec in FIELDS]


def _type_of(text: str) -> ObjectType | None:
    wanted = " ".join(text.replace("_", " ").split()).casefold()
    for object_type in ObjectType:
        if wanted in (spec_for(object_type).label.casefold(), object_type.value.casefold()):
            return object_type
        if wanted == object_type.value.replace("_", " ").casefold():
            return object_type
    return None


def match_fields(object_type: ObjectType) -> tuple[str, ...]:
    """The fields a record of the type is found by: its one-field duplicate keys, else its
    name."""
    single = tuple(key[0] for key in DUPLICATE_KEYS.get(object_type, ()) if len(key) == 1)
    return single or ("name",)


@dataclass(slots=True)
class Ref:
    """One reference a row makes: by id, or by a key value of a type."""

    column: str
    object_type: ObjectType | None
    text: str
    record_id: int | None = None


@dataclass(slots=True)
class SalesRow:
    row: int
    content: str
    refs: list[Ref]
    account_id: int | None = None
    related_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SalesChecked:
    valid: list[SalesRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _record_id(text: str) -> int | None:
    try:
        return from_global(Kind.RECORD, text)
    except ValueError:
        return None


class SalesRecordImporter:
    """Checks and writes sales record rows (see the module docstring)."""

    def __init__(self, viewer: Viewer, reader: SheetReader, *, update_existing: bool = False):
        if update_existing:
            raise BadUserInput(
                "A sales record import only creates sales records; it never updates one.",
                field="updateExisting",
            )
        self.viewer = viewer
        self.reader = reader
        self.columns: list[tuple[int, str]] = [
            (index, key) for index, key in enumerate(reader.keys) if key is not None
        ]
        self.labels = {spec.name: spec.label for spec in FIELDS} | {
            key: (reader.headers[index] or key).rstrip(" *") for index, key in self.columns
        }
        self.ignored = [
            header
            for header, key in zip(reader.headers, reader.keys, strict=True)
            if header and key is None
        ]
        self.seen: set[str] = set()  # sales records have no duplicate key: stays empty
        self.updated = 0

    def check_header(self) -> None:
        keys = {key for _, key in self.columns}
        if CONTENT not in keys or not keys & {ACCOUNT, RELATED_TO}:
            raise BadUserInput(
                "A sales record import needs a Content column and an Account or Related to "
                "column: download the template and fill it in.",
                field="file",
            )

    async def load_existing(self, session: AsyncSession) -> None:
        """Nothing to load: sales records are never matched, only created."""

    def remember(self, cells: Sequence[Any]) -> None:
        """Nothing to remember between rows (no duplicate key)."""

    def _error(
        self, row: int, key: str | None, kind: RowErrorKind, reason: str, cells: Sequence[Any]
    ) -> RowError:
        return RowError(row, self.labels.get(key) if key else None, kind, reason, list(cells))

    def _parse(self, row: int, cells: Sequence[Any]) -> SalesRow | RowError:
        raw: dict[str, str] = {}
        for index, key in self.columns:
            text = text_of(cells[index]) if index < len(cells) else ""
            if text:
                raw[key] = text
        content = raw.get(CONTENT, "")
        if not content:
            return self._error(
                row, CONTENT, RowErrorKind.MISSING_REQUIRED, "Content is required.", cells
            )
        if len(content) > MAX_CONTENT:
            return self._error(
                row,
                CONTENT,
                RowErrorKind.BAD_FORMAT,
                f"Content may be at most {MAX_CONTENT:,} characters (got {len(content):,}).",
                cells,
            )
        refs: list[Ref] = []
        if ACCOUNT in raw:
            refs.append(Ref(ACCOUNT, ObjectType.ACCOUNT, raw[ACCOUNT], _record_id(raw[ACCOUNT])))
        if RELATED_TO in raw:
            text = raw[RELATED_TO]
            object_type = None
            if RELATED_TYPE in raw:
                object_type = _type_of(raw[RELATED_TYPE])
                if object_type is None:
                    return self._error(
                        row,
                        RELATED_TYPE,
                        RowErrorKind.UNKNOWN_OPTION,
                        f"{raw[RELATED_TYPE]!r} is not an object type (e.g. Account, Contact).",
                        cells,
                    )
            number = _record_id(text)
            if number is None and object_type is None:
                return self._error(
                    row,
                    RELATED_TYPE,
                    RowErrorKind.MISSING_REQUIRED,
                    f"{text!r} is not a record id: give the Related type to find it by.",
                    cells,
                )
            refs.append(Ref(RELATED_TO, object_type, text, number))
        if not refs:
            return self._error(
                row,
                RELATED_TO,
                RowErrorKind.MISSING_REQUIRED,
                "a sales record must be related to a record: fill in Account or Related to.",
                cells,
            )
        return SalesRow(row=row, content=content, refs=refs)

    async def check(
        self, session: AsyncSession, rows: Sequence[tuple[int, list[Any]]]
    ) -> SalesChecked:
        """Validate a batch: blank rows are skipped; each other row is valid or one error."""
        checked = SalesChecked()
        parsed: list[tuple[SalesRow, list[Any]]] = []
        for row, cells in rows:
            if is_blank(cells):
                continue
            result = self._parse(row, cells)
            if isinstance(result, RowError):
                checked.errors.append(result)
            else:
                parsed.append((result, cells))
        refs = [ref for sales_row, _ in parsed for ref in sales_row.refs]
        found = await records.readable_records(
            session, self.viewer, [ref.record_id for ref in refs if ref.record_id is not None]
        )
        by_key: dict[ObjectType, dict[str, list[int]]] = {}
        for object_type in {ref.object_type for ref in refs if ref.record_id is None}:
            if object_type is not None:
                by_key[object_type] = await transfer.records_by_key(
                    session,
                    self.viewer,
                    object_type.value,
                    match_fields(object_type),
                    {ref.text for ref in refs if ref.object_type is object_type},
                )
        for sales_row, cells in parsed:
            problem = None
            for ref in sales_row.refs:
                problem = self._resolve(sales_row, ref, found, by_key)
                if problem is not None:
                    break
            if problem is not None:
                column, reason = problem
                checked.errors.append(
                    self._error(
                        sales_row.row, column, RowErrorKind.UNKNOWN_REFERENCE, reason, cells
                    )
                )
            else:
                checked.valid.append(sales_row)
        checked.errors.sort(key=lambda e: e.row)
        return checked

    def _resolve(
        self,
        sales_row: SalesRow,
        ref: Ref,
        found: dict[int, Any],
        by_key: dict[ObjectType, dict[str, list[int]]],
    ) -> tuple[str, str] | None:
        """Set the row's account or related record from `ref`, or say why it cannot be."""
        label = spec_for(ref.object_type).label if ref.object_type else "record"
        if ref.record_id is not None:
            record = found.get(ref.record_id)
            if (
                record is None
                or record.life_status != LifeStatus.NORMAL
                or (ref.object_type is not None and record.object_type != ref.object_type)
            ):
                return ref.column, f"no {label} with id {ref.text} exists."
            number = record.id
        else:
            assert ref.object_type is not None
            ids = by_key.get(ref.object_type, {}).get(ref.text.strip().lower(), [])
            what = " or ".join(
                spec_for(ref.object_type).field_map[f].label for f in match_fields(ref.object_type)
            )
            if not ids:
                return ref.column, f"no {label} with the {what} {ref.text!r} exists."
            if len(ids) > 1:
                return (
                    ref.column,
                    f"{len(ids)} {label} records have the {what} {ref.text!r}: write the id of "
                    "the one you mean.",
                )
            number = ids[0]
        if ref.column == ACCOUNT:
            sales_row.account_id = number
        else:
            sales_row.related_ids.append(number)
        return None

    async def write(self, session: AsyncSession, rows: Sequence[SalesRow]) -> list[int]:
        """Create the sales records (in the caller's transaction) as posting them would (the
        store's batch form of the same rows); returns their feed item ids."""
        return await feed.insert_items(
            session,
            enterprise_id=self.viewer.enterprise_id,
            type=FeedItemType.SALES_RECORD.value,
            author_id=self.viewer.id,
            items=[
                (
                    row.content,
                    row.account_id,
                    [*row.related_ids, *([] if row.account_id is None else [row.account_id])],
                )
                for row in rows
            ],
        )
