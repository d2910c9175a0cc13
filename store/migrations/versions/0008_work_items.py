"""work items: who completed a task and when; notifications tied to the reply they tell of

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:45:00

`tasks.completed_at` / `completed_by_id` are new and empty (a task already done keeps
`done`, with no completion time). `notification_events.reply_id` lets a deleted reply take its
notifications with it (ON DELETE CASCADE); events written before this revision have none, so
they stay tied to their item only.

SQLite rebuilds `notification_events` to change it (copy, drop, rename); dropping the old
table would delete every inbox entry through their ON DELETE CASCADE while foreign keys are
enforced (they are, and cannot be turned off inside the migration's transaction), so the
entries are kept aside in a temporary table and put back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

import store.types

if TYPE_CHECKING:
    from collections.abc import Iterator

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REPLY_FK = "fk_notification_events_reply_id_feed_replies"


@contextmanager
def _inbox_kept_on_sqlite() -> Iterator[None]:
    """Around a rebuild of `notification_events`: the inbox entries it would take along."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMPORARY TABLE kept_notifications AS SELECT * FROM notifications")
    yield
    op.execute("DELETE FROM notifications")
    op.execute("INSERT INTO notifications SELECT * FROM kept_notifications")
    op.execute("DROP TABLE kept_notifications")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("completed_at", store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("completed_by_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_completed_by_id_users"),
            "users",
            ["completed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with _inbox_kept_on_sqlite(), op.batch_alter_table("notification_events") as batch_op:
        batch_op.add_column(sa.Column("reply_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f(REPLY_FK), "feed_replies", ["reply_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with _inbox_kept_on_sqlite(), op.batch_alter_table("notification_events") as batch_op:
        batch_op.drop_constraint(batch_op.f(REPLY_FK), type_="foreignkey")
        batch_op.drop_column("reply_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tasks_completed_by_id_users"), type_="foreignkey")
        batch_op.drop_column("completed_by_id")
        batch_op.drop_column("completed_at")
