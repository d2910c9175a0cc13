"""What print and mail templates share: deleting one of the caller's enterprise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.errors import not_found
from resolvers.inputs import parse_id
from store import page_templates

if TYPE_CHECKING:
    from crmfeed.ids import Kind
    from resolvers.context import Context
    from store.record_page_tables import MailTemplate, PrintTemplate


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
