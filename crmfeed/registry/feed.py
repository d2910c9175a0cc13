"""Feed item types and the CRM Information scenes (seed 000, 001), declared as data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crmfeed.registry.enums import ObjectType

O = ObjectType  # noqa: E741
MAX_CONTENT = 10_000
MAX_MENTIONS = 25


class FeedItemType(StrEnum):
    SALES_RECORD = "SALES_RECORD"
    SERVICE_RECORD = "SERVICE_RECORD"
    SALES_PROCESS = "SALES_PROCESS"
    FIELDWORK_SIGN_IN = "FIELDWORK_SIGN_IN"
    REPORT = "REPORT"
    POST = "POST"
    APPROVAL = "APPROVAL"
    TASK = "TASK"
    CALENDAR = "CALENDAR"
    INSTRUCTION = "INSTRUCTION"


@dataclass(frozen=True, slots=True)
class ItemTypeSpec:
    """`permission`: the function permission posting needs; `related_types`: at least one
    related record must be of these types; `needs_record`: at least one related record."""

    label: str
    postable: bool = True
    permission: str | None = None
    needs_record: bool = False
    related_types: frozenset[ObjectType] = frozenset()


ITEM_TYPES: dict[FeedItemType, ItemTypeSpec] = {
    FeedItemType.SALES_RECORD: ItemTypeSpec(
        "Sales record", permission="SalesRecord.create", needs_record=True
    ),
    FeedItemType.SERVICE_RECORD: ItemTypeSpec(
        "Service record",
        permission="ServiceRecord.create",
        needs_record=True,
        related_types=frozenset({O.WORK_ORDER, O.ACCOUNT}),
    ),
    FeedItemType.SALES_PROCESS: ItemTypeSpec("Sales process", postable=False),
    FeedItemType.FIELDWORK_SIGN_IN: ItemTypeSpec(
        "Fieldwork sign-in",
        needs_record=True,
        related_types=frozenset({O.ACCOUNT, O.CONTACT}),
    ),
    FeedItemType.REPORT: ItemTypeSpec("Report"),
    FeedItemType.POST: ItemTypeSpec("Post"),
    FeedItemType.APPROVAL: ItemTypeSpec("Approval"),
    FeedItemType.TASK: ItemTypeSpec("Task", postable=False),
    FeedItemType.CALENDAR: ItemTypeSpec("Calendar", postable=False),
    FeedItemType.INSTRUCTION: ItemTypeSpec("Instruction"),
}


class FeedScene(StrEnum):
    WORK = "WORK"
    MY_ACCOUNTS = "MY_ACCOUNTS"
    MY_CONTACTS = "MY_CONTACTS"
    MY_OPPORTUNITIES = "MY_OPPORTUNITIES"
    MY_SALES_LEADS = "MY_SALES_LEADS"
    SUBORDINATES_TEAM_ACCOUNTS = "SUBORDINATES_TEAM_ACCOUNTS"
    SUBORDINATES_RECORDS = "SUBORDINATES_RECORDS"
    MY_DEPARTMENTS_RECORDS = "MY_DEPARTMENTS_RECORDS"


class SceneRelation(StrEnum):
    """How a scene's records relate to the viewer."""

    OWNED_BY_ME = "OWNED_BY_ME"
    TEAM_HAS_MY_SUBORDINATE = "TEAM_HAS_MY_SUBORDINATE"
    OWNED_BY_MY_SUBORDINATE = "OWNED_BY_MY_SUBORDINATE"
    OWNED_IN_MY_DEPARTMENTS = "OWNED_IN_MY_DEPARTMENTS"


@dataclass(frozen=True, slots=True)
class SceneSpec:
    label: str
    relation: SceneRelation
    object_types: frozenset[ObjectType]


ACCOUNT_CONTACT_OPPORTUNITY = frozenset({O.ACCOUNT, O.CONTACT, O.OPPORTUNITY})
R = SceneRelation
SCENES: dict[FeedScene, SceneSpec] = {
    FeedScene.MY_ACCOUNTS: SceneSpec(
        "CRM Information of My Responsible Accounts", R.OWNED_BY_ME, frozenset({O.ACCOUNT})
    ),
    FeedScene.MY_CONTACTS: SceneSpec(
        "CRM Information of My Responsible Contacts", R.OWNED_BY_ME, frozenset({O.CONTACT})
    ),
    FeedScene.MY_OPPORTUNITIES: SceneSpec(
        "CRM Information of My Responsible Opportunities",
        R.OWNED_BY_ME,
        frozenset({O.OPPORTUNITY}),
    ),
    FeedScene.MY_SALES_LEADS: SceneSpec(
        "CRM Information of My Responsible Sales Leads", R.OWNED_BY_ME, frozenset({O.SALES_LEAD})
    ),
    FeedScene.SUBORDINATES_TEAM_ACCOUNTS: SceneSpec(
        "CRM Information of Accounts My Subordinates Follow up or Serve",
        R.TEAM_HAS_MY_SUBORDINATE,
        frozenset({O.ACCOUNT}),
    ),
    FeedScene.SUBORDINATES_RECORDS: SceneSpec(
        "CRM Information of My Subordinates' Responsible Business",
        R.OWNED_BY_MY_SUBORDINATE,
        ACCOUNT_CONTACT_OPPORTUNITY,
    ),
    FeedScene.MY_DEPARTMENTS_RECORDS: SceneSpec(
        "CRM Information of My Responsible Departments",
        R.OWNED_IN_MY_DEPARTMENTS,
        ACCOUNT_CONTACT_OPPORTUNITY,
    ),
}
