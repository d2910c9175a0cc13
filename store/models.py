"""The tables. Every row carries its enterprise; no relationship() so nothing lazy-loads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.types import Id, Json, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enterprise_fk() -> Mapped[int]:
    return mapped_column(Id, ForeignKey("enterprises.id", ondelete="CASCADE"), nullable=False)


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sharing_opens_follow_up: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (Index("ix_departments_head", "enterprise_id", "head_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(Id, ForeignKey("departments.id"))
    head_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", use_alter=True, name="fk_departments_head_id_users")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DepartmentClosure(Base):
    """(ancestor, descendant, depth) for every department pair, self included at depth 0."""

    __tablename__ = "department_closure"
    __table_args__ = (Index("ix_department_closure_descendant", "descendant_id", "ancestor_id"),)

    enterprise_id: Mapped[int] = _enterprise_fk()
    ancestor_id: Mapped[int] = mapped_column(
        Id, ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )
    descendant_id: Mapped[int] = mapped_column(
        Id, ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )
    depth: Mapped[int]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_enterprise_department", "enterprise_id", "department_id"),
        Index("ix_users_enterprise_superior", "enterprise_id", "superior_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(Id, ForeignKey("departments.id"))
    superior_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id"))
    # A deactivated user cannot log in and their tokens stop working; their rows stay.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Carried in each token (`ver`); raising it ends every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RevokedToken(Base):
    """A token ended by `logout` before its expiry; the row is pruned once the token expired."""

    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """A mutation run with an `Idempotency-Key` header: written in the mutation's own
    transaction (so no committed write lacks it), its answer stored just after; pruned once
    older than IDEMPOTENCY_TTL_SECONDS."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The HTTP answer, once stored; None while the request finishes (or if it never did).
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)


class UserRole(Base):
    __tablename__ = "user_roles"

    enterprise_id: Mapped[int] = _enterprise_fk()
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class UserClosure(Base):
    """(superior, subordinate, depth) for every reporting pair, self included at depth 0."""

    __tablename__ = "user_closure"
    __table_args__ = (Index("ix_user_closure_descendant", "descendant_id", "ancestor_id"),)

    enterprise_id: Mapped[int] = _enterprise_fk()
    ancestor_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    descendant_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    depth: Mapped[int]


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_list", "enterprise_id", "object_type", "life_status", "id"),
        # The enterprise last: a count of the records of a few owners reads this index alone.
        Index("ix_records_owner", "owner_id", "object_type", "life_status", "id", "enterprise_id"),
        Index("ix_records_updated", "enterprise_id", "object_type", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    object_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32))
    status_before_invalid: Mapped[str | None] = mapped_column(String(32))
    life_status: Mapped[str] = mapped_column(String(16), default="NORMAL")
    values: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_by_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"))
    updated_by_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    __tablename__ = "record_team"
    __table_args__ = (Index("ix_record_team_user", "user_id", "record_id"),)

    enterprise_id: Mapped[int] = _enterprise_fk()
    record_id: Mapped[int] = mapped_column(
        Id, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_role: Mapped[str] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SharingRule(Base):
    __tablename__ = "sharing_rules"
    __table_args__ = (
        Index("ix_sharing_rules_to_user", "enterprise_id", "to_user_id"),
        Index("ix_sharing_rules_to_department", "enterprise_id", "to_department_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    object_type: Mapped[str] = mapped_column(String(32))
    from_user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    from_department_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("departments.id", ondelete="CASCADE")
    )
    to_user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    to_department_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("departments.id", ondelete="CASCADE")
    )
    access: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUpSetting(Base):
    """Per object type and team role: is follow-up activity open to such members?"""

    __tablename__ = "follow_up_settings"
    __table_args__ = (UniqueConstraint("enterprise_id", "object_type", "team_role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    object_type: Mapped[str] = mapped_column(String(32))
    team_role: Mapped[str] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(16))


class FieldAccessRule(Base):
    """Per object field and function role: HIDDEN, READ_ONLY or READ_WRITE (the default)."""

    __tablename__ = "field_access_rules"
    __table_args__ = (UniqueConstraint("enterprise_id", "object_type", "field", "role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    object_type: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(16))


class CustomRole(Base):
    """A function role an administrator made (`createRole`); users hold it as `CUSTOM_<id>`."""

    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RolePermission(Base):
    """A function permission a role grants in an enterprise (a row per grant; no row: not
    granted). The CRM Administrator's are not stored: it holds every permission."""

    __tablename__ = "role_permissions"

    enterprise_id: Mapped[int] = mapped_column(
        Id, ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    permission: Mapped[str] = mapped_column(String(64), primary_key=True)
