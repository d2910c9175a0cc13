"""Checking the closure tables against the parent links they are built from, and rebuilding them.

    reports = await check_enterprise(session, enterprise_id)          # read only
    reports = await check_enterprise(session, enterprise_id, repair=True)

The parent links (`users.superior_id`, `departments.parent_id`) are the truth; the closure
tables are derived from them and every visibility rule reads the closure. A closure row that no
chain of parent links gives grants access nobody was given, so a wrong closure is a leak: the
check says what is missing and what is extra, and `repair` rewrites exactly those rows (under
the org-chart lock). Parent links that form a cycle have no closure: they are reported and
left for an administrator to fix through the API, and that tree is not rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, insert, select, tuple_

from crmfeed.ids import Kind
from store.locks import lock_org_chart
from store.models import Department, DepartmentClosure, Enterprise, User, UserClosure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Tree:
    """One tree of an enterprise: its nodes' parent links and its closure table."""

    name: str
    kind: Kind
    node: type[User] | type[Department]
    link: str
    closure: type[UserClosure] | type[DepartmentClosure]
    fix: str  # how an administrator breaks a cycle


TREES = (
    Tree(
        "reporting lines",
        Kind.USER,
        User,
        "superior_id",
        UserClosure,
        "give one of them another superiorId with updateUser",
    ),
    Tree(
        "departments",
        Kind.DEPARTMENT,
        Department,
        "parent_id",
        DepartmentClosure,
        "give one of them another parentId with updateDepartment",
    ),
)


@dataclass(slots=True)
class TreeReport:
    """What one tree's closure lacks and holds beyond its parent links."""

    enterprise_id: int
    enterprise_name: str
    tree: Tree
    nodes: int
    missing: dict[Pair, int] = field(default_factory=dict)  # (ancestor, descendant) -> depth
    extra: dict[Pair, int] = field(default_factory=dict)
    cycles: list[list[int]] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.cycles)

    def describe(self) -> str:
        """One line: the enterprise, the tree, and what is wrong with it."""
        where = f"{self.enterprise_name} (ent_{self.enterprise_id}), {self.tree.name}"
        if self.ok:
            return f"{where}: ok ({self.nodes} nodes)"
        parts = []
        if self.missing or self.extra:
            done = "fixed" if self.repaired else "wrong"
            parts.append(
                f"closure {done}: {len(self.missing)} missing and {len(self.extra)} extra rows"
            )
        for cycle in self.cycles:
            path = " -> ".join(f"{self.tree.kind.value}_{node}" for node in [*cycle, cycle[0]])
            parts.append(f"the parent links form a cycle {path}: {self.tree.fix}")
        return f"{where}: " + "; ".join(parts)


def expected_closure(links: Mapping[int, int | None]) -> tuple[dict[Pair, int], list[list[int]]]:
    """The closure rows the parent links give, and the cycles among them. A node on a cycle,
    or below one, has no closure rows: its chain never reaches a root."""
    rows: dict[Pair, int] = {}
    cycles: list[list[int]] = []
    chains: dict[int, list[int] | None] = {}  # node -> its chain upwards, None if it loops
    for start in links:
        path: list[int] = []
        on_path: set[int] = set()
        node: int | None = start
        while node is not None and node not in chains and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = links.get(node)
        if node is None or node not in on_path:
            above = [] if node is None else chains[node]
            for index in range(len(path) - 1, -1, -1):
                above = None if above is None else [path[index], *above]
                chains[path[index]] = above
        else:  # the walk came back to a node of its own path
            loop = path[path.index(node) :]
            start = loop.index(min(loop))
            cycles.append(loop[start:] + loop[:start])
            for member in path:
                chains[member] = None
    for node, chain in chains.items():
        for depth, ancestor in enumerate(chain or ()):
            rows[(ancestor, node)] = depth
    return rows, cycles


async def _check_tree(
    session: AsyncSession, enterprise: Enterprise, tree: Tree, *, repair: bool
) -> TreeReport:
    node, closure = tree.node, tree.closure
    parent = getattr(node, tree.link)
    rows = await session.execute(select(node.id, parent).where(node.enterprise_id == enterprise.id))
    links: dict[int, int | None] = {child: above for child, above in rows}
    stored = {
        (ancestor, descendant): depth
        for ancestor, descendant, depth in await session.execute(
            select(closure.ancestor_id, closure.descendant_id, closure.depth).where(
                closure.enterprise_id == enterprise.id
            )
        )
    }
    expected, cycles = expected_closure(links)
    report = TreeReport(
        enterprise_id=enterprise.id,
        enterprise_name=enterprise.name,
        tree=tree,
        nodes=len(links),
        missing={pair: depth for pair, depth in expected.items() if stored.get(pair) != depth},
        extra={pair: depth for pair, depth in stored.items() if expected.get(pair) != depth},
        cycles=cycles,
    )
    if repair and not cycles and (report.missing or report.extra):
        await _rewrite(session, enterprise.id, closure, report)
        report.repaired = True
    return report


async def _rewrite(
    session: AsyncSession,
    enterprise_id: int,
    closure: type[UserClosure] | type[DepartmentClosure],
    report: TreeReport,
) -> None:
    """Delete the extra rows, then insert the missing ones (a pair with a wrong depth is in
    both)."""
    pairs = list(report.extra)
    for start in range(0, len(pairs), 500):
        await session.execute(
            delete(closure).where(
                and_(
                    closure.enterprise_id == enterprise_id,
                    tuple_(closure.ancestor_id, closure.descendant_id).in_(
                        pairs[start : start + 500]
                    ),
                )
            )
        )
    if report.missing:
        await session.execute(
            insert(closure),
            [
                {
                    "enterprise_id": enterprise_id,
                    "ancestor_id": ancestor,
                    "descendant_id": descendant,
                    "depth": depth,
                }
                for (ancestor, descendant), depth in report.missing.items()
            ],
        )


async def check_enterprise(
    session: AsyncSession, enterprise_id: int, *, repair: bool = False
) -> list[TreeReport]:
    """Both trees of one enterprise, read (and with `repair`, rewritten) under the org-chart
    lock; the caller commits."""
    await lock_org_chart(session, enterprise_id)
    enterprise = await session.get_one(Enterprise, enterprise_id)
    return [await _check_tree(session, enterprise, tree, repair=repair) for tree in TREES]


async def enterprise_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Enterprise.id).order_by(Enterprise.id)))
