"""Import and export jobs: one row per job (its lease, its progress), one row per failed
import row (the error report is built from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, Json, UTCDateTime, utcnow


class TransferJob(Base):
    """An import or export. A process runs it while it holds the lease (`lease_owner` until
    `lease_until`); each committed batch moves `rows_read` on in the same transaction as the
    records it wrote, so a job taken over after a crash resumes exactly where it stopped."""

    __tablename__ = "transfer_jobs"
    __table_args__ = (
        Index("ix_transfer_jobs_user", "enterprise_id", "user_id", "id"),
        Index("ix_transfer_jobs_status", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # IMPORT or EXPORT
    object_type: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="QUEUED")
    phase: Mapped[str | None] = mapped_column(String(16))
    file_name: Mapped[str | None] = mapped_column(String(255))
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)  # of rows_imported
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransferRowError(Base):
    """A row an import did not take: where (row number, column), why, and the row as read."""

    __tablename__ = "transfer_row_errors"

    job_id: Mapped[int] = mapped_column(
        Id, ForeignKey("transfer_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    column_name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[Any]] = mapped_column(Json, default=list)
