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

from typing import TYPE_CHECKING

from sqlalchemy import and_, false, func, or_, select, tuple_, union_all
from sqlalchemy.orm import aliased

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
    from sqlalchemy import ColumnElement, Select

    from store.viewer import Viewer


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


_TEAM_RECORD = aliased(Record, name="team_record")
_TEAM_SETTING = aliased(FollowUpSetting, name="team_setting")


def _team_follow_up_records(viewer: Viewer) -> Select[tuple[int]]:
    """Records where someone in the viewer's subtree sits in the team with a role whose
    follow-up activity permission for that object type is Read Only (the default)."""
    record, setting = _TEAM_RECORD, _TEAM_SETTING
    return (
        select(TeamMember.record_id)
        .join(record, record.id == TeamMember.record_id)
        .outerjoin(
            setting,
            and_(
                setting.enterprise_id == TeamMember.enterprise_id,
                setting.object_type == record.object_type,
                setting.team_role == TeamMember.team_role,
            ),
        )
        .where(
            TeamMember.user_id.in_(my_subtree(viewer)),
            func.coalesce(setting.access, FollowUpAccess.READ_ONLY.value)
            == FollowUpAccess.READ_ONLY.value,
        )
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


def visible_items(viewer: Viewer) -> ColumnElement[bool]:
    """Feed items the viewer sees: their own, those naming them (@mention, cc, a mention in a
    reply), and those related to any record whose follow-up activity is open to them."""
    linked = (
        select(FeedItemRecord.item_id)
        .where(
            FeedItemRecord.item_id == FeedItem.id,
            FeedItemRecord.record_id.in_(open_record_ids(viewer)),
        )
        .exists()
    )
    named = (
        select(FeedItemUser.item_id)
        .where(FeedItemUser.item_id == FeedItem.id, FeedItemUser.user_id == viewer.id)
        .exists()
    )
    return and_(
        FeedItem.enterprise_id == viewer.enterprise_id,
        or_(FeedItem.author_id == viewer.id, named, linked),
    )
