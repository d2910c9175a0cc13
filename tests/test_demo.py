"""The demo data, loaded into its own database and read back through the GraphQL app."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from crmfeed import demo
from crmfeed.app import Services, create_app
from crmfeed.registry.enums import LifeStatus, ObjectType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.transitions import MANAGED_BY
from resolvers.validation import clean_values
from store.migrate import upgrade
from store.models import Record
from tests import conftest
from tests.conftest import DATABASES, POSTGRES_URL, Api, _drop_postgres_schema, _postgres_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { name roles } }
}"""
COUNT = "query($type: ObjectType!) { records(objectType: $type) { totalCount } }"

SALESPERSON = demo.person("east1")  # Ava Thompson, reports to Liam Carter
MANAGER = demo.person("east")
ADMIN = demo.person("admin")
CEO = demo.person("ceo")
FINANCE = demo.person("finance")


class DemoApi:
    def __init__(self, api: Api, loaded: demo.DemoData) -> None:
        self.api = api
        self.loaded = loaded
        self.tokens: dict[str, str] = {}

    async def token(self, someone: demo.Person) -> str:
        if someone.key not in self.tokens:
            data = await self.api.ok(
                LOGIN, {"email": someone.email, "password": demo.DEMO_PASSWORD}
            )
            self.tokens[someone.key] = data["login"]["token"]
        return self.tokens[someone.key]

    async def count(self, someone: demo.Person, object_type: ObjectType) -> int:
        data = await self.api.ok(COUNT, {"type": object_type.name}, await self.token(someone))
        return data["records"]["totalCount"]

    async def visible(self, someone: demo.Person) -> dict[ObjectType, int]:
        return {kind: await self.count(someone, kind) for kind in ObjectType}

    async def ok(self, query: str, someone: demo.Person, **variables: Any) -> dict[str, Any]:
        return await self.api.ok(query, variables, await self.token(someone))


@pytest.fixture(scope="module", params=DATABASES)
async def demo_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Services, demo.DemoData]]:
    """A database of its own (the demo's emails are unique) with the demo loaded."""
    schema: str | None = None
    if request.param == "postgresql":
        schema = await _postgres_schema()
        settings = conftest.test_settings(POSTGRES_URL)
    else:
        path = tmp_path_factory.mktemp("demo") / "demo.db"
        settings = conftest.test_settings(f"sqlite+aiosqlite:///{path}")
    services = Services.create(settings, schema=schema)
    await upgrade(services.engine)
    loaded = await demo.load_demo(services.session_factory, settings)
    yield services, loaded
    await services.engine.dispose()
    if schema is not None:
        await _drop_postgres_schema(schema)


@pytest.fixture
async def demo_api(demo_db: tuple[Services, demo.DemoData]) -> AsyncIterator[DemoApi]:
    services, loaded = demo_db
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield DemoApi(Api(client, services), loaded)


async def test_every_demo_user_logs_in_with_the_printed_password(demo_api: DemoApi) -> None:
    for someone in demo.PEOPLE:
        data = await demo_api.api.ok(
            LOGIN, {"email": someone.email, "password": demo.DEMO_PASSWORD}
        )
        assert data["login"]["user"]["name"] == someone.name
        assert data["login"]["user"]["roles"] == sorted(role.value for role in someone.roles)
    assert len(demo.PEOPLE) == 20


async def test_record_counts_are_in_the_hundreds(demo_api: DemoApi) -> None:
    counts = demo_api.loaded.record_counts
    assert 300 <= demo_api.loaded.record_total < 1000
    for kind in ("ACCOUNT", "CONTACT", "OPPORTUNITY", "SALES_LEAD", "SALES_ORDER", "PAYMENT"):
        assert counts[kind] > 0, kind


async def test_the_admin_sees_every_valid_record(demo_api: DemoApi) -> None:
    seen = await demo_api.visible(ADMIN)
    loaded = demo_api.loaded.record_counts
    invalid = Counter({ObjectType.SALES_LEAD: 1, ObjectType.OPPORTUNITY: 1})
    assert seen == {kind: loaded.get(kind.value, 0) - invalid[kind] for kind in ObjectType}
    assert sum(seen.values()) == demo_api.loaded.record_total - 2


async def test_the_two_invalid_records_are_in_the_admins_recycle_bin(demo_api: DemoApi) -> None:
    data = await demo_api.ok(
        "{ recycleBin { totalCount edges { node { objectType lifeStatus } } } }", ADMIN
    )
    assert data["recycleBin"]["totalCount"] == 2
    kinds = sorted(edge["node"]["objectType"] for edge in data["recycleBin"]["edges"])
    assert kinds == ["OPPORTUNITY", "SALES_LEAD"]


async def test_a_manager_sees_more_than_a_salesperson(demo_api: DemoApi) -> None:
    salesperson = await demo_api.visible(SALESPERSON)
    manager = await demo_api.visible(MANAGER)
    ceo = await demo_api.visible(CEO)
    admin = await demo_api.visible(ADMIN)
    assert 0 < sum(salesperson.values()) < sum(manager.values()) < sum(admin.values())
    for kind in ObjectType:  # everything a report sees, their superior sees too
        assert salesperson[kind] <= manager[kind] <= ceo[kind], kind
    assert ceo == admin  # everyone reports to the CEO


async def test_sharing_rules_open_products_to_sales_and_east_deals_to_finance(
    demo_api: DemoApi,
) -> None:
    assert await demo_api.count(SALESPERSON, ObjectType.PRODUCT) == len(demo.PRODUCTS)
    finance = await demo_api.count(FINANCE, ObjectType.OPPORTUNITY)
    east_manager = await demo_api.count(MANAGER, ObjectType.OPPORTUNITY)
    assert 0 < finance <= east_manager
    assert await demo_api.count(FINANCE, ObjectType.ACCOUNT) == 0


async def test_departments_form_a_tree_with_heads(demo_api: DemoApi) -> None:
    data = await demo_api.ok("{ departments { name parent { name } head { name } } }", ADMIN)
    departments = {d["name"]: d for d in data["departments"]}
    assert set(departments) == {plan.name for plan in demo.DEPARTMENTS}
    assert departments["Sales East"]["parent"] == {"name": "Sales"}
    assert departments["Sales East"]["head"] == {"name": MANAGER.name}
    assert departments["Sales"]["parent"] == {"name": demo.ENTERPRISE_NAME}


async def test_after_sales_follow_up_is_disabled_on_accounts(demo_api: DemoApi) -> None:
    data = await demo_api.ok("{ followUpSettings(objectType: ACCOUNT) { teamRole access } }", ADMIN)
    settings = {row["teamRole"]: row["access"] for row in data["followUpSettings"]}
    assert settings["AFTER_SALES"] == "DISABLED"
    assert settings["OWNER"] == "READ_ONLY"


async def test_own_opportunities_point_at_readable_accounts(demo_api: DemoApi) -> None:
    query = """{ records(objectType: OPPORTUNITY, first: 50) { edges { node {
      owner { name } ... on Opportunity { salesStage accountId } } } } }"""
    data = await demo_api.ok(query, SALESPERSON)
    own = [
        e["node"]
        for e in data["records"]["edges"]
        if e["node"]["owner"]["name"] == SALESPERSON.name
    ]
    assert own
    for node in own:
        assert node["salesStage"]
        found = await demo_api.ok(
            "query($id: ID!) { record(id: $id) { objectType } }", SALESPERSON, id=node["accountId"]
        )
        assert found["record"] == {"objectType": "ACCOUNT"}


async def test_stored_values_pass_the_registry_validation(
    demo_db: tuple[Services, demo.DemoData],
) -> None:
    services, _ = demo_db
    async with services.session_factory() as session:
        rows = list(await session.scalars(select(Record)))
    for row in rows:
        spec = spec_for(row.object_type)
        assert (row.status_before_invalid or row.status) in spec.status_keys
        # Fields that only transitions write are left out; an account's say what its status does.
        given = {k: v for k, v in row.values.items() if (spec.object_type, k) not in MANAGED_BY}
        clean = clean_values(spec, {"name": row.name, **given}, creating=True)
        assert clean.values == given
        if spec.object_type is ObjectType.ACCOUNT:
            approval = {"ASSIGNED": "APPROVED", "REPORTING": "IN_PROGRESS"}.get(row.status)
            assert row.values.get("approvalStatus") == approval
    assert Counter(row.life_status for row in rows)[LifeStatus.INVALID.value] == 2


async def test_loading_is_deterministic(tmp_path: Path) -> None:
    async def snapshot(path: Path) -> list[tuple[Any, ...]]:
        settings = conftest.test_settings(f"sqlite+aiosqlite:///{path}")
        services = Services.create(settings)
        try:
            await upgrade(services.engine)
            await demo.load_demo(services.session_factory, settings)
            async with services.session_factory() as session:
                rows = await session.scalars(select(Record).order_by(Record.id))
                return [(r.object_type, r.name, r.status, r.owner_id, r.values) for r in rows]
        finally:
            await services.engine.dispose()

    assert await snapshot(tmp_path / "one.db") == await snapshot(tmp_path / "two.db")


WORK_FEED = "{ feed { totalCount edges { node { type author { name } relatedTo { name } } } } }"
INBOX = "{ unreadNotificationCount notifications { edges { node { kind } } } }"


async def test_the_demo_has_follow_up_activity_a_manager_sees_more_of(demo_api: DemoApi) -> None:
    assert demo_api.loaded.feed_items > 100
    own = (await demo_api.ok(WORK_FEED, SALESPERSON))["feed"]
    team = (await demo_api.ok(WORK_FEED, MANAGER))["feed"]
    everything = (await demo_api.ok(WORK_FEED, ADMIN))["feed"]
    assert 0 < own["totalCount"] < team["totalCount"] < everything["totalCount"]
    assert everything["totalCount"] == demo_api.loaded.feed_items
    # her sales records, and the confirmation steps of her orders
    assert {edge["node"]["type"] for edge in own["edges"]} == {"SALES_RECORD", "SALES_PROCESS"}
    # Items on the two records the demo invalidated keep their author but lose relatedTo.
    assert sum(not edge["node"]["relatedTo"] for edge in own["edges"]) <= 2


async def test_the_demo_manager_has_notifications_to_read(demo_api: DemoApi) -> None:
    inbox = await demo_api.ok(INBOX, MANAGER)
    assert inbox["unreadNotificationCount"] > 0
    assert {edge["node"]["kind"] for edge in inbox["notifications"]["edges"]} <= {
        "MENTION",
        "REPLY",
        "CONFIRMATION_REQUESTED",
    }


BY_STATUS = """
query($type: ObjectType!, $status: [String!]) {
  records(objectType: $type, filter: {status: $status}) { totalCount }
}"""
WAITING = """
{
  records(objectType: SALES_ORDER, filter: {status: ["CONFIRMING"]}) {
    edges { node { id name transitions { name }
      ... on SalesOrder { currentConfirmer { name } confirmationNodes { confirmer { name } state } }
    } }
  }
}"""
EXPLAIN = """
query($id: ID!) { explainAccess(recordId: $id) { reasons { rule } followUpOpen } }"""
ASKED = "{ notifications(first: 100) { edges { node { kind record { id } } } } }"
RETURN_FORMS = "{ records(objectType: RETURN_FORM) { edges { node { id name status } } } }"


async def test_orders_and_return_forms_are_in_every_status(demo_api: DemoApi) -> None:
    for object_type in (ObjectType.SALES_ORDER, ObjectType.RETURN_FORM):
        for status in spec_for(object_type).status_keys:
            data = await demo_api.ok(BY_STATUS, ADMIN, type=object_type.name, status=[status])
            assert data["records"]["totalCount"] > 0, (object_type, status)


async def test_an_order_waits_for_the_east_manager_s_confirmation(demo_api: DemoApi) -> None:
    assert demo_api.loaded.waiting[MANAGER.name]
    orders = (await demo_api.ok(WAITING, MANAGER))["records"]["edges"]
    mine = [e["node"] for e in orders if e["node"]["currentConfirmer"] == {"name": MANAGER.name}]
    assert [order["name"] for order in mine] == demo_api.loaded.waiting[MANAGER.name]
    [order] = mine
    assert {"CONFIRM", "REJECT"} <= {t["name"] for t in order["transitions"]}
    assert [node["state"] for node in order["confirmationNodes"]] == ["CURRENT", "WAITING"]
    inbox = await demo_api.ok(ASKED, MANAGER)
    [asked] = [
        e["node"]
        for e in inbox["notifications"]["edges"]
        if e["node"]["kind"] == "CONFIRMATION_REQUESTED"
    ]
    assert asked["record"] == {"id": order["id"]}


async def test_finance_reads_only_the_return_form_waiting_for_her(demo_api: DemoApi) -> None:
    """Nora Kim confirms Return Forms but has no order role: she reads the one that waits."""
    forms = (await demo_api.ok(RETURN_FORMS, FINANCE))["records"]["edges"]
    assert [form["node"]["status"] for form in forms] == ["CONFIRMING"]
    assert [form["node"]["name"] for form in forms] == demo_api.loaded.waiting[FINANCE.name]
    explained = await demo_api.ok(EXPLAIN, FINANCE, id=forms[0]["node"]["id"])
    assert explained["explainAccess"] == {
        "reasons": [{"rule": "CURRENT_CONFIRMER"}],
        "followUpOpen": True,
    }


LEADS = """
query($name: String!) {
  records(objectType: SALES_LEAD, filter: {nameContains: $name}) {
    edges { node { id name status owner { name }
      transitions { name inputs { name required } }
      allowedActions { name kind }
    } }
  }
}"""


async def test_a_salesperson_has_a_lead_to_convert(demo_api: DemoApi) -> None:
    assert demo_api.loaded.lead_to_convert is not None
    who, name = demo_api.loaded.lead_to_convert
    assert who == SALESPERSON.name
    [lead] = [
        e["node"] for e in (await demo_api.ok(LEADS, SALESPERSON, name=name))["records"]["edges"]
    ]
    assert lead["name"] == name
    assert lead["owner"] == {"name": SALESPERSON.name}
    [convert] = [t for t in lead["transitions"] if t["name"] == "CONVERT"]
    assert not any(i["required"] for i in convert["inputs"])  # the lead's names are the defaults
    assert {"name": "CONVERT", "kind": "TRANSITION"} in lead["allowedActions"]


PAGE_TEMPLATES = """
{ printTemplates(objectType: ACCOUNT) { id name }
  mailTemplates { id name }
  accounts: records(objectType: ACCOUNT, first: 1) { edges { node { id name } } }
  leads: records(objectType: SALES_LEAD, first: 20) { edges { node { id name values } } } }"""
PREVIEW_MAIL = """
query($input: SendBatchMailInput!) { previewMail(input: $input) { recipients { subject body } } }"""


async def test_the_demo_has_a_print_and_a_mail_template_that_work(demo_api: DemoApi) -> None:
    data = await demo_api.ok(PAGE_TEMPLATES, SALESPERSON)
    printing = {t["name"]: t["id"] for t in data["printTemplates"]}
    assert set(printing) == {"Default", demo.DEMO_PRINT_TEMPLATE}
    (account,) = [edge["node"] for edge in data["accounts"]["edges"]]
    token = await demo_api.token(SALESPERSON)
    response = await demo_api.api.client.get(
        f"/files/records/{account['id']}.pdf",
        params={"template": printing[demo.DEMO_PRINT_TEMPLATE]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    (mail_template,) = data["mailTemplates"]
    assert mail_template["name"] == demo.DEMO_MAIL_TEMPLATE
    lead = next(e["node"] for e in data["leads"]["edges"] if e["node"]["values"].get("email"))
    given = {
        "objectType": "SALES_LEAD",
        "recordIds": [lead["id"]],
        "templateId": mail_template["id"],
    }
    preview = await demo_api.ok(PREVIEW_MAIL, SALESPERSON, input=given)
    (recipient,) = preview["previewMail"]["recipients"]
    assert recipient["subject"] == f"Following up, {lead['name']}"
    assert recipient["body"].startswith(f"Dear {lead['name']},")
    assert "Ava Thompson" in recipient["body"]
