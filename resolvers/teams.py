"""Related teams: adding and removing members, and changing a record's owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.ids import Kind, to_global
from crmfeed.registry.actions import Action
from crmfeed.registry.enums import DataAccess, ObjectType, TeamRole
from crmfeed.registry.objects import spec_for
from resolvers import checker, notify
from resolvers.errors import BadUserInput
from resolvers.inputs import parse_id, parse_ids
from resolvers.record_actions import Sent, act
from store import org, records
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.checker import Standing
    from resolvers.context import Context
    from store.models import Record
    from store.viewer import Viewer

ALSO_ADD_FROM = {ObjectType.ACCOUNT, ObjectType.OPPORTUNITY}
MAX_MEMBERS_PER_CALL = 100


@dataclass(frozen=True, slots=True)
class NewMember:
    user_id: str
    team_role: TeamRole
    access: DataAccess


def _check_role(record: Record, role: TeamRole, field: str) -> None:
    spec = spec_for(record.object_type)
    if role is TeamRole.OWNER:
        raise BadUserInput(
            f"{field}: the Owner role belongs to the record's owner; use changeOwner.", field=field
        )
    if role not in spec.team_roles:
        allowed = ", ".join(r.value for r in spec.team_roles if r is not TeamRole.OWNER)
        raise BadUserInput(
            f"{field}: a {spec.label} team has no {role.value} role (use one of {allowed}).",
            field=field,
        )


def _refers_to(record: Record, other: Record) -> bool:
    """Whether either record points at the other through a lookup field."""

    def points(source: Record, target: Record) -> bool:
        spec = spec_for(source.object_type)
        target_id = to_global(Kind.RECORD, target.id)
        return any(
            (source.values or {}).get(f.name) == target_id
            for f in spec.fields
            if f.target == ObjectType(target.object_type)
        )

    return points(record, other) or points(other, record)


async def add_team_members(
    context: Context,
    record_id: str,
    members: list[NewMember],
    also_add_to_record_ids: list[str] | None,
) -> Record:
    if not members:
        raise BadUserInput("members: give at least one member to add.", field="members")
    if len(members) > MAX_MEMBERS_PER_CALL:
        raise BadUserInput(
            f"members: at most {MAX_MEMBERS_PER_CALL} members per call.", field="members"
        )
    user_ids = [parse_id(m.user_id, Kind.USER, "members.userId") for m in members]
    if len(set(user_ids)) != len(user_ids):
        raise BadUserInput("members: the same user is listed twice.", field="members")

    def gate(record: Record, who: Standing) -> None:
        checker.check(Action.ADD_TEAM_MEMBER, record, who)
        for member in members:
            _check_role(record, member.team_role, "members.teamRole")

    async def apply(session: AsyncSession, viewer: Viewer, record: Record) -> Sent:
        others = []
        if also_add_to_record_ids:
            others = await _related_targets(session, viewer, record, also_add_to_record_ids)
        users = await org.users_by_ids(session, viewer.enterprise_id, user_ids)
        missing = [m.user_id for m, uid in zip(members, user_ids, strict=True) if uid not in users]
        if missing:
            raise BadUserInput(
                f"members.userId: no user with id {missing[0]} exists.", field="members.userId"
            )
        for other in others:  # each related record by its own rule
            await checker.require(session, viewer, other, Action.ADD_TEAM_MEMBER)
            for member in members:
                _check_role(other, member.team_role, "members.teamRole")
        for target in [record, *others]:
            for member, uid in zip(members, user_ids, strict=True):
                if uid == target.owner_id:
                    continue
                await records.put_team_member(
                    session,
                    enterprise_id=viewer.enterprise_id,
                    record_id=target.id,
                    user_id=uid,
                    team_role=member.team_role.value,
                    access=member.access.value,
                )
            if target is not record:
                await records.touch(session, target, viewer.id)
        return []

    return await act(context, record_id, gate, apply)


async def _related_targets(
    session: AsyncSession, viewer: Viewer, record: Record, ids: list[str]
) -> list[Record]:
    spec = spec_for(record.object_type)
    if spec.object_type not in ALSO_ADD_FROM:
        raise BadUserInput(
            "alsoAddToRecordIds: only Account and Opportunity teams can be copied to related "
            f"records, not {spec.label}.",
            field="alsoAddToRecordIds",
        )
    numbers = parse_ids(ids, Kind.RECORD, "alsoAddToRecordIds")
    found = await records.readable_records(session, viewer, numbers)
    targets: list[Record] = []
    for raw, number in zip(dict.fromkeys(ids), numbers, strict=True):
        other = found.get(number)
        if other is None or number == record.id:
            raise BadUserInput(
                f"alsoAddToRecordIds: no record with id {raw} exists.", field="alsoAddToRecordIds"
            )
        if not _refers_to(record, other):
            raise BadUserInput(
                f"alsoAddToRecordIds: {raw} is not related to this {spec.label}.",
                field="alsoAddToRecordIds",
            )
        targets.append(other)
    return targets


async def remove_team_member(context: Context, record_id: str, user_id: str) -> Record:
    member_id = parse_id(user_id, Kind.USER, "userId")

    def gate(record: Record, who: Standing) -> None:
        checker.check(Action.ADD_TEAM_MEMBER, record, who)

    async def apply(session: AsyncSession, _: Viewer, record: Record) -> Sent:
        if member_id == record.owner_id:
            raise BadUserInput(
                "userId: the owner cannot be removed from the team; use changeOwner.",
                field="userId",
            )
        if await records.team_member(session, record.id, member_id) is None:
            raise BadUserInput("userId: that user is not in this record's team.", field="userId")
        await records.remove_team_member(session, record.id, member_id)
        return []

    return await act(context, record_id, gate, apply)


async def change_owner(
    context: Context,
    record_id: str,
    new_owner_id: str,
    keep_old_owner: bool,
    old_owner_access: DataAccess | None,
    old_owner_team_role: TeamRole | None,
) -> Record:
    new_owner = parse_id(new_owner_id, Kind.USER, "newOwnerId")
    role = old_owner_team_role or TeamRole.REGULAR_MEMBER

    def gate(record: Record, who: Standing) -> None:
        checker.check(Action.CHANGE_OWNER, record, who)

    async def apply(session: AsyncSession, viewer: Viewer, record: Record) -> Sent:
        if await org.get_user(session, viewer.enterprise_id, new_owner) is None:
            raise BadUserInput("newOwnerId: no user with that id exists.", field="newOwnerId")
        if new_owner == record.owner_id:
            raise BadUserInput(
                "newOwnerId: that user already owns this record.", field="newOwnerId"
            )
        if keep_old_owner:
            _check_role(record, role, "oldOwnerTeamRole")
        kept = (role, old_owner_access or DataAccess.READ_ONLY) if keep_old_owner else None
        await hand_over(session, viewer, record, new_owner, kept)
        me = await org.get_user(session, viewer.enterprise_id, viewer.id)
        return await notify.owner_changed(session, viewer, me.name if me else "Someone", record)

    return await act(context, record_id, gate, apply)


async def hand_over(
    session: AsyncSession,
    viewer: Viewer,
    record: Record,
    new_owner: int,
    keep_old_owner: tuple[TeamRole, DataAccess] | None,
) -> None:
    """Make `new_owner` the owner (Owner role, Read & Write); the old owner leaves the team, or
    stays with the given role and access."""
    old_owner = record.owner_id
    await records.remove_team_member(session, record.id, new_owner)
    await records.remove_team_member(session, record.id, old_owner)
    await records.put_team_member(
        session,
        enterprise_id=viewer.enterprise_id,
        record_id=record.id,
        user_id=new_owner,
        team_role=TeamRole.OWNER.value,
        access=DataAccess.READ_WRITE.value,
    )
    if keep_old_owner is not None:
        role, access = keep_old_owner
        await records.put_team_member(
            session,
            enterprise_id=viewer.enterprise_id,
            record_id=record.id,
            user_id=old_owner,
            team_role=role.value,
            access=access.value,
        )
    record.owner_id = new_owner
    record.updated_at = utcnow()
    record.updated_by_id = viewer.id
    await session.flush()
