"""A plain-Python model of one enterprise and of who may read which record (DESIGN §4).

Written straight from the rules, with dicts, sets and parent pointers, and nothing from `store/`
or `resolvers/`: tests build the same organization through the GraphQL API and compare what the
service answers with what this model says. Keys are whatever the test picks ("u3", "d1", "r7");
records keep their creation order, which is the service's id order.

    org = Org()
    org.add_user("u0", roles=("CRM_ADMIN",))
    org.add_user("u1", superior="u0")
    org.add_record("r0", "ACCOUNT", owner="u1")
    org.readable("u0", "ACCOUNT")   # ["r0"]: u0 is u1's superior (and an admin)

Feed visibility (DESIGN §6) can be added beside `reasons` from the same facts: team roles are
kept per member for the follow-up activity settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

CRM_ADMIN = "CRM_ADMIN"
OWNER_ROLE = "OWNER"
READ_ONLY = "READ_ONLY"
READ_WRITE = "READ_WRITE"

# The names of DESIGN §4's rules, as the API's `AccessRule` enum spells them.
OWNER = "OWNER"
SUPERIOR_OF_OWNER = "SUPERIOR_OF_OWNER"
TEAM_MEMBER = "TEAM_MEMBER"
SUPERIOR_OF_TEAM_MEMBER = "SUPERIOR_OF_TEAM_MEMBER"
SHARING = "SHARING"
DEPARTMENT_HEAD = "DEPARTMENT_HEAD"
ADMIN = "CRM_ADMIN"


class CycleError(ValueError):
    """A move that would put a node under itself."""


@dataclass
class User:
    key: str
    superior: str | None = None
    department: str | None = None
    roles: tuple[str, ...] = ("SALES",)

    @property
    def is_admin(self) -> bool:
        return CRM_ADMIN in self.roles


@dataclass
class Department:
    key: str
    parent: str | None = None
    head: str | None = None


@dataclass(frozen=True)
class Member:
    team_role: str
    access: str


@dataclass
class Record:
    key: str
    object_type: str
    owner: str
    team: dict[str, Member] = field(default_factory=dict)
    valid: bool = True


@dataclass
class SharingRule:
    """Records of `object_type` owned by the from-party are shared with the to-party."""

    key: str
    object_type: str
    access: str
    from_user: str | None = None
    from_department: str | None = None
    to_user: str | None = None
    to_department: str | None = None


@dataclass
class Org:
    users: dict[str, User] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)  # creation order
    rules: dict[str, SharingRule] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------------

    def add_department(self, key: str, parent: str | None = None) -> Department:
        department = Department(key, parent)
        self.departments[key] = department
        return department

    def add_user(
        self,
        key: str,
        *,
        superior: str | None = None,
        department: str | None = None,
        roles: tuple[str, ...] = ("SALES",),
    ) -> User:
        user = User(key, superior, department, roles)
        self.users[key] = user
        return user

    def add_record(self, key: str, object_type: str, owner: str) -> Record:
        """A new record; its owner is in its related team as Owner with Read & Write."""
        record = Record(key, object_type, owner, {owner: Member(OWNER_ROLE, READ_WRITE)})
        self.records[key] = record
        return record

    def add_member(self, record: str, user: str, team_role: str, access: str) -> None:
        """Add a team member, or change one's role and access; the owner stays the Owner."""
        found = self.records[record]
        if user != found.owner:
            found.team[user] = Member(team_role, access)

    def add_rule(self, rule: SharingRule) -> None:
        self.rules[rule.key] = rule

    def invalidate(self, record: str) -> None:
        self.records[record].valid = False

    # -- changing ---------------------------------------------------------------------------------

    def set_superior(self, user: str, superior: str | None) -> None:
        if superior is not None and (superior == user or superior in self.subordinates(user)):
            raise CycleError(f"{superior} is {user} or below them")
        self.users[user].superior = superior

    def set_department(self, user: str, department: str | None) -> None:
        self.users[user].department = department

    def move_department(self, department: str, parent: str | None) -> None:
        if parent is not None and parent in self.department_subtree(department):
            raise CycleError(f"{parent} is {department} or below it")
        self.departments[department].parent = parent

    def set_head(self, department: str, head: str | None) -> None:
        self.departments[department].head = head

    def delete_rule(self, rule: str) -> None:
        del self.rules[rule]

    # -- the two trees ----------------------------------------------------------------------------

    def superiors(self, user: str) -> list[str]:
        """Everyone above the user, nearest first."""
        found: list[str] = []
        current = self.users[user].superior
        while current is not None:
            if current in found or current == user:
                raise CycleError(f"the reporting line of {user} loops")
            found.append(current)
            current = self.users[current].superior
        return found

    def subordinates(self, user: str) -> set[str]:
        """Everyone below the user, at every level (not the user)."""
        return {other for other in self.users if user in self.superiors(other)}

    def department_chain(self, department: str) -> list[str]:
        """The department and all its ancestors, nearest first."""
        found: list[str] = []
        current: str | None = department
        while current is not None:
            if current in found:
                raise CycleError(f"the parents of {department} loop")
            found.append(current)
            current = self.departments[current].parent
        return found

    def department_subtree(self, department: str) -> set[str]:
        """The department and all its sub-departments at every level."""
        return {other for other in self.departments if department in self.department_chain(other)}

    def depth(self, user: str) -> int:
        return len(self.superiors(user))

    # -- the oracle -------------------------------------------------------------------------------

    def in_department(self, user: str, department: str) -> bool:
        """Whether the user is in the department or one of its sub-departments."""
        own = self.users[user].department
        return own is not None and department in self.department_chain(own)

    def rule_shares(self, rule: SharingRule, record: Record, user: str) -> bool:
        """Rule 4: the rule shares this record with this user."""
        if rule.object_type != record.object_type:
            return False
        from_owner = rule.from_user == record.owner or (
            rule.from_department is not None
            and self.in_department(record.owner, rule.from_department)
        )
        to_user = rule.to_user == user or (
            rule.to_department is not None and self.in_department(user, rule.to_department)
        )
        return from_owner and to_user

    def sharing_rules(self, user: str, record: Record) -> list[SharingRule]:
        return [rule for rule in self.rules.values() if self.rule_shares(rule, record, user)]

    def headed_departments(self, user: str, record: Record) -> list[str]:
        """Rule 5: departments the user heads that hold the owner's department."""
        owner_department = self.users[record.owner].department
        if owner_department is None:
            return []
        return [
            department
            for department in self.department_chain(owner_department)
            if self.departments[department].head == user
        ]

    def team_paths(self, user: str, record: Record) -> Iterator[tuple[str, Member, bool]]:
        """Rule 3: (member, membership, is the user that member) for the members other than the
        owner that are the user or below the user."""
        below = self.subordinates(user)
        for member, membership in record.team.items():
            if member == record.owner:
                continue  # the owner's own team row is rules 1 and 2
            if member == user or member in below:
                yield member, membership, member == user

    def reasons(self, user: str, record: str | Record) -> set[str]:
        """Which of DESIGN §4's rules hold for the user and the record, whatever its life status."""
        found = record if isinstance(record, Record) else self.records[record]
        holds: set[str] = set()
        if found.owner == user:
            holds.add(OWNER)
        if user in self.superiors(found.owner):
            holds.add(SUPERIOR_OF_OWNER)
        for _, _, direct in self.team_paths(user, found):
            holds.add(TEAM_MEMBER if direct else SUPERIOR_OF_TEAM_MEMBER)
        if self.sharing_rules(user, found):
            holds.add(SHARING)
        if self.headed_departments(user, found):
            holds.add(DEPARTMENT_HEAD)
        if self.users[user].is_admin:
            holds.add(ADMIN)
        return holds

    def can_read(self, user: str, record: str | Record) -> bool:
        """Normal records by any rule; invalid ones by CRM administrators only."""
        found = record if isinstance(record, Record) else self.records[record]
        if self.users[user].is_admin:
            return True
        return found.valid and bool(self.reasons(user, found))

    def explained(self, user: str, record: str) -> set[str]:
        """The rules an access inspector names: none when the user may not read the record."""
        return self.reasons(user, record) if self.can_read(user, record) else set()

    def readable(self, user: str, object_type: str) -> list[str]:
        """What `records(objectType)` lists for the user: normal records only, newest first."""
        return [
            record.key
            for record in reversed(self.records.values())
            if record.object_type == object_type and record.valid and self.can_read(user, record)
        ]

    def recycle_bin(self, user: str) -> list[str]:
        """Invalid records, newest first, for CRM administrators; nothing for anyone else."""
        if not self.users[user].is_admin:
            return []
        return [record.key for record in reversed(self.records.values()) if not record.valid]

    # -- reading failures -------------------------------------------------------------------------

    def describe(self) -> str:
        """The organization in a few lines, for failure messages."""
        lines = []
        for user in self.users.values():
            roles = ",".join(user.roles) or "no roles"
            lines.append(
                f"  user {user.key}: superior={user.superior} department={user.department} "
                f"roles={roles}"
            )
        for department in self.departments.values():
            lines.append(
                f"  department {department.key}: parent={department.parent} head={department.head}"
            )
        for record in self.records.values():
            team = ", ".join(
                f"{member}:{m.team_role}/{m.access}"
                for member, m in record.team.items()
                if member != record.owner
            )
            state = "" if record.valid else " INVALID"
            lines.append(
                f"  record {record.key}: {record.object_type} owner={record.owner}{state} "
                f"team=[{team}]"
            )
        for rule in self.rules.values():
            source = rule.from_user or f"dept {rule.from_department}"
            target = rule.to_user or f"dept {rule.to_department}"
            lines.append(
                f"  rule {rule.key}: {rule.object_type} from {source} to {target} {rule.access}"
            )
        return "\n".join(lines)
