"""Static files named by the version of their content (`app.api.assets`): kept for a year under
that name, revalidated under any other, gzipped for a client that takes it, and the version
moves when any file changes."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from app.api.assets import IMMUTABLE, REVALIDATE, version_of


def asset_names(page: str) -> list[str]:
    return re.findall(r'"(/static/[^"]+)"', page)


def test_a_page_names_its_assets_by_version_and_they_are_kept(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["cache-control"] == REVALIDATE and page.headers["etag"]
    names = asset_names(page.text)
    assert names and all(re.fullmatch(r"/static/[0-9a-f]{16}/.+", name) for name in names)
    assert len({name.split("/")[2] for name in names}) == 1  # one version for them all
    for name in names:
        answer = client.get(name)
        assert answer.status_code == 200 and answer.headers["cache-control"] == IMMUTABLE
        assert answer.content == client.get(name.replace(name.split("/")[2] + "/", "")).content


def test_a_module_imports_its_neighbours_under_the_same_version(client: TestClient) -> None:
    [module] = [n for n in asset_names(client.get("/").text) if n.endswith("dashboard.js")]
    panel = module.replace("dashboard.js", "panels/history.js")
    assert '"./panels/history.js"' in client.get(module).text
    assert client.get(panel).headers["cache-control"] == IMMUTABLE


def test_text_is_gzipped_for_a_client_that_takes_it(client: TestClient) -> None:
    plain = client.get("/static/dashboard.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = client.get("/static/dashboard.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.content == plain.content  # decoded by the client
    assert zipped.headers["etag"] != plain.headers["etag"]  # a variant of its own


def test_revalidating_costs_no_body(client: TestClient) -> None:
    for path in ("/", "/static/dashboard.css"):
        first = client.get(path)
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and not again.content


def test_another_versions_name_is_served_but_revalidated(client: TestClient) -> None:
    answer = client.get("/static/0123456789abcdef/dashboard.css")
    assert answer.status_code == 200 and answer.headers["cache-control"] == REVALIDATE
    assert client.get("/static/0123456789abcdef/nowhere.css").status_code == 404
    assert client.get("/static/0123456789abcdef/../../app/main.py").status_code == 404


def test_the_version_moves_when_any_file_changes(tmp_path: Path) -> None:
    (tmp_path / "panels").mkdir()
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    (tmp_path / "panels" / "b.js").write_text("export const b = 2;\n")
    first = version_of(tmp_path)
    assert version_of(tmp_path) == first
    (tmp_path / "panels" / "b.js").write_text("export const b = 3;\n")
    assert version_of(tmp_path) != first
