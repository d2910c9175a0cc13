"""SQL of the print and mail templates (each enterprise's own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from store.record_page_tables import MailTemplate, PrintTemplate
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class NameTaken(Exception):
    """Another template of the enterprise (and object type) has the name."""


async def print_templates(
    session: AsyncSession, enterprise_id: int, object_type: str
) -> list[PrintTemplate]:
    rows = await session.scalars(
        select(PrintTemplate)
        .where(
            PrintTemplate.enterprise_id == enterprise_id, PrintTemplate.object_type == object_type
        )
        .order_by(PrintTemplate.name, PrintTemplate.id)
    )
    return list(rows)


async def print_template(
    session: AsyncSession, enterprise_id: int, template_id: int
) -> PrintTemplate | None:
    return await session.scalar(
        select(PrintTemplate).where(
            PrintTemplate.id == template_id, PrintTemplate.enterprise_id == enterprise_id
        )
    )


async def mail_templates(session: AsyncSession, enterprise_id: int) -> list[MailTemplate]:
    rows = await session.scalars(
        select(MailTemplate)
        .where(MailTemplate.enterprise_id == enterprise_id)
        .order_by(MailTemplate.name, MailTemplate.id)
    )
    return list(rows)


async def mail_template(
    session: AsyncSession, enterprise_id: int, template_id: int
) -> MailTemplate | None:
    return await session.scalar(
        select(MailTemplate).where(
            MailTemplate.id == template_id, MailTemplate.enterprise_id == enterprise_id
        )
    )


async def save(session: AsyncSession, row: PrintTemplate | MailTemplate, user_id: int) -> None:
    """Insert or update the template; NameTaken when the name is another one's."""
    row.updated_by_id = user_id
    row.updated_at = utcnow()
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise NameTaken from None


async def delete_template(
    session: AsyncSession,
    model: type[PrintTemplate] | type[MailTemplate],
    enterprise_id: int,
    template_id: int,
) -> bool:
    deleted = await session.execute(
        delete(model)
        .where(model.id == template_id, model.enterprise_id == enterprise_id)
        .returning(model.id)
    )
    return deleted.first() is not None
