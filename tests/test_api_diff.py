"""GET /api/diff over HTTP: calls recorded with the official SDKs, compared as the dashboard
and scripts compare them (flows live and from the history, tapes, the nearest tape of a miss)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import RecordMode
from tests.conftest import API_KEY, Running
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def compare(proxy: Running, a: str, b: str) -> httpx.Response:
    return httpx.get(f"{proxy.url}/api/diff", params={"a": a, "b": b}, timeout=10)


def compared(proxy: Running, a: str, b: str) -> dict[str, Any]:
    response = compare(proxy, a, b)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ask_weather(client: openai.OpenAI, city: str, **extra: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"What is the weather in {city}?"}],
        tools=WEATHER,  # type: ignore[arg-type]
        **extra,
    )


def weather_calls(upstream: FakeUpstream, *cities: str) -> None:
    upstream.queue(
        *(Reply(tool_calls=[("get_weather", json.dumps({"city": city}))]) for city in cities)
    )


def tape_keys(proxy: Running) -> dict[str, str]:
    """The key of each tape by the last word of its request's user message."""
    tapes = httpx.get(f"{proxy.url}/api/tapes", timeout=10).json()
    keys = {}
    for tape in tapes:
        body = httpx.get(f"{proxy.url}/api/tapes/{tape['key']}", timeout=10).json()
        keys[body["request"]["body"]["messages"][0]["content"].split()[-1]] = tape["key"]
    return keys


def test_two_calls_whose_answers_call_a_tool_differently_name_the_argument(
    proxy: Running, upstream: FakeUpstream
) -> None:
    weather_calls(upstream, "Paris", "Lyon")
    client = proxy.client()
    first = ask_weather(client, "Paris")
    second = ask_weather(client, "Lyon", stream=True)
    for _ in second:
        pass
    newest, oldest = proxy.finished_flows(2)

    diff = compared(proxy, oldest["id"], newest["id"])
    assert first.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    (change,) = diff["request"]["changes"]  # a stream and a JSON call: stream is no difference
    assert change["path"] == "$.messages[0].content"
    assert change["op"] == "changed"
    assert change["words"] == [
        {"op": "same", "text": "What is the weather in "},
        {"op": "removed", "text": "Paris?"},
        {"op": "added", "text": "Lyon?"},
    ]
    (call,) = diff["answer"]["tool_calls"]
    assert call["same"] is False and call["name_changed"] is False
    assert [(c["path"], c["a"], c["b"]) for c in call["changes"]] == [("$.city", "Paris", "Lyon")]
    assert call["a"]["arguments"] == {"city": "Paris"} and call["b"]["name"] == "get_weather"
    assert diff["answer"]["same"] is False and diff["request"]["same"] is False
    assert diff["answer"]["finish_reason"] == {"a": "tool_calls", "b": "tool_calls", "same": True}
    assert diff["answer"]["status"] == {"a": 200, "b": 200, "same": True}
    assert (diff["a"]["ref"], diff["a"]["kind"], diff["a"]["source"]) == (
        oldest["id"],
        "flow",
        "upstream",
    )
    assert (diff["a"]["streamed"], diff["b"]["streamed"]) == (False, True)
    assert diff["b"]["request"]["stream"] is True
    assert diff["usage"]["input_tokens"]["a"] == oldest["usage"]["input_tokens"]
    assert diff["cost"]["a"] == oldest["cost"] and diff["cost"]["a"] is not None
    assert diff["latency"]["duration_ms"]["a"] == oldest["duration_ms"]
    assert diff["latency"]["first_byte_ms"]["b"] == newest["phases"]["first_byte_ms"]

    # The same from the tapes the two calls recorded, and a call against a tape.
    keys = tape_keys(proxy)
    from_tapes = compared(proxy, f"tape:{keys['Paris?']}", f"tape:{keys['Lyon?']}")
    assert from_tapes["a"]["kind"] == "tape" and from_tapes["a"]["origin"] == "recorded"
    assert from_tapes["a"]["ref"] == f"tape:{keys['Paris?']}"
    assert from_tapes["request"] == diff["request"]
    assert from_tapes["answer"]["tool_calls"][0]["changes"] == call["changes"]
    # A tape's cost is what its answer cost upstream: the call's own.
    assert from_tapes["cost"]["a"] == oldest["cost"]
    mixed = compared(proxy, newest["id"], f"tape:{keys['Paris?']}")
    assert [c["path"] for c in mixed["answer"]["tool_calls"][0]["changes"]] == ["$.city"]
    assert mixed["answer"]["tool_calls"][0]["changes"][0]["b"] == "Paris"


def test_a_call_and_its_replay_are_the_same(proxy: Running, upstream: FakeUpstream) -> None:
    weather_calls(upstream, "Oslo")
    client = proxy.client()
    ask_weather(client, "Oslo")
    stream = ask_weather(client, "Oslo", stream=True)  # from the tape, as a stream
    for _ in stream:
        pass
    replayed, recorded = proxy.finished_flows(2)
    assert replayed["source"] == "tape"

    diff = compared(proxy, recorded["id"], replayed["id"])
    assert diff["request"] == {"same": True, "changes": []}
    assert diff["answer"]["same"] is True
    assert diff["answer"]["tool_calls"][0]["same"] is True
    assert diff["usage"]["total_tokens"]["same"] is True
    # The replay cost nothing; the recording did.
    assert diff["cost"]["b"] == 0 and diff["cost"]["a"] > 0


def test_a_flow_that_left_the_live_window_is_read_from_the_history(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="It is sunny in Rome."), Reply(content="It is rainy in Rome."))
    proxy = start_proxy(live_window=1)
    client = proxy.client()
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Rome?"}]
    )
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Rome?"}], temperature=0.5
    )
    second, first = proxy.finished_flows(2)  # the first from the history: it left memory

    diff = compared(proxy, first["id"], second["id"])
    assert diff["a"]["ref"] == first["id"]
    assert [(c["path"], c["op"], c["b"]) for c in diff["request"]["changes"]] == [
        ("$.temperature", "added", 0.5)
    ]
    assert diff["answer"]["text"]["words"] == [
        {"op": "same", "text": "It is "},
        {"op": "removed", "text": "sunny "},
        {"op": "added", "text": "rainy "},
        {"op": "same", "text": "in Rome."},
    ]
    assert diff["answer"]["finish_reason"] == {"a": "stop", "b": "stop", "same": True}
    assert diff["latency"]["duration_ms"]["a"] == first["duration_ms"]


@pytest.mark.parametrize("scope", [None, "test_nearest"])
def test_a_replay_only_miss_is_compared_with_its_nearest_tape(
    proxy: Running, upstream: FakeUpstream, scope: str | None
) -> None:
    weather_calls(upstream, "Paris", "Oslo")
    base_url = proxy.base_url if scope is None else f"{proxy.url}/t/{scope}/v1"
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        ask_weather(client, "Paris")
        # Another tape, further from the miss than the first.
        ask_weather(client, "Paris", temperature=0.1)
        settings = httpx.patch(
            f"{proxy.url}/api/settings", json={"record": "replay-only"}, timeout=5
        )
        assert settings.status_code == 200
        with pytest.raises(openai.NotFoundError):
            ask_weather(client, "Nice")
    miss = proxy.finished_flows(3)[0]
    assert miss["status"] == 404

    diff = compared(proxy, miss["id"], "nearest")
    assert diff["b"]["kind"] == "tape"
    key = diff["b"]["ref"].removeprefix("tape:")
    assert key.startswith(f"{scope}/") if scope else "/" not in key
    assert diff["b"]["request"]["messages"][0]["content"] == "What is the weather in Paris?"
    assert "temperature" not in diff["b"]["request"]
    (change,) = diff["request"]["changes"]
    assert change["path"] == "$.messages[0].content"
    assert change["words"][-2:] == [
        {"op": "removed", "text": "Nice?"},
        {"op": "added", "text": "Paris?"},
    ]
    # The nearest tape's key is the tape's own: it names it for the tape routes too.
    assert httpx.get(f"{proxy.url}/api/tapes/{key}", timeout=5).status_code == 200


def test_anthropic_messages_calls(
    start_proxy: Callable[..., Running], fake_claude: FakeAnthropic
) -> None:
    proxy = start_proxy(anthropic_upstream=fake_claude.url)
    claude = proxy.anthropic()
    for text in ("Hi", "Hello there"):
        claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": text}],
        )
    newest, oldest = proxy.finished_flows(2)
    diff = compared(proxy, oldest["id"], newest["id"])
    (change,) = diff["request"]["changes"]
    assert change["path"] == "$.messages[0].content"
    assert diff["a"]["path"] == "/v1/messages"
    assert diff["answer"]["finish_reason"]["a"] == "end_turn"


def error_of(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


def test_refs_that_name_nothing(proxy: Running, upstream: FakeUpstream) -> None:
    client = proxy.client()
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    client.models.list()  # passed through: its request is no JSON playingpack keeps
    models, call = proxy.finished_flows(2)
    url = f"{proxy.url}/api/diff"
    absent = "f" * 64

    assert error_of(httpx.get(url, params={"b": call["id"]})) == (400, "invalid_ref", "a")
    assert error_of(httpx.get(url, params={"a": call["id"]})) == (400, "invalid_ref", "b")
    assert error_of(compare(proxy, "nearest", call["id"])) == (400, "invalid_ref", "a")
    assert error_of(compare(proxy, call["id"], "tape:nothex")) == (400, "invalid_ref", "b")
    assert error_of(compare(proxy, call["id"], f"tape:../{absent}")) == (400, "invalid_ref", "b")
    assert error_of(compare(proxy, "run:1", call["id"])) == (400, "invalid_ref", "a")
    assert error_of(compare(proxy, "nosuchflow", call["id"])) == (404, "flow_not_found", "a")
    assert error_of(compare(proxy, call["id"], f"tape:{absent}")) == (404, "tape_not_found", "b")
    assert error_of(compare(proxy, call["id"], f"tape:test_x/{absent}.2")) == (
        404,
        "tape_not_found",
        "b",
    )
    assert error_of(compare(proxy, models["id"], call["id"])) == (409, "request_unknown", "a")
    assert compare(proxy, call["id"], call["id"]).json()["answer"]["same"] is True


def test_no_nearest_tape(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    client = proxy.client(max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    (miss,) = proxy.finished_flows(1)
    assert error_of(compare(proxy, miss["id"], "nearest")) == (404, "no_nearest_tape", "b")


def test_big_calls_are_compared_word_by_word(proxy: Running) -> None:
    words = [f"w{i}" for i in range(200_000)]  # over a MiB of request each
    client = proxy.client()
    for changed in ("Paris", "Lyon"):
        text = " ".join([*words[:1000], changed, *words[1000:]])
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
    newest, oldest = proxy.finished_flows(2)
    diff = compared(proxy, oldest["id"], newest["id"])
    (change,) = diff["request"]["changes"]
    assert [word for word in change["words"] if word["op"] != "same"] == [
        {"op": "removed", "text": "Paris "},
        {"op": "added", "text": "Lyon "},
    ]
    assert diff["answer"]["same"] is True
