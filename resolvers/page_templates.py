"""What print and mail templates share: deleting one of the caller's enterprise, and the
names their variables show for lookup and user values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global, to_global
from crmfeed.registry.enums import FieldType
from crmfeed.registry.objects import spec_for
from resolvers.errors import not_found
from resolvers.inputs import parse_id
from store import org, page_templates, records

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from store.models import User
    from store.record_page_tables import MailTemplate, PrintTemplate
    from store.viewer import Viewer


async def delete_template(
    context: Context,
    model: type[PrintTemplate | MailTemplate],
    kind: Kind,
    label: str,
    template_id: str,
) -> bool:
    """Delete the template `template_id` (`kind`'s id) of the caller's enterprise, or
    NOT_FOUND naming it as `label` ("print template")."""
    viewer = await context.viewer()
    number = parse_id(template_id, kind, "id")
    async with context.db() as session:
        deleted = await page_templates.delete_template(session, model, viewer.enterprise_id, number)
        await session.commit()
    if not deleted:
        raise not_found(label, template_id)
    return True


async def referenced_names(
    session: AsyncSession,
    viewer: Viewer,
    values: Iterable[tuple[str, Mapping[str, Any]]],
    user_ids: Iterable[int],
) -> tuple[dict[str, str], dict[int, User]]:
    """The names of the records and users that lookup and user values refer to (each pair is
    an object type and its record's values), by their global ids: records only when the viewer
    may read them. Also the users read, those of `user_ids` among them, by number."""
    record_numbers: list[int] = []
    user_numbers = list(user_ids)
    for object_type, given in values:
        spec = spec_for(object_type)
        for key, value in given.items():
            field = spec.field_map.get(key)
            if field is None or not isinstance(value, str):
                continue
            try:
                if field.type is FieldType.LOOKUP:
                    record_numbers.append(from_global(Kind.RECORD, value))
                elif field.type is FieldType.USER:
                    user_numbers.append(from_global(Kind.USER, value))
            except ValueError:
                continue
    readable = await records.readable_records(session, viewer, record_numbers)
    users = await org.users_by_ids(session, viewer.enterprise_id, user_numbers)
    names = {
        **{to_global(Kind.RECORD, n): r.name for n, r in readable.items()},
        **{to_global(Kind.USER, n): u.name for n, u in users.items()},
    }
    return names, users
