"""GraphiQL at GET /graphql: its example, its assets from the CDN or from a local folder, the
message when they cannot be loaded, and `crmfeed graphiql-assets`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import shutil
import tarfile
import threading
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner

from crmfeed.app import Services, create_app
from crmfeed.cli import app as cli_app
from crmfeed.graphiql import (
    LOCAL_PREFIX,
    Asset,
    FetchError,
    fetch_assets,
    pinned_assets,
    sri_of,
)
from tests.conftest import test_settings as settings_for_tests
from tests.live_helpers import running_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

BROWSER = {"accept": "text/html"}


@asynccontextmanager
async def client_with(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    base = settings_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'crmfeed.db'}")
    services = Services.create(base.model_copy(update=settings))
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await services.engine.dispose()


def test_the_pinned_assets_are_strawberrys_graphiql_and_react() -> None:
    names = {asset.package for asset in pinned_assets()}
    assert {"graphiql", "react", "react-dom"} <= names
    assert all(asset.integrity.startswith("sha384-") for asset in pinned_assets())


async def test_the_cdn_page_opens_on_crmfeeds_example(tmp_path: Path) -> None:
    async with client_with(tmp_path) as client:
        page = (await client.get("/graphql", headers=BROWSER)).text
    assert "Welcome to GraphiQL" not in page
    assert "mutation Login" in page
    assert "liam.carter@demo.example" in page
    assert "feed(scene: WORK" in page
    assert "subscription Notifications" in page
    assert "Authorization" in page and "Bearer" in page
    for asset in pinned_assets():
        assert f'"https://unpkg.com/{asset.path}"' in page
        assert asset.integrity in page


async def test_the_cdn_page_says_how_to_serve_the_assets_locally_when_it_cannot_load(
    tmp_path: Path,
) -> None:
    async with client_with(tmp_path) as client:
        page = (await client.get("/graphql", headers=BROWSER)).text
    head = page.split("<head>", 1)[1]
    handler = head.index("crmfeedGraphiQLFailed")
    # The handler is set before the first script or style sheet starts loading.
    assert handler < head.index("https://unpkg.com/")
    assert 'addEventListener("error"' in page
    assert "setTimeout" in page
    assert "crmfeed graphiql-assets" in page
    assert "GRAPHIQL_ASSETS=local" in page


async def test_a_local_page_without_its_files_names_the_command_and_the_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "empty"
    async with client_with(
        tmp_path, graphiql_assets="local", graphiql_assets_dir=str(folder)
    ) as client:
        response = await client.get("/graphql", headers=BROWSER)
        asset = await client.get(LOCAL_PREFIX + pinned_assets()[0].path)
    assert response.status_code == 200
    assert "crmfeed graphiql-assets --dir" in response.text
    assert str(folder) in response.text
    assert "graphiql@" in response.text
    assert "unpkg.com" not in response.text
    assert asset.status_code == 404


async def test_the_cdn_mode_serves_no_local_assets(tmp_path: Path) -> None:
    async with client_with(tmp_path) as client:
        response = await client.get(LOCAL_PREFIX + pinned_assets()[0].path)
    assert response.status_code == 404


# -- the command, against the real npm registry (reachable from this machine) ----------------------


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graphiql-assets")
    result = CliRunner().invoke(cli_app, ["graphiql-assets", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_the_command_fetches_every_pinned_file_as_pinned(fetched: Path) -> None:
    for asset in pinned_assets():
        data = (fetched / asset.path).read_bytes()
        assert sri_of(data, asset.integrity) == asset.integrity


def test_the_command_keeps_files_already_there(fetched: Path) -> None:
    result = CliRunner().invoke(cli_app, ["graphiql-assets", "--dir", str(fetched)])
    assert result.exit_code == 0, result.output
    assert result.output.count("already there") == len({a.package for a in pinned_assets()})


async def test_the_local_page_loads_every_asset_from_this_server(
    tmp_path: Path, fetched: Path
) -> None:
    async with client_with(
        tmp_path, graphiql_assets="local", graphiql_assets_dir=str(fetched)
    ) as client:
        page = (await client.get("/graphql", headers=BROWSER)).text
        assert "unpkg.com" not in page.replace("(unpkg.com)", "")
        assert "mutation Login" in page
        for asset in pinned_assets():
            assert f'"{LOCAL_PREFIX}{asset.path}"' in page
            assert asset.integrity in page  # the browser checks the bytes too
            response = await client.get(LOCAL_PREFIX + asset.path)
            assert response.status_code == 200
            assert sri_of(response.content, asset.integrity) == asset.integrity


# -- the command's checks, against a registry of the test's own -----------------------------------


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@contextmanager
def registry(packages: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    """An HTTP server answering npm's `/<package>/<version>` metadata and the tarballs:
    `packages` maps "name@version" to (tarball, the integrity the metadata claims)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/").replace("%2F", "/")
            base = f"http://127.0.0.1:{server.server_address[1]}"
            if path.startswith("tarballs/"):
                body = packages[path.removeprefix("tarballs/")][0]
            else:
                name, _, version = path.rpartition("/")
                key = f"{name}@{version}"
                if key not in packages:
                    self.send_error(404)
                    return
                dist = {"tarball": f"{base}/tarballs/{key}", "integrity": packages[key][1]}
                body = json.dumps({"name": name, "version": version, "dist": dist}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


SCRIPT = b"window.Example = 1;\n"
STYLE = b".example { color: red }\n"


def example_assets(script: bytes = SCRIPT) -> list[Asset]:
    def sri(data: bytes) -> str:
        return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()

    return [
        Asset("@scope/example", "1.2.3", "dist/example.js", sri(script)),
        Asset("@scope/example", "1.2.3", "dist/example.css", sri(STYLE)),
    ]


def test_fetch_writes_the_files_of_a_verified_tarball(tmp_path: Path) -> None:
    package = tarball({"dist/example.js": SCRIPT, "dist/example.css": STYLE, "README": b"x"})
    with registry({"@scope/example@1.2.3": (package, sha512(package))}) as url:
        written = fetch_assets(tmp_path, registry=url, assets=example_assets())
    assert (tmp_path / "@scope/example@1.2.3/dist/example.js").read_bytes() == SCRIPT
    assert (tmp_path / "@scope/example@1.2.3/dist/example.css").read_bytes() == STYLE
    assert len(written) == 2
    assert not (tmp_path / "@scope/example@1.2.3/README").exists()


def test_fetch_refuses_a_tarball_that_does_not_match_the_registrys_hash(tmp_path: Path) -> None:
    package = tarball({"dist/example.js": SCRIPT, "dist/example.css": STYLE})
    claimed = sha512(b"what the registry published")
    with (
        registry({"@scope/example@1.2.3": (package, claimed)}) as url,
        pytest.raises(FetchError, match="integrity hash the registry gives"),
    ):
        fetch_assets(tmp_path, registry=url, assets=example_assets())
    assert list(tmp_path.iterdir()) == []


def test_fetch_refuses_a_file_other_than_the_page_pins(tmp_path: Path) -> None:
    package = tarball({"dist/example.js": b"window.Other = 2;\n", "dist/example.css": STYLE})
    with (
        registry({"@scope/example@1.2.3": (package, sha512(package))}) as url,
        pytest.raises(FetchError, match="does not match the hash GraphiQL's page pins"),
    ):
        fetch_assets(tmp_path, registry=url, assets=example_assets())
    assert list(tmp_path.iterdir()) == []


def test_the_command_says_what_failed_when_the_registry_lacks_a_package(tmp_path: Path) -> None:
    with registry({}) as url:
        result = CliRunner().invoke(
            cli_app, ["graphiql-assets", "--dir", str(tmp_path), "--registry", url]
        )
    assert result.exit_code == 1
    assert "Not fetched" in result.output
    assert "404" in result.output


# -- in a real browser (headless Chromium) --------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def rendered(url: str, profile: Path) -> str:
    """The page's DOM once its scripts ran (and up to 30 s of its timers, in virtual time)."""
    assert CHROMIUM is not None, "Chromium is needed: apt-get install chromium"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=30000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return out.decode()


@asynccontextmanager
async def served(tmp_path: Path, folder: Path) -> AsyncIterator[str]:
    base = settings_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'crmfeed.db'}")
    settings = base.model_copy(
        update={
            "graphiql_assets": "local",
            "graphiql_assets_dir": str(folder),
            "run_reminders": False,
        }
    )
    services = Services.create(settings)
    try:
        async with running_server(services) as ws_url:
            yield ws_url.replace("ws://", "http://")
    finally:
        await services.engine.dispose()


async def test_in_a_browser_local_graphiql_opens_on_the_example(
    tmp_path: Path, fetched: Path
) -> None:
    async with served(tmp_path, fetched) as url:
        dom = await rendered(url, tmp_path / "profile")
    assert "graphiql-editor" in dom  # GraphiQL rendered its editors
    assert "Login" in dom and "WorkFeed" in dom
    assert 'id="graphiql-failed-asset"' not in dom  # (the script holds it, escaped)


async def test_in_a_browser_a_script_that_fails_to_load_shows_how_to_fix_it(
    tmp_path: Path, fetched: Path
) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(fetched, folder)
    async with served(tmp_path, folder) as url:
        # The server has built its page; now one file changes under it: the browser's
        # integrity check refuses it, as it would a file a proxy mangled.
        async with httpx.AsyncClient() as client:
            assert (await client.get(url, headers=BROWSER)).status_code == 200
        react = next(a for a in pinned_assets() if a.package == "react")
        (folder / react.path).write_bytes(b"window.React = null;\n")
        dom = await rendered(url, tmp_path / "profile")
    assert 'id="graphiql-failed-asset">Could not load' in dom
    assert f"Could not load {url.removesuffix('/graphql')}{LOCAL_PREFIX}{react.path}" in dom
    assert "crmfeed graphiql-assets" in dom
    assert "graphiql-editor" not in dom
