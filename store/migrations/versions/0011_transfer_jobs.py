"""import and export jobs, and the rows an import did not take

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "transfer_jobs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_imported", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_transfer_jobs_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_transfer_jobs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_jobs")),
    )
    op.create_index(
        "ix_transfer_jobs_user", "transfer_jobs", ["enterprise_id", "user_id", "id"], unique=False
    )
    op.create_index(
        "ix_transfer_jobs_status", "transfer_jobs", ["status", "lease_until"], unique=False
    )
    op.create_table(
        "transfer_row_errors",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cells", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["transfer_jobs.id"],
            name=op.f("fk_transfer_row_errors_job_id_transfer_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "row_number", name=op.f("pk_transfer_row_errors")),
    )


def downgrade() -> None:
    op.drop_table("transfer_row_errors")
    op.drop_index("ix_transfer_jobs_status", table_name="transfer_jobs")
    op.drop_index("ix_transfer_jobs_user", table_name="transfer_jobs")
    op.drop_table("transfer_jobs")
