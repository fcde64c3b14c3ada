"""The dashboard's files: the committed build served at / (unless headless), offline. The app
itself is tested in a browser in test_dashboard_ui.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from playingpack.dashboard import STATIC
from tests.conftest import Running


def test_root_serves_a_page_naming_the_base_url(proxy: Running) -> None:
    response = httpx.get(f"{proxy.url}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    if not (STATIC / "index.html").is_file():
        assert f"{proxy.base_url}" in response.text


def test_headless_serves_no_page(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(headless=True)
    assert httpx.get(f"{proxy.url}/").status_code == 404


def test_the_built_page_and_every_asset_it_names_are_served(proxy: Running) -> None:
    assert (STATIC / "index.html").is_file(), "the dashboard build is missing: npm run build"
    page = httpx.get(f"{proxy.url}/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert '<div id="root">' in page.text or 'id="root"' in page.text
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert any(path.endswith(".js") for path in assets), page.text
    types = {".js": "javascript", ".css": "text/css"}
    for path in assets:
        response = httpx.get(f"{proxy.url}{path}")
        assert response.status_code == 200, path
        assert types[Path(path).suffix] in response.headers["content-type"], path
        assert response.content == (STATIC / path.lstrip("/")).read_bytes()


def test_the_build_needs_nothing_from_the_internet() -> None:
    page = (STATIC / "index.html").read_text("utf-8")
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "index.html loads from elsewhere"
    for css in (STATIC / "assets").glob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", css.read_text("utf-8")), css.name
        assert "@import" not in css.read_text("utf-8"), css.name
    assert sorted(p.name for p in STATIC.iterdir()) == ["assets", "index.html"]


def test_api_and_proxy_paths_never_fall_back_to_the_page(proxy: Running) -> None:
    for path in ("/api/nothing", "/v1/nothing", "/assets/nothing.js"):
        response = httpx.get(f"{proxy.url}{path}")
        assert response.status_code == 404, path
        assert "text/html" not in response.headers.get("content-type", ""), path
