"""Who may import or export records of a type: the one place that decides it.

Today it reads the function permissions the caller's roles grant (crmfeed/registry/roles.py):
importing needs `<Object>.import` and, as it creates records, `<Object>.create`; exporting
needs `<Object>.export`. When function permissions become per-enterprise data, only the body
of `require_transfer_permission` changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.registry.objects import spec_for
from crmfeed.registry.roles import permission
from resolvers.errors import Forbidden

if TYPE_CHECKING:
    from crmfeed.registry.enums import ObjectType
    from store.viewer import Viewer

NEEDED = {"import": ("import", "create"), "export": ("export",)}


def require_transfer_permission(viewer: Viewer, object_type: ObjectType, operation: str) -> None:
    """FORBIDDEN naming the missing function permission (`operation`: import or export)."""
    for needed in NEEDED[operation]:
        name = permission(object_type, needed)
        if name not in viewer.permissions:
            verb = "Importing" if operation == "import" else "Exporting"
            raise Forbidden(
                f"{verb} {spec_for(object_type).label} records needs the function "
                f"permission {name}."
            )


def require_feed_export_permission(viewer: Viewer) -> None:
    """Exporting follow-up activity needs `SalesRecord.export`."""
    name = permission("SalesRecord", "export")
    if name not in viewer.permissions:
        raise Forbidden(f"Exporting follow-up activity needs the function permission {name}.")
