"""Function roles (preset in every enterprise) and the object types whose records each may
read. The function permissions each role grants are in `permissions.py` (`permission` is
re-exported here for the modules that name one).

A role's read scope (`READ_SCOPES`) opens every normal record of those object types in the
enterprise to its holders, whoever owns it, and the follow-up activity of those records too:
the finance and order roles must reach the orders, payments, refunds and invoicing applications
that the action tables name them for. Reading is all a scope grants; what a holder may then do
is the action tables' business (`crmfeed.registry.actions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.permissions import permission as permission

if TYPE_CHECKING:
    from collections.abc import Iterable

R = FunctionRole
O = ObjectType  # noqa: E741

ROLE_LABELS: dict[FunctionRole, str] = {
    R.CRM_ADMIN: "CRM Administrator",
    R.SALES: "Sales",
    R.ORDER_ADMIN: "Order Administrator",
    R.ORDER_FINANCE: "Order Finance",
    R.PAYMENT_FINANCE: "Payment Finance",
    R.REFUND_FINANCE: "Refund Finance",
    R.INVOICE_FINANCE: "Invoice Finance",
}


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
