"""Field-level security: the one place that decides which record fields a caller
may see or write. Rules are loaded once per request (`Context.field_access()`), so checking a
field costs no SQL per row.

A user's access to a field is the most open level among their function roles (READ_WRITE where
a role has no rule). A user without any role gets the least open level any role has for that
field, so removing every role never reveals more. Name, owner and status are always visible.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from crmfeed.registry.enums import FieldAccess, FunctionRole, ObjectType
from crmfeed.registry.objects import REGISTRY, spec_for
from resolvers.errors import BadUserInput, Forbidden
from store import field_access

if TYPE_CHECKING:
    from collections.abc import Iterable

    from resolvers.context import Context
    from store.models import Record

ALWAYS_VISIBLE = frozenset({"name"})
DEFAULT = FieldAccess.READ_WRITE


class FieldAccessMap:
    """The caller's effective access per (object type, field)."""

    def __init__(
        self, rules: Iterable[tuple[str, str, str, str]], roles: frozenset[FunctionRole]
    ) -> None:
        by_field: dict[tuple[str, str], dict[str, FieldAccess]] = defaultdict(dict)
        for object_type, field, role, access in rules:
            by_field[(object_type, field)][role] = FieldAccess(access)
        self._access: dict[tuple[str, str], FieldAccess] = {}
        for key, per_role in by_field.items():
            if roles:
                levels = [per_role.get(role.value, DEFAULT) for role in roles]
                self._access[key] = max(levels, key=lambda level: level.rank)
            else:
                self._access[key] = min(per_role.values(), key=lambda level: level.rank)

    def of(self, object_type: str, field: str) -> FieldAccess:
        if field in ALWAYS_VISIBLE:
            return DEFAULT
        return self._access.get((object_type, field), DEFAULT)

    def can_read(self, object_type: str, field: str) -> bool:
        return self.of(object_type, field) is not FieldAccess.HIDDEN

    def visible_values(self, record: Record) -> dict[str, Any]:
        """The record's `values` as the caller may see them (hidden fields left out)."""
        values = {"name": record.name, **(record.values or {})}
        return {
            key: value for key, value in values.items() if self.can_read(record.object_type, key)
        }

    def require_writable(self, object_type: str, fields: Iterable[str]) -> None:
        """FORBIDDEN naming the first field the caller may not write."""
        label = spec_for(object_type).label
        for field in fields:
            access = self.of(object_type, field)
            if access is not FieldAccess.READ_WRITE:
                level = access.value.replace("_", " ").lower()
                raise Forbidden(
                    f"values.{field}: this {label} field is {level} for your function roles; "
                    "leave it out.",
                    field=field,
                )


async def load(context: Context) -> FieldAccessMap:
    viewer = await context.viewer()
    roles = [role.value for role in (viewer.roles or FunctionRole)]
    async with context.db() as session:
        rules = await field_access.rules_for_roles(session, viewer.enterprise_id, roles)
    return FieldAccessMap(rules, viewer.roles)


def _check_field(object_type: ObjectType, field: str) -> None:
    spec = REGISTRY[object_type]
    if field not in spec.field_map:
        raise BadUserInput(f"field: {spec.label} has no field '{field}'.", field="field")
    if field in ALWAYS_VISIBLE:
        raise BadUserInput(
            f"field: '{field}' is always visible to whoever may read the record.", field="field"
        )


async def set_field_access(
    context: Context, object_type: ObjectType, field: str, role: FunctionRole, access: FieldAccess
) -> bool:
    viewer = await context.viewer()
    _check_field(object_type, field)
    async with context.db() as session:
        await field_access.set_rule(
            session, viewer.enterprise_id, object_type.value, field, role.value, access.value
        )
        await session.commit()
    context.forget_field_access()
    return True


async def rules(
    context: Context, object_type: ObjectType
) -> list[tuple[str, FunctionRole, FieldAccess]]:
    viewer = await context.viewer()
    async with context.db() as session:
        found = await field_access.list_rules(session, viewer.enterprise_id, object_type.value)
    return [(rule.field, FunctionRole(rule.role), FieldAccess(rule.access)) for rule in found]
