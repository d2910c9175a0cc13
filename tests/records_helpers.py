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
MAX_CONFIRMERS = 10  # nodes in one confirmation chain at most

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
TRANSITION = """
mutation($id: ID!, $transition: String!, $comment: String, $input: JSON) {
  transitionRecord(id: $id, transition: $transition, comment: $comment, input: $input) {
    id status values owner { id }
  }
}"""
DECLARED_TRANSITIONS = """
{ objectTypes { objectType transitions { name fromStatuses toStatus inputs { name required } } } }
"""
OWNER_AND_STATUS = "query($id: ID!) { record(id: $id) { status owner { id } } }"
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
    _graph: dict[str, list[dict[str, Any]]] | None = None

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
        status: str | None = None,
        **values: Any,
    ) -> str:
        """Create a record as `who` and return its id; with `status`, the admin then moves it
        there through the shortest chain of transitions the API declares."""
        variables = {
            "type": object_type,
            "values": {"name": name or f"{object_type.title()} of {who.name}", **values},
            "ownerId": owner.id if owner else None,
        }
        created = await self.api.ok(CREATE_RECORD, variables, token=who.token)
        record_id = created["createRecord"]["id"]
        if status is not None:
            await self.move_to(record_id, object_type, status)
        return record_id

    async def transition(
        self,
        who: Person,
        record_id: str,
        name: str,
        comment: str | None = None,
        **given: Any,
    ) -> dict[str, Any]:
        """Apply a transition as `who`; `given` is its input."""
        variables = {"id": record_id, "transition": name, "comment": comment, "input": given}
        data = await self.api.ok(TRANSITION, variables, who.token)
        return data["transitionRecord"]

    async def transitions_of(self, object_type: str) -> list[dict[str, Any]]:
        """The transitions `objectTypes` declares for a type."""
        if self._graph is None:
            data = await self.api.ok(DECLARED_TRANSITIONS, token=self.admin.token)
            self._graph = {t["objectType"]: t["transitions"] for t in data["objectTypes"]}
        return self._graph[object_type]

    async def path(self, object_type: str, start: str, goal: str) -> list[dict[str, Any]]:
        """The shortest chain of declared transitions from one status to another."""
        declared = await self.transitions_of(object_type)
        came: dict[str, list[dict[str, Any]]] = {start: []}
        queue = [start]
        while queue:
            here = queue.pop(0)
            if here == goal:
                return came[here]
            for step in declared:
                there = step["toStatus"]
                if here in step["fromStatuses"] and there not in came:
                    came[there] = [*came[here], step]
                    queue.append(there)
        raise AssertionError(f"no declared path from {start} to {goal} for {object_type}")

    async def move_to(self, record_id: str, object_type: str, goal: str) -> None:
        """Walk the record to `goal` as the CRM administrator (assignments keep the owner)."""
        record = (await self.api.ok(OWNER_AND_STATUS, {"id": record_id}, self.admin.token))[
            "record"
        ]
        for step in await self.path(object_type, record["status"], goal):
            await self.take(record_id, step, record["owner"]["id"])

    async def take(
        self, record_id: str, step: dict[str, Any], assignee: str, text: str = "For a test."
    ) -> dict[str, Any]:
        """Apply one declared transition as the CRM administrator (`assignee` for an
        `assigneeId` input, `text` for the other required ones), until the record reaches the
        step's status: an order's CONFIRM confirms one node at a time, so it is taken again
        (on behalf of each confirmer of the chain) while the order waits for the next one."""
        given = {
            i["name"]: assignee if i["name"] == "assigneeId" else text
            for i in step["inputs"]
            if i["required"]
        }
        for _ in range(MAX_CONFIRMERS + 1):
            moved = await self.transition(self.admin, record_id, step["name"], **given)
            if moved["status"] == step["toStatus"]:
                return moved
            assert step["name"] == "CONFIRM", f"{step['name']} left {moved['status']}"
        raise AssertionError(f"{step['name']} never reached {step['toStatus']}")

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
