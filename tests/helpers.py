"""Small GraphQL factories shared by the API tests.

    token, admin_id = await register(api)
    dep = await create_department(api, token, name="Sales")
    bob = await create_user(api, token, departmentId=dep)
    bob_token = await login(api, bob_email)

Field keyword arguments use the GraphQL input names (`superiorId`, `departmentId`, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conftest import unique_email

if TYPE_CHECKING:
    from tests.conftest import Api

PASSWORD = "correct-horse-battery"

REGISTER = """
mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { token user { id name email roles } }
}"""

LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { id email } }
}"""

CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id } }"""

UPDATE_USER = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) {
    id name roles department { id } superior { id }
  }
}"""

CREATE_DEPARTMENT = """
mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id } }"""

UPDATE_DEPARTMENT = """
mutation($id: ID!, $input: UpdateDepartmentInput!) {
  updateDepartment(id: $id, input: $input) { id name parent { id } head { id } }
}"""

CREATE_RECORD = """
mutation($objectType: ObjectType!, $values: JSON!, $ownerId: ID) {
  createRecord(objectType: $objectType, values: $values, ownerId: $ownerId) { id }
}"""

RECORD_IDS = """
query($objectType: ObjectType!) {
  records(objectType: $objectType) { totalCount edges { node { id } } }
}"""


async def register(
    api: Api, *, email: str | None = None, password: str = PASSWORD, name: str = "Acme"
) -> tuple[str, str]:
    """A new enterprise: (its admin's token, the admin's id)."""
    data = await api.ok(
        REGISTER,
        {
            "input": {
                "enterpriseName": name,
                "adminName": "Ada Admin",
                "email": email or unique_email("admin"),
                "password": password,
            }
        },
    )
    payload = data["registerEnterprise"]
    return payload["token"], payload["user"]["id"]


async def login(api: Api, email: str, password: str = PASSWORD) -> str:
    data = await api.ok(LOGIN, {"email": email, "password": password})
    return data["login"]["token"]


async def create_user(api: Api, token: str, **fields: Any) -> str:
    """A user created by the admin `token`; defaults for name, email and password."""
    given = {"name": "Sam Sales", "email": unique_email(), "password": PASSWORD, **fields}
    data = await api.ok(CREATE_USER, {"input": given}, token=token)
    return data["createUser"]["id"]


async def create_user_with_token(api: Api, token: str, **fields: Any) -> tuple[str, str]:
    """A user created by the admin `token`, logged in: (their token, their id)."""
    email = fields.pop("email", None) or unique_email()
    user_id = await create_user(api, token, email=email, **fields)
    return await login(api, email, fields.get("password", PASSWORD)), user_id


async def create_department(api: Api, token: str, **fields: Any) -> str:
    given = {"name": "Department", **fields}
    data = await api.ok(CREATE_DEPARTMENT, {"input": given}, token=token)
    return data["createDepartment"]["id"]


async def create_record(
    api: Api,
    token: str,
    name: str = "Record",
    *,
    owner_id: str | None = None,
    object_type: str = "ACCOUNT",
) -> str:
    data = await api.ok(
        CREATE_RECORD,
        {"objectType": object_type, "values": {"name": name}, "ownerId": owner_id},
        token=token,
    )
    return data["createRecord"]["id"]


async def visible_record_ids(api: Api, token: str, object_type: str = "ACCOUNT") -> set[str]:
    """The ids on the caller's first `records` page; checks totalCount agrees with them."""
    data = await api.ok(RECORD_IDS, {"objectType": object_type}, token=token)
    connection = data["records"]
    ids = {edge["node"]["id"] for edge in connection["edges"]}
    assert connection["totalCount"] == len(ids)
    return ids
