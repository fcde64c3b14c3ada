"""/api/* over real HTTP: flows, decisions, settings, tapes and the OpenAPI description.

The agent is the openai SDK (in a thread while its call is held); the dashboard is httpx on
/api and a WebSocket watcher (tests.fakes.person).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from playingpack.config import PauseMode
from playingpack.hashing import request_key
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.person import Person

ROOT = Path(__file__).resolve().parents[1]
WEATHER_ARGS = '{"city": "Paris", "days": [1, 2]}'
UPSTREAM_TEXT = "Hello from the fake upstream!"
# A held call is released on its own after this long, so a failing test cannot hang.
HOLD_TIMEOUT = 20.0


@pytest.fixture
def seen() -> list[httpx.Response]:
    """Every /api response the test's httpx clients got."""
    return []


@pytest.fixture
def api_of(seen: list[httpx.Response]) -> Iterator[Callable[[Running], httpx.Client]]:
    """An httpx client for a server's /api that remembers each response in ``seen``."""
    clients: list[httpx.Client] = []

    def open_api(running: Running) -> httpx.Client:
        def remember(response: httpx.Response) -> None:
            seen.append(response)

        client = httpx.Client(
            base_url=running.url, timeout=10, event_hooks={"response": [remember]}
        )
        clients.append(client)
        return client

    yield open_api
    for client in clients:
        client.close()


@pytest.fixture
def api(proxy: Running, api_of: Callable[[Running], httpx.Client]) -> httpx.Client:
    return api_of(proxy)


def held_server(start_proxy: Callable[..., Running], **overrides: Any) -> Running:
    return start_proxy(pause=PauseMode.ALL, hold_timeout=HOLD_TIMEOUT, **overrides)


class HeldCall(NamedTuple):
    api: httpx.Client
    person: Person
    future: Future[ChatCompletion]
    flow_id: str


def hold_call(
    start_proxy: Callable[..., Running],
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
    text: str,
) -> HeldCall:
    """A server that holds every answer, the SDK's call with ``text`` held there, and a person
    watching."""
    proxy = held_server(start_proxy)
    person = proxy.person()
    future = call_in_thread(proxy, agent, **ask(text))
    return HeldCall(api_of(proxy), person, future, person.held()["id"])


def call_in_thread(
    running: Running, agent: ThreadPoolExecutor, **request: Any
) -> Future[ChatCompletion]:
    client = running.client(max_retries=0, timeout=HOLD_TIMEOUT + 10)
    return agent.submit(lambda: client.chat.completions.create(**request))


def refused(response: httpx.Response, status: int, code: str, param: str | None) -> str:
    """The message of an OpenAI-style error with this status, code and param."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


def raw_request(client: httpx.Client, method: str, target: str) -> httpx.Response:
    """Send ``target`` exactly as written: httpx would otherwise resolve ``..`` segments."""
    request = client.build_request(method, "/")
    request.extensions["target"] = target.encode()
    return client.send(request)


# --- flows --------------------------------------------------------------------------------


def test_flows_are_listed_newest_first_and_filtered(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    proxy = start_proxy(hold_timeout=HOLD_TIMEOUT)
    api = api_of(proxy)
    client = proxy.client(max_retries=0)
    client.chat.completions.create(**ask("first"))  # upstream
    client.chat.completions.create(**ask("first"))  # tape
    upstream.queue(Reply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask("fails"))  # upstream, ERROR
    person = proxy.person()
    api.patch("/api/settings", json={"pause": "all"}).raise_for_status()
    mocked = call_in_thread(proxy, agent, **ask("to be mocked"))
    held = person.held()
    person.decide(held["id"], action="mock", mock={"content": "mocked"}).raise_for_status()
    assert mocked.result(timeout=10).choices[0].message.content == "mocked"
    pending = call_in_thread(proxy, agent, **ask("still held"))
    waiting = person.held()

    listed = api.get("/api/flows").json()
    ids = [flow["id"] for flow in listed]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    assert [(f["source"], f["state"]) for f in listed] == [
        ("upstream", "INTERCEPT"),
        ("mock", "COMPLETE"),
        ("upstream", "ERROR"),
        ("tape", "COMPLETE"),
        ("upstream", "COMPLETE"),
    ]
    assert ids[0] == waiting["id"] and ids[1] == held["id"]
    assert listed[-1]["request"] == ask("first")
    assert listed[-1]["response"]["choices"][0]["message"]["content"] == UPSTREAM_TEXT

    def ids_of(**query: str) -> list[str]:
        response = api.get("/api/flows", params=query)
        assert response.status_code == 200, response.text
        return [flow["id"] for flow in response.json()]

    assert ids_of(state="COMPLETE") == [ids[1], ids[3], ids[4]]
    assert ids_of(state="ERROR") == [ids[2]]
    assert ids_of(state="INTERCEPT") == [ids[0]]
    assert ids_of(state="REPLAY") == []
    assert ids_of(source="tape") == [ids[3]]
    assert ids_of(source="mock") == [ids[1]]
    assert ids_of(source="upstream") == [ids[0], ids[2], ids[4]]
    assert ids_of(source="upstream", state="COMPLETE") == [ids[4]]
    assert ids_of(limit="2") == ids[:2]
    assert ids_of(source="upstream", limit="2") == [ids[0], ids[2]]
    bare = api.get("/api/flows", params={"bodies": "false"}).json()
    assert [flow["id"] for flow in bare] == ids
    assert all(flow["request"] is None and flow["response"] is None for flow in bare)
    assert bare[-1]["usage"] == listed[-1]["usage"] and bare[-1]["usage"] is not None
    hold = listed[0]["hold"]
    assert hold["stage"] == "response" and hold["timeout_s"] == HOLD_TIMEOUT
    assert hold["since"] < hold["deadline"]

    person.decide(waiting["id"], action="allow").raise_for_status()
    assert pending.result(timeout=10).choices[0].message.content == UPSTREAM_TEXT


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ({"state": "held"}, "state", "LOOKUP, REPLAY, CONNECT, STREAMING, INTERCEPT"),
        ({"state": "complete"}, "state", "COMPLETE"),
        ({"source": "cache"}, "source", "tape, upstream, mock"),
        ({"limit": "0"}, "limit", "positive integer"),
        ({"limit": "-1"}, "limit", "positive integer"),
        ({"limit": "ten"}, "limit", "positive integer"),
        ({"bodies": "maybe"}, "bodies", "true or false"),
    ],
)
def test_bad_flow_filter_is_422_naming_it(
    api: httpx.Client, query: dict[str, str], param: str, words: str
) -> None:
    message = refused(api.get("/api/flows", params=query), 422, "invalid_body", param)
    assert words in message
    assert repr(next(iter(query.values()))) in message


def test_flow_detail_of_a_streamed_answer(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    upstream.queue(Reply(tool_calls=[("get_weather", WEATHER_ARGS)], piece=6, delay=0.02))
    request = ask("weather?", stream_options={"include_usage": True})
    streamed = list(client.chat.completions.create(stream=True, **request))
    assert streamed[-1].usage is not None
    (flow,) = proxy.finished_flows(1)
    detail = api.get(f"/api/flows/{flow['id']}").json()

    assert detail["state"] == "COMPLETE" and detail["source"] == "upstream"
    assert detail["status"] == 200 and detail["streamed"] and detail["answer_streamed"]
    assert detail["request"] == {**request, "stream": True}
    assert detail["tape"] == request_key(request)
    assert [path.stem for path in proxy.tapes()] == [detail["tape"]]
    assert [entry["state"] for entry in detail["history"]] == [
        "LOOKUP",
        "CONNECT",
        "STREAMING",
        "COMPLETE",
    ]
    assert detail["duration_ms"] >= detail["history"][-1]["ms"] - 0.1

    answer = ChatCompletion.model_validate(detail["response"])
    (call,) = answer.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather" and call.function.arguments == WEATHER_ARGS
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.id == streamed[0].id
    assert detail["usage"] == {
        "input_tokens": streamed[-1].usage.prompt_tokens,
        "output_tokens": streamed[-1].usage.completion_tokens,
        "total_tokens": streamed[-1].usage.total_tokens,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert detail["tool_calls"] == [
        {"id": call.id, "name": "get_weather", "arguments": json.loads(WEATHER_ARGS)}
    ]

    chunks = detail["chunks"]
    tape = json.loads(proxy.tapes()[0].read_text("utf-8"))
    assert [(c["c"], c["d"]) for c in chunks] == [
        (c["c"], c["d"]) for c in tape["response"]["chunks"]
    ]
    assert [c["c"] for c in chunks[-2:]] == ["data: [DONE]\n\n", ": end of stream\n\n"]
    total = 0
    for chunk in chunks:
        total += chunk["d"]
        assert chunk["t"] == total
    # The fake waited 20 ms before each event after the first (the two comments aside).
    events = [c for c in chunks if c["c"].startswith("data: ")]
    assert chunks[-1]["t"] >= 20 * (len(events) - 1)

    headers = {name.lower(): value for name, value in detail["request_headers"].items()}
    assert headers["authorization"] == f"Bearer ***{API_KEY[-4:]}"
    assert headers["content-type"] == "application/json"
    assert detail["response_headers"]["Content-Type"].startswith("text/event-stream")
    assert API_KEY not in api.get(f"/api/flows/{flow['id']}").text
    assert detail["text"] == ""  # a tool call only: no text


@pytest.mark.parametrize("stream", [True, False])
def test_flow_detail_text_is_the_answer_text(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client, stream: bool
) -> None:
    upstream.queue(Reply(content="Pack a coat, and an umbrella.", piece=3))
    if stream:
        list(client.chat.completions.create(stream=True, **ask("what to pack")))
    else:
        client.chat.completions.create(**ask("what to pack"))
    client.chat.completions.create(**ask("what to pack"))  # the tape, to a JSON client
    for flow in api.get("/api/flows").json():
        detail = api.get(f"/api/flows/{flow['id']}").json()
        assert detail["text"] == "Pack a coat, and an umbrella.", flow["source"]


def test_flow_detail_of_a_replay_to_a_json_client(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    upstream.queue(Reply(content="recorded as a stream", piece=5))
    list(client.chat.completions.create(stream=True, **ask("replayed")))
    replayed = client.chat.completions.create(**ask("replayed"))
    # The recording may still be reading the upstream's end: the replay is found by its source.
    (flow,) = api.get("/api/flows", params={"source": "tape"}).json()
    detail = api.get(f"/api/flows/{flow['id']}").json()
    assert detail["source"] == "tape" and detail["state"] == "COMPLETE"
    assert detail["streamed"] is False and detail["answer_streamed"] is True
    assert [entry["state"] for entry in detail["history"]] == ["LOOKUP", "REPLAY", "COMPLETE"]
    assert detail["response"]["choices"][0]["message"]["content"] == "recorded as a stream"
    assert detail["response"]["id"] == replayed.id
    assert detail["response_headers"] == {}


def test_unknown_flow_is_404(api: httpx.Client) -> None:
    message = refused(api.get("/api/flows/nope-000001"), 404, "flow_not_found", "id")
    assert "'nope-000001'" in message
    decided = api.post("/api/flows/nope-000001/decision", json={"action": "allow"})
    refused(decided, 404, "flow_not_found", "id")


def test_decision_for_a_flow_that_is_not_held_is_409(
    proxy: Running, client: openai.OpenAI, api: httpx.Client
) -> None:
    client.chat.completions.create(**ask("done already"))
    (flow,) = api.get("/api/flows").json()
    message = refused(
        api.post(f"/api/flows/{flow['id']}/decision", json={"action": "allow"}),
        409,
        "flow_not_held",
        None,
    )
    assert "COMPLETE" in message and "INTERCEPT" in message
    assert api.get(f"/api/flows/{flow['id']}").json()["decision"] is None


BAD_DECISIONS: list[tuple[bytes, int, str, str | None, str]] = [
    (b"", 400, "invalid_body", None, "empty"),
    (b"  \n", 400, "invalid_body", None, "empty"),
    (b"{not json", 400, "invalid_json", None, "not valid JSON"),
    (b'"allow"', 422, "invalid_body", None, "Expected `object`"),
    (b"{}", 422, "invalid_body", "action", "allow, mock, edit, tape"),
    (b'{"action": "approve"}', 422, "invalid_body", "action", "allow, mock, edit, tape"),
    (b'{"action": "allow", "now": true}', 422, "invalid_body", "now", "unknown field"),
    (b'{"action": "mock"}', 422, "invalid_body", "mock", "missing required field"),
    (b'{"action": "mock", "mock": {"content": 5}}', 422, "invalid_body", "mock.content", "str"),
    (b'{"action": "mock", "mock": {"text": "x"}}', 422, "invalid_body", "mock.text", "unknown"),
    (b'{"action": "mock", "mock": {}}', 422, "invalid_decision", "mock", "empty"),
    (
        b'{"action": "mock", "mock": {"content": "x", "error": {"status": 500, "message": "m"}}}',
        422,
        "invalid_decision",
        "mock",
        "mixes content/tool_calls and error",
    ),
    (
        b'{"action": "mock", "mock": {"tool_calls": [{"name": "f", "arguments": "{nope"}]}}',
        422,
        "invalid_decision",
        "mock.tool_calls[0].arguments",
        "not JSON",
    ),
    (
        b'{"action": "mock", "mock": {"tool_calls": [{"arguments": {}}]}}',
        422,
        "invalid_body",
        "mock.tool_calls[0].name",
        "missing required field",
    ),
    (
        b'{"action": "mock", "mock": {"error": {"status": 200, "message": "fine"}}}',
        422,
        "invalid_body",
        "mock.error.status",
        ">= 400",
    ),
    (
        b'{"action": "mock", "mock": {"response": {"choices": [{"message": "hi"}]}}}',
        422,
        "invalid_decision",
        "mock.response.choices[0].message",
        "must be an object",
    ),
    (b'{"action": "tape"}', 422, "invalid_decision", "action", "before they are sent"),
    (b'{"action": "edit", "request": {}}', 422, "invalid_decision", "request", "already"),
    (b'{"action": "edit"}', 422, "invalid_decision", "content", "at least one"),
]


def test_bad_decisions_are_refused_and_the_flow_stays_held(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    api, person, future, flow_id = hold_call(start_proxy, api_of, agent, "hold me")
    url = f"/api/flows/{flow_id}/decision"
    for body, status, code, param, words in BAD_DECISIONS:
        response = api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert words in refused(response, status, code, param), body
        detail = api.get(f"/api/flows/{flow_id}").json()
        assert detail["state"] == "INTERCEPT" and detail["hold"] is not None, body
        assert detail["decision"] is None
    assert not future.done()
    assert len(upstream.received) == 1

    allowed = api.post(url, json={"action": "allow"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["id"] == flow_id and allowed.json()["request"] is None
    assert future.result(timeout=10).choices[0].message.content == UPSTREAM_TEXT
    finished = person.finished(flow_id)
    assert finished["decision"] == "allow" and finished["source"] == "upstream"
    assert person.states(flow_id)[-3:] == ["INTERCEPT", "FLUSH", "COMPLETE"]
    refused(api.post(url, json={"action": "allow"}), 409, "flow_not_held", None)


def test_held_flow_shows_its_answer_and_a_mock_replaces_it(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    upstream.queue(Reply(tool_calls=[("get_weather", WEATHER_ARGS)], piece=3))
    api, person, future, flow_id = hold_call(start_proxy, api_of, agent, "weather, held")
    detail = api.get(f"/api/flows/{flow_id}").json()
    assert detail["hold"]["stage"] == "response"
    assert detail["tool_calls"][0]["arguments"] == json.loads(WEATHER_ARGS)
    message = detail["response"]["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["arguments"] == WEATHER_ARGS

    mock = {"tool_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}}]}
    person.decide(flow_id, action="mock", mock=mock).raise_for_status()
    answer = future.result(timeout=10)
    (call,) = answer.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_time" and json.loads(call.function.arguments) == {"tz": "UTC"}
    assert call.id.startswith("call_")
    person.finished(flow_id)
    after = api.get(f"/api/flows/{flow_id}").json()
    assert after["source"] == "mock" and after["decision"] == "mock"
    assert after["tool_calls"] == [{"id": call.id, "name": "get_time", "arguments": {"tz": "UTC"}}]
    assert after["response"]["id"] == answer.id


def test_mock_error_is_what_the_flow_shows_as_its_answer(
    start_proxy: Callable[..., Running],
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    api, person, future, flow_id = hold_call(start_proxy, api_of, agent, "fail me on purpose")
    error = {"status": 503, "message": "made-up outage"}
    person.decide(flow_id, action="mock", mock={"error": error}).raise_for_status()
    with pytest.raises(openai.InternalServerError, match="made-up outage"):
        future.result(timeout=10)
    person.finished(flow_id)
    detail = api.get(f"/api/flows/{flow_id}").json()
    assert (detail["source"], detail["status"]) == ("mock", 503)
    assert detail["usage"] is None and detail["tool_calls"] == [] and detail["text"] == ""
    assert detail["response"]["error"]["message"] == "made-up outage"
    (chunk,) = detail["chunks"]
    assert json.loads(chunk["c"]) == detail["response"] and not detail["answer_streamed"]
    assert detail["response_headers"]["x-should-retry"] == "false"
    assert detail["response_headers"]["X-Playingpack-Source"] == "mock"


def test_delete_flows_drops_finished_ones_only(
    start_proxy: Callable[..., Running],
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    # Without a history the live window is all GET /api/flows has (with one, the history keeps
    # the calls: tests/test_api_history.py).
    proxy = start_proxy(hold_timeout=HOLD_TIMEOUT, history=None)
    api = api_of(proxy)
    proxy.client().chat.completions.create(**ask("finished"))
    proxy.client().chat.completions.create(**ask("finished too"))
    person = proxy.person()
    api.patch("/api/settings", json={"pause": "all"}).raise_for_status()
    future = call_in_thread(proxy, agent, **ask("held across the clear"))
    held_id = person.held()["id"]
    finished_ids = [f["id"] for f in api.get("/api/flows", params={"state": "COMPLETE"}).json()]
    assert len(finished_ids) == 2

    cleared = api.delete("/api/flows")
    assert cleared.status_code == 200 and cleared.json() == {"dropped": 2}
    assert [f["id"] for f in api.get("/api/flows").json()] == [held_id]
    for flow_id in finished_ids:
        refused(api.get(f"/api/flows/{flow_id}"), 404, "flow_not_found", "id")
    # Open dashboards are told: a fresh snapshot replaces their list.
    snapshot = person.wait(lambda m: m["type"] == "snapshot")
    assert [f["id"] for f in snapshot["flows"]] == [held_id]

    person.decide(held_id, action="allow").raise_for_status()
    assert future.result(timeout=10).choices[0].message.content == UPSTREAM_TEXT
    person.finished(held_id)
    assert api.delete("/api/flows").json() == {"dropped": 1}
    assert api.get("/api/flows").json() == []
    assert api.delete("/api/flows").json() == {"dropped": 0}


# --- settings -----------------------------------------------------------------------------


def test_settings_start_from_the_config(
    start_proxy: Callable[..., Running], api_of: Callable[[Running], httpx.Client]
) -> None:
    proxy = start_proxy(
        pause=PauseMode.TOOL_CALLS, hold_timeout=7.5, pause_requests=True, sequence=True
    )
    assert api_of(proxy).get("/api/settings").json() == {
        "record": "auto",
        "pause": "tool-calls",
        "replay_timing": "original",
        "pause_requests": True,
        "hold_timeout": 7.5,
        "sequence": True,
    }


def test_patch_settings_changes_only_what_it_names_and_everyone_sees_it(
    proxy: Running, api: httpx.Client
) -> None:
    person = proxy.person()
    before = api.get("/api/settings").json()
    patched = api.patch("/api/settings", json={"pause": "tool-calls", "hold_timeout": 12.5})
    assert patched.status_code == 200, patched.text
    expected = {**before, "pause": "tool-calls", "hold_timeout": 12.5}
    assert patched.json() == expected
    assert api.get("/api/settings").json() == expected
    told = person.wait(lambda m: m["type"] == "settings")
    assert told["settings"] == expected
    health = api.get("/health").json()
    assert (health["pause"], health["record"], health["replay_timing"]) == (
        "tool-calls",
        "auto",
        "original",
    )
    api.patch("/api/settings", json={"replay_timing": "instant", "record": "off"})
    health = api.get("/health").json()
    assert (health["record"], health["replay_timing"]) == ("off", "instant")
    assert api.patch("/api/settings", json={}).json() == {
        **expected,
        "replay_timing": "instant",
        "record": "off",
    }


def test_record_mode_change_takes_effect_on_the_next_call(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    client.chat.completions.create(**ask("recorded before"))
    patched = api.patch("/api/settings", json={"record": "replay-only"})
    assert patched.json()["record"] == "replay-only"
    calls = len(upstream.received)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(**ask("never recorded"))
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "tape_not_found"
    answer = client.chat.completions.create(**ask("recorded before"))
    assert answer.choices[0].message.content == UPSTREAM_TEXT
    assert len(upstream.received) == calls
    api.patch("/api/settings", json={"record": "auto"})
    client.chat.completions.create(**ask("never recorded"))
    assert len(upstream.received) == calls + 1


def test_pause_requests_and_hold_timeout_apply_to_the_next_call(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
) -> None:
    proxy = start_proxy(hold_timeout=HOLD_TIMEOUT)
    api = api_of(proxy)
    person = proxy.person()
    patch = {"pause_requests": True, "hold_timeout": 15}
    api.patch("/api/settings", json=patch).raise_for_status()
    future = call_in_thread(proxy, agent, **ask("held before sending"))
    held = person.held()
    assert held["hold"]["stage"] == "request" and held["hold"]["timeout_s"] == 15
    assert upstream.received == []
    person.decide(held["id"], action="allow").raise_for_status()
    assert future.result(timeout=10).choices[0].message.content == UPSTREAM_TEXT
    assert len(upstream.received) == 1


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"recrod": "auto"}, "recrod", "unknown field"),
        ({"record": "replay_only"}, "record", "auto, off, replay-only"),
        ({"pause": "tools"}, "pause", "off, tool-calls, all"),
        ({"replay_timing": "fast"}, "replay_timing", "original, instant"),
        ({"pause_requests": "yes"}, "pause_requests", "bool"),
        ({"hold_timeout": 0}, "hold_timeout", "> 0"),
        ({"hold_timeout": "5"}, "hold_timeout", "float"),
        # Nothing is applied when one field is wrong.
        ({"pause": "all", "record": "bogus"}, "record", "auto, off, replay-only"),
    ],
)
def test_bad_settings_are_422_and_change_nothing(
    api: httpx.Client, body: dict[str, Any], param: str, words: str
) -> None:
    before = api.get("/api/settings").json()
    assert words in refused(api.patch("/api/settings", json=body), 422, "invalid_body", param)
    assert api.get("/api/settings").json() == before


@pytest.mark.parametrize(("raw", "code"), [(b"", "invalid_body"), (b"{pause", "invalid_json")])
def test_settings_body_that_is_not_json_is_400(api: httpx.Client, raw: bytes, code: str) -> None:
    refused(api.patch("/api/settings", content=raw), 400, code, None)


# --- tapes --------------------------------------------------------------------------------


def record_two(client: openai.OpenAI, upstream: FakeUpstream) -> tuple[str, str]:
    """A streamed tool call (gpt-4o-mini) and a JSON text answer (gpt-4o); their keys."""
    upstream.queue(
        Reply(tool_calls=[("get_weather", WEATHER_ARGS)], piece=5),
        Reply(content="a plain answer"),
    )
    streamed = ask("stream the weather")
    list(client.chat.completions.create(stream=True, **streamed))
    plain = {**ask("needle in the haystack"), "model": "gpt-4o"}
    client.chat.completions.create(**plain)
    return request_key(streamed), request_key(plain)


def test_tapes_are_listed_with_their_summary(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    streamed, plain = record_two(client, upstream)
    listed = api.get("/api/tapes").json()
    assert {tape["hash"] for tape in listed} == {streamed, plain}
    assert [t["timestamp"] for t in listed] == sorted(
        (t["timestamp"] for t in listed), reverse=True
    )
    by_hash = {tape["hash"]: tape for tape in listed}
    for key, tape in by_hash.items():
        path = proxy.tapes_dir / f"{key}.json"
        stored = json.loads(path.read_text("utf-8"))
        assert tape["size"] == path.stat().st_size
        assert tape["chunks"] == len(stored["response"]["chunks"])
        assert tape["timestamp"] == stored["meta"]["timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", tape["timestamp"])
        assert tape["endpoint"] == "/v1/chat/completions" and tape["status"] == 200
    assert by_hash[streamed]["model"] == "gpt-4o-mini"
    assert by_hash[streamed]["streamed"] is True
    assert by_hash[streamed]["tool_calls"] == ["get_weather"]
    assert by_hash[plain]["model"] == "gpt-4o"
    assert by_hash[plain]["streamed"] is False
    assert by_hash[plain]["tool_calls"] == []
    assert by_hash[plain]["chunks"] == 1

    def hashes(**query: str) -> list[str]:
        response = api.get("/api/tapes", params=query)
        assert response.status_code == 200, response.text
        return [tape["hash"] for tape in response.json()]

    assert hashes(q="NEEDLE") == [plain]  # the request body, case-insensitive
    assert hashes(q="mini") == [streamed]  # the model
    assert hashes(q=streamed[:12]) == [streamed]  # the hash
    assert hashes(q="gpt-4o") == [t["hash"] for t in listed]
    assert hashes(q="nothing like this") == []
    assert hashes(limit="1") == [listed[0]["hash"]]
    assert hashes(limit="5") == [t["hash"] for t in listed]
    refused(api.get("/api/tapes", params={"limit": "0"}), 422, "invalid_body", "limit")


def test_get_tape_is_the_file_and_delete_removes_it(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    streamed, plain = record_two(client, upstream)
    path = proxy.tapes_dir / f"{streamed}.json"
    got = api.get(f"/api/tapes/{streamed}")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.json() == json.loads(path.read_text("utf-8"))

    deleted = api.delete(f"/api/tapes/{streamed}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert not path.exists()
    assert [p.stem for p in proxy.tapes()] == [plain]
    message = refused(api.get(f"/api/tapes/{streamed}"), 404, "tape_not_found", "hash")
    assert streamed in message and str(proxy.tapes_dir) in message
    refused(api.delete(f"/api/tapes/{streamed}"), 404, "tape_not_found", "hash")
    assert [t["hash"] for t in api.get("/api/tapes").json()] == [plain]

    calls = len(upstream.received)
    list(client.chat.completions.create(stream=True, **ask("stream the weather")))
    assert len(upstream.received) == calls + 1, "a deleted tape must not be replayed"
    assert path.exists()


def test_get_tape_shows_fields_this_version_does_not_know(
    proxy: Running, api: httpx.Client
) -> None:
    # As the original tool wrote them: no meta.format, no response.streamed; plus a field
    # from some newer writer.
    body = ask("legacy")
    key = request_key(body)
    document = {
        "meta": {
            "id": "6f1c0e4e-0000-4000-8000-000000000000",
            "hash": key,
            "timestamp": "2025-01-02T03:04:05.678Z",
            "model": "gpt-4o-mini",
            "endpoint": "/v1/chat/completions",
            "recorded_by": "someone else",
        },
        "request": {"body": body},
        "response": {"status": 200, "chunks": [{"c": "data: [DONE]\n\n", "d": 1}]},
    }
    proxy.tapes_dir.mkdir(parents=True)
    (proxy.tapes_dir / f"{key}.json").write_text(json.dumps(document), "utf-8")
    assert api.get(f"/api/tapes/{key}").json() == document
    (listed,) = api.get("/api/tapes").json()
    assert listed["hash"] == key and listed["streamed"] is True


def test_corrupt_tape_is_500_naming_the_file(proxy: Running, api: httpx.Client) -> None:
    key = "0" * 64
    proxy.tapes_dir.mkdir(parents=True)
    (proxy.tapes_dir / f"{key}.json").write_text('{"meta": ', "utf-8")
    message = refused(api.get(f"/api/tapes/{key}"), 500, "tape_corrupt", "hash")
    assert str(proxy.tapes_dir / f"{key}.json") in message


def test_tapes_of_per_test_folders_are_listed_viewed_and_deleted(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, api: httpx.Client
) -> None:
    top = request_key(ask("top folder"))
    client.chat.completions.create(**ask("top folder"))
    scoped = openai.OpenAI(
        base_url=f"{proxy.url}/t/test_one.py-case_1/v1", api_key=API_KEY, max_retries=0
    )
    scoped.chat.completions.create(**ask("scoped folder"))
    key = request_key(ask("scoped folder"))
    path = proxy.tapes_dir / "test_one.py-case_1" / f"{key}.json"
    assert path.is_file()

    listed = {tape["id"]: tape for tape in api.get("/api/tapes").json()}
    assert set(listed) == {top, f"test_one.py-case_1/{key}"}
    assert listed[top]["scope"] is None and listed[top]["hash"] == top
    assert listed[f"test_one.py-case_1/{key}"]["scope"] == "test_one.py-case_1"
    assert listed[f"test_one.py-case_1/{key}"]["hash"] == key

    def ids(**query: str) -> list[str]:
        response = api.get("/api/tapes", params=query)
        assert response.status_code == 200, response.text
        return [tape["id"] for tape in response.json()]

    assert ids(scope="test_one.py-case_1") == [f"test_one.py-case_1/{key}"]
    assert ids(scope="") == [top]
    assert ids(scope="no-such-folder") == []
    assert ids(q="scoped") == [f"test_one.py-case_1/{key}"]
    refused(api.get("/api/tapes", params={"scope": "../x"}), 422, "invalid_body", "scope")

    got = api.get(f"/api/tapes/test_one.py-case_1/{key}")
    assert got.status_code == 200 and got.json() == json.loads(path.read_text("utf-8"))
    refused(api.get(f"/api/tapes/{key}"), 404, "tape_not_found", "hash")  # not in the top one
    refused(api.get(f"/api/tapes/other/{key}"), 404, "tape_not_found", "hash")
    for bad in ("..", ".hidden", "a%20b"):
        response = raw_request(api, "DELETE", f"/api/tapes/{bad}/{key}")
        refused(response, 400, "invalid_tape_scope", "scope")
    assert path.is_file()

    assert api.delete(f"/api/tapes/test_one.py-case_1/{key}").status_code == 204
    assert not path.exists()
    assert ids() == [top]


HASH = "0123456789abcdef" * 4
BAD_HASHES = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "..",
    "%2E%2E",
    "..%2Fsentinel",
    "%2e%2e%2fsentinel",
    "..%5Csentinel",
    HASH[:31] + "%2F" + HASH[:32],
    HASH.upper(),
    HASH[:63],
    HASH + "0",
    HASH + "%00",
    HASH[:63] + "g",
    HASH + ".json",
]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_invalid_tape_hashes_are_400_and_touch_nothing(
    proxy: Running, client: openai.OpenAI, api: httpx.Client, tmp_path: Path, method: str
) -> None:
    client.chat.completions.create(**ask("a real tape"))
    (tape,) = proxy.tapes()
    assert proxy.tapes_dir.parent == tmp_path
    sentinel = tmp_path / "sentinel.json"
    sentinel.write_text('{"keep": "me"}', "utf-8")

    def files() -> list[Path]:  # the logs folder gets a line per request: not a tape matter
        return sorted(p for p in tmp_path.rglob("*") if "logs" not in p.relative_to(tmp_path).parts)

    before = files()
    upper = f"/api/tapes/{tape.stem.upper()}"
    for target in [*(f"/api/tapes/{bad}" for bad in BAD_HASHES), upper]:
        response = raw_request(api, method, target)
        message = refused(response, 400, "invalid_tape_hash", "hash")
        assert "64 lowercase hex digits" in message, target
    assert sentinel.read_text("utf-8") == '{"keep": "me"}'
    assert tape.exists()
    assert files() == before


# --- the OpenAPI description against real answers -----------------------------------------


def test_openapi_schemas_describe_real_responses(
    proxy: Running, client: openai.OpenAI, api: httpx.Client
) -> None:
    client.chat.completions.create(**ask("described"))
    schemas = api.get("/api/openapi.json").json()["components"]["schemas"]
    (flow,) = api.get("/api/flows").json()
    detail = api.get(f"/api/flows/{flow['id']}").json()
    (tape,) = api.get("/api/tapes").json()
    settings = api.get("/api/settings").json()
    error = api.get("/api/flows/none").json()
    for name, value in [
        ("FlowJSON", flow),
        ("FlowDetailJSON", detail),
        ("TapeJSON", tape),
        ("SettingsJSON", settings),
        ("ErrorJSON", error),
        ("ErrorBody", error["error"]),
    ]:
        properties = schemas[name]["properties"]
        assert set(value) == set(properties), name
        assert set(schemas[name]["required"]) <= set(value), name


# --- secrets ------------------------------------------------------------------------------


def test_api_key_never_appears_in_any_api_response(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    api_of: Callable[[Running], httpx.Client],
    agent: ThreadPoolExecutor,
    seen: list[httpx.Response],
) -> None:
    proxy = start_proxy(hold_timeout=HOLD_TIMEOUT)
    api = api_of(proxy)
    person: Person = proxy.person()
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(tool_calls=[("get_weather", WEATHER_ARGS)]), Reply(status=401))
    list(client.chat.completions.create(stream=True, **ask("secret stream")))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask("secret failure"))
    client.models.list()
    client.chat.completions.create(**ask("secret stream"))  # from the tape
    api.patch("/api/settings", json={"pause": "all"})
    future = call_in_thread(proxy, agent, **ask("secret held"))
    held = person.held()

    flows = api.get("/api/flows").json()
    assert len(flows) == 5
    for flow in flows:
        detail = api.get(f"/api/flows/{flow['id']}").json()
        headers = {k.lower(): v for k, v in detail["request_headers"].items()}
        assert headers["authorization"] == f"Bearer ***{API_KEY[-4:]}", flow["path"]
    api.get("/api/flows", params={"bodies": "false"})
    for tape in api.get("/api/tapes").json():
        api.get(f"/api/tapes/{tape['hash']}")
    api.get("/api/settings")
    api.get("/api/openapi.json")
    person.decide(held["id"], action="allow").raise_for_status()
    future.result(timeout=10)
    person.finished(held["id"])
    api.get(f"/api/flows/{held['id']}")

    assert len(seen) >= 12
    for response in seen:
        assert API_KEY not in response.text, response.request.url
    assert API_KEY not in json.dumps([person.snapshot, *person.seen])
