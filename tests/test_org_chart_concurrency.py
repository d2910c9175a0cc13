"""Concurrent changes of one org chart: opposite re-parentings, moves racing new subordinates.

Two moves that are each fine alone (X under Y, Y under X) must not both succeed: one wins, the
other is refused with a code, and afterwards the closure tables match the parent links (what
`crmfeed check --hierarchy` verifies).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from crmfeed.ids import Kind, from_global
from store.closure_check import check_enterprise
from store.models import User
from tests.helpers import (
    CREATE_DEPARTMENT,
    CREATE_USER,
    PASSWORD,
    UPDATE_DEPARTMENT,
    UPDATE_USER,
    create_department,
    create_record,
    create_user,
    create_user_with_token,
    register,
    visible_record_ids,
)

if TYPE_CHECKING:
    from typing import Any

    from tests.conftest import Api

ROUNDS = 6
REFUSALS = {"CONFLICT", "BAD_USER_INPUT"}


async def assert_closure_matches_parent_links(api: Api, admin_id: str) -> None:
    async with api.services.session_factory() as session:
        admin = await session.get_one(User, from_global(Kind.USER, admin_id))
        reports = await check_enterprise(session, admin.enterprise_id)
    assert [report.describe() for report in reports if not report.ok] == []


def one_won(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The refusal of the one that lost; fails unless exactly one of the two succeeded."""
    failed = [body for body in bodies if body.get("errors")]
    assert len(failed) == 1, bodies
    error = failed[0]["errors"][0]
    assert error["extensions"]["code"] in REFUSALS, error
    assert "cycle" in error["message"]
    return error


async def test_opposite_concurrent_superior_changes_leave_no_cycle(api: Api) -> None:
    token, admin_id = await register(api)
    for _ in range(ROUNDS):
        x = await create_user(api, token)
        y = await create_user(api, token)
        bodies = await asyncio.gather(
            api.raw(UPDATE_USER, {"id": x, "input": {"superiorId": y}}, token),
            api.raw(UPDATE_USER, {"id": y, "input": {"superiorId": x}}, token),
        )
        one_won(bodies)
    await assert_closure_matches_parent_links(api, admin_id)


async def test_opposite_concurrent_department_moves_leave_no_cycle(api: Api) -> None:
    token, admin_id = await register(api)
    for _ in range(ROUNDS):
        a = await create_department(api, token, name="A")
        b = await create_department(api, token, name="B")
        bodies = await asyncio.gather(
            api.raw(UPDATE_DEPARTMENT, {"id": a, "input": {"parentId": b}}, token),
            api.raw(UPDATE_DEPARTMENT, {"id": b, "input": {"parentId": a}}, token),
        )
        one_won(bodies)
    await assert_closure_matches_parent_links(api, admin_id)


async def test_a_cycle_closed_by_a_concurrent_move_is_a_conflict_naming_the_field(
    api: Api,
) -> None:
    """Three users in a chain of moves: whichever lands last would close the loop."""
    token, admin_id = await register(api)
    for _ in range(ROUNDS):
        a, b, c = [await create_user(api, token) for _ in range(3)]
        await api.ok(UPDATE_USER, {"id": b, "input": {"superiorId": a}}, token)
        bodies = await asyncio.gather(
            api.raw(UPDATE_USER, {"id": c, "input": {"superiorId": b}}, token),
            api.raw(UPDATE_USER, {"id": a, "input": {"superiorId": c}}, token),
        )
        error = one_won(bodies)
        assert error["extensions"]["field"] == "superiorId"
    await assert_closure_matches_parent_links(api, admin_id)


async def test_new_subordinates_created_while_their_superior_moves_get_the_new_chain(
    api: Api,
) -> None:
    """A user created under S copies S's chain; S moving at the same time must not leave the
    new user with S's old superiors (they would keep seeing the new user's records)."""
    token, admin_id = await register(api)
    old_boss_token, old_boss = await create_user_with_token(api, token)
    new_boss_token, new_boss = await create_user_with_token(api, token)
    middle = await create_user(api, token, superiorId=old_boss)
    created = await asyncio.gather(
        api.raw(UPDATE_USER, {"id": middle, "input": {"superiorId": new_boss}}, token),
        *(
            api.raw(
                CREATE_USER,
                {
                    "input": {
                        "name": f"New {n}",
                        "email": f"new-{n}-{admin_id}@example.com",
                        "password": PASSWORD,
                        "superiorId": middle,
                    }
                },
                token,
            )
            for n in range(4)
        ),
    )
    assert [body.get("errors") for body in created] == [None] * 5
    await assert_closure_matches_parent_links(api, admin_id)
    record = await create_record(api, token, owner_id=created[1]["data"]["createUser"]["id"])
    assert record in await visible_record_ids(api, new_boss_token)
    assert record not in await visible_record_ids(api, old_boss_token)


async def test_departments_created_while_their_parent_moves_get_the_new_chain(api: Api) -> None:
    token, admin_id = await register(api)
    old_root = await create_department(api, token, name="Old")
    new_root = await create_department(api, token, name="New")
    middle = await create_department(api, token, name="Middle", parentId=old_root)
    bodies = await asyncio.gather(
        api.raw(UPDATE_DEPARTMENT, {"id": middle, "input": {"parentId": new_root}}, token),
        *(
            api.raw(CREATE_DEPARTMENT, {"input": {"name": f"D{n}", "parentId": middle}}, token)
            for n in range(4)
        ),
    )
    assert [body.get("errors") for body in bodies] == [None] * 5
    await assert_closure_matches_parent_links(api, admin_id)
