"""Registering an enterprise, logging in, and who a token says the caller is."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from crmfeed.security import ALGORITHM, VerifiedTokens, issue_token, read_token, verified_tokens
from tests.conftest import Api, unique_email
from tests.conftest import test_settings as settings_for_tests
from tests.helpers import LOGIN, PASSWORD, REGISTER, create_user, login, register

SECRET = settings_for_tests("sqlite+aiosqlite://").secret_key
ME = "{ me { id name email roles } }"
USER_COUNT = "{ users { totalCount } }"


def register_input(**overrides: str) -> dict[str, dict[str, str]]:
    given = {
        "enterpriseName": "Acme",
        "adminName": "Ada Admin",
        "email": unique_email("admin"),
        "password": PASSWORD,
        **overrides,
    }
    return {"input": given}


def signed(claims: dict[str, object], key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def user_number(user_id: str) -> str:
    return user_id.removeprefix("usr_")


# -- registerEnterprise --------------------------------------------------------------------------


async def test_register_returns_a_token_and_an_admin_with_crm_admin_and_sales_roles(
    api: Api,
) -> None:
    variables = register_input(adminName="Grace", enterpriseName="Globex")
    data = await api.ok(REGISTER, variables)
    payload = data["registerEnterprise"]
    assert payload["token"]
    assert payload["user"]["name"] == "Grace"
    assert payload["user"]["email"] == variables["input"]["email"]
    assert payload["user"]["roles"] == ["CRM_ADMIN", "SALES"]


async def test_register_token_signs_in_as_the_new_admin(api: Api) -> None:
    data = await api.ok(REGISTER, register_input())
    payload = data["registerEnterprise"]
    me = await api.ok(ME, token=payload["token"])
    assert me["me"]["id"] == payload["user"]["id"]


async def test_register_names_the_enterprise_in_its_settings(api: Api) -> None:
    data = await api.ok(REGISTER, register_input(enterpriseName="  Initech  "))
    token = data["registerEnterprise"]["token"]
    settings = await api.ok("{ enterpriseSettings { enterpriseName } }", token=token)
    assert settings["enterpriseSettings"]["enterpriseName"] == "Initech"


async def test_register_stores_the_email_lowercased(api: Api) -> None:
    email = unique_email("MixedCase").upper()
    data = await api.ok(REGISTER, register_input(email=email))
    assert data["registerEnterprise"]["user"]["email"] == email.lower()


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("enterpriseName", "", "enterpriseName must not be empty"),
        ("enterpriseName", "   ", "enterpriseName must not be empty"),
        ("enterpriseName", "x" * 201, "enterpriseName may be at most 200 characters"),
        ("adminName", "", "adminName must not be empty"),
        ("adminName", " \t ", "adminName must not be empty"),
        ("email", "not-an-email", "is not an email address"),
        ("email", "ada@nodot", "is not an email address"),
        ("email", "", "is not an email address"),
        ("password", "short", "password must be at least 8 characters"),
        ("password", "", "password must be at least 8 characters"),
    ],
)
async def test_register_refuses_bad_input_naming_the_field(
    api: Api, field: str, value: str, hint: str
) -> None:
    error = await api.error(REGISTER, register_input(**{field: value}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert hint in error["message"]


async def test_register_refuses_a_missing_field_before_running(api: Api) -> None:
    variables = register_input()
    del variables["input"]["password"]
    error = await api.error(REGISTER, variables)
    assert "password" in error["message"]


async def test_register_with_a_taken_email_is_a_conflict(api: Api) -> None:
    email = unique_email("taken")
    await register(api, email=email)
    error = await api.error(REGISTER, register_input(email=email))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "email"
    assert email in error["message"]


async def test_register_with_a_taken_email_in_other_case_is_a_conflict(api: Api) -> None:
    email = unique_email("taken")
    await register(api, email=email)
    error = await api.error(REGISTER, register_input(email=email.upper()))
    assert error["extensions"]["code"] == "CONFLICT"


async def test_register_with_an_employees_email_is_a_conflict(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("employee")
    await create_user(api, token, email=email)
    error = await api.error(REGISTER, register_input(email=email))
    assert error["extensions"]["code"] == "CONFLICT"


async def test_refused_duplicate_register_leaves_the_first_account_untouched(api: Api) -> None:
    email = unique_email("first")
    token, admin_id = await register(api, email=email, password="first-password")
    before = await api.ok(USER_COUNT, token=token)

    await api.error(REGISTER, register_input(email=email, password="second-password"))

    token = await login(api, email, "first-password")
    me = await api.ok(ME, token=token)
    assert me["me"]["id"] == admin_id
    assert await api.ok(USER_COUNT, token=token) == before
    error = await api.error(LOGIN, {"email": email, "password": "second-password"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_refused_register_creates_no_user(api: Api) -> None:
    email = unique_email("refused")
    await api.error(REGISTER, register_input(email=email, adminName=""))
    error = await api.error(LOGIN, {"email": email, "password": PASSWORD})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    token, _ = await register(api, email=email)
    assert await api.ok(USER_COUNT, token=token) == {"users": {"totalCount": 1}}


async def test_concurrent_registers_with_one_email_give_one_enterprise_and_a_conflict(
    api: Api,
) -> None:
    email = unique_email("race")
    bodies = await asyncio.gather(
        *(api.raw(REGISTER, register_input(email=email)) for _ in range(3))
    )
    succeeded = [body for body in bodies if not body.get("errors")]
    codes = sorted(body["errors"][0]["extensions"]["code"] for body in bodies if body.get("errors"))
    assert len(succeeded) == 1
    assert codes == ["CONFLICT", "CONFLICT"]
    token = await login(api, email)
    assert await api.ok(USER_COUNT, token=token) == {"users": {"totalCount": 1}}


# -- login ---------------------------------------------------------------------------------------


async def test_login_returns_a_token_for_that_user(api: Api) -> None:
    email = unique_email("login")
    _, admin_id = await register(api, email=email)
    data = await api.ok(LOGIN, {"email": email, "password": PASSWORD})
    assert data["login"]["user"] == {"id": admin_id, "email": email}
    me = await api.ok(ME, token=data["login"]["token"])
    assert me["me"]["id"] == admin_id


async def test_login_ignores_the_case_and_spaces_of_the_email(api: Api) -> None:
    email = unique_email("case")
    _, admin_id = await register(api, email=email)
    token = await login(api, f"  {email.upper()} ")
    me = await api.ok(ME, token=token)
    assert me["me"]["id"] == admin_id


async def test_login_of_a_created_user_gets_their_roles(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("sales")
    user_id = await create_user(api, token, email=email, name="Sam")
    me = await api.ok(ME, token=await login(api, email))
    assert me["me"] == {"id": user_id, "name": "Sam", "email": email, "roles": ["SALES"]}


async def test_login_with_a_wrong_password_is_unauthenticated(api: Api) -> None:
    email = unique_email("wrong")
    await register(api, email=email)
    error = await api.error(LOGIN, {"email": email, "password": "not-the-password"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == "The email or the password is wrong."


async def test_login_with_an_unknown_email_says_the_same_as_a_wrong_password(api: Api) -> None:
    email = unique_email("known")
    await register(api, email=email)
    wrong_password = await api.error(LOGIN, {"email": email, "password": "not-the-password"})
    unknown_email = await api.error(LOGIN, {"email": unique_email("nobody"), "password": PASSWORD})
    assert unknown_email["extensions"]["code"] == "UNAUTHENTICATED"
    assert unknown_email["message"] == wrong_password["message"]


async def test_login_with_an_empty_password_is_unauthenticated(api: Api) -> None:
    email = unique_email("empty")
    await register(api, email=email)
    error = await api.error(LOGIN, {"email": email, "password": ""})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# -- tokens --------------------------------------------------------------------------------------


async def test_me_without_a_token_asks_to_sign_in(api: Api) -> None:
    error = await api.error(ME)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Authorization: Bearer" in error["message"]


async def test_me_with_another_auth_scheme_asks_to_sign_in(api: Api) -> None:
    token, _ = await register(api)
    response = await api.client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Basic {token}"}
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_with_a_garbage_token_is_unauthenticated(api: Api) -> None:
    error = await api.error(ME, token="not.a.token")
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "log in again" in error["message"]


async def test_me_with_an_expired_token_is_unauthenticated(api: Api) -> None:
    _, admin_id = await register(api)
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = signed(
        {"sub": user_number(admin_id), "ent": 1, "iat": past - timedelta(hours=1), "exp": past}
    )
    error = await api.error(ME, token=expired)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in error["message"]


async def test_me_with_a_token_signed_by_another_key_is_unauthenticated(api: Api) -> None:
    token, _ = await register(api)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    forged = signed(claims, key="another-key-that-is-long-enough-for-hs256-0123")
    error = await api.error(ME, token=forged)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_with_an_unsigned_token_is_unauthenticated(api: Api) -> None:
    token, _ = await register(api)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    unsigned = jwt.encode(claims, None, algorithm="none")
    error = await api.error(ME, token=unsigned)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_with_a_token_without_expiry_is_unauthenticated(api: Api) -> None:
    token, _ = await register(api)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    del claims["exp"]
    error = await api.error(ME, token=signed(claims))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_with_a_token_for_another_enterprise_claim_is_unauthenticated(api: Api) -> None:
    token, _ = await register(api)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    claims["ent"] = int(claims["ent"]) + 1_000_000
    error = await api.error(ME, token=signed(claims))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_with_a_token_for_a_missing_user_is_unauthenticated(api: Api) -> None:
    token, _ = await register(api)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    claims["sub"] = "999999999"
    error = await api.error(ME, token=signed(claims))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_mutation_without_a_token_is_unauthenticated_and_writes_nothing(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(
        'mutation { createDepartment(input: {name: "Ghost"}) { id } }', token=None
    )
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    departments = await api.ok("{ departments { id } }", token=token)
    assert departments["departments"] == []


# -- verified tokens, remembered -----------------------------------------------------------------


def test_a_remembered_token_stops_counting_at_its_expiry() -> None:
    settings = settings_for_tests("sqlite+aiosqlite://").model_copy(update={"token_ttl_seconds": 1})
    token = issue_token(settings, 7, 3)
    claims = read_token(settings, token)
    assert claims is not None and claims.user_id == 7
    keys = (settings.secret_key, *settings.previous_secret_keys)
    assert verified_tokens.get(token, keys, time.time()) == claims  # remembered
    expiry = claims.expires_at.timestamp()
    assert verified_tokens.get(token, keys, expiry) is None  # not from its `exp` on
    assert read_token(settings, token) == claims  # verified again, remembered again
    while time.time() < expiry:
        time.sleep(expiry - time.time() + 0.01)
    assert read_token(settings, token) is None
    assert verified_tokens.get(token, keys, expiry - 1) is None  # and forgotten


def test_a_remembered_token_counts_only_under_the_keys_it_verified_with() -> None:
    old = settings_for_tests("sqlite+aiosqlite://")
    token = issue_token(old, 7, 3)
    assert read_token(old, token) is not None
    rotated = old.model_copy(
        update={"secret_key": "another-key-that-is-long-enough-for-hs256-0123"}
    )
    assert read_token(rotated, token) is None
    during = rotated.model_copy(update={"secret_key_previous": old.secret_key})
    assert read_token(during, token) is not None


def test_the_oldest_remembered_token_is_forgotten_first() -> None:
    settings = settings_for_tests("sqlite+aiosqlite://")
    keys = (settings.secret_key,)
    kept = VerifiedTokens(size=2)
    tokens = [issue_token(settings, user, 3) for user in (1, 2, 3)]
    for token in tokens:
        claims = read_token(settings, token)
        assert claims is not None
        kept.add(token, keys, claims)
    now = time.time()
    assert [kept.get(token, keys, now) is not None for token in tokens] == [False, True, True]


async def test_a_token_used_before_its_logout_is_refused_after_it(api: Api) -> None:
    token, _ = await register(api)
    assert (await api.ok(ME, token=token))["me"]["id"]  # verified, remembered
    assert (await api.ok("mutation { logout }", token=token))["logout"] is True
    error = await api.error(ME, token=token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in error["message"]
