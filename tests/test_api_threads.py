"""GET /api/threads and /api/threads/{id}: over HTTP, as the dashboard and scripts call them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream, Reply


def get(proxy: Running, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{proxy.url}{path}", params=params, timeout=10)


def listed(proxy: Running, count: int, **params: str) -> list[dict[str, Any]]:
    """``GET /api/threads`` once it lists ``count`` threads (bounded wait: a call's row is
    written a moment after its client has the answer)."""
    deadline = time.monotonic() + 10
    while True:
        response = get(proxy, "/api/threads", **params)
        assert response.status_code == 200, response.text
        threads: list[dict[str, Any]] = response.json()
        if len(threads) >= count or time.monotonic() > deadline:
            return threads
        time.sleep(0.02)  # a poll interval, bounded by the deadline


def test_a_runs_threads_newest_first(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Hello."), Reply(content="Bonjour."), Reply(content="Again."))
    proxy = start_proxy()
    client = proxy.client()
    hello: list[Any] = [{"role": "user", "content": "Hi"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=hello)
    salut: list[Any] = [{"role": "user", "content": "Salut"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=salut)
    more = [
        *hello,
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again"},
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=more)
    proxy.finished_flows(3)
    flows = sorted(get(proxy, "/api/flows").json(), key=lambda flow: flow["id"])

    threads = listed(proxy, 2)
    assert [thread["first_message"] for thread in threads] == ["Salut", "Hi"]
    assert [thread["id"] for thread in threads] == [flows[1]["id"], flows[0]["id"]]
    assert [thread["steps"] for thread in threads] == [1, 2]
    assert {thread["run"] for thread in threads} == {flows[0]["run"]}
    assert listed(proxy, 2, run=flows[0]["run"]) == threads
    assert listed(proxy, 0, run="00000000") == []
    # Each call knows its thread.
    assert [flow["thread"] for flow in get(proxy, "/api/flows").json()[::-1]] == [
        flows[0]["id"],
        flows[1]["id"],
        flows[0]["id"],
    ]

    detail = get(proxy, f"/api/threads/{flows[0]['id']}")
    assert detail.status_code == 200
    body = detail.json()
    assert [step["flow"] for step in body["step_list"]] == [flows[0]["id"], flows[2]["id"]]
    assert [step["answer"]["text"] for step in body["step_list"]] == ["Hello.", "Again."]
    assert {k: v for k, v in body.items() if k not in ("system", "step_list")} == threads[1]


def test_an_unknown_thread_is_404(proxy: Running) -> None:
    response = get(proxy, "/api/threads/nope-000001")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "thread_not_found" and error["param"] == "id"
    assert "nope-000001" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_history_off_is_409(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(history=None)
    for path in ("/api/threads", "/api/threads/abc"):
        response = get(proxy, path)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "history_off"
        assert "--history" in error["message"]


def test_a_foreign_host_is_refused(proxy: Running) -> None:
    response = httpx.get(f"{proxy.url}/api/threads", headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 403


def test_the_routes_are_described(proxy: Running) -> None:
    document = get(proxy, "/api/openapi.json").json()
    listing = document["paths"]["/api/threads"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["run"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ThreadJSON"},
    }
    one = document["paths"]["/api/threads/{id}"]["get"]["responses"]
    assert set(one) >= {"200", "404", "409"}
    assert "tool_names" in document["components"]["schemas"]["ThreadStepJSON"]["properties"]
