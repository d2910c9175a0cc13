"""Field-level security rules: per object field and role, HIDDEN, READ_ONLY or READ_WRITE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from store.models import FieldAccessRule

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession


async def set_rule(
    session: AsyncSession, enterprise_id: int, object_type: str, field: str, role: str, access: str
) -> None:
    rule = await session.scalar(
        select(FieldAccessRule).where(
            FieldAccessRule.enterprise_id == enterprise_id,
            FieldAccessRule.object_type == object_type,
            FieldAccessRule.field == field,
            FieldAccessRule.role == role,
        )
    )
    if rule is None:
        session.add(
            FieldAccessRule(
                enterprise_id=enterprise_id,
                object_type=object_type,
                field=field,
                role=role,
                access=access,
            )
        )
    else:
        rule.access = access
    await session.flush()


async def list_rules(
    session: AsyncSession, enterprise_id: int, object_type: str | None = None
) -> list[FieldAccessRule]:
    query = select(FieldAccessRule).where(FieldAccessRule.enterprise_id == enterprise_id)
    if object_type is not None:
        query = query.where(FieldAccessRule.object_type == object_type)
    return list(
        await session.scalars(
            query.order_by(FieldAccessRule.object_type, FieldAccessRule.field, FieldAccessRule.role)
        )
    )


async def rules_for_roles(
    session: AsyncSession, enterprise_id: int, roles: Iterable[str]
) -> list[tuple[str, str, str, str]]:
    """(object_type, field, role, access) of every rule naming one of `roles`."""
    rows = await session.execute(
        select(
            FieldAccessRule.object_type,
            FieldAccessRule.field,
            FieldAccessRule.role,
            FieldAccessRule.access,
        ).where(
            FieldAccessRule.enterprise_id == enterprise_id, FieldAccessRule.role.in_(list(roles))
        )
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]
