"""The dashboard's files and GET /api/v1/work-types, as the page reads them."""

import tomllib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters.http.ui_routes import load_files
from tests.http.conftest import Factory

TOKEN = "s3cret-token"


@pytest.mark.parametrize("path", ["/", "/ui"])
async def test_the_root_and_ui_redirect_to_the_page(api: TestClient, path: str) -> None:
    resp = await api.get(path, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/ui/"


@pytest.mark.parametrize(
    ("path", "content_type", "says"),
    [
        ("/ui/", "text/html", "<title>chiffon</title>"),
        ("/ui/main.js", "text/javascript", "import"),
        ("/ui/style.css", "text/css", ":root"),
    ],
)
async def test_files_have_their_type_and_are_revalidated(
    api: TestClient, path: str, content_type: str, says: str
) -> None:
    resp = await api.get(path)
    assert resp.status == 200 and resp.content_type == content_type and resp.charset == "utf-8"
    assert resp.headers["Cache-Control"] == "no-cache" and says in await resp.text()
    again = await api.get(path, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304 and again.headers["Cache-Control"] == "no-cache"


async def test_every_module_the_page_imports_is_served(api: TestClient) -> None:
    files = load_files()
    assert {"index.html", "main.js", "style.css", "merge.js", "live.js"} <= set(files)
    for name in files:
        assert (await api.get(f"/ui/{name}")).status == 200, name


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/..%2fapp.py", "/ui/%2e%2e/app.py"])
async def test_nothing_else_is_served(api: TestClient, path: str) -> None:
    resp = await api.get(path)
    assert resp.status == 404 and (await resp.json())["error_code"] == 1000


async def test_the_page_is_public_and_the_api_is_not(make_api: Factory) -> None:
    api, _ = await make_api(api_token=TOKEN)
    for path in ("/", "/ui", "/ui/", "/ui/main.js"):
        assert (await api.get(path, allow_redirects=False)).status in (200, 302), path
    resp = await api.get("/api/v1/work-types")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    assert (await api.get("/api/v1/work-types", headers=authorized)).status == 200


async def test_work_types_lists_the_routing_table(make_api: Factory) -> None:
    api, _ = await make_api(routes="transcode=media")
    resp = await api.get("/api/v1/work-types")
    assert resp.status == 200
    routes: list[dict[str, Any]] = await resp.json()
    assert [r["work_type"] for r in routes] == sorted(r["work_type"] for r in routes)
    assert {"work_type": "sleep", "agent_type": "demo", "source": "table"} in routes
    assert {"work_type": "transcode", "agent_type": "media", "source": "table"} in routes


async def test_work_types_are_in_the_openapi_document(api: TestClient) -> None:
    spec = await (await api.get("/api/openapi.json")).json()
    answer = spec["paths"]["/api/v1/work-types"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["type"] == "array"


def test_every_dashboard_file_ships_in_a_non_editable_install() -> None:
    """pyproject's package-data globs must cover every file the page needs."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["adapters.http"]
    ui = root / "adapters" / "http"
    shipped = {str(p.relative_to(ui)) for pattern in globs for p in ui.glob(pattern)}
    page = {f"ui/{name}" for name in load_files()}
    assert page == {f"ui/{p.name}" for p in (ui / "ui").iterdir()}
    docs_page = {f"docs_page/{p.name}" for p in (ui / "docs_page").iterdir()}
    assert shipped == page | docs_page
