"""Both ways of reading a feed must show what `tests.oracle` says.

WORK and the scenes are read from the records they are about when those are few
(`store.visibility.NARROW_REACH`), and otherwise by walking every item newest first. The random
organizations of `tests.test_feed_oracle` are small, so there every viewer is read the first way;
here the same scenarios (other seeds) run once with the threshold below every reach (every feed
walks), once above it (every feed is read from its records), and once at a few records, where
viewers fall on both sides and a record open to a viewer in several ways (owner, team, sharing)
must still count once. So both plans, every page, every `totalCount` and the settings changes
are checked against the oracle on both databases.
`CRMFEED_FEED_PLAN_SEEDS` sets how many organizations per plan and database (20 by default).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

from store import visibility
from tests.test_feed_oracle import run_scenario

if TYPE_CHECKING:
    from tests.conftest import Api

SEEDS = range(int(os.environ.get("CRMFEED_FEED_PLAN_SEEDS", "20")))
FIRST_SEED = 10_000  # not the seeds of tests/test_feed_oracle.py
PLANS = {"walk": -1, "from the records": 1_000_000, "at a few records": 2}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("plan", list(PLANS))
async def test_feed_plan_matches_oracle(
    api: Api, monkeypatch: pytest.MonkeyPatch, plan: str, seed: int
) -> None:
    monkeypatch.setattr(visibility, "NARROW_REACH", PLANS[plan])
    await run_scenario(api, random.Random(FIRST_SEED + seed), f"{plan}, seed {seed}")
