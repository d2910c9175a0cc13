"""Applying a status transition (`transitionRecord`) and listing the ones a viewer may apply.

The transitions are data (`crmfeed.registry.transitions`); this module checks a transition's
input, applies its status, values and effect, and writes it up as follow-up activity: a
SALES_PROCESS item in the record's feed (seen by whoever sees the record's follow-up activity),
a notification to a new owner it assigns and to the owner when someone else moved the record.

Converting a lead creates an account, a contact (of that account) and, when a name is given, an
opportunity (of that account), all owned by the lead's owner. The lead keeps its history and
points to them (`convertedAccountId`, ...); every item of the lead's feed is related to the new
account too, so the account's feed carries the lead's follow-up activity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global, to_global
from crmfeed.registry.enums import ObjectType
from crmfeed.registry.feed import FeedItemType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.transitions import (
    CONFIRMATION_EFFECTS,
    Effect,
    Transition,
    find,
    transitions_of,
)
from resolvers import checker, confirmation, notify, system_items
from resolvers.errors import BadUserInput
from resolvers.feed import clean_content
from resolvers.record_actions import act
from resolvers.teams import hand_over
from resolvers.validation import CHECKS, merged
from store import feed, org, records

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.checker import Standing
    from resolvers.context import Context
    from resolvers.field_access import FieldAccessMap
    from store.models import Record
    from store.viewer import Viewer

O = ObjectType  # noqa: E741
MAX_COMMENT = 2_000


def _transition(record: Record, name: str) -> Transition:
    found = find(record.object_type, name)
    if found is None:
        spec = spec_for(record.object_type)
        known = ", ".join(t.name for t in transitions_of(spec.object_type)) or "none"
        raise BadUserInput(
            f"transition: a {spec.label} has no transition '{name}' (it has: {known}).",
            field="transition",
        )
    return found


def _clean_input(transition: Transition, raw: Any) -> dict[str, Any]:
    """The transition's input checked like record values; BAD_USER_INPUT names what to fix."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadUserInput("input must be a JSON object of input name to value.", field="input")
    unknown = [key for key in raw if transition.input(key) is None]
    if unknown:
        names = ", ".join(i.name for i in transition.inputs) or "none"
        raise BadUserInput(
            f"input.{unknown[0]}: {transition.label} takes no input '{unknown[0]}' "
            f"(it takes: {names}).",
            field=f"input.{unknown[0]}",
        )
    clean: dict[str, Any] = {}
    for spec in transition.inputs:
        value = raw.get(spec.name)
        if isinstance(value, str):
            value = value.strip() or None
        if value is None:
            if spec.required:
                raise BadUserInput(
                    f"input.{spec.name}: {transition.label} needs {spec.label.lower()}.",
                    field=f"input.{spec.name}",
                )
            continue
        try:
            clean[spec.name] = CHECKS[spec.type](spec, value)
        except BadUserInput as error:
            said = error.message.split(": ", 1)[-1]
            raise BadUserInput(f"input.{spec.name}: {said}", field=f"input.{spec.name}") from None
    return clean


def _status_label(record: Record, key: str) -> str:
    return next(s.label for s in spec_for(record.object_type).statuses if s.key == key)


async def _assign(
    session: AsyncSession, viewer: Viewer, record: Record, assignee_id: str
) -> tuple[int, str]:
    user_id = from_global(Kind.USER, assignee_id)
    user = await org.get_user(session, viewer.enterprise_id, user_id)
    if user is None or not user.active:
        raise BadUserInput(
            f"input.assigneeId: no active user with id {assignee_id} exists.",
            field="input.assigneeId",
        )
    if user_id != record.owner_id:
        await hand_over(session, viewer, record, user_id, None)
    return user_id, user.name


async def _convert(
    access: FieldAccessMap,
    session: AsyncSession,
    viewer: Viewer,
    lead: Record,
    given: dict[str, Any],
) -> tuple[str, list[int]]:
    """Create the account, contact and optional opportunity; return the item text and ids."""
    making = [O.ACCOUNT, O.CONTACT] + ([O.OPPORTUNITY] if "opportunityName" in given else [])
    for object_type in making:
        checker.check_permission(
            viewer,
            object_type,
            "create",
            doing=f"Converting a lead (it creates a {spec_for(object_type).label})",
        )
    values = lead.values or {}
    account_name = given.get("accountName") or values.get("company") or lead.name
    account_values = {k: v for k, v in (("email", values.get("email")),) if v}
    contact_values = {
        k: v for k, v in (("mobile", values.get("mobile")), ("email", values.get("email"))) if v
    }
    created: list[Record] = []

    async def make(object_type: ObjectType, name: str, new: dict[str, Any]) -> Record:
        access.require_writable(object_type, new)
        row = await records.insert_record(
            session,
            enterprise_id=viewer.enterprise_id,
            object_type=object_type.value,
            name=name,
            status=spec_for(object_type).default_status,
            values=merged({}, new),
            owner_id=lead.owner_id,
            created_by_id=viewer.id,
        )
        created.append(row)
        return row

    account = await make(O.ACCOUNT, account_name, account_values)
    account_ref = to_global(Kind.RECORD, account.id)
    contact_name = given.get("contactName") or lead.name
    contact = await make(O.CONTACT, contact_name, {**contact_values, "accountId": account_ref})
    converted = {
        "convertedAccountId": account_ref,
        "convertedContactId": to_global(Kind.RECORD, contact.id),
    }
    said = f"account {account.name} and contact {contact.name}"
    if "opportunityName" in given:
        opportunity = await make(
            O.OPPORTUNITY,
            given["opportunityName"],
            {
                "accountId": account_ref,
                "salesStage": "QUALIFICATION",
                "amount": given.get("opportunityAmount"),
            },
        )
        converted["convertedOpportunityId"] = to_global(Kind.RECORD, opportunity.id)
        said = f"account {account.name}, contact {contact.name} and opportunity {opportunity.name}"
    lead.values = merged(values, converted)
    await feed.relate_items(session, viewer.enterprise_id, lead.id, account.id)
    return said, [row.id for row in created]


async def transition_record(
    context: Context,
    record_id: str,
    name: str,
    comment: str | None,
    raw_input: Any,
) -> Record:
    note = clean_content(comment, "comment") if comment and comment.strip() else None
    if note is not None and len(note) > MAX_COMMENT:
        raise BadUserInput(f"comment: at most {MAX_COMMENT:,} characters.", field="comment")

    access = await context.field_access()  # before the action holds the session

    def gate(record: Record, who: Standing) -> None:
        checker.check_transition(_transition(record, name), record, who)

    async def apply(session: AsyncSession, viewer: Viewer, record: Record) -> list[tuple[int, int]]:
        transition = _transition(record, name)
        given = _clean_input(transition, raw_input)
        me = await org.get_user(session, viewer.enterprise_id, viewer.id)
        actor_name = me.name if me else "Someone"
        owner_before = record.owner_id
        before = record.status
        related = [record.id]
        new_owner = None
        done = transition.done
        step = None
        if transition.effect in CONFIRMATION_EFFECTS:
            step = await confirmation.run(
                transition.effect, session, viewer, record, actor_name, given
            )
        elif transition.effect is Effect.ASSIGN:
            new_owner, assignee_name = await _assign(session, viewer, record, given["assigneeId"])
            done = f"{done} to {assignee_name}"
        elif transition.effect is Effect.CONVERT_LEAD:
            said, created = await _convert(access, session, viewer, record, given)
            related += created
            done = f"Lead converted to {said}"
        record.values = merged(record.values or {}, dict(transition.sets))
        record.status = step.status if step and step.status else transition.to_status
        said = step.said if step else f"{done} by {actor_name}"
        lines = [f"{said}."]
        if before != record.status:
            lines[0] = (
                f"{said}: {_status_label(record, before)} → {_status_label(record, record.status)}."
            )
        if "reason" in given:
            lines.append(f"Reason: {given['reason']}")
        if note is not None:
            lines.append(f"Comment: {note}")
        item = await system_items.system_item(
            session, viewer, FeedItemType.SALES_PROCESS, "\n".join(lines), related
        )
        if step is not None:
            return await notify.confirmation_step(
                session, viewer, actor_name, record, item, ask=step.ask, tell=step.tell
            )
        return await notify.record_moved(
            session, viewer, actor_name, record, item, owner_before, new_owner
        )

    return await act(context, record_id, gate, apply)


async def offered(context: Context, record: Record) -> list[Transition]:
    """The transitions the viewer may apply to the record now (what transitionRecord accepts,
    input aside)."""
    viewer = await context.viewer()
    declared = transitions_of(record.object_type)
    if not declared:
        return []
    facts = await context.loaders.access_facts_by_record.load(record)
    who = checker.standing(viewer, record, facts)
    return [t for t in declared if checker.transition_allowed(t, record, who)]
