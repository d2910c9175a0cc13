"""Function permissions are data per enterprise and role: listed and edited by CRM
administrators, read by the same checker as the action tables, so taking a permission away
takes the action away (seed FAQ 9, the note under seed table 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.feed_helpers import post, post_error
from tests.records_helpers import UPDATE_RECORD, Org, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

ROLE_PERMISSIONS = """
query($role: String) { rolePermissions(role: $role) { role permission granted editable } }"""
SET = """
mutation($role: String!, $permission: String!, $granted: Boolean!) {
  setRolePermission(role: $role, permission: $permission, granted: $granted) {
    role permission granted
  }
}"""
CREATE_ROLE = "mutation($name: String!) { createRole(name: $name) { key name preset } }"
UPDATE_USER = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id roles customRoles { key name } }
}"""
CHANGE_OWNER = """
mutation($id: ID!, $owner: ID!) { changeOwner(id: $id, newOwnerId: $owner) { id owner { id } } }"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def grants(org: Org, role: str | None = None) -> dict[tuple[str, str], bool]:
    data = await org.api.ok(ROLE_PERMISSIONS, {"role": role}, org.admin.token)
    return {(g["role"], g["permission"]): g["granted"] for g in data["rolePermissions"]}


async def set_permission(org: Org, role: str, permission: str, granted: bool) -> None:
    variables = {"role": role, "permission": permission, "granted": granted}
    await org.api.ok(SET, variables, org.admin.token)


async def test_a_new_enterprise_has_the_seed_defaults(org: Org) -> None:
    found = await grants(org)
    assert found["SALES", "SalesRecord.create"] is True
    assert found["SALES", "Account.edit"] is True
    assert found["SALES", "Product.create"] is False
    assert found["ORDER_FINANCE", "SalesOrder.changeOwner"] is True
    assert found["ORDER_FINANCE", "SalesOrder.create"] is False
    assert found["PAYMENT_FINANCE", "Payment.edit"] is True
    assert all(granted for (role, _), granted in found.items() if role == "CRM_ADMIN")
    roles = {role for role, _ in found}
    assert roles == {
        "CRM_ADMIN",
        "SALES",
        "ORDER_ADMIN",
        "ORDER_FINANCE",
        "PAYMENT_FINANCE",
        "REFUND_FINANCE",
        "INVOICE_FINANCE",
    }


async def test_an_owner_without_sales_record_create_cannot_post_on_their_account(org: Org) -> None:
    """Seed FAQ 9."""
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    await post(org, ann, "Before", related=[account])
    await set_permission(org, "SALES", "SalesRecord.create", False)
    error = await post_error(org, ann, "After", related=[account])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "SalesRecord.create" in error["message"]
    await set_permission(org, "SALES", "SalesRecord.create", True)
    await post(org, ann, "Again", related=[account])


async def test_order_finance_without_change_owner_cannot_change_an_orders_owner(org: Org) -> None:
    """The note under seed table 2."""
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    fiona = await org.user("Fiona", roles=["ORDER_FINANCE"])
    order = await org.record(ann, "SALES_ORDER", "Order 1")
    await org.api.ok(CHANGE_OWNER, {"id": order, "owner": bob.id}, fiona.token)
    await set_permission(org, "ORDER_FINANCE", "SalesOrder.changeOwner", False)
    error = await org.api.error(CHANGE_OWNER, {"id": order, "owner": ann.id}, fiona.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "SalesOrder.changeOwner" in error["message"]
    # the owner side still may: the permission is the role's, not the rule's
    await org.api.ok(CHANGE_OWNER, {"id": order, "owner": ann.id}, bob.token)


async def test_taking_edit_away_takes_it_from_allowed_actions_too(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme", status="ASSIGNED")
    query = "query($id: ID!) { record(id: $id) { allowedActions { name } } }"
    before = (await org.api.ok(query, {"id": account}, ann.token))["record"]["allowedActions"]
    assert {"name": "EDIT"} in before
    await set_permission(org, "SALES", "Account.edit", False)
    after = (await org.api.ok(query, {"id": account}, ann.token))["record"]["allowedActions"]
    assert {"name": "EDIT"} not in after
    error = await org.api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Account.edit" in error["message"]


async def test_a_custom_role_grants_what_it_is_given(org: Org) -> None:
    clerk = await org.user("Clerk", roles=[])
    account = await org.record(org.admin, "ACCOUNT", "Acme", owner=clerk, status="ASSIGNED")
    error = await org.api.error(
        UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, clerk.token
    )
    assert "Account.edit" in error["message"]

    role = (await org.api.ok(CREATE_ROLE, {"name": "Key Account Manager"}, org.admin.token))[
        "createRole"
    ]
    assert role["preset"] is False
    assert not any((await grants(org, role["key"])).values())
    await set_permission(org, role["key"], "Account.edit", True)
    user = await org.api.ok(
        UPDATE_USER, {"id": clerk.id, "input": {"customRoles": [role["key"]]}}, org.admin.token
    )
    assert user["updateUser"]["customRoles"] == [
        {"key": role["key"], "name": "Key Account Manager"}
    ]
    assert user["updateUser"]["roles"] == []
    await org.api.ok(UPDATE_RECORD, {"id": account, "values": {"name": "Acme 2"}}, clerk.token)

    # preset roles change without touching the custom ones, and the other way round
    user = await org.api.ok(
        UPDATE_USER, {"id": clerk.id, "input": {"roles": ["SALES"]}}, org.admin.token
    )
    assert user["updateUser"]["customRoles"] == [
        {"key": role["key"], "name": "Key Account Manager"}
    ]
    user = await org.api.ok(
        UPDATE_USER, {"id": clerk.id, "input": {"customRoles": []}}, org.admin.token
    )
    assert user["updateUser"]["roles"] == ["SALES"]
    assert user["updateUser"]["customRoles"] == []


@pytest.mark.parametrize(
    ("role", "permission", "field"),
    [
        ("NOBODY", "Account.edit", "role"),
        ("SALES", "Account.fly", "permission"),
        ("SALES", "account.edit", "permission"),
        ("CRM_ADMIN", "Account.edit", "role"),
    ],
)
async def test_bad_role_or_permission_names_are_refused(
    org: Org, role: str, permission: str, field: str
) -> None:
    before = await grants(org)
    variables = {"role": role, "permission": permission, "granted": False}
    error = await org.api.error(SET, variables, org.admin.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert await grants(org) == before


async def test_only_admins_administer_permissions_and_roles(org: Org) -> None:
    ann = await org.user("Ann")
    for query, variables in (
        (ROLE_PERMISSIONS, {}),
        (SET, {"role": "SALES", "permission": "Account.edit", "granted": False}),
        (CREATE_ROLE, {"name": "Mine"}),
    ):
        error = await org.api.error(query, variables, ann.token)
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await grants(org))["SALES", "Account.edit"] is True


async def test_role_names_are_unique_and_unknown_custom_roles_are_refused(org: Org) -> None:
    await org.api.ok(CREATE_ROLE, {"name": "Auditor"}, org.admin.token)
    for name in ("auditor", "Sales", "Order Finance"):
        error = await org.api.error(CREATE_ROLE, {"name": name}, org.admin.token)
        assert error["extensions"]["code"] == "CONFLICT", name
    ann = await org.user("Ann")
    error = await org.api.error(
        UPDATE_USER, {"id": ann.id, "input": {"customRoles": ["CUSTOM_999"]}}, org.admin.token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "CUSTOM_999" in error["message"]


async def test_permissions_are_per_enterprise(api: Api, org: Org) -> None:
    other = await new_org(api, "Oz")
    await set_permission(org, "SALES", "Account.edit", False)
    assert (await grants(other))["SALES", "Account.edit"] is True


def test_require_permission_names_what_is_missing() -> None:
    """The check other features (import, export, print, mail) call: FORBIDDEN naming the
    permission; an operation that has no permission is a programming error."""
    from crmfeed.registry.enums import FunctionRole, ObjectType
    from resolvers.checker import check_permission
    from resolvers.errors import Forbidden
    from store.viewer import Viewer

    clerk = Viewer(
        id=1,
        enterprise_id=1,
        department_id=None,
        roles=frozenset({FunctionRole.SALES}),
        granted=frozenset({"Account.import", "SalesRecord.export"}),
    )
    check_permission(clerk, ObjectType.ACCOUNT, "import")
    check_permission(clerk, "SalesRecord", "export")
    with pytest.raises(Forbidden, match=r"Contact\.import"):
        check_permission(clerk, "CONTACT", "import")
    with pytest.raises(Forbidden, match=r"Account\.print"):
        check_permission(clerk, ObjectType.ACCOUNT, "print")
    admin = Viewer(1, 1, None, frozenset({FunctionRole.CRM_ADMIN}), granted=frozenset())
    check_permission(admin, ObjectType.PRODUCT, "mail")
    with pytest.raises(ValueError, match="fly"):
        check_permission(admin, ObjectType.ACCOUNT, "fly")
    with pytest.raises(ValueError, match="edit"):
        check_permission(admin, "SalesRecord", "edit")
