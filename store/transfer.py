"""SQL of imports and exports: batched record inserts, the look-ups an import makes per batch,
and the job rows with their lease."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, literal, or_, select, update

from crmfeed.registry.enums import DataAccess, LifeStatus, TeamRole
from store import visibility
from store.models import Record, TeamMember, User, UserClosure
from store.transfer_tables import TransferJob, TransferRowError
from store.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.records import RecordFilter
    from store.viewer import Viewer

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


async def insert_records(
    session: AsyncSession,
    *,
    enterprise_id: int,
    object_type: str,
    status: str,
    created_by_id: int,
    rows: Sequence[tuple[str, dict[str, Any], int]],
) -> list[int]:
    """Insert (name, values, owner) rows as `insert_record` does one: normal, the default
    status, each owner in the related team as Owner with Read & Write. Three statements: the
    records (one multi-row insert), their team rows (INSERT ... SELECT of the records this
    transaction just wrote: same enterprise, type, author and time, no team yet), their ids."""
    if not rows:
        return []
    now = utcnow()
    await session.execute(
        insert(Record.__table__),
        [
            {
                "enterprise_id": enterprise_id,
                "object_type": object_type,
                "name": name,
                "status": status,
                "life_status": LifeStatus.NORMAL.value,
                "values": values,
                "owner_id": owner,
                "created_by_id": created_by_id,
                "updated_by_id": created_by_id,
                "created_at": now,
                "updated_at": now,
                "status_before_invalid": None,
            }
            for name, values, owner in rows
        ],
    )
    written = and_(
        Record.enterprise_id == enterprise_id,
        Record.object_type == object_type,
        Record.updated_at == now,
        Record.created_by_id == created_by_id,
    )
    no_team = ~select(TeamMember.record_id).where(TeamMember.record_id == Record.id).exists()
    await session.execute(
        insert(TeamMember.__table__).from_select(
            ["enterprise_id", "record_id", "user_id", "team_role", "access", "added_at"],
            select(
                Record.enterprise_id,
                Record.id,
                Record.owner_id,
                literal(TeamRole.OWNER.value),
                literal(DataAccess.READ_WRITE.value),
                literal(now, UTCDateTime()),
            ).where(written, no_team),
        )
    )
    ids = list(await session.scalars(select(Record.id).where(written).order_by(Record.id)))
    if len(ids) != len(rows):  # another writer at the very same microsecond: never silently
        raise RuntimeError(f"wrote {len(rows)} records but found {len(ids)}")
    return ids


async def users_by_email(
    session: AsyncSession, enterprise_id: int, emails: Collection[str]
) -> dict[str, int]:
    """Casefolded email -> user id, for the enterprise's users among `emails`."""
    if not emails:
        return {}
    rows = await session.execute(
        select(func.lower(User.email), User.id).where(
            User.enterprise_id == enterprise_id, func.lower(User.email).in_(sorted(emails))
        )
    )
    return {email: user_id for email, user_id in rows}


async def subordinates_among(
    session: AsyncSession, viewer_id: int, user_ids: Collection[int]
) -> set[int]:
    """Those of `user_ids` who are the viewer or below them in the reporting tree."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(UserClosure.descendant_id).where(
            UserClosure.ancestor_id == viewer_id, UserClosure.descendant_id.in_(set(user_ids))
        )
    )
    return set(rows)


async def key_values(
    session: AsyncSession, viewer: Viewer, object_type: str, fields: Sequence[str]
) -> AsyncIterator[tuple[Any, ...]]:
    """The id and `fields` of every normal record of the type the viewer may read (streamed)."""
    columns = [
        Record.id,
        *(Record.name if name == "name" else Record.values[name].as_string() for name in fields),
    ]
    query = select(*columns).where(
        visibility.listed(viewer, life_status=LifeStatus.NORMAL, object_type=object_type),
        Record.object_type == object_type,
    )
    result = await session.stream(query.execution_options(yield_per=5000))
    async for row in result:
        yield tuple(row)


# -- export ----------------------------------------------------------------------------------


def export_conditions(viewer: Viewer, object_type: str, record_filter: RecordFilter) -> list[Any]:
    """The rows an export of the viewer's list holds: the list's own conditions."""
    return [
        visibility.listed(viewer, life_status=LifeStatus.NORMAL, object_type=object_type),
        Record.object_type == object_type,
        *record_filter.conditions(),
    ]


EXPORTED = (
    Record.id,
    Record.name,
    Record.values,
    Record.status,
    Record.owner_id,
    Record.created_at,
    Record.updated_at,
)


async def export_page(
    session: AsyncSession, conditions: Sequence[Any], before_id: int | None, limit: int
) -> list[Any]:
    """Newest first, keyset-paged like the list: rows of `EXPORTED` (no ORM objects)."""
    where = list(conditions)
    if before_id is not None:
        where.append(Record.id < before_id)
    query = select(*EXPORTED).where(and_(*where)).order_by(Record.id.desc()).limit(limit)
    return list(await session.execute(query))


async def export_count(session: AsyncSession, conditions: Sequence[Any]) -> int:
    total = await session.scalar(select(func.count()).select_from(Record).where(*conditions))
    return total or 0


async def users_named(
    session: AsyncSession, enterprise_id: int, ids: Collection[int]
) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(User.id, User.name, User.email).where(
            User.enterprise_id == enterprise_id, User.id.in_(set(ids))
        )
    )
    return {user_id: (name, email) for user_id, name, email in rows}


# -- jobs ------------------------------------------------------------------------------------


async def create_job(session: AsyncSession, **fields: Any) -> TransferJob:
    now = utcnow()
    fields.setdefault("status", "QUEUED")
    job = TransferJob(
        rows_read=0,
        rows_imported=0,
        rows_failed=0,
        rows_updated=0,
        cancel_requested=False,
        params=fields.pop("params", {}),
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(job)
    await session.flush()
    return job


async def job_of(
    session: AsyncSession, enterprise_id: int, user_id: int, job_id: int
) -> TransferJob | None:
    """The job if this user started it (nobody else sees another's job)."""
    return await session.scalar(
        select(TransferJob).where(
            TransferJob.id == job_id,
            TransferJob.enterprise_id == enterprise_id,
            TransferJob.user_id == user_id,
        )
    )


async def jobs_of(
    session: AsyncSession,
    enterprise_id: int,
    user_id: int,
    kind: str | None,
    before_id: int | None,
    limit: int,
) -> list[TransferJob]:
    query = select(TransferJob).where(
        TransferJob.enterprise_id == enterprise_id, TransferJob.user_id == user_id
    )
    if kind is not None:
        query = query.where(TransferJob.kind == kind)
    if before_id is not None:
        query = query.where(TransferJob.id < before_id)
    return list(await session.scalars(query.order_by(TransferJob.id.desc()).limit(limit)))


async def claim_job(
    session: AsyncSession, owner: str, lease: float, now: datetime | None = None
) -> TransferJob | None:
    """Take the lease of the oldest job waiting to run (queued, or running with an expired
    lease: its process died); None when there is none. Committed before it returns."""
    now = now or utcnow()
    free = or_(TransferJob.lease_until.is_(None), TransferJob.lease_until < now)
    waiting = and_(TransferJob.status.in_(("QUEUED", "RUNNING")), free)
    for _ in range(3):
        candidate = await session.scalar(
            select(TransferJob.id).where(waiting).order_by(TransferJob.id).limit(1)
        )
        if candidate is None:
            await session.commit()
            return None
        taken = await session.execute(
            update(TransferJob)
            .where(TransferJob.id == candidate, waiting)
            .values(
                lease_owner=owner,
                lease_until=now + timedelta(seconds=lease),
                status="RUNNING",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return await session.get(TransferJob, candidate, populate_existing=True)
    return None


async def progress(
    session: AsyncSession,
    job_id: int,
    owner: str,
    lease: float,
    **changes: Any,
) -> bool:
    """Move the job on and renew the lease, in the caller's transaction; False (and nothing
    changed) when this process no longer holds the lease."""
    now = utcnow()
    done = await session.execute(
        update(TransferJob)
        .where(TransferJob.id == job_id, TransferJob.lease_owner == owner)
        .values({"lease_until": now + timedelta(seconds=lease), "updated_at": now, **changes})
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


async def expire_exports(session: AsyncSession, now: datetime) -> list[int]:
    """Mark finished exports past their `expires_at` EXPIRED; returns their ids (their files
    can go). The caller commits."""
    expired = list(
        await session.scalars(
            select(TransferJob.id).where(
                TransferJob.kind == "EXPORT",
                TransferJob.status == "SUCCEEDED",
                TransferJob.expires_at < now,
            )
        )
    )
    if expired:
        await session.execute(
            update(TransferJob)
            .where(TransferJob.id.in_(expired), TransferJob.status == "SUCCEEDED")
            .values(status="EXPIRED", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return expired


async def is_cancelled(session: AsyncSession, job_id: int) -> bool:
    return bool(
        await session.scalar(select(TransferJob.cancel_requested).where(TransferJob.id == job_id))
    )


async def request_cancel(session: AsyncSession, job: TransferJob) -> None:
    """A queued job ends now; a running one at its next batch."""
    now = utcnow()
    if job.status == "QUEUED":
        job.status = "CANCELLED"
        job.finished_at = now
    job.cancel_requested = True
    job.updated_at = now
    await session.flush()


async def add_row_errors(
    session: AsyncSession, job_id: int, errors: Sequence[dict[str, Any]]
) -> None:
    if errors:
        await session.execute(
            insert(TransferRowError.__table__), [{"job_id": job_id, **e} for e in errors]
        )


async def row_errors(session: AsyncSession, job_id: int) -> AsyncIterator[TransferRowError]:
    result = await session.stream_scalars(
        select(TransferRowError)
        .where(TransferRowError.job_id == job_id)
        .order_by(TransferRowError.row_number)
        .execution_options(yield_per=2000)
    )
    async for row in result:
        yield row


async def records_by_key(
    session: AsyncSession,
    viewer: Viewer,
    object_type: str,
    fields: Sequence[str],
    values: Collection[str],
) -> dict[str, list[int]]:
    """Normal records of the type the viewer may read whose `fields` (any of them; `name` is
    the record's name) equal one of `values`, ignoring case and surrounding spaces: the
    lower-cased value -> the ids having it (several when ambiguous)."""
    if not values or not fields:
        return {}
    wanted = sorted({value.strip().lower() for value in values})
    found: dict[str, list[int]] = {}
    for name in fields:
        column = Record.name if name == "name" else Record.values[name].as_string()
        rows = await session.execute(
            select(func.lower(func.trim(column)), Record.id).where(
                visibility.listed(viewer, life_status=LifeStatus.NORMAL, object_type=object_type),
                Record.object_type == object_type,
                func.lower(func.trim(column)).in_(wanted),
            )
        )
        for value, record_id in rows:
            ids = found.setdefault(value, [])
            if record_id not in ids:
                ids.append(record_id)
    return found
