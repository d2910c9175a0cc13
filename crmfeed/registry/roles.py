"""Function roles (preset in every enterprise), the function permissions each grants, and the
object types whose records each may read.

Permissions are strings `<Object>.<operation>`, e.g. `SalesRecord.create`, `Account.export`,
`Account.changeOwner`. CRM administrators hold every permission.

A role's read scope (`READ_SCOPES`) opens every normal record of those object types in the
enterprise to its holders, whoever owns it, and the follow-up activity of those records too:
the finance and order roles must reach the orders, payments, refunds and invoicing applications
that the action tables name them for. Reading is all a scope grants; what a holder may then do
is the action tables' business (`crmfeed.registry.actions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.objects import OBJECTS, REGISTRY

if TYPE_CHECKING:
    from collections.abc import Iterable

R = FunctionRole
O = ObjectType  # noqa: E741

OPERATIONS = ("create", "import", "export", "changeOwner")
SALES_RECORD = "SalesRecord"
SERVICE_RECORD = "ServiceRecord"

ROLE_LABELS: dict[FunctionRole, str] = {
    R.CRM_ADMIN: "CRM Administrator",
    R.SALES: "Sales",
    R.ORDER_ADMIN: "Order Administrator",
    R.ORDER_FINANCE: "Order Finance",
    R.PAYMENT_FINANCE: "Payment Finance",
    R.REFUND_FINANCE: "Refund Finance",
    R.INVOICE_FINANCE: "Invoice Finance",
}


def permission(object_type: ObjectType | str, operation: str) -> str:
    """The permission string for an operation on an object type (or `SalesRecord`)."""
    name = REGISTRY[O(object_type)].type_name if object_type in O.__members__ else object_type
    return f"{name}.{operation}"


def _grant(objects: Iterable[ObjectType], operations: Iterable[str]) -> frozenset[str]:
    return frozenset(permission(o, op) for o in objects for op in operations)


SALES_OBJECTS = tuple(o for o in O if o is not O.PRODUCT)
ALL_PERMISSIONS = (
    _grant((s.object_type for s in OBJECTS), OPERATIONS)
    | {permission(SALES_RECORD, op) for op in ("create", "import", "export")}
    | {permission(SERVICE_RECORD, "create")}
)

ROLE_PERMISSIONS: dict[FunctionRole, frozenset[str]] = {
    R.CRM_ADMIN: ALL_PERMISSIONS,
    R.SALES: _grant(SALES_OBJECTS, ("create", "changeOwner"))
    | _grant((O.ACCOUNT, O.CONTACT, O.SALES_LEAD, O.OPPORTUNITY), ("import", "export"))
    | {permission(SALES_RECORD, "create"), permission(SALES_RECORD, "export")}
    | {permission(SERVICE_RECORD, "create")},
    R.ORDER_ADMIN: _grant((O.SALES_ORDER, O.RETURN_FORM), OPERATIONS)
    | {permission(SALES_RECORD, "create")},
    R.ORDER_FINANCE: _grant((O.SALES_ORDER, O.RETURN_FORM), ("export", "changeOwner"))
    | {permission(SALES_RECORD, "create")},
    R.PAYMENT_FINANCE: _grant((O.PAYMENT,), OPERATIONS) | {permission(SALES_RECORD, "create")},
    R.REFUND_FINANCE: _grant((O.REFUND,), OPERATIONS) | {permission(SALES_RECORD, "create")},
    R.INVOICE_FINANCE: _grant((O.INVOICING_APPLICATION,), OPERATIONS)
    | {permission(SALES_RECORD, "create")},
}


def permissions_of(roles: Iterable[FunctionRole]) -> frozenset[str]:
    """Every permission granted by any of the roles."""
    granted: frozenset[str] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


READ_SCOPES: dict[FunctionRole, frozenset[ObjectType]] = {
    R.ORDER_ADMIN: frozenset({O.SALES_ORDER, O.RETURN_FORM}),
    R.ORDER_FINANCE: frozenset({O.SALES_ORDER, O.RETURN_FORM}),
    R.PAYMENT_FINANCE: frozenset({O.PAYMENT}),
    R.REFUND_FINANCE: frozenset({O.REFUND}),
    R.INVOICE_FINANCE: frozenset({O.INVOICING_APPLICATION}),
}
"""Object types whose records a role may read, whoever owns them (roles not listed: none; a
CRM administrator reads everything anyway)."""


def read_scope(roles: Iterable[FunctionRole]) -> frozenset[ObjectType]:
    """Every object type the roles' read scopes cover."""
    covered: frozenset[ObjectType] = frozenset()
    for role in roles:
        covered |= READ_SCOPES.get(role, frozenset())
    return covered


def roles_reading(
    roles: Iterable[FunctionRole], object_type: ObjectType | str
) -> list[FunctionRole]:
    """Those of the roles whose read scope covers the object type, in the enum's order."""
    held, wanted = set(roles), O(object_type)
    return [role for role in R if role in held and wanted in READ_SCOPES.get(role, ())]
