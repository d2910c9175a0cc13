"""startExport answered directly: the rows the caller may read (checked against the visibility
oracle), the fields they may see, the list's filter and scene, and a download only for them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from crmfeed.ids import Kind, from_global
from resolvers.transfer_jobs import TransferRunner, export_path
from store.transfer_tables import TransferJob
from store.types import utcnow
from tests.feed_helpers import feed_ids, post
from tests.records_helpers import new_org
from tests.test_visibility_oracle import build, random_plan
from tests.transfer_helpers import START_EXPORT, download, read_rows

if TYPE_CHECKING:
    from tests.conftest import Api
    from tests.records_helpers import Person

SET_ACCESS = """mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""


async def export(
    api: Api, token: str, object_type: str = "ACCOUNT", **variables: Any
) -> tuple[dict[str, Any], list[list[Any]]]:
    data = await api.ok(START_EXPORT, {"type": object_type, **variables}, token)
    job = data["startExport"]
    assert job["status"] == "SUCCEEDED", job
    status, body = await download(api, job["downloadUrl"], token)
    assert status == 200
    return job, read_rows(body)


async def test_exports_hold_the_rows_each_user_may_read(api: Api) -> None:
    plan = random_plan(random.Random(1606), types=["ACCOUNT"])
    world = await build(api, "export oracle", plan)
    sizes = set()
    for user in plan.org.users:
        if not {"SALES", "CRM_ADMIN"} & set(plan.org.users[user].roles):
            refused = await api.error(START_EXPORT, {"type": "ACCOUNT"}, world.tokens[user])
            assert refused["extensions"]["code"] == "FORBIDDEN"
            continue
        job, rows = await export(api, world.tokens[user])
        expected = [world.ids[key] for key in plan.org.readable(user, "ACCOUNT")]
        got = [row[0] for row in rows[1:]]
        assert sorted(got) == sorted(expected), f"{user}: {got} != {expected}"
        assert job["rowsTotal"] == len(expected)
        sizes.add(len(expected))
        ids = [from_global(Kind.RECORD, i) for i in got]
        assert ids == sorted(ids, reverse=True)  # newest first, as the list
    assert len(sizes) > 1  # the users see different rows


async def test_hidden_fields_are_left_out_and_the_filter_and_scene_apply(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss", roles=["SALES"])
    sub = await org.user("Sub", superior=boss, roles=["SALES"])
    await org.record(boss, "ACCOUNT", "Boss Alpha", phone="+1 555 0100", level="A")
    await org.record(sub, "ACCOUNT", "Sub Alpha", phone="+1 555 0101")
    await org.record(boss, "ACCOUNT", "Boss Beta")
    await api.ok(
        SET_ACCESS, {"t": "ACCOUNT", "f": "phone", "r": "SALES", "a": "HIDDEN"}, org.admin.token
    )
    _, rows = await export(api, boss.token)
    header = rows[0]
    assert "Phone" not in header and "Level" in header and header[:2] == ["Id", "Name"]
    assert len(rows) == 4
    assert all("+1 555" not in str(cell) for row in rows for cell in row)
    assert {row[header.index("Owner")] for row in rows[1:]} == {"Boss", "Sub"}
    _, admin_rows = await export(api, org.admin.token)
    assert "Phone" in admin_rows[0]
    _, rows = await export(api, boss.token, filter={"nameContains": "alpha"})
    assert sorted(row[1] for row in rows[1:]) == ["Boss Alpha", "Sub Alpha"]
    _, rows = await export(api, boss.token, scene="MY_ACCOUNTS")
    assert sorted(row[1] for row in rows[1:]) == ["Boss Alpha", "Boss Beta"]
    _, rows = await export(api, boss.token, scene="SUBORDINATES_RECORDS")
    assert [row[1] for row in rows[1:]] == ["Sub Alpha"]
    refused = await api.error(START_EXPORT, {"type": "PRODUCT", "scene": "MY_ACCOUNTS"}, boss.token)
    assert refused["extensions"]["code"] in ("BAD_USER_INPUT", "FORBIDDEN")
    refused = await api.error(START_EXPORT, {"type": "ACCOUNT", "scene": "WORK"}, boss.token)
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_download_is_for_the_requester_until_it_expires(api: Api) -> None:
    org = await new_org(api)
    other: Person = await org.user("Other", roles=["SALES"])
    await org.record(org.admin, "ACCOUNT", "Secret")
    job, _ = await export(api, org.admin.token)
    url = job["downloadUrl"]
    assert (await download(api, url, other.token))[0] == 404
    assert (await download(api, url, None))[0] == 401
    assert (await download(api, "/files/exports/job_999999999.xlsx", org.admin.token))[0] == 404
    assert (await download(api, "/files/exports/nonsense.xlsx", org.admin.token))[0] == 404
    number = from_global(Kind.TRANSFER_JOB, job["id"])
    async with api.services.session_factory() as session:
        await session.execute(
            update(TransferJob)
            .where(TransferJob.id == number)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await download(api, url, org.admin.token))[0] == 404
    services = api.services
    runner = TransferRunner(services.settings, services.session_factory, services.hub)
    assert await runner.prune() >= 1  # the file goes, the job says so
    assert not export_path(services.settings, number).exists()
    query = "query($id: ID!) { exportJob(id: $id) { status downloadUrl } }"
    found = (await api.ok(query, {"id": job["id"]}, org.admin.token))["exportJob"]
    assert found == {"status": "EXPIRED", "downloadUrl": None}


async def test_dates_are_exported_as_dates_and_every_value_keeps_its_type(api: Api) -> None:
    org = await new_org(api)
    values = {"startsOn": "2026-03-01", "budget": 1500.5, "channels": ["ONLINE", "PARTNER"]}
    await org.record(org.admin, "CAMPAIGN", "Spring fair", **values)
    await org.record(org.admin, "CAMPAIGN", "Founders' fair", startsOn="1850-05-01", budget=7)
    await org.record(org.admin, "CAMPAIGN", "Unplanned")  # newest: the first row has no values
    _, rows = await export(api, org.admin.token, "CAMPAIGN")
    header = rows[0]
    by_name = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    fair, founders = by_name["Spring fair"], by_name["Founders' fair"]
    unplanned = by_name["Unplanned"]
    assert fair["Starts on"] == date(2026, 3, 1)
    assert (fair["Budget"], fair["Channels"]) == (1500.5, "ONLINE, PARTNER")
    assert founders["Starts on"] == "1850-05-01"  # before Excel's calendar: left as text
    assert founders["Budget"] == 7
    assert unplanned["Starts on"] == unplanned["Budget"] == unplanned["Channels"] == ""
    assert isinstance(unplanned["Created at"], datetime)
    await org.record(org.admin, "VISIT", "Call on the buyer", plannedAt="2026-03-01T09:30:00+02:00")
    _, rows = await export(api, org.admin.token, "VISIT")
    visit = dict(zip(rows[0], rows[1], strict=True))
    assert visit["Planned at"] == datetime(2026, 3, 1, 7, 30)  # in UTC, as every time exported
    assert abs(visit["Created at"] - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)


FEED_EXPORT = """
mutation($record: ID, $scene: FeedScene, $types: [FeedItemType!]) {
  startFeedExport(recordId: $record, scene: $scene, types: $types) {
    status rowsTotal downloadUrl
  }
}"""


async def test_follow_up_activity_exports_as_the_feed_shows_it(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss", roles=["SALES"])
    sub = await org.user("Sub", superior=boss, roles=["SALES"])
    peer = await org.user("Peer", roles=["SALES"])
    account = await org.record(sub, "ACCOUNT", "Sub's account")
    other = await org.record(peer, "ACCOUNT", "Peer's account")
    await org.share("ACCOUNT", fromUserId=peer.id, toUserId=sub.id)  # sub may relate to it
    first = await post(org, sub, "Called the buyer", related=[account])
    second = await post(org, sub, "Sent the quote", related=[account, other])
    await post(org, peer, "Peer's own note", related=[other])
    variables = {"record": account, "types": ["SALES_RECORD"]}
    job = (await api.ok(FEED_EXPORT, variables, boss.token))["startFeedExport"]
    assert (job["status"], job["rowsTotal"]) == ("SUCCEEDED", 2)
    status, body = await download(api, job["downloadUrl"], boss.token)
    assert status == 200
    rows = read_rows(body)
    assert rows[0][:4] == ["Id", "Type", "Author", "Content"]
    assert [row[0] for row in rows[1:]] == [second["id"], first["id"]]  # newest first
    assert rows[1][4] == "Sub's account"  # the peer's account is not the boss's to read
    expected = await feed_ids(org, boss, record=account, types=["SALES_RECORD"])
    assert [row[0] for row in rows[1:]] == expected
    job = (await api.ok(FEED_EXPORT, {"scene": "MY_ACCOUNTS"}, sub.token))["startFeedExport"]
    _, body = await download(api, job["downloadUrl"], sub.token)
    assert [row[0] for row in read_rows(body)[1:]] == await feed_ids(org, sub, "MY_ACCOUNTS")
    refused = await api.error(FEED_EXPORT, {"record": account}, peer.token)
    assert refused["extensions"]["code"] == "NOT_FOUND"
    refused = await api.error(FEED_EXPORT, {}, boss.token)
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
