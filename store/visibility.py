"""The one place that decides, in SQL, who may read or write which records (DESIGN §4, §5) and
whose follow-up activity is open to whom, hence which feed items a user sees (DESIGN §6).

`readable(viewer)` and `writable(viewer)` return boolean SQL conditions over `Record`; every list,
count, lookup (and later feed, export and notification) adds them to its WHERE clause. They are
built from index-backed IN-subqueries over the closure tables, so a manager's subordinates or a
department head's subtree are found at any depth without recursion or Python-side filtering:

1. owner, 2. superior of the owner  -> owner_id IN (my subtree in user_closure, me included)
3. team member or superior of one   -> id IN (record_team rows of my subtree)
4. sharing rule to me / my dept     -> (object_type, owner_id) IN (pairs the rules share with me)
5. head of owner's dept or above    -> owner_id IN (users of departments under those I head)
6. CRM administrator                -> everything
Invalid records are readable by CRM administrators only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, and_, false, func, or_, select, tuple_, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from crmfeed.registry.enums import DataAccess, FollowUpAccess, LifeStatus
from store.feed_tables import FeedItem, FeedItemRecord, FeedItemUser
from store.models import (
    Department,
    DepartmentClosure,
    FollowUpSetting,
    Record,
    SharingRule,
    TeamMember,
    User,
    UserClosure,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, CompoundSelect, Select
    from sqlalchemy.sql.compiler import SQLCompiler

    from store.viewer import Viewer


VIEWER_CACHE = 256
"""Viewers whose conditions below are kept once built (`lru_cache`): a condition depends on the
viewer's fields only, never on data, so it stays right while the organisation changes, and a
request (and the next one of the same viewer) does not build it again for every statement."""


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


def _team_records(viewer: Viewer, *, read_write_only: bool = False) -> Select[tuple[int]]:
    query = select(TeamMember.record_id).where(TeamMember.user_id.in_(my_subtree(viewer)))
    if read_write_only:
        query = query.where(TeamMember.access == DataAccess.READ_WRITE.value)
    return query


def readable(viewer: Viewer) -> ColumnElement[bool]:
    """Records the viewer may read, any life status the viewer may see."""
    same_enterprise = Record.enterprise_id == viewer.enterprise_id
    if viewer.is_admin:
        return same_enterprise
    return and_(
        same_enterprise,
        Record.life_status == LifeStatus.NORMAL.value,
        or_(
            Record.owner_id.in_(my_subtree(viewer)),
            Record.id.in_(_team_records(viewer)),
            tuple_(Record.object_type, Record.owner_id).in_(shared_with_me(viewer)),
            Record.owner_id.in_(owners_under_my_departments(viewer)),
        ),
    )


def writable(viewer: Viewer) -> ColumnElement[bool]:
    """Records the viewer is a standard writer of: owner, owner's superior, R&W sharing party,
    R&W team member or that member's superior. Status rules are applied by the action checker."""
    return and_(
        Record.enterprise_id == viewer.enterprise_id,
        Record.life_status == LifeStatus.NORMAL.value,
        or_(
            Record.owner_id.in_(my_subtree(viewer)),
            Record.id.in_(_team_records(viewer, read_write_only=True)),
            tuple_(Record.object_type, Record.owner_id).in_(
                shared_with_me(viewer, read_write_only=True)
            ),
        ),
    )


def listed(viewer: Viewer, *, life_status: LifeStatus = LifeStatus.NORMAL) -> ColumnElement[bool]:
    """Records of a given life status the viewer may read (the recycle bin is admins' only)."""
    if life_status is LifeStatus.INVALID and not viewer.is_admin:
        return false()
    return and_(readable(viewer), Record.life_status == life_status.value)


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


def follow_up_open(viewer: Viewer) -> ColumnElement[bool]:
    """Records whose follow-up activity is open to the viewer (DESIGN §6): owner, owner's
    superiors, CRM administrators, heads of the owner's department (or above it), Read Only team
    members and their superiors, and sharing parties unless the enterprise closed that."""
    same_enterprise = Record.enterprise_id == viewer.enterprise_id
    if viewer.is_admin:
        return same_enterprise
    grants = [
        Record.owner_id.in_(my_subtree(viewer)),
        Record.owner_id.in_(owners_under_my_departments(viewer)),
        Record.id.in_(_team_follow_up_records(viewer)),
    ]
    if viewer.sharing_opens_follow_up:
        grants.append(tuple_(Record.object_type, Record.owner_id).in_(shared_with_me(viewer)))
    return and_(same_enterprise, Record.life_status == LifeStatus.NORMAL.value, or_(*grants))


def open_record_ids(viewer: Viewer) -> Select[tuple[int]]:
    return select(Record.id).where(follow_up_open(viewer))


_LINK = aliased(FeedItemRecord, name="open_link")
_LINKED_RECORD = aliased(Record, name="open_record")
_OPEN_TEAM = aliased(TeamMember, name="open_team")
_OPEN_SETTING = aliased(FollowUpSetting, name="open_setting")


def follow_up_open_on(record: type[Record], viewer: Viewer) -> ColumnElement[bool]:
    """`follow_up_open` evaluated on one (aliased) record row: every grant is a test of that
    row against small per-viewer lists, and the team grant a correlated probe of its team, so
    checking a few rows never builds the list of every open record."""
    if viewer.is_admin:
        return record.enterprise_id == viewer.enterprise_id
    team, setting = _OPEN_TEAM, _OPEN_SETTING
    team_open = (
        select(1)
        .select_from(team)
        .outerjoin(setting, _role_setting(setting, team, record))
        .where(
            team.record_id == record.id,
            # `+ 0`: probe this record's team by its key, not every team row of the subtree.
            (team.user_id + 0).in_(my_subtree(viewer)),
            _read_only(setting),
        )
        .exists()
    )
    grants = [
        record.owner_id.in_(my_subtree(viewer)),
        record.owner_id.in_(owners_under_my_departments(viewer)),
        team_open,
    ]
    if viewer.sharing_opens_follow_up:
        grants.append(tuple_(record.object_type, record.owner_id).in_(shared_with_me(viewer)))
    return and_(
        record.enterprise_id == viewer.enterprise_id,
        record.life_status == LifeStatus.NORMAL.value,
        or_(*grants),
    )


@lru_cache(maxsize=VIEWER_CACHE)
def visible_items(viewer: Viewer) -> ColumnElement[bool]:
    """Feed items the viewer sees: their own, those naming them (@mention, cc, a mention in a
    reply), and those related to any record whose follow-up activity is open to them.

    Correlated on `FeedItem`: each item's own links are tested against their own records, so
    the cost per item is a few index probes, whoever the viewer is. A link only ever points
    at a record of the item's enterprise (posting checks the records are readable), so for a
    CRM administrator, to whom every record of the enterprise is open, any link will do.
    `OFFSET 0` keeps PostgreSQL from turning the probe into a hashed sub-plan over every link.
    """
    link = _LINK
    linked_query = select(1).select_from(link).where(link.item_id == FeedItem.id)
    if not viewer.is_admin:
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


def _normal(viewer: Viewer) -> ColumnElement[bool]:
    return and_(
        Record.enterprise_id == viewer.enterprise_id,
        Record.life_status == LifeStatus.NORMAL.value,
    )


@lru_cache(maxsize=VIEWER_CACHE)
def open_records(viewer: Viewer) -> CompoundSelect:
    """Ids of the records whose follow-up activity is open to the viewer, one row per grant
    (so an id may repeat), each grant read from its own index (records by owner, team rows by
    user): the way to list them when few are open, or to count the items about them."""
    if viewer.is_admin:
        return union_all(select(Record.id).where(Record.enterprise_id == viewer.enterprise_id))
    normal = _normal(viewer)
    branches = [
        select(Record.id).where(normal, Record.owner_id.in_(my_subtree(viewer))),
        select(Record.id).where(normal, Record.owner_id.in_(owners_under_my_departments(viewer))),
        select(Record.id).where(normal, Record.id.in_(_team_follow_up_records(viewer))),
    ]
    if viewer.sharing_opens_follow_up:
        pairs = shared_with_me(viewer).subquery("shared_pair")
        branches.append(
            select(Record.id).where(
                normal,
                # the owners' records read from their index, then matched to the pairs
                AnyOf(Record.owner_id, select(pairs.c.from_user_id).scalar_subquery()),
                tuple_(Record.object_type, Record.owner_id).in_(shared_with_me(viewer)),
            )
        )
    return union_all(*branches)


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
            if viewer.is_admin
            else FeedItemRecord.record_id.in_(open_records(viewer))
        )
    return [
        select(FeedItemRecord.item_id.label("id")).where(open_links),
        select(FeedItem.id.label("id")).where(FeedItem.author_id == viewer.id),
        select(FeedItemUser.item_id.label("id")).where(FeedItemUser.user_id == viewer.id),
    ]


_READ_TEAM = aliased(TeamMember, name="read_team")


@lru_cache(maxsize=VIEWER_CACHE)
def readable_row(viewer: Viewer) -> ColumnElement[bool]:
    """`readable(viewer)` for a few rows already found by key: the team grant probes each
    record's own team instead of building the list of every team row of the subtree."""
    if viewer.is_admin:
        return Record.enterprise_id == viewer.enterprise_id
    team = _READ_TEAM
    in_team = (
        select(1)
        .select_from(team)
        .where(team.record_id == Record.id, (team.user_id + 0).in_(my_subtree(viewer)))
        .exists()
    )
    return and_(
        _normal(viewer),
        or_(
            Record.owner_id.in_(my_subtree(viewer)),
            in_team,
            tuple_(Record.object_type, Record.owner_id).in_(shared_with_me(viewer)),
            Record.owner_id.in_(owners_under_my_departments(viewer)),
        ),
    )


# -- the same rules for many users at once ----------------------------------------------------
# The conditions above are built for one known viewer. Those below state the same rules with the
# user as a SQL column (`user_id`: e.g. `Notification.user_id`), so one statement decides for any
# number of (user, row) pairs: the live deliverer checks a batch of notifications for all their
# recipients at once. Every subquery is correlated on the row and the user column only
# (`correlate_except` its own aliases), whatever the caller joins. The oracle tests
# (tests/test_feed_oracle.py, tests/test_visibility_oracle.py) prove them equal to the rules.

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
    """Rule 6 for the user in the column: they hold the CRM administrator role."""
    from crmfeed.registry.enums import FunctionRole
    from store.models import UserRole

    role = aliased(UserRole, name="subject_role")
    return (
        select(1)
        .select_from(role)
        .where(role.user_id == user_id, role.role == FunctionRole.CRM_ADMIN.value)
        .correlate_except(role)
        .exists()
    )


def _owner_below(user_id: ColumnElement[int], record: type[Record]) -> ColumnElement[bool]:
    """Rules 1 and 2: the owner is the user or below them in the reporting tree."""
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
    """Rule 5: the user heads the owner's department or one above it."""
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
    """Rule 3: the user or someone below them is in the record's team; with `follow_up`, only
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
    """Rule 4: a sharing rule of the record's object type shares its owner's records (the owner,
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


def readable_to(user_id: ColumnElement[int], record: type[Record] = Record) -> ColumnElement[bool]:
    """`readable` for the user in the column, on the (aliased) record row."""
    return _open_to(user_id, record, follow_up=False)


def follow_up_open_to(
    user_id: ColumnElement[int], record: type[Record] = Record
) -> ColumnElement[bool]:
    """`follow_up_open` for the user in the column, on the (aliased) record row."""
    return _open_to(user_id, record, follow_up=True)


def _open_to(
    user_id: ColumnElement[int], record: type[Record], *, follow_up: bool
) -> ColumnElement[bool]:
    """Rules 1-6 for the user in the column; for follow-up activity the team grant needs a Read
    Only team role and the sharing grant an enterprise that opens sharing to follow-up."""
    shared = _shared_to(user_id, record)
    if follow_up:
        from store.models import Enterprise

        enterprise = aliased(Enterprise, name="subject_enterprise")
        sharing_opens = (
            select(1)
            .select_from(enterprise)
            .where(enterprise.id == record.enterprise_id, enterprise.sharing_opens_follow_up)
            .correlate_except(enterprise)
            .exists()
        )
        shared = and_(sharing_opens, shared)
    return and_(
        record.enterprise_id == enterprise_of(user_id),
        or_(
            and_(
                record.life_status == LifeStatus.NORMAL.value,
                or_(
                    _owner_below(user_id, record),
                    _team_below(user_id, record, follow_up=follow_up),
                    _heads_owner_department(user_id, record),
                    shared,
                ),
            ),
            is_crm_admin(user_id),
        ),
    )


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
