"""Holding calls and deciding on them through /api, with the SDK as the agent ."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion_message_function_tool_call import Function

from playingpack.config import PauseMode
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

WEATHER = ("get_weather", '{"city": "Paris", "unit": "celsius"}')


def collect(stream: Any) -> tuple[str, list[Any]]:
    """The text of a streamed answer and its tool calls merged by index."""
    text = ""
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
    return text, [calls[i] for i in sorted(calls)]


def streamed(
    client: openai.OpenAI, question: str = "Weather in Paris?"
) -> Callable[[], tuple[str, list[Any]]]:
    """A streamed call: its text and tool calls."""
    return lambda: collect(client.chat.completions.create(stream=True, **ask(question)))


def answered(client: openai.OpenAI, question: str) -> Callable[[], ChatCompletion]:
    """A JSON call: the answer the SDK parsed."""
    return lambda: client.chat.completions.create(**ask(question))


def functions(answer: ChatCompletion) -> list[Function]:
    """The functions an answer calls (each with its name and its arguments as JSON text)."""
    calls = answer.choices[0].message.tool_calls or []
    assert all(call.type == "function" for call in calls)
    return [call.function for call in calls if call.type == "function"]


def accumulated(client: openai.OpenAI, question: str) -> Callable[[], ChatCompletion]:
    """A streamed call: the completion the SDK's stream helper builds of the chunks."""

    def run() -> ChatCompletion:
        with client.chat.completions.stream(**ask(question)) as stream:
            for _ in stream:
                pass
            return stream.get_final_completion()

    return run


def test_states_of_replayed_recorded_allowed_and_mocked_calls(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    agent: ThreadPoolExecutor,
) -> None:
    proxy = start_proxy()
    person = proxy.person()
    client = proxy.client()

    client.chat.completions.create(**ask("recorded"))
    recorded = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")
    client.chat.completions.create(**ask("recorded"))
    replayed = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")

    person.http.patch("/api/settings", json={"pause": "all"}).raise_for_status()
    upstream.queue(Reply(content="real"), Reply(content="real"))
    allowed_call = agent.submit(streamed(client, "allow me"))
    allowed = person.held()
    assert person.decide(allowed["id"], action="allow").status_code == 200
    assert allowed_call.result(10) == ("real", [])
    person.finished(allowed["id"])

    mocked_call = agent.submit(streamed(client, "mock me"))
    mocked = person.held()
    person.decide(allowed["id"], action="allow")  # no longer held: refused, nothing changes
    response = person.decide(mocked["id"], action="mock", mock={"content": "made up"})
    assert response.status_code == 200, response.text
    assert mocked_call.result(10) == ("made up", [])
    done = person.finished(mocked["id"])

    assert person.states(recorded["flow"]["id"]) == ["LOOKUP", "CONNECT", "STREAMING", "COMPLETE"]
    assert person.states(replayed["flow"]["id"]) == ["LOOKUP", "REPLAY", "COMPLETE"]
    assert person.states(allowed["id"]) == [
        "LOOKUP", "CONNECT", "STREAMING", "INTERCEPT", "FLUSH", "COMPLETE"
    ]  # fmt: skip
    assert person.states(mocked["id"]) == [
        "LOOKUP", "CONNECT", "STREAMING", "INTERCEPT", "INJECT", "COMPLETE"
    ]  # fmt: skip
    assert recorded["flow"]["source"] == "upstream"
    assert replayed["flow"]["source"] == "tape"
    assert done["source"] == "mock" and done["decision"] == "mock"


def test_tool_call_is_held_before_any_tool_call_chunk_reaches_the_client(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    upstream.queue(Reply(tool_calls=[WEATHER], piece=3))
    received: list[bytes] = []
    heartbeat = threading.Event()

    def raw_stream() -> int:
        with httpx.stream(
            "POST",
            f"{proxy.base_url}/chat/completions",
            json=ask("Weather?", stream=True),
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=20,
        ) as response:
            for data in response.iter_raw():
                received.append(data)
                if b": playingpack" in data:
                    heartbeat.set()
            return response.status_code

    done = agent.submit(raw_stream)
    held = person.held()
    # The whole answer was read first: the person sees the complete arguments.
    assert held["tool_calls"] == [
        {"id": "call_0_get_weather", "name": "get_weather", "arguments": json.loads(WEATHER[1])}
    ]
    assert held["hold"]["stage"] == "response"
    # A heartbeat went out after the hold began; everything sent before it has arrived too.
    assert heartbeat.wait(5)
    assert b"tool_calls" not in b"".join(received)
    person.decide(held["id"], action="allow")
    assert done.result(10) == 200
    body = b"".join(received).decode()
    assert '"name":"get_weather"' in body
    assert body.endswith("data: [DONE]\n\n: end of stream\n\n")


def test_answers_without_tool_calls_are_not_held_or_delayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    release = threading.Event()
    upstream.queue(Reply(content="first second third", hold_after_first=release, hold_at=1))
    stream = client.chat.completions.create(stream=True, **ask("no tools"))
    chunks = iter(stream)
    opening = next(chunks)
    first_text = next(chunks)
    # The upstream is parked after its first text chunk: it reached the SDK as it arrived.
    assert upstream.sent_chunks == 2
    assert opening.choices[0].delta.role == "assistant"
    assert first_text.choices[0].delta.content == "firs"
    release.set()
    rest = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "firs" + rest == "first second third"
    flow = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")
    assert "INTERCEPT" not in person.states(flow["flow"]["id"])


def test_pause_all_holds_text_answers_and_allow_delivers_them_exactly(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(content="An exact answer, piece by piece.", piece=3))
    call = agent.submit(
        lambda: [
            c.model_dump()
            for c in client.chat.completions.create(
                stream=True, stream_options={"include_usage": True}, **ask("exact")
            )
        ]
    )
    held = person.held()
    person.decide(held["id"], action="allow")
    live = call.result(10)
    # Recorded as usual; its replay (pause off) is what the upstream sent.
    assert len(proxy.tapes()) == 1
    person.http.patch("/api/settings", json={"pause": "off"}).raise_for_status()
    replay = [
        c.model_dump()
        for c in client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **ask("exact")
        )
    ]
    assert live == replay
    assert "".join(c["choices"][0]["delta"]["content"] or "" for c in live if c["choices"]) == (
        "An exact answer, piece by piece."
    )


def test_held_tape_replay_is_allowed_or_mocked_like_an_upstream_answer(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy()
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(tool_calls=[WEATHER]))
    recorded = client.chat.completions.create(**ask("tape me"))
    person.http.patch("/api/settings", json={"pause": "tool-calls"}).raise_for_status()

    call = agent.submit(answered(client, "tape me"))
    held = person.held()
    assert held["source"] == "tape" and held["tool_calls"][0]["name"] == "get_weather"
    person.decide(held["id"], action="allow")
    assert call.result(10).model_dump() == recorded.model_dump()
    assert person.states(held["id"]) == ["LOOKUP", "REPLAY", "INTERCEPT", "FLUSH", "COMPLETE"]

    stream_call = agent.submit(streamed(client, "tape me"))
    held = person.held()
    mock = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]}
    person.decide(held["id"], action="mock", mock=mock)
    _, calls = stream_call.result(10)
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {
        "city": "Lyon"
    }
    assert len(upstream.received) == 1  # both answers came from the tape


def test_mock_saved_on_request_becomes_the_tape(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client()
    call = agent.submit(answered(client, "save it"))
    held = person.held()
    person.decide(held["id"], action="mock", mock={"content": "kept"}, save=True)
    assert call.result(10).choices[0].message.content == "kept"
    person.http.patch("/api/settings", json={"pause": "off", "record": "replay-only"})
    assert client.chat.completions.create(**ask("save it")).choices[0].message.content == "kept"


def test_edit_changes_the_real_answer(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(tool_calls=[WEATHER]), Reply(tool_calls=[WEATHER]))

    call = agent.submit(answered(client, "edit json"))
    held = person.held()
    detail = person.http.get(f"/api/flows/{held['id']}").json()
    real_id = detail["response"]["id"]
    edited = [{"name": "get_weather", "arguments": {"city": "Berlin", "unit": "celsius"}}]
    response = person.decide(held["id"], action="edit", tool_calls=edited)
    assert response.status_code == 200, response.text
    answer = call.result(10)
    assert answer.id == real_id  # the real answer, changed
    assert [json.loads(f.arguments)["city"] for f in functions(answer)] == ["Berlin"]
    assert answer.usage is not None and answer.usage.total_tokens > 0

    stream_call = agent.submit(streamed(client, "edit stream"))
    held = person.held()
    whole = person.http.get(f"/api/flows/{held['id']}").json()["response"]
    whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"city": "Rome"}'
    person.decide(held["id"], action="edit", response=whole)
    _, calls = stream_call.result(10)
    assert json.loads(calls[0]["arguments"]) == {"city": "Rome"}


@pytest.mark.parametrize(
    ("decision", "content", "arguments"),
    [
        ({"action": "mock", "mock": {"content": "It is sunny."}}, "Let me check. It is sunny.", []),
        (
            {
                "action": "edit",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Nice"}}],
            },
            "Let me check. ",
            [{"city": "Nice"}],
        ),
    ],
    ids=["mock", "edit"],
)
def test_text_before_a_tool_call_passes_and_the_decision_continues_the_same_stream(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    agent: ThreadPoolExecutor,
    decision: dict[str, Any],
    content: str,
    arguments: list[dict[str, Any]],
) -> None:
    """The text already delivered is neither repeated nor lost, whatever comes after it."""
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(content="Let me check. ", tool_calls=[WEATHER], text_before_tools=True))

    call = agent.submit(accumulated(client, "preamble"))
    held = person.held()
    assert person.decide(held["id"], **decision).status_code == 200
    answer = call.result(10)
    assert answer.choices[0].message.content == content
    assert [json.loads(f.arguments) for f in functions(answer)] == arguments
    assert answer.id.startswith("chatcmpl-fake")  # one stream, the ids it started with


def test_call_held_before_it_is_sent(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause_requests=True)
    person = proxy.person()
    client = proxy.client()

    # Edit the request, then it goes on: sent, recorded under the edited request.
    call = agent.submit(answered(client, "original question"))
    held = person.held()
    assert held["hold"]["stage"] == "request" and held["source"] is None
    assert len(upstream.received) == 0
    request = person.http.get(f"/api/flows/{held['id']}").json()["request"]
    request["messages"][0]["content"] = "edited question"
    assert person.decide(held["id"], action="edit", request=request).status_code == 200
    call.result(10)
    assert json.loads(upstream.received[0].body)["messages"][0]["content"] == "edited question"
    assert person.states(held["id"]) == ["LOOKUP", "INTERCEPT", "CONNECT", "STREAMING", "COMPLETE"]
    (tape,) = proxy.tapes()

    # Answer another request from that tape: the upstream is not called.
    stream_call = agent.submit(streamed(client, "something else"))
    held = person.held()
    person.decide(held["id"], action="tape", tape=tape.stem)
    assert stream_call.result(10)[0] == "Hello from the fake upstream!"
    assert person.finished(held["id"])["source"] == "tape"

    # Mock before sending: the upstream is not called either.
    call = agent.submit(answered(client, "mock first"))
    held = person.held()
    refused = person.decide(held["id"], action="edit", content="not yet")
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "request"
    person.decide(held["id"], action="mock", mock={"content": "never sent"})
    assert call.result(10).choices[0].message.content == "never sent"
    assert len(upstream.received) == 1


def test_held_stream_survives_a_short_sdk_read_timeout(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client(timeout=httpx.Timeout(2.0), max_retries=0)
    upstream.queue(Reply(tool_calls=[WEATHER]))
    call = agent.submit(streamed(client))
    held = person.held()
    # Still waiting, without a timeout error, after three times its read timeout.
    with pytest.raises(TimeoutError):
        call.result(6)
    person.decide(held["id"], action="allow")
    _, calls = call.result(10)
    assert calls[0]["name"] == "get_weather"


def test_client_is_kept_alive_while_a_held_answer_is_still_streaming_in(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client(timeout=httpx.Timeout(2.0), max_retries=0)
    # The upstream is silent for 3 s before its first event: longer than the read timeout,
    # while nothing of the answer may reach the client yet.
    upstream.queue(Reply(content="late but whole", first_delay=3))
    call = agent.submit(streamed(client, "slow upstream"))
    held = person.held()
    person.decide(held["id"], action="allow")
    assert call.result(10) == ("late but whole", [])


def test_unresolved_hold_is_released_after_the_hold_timeout(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL, hold_timeout=0.3)
    person = proxy.person()
    client = proxy.client()
    with caplog.at_level(logging.WARNING, logger="playingpack.interceptor"):
        answer = client.chat.completions.create(**ask("nobody decides"))
    assert answer.choices[0].message.content == "Hello from the fake upstream!"
    flow = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")
    assert flow["flow"]["decision"] == "timeout"
    assert "INTERCEPT" in person.states(flow["flow"]["id"])
    assert any("without a decision" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_client_leaving_while_held_ends_the_flow_and_frees_the_hold(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, stream: bool
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    body = json.dumps(ask("leaving", stream=stream)).encode()
    port = proxy.server.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as agent:
        agent.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        held = person.held()
    # The client went away while its call was held.
    ended = person.finished(held["id"])
    assert ended["state"] == "ERROR" and "disconnected" in ended["error"]
    assert person.http.get("/api/flows", params={"state": "INTERCEPT"}).json() == []
    assert person.decide(held["id"], action="allow").status_code == 409
    person.http.patch("/api/settings", json={"pause": "off"})
    answer = proxy.client().chat.completions.create(**ask("still serving"))
    assert answer.choices[0].message.content == "Hello from the fake upstream!"


def test_twenty_held_calls_resolved_in_random_order_each_get_their_own_answer(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client()
    questions = [f"question {n}" for n in range(20)]
    calls: dict[str, Future[Any]] = {}
    for number, question in enumerate(questions):
        if number % 2:
            calls[question] = agent.submit(streamed(client, question))
        else:
            calls[question] = agent.submit(answered(client, question))
    held = [person.held() for _ in questions]
    random.Random(7).shuffle(held)
    for flow in held:
        request = person.http.get(f"/api/flows/{flow['id']}").json()["request"]
        question = request["messages"][0]["content"]
        response = person.decide(flow["id"], action="mock", mock={"content": f"re: {question}"})
        assert response.status_code == 200
    for question, call in calls.items():
        result = call.result(10)
        text = result[0] if isinstance(result, tuple) else result.choices[0].message.content
        assert text == f"re: {question}"


def test_flow_history_is_bounded_but_the_logs_keep_everything(
    start_proxy: Callable[..., Running],
) -> None:
    # Without a history, GET /api/flows is the live window (with one, it lists all 8).
    proxy = start_proxy(live_window=5, history=None)
    client = proxy.client()
    for number in range(8):
        client.chat.completions.create(**ask(f"call {number}"))
    person = proxy.person()
    flows = person.http.get("/api/flows").json()
    assert [f["request"]["messages"][0]["content"] for f in flows] == [
        f"call {n}" for n in range(7, 2, -1)
    ]
    assert len(person.snapshot["flows"]) == 5
    proxy.close()
    lines = [
        line
        for path in proxy.config.logs_dir.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == 8
