"""A `records` page costs a fixed, small number of SQL statements whatever its size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.records_helpers import Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

PAGE = """
query($first: Int) {
  records(objectType: ACCOUNT, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id name status
        owner { name department { name } }
        department { name }
        team { user { name } teamRole }
      }
    }
  }
}"""
# Measured: the viewer, the records a non-admin reaches (up to visibility.NARROW_REACH: it
# decides the page's plan), the page with its owners and their departments, the count, then
# one batch each for teams and team members' users.
MAX_STATEMENTS = 6


async def org_with_accounts(api: Api, count: int) -> tuple[Org, Person]:
    """Accounts owned by a manager's reports in several departments, each with a team member.

    Returns the organisation and the manager (not an admin: visibility goes through SQL).
    """
    org = await new_org(api)
    manager = await org.user("Manager")
    departments = [await org.department(f"Dept {i}") for i in range(3)]
    people = [
        await org.user(f"Seller{i}", department=departments[i % 3], superior=manager)
        for i in range(4)
    ]
    helper = await org.user("Helper")
    for i in range(count):
        owner = people[i % len(people)]
        account = await org.record(org.admin, "ACCOUNT", f"Account {i}", owner=owner)
        await org.add_member(manager, account, helper if i % 2 else people[(i + 1) % 4])
    return org, manager


async def counted_page(
    api: Api, viewer: Person, query: str, first: int
) -> tuple[int, list[dict[str, Any]]]:
    """(SQL statements sent, edges) of one `records` page of `first` rows."""
    log = api.count_statements()
    log.active = True
    try:
        data = await api.ok(query, {"first": first}, viewer.token)
    finally:
        log.active = False
    edges = data["records"]["edges"]
    assert len(edges) == first
    return len(log.statements), edges


async def statements_for_page(api: Api, viewer: Person, first: int) -> int:
    count, edges = await counted_page(api, viewer, PAGE, first)
    assert all(len(edge["node"]["team"]) == 2 for edge in edges)
    assert all(edge["node"]["owner"]["department"] is not None for edge in edges)
    return count


async def test_records_page_statement_count_does_not_grow_with_page_size(api: Api) -> None:
    _, manager = await org_with_accounts(api, 22)
    small = await statements_for_page(api, manager, 2)
    large = await statements_for_page(api, manager, 20)
    print(f"records page: {small} statements for 2 rows, {large} for 20 rows")
    assert small == large


async def test_records_page_statement_count_is_small(api: Api) -> None:
    org, manager = await org_with_accounts(api, 5)
    assert await statements_for_page(api, manager, 5) <= MAX_STATEMENTS
    assert await statements_for_page(api, org.admin, 5) <= MAX_STATEMENTS


TRANSITIONS_PAGE = """
query($first: Int) {
  records(objectType: ACCOUNT, first: $first) {
    edges { node { id status transitions { name toStatus } } }
  }
}"""


async def test_a_page_of_records_with_their_transitions_reads_access_once_for_the_page(
    api: Api,
) -> None:
    """Each record's transitions depend on what the viewer is to it (owner, superior, team,
    sharing, head): read for the whole page at once, not record by record."""
    _, manager = await org_with_accounts(api, 10)
    counts = []
    for first in (2, 10):
        count, edges = await counted_page(api, manager, TRANSITIONS_PAGE, first)
        assert all(edge["node"]["transitions"] for edge in edges)  # the manager may act
        counts.append(count)
    assert counts[0] == counts[1], counts


ALLOWED_ACTIONS_PAGE = """
query($first: Int) {
  records(objectType: ACCOUNT, first: $first) {
    edges { node { id status allowedActions { name kind } transitions { name } } }
  }
}"""
# Measured: the viewer, the records a non-admin reaches, the page, then one access-facts batch
# (superiors of the owners, team paths, the owners' department chains, sharing rules, headed
# departments) for the whole page, shared by allowedActions and transitions.
MAX_ALLOWED_ACTIONS_STATEMENTS = 8


async def test_a_page_of_records_with_their_allowed_actions_reads_access_once_for_the_page(
    api: Api,
) -> None:
    """allowedActions asks the checker with the same per-page access facts as transitions:
    the statement count does not grow with the page."""
    _, manager = await org_with_accounts(api, 10)
    counts = []
    for first in (2, 10):
        count, edges = await counted_page(api, manager, ALLOWED_ACTIONS_PAGE, first)
        for edge in edges:  # the manager is every owner's superior
            names = {a["name"] for a in edge["node"]["allowedActions"]}
            assert {"CHANGE_OWNER", "INVALIDATE", "FORWARD"} <= names, names
        counts.append(count)
    print(f"records page with allowedActions: {counts} statements for 2 and 10 rows")
    assert counts[0] == counts[1] <= MAX_ALLOWED_ACTIONS_STATEMENTS, counts


CREATE_ACCOUNT = """mutation($name: String!, $owner: ID) {
  createRecord(objectType: ACCOUNT, values: {name: $name}, ownerId: $owner) { id } }"""


CREATE_ACCOUNT_WITH_WEBSITE = """mutation($name: String!, $owner: ID) {
  createRecord(objectType: ACCOUNT, values: {name: $name, website: "https://example.com"},
               ownerId: $owner) { id } }"""


async def counted_creation(
    api: Api, who: Person, owner: Person | None, query: str = CREATE_ACCOUNT
) -> list[str]:
    """The statements of one `createRecord` of an account by `who`, first words only."""
    log = api.count_statements()
    log.active = True
    try:
        await api.ok(query, {"name": "Counted", "owner": owner.id if owner else None}, who.token)
    finally:
        log.active = False
    return [" ".join(statement.split()[:3]).upper() for statement in log.statements]


async def test_create_record_reads_before_it_writes_and_writes_two_rows(api: Api) -> None:
    """createRecord: the viewer, the field-access rules when a field other than the name (which
    is always writable) is given, then the record and its owner's team row; the owner needs no
    look-up when it is the caller. Every read comes before the first write, so the write
    transaction holds no reads (on SQLite: the write lock)."""
    org = await new_org(api)
    manager = await org.user("Manager")
    seller = await org.user("Seller", superior=manager)
    own = await counted_creation(api, seller, None)
    assert own == [
        "SELECT USERS.ID, USERS.DEPARTMENT_ID,",
        "INSERT INTO RECORDS",
        "INSERT INTO RECORD_TEAM",
    ], own
    with_field = await counted_creation(api, seller, None, CREATE_ACCOUNT_WITH_WEBSITE)
    assert with_field == [
        "SELECT USERS.ID, USERS.DEPARTMENT_ID,",
        "SELECT FIELD_ACCESS_RULES.OBJECT_TYPE, FIELD_ACCESS_RULES.FIELD,",
        "INSERT INTO RECORDS",
        "INSERT INTO RECORD_TEAM",
    ], with_field
    # Another owner is looked up (and must be a subordinate): still reads first.
    theirs = await counted_creation(api, manager, seller)
    first_write = next(n for n, s in enumerate(theirs) if s.startswith("INSERT"))
    assert all(s.startswith(("SELECT", "WITH")) for s in theirs[:first_write]), theirs
    assert theirs[first_write:] == ["INSERT INTO RECORDS", "INSERT INTO RECORD_TEAM"], theirs
    assert len(theirs) <= 6, theirs


POST_ON_ACCOUNT = """mutation($account: ID!) {
  postSalesRecord(input: {content: "Called them", accountId: $account}) { id } }"""
REPLY_TO_ITEM = """mutation($id: ID!) {
  reply(itemId: $id, content: "Noted") { id author { id name } } }"""


async def counted(api: Api, who: Person, query: str, variables: dict[str, Any]) -> list[str]:
    """The statements of one operation by `who`, first words only."""
    log = api.count_statements()
    log.active = True
    try:
        await api.ok(query, variables, who.token)
    finally:
        log.active = False
    return [" ".join(statement.split()[:3]).upper() for statement in log.statements]


async def test_a_post_and_a_reply_read_once_each_before_they_write(api: Api) -> None:
    """A post reads the records and the users it names in one statement each (none for a
    list it does not give); a reply's answer takes its author from what the reply read: no
    statement after the writes."""
    org = await new_org(api)
    owner = await org.user("Owner")
    other = await org.user("Other")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, other)
    posted = await counted(api, owner, POST_ON_ACCOUNT, {"account": account})
    print("post:", posted)
    first_write = next(n for n, s in enumerate(posted) if not s.startswith(("SELECT", "WITH")))
    assert len(posted[:first_write]) == 3, posted  # the viewer, the account, the author
    assert posted[first_write:] == [
        "INSERT INTO FEED_ITEMS",
        "INSERT INTO FEED_ITEM_RECORDS",
        "INSERT INTO FEED_FOLLOWS",
    ], posted
    item = (await api.ok(POST_ON_ACCOUNT, {"account": account}, owner.token))["postSalesRecord"]
    replied = await counted(api, other, REPLY_TO_ITEM, {"id": item["id"]})
    print("reply:", replied)
    first_write = next(n for n, s in enumerate(replied) if not s.startswith(("SELECT", "WITH")))
    assert len(replied[:first_write]) == 4, replied  # viewer, item, author, followers
    assert replied[first_write : first_write + 3] == [
        "INSERT INTO FEED_REPLIES",
        "INSERT INTO FEED_FOLLOWS",
        "UPDATE FEED_ITEMS SET",
    ], replied
    assert all(not s.startswith(("SELECT", "WITH")) for s in replied[first_write:]), replied
