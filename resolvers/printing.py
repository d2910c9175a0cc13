"""Print (seed 10): a record rendered through a print template to PDF.

A template is Jinja2 (immutable sandbox) producing the HTML subset crmfeed/pdf.py lays out.
It sees only what the caller may see: the fields field-level security leaves visible, the
related team, and the record's follow-up activity the caller may read (`PRINT_ACTIVITY_LIMIT`
newest). Each object type has a built-in default (`DEFAULT_TEMPLATE_ID`); CRM administrators
save more per type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crmfeed import pdf, templating
from crmfeed.ids import Kind, from_global, to_global
from crmfeed.registry.enums import FieldType, ObjectType
from crmfeed.registry.feed import ITEM_TYPES, FeedItemType
from crmfeed.registry.objects import FieldSpec, option_label, spec_for
from crmfeed.registry.record_page import PRINT_ACTIVITY_LIMIT, PageAction
from resolvers import page_templates as shared_templates
from resolvers.errors import BadUserInput, Busy, Conflict, NotFound, not_found
from resolvers.inputs import clean_text, parse_id
from resolvers.page_permissions import require_page_action
from resolvers.records import readable_or_not_found
from store import feed, org, page_templates, records
from store.feed import ItemFilter
from store.record_page_tables import PrintTemplate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from resolvers.field_access import FieldAccessMap
    from store.models import Record
    from store.viewer import Viewer

DEFAULT_TEMPLATE_ID = "default"
DEFAULT_TEMPLATE = """\
<h1>{{ record.name }}</h1>
<p><b>{{ record.typeLabel }}</b> · {{ record.statusLabel }} · Owner: {{ record.owner }}</p>
<h2>Details</h2>
<table border="1" width="100%">
<thead><tr><th width="35%">Field</th><th width="65%">Value</th></tr></thead>
<tbody>
{% for field in fields %}
<tr><td>{{ field.label }}</td><td>{{ field.value }}</td></tr>
{% endfor %}
</tbody>
</table>
{% if team %}
<h2>Related team</h2>
<ul>
{% for member in team %}
<li>{{ member.name }} ({{ member.teamRole }}, {{ member.access }})</li>
{% endfor %}
</ul>
{% endif %}
<h2>Recent follow-up activity</h2>
{% if activity %}
<ul>
{% for item in activity %}
<li><b>{{ item.createdAt }} · {{ item.author }} · {{ item.type }}</b>: {{ item.content }}</li>
{% endfor %}
</ul>
{% else %}
<p>None.</p>
{% endif %}
<p>Printed by {{ printedBy }} at {{ printedAt }}.</p>
"""


@dataclass(frozen=True, slots=True)
class TemplateView:
    """A print template as the API shows it; the built-in default has id `default`."""

    id: str
    object_type: ObjectType
    name: str
    body: str
    built_in: bool
    updated_at: datetime | None


def _view(row: PrintTemplate) -> TemplateView:
    return TemplateView(
        id=to_global(Kind.PRINT_TEMPLATE, row.id),
        object_type=ObjectType(row.object_type),
        name=row.name,
        body=row.body,
        built_in=False,
        updated_at=row.updated_at,
    )


def default_template(object_type: ObjectType) -> TemplateView:
    return TemplateView(DEFAULT_TEMPLATE_ID, object_type, "Default", DEFAULT_TEMPLATE, True, None)


async def templates(context: Context, object_type: ObjectType) -> list[TemplateView]:
    viewer = await context.viewer()
    async with context.db() as session:
        rows = await page_templates.print_templates(
            session, viewer.enterprise_id, object_type.value
        )
    return [default_template(object_type), *(_view(row) for row in rows)]


async def save_template(
    context: Context, template_id: str | None, object_type: ObjectType, name: str, body: str
) -> TemplateView:
    """Create (no id) or change a print template (CRM administrators: the schema checks)."""
    viewer = await context.viewer()
    name = clean_text(name, "name")
    try:
        templating.check(body, html=True)
    except templating.TemplateProblem as problem:
        raise BadUserInput(f"body: {problem}", field="body") from None
    async with context.db() as session:
        if template_id is None:
            row = PrintTemplate(enterprise_id=viewer.enterprise_id, object_type=object_type.value)
        else:
            number = parse_id(template_id, Kind.PRINT_TEMPLATE, "id")
            found = await page_templates.print_template(session, viewer.enterprise_id, number)
            if found is None:
                raise not_found("print template", template_id)
            row = found
        row.object_type, row.name, row.body = object_type.value, name, body
        try:
            await page_templates.save(session, row, viewer.id)
        except page_templates.NameTaken:
            raise Conflict(
                f"name: a {spec_for(object_type).label} print template is already called {name!r}.",
                field="name",
            ) from None
        await session.commit()
    return _view(row)


async def delete_template(context: Context, template_id: str) -> bool:
    return await shared_templates.delete_template(
        context, PrintTemplate, Kind.PRINT_TEMPLATE, "print template", template_id
    )


# -- printing ------------------------------------------------------------------------------------


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def shown_value(field: FieldSpec, value: Any, names: dict[str, str]) -> str:
    """A field value as a person reads it: a lookup or user shows the name (when known), an
    option its label, an amount of money two decimals with thousands separated."""
    if value is None or value == "" or value == []:
        return ""
    if field.type in (FieldType.LOOKUP, FieldType.USER):
        return names.get(str(value), "")
    if field.type is FieldType.BOOLEAN:
        return "Yes" if value else "No"
    if field.type in (FieldType.SELECT, FieldType.MULTI_SELECT):
        chosen = value if isinstance(value, list) else [value]
        return ", ".join(option_label(str(v)) for v in chosen)
    if field.type is FieldType.CURRENCY and isinstance(value, int | float):
        return f"{value:,.2f}"
    if field.type is FieldType.NUMBER and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


async def _names(
    session: AsyncSession, viewer: Viewer, values: dict[str, Any], record: Record
) -> dict[str, str]:
    """Names for the record's lookup and user values: records only when readable."""
    names, _ = await shared_templates.referenced_names(
        session, viewer, [(record.object_type, values)], [record.owner_id]
    )
    return names


async def print_variables(
    session: AsyncSession, viewer: Viewer, access: FieldAccessMap, record: Record
) -> dict[str, Any]:
    """What a print template sees: only what the viewer may see."""
    spec = spec_for(record.object_type)
    visible = access.visible_values(record)
    names = await _names(session, viewer, visible, record)
    fields = [
        {"name": f.name, "label": f.label, "value": shown_value(f, visible.get(f.name), names)}
        for f in spec.fields
        if f.name != "name" and f.name in visible
    ]
    team_rows = (await records.team_by_record_ids(session, viewer.enterprise_id, [record.id])).get(
        record.id, []
    )
    people = await org.users_by_ids(
        session, viewer.enterprise_id, [m.user_id for m in team_rows] + [viewer.id]
    )
    items = await feed.page_items(
        session, viewer, ItemFilter(record_id=record.id), before_id=None, limit=PRINT_ACTIVITY_LIMIT
    )
    status = next((s.label for s in spec.statuses if s.key == record.status), record.status)
    return {
        "record": {
            "id": to_global(Kind.RECORD, record.id),
            "name": record.name,
            "objectType": record.object_type,
            "typeLabel": spec.label,
            "status": record.status,
            "statusLabel": status,
            "lifeStatus": record.life_status,
            "owner": names.get(to_global(Kind.USER, record.owner_id), ""),
            "createdAt": _when(record.created_at),
            "updatedAt": _when(record.updated_at),
        },
        "fields": [f for f in fields if f["value"]],
        "allFields": fields,
        "values": {f["name"]: f["value"] for f in fields},
        "team": [
            {
                "name": people[m.user_id].name if m.user_id in people else "",
                "teamRole": m.team_role.replace("_", " ").title(),
                "access": m.access.replace("_", " ").title(),
            }
            for m in team_rows
        ],
        "activity": [
            {
                "type": ITEM_TYPES[FeedItemType(item.type)].label,
                "author": author.name,
                "content": item.content,
                "createdAt": _when(item.created_at),
            }
            for item, author in items
        ],
        "printedBy": people[viewer.id].name if viewer.id in people else "",
        "printedAt": _when(datetime.now(UTC)),
    }


async def print_record(context: Context, record_id: str, template_id: str | None) -> bytes | None:
    """The record's PDF, or None when the caller may not read it (or it does not exist)."""
    viewer = await context.viewer()
    access = await context.field_access()
    async with context.db() as session:
        try:
            record = await readable_or_not_found(session, viewer, record_id)
        except NotFound:
            return None
        require_page_action(viewer, record.object_type, PageAction.PRINT)
        source = await _template_source(session, viewer, record, template_id)
        variables = await print_variables(session, viewer, access, record)
    try:
        html = templating.render(source, variables, html=True)
        return await pdf.render(html, record.name)
    except (templating.TemplateProblem, pdf.PdfError) as problem:
        raise BadUserInput(f"template: {problem}", field="template") from None
    except pdf.PdfBusy:
        raise Busy(
            "Too many documents are being printed: try again in a few seconds.", retry_after=5
        ) from None


async def _template_source(
    session: AsyncSession, viewer: Viewer, record: Record, template_id: str | None
) -> str:
    if template_id in (None, "", DEFAULT_TEMPLATE_ID):
        return DEFAULT_TEMPLATE
    try:
        number = from_global(Kind.PRINT_TEMPLATE, template_id)
    except ValueError:
        raise BadUserInput(
            f"template: no print template {template_id!r}.", field="template"
        ) from None
    row = await page_templates.print_template(session, viewer.enterprise_id, number)
    if row is None:
        raise BadUserInput(f"template: no print template {template_id!r}.", field="template")
    if row.object_type != record.object_type:
        raise BadUserInput(
            f"template: {template_id} prints {spec_for(row.object_type).label} records, not "
            f"{spec_for(record.object_type).label} records.",
            field="template",
        )
    return row.body
