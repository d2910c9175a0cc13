"""Tables of the order confirmation: each record's confirmation nodes, and each enterprise's
default confirmation chain per object type."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, UTCDateTime, utcnow


class ConfirmationNode(Base):
    """One confirmer's step in one confirmation round of a record (round 1 is the first
    submission, each resubmission the next); `state` is a `NodeState`."""

    __tablename__ = "confirmation_nodes"
    __table_args__ = (
        UniqueConstraint("record_id", "round", "position"),
        # the current confirmer's grant: records waiting for a user, read from this index
        Index("ix_confirmation_nodes_confirmer", "confirmer_id", "state", "record_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    record_id: Mapped[int] = mapped_column(
        Id, ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    )
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    confirmer_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(16))
    submitted_by_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)


class ConfirmationChainStep(Base):
    """One position of an enterprise's default confirmation chain for an object type."""

    __tablename__ = "confirmation_chain_steps"

    enterprise_id: Mapped[int] = mapped_column(
        Id, ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    confirmer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
