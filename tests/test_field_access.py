"""Field-level security through the public API (issue: field-level security)."""

from __future__ import annotations

import random

import pytest

from crmfeed.registry.enums import FieldType
from crmfeed.registry.objects import OBJECTS, FieldSpec, ObjectSpec
from crmfeed.registry.transitions import MANAGED_BY
from tests.conftest import Api, unique_email

REGISTER = """mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { token user { id } } }"""
CREATE_USER = """mutation($input: CreateUserInput!) { createUser(input: $input) { id } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token } }"""
SET_ACCESS = """mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""
CREATE = """mutation($t: ObjectType!, $v: JSON!, $owner: ID) {
  createRecord(objectType: $t, values: $v, ownerId: $owner) { id } }"""
UPDATE = """mutation($id: ID!, $v: JSON!) { updateRecord(id: $id, values: $v) { id values } }"""
PASSWORD = "secret-pass-123"

SAMPLES = {
    FieldType.TEXT: "text",
    FieldType.LONG_TEXT: "long text",
    FieldType.NUMBER: 7,
    FieldType.CURRENCY: 1250.5,
    FieldType.BOOLEAN: True,
    FieldType.DATE: "2026-03-01",
    FieldType.DATETIME: "2026-03-01T09:30:00+00:00",
    FieldType.EMAIL: "a@example.com",
    FieldType.PHONE: "+1 555 0100",
    FieldType.URL: "https://example.com",
}


class Org:
    def __init__(self, api: Api, admin: str) -> None:
        self.api = api
        self.admin = admin

    async def user(self, roles: list[str]) -> tuple[str, str]:
        email = unique_email()
        data = await self.api.ok(
            CREATE_USER,
            {"input": {"name": "U", "email": email, "password": PASSWORD, "roles": roles}},
            self.admin,
        )
        login = await self.api.ok(LOGIN, {"email": email, "password": PASSWORD})
        return data["createUser"]["id"], login["login"]["token"]

    async def set(self, object_type: str, field: str, role: str, access: str) -> None:
        await self.api.ok(
            SET_ACCESS, {"t": object_type, "f": field, "r": role, "a": access}, self.admin
        )

    async def record(self, object_type: str, values: dict, owner: str) -> str:
        data = await self.api.ok(
            CREATE, {"t": object_type, "v": values, "owner": owner}, self.admin
        )
        return data["createRecord"]["id"]


@pytest.fixture
async def org(api: Api) -> Org:
    data = await api.ok(
        REGISTER,
        {
            "input": {
                "enterpriseName": "Fields Inc",
                "adminName": "Admin",
                "email": unique_email("admin"),
                "password": PASSWORD,
            }
        },
    )
    return Org(api, data["registerEnterprise"]["token"])


def given_fields(spec: ObjectSpec) -> list[FieldSpec]:
    """The type's fields a createRecord may give (not the name; not those only transitions
    set) and that `sample` has a value for."""
    return [
        f
        for f in spec.fields
        if f.name != "name"
        and (spec.object_type, f.name) not in MANAGED_BY
        and sample(f) is not None
    ]


def sample(spec_field) -> object:
    if spec_field.type is FieldType.SELECT:
        return spec_field.options[0]
    if spec_field.type is FieldType.MULTI_SELECT:
        return [spec_field.options[0]]
    return SAMPLES.get(spec_field.type)


async def read_field(api: Api, token: str, record_id: str, type_name: str, field: str) -> dict:
    query = (
        f"""query($id: ID!) {{ record(id: $id) {{ values ... on {type_name} {{ {field} }} }} }}"""
    )
    return (await api.ok(query, {"id": record_id}, token))["record"]


async def test_fields_default_to_read_write(org: Org) -> None:
    _, token = await org.user(["SALES"])
    data = await org.api.ok("{ objectTypes { objectType fields { name access } } }", token=token)
    accesses = {f["access"] for t in data["objectTypes"] for f in t["fields"]}
    assert accesses == {"READ_WRITE"}


async def test_hidden_field_reads_as_null_and_leaves_values(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    await org.set("CONTACT", "privatePhone", "SALES", "HIDDEN")
    rid = await org.record("CONTACT", {"name": "Lu", "privatePhone": "+1 555 0199"}, sales_id)
    seen = await read_field(org.api, sales, rid, "Contact", "privatePhone")
    assert seen["privatePhone"] is None
    assert "privatePhone" not in seen["values"]
    assert seen["values"]["name"] == "Lu"
    by_admin = await read_field(org.api, org.admin, rid, "Contact", "privatePhone")
    assert by_admin["privatePhone"] == "+1 555 0199"
    assert by_admin["values"]["privatePhone"] == "+1 555 0199"


async def test_object_types_tell_the_caller_their_own_access(org: Org) -> None:
    _, sales = await org.user(["SALES"])
    await org.set("CONTACT", "privatePhone", "SALES", "HIDDEN")
    await org.set("CONTACT", "mobile", "SALES", "READ_ONLY")
    data = await org.api.ok("{ objectTypes { objectType fields { name access } } }", token=sales)
    contact = next(t for t in data["objectTypes"] if t["objectType"] == "CONTACT")
    access = {f["name"]: f["access"] for f in contact["fields"]}
    assert access["privatePhone"] == "HIDDEN"
    assert access["mobile"] == "READ_ONLY"
    assert access["name"] == "READ_WRITE"


async def test_read_only_field_is_visible_but_a_write_is_refused_atomically(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    await org.set("ACCOUNT", "phone", "SALES", "READ_ONLY")
    rid = await org.record("ACCOUNT", {"name": "Acme", "phone": "+1 555 0100"}, sales_id)
    assert (await read_field(org.api, sales, rid, "Account", "phone"))["phone"] == "+1 555 0100"
    error = await org.api.error(
        UPDATE, {"id": rid, "v": {"name": "Renamed", "phone": "+1 555 0111"}}, sales
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["field"] == "phone"
    assert "phone" in error["message"]
    after = await read_field(org.api, sales, rid, "Account", "phone")
    assert after["values"] == {"name": "Acme", "phone": "+1 555 0100"}
    updated = await org.api.ok(UPDATE, {"id": rid, "v": {"name": "Renamed"}}, sales)
    assert updated["updateRecord"]["values"]["name"] == "Renamed"


async def test_create_refuses_a_value_for_a_field_that_is_not_read_write(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    await org.set("OPPORTUNITY", "amount", "SALES", "HIDDEN")
    error = await org.api.error(
        CREATE, {"t": "OPPORTUNITY", "v": {"name": "Deal", "amount": 10.0}}, sales
    )
    assert error["extensions"] == {"code": "FORBIDDEN", "field": "amount"}
    count = await org.api.ok("{ records(objectType: OPPORTUNITY) { totalCount } }", token=org.admin)
    assert count["records"]["totalCount"] == 0
    await org.api.ok(CREATE, {"t": "OPPORTUNITY", "v": {"name": "Deal"}, "owner": sales_id}, sales)


async def test_several_roles_get_the_most_open_access(org: Org) -> None:
    owner_id, owner = await org.user(["SALES"])
    _, both = await org.user(["SALES", "ORDER_FINANCE"])
    _, finance = await org.user(["ORDER_FINANCE"])
    await org.set("SALES_ORDER", "amount", "SALES", "HIDDEN")
    await org.set("SALES_ORDER", "amount", "ORDER_FINANCE", "READ_ONLY")
    rid = await org.record("SALES_ORDER", {"name": "SO-1", "amount": 99.0}, owner_id)
    await org.api.ok(
        """mutation($r: ID!, $m: [TeamMemberInput!]!) { addTeamMembers(recordId: $r, members: $m)
        { id } }""",
        {
            "r": rid,
            "m": [
                {"userId": uid, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"}
                for uid in [
                    (await org.api.ok("{ me { id } }", token=t))["me"]["id"]
                    for t in (both, finance)
                ]
            ],
        },
        owner,
    )
    assert (await read_field(org.api, both, rid, "SalesOrder", "amount"))["amount"] == 99.0
    assert (await read_field(org.api, finance, rid, "SalesOrder", "amount"))["amount"] == 99.0
    await org.set("SALES_ORDER", "amount", "ORDER_FINANCE", "HIDDEN")
    assert (await read_field(org.api, both, rid, "SalesOrder", "amount"))["amount"] is None


async def test_a_user_without_roles_gets_the_least_open_access(org: Org) -> None:
    _, nobody = await org.user([])
    await org.set("ACCOUNT", "website", "SALES", "HIDDEN")
    await org.set("ACCOUNT", "website", "ORDER_ADMIN", "READ_WRITE")
    data = await org.api.ok("{ objectTypes { objectType fields { name access } } }", token=nobody)
    account = next(t for t in data["objectTypes"] if t["objectType"] == "ACCOUNT")
    assert {f["name"]: f["access"] for f in account["fields"]}["website"] == "HIDDEN"


async def test_hidden_multi_select_reads_as_null_not_an_empty_list(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    await org.set("CAMPAIGN", "channels", "SALES", "HIDDEN")
    rid = await org.record("CAMPAIGN", {"name": "Fair", "channels": ["ONLINE"]}, sales_id)
    assert (await read_field(org.api, sales, rid, "Campaign", "channels"))["channels"] is None


async def test_every_generated_record_type_honours_hidden_fields(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    for spec in OBJECTS:
        field = next(iter(given_fields(spec)))
        await org.set(spec.object_type.value, field.name, "SALES", "HIDDEN")
        rid = await org.record(
            spec.object_type.value, {"name": spec.label, field.name: sample(field)}, sales_id
        )
        seen = await read_field(org.api, sales, rid, spec.type_name, field.name)
        assert seen[field.name] is None, spec.type_name
        assert field.name not in seen["values"], spec.type_name


async def test_set_field_access_is_admin_only_and_validates_its_input(org: Org) -> None:
    _, sales = await org.user(["SALES"])
    variables = {"t": "ACCOUNT", "f": "phone", "r": "SALES", "a": "HIDDEN"}
    assert (await org.api.error(SET_ACCESS, variables, sales))["extensions"]["code"] == "FORBIDDEN"
    unknown = await org.api.error(SET_ACCESS, {**variables, "f": "shoeSize"}, org.admin)
    assert unknown["extensions"]["code"] == "BAD_USER_INPUT"
    assert "shoeSize" in unknown["message"]
    name = await org.api.error(SET_ACCESS, {**variables, "f": "name"}, org.admin)
    assert name["extensions"]["code"] == "BAD_USER_INPUT"
    rules = await org.api.ok(
        "{ fieldAccess(objectType: ACCOUNT) { field role access } }", token=org.admin
    )
    assert rules["fieldAccess"] == []


async def test_field_access_lists_the_rules(org: Org) -> None:
    await org.set("ACCOUNT", "phone", "SALES", "HIDDEN")
    await org.set("ACCOUNT", "phone", "SALES", "READ_ONLY")
    await org.set("ACCOUNT", "email", "ORDER_ADMIN", "HIDDEN")
    rules = await org.api.ok(
        "{ fieldAccess(objectType: ACCOUNT) { objectType field role access } }", token=org.admin
    )
    assert rules["fieldAccess"] == [
        {"objectType": "ACCOUNT", "field": "email", "role": "ORDER_ADMIN", "access": "HIDDEN"},
        {"objectType": "ACCOUNT", "field": "phone", "role": "SALES", "access": "READ_ONLY"},
    ]


async def test_random_field_rules_agree_with_a_plain_model(org: Org) -> None:
    """Random rules x users x records: a value is returned exactly when the model allows it."""
    rng = random.Random(20261123)
    spec = next(s for s in OBJECTS if s.type_name == "Account")
    fields = given_fields(spec)
    role_sets = [["SALES"], ["SALES", "ORDER_ADMIN"], ["ORDER_ADMIN"], ["INVOICE_FINANCE"], []]
    users = [(roles, *await org.user(roles)) for roles in role_sets]
    rules: dict[tuple[str, str], str] = {}
    for field in fields:
        for role in ("SALES", "ORDER_ADMIN", "INVOICE_FINANCE"):
            if rng.random() < 0.5:
                level = rng.choice(["HIDDEN", "READ_ONLY", "READ_WRITE"])
                rules[(field.name, role)] = level
                await org.set("ACCOUNT", field.name, role, level)
    order = ["HIDDEN", "READ_ONLY", "READ_WRITE"]

    def expected(roles: list[str], field: str) -> str:
        if roles:
            return max((rules.get((field, r), "READ_WRITE") for r in roles), key=order.index)
        named = [level for (f, _), level in rules.items() if f == field]
        return min(named, key=order.index) if named else "READ_WRITE"

    selection = " ".join(f.name for f in fields)
    for roles, user_id, token in users:
        values = {"name": "Acme"} | {f.name: sample(f) for f in fields if rng.random() < 0.8}
        rid = await org.record("ACCOUNT", values, user_id)
        query = (
            f"query($id: ID!) {{ record(id: $id) {{ values ... on Account {{ {selection} }} }} }}"
        )
        seen = (await org.api.ok(query, {"id": rid}, token))["record"]
        for field in fields:
            hidden = expected(roles, field.name) == "HIDDEN"
            stored = values.get(field.name)
            assert seen[field.name] == (None if hidden else stored), (roles, field.name)
            assert (field.name in seen["values"]) == (not hidden and stored is not None)
            if not hidden and stored is not None:
                assert seen["values"][field.name] == stored


async def test_a_records_page_with_field_rules_costs_the_same_statements(org: Org) -> None:
    sales_id, sales = await org.user(["SALES"])
    for n in range(5):
        await org.record("CONTACT", {"name": f"C{n}", "privatePhone": "+1 555 0101"}, sales_id)
    query = """{ records(objectType: CONTACT, first: 5) { edges { node { id values
      ... on Contact { privatePhone mobile email } } } } }"""
    log = org.api.count_statements()
    log.active = True
    await org.api.ok(query, token=sales)
    log.active = False
    without_rules = len(log.statements)
    await org.set("CONTACT", "privatePhone", "SALES", "HIDDEN")
    await org.set("CONTACT", "mobile", "SALES", "READ_ONLY")
    log = org.api.count_statements()
    log.active = True
    data = await org.api.ok(query, token=sales)
    log.active = False
    assert len(log.statements) == without_rules
    assert all(e["node"]["privatePhone"] is None for e in data["records"]["edges"])


async def test_records_in_feeds_and_notifications_hide_the_same_fields(org: Org) -> None:
    """One place decides: a record reached through a feed item or a notification shows the
    hidden field as null and leaves it out of `values`, exactly like `record(id)`."""
    sales_id, sales = await org.user(["SALES"])
    await org.set("ACCOUNT", "phone", "SALES", "HIDDEN")
    account = await org.record("ACCOUNT", {"name": "Acme", "phone": "+1 555 0100"}, sales_id)
    await org.api.ok(
        """mutation($a: ID!, $m: [ID!]) { postSalesRecord(input: {content: "Visited",
        accountId: $a, mentions: $m}) { id } }""",
        {"a": account, "m": [sales_id]},
        org.admin,
    )
    selection = "id values ... on Account { phone }"
    node_fields = f"relatedTo {{ {selection} }} account {{ {selection} }}"
    feed = await org.api.ok(f"{{ feed {{ edges {{ node {{ {node_fields} }} }} }} }}", token=sales)
    node = feed["feed"]["edges"][0]["node"]
    for record in (node["relatedTo"][0], node["account"]):
        assert record["phone"] is None
        assert "phone" not in record["values"]
    item_fields = f"feedItem {{ relatedTo {{ {selection} }} }}"
    inbox = await org.api.ok(
        f"{{ notifications {{ edges {{ node {{ kind {item_fields} }} }} }} }}", token=sales
    )
    mention = inbox["notifications"]["edges"][0]["node"]
    assert mention["kind"] == "MENTION"
    assert mention["feedItem"]["relatedTo"][0]["phone"] is None
    admin_view = await org.api.ok(
        f"{{ feed {{ edges {{ node {{ relatedTo {{ {selection} }} }} }} }} }}", token=org.admin
    )
    assert admin_view["feed"]["edges"][0]["node"]["relatedTo"][0]["phone"] == "+1 555 0100"
