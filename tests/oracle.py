"""A plain-Python model of one enterprise and of who may read which record.

Written straight from the rules, with dicts, sets and parent pointers, and nothing from `store/`
or `resolvers/`: tests build the same organization through the GraphQL API and compare what the
service answers with what this model says. Keys are whatever the test picks ("u3", "d1", "r7");
records keep their creation order, which is the service's id order.

    org = Org()
    org.add_user("u0", roles=("CRM_ADMIN",))
    org.add_user("u1", superior="u0")
    org.add_record("r0", "ACCOUNT", owner="u1")
    org.readable("u0", "ACCOUNT")   # ["r0"]: u0 is u1's superior (and an admin)

Feed visibility comes from the same facts: whose follow-up activity of a record is
open (`follow_up_reasons`, with the per object type and team role settings and the enterprise's
sharingOpensFollowUp flag), which feed items a user sees (`item_reasons`), and what each feed and
CRM Information scene (seed 001) lists (`feed`). Feed items keep their creation order, which is
the service's id order, like records:

    org.add_item("i0", "POST", author="u1", related=("r0",))
    org.feed("u0")                      # ["i0"]: follow-up of r0 is open to u1's superior
    org.feed("u0", "MY_ACCOUNTS")       # []: u0 owns no account
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

CRM_ADMIN = "CRM_ADMIN"

# Follow-up activity permission of a team role (per object type), and the feeds.
DISABLED = "DISABLED"
WORK = "WORK"
ACCOUNT_CONTACT_OPPORTUNITY = frozenset({"ACCOUNT", "CONTACT", "OPPORTUNITY"})
# Seed 001's seven scenes: how the scene's records relate to the viewer, and their object types.
MINE = "owned by me"
SUBORDINATE_IN_TEAM = "a strict subordinate of mine in the related team"
SUBORDINATE_OWNS = "owned by a strict subordinate of mine"
MY_DEPARTMENTS = "owned in a department I head, or below it"
SCENES: dict[str, tuple[str, frozenset[str]]] = {
    "MY_ACCOUNTS": (MINE, frozenset({"ACCOUNT"})),
    "MY_CONTACTS": (MINE, frozenset({"CONTACT"})),
    "MY_OPPORTUNITIES": (MINE, frozenset({"OPPORTUNITY"})),
    "MY_SALES_LEADS": (MINE, frozenset({"SALES_LEAD"})),
    "SUBORDINATES_TEAM_ACCOUNTS": (SUBORDINATE_IN_TEAM, frozenset({"ACCOUNT"})),
    "SUBORDINATES_RECORDS": (SUBORDINATE_OWNS, ACCOUNT_CONTACT_OPPORTUNITY),
    "MY_DEPARTMENTS_RECORDS": (MY_DEPARTMENTS, ACCOUNT_CONTACT_OPPORTUNITY),
}
OWNER_ROLE = "OWNER"
READ_ONLY = "READ_ONLY"
READ_WRITE = "READ_WRITE"

# The names of the read rules, as the API's `AccessRule` enum spells them.
OWNER = "OWNER"
SUPERIOR_OF_OWNER = "SUPERIOR_OF_OWNER"
TEAM_MEMBER = "TEAM_MEMBER"
SUPERIOR_OF_TEAM_MEMBER = "SUPERIOR_OF_TEAM_MEMBER"
SHARING = "SHARING"
DEPARTMENT_HEAD = "DEPARTMENT_HEAD"
FUNCTION_ROLE = "FUNCTION_ROLE"
CURRENT_CONFIRMER = "CURRENT_CONFIRMER"
ADMIN = "CRM_ADMIN"

# Rule 7: the object types whose records each function role reads, whoever owns them.
READ_SCOPES: dict[str, frozenset[str]] = {
    "ORDER_ADMIN": frozenset({"SALES_ORDER", "RETURN_FORM"}),
    "ORDER_FINANCE": frozenset({"SALES_ORDER", "RETURN_FORM"}),
    "PAYMENT_FINANCE": frozenset({"PAYMENT"}),
    "REFUND_FINANCE": frozenset({"REFUND"}),
    "INVOICE_FINANCE": frozenset({"INVOICING_APPLICATION"}),
}

# Follow-up activity permission of a team role (per object type), and the feeds.
DISABLED = "DISABLED"
WORK = "WORK"
ACCOUNT_CONTACT_OPPORTUNITY = frozenset({"ACCOUNT", "CONTACT", "OPPORTUNITY"})
# Seed 001's seven scenes: how the scene's records relate to the viewer, and their object types.
MINE = "owned by me"
SUBORDINATE_IN_TEAM = "a strict subordinate of mine in the related team"
SUBORDINATE_OWNS = "owned by a strict subordinate of mine"
MY_DEPARTMENTS = "owned in a department I head, or below it"
SCENES: dict[str, tuple[str, frozenset[str]]] = {
    "MY_ACCOUNTS": (MINE, frozenset({"ACCOUNT"})),
    "MY_CONTACTS": (MINE, frozenset({"CONTACT"})),
    "MY_OPPORTUNITIES": (MINE, frozenset({"OPPORTUNITY"})),
    "MY_SALES_LEADS": (MINE, frozenset({"SALES_LEAD"})),
    "SUBORDINATES_TEAM_ACCOUNTS": (SUBORDINATE_IN_TEAM, frozenset({"ACCOUNT"})),
    "SUBORDINATES_RECORDS": (SUBORDINATE_OWNS, ACCOUNT_CONTACT_OPPORTUNITY),
    "MY_DEPARTMENTS_RECORDS": (MY_DEPARTMENTS, ACCOUNT_CONTACT_OPPORTUNITY),
}


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
    current_confirmer: str | None = None
    """A Sales Order or Return Form waiting for this user's confirmation."""


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
class Reply:
    author: str
    mentions: tuple[str, ...] = ()


@dataclass
class FeedItem:
    """A feed item: `related` are record keys in creation (id) order, without repeats."""

    key: str
    item_type: str
    author: str
    related: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    replies: list[Reply] = field(default_factory=list)

    def naming(self, user: str) -> list[str]:
        """How the item names the user: @mention, cc, @mention in a reply."""
        found = []
        if user in self.mentions:
            found.append("@mentioned")
        if user in self.cc:
            found.append("cc'd")
        if any(user in reply.mentions for reply in self.replies):
            found.append("@mentioned in a reply")
        return found


@dataclass
class Org:
    users: dict[str, User] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)  # creation order
    rules: dict[str, SharingRule] = field(default_factory=dict)
    # Follow-up activity permission per (object type, team role); missing means Read Only.
    follow_up: dict[tuple[str, str], str] = field(default_factory=dict)
    sharing_opens_follow_up: bool = True
    items: dict[str, FeedItem] = field(default_factory=dict)  # creation order

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

    def set_current_confirmer(self, record: str, user: str | None) -> None:
        """The order now waits for this user's confirmation (None: for no one's)."""
        self.records[record].current_confirmer = user

    def invalidate(self, record: str) -> None:
        self.records[record].valid = False

    def set_follow_up(self, object_type: str, team_role: str, access: str) -> None:
        self.follow_up[object_type, team_role] = access

    def add_item(
        self,
        key: str,
        item_type: str,
        author: str,
        *,
        related: Iterable[str] = (),
        mentions: Iterable[str] = (),
        cc: Iterable[str] = (),
    ) -> FeedItem:
        """A new feed item; `related` is every record it is linked to (the account lookup too)."""
        order = {record: index for index, record in enumerate(self.records)}
        links = tuple(sorted(set(related), key=order.__getitem__))
        item = FeedItem(key, item_type, author, links, tuple(mentions), tuple(cc))
        self.items[key] = item
        return item

    def add_reply(self, item: str, author: str, mentions: Iterable[str] = ()) -> None:
        self.items[item].replies.append(Reply(author, tuple(mentions)))

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

    def scoped_roles(self, user: str, record: Record) -> list[str]:
        """Rule 7: the user's function roles whose read scope covers the record's type."""
        return [
            role
            for role in self.users[user].roles
            if record.object_type in READ_SCOPES.get(role, frozenset())
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
        """Which read rules hold for the user and the record, whatever its life status."""
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
        if self.scoped_roles(user, found):
            holds.add(FUNCTION_ROLE)
        if found.current_confirmer == user:
            holds.add(CURRENT_CONFIRMER)  # rule 7: the order waits for them
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

    # -- the feed oracle ------------------------------------------------------------------------

    def follow_up_access(self, object_type: str, team_role: str) -> str:
        return self.follow_up.get((object_type, team_role), READ_ONLY)

    def follow_up_reasons(self, user: str, record: str | Record) -> set[str]:
        """Which grounds open the record's follow-up activity to the user, whatever its life
        status: the §4 rule names, where a team path counts only through a role whose follow-up
        permission for the object type is Read Only, and sharing only while the enterprise lets
        sharing open follow-up activity."""
        found = record if isinstance(record, Record) else self.records[record]
        holds = self.reasons(user, found) - {TEAM_MEMBER, SUPERIOR_OF_TEAM_MEMBER, SHARING}
        # The owner's own row (role Owner) is left out: the owner and the owner's superiors are
        # opened by rules 1 and 2 whatever the Owner role's setting.
        for _, membership, direct in self.team_paths(user, found):
            if self.follow_up_access(found.object_type, membership.team_role) == READ_ONLY:
                holds.add(TEAM_MEMBER if direct else SUPERIOR_OF_TEAM_MEMBER)
        if self.sharing_opens_follow_up and self.sharing_rules(user, found):
            holds.add(SHARING)
        return holds

    def follow_up_open(self, user: str, record: str | Record) -> bool:
        """CRM administrators: every record of the enterprise, invalid ones too; everyone else:
        normal records, on one of `follow_up_reasons`."""
        found = record if isinstance(record, Record) else self.records[record]
        if self.users[user].is_admin:
            return True
        return found.valid and bool(self.follow_up_reasons(user, found))

    def follow_up_closed(self, user: str, record: str) -> str:
        """Why the record's follow-up activity is closed to the user (for failure messages)."""
        found = self.records[record]
        if not found.valid:
            return "invalid"
        why = []
        for member, membership, _ in self.team_paths(user, found):
            access = self.follow_up_access(found.object_type, membership.team_role)
            why.append(f"team via {member} as {membership.team_role} ({access})")
        if self.sharing_rules(user, found):
            why.append("shared, but sharingOpensFollowUp is off")
        return "; ".join(why) or "no access at all"

    def item_reasons(self, user: str, item: str | FeedItem) -> list[str]:
        """Why the user sees the item (empty: the user does not)."""
        found = item if isinstance(item, FeedItem) else self.items[item]
        why = ["author"] if found.author == user else []
        why.extend(found.naming(user))
        for record in found.related:
            if self.follow_up_open(user, record):
                rules = sorted(self.follow_up_reasons(user, record)) or [ADMIN]
                why.append(f"follow-up of {record} open ({', '.join(rules)})")
        return why

    def item_visible(self, user: str, item: str | FeedItem) -> bool:
        return bool(self.item_reasons(user, item))

    def explain_item(self, user: str, item: str) -> str:
        """Both sides at once: why the item is visible, or why each related record is closed."""
        found = self.items[item]
        why = self.item_reasons(user, found)
        if why:
            return f"{item} ({'; '.join(why)})"
        closed = [f"{r}: {self.follow_up_closed(user, r)}" for r in found.related]
        return f"{item} (by {found.author}; not named; {' | '.join(closed) or 'no related record'})"

    def related_to(self, user: str, item: str) -> list[str]:
        """An item's `relatedTo` as the user sees it: the related records they may read."""
        return [record for record in self.items[item].related if self.can_read(user, record)]

    def in_scene(self, user: str, scene: str, record: str | Record) -> bool:
        """Whether the record is one of the scene's records for the user (normal records only)."""
        found = record if isinstance(record, Record) else self.records[record]
        relation, object_types = SCENES[scene]
        if not found.valid or found.object_type not in object_types:
            return False
        if relation == MINE:
            return found.owner == user
        below = self.subordinates(user)
        if relation == SUBORDINATE_IN_TEAM:
            return any(member in below for member in found.team)  # the owner's row counts
        if relation == SUBORDINATE_OWNS:
            return found.owner in below
        return bool(self.headed_departments(user, found))

    def visible_items(self, user: str) -> list[str]:
        """Every item the user sees, newest first: the WORK feed."""
        return [key for key in reversed(self.items) if self.item_visible(user, key)]

    def feed(
        self,
        user: str,
        scene: str = WORK,
        *,
        record: str | None = None,
        types: Iterable[str] | None = None,
        visible: list[str] | None = None,
    ) -> list[str]:
        """What `feed(scene, recordId, types)` lists for the user, newest first. `visible` may
        pass `visible_items(user)` already worked out."""
        listed = self.visible_items(user) if visible is None else visible
        wanted = None if types is None else set(types)
        found = []
        for key in listed:
            item = self.items[key]
            if wanted is not None and item.item_type not in wanted:
                continue
            if record is not None and record not in item.related:
                continue
            if scene != WORK and not any(self.in_scene(user, scene, r) for r in item.related):
                continue
            found.append(key)
        return found

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
            if record.current_confirmer is not None:
                state += f" waiting for {record.current_confirmer}"
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
        if self.follow_up or self.items:
            disabled = ", ".join(
                f"{t}/{r}" for (t, r), a in self.follow_up.items() if a == DISABLED
            )
            lines.append(
                f"  follow-up Disabled for: {disabled or 'none'}; "
                f"sharingOpensFollowUp={self.sharing_opens_follow_up}"
            )
        for item in self.items.values():
            replies = "; ".join(
                f"{reply.author} @{','.join(reply.mentions) or '-'}" for reply in item.replies
            )
            lines.append(
                f"  item {item.key}: {item.item_type} by {item.author} "
                f"related=[{','.join(item.related)}] mentions=[{','.join(item.mentions)}] "
                f"cc=[{','.join(item.cc)}] replies=[{replies}]"
            )
        return "\n".join(lines)
