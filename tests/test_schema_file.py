"""`schema.graphql` at the repository's root is the code's schema, as `crmfeed schema` prints it:
client code generated from the file never drifts from the server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crmfeed.cli import app
from crmfeed.settings import Settings
from schema.build import build_schema

CHECKED_IN = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_the_checked_in_sdl_is_the_codes_schema() -> None:
    printed = build_schema(Settings()).as_str() + "\n"
    assert CHECKED_IN.read_text(encoding="utf-8") == printed, (
        "schema.graphql differs from the code's schema: run `crmfeed schema > schema.graphql` "
        "and commit it (look at the diff: a removed or renamed field breaks clients)."
    )


def test_crmfeed_schema_prints_the_sdl() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.output == build_schema(Settings()).as_str() + "\n"
    assert "type Query {" in result.output
    assert "type Subscription {" in result.output
