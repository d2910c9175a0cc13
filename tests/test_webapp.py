"""The reference single-page app is served at /app/ (its browser test is in clients/browser/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import Api


async def test_the_app_is_served_as_static_modules(api: Api) -> None:
    redirect = await api.client.get("/app")
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"].endswith("/app/")

    page = await api.client.get("/app/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js"></script>' in page.text

    for name in ("app.js", "api.js", "live.js"):
        module = await api.client.get(f"/app/{name}")
        assert module.status_code == 200
        assert "javascript" in module.headers["content-type"]
    assert "graphql-transport-ws" in (await api.client.get("/app/live.js")).text
    assert (await api.client.get("/app/style.css")).headers["content-type"].startswith("text/css")
    assert (await api.client.get("/app/missing.js")).status_code == 404
