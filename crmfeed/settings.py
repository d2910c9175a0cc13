"""Settings from environment variables, each with a default so a bare start works."""

from __future__ import annotations

import warnings
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "crmfeed-dev-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    """Read from the environment (and a `.env` file if present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./crmfeed.db"
    database_schema: str | None = None
    broadcast_url: str = "memory://"
    broadcast_channel: str = "crmfeed.notifications"
    live_queue_size: int = Field(default=256, gt=0)
    live_heartbeat_seconds: float = Field(default=1.0, gt=0)
    live_heartbeat_timeout: float = Field(default=5.0, gt=0)
    run_reminders: bool = True
    reminder_poll_seconds: float = Field(default=1.0, gt=0)
    secret_key: str = DEV_SECRET_KEY
    token_ttl_seconds: int = Field(default=12 * 3600, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=15000, ge=0)
    max_query_depth: int = Field(default=12, gt=0)
    max_aliases: int = Field(default=15, gt=0)
    max_tokens: int = Field(default=2000, gt=0)
    max_cost: int = Field(default=5000, gt=0)
    max_page_size: int = Field(default=100, gt=0)
    max_string_length: int = Field(default=10_000, gt=0)
    max_body_size: int = Field(default=1024 * 1024, gt=0)
    allow_introspection: bool = True
    argon2_time_cost: int = Field(default=3, gt=0)
    argon2_memory_cost_kib: int = Field(default=65536, ge=32)
    db_pool_size: int = Field(default=10, gt=0)
    echo_sql: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def warn_if_insecure(self) -> None:
        if self.secret_key == DEV_SECRET_KEY:
            warnings.warn(
                "SECRET_KEY is the development default: tokens can be forged. "
                "Set SECRET_KEY to a long random value in production.",
                stacklevel=2,
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
