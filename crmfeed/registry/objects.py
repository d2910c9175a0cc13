"""The object registry: every business object type, declared once.

Each `ObjectSpec` names the type's fields (camelCase keys, the same keys as a record's `values`),
its statuses and default status, and the team roles its related team may use. The GraphQL record
types, `createRecord` / `updateRecord` validation and `objectTypes` are all generated from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmfeed.registry.enums import FieldType, ObjectType, TeamRole

F = FieldType
T = TeamRole


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an object: `options` for (multi-)selects, `target` for lookups."""

    name: str
    label: str
    type: FieldType
    required: bool = False
    options: tuple[str, ...] = ()
    target: ObjectType | None = None


def option_label(key: str) -> str:
    """An option key as people read it: COLD_CALL is "Cold call"."""
    return key.replace("_", " ").capitalize() if len(key) > 1 else key


@dataclass(frozen=True, slots=True)
class StatusSpec:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    object_type: ObjectType
    type_name: str
    label: str
    statuses: tuple[StatusSpec, ...]
    default_status: str
    team_roles: tuple[TeamRole, ...]
    fields: tuple[FieldSpec, ...]
    field_map: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_map", {f.name: f for f in self.fields})
        keys = [s.key for s in self.statuses]
        if self.default_status not in keys:
            raise ValueError(f"{self.type_name}: default status {self.default_status} unknown")

    @property
    def status_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.statuses)


NAME = FieldSpec("name", "Name", F.TEXT, required=True)
ALL_TEAM_ROLES = (T.OWNER, T.REGULAR_MEMBER, T.CO_FOLLOWER, T.AFTER_SALES)
BASIC_TEAM_ROLES = (T.OWNER, T.REGULAR_MEMBER)


def _statuses(*pairs: tuple[str, str]) -> tuple[StatusSpec, ...]:
    return tuple(StatusSpec(key, label) for key, label in pairs)


def _spec(
    object_type: ObjectType,
    type_name: str,
    label: str,
    statuses: tuple[StatusSpec, ...],
    default_status: str,
    fields: tuple[FieldSpec, ...],
    team_roles: tuple[TeamRole, ...] = BASIC_TEAM_ROLES,
) -> ObjectSpec:
    return ObjectSpec(
        object_type=object_type,
        type_name=type_name,
        label=label,
        statuses=statuses,
        default_status=default_status,
        team_roles=team_roles,
        fields=(NAME, *fields),
    )


APPROVAL = ("NOT_SUBMITTED", "IN_PROGRESS", "APPROVED", "REJECTED")
CONFIRMING = _statuses(
    ("CONFIRMING", "Confirming"),
    ("REJECTED", "Rejected"),
    ("WITHDRAWN", "Withdrawn"),
    ("CONFIRMED", "Confirmed"),
)
CONFIRMATION_FIELDS = (
    FieldSpec("currentConfirmerId", "Current confirmer", F.USER),
    FieldSpec("firstConfirmerConfirmed", "First confirmer has confirmed", F.BOOLEAN),
)

OBJECTS: tuple[ObjectSpec, ...] = (
    _spec(
        ObjectType.ACCOUNT,
        "Account",
        "Account",
        _statuses(
            ("NOT_EFFECTIVE", "Not effective"),
            ("REPORTING", "Reporting"),
            ("UNASSIGNED", "Unassigned"),
            ("ASSIGNED", "Assigned"),
        ),
        "ASSIGNED",
        (
            FieldSpec("accountNo", "Account number", F.TEXT),
            FieldSpec(
                "industry",
                "Industry",
                F.SELECT,
                options=("MANUFACTURING", "RETAIL", "FINANCE", "SOFTWARE", "HEALTHCARE", "OTHER"),
            ),
            FieldSpec("level", "Level", F.SELECT, options=("A", "B", "C")),
            FieldSpec("phone", "Phone", F.PHONE),
            FieldSpec("email", "Email", F.EMAIL),
            FieldSpec("website", "Website", F.URL),
            FieldSpec("address", "Address", F.LONG_TEXT),
            FieldSpec("approvalStatus", "Approval status", F.SELECT, options=APPROVAL),
            FieldSpec("inHighseas", "In highseas pool", F.BOOLEAN),
            FieldSpec("annualRevenue", "Annual revenue", F.CURRENCY),
        ),
        team_roles=ALL_TEAM_ROLES,
    ),
    _spec(
        ObjectType.CONTACT,
        "Contact",
        "Contact",
        _statuses(("NORMAL", "Normal")),
        "NORMAL",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec("title", "Job title", F.TEXT),
            FieldSpec("mobile", "Mobile", F.PHONE),
            FieldSpec("privatePhone", "Private phone", F.PHONE),
            FieldSpec("email", "Email", F.EMAIL),
            FieldSpec("birthday", "Birthday", F.DATE),
        ),
        team_roles=ALL_TEAM_ROLES,
    ),
    _spec(
        ObjectType.SALES_LEAD,
        "SalesLead",
        "Sales Lead",
        _statuses(
            ("UNASSIGNED", "Unassigned"),
            ("TO_BE_PROCESSED", "To be processed"),
            ("FOLLOWING_UP", "Following up"),
            ("INVALID", "Invalid"),
        ),
        "TO_BE_PROCESSED",
        (
            FieldSpec("company", "Company", F.TEXT),
            FieldSpec(
                "source",
                "Source",
                F.SELECT,
                options=("CAMPAIGN", "WEBSITE", "REFERRAL", "COLD_CALL", "OTHER"),
            ),
            FieldSpec("mobile", "Mobile", F.PHONE),
            FieldSpec("email", "Email", F.EMAIL),
            FieldSpec("campaignId", "Campaign", F.LOOKUP, target=ObjectType.CAMPAIGN),
            # Written by the Convert transition only (registry/transitions.py).
            FieldSpec(
                "convertedAccountId", "Converted to account", F.LOOKUP, target=ObjectType.ACCOUNT
            ),
            FieldSpec(
                "convertedContactId", "Converted to contact", F.LOOKUP, target=ObjectType.CONTACT
            ),
            FieldSpec(
                "convertedOpportunityId",
                "Converted to opportunity",
                F.LOOKUP,
                target=ObjectType.OPPORTUNITY,
            ),
        ),
    ),
    _spec(
        ObjectType.OPPORTUNITY,
        "Opportunity",
        "Opportunity",
        _statuses(
            ("IN_PROGRESS", "In progress"),
            ("CLOSE_WON", "Close won"),
            ("CLOSE_LOST", "Close lost"),
            ("INVALID", "Invalid"),
        ),
        "IN_PROGRESS",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec(
                "salesStage",
                "Sales stage",
                F.SELECT,
                options=("QUALIFICATION", "NEEDS_ANALYSIS", "PROPOSAL", "NEGOTIATION", "CLOSING"),
            ),
            FieldSpec("amount", "Amount", F.CURRENCY),
            FieldSpec("expectedCloseDate", "Expected close date", F.DATE),
            FieldSpec("probability", "Probability (%)", F.NUMBER),
        ),
        team_roles=(T.OWNER, T.REGULAR_MEMBER, T.CO_FOLLOWER),
    ),
    _spec(
        ObjectType.VISIT,
        "Visit",
        "Visit",
        _statuses(("INCOMPLETE", "Incomplete"), ("COMPLETED", "Completed")),
        "INCOMPLETE",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec("plannedAt", "Planned at", F.DATETIME),
            FieldSpec("purpose", "Purpose", F.LONG_TEXT),
        ),
    ),
    _spec(
        ObjectType.SALES_ORDER,
        "SalesOrder",
        "Sales Order",
        _statuses(
            ("CONFIRMING", "Confirming"),
            ("REJECTED", "Rejected"),
            ("WITHDRAWN", "Withdrawn"),
            ("CONFIRMED", "Confirmed"),
            ("SHIPPED", "Shipped"),
            ("RECEIVED", "Received"),
        ),
        "CONFIRMING",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec("opportunityId", "Opportunity", F.LOOKUP, target=ObjectType.OPPORTUNITY),
            FieldSpec("orderDate", "Order date", F.DATE),
            FieldSpec("amount", "Order amount", F.CURRENCY),
            FieldSpec("discount", "Discount", F.NUMBER),
            *CONFIRMATION_FIELDS,
        ),
        team_roles=(T.OWNER, T.REGULAR_MEMBER, T.AFTER_SALES),
    ),
    _spec(
        ObjectType.RETURN_FORM,
        "ReturnForm",
        "Return Form",
        CONFIRMING,
        "CONFIRMING",
        (
            FieldSpec("salesOrderId", "Sales order", F.LOOKUP, target=ObjectType.SALES_ORDER),
            FieldSpec("reason", "Reason", F.LONG_TEXT),
            FieldSpec("amount", "Return amount", F.CURRENCY),
            *CONFIRMATION_FIELDS,
        ),
    ),
    _spec(
        ObjectType.PAYMENT,
        "Payment",
        "Payment",
        _statuses(
            ("NOT_RECEIVED", "Not received"), ("REJECTED", "Rejected"), ("RECEIVED", "Received")
        ),
        "NOT_RECEIVED",
        (
            FieldSpec("salesOrderId", "Sales order", F.LOOKUP, target=ObjectType.SALES_ORDER),
            FieldSpec("amount", "Payment amount", F.CURRENCY),
            FieldSpec("paidOn", "Paid on", F.DATE),
            FieldSpec("method", "Method", F.SELECT, options=("TRANSFER", "CASH", "CARD", "CHECK")),
        ),
    ),
    _spec(
        ObjectType.REFUND,
        "Refund",
        "Refund",
        _statuses(
            ("NOT_REFUNDED", "Not refunded"), ("REJECTED", "Rejected"), ("REFUNDED", "Refunded")
        ),
        "NOT_REFUNDED",
        (
            FieldSpec("salesOrderId", "Sales order", F.LOOKUP, target=ObjectType.SALES_ORDER),
            FieldSpec("amount", "Refund amount", F.CURRENCY),
            FieldSpec("refundedOn", "Refunded on", F.DATE),
        ),
    ),
    _spec(
        ObjectType.PRODUCT,
        "Product",
        "Product",
        _statuses(("ON_SHELF", "On shelf"), ("OFF_SHELF", "Off shelf")),
        "ON_SHELF",
        (
            FieldSpec("productCode", "Product code", F.TEXT),
            FieldSpec("unitPrice", "Unit price", F.CURRENCY),
            FieldSpec("unit", "Unit", F.SELECT, options=("PIECE", "BOX", "HOUR", "LICENSE")),
            FieldSpec("description", "Description", F.LONG_TEXT),
        ),
    ),
    _spec(
        ObjectType.CONTRACT,
        "Contract",
        "Contract",
        _statuses(("NORMAL", "Normal")),
        "NORMAL",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec("contractNo", "Contract number", F.TEXT),
            FieldSpec("amount", "Contract amount", F.CURRENCY),
            FieldSpec("startsOn", "Starts on", F.DATE),
            FieldSpec("endsOn", "Ends on", F.DATE),
        ),
    ),
    _spec(
        ObjectType.INVOICING_APPLICATION,
        "InvoicingApplication",
        "Invoicing Application",
        _statuses(("UNBILLED", "Unbilled"), ("REJECTED", "Rejected"), ("INVOICED", "Invoiced")),
        "UNBILLED",
        (
            FieldSpec("salesOrderId", "Sales order", F.LOOKUP, target=ObjectType.SALES_ORDER),
            FieldSpec("amount", "Invoice amount", F.CURRENCY),
            FieldSpec("invoiceType", "Invoice type", F.SELECT, options=("NORMAL", "SPECIAL")),
            FieldSpec("taxNumber", "Tax number", F.TEXT),
        ),
    ),
    _spec(
        ObjectType.CAMPAIGN,
        "Campaign",
        "Campaign",
        _statuses(
            ("PLANNED", "Planned"),
            ("IN_PROGRESS", "In progress"),
            ("CLOSED", "Closed"),
            ("TERMINATED", "Terminated"),
        ),
        "PLANNED",
        (
            FieldSpec(
                "campaignType",
                "Type",
                F.SELECT,
                options=("EXHIBITION", "WEBINAR", "EMAIL", "ADVERTISING", "OTHER"),
            ),
            FieldSpec("startsOn", "Starts on", F.DATE),
            FieldSpec("endsOn", "Ends on", F.DATE),
            FieldSpec("budget", "Budget", F.CURRENCY),
            FieldSpec(
                "channels", "Channels", F.MULTI_SELECT, options=("ONLINE", "OFFLINE", "PARTNER")
            ),
        ),
    ),
    _spec(
        ObjectType.COMPETITOR,
        "Competitor",
        "Competitor",
        _statuses(("NORMAL", "Normal")),
        "NORMAL",
        (
            FieldSpec("website", "Website", F.URL),
            FieldSpec("strengths", "Strengths", F.LONG_TEXT),
            FieldSpec("weaknesses", "Weaknesses", F.LONG_TEXT),
        ),
    ),
    _spec(
        ObjectType.WORK_ORDER,
        "WorkOrder",
        "Work Order",
        _statuses(
            ("NEW", "New"),
            ("PROCESSING", "Processing"),
            ("RESOLVED", "Resolved"),
            ("CLOSED", "Closed"),
        ),
        "NEW",
        (
            FieldSpec("accountId", "Account", F.LOOKUP, target=ObjectType.ACCOUNT),
            FieldSpec(
                "priority", "Priority", F.SELECT, options=("LOW", "NORMAL", "HIGH", "URGENT")
            ),
            FieldSpec("description", "Description", F.LONG_TEXT),
            FieldSpec("dueAt", "Due at", F.DATETIME),
        ),
        team_roles=(T.OWNER, T.REGULAR_MEMBER, T.AFTER_SALES),
    ),
)

REGISTRY: dict[ObjectType, ObjectSpec] = {spec.object_type: spec for spec in OBJECTS}
BY_TYPE_NAME: dict[str, ObjectSpec] = {spec.type_name: spec for spec in OBJECTS}


def spec_for(object_type: ObjectType | str) -> ObjectSpec:
    return REGISTRY[ObjectType(object_type)]


DUPLICATE_KEYS: dict[ObjectType, tuple[tuple[str, ...], ...]] = {
    ObjectType.ACCOUNT: (("name",),),
    ObjectType.CONTACT: (("mobile",), ("email",)),
    ObjectType.SALES_LEAD: (("company", "mobile"),),
    ObjectType.PRODUCT: (("productCode",),),
    ObjectType.CONTRACT: (("contractNo",),),
    ObjectType.CAMPAIGN: (("name",),),
    ObjectType.COMPETITOR: (("name",),),
}
"""The fields that make two records of a type the same one, for imports: each tuple is one key
(a record duplicates another when all the key's fields are given and equal, ignoring case and
surrounding spaces); a type not listed has none."""
