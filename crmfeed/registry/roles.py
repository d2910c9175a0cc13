"""Function roles (preset in every enterprise) and the function permissions each grants.

Permissions are strings `<Object>.<operation>`, e.g. `SalesRecord.create`, `Account.export`,
`Account.changeOwner`. CRM administrators hold every permission.
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
