"""The `crmfeed` command: serve, migrate, load the demo, check the configuration.

    crmfeed serve                 # migrate, load the demo on an empty SQLite file, serve /graphql
    crmfeed migrate               # bring DATABASE_URL up to the newest schema
    crmfeed demo                  # load the demo data into an empty database
    crmfeed check                 # effective settings and whether the database answers
    crmfeed check --hierarchy     # every org chart's closure tables against its parent links

Every command reads its settings from the environment (DATABASE_URL, BROADCAST_URL,
SECRET_KEY, ...), see `crmfeed check`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from crmfeed import demo as demo_data
from crmfeed.settings import DEV_SECRET_KEY, Settings
from store.engine import create_engine, create_session_factory
from store.migrate import current_revision, upgrade

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from resolvers.auth import Auth
    from store.closure_check import TreeReport

APP_FACTORY = "crmfeed.runtime:served_app"

app = typer.Typer(
    name="crmfeed",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
# Piped output (logs, CI) gets 120 columns, so the logins table never cuts an email address.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)

DB_ERRORS = (OSError, SQLAlchemyError, TimeoutError)


def say(message: str, *, prefix: str = "", style: str = "", err: bool = False) -> None:
    """One message, unwrapped (paths stay whole in logs) and without markup (it may hold data)."""
    text = Text.assemble((prefix, style), message) if prefix else Text(message)
    (errors if err else console).print(text, soft_wrap=True)


T = TypeVar("T")


# -- pure helpers ----------------------------------------------------------------------------------


def should_load_demo(*, is_sqlite: bool, has_data: bool, flag: bool | None) -> bool:
    """Whether `serve` loads the demo: never into a database with data; `--demo` / `--no-demo`
    decide on an empty one; without either flag, only on an empty embedded (SQLite) database."""
    if has_data:
        return False
    if flag is not None:
        return flag
    return is_sqlite


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def mask_secret(value: str) -> str:
    if value == DEV_SECRET_KEY:
        return "development default (insecure: set SECRET_KEY)"
    return f"set ({len(value)} characters, hidden)"


def public_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/graphql"


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# -- database steps --------------------------------------------------------------------------------


def load_settings() -> Settings:
    """Fresh settings from the environment (not cached: each command reads them anew)."""
    try:
        return Settings()
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        say(str(error), prefix="Invalid settings: ", style="red", err=True)
        raise typer.Exit(2) from None


def warn_if_insecure(settings: Settings) -> None:
    """Show Settings.warn_if_insecure's warning in the terminal, in yellow."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings.warn_if_insecure()
    for warning in caught:
        say(str(warning.message), prefix="Warning: ", style="bold yellow", err=True)


def run_db(settings: Settings, step: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run one async step against a fresh engine; a database that does not answer exits 1."""

    async def run() -> T:
        engine = create_engine(settings)
        try:
            return await step(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DB_ERRORS as error:
        say(
            f"{type(error).__name__}: {error}",
            prefix=f"The database at {mask_url(settings.database_url)} did not answer: ",
            style="red",
            err=True,
        )
        raise typer.Exit(1) from None


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `serve` found and did before starting the server."""

    revision: str | None
    had_data: bool
    demo: demo_data.DemoData | None
    demo_present: bool


async def prepare(engine: AsyncEngine, settings: Settings, flag: bool | None) -> Prepared:
    """Migrate to head, then load the demo if `should_load_demo` says so."""
    await upgrade(engine)
    session_factory = create_session_factory(engine)
    async with session_factory() as session:
        had_data = await demo_data.has_enterprises(session)
        demo_present = had_data and await demo_data.demo_is_loaded(session)
    loaded = None
    if should_load_demo(is_sqlite=settings.is_sqlite, has_data=had_data, flag=flag):
        loaded = await demo_data.load_demo(session_factory, settings)
        demo_present = True
    return Prepared(await current_revision(engine), had_data, loaded, demo_present)


# -- output ----------------------------------------------------------------------------------------


def print_logins(password: str) -> None:
    table = Table(title=f"Demo logins ({demo_data.ENTERPRISE_NAME})", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("email", no_wrap=True, overflow="fold")
    table.add_column("password", no_wrap=True, overflow="fold")
    table.add_column("position")
    table.add_column("roles")
    for login in demo_data.demo_logins():
        roles = ", ".join(role.value for role in login.roles)
        table.add_row(login.name, login.email, password, login.position, roles)
    console.print(table, markup=False)


def print_loaded(loaded: demo_data.DemoData) -> None:
    counts = ", ".join(f"{count} {kind}" for kind, count in loaded.record_counts.items())
    say(
        f"Loaded the demo: {len(loaded.logins)} people, {loaded.record_total} records ({counts}), "
        f"{loaded.feed_items} feed items."
    )
    print_logins(loaded.password)
    for confirmer, names in loaded.waiting.items():
        say(f"Waiting for {confirmer}'s confirmation: {', '.join(names)}.")
    if loaded.lead_to_convert is not None:
        who, lead = loaded.lead_to_convert
        say(f"A lead {who} may convert (CONVERT): {lead}.")


# -- commands --------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on (with the development SECRET_KEY: loopback only)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Load demo data into an empty database. Default: only when DATABASE_URL is "
            "SQLite and the database is empty. A database with data never gets the demo.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (more than 1 needs PostgreSQL + Redis).")
    ] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Migrate, load the demo if empty, serve /graphql.

    Brings DATABASE_URL to the newest schema, loads the demo data into an empty embedded
    (SQLite) database and prints its logins, then serves GraphQL at /graphql (GraphiQL in a
    browser) and a health check at /healthz.

    Refuses to start with the public development SECRET_KEY unless it is one process on
    SQLite listening on a loopback address (the default --host 127.0.0.1).
    """
    import uvicorn

    from crmfeed.runtime import uvicorn_options

    settings = load_settings()
    refusal = settings.dev_key_refusal(host=host, workers=workers)
    if refusal is not None:
        say(refusal, style="red", err=True)
        raise typer.Exit(2)
    warn_if_insecure(settings)
    if workers > 1 and settings.is_sqlite:
        say(
            "several workers on SQLite share one file; "
            "use PostgreSQL (DATABASE_URL=postgresql+asyncpg://...) to scale out.",
            prefix="Note: ",
            style="yellow",
            err=True,
        )
    prepared = run_db(settings, lambda engine: prepare(engine, settings, demo))
    say(f"Database {mask_url(settings.database_url)} is at revision {prepared.revision}.")
    if prepared.demo is not None:
        print_loaded(prepared.demo)
    elif demo and prepared.had_data:
        say("The database already has data, so the demo was not loaded.")
    elif prepared.demo_present:
        say("The demo data is already loaded; its logins:")
        print_logins(demo_data.DEMO_PASSWORD)
    elif not prepared.had_data:
        say(
            "The database is empty: register an enterprise with the registerEnterprise "
            "mutation, or run `crmfeed demo`."
        )
    say(f"GraphiQL: {public_url(host, port)}   (health check: /healthz)")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics then answers the sum of every worker's figures (crmfeed/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="crmfeed-metrics-")
    # The app repeats the SECRET_KEY warning at import; it was just shown, once is enough.
    warnings.filterwarnings("ignore", message="SECRET_KEY is the development default")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        reload=reload,
        log_level=log_level,
        **uvicorn_options(settings),
    )


@app.command()
def migrate() -> None:
    """Apply the migrations to DATABASE_URL.

    Safe to run again: a database already at the newest revision is left as it is.
    Prints the revision the database ends at.
    """
    settings = load_settings()

    async def step(engine: AsyncEngine) -> tuple[str | None, str | None]:
        before = await current_revision(engine)
        await upgrade(engine)
        return before, await current_revision(engine)

    before, after = run_db(settings, step)
    where = mask_url(settings.database_url)
    if before == after:
        say(f"Database {where} is already at revision {after} (head).")
    else:
        say(f"Migrated {where} from {before or 'an empty database'} to {after} (head).")


@app.command("demo")
def load_demo_command() -> None:
    """Load the demo data into an empty database.

    One enterprise, 20 people in a reporting tree, departments, roles, sharing rules and a few
    hundred records. Migrates the database first and prints the demo logins. Refuses (and
    changes nothing) if the database already has data.
    """
    settings = load_settings()

    async def step(engine: AsyncEngine) -> demo_data.DemoData | None:
        await upgrade(engine)
        session_factory = create_session_factory(engine)
        async with session_factory() as session:
            if await demo_data.has_enterprises(session):
                return None
        return await demo_data.load_demo(session_factory, settings)

    loaded = run_db(settings, step)
    if loaded is None:
        say(
            f"The database {mask_url(settings.database_url)} already has data; the demo is "
            "loaded only into an empty database. Nothing was changed. (Point DATABASE_URL at a "
            "new SQLite file, e.g. sqlite+aiosqlite:///./demo.db, to try it.)",
            err=True,
        )
        raise typer.Exit(1)
    print_loaded(loaded)


@app.command()
def check(
    hierarchy: Annotated[
        bool,
        typer.Option(
            "--hierarchy",
            help="Instead: verify every enterprise's closure tables (reporting lines, "
            "departments) against the parent links; exit 1 when one is wrong.",
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="With --hierarchy: rewrite the wrong closure rows from the parent links.",
        ),
    ] = False,
) -> None:
    """Show the settings and whether the database answers.

    Prints every setting with its environment variable (secrets hidden), whether it is the
    default, whether the database is reachable and at which schema revision. Exits 1 when the
    database does not answer. With --hierarchy, checks the org charts instead.
    """
    settings = load_settings()
    if hierarchy or repair:
        check_hierarchy(settings, repair=repair)
        return
    table = Table(title="Settings", title_justify="left")
    table.add_column("environment variable")
    table.add_column("value")
    table.add_column("")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "secret_key":
            shown = mask_secret(value)
        elif name == "secret_key_previous":
            count = len(settings.previous_secret_keys)
            shown = f"{count} key{'s' if count != 1 else ''} (hidden)" if count else "none"
        elif name == "metrics_token":
            shown = f"set ({len(value)} characters, hidden)" if value else "none (loopback only)"
        elif name.endswith("_url"):
            shown = mask_url(value)
        else:
            shown = str(value)
        table.add_row(name.upper(), shown, "default" if value == info.default else "set")
    console.print(table, markup=False)
    warn_if_insecure(settings)

    async def step(engine: AsyncEngine) -> tuple[str | None, bool]:
        revision = await current_revision(engine)
        if revision is None:
            return None, False
        async with create_session_factory(engine)() as session:
            return revision, await demo_data.has_enterprises(session)

    revision, has_data = run_db(settings, step)
    head = head_revision()
    say(f"Database: reachable ({'SQLite' if settings.is_sqlite else 'PostgreSQL'}).")
    if revision is None:
        say(f"Schema: none yet (newest is {head}); run `crmfeed migrate`.")
    elif revision != head:
        say(f"Schema: revision {revision}, newest is {head}; run `crmfeed migrate`.")
    else:
        say(f"Schema: revision {revision} (newest).")
        say(f"Data: {'present' if has_data else 'none yet (empty database)'}.")


app.command("info", hidden=True, help="Same as `check`.")(check)


def check_hierarchy(settings: Settings, *, repair: bool) -> None:
    """Each enterprise's trees against their parent links, one transaction per enterprise;
    exits 1 when something is (still) wrong."""
    from store.closure_check import check_enterprise, enterprise_ids

    async def step(engine: AsyncEngine) -> list[TreeReport]:
        reports: list[TreeReport] = []
        async with create_session_factory(engine)() as session:
            for enterprise_id in await enterprise_ids(session):
                reports += await check_enterprise(session, enterprise_id, repair=repair)
                await session.commit()
        return reports

    reports = run_db(settings, step)
    for report in reports:
        style = "green" if report.ok else ("yellow" if report.repaired else "red")
        say(report.describe(), style=style)
    unfixed = [r for r in reports if not r.ok and not (r.repaired and not r.cycles)]
    if unfixed:
        hint = " Run `crmfeed check --hierarchy --repair` to rewrite them."
        if any(report.cycles for report in unfixed):
            hint = (
                " Break each cycle through the API, then run `crmfeed check --hierarchy --repair`."
            )
        elif repair:
            hint = ""
        say(f"{len(unfixed)} of {len(reports)} trees are wrong.{hint}", style="red", err=True)
        raise typer.Exit(1)
    repaired = sum(report.repaired for report in reports)
    say(
        f"All {len(reports)} trees match their parent links"
        + (f" ({repaired} repaired)." if repaired else ".")
    )


@app.command("create-enterprise")
def create_enterprise(
    name: Annotated[str, typer.Option(help="The enterprise's name.")],
    admin_name: Annotated[str, typer.Option(help="The first CRM administrator's name.")],
    email: Annotated[str, typer.Option(help="The administrator's login email.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CRMFEED_ADMIN_PASSWORD",
            help=(
                "At least 8 characters and not easy to guess; asked for when not given "
                "(or CRMFEED_ADMIN_PASSWORD)."
            ),
        ),
    ],
) -> None:
    """Register an enterprise and its first admin.

    Does what the registerEnterprise mutation does, from the command line: a new enterprise with
    its first CRM administrator. Migrates the database first.
    """
    from resolvers.context import Context
    from resolvers.errors import CrmError

    settings = load_settings()

    async def step(engine: AsyncEngine) -> Auth:
        from resolvers.auth import register_enterprise

        await upgrade(engine)
        context = Context(settings, create_session_factory(engine), token=None)
        try:
            return await register_enterprise(
                context, enterprise_name=name, admin_name=admin_name, email=email, password=password
            )
        finally:
            await context.close()

    try:
        auth = run_db(settings, step)
    except CrmError as error:
        say(error.message, prefix="Not created: ", style="red", err=True)
        raise typer.Exit(1) from None
    say(f"Created enterprise {name!r} with CRM administrator {auth.user.name} <{auth.user.email}>.")


# -- GraphiQL's assets and the SDL ---------------------------------------------------------------


@app.command("graphiql-assets")
def graphiql_assets(
    directory: Annotated[
        str | None,
        typer.Option(
            "--dir",
            help="Folder to fetch into. Default: GRAPHIQL_ASSETS_DIR (./graphiql-assets).",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str, typer.Option(help="npm registry (or a mirror of it) to fetch from.")
    ] = "https://registry.npmjs.org/",
) -> None:
    """Fetch GraphiQL's scripts and styles for GRAPHIQL_ASSETS=local.

    Fetches the exact versions the GraphiQL page pins from the npm registry, checks each
    tarball against the registry's integrity hash and each file against the page's own, and
    writes them to the folder; serve with GRAPHIQL_ASSETS=local (and GRAPHIQL_ASSETS_DIR
    naming that folder, if not the default) to need no CDN.
    """
    from pathlib import Path

    from crmfeed.graphiql import FetchError, fetch_assets

    target = Path(directory or load_settings().graphiql_assets_dir)
    try:
        written = fetch_assets(target, registry=registry, report=say)
    except FetchError as error:
        say(str(error), prefix="Not fetched: ", style="red", err=True)
        raise typer.Exit(1) from None
    say(f"{len(written)} files in {target.resolve()}.")
    say(
        "Serve them with: GRAPHIQL_ASSETS=local "
        f"GRAPHIQL_ASSETS_DIR={target.resolve()} crmfeed serve"
    )


@app.command("schema")
def print_schema() -> None:
    """Print the GraphQL schema (SDL), as `schema.graphql` at the repository's root holds it.

    After changing the schema: crmfeed schema > schema.graphql
    """
    from schema.build import build_schema

    typer.echo(build_schema(load_settings()).as_str())


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        say(f"crmfeed {version('crmfeed')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """crmfeed: a GraphQL service for a CRM's follow-up activity.

    Settings come from environment variables (DATABASE_URL, BROADCAST_URL, SECRET_KEY, ...);
    `crmfeed check` prints them. Start with `crmfeed serve`.
    """


# `crmfeed import`, `crmfeed export`, `crmfeed template` (crmfeed/cli_transfer.py).
from crmfeed.cli_transfer import register as _register_transfer  # noqa: E402

_register_transfer(app)
