"""One concrete GraphQL type per object of the registry, with typed fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crmfeed.registry.enums import FieldType
from crmfeed.registry.objects import OBJECTS, ObjectSpec
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from tests.conftest import Api

GRAPHQL_TYPES = {
    FieldType.TEXT: "String",
    FieldType.LONG_TEXT: "String",
    FieldType.EMAIL: "String",
    FieldType.PHONE: "String",
    FieldType.URL: "String",
    FieldType.SELECT: "String",
    FieldType.NUMBER: "Float",
    FieldType.CURRENCY: "Float",
    FieldType.BOOLEAN: "Boolean",
    FieldType.DATE: "Date",
    FieldType.DATETIME: "DateTime",
    FieldType.LOOKUP: "ID",
    FieldType.USER: "ID",
}


def own_fields(spec: ObjectSpec) -> list[str]:
    return [f.name for f in spec.fields if f.name != "name"]


def create_with_fragment(spec: ObjectSpec) -> str:
    return f"""
    mutation($values: JSON!) {{
      createRecord(objectType: {spec.object_type.value}, values: $values) {{
        __typename id objectType name status lifeStatus values
        owner {{ id }}
        team {{ user {{ id }} teamRole access }}
        ... on {spec.type_name} {{ {" ".join(own_fields(spec))} }}
      }}
    }}"""


@pytest.mark.parametrize("spec", OBJECTS, ids=lambda spec: spec.type_name)
async def test_create_record_with_only_a_name_works_for_every_object_type(
    api: Api, spec: ObjectSpec
) -> None:
    org = await new_org(api)
    data = await api.ok(
        create_with_fragment(spec), {"values": {"name": "  Just a name "}}, org.admin.token
    )
    record = data["createRecord"]
    assert record["__typename"] == spec.type_name
    assert record["objectType"] == spec.object_type.value
    assert record["name"] == "Just a name"
    assert record["status"] == spec.default_status
    assert record["lifeStatus"] == "NORMAL"
    assert record["values"] == {"name": "Just a name"}
    assert record["owner"]["id"] == org.admin.id
    assert record["team"] == [
        {"user": {"id": org.admin.id}, "teamRole": "OWNER", "access": "READ_WRITE"}
    ]
    assert {name: record[name] for name in own_fields(spec)} == dict.fromkeys(own_fields(spec))


@pytest.mark.parametrize("spec", OBJECTS, ids=lambda spec: spec.type_name)
async def test_concrete_type_declares_each_registry_field_with_its_graphql_type(
    api: Api, spec: ObjectSpec
) -> None:
    org = await new_org(api)
    query = """
    query($name: String!) {
      __type(name: $name) {
        interfaces { name }
        fields { name type { kind name ofType { kind name ofType { name } } } }
      }
    }"""
    data = await api.ok(query, {"name": spec.type_name}, org.admin.token)
    declared = {field["name"]: field["type"] for field in data["__type"]["fields"]}
    assert data["__type"]["interfaces"] == [{"name": "Record"}]
    for field in spec.fields:
        if field.name == "name":
            continue
        graphql_type = declared[field.name]
        if field.type is FieldType.MULTI_SELECT:
            assert graphql_type["kind"] == "LIST", field.name
            assert graphql_type["ofType"]["ofType"]["name"] == "String", field.name
        else:
            assert graphql_type["kind"] == "SCALAR", field.name  # nullable: never required
            assert graphql_type["name"] == GRAPHQL_TYPES[field.type], field.name


async def test_typed_fields_read_back_numbers_dates_booleans_and_lists(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(  # returned to the highseas: inHighseas is true
        org.admin, "ACCOUNT", industry="RETAIL", annualRevenue=1_000_000, status="UNASSIGNED"
    )
    opportunity = await org.record(
        org.admin,
        "OPPORTUNITY",
        accountId=account,
        amount=1200.5,
        probability=40,
        expectedCloseDate="2026-03-01",
    )
    campaign = await org.record(org.admin, "CAMPAIGN", channels=["ONLINE", "PARTNER", "ONLINE"])
    visit = await org.record(org.admin, "VISIT", plannedAt="2026-01-31T09:30:00+02:00")
    query = """
    query($a: ID!, $o: ID!, $c: ID!, $v: ID!) {
      a: record(id: $a) { ... on Account { industry inHighseas annualRevenue level } }
      o: record(id: $o) {
        ... on Opportunity { accountId amount probability expectedCloseDate salesStage }
      }
      c: record(id: $c) { ... on Campaign { channels } }
      v: record(id: $v) { ... on Visit { plannedAt } }
    }"""
    data = await api.ok(
        query, {"a": account, "o": opportunity, "c": campaign, "v": visit}, org.admin.token
    )
    assert data["a"] == {
        "industry": "RETAIL",
        "inHighseas": True,
        "annualRevenue": 1_000_000.0,
        "level": None,
    }
    assert data["o"] == {
        "accountId": account,
        "amount": 1200.5,
        "probability": 40.0,
        "expectedCloseDate": "2026-03-01",
        "salesStage": None,
    }
    assert data["c"] == {"channels": ["ONLINE", "PARTNER"]}
    assert data["v"]["plannedAt"] == "2026-01-31T09:30:00+02:00"


async def test_record_interface_resolves_to_the_concrete_type(api: Api) -> None:
    org = await new_org(api)
    contact = await org.record(org.admin, "CONTACT", title="Buyer")
    query = """
    query($id: ID!) {
      record(id: $id) { __typename ... on Contact { title } ... on Account { industry } }
    }"""
    data = await api.ok(query, {"id": contact}, org.admin.token)
    assert data["record"] == {"__typename": "Contact", "title": "Buyer"}


async def test_object_types_lists_the_registry(api: Api) -> None:
    org = await new_org(api)
    query = """
    {
      objectTypes {
        objectType label statuses defaultStatus teamRoles
        fields { name label type required options }
      }
    }"""
    data = await api.ok(query, token=org.admin.token)
    expected = [
        {
            "objectType": spec.object_type.value,
            "label": spec.label,
            "statuses": list(spec.status_keys),
            "defaultStatus": spec.default_status,
            "teamRoles": [role.value for role in spec.team_roles],
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type.value,
                    "required": f.required,
                    "options": list(f.options),
                }
                for f in spec.fields
            ],
        }
        for spec in OBJECTS
    ]
    assert data["objectTypes"] == expected
    assert len(data["objectTypes"]) == 15


async def test_object_types_needs_a_token(api: Api) -> None:
    error = await api.error("{ objectTypes { objectType } }")
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
