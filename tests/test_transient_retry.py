"""A mutation whose transaction the database aborted (a deadlock, SQLite's busy timeout) runs
again and succeeds once; many writers on overlapping followers all succeed (schema/retry.py,
store/notifications.py's ordered counter locks)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from crmfeed.app import Services, create_app
from crmfeed.ids import Kind, from_global
from tests.conftest import Api
from tests.feed_helpers import feed_item, new_org, post

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncConnection

REPLY = "mutation($id: ID!, $content: String!) { reply(itemId: $id, content: $content) { id } }"
LIKE = "mutation($id: ID!) { like(itemId: $id) { id likeCount } }"
FOLLOW = "mutation($id: ID!) { follow(itemId: $id) { id } }"
REPLIES = """query($id: ID!) { feedItem(id: $id) {
  replyCount replies(first: 50) { edges { node { content } } } } }"""


async def wait_for_a_lock_waiter(side: AsyncConnection, xid: str) -> None:
    """Until another backend waits for the side transaction `xid` (bounded)."""
    for _ in range(400):
        waiting = await side.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' "
                "AND transactionid::text = :xid AND NOT granted"
            ),
            {"xid": xid},
        )
        if waiting:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the mutation never waited for the side transaction's lock")


async def test_a_reply_that_loses_a_deadlock_runs_again_and_is_stored_once(
    api: Api, services: Services
) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's deadlock detector; the SQLite case is the busy timeout below")
    org = await new_org(api)
    owner = await org.user("Owner")
    fan = await org.user("Fan")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, fan)
    item = await post(org, owner, "Tender", related=[account])
    await api.ok(FOLLOW, {"id": item["id"]}, fan.token)
    await api.ok(REPLY, {"id": item["id"], "content": "first"}, owner.token)  # Fan's counter

    async with services.engine.connect() as side:
        # A transaction of someone else's holds Fan's inbox counter ...
        await side.execute(
            text("SELECT last_seq FROM inbox_counters WHERE user_id = :fan FOR UPDATE"),
            {"fan": from_global(Kind.USER, fan.id)},
        )
        xid = str(await side.scalar(text("SELECT pg_current_xact_id()")))
        # ... so the reply, which holds a key-share lock on the item, waits for it;
        replying = asyncio.create_task(
            api.raw(REPLY, {"id": item["id"], "content": "second"}, owner.token)
        )
        await wait_for_a_lock_waiter(side, xid)
        # then that transaction wants the item row: a deadlock, which aborts the reply's.
        await side.execute(
            text("SELECT id FROM feed_items WHERE id = :item FOR UPDATE"),
            {"item": from_global(Kind.FEED_ITEM, item["id"])},
        )
        await side.commit()
    answer = await replying
    assert answer.get("errors") is None, answer
    replies = (await api.ok(REPLIES, {"id": item["id"]}, owner.token))["feedItem"]
    contents = sorted(edge["node"]["content"] for edge in replies["replies"]["edges"])
    assert contents == ["first", "second"]
    assert replies["replyCount"] == 2


@pytest.fixture
async def impatient_api(services: Services) -> AsyncIterator[Api]:
    """The API with a SQLite busy timeout of 50 ms, on the same database."""
    settings = services.settings.model_copy(
        update={"sqlite_busy_timeout_ms": 50, "transaction_attempts": 12}
    )
    impatient = dataclasses.replace(Services.create(settings), hub=services.hub)
    transport = httpx.ASGITransport(app=create_app(impatient))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)
    await impatient.engine.dispose()


async def test_a_like_that_outwaits_the_sqlite_busy_timeout_runs_again(
    api: Api, impatient_api: Api, services: Services
) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's busy timeout; the PostgreSQL case is the deadlock above")
    org = await new_org(api)
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, "Tender", related=[account])
    async with services.engine.connect() as side:
        await side.exec_driver_sql("BEGIN IMMEDIATE")  # another writer holds the database
        liking = asyncio.create_task(impatient_api.raw(LIKE, {"id": item["id"]}, owner.token))
        await asyncio.sleep(0.3)  # several busy timeouts of the like's first attempts pass
        await side.rollback()
    answer = await liking
    assert answer.get("errors") is None, answer
    assert answer["data"]["like"]["likeCount"] == 1


WRITERS = 16
ITEMS = 4


async def test_writers_on_items_whose_followers_overlap_all_succeed(api: Api) -> None:
    """Each reply moves the inbox counters of its item's followers; every writer follows a
    different pair of items, so concurrent replies lock overlapping, differing sets."""
    chance = random.Random(7)
    org = await new_org(api)
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    writers = [await org.user(f"W{n}") for n in range(WRITERS)]
    for writer in writers:
        await org.add_member(owner, account, writer)
    items = [(await post(org, owner, f"Item {n}", related=[account]))["id"] for n in range(ITEMS)]
    for writer in writers:
        for item in chance.sample(items, 2):
            await api.ok(FOLLOW, {"id": item}, writer.token)

    async def write(writer: Any, rounds: list[tuple[str, str]]) -> list[dict[str, Any]]:
        answers = []
        for kind, item in rounds:
            if kind == "reply":
                answers.append(await api.raw(REPLY, {"id": item, "content": "x"}, writer.token))
            else:
                answers.append(await api.raw(LIKE, {"id": item}, writer.token))
        return answers

    plans = [
        [(chance.choice(("reply", "reply", "like")), chance.choice(items)) for _ in range(6)]
        for _ in writers
    ]
    results = await asyncio.gather(*(write(w, p) for w, p in zip(writers, plans, strict=True)))
    assert [a["errors"] for answers in results for a in answers if a.get("errors")] == []
    for item in items:
        replies = sum(1 for plan in plans for kind, it in plan if (kind, it) == ("reply", item))
        likers = {
            n for n, plan in enumerate(plans) for kind, it in plan if (kind, it) == ("like", item)
        }
        seen = await feed_item(org, owner, item)
        assert seen is not None
        assert (seen["replyCount"], seen["likeCount"]) == (replies, len(likers))
