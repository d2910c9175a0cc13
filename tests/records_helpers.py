"""Small factories for the record, team, sharing and access tests (all through the GraphQL API).

Example:

    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", industry="RETAIL")
    assert await org.can_read(ann, account)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.conftest import unique_email

if TYPE_CHECKING:
    from tests.conftest import Api

PASSWORD = "secret-pass-123"

REGISTER = """
mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { token user { id name } }
}"""
CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id name } }"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token }
}"""
CREATE_DEPARTMENT = """
mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { id name } }"""
UPDATE_DEPARTMENT = """
mutation($id: ID!, $input: UpdateDepartmentInput!) {
  updateDepartment(id: $id, input: $input) { id }
}"""
CREATE_RECORD = """
mutation($type: ObjectType!, $values: JSON!, $ownerId: ID) {
  createRecord(objectType: $type, values: $values, ownerId: $ownerId) { id }
}"""
UPDATE_RECORD = """
mutation($id: ID!, $values: JSON!) {
  updateRecord(id: $id, values: $values) { id name status values }
}"""
ADD_MEMBERS = """
mutation($id: ID!, $members: [TeamMemberInput!]!, $also: [ID!]) {
  addTeamMembers(recordId: $id, members: $members, alsoAddToRecordIds: $also) {
    id team { user { id } teamRole access }
  }
}"""
CREATE_SHARING_RULE = """
mutation($input: CreateSharingRuleInput!) {
  createSharingRule(input: $input) {
    id objectType access fromUser { id } toUser { id } fromDepartment { id } toDepartment { id }
  }
}"""
RECORD = """
query($id: ID!) { record(id: $id) { id name status lifeStatus values } }"""
RECORDS = """
query($type: ObjectType!, $filter: RecordFilter, $first: Int, $after: String) {
  records(objectType: $type, filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id name status } }
    pageInfo { hasNextPage endCursor }
  }
}"""
INVALIDATE = "mutation($id: ID!) { invalidateRecord(id: $id) { id lifeStatus } }"
SET_FOLLOW_UP = """
mutation($type: ObjectType!, $role: TeamRole!, $access: FollowUpAccess!) {
  setFollowUpAccess(objectType: $type, teamRole: $role, access: $access)
}"""
SETTINGS = """
mutation($input: EnterpriseSettingsInput!) {
  updateEnterpriseSettings(input: $input) { sharingOpensFollowUp }
}"""


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    token: str


@dataclass(slots=True)
class Org:
    """One freshly registered enterprise and the admin who registered it."""

    api: Api
    admin: Person

    async def user(
        self,
        name: str,
        *,
        superior: Person | None = None,
        department: str | None = None,
        roles: list[str] | None = None,
    ) -> Person:
        email = unique_email(name.lower())
        data: dict[str, Any] = {"name": name, "email": email, "password": PASSWORD}
        if superior is not None:
            data["superiorId"] = superior.id
        if department is not None:
            data["departmentId"] = department
        if roles is not None:
            data["roles"] = roles
        created = await self.api.ok(CREATE_USER, {"input": data}, token=self.admin.token)
        login = await self.api.ok(LOGIN, {"email": email, "password": PASSWORD})
        return Person(created["createUser"]["id"], name, login["login"]["token"])

    async def department(
        self, name: str, *, parent: str | None = None, head: Person | None = None
    ) -> str:
        data: dict[str, Any] = {"name": name}
        if parent is not None:
            data["parentId"] = parent
        if head is not None:
            data["headId"] = head.id
        created = await self.api.ok(CREATE_DEPARTMENT, {"input": data}, token=self.admin.token)
        return created["createDepartment"]["id"]

    async def record(
        self,
        who: Person,
        object_type: str = "ACCOUNT",
        name: str | None = None,
        *,
        owner: Person | None = None,
        **values: Any,
    ) -> str:
        """Create a record as `who` and return its id."""
        variables = {
            "type": object_type,
            "values": {"name": name or f"{object_type.title()} of {who.name}", **values},
            "ownerId": owner.id if owner else None,
        }
        created = await self.api.ok(CREATE_RECORD, variables, token=who.token)
        return created["createRecord"]["id"]

    async def update(self, who: Person, record_id: str, **values: Any) -> dict[str, Any]:
        data = await self.api.ok(UPDATE_RECORD, {"id": record_id, "values": values}, who.token)
        return data["updateRecord"]

    async def add_member(
        self,
        who: Person,
        record_id: str,
        member: Person,
        role: str = "REGULAR_MEMBER",
        access: str = "READ_ONLY",
        also: list[str] | None = None,
    ) -> dict[str, Any]:
        members = [{"userId": member.id, "teamRole": role, "access": access}]
        data = await self.api.ok(
            ADD_MEMBERS, {"id": record_id, "members": members, "also": also}, token=who.token
        )
        return data["addTeamMembers"]

    async def share(self, object_type: str, access: str = "READ_ONLY", **ends: str) -> str:
        """A sharing rule; `ends` are fromUserId/fromDepartmentId/toUserId/toDepartmentId."""
        data = {"objectType": object_type, "access": access, **ends}
        created = await self.api.ok(CREATE_SHARING_RULE, {"input": data}, token=self.admin.token)
        return created["createSharingRule"]["id"]

    async def invalidate(self, who: Person, record_id: str) -> None:
        await self.api.ok(INVALIDATE, {"id": record_id}, token=who.token)

    async def set_follow_up(self, object_type: str, role: str, access: str) -> None:
        variables = {"type": object_type, "role": role, "access": access}
        await self.api.ok(SET_FOLLOW_UP, variables, token=self.admin.token)

    async def sharing_opens_follow_up(self, value: bool) -> None:
        variables = {"input": {"sharingOpensFollowUp": value}}
        await self.api.ok(SETTINGS, variables, token=self.admin.token)

    async def get(self, who: Person, record_id: str) -> dict[str, Any] | None:
        data = await self.api.ok(RECORD, {"id": record_id}, token=who.token)
        return data["record"]

    async def can_read(self, who: Person, record_id: str) -> bool:
        return await self.get(who, record_id) is not None

    async def listing(
        self,
        who: Person,
        object_type: str = "ACCOUNT",
        record_filter: dict[str, Any] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        variables = {
            "type": object_type,
            "filter": record_filter,
            "first": first,
            "after": after,
        }
        data = await self.api.ok(RECORDS, variables, token=who.token)
        return data["records"]

    async def listed_ids(
        self, who: Person, object_type: str = "ACCOUNT", record_filter: dict[str, Any] | None = None
    ) -> list[str]:
        page = await self.listing(who, object_type, record_filter, first=100)
        return [edge["node"]["id"] for edge in page["edges"]]

    async def total(
        self, who: Person, object_type: str = "ACCOUNT", record_filter: dict[str, Any] | None = None
    ) -> int:
        page = await self.listing(who, object_type, record_filter, first=0)
        return page["totalCount"]


async def new_org(api: Api, admin_name: str = "Ada") -> Org:
    """Register a new enterprise; its admin holds CRM_ADMIN and SALES."""
    variables = {
        "input": {
            "enterpriseName": f"Enterprise of {admin_name}",
            "adminName": admin_name,
            "email": unique_email("admin"),
            "password": PASSWORD,
        }
    }
    data = await api.ok(REGISTER, variables)
    payload = data["registerEnterprise"]
    return Org(api, Person(payload["user"]["id"], admin_name, payload["token"]))
