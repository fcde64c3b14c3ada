"""The route table: health, JSON errors on machine paths, the dashboard page."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from playingpack.config import PauseMode
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream


@pytest.mark.parametrize("path", ["/api/nothing", "/ws/x", "/nothing.json", "/health/x"])
def test_unknown_machine_paths_get_json_404(proxy: Running, path: str) -> None:
    response = httpx.get(f"{proxy.url}{path}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert path in response.json()["error"]["message"]


def test_other_methods_on_chat_go_to_the_upstream(proxy: Running, upstream: FakeUpstream) -> None:
    # Only POST is recorded; any other method is the upstream's business.
    response = httpx.get(f"{proxy.base_url}/chat/completions")
    assert response.status_code == 405
    assert (upstream.received[-1].method, upstream.received[-1].path) == (
        "GET",
        "/v1/chat/completions",
    )
    assert proxy.tapes() == []


def test_health_reports_modes(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    health = httpx.get(f"{proxy.url}/health")
    assert health.headers["content-type"].startswith("application/json")
    body = health.json()
    assert body["pause"] == "tool-calls" and body["record"] == "auto"
    assert body["dashboard"] is True


def test_two_servers_in_one_process_share_nothing(start_proxy: Callable[..., Running]) -> None:
    first = start_proxy(pause=PauseMode.ALL)
    second = start_proxy()
    assert httpx.get(f"{first.url}/health").json()["pause"] == "all"
    assert httpx.get(f"{second.url}/health").json()["pause"] == "off"
