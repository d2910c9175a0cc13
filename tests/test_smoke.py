from tests.conftest import Api, unique_email

REGISTER = """
mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { token user { id name email roles } }
}"""


async def test_register_then_me(api: Api) -> None:
    email = unique_email("admin")
    data = await api.ok(
        REGISTER,
        {
            "input": {
                "enterpriseName": "Acme",
                "adminName": "Ada",
                "email": email,
                "password": "secret-pass-123",
            }
        },
    )
    token = data["registerEnterprise"]["token"]
    me = await api.ok("{ me { name email roles } }", token=token)
    assert me["me"] == {"name": "Ada", "email": email, "roles": ["CRM_ADMIN", "SALES"]}
