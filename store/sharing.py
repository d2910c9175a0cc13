"""Sharing rules and the per-team-role follow-up activity settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from crmfeed.registry.enums import FollowUpAccess, TeamRole
from store.models import FollowUpSetting, SharingRule

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_FOLLOW_UP = FollowUpAccess.READ_ONLY


async def create_rule(
    session: AsyncSession,
    *,
    enterprise_id: int,
    object_type: str,
    from_user_id: int | None,
    from_department_id: int | None,
    to_user_id: int | None,
    to_department_id: int | None,
    access: str,
) -> SharingRule:
    rule = SharingRule(
        enterprise_id=enterprise_id,
        object_type=object_type,
        from_user_id=from_user_id,
        from_department_id=from_department_id,
        to_user_id=to_user_id,
        to_department_id=to_department_id,
        access=access,
    )
    session.add(rule)
    await session.flush()
    return rule


async def get_rule(session: AsyncSession, enterprise_id: int, rule_id: int) -> SharingRule | None:
    return await session.scalar(
        select(SharingRule).where(
            SharingRule.enterprise_id == enterprise_id, SharingRule.id == rule_id
        )
    )


async def rules_by_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, SharingRule]:
    rows = await session.scalars(
        select(SharingRule).where(
            SharingRule.enterprise_id == enterprise_id, SharingRule.id.in_(set(ids))
        )
    )
    return {rule.id: rule for rule in rows}


async def list_rules(session: AsyncSession, enterprise_id: int) -> list[SharingRule]:
    return list(
        await session.scalars(
            select(SharingRule)
            .where(SharingRule.enterprise_id == enterprise_id)
            .order_by(SharingRule.id)
        )
    )


async def delete_rule(session: AsyncSession, rule: SharingRule) -> None:
    await session.execute(delete(SharingRule).where(SharingRule.id == rule.id))


async def set_follow_up_access(
    session: AsyncSession, enterprise_id: int, object_type: str, team_role: str, access: str
) -> None:
    setting = await session.scalar(
        select(FollowUpSetting).where(
            FollowUpSetting.enterprise_id == enterprise_id,
            FollowUpSetting.object_type == object_type,
            FollowUpSetting.team_role == team_role,
        )
    )
    if setting is None:
        session.add(
            FollowUpSetting(
                enterprise_id=enterprise_id,
                object_type=object_type,
                team_role=team_role,
                access=access,
            )
        )
    else:
        setting.access = access
    await session.flush()


async def follow_up_settings(
    session: AsyncSession, enterprise_id: int, object_type: str
) -> dict[TeamRole, FollowUpAccess]:
    """Every team role's follow-up access for the object type (Read Only unless set)."""
    rows = await session.execute(
        select(FollowUpSetting.team_role, FollowUpSetting.access).where(
            FollowUpSetting.enterprise_id == enterprise_id,
            FollowUpSetting.object_type == object_type,
        )
    )
    settings = dict.fromkeys(TeamRole, DEFAULT_FOLLOW_UP)
    for role, access in rows:
        settings[TeamRole(role)] = FollowUpAccess(access)
    return settings
