"""Closing and removing work items: complete or reopen a task, delete a feed item or a reply,
cancel a reminder.

Each action has the same steps: find the item among those the caller may see (NOT_FOUND
otherwise, whether it is missing or hidden), check the caller against the action's rule in
`crmfeed/registry/work_items.py` (FORBIDDEN), apply, commit, then push the notifications.
Nothing is written when a step refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.feed import FeedItemType
from crmfeed.registry.work_items import WORK_RULES, Party, WorkAction
from resolvers import notify
from resolvers.errors import BadUserInput, Conflict, Forbidden, not_found
from resolvers.feed import require_user_written, visible_or_not_found
from resolvers.inputs import KIND_LABELS, parse_id
from resolvers.system_items import system_item
from store import feed, org, tasks

if TYPE_CHECKING:
    from collections.abc import Collection

    from resolvers.context import Context
    from store.feed_tables import Task
    from store.viewer import Viewer


def parties(
    viewer: Viewer,
    *,
    assignee: int | None = None,
    creator: int | None = None,
    author: int | None = None,
    reminded: Collection[int] = (),
) -> frozenset[Party]:
    """What the viewer is to an item with these people."""
    found = {
        party
        for party, user in (
            (Party.ASSIGNEE, assignee),
            (Party.CREATOR, creator),
            (Party.AUTHOR, author),
        )
        if user == viewer.id
    }
    if viewer.id in reminded:
        found.add(Party.REMINDED)
    if viewer.is_admin:
        found.add(Party.CRM_ADMIN)
    return frozenset(found)


def require(action: WorkAction, found: frozenset[Party]) -> None:
    """FORBIDDEN unless the caller is one of the parties the action's rule names."""
    rule = WORK_RULES[action]
    if not found & rule.who:
        raise Forbidden(f"Only {rule.describe} may {rule.doing}.")


def _number(value: str, kind: Kind) -> int:
    """The id's number; an id of another kind is one that does not exist (NOT_FOUND)."""
    try:
        return parse_id(value, kind, "id")
    except BadUserInput:
        raise not_found(KIND_LABELS[kind], value) from None


# -- tasks ---------------------------------------------------------------------------------------


async def set_task_done(context: Context, task_id: str, done: bool) -> Task:
    """`completeTask` / `reopenTask`. Repeating one changes nothing and tells no one; a change
    is a TASK item in the task's records' feeds and a notification to the task's other person
    (the creator when the assignee completes it, and the other way round)."""
    viewer = await context.viewer()
    number = _number(task_id, Kind.TASK)
    action = WorkAction.COMPLETE_TASK if done else WorkAction.REOPEN_TASK
    sent: list[tuple[int, int]] = []
    async with context.db() as session:
        task = await tasks.task_of(session, viewer, number)
        if task is None:
            raise not_found("task", task_id)
        require(action, parties(viewer, assignee=task.assignee_id, creator=task.created_by_id))
        if await tasks.set_task_done(session, task, done, viewer.id):
            user = await org.get_user(session, viewer.enterprise_id, viewer.id)
            name = user.name if user is not None else "Someone"
            if task.feed_item_id is not None:
                record_ids = await feed.item_record_ids(session, task.feed_item_id)
            else:
                record_ids = [] if task.record_id is None else [task.record_id]
            other = task.created_by_id if viewer.id == task.assignee_id else task.assignee_id
            did = "completed" if done else "reopened"
            item = await system_item(
                session,
                viewer,
                FeedItemType.TASK,
                f"Task {did} by {name}: {task.title}",
                record_ids,
                [other],
            )
            sent = await notify.task_state_changed(session, viewer, name, task, other, item.id)
        await session.commit()
    await context.publish(sent)
    return task


# -- feed items and replies ----------------------------------------------------------------------


async def delete_feed_item(context: Context, item_id: str) -> bool:
    """`deleteFeedItem`: gone with its replies, likes, follows, favorites, mentions, reminders,
    forwards and notifications; tasks and calendar events made from it stay, without it."""
    viewer = await context.viewer()
    async with context.db() as session:
        item = await visible_or_not_found(session, viewer, item_id)
        require(WorkAction.DELETE_FEED_ITEM, parties(viewer, author=item.author_id))
        require_user_written(item, "deleted")
        await feed.delete_item(session, item.id)
        await session.commit()
    return True


async def delete_reply(context: Context, reply_id: str) -> bool:
    """`deleteReply`: gone from its item's replies and count, with its mentions and the
    notifications it caused."""
    viewer = await context.viewer()
    number = _number(reply_id, Kind.REPLY)
    async with context.db() as session:
        reply = await feed.reply_on_visible_item(session, viewer, number)
        if reply is None:
            raise not_found("reply", reply_id)
        require(WorkAction.DELETE_REPLY, parties(viewer, author=reply.author_id))
        await feed.delete_reply(session, reply)
        await session.commit()
    return True


# -- reminders -----------------------------------------------------------------------------------


async def cancel_reminder(context: Context, reminder_id: str) -> bool:
    """`cancelReminder`: the reminder is deleted before it fires, so it never does."""
    viewer = await context.viewer()
    number = _number(reminder_id, Kind.REMINDER)
    async with context.db() as session:
        reminder = await tasks.reminder_of(session, viewer, number)
        if reminder is None:
            raise not_found("reminder", reminder_id)
        reminded = (await tasks.reminder_users(session, [reminder.id])).get(reminder.id, [])
        found = parties(viewer, creator=reminder.created_by_id, reminded=reminded)
        require(WorkAction.CANCEL_REMINDER, found)
        if not await tasks.delete_pending_reminder(session, reminder.id):
            raise Conflict("This reminder has already fired; there is nothing left to cancel.")
        await session.commit()
    return True
