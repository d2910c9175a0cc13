"""Why one user may read one record: the facts behind every visibility rule, per record.

Used by `explainAccess` and the record-action checker. Lists use `store.visibility` instead;
`tests/test_visibility_oracle.py` keeps the two in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from crmfeed.registry.confirmation import CONFIRMING, confirmable
from crmfeed.registry.enums import DataAccess, FunctionRole
from crmfeed.registry.roles import roles_reading
from store.confirmation import current_confirmers
from store.models import (
    Department,
    DepartmentClosure,
    Record,
    SharingRule,
    TeamMember,
    User,
    UserClosure,
)
from store.visibility import rules_to_me

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class TeamPath:
    """A team member in the subject's subtree (the subject themselves when depth is 0)."""

    member_id: int
    team_role: str
    access: str
    depth: int


@dataclass(slots=True)
class AccessFacts:
    is_owner: bool = False
    superior_of_owner: bool = False
    team: list[TeamPath] = field(default_factory=list)
    sharing: list[SharingRule] = field(default_factory=list)
    headed_departments: list[Department] = field(default_factory=list)
    function_roles: list[FunctionRole] = field(default_factory=list)
    current_confirmer: bool = False
    """The subject confirms the record's CURRENT confirmation node (the order waits for them)."""
    no_confirmer: bool = False
    """The record is a CONFIRMING order with no current node (submitted with no confirmers):
    the Order Administrators confirm it."""

    @property
    def team_rw(self) -> bool:
        return any(p.depth == 0 and p.access == DataAccess.READ_WRITE for p in self.team)

    @property
    def team_rw_superior(self) -> bool:
        return any(p.depth > 0 and p.access == DataAccess.READ_WRITE for p in self.team)

    @property
    def shared_rw(self) -> bool:
        return any(rule.access == DataAccess.READ_WRITE for rule in self.sharing)


async def access_facts(session: AsyncSession, subject: Viewer, record: Record) -> AccessFacts:
    """Every relation the subject has to the record."""
    return (await access_facts_many(session, subject, [record]))[record.id]


async def access_facts_many(
    session: AsyncSession, subject: Viewer, records: Sequence[Record]
) -> dict[int, AccessFacts]:
    """Every relation the subject has to each record, by record id: four indexed lookups
    for all the records together (a list's `transitions` reads them through a DataLoader)."""
    found = {
        record.id: AccessFacts(
            is_owner=record.owner_id == subject.id,
            function_roles=roles_reading(subject.roles, record.object_type),
        )
        for record in records
    }
    if not records:
        return found
    ids = sorted(found)
    confirming = [r.id for r in records if confirmable(r.object_type) and r.status == CONFIRMING]
    if confirming:
        waiting_for = await current_confirmers(session, confirming)
        for record_id in confirming:
            confirmer = waiting_for.get(record_id)
            found[record_id].current_confirmer = confirmer == subject.id
            found[record_id].no_confirmer = confirmer is None
    owners = sorted({record.owner_id for record in records})
    below = dict(
        (
            await session.execute(
                select(UserClosure.descendant_id, UserClosure.depth).where(
                    UserClosure.ancestor_id == subject.id, UserClosure.descendant_id.in_(owners)
                )
            )
        ).all()
    )
    for record in records:
        found[record.id].superior_of_owner = below.get(record.owner_id, 0) > 0

    team_rows = await session.execute(
        select(
            TeamMember.record_id,
            TeamMember.user_id,
            TeamMember.team_role,
            TeamMember.access,
            UserClosure.depth,
        )
        .join(UserClosure, UserClosure.descendant_id == TeamMember.user_id)
        .where(TeamMember.record_id.in_(ids), UserClosure.ancestor_id == subject.id)
        .order_by(UserClosure.depth, TeamMember.user_id)
    )
    for record_id, *path in team_rows:
        found[record_id].team.append(TeamPath(*path))

    # Each owner's department and the departments above it, as (owner, department) pairs.
    chains = (
        await session.execute(
            select(User.id, DepartmentClosure.ancestor_id)
            .join(DepartmentClosure, DepartmentClosure.descendant_id == User.department_id)
            .where(User.id.in_(owners))
        )
    ).all()
    above_owner: dict[int, set[int]] = {}
    for owner, department in chains:
        above_owner.setdefault(owner, set()).add(department)
    departments = sorted({department for _, department in chains})
    types = sorted({record.object_type for record in records})
    rules = list(
        await session.scalars(
            select(SharingRule)
            .where(
                rules_to_me(subject),
                SharingRule.object_type.in_(types),
                or_(
                    SharingRule.from_user_id.in_(owners),
                    SharingRule.from_department_id.in_(departments),
                ),
            )
            .order_by(SharingRule.id)
        )
    )
    headed = list(
        await session.scalars(
            select(Department)
            .where(
                and_(
                    Department.enterprise_id == subject.enterprise_id,
                    Department.head_id == subject.id,
                    Department.id.in_(departments),
                )
            )
            .order_by(Department.id)
        )
    )
    for record in records:
        chain = above_owner.get(record.owner_id, set())
        facts = found[record.id]
        facts.sharing = [
            rule
            for rule in rules
            if rule.object_type == record.object_type
            and (rule.from_user_id == record.owner_id or rule.from_department_id in chain)
        ]
        facts.headed_departments = [d for d in headed if d.id in chain]
    return found
