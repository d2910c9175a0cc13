"""`crmfeed check --hierarchy [--repair]` on the demo's SQLite file, and the closure the parent
links give (store/closure_check.py)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmfeed.cli import app
from store.closure_check import expected_closure

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

ENV = {
    "SECRET_KEY": "closure-check-secret-key-0123456789abcdef",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST_KIB": "64",
}


def run(path: Path, *args: str) -> Any:
    env = {**ENV, "DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    return CliRunner().invoke(app, list(args), env=env)


def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "crm.db"
    assert run(path, "demo").exit_code == 0
    return path


def closure(path: Path, table: str = "user_closure") -> set[tuple[int, int, int]]:
    with sqlite3.connect(path) as connection:
        return set(connection.execute(f"SELECT ancestor_id, descendant_id, depth FROM {table}"))


def peers(path: Path) -> tuple[int, int]:
    """Two users with the same superior."""
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT a.id, b.id FROM users a JOIN users b ON a.superior_id = b.superior_id "
            "AND a.id < b.id ORDER BY a.id LIMIT 1"
        ).fetchone()


def test_the_demo_org_charts_match_their_parent_links(tmp_path: Path) -> None:
    result = run(demo_db(tmp_path), "check", "--hierarchy")
    assert result.exit_code == 0, result.output
    assert "Demo Trading Co. (ent_1), reporting lines: ok (20 nodes)" in result.output
    assert "Demo Trading Co. (ent_1), departments: ok (7 nodes)" in result.output
    assert "All 2 trees match their parent links." in result.output


def test_a_wrong_closure_is_reported_then_rewritten_to_exactly_the_right_rows(
    tmp_path: Path,
) -> None:
    path = demo_db(tmp_path)
    right = closure(path)
    first, second = peers(path)
    with sqlite3.connect(path) as connection:
        connection.execute(  # an extra row: a peer above a peer
            "INSERT INTO user_closure VALUES (1, ?, ?, 1)", (first, second)
        )
        connection.execute(  # a missing row: the chief executive above everyone
            "DELETE FROM user_closure WHERE ancestor_id = 1 AND descendant_id = ?", (second,)
        )
        connection.execute(  # a wrong depth
            "UPDATE user_closure SET depth = 7 WHERE ancestor_id = 1 AND descendant_id = ?",
            (first,),
        )
    found = run(path, "check", "--hierarchy")
    assert found.exit_code == 1
    assert "reporting lines: closure wrong: 2 missing and 2 extra rows" in found.output
    assert "departments: ok" in found.output
    assert "1 of 2 trees are wrong" in found.output
    assert "crmfeed check --hierarchy --repair" in found.output

    repaired = run(path, "check", "--hierarchy", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "reporting lines: closure fixed: 2 missing and 2 extra rows" in repaired.output
    assert "(1 repaired)" in repaired.output
    assert closure(path) == right
    assert run(path, "check", "--hierarchy").exit_code == 0


def test_a_cycle_in_the_parent_links_is_named_and_left_for_an_administrator(
    tmp_path: Path,
) -> None:
    path = demo_db(tmp_path)
    users, departments = closure(path), closure(path, "department_closure")
    first, second = peers(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE users SET superior_id = ? WHERE id = ?", (second, first))
        connection.execute("UPDATE users SET superior_id = ? WHERE id = ?", (first, second))
        connection.execute("DELETE FROM department_closure WHERE depth = 1")
    result = run(path, "check", "--repair")
    assert result.exit_code == 1
    assert f"cycle usr_{first} -> usr_{second} -> usr_{first}: give one of them" in result.output
    assert "Break each cycle through the API" in result.output
    assert "departments: closure fixed" in result.output
    assert closure(path) == users  # that tree is not rewritten
    assert closure(path, "department_closure") == departments


# -- the closure that parent links give --------------------------------------------------------


def naive_closure(links: dict[int, int | None]) -> dict[tuple[int, int], int]:
    rows = {}
    for node in links:
        depth, above = 0, node
        while above is not None:
            rows[(above, node)] = depth
            depth, above = depth + 1, links[above]
    return rows


@st.composite
def forests(draw: st.DrawFn) -> dict[int, int | None]:
    """Parent links without cycles: each node's parent is an earlier node, or none; shuffled
    ids so the walk does not meet nodes in order."""
    size = draw(st.integers(0, 30))
    ids = draw(st.permutations(range(1, size + 1)))
    links: dict[int, int | None] = {}
    for index, node in enumerate(ids):
        parent = draw(st.one_of(st.none(), st.sampled_from(ids[:index]))) if index else None
        links[node] = parent
    return dict(sorted(links.items()))


@given(forests())
def test_a_forest_gives_every_ancestor_pair_at_its_depth(links: dict[int, int | None]) -> None:
    rows, cycles = expected_closure(links)
    assert cycles == []
    assert rows == naive_closure(links)


@given(forests(), st.data())
def test_a_cycle_is_found_and_nothing_on_or_below_it_has_rows(
    links: dict[int, int | None], data: st.DataObject
) -> None:
    if len(links) < 1:
        return
    node = data.draw(st.sampled_from(sorted(links)))
    below = {child for (ancestor, child) in naive_closure(links) if ancestor == node}
    target = data.draw(st.sampled_from(sorted(below)))
    links = {**links, node: target}  # hang `node` under one of its own descendants (or itself)
    rows, cycles = expected_closure(links)
    assert len(cycles) == 1
    assert node in cycles[0] and target in cycles[0]
    stuck = {child for child in links if any(n in cycles[0] for n in chain(links, child))}
    assert all(descendant not in stuck for (_, descendant) in rows)
    assert {descendant for (_, descendant) in rows} == set(links) - stuck


def chain(links: dict[int, int | None], node: int) -> list[int]:
    """`node` and its ancestors, stopping where the walk repeats."""
    seen: list[int] = []
    current: int | None = node
    while current is not None and current not in seen:
        seen.append(current)
        current = links[current]
    return seen
