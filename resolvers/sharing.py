"""Administrator settings: sharing rules, follow-up access per team role, enterprise flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.objects import spec_for
from resolvers.errors import BadUserInput, not_found
from resolvers.inputs import parse_id, parse_optional_id
from store import org, sharing

if TYPE_CHECKING:
    from crmfeed.registry.enums import DataAccess, FollowUpAccess, ObjectType, TeamRole
    from resolvers.context import Context
    from store.models import Enterprise, SharingRule


def _exactly_one(user: str | None, department: str | None, side: str) -> None:
    if (user is None) == (department is None):
        raise BadUserInput(
            f"give exactly one of {side}UserId and {side}DepartmentId.", field=f"{side}UserId"
        )


async def create_sharing_rule(
    context: Context,
    *,
    object_type: ObjectType,
    from_user_id: str | None,
    from_department_id: str | None,
    to_user_id: str | None,
    to_department_id: str | None,
    access: DataAccess,
) -> SharingRule:
    viewer = await context.viewer()
    _exactly_one(from_user_id, from_department_id, "from")
    _exactly_one(to_user_id, to_department_id, "to")
    ids = {
        "fromUserId": parse_optional_id(from_user_id, Kind.USER, "fromUserId"),
        "toUserId": parse_optional_id(to_user_id, Kind.USER, "toUserId"),
        "fromDepartmentId": parse_optional_id(
            from_department_id, Kind.DEPARTMENT, "fromDepartmentId"
        ),
        "toDepartmentId": parse_optional_id(to_department_id, Kind.DEPARTMENT, "toDepartmentId"),
    }
    async with context.db() as session:
        for field, number in ids.items():
            if number is None:
                continue
            if field.endswith("UserId"):
                exists = await org.get_user(session, viewer.enterprise_id, number) is not None
            else:
                exists = await org.get_department(session, viewer.enterprise_id, number) is not None
            if not exists:
                kind = "user" if field.endswith("UserId") else "department"
                raise BadUserInput(f"{field}: no {kind} with that id exists.", field=field)
        if ids["fromUserId"] is not None and ids["fromUserId"] == ids["toUserId"]:
            raise BadUserInput(
                "toUserId: a user's records cannot be shared with themselves.", field="toUserId"
            )
        rule = await sharing.create_rule(
            session,
            enterprise_id=viewer.enterprise_id,
            object_type=object_type.value,
            from_user_id=ids["fromUserId"],
            from_department_id=ids["fromDepartmentId"],
            to_user_id=ids["toUserId"],
            to_department_id=ids["toDepartmentId"],
            access=access.value,
        )
        await session.commit()
    return rule


async def delete_sharing_rule(context: Context, rule_id: str) -> bool:
    viewer = await context.viewer()
    number = parse_id(rule_id, Kind.SHARING_RULE, "id")
    async with context.db() as session:
        rule = await sharing.get_rule(session, viewer.enterprise_id, number)
        if rule is None:
            raise not_found("sharing rule", rule_id)
        await sharing.delete_rule(session, rule)
        await session.commit()
    return True


async def sharing_rules(context: Context) -> list[SharingRule]:
    viewer = await context.viewer()
    async with context.db() as session:
        return await sharing.list_rules(session, viewer.enterprise_id)


async def set_follow_up_access(
    context: Context, object_type: ObjectType, team_role: TeamRole, access: FollowUpAccess
) -> bool:
    viewer = await context.viewer()
    spec = spec_for(object_type)
    if team_role not in spec.team_roles:
        raise BadUserInput(
            f"teamRole: a {spec.label} team has no {team_role.value} role.", field="teamRole"
        )
    async with context.db() as session:
        await sharing.set_follow_up_access(
            session, viewer.enterprise_id, object_type.value, team_role.value, access.value
        )
        await session.commit()
    return True


async def follow_up_settings(
    context: Context, object_type: ObjectType
) -> list[tuple[TeamRole, FollowUpAccess]]:
    viewer = await context.viewer()
    spec = spec_for(object_type)
    async with context.db() as session:
        settings = await sharing.follow_up_settings(session, viewer.enterprise_id, object_type)
    return [(role, settings[role]) for role in spec.team_roles]


async def enterprise(context: Context) -> Enterprise:
    viewer = await context.viewer()
    async with context.db() as session:
        return await org.get_enterprise(session, viewer.enterprise_id)


async def update_enterprise_settings(
    context: Context, *, sharing_opens_follow_up: bool | None
) -> Enterprise:
    viewer = await context.viewer()
    async with context.db() as session:
        if sharing_opens_follow_up is not None:
            await org.set_sharing_opens_follow_up(
                session, viewer.enterprise_id, sharing_opens_follow_up
            )
        await session.commit()
        session.expire_all()
        return await org.get_enterprise(session, viewer.enterprise_id)
