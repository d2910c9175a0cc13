"""Who may print, call and mail a record: the one place that decides it.

Today's rule: whoever may read the record may print it, log a call on it and mail it, on the
object types that offer the action (crmfeed/registry/record_page.py). Function permissions
(`<Object>.print`, `<Object>.mail`) as data per role will decide here instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.enums import ObjectType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.record_page import PAGE_ACTIONS, PageAction
from resolvers.errors import BadUserInput

if TYPE_CHECKING:
    from store.viewer import Viewer

WHY_NOT = {
    PageAction.PRINT: "cannot be printed",
    PageAction.CALL: "have no phone field to call",
    PageAction.MAIL: "have no email field to mail",
}


def require_page_action(viewer: Viewer, object_type: str, action: PageAction) -> None:
    """Refuse the action on a record of `object_type` that the viewer has been found to read.

    `viewer` is unused by today's rule (reading is enough) and is what a permission check
    needs."""
    del viewer
    if ObjectType(object_type) not in PAGE_ACTIONS[action]:
        raise BadUserInput(f"{spec_for(object_type).label} records {WHY_NOT[action]}.")
