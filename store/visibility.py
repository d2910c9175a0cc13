"""The one place that decides, in SQL, who may read which records and whose follow-up activity
is open to whom, hence which feed items a user sees.

Every grant is named once below (`GRANTS`), each a class with its three forms side by side; the
query plans (`readable`, `follow_up_open`, `readable_row`, `follow_up_open_on`, `listed_row`,
`open_records`, `readable_reach`, `readable_split`, `streamed_item_sources`, `readable_to`,
`follow_up_open_to`) are all built from that list, so a new grant is one more class and nothing
else:

grant           who                                   per viewer             per row
--------------  ------------------------------------  ---------------------  -------------------
OwnerChain      the owner; the owner's superiors      owner_id IN my         the same test
                                                      subtree
DepartmentHead  the head of the owner's department    owner_id IN users of   the same test
                or of one above it                    depts I head, below
RelatedTeam     a related-team member; a superior of  id IN team rows of     EXISTS a row of
                one (follow-up: a Read Only role)     my subtree             the row's own team
Sharing         a party a rule shares the owner's     (type, owner_id) IN    the same test
                records with (follow-up: if allowed)  pairs shared with me
FunctionRole-   a holder of a function role whose     object_type IN the     the same test
Scope           read scope covers the object type     roles' scopes
CurrentConfirm- the confirmer of the record's         id IN records whose    EXISTS its CURRENT
er              CURRENT confirmation node (an order   CURRENT node is mine   node, mine
                waiting for them)
CrmAdmin        CRM administrators (invalid records   the whole enterprise   the same
                too)

- per viewer (`among`): one known viewer, the row tested against short lists of theirs built from
  index-backed IN-subqueries over the closure tables (a manager's subordinates or a department
  head's subtree at any depth, without recursion or Python-side filtering): lists and counts,
  and (`branch`) each grant's own branch of `open_records` and `readable_reach`, read from its
  own index (what counts and narrow lists cost in proportion to the records a viewer reaches);
  a grant decided by the record's owner names those owners (`owners`), one decided by rows of
  its own table names the records (`record_ids`), so an exact count adds the records of the
  owners to the others' records not owned by them (`readable_split`);
- per row (`on_row`): the same viewer, for a few rows already found by key (a correlated probe
  where the list would be long);
- per column (`to_user`): the user as a SQL column, correlated on the row and that column only,
  so one statement decides for any number of (user, row) pairs (the live deliverer's check);
- per record, explained (`explain`): for a few records, the facts behind the grant (which team
  member, which sharing rule, which department), one batched statement per grant at most:
  `explainAccess` and the record-action checker read them (`store.access`).

Each form takes a `Purpose`: READ (the record itself) or FOLLOW_UP (its follow-up activity, where
a team grant needs a Read Only team role and sharing counts only while the enterprise lets it).
Grants other than `CrmAdmin` open normal records only: invalid ones are for CRM administrators.
The oracle tests (tests/test_visibility_oracle.py, tests/test_feed_oracle.py) prove every plan
equal to the rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Boolean, and_, false, func, or_, select, tuple_, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from crmfeed.registry.confirmation import CONFIRMATION_TYPES, CONFIRMING, NodeState
from crmfeed.registry.enums import AccessRule, DataAccess, FollowUpAccess, FunctionRole, LifeStatus
from crmfeed.registry.roles import READ_SCOPES, roles_reading
from store.access_facts import TeamPath
from store.confirmation_tables import ConfirmationNode
from store.feed_tables import FeedItem, FeedItemRecord, FeedItemUser
from store.models import (
    Department,
    DepartmentClosure,
    Enterprise,
    FollowUpSetting,
    Record,
    SharingRule,
    TeamMember,
    User,
    UserClosure,
    UserRole,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement, CompoundSelect, Select
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql.compiler import SQLCompiler

    from store.access_facts import AccessFacts, OwnerDepartments
    from store.viewer import Viewer


VIEWER_CACHE = 256
"""Viewers whose conditions below are kept once built (`lru_cache`): a condition depends on the
viewer's fields only, never on data, so it stays right while the organisation changes, and a
request (and the next one of the same viewer) does not build it again for every statement."""


class Purpose(Enum):
    READ = "read"
    """The record itself: lists, counts, lookups, notifications about it."""
    FOLLOW_UP = "follow-up"
    """Its follow-up activity: the feed items related to it."""


# -- the viewer's lists: the per-viewer forms read these ------------------------------------------


def my_subtree(viewer: Viewer) -> Select[tuple[int]]:
    """Ids of the viewer and everyone below them in the reporting tree."""
    return select(UserClosure.descendant_id).where(UserClosure.ancestor_id == viewer.id)


def my_department_chain(viewer: Viewer) -> Select[tuple[int]]:
    """Ids of the viewer's department and all its ancestors."""
    return select(DepartmentClosure.ancestor_id).where(
        DepartmentClosure.descendant_id == viewer.department_id
    )


def owners_under_my_departments(viewer: Viewer) -> Select[tuple[int]]:
    """Ids of users in departments the viewer heads, or below them."""
    headed_subtree = (
        select(DepartmentClosure.descendant_id)
        .join(Department, Department.id == DepartmentClosure.ancestor_id)
        .where(Department.enterprise_id == viewer.enterprise_id, Department.head_id == viewer.id)
    )
    return select(User.id).where(
        User.enterprise_id == viewer.enterprise_id, User.department_id.in_(headed_subtree)
    )


def rules_to_me(viewer: Viewer, *, read_write_only: bool = False) -> ColumnElement[bool]:
    """Condition on SharingRule: the rule shares with the viewer (directly or via department)."""
    to_me = SharingRule.to_user_id == viewer.id
    if viewer.department_id is not None:
        to_me = or_(to_me, SharingRule.to_department_id.in_(my_department_chain(viewer)))
    condition = and_(SharingRule.enterprise_id == viewer.enterprise_id, to_me)
    if read_write_only:
        condition = and_(condition, SharingRule.access == DataAccess.READ_WRITE.value)
    return condition


def shared_with_me(viewer: Viewer, *, read_write_only: bool = False) -> Select[tuple[str, int]]:
    """(object_type, owner_id) pairs whose records sharing rules open to the viewer."""
    applicable = rules_to_me(viewer, read_write_only=read_write_only)
    from_user = select(SharingRule.object_type, SharingRule.from_user_id).where(
        applicable, SharingRule.from_user_id.is_not(None)
    )
    from_department = (
        select(SharingRule.object_type, User.id)
        .join(DepartmentClosure, DepartmentClosure.ancestor_id == SharingRule.from_department_id)
        .join(User, User.department_id == DepartmentClosure.descendant_id)
        .where(applicable)
    )
    return union_all(from_user, from_department)  # type: ignore[return-value]


def _team_records(viewer: Viewer) -> Select[tuple[int]]:
    """Records where the viewer or someone below them sits in the related team."""
    return select(TeamMember.record_id).where(TeamMember.user_id.in_(my_subtree(viewer)))


def _role_setting(setting: Any, team: Any, record: Any) -> ColumnElement[bool]:
    """Join a team row to its role's follow-up setting for the record's object type."""
    return and_(
        setting.enterprise_id == team.enterprise_id,
        setting.object_type == record.object_type,
        setting.team_role == team.team_role,
    )


def _read_only(setting: Any) -> ColumnElement[bool]:
    """The (outer-joined) setting leaves follow-up activity Read Only, the default."""
    return (
        func.coalesce(setting.access, FollowUpAccess.READ_ONLY.value)
        == FollowUpAccess.READ_ONLY.value
    )


_TEAM_RECORD = aliased(Record, name="team_record")
_TEAM_SETTING = aliased(FollowUpSetting, name="team_setting")


def _team_follow_up_records(viewer: Viewer) -> Select[tuple[int]]:
    """Records where someone in the viewer's subtree sits in the team with a role whose
    follow-up activity permission for that object type is Read Only (the default)."""
    record, setting = _TEAM_RECORD, _TEAM_SETTING
    return (
        select(TeamMember.record_id)
        .join(record, record.id == TeamMember.record_id)
        .outerjoin(setting, _role_setting(setting, TeamMember, record))
        .where(TeamMember.user_id.in_(my_subtree(viewer)), _read_only(setting))
    )


class AnyOf(FunctionElement[bool]):
    """`column IN (subquery)`; on PostgreSQL `column = ANY(ARRAY(subquery))`, which it reads
    from the column's index whatever it guesses the subquery's size to be (for a join to the
    sharing pairs it guesses 200 owners and scans every record)."""

    inherit_cache = True
    type = Boolean()
    name = "any_of"
    _is_implicitly_boolean = True


@compiles(AnyOf)
def _any_of(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, subquery = element.clauses.clauses
    return f"{compiler.process(column, **kw)} IN {compiler.process(subquery, **kw)}"


@compiles(AnyOf, "postgresql")
def _any_of_array(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, subquery = element.clauses.clauses
    return f"{compiler.process(column, **kw)} = ANY(ARRAY{compiler.process(subquery, **kw)})"


# -- the subqueries of the per-column forms ------------------------------------------------------
# Every subquery is correlated on the row and the user column only (`correlate_except` its own
# aliases), whatever the caller joins.

_SUBJECT = aliased(User, name="subject_user")
_SUBJECT_CLOSURE = aliased(UserClosure, name="subject_closure")
_HEADED_OWNER = aliased(User, name="headed_owner")
_HEADED_CHAIN = aliased(DepartmentClosure, name="headed_chain")
_HEADED = aliased(Department, name="headed_department")
_SUBJECT_TEAM = aliased(TeamMember, name="subject_team")
_SUBJECT_TEAM_CHAIN = aliased(UserClosure, name="subject_team_chain")
_SUBJECT_SETTING = aliased(FollowUpSetting, name="subject_setting")
_SUBJECT_RULE = aliased(SharingRule, name="subject_rule")
_RULE_FROM_CHAIN = aliased(DepartmentClosure, name="rule_from_chain")
_RULE_OWNER = aliased(User, name="rule_owner")
_RULE_TO_CHAIN = aliased(DepartmentClosure, name="rule_to_chain")
_RULE_SUBJECT = aliased(User, name="rule_subject")
_SUBJECT_LINK = aliased(FeedItemRecord, name="subject_link")
_SUBJECT_LINKED = aliased(Record, name="subject_linked_record")
_SUBJECT_NAMED = aliased(FeedItemUser, name="subject_named")


def enterprise_of(user_id: ColumnElement[int]) -> ColumnElement[int]:
    """The user's enterprise (a scalar subquery)."""
    subject = _SUBJECT
    return (
        select(subject.enterprise_id)
        .where(subject.id == user_id)
        .correlate_except(subject)
        .scalar_subquery()
    )


def is_crm_admin(user_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The user in the column holds the CRM administrator role."""
    role = aliased(UserRole, name="subject_role")
    return (
        select(1)
        .select_from(role)
        .where(role.user_id == user_id, role.role == FunctionRole.CRM_ADMIN.value)
        .correlate_except(role)
        .exists()
    )


def _owner_below(user_id: ColumnElement[int], record: type[Record]) -> ColumnElement[bool]:
    """The owner is the user or below them in the reporting tree."""
    closure = _SUBJECT_CLOSURE
    return (
        select(1)
        .select_from(closure)
        .where(closure.ancestor_id == user_id, closure.descendant_id == record.owner_id)
        .correlate_except(closure)
        .exists()
    )


def _heads_owner_department(
    user_id: ColumnElement[int], record: type[Record]
) -> ColumnElement[bool]:
    """The user heads the owner's department or one above it."""
    owner, chain, headed = _HEADED_OWNER, _HEADED_CHAIN, _HEADED
    return (
        select(1)
        .select_from(owner)
        .join(chain, chain.descendant_id == owner.department_id)
        .join(headed, headed.id == chain.ancestor_id)
        .where(
            owner.id == record.owner_id,
            headed.head_id == user_id,
            headed.enterprise_id == owner.enterprise_id,
        )
        .correlate_except(owner, chain, headed)
        .exists()
    )


def _team_below(
    user_id: ColumnElement[int], record: type[Record], *, follow_up: bool
) -> ColumnElement[bool]:
    """The user or someone below them is in the record's team; with `follow_up`, only
    through a team role whose follow-up activity permission is Read Only (the default)."""
    team, chain, setting = _SUBJECT_TEAM, _SUBJECT_TEAM_CHAIN, _SUBJECT_SETTING
    query = (
        select(1)
        .select_from(team)
        .join(chain, and_(chain.descendant_id == team.user_id, chain.ancestor_id == user_id))
        .where(team.record_id == record.id)
    )
    if follow_up:
        query = query.outerjoin(setting, _role_setting(setting, team, record)).where(
            _read_only(setting)
        )
    return query.correlate_except(team, chain, setting).exists()


def _shared_to(user_id: ColumnElement[int], record: type[Record]) -> ColumnElement[bool]:
    """A sharing rule of the record's object type shares its owner's records (the owner,
    or a department holding the owner's) with the user (or a department holding the user's)."""
    rule, from_chain, owner = _SUBJECT_RULE, _RULE_FROM_CHAIN, _RULE_OWNER
    to_chain, subject = _RULE_TO_CHAIN, _RULE_SUBJECT
    from_owner_department = (
        select(1)
        .select_from(from_chain)
        .join(owner, owner.department_id == from_chain.descendant_id)
        .where(from_chain.ancestor_id == rule.from_department_id, owner.id == record.owner_id)
        .correlate_except(from_chain, owner)
        .exists()
    )
    to_user_department = (
        select(1)
        .select_from(to_chain)
        .join(subject, subject.department_id == to_chain.descendant_id)
        .where(to_chain.ancestor_id == rule.to_department_id, subject.id == user_id)
        .correlate_except(to_chain, subject)
        .exists()
    )
    return (
        select(1)
        .select_from(rule)
        .where(
            rule.enterprise_id == record.enterprise_id,
            rule.object_type == record.object_type,
            or_(rule.from_user_id == record.owner_id, from_owner_department),
            or_(rule.to_user_id == user_id, to_user_department),
        )
        .correlate_except(rule)
        .exists()
    )


def _sharing_opens_follow_up(record: type[Record]) -> ColumnElement[bool]:
    """The record's enterprise lets sharing open follow-up activity."""
    enterprise = aliased(Enterprise, name="subject_enterprise")
    return (
        select(1)
        .select_from(enterprise)
        .where(enterprise.id == record.enterprise_id, enterprise.sharing_opens_follow_up)
        .correlate_except(enterprise)
        .exists()
    )


def _normal(viewer: Viewer) -> ColumnElement[bool]:
    return and_(
        Record.enterprise_id == viewer.enterprise_id,
        Record.life_status == LifeStatus.NORMAL.value,
    )


# -- the grants -----------------------------------------------------------------------------------


class Grant(ABC):
    """One visibility grant, in its three forms; `None` from a per-viewer form means the grant
    gives this viewer nothing for this purpose (and is left out of the statement)."""

    rules: ClassVar[tuple[AccessRule, ...]]
    """The reasons `explainAccess` names for it."""
    whole_enterprise: ClassVar[bool] = False
    """It opens every record of the enterprise, invalid ones too (the others: normal ones)."""

    def opens_everything(self, viewer: Viewer) -> bool:
        """Per viewer, for a whole-enterprise grant: it holds for this viewer."""
        return False

    @abstractmethod
    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        """Per viewer: the (aliased) record row tested against short lists of the viewer's."""

    def on_row(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        """Per row: the same, cheap for a few rows already found by key."""
        return self.among(viewer, record, purpose)

    def covers_type(self, viewer: Viewer, object_type: str) -> bool | None:
        """Per viewer, for rows all of one object type (a list): True when the grant opens
        every normal record of that type to the viewer, False when none, None when it
        depends on the row."""
        return None

    def owners(
        self, viewer: Viewer, purpose: Purpose, object_type: str | None
    ) -> Select[tuple[int]] | None:
        """Per viewer, for a grant decided by the record's owner alone (in a list of
        `object_type`, when given): the ids of the users whose normal records it opens, so
        that `among` is `owner_id IN` them. None when the row itself decides."""
        return None

    def record_ids(self, viewer: Viewer, purpose: Purpose) -> Select[tuple[int]] | None:
        """Per viewer, for a grant decided by rows of its own table (team rows, confirmation
        nodes): the ids of the records it opens, read from that table's index, so that `among`
        is `id IN` them. None otherwise."""
        return None

    def branch(
        self,
        viewer: Viewer,
        purpose: Purpose,
        *where: ColumnElement[bool],
        excluding: Select[tuple[int]] | None = None,
    ) -> Select[tuple[int]] | None:
        """Per viewer: the ids of the normal records it opens (among those `where` accepts, a
        condition on `Record`), read from its own index; with `excluding`, only those not
        among its ids (tested on the grant's own rows first, where it has them)."""
        condition = self.among(viewer, Record, purpose)
        if condition is None:
            return None
        ids = self.record_ids(viewer, purpose) if excluding is not None else None
        if ids is not None:
            condition = Record.id.in_(ids.where(ids.selected_columns[0].not_in(excluding)))
        elif excluding is not None:
            condition = and_(condition, Record.id.not_in(excluding))
        return select(Record.id).where(_normal(viewer), condition, *where)

    @abstractmethod
    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        """Per column: for the user in the column, on the (aliased) record row."""

    @abstractmethod
    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        """Per record, explained: write the facts behind the grant into `found` (by record
        id), for the records of the read (normal or not: the reader decides)."""


class OwnerChain(Grant):
    """The owner, and the owner's superiors at any level."""

    rules = (AccessRule.OWNER, AccessRule.SUPERIOR_OF_OWNER)

    def owners(
        self, viewer: Viewer, purpose: Purpose, object_type: str | None
    ) -> Select[tuple[int]] | None:
        return my_subtree(viewer)

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        return record.owner_id.in_(self.owners(viewer, purpose, None))

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        return _owner_below(user_id, record)

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        owners = sorted({record.owner_id for record in records})
        below = dict(
            (
                await session.execute(
                    select(UserClosure.descendant_id, UserClosure.depth).where(
                        UserClosure.ancestor_id == subject.id,
                        UserClosure.descendant_id.in_(owners),
                    )
                )
            ).all()
        )
        for record in records:
            found[record.id].is_owner = record.owner_id == subject.id
            found[record.id].superior_of_owner = below.get(record.owner_id, 0) > 0


class DepartmentHead(Grant):
    """The head of the owner's department, or of a department above it."""

    rules = (AccessRule.DEPARTMENT_HEAD,)

    def owners(
        self, viewer: Viewer, purpose: Purpose, object_type: str | None
    ) -> Select[tuple[int]] | None:
        return owners_under_my_departments(viewer)

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        return record.owner_id.in_(self.owners(viewer, purpose, None))

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        return _heads_owner_department(user_id, record)

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        headed = list(
            await session.scalars(
                select(Department)
                .where(
                    Department.enterprise_id == subject.enterprise_id,
                    Department.head_id == subject.id,
                    Department.id.in_(departments.departments),
                )
                .order_by(Department.id)
            )
        )
        for record in records:
            chain = departments.of(record.owner_id)
            found[record.id].headed_departments = [d for d in headed if d.id in chain]


_READ_TEAM = aliased(TeamMember, name="read_team")
_OPEN_TEAM = aliased(TeamMember, name="open_team")
_OPEN_SETTING = aliased(FollowUpSetting, name="open_setting")


class RelatedTeam(Grant):
    """A member of the related team, or a superior of one at any level; for follow-up activity
    only through a team role whose follow-up permission for the object type is Read Only."""

    rules = (AccessRule.TEAM_MEMBER, AccessRule.SUPERIOR_OF_TEAM_MEMBER)

    def record_ids(self, viewer: Viewer, purpose: Purpose) -> Select[tuple[int]] | None:
        if purpose is Purpose.FOLLOW_UP:
            return _team_follow_up_records(viewer)
        return _team_records(viewer)

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        return record.id.in_(self.record_ids(viewer, purpose))

    def on_row(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        """Probes the row's own team instead of building the list of every team row of the
        viewer's subtree."""
        team = _OPEN_TEAM if purpose is Purpose.FOLLOW_UP else _READ_TEAM
        probe = (
            select(1)
            .select_from(team)
            # `+ 0`: probe this record's team by its key, not every team row of the subtree.
            .where(team.record_id == record.id, (team.user_id + 0).in_(my_subtree(viewer)))
        )
        if purpose is Purpose.FOLLOW_UP:
            setting = _OPEN_SETTING
            probe = probe.outerjoin(setting, _role_setting(setting, team, record)).where(
                _read_only(setting)
            )
        return probe.exists()

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        return _team_below(user_id, record, follow_up=purpose is Purpose.FOLLOW_UP)

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        rows = await session.execute(
            select(
                TeamMember.record_id,
                TeamMember.user_id,
                TeamMember.team_role,
                TeamMember.access,
                UserClosure.depth,
            )
            .join(UserClosure, UserClosure.descendant_id == TeamMember.user_id)
            .where(TeamMember.record_id.in_(sorted(found)), UserClosure.ancestor_id == subject.id)
            .order_by(UserClosure.depth, TeamMember.user_id)
        )
        for record_id, *path in rows:
            found[record_id].team.append(TeamPath(*path))


class Sharing(Grant):
    """A party a sharing rule shares the owner's records of that object type with (directly or
    through their department); for follow-up activity only while the enterprise lets sharing
    open it."""

    rules = (AccessRule.SHARING,)

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        if purpose is Purpose.FOLLOW_UP and not viewer.sharing_opens_follow_up:
            return None
        return tuple_(record.object_type, record.owner_id).in_(shared_with_me(viewer))

    def owners(
        self, viewer: Viewer, purpose: Purpose, object_type: str | None
    ) -> Select[tuple[int]] | None:
        """In a list of one object type, the owners of the pairs of that type."""
        if object_type is None or self.among(viewer, Record, purpose) is None:
            return None
        pairs = shared_with_me(viewer).subquery("shared_pair")
        return select(pairs.c.from_user_id).where(pairs.c.object_type == object_type)

    def branch(
        self,
        viewer: Viewer,
        purpose: Purpose,
        *where: ColumnElement[bool],
        excluding: Select[tuple[int]] | None = None,
    ) -> Select[tuple[int]] | None:
        condition = self.among(viewer, Record, purpose)
        if condition is None:
            return None
        if excluding is not None:
            condition = and_(condition, Record.id.not_in(excluding))
        pairs = shared_with_me(viewer).subquery("shared_pair")
        return select(Record.id).where(
            _normal(viewer),
            # the owners' records read from their index, then matched to the pairs
            AnyOf(Record.owner_id, select(pairs.c.from_user_id).scalar_subquery()),
            condition,
            *where,
        )

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        shared = _shared_to(user_id, record)
        if purpose is Purpose.FOLLOW_UP:
            return and_(_sharing_opens_follow_up(record), shared)
        return shared

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        owners = sorted({record.owner_id for record in records})
        rules = list(
            await session.scalars(
                select(SharingRule)
                .where(
                    rules_to_me(subject),
                    SharingRule.object_type.in_(sorted({r.object_type for r in records})),
                    or_(
                        SharingRule.from_user_id.in_(owners),
                        SharingRule.from_department_id.in_(departments.departments),
                    ),
                )
                .order_by(SharingRule.id)
            )
        )
        for record in records:
            chain = departments.of(record.owner_id)
            found[record.id].sharing = [
                rule
                for rule in rules
                if rule.object_type == record.object_type
                and (rule.from_user_id == record.owner_id or rule.from_department_id in chain)
            ]


_SCOPE_ROLE = aliased(UserRole, name="scope_role")


class FunctionRoleScope(Grant):
    """A holder of a function role whose read scope covers the record's object type
    (`crmfeed.registry.roles.READ_SCOPES`: e.g. Order Finance, every Sales Order)."""

    rules = (AccessRule.FUNCTION_ROLE,)

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        scope = viewer.read_scope
        if not scope:
            return None
        return record.object_type.in_(sorted(object_type.value for object_type in scope))

    def covers_type(self, viewer: Viewer, object_type: str) -> bool | None:
        return object_type in viewer.read_scope

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        role = _SCOPE_ROLE
        covers = [
            and_(role.role == held.value, record.object_type.in_(sorted(t.value for t in types)))
            for held, types in READ_SCOPES.items()
        ]
        return (
            select(1)
            .select_from(role)
            .where(role.user_id == user_id, or_(*covers))
            .correlate_except(role)
            .exists()
        )

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        for record in records:
            found[record.id].function_roles = roles_reading(subject.roles, record.object_type)


_WAITING_NODE = aliased(ConfirmationNode, name="waiting_node")
_SUBJECT_NODE = aliased(ConfirmationNode, name="subject_node")
_CONFIRMED_TYPES = sorted(object_type.value for object_type in CONFIRMATION_TYPES)


class CurrentConfirmer(Grant):
    """The confirmer of the record's CURRENT confirmation node: a Sales Order or Return Form
    waiting for them (such a node exists only while the order is CONFIRMING). Its follow-up
    activity is open to them too: the history they decide on."""

    rules = (AccessRule.CURRENT_CONFIRMER,)

    def record_ids(self, viewer: Viewer, purpose: Purpose) -> Select[tuple[int]] | None:
        return select(ConfirmationNode.record_id).where(
            ConfirmationNode.confirmer_id == viewer.id,
            ConfirmationNode.state == NodeState.CURRENT.value,
        )

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        return record.id.in_(self.record_ids(viewer, purpose))

    def on_row(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        node = _WAITING_NODE
        return (
            select(1)
            .select_from(node)
            .where(
                node.record_id == record.id,
                node.confirmer_id == viewer.id,
                node.state == NodeState.CURRENT.value,
            )
            .exists()
        )

    def covers_type(self, viewer: Viewer, object_type: str) -> bool | None:
        return None if object_type in _CONFIRMED_TYPES else False

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        node = _SUBJECT_NODE
        return (
            select(1)
            .select_from(node)
            .where(
                node.record_id == record.id,
                node.confirmer_id == user_id,
                node.state == NodeState.CURRENT.value,
            )
            .correlate_except(node)
            .exists()
        )

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        """Whether each confirming order waits for the subject, or for no one (then the Order
        Administrators confirm it): one lookup for the confirming orders of the read."""
        confirming = sorted(
            record.id
            for record in records
            if record.object_type in _CONFIRMED_TYPES and record.status == CONFIRMING
        )
        if not confirming:
            return
        rows = await session.execute(
            select(ConfirmationNode.record_id, ConfirmationNode.confirmer_id).where(
                ConfirmationNode.record_id.in_(confirming),
                ConfirmationNode.state == NodeState.CURRENT.value,
            )
        )
        waiting_for: dict[int, int] = {record_id: confirmer for record_id, confirmer in rows}
        for record_id in confirming:
            confirmer = waiting_for.get(record_id)
            found[record_id].current_confirmer = confirmer == subject.id
            found[record_id].no_confirmer = confirmer is None


class CrmAdmin(Grant):
    """CRM administrators: every record of the enterprise, invalid ones too."""

    rules = (AccessRule.CRM_ADMIN,)
    whole_enterprise = True

    def opens_everything(self, viewer: Viewer) -> bool:
        return viewer.is_admin

    def among(
        self, viewer: Viewer, record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool] | None:
        return None  # `opens_everything` decides, before any other grant

    def to_user(
        self, user_id: ColumnElement[int], record: type[Record], purpose: Purpose
    ) -> ColumnElement[bool]:
        return is_crm_admin(user_id)

    async def explain(
        self,
        session: AsyncSession,
        subject: Viewer,
        records: Sequence[Record],
        found: dict[int, AccessFacts],
        departments: OwnerDepartments,
    ) -> None:
        """Nothing per record: the subject's role says it (`Viewer.is_admin`)."""


GRANTS: tuple[Grant, ...] = (
    OwnerChain(),
    DepartmentHead(),
    RelatedTeam(),
    Sharing(),
    FunctionRoleScope(),
    CurrentConfirmer(),
    CrmAdmin(),
)
"""Every grant; each plan below ORs their forms in this order."""

if sorted(rule for grant in GRANTS for rule in grant.rules) != sorted(AccessRule):
    raise RuntimeError("every AccessRule must be named by exactly one grant")


# -- the plans, built from the grants -------------------------------------------------------------


def sees_everything(viewer: Viewer) -> bool:
    """A whole-enterprise grant holds for the viewer: every record of the enterprise is open."""
    return any(grant.opens_everything(viewer) for grant in GRANTS)


def _per_viewer(
    viewer: Viewer,
    record: type[Record],
    purpose: Purpose,
    *,
    per_row: bool,
    object_type: str | None = None,
) -> ColumnElement[bool]:
    """The per-viewer (or per-row) forms of every grant, ORed; for rows all of `object_type`
    (when given), a grant that opens all or none of that type is decided here instead."""
    same_enterprise = record.enterprise_id == viewer.enterprise_id
    if sees_everything(viewer):
        return same_enterprise
    normal = record.life_status == LifeStatus.NORMAL.value
    grants = [grant for grant in GRANTS if not grant.whole_enterprise]
    if object_type is not None:
        covers = {grant: grant.covers_type(viewer, object_type) for grant in grants}
        if any(covers.values()):
            return and_(same_enterprise, normal)
        grants = [grant for grant in grants if covers[grant] is None]
    opened = [
        condition
        for grant in grants
        if (
            condition := (
                grant.on_row(viewer, record, purpose)
                if per_row
                else grant.among(viewer, record, purpose)
            )
        )
        is not None
    ]
    return and_(same_enterprise, normal, or_(false(), *opened))


def readable(viewer: Viewer) -> ColumnElement[bool]:
    """Records the viewer may read, any life status the viewer may see."""
    return _per_viewer(viewer, Record, Purpose.READ, per_row=False)


def listed(
    viewer: Viewer,
    *,
    life_status: LifeStatus = LifeStatus.NORMAL,
    object_type: str | None = None,
) -> ColumnElement[bool]:
    """Records of a given life status the viewer may read (the recycle bin is admins' only);
    with `object_type`, for a list of that type only (the caller filters on it)."""
    if life_status is LifeStatus.INVALID and not viewer.is_admin:
        return false()
    condition = _per_viewer(viewer, Record, Purpose.READ, per_row=False, object_type=object_type)
    return and_(condition, Record.life_status == life_status.value)


def listed_row(viewer: Viewer, *, object_type: str | None = None) -> ColumnElement[bool]:
    """`listed(viewer, object_type=...)` of normal records with the per-row forms: for a walk
    of the list index that stops after a page, when the viewer reaches many records (a team
    probe per row visited instead of the list of every team row of their subtree)."""
    condition = _per_viewer(viewer, Record, Purpose.READ, per_row=True, object_type=object_type)
    return and_(condition, Record.life_status == LifeStatus.NORMAL.value)


@lru_cache(maxsize=VIEWER_CACHE)
def readable_row(viewer: Viewer) -> ColumnElement[bool]:
    """`readable(viewer)` for a few rows already found by key."""
    return _per_viewer(viewer, Record, Purpose.READ, per_row=True)


def follow_up_open(viewer: Viewer) -> ColumnElement[bool]:
    """Records whose follow-up activity is open to the viewer."""
    return _per_viewer(viewer, Record, Purpose.FOLLOW_UP, per_row=False)


def open_record_ids(viewer: Viewer) -> Select[tuple[int]]:
    return select(Record.id).where(follow_up_open(viewer))


def follow_up_open_on(record: type[Record], viewer: Viewer) -> ColumnElement[bool]:
    """`follow_up_open` evaluated on one (aliased) record row: every grant is a test of that
    row against small per-viewer lists, or a probe of its own team, so checking a few rows
    never builds the list of every open record."""
    return _per_viewer(viewer, record, Purpose.FOLLOW_UP, per_row=True)


_LINK = aliased(FeedItemRecord, name="open_link")
_LINKED_RECORD = aliased(Record, name="open_record")


@lru_cache(maxsize=VIEWER_CACHE)
def visible_items(viewer: Viewer) -> ColumnElement[bool]:
    """Feed items the viewer sees: their own, those naming them (@mention, cc, a mention in a
    reply), and those related to any record whose follow-up activity is open to them.

    Correlated on `FeedItem`: each item's own links are tested against their own records, so
    the cost per item is a few index probes, whoever the viewer is. A link only ever points
    at a record of the item's enterprise (posting checks the records are readable), so for a
    viewer to whom every record of the enterprise is open, any link will do.
    `OFFSET 0` keeps PostgreSQL from turning the probe into a hashed sub-plan over every link.
    """
    link = _LINK
    linked_query = select(1).select_from(link).where(link.item_id == FeedItem.id)
    if not sees_everything(viewer):
        record = _LINKED_RECORD
        linked_query = linked_query.join(record, record.id == link.record_id).where(
            follow_up_open_on(record, viewer)
        )
    linked = linked_query.offset(0).exists()
    named = (
        select(FeedItemUser.item_id)
        .where(FeedItemUser.item_id == FeedItem.id, FeedItemUser.user_id == viewer.id)
        .exists()
    )
    return and_(
        FeedItem.enterprise_id == viewer.enterprise_id,
        or_(FeedItem.author_id == viewer.id, named, linked),
    )


# -- reading the feed from the records: for viewers to whom few records are open ----------------

NARROW_REACH = 500
"""Open records up to which a feed is read from those records' links instead of walking every
item newest first (tests lower and raise it to run both plans against the oracle)."""


@lru_cache(maxsize=VIEWER_CACHE)
def open_records(viewer: Viewer) -> CompoundSelect:
    """Ids of the records whose follow-up activity is open to the viewer, one row per grant
    (so an id may repeat), each grant read from its own index (records by owner, team rows by
    user): the way to list them when few are open, or to count the items about them."""
    if sees_everything(viewer):
        return union_all(select(Record.id).where(Record.enterprise_id == viewer.enterprise_id))
    branches = [
        branch
        for grant in GRANTS
        if not grant.whole_enterprise
        and (branch := grant.branch(viewer, Purpose.FOLLOW_UP)) is not None
    ]
    return union_all(*branches)


def readable_reach(
    viewer: Viewer, object_type: str | None, where: Sequence[ColumnElement[bool]] = ()
) -> CompoundSelect | None:
    """Ids of the normal records (of `object_type`, when given) the viewer may read among those
    `where` accepts (conditions on `Record`), one row per grant (an id may repeat), each grant
    read from its own index (records by owner, team rows by user): what a list or count costs
    in proportion to the records the viewer reaches, not to the table. None when a grant opens
    every such record (a CRM administrator; a function role covering the type): then the list
    index itself is the way. `listed(viewer, object_type=...)` is the same set as a condition.
    """
    if sees_everything(viewer):
        return None
    grants = [grant for grant in GRANTS if not grant.whole_enterprise]
    conditions = list(where)
    if object_type is not None:
        covers = {grant: grant.covers_type(viewer, object_type) for grant in grants}
        if any(covers.values()):
            return None
        grants = [grant for grant in grants if covers[grant] is None]
        conditions.append(Record.object_type == object_type)
    branches = [
        branch
        for grant in grants
        if (branch := grant.branch(viewer, Purpose.READ, *conditions)) is not None
    ]
    if not branches:  # no grant opens anything: an empty set, still a statement
        branches = [select(Record.id).where(false())]
    return union_all(*branches)


@dataclass(frozen=True, slots=True)
class SplitReach:
    """`readable_reach` in two disjoint parts, for an exact count: the records the grants
    decided by the owner open (`owned`, each id once), and those the other grants open whose
    owner is not among those grants' owners (`others`, an id may repeat)."""

    owned: Select[tuple[int]]
    others: CompoundSelect | None


def readable_split(
    viewer: Viewer, object_type: str | None, where: Sequence[ColumnElement[bool]] = ()
) -> SplitReach | None:
    """`readable_reach(viewer, object_type, where)` split by owner: the grants whose `owners`
    decide (owner chain, department head, sharing within a list of one type) give one set of
    owners, whose records one `IN` reads from the owner index (a range of index entries per
    owner); the other grants (`branch` with `excluding`) give only the records not owned by
    those owners, dropped on their own rows (a team row, a confirmation node) before the
    record is looked up. So a count is a sum of two counts and a record reached through
    several grants is counted once. None when `readable_reach` is."""
    if sees_everything(viewer):
        return None
    grants = [grant for grant in GRANTS if not grant.whole_enterprise]
    conditions = list(where)
    kept: list[ColumnElement[bool]] = []
    if object_type is not None:
        covers = {grant: grant.covers_type(viewer, object_type) for grant in grants}
        if any(covers.values()):
            return None
        grants = [grant for grant in grants if covers[grant] is None]
        kept.append(Record.object_type == object_type)
    purpose = Purpose.READ
    opening = [grant for grant in grants if grant.among(viewer, Record, purpose) is not None]
    owner_sets = [
        found
        for grant in opening
        if (found := grant.owners(viewer, purpose, object_type)) is not None
    ]
    by_row = [grant for grant in opening if grant.owners(viewer, purpose, object_type) is None]
    if not owner_sets:  # no grant decides by the owner: no owner at all
        owner_sets = [select(User.id).where(false())]
    owners = union_all(*owner_sets)
    # every normal record of the list's type these owners hold, the filters aside (read from
    # the owner index alone): a record among them is in `owned` or fails the filters
    excluding = (
        select(Record.id)
        .where(_normal(viewer), Record.owner_id.in_(owners), *kept)
        .correlate(None)  # its own read of records, inside branches that read records too
    )
    owned = select(Record.id).where(
        _normal(viewer), Record.owner_id.in_(owners), *kept, *conditions
    )
    branches = [
        branch
        for grant in by_row
        if (branch := grant.branch(viewer, purpose, *kept, *conditions, excluding=excluding))
        is not None
    ]
    return SplitReach(owned, union_all(*branches) if branches else None)


@lru_cache(maxsize=VIEWER_CACHE)
def open_record_reach(viewer: Viewer) -> Select[tuple[int]]:
    """`open_records(viewer)` as one column: capped at `NARROW_REACH + 1` rows by the caller,
    cheap for everyone, and enough to tell a narrow viewer (and list their open records)
    from a wide one."""
    reach = open_records(viewer).subquery("reach")
    return select(reach.c.id)


def visible_item_sources(
    viewer: Viewer, open_links: ColumnElement[bool] | None = None
) -> list[Select[tuple[int]]]:
    """The ids of the items the viewer sees, as three sources whose union is exactly
    `visible_items(viewer)`: the links to records of `open_records(viewer)` (or those that
    `open_links`, a condition on `FeedItemRecord`, accepts: it must accept exactly those), the
    viewer's own items, the items naming them; an id may repeat. Each is read from one index
    alone (`ix_feed_item_records_record`, `ix_feed_items_author`, `ix_feed_item_users_user`):
    an open record, an author and a named user are of the viewer's enterprise, and so are the
    items they lead to."""
    if open_links is None:
        open_links = (
            FeedItemRecord.enterprise_id == viewer.enterprise_id
            if sees_everything(viewer)
            else FeedItemRecord.record_id.in_(open_records(viewer))
        )
    return [
        select(FeedItemRecord.item_id.label("id")).where(open_links),
        *_own_and_named(viewer),
    ]


def _own_and_named(viewer: Viewer) -> list[Select[tuple[int]]]:
    return [
        select(FeedItem.id.label("id")).where(FeedItem.author_id == viewer.id),
        select(FeedItemUser.item_id.label("id")).where(FeedItemUser.user_id == viewer.id),
    ]


def streamed_item_sources(viewer: Viewer) -> list[Select[tuple[int]]]:
    """`visible_item_sources(viewer)` for a reader that stops early (a count up to a bound):
    the viewer's own items and those naming them first, then the links read record by record
    as `open_records(viewer)` yields them (a join it drives), so no list of every open record
    is built before the first item."""
    if sees_everything(viewer):
        return visible_item_sources(viewer)
    reach = open_records(viewer).subquery("open_record")
    links = (
        select(FeedItemRecord.item_id.label("id"))
        .select_from(reach)
        .join(FeedItemRecord, FeedItemRecord.record_id == reach.c.id)
    )
    return [*_own_and_named(viewer), links]


# -- the same plans for many users at once ------------------------------------------------------
# The conditions above are built for one known viewer. Those below state the same grants with the
# user as a SQL column (`user_id`: e.g. `Notification.user_id`), so one statement decides for any
# number of (user, row) pairs: the live deliverer checks a batch of notifications for all their
# recipients at once.


def _open_to(
    user_id: ColumnElement[int], record: type[Record], purpose: Purpose
) -> ColumnElement[bool]:
    limited = [g.to_user(user_id, record, purpose) for g in GRANTS if not g.whole_enterprise]
    whole = [g.to_user(user_id, record, purpose) for g in GRANTS if g.whole_enterprise]
    return and_(
        record.enterprise_id == enterprise_of(user_id),
        or_(and_(record.life_status == LifeStatus.NORMAL.value, or_(*limited)), *whole),
    )


def readable_to(user_id: ColumnElement[int], record: type[Record] = Record) -> ColumnElement[bool]:
    """`readable` for the user in the column, on the (aliased) record row."""
    return _open_to(user_id, record, Purpose.READ)


def follow_up_open_to(
    user_id: ColumnElement[int], record: type[Record] = Record
) -> ColumnElement[bool]:
    """`follow_up_open` for the user in the column, on the (aliased) record row."""
    return _open_to(user_id, record, Purpose.FOLLOW_UP)


def item_visible_to(
    user_id: ColumnElement[int], item: type[FeedItem] = FeedItem
) -> ColumnElement[bool]:
    """`visible_items` for the user in the column, on the (aliased) feed item row."""
    named, link, record = _SUBJECT_NAMED, _SUBJECT_LINK, _SUBJECT_LINKED
    is_named = (
        select(1)
        .select_from(named)
        .where(named.item_id == item.id, named.user_id == user_id)
        .correlate_except(named)
        .exists()
    )
    linked = (
        select(1)
        .select_from(link)
        .join(record, record.id == link.record_id)
        .where(link.item_id == item.id, follow_up_open_to(user_id, record))
        .correlate_except(link, record)
        .exists()
    )
    return and_(
        item.enterprise_id == enterprise_of(user_id),
        or_(item.author_id == user_id, is_named, linked),
    )
