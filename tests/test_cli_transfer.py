"""`crmfeed template`, `crmfeed import` and `crmfeed export` on a database of the test's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.test_cli import env_for, run
from tests.transfer_helpers import read_rows, workbook

if TYPE_CHECKING:
    from pathlib import Path


def test_an_operator_imports_and_exports_as_a_user(tmp_path: Path) -> None:
    env = env_for(tmp_path / "crm.db", FILES_DIR=str(tmp_path / "files"))
    env["CRMFEED_ADMIN_PASSWORD"] = "Tr0ub4dor&3-horse-staple"
    created = run(
        "create-enterprise", "--name", "Acme", "--admin-name", "Ada", "--email", "ada@example.com",
        env=env,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    template = tmp_path / "template.xlsx"
    result = run(
        "template", "--object", "account", "--as", "ada@example.com", "-o", str(template), env=env
    )
    assert result.exit_code == 0, result.output
    assert read_rows(template.read_bytes())[1][0] == "name"
    data = tmp_path / "accounts.xlsx"
    rows = [[f"Co {n}", "Z" if n == 3 else "A"] for n in range(50)]
    data.write_bytes(workbook(["Name", "Level"], rows))
    result = run("import", str(data), "--object", "account", "--as", "ada@example.com", env=env)
    assert result.exit_code == 0, result.output
    assert "49 imported, 1 failed" in result.output
    assert "UNKNOWN_OPTION" in result.output and "Error report:" in result.output
    out = tmp_path / "out.xlsx"
    result = run(
        "export", "--object", "account", "--as", "ada@example.com", "-o", str(out), env=env
    )
    assert result.exit_code == 0, result.output
    assert len(read_rows(out.read_bytes())) == 50
    notes = tmp_path / "sales-records.xlsx"
    notes.write_bytes(
        workbook(["Content", "Account"], [["Met them", "Co 1"], ["Called", "Co 2"], ["?", "Co 3"]])
    )
    result = run(
        "import", str(notes), "--object", "sales-record", "--as", "ada@example.com", env=env
    )
    assert result.exit_code == 0, result.output
    assert "Sales Record import finished: 2 imported, 1 failed" in result.output
    assert "UNKNOWN_REFERENCE" in result.output  # Co 3 failed its import above
    result = run(
        "template", "--object", "sales-record", "--as", "ada@example.com", "-o", str(template),
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_rows(template.read_bytes())[1] == ["content", "account", "relatedType", "relatedTo"]
    refused = run("import", str(data), "--object", "planet", "--as", "ada@example.com", env=env)
    assert refused.exit_code != 0 and "unknown object type" in refused.output
    refused = run("export", "--object", "account", "--as", "x@example.com", "-o", str(out), env=env)
    assert refused.exit_code != 0 and "no active user" in refused.output
