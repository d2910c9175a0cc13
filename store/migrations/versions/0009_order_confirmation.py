"""order confirmation: confirmation nodes per record, default confirmation chains

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 23:50:00

Existing orders keep their status. A Sales Order or Return Form in CONFIRMING whose
`currentConfirmerId` value names a user of its enterprise gets a first round with that user's
node CURRENT (so they stay its current confirmer); one with no such value waits for the Order
Administrators, as an order submitted with no confirmers does. Outside CONFIRMING an order has
no current confirmer: a leftover `currentConfirmerId` value is removed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ORDER_TYPES = ("SALES_ORDER", "RETURN_FORM")

records = sa.table(
    "records",
    sa.column("id", ID),
    sa.column("enterprise_id", ID),
    sa.column("object_type", sa.String),
    sa.column("status", sa.String),
    sa.column("values", sa.JSON),
    sa.column("created_by_id", ID),
)
users = sa.table("users", sa.column("id", ID), sa.column("enterprise_id", ID))
nodes = sa.table(
    "confirmation_nodes",
    sa.column("enterprise_id", ID),
    sa.column("record_id", ID),
    sa.column("round", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("confirmer_id", ID),
    sa.column("state", sa.String),
    sa.column("submitted_by_id", ID),
    sa.column("submitted_at", store.types.UTCDateTime(timezone=True)),
)


def _user_number(value: object) -> int | None:
    prefix, _, digits = str(value).partition("_")
    return int(digits) if prefix == "usr" and digits.isdigit() and len(digits) <= 18 else None


def _carry_over_current_confirmers() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            records.c.id,
            records.c.enterprise_id,
            records.c.status,
            records.c["values"],
            records.c.created_by_id,
        ).where(records.c.object_type.in_(ORDER_TYPES))
    ).all()
    now = datetime.now(UTC)
    for record_id, enterprise_id, status, values, created_by_id in rows:
        values = dict(values or {})
        if "currentConfirmerId" not in values:
            continue
        confirmer = _user_number(values["currentConfirmerId"])
        known = (
            confirmer is not None
            and bind.execute(
                sa.select(users.c.id).where(
                    users.c.id == confirmer, users.c.enterprise_id == enterprise_id
                )
            ).first()
        )
        if status == "CONFIRMING" and known:
            bind.execute(
                nodes.insert().values(
                    enterprise_id=enterprise_id,
                    record_id=record_id,
                    round=1,
                    position=1,
                    confirmer_id=confirmer,
                    state="CURRENT",
                    submitted_by_id=created_by_id,
                    submitted_at=now,
                )
            )
            continue
        del values["currentConfirmerId"]
        bind.execute(records.update().where(records.c.id == record_id).values(values=values))


def upgrade() -> None:
    op.create_table(
        "confirmation_nodes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("confirmer_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("submitted_by_id", ID, nullable=False),
        sa.Column("submitted_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", ID, nullable=True),
        sa.Column("decided_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmer_id"], ["users.id"], name=op.f("fk_confirmation_nodes_confirmer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_confirmation_nodes_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_confirmation_nodes_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_confirmation_nodes_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_confirmation_nodes_submitted_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_nodes")),
        sa.UniqueConstraint(
            "record_id", "round", "position", name=op.f("uq_confirmation_nodes_record_id")
        ),
    )
    op.create_index(
        "ix_confirmation_nodes_confirmer",
        "confirmation_nodes",
        ["confirmer_id", "state", "record_id"],
        unique=False,
    )
    op.create_table(
        "confirmation_chain_steps",
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("confirmer_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["confirmer_id"],
            ["users.id"],
            name=op.f("fk_confirmation_chain_steps_confirmer_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_confirmation_chain_steps_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "enterprise_id", "object_type", "position", name=op.f("pk_confirmation_chain_steps")
        ),
    )
    _carry_over_current_confirmers()


def downgrade() -> None:
    op.drop_table("confirmation_chain_steps")
    op.drop_index("ix_confirmation_nodes_confirmer", table_name="confirmation_nodes")
    op.drop_table("confirmation_nodes")
