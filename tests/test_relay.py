"""The relay: an upstream stream passed to a client kept waiting, and held only as the pause
mode says."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from playingpack.config import PauseMode
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.person import Person

KEEPALIVE = ": playingpack: held, waiting for a decision"
WEATHER = ("get_weather", '{"city": "Paris"}')


@contextmanager
def kept_waiting(
    proxy: Running, body: dict[str, Any]
) -> Iterator[tuple[Person, str, Iterator[str]]]:
    """A streamed call held before it is sent, once its client has had a heartbeat (the
    response starts with the first one): who watches, its flow id and the rest of its lines."""
    person = proxy.person()
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            f"{proxy.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as answer,
    ):
        lines = answer.iter_lines()
        assert next(lines) == KEEPALIVE
        yield person, person.held()["id"], lines


def decide(proxy: Running, flow_id: str, decision: dict[str, Any]) -> None:
    answer = httpx.post(f"{proxy.url}/api/flows/{flow_id}/decision", json=decision, timeout=10)
    assert answer.status_code == 200, answer.text


def data_of(lines: Iterator[str]) -> list[Any]:
    return [
        line.removeprefix("data: ") if line == "data: [DONE]" else json.loads(line[6:])
        for line in lines
        if line.startswith("data: ")
    ]


def test_a_call_kept_waiting_before_it_was_sent_is_not_held_again_with_pause_off(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content=None, tool_calls=[WEATHER], piece=3))
    # A second hold would take the hold timeout and show in the flow's states.
    proxy = start_proxy(pause_requests=True, hold_timeout=3)
    with kept_waiting(proxy, ask("Weather in Paris?", stream=True)) as (_, flow_id, lines):
        decide(proxy, flow_id, {"action": "allow"})
        data = data_of(lines)
    calls = [
        call
        for chunk in data[:-1]
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or ()
    ]
    assert calls[0]["function"]["name"] == "get_weather" and data[-1] == "[DONE]"
    (flow,) = proxy.finished_flows(1)
    detail = httpx.get(f"{proxy.url}/api/flows/{flow_id}", timeout=10).json()
    assert [entry["state"] for entry in detail["history"]] == [
        "LOOKUP",
        "INTERCEPT",
        "CONNECT",
        "STREAMING",
        "COMPLETE",
    ]
    assert flow["decision"] == "allow" and flow["source"] == "upstream"


def test_a_tool_call_answer_to_a_call_kept_waiting_is_held_under_tool_calls(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content=None, tool_calls=[WEATHER], piece=3))
    proxy = start_proxy(pause_requests=True, pause=PauseMode.TOOL_CALLS)
    with kept_waiting(proxy, ask("Weather in Paris?", stream=True)) as (person, flow_id, lines):
        decide(proxy, flow_id, {"action": "allow"})
        held = person.held()
        assert held["id"] == flow_id and held["hold"]["stage"] == "response"
        decide(proxy, flow_id, {"action": "mock", "mock": {"content": "Sunny, 22 C."}})
        data = data_of(lines)
    text = "".join(
        choice["delta"].get("content") or "" for chunk in data[:-1] for choice in chunk["choices"]
    )
    assert text == "Sunny, 22 C." and data[-1] == "[DONE]"
    assert person.finished(flow_id)["source"] == "mock"
