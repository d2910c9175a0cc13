"""Who may print, call and mail a record: the one place that decides it.

The record's type must offer the action (crmfeed/registry/record_page.py); printing and
mailing also need the function permission `<Object>.print` / `<Object>.mail` of the caller's
roles (the per-enterprise role permissions). A call becomes a sales record, so logging one
needs `SalesRecord.create`, which the posting path checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.enums import ObjectType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.record_page import PAGE_ACTIONS, PageAction
from resolvers.checker import check_permission
from resolvers.errors import BadUserInput

if TYPE_CHECKING:
    from store.viewer import Viewer

PERMISSION = {PageAction.PRINT: ("print", "Printing"), PageAction.MAIL: ("mail", "Mailing")}
WHY_NOT = {
    PageAction.PRINT: "cannot be printed",
    PageAction.CALL: "have no phone field to call",
    PageAction.MAIL: "have no email field to mail",
}


def require_page_action(viewer: Viewer, object_type: str, action: PageAction) -> None:
    """Refuse the action on a record of `object_type` that the viewer has been found to read:
    BAD_USER_INPUT when the type does not offer it, FORBIDDEN (naming the permission) when the
    viewer's roles lack it."""
    if ObjectType(object_type) not in PAGE_ACTIONS[action]:
        raise BadUserInput(f"{spec_for(object_type).label} records {WHY_NOT[action]}.")
    if action in PERMISSION:
        operation, doing = PERMISSION[action]
        label = spec_for(object_type).label
        check_permission(viewer, object_type, operation, doing=f"{doing} {label} records")
