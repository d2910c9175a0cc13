"""role permissions and custom roles

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 23:50:00

Function permissions become data per enterprise and role (`role_permissions`, one row per
grant); every enterprise that exists gets its preset roles' default permissions, the ones
`crmfeed.registry.permissions.DEFAULTS` gives a new enterprise, so nothing a user could do
before changes. `custom_roles` holds the roles administrators create.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types
from crmfeed.registry.permissions import default_rows

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "custom_roles",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_custom_roles_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_roles")),
        sa.UniqueConstraint("enterprise_id", "name", name=op.f("uq_custom_roles_enterprise_id")),
    )
    permissions = op.create_table(
        "role_permissions",
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("permission", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_role_permissions_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "enterprise_id", "role", "permission", name=op.f("pk_role_permissions")
        ),
    )
    enterprises = op.get_bind().execute(sa.text("SELECT id FROM enterprises ORDER BY id"))
    rows = [
        {"enterprise_id": enterprise, "role": role, "permission": name}
        for (enterprise,) in enterprises
        for role, name in default_rows()
    ]
    if rows:
        op.bulk_insert(permissions, rows)


def downgrade() -> None:
    op.drop_table("role_permissions")
    op.drop_table("custom_roles")
    # Users holding a custom role keep a role row the older code cannot read.
    op.execute("DELETE FROM user_roles WHERE role LIKE 'CUSTOM\\_%' ESCAPE '\\'")
