"""What an import may load: the records of an object type (resolvers/importing.py) or sales
records (resolvers/sales_record_import.py). The quick import, the background job, the
template and the CLI pick the importer, permission check and header names here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from crmfeed.registry.enums import ObjectType
from crmfeed.registry.objects import spec_for
from resolvers import sales_record_import
from resolvers.importing import Importer, known_headers
from resolvers.sales_record_import import SALES_RECORD, SalesRecordImporter
from resolvers.transfer_permissions import require_transfer_permission

if TYPE_CHECKING:
    from crmfeed.sheets import SheetReader
    from resolvers.field_access import FieldAccessMap
    from store.viewer import Viewer

ImportTarget = ObjectType | Literal["SALES_RECORD"]


def target_of(name: str) -> ImportTarget:
    """A job's stored `object_type` (or a template's name) as a target; ValueError if none."""
    return SALES_RECORD if name == SALES_RECORD else ObjectType(name)


def label_of(target: ImportTarget) -> str:
    return sales_record_import.LABEL if target == SALES_RECORD else spec_for(target).label


def require_import_permission(viewer: Viewer, target: ImportTarget) -> None:
    if isinstance(target, ObjectType):
        require_transfer_permission(viewer, target, "import")
    else:
        sales_record_import.require_import_permission(viewer)


def headers_of(target: ImportTarget) -> dict[str, str]:
    """Casefolded labels and keys -> the key of the column they name."""
    if isinstance(target, ObjectType):
        return known_headers(spec_for(target))
    return sales_record_import.known_headers()


def importer_for(
    viewer: Viewer,
    target: ImportTarget,
    access: FieldAccessMap,
    reader: SheetReader,
    *,
    update_existing: bool = False,
) -> Importer | SalesRecordImporter:
    if isinstance(target, ObjectType):
        return Importer(viewer, target, access, reader, update_existing=update_existing)
    return SalesRecordImporter(viewer, reader, update_existing=update_existing)
