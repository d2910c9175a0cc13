"""The set-based visibility rules against the oracle, over every (user, row) pair.

`store.visibility` states the rules twice: for one known viewer (`readable(viewer)`,
`follow_up_open(viewer)`, `visible_items(viewer)`), and with the user as a SQL column
(`readable_to`, `follow_up_open_to`, `item_visible_to`), which the live deliverer uses to check a
batch of notifications for all their recipients in one statement. The oracle tests call
`compare` after building (and after changing) a random organization: each set-based condition is
evaluated over every (user, record) and (user, item) pair of the organization in one statement,
and must hold exactly for the pairs the oracle allows, and for those the per-viewer form allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, true
from sqlalchemy.orm import aliased

from crmfeed.ids import Kind, from_global
from store import org as org_store
from store import visibility
from store.feed_tables import FeedItem
from store.models import Record, User

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Api
    from tests.oracle import Org

ASKING = aliased(User, name="asking_user")


async def _pairs(
    session: AsyncSession,
    row: type[Record] | type[FeedItem],
    condition: ColumnElement[bool],
    users: list[int],
    rows: list[int],
) -> set[tuple[int, int]]:
    """The (user, row) pairs of the lists for which the condition holds: one statement."""
    found = await session.execute(
        select(ASKING.id, row.id)
        .select_from(ASKING)
        .join(row, true())  # every pair: a cross join
        .where(ASKING.id.in_(users), row.id.in_(rows), condition)
    )
    return {(user, key) for user, key in found}


async def compare(api: Api, org: Org, ids: dict[str, str], label: str) -> int:
    """Check every pair; fail with every difference. Returns how many pairs were checked."""
    users = {from_global(Kind.USER, ids[key]): key for key in org.users}
    records = {from_global(Kind.RECORD, ids[key]): key for key in org.records}
    items = {from_global(Kind.FEED_ITEM, ids[key]): key for key in org.items if key in ids}
    user_ids, record_ids, item_ids = list(users), list(records), list(items)
    problems: list[str] = []
    async with api.services.session_factory() as session:
        found = {
            "readable_to": await _pairs(
                session, Record, visibility.readable_to(ASKING.id), user_ids, record_ids
            ),
            "follow_up_open_to": await _pairs(
                session, Record, visibility.follow_up_open_to(ASKING.id), user_ids, record_ids
            ),
            "item_visible_to": await _pairs(
                session, FeedItem, visibility.item_visible_to(ASKING.id), user_ids, item_ids
            ),
        }
        per_viewer: dict[str, set[tuple[int, int]]] = {name: set() for name in found}
        enterprise = await session.scalar(select(User.enterprise_id).where(User.id == user_ids[0]))
        assert enterprise is not None
        for user_id in user_ids:
            viewer = await org_store.load_viewer(session, enterprise, user_id)
            assert viewer is not None
            for name, row, condition, keys in (
                ("readable_to", Record, visibility.readable(viewer), record_ids),
                ("follow_up_open_to", Record, visibility.follow_up_open(viewer), record_ids),
                ("item_visible_to", FeedItem, visibility.visible_items(viewer), item_ids),
            ):
                rows = await session.scalars(select(row.id).where(row.id.in_(keys), condition))
                per_viewer[name] |= {(user_id, key) for key in rows}
    expected = {
        "readable_to": {
            (u, r) for u in user_ids for r in record_ids if org.can_read(users[u], records[r])
        },
        "follow_up_open_to": {
            (u, r) for u in user_ids for r in record_ids if org.follow_up_open(users[u], records[r])
        },
        "item_visible_to": {
            (u, i) for u in user_ids for i in item_ids if org.item_visible(users[u], items[i])
        },
    }

    def explain(name: str, user: int, key: int) -> str:
        who = users[user]
        if name == "item_visible_to":
            return org.explain_item(who, items[key])
        record = records[key]
        if name == "readable_to":
            return f"{record} ({sorted(org.reasons(who, record))})"
        reasons = org.follow_up_reasons(who, record)
        return f"{record} ({sorted(reasons) or org.follow_up_closed(who, record)})"

    for name, got in found.items():
        for against, wanted in (("the oracle", expected[name]), ("per viewer", per_viewer[name])):
            for user, key in sorted(wanted - got):
                problems.append(
                    f"{name}: user {users[user]} misses {explain(name, user, key)} "
                    f"that {against} allows"
                )
            for user, key in sorted(got - wanted):
                problems.append(
                    f"{name}: user {users[user]} gets {explain(name, user, key)} "
                    f"that {against} refuses"
                )
    if problems:
        pytest.fail(
            f"{label}: the set-based visibility rules disagree\n"
            + "\n".join(problems)
            + f"\norganization:\n{org.describe()}\nids: {ids}",
            pytrace=False,
        )
    return len(user_ids) * (2 * len(record_ids) + len(item_ids))
