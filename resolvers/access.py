"""`explainAccess`: the data permission inspector (seed FAQ 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.actions import Action
from crmfeed.registry.enums import AccessRule, FollowUpAccess, FunctionRole, TeamRole
from crmfeed.registry.objects import spec_for
from crmfeed.registry.roles import ROLE_LABELS
from resolvers import checker
from resolvers.errors import Forbidden, NotFound
from resolvers.inputs import parse_id
from resolvers.records import readable_or_not_found
from store import org, sharing
from store.access import access_facts

if TYPE_CHECKING:
    from resolvers.context import Context
    from store.access import AccessFacts
    from store.models import Department, Record, SharingRule
    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Reason:
    rule: AccessRule
    via_user_id: int | None = None
    team_role: TeamRole | None = None
    sharing_rule: SharingRule | None = None
    department: Department | None = None
    function_role: FunctionRole | None = None


@dataclass(slots=True)
class Explanation:
    can_read: bool
    can_write: bool
    follow_up_open: bool
    follow_up_reason: str
    reasons: list[Reason] = field(default_factory=list)


def reasons_for(subject: Viewer, record: Record, facts: AccessFacts) -> list[Reason]:
    found: list[Reason] = []
    if facts.is_owner:
        found.append(Reason(AccessRule.OWNER, via_user_id=subject.id))
    if facts.superior_of_owner:
        found.append(Reason(AccessRule.SUPERIOR_OF_OWNER, via_user_id=record.owner_id))
    for path in facts.team:
        if path.depth == 0 and path.member_id == record.owner_id:
            continue
        rule = AccessRule.TEAM_MEMBER if path.depth == 0 else AccessRule.SUPERIOR_OF_TEAM_MEMBER
        if rule is AccessRule.SUPERIOR_OF_TEAM_MEMBER and path.member_id == record.owner_id:
            continue
        found.append(Reason(rule, via_user_id=path.member_id, team_role=TeamRole(path.team_role)))
    found.extend(Reason(AccessRule.SHARING, sharing_rule=rule) for rule in facts.sharing)
    found.extend(
        Reason(AccessRule.DEPARTMENT_HEAD, department=department)
        for department in facts.headed_departments
    )
    found.extend(
        Reason(AccessRule.FUNCTION_ROLE, function_role=role) for role in facts.function_roles
    )
    if facts.current_confirmer:
        found.append(Reason(AccessRule.CURRENT_CONFIRMER, via_user_id=subject.id))
    if subject.is_admin:
        found.append(Reason(AccessRule.CRM_ADMIN))
    return found


def follow_up(
    subject: Viewer,
    record: Record,
    facts: AccessFacts,
    settings: dict[TeamRole, FollowUpAccess],
    sharing_opens: bool,
    names: dict[int, str],
) -> tuple[bool, str]:
    """Whether follow-up activity of the record is open to the subject, and why (not)."""
    label = spec_for(record.object_type).label
    if facts.is_owner:
        return True, "Open: you own this record."
    if facts.superior_of_owner:
        return True, "Open: you are a superior of the record's owner."
    if subject.is_admin:
        return True, "Open: you are a CRM administrator."
    if facts.headed_departments:
        return True, f"Open: you head the department {facts.headed_departments[0].name}."
    if facts.function_roles:
        role = ROLE_LABELS[facts.function_roles[0]]
        return True, f"Open: your function role {role} reads every {label}."
    if facts.current_confirmer:
        return True, f"Open: the {label} waits for your confirmation."
    closed: list[str] = []
    for path in facts.team:
        role = TeamRole(path.team_role)
        if path.depth == 0 and path.member_id == record.owner_id:
            continue
        if settings[role] is FollowUpAccess.READ_ONLY:
            if path.depth == 0:
                return True, f"Open: you are in the related team as {role.value}."
            return True, (
                f"Open: inherited from your subordinate {names.get(path.member_id, '?')}, "
                f"in the related team as {role.value}."
            )
        if path.depth == 0:
            closed.append(
                f"your team role {role.value} has follow-up activity Disabled for {label} "
                "(Related Teams data permissions)"
            )
        else:
            closed.append(
                f"inherited from your subordinate {names.get(path.member_id, '?')}, whose team "
                f"role {role.value} has follow-up activity Disabled for {label}"
            )
    if facts.sharing:
        if sharing_opens:
            return True, "Open: the record is shared with you and sharing opens follow-up activity."
        closed.append(
            "you see the record through data sharing, and the enterprise setting "
            "sharingOpensFollowUp is off"
        )
    if not closed:
        return False, "Closed: you may not read this record."
    return False, "Closed: " + "; ".join(closed) + "."


async def explain_access(context: Context, record_id: str, user_id: str | None) -> Explanation:
    viewer = await context.viewer()
    async with context.db() as session:
        record = await readable_or_not_found(session, viewer, record_id)
        subject = viewer
        if user_id is not None:
            number = parse_id(user_id, Kind.USER, "userId")
            if number != viewer.id:
                if not viewer.is_admin:
                    raise Forbidden("Only CRM administrators may inspect another user's access.")
                found = await org.load_viewer(session, viewer.enterprise_id, number)
                if found is None:
                    raise NotFound(f"No user with id {user_id} exists.")
                subject = found
        facts = await access_facts(session, subject, record)
        reasons = reasons_for(subject, record, facts)
        can_read = bool(reasons) and (record.life_status == "NORMAL" or subject.is_admin)
        if not can_read:
            reasons = []
        can_write = can_read and checker.allowed(
            Action.EDIT, record, checker.standing(subject, record, facts)
        )
        settings = await sharing.follow_up_settings(
            session, subject.enterprise_id, record.object_type
        )
        enterprise = await org.get_enterprise(session, subject.enterprise_id)
        member_ids = [p.member_id for p in facts.team if p.depth > 0]
        names = {
            uid: user.name
            for uid, user in (
                await org.users_by_ids(session, subject.enterprise_id, member_ids)
            ).items()
        }
    if can_read:
        is_open, why = follow_up(
            subject, record, facts, settings, enterprise.sharing_opens_follow_up, names
        )
    else:
        is_open, why = False, "Closed: this user may not read the record."
    return Explanation(
        can_read=can_read,
        can_write=can_write,
        follow_up_open=is_open,
        follow_up_reason=why,
        reasons=reasons,
    )
