"""Alembic environment: runs on the connection handed over by store.migrate."""

from __future__ import annotations

from alembic import context

import store.feed_tables  # noqa: F401  (registers the feed tables)
from store.models import Base

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
