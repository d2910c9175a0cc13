"""`countUpTo(atMost:)`: a list's count that stops at a bound and says whether it stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.test_statement_count import org_with_accounts

if TYPE_CHECKING:
    from tests.conftest import Api

RECORDS = """
query($atMost: Int!) {
  records(objectType: ACCOUNT, first: 1) {
    totalCount
    countUpTo(atMost: $atMost) { count exact }
  }
}"""
FEED = "query($atMost: Int!) { feed(first: 1) { countUpTo(atMost: $atMost) { count exact } } }"


async def test_count_up_to_is_the_total_up_to_the_bound_and_says_when_there_are_more(
    api: Api,
) -> None:
    """Five accounts, each open to the manager twice (owned by a report, a report or the
    manager in its team): counted once each, by a manager and by an administrator."""
    org, manager = await org_with_accounts(api, 5)
    for viewer in (manager, org.admin):
        for at_most, expected in ((1, (1, False)), (4, (4, False)), (5, (5, True)), (9, (5, True))):
            data = await api.ok(RECORDS, {"atMost": at_most}, viewer.token)
            bounded = data["records"]["countUpTo"]
            assert data["records"]["totalCount"] == 5
            assert (bounded["count"], bounded["exact"]) == expected, (viewer.name, at_most)


PAGE = "query { records(objectType: ACCOUNT, first: 2) { %s edges { node { id } } } }"


async def test_count_up_to_costs_one_statement(api: Api) -> None:
    _, manager = await org_with_accounts(api, 3)
    sent = []
    for counts in ("", "countUpTo { count exact }"):
        log = api.count_statements()
        log.active = True
        try:
            await api.ok(PAGE % counts, token=manager.token)
        finally:
            log.active = False
        sent.append(len(log.statements))
    assert sent[1] == sent[0] + 1


async def test_count_up_to_outside_1_to_10000_is_bad_user_input(api: Api) -> None:
    _, manager = await org_with_accounts(api, 1)
    for query in (RECORDS, FEED):
        for at_most in (0, -1, 10_001):
            error = await api.error(query, {"atMost": at_most}, manager.token)
            assert error["extensions"]["code"] == "BAD_USER_INPUT", (query, at_most)
            assert error["extensions"]["field"] == "atMost"
