"""POST /api/mocks/validate over real HTTP: a mock is checked exactly as a mock decision would
check it, and nothing is decided.

The dashboard's mock editor asks this route while a person types, so its rules are the server's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletion

from playingpack.config import PauseMode
from tests.conftest import Running

HOLD_TIMEOUT = 20.0
JSON = {"Content-Type": "application/json"}

GOOD_MOCKS: list[Any] = [
    {"content": "a made-up answer"},
    {"content": None, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]},
    {"tool_calls": [{"name": "f", "arguments": '{"a": 1}', "id": "call_1"}], "content": "and"},
    {"error": {"status": 503, "message": "down", "retry": True}},
    {"response": {"choices": [{"message": {"role": "assistant", "content": "whole"}}]}},
]

# Mocks the decision refuses, with the words its message must contain: the route must refuse
# each with the same status, code, param and message.
BAD_MOCKS: list[tuple[bytes, str]] = [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b'"text"', "Expected `object`"),
    (b"[]", "Expected `object`"),
    (b"{}", "empty"),
    (b'{"text": "x"}', "unknown field"),
    (b'{"content": 5}', "str"),
    (b'{"content": "x", "error": {"status": 500, "message": "m"}}', "mixes"),
    (b'{"tool_calls": []}', "empty"),
    (b'{"tool_calls": "f"}', "Expected `array"),
    (b'{"tool_calls": [{"arguments": {}}]}', "missing required field"),
    (b'{"tool_calls": [{"name": ""}]}', "length >= 1"),
    (b'{"tool_calls": [{"name": "f", "arguments": "{nope"}]}', "not JSON"),
    (b'{"tool_calls": [{"name": "f", "extra": 1}]}', "unknown field"),
    (b'{"error": {"status": 200, "message": "fine"}}', ">= 400"),
    (b'{"error": {"status": 500}}', "missing required field"),
    (b'{"error": {"status": 500, "message": "m", "retry": "no"}}', "bool"),
    (b'{"response": []}', "Expected `object"),
    (b'{"response": {"choices": [{"message": "hi"}]}}', "must be an object"),
]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for SDK calls that will be held (the server's shutdown ends any left held)."""
    executor = ThreadPoolExecutor(2)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def held(
    start_proxy: Callable[..., Running], pool: ThreadPoolExecutor
) -> Iterator[tuple[Running, httpx.Client, Future[ChatCompletion], str]]:
    """A server holding every answer, an SDK call held there, an /api client and its flow id."""
    proxy = start_proxy(pause=PauseMode.ALL, hold_timeout=HOLD_TIMEOUT)
    person = proxy.person()
    client = proxy.client(max_retries=0, timeout=HOLD_TIMEOUT + 10)
    future = pool.submit(
        lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hold me"}]
        )
    )
    flow_id = person.held()["id"]
    with httpx.Client(base_url=proxy.url, timeout=10) as api:
        yield proxy, api, future, flow_id


def still_held(api: httpx.Client, flow_id: str) -> bool:
    detail = api.get(f"/api/flows/{flow_id}").json()
    return detail["state"] == "INTERCEPT" and detail["decision"] is None


def test_a_mock_is_refused_as_the_decision_refuses_it(
    held: tuple[Running, httpx.Client, Future[ChatCompletion], str],
) -> None:
    _, api, future, flow_id = held
    for body, words in BAD_MOCKS:
        checked = api.post(
            "/api/mocks/validate", params={"flow": flow_id}, content=body, headers=JSON
        )
        decision = b'{"action": "mock", "mock": ' + body + b"}" if body else b""
        decided = api.post(f"/api/flows/{flow_id}/decision", content=decision, headers=JSON)
        assert checked.status_code == decided.status_code and checked.status_code in (400, 422)
        error, expected = checked.json()["error"], decided.json()["error"]
        assert words in error["message"], body
        if expected["code"] == "invalid_json":
            # The parser names a byte offset, which the wrapping decision shifts.
            assert (error["code"], error["param"]) == ("invalid_json", None)
        else:
            assert error == expected, body
        assert still_held(api, flow_id)
    assert not future.done()


def test_a_good_mock_is_taken_and_nothing_is_decided(
    held: tuple[Running, httpx.Client, Future[ChatCompletion], str],
) -> None:
    _, api, future, flow_id = held
    for mock in GOOD_MOCKS:
        checked = api.post("/api/mocks/validate", params={"flow": flow_id}, json=mock)
        assert (checked.status_code, checked.json()) == (200, {"ok": True}), mock
        assert still_held(api, flow_id)
    assert not future.done()
    decided = api.post(
        f"/api/flows/{flow_id}/decision", json={"action": "mock", "mock": GOOD_MOCKS[0]}
    )
    assert decided.status_code == 200, decided.text
    assert future.result(timeout=10).choices[0].message.content == "a made-up answer"
    # A flow that is no longer held can still have mocks checked for it.
    again = api.post("/api/mocks/validate", params={"flow": flow_id}, json=GOOD_MOCKS[1])
    assert again.status_code == 200, again.text


def test_without_a_flow_a_mock_is_checked_as_a_chat_completions_one(proxy: Running) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as api:
        for mock in GOOD_MOCKS:
            assert api.post("/api/mocks/validate", json=mock).json() == {"ok": True}
        refused = api.post(
            "/api/mocks/validate", json={"response": {"choices": [{"message": "hi"}]}}
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["param"] == "mock.response.choices[0].message"


def test_an_unknown_or_never_held_flow_is_named(proxy: Running) -> None:
    proxy.client(max_retries=0).embeddings.create(model="text-embedding-3-small", input="x")
    embedding = proxy.finished_flows(1)[0]
    with httpx.Client(base_url=proxy.url, timeout=10) as api:
        unknown = api.post("/api/mocks/validate", params={"flow": "nope"}, json={"content": "x"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "flow_not_found"
        never = api.post(
            "/api/mocks/validate", params={"flow": embedding["id"]}, json={"content": "x"}
        )
        assert never.status_code == 409, never.text
        error = never.json()["error"]
        assert (error["code"], error["param"]) == ("flow_not_holdable", "flow")
        assert embedding["id"] in error["message"]


def test_the_route_is_described(proxy: Running) -> None:
    document = httpx.get(f"{proxy.url}/api/openapi.json").json()
    operation = document["paths"]["/api/mocks/validate"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Mock"}
    assert {"200", "400", "404", "409", "422"} <= set(operation["responses"])
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/MockValidJSON"}
    assert document["components"]["schemas"]["MockValidJSON"]["required"] == ["ok"]
