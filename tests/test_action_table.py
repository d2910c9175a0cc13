"""Every object type x status x relationship x record action, through the API.

For each case the test asks both halves of the API — `Record.allowedActions`, and the mutation
itself, tried for real — and compares them with the seed's tables, written out below by hand
from seed 002 (tables 1 and 2 in English, 三 and 四 in Chinese) and not imported from the
registry. Cells the seed is silent on (Visit, Contract, Competitor and Work Order outside table
四's rows) are the registry's documented choice, marked NOT IN SEED. On top of a table's rule,
EDIT, CHANGE_OWNER and INVALIDATE need the function permission on the type; the default grants
are written out here too (`HOLDS`).

Cases are grouped per record: one record per (type, status), owned by OWNER, with a Read &
Write and a Read Only team member and sharing rules to a Read & Write and a Read Only party;
each successful attempt is undone before the next case (an edit rewrites the same name, an owner
change goes to the administrator and back, an added member is removed, an invalidated record is
restored). Status transitions are compared between `allowedActions`, `Record.transitions` and
`transitionRecord` (refused ones attempted on the shared record, allowed ones applied to a fresh
record brought to the status); the seed has no transition table to check them against.

`RELATIONSHIPS` is a list: a relationship is a person, what the seed's tables call them, their
roles and which types they read, and a hook that ties them to each record. The current
confirmer is one: the enterprise's confirmation chain names them, so a new order waits for
them; an order CONFIRMING is walked twice, with them as its first node and as its second after
the first confirmer confirmed (the edit rules turn on "the first confirmer has not confirmed").
In the other statuses the order was confirmed, rejected or withdrawn past them (the
administrator decides on their behalf on the way), and they no longer read it.

Every type is walked on SQLite, a sample of them on PostgreSQL (`POSTGRES_SAMPLE`, a case per
situation so that parallel workers share it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import DATABASES
from tests.records_helpers import ADD_MEMBERS, UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

# -- the seed's tables, by hand ----------------------------------------------------------------

OWNER, SUPERIOR, SHARED_RW, TEAM_RW, TEAM_RW_SUPERIOR = (
    "owner",
    "owner's superior",
    "shared Read & Write",
    "team member Read & Write",
    "superior of a Read & Write team member",
)
STANDARD = frozenset({OWNER, SUPERIOR, SHARED_RW, TEAM_RW, TEAM_RW_SUPERIOR})  # "standard writers"
OWNER_SIDE = frozenset({OWNER, SUPERIOR, SHARED_RW})
ORDER_ADMIN, ORDER_FINANCE = "Order Administrator", "Order Finance"
PAYMENT_FINANCE, REFUND_FINANCE, INVOICE_FINANCE = (
    "Payment Finance",
    "Refund Finance",
    "Invoice Finance",
)
ORDER_ROLES = frozenset({ORDER_ADMIN, ORDER_FINANCE})
CRM_ADMIN = "CRM administrator"
READER = "anyone who may read it"
CURRENT_CONFIRMER = "current confirmer"

STATUSES = {
    "ACCOUNT": "NOT_EFFECTIVE REPORTING UNASSIGNED ASSIGNED",
    "CONTACT": "NORMAL",
    "SALES_LEAD": "UNASSIGNED TO_BE_PROCESSED FOLLOWING_UP INVALID",
    "OPPORTUNITY": "IN_PROGRESS CLOSE_WON CLOSE_LOST INVALID",
    "VISIT": "INCOMPLETE COMPLETED",
    "SALES_ORDER": "CONFIRMING REJECTED WITHDRAWN CONFIRMED SHIPPED RECEIVED",
    "RETURN_FORM": "CONFIRMING REJECTED WITHDRAWN CONFIRMED",
    "PAYMENT": "NOT_RECEIVED REJECTED RECEIVED",
    "REFUND": "NOT_REFUNDED REJECTED REFUNDED",
    "PRODUCT": "ON_SHELF OFF_SHELF",
    "CONTRACT": "NORMAL",
    "INVOICING_APPLICATION": "UNBILLED REJECTED INVOICED",
    "CAMPAIGN": "PLANNED IN_PROGRESS CLOSED TERMINATED",
    "COMPETITOR": "NORMAL",
    "WORK_ORDER": "NEW PROCESSING RESOLVED CLOSED",
}


CONFIRMED_TYPES = frozenset({"SALES_ORDER", "RETURN_FORM"})  # the types with confirmation nodes


@dataclass(frozen=True)
class Situation:
    """A status a record of the walk is in; an order CONFIRMING is walked twice, before and
    after its first confirmer confirmed (seed table 1 turns on it)."""

    status: str
    first_confirmed: bool = False

    def __str__(self) -> str:
        return f"{self.status} (first confirmer confirmed)" if self.first_confirmed else self.status

    @property
    def key(self) -> str:
        return f"{self.status}_AFTER_FIRST" if self.first_confirmed else self.status


def situations(object_type: str) -> list[Situation]:
    found = [Situation(status) for status in STATUSES[object_type].split()]
    if object_type in CONFIRMED_TYPES:
        found.insert(1, Situation("CONFIRMING", first_confirmed=True))
    return found


def _approval_not_in_progress(values: dict[str, Any]) -> bool:
    return values.get("approvalStatus") != "IN_PROGRESS"


def _first_confirmer_pending(values: dict[str, Any]) -> bool:
    return not values.get("firstConfirmerConfirmed")


def _not_in_highseas(values: dict[str, Any]) -> bool:
    return not values.get("inHighseas")


@dataclass(frozen=True)
class Row:
    """One row of a seed table: in these statuses (and when `condition` holds), these people."""

    statuses: str
    who: frozenset[str]
    condition: Callable[[dict[str, Any]], bool] | None = None


def every(object_type: str, who: frozenset[str]) -> tuple[Row, ...]:
    return (Row(STATUSES[object_type], who),)


EDIT: dict[str, tuple[Row, ...]] = {  # seed 002 table 1
    "ACCOUNT": (Row("ASSIGNED REPORTING", STANDARD, _approval_not_in_progress),),
    "CONTACT": (Row("NORMAL", STANDARD),),
    "SALES_LEAD": (Row("UNASSIGNED TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    "OPPORTUNITY": (Row("IN_PROGRESS CLOSE_WON CLOSE_LOST INVALID", STANDARD),),
    "VISIT": (Row("INCOMPLETE", STANDARD),),
    "SALES_ORDER": (
        Row("CONFIRMING", STANDARD | ORDER_ROLES, _first_confirmer_pending),
        Row("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        Row("CONFIRMING", ORDER_ROLES | {CURRENT_CONFIRMER}),
        Row("CONFIRMED SHIPPED RECEIVED", ORDER_ROLES),
    ),
    "RETURN_FORM": (
        Row("CONFIRMING", STANDARD | ORDER_ROLES, _first_confirmer_pending),
        Row("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        Row("CONFIRMING", ORDER_ROLES | {CURRENT_CONFIRMER}),
        Row("CONFIRMED", ORDER_ROLES),
    ),
    # the table's first "Refund" rows are the Payment's ("payment not received", "payback finance")
    "PAYMENT": (
        Row("NOT_RECEIVED REJECTED", STANDARD | {PAYMENT_FINANCE}),
        Row("RECEIVED", frozenset({PAYMENT_FINANCE})),
    ),
    "REFUND": (
        Row("NOT_REFUNDED REJECTED", STANDARD | {REFUND_FINANCE}),
        Row("REFUNDED", frozenset({REFUND_FINANCE})),
    ),
    "PRODUCT": (Row("ON_SHELF OFF_SHELF", STANDARD),),
    "CONTRACT": (Row("NORMAL", STANDARD),),
    "INVOICING_APPLICATION": (
        Row("UNBILLED REJECTED", STANDARD),
        Row("INVOICED", frozenset({INVOICE_FINANCE})),
    ),
    "CAMPAIGN": every("CAMPAIGN", STANDARD),
    "COMPETITOR": (Row("NORMAL", STANDARD),),  # NOT IN SEED
    "WORK_ORDER": every("WORK_ORDER", STANDARD),  # NOT IN SEED
}

CHANGE_OWNER: dict[str, tuple[Row, ...]] = {  # seed 002 table 2
    "ACCOUNT": (Row(STATUSES["ACCOUNT"], OWNER_SIDE, _not_in_highseas),),
    "CONTACT": (Row("NORMAL", OWNER_SIDE),),
    "SALES_LEAD": (Row("TO_BE_PROCESSED FOLLOWING_UP INVALID", OWNER_SIDE),),
    "OPPORTUNITY": every("OPPORTUNITY", OWNER_SIDE),
    "SALES_ORDER": every("SALES_ORDER", OWNER_SIDE | ORDER_ROLES),
    "RETURN_FORM": every("RETURN_FORM", OWNER_SIDE | {ORDER_ADMIN}),
    "PAYMENT": every("PAYMENT", OWNER_SIDE | {PAYMENT_FINANCE}),
    "REFUND": every("REFUND", OWNER_SIDE | {REFUND_FINANCE}),
    "PRODUCT": every("PRODUCT", OWNER_SIDE),
    "INVOICING_APPLICATION": every("INVOICING_APPLICATION", OWNER_SIDE | {INVOICE_FINANCE}),
    "CAMPAIGN": every("CAMPAIGN", OWNER_SIDE),
    "VISIT": every("VISIT", OWNER_SIDE),  # NOT IN SEED
    "CONTRACT": every("CONTRACT", OWNER_SIDE),  # NOT IN SEED
    "COMPETITOR": every("COMPETITOR", OWNER_SIDE),  # NOT IN SEED
    "WORK_ORDER": every("WORK_ORDER", OWNER_SIDE),  # NOT IN SEED
}

ADD_TEAM_MEMBER: dict[str, tuple[Row, ...]] = {  # seed 002 三
    "ACCOUNT": (Row("NOT_EFFECTIVE REPORTING ASSIGNED", STANDARD),),
    "CONTACT": (Row("NORMAL", STANDARD),),
    "SALES_LEAD": (Row("TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    **{
        t: every(t, STANDARD)
        for t in (
            "OPPORTUNITY",
            "SALES_ORDER",
            "RETURN_FORM",
            "PAYMENT",
            "REFUND",
            "PRODUCT",
            "INVOICING_APPLICATION",
            "CAMPAIGN",
        )
    },
    **{
        t: every(t, STANDARD) for t in ("VISIT", "CONTRACT", "COMPETITOR", "WORK_ORDER")
    },  # NOT IN SEED
}

INVALIDATE: dict[str, tuple[Row, ...]] = {  # seed 002 四
    "ACCOUNT": every("ACCOUNT", frozenset({OWNER, SUPERIOR})),
    "CONTACT": (Row("NORMAL", STANDARD),),
    "SALES_LEAD": (Row("TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    "OPPORTUNITY": every("OPPORTUNITY", STANDARD),
    "VISIT": every("VISIT", STANDARD),
    "SALES_ORDER": (
        Row("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        Row("CONFIRMED SHIPPED RECEIVED", ORDER_ROLES | {SHARED_RW}),
    ),
    "RETURN_FORM": (
        Row("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        Row("CONFIRMED", ORDER_ROLES | {SHARED_RW}),
    ),
    "PAYMENT": (
        Row("NOT_RECEIVED REJECTED", STANDARD | {PAYMENT_FINANCE}),
        Row("RECEIVED", frozenset({SHARED_RW, PAYMENT_FINANCE})),
    ),
    "REFUND": (
        Row("NOT_REFUNDED REJECTED", STANDARD | {REFUND_FINANCE}),
        Row("REFUNDED", frozenset({SHARED_RW, REFUND_FINANCE})),
    ),
    "PRODUCT": (Row("OFF_SHELF", STANDARD),),
    "INVOICING_APPLICATION": (
        Row("UNBILLED REJECTED", STANDARD | {INVOICE_FINANCE}),
        Row("INVOICED", frozenset({SHARED_RW, INVOICE_FINANCE})),
    ),
    "CAMPAIGN": every("CAMPAIGN", STANDARD),
    "COMPETITOR": (Row("NORMAL", OWNER_SIDE),),
    "CONTRACT": (Row("NORMAL", STANDARD),),  # NOT IN SEED
    "WORK_ORDER": every("WORK_ORDER", STANDARD),  # NOT IN SEED
}

TABLES = {
    "EDIT": EDIT,
    "CHANGE_OWNER": CHANGE_OWNER,
    "ADD_TEAM_MEMBER": ADD_TEAM_MEMBER,
    "INVALIDATE": INVALIDATE,
    # seed 八: forwarding needs only that the record can be read
    "FORWARD": {t: every(t, frozenset({READER})) for t in STATUSES},
}
# seed 五 and 七: restore and delete, CRM administrators only, invalid records only
RECYCLE_BIN = frozenset({CRM_ADMIN})

# The default function permissions the actions need (EDIT/CHANGE_OWNER/INVALIDATE on the type).
SALES_HOLDS = {
    "edit": set(STATUSES),
    "invalidate": set(STATUSES),
    "changeOwner": set(STATUSES) - {"PRODUCT"},  # Sales does not manage products
}
HOLDS: dict[str, dict[str, set[str]]] = {
    "SALES": SALES_HOLDS,
    **{
        role: {op: set(types) for op in ("edit", "invalidate", "changeOwner")}
        for role, types in (
            ("ORDER_ADMIN", {"SALES_ORDER", "RETURN_FORM"}),
            ("ORDER_FINANCE", {"SALES_ORDER", "RETURN_FORM"}),
            ("PAYMENT_FINANCE", {"PAYMENT"}),
            ("REFUND_FINANCE", {"REFUND"}),
            ("INVOICE_FINANCE", {"INVOICING_APPLICATION"}),
        )
    },
}
NEEDS = {"EDIT": "edit", "CHANGE_OWNER": "changeOwner", "INVALIDATE": "invalidate"}

# -- the relationships ---------------------------------------------------------------------------


Tie = Callable[["World", str, str, Situation], Awaitable[None]]
"""(world, record id, object type, situation): make the person what they are to the record,
once it is in the situation (e.g. put them in the order's confirmation nodes)."""


@dataclass(frozen=True)
class Relationship:
    """A person and what they are to every record of the walk. Owner, superiors, team members
    and sharing parties are tied by `record_at` and `build_world`; another relationship brings
    its own `tie`."""

    name: str
    is_: frozenset[str] = frozenset()  # what the seed's tables call them
    roles: tuple[str, ...] = ("SALES",)
    reads: frozenset[str] | None = None  # the object types they read; None: every one
    tie: Tie | None = None
    only_in: frozenset[str] | None = None  # the statuses the tie holds in; else they are no one


def role_user(role: str, label: str, reads: set[str]) -> Relationship:
    return Relationship(role, frozenset({label}), (role,), frozenset(reads))


async def current_confirmer(
    world: World, record: str, object_type: str, situation: Situation
) -> None:
    """The subject is the order's current confirmation node. `build_world` makes them the
    enterprise's confirmation chain, so a new order waits for them (and an order walked further
    was confirmed or rejected for them); after the first confirmation, the order is withdrawn
    and resubmitted to the first confirmer and them, and the first confirmer confirms."""
    if object_type not in CONFIRMED_TYPES or not situation.first_confirmed:
        return
    org, first = world.org, world.first_confirmer
    await org.transition(org.admin, record, "WITHDRAW")
    chain = [first.id, world.people["CONFIRMER"].id]
    await org.transition(org.admin, record, "RESUBMIT", confirmerIds=chain)
    await org.transition(first, record, "CONFIRM")


RELATIONSHIPS: list[Relationship] = [
    Relationship("OWNER", frozenset({OWNER})),
    Relationship("OWNER_SUPERIOR", frozenset({SUPERIOR})),
    Relationship("SHARED_RW", frozenset({SHARED_RW})),
    Relationship("SHARED_RO"),
    Relationship("TEAM_RW", frozenset({TEAM_RW})),
    Relationship("TEAM_RW_SUPERIOR", frozenset({TEAM_RW_SUPERIOR})),
    Relationship("TEAM_RO"),
    Relationship("TEAM_RO_SUPERIOR"),
    role_user("ORDER_ADMIN", ORDER_ADMIN, {"SALES_ORDER", "RETURN_FORM"}),
    role_user("ORDER_FINANCE", ORDER_FINANCE, {"SALES_ORDER", "RETURN_FORM"}),
    role_user("PAYMENT_FINANCE", PAYMENT_FINANCE, {"PAYMENT"}),
    role_user("REFUND_FINANCE", REFUND_FINANCE, {"REFUND"}),
    role_user("INVOICE_FINANCE", INVOICE_FINANCE, {"INVOICING_APPLICATION"}),
    Relationship(
        "CONFIRMER",
        frozenset({CURRENT_CONFIRMER}),
        reads=CONFIRMED_TYPES,
        tie=current_confirmer,
        only_in=frozenset({"CONFIRMING"}),
    ),
    Relationship("STRANGER", reads=frozenset()),
    Relationship("CRM_ADMIN", frozenset({CRM_ADMIN}), ("CRM_ADMIN", "SALES")),
]


def reads(rel: Relationship, object_type: str, status: str) -> bool:
    """Whether they read a record of the type in the status (a past or later confirmer of an
    order does not: only the current one)."""
    return (rel.reads is None or object_type in rel.reads) and (
        rel.only_in is None or status in rel.only_in
    )


def expected(
    rel: Relationship, action: str, object_type: str, status: str, values: dict[str, Any]
) -> bool:
    """What the seed's tables (and the default permissions) say, for a normal record."""
    if not reads(rel, object_type, status):
        return False
    if action in ("RESTORE", "DELETE"):
        return False  # only invalid records
    who = rel.is_ | {READER}
    if action in NEEDS and not any(
        object_type in HOLDS.get(role, {}).get(NEEDS[action], set()) or role == "CRM_ADMIN"
        for role in rel.roles
    ):
        return False
    return any(
        status in row.statuses.split()
        and (row.condition is None or row.condition(values))
        and who & row.who
        for row in TABLES[action][object_type]
    )


# -- the API -------------------------------------------------------------------------------------

RECORD = """
query($id: ID!) {
  record(id: $id) {
    status values owner { id }
    allowedActions { name kind }
    transitions { name inputs { name required } }
  }
}"""
CHANGE_OWNER_TO = """
mutation($id: ID!, $owner: ID!) { changeOwner(id: $id, newOwnerId: $owner) { id } }"""
REMOVE_MEMBER = """
mutation($id: ID!, $user: ID!) { removeTeamMember(recordId: $id, userId: $user) { id } }"""
INVALIDATE_RECORD = "mutation($id: ID!) { invalidateRecord(id: $id) { id } }"
RESTORE_RECORD = "mutation($id: ID!) { restoreRecord(id: $id) { id status } }"
DELETE_RECORD = "mutation($id: ID!) { deleteRecord(id: $id) }"
FORWARD_RECORD = "mutation($id: ID!, $to: [ID!]!) { forwardRecord(id: $id, toUserIds: $to) }"
TRANSITION = """
mutation($id: ID!, $t: String!, $input: JSON) {
  transitionRecord(id: $id, transition: $t, input: $input) { id status }
}"""
SET_CHAIN = """
mutation($type: ObjectType!, $ids: [ID!]!) {
  setConfirmationChain(objectType: $type, confirmerIds: $ids) { id }
}"""
DECLARED = (
    "{ objectTypes { objectType transitions { name fromStatuses inputs { name required } } } }"
)
REFUSED = {"FORBIDDEN", "CONFLICT"}
NAME = "A record of the table"  # every record's; an edit rewrites it


@dataclass
class World:
    org: Org
    people: dict[str, Person]
    extra: Person  # added to teams and forwarded to
    first_confirmer: Person  # confirms an order before CONFIRMER (`current_confirmer`)
    declared: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def admin(self) -> Person:
        return self.people["CRM_ADMIN"]


async def build_world(api: Api, object_type: str) -> World:
    org = await new_org(api)
    people: dict[str, Person] = {"CRM_ADMIN": org.admin}
    superiors = {
        "OWNER": "OWNER_SUPERIOR",
        "TEAM_RW": "TEAM_RW_SUPERIOR",
        "TEAM_RO": "TEAM_RO_SUPERIOR",
    }
    for rel in RELATIONSHIPS:  # superiors first: the others report to them
        if rel.name in superiors.values():
            people[rel.name] = await org.user(rel.name, roles=list(rel.roles))
    for rel in RELATIONSHIPS:
        if rel.name not in people:
            boss = people.get(superiors.get(rel.name, ""))
            people[rel.name] = await org.user(rel.name, superior=boss, roles=list(rel.roles))
    owner = people["OWNER"]
    await org.share(object_type, "READ_WRITE", fromUserId=owner.id, toUserId=people["SHARED_RW"].id)
    await org.share(object_type, "READ_ONLY", fromUserId=owner.id, toUserId=people["SHARED_RO"].id)
    extra = await org.user("Extra")
    first_confirmer = await org.user("First")
    if object_type in CONFIRMED_TYPES:  # a new order waits for CONFIRMER
        chain = {"type": object_type, "ids": [people["CONFIRMER"].id]}
        await api.ok(SET_CHAIN, chain, token=org.admin.token)
    data = await api.ok(DECLARED, token=org.admin.token)
    declared = {t["objectType"]: t["transitions"] for t in data["objectTypes"]}
    return World(org, people, extra, first_confirmer, declared)


async def record_at(world: World, object_type: str, situation: Situation) -> str:
    """A record owned by OWNER with its team, brought to the situation by the administrator
    through the transitions the API declares (an order is confirmed or rejected on behalf of
    its confirmer), then tied to each relationship that has a tie."""
    org, owner = world.org, world.people["OWNER"]
    record = await org.record(org.admin, object_type, NAME, owner=owner)
    start = (await org.get(org.admin, record) or {})["status"]
    path = await org.path(object_type, start, situation.status)
    members = [
        {
            "userId": world.people["TEAM_RW"].id,
            "teamRole": "REGULAR_MEMBER",
            "access": "READ_WRITE",
        },
        {"userId": world.people["TEAM_RO"].id, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"},
    ]

    async def add_team() -> bool:
        body = await org.api.raw(ADD_MEMBERS, {"id": record, "members": members}, owner.token)
        return not body.get("errors")

    added = await add_team()
    for step in path:
        await org.take(record, step, owner.id, "For the table.")
        if not added:
            added = await add_team()
    assert added, f"the team could not be added to a {object_type} on the way to {situation}"
    for rel in RELATIONSHIPS:
        if rel.tie is not None:
            await rel.tie(world, record, object_type, situation)
    return record


async def attempt(world: World, who: Person, action: str, record: str) -> tuple[bool, str | None]:
    """Try the action's mutation as `who`: (accepted, error code), undoing what it did."""
    api, admin, owner = world.org.api, world.admin, world.people["OWNER"]
    calls: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "EDIT": lambda: api.raw(UPDATE_RECORD, {"id": record, "values": {"name": NAME}}, who.token),
        "CHANGE_OWNER": lambda: api.raw(
            CHANGE_OWNER_TO,
            {"id": record, "owner": admin.id if who != admin else owner.id},
            who.token,
        ),
        "ADD_TEAM_MEMBER": lambda: api.raw(
            ADD_MEMBERS,
            {
                "id": record,
                "members": [
                    {"userId": world.extra.id, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"}
                ],
            },
            who.token,
        ),
        "INVALIDATE": lambda: api.raw(INVALIDATE_RECORD, {"id": record}, who.token),
        "RESTORE": lambda: api.raw(RESTORE_RECORD, {"id": record}, who.token),
        "DELETE": lambda: api.raw(DELETE_RECORD, {"id": record}, who.token),
        "FORWARD": lambda: api.raw(
            FORWARD_RECORD, {"id": record, "to": [world.extra.id]}, who.token
        ),
    }
    body = await calls[action]()
    if body.get("errors"):
        return False, body["errors"][0]["extensions"]["code"]
    if action == "CHANGE_OWNER":  # back to the owner, by the administrator now owning it
        await api.ok(CHANGE_OWNER_TO, {"id": record, "owner": owner.id}, admin.token)
    elif action == "ADD_TEAM_MEMBER":
        await api.ok(REMOVE_MEMBER, {"id": record, "user": world.extra.id}, who.token)
    elif action == "INVALIDATE":
        await api.ok(RESTORE_RECORD, {"id": record}, admin.token)
    assert action not in ("RESTORE", "DELETE"), "a normal record was restored or deleted"
    return True, None


ACTIONS = ["EDIT", "CHANGE_OWNER", "ADD_TEAM_MEMBER", "INVALIDATE", "RESTORE", "DELETE", "FORWARD"]


async def walk_status(world: World, object_type: str, situation: Situation) -> list[str]:
    """Every relationship x action on one record in the situation; the disagreements found."""
    org, status = world.org, situation.status
    record = await record_at(world, object_type, situation)
    seen_by_admin = await org.get(world.admin, record) or {}
    assert seen_by_admin["status"] == status
    values = seen_by_admin["values"]
    if object_type in CONFIRMED_TYPES and status == "CONFIRMING":
        assert bool(values.get("firstConfirmerConfirmed")) == situation.first_confirmed
        assert values.get("currentConfirmerId") == world.people["CONFIRMER"].id
    wrong: list[str] = []
    first_allowed: dict[str, Relationship] = {}
    declared = {t["name"]: t for t in world.declared[object_type] if status in t["fromStatuses"]}
    for rel in RELATIONSHIPS:
        who = world.people[rel.name]
        seen = (await org.api.ok(RECORD, {"id": record}, who.token))["record"]
        if not reads(rel, object_type, status):
            if seen is not None:
                wrong.append(f"{rel.name} reads a {object_type} {situation}")
            for action in ("EDIT", "FORWARD"):
                ok, code = await attempt(world, who, action, record)
                if ok or code != "NOT_FOUND":
                    wrong.append(
                        f"{rel.name} {action} {object_type} {situation}: {code or 'accepted'}"
                    )
            continue
        assert seen is not None, f"{rel.name} cannot read a {object_type} {situation}"
        offered = {a["name"] for a in seen["allowedActions"] if a["kind"] != "TRANSITION"}
        for action in ACTIONS:
            want = expected(rel, action, object_type, status, values)
            ok, code = await attempt(world, who, action, record)
            case = f"{rel.name} {action} {object_type} {situation}"
            if ok != want or (action in offered) != want:
                wrong.append(
                    f"{case}: seed {want}, mutation {ok} ({code}), listed {action in offered}"
                )
            elif not ok and code not in REFUSED:
                wrong.append(f"{case}: refused with {code}")
        moves = {a["name"] for a in seen["allowedActions"] if a["kind"] == "TRANSITION"}
        if moves != {t["name"] for t in seen["transitions"]}:
            wrong.append(
                f"{rel.name} {object_type} {situation}: allowedActions and transitions differ"
            )
        for name in declared:
            if name in moves:
                first_allowed.setdefault(name, rel)
                continue
            body = await org.api.raw(TRANSITION, {"id": record, "t": name, "input": {}}, who.token)
            code = body["errors"][0]["extensions"]["code"] if body.get("errors") else None
            if code not in REFUSED:
                wrong.append(f"{rel.name} {name} {object_type} {situation}: not listed, got {code}")
    for name, rel in first_allowed.items():  # listed: the mutation takes it (a fresh record)
        fresh = await record_at(world, object_type, situation)
        owner = world.people["OWNER"]
        given = {
            i["name"]: owner.id if i["name"] == "assigneeId" else "For the table."
            for i in declared[name]["inputs"]
            if i["required"]
        }
        body = await org.api.raw(
            TRANSITION, {"id": fresh, "t": name, "input": given}, world.people[rel.name].token
        )
        if body.get("errors"):
            wrong.append(
                f"{rel.name} {name} {object_type} {situation}: listed, refused {body['errors']}"
            )
    return wrong


async def walk_recycle_bin(world: World, object_type: str) -> list[str]:
    """An invalid record: only CRM administrators see it, restore it and delete it."""
    org, admin = world.org, world.admin
    status = next(  # the first status someone may invalidate from
        status
        for status in STATUSES[object_type].split()
        if any(row for row in INVALIDATE[object_type] if status in row.statuses.split())
    )
    record = await record_at(world, object_type, Situation(status))
    invalidator = next(
        world.people[rel.name]
        for rel in RELATIONSHIPS
        if expected(rel, "INVALIDATE", object_type, status, {"approvalStatus": None})
    )
    await org.invalidate(invalidator, record)
    wrong: list[str] = []
    for rel in RELATIONSHIPS:
        who = world.people[rel.name]
        seen = (await org.api.ok(RECORD, {"id": record}, who.token))["record"]
        admin_here = CRM_ADMIN in rel.is_
        if (seen is not None) != admin_here:
            wrong.append(f"{rel.name} reads an invalid {object_type}: {seen is not None}")
        if seen is not None:
            offered = {a["name"] for a in seen["allowedActions"]}
            if offered != ({"RESTORE", "DELETE"} if admin_here else set()):
                wrong.append(f"{rel.name} invalid {object_type}: offered {sorted(offered)}")
        if not admin_here:
            for action in ("RESTORE", "DELETE", "EDIT"):
                ok, code = await attempt(world, who, action, record)
                if ok or code != "NOT_FOUND":
                    wrong.append(f"{rel.name} {action} invalid {object_type}: {code or 'accepted'}")
    restored = await org.api.ok(RESTORE_RECORD, {"id": record}, admin.token)
    if restored["restoreRecord"]["status"] != status:
        wrong.append(
            f"restored {object_type} is {restored['restoreRecord']['status']}, not {status}"
        )
    await org.invalidate(invalidator, record)
    assert (await org.api.ok(DELETE_RECORD, {"id": record}, admin.token))["deleteRecord"] is True
    if await org.get(admin, record) is not None:
        wrong.append(f"a deleted {object_type} is still there")
    return wrong


POSTGRES_SAMPLE = ("SALES_ORDER", "PAYMENT")
"""The types walked on PostgreSQL too: the checker is the same code on both databases; what
differs is the SQL of the access facts and the visibility grants, which these two types'
relationships exercise (owner and superiors, sharing, teams, the current confirmer, the order
roles and a finance role). Every type is walked on SQLite."""
RECYCLE_BIN_PART = "RECYCLE_BIN"


def cases() -> list[Any]:
    """On SQLite one case per type (every situation, then the recycle bin); on PostgreSQL,
    where each request costs more, one case per situation of the sample's types and one for
    their recycle bin, so that parallel workers share the walk."""
    found = [
        pytest.param("sqlite", object_type, None, id=f"sqlite-{object_type}")
        for object_type in STATUSES
    ]
    found += [
        pytest.param("postgresql", object_type, part, id=f"postgresql-{object_type}-{part}")
        for object_type in POSTGRES_SAMPLE
        for part in [*(s.key for s in situations(object_type)), RECYCLE_BIN_PART]
    ]
    return [case for case in found if case.values[0] in DATABASES]


@pytest.mark.parametrize(
    ("services", "object_type", "part"), cases(), indirect=["services"], scope="session"
)
async def test_every_status_relationship_and_action_agrees_with_the_seed(
    api: Api, object_type: str, part: str | None
) -> None:
    """`part`: a situation's key, or the recycle bin; None: all of them."""
    world = await build_world(api, object_type)
    wrong: list[str] = []
    for situation in situations(object_type):
        if part in (None, situation.key):
            wrong += await walk_status(world, object_type, situation)
    if part in (None, RECYCLE_BIN_PART):
        wrong += await walk_recycle_bin(world, object_type)
    assert wrong == [], "\n".join(wrong)
