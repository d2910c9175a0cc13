"""Plain enums shared by the store, the resolvers and the GraphQL schema."""

from __future__ import annotations

from enum import StrEnum


class ObjectType(StrEnum):
    ACCOUNT = "ACCOUNT"
    CONTACT = "CONTACT"
    SALES_LEAD = "SALES_LEAD"
    OPPORTUNITY = "OPPORTUNITY"
    VISIT = "VISIT"
    SALES_ORDER = "SALES_ORDER"
    RETURN_FORM = "RETURN_FORM"
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"
    PRODUCT = "PRODUCT"
    CONTRACT = "CONTRACT"
    INVOICING_APPLICATION = "INVOICING_APPLICATION"
    CAMPAIGN = "CAMPAIGN"
    COMPETITOR = "COMPETITOR"
    WORK_ORDER = "WORK_ORDER"


class FunctionRole(StrEnum):
    CRM_ADMIN = "CRM_ADMIN"
    SALES = "SALES"
    ORDER_ADMIN = "ORDER_ADMIN"
    ORDER_FINANCE = "ORDER_FINANCE"
    PAYMENT_FINANCE = "PAYMENT_FINANCE"
    REFUND_FINANCE = "REFUND_FINANCE"
    INVOICE_FINANCE = "INVOICE_FINANCE"


class TeamRole(StrEnum):
    OWNER = "OWNER"
    REGULAR_MEMBER = "REGULAR_MEMBER"
    CO_FOLLOWER = "CO_FOLLOWER"
    AFTER_SALES = "AFTER_SALES"


class DataAccess(StrEnum):
    READ_ONLY = "READ_ONLY"
    READ_WRITE = "READ_WRITE"


class FollowUpAccess(StrEnum):
    DISABLED = "DISABLED"
    READ_ONLY = "READ_ONLY"


class LifeStatus(StrEnum):
    NORMAL = "NORMAL"
    INVALID = "INVALID"


class AccessRule(StrEnum):
    OWNER = "OWNER"
    SUPERIOR_OF_OWNER = "SUPERIOR_OF_OWNER"
    TEAM_MEMBER = "TEAM_MEMBER"
    SUPERIOR_OF_TEAM_MEMBER = "SUPERIOR_OF_TEAM_MEMBER"
    SHARING = "SHARING"
    DEPARTMENT_HEAD = "DEPARTMENT_HEAD"
    FUNCTION_ROLE = "FUNCTION_ROLE"
    CURRENT_CONFIRMER = "CURRENT_CONFIRMER"
    CRM_ADMIN = "CRM_ADMIN"


class FieldType(StrEnum):
    TEXT = "TEXT"
    LONG_TEXT = "LONG_TEXT"
    NUMBER = "NUMBER"
    CURRENCY = "CURRENCY"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    DATETIME = "DATETIME"
    SELECT = "SELECT"
    MULTI_SELECT = "MULTI_SELECT"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    URL = "URL"
    LOOKUP = "LOOKUP"
    USER = "USER"
    USERS = "USERS"  # a list of user ids (a transition input)


class FieldAccess(StrEnum):
    """Ordered from least to most open."""

    HIDDEN = "HIDDEN"
    READ_ONLY = "READ_ONLY"
    READ_WRITE = "READ_WRITE"

    @property
    def rank(self) -> int:
        return FIELD_ACCESS_ORDER.index(self)


FIELD_ACCESS_ORDER = (FieldAccess.HIDDEN, FieldAccess.READ_ONLY, FieldAccess.READ_WRITE)
