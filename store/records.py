"""Business records: insert, update, look up, and list pages through the visibility engine."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, select
from sqlalchemy.orm import aliased

from crmfeed.registry.enums import DataAccess, LifeStatus, TeamRole
from store import visibility
from store.locks import lock_row
from store.models import Department, Record, TeamMember, User
from store.rows import insert_row
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import CompoundSelect, Select
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class RecordFilter:
    statuses: tuple[str, ...] = ()
    owner_id: int | None = None
    name_contains: str | None = None
    updated_since: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.statuses:
            found.append(Record.status.in_(self.statuses))
        if self.owner_id is not None:
            found.append(Record.owner_id == self.owner_id)
        if self.name_contains:
            escaped = (
                self.name_contains.lower()
                .replace("\\", "\\\\")
                .replace("%", "\\%")
                .replace("_", "\\_")
            )
            found.append(func.lower(Record.name).like(f"%{escaped}%", escape="\\"))
        if self.updated_since is not None:
            found.append(Record.updated_at >= self.updated_since)
        return found


_INSERT_TEAM_MEMBER = insert(TeamMember.__table__)


async def insert_record(
    session: AsyncSession,
    *,
    enterprise_id: int,
    object_type: str,
    name: str,
    status: str,
    values: dict[str, Any],
    owner_id: int,
    created_by_id: int,
) -> Record:
    """Insert a record; its owner joins the related team as Owner with Read & Write. Both by
    Core inserts (store/rows.py): the record is kept as a loaded object of the session."""
    now = utcnow()
    record = Record(
        enterprise_id=enterprise_id,
        object_type=object_type,
        name=name,
        status=status,
        status_before_invalid=None,
        life_status=LifeStatus.NORMAL.value,
        values=values,
        owner_id=owner_id,
        created_by_id=created_by_id,
        updated_by_id=created_by_id,
        created_at=now,
        updated_at=now,
    )
    await insert_row(session, record)
    await session.execute(
        _INSERT_TEAM_MEMBER,
        {
            "enterprise_id": enterprise_id,
            "record_id": record.id,
            "user_id": owner_id,
            "team_role": TeamRole.OWNER.value,
            "access": DataAccess.READ_WRITE.value,
            "added_at": now,
        },
    )
    return record


async def update_record(
    session: AsyncSession,
    record: Record,
    *,
    name: str,
    status: str,
    values: dict[str, Any],
    updated_by_id: int,
) -> None:
    record.name = name
    record.status = status
    record.values = values
    record.updated_by_id = updated_by_id
    record.updated_at = utcnow()
    await session.flush()


async def readable_record(session: AsyncSession, viewer: Viewer, record_id: int) -> Record | None:
    """The record if the viewer may read it, else None (missing and hidden look the same)."""
    return await session.scalar(_readable_among(viewer, Record), {"ids": [record_id]})


async def readable_records(
    session: AsyncSession, viewer: Viewer, ids: Sequence[int]
) -> dict[int, Record]:
    rows = await session.scalars(_readable_among(viewer, Record), {"ids": sorted(set(ids))})
    return {record.id: record for record in rows}


async def readable_ids(session: AsyncSession, viewer: Viewer, ids: Sequence[int]) -> set[int]:
    rows = await session.scalars(_readable_among(viewer, Record.id), {"ids": sorted(set(ids))})
    return set(rows)


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _readable_among(viewer: Viewer, what: Any) -> Select[Any]:
    """The records (or `what` of them) among the bound `ids` that the viewer may read; built
    once per viewer, so a request only binds its ids."""
    return select(what).where(
        Record.id.in_(bindparam("ids", expanding=True)), visibility.readable(viewer)
    )


REACH_ROWS = 4
"""Grant rows read per record of `visibility.NARROW_REACH` to tell a narrow viewer: reaching
one record in more ways than that only makes a narrow viewer walk (right, slower)."""


def _reach(
    session: AsyncSession,
    viewer: Viewer,
    object_type: str | None,
    record_filter: RecordFilter,
    life_status: LifeStatus,
) -> CompoundSelect | None:
    """`visibility.readable_reach` for a list of normal records, on SQLite. PostgreSQL keeps
    the list-index plans: there it reads the team branch as a hash join over every record,
    and turns the per-row team probe of a walk into a hash of every team row (measured on
    the 100,000-record bench: slower than scanning)."""
    if life_status is not LifeStatus.NORMAL or session.get_bind().dialect.name == "postgresql":
        return None
    return visibility.readable_reach(viewer, object_type, record_filter.conditions())


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _reach_rows(
    viewer: Viewer, object_type: str | None, record_filter: RecordFilter, limit: int
) -> Select[tuple[int]] | None:
    """The first `limit` rows of `visibility.readable_reach` (a list of normal records), built
    once per viewer and list: building it costs more than SQLite takes to run it for most.
    None when a grant opens every record of the list."""
    reach = visibility.readable_reach(viewer, object_type, record_filter.conditions())
    if reach is None:
        return None
    found = reach.subquery("reach")
    return select(found.c.id).limit(limit)


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _walked(
    viewer: Viewer, object_type: str | None, record_filter: RecordFilter
) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a walk of the list index with the per-row forms (built once per
    viewer and list)."""
    listed = visibility.listed_row(viewer, object_type=object_type)
    conditions = [listed, *record_filter.conditions()]
    if object_type is not None:
        conditions.append(Record.object_type == object_type)
    return tuple(conditions)


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _listing(
    viewer: Viewer,
    object_type: str | None,
    record_filter: RecordFilter,
    life_status: LifeStatus,
) -> tuple[ColumnElement[bool], ...]:
    """The list's conditions, built once per viewer and list (as `_readable_among`): the
    visibility condition is a tree of subqueries that took a tenth of a page's CPU to build
    again for every request."""
    listed = visibility.listed(viewer, life_status=life_status, object_type=object_type)
    conditions = [listed, *record_filter.conditions()]
    if object_type is not None:
        conditions.append(Record.object_type == object_type)
    return tuple(conditions)


async def page_records(
    session: AsyncSession,
    viewer: Viewer,
    *,
    object_type: str | None,
    record_filter: RecordFilter,
    before_id: int | None,
    limit: int,
    life_status: LifeStatus = LifeStatus.NORMAL,
    owners: dict[int, User] | None = None,
    departments: dict[int, Department] | None = None,
) -> list[Record]:
    """Newest first; keyset paging on id so pages stay stable while records change. Given
    `owners` and `departments`, the rows' owners and their departments are read by the same
    statement into them (by id).

    A viewer whose grants open records one by one first has the records they reach read (up
    to `visibility.NARROW_REACH`, from the owner and team indexes): when that is all of them,
    the page is among those ids; otherwise the list index is walked newest first, each record
    tested with the per-row forms until the page is full (the viewer sees many, so the walk is
    short). Either way the builder decides."""
    conditions: list[ColumnElement[bool]]
    cap = visibility.NARROW_REACH
    statement = None
    if life_status is LifeStatus.NORMAL and session.get_bind().dialect.name != "postgresql":
        # as `_reach`
        statement = _reach_rows(viewer, object_type, record_filter, REACH_ROWS * (cap + 1))
    if statement is None:
        conditions = list(_listing(viewer, object_type, record_filter, life_status))
    else:
        # The grants' rows as they come (no DISTINCT, which PostgreSQL would finish before
        # the LIMIT): a record usually comes twice (owner, and the owner's team row).
        rows = list(await session.scalars(statement))
        ids = sorted(set(rows))
        if len(rows) < REACH_ROWS * (cap + 1) and len(ids) <= cap:
            conditions = [Record.id.in_(ids)]
        else:
            conditions = list(_walked(viewer, object_type, record_filter))
    if before_id is not None:
        conditions.append(Record.id < before_id)
    query = select(Record).where(and_(*conditions)).order_by(Record.id.desc()).limit(limit)
    if owners is None or departments is None:
        return list(await session.scalars(query))
    # Each row's owner and the owner's department in the same statement, as the loaders would
    # read them (of the viewer's enterprise): a page that shows them costs no more round trips.
    owner, department = _PAGE_OWNER, _PAGE_DEPARTMENT
    query = (
        query.add_columns(owner, department)
        .outerjoin(
            owner,
            and_(owner.id == Record.owner_id, owner.enterprise_id == viewer.enterprise_id),
        )
        .outerjoin(
            department,
            and_(
                department.id == owner.department_id,
                department.enterprise_id == viewer.enterprise_id,
            ),
        )
    )
    found = (await session.execute(query)).all()
    owners.update({row[1].id: row[1] for row in found if row[1] is not None})
    departments.update({row[2].id: row[2] for row in found if row[2] is not None})
    return [row[0] for row in found]


_PAGE_OWNER = aliased(User, name="page_owner")
_PAGE_DEPARTMENT = aliased(Department, name="page_owner_department")


def _matching_ids(
    session: AsyncSession,
    viewer: Viewer,
    object_type: str | None,
    record_filter: RecordFilter,
    life_status: LifeStatus,
) -> Select[tuple[int]]:
    """The distinct ids of the records a list shows. For a viewer whose grants open records
    one by one, the union of the grants' own branches (`_reach`): it reads the records the
    viewer reaches from the owner and team indexes, instead of testing every record of the
    type. Otherwise (every record of the type is open; PostgreSQL) the list index."""
    reach = _reach(session, viewer, object_type, record_filter, life_status)
    if reach is None:
        conditions = _listing(viewer, object_type, record_filter, life_status)
        return select(Record.id).where(*conditions)
    found = reach.subquery("reach")
    return select(found.c.id).distinct()


async def count_records(
    session: AsyncSession,
    viewer: Viewer,
    *,
    object_type: str | None,
    record_filter: RecordFilter,
    life_status: LifeStatus = LifeStatus.NORMAL,
) -> int:
    """How many records the list shows, exactly: the cost grows with the records the viewer
    reaches (see `count_records_up_to` for a count that stops). A viewer whose grants open
    records one by one has them counted in two disjoint parts (`visibility.readable_split`):
    the records of the owners their owner grants name, and the others' records not owned by
    those owners."""
    split = None
    if life_status is LifeStatus.NORMAL and session.get_bind().dialect.name != "postgresql":
        split = _split_count(viewer, object_type, record_filter)
    if split is None:
        ids = _matching_ids(session, viewer, object_type, record_filter, life_status)
        total = await session.scalar(select(func.count()).select_from(ids.subquery("matching")))
    else:
        total = await session.scalar(split)
    return total or 0


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _split_count(
    viewer: Viewer, object_type: str | None, record_filter: RecordFilter
) -> Select[tuple[int]] | None:
    """The exact count of `visibility.readable_split` as one statement, the sum of its two
    disjoint parts (on SQLite, as `_reach`: PostgreSQL keeps the list-index count); built once
    per viewer and list. None when the split does not apply (the list index counts)."""
    split = visibility.readable_split(viewer, object_type, record_filter.conditions())
    if split is None:
        return None
    counted = select(func.count()).select_from(split.owned.subquery("owned")).scalar_subquery()
    if split.others is not None:
        others = split.others.subquery("others")
        distinct = select(others.c.id).distinct().subquery("other_ids")
        counted = counted + select(func.count()).select_from(distinct).scalar_subquery()
    return select(counted)


async def count_records_up_to(
    session: AsyncSession,
    viewer: Viewer,
    *,
    object_type: str | None,
    record_filter: RecordFilter,
    at_most: int,
    life_status: LifeStatus = LifeStatus.NORMAL,
) -> int:
    """How many records the list shows, counting no further than `at_most` + 1 (more than
    `at_most` then), so its cost has a bound whoever asks."""
    ids = _matching_ids(session, viewer, object_type, record_filter, life_status)
    found = ids.limit(at_most + 1).subquery("matching")
    total = await session.scalar(select(func.count()).select_from(found))
    return total or 0


async def of_types(
    session: AsyncSession, enterprise_id: int, object_types: Sequence[str]
) -> list[Record]:
    """Every record of these types in the enterprise, oldest first (for tools, not lists)."""
    return list(
        await session.scalars(
            select(Record)
            .where(Record.enterprise_id == enterprise_id, Record.object_type.in_(object_types))
            .order_by(Record.id)
        )
    )


# -- related team --------------------------------------------------------------------------------


async def team_by_record_ids(
    session: AsyncSession, enterprise_id: int, record_ids: Sequence[int]
) -> dict[int, list[TeamMember]]:
    rows = await session.scalars(
        select(TeamMember)
        .where(TeamMember.enterprise_id == enterprise_id, TeamMember.record_id.in_(set(record_ids)))
        .order_by(TeamMember.record_id, TeamMember.added_at, TeamMember.user_id)
    )
    found: dict[int, list[TeamMember]] = {}
    for member in rows:
        found.setdefault(member.record_id, []).append(member)
    return found


async def team_member(session: AsyncSession, record_id: int, user_id: int) -> TeamMember | None:
    return await session.scalar(
        select(TeamMember).where(TeamMember.record_id == record_id, TeamMember.user_id == user_id)
    )


async def put_team_member(
    session: AsyncSession,
    *,
    enterprise_id: int,
    record_id: int,
    user_id: int,
    team_role: str,
    access: str,
) -> None:
    """Add a member, or update the role and access of one already in the team."""
    member = await team_member(session, record_id, user_id)
    if member is None:
        session.add(
            TeamMember(
                enterprise_id=enterprise_id,
                record_id=record_id,
                user_id=user_id,
                team_role=team_role,
                access=access,
            )
        )
    else:
        member.team_role = team_role
        member.access = access
    await session.flush()


async def remove_team_member(session: AsyncSession, record_id: int, user_id: int) -> None:
    await session.execute(
        delete(TeamMember).where(TeamMember.record_id == record_id, TeamMember.user_id == user_id)
    )


async def touch(session: AsyncSession, record: Record, updated_by_id: int) -> None:
    record.updated_at = utcnow()
    record.updated_by_id = updated_by_id
    await session.flush()


async def lock(session: AsyncSession, record: Record) -> None:
    """Hold the record until the transaction ends and read it afresh, so an action checks the
    record as the previous one left it."""
    await lock_row(session, record)
