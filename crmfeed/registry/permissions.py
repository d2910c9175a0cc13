"""Function permissions: what each role may do at all, whatever the record (seed 002, FAQ 9).

A permission is `<Object>.<operation>` (`Account.edit`, `SalesOrder.changeOwner`,
`SalesRecord.create`). The record actions' rules (`actions.py`) say who may act on a record in
which status; a permission named in `ACTION_PERMISSIONS` must be held as well: an Account owner
whose roles lack `Account.edit` cannot edit it, Order Finance without `SalesOrder.changeOwner`
cannot change an order's owner (the note under seed table 2), an owner without
`SalesRecord.create` cannot post a sales record on their account (FAQ 9).

Permissions are stored per enterprise and role (`role_permissions`), seeded with `DEFAULTS`
when an enterprise is registered (and by migration 0010 for the enterprises before it), and
edited by CRM administrators (`setRolePermission`). A CRM administrator holds every permission,
always: that role's permissions are not stored and cannot be taken away. A custom role starts
with none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.actions import Action
from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.objects import OBJECTS, REGISTRY

if TYPE_CHECKING:
    from collections.abc import Iterable

R = FunctionRole
O = ObjectType  # noqa: E741

OPERATIONS = ("create", "edit", "changeOwner", "invalidate", "import", "export", "print", "mail")
"""Every operation a business object has a permission for."""

SALES_RECORD = "SalesRecord"
SERVICE_RECORD = "ServiceRecord"
ACTIVITY_OPERATIONS: dict[str, tuple[str, ...]] = {
    SALES_RECORD: ("create", "import", "export"),
    SERVICE_RECORD: ("create",),
}

ACTION_PERMISSIONS: dict[Action, str] = {
    Action.EDIT: "edit",
    Action.CHANGE_OWNER: "changeOwner",
    Action.INVALIDATE: "invalidate",
}
"""Record actions that need a function permission (the operation on the record's type) on top
of their rule; the others (team, restore, delete, forward) need none."""


def permission(object_type: ObjectType | str, operation: str) -> str:
    """The permission string for an operation on an object type (or `SalesRecord`)."""
    name = REGISTRY[O(object_type)].type_name if object_type in O.__members__ else object_type
    return f"{name}.{operation}"


def _grant(objects: Iterable[ObjectType], operations: Iterable[str]) -> frozenset[str]:
    return frozenset(permission(o, op) for o in objects for op in operations)


ALL_PERMISSIONS: tuple[str, ...] = tuple(
    [permission(spec.object_type, op) for spec in OBJECTS for op in OPERATIONS]
    + [permission(kind, op) for kind, ops in ACTIVITY_OPERATIONS.items() for op in ops]
)
"""Every permission there is, in a stable order (object by object)."""

SALES_OBJECTS = tuple(o for o in O if o is not O.PRODUCT)
LEADS_AND_ACCOUNTS = (O.ACCOUNT, O.CONTACT, O.SALES_LEAD, O.OPPORTUNITY)
MAILED = (O.SALES_LEAD, O.ACCOUNT, O.CONTACT)  # seed 13: mail from these objects' pages
FINANCE = ("create", "edit", "changeOwner", "invalidate", "import", "export", "print")
POST = frozenset({permission(SALES_RECORD, "create")})

DEFAULTS: dict[FunctionRole, frozenset[str]] = {
    R.CRM_ADMIN: frozenset(ALL_PERMISSIONS),
    R.SALES: _grant(SALES_OBJECTS, ("create", "changeOwner"))
    | _grant(O, ("edit", "invalidate", "print"))
    | _grant(LEADS_AND_ACCOUNTS, ("import", "export"))
    | _grant(MAILED, ("mail",))
    | {permission(SALES_RECORD, "create"), permission(SALES_RECORD, "export")}
    | {permission(SERVICE_RECORD, "create")},
    R.ORDER_ADMIN: _grant((O.SALES_ORDER, O.RETURN_FORM), FINANCE) | POST,
    R.ORDER_FINANCE: _grant(
        (O.SALES_ORDER, O.RETURN_FORM), ("edit", "changeOwner", "invalidate", "export", "print")
    )
    | POST,
    R.PAYMENT_FINANCE: _grant((O.PAYMENT,), FINANCE) | POST,
    R.REFUND_FINANCE: _grant((O.REFUND,), FINANCE) | POST,
    R.INVOICE_FINANCE: _grant((O.INVOICING_APPLICATION,), FINANCE) | POST,
}
"""Each preset role's permissions in a new enterprise: every permission the action tables need
for the rules that name the role (the finance roles edit, invalidate and change the owner of
their records), and what a CRM user expects besides (Sales creates everything but products)."""

STORED_ROLES = tuple(role for role in R if role is not R.CRM_ADMIN)
"""Preset roles whose permissions are stored (and editable)."""


def defaults_of(roles: Iterable[FunctionRole]) -> frozenset[str]:
    """Every permission the roles grant by default."""
    granted: frozenset[str] = frozenset()
    for role in roles:
        granted |= DEFAULTS[role]
    return granted


def default_rows() -> list[tuple[str, str]]:
    """(role, permission) for every default grant that is stored, in a stable order."""
    return [
        (role.value, name)
        for role in STORED_ROLES
        for name in ALL_PERMISSIONS
        if name in DEFAULTS[role]
    ]


if set(DEFAULTS) != set(R) or any(d - set(ALL_PERMISSIONS) for d in DEFAULTS.values()):
    raise RuntimeError("permissions: every role needs defaults, and only known permissions")
