"""Many mutations at once: every one succeeds and every write is kept (SQLite starts a
mutation's transaction as a writer, so a read-then-write never fails on a stale snapshot)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tests.feed_helpers import feed_item, new_org, post

if TYPE_CHECKING:
    from tests.conftest import Api

REPLY = """
mutation($id: ID!, $content: String!) { reply(itemId: $id, content: $content) { id } }"""
LIKE = """
mutation($id: ID!) { like(itemId: $id) { id } }"""
WRITERS = 12


async def test_concurrent_replies_and_likes_all_succeed(api: Api) -> None:
    org = await new_org(api)
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, "Called Acme", related=[account])
    colleagues = [await org.user(f"Rep{n}", superior=owner) for n in range(WRITERS)]
    # Each colleague is on the item's record team, so may see and reply.
    for colleague in colleagues:
        await org.add_member(owner, account, colleague)

    async def act(n: int) -> list[dict[str, object]]:
        who = colleagues[n]
        bodies = []
        for round_ in range(3):
            bodies.append(
                await api.raw(REPLY, {"id": item["id"], "content": f"{n}.{round_}"}, who.token)
            )
            bodies.append(await api.raw(LIKE, {"id": item["id"]}, who.token))
        return bodies

    results = await asyncio.gather(*(act(n) for n in range(WRITERS)))
    errors = [body["errors"] for bodies in results for body in bodies if body.get("errors")]
    assert errors == []
    seen = await feed_item(org, owner, item["id"])
    assert seen is not None
    assert seen["replyCount"] == 3 * WRITERS
    assert seen["likeCount"] == WRITERS
