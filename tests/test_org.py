"""Departments, users, the reporting and department trees, and tenant isolation."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.conftest import Api, unique_email
from tests.helpers import (
    CREATE_DEPARTMENT,
    CREATE_USER,
    PASSWORD,
    UPDATE_DEPARTMENT,
    UPDATE_USER,
    create_department,
    create_record,
    create_user,
    create_user_with_token,
    login,
    register,
    visible_record_ids,
)

DEPARTMENTS = "{ departments { id name parent { id name } head { id name } } }"
ME = "{ me { id roles } }"
USER = """
query { users(first: 100) { edges { node {
  id name email roles department { id } superior { id }
} } } }"""
USERS_PAGE = """
query($first: Int, $after: String) {
  users(first: $first, after: $after) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}"""
RECORD = "query($id: ID!) { record(id: $id) { id } }"


async def departments(api: Api, token: str) -> dict[str, dict[str, object]]:
    data = await api.ok(DEPARTMENTS, token=token)
    return {row["id"]: row for row in data["departments"]}


async def user(api: Api, token: str, user_id: str) -> dict[str, object]:
    data = await api.ok(USER, token=token)
    return next(edge["node"] for edge in data["users"]["edges"] if edge["node"]["id"] == user_id)


async def update_user(api: Api, token: str, user_id: str, **changes: object) -> dict[str, object]:
    data = await api.ok(UPDATE_USER, {"id": user_id, "input": changes}, token=token)
    return data["updateUser"]


async def update_user_error(api: Api, token: str, user_id: str, **changes: object) -> dict:
    return await api.error(UPDATE_USER, {"id": user_id, "input": changes}, token=token)


async def update_department_error(api: Api, token: str, dep_id: str, **changes: object) -> dict:
    return await api.error(UPDATE_DEPARTMENT, {"id": dep_id, "input": changes}, token=token)


def assert_bad_input(error: dict, field: str) -> None:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field
    assert field in error["message"]


# -- departments ---------------------------------------------------------------------------------


async def test_create_department_without_parent_or_head(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="  Sales  ")
    assert await departments(api, token) == {
        dep: {"id": dep, "name": "Sales", "parent": None, "head": None}
    }


async def test_create_department_with_parent_and_head_lists_them_resolved(api: Api) -> None:
    token, admin = await register(api)
    head = await create_user(api, token, name="Hana Head")
    parent = await create_department(api, token, name="Sales")
    child = await create_department(api, token, name="Sales East", parentId=parent, headId=head)
    listed = await departments(api, token)
    assert listed[child] == {
        "id": child,
        "name": "Sales East",
        "parent": {"id": parent, "name": "Sales"},
        "head": {"id": head, "name": "Hana Head"},
    }
    assert admin not in listed


async def test_departments_are_listed_in_creation_order(api: Api) -> None:
    token, _ = await register(api)
    created = [await create_department(api, token, name=f"D{i}") for i in range(3)]
    assert list(await departments(api, token)) == created


async def test_departments_need_a_sign_in(api: Api) -> None:
    error = await api.error(DEPARTMENTS)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sales_user_may_list_departments(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    sales_token, _ = await create_user_with_token(api, token)
    assert list(await departments(api, sales_token)) == [dep]


async def test_sales_user_may_not_create_a_department(api: Api) -> None:
    token, _ = await register(api)
    sales_token, _ = await create_user_with_token(api, token)
    error = await api.error(CREATE_DEPARTMENT, {"input": {"name": "Rogue"}}, token=sales_token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "CRM administrators" in error["message"]
    assert await departments(api, token) == {}


async def test_sales_user_may_not_update_a_department(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    sales_token, _ = await create_user_with_token(api, token)
    error = await update_department_error(api, sales_token, dep, name="Mine")
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await departments(api, token))[dep]["name"] == "Sales"


async def test_update_department_renames_it(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    data = await api.ok(UPDATE_DEPARTMENT, {"id": dep, "input": {"name": "Sales EU"}}, token=token)
    assert data["updateDepartment"]["name"] == "Sales EU"
    assert (await departments(api, token))[dep]["name"] == "Sales EU"


@pytest.mark.parametrize("name", ["", "   ", None])
async def test_update_department_refuses_an_empty_name(api: Api, name: str | None) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    error = await update_department_error(api, token, dep, name=name)
    assert_bad_input(error, "name")
    assert (await departments(api, token))[dep]["name"] == "Sales"


async def test_create_department_refuses_an_empty_name(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(CREATE_DEPARTMENT, {"input": {"name": " "}}, token=token)
    assert_bad_input(error, "name")
    assert await departments(api, token) == {}


async def test_update_department_sets_then_clears_parent_and_head(api: Api) -> None:
    token, _ = await register(api)
    head = await create_user(api, token)
    parent = await create_department(api, token, name="Sales")
    dep = await create_department(api, token, name="Sales East")
    variables = {"id": dep, "input": {"parentId": parent, "headId": head}}
    data = await api.ok(UPDATE_DEPARTMENT, variables, token=token)
    assert data["updateDepartment"]["parent"] == {"id": parent}
    assert data["updateDepartment"]["head"] == {"id": head}

    variables = {"id": dep, "input": {"parentId": None, "headId": None}}
    data = await api.ok(UPDATE_DEPARTMENT, variables, token=token)
    assert data["updateDepartment"]["parent"] is None
    assert data["updateDepartment"]["head"] is None
    listed = (await departments(api, token))[dep]
    assert listed["parent"] is None
    assert listed["head"] is None


async def test_update_department_leaves_fields_it_was_not_given(api: Api) -> None:
    token, _ = await register(api)
    head = await create_user(api, token)
    parent = await create_department(api, token, name="Sales")
    dep = await create_department(api, token, name="East", parentId=parent, headId=head)
    data = await api.ok(UPDATE_DEPARTMENT, {"id": dep, "input": {"name": "West"}}, token=token)
    assert data["updateDepartment"] == {
        "id": dep,
        "name": "West",
        "parent": {"id": parent},
        "head": {"id": head},
    }


async def test_department_cannot_move_under_itself(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    error = await update_department_error(api, token, dep, parentId=dep)
    assert_bad_input(error, "parentId")
    assert (await departments(api, token))[dep]["parent"] is None


async def test_department_cannot_move_under_its_own_descendant(api: Api) -> None:
    token, _ = await register(api)
    top = await create_department(api, token, name="Top")
    middle = await create_department(api, token, name="Middle", parentId=top)
    bottom = await create_department(api, token, name="Bottom", parentId=middle)
    before = await departments(api, token)
    error = await update_department_error(api, token, top, parentId=bottom, name="Renamed")
    assert_bad_input(error, "parentId")
    assert "sub-departments" in error["message"]
    assert await departments(api, token) == before


async def test_refused_department_move_keeps_the_tree_for_visibility(api: Api) -> None:
    token, _ = await register(api)
    head_token, head = await create_user_with_token(api, token)
    top = await create_department(api, token, name="Top", headId=head)
    bottom = await create_department(api, token, name="Bottom", parentId=top)
    seller = await create_user(api, token, departmentId=bottom)
    record = await create_record(api, token, "Deep account", owner_id=seller)
    await update_department_error(api, token, top, parentId=bottom)
    assert await visible_record_ids(api, head_token) == {record}


@pytest.mark.parametrize("field", ["parentId", "headId"])
async def test_create_department_with_an_unknown_reference_is_bad_input(
    api: Api, field: str
) -> None:
    token, _ = await register(api)
    missing = "dep_999999999" if field == "parentId" else "usr_999999999"
    error = await api.error(
        CREATE_DEPARTMENT, {"input": {"name": "Sales", field: missing}}, token=token
    )
    assert_bad_input(error, field)
    assert "no " in error["message"]
    assert await departments(api, token) == {}


@pytest.mark.parametrize("field", ["parentId", "headId"])
async def test_update_department_with_an_unknown_reference_is_bad_input(
    api: Api, field: str
) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    missing = "dep_999999999" if field == "parentId" else "usr_999999999"
    error = await update_department_error(api, token, dep, **{field: missing})
    assert_bad_input(error, field)
    assert (await departments(api, token))[dep]["parent"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("parentId", "garbage"),
        ("parentId", "usr_1"),
        ("parentId", "dep_"),
        ("headId", "dep_1"),
        ("headId", "usr_x1"),
    ],
)
async def test_create_department_with_a_malformed_id_is_bad_input(
    api: Api, field: str, value: str
) -> None:
    token, _ = await register(api)
    error = await api.error(
        CREATE_DEPARTMENT, {"input": {"name": "Sales", field: value}}, token=token
    )
    assert_bad_input(error, field)
    assert value in error["message"]


async def test_update_department_with_a_malformed_id_is_bad_input(api: Api) -> None:
    token, _ = await register(api)
    error = await update_department_error(api, token, "usr_1", name="Sales")
    assert_bad_input(error, "id")


async def test_update_of_a_missing_department_is_not_found(api: Api) -> None:
    token, _ = await register(api)
    error = await update_department_error(api, token, "dep_999999999", name="Sales")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "dep_999999999" in error["message"]


# -- creating users ------------------------------------------------------------------------------


async def test_create_user_defaults_to_the_sales_role(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("sam")
    data = await api.ok(
        "mutation($input: CreateUserInput!) { createUser(input: $input) {"
        " id name email roles department { id } superior { id } } }",
        {"input": {"name": "Sam", "email": email, "password": PASSWORD}},
        token=token,
    )
    created = data["createUser"]
    assert created["name"] == "Sam"
    assert created["email"] == email
    assert created["roles"] == ["SALES"]
    assert created["department"] is None
    assert created["superior"] is None


async def test_create_user_with_explicit_roles(api: Api) -> None:
    token, _ = await register(api)
    user_id = await create_user(api, token, roles=["ORDER_ADMIN", "ORDER_FINANCE"])
    assert sorted((await user(api, token, user_id))["roles"]) == ["ORDER_ADMIN", "ORDER_FINANCE"]


async def test_create_user_with_department_and_superior(api: Api) -> None:
    token, admin = await register(api)
    dep = await create_department(api, token, name="Sales")
    user_id = await create_user(api, token, departmentId=dep, superiorId=admin)
    created = await user(api, token, user_id)
    assert created["department"] == {"id": dep}
    assert created["superior"] == {"id": admin}


async def test_created_user_can_log_in_with_their_password(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("new")
    user_id = await create_user(api, token, email=email, password="their-own-password")
    me = await api.ok(ME, token=await login(api, email, "their-own-password"))
    assert me["me"] == {"id": user_id, "roles": ["SALES"]}


async def test_sales_user_may_not_create_a_user(api: Api) -> None:
    token, _ = await register(api)
    sales_token, _ = await create_user_with_token(api, token)
    email = unique_email("rogue")
    variables = {"input": {"name": "Rogue", "email": email, "password": PASSWORD}}
    error = await api.error(CREATE_USER, variables, token=sales_token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    data = await api.ok("{ users { totalCount } }", token=token)
    assert data["users"]["totalCount"] == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "  "),
        ("email", "nobody"),
        ("email", "two@@example.com"),
        ("password", "1234567"),
        ("departmentId", "dep_999999999"),
        ("departmentId", "nonsense"),
        ("superiorId", "usr_999999999"),
        ("superiorId", "dep_1"),
    ],
)
async def test_create_user_refuses_bad_input_naming_the_field(
    api: Api, field: str, value: str
) -> None:
    token, _ = await register(api)
    variables = {"input": {"name": "Sam", "email": unique_email(), "password": PASSWORD}}
    variables["input"][field] = value
    error = await api.error(CREATE_USER, variables, token=token)
    assert_bad_input(error, field)
    data = await api.ok("{ users { totalCount } }", token=token)
    assert data["users"]["totalCount"] == 1


async def test_create_user_with_a_taken_email_is_a_conflict(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("dup")
    await create_user(api, token, email=email)
    variables = {"input": {"name": "Twin", "email": email.upper(), "password": PASSWORD}}
    error = await api.error(CREATE_USER, variables, token=token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "email"
    assert email in error["message"]


async def test_create_user_with_another_enterprises_email_is_a_conflict(api: Api) -> None:
    token, _ = await register(api)
    other_email = unique_email("other")
    await register(api, email=other_email)
    variables = {"input": {"name": "Twin", "email": other_email, "password": PASSWORD}}
    error = await api.error(CREATE_USER, variables, token=token)
    assert error["extensions"]["code"] == "CONFLICT"


async def test_concurrent_create_users_with_one_email_give_one_user_and_a_conflict(
    api: Api,
) -> None:
    token, _ = await register(api)
    variables = {"input": {"name": "Twin", "email": unique_email("race"), "password": PASSWORD}}
    bodies = await asyncio.gather(*(api.raw(CREATE_USER, variables, token) for _ in range(3)))
    codes = sorted(body["errors"][0]["extensions"]["code"] for body in bodies if body.get("errors"))
    assert codes == ["CONFLICT", "CONFLICT"]
    data = await api.ok("{ users { totalCount } }", token=token)
    assert data["users"]["totalCount"] == 2


# -- updating users ------------------------------------------------------------------------------


async def test_update_user_changes_name_department_superior_and_roles(api: Api) -> None:
    token, admin = await register(api)
    dep = await create_department(api, token, name="Sales")
    user_id = await create_user(api, token, name="Sam")
    updated = await update_user(
        api,
        token,
        user_id,
        name="Samantha",
        departmentId=dep,
        superiorId=admin,
        roles=["SALES", "PAYMENT_FINANCE"],
    )
    assert updated == {
        "id": user_id,
        "name": "Samantha",
        "roles": ["PAYMENT_FINANCE", "SALES"],
        "department": {"id": dep},
        "superior": {"id": admin},
    }
    listed = await user(api, token, user_id)
    assert listed["superior"] == {"id": admin}
    assert listed["department"] == {"id": dep}


async def test_update_user_clears_department_and_superior(api: Api) -> None:
    token, admin = await register(api)
    dep = await create_department(api, token, name="Sales")
    user_id = await create_user(api, token, departmentId=dep, superiorId=admin)
    updated = await update_user(api, token, user_id, departmentId=None, superiorId=None)
    assert updated["department"] is None
    assert updated["superior"] is None


async def test_update_user_leaves_fields_it_was_not_given(api: Api) -> None:
    token, admin = await register(api)
    dep = await create_department(api, token, name="Sales")
    user_id = await create_user(
        api, token, departmentId=dep, superiorId=admin, roles=["ORDER_ADMIN"]
    )
    updated = await update_user(api, token, user_id, name="Renamed")
    assert updated["roles"] == ["ORDER_ADMIN"]
    assert updated["department"] == {"id": dep}
    assert updated["superior"] == {"id": admin}


async def test_role_change_takes_effect_on_the_users_next_request(api: Api) -> None:
    token, _ = await register(api)
    sales_token, user_id = await create_user_with_token(api, token)
    await update_user(api, token, user_id, roles=["CRM_ADMIN"])
    dep = await create_department(api, sales_token, name="Made by the new admin")
    assert dep in await departments(api, token)


async def test_sales_user_may_not_update_a_user(api: Api) -> None:
    token, _ = await register(api)
    sales_token, user_id = await create_user_with_token(api, token)
    error = await update_user_error(api, sales_token, user_id, roles=["CRM_ADMIN"])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await user(api, token, user_id))["roles"] == ["SALES"]


async def test_update_of_a_missing_user_is_not_found(api: Api) -> None:
    token, _ = await register(api)
    error = await update_user_error(api, token, "usr_999999999", name="Ghost")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "usr_999999999" in error["message"]


async def test_update_user_with_a_malformed_id_is_bad_input(api: Api) -> None:
    token, _ = await register(api)
    error = await update_user_error(api, token, "dep_1", name="Ghost")
    assert_bad_input(error, "id")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", None),
        ("departmentId", "dep_999999999"),
        ("departmentId", "usr_1"),
        ("superiorId", "usr_999999999"),
        ("superiorId", "rec_1"),
    ],
)
async def test_update_user_refuses_bad_input_naming_the_field(
    api: Api, field: str, value: str | None
) -> None:
    token, _ = await register(api)
    user_id = await create_user(api, token, name="Sam")
    error = await update_user_error(api, token, user_id, **{field: value})
    assert_bad_input(error, field)
    assert (await user(api, token, user_id))["name"] == "Sam"


async def test_user_cannot_be_their_own_superior(api: Api) -> None:
    token, _ = await register(api)
    user_id = await create_user(api, token)
    error = await update_user_error(api, token, user_id, superiorId=user_id)
    assert_bad_input(error, "superiorId")
    assert "cycle" in error["message"]
    assert (await user(api, token, user_id))["superior"] is None


async def test_user_cannot_report_to_their_direct_subordinate(api: Api) -> None:
    token, _ = await register(api)
    boss = await create_user(api, token)
    report = await create_user(api, token, superiorId=boss)
    error = await update_user_error(api, token, boss, superiorId=report)
    assert_bad_input(error, "superiorId")
    assert (await user(api, token, boss))["superior"] is None


async def test_user_cannot_report_to_a_subordinate_three_levels_down(api: Api) -> None:
    token, _ = await register(api)
    a = await create_user(api, token, name="A")
    b = await create_user(api, token, name="B", superiorId=a)
    c = await create_user(api, token, name="C", superiorId=b)
    d = await create_user(api, token, name="D", superiorId=c)
    error = await update_user_error(api, token, a, superiorId=d, name="A2")
    assert_bad_input(error, "superiorId")
    unchanged = await user(api, token, a)
    assert unchanged["superior"] is None
    assert unchanged["name"] == "A"


async def test_cycle_check_follows_a_subtree_after_it_moved(api: Api) -> None:
    token, _ = await register(api)
    a = await create_user(api, token, name="A")
    b = await create_user(api, token, name="B")
    c = await create_user(api, token, name="C", superiorId=b)
    await update_user(api, token, b, superiorId=a)
    error = await update_user_error(api, token, a, superiorId=c)
    assert_bad_input(error, "superiorId")


async def test_last_admin_cannot_drop_their_own_admin_role(api: Api) -> None:
    token, admin = await register(api)
    error = await update_user_error(api, token, admin, roles=["SALES"])
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "roles"
    assert "administrator" in error["message"]
    me = await api.ok(ME, token=token)
    assert me["me"]["roles"] == ["CRM_ADMIN", "SALES"]


async def test_last_admin_cannot_clear_all_their_roles(api: Api) -> None:
    token, admin = await register(api)
    error = await update_user_error(api, token, admin, roles=[])
    assert error["extensions"]["code"] == "CONFLICT"


async def test_admin_may_drop_their_admin_role_once_another_admin_exists(api: Api) -> None:
    token, admin = await register(api)
    await create_user(api, token, roles=["CRM_ADMIN"])
    updated = await update_user(api, token, admin, roles=["SALES"])
    assert updated["roles"] == ["SALES"]
    error = await api.error(CREATE_DEPARTMENT, {"input": {"name": "Nope"}}, token=token)
    assert error["extensions"]["code"] == "FORBIDDEN"


# -- listing users -------------------------------------------------------------------------------


async def test_users_pages_through_everyone_once(api: Api) -> None:
    token, admin = await register(api)
    created = [admin] + [await create_user(api, token, name=f"U{i}") for i in range(4)]
    seen: list[str] = []
    after = None
    pages = []
    while True:
        data = await api.ok(USERS_PAGE, {"first": 2, "after": after}, token=token)
        page = data["users"]
        pages.append(page)
        assert page["totalCount"] == 5
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == created
    assert [len(page["edges"]) for page in pages] == [2, 2, 1]


async def test_users_last_full_page_has_no_next_page(api: Api) -> None:
    token, _ = await register(api)
    await create_user(api, token)
    data = await api.ok(USERS_PAGE, {"first": 2}, token=token)
    assert len(data["users"]["edges"]) == 2
    assert data["users"]["pageInfo"]["hasNextPage"] is False


async def test_users_default_page_is_twenty(api: Api) -> None:
    token, _ = await register(api)
    await asyncio.gather(*(create_user(api, token) for _ in range(20)))
    data = await api.ok(USERS_PAGE, token=token)
    assert data["users"]["totalCount"] == 21
    assert len(data["users"]["edges"]) == 20
    assert data["users"]["pageInfo"]["hasNextPage"] is True


async def test_users_with_first_zero_gives_only_the_count(api: Api) -> None:
    token, _ = await register(api)
    data = await api.ok(USERS_PAGE, {"first": 0}, token=token)
    assert data["users"]["edges"] == []
    assert data["users"]["totalCount"] == 1
    assert data["users"]["pageInfo"] == {"hasNextPage": True, "endCursor": None}


@pytest.mark.parametrize("first", [101, -1])
async def test_users_refuse_a_page_size_out_of_range(api: Api, first: int) -> None:
    token, _ = await register(api)
    error = await api.error(USERS_PAGE, {"first": first}, token=token)
    assert_bad_input(error, "first")


async def test_users_refuse_a_cursor_not_from_the_list(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(USERS_PAGE, {"after": "not-a-cursor"}, token=token)
    assert_bad_input(error, "after")


# -- closure tables follow every change ----------------------------------------------------------


async def test_new_superior_sees_records_after_reparenting_and_old_one_does_not(
    api: Api,
) -> None:
    token, _ = await register(api)
    old_token, old_boss = await create_user_with_token(api, token)
    new_token, _new_boss = await create_user_with_token(api, token)
    seller = await create_user(api, token, superiorId=old_boss)
    record = await create_record(api, token, "Acme account", owner_id=seller)
    assert await visible_record_ids(api, old_token) == {record}
    assert await visible_record_ids(api, new_token) == set()

    await update_user(api, token, seller, superiorId=_new_boss)

    assert await visible_record_ids(api, new_token) == {record}
    assert await visible_record_ids(api, old_token) == set()


async def test_reparenting_moves_the_whole_subtree_for_every_ancestor(api: Api) -> None:
    token, _ = await register(api)
    old_top_token, old_top = await create_user_with_token(api, token)
    old_boss = await create_user(api, token, superiorId=old_top)
    new_top_token, new_top = await create_user_with_token(api, token)
    manager_token, manager = await create_user_with_token(api, token, superiorId=old_boss)
    seller = await create_user(api, token, superiorId=manager)
    record = await create_record(api, token, "Deep account", owner_id=seller)
    assert await visible_record_ids(api, old_top_token) == {record}

    await update_user(api, token, manager, superiorId=new_top)

    assert await visible_record_ids(api, new_top_token) == {record}
    assert await visible_record_ids(api, old_top_token) == set()
    assert await visible_record_ids(api, manager_token) == {record}


async def test_clearing_the_superior_hides_records_from_the_old_one(api: Api) -> None:
    token, _ = await register(api)
    boss_token, boss = await create_user_with_token(api, token)
    seller = await create_user(api, token, superiorId=boss)
    record = await create_record(api, token, "Acme account", owner_id=seller)
    await update_user(api, token, seller, superiorId=None)
    assert await visible_record_ids(api, boss_token) == set()
    assert (await api.ok(RECORD, {"id": record}, token=boss_token))["record"] is None


async def test_head_of_a_new_parent_department_sees_records_after_the_move(api: Api) -> None:
    token, _ = await register(api)
    old_head_token, old_head = await create_user_with_token(api, token)
    new_head_token, new_head = await create_user_with_token(api, token)
    old_parent = await create_department(api, token, name="Old", headId=old_head)
    new_parent = await create_department(api, token, name="New", headId=new_head)
    team = await create_department(api, token, name="Team", parentId=old_parent)
    below = await create_department(api, token, name="Below team", parentId=team)
    seller = await create_user(api, token, departmentId=below)
    record = await create_record(api, token, "Acme account", owner_id=seller)
    assert await visible_record_ids(api, old_head_token) == {record}
    assert await visible_record_ids(api, new_head_token) == set()

    await api.ok(UPDATE_DEPARTMENT, {"id": team, "input": {"parentId": new_parent}}, token=token)

    assert await visible_record_ids(api, new_head_token) == {record}
    assert await visible_record_ids(api, old_head_token) == set()


async def test_head_of_the_new_department_sees_records_after_the_owner_moves(api: Api) -> None:
    token, _ = await register(api)
    old_head_token, old_head = await create_user_with_token(api, token)
    new_head_token, new_head = await create_user_with_token(api, token)
    old_dep = await create_department(api, token, name="Old", headId=old_head)
    new_parent = await create_department(api, token, name="New", headId=new_head)
    new_dep = await create_department(api, token, name="New team", parentId=new_parent)
    seller = await create_user(api, token, departmentId=old_dep)
    record = await create_record(api, token, "Acme account", owner_id=seller)
    assert await visible_record_ids(api, old_head_token) == {record}

    await update_user(api, token, seller, departmentId=new_dep)

    assert await visible_record_ids(api, new_head_token) == {record}
    assert await visible_record_ids(api, old_head_token) == set()


async def test_new_department_head_sees_records_and_the_old_head_does_not(api: Api) -> None:
    token, _ = await register(api)
    old_head_token, old_head = await create_user_with_token(api, token)
    new_head_token, new_head = await create_user_with_token(api, token)
    dep = await create_department(api, token, name="Sales", headId=old_head)
    seller = await create_user(api, token, departmentId=dep)
    record = await create_record(api, token, "Acme account", owner_id=seller)

    await api.ok(UPDATE_DEPARTMENT, {"id": dep, "input": {"headId": new_head}}, token=token)

    assert await visible_record_ids(api, new_head_token) == {record}
    assert await visible_record_ids(api, old_head_token) == set()


# -- tenant isolation ----------------------------------------------------------------------------


async def test_other_enterprise_sees_none_of_the_users(api: Api) -> None:
    token, _ = await register(api)
    await create_user(api, token)
    other_token, other_admin = await register(api)
    data = await api.ok(USERS_PAGE, {"first": 100}, token=other_token)
    assert data["users"]["totalCount"] == 1
    assert [edge["node"]["id"] for edge in data["users"]["edges"]] == [other_admin]


async def test_other_enterprise_sees_none_of_the_departments(api: Api) -> None:
    token, _ = await register(api)
    await create_department(api, token, name="Sales")
    other_token, _ = await register(api)
    assert await departments(api, other_token) == {}


async def test_other_enterprise_sees_none_of_the_records(api: Api) -> None:
    token, admin = await register(api)
    record = await create_record(api, token, "Acme account", owner_id=admin)
    other_token, _ = await register(api)
    assert await visible_record_ids(api, other_token) == set()
    assert (await api.ok(RECORD, {"id": record}, token=other_token))["record"] is None


async def test_updating_another_enterprises_user_is_not_found(api: Api) -> None:
    token, _ = await register(api)
    user_id = await create_user(api, token, name="Sam")
    other_token, _ = await register(api)
    error = await update_user_error(api, other_token, user_id, name="Hijacked")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert (await user(api, token, user_id))["name"] == "Sam"


async def test_updating_another_enterprises_department_is_not_found(api: Api) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    other_token, _ = await register(api)
    error = await update_department_error(api, other_token, dep, name="Hijacked")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert (await departments(api, token))[dep]["name"] == "Sales"


async def test_creating_a_user_in_another_enterprises_department_is_bad_input(
    api: Api,
) -> None:
    token, _ = await register(api)
    dep = await create_department(api, token, name="Sales")
    other_token, _ = await register(api)
    variables = {
        "input": {"name": "Sam", "email": unique_email(), "password": PASSWORD, "departmentId": dep}
    }
    error = await api.error(CREATE_USER, variables, token=other_token)
    assert_bad_input(error, "departmentId")


async def test_another_enterprises_user_cannot_become_a_superior_or_head(api: Api) -> None:
    token, _ = await register(api)
    outsider = await create_user(api, token)
    other_token, other_admin = await register(api)
    error = await update_user_error(api, other_token, other_admin, superiorId=outsider)
    assert_bad_input(error, "superiorId")
    error = await api.error(
        CREATE_DEPARTMENT, {"input": {"name": "Sales", "headId": outsider}}, token=other_token
    )
    assert_bad_input(error, "headId")


async def test_another_enterprises_department_cannot_become_a_parent(api: Api) -> None:
    token, _ = await register(api)
    foreign = await create_department(api, token, name="Theirs")
    other_token, _ = await register(api)
    mine = await create_department(api, other_token, name="Mine")
    error = await update_department_error(api, other_token, mine, parentId=foreign)
    assert_bad_input(error, "parentId")


async def test_records_cannot_be_assigned_to_another_enterprises_user(api: Api) -> None:
    token, _ = await register(api)
    outsider = await create_user(api, token)
    other_token, _ = await register(api)
    error = await api.error(
        'mutation($o: ID) { createRecord(objectType: ACCOUNT, values: {name: "X"},'
        " ownerId: $o) { id } }",
        {"o": outsider},
        token=other_token,
    )
    assert_bad_input(error, "ownerId")
    assert await visible_record_ids(api, token) == set()


async def test_users_refuse_a_forged_cursor_beyond_any_id(api: Api) -> None:
    token, _ = await register(api)
    forged = base64.urlsafe_b64encode(b"c:" + b"9" * 30).decode().rstrip("=")
    error = await api.error(USERS_PAGE, {"after": forged}, token=token)
    assert_bad_input(error, "after")
