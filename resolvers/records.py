"""Creating, editing, reading and listing business records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind
from crmfeed.registry.actions import Action
from crmfeed.registry.enums import LifeStatus, ObjectType
from crmfeed.registry.objects import spec_for
from resolvers import checker, confirmation, system_items
from resolvers.errors import BadUserInput, Forbidden, not_found
from resolvers.inputs import parse_id
from resolvers.paging import bounded, count_bound, decode_cursor
from resolvers.validation import TEXT_MAX, CleanValues, clean_values, merged
from store import org, records
from store.records import RecordFilter

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.checker import Standing
    from resolvers.context import Context
    from resolvers.record_actions import Sent
    from store.models import Department, Record, User
    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class RecordPage:
    rows: list[Record]
    has_next: bool
    context: Context
    object_type: ObjectType | None
    record_filter: RecordFilter
    life_status: LifeStatus

    async def total_count(self) -> int:
        """Counted only when asked for, with the same visibility condition as the rows."""
        viewer = await self.context.viewer()
        async with self.context.db() as session:
            return await records.count_records(
                session,
                viewer,
                object_type=self.object_type,
                record_filter=self.record_filter,
                life_status=self.life_status,
            )

    async def count_up_to(self, at_most: int) -> tuple[int, bool]:
        """(count, exact): the same count, stopped after `at_most` records."""
        at_most = count_bound(at_most)
        viewer = await self.context.viewer()
        async with self.context.db() as session:
            found = await records.count_records_up_to(
                session,
                viewer,
                object_type=self.object_type,
                record_filter=self.record_filter,
                at_most=at_most,
                life_status=self.life_status,
            )
        return bounded(found, at_most)


async def readable_or_not_found(session: AsyncSession, viewer: Viewer, record_id: str) -> Record:
    """The record, or NOT_FOUND whether it is missing or hidden from the viewer."""
    try:
        number = parse_id(record_id, Kind.RECORD, "id")
    except BadUserInput:
        raise not_found("record", record_id) from None
    record = await records.readable_record(session, viewer, number)
    if record is None:
        raise not_found("record", record_id)
    return record


async def _check_references(
    session: AsyncSession, viewer: Viewer, object_type: ObjectType, clean: CleanValues
) -> None:
    spec = spec_for(object_type)
    if clean.lookups:
        found = await records.readable_records(session, viewer, list(clean.lookups.values()))
        for name, number in clean.lookups.items():
            target = spec.field_map[name].target
            row = found.get(number)
            if row is None or row.object_type != target or row.life_status != LifeStatus.NORMAL:
                label = spec_for(target).label if target else "record"
                raise BadUserInput(
                    f"values.{name}: no {label} with id {clean.values[name]} exists.", field=name
                )
    if clean.users:
        users = await org.users_by_ids(session, viewer.enterprise_id, list(clean.users.values()))
        for name, number in clean.users.items():
            if number not in users:
                raise BadUserInput(
                    f"values.{name}: no user with id {clean.values[name]} exists.", field=name
                )


async def _check_owner(session: AsyncSession, viewer: Viewer, owner: int) -> None:
    """Owners other than oneself: one's subordinates, or anyone for a CRM administrator.
    (The viewer is an active user of the enterprise: they need no look-up.)"""
    if owner == viewer.id:
        return
    if await org.get_user(session, viewer.enterprise_id, owner) is None:
        raise BadUserInput("ownerId: no user with that id exists.", field="ownerId")
    if viewer.is_admin:
        return
    if not await org.is_subordinate_or_self(session, viewer.id, owner):
        raise Forbidden(
            "ownerId: you may assign records only to yourself or to your subordinates.",
            field="ownerId",
        )


async def create_record(
    context: Context, object_type: ObjectType, values: Any, owner_id: str | None
) -> Record:
    viewer = await context.viewer()
    spec = spec_for(object_type)
    checker.check_permission(viewer, object_type, "create", doing=f"Creating a {spec.label}")
    clean = clean_values(spec, values, creating=True)
    if clean.values:  # the name is always writable: with no other field, no rule to read
        (await context.field_access()).require_writable(object_type, clean.values)
    owner = viewer.id if owner_id is None else parse_id(owner_id, Kind.USER, "ownerId")
    async with context.db() as session:
        await _check_owner(session, viewer, owner)
        await _check_references(session, viewer, object_type, clean)
        record = await records.insert_record(
            session,
            enterprise_id=viewer.enterprise_id,
            object_type=object_type.value,
            name=clean.name or "",
            status=spec.default_status,
            values=merged({}, clean.values),
            owner_id=owner,
            created_by_id=viewer.id,
        )
        sent = await confirmation.submitted_on_creation(session, viewer, record)
        await session.commit()
    await context.publish(sent)
    return record


async def update_record(context: Context, record_id: str, values: Any) -> Record:
    access = await context.field_access()  # before the action holds the session

    def gate(record: Record, who: Standing) -> None:
        checker.check(Action.EDIT, record, who)

    async def apply(session: AsyncSession, viewer: Viewer, record: Record) -> Sent:
        spec = spec_for(record.object_type)
        clean = clean_values(spec, values, creating=False)
        access.require_writable(spec.object_type, clean.values)
        await _check_references(session, viewer, spec.object_type, clean)
        before = dict(record.values or {})
        record.name = clean.name or record.name
        record.values = merged(before, clean.values)
        return await system_items.after_record_update(session, viewer, record, before)

    from resolvers.record_actions import act  # it reads records through this module

    return await act(context, record_id, gate, apply)


async def get_record(context: Context, record_id: str) -> Record | None:
    await context.viewer()
    try:
        number = parse_id(record_id, Kind.RECORD, "id")
    except BadUserInput:
        return None
    return await context.loaders.readable_record_by_id.load(number)


async def page(
    context: Context,
    *,
    object_type: ObjectType | None,
    record_filter: RecordFilter,
    first: int | None,
    after: str | None,
    life_status: LifeStatus = LifeStatus.NORMAL,
) -> RecordPage:
    viewer = await context.viewer()
    size = context.page_size(first)
    before_id = decode_cursor(after)
    owners: dict[int, User] = {}
    departments: dict[int, Department] = {}
    async with context.db() as session:
        rows = await records.page_records(
            session,
            viewer,
            object_type=object_type.value if object_type else None,
            record_filter=record_filter,
            before_id=before_id,
            limit=size + 1,
            life_status=life_status,
            owners=owners,
            departments=departments,
        )
    # The page read its owners and their departments: `owner` and `department` of each row
    # then cost no statement of their own.
    context.loaders.user_by_id.prime_many(owners)
    context.loaders.department_by_id.prime_many(departments)
    return RecordPage(
        rows=rows[:size],
        has_next=len(rows) > size,
        context=context,
        object_type=object_type,
        record_filter=record_filter,
        life_status=life_status,
    )


def make_filter(
    *,
    statuses: list[str] | None,
    owner_id: str | None,
    name_contains: str | None,
    updated_since: Any,
    object_type: ObjectType,
) -> RecordFilter:
    spec = spec_for(object_type)
    for status in statuses or ():
        if status not in spec.status_keys:
            raise BadUserInput(
                f"filter.status: '{status}' is not a {spec.label} status "
                f"({', '.join(spec.status_keys)}).",
                field="status",
            )
    if updated_since is not None and updated_since.tzinfo is None:
        raise BadUserInput("filter.updatedSince needs a UTC offset.", field="updatedSince")
    if name_contains is not None and len(name_contains) > TEXT_MAX:  # a name is a TEXT field
        raise BadUserInput(
            f"filter.nameContains may be at most {TEXT_MAX} characters, the longest a record "
            f"name can be (got {len(name_contains):,}).",
            field="nameContains",
        )
    return RecordFilter(
        statuses=tuple(statuses or ()),
        owner_id=None if owner_id is None else parse_id(owner_id, Kind.USER, "ownerId"),
        name_contains=name_contains or None,
        updated_since=updated_since,
    )
