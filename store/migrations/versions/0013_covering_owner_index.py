"""covering owner index: ix_records_owner also holds the enterprise

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:00:00

A count of the records a few owners hold (the owner and department-head grants of
`store.visibility.readable_reach`) tests the enterprise too; with `enterprise_id` in the index
that count reads the index alone instead of one table row per record.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD = ["owner_id", "object_type", "life_status", "id"]
NEW = [*OLD, "enterprise_id"]


def upgrade() -> None:
    op.drop_index("ix_records_owner", table_name="records")
    op.create_index("ix_records_owner", "records", NEW, unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_owner", table_name="records")
    op.create_index("ix_records_owner", "records", OLD, unique=False)
