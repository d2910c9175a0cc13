"""Actions on a feed item: reply, like, favorite, follow, forward (seed 000)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.feed_helpers import (
    Org,
    Person,
    feed_item,
    new_org,
    post,
    user_ids,
)

if TYPE_CHECKING:
    from tests.conftest import Api

REPLY = """
mutation($id: ID!, $content: String!, $mentions: [ID!]) {
  reply(itemId: $id, content: $content, mentions: $mentions) {
    id content author { id } mentions { id }
  }
}"""
REPLIES = """
query($id: ID!, $first: Int, $after: String) {
  feedItem(id: $id) {
    replyCount
    replies(first: $first, after: $after) {
      edges { cursor node { id content author { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
MARK = """
mutation($id: ID!) {{
  {action}(itemId: $id) {{ id likeCount likedByMe favoritedByMe followedByMe }}
}}"""
MARKED = """
query {{ {list}(first: 50) {{ totalCount edges {{ node {{ id }} }} }} }}"""
FORWARD_ITEM = """
mutation($id: ID!, $to: [ID!]!, $message: String) {
  forwardFeedItem(itemId: $id, toUserIds: $to, message: $message)
}"""
FORWARD_RECORD = """
mutation($id: ID!, $to: [ID!]!, $message: String) {
  forwardRecord(id: $id, toUserIds: $to, message: $message)
}"""
FORWARDED = """
query {
  forwardedToMe(first: 50) {
    edges { node { kind message from { id } feedItem { id } record { id } canOpen } }
  }
}"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def an_item(org: Org) -> tuple[Person, str, dict[str, Any]]:
    """An owner, their account and a sales record on it."""
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    return owner, account, await post(org, owner, "Called Acme", related=[account])


async def reply(
    org: Org, who: Person, item_id: str, content: str, mentions: list[str] | None = None
) -> dict[str, Any]:
    data = await org.api.ok(
        REPLY, {"id": item_id, "content": content, "mentions": mentions}, who.token
    )
    return data["reply"]


async def mark(org: Org, who: Person, action: str, item_id: str) -> dict[str, Any]:
    data = await org.api.ok(MARK.format(action=action), {"id": item_id}, who.token)
    return data[action]


async def marked(org: Org, who: Person, which: str) -> list[str]:
    data = await org.api.ok(MARKED.format(list=which), token=who.token)
    connection = data[which]
    ids = [edge["node"]["id"] for edge in connection["edges"]]
    assert connection["totalCount"] == len(ids)
    return ids


async def cards(org: Org, who: Person) -> list[dict[str, Any]]:
    data = await org.api.ok(FORWARDED, token=who.token)
    return [edge["node"] for edge in data["forwardedToMe"]["edges"]]


# -- replies -------------------------------------------------------------------------------------


async def test_replies_are_threaded_under_the_item_oldest_first(org: Org) -> None:
    owner, _, item = await an_item(org)
    first = await reply(org, owner, item["id"], "First")
    second = await reply(org, owner, item["id"], "Second")
    data = await org.api.ok(REPLIES, {"id": item["id"]}, owner.token)
    assert data["feedItem"]["replyCount"] == 2
    nodes = [edge["node"] for edge in data["feedItem"]["replies"]["edges"]]
    assert [n["id"] for n in nodes] == [first["id"], second["id"]]
    assert [n["content"] for n in nodes] == ["First", "Second"]
    assert nodes[0]["author"] == {"id": owner.id}


async def test_replies_page_by_cursor_oldest_first(org: Org) -> None:
    owner, _, item = await an_item(org)
    written = [(await reply(org, owner, item["id"], f"R{n}"))["id"] for n in range(5)]
    seen: list[str] = []
    after = None
    while True:
        data = await org.api.ok(
            REPLIES, {"id": item["id"], "first": 2, "after": after}, owner.token
        )
        connection = data["feedItem"]["replies"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == written


async def test_a_reply_lists_its_mentions(org: Org) -> None:
    owner, _, item = await an_item(org)
    mia = await org.user("Mia")
    created = await reply(org, owner, item["id"], "@Mia please look", [mia.id])
    assert created["mentions"] == [{"id": mia.id}]
    assert created["author"] == {"id": owner.id}


async def test_a_user_mentioned_in_a_reply_can_then_see_the_item(org: Org) -> None:
    owner, _, item = await an_item(org)
    mia = await org.user("Mia")
    assert await feed_item(org, mia, item["id"]) is None
    await reply(org, owner, item["id"], "Looping in Mia", [mia.id])
    seen = await feed_item(org, mia, item["id"])
    assert seen is not None
    assert seen["relatedTo"] == []  # Mia still may not read the account


async def test_the_replier_follows_the_item(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert (await feed_item(org, boss, item["id"]))["followedByMe"] is False  # type: ignore[index]
    await reply(org, boss, item["id"], "Good work")
    assert (await feed_item(org, boss, item["id"]))["followedByMe"] is True  # type: ignore[index]
    assert await marked(org, boss, "myFollowing") == [item["id"]]


@pytest.mark.parametrize("content", ["", "  "], ids=["empty", "whitespace"])
async def test_an_empty_reply_is_refused(org: Org, content: str) -> None:
    owner, _, item = await an_item(org)
    error = await org.api.error(REPLY, {"id": item["id"], "content": content}, owner.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "content"}
    assert (await feed_item(org, owner, item["id"]))["replyCount"] == 0  # type: ignore[index]


async def test_a_reply_with_26_mentions_is_refused(org: Org) -> None:
    owner, _, item = await an_item(org)
    people = await user_ids(org, 26)
    error = await org.api.error(
        REPLY, {"id": item["id"], "content": "All hands", "mentions": people}, owner.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "mentions"}
    assert (await feed_item(org, owner, item["id"]))["replyCount"] == 0  # type: ignore[index]


# -- likes ---------------------------------------------------------------------------------------


async def test_like_and_unlike_change_the_count_and_liked_by_me(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    liked = await mark(org, boss, "like", item["id"])
    assert (liked["likeCount"], liked["likedByMe"]) == (1, True)
    await mark(org, owner, "like", item["id"])
    as_owner = await feed_item(org, owner, item["id"])
    assert as_owner is not None and (as_owner["likeCount"], as_owner["likedByMe"]) == (2, True)
    unliked = await mark(org, boss, "unlike", item["id"])
    assert (unliked["likeCount"], unliked["likedByMe"]) == (1, False)


async def test_liking_twice_counts_one_like(org: Org) -> None:
    owner, _, item = await an_item(org)
    await mark(org, owner, "like", item["id"])
    again = await mark(org, owner, "like", item["id"])
    assert (again["likeCount"], again["likedByMe"]) == (1, True)


async def test_unliking_an_item_not_liked_is_fine(org: Org) -> None:
    owner, _, item = await an_item(org)
    result = await mark(org, owner, "unlike", item["id"])
    assert (result["likeCount"], result["likedByMe"]) == (0, False)


# -- favorites and following ---------------------------------------------------------------------


async def test_favorite_lists_the_item_in_my_favorites_and_unfavorite_removes_it(
    org: Org,
) -> None:
    owner, _, item = await an_item(org)
    assert await marked(org, owner, "myFavorites") == []
    favored = await mark(org, owner, "favorite", item["id"])
    assert favored["favoritedByMe"] is True
    assert await marked(org, owner, "myFavorites") == [item["id"]]
    unfavored = await mark(org, owner, "unfavorite", item["id"])
    assert unfavored["favoritedByMe"] is False
    assert await marked(org, owner, "myFavorites") == []


async def test_the_author_follows_their_own_item(org: Org) -> None:
    owner, _, item = await an_item(org)
    assert item["followedByMe"] is True
    assert await marked(org, owner, "myFollowing") == [item["id"]]


async def test_follow_and_unfollow_change_my_following(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert await marked(org, boss, "myFollowing") == []
    assert (await mark(org, boss, "follow", item["id"]))["followedByMe"] is True
    assert await marked(org, boss, "myFollowing") == [item["id"]]
    assert (await mark(org, boss, "unfollow", item["id"]))["followedByMe"] is False
    assert await marked(org, boss, "myFollowing") == []
    assert await marked(org, owner, "myFollowing") == [item["id"]]


async def test_favorites_and_following_hide_an_item_i_can_no_longer_see(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    item = await post(org, owner, related=[account])
    await mark(org, member, "favorite", item["id"])
    await mark(org, member, "follow", item["id"])
    assert await marked(org, member, "myFavorites") == [item["id"]]
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert await marked(org, member, "myFavorites") == []
    assert await marked(org, member, "myFollowing") == []


# -- forwarding ----------------------------------------------------------------------------------


async def test_forwarded_item_reaches_someone_who_cannot_see_it_as_a_closed_card(
    org: Org,
) -> None:
    owner, _, item = await an_item(org)
    stranger = await org.user("Stranger")
    sent = await org.api.ok(
        FORWARD_ITEM, {"id": item["id"], "to": [stranger.id], "message": "FYI"}, owner.token
    )
    assert sent["forwardFeedItem"] is True
    assert await cards(org, stranger) == [
        {
            "kind": "FEED_ITEM",
            "message": "FYI",
            "from": {"id": owner.id},
            "feedItem": None,
            "record": None,
            "canOpen": False,
        }
    ]
    assert await feed_item(org, stranger, item["id"]) is None


async def test_forwarded_item_opens_for_someone_who_may_see_it(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    await org.api.ok(FORWARD_ITEM, {"id": item["id"], "to": [boss.id]}, owner.token)
    [card] = await cards(org, boss)
    assert card["kind"] == "FEED_ITEM"
    assert card["feedItem"] == {"id": item["id"]}
    assert card["canOpen"] is True


async def test_forwarded_record_reaches_someone_who_cannot_read_it_as_a_closed_card(
    org: Org,
) -> None:
    owner, account, _ = await an_item(org)
    stranger = await org.user("Stranger")
    await org.api.ok(FORWARD_RECORD, {"id": account, "to": [stranger.id]}, owner.token)
    [card] = await cards(org, stranger)
    assert card["kind"] == "RECORD"
    assert card["record"] is None
    assert card["canOpen"] is False
    assert card["from"] == {"id": owner.id}


async def test_forwarded_record_opens_for_someone_who_may_read_it(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.api.ok(FORWARD_RECORD, {"id": account, "to": [boss.id]}, owner.token)
    [card] = await cards(org, boss)
    assert card["kind"] == "RECORD"
    assert card["record"] == {"id": account}
    assert card["canOpen"] is True


@pytest.mark.parametrize("mutation", [FORWARD_ITEM, FORWARD_RECORD], ids=["item", "record"])
async def test_forwarding_to_nobody_is_refused(org: Org, mutation: str) -> None:
    owner, account, item = await an_item(org)
    target = item["id"] if mutation is FORWARD_ITEM else account
    error = await org.api.error(mutation, {"id": target, "to": []}, owner.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "toUserIds"}


@pytest.mark.parametrize("mutation", [FORWARD_ITEM, FORWARD_RECORD], ids=["item", "record"])
async def test_forwarding_to_an_unknown_user_is_refused_and_sends_nothing(
    org: Org, mutation: str
) -> None:
    owner, account, item = await an_item(org)
    colleague = await org.user("Colleague")
    target = item["id"] if mutation is FORWARD_ITEM else account
    error = await org.api.error(
        mutation, {"id": target, "to": [colleague.id, "usr_999999999"]}, owner.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "toUserIds"}
    assert await cards(org, colleague) == []


async def test_forwarding_an_item_i_cannot_see_is_not_found(org: Org) -> None:
    _, _, item = await an_item(org)
    stranger = await org.user("Stranger")
    colleague = await org.user("Colleague")
    error = await org.api.error(
        FORWARD_ITEM, {"id": item["id"], "to": [colleague.id]}, stranger.token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await cards(org, colleague) == []
