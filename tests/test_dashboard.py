"""The dashboard route: served at / unless headless."""

from __future__ import annotations

from collections.abc import Callable

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
