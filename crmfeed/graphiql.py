"""The GraphiQL page at GET /graphql, its assets from the CDN or from a local folder, and
`crmfeed graphiql-assets`, which fetches those assets from the npm registry.

The assets are the exact files, versions and integrity hashes that strawberry's own GraphiQL
page names (read from the installed strawberry package, so they follow its upgrades). With
`GRAPHIQL_ASSETS=local` the page loads them from `GRAPHIQL_ASSETS_DIR`, served under
/graphiql/assets/; with `cdn` (the default) from unpkg.com, and a page whose scripts cannot be
loaded replaces its "Loading..." with what went wrong and how to fix it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
import httpx
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.routing import BaseRoute

    from crmfeed.settings import Settings

CDN = "https://unpkg.com/"
NPM_REGISTRY = "https://registry.npmjs.org/"
LOCAL_PREFIX = "/graphiql/assets/"
FETCH_COMMAND = "crmfeed graphiql-assets"
LOAD_TIMEOUT_MS = 15_000

_ASSET = re.compile(
    r'(?P<attr>src|href)="https://unpkg\.com/(?P<path>[^"]+)"\s+integrity="(?P<sri>[^"]+)"'
)
_PACKAGE = re.compile(r"^(?P<name>(?:@[^/]+/)?[^@/]+)@(?P<version>[^/]+)/(?P<file>.+)$")


@dataclass(frozen=True)
class Asset:
    """One file the page loads: `package@version/file` on the CDN, and its SRI hash."""

    package: str
    version: str
    file: str
    integrity: str

    @property
    def path(self) -> str:
        """The path under the CDN, and under the local folder."""
        return f"{self.package}@{self.version}/{self.file}"


def pinned_assets(page: str | None = None) -> list[Asset]:
    """The assets strawberry's GraphiQL page names, in its order."""
    page = page if page is not None else get_graphql_ide_html("graphiql")
    assets = []
    for found in _ASSET.finditer(page):
        parts = _PACKAGE.match(found["path"])
        if parts is None:  # pragma: no cover - strawberry names every asset package@version/file
            raise ValueError(f"Unexpected GraphiQL asset path: {found['path']}")
        assets.append(Asset(parts["name"], parts["version"], parts["file"], found["sri"]))
    return assets


def missing_assets(directory: Path) -> list[Asset]:
    """The pinned assets not in `directory`, or whose bytes do not match their hash."""
    return [asset for asset in pinned_assets() if not _matches(directory / asset.path, asset)]


def _matches(path: Path, asset: Asset) -> bool:
    return path.is_file() and sri_of(path.read_bytes(), asset.integrity) == asset.integrity


def sri_of(data: bytes, like: str) -> str:
    """The subresource-integrity string of `data`, with the algorithm `like` uses."""
    algorithm = like.split("-", 1)[0]
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


# -- the page --------------------------------------------------------------------------------------

EXAMPLE_DOCUMENT = """\
# crmfeed: GraphQL for a CRM's follow-up activity.
#
# 1. Run "Login" (the play button, or Ctrl-Enter)
#    with a demo login, and copy the token.
# 2. In "Headers" below, send it with every request:
#      {"Authorization": "Bearer <the token>"}
#    (the subscription sends these headers as its
#    connection_init payload).
# 3. Run "WorkFeed": newest first; pass
#    pageInfo.endCursor as `after` for the next page.
# 4. Run "Notifications": it replays the inbox,
#    then streams new notifications live.
#
# The "Docs" pane lists every query, mutation and type.

mutation Login {
  login(email: "liam.carter@demo.example", password: "demo-pass-123") {
    token
    user { id name roles }
  }
}

query WorkFeed {
  feed(scene: WORK, first: 10) {
    edges {
      node {
        id type content createdAt
        author { name }
        relatedTo { name }
        likeCount replyCount
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}

subscription Notifications {
  notifications(after: null) {
    cursor kind message
    actor { name }
    feedItem { content }
  }
}
"""

_WELCOME = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)


def _fallback_script(mode: str) -> str:
    """Replaces the page's body with why GraphiQL did not load and how to fix it, when a
    script or style sheet fails to load or GraphiQL has not started after a while."""
    if mode == "local":
        hint = (
            f"The GraphiQL files could not be loaded from this server ({LOCAL_PREFIX}). Fetch "
            f"them with <code>{FETCH_COMMAND}</code> into the folder GRAPHIQL_ASSETS_DIR names, "
            "and restart."
        )
    else:
        hint = (
            "GraphiQL's scripts come from a public CDN (unpkg.com), which this browser could "
            "not reach. To serve them from this server instead, run "
            f"<code>{FETCH_COMMAND}</code> where the server runs (it fetches the pinned files "
            "from the npm registry, or copy its folder from a machine that can) and restart "
            "with <code>GRAPHIQL_ASSETS=local</code>."
        )
    message = (
        '<main style="font: 16px/1.5 system-ui, sans-serif; max-width: 46em; margin: 3em auto; '
        'padding: 0 1em"><h1>GraphiQL could not be loaded</h1>'
        f'<p id="graphiql-failed-asset"></p><p>{hint}</p>'
        "<p>The API itself works: POST GraphQL requests to this URL.</p></main>"
    )
    return f"""<script>
      (function () {{
        var failure = null;
        var overlay = null;
        function show() {{
          var target = document.body;
          if (!target) {{
            // The page is still waiting for a script in <head>: no body yet.
            overlay = overlay || document.createElement("div");
            document.documentElement.appendChild(overlay);
            target = overlay;
          }}
          target.innerHTML = {json.dumps(message)};
          target.style.overflow = "auto";
          target.querySelector("#graphiql-failed-asset").textContent = failure;
        }}
        window.crmfeedGraphiQLFailed = function (what) {{
          if (failure !== null) return;
          failure = what;
          show();
        }};
        document.addEventListener("DOMContentLoaded", function () {{
          if (failure === null) return;
          if (overlay) overlay.remove();
          overlay = null;
          show();
        }});
        window.addEventListener("error", function (event) {{
          var target = event.target;
          if (target && (target.tagName === "SCRIPT" || target.tagName === "LINK")) {{
            window.crmfeedGraphiQLFailed("Could not load " + (target.src || target.href) + ".");
          }}
        }}, true);
        setTimeout(function () {{
          if (typeof window.GraphiQL === "undefined") {{
            window.crmfeedGraphiQLFailed(
              "GraphiQL did not start within {LOAD_TIMEOUT_MS // 1000} seconds."
            );
          }}
        }}, {LOAD_TIMEOUT_MS});
      }})();
    </script>"""


def graphiql_page(settings: Settings) -> str:
    """Strawberry's GraphiQL page with crmfeed's example document, the assets from
    `settings.graphiql_assets`, and the fallback message when they cannot be loaded."""
    page = get_graphql_ide_html("graphiql")
    example = "const EXAMPLE_QUERY = " + json.dumps(EXAMPLE_DOCUMENT) + ";"
    page = _WELCOME.sub(lambda _: example, page, count=1)
    page = page.replace("<title>Strawberry GraphiQL</title>", "<title>crmfeed GraphiQL</title>")
    mode = settings.graphiql_assets
    if mode == "local":
        page = page.replace(f'"{CDN}', f'"{LOCAL_PREFIX}')
        missing = missing_assets(Path(settings.graphiql_assets_dir))
        if missing:
            return missing_page(settings, missing)
    # The handler must be in place before the first asset starts loading.
    return page.replace("<head>", "<head>\n    " + _fallback_script(mode), 1)


class GraphiQLPage:
    """The page for one app: built once its assets are all there (a local folder filled while
    the server runs is picked up at the next reload)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._page: str | None = None

    def html(self) -> str:
        if self._page is not None:
            return self._page
        page = graphiql_page(self.settings)
        if MISSING_MARK not in page:
            self._page = page
        return page


MISSING_MARK = "<title>crmfeed GraphiQL: assets missing</title>"


def missing_page(settings: Settings, missing: list[Asset]) -> str:
    """What GET /graphql shows when GRAPHIQL_ASSETS=local and the folder lacks files."""
    folder = html.escape(str(Path(settings.graphiql_assets_dir).resolve()))
    names = "".join(f"<li><code>{html.escape(asset.path)}</code></li>" for asset in missing)
    return f"""<!doctype html>
<html><head>{MISSING_MARK}</head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 46em; margin: 3em auto;
 padding: 0 1em">
<h1>GraphiQL's files are missing</h1>
<p>GRAPHIQL_ASSETS=local serves GraphiQL from <code>{folder}</code>, which lacks (or holds
other versions of):</p><ul>{names}</ul>
<p>Fetch them with <code>{FETCH_COMMAND} --dir {folder}</code> (from the npm registry; or copy
that folder from a machine that can reach it), then reload this page. Or unset GRAPHIQL_ASSETS
to load them from the CDN.</p>
<p>The API itself works: POST GraphQL requests to this URL.</p>
</body></html>"""


class _AssetFiles(StaticFiles):
    """Static files whose folder may not exist yet (then every file is 404, and the page
    says how to fetch them)."""

    async def check_config(self) -> None:
        directory = self.directory
        if directory is not None and await anyio.to_thread.run_sync(os.path.isdir, directory):
            await super().check_config()


def asset_routes(settings: Settings) -> list[BaseRoute]:
    """/graphiql/assets/ serving GRAPHIQL_ASSETS_DIR, when the assets are local."""
    if settings.graphiql_assets != "local":
        return []
    files = _AssetFiles(directory=settings.graphiql_assets_dir, check_dir=False)
    return [Mount(LOCAL_PREFIX.rstrip("/"), app=files, name="graphiql-assets")]


# -- fetching them ---------------------------------------------------------------------------------


class FetchError(RuntimeError):
    """An asset could not be fetched, or its bytes are not the ones pinned."""


def fetch_assets(
    directory: Path,
    *,
    registry: str = NPM_REGISTRY,
    client: httpx.Client | None = None,
    report: Callable[[str], None] = lambda _: None,
    assets: list[Asset] | None = None,
) -> list[Path]:
    """Fetch every pinned asset into `directory` (as `package@version/file`) from the npm
    registry: each package's tarball, checked against the integrity hash the registry gives
    for it, then each file against the page's own hash. Files already there and matching are
    kept. Returns the paths written or kept; `assets` defaults to the pinned ones."""
    assets = pinned_assets() if assets is None else assets
    by_package: dict[tuple[str, str], list[Asset]] = {}
    for asset in assets:
        by_package.setdefault((asset.package, asset.version), []).append(asset)
    own_client = client is None
    client = client or httpx.Client(timeout=60, follow_redirects=True)
    written: list[Path] = []
    try:
        for (package, version), files in by_package.items():
            targets = [directory / asset.path for asset in files]
            if all(_matches(path, asset) for path, asset in zip(targets, files, strict=True)):
                report(f"{package}@{version}: already there")
                written += targets
                continue
            tarball = _tarball(client, registry, package, version)
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
                contents = [_member(archive, asset) for asset in files]
            for asset, data in zip(files, contents, strict=True):
                if sri_of(data, asset.integrity) != asset.integrity:
                    raise FetchError(
                        f"{asset.path} from the npm registry does not match the hash "
                        f"GraphiQL's page pins ({asset.integrity}): not written."
                    )
            for target, data in zip(targets, contents, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append(target)
            report(f"{package}@{version}: {len(files)} file(s) fetched and verified")
    finally:
        if own_client:
            client.close()
    return written


def _tarball(client: httpx.Client, registry: str, package: str, version: str) -> bytes:
    """The package's tarball, checked against the registry's `dist.integrity` (or shasum)."""
    url = registry.rstrip("/") + "/" + package.replace("/", "%2F") + "/" + version
    try:
        response = client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        dist = response.json()["dist"]
        tarball = client.get(dist["tarball"])
        tarball.raise_for_status()
    except (httpx.HTTPError, KeyError, ValueError) as error:
        raise FetchError(f"Could not fetch {package}@{version} from {registry}: {error}") from error
    data = tarball.content
    integrity = dist.get("integrity")
    if integrity:
        if sri_of(data, integrity) != integrity:
            raise FetchError(
                f"The tarball of {package}@{version} does not match the integrity hash the "
                "registry gives for it: nothing written."
            )
    elif dist.get("shasum") != hashlib.sha1(data).hexdigest():
        raise FetchError(
            f"The tarball of {package}@{version} does not match the registry's shasum: "
            "nothing written."
        )
    return data


def _member(archive: tarfile.TarFile, asset: Asset) -> bytes:
    """The asset's file in an npm tarball (whose files are under `package/`)."""
    try:
        extracted = archive.extractfile(f"package/{asset.file}")
    except KeyError:
        extracted = None
    if extracted is None:
        raise FetchError(f"The npm tarball of {asset.package}@{asset.version} has no {asset.file}.")
    return extracted.read()
