"""What one subject is to one record, per grant: the per-record form's answer.

Filled by each grant of `store.visibility.GRANTS` (`Grant.explain`); read by `explainAccess`
and the record-action checker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmfeed.registry.enums import DataAccess

if TYPE_CHECKING:
    from crmfeed.registry.enums import FunctionRole
    from store.models import Department, SharingRule


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


@dataclass(frozen=True, slots=True)
class OwnerDepartments:
    """Each owner's department and the departments above it (read once for the grants that
    need it: department heads, sharing from a department)."""

    above_owner: dict[int, set[int]]

    @property
    def departments(self) -> list[int]:
        return sorted({d for chain in self.above_owner.values() for d in chain})

    def of(self, owner_id: int) -> set[int]:
        return self.above_owner.get(owner_id, set())
