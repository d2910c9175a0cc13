"""Settings from environment variables, each with a default so a bare start works.

The one default that is unsafe is SECRET_KEY: the development key is public (it is in this
file), so anyone can sign a token for any user of a server that kept it. It is tolerated only
where nobody else can reach the server: one process, on SQLite, listening on a loopback address
(`dev_key_refusal`); `crmfeed serve` and the app factory refuse everything else.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "crmfeed-dev-secret-change-me-0123456789abcdef"
KEY_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
HOW_TO_SET_A_KEY = (
    f"Set a long random key, the same on every process: export SECRET_KEY=$({KEY_COMMAND})"
)


class InsecureSecretKey(RuntimeError):
    """The development SECRET_KEY where others could reach the server."""


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    live_outage_poll_seconds: float = Field(default=1.0, gt=0)
    run_reminders: bool = True
    reminder_poll_seconds: float = Field(default=1.0, gt=0)
    secret_key: str = DEV_SECRET_KEY
    secret_key_previous: str = ""
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
    password_hash_concurrency: int = Field(default=2, gt=0)
    password_min_strength: int = Field(default=3, ge=0, le=4)
    login_max_failures: int = Field(default=10, gt=0)
    login_lock_seconds: int = Field(default=900, gt=0)
    login_delay_after_failures: int = Field(default=3, ge=0)
    login_delay_seconds: int = Field(default=1, ge=0)
    login_address_max_failures: int = Field(default=50, gt=0)
    db_pool_size: int = Field(default=10, gt=0)
    # Websockets as `crmfeed serve` serves them (crmfeed/runtime.py: uvicorn_options): what an
    # idle subscription costs the process (bench/README.md, "Session 8: sockets").
    # `crmfeed`: uvicorn's websockets-sansio holding less per socket (crmfeed/live/websocket.py).
    ws_implementation: Literal["crmfeed", "websockets-sansio", "websockets", "wsproto"] = "crmfeed"
    ws_per_message_deflate: bool = False  # compression state per socket; messages are small
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0)
    transaction_attempts: int = Field(default=5, gt=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    echo_sql: bool = False
    # GraphiQL's scripts: from the CDN, or from GRAPHIQL_ASSETS_DIR (`crmfeed graphiql-assets`).
    graphiql_assets: Literal["cdn", "local"] = "cdn"
    graphiql_assets_dir: str = "graphiql-assets"
    # Origins whose pages may call the API from a browser (crmfeed/cors.py), comma-separated.
    cors_origins: str = ""
    # GET /metrics: with a token, for requests bearing it; without, for loopback clients only.
    metrics_token: str = ""
    # Log lines as text, or as one JSON object each (with the request id) for log collectors.
    log_format: Literal["text", "json"] = "text"
    # Automatic persisted queries (crmfeed/persisted_queries.py)
    persisted_query_cache_size: int = Field(default=1000, gt=0)
    persisted_query_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # Record page actions: mail goes out in the background (crmfeed/live/mail_outbox.py).
    run_mail_sender: bool = True
    mail_poll_seconds: float = Field(default=2.0, gt=0)
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    smtp_allow_private_hosts: bool = False  # mailboxes on loopback or private addresses
    # bindMailbox tries a login on the given server: at most this many tries per user per window.
    mailbox_bind_max_attempts: int = Field(default=10, gt=0)
    mailbox_bind_window_seconds: int = Field(default=600, gt=0)
    # Import and export (resolvers/importing.py, resolvers/transfer_jobs.py): uploads, exports
    # and error reports are kept under FILES_DIR (default: next to the SQLite file, or
    # ./crmfeed-files); every process that runs jobs must see the same directory.
    files_dir: str | None = None
    quick_import_max_rows: int = Field(default=1000, gt=0)
    quick_import_max_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    import_max_rows: int = Field(default=300_000, gt=0)
    upload_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    import_batch_size: int = Field(default=1000, gt=0)
    export_direct_max_rows: int = Field(default=1000, ge=0)
    export_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    run_transfer_jobs: bool = True
    transfer_poll_seconds: float = Field(default=1.0, gt=0)
    transfer_lease_seconds: float = Field(default=30.0, gt=0)

    @field_validator("secret_key_previous")
    @classmethod
    def _no_public_previous_key(cls, value: str) -> str:
        if DEV_SECRET_KEY in _split_keys(value):
            raise ValueError(
                "SECRET_KEY_PREVIOUS holds the development key: tokens signed with it may have "
                "been forged by anyone, so they must not be accepted. Leave it out (its users "
                "log in again)."
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_without_paths(cls, value: str) -> str:
        for origin in _split_keys(value):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+/?", origin):
                raise ValueError(
                    f"CORS_ORIGINS: {origin!r} is not an origin; give scheme://host[:port] "
                    "without a path, e.g. https://app.example.com"
                )
        return value

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """CORS_ORIGINS as a list (trailing slashes dropped)."""
        return tuple(origin.rstrip("/") for origin in _split_keys(self.cors_origins))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def previous_secret_keys(self) -> tuple[str, ...]:
        """Keys that still verify tokens (never sign them) during a key rotation."""
        return tuple(key for key in _split_keys(self.secret_key_previous) if key != self.secret_key)

    @property
    def uses_dev_key(self) -> bool:
        return self.secret_key == DEV_SECRET_KEY

    def dev_key_refusal(self, *, host: str | None = None, workers: int = 1) -> str | None:
        """Why this server must not start with the development key, or None when it may.

        `host` None (the app factory, which does not know its address) checks the database
        only; the command line also knows the address and the number of workers."""
        if not self.uses_dev_key:
            return None
        reasons = []
        if host is not None and not is_loopback(host):
            reasons.append(f"it listens on {host or 'every interface'}, not a loopback address")
        if workers > 1:
            reasons.append(f"it runs {workers} worker processes")
        if not self.is_sqlite:
            reasons.append("DATABASE_URL is not SQLite (a shared database is a real deployment)")
        if not reasons:
            return None
        return (
            "Refusing to start: SECRET_KEY is the public development key, with which anyone "
            "can sign a token for any user (CRM administrators included), and "
            + "; ".join(reasons)
            + ". The development key is allowed only for one process on SQLite listening on "
            "127.0.0.1, ::1 or localhost. " + HOW_TO_SET_A_KEY
        )

    def refuse_if_insecure(self, *, host: str | None = None, workers: int = 1) -> None:
        """Raise InsecureSecretKey with `dev_key_refusal`'s reason, if there is one."""
        reason = self.dev_key_refusal(host=host, workers=workers)
        if reason is not None:
            raise InsecureSecretKey(reason)

    def warn_if_insecure(self) -> None:
        if self.uses_dev_key:
            warnings.warn(
                "SECRET_KEY is the development default: tokens can be forged. "
                "Set SECRET_KEY to a long random value in production.",
                stacklevel=2,
            )


def _split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
