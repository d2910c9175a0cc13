"""Why one user may read one record: the facts behind every visibility rule, per record.

Used by `explainAccess` and the record-action checker. Lists use `store.visibility` instead;
`tests/test_visibility_oracle.py` keeps the two in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from crmfeed.registry.enums import DataAccess, FunctionRole
from crmfeed.registry.roles import roles_reading
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
    """Every relation the subject has to the record (a handful of indexed lookups)."""
    facts = AccessFacts(
        is_owner=record.owner_id == subject.id,
        function_roles=roles_reading(subject.roles, record.object_type),
    )
    depth = await session.scalar(
        select(UserClosure.depth).where(
            UserClosure.ancestor_id == subject.id, UserClosure.descendant_id == record.owner_id
        )
    )
    facts.superior_of_owner = depth is not None and depth > 0

    team_rows = await session.execute(
        select(TeamMember.user_id, TeamMember.team_role, TeamMember.access, UserClosure.depth)
        .join(UserClosure, UserClosure.descendant_id == TeamMember.user_id)
        .where(TeamMember.record_id == record.id, UserClosure.ancestor_id == subject.id)
        .order_by(UserClosure.depth, TeamMember.user_id)
    )
    facts.team = [TeamPath(*row) for row in team_rows]

    owner_department = (
        select(User.department_id).where(User.id == record.owner_id).scalar_subquery()
    )
    owner_department_chain = select(DepartmentClosure.ancestor_id).where(
        DepartmentClosure.descendant_id == owner_department
    )
    facts.sharing = list(
        await session.scalars(
            select(SharingRule)
            .where(
                rules_to_me(subject),
                SharingRule.object_type == record.object_type,
                or_(
                    SharingRule.from_user_id == record.owner_id,
                    SharingRule.from_department_id.in_(owner_department_chain),
                ),
            )
            .order_by(SharingRule.id)
        )
    )
    facts.headed_departments = list(
        await session.scalars(
            select(Department)
            .where(
                and_(
                    Department.enterprise_id == subject.enterprise_id,
                    Department.head_id == subject.id,
                    Department.id.in_(owner_department_chain),
                )
            )
            .order_by(Department.id)
        )
    )
    return facts
