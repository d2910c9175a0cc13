"""Invalidating a record (into the recycle bin), restoring it, deleting it for good.

Each is one record action (`record_actions.act`) whose only gate is its registry rule
(`crmfeed.registry.actions`): the recycle bin's restore and delete rules name the CRM
administrator, and a record in the bin is readable by nobody else, so others get NOT_FOUND.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.actions import Action
from crmfeed.registry.enums import LifeStatus, ObjectType
from resolvers import checker
from resolvers.errors import Conflict
from resolvers.inputs import parse_id
from resolvers.record_actions import Sent, act
from store import records

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.checker import Standing
    from resolvers.context import Context
    from store.models import Record
    from store.viewer import Viewer


def _gate(action: Action) -> Callable[[Record, Standing], None]:
    def gate(record: Record, who: Standing) -> None:
        checker.check(action, record, who)

    return gate


def _invalidate_gate(record: Record, who: Standing) -> None:
    if record.life_status == LifeStatus.INVALID:
        raise Conflict("This record is already invalid (in the recycle bin).")
    checker.check(Action.INVALIDATE, record, who)


async def invalidate(context: Context, record_id: str) -> Record:
    async def apply(_: AsyncSession, __: Viewer, record: Record) -> Sent:
        record.status_before_invalid = record.status
        record.life_status = LifeStatus.INVALID.value
        return []

    return await act(context, record_id, _invalidate_gate, apply)


async def restore(context: Context, record_id: str) -> Record:
    async def apply(session: AsyncSession, viewer: Viewer, record: Record) -> Sent:
        await _check_sales_order_alive(session, viewer, record)
        record.status = record.status_before_invalid or record.status
        record.status_before_invalid = None
        record.life_status = LifeStatus.NORMAL.value
        return []

    return await act(context, record_id, _gate(Action.RESTORE), apply)


async def delete(context: Context, record_id: str) -> bool:
    async def apply(session: AsyncSession, _: Viewer, record: Record) -> Sent:
        await session.delete(record)
        return []

    await act(context, record_id, _gate(Action.DELETE), apply, touch=False)
    return True


RESTORE_NEEDS_ORDER = {
    ObjectType.PAYMENT,
    ObjectType.REFUND,
    ObjectType.INVOICING_APPLICATION,
    ObjectType.RETURN_FORM,
}


async def _check_sales_order_alive(session: AsyncSession, viewer: Viewer, record: Record) -> None:
    """A payment, refund, invoicing application or return form whose sales order is invalid
    or deleted cannot be restored."""
    if ObjectType(record.object_type) not in RESTORE_NEEDS_ORDER:
        return
    order_id = (record.values or {}).get("salesOrderId")
    if not order_id:
        return
    order = await records.readable_record(session, viewer, parse_id(order_id, Kind.RECORD, "id"))
    if order is None or order.life_status != LifeStatus.NORMAL:
        raise Conflict(
            "This record's sales order is invalid or deleted; restore the sales order first."
        )
