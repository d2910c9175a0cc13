"""notification events: what happened is stored once, each recipient's inbox entry points to it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The event's columns, once on each inbox row, with the table each reference points to.
EVENT_COLUMNS = ("enterprise_id", "kind", "actor_id", "item_id", "record_id", "forward_id")
EVENT_COPIED = (*EVENT_COLUMNS, "message", "created_at")
REFERENCES = {
    "enterprise_id": ("enterprises", "CASCADE"),
    "actor_id": ("users", "SET NULL"),
    "item_id": ("feed_items", "CASCADE"),
    "record_id": ("records", "CASCADE"),
    "forward_id": ("forwards", "CASCADE"),
}


def _event_columns() -> list[sa.Column]:
    return [
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("item_id", ID, nullable=True),
        sa.Column("record_id", ID, nullable=True),
        sa.Column("forward_id", ID, nullable=True),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "notification_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        *_event_columns(),
        *(
            sa.ForeignKeyConstraint(
                [column],
                [f"{table}.id"],
                name=op.f(f"fk_notification_events_{column}_{table}"),
                ondelete=ondelete,
            )
            for column, (table, ondelete) in REFERENCES.items()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_events")),
    )
    copied = ", ".join(EVENT_COPIED)
    # Each existing notification becomes its own event, with the notification's id.
    op.execute(
        f"INSERT INTO notification_events (id, {copied}) SELECT id, {copied} FROM notifications"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('notification_events', 'id'), "
            "COALESCE(MAX(id), 0) + 1, false) FROM notification_events"
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", ID, nullable=True))
    op.execute("UPDATE notifications SET event_id = id")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("event_id", existing_type=ID, nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_event_id_notification_events"),
            "notification_events",
            ["event_id"],
            ["id"],
            ondelete="CASCADE",
        )
        for column, (table, _) in REFERENCES.items():
            batch_op.drop_constraint(
                batch_op.f(f"fk_notifications_{column}_{table}"), type_="foreignkey"
            )
        for column in EVENT_COPIED:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for column in _event_columns():
            column.nullable = True
            batch_op.add_column(column)
    assignments = ", ".join(
        f"{column} = (SELECT e.{column} FROM notification_events AS e "
        "WHERE e.id = notifications.event_id)"
        for column in EVENT_COPIED
    )
    op.execute(f"UPDATE notifications SET {assignments}")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_notifications_event_id_notification_events"), type_="foreignkey"
        )
        batch_op.drop_column("event_id")
        for column in ("enterprise_id", "kind", "message", "created_at"):
            batch_op.alter_column(column, existing_type=None, nullable=False)
        for column, (table, ondelete) in REFERENCES.items():
            batch_op.create_foreign_key(
                batch_op.f(f"fk_notifications_{column}_{table}"),
                table,
                [column],
                ["id"],
                ondelete=ondelete,
            )
    op.drop_table("notification_events")
