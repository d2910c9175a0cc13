"""Posting follow-up activity (seed 000, seed 004 FAQ 4, 5, 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.feed_helpers import (
    Org,
    Person,
    feed_ids,
    feed_item,
    feed_total,
    new_org,
    post,
    post_error,
    update_item,
    user_ids,
)

if TYPE_CHECKING:
    from tests.conftest import Api

UPDATE_ITEM_ERROR = """
mutation($id: ID!, $input: UpdateFeedItemInput!) { updateFeedItem(id: $id, input: $input) { id } }
"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def assert_nothing_posted(org: Org, *people: Person) -> None:
    """No item exists for the admin (who sees all record activity) nor for `people`."""
    for who in (org.admin, *people):
        assert await feed_total(org, who) == 0


async def test_sales_user_posts_a_sales_record_on_their_account(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "  Visited Acme  ", related=[account])
    assert item["type"] == "SALES_RECORD"
    assert item["content"] == "Visited Acme"
    assert item["author"] == {"id": ann.id, "name": "Ann"}
    assert [r["id"] for r in item["relatedTo"]] == [account]
    assert item["account"] is None
    assert await feed_ids(org, ann, record=account) == [item["id"]]


async def test_account_owner_without_the_sales_record_create_permission_is_forbidden(
    org: Org,
) -> None:
    nobody = await org.user("Nobody", roles=[])
    account = await org.record(org.admin, "ACCOUNT", "Own account", owner=nobody)
    assert await org.can_read(nobody, account)
    error = await post_error(org, nobody, related=[account])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "SalesRecord.create" in error["message"]
    await assert_nothing_posted(org, nobody)


async def test_a_hidden_related_record_is_refused_like_a_missing_one(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT", "Secret account")
    missing = "rec_999999999"
    hidden_error = await post_error(org, ann, related=[hidden])
    missing_error = await post_error(org, ann, related=[missing])
    assert hidden_error["extensions"] == missing_error["extensions"]
    assert hidden_error["extensions"]["code"] == "BAD_USER_INPUT"
    assert hidden_error["message"].replace(hidden, "ID") == missing_error["message"].replace(
        missing, "ID"
    )
    assert "Secret account" not in hidden_error["message"]
    await assert_nothing_posted(org, ann, bob)


async def test_a_record_of_another_enterprise_cannot_be_related(org: Org) -> None:
    other = await new_org(org.api, "Other")
    foreign = await other.record(other.admin, "ACCOUNT", "Foreign")
    ann = await org.user("Ann")
    error = await post_error(org, ann, related=[foreign])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await assert_nothing_posted(org, ann)
    assert await feed_total(other, other.admin) == 0


async def test_account_id_fills_related_to(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(ann, "CONTACT", "Lu")
    item = await post(org, ann, related=[contact], account=account)
    assert item["account"] == {"id": account}
    assert {r["id"] for r in item["relatedTo"]} == {contact, account}
    assert await feed_ids(org, ann, record=account) == [item["id"]]
    assert await feed_ids(org, ann, record=contact) == [item["id"]]


async def test_account_id_alone_is_enough_to_relate_a_sales_record(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, account=account)
    assert [r["id"] for r in item["relatedTo"]] == [account]


async def test_clearing_the_account_lookup_keeps_the_account_in_related_to(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, account=account)
    cleared = await update_item(org, ann, item["id"], accountId=None)
    assert cleared["account"] is None
    assert [r["id"] for r in cleared["relatedTo"]] == [account]
    assert await feed_ids(org, ann, record=account) == [item["id"]]


async def test_setting_a_new_account_lookup_adds_it_to_related_to(org: Org) -> None:
    ann = await org.user("Ann")
    first = await org.record(ann, "ACCOUNT", "First")
    second = await org.record(ann, "ACCOUNT", "Second")
    item = await post(org, ann, account=first)
    moved = await update_item(org, ann, item["id"], accountId=second)
    assert moved["account"] == {"id": second}
    assert {r["id"] for r in moved["relatedTo"]} == {first, second}


async def test_only_the_author_may_edit_an_item(org: Org) -> None:
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "Original", account=account)
    error = await org.api.error(
        UPDATE_ITEM_ERROR, {"id": item["id"], "input": {"content": "Changed"}}, boss.token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    edited = await update_item(org, ann, item["id"], content="Edited")
    assert edited["content"] == "Edited"


@pytest.mark.parametrize("object_type", ["CONTACT", "OPPORTUNITY"])
async def test_account_id_that_is_not_an_account_is_refused(org: Org, object_type: str) -> None:
    ann = await org.user("Ann")
    record = await org.record(ann, object_type, "Not an account")
    error = await post_error(org, ann, account=record)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert "not an Account" in error["message"]
    await assert_nothing_posted(org, ann)


async def test_updating_the_lookup_to_a_non_account_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(ann, "CONTACT", "Lu")
    item = await post(org, ann, account=account)
    error = await org.api.error(
        UPDATE_ITEM_ERROR, {"id": item["id"], "input": {"accountId": contact}}, ann.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert await feed_ids(org, ann, record=contact) == []


@pytest.mark.parametrize(
    "content", ["", "   \n\t ", "x" * 10_001], ids=["empty", "whitespace", "10001-chars"]
)
async def test_empty_or_over_long_content_is_refused(org: Org, content: str) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    error = await post_error(org, ann, content, related=[account])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "content"}
    await assert_nothing_posted(org, ann)


async def test_content_of_exactly_10000_characters_is_accepted(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "y" * 10_000, related=[account])
    assert len(item["content"]) == 10_000


async def test_26_mentions_are_refused_and_25_accepted(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    people = await user_ids(org, 26)
    error = await post_error(org, ann, related=[account], mentions=people)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "mentions"}
    await assert_nothing_posted(org, ann)
    item = await post(org, ann, related=[account], mentions=people[:25])
    assert {u["id"] for u in item["mentions"]} == set(people[:25])


async def test_mentioning_an_unknown_user_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    error = await post_error(org, ann, related=[account], mentions=["usr_999999999"])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "mentions"}
    await assert_nothing_posted(org, ann)


async def test_mentioning_a_user_of_another_enterprise_is_refused(org: Org) -> None:
    other = await new_org(org.api, "Other")
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    error = await post_error(org, ann, related=[account], cc=[other.admin.id])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await assert_nothing_posted(org, ann)
    assert await feed_total(other, other.admin) == 0


async def test_mentions_and_cc_are_listed_on_the_item(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    mentioned, copied = await user_ids(org, 2)
    item = await post(org, ann, related=[account], mentions=[mentioned], cc=[copied])
    assert item["mentions"] == [{"id": mentioned}]
    assert item["cc"] == [{"id": copied}]


@pytest.mark.parametrize("object_type", ["WORK_ORDER", "ACCOUNT"])
async def test_service_record_on_a_work_order_or_account_is_accepted(
    org: Org, object_type: str
) -> None:
    ann = await org.user("Ann")
    record = await org.record(ann, object_type, "Served")
    item = await post(org, ann, "Fixed the printer", related=[record], type="SERVICE_RECORD")
    assert item["type"] == "SERVICE_RECORD"
    assert await feed_ids(org, ann, record=record) == [item["id"]]


async def test_service_record_without_a_work_order_or_account_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    contact = await org.record(ann, "CONTACT", "Lu")
    error = await post_error(org, ann, related=[contact], type="SERVICE_RECORD")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "relatedTo"}
    assert "Work Order" in error["message"] and "Account" in error["message"]
    await assert_nothing_posted(org, ann)


@pytest.mark.parametrize("item_type", ["TASK", "CALENDAR", "SALES_PROCESS"])
async def test_system_item_types_cannot_be_posted(org: Org, item_type: str) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    error = await post_error(org, ann, related=[account], type=item_type)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "type"}
    await assert_nothing_posted(org, ann)


async def test_sales_record_without_a_related_record_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    error = await post_error(org, ann, "Floating note")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "relatedTo"}
    await assert_nothing_posted(org, ann)


async def test_an_invalid_record_cannot_be_related(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    await org.invalidate(ann, account)
    error = await post_error(org, org.admin, related=[account])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "relatedTo"}
    await assert_nothing_posted(org, ann)


async def test_a_hidden_account_lookup_is_refused_like_a_missing_one(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT", "Secret account")
    missing = "rec_999999999"
    hidden_error = await post_error(org, ann, account=hidden)
    missing_error = await post_error(org, ann, account=missing)
    assert hidden_error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert hidden_error["extensions"] == missing_error["extensions"]
    assert hidden_error["message"].replace(hidden, "ID") == missing_error["message"].replace(
        missing, "ID"
    )
    await assert_nothing_posted(org, ann, bob)


async def test_service_record_needs_the_service_record_create_permission(org: Org) -> None:
    clerk = await org.user("Clerk", roles=["ORDER_ADMIN"])
    account = await org.record(org.admin, "ACCOUNT", "Acme", owner=clerk)
    error = await post_error(org, clerk, related=[account], type="SERVICE_RECORD")
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "ServiceRecord.create" in error["message"]
    await assert_nothing_posted(org, clerk)
    sales = await post(org, clerk, related=[account])
    assert sales["type"] == "SALES_RECORD"


async def test_editing_an_item_to_empty_content_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "Original", account=account)
    error = await org.api.error(
        UPDATE_ITEM_ERROR, {"id": item["id"], "input": {"content": "  "}}, ann.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "content"}
    assert (await feed_item(org, ann, item["id"]))["content"] == "Original"  # type: ignore[index]


async def test_editing_an_item_i_cannot_see_is_not_found(org: Org) -> None:
    ann = await org.user("Ann")
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "Original", account=account)
    error = await org.api.error(
        UPDATE_ITEM_ERROR, {"id": item["id"], "input": {"content": "Mine now"}}, stranger.token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
