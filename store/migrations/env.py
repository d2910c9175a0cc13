"""Alembic environment: runs on the connection handed over by store.migrate."""

from __future__ import annotations

from alembic import context

from store import (
    confirmation_tables,
    feed_tables,
    notification_tables,
    record_page_tables,
    transfer_tables,
)
from store.models import Base

TABLE_MODULES = (
    confirmation_tables,
    feed_tables,
    notification_tables,
    record_page_tables,
    transfer_tables,
)  # imported so Base.metadata knows them

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `crmfeed migrate` (store.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
