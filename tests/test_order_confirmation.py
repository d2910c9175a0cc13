"""The confirmation of Sales Orders and Return Forms through the API (both databases): ordered
confirmation nodes, confirm / reject / withdraw / resubmit, ship and receive, the feed items and
notifications of each step, the current confirmer's read access, and the edit and invalidate
rules that depend on the first confirmer and on the current one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.feed_helpers import feed
from tests.live_helpers import subscribed
from tests.processes import inbox
from tests.records_helpers import INVALIDATE, TRANSITION, UPDATE_RECORD, Org, Person, new_org
from tests.test_notifications_live import live_server

if TYPE_CHECKING:
    from crmfeed.settings import Settings
    from tests.conftest import Api

ORDER = """
query($id: ID!) {
  record(id: $id) {
    id status values
    transitions { name }
    ... on SalesOrder {
      currentConfirmerId firstConfirmerConfirmed
      currentConfirmer { id name }
      confirmationNodes {
        position state decidedAt comment
        confirmer { id name } decidedBy { id } submittedBy { id }
      }
    }
    ... on ReturnForm {
      currentConfirmer { id name }
      confirmationNodes { position state confirmer { id name } }
    }
  }
}"""
SET_CHAIN = """
mutation($type: ObjectType!, $ids: [ID!]!) {
  setConfirmationChain(objectType: $type, confirmerIds: $ids) { id name }
}"""
CHAIN = "query($type: ObjectType!) { confirmationChain(objectType: $type) { id name } }"
EXPLAIN = """
query($id: ID!, $userId: ID) {
  explainAccess(recordId: $id, userId: $userId) {
    canRead canWrite followUpOpen followUpReason reasons { rule viaUser { id } }
  }
}"""


@dataclass(slots=True)
class Shop:
    """Ann sells (Boss is her superior, Carl a Read & Write team member of her orders); Cora
    and Dan confirm; Olga is the Order Administrator, Fay Order Finance."""

    org: Org
    ann: Person
    boss: Person
    carl: Person
    cora: Person
    dan: Person
    olga: Person
    fay: Person

    async def chain(self, *people: Person, object_type: str = "SALES_ORDER") -> list[str]:
        data = await self.org.api.ok(
            SET_CHAIN, {"type": object_type, "ids": [p.id for p in people]}, self.org.admin.token
        )
        return [user["name"] for user in data["setConfirmationChain"]]

    async def order(self, object_type: str = "SALES_ORDER", name: str = "Order 7") -> str:
        record = await self.org.record(self.ann, object_type, name, amount=1200)
        await self.org.add_member(self.ann, record, self.carl, access="READ_WRITE")
        return record

    async def see(self, who: Person, record: str) -> dict[str, Any] | None:
        return (await self.org.api.ok(ORDER, {"id": record}, who.token))["record"]

    async def attempt(self, who: Person, record: str, name: str, **given: Any) -> dict[str, Any]:
        variables = {"id": record, "transition": name, "input": given}
        return await self.org.api.raw(TRANSITION, variables, who.token)

    async def process_items(self, record: str) -> list[str]:
        """The record's SALES_PROCESS items, oldest first."""
        page = await feed(self.org, self.org.admin, record=record, types=["SALES_PROCESS"])
        return [edge["node"]["content"] for edge in reversed(page["edges"])]


async def shop(api: Api) -> Shop:
    org = await new_org(api)
    boss = await org.user("Boss")
    return Shop(
        org,
        ann=await org.user("Ann", superior=boss),
        boss=boss,
        carl=await org.user("Carl"),
        cora=await org.user("Cora"),
        dan=await org.user("Dan"),
        olga=await org.user("Olga", roles=["ORDER_ADMIN"]),
        fay=await org.user("Fay", roles=["ORDER_FINANCE"]),
    )


def code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


async def kinds(api: Api, who: Person) -> list[tuple[str, str]]:
    return [(n["kind"], n["feedItem"]["content"]) for n in await inbox(api, who)]


# -- the flow end to end ----------------------------------------------------------------------


async def test_two_nodes_confirm_reject_resubmit_confirm_ship_and_receive(api: Api) -> None:
    s = await shop(api)
    assert await s.chain(s.cora, s.dan) == ["Cora", "Dan"]
    chain = await api.ok(CHAIN, {"type": "SALES_ORDER"}, s.ann.token)
    assert [u["name"] for u in chain["confirmationChain"]] == ["Cora", "Dan"]

    # Creating the order submits it to the default chain; Cora is asked.
    order = await s.order()
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert seen["status"] == "CONFIRMING"
    assert [
        (n["position"], n["confirmer"]["name"], n["state"]) for n in seen["confirmationNodes"]
    ] == [
        (1, "Cora", "CURRENT"),
        (2, "Dan", "WAITING"),
    ]
    assert seen["currentConfirmer"] == {"id": s.cora.id, "name": "Cora"}
    assert seen["currentConfirmerId"] == s.cora.id
    assert seen["firstConfirmerConfirmed"] is None  # no one has confirmed
    assert {n["submittedBy"]["id"] for n in seen["confirmationNodes"]} == {s.ann.id}
    assert "WITHDRAW" in [t["name"] for t in seen["transitions"]]
    assert "CONFIRM" not in [t["name"] for t in seen["transitions"]]
    submitted = "Submitted by Ann for confirmation to Cora, then Dan."
    assert await s.process_items(order) == [submitted]
    assert await kinds(api, s.cora) == [("CONFIRMATION_REQUESTED", submitted)]
    assert await kinds(api, s.dan) == []
    assert await s.see(s.dan, order) is None  # not yet his turn

    # Cora confirms: Dan's turn; Cora no longer reads it; Ann hears of it.
    waiting = await s.see(s.cora, order)
    assert waiting is not None
    assert {t["name"] for t in waiting["transitions"]} >= {"CONFIRM", "REJECT"}
    assert "WITHDRAW" not in [t["name"] for t in waiting["transitions"]]
    moved = await s.org.transition(s.cora, order, "CONFIRM")
    assert moved["status"] == "CONFIRMING"
    assert await s.see(s.cora, order) is None
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert [n["state"] for n in seen["confirmationNodes"]] == ["CONFIRMED", "CURRENT"]
    assert seen["confirmationNodes"][0]["decidedAt"] is not None
    assert seen["confirmationNodes"][0]["decidedBy"] == {"id": s.cora.id}
    assert seen["currentConfirmer"]["name"] == "Dan"
    assert seen["firstConfirmerConfirmed"] is True
    first = "Confirmed by Cora (1 of 2); now waiting for Dan."
    assert await kinds(api, s.dan) == [("CONFIRMATION_REQUESTED", first)]
    assert await kinds(api, s.ann) == [("STATUS_CHANGED", first)]

    # Withdrawing is over once the first confirmer has confirmed.
    refused = await s.attempt(s.ann, order, "WITHDRAW")
    assert code(refused) == "FORBIDDEN"
    assert "first confirmer has not confirmed" in refused["errors"][0]["message"]
    assert "WITHDRAW" not in [t["name"] for t in seen["transitions"]]

    # Dan rejects; a reason is required.
    body = await s.attempt(s.dan, order, "REJECT")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.reason"}
    assert (await s.org.transition(s.dan, order, "REJECT", reason="Price too low"))[
        "status"
    ] == "REJECTED"
    assert await s.see(s.dan, order) is None
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert [(n["state"], n["comment"]) for n in seen["confirmationNodes"]] == [
        ("CONFIRMED", None),
        ("REJECTED", "Price too low"),
    ]
    assert seen["currentConfirmer"] is None
    rejected = "Rejected by Dan (2 of 2): Confirming → Rejected.\nReason: Price too low"
    assert (await kinds(api, s.ann))[-1] == ("STATUS_CHANGED", rejected)

    # Ann edits the rejected order and resubmits it to Dan alone.
    await s.org.update(s.ann, order, amount=1500)
    resubmitted = await s.org.transition(s.ann, order, "RESUBMIT", confirmerIds=[s.dan.id])
    assert resubmitted["status"] == "CONFIRMING"
    seen = await s.see(s.dan, order)
    assert seen is not None
    assert [(n["confirmer"]["name"], n["state"]) for n in seen["confirmationNodes"]] == [
        ("Dan", "CURRENT")
    ]
    assert seen["firstConfirmerConfirmed"] is None  # no one has confirmed
    again = "Resubmitted by Ann for confirmation to Dan: Rejected → Confirming."
    assert (await kinds(api, s.dan))[-1] == ("CONFIRMATION_REQUESTED", again)

    # Dan confirms the last node: confirmed; Ann (submitter and owner) is told once.
    told_before = len(await inbox(api, s.ann))
    assert (await s.org.transition(s.dan, order, "CONFIRM"))["status"] == "CONFIRMED"
    confirmed = "Confirmed by Dan (1 of 1): Confirming → Confirmed."
    assert (await kinds(api, s.ann))[told_before:] == [("STATUS_CHANGED", confirmed)]

    # The Order Administrator ships; the owner marks it received.
    assert code(await s.attempt(s.ann, order, "SHIP")) == "FORBIDDEN"
    assert code(await s.attempt(s.fay, order, "SHIP")) == "FORBIDDEN"
    assert (await s.org.transition(s.olga, order, "SHIP"))["status"] == "SHIPPED"
    assert (await s.org.transition(s.ann, order, "RECEIVE"))["status"] == "RECEIVED"
    assert await s.process_items(order) == [
        submitted,
        first,
        rejected,
        again,
        confirmed,
        "Shipped by Olga: Confirmed → Shipped.",
        "Marked received by Ann: Shipped → Received.",
    ]
    assert (await kinds(api, s.ann))[-1] == (
        "STATUS_CHANGED",
        "Shipped by Olga: Confirmed → Shipped.",
    )


async def test_the_submitter_withdraws_before_anyone_confirms_and_resubmits(api: Api) -> None:
    s = await shop(api)
    await s.chain(s.cora)
    order = await s.order()
    assert await s.see(s.cora, order) is not None
    assert (await s.org.transition(s.ann, order, "WITHDRAW"))["status"] == "WITHDRAWN"
    assert await s.see(s.cora, order) is None
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert [n["state"] for n in seen["confirmationNodes"]] == ["CANCELLED"]
    assert seen["currentConfirmerId"] is None
    assert code(await s.attempt(s.cora, order, "CONFIRM")) == "NOT_FOUND"

    await s.org.update(s.carl, order, amount=99)  # a withdrawn order is edited
    assert (await s.org.transition(s.ann, order, "RESUBMIT"))["status"] == "CONFIRMING"
    assert await s.process_items(order) == [
        "Submitted by Ann for confirmation to Cora.",
        "Withdrawn by Ann: Confirming → Withdrawn.",
        "Resubmitted by Ann for confirmation to Cora: Withdrawn → Confirming.",
    ]
    assert [k for k, _ in await kinds(api, s.cora)] == ["CONFIRMATION_REQUESTED"] * 2
    seen = await s.see(s.cora, order)
    assert seen is not None
    assert [n["state"] for n in seen["confirmationNodes"]] == ["CURRENT"]


async def test_a_return_form_is_confirmed_by_its_own_chain_and_is_not_shipped(api: Api) -> None:
    s = await shop(api)
    await s.chain(s.cora)  # Sales Orders only
    await s.chain(s.dan, object_type="RETURN_FORM")
    form = await s.order("RETURN_FORM", "Return 3")
    seen = await s.see(s.dan, form)
    assert seen is not None
    assert seen["currentConfirmer"]["name"] == "Dan"
    assert await s.see(s.cora, form) is None
    assert (await s.org.transition(s.dan, form, "CONFIRM"))["status"] == "CONFIRMED"
    listed = await s.see(s.olga, form)
    assert listed is not None
    assert {t["name"] for t in listed["transitions"]} == {"REVOKE_CONFIRMATION"}
    body = await s.attempt(s.olga, form, "SHIP")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "transition"}


async def test_an_order_with_no_confirmers_waits_for_the_order_administrators(api: Api) -> None:
    s = await shop(api)
    order = await s.order()
    seen = await s.see(s.olga, order)
    assert seen is not None
    assert seen["confirmationNodes"] == []
    assert seen["currentConfirmer"] is None
    assert {"CONFIRM", "REJECT"} <= {t["name"] for t in seen["transitions"]}
    for who in (s.ann, s.fay):
        assert code(await s.attempt(who, order, "CONFIRM")) == "FORBIDDEN"
    assert await s.process_items(order) == []  # nothing was asked of anyone
    assert (await s.org.transition(s.olga, order, "CONFIRM"))["status"] == "CONFIRMED"
    assert await s.process_items(order) == ["Confirmed by Olga: Confirming → Confirmed."]


async def test_a_crm_administrator_decides_for_the_current_confirmer(api: Api) -> None:
    s = await shop(api)
    await s.chain(s.cora, s.dan)
    order = await s.order()
    await s.org.transition(s.org.admin, order, "CONFIRM")
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert seen["confirmationNodes"][0]["decidedBy"] == {"id": s.org.admin.id}
    assert (await s.process_items(order))[-1] == (
        "Confirmed by Ada for Cora (1 of 2); now waiting for Dan."
    )


async def test_a_test_order_is_walked_to_a_status_through_every_node_of_its_chain(api: Api) -> None:
    """`Org.record(..., status=...)` (the tests' way to an order in any status) confirms an
    order on behalf of each confirmer of a two-node chain before shipping it."""
    s = await shop(api)
    await s.chain(s.cora, s.dan)
    order = await s.org.record(s.ann, "SALES_ORDER", "Order 8", status="SHIPPED")
    seen = await s.see(s.org.admin, order)
    assert seen is not None
    assert seen["status"] == "SHIPPED"
    assert [(n["confirmer"]["name"], n["state"]) for n in seen["confirmationNodes"]] == [
        ("Cora", "CONFIRMED"),
        ("Dan", "CONFIRMED"),
    ]
    assert (await s.process_items(order))[1:] == [
        "Confirmed by Ada for Cora (1 of 2); now waiting for Dan.",
        "Confirmed by Ada for Dan (2 of 2): Confirming → Confirmed.",
        "Shipped by Ada: Confirmed → Shipped.",
    ]


# -- the current confirmer's read access --------------------------------------------------------


async def explain(s: Shop, who: Person, record: str, subject: Person | None = None) -> Any:
    variables = {"id": record, "userId": subject.id if subject else None}
    return await s.org.api.raw(EXPLAIN, variables, who.token)


async def test_the_current_confirmer_reads_the_order_only_while_it_waits_for_them(
    api: Api,
) -> None:
    s = await shop(api)
    await s.chain(s.cora, s.dan)
    other = await s.org.record(s.ann, "ACCOUNT", "Not for Cora")
    order = await s.order()
    submitted_item = (await feed(s.org, s.ann, record=order))["edges"][0]["node"]["id"]

    assert await s.org.listed_ids(s.cora, "SALES_ORDER") == [order]
    assert await s.org.total(s.cora, "SALES_ORDER") == 1
    assert await s.org.total(s.cora, "ACCOUNT") == 0
    assert not await s.org.can_read(s.cora, other)
    work = await feed(s.org, s.cora)
    assert submitted_item in [e["node"]["id"] for e in work["edges"]]
    assert (await feed(s.org, s.cora, record=order))["totalCount"] == 1
    mine = (await explain(s, s.cora, order))["data"]["explainAccess"]
    assert mine["canRead"] is True
    assert mine["canWrite"] is True  # the current confirmer edits a confirming order
    assert mine["reasons"] == [{"rule": "CURRENT_CONFIRMER", "viaUser": {"id": s.cora.id}}]
    assert mine["followUpOpen"] is True
    assert "waits for your confirmation" in mine["followUpReason"]
    assert await s.org.listed_ids(s.dan, "SALES_ORDER") == []
    inspected = (await explain(s, s.org.admin, order, s.dan))["data"]["explainAccess"]
    assert (inspected["canRead"], inspected["reasons"]) == (False, [])

    await s.org.transition(s.cora, order, "CONFIRM")

    assert await s.org.listed_ids(s.cora, "SALES_ORDER") == []
    assert await s.org.total(s.cora, "SALES_ORDER") == 0
    work = await feed(s.org, s.cora)
    assert submitted_item not in [e["node"]["id"] for e in work["edges"]]
    assert code(await explain(s, s.cora, order)) == "NOT_FOUND"
    inspected = (await explain(s, s.org.admin, order, s.cora))["data"]["explainAccess"]
    assert inspected["canRead"] is False
    dan = (await explain(s, s.org.admin, order, s.dan))["data"]["explainAccess"]
    assert dan["reasons"] == [{"rule": "CURRENT_CONFIRMER", "viaUser": {"id": s.dan.id}}]
    assert await s.org.total(s.dan, "SALES_ORDER") == 1
    # her request went with her access, as notifications about records one cannot read do
    assert await inbox(api, s.cora) == []


# -- the edit and invalidate rules that depend on the confirmation ------------------------------


async def edit(s: Shop, who: Person, record: str) -> str:
    body = await s.org.api.raw(UPDATE_RECORD, {"id": record, "values": {"discount": 5}}, who.token)
    return "OK" if not body.get("errors") else code(body)


async def invalidate(s: Shop, who: Person, record: str) -> str:
    body = await s.org.api.raw(INVALIDATE, {"id": record}, who.token)
    return "OK" if not body.get("errors") else code(body)


async def test_edit_depends_on_the_first_confirmer_and_the_current_one(api: Api) -> None:
    s = await shop(api)
    await s.chain(s.cora, s.dan)
    order = await s.order()
    # Confirming, the first confirmer has not confirmed: the owner side, the order roles and
    # the current confirmer edit; the next confirmer cannot even read it.
    for who, expected in (
        (s.ann, "OK"),
        (s.boss, "OK"),
        (s.carl, "OK"),
        (s.cora, "OK"),
        (s.olga, "OK"),
        (s.fay, "OK"),
        (s.dan, "NOT_FOUND"),
    ):
        assert await edit(s, who, order) == expected, who.name
    for who in (s.ann, s.olga, s.cora):
        assert await invalidate(s, who, order) == "FORBIDDEN", who.name

    await s.org.transition(s.cora, order, "CONFIRM")
    # The first confirmer has confirmed: only the current confirmer and the order roles.
    for who, expected in (
        (s.ann, "FORBIDDEN"),
        (s.boss, "FORBIDDEN"),
        (s.carl, "FORBIDDEN"),
        (s.dan, "OK"),
        (s.olga, "OK"),
        (s.fay, "OK"),
        (s.cora, "NOT_FOUND"),
    ):
        assert await edit(s, who, order) == expected, who.name
    refused = await s.org.api.error(
        UPDATE_RECORD, {"id": order, "values": {"discount": 1}}, s.ann.token
    )
    assert "current confirmer" in refused["message"]

    await s.org.transition(s.dan, order, "CONFIRM")
    # Confirmed: the order roles alone edit and invalidate.
    for who, expected in (
        (s.ann, "FORBIDDEN"),
        (s.dan, "NOT_FOUND"),
        (s.olga, "OK"),
        (s.fay, "OK"),
    ):
        assert await edit(s, who, order) == expected, who.name
    assert await invalidate(s, s.ann, order) == "FORBIDDEN"
    assert await invalidate(s, s.fay, order) == "OK"


async def test_a_rejected_order_is_edited_and_invalidated_by_the_owner_side(api: Api) -> None:
    s = await shop(api)
    await s.chain(s.cora)
    order = await s.order()
    await s.org.transition(s.cora, order, "REJECT", reason="No stock")
    assert await edit(s, s.carl, order) == "OK"
    assert await edit(s, s.cora, order) == "NOT_FOUND"
    assert await invalidate(s, s.carl, order) == "OK"


# -- input and administration -------------------------------------------------------------------


async def test_the_default_chain_is_set_by_administrators_with_real_users(api: Api) -> None:
    s = await shop(api)
    body = await api.raw(SET_CHAIN, {"type": "SALES_ORDER", "ids": [s.cora.id]}, s.ann.token)
    assert code(body) == "FORBIDDEN"
    for variables, field in (
        ({"type": "ACCOUNT", "ids": [s.cora.id]}, "objectType"),
        ({"type": "SALES_ORDER", "ids": [s.cora.id, s.cora.id]}, "confirmerIds"),
        ({"type": "SALES_ORDER", "ids": ["usr_999999"]}, "confirmerIds"),
        ({"type": "SALES_ORDER", "ids": ["rec_1"]}, "confirmerIds"),
    ):
        error = await api.error(SET_CHAIN, variables, s.org.admin.token)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
    assert (await api.ok(CHAIN, {"type": "SALES_ORDER"}, s.ann.token))["confirmationChain"] == []
    assert await s.chain(s.dan, s.cora) == ["Dan", "Cora"]
    assert await s.chain() == []
    other = await new_org(api, "Zed")
    error = await api.error(
        SET_CHAIN, {"type": "SALES_ORDER", "ids": [s.cora.id]}, other.admin.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "confirmerIds"}


async def test_bad_confirmers_on_resubmission_change_nothing(api: Api) -> None:
    s = await shop(api)
    order = await s.order()
    await s.org.transition(s.ann, order, "WITHDRAW")
    for given in ([s.cora.id, s.cora.id], ["usr_999999"], "usr_1", [s.cora.id] * 11):
        body = await s.attempt(s.ann, order, "RESUBMIT", confirmerIds=given)
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "input.confirmerIds",
        }, body
    seen = await s.see(s.ann, order)
    assert seen is not None
    assert seen["status"] == "WITHDRAWN"
    assert seen["confirmationNodes"] == []


async def test_the_confirmation_fields_are_not_written_through_values(api: Api) -> None:
    s = await shop(api)
    order = await s.order()
    for values in ({"currentConfirmerId": s.ann.id}, {"firstConfirmerConfirmed": True}):
        error = await api.error(UPDATE_RECORD, {"id": order, "values": values}, s.ann.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "set only by the CONFIRM transition" in error["message"]


# -- cost ---------------------------------------------------------------------------------------

PAGE = """
query($first: Int) {
  records(objectType: SALES_ORDER, first: $first) {
    edges { node { id transitions { name }
      ... on SalesOrder { currentConfirmer { name } confirmationNodes { state confirmer { name } } }
    } }
  }
}"""


async def test_a_page_of_orders_with_their_nodes_costs_the_same_statements_at_any_size(
    api: Api,
) -> None:
    """The nodes, their confirmers and the viewer's actors are read for the whole page."""
    s = await shop(api)
    await s.chain(s.cora, s.dan)
    for n in range(10):
        await s.org.record(s.ann, "SALES_ORDER", f"Order {n}")

    async def cost(first: int) -> int:
        log = api.count_statements()
        log.active = True
        data = await api.ok(PAGE, {"first": first}, s.ann.token)
        log.active = False
        assert len(data["records"]["edges"]) == first
        assert all(
            e["node"]["currentConfirmer"] == {"name": "Cora"} for e in data["records"]["edges"]
        )
        return len(log.statements)

    assert await cost(2) == await cost(10)


async def test_a_resubmission_with_no_confirmers_asks_the_order_administrators(api: Api) -> None:
    s = await shop(api)
    order = await s.order()
    await s.org.transition(s.ann, order, "WITHDRAW")
    await s.org.transition(s.ann, order, "RESUBMIT")
    said = (
        "Resubmitted by Ann for confirmation to the Order Administrators: Withdrawn → Confirming."
    )
    assert (await s.process_items(order))[-1] == said
    assert await kinds(api, s.olga) == [("CONFIRMATION_REQUESTED", said)]
    assert await kinds(api, s.fay) == []


# -- pushed live ----------------------------------------------------------------------------------


async def test_each_confirmer_is_asked_live_over_a_websocket(database: Settings) -> None:
    """A real server on the module's database (SQLite, PostgreSQL): the request to confirm
    reaches each confirmer's socket when the order comes to them, and only theirs."""
    async with live_server(database) as live:
        s = await shop(live.api)  # type: ignore[arg-type]
        await s.chain(s.cora, s.dan)
        async with (
            subscribed(live.ws_url, s.cora.token) as cora,
            subscribed(live.ws_url, s.dan.token) as dan,
        ):
            order = await s.order(name="Order 9")
            asked = await cora.next_notification(10)
            assert (asked["kind"], asked["record"]) == (
                "CONFIRMATION_REQUESTED",
                {"id": order, "name": "Order 9"},
            )
            assert await dan.nothing_within(0.3)
            await s.org.transition(s.cora, order, "CONFIRM")
            asked = await dan.next_notification(10)
            assert asked["kind"] == "CONFIRMATION_REQUESTED"
            assert asked["feedItem"]["content"] == (
                "Confirmed by Cora (1 of 2); now waiting for Dan."
            )
            assert await cora.nothing_within(0.3)
