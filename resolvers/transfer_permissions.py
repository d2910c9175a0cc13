"""Who may import or export records of a type: the function permissions of the caller's roles
(per enterprise, resolvers/checker.py). Importing needs `<Object>.import` and, as it creates
records, `<Object>.create`; exporting needs `<Object>.export`; exporting follow-up activity
needs `SalesRecord.export`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.objects import spec_for
from resolvers.checker import check_permission

if TYPE_CHECKING:
    from crmfeed.registry.enums import ObjectType
    from store.viewer import Viewer

NEEDED = {"import": ("import", "create"), "export": ("export",)}
DOING = {"import": "Importing", "export": "Exporting"}


def require_transfer_permission(viewer: Viewer, object_type: ObjectType, operation: str) -> None:
    """FORBIDDEN naming the missing function permission (`operation`: import or export)."""
    doing = f"{DOING[operation]} {spec_for(object_type).label} records"
    for needed in NEEDED[operation]:
        check_permission(viewer, object_type, needed, doing=doing)


def require_feed_export_permission(viewer: Viewer) -> None:
    """Exporting follow-up activity needs `SalesRecord.export`."""
    check_permission(viewer, "SalesRecord", "export", doing="Exporting follow-up activity")
