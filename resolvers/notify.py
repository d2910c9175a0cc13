"""Who is notified of what. Rows are written in the caller's transaction; the
live push happens after commit (`Context.publish`). Nobody is notified of their own action."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from store import notifications
from store.notifications import NewEvent, NewNotification

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.feed_tables import FeedItem, FeedReply, Forward, Task
    from store.models import Record
    from store.viewer import Viewer


class NotificationKind(StrEnum):
    REPLY = "REPLY"
    MENTION = "MENTION"
    CC = "CC"
    TASK_ASSIGNED = "TASK_ASSIGNED"
    TASK_COMPLETED = "TASK_COMPLETED"
    TASK_REOPENED = "TASK_REOPENED"
    REMINDER = "REMINDER"
    FORWARDED = "FORWARDED"
    OWNER_CHANGED = "OWNER_CHANGED"
    STATUS_CHANGED = "STATUS_CHANGED"
    CONFIRMATION_REQUESTED = "CONFIRMATION_REQUESTED"
    IMPORT_FINISHED = "IMPORT_FINISHED"
    MAIL_FAILED = "MAIL_FAILED"
    EXPORT_FINISHED = "EXPORT_FINISHED"


K = NotificationKind


def _excerpt(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _store(
    session: AsyncSession, viewer: Viewer, entries: Iterable[NewNotification]
) -> list[tuple[int, int]]:
    """One notification per user per event (the first kind listed wins), never to the actor."""
    chosen: dict[int, NewNotification] = {}
    for entry in entries:
        if entry.user_id != viewer.id and entry.user_id not in chosen:
            chosen[entry.user_id] = entry
    return await notifications.add(session, viewer.enterprise_id, list(chosen.values()))


async def _store_events(
    session: AsyncSession, viewer: Viewer, events: Iterable[tuple[NewEvent, Iterable[int]]]
) -> list[tuple[int, int]]:
    """As `_store` for events sent to many users at once: a user listed by several events gets
    the first one only, never the actor; no object per recipient."""
    taken = {viewer.id}
    kept: list[tuple[NewEvent, list[int]]] = []
    for event, users in events:
        mine = [user for user in dict.fromkeys(users) if user not in taken]
        taken.update(mine)
        kept.append((event, mine))
    return await notifications.add_events(session, viewer.enterprise_id, kept)


async def item_posted(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    item: FeedItem,
    mentions: Sequence[int],
    cc: Sequence[int],
) -> list[tuple[int, int]]:
    said = _excerpt(item.content)
    return await _store(
        session,
        viewer,
        [
            *(
                NewNotification(
                    u, K.MENTION, f"{author_name} mentioned you: {said}", viewer.id, item_id=item.id
                )
                for u in mentions
            ),
            *(
                NewNotification(
                    u, K.CC, f"{author_name} copied you: {said}", viewer.id, item_id=item.id
                )
                for u in cc
            ),
        ],
    )


async def replied(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    item: FeedItem,
    reply: FeedReply,
    mentions: Sequence[int],
    followers: Sequence[int],
) -> list[tuple[int, int]]:
    """Tied to the reply too: deleting the reply takes these notifications with it. A mention
    wins over following."""
    said = _excerpt(reply.content)
    return await _store_events(
        session,
        viewer,
        [
            (
                NewEvent(
                    K.MENTION,
                    f"{author_name} mentioned you in a reply: {said}",
                    viewer.id,
                    item_id=item.id,
                    reply_id=reply.id,
                ),
                mentions,
            ),
            (
                NewEvent(
                    K.REPLY,
                    f"{author_name} replied: {said}",
                    viewer.id,
                    item_id=item.id,
                    reply_id=reply.id,
                ),
                followers,
            ),
        ],
    )


async def task_assigned(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    assignee: int,
    title: str,
    item_id: int | None,
    record_id: int | None,
) -> list[tuple[int, int]]:
    return await _store(
        session,
        viewer,
        [
            NewNotification(
                assignee,
                K.TASK_ASSIGNED,
                f"{author_name} assigned you a task: {_excerpt(title)}",
                viewer.id,
                item_id=item_id,
                record_id=record_id,
            )
        ],
    )


async def task_state_changed(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    task: Task,
    other: int,
    item_id: int,
) -> list[tuple[int, int]]:
    """A task completed or reopened by its assignee or its creator is told to the other one,
    pointing to the TASK item that says so."""
    kind, did = (K.TASK_COMPLETED, "completed") if task.done else (K.TASK_REOPENED, "reopened")
    return await _store(
        session,
        viewer,
        [
            NewNotification(
                other,
                kind,
                f"{author_name} {did} the task: {_excerpt(task.title)}",
                viewer.id,
                item_id=item_id,
            )
        ],
    )


async def forwarded(
    session: AsyncSession, viewer: Viewer, author_name: str, forwards: Sequence[Forward]
) -> list[tuple[int, int]]:
    return await _store(
        session,
        viewer,
        [
            NewNotification(
                f.to_user_id,
                K.FORWARDED,
                f"{author_name} forwarded something to you"
                + (f": {_excerpt(f.message)}" if f.message else "."),
                viewer.id,
                forward_id=f.id,
            )
            for f in forwards
        ],
    )


async def owner_changed(
    session: AsyncSession, viewer: Viewer, author_name: str, record: Record
) -> list[tuple[int, int]]:
    return await _store(
        session,
        viewer,
        [
            NewNotification(
                record.owner_id,
                K.OWNER_CHANGED,
                f"{author_name} made you the owner of {record.name}.",
                viewer.id,
                record_id=record.id,
            )
        ],
    )


async def record_moved(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    record: Record,
    item: FeedItem,
    owner: int,
    new_owner: int | None = None,
) -> list[tuple[int, int]]:
    """A transition (or a sales stage change): a new owner it assigned learns they own the
    record; otherwise the owner, when someone else moved it, learns what happened (an owner
    the record was taken from has left its team, so is not told)."""
    about = {"item_id": item.id, "record_id": record.id}
    if new_owner is not None and new_owner != owner:
        told = NewNotification(
            new_owner,
            K.OWNER_CHANGED,
            f"{author_name} assigned {record.name} to you.",
            viewer.id,
            **about,
        )
    else:
        told = NewNotification(
            owner,
            K.STATUS_CHANGED,
            f"{author_name} on {record.name}: {_excerpt(item.content)}",
            viewer.id,
            **about,
        )
    return await _store(session, viewer, [told])


async def confirmation_step(
    session: AsyncSession,
    viewer: Viewer,
    author_name: str,
    record: Record,
    item: FeedItem,
    *,
    ask: Sequence[int],
    tell: Sequence[int],
) -> list[tuple[int, int]]:
    """A step of an order's confirmation: the confirmer it now waits for (the Order
    Administrators when it has none) is asked to confirm;
    the submitter (on the last confirmation or a rejection) and the owner learn what
    happened."""
    about = {"item_id": item.id, "record_id": record.id}
    said = f"{author_name} on {record.name}: {_excerpt(item.content)}"
    entries = [
        NewNotification(
            user,
            K.CONFIRMATION_REQUESTED,
            f"{record.name} waits for your confirmation ({_excerpt(item.content)})",
            viewer.id,
            **about,
        )
        for user in ask
    ]
    entries += [
        NewNotification(user, K.STATUS_CHANGED, said, viewer.id, **about)
        for user in (*tell, record.owner_id)
    ]
    return await _store(session, viewer, entries)


async def reminders_due(
    session: AsyncSession, enterprise_id: int, entries: Sequence[NewNotification]
) -> list[tuple[int, int]]:
    """Reminders are the system's doing at the set time: everyone listed is notified."""
    return await notifications.add(session, enterprise_id, entries)


async def mail_failed(
    session: AsyncSession, enterprise_id: int, entries: Sequence[NewNotification]
) -> list[tuple[int, int]]:
    """A mail given up on is the sender's to know (crmfeed/live/mail_outbox.py)."""
    return await notifications.add(session, enterprise_id, entries)
