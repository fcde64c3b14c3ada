"""The Responses API (`POST /v1/responses`): recorded, replayed, held and mocked, with the real
openai SDK (and the openai-agents SDK) as the agent, plus the wire format on literal inputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseStreamEvent,
)
from pydantic import TypeAdapter

from playingpack.config import PauseMode, RecordMode
from playingpack.providers import EventKind, ToolCall, Usage
from playingpack.providers.openai_responses import OpenAIResponses
from playingpack.sse import parse_events
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream, Reply, _ResponsesAnswer

responses = OpenAIResponses()
MODEL = "gpt-4o-mini"
WEATHER = ("get_weather", '{"city": "Paris", "unit": "celsius"}')
TIME = ("get_time", '{"timezone": "Europe/Paris"}')
typed_event: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def question(text: str = "Hello!", **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a Responses request with one user input."""
    return {"model": MODEL, "input": text, **extra}


def typed_events(client: openai.OpenAI, **request: Any) -> list[dict[str, Any]]:
    """The events of ``client.responses.create(stream=True)``, as the SDK typed them."""
    return [event.model_dump() for event in client.responses.create(stream=True, **request)]


def final(client: openai.OpenAI, **request: Any) -> Any:
    """The response ``client.responses.stream()`` accumulates from the events."""
    with client.responses.stream(**request) as stream:
        return stream.get_final_response()


def plain(response: Any) -> dict[str, Any]:
    """A ParsedResponse as the Response it parsed (without the SDK's `parsed*` additions)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k not in ("parsed", "parsed_arguments", "output_parsed")
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    stripped: dict[str, Any] = strip(response.model_dump())
    return stripped


def function_calls(response: Any) -> list[tuple[str, Any]]:
    return [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]


def fake_stream(reply: Reply, **request: Any) -> tuple[dict[str, Any], list[str]]:
    """What the fake upstream sends for ``reply``: the response JSON and the stream."""
    answer = _ResponsesAnswer({"model": MODEL, "input": "hi", **request}, reply)
    return answer.response(), answer.events()


# --- recording and replay with the SDK --------------------------------------------------------


def test_stream_recorded_replays_to_every_kind_of_client(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Recorded in pieces.", reasoning="A short thought.", piece=3))
    live = typed_events(client, **question("record a stream"))
    assert len(proxy.tapes()) == 1
    assert live[-1]["type"] == "response.completed"

    as_json = client.responses.create(**question("record a stream"))
    assert as_json.model_dump() == live[-1]["response"]
    assert as_json.output_text == "Recorded in pieces."
    assert as_json.usage is not None and as_json.usage.output_tokens > 0
    # The tape is the stream itself: a streaming client gets it event for event.
    assert typed_events(client, **question("record a stream")) == live
    assert plain(final(client, **question("record a stream"))) == as_json.model_dump()
    assert len(upstream.received) == 1


def test_json_tape_replays_as_a_typed_stream_the_sdk_accumulates(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(
        Reply(content="Let me look.", tool_calls=[WEATHER, TIME], text_before_tools=True)
    )
    recorded = client.responses.create(**question("record json"))
    assert function_calls(recorded) == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"timezone": "Europe/Paris"}),
    ]

    accumulated = final(client, **question("record json"))
    assert plain(accumulated) == recorded.model_dump()
    assert accumulated.output_text == "Let me look."

    events = typed_events(client, **question("record json"))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[0]["response"]["id"] == recorded.id
    assert (
        events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    )
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"] == recorded.model_dump()
    arguments = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(e["item_id"], e["output_index"], e["arguments"]) for e in arguments] == [
        (item.id, index, item.arguments)
        for index, item in enumerate(recorded.output)
        if item.type == "function_call"
    ]
    text = [e for e in events if e["type"] == "response.output_text.delta"]
    assert [(e["delta"], e["content_index"], e["output_index"]) for e in text] == [
        ("Let me look.", 0, 0)
    ]
    assert len(upstream.received) == 1


def test_cut_off_answer_is_recorded_but_a_dropped_stream_is_not(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Cut by max tokens", incomplete=True))
    live = typed_events(client, **question("incomplete", max_output_tokens=16))
    assert live[-1]["type"] == "response.incomplete"
    assert len(proxy.tapes()) == 1
    replayed = client.responses.create(**question("incomplete", max_output_tokens=16))
    assert replayed.status == "incomplete"
    assert replayed.incomplete_details is not None
    assert replayed.incomplete_details.reason == "max_output_tokens"
    assert replayed.output_text == "Cut by max tokens"

    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="never whole", drop_after=4), Reply(end_without_done=True))
    with pytest.raises(openai.APIError, match="broke off mid-stream"):
        typed_events(client, **question("dropped"))
    with pytest.raises(openai.APIError, match="ended before the answer was complete"):
        typed_events(client, **question("no completed event"))
    assert len(proxy.tapes()) == 1


def test_replay_only_miss_is_an_error_the_sdk_raises_at_once(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    client = proxy.client()
    with pytest.raises(openai.NotFoundError, match="No tape for this POST /v1/responses") as raised:
        client.responses.create(**question("not recorded"))
    assert raised.value.code == "tape_not_found"
    assert upstream.received == []


def test_tool_calls_show_in_the_flow_and_the_log_line(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    person = proxy.person()
    upstream.queue(Reply(tool_calls=[WEATHER], piece=3), Reply(tool_calls=[WEATHER, TIME]))
    streamed = final(client, **question("weather, streamed"))
    answered = client.responses.create(**question("weather, json"))
    flows = person.http.get("/api/flows").json()
    assert [f["path"] for f in flows] == ["/v1/responses", "/v1/responses"]
    details = [person.http.get(f"/api/flows/{f['id']}").json() for f in reversed(flows)]
    for detail, response in zip(details, (streamed, answered), strict=True):
        assert detail["model"] == MODEL and detail["state"] == "COMPLETE"
        assert detail["tool_calls"] == [
            {"id": item.call_id, "name": item.name, "arguments": json.loads(item.arguments)}
            for item in response.output
            if item.type == "function_call"
        ]
        assert detail["usage"]["input_tokens"] == response.usage.input_tokens
        assert detail["usage"]["output_tokens"] == response.usage.output_tokens
    proxy.close()
    lines = [
        json.loads(line)
        for path in sorted(proxy.config.logs_dir.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert [(line["model"], line["tool_calls"]) for line in lines] == [
        (MODEL, ["get_weather"]),
        (MODEL, ["get_weather", "get_time"]),
    ]
    assert [line["usage"] for line in lines] == [
        {"input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens}
        for r in (streamed, answered)
    ]


# --- holding and mocks ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_held_tool_call_allowed_is_exactly_the_real_answer(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    agent: ThreadPoolExecutor,
    stream: bool,
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(content="Checking. ", tool_calls=[WEATHER], text_before_tools=True))

    def ask() -> Any:
        if stream:
            return typed_events(client, **question("allow me"))
        return client.responses.create(**question("allow me")).model_dump()

    call = agent.submit(ask)
    held = person.held()
    assert held["tool_calls"] == [
        {"id": "call_0_get_weather", "name": "get_weather", "arguments": json.loads(WEATHER[1])}
    ]
    assert person.decide(held["id"], action="allow").status_code == 200
    delivered = call.result(10)
    person.http.patch("/api/settings", json={"pause": "off"}).raise_for_status()
    assert delivered == ask()  # the tape, which is what the upstream sent
    assert len(upstream.received) == 1


def test_mock_continues_a_stream_whose_text_was_already_sent(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(
        Reply(content="Let me check. ", tool_calls=[WEATHER], text_before_tools=True),
        Reply(content="Let me check. ", tool_calls=[WEATHER], text_before_tools=True),
    )

    call = agent.submit(final, client, **question("preamble"))
    held = person.held()
    person.decide(held["id"], action="mock", mock={"content": "It is sunny."})
    continued = call.result(10)
    assert continued.output_text == "Let me check. It is sunny."
    assert continued.id.startswith("resp_fake")  # one stream: the response it started with

    call = agent.submit(typed_events, client, **question("preamble, typed"))
    held = person.held()
    mock = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]}
    person.decide(held["id"], action="mock", mock=mock)
    events = call.result(10)
    numbers = [e["sequence_number"] for e in events]
    assert numbers == sorted(set(numbers))
    assert [e["type"] for e in events].count("response.created") == 1
    told = events[-1]["response"]
    assert told["id"] == events[0]["response"]["id"]
    assert [item["type"] for item in told["output"]] == ["message", "function_call"]
    assert json.loads(told["output"][1]["arguments"]) == {"city": "Lyon"}
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [0, 1]


def test_edit_changes_the_real_answer(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = proxy.client()
    upstream.queue(Reply(tool_calls=[WEATHER]), Reply(tool_calls=[WEATHER]))

    call = agent.submit(lambda: client.responses.create(**question("edit json")))
    held = person.held()
    real = person.http.get(f"/api/flows/{held['id']}").json()["response"]
    edited = [{"name": "get_weather", "arguments": {"city": "Berlin"}}]
    response = person.decide(held["id"], action="edit", tool_calls=edited)
    assert response.status_code == 200, response.text
    answer = call.result(10)
    assert answer.id == real["id"]
    assert function_calls(answer) == [("get_weather", {"city": "Berlin"})]
    assert answer.usage is not None and answer.usage.total_tokens == real["usage"]["total_tokens"]

    call = agent.submit(final, client, **question("edit stream"))
    held = person.held()
    whole = person.http.get(f"/api/flows/{held['id']}").json()["response"]
    whole["output"][0]["arguments"] = '{"city": "Rome"}'
    assert person.decide(held["id"], action="edit", response=whole).status_code == 200
    assert function_calls(call.result(10)) == [("get_weather", {"city": "Rome"})]


# --- an agent built with openai-agents --------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agents_sdk_run_is_recorded_then_replayed_without_the_upstream(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, streamed: bool
) -> None:
    from agents import (
        Agent,
        Runner,
        function_tool,
        set_default_openai_client,
        set_tracing_disabled,
    )

    looked_up: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return f"Sunny in {city}, 22 C"

    agent = Agent(
        name="Weather",
        instructions="Answer with the weather.",
        model=MODEL,
        tools=[get_weather],
    )

    def run(proxy: Running) -> Any:
        async def go() -> Any:
            client = proxy.async_client(max_retries=0)
            set_default_openai_client(client)
            try:
                if streamed:
                    result = Runner.run_streamed(agent, "Weather in Paris?")
                    async for _ in result.stream_events():
                        pass
                    return result.final_output
                return (await Runner.run(agent, "Weather in Paris?")).final_output
            finally:
                await client.close()

        return asyncio.run(go())

    set_tracing_disabled(True)  # traces would be sent to api.openai.com
    upstream.queue(
        Reply(tool_calls=[("get_weather", '{"city": "Paris"}')], piece=3),
        Reply(content="It is sunny in Paris, 22 C.", piece=5),
    )
    recording = start_proxy(record=RecordMode.AUTO)
    assert run(recording) == "It is sunny in Paris, 22 C."
    assert len(upstream.received) == 2
    # The second request sent the tool's result back to the model.
    sent_back = json.loads(upstream.received[1].body)["input"]
    assert sent_back[-1] == {
        "call_id": "call_0_get_weather",
        "output": "Sunny in Paris, 22 C",
        "type": "function_call_output",
    }
    assert len(recording.tapes()) == 2
    recording.close()
    upstream.close()

    replaying = start_proxy(record=RecordMode.REPLAY_ONLY)
    assert run(replaying) == "It is sunny in Paris, 22 C."
    assert looked_up == ["Paris", "Paris"]  # the tool ran again, the model did not
    assert len(upstream.received) == 2


# --- the wire format on literal inputs --------------------------------------------------------


def test_assembled_stream_is_the_json_answer() -> None:
    for reply in (
        Reply(content="Hello there, friend.", reasoning="Think first.", piece=3),
        Reply(tool_calls=[WEATHER, TIME], piece=2),
        Reply(content="cut", incomplete=True),
    ):
        answer, events = fake_stream(reply)
        assert responses.assemble(events) == answer
        Response.model_validate(answer)


def test_assemble_rebuilds_a_stream_without_its_final_response() -> None:
    answer, events = fake_stream(
        Reply(content="Partly.", reasoning="Hmm.", tool_calls=[WEATHER], text_before_tools=True)
    )
    rebuilt = responses.assemble(events[:-1])
    assert rebuilt["id"] == answer["id"] and rebuilt["status"] == "in_progress"
    assert rebuilt["output"] == answer["output"]
    # Without the items' done events too: from the deltas alone.
    deltas_only = [e for e in events[:-1] if "response.output_item.done" not in e]
    assert responses.assemble(deltas_only)["output"] == [
        {**item, "status": "in_progress"} if "status" in item else item for item in answer["output"]
    ]


def test_to_events_are_typed_events_that_assemble_back() -> None:
    answer, _ = fake_stream(
        Reply(content="Hi!", reasoning="Short.", tool_calls=[WEATHER], text_before_tools=True)
    )
    answer["output"][1]["content"].append({"type": "refusal", "refusal": "Not that."})
    answer["output"][1]["content"][0]["annotations"] = [
        {"type": "url_citation", "url": "https://a.example", "title": "A", "start_index": 0,
         "end_index": 2}
    ]  # fmt: skip
    events = responses.to_events(answer, {"stream": True})
    parsed = list(parse_events(events))
    typed = [typed_event.validate_python(json.loads(e.data)) for e in parsed]
    assert all(e.event == t.type for e, t in zip(parsed, typed, strict=True))
    assert [t.sequence_number for t in typed] == list(range(len(typed)))
    assert typed[0].type == "response.created" and typed[-1].type == "response.completed"
    assert responses.assemble(events) == answer
    assert responses.assemble(events[:-1])["output"] == answer["output"]
    incomplete = {**answer, "status": "incomplete"}
    assert responses.to_events(incomplete, {})[-1].startswith("event: response.incomplete\n")


def test_completeness_needs_the_final_event() -> None:
    _, events = fake_stream(Reply(content="x"))
    assert responses.is_complete(events)
    assert responses.is_complete(events[-1:])  # the proxy asks per network chunk
    assert responses.is_complete(["".join(events[-3:])])
    assert not responses.is_complete(events[:-1])
    assert not responses.is_complete([])
    _, cut = fake_stream(Reply(content="x", incomplete=True))
    assert responses.is_complete(cut)
    failed = events[-1].replace("response.completed", "response.failed")
    assert not responses.is_complete([*events[:-1], failed])
    error = responses.error_event("boom", "server_error", "server_error")
    assert not responses.is_complete([*events[:-1], error])
    # A text that merely mentions the event's name is not it.
    text = 'event: response.output_text.delta\ndata: {"delta":"response.completed"}\n\n'
    assert not responses.is_complete([text])


def test_event_kinds_decide_what_a_hold_lets_through() -> None:
    _, events = fake_stream(
        Reply(content="ab", reasoning="r", tool_calls=[WEATHER], text_before_tools=True, piece=1)
    )
    kinds: dict[tuple[str | None, str | None], set[EventKind]] = {}
    for text in events:
        (event,) = parse_events([text])
        item = json.loads(event.data).get("item") or {}
        kinds.setdefault((event.event, item.get("type")), set()).add(responses.event_kind(text))
    opening, tool, text_kind = {EventKind.OPENING}, {EventKind.TOOL_CALL}, {EventKind.TEXT}
    assert kinds[("response.created", None)] == opening
    assert kinds[("response.in_progress", None)] == opening
    assert kinds[("response.output_item.added", "message")] == opening
    assert kinds[("response.content_part.added", None)] == opening
    assert kinds[("response.output_item.added", "function_call")] == tool
    assert kinds[("response.function_call_arguments.delta", None)] == tool
    assert kinds[("response.function_call_arguments.done", None)] == tool
    assert kinds[("response.output_item.added", "reasoning")] == text_kind
    assert kinds[("response.output_text.delta", None)] == text_kind
    assert kinds[("response.output_item.done", "function_call")] == text_kind
    assert kinds[("response.completed", None)] == text_kind
    # Without `event:` lines the type comes from the data.
    for text in events:
        (event,) = parse_events([text])
        assert responses.event_kind(f"data: {event.data}\n\n") is responses.event_kind(text)
    assert responses.event_kind(": keepalive\n\n") is EventKind.OPENING


def test_streamed_text_and_summaries() -> None:
    answer, events = fake_stream(
        Reply(content="Some text.", tool_calls=[WEATHER, TIME], text_before_tools=True, piece=3)
    )
    assert responses.streamed_text(events) == "Some text."
    assert responses.streamed_text(["".join(events)]) == "Some text."
    summary = responses.summarize(answer)
    assert summary.model == MODEL
    assert summary.usage is not None
    assert summary.usage.input_tokens == answer["usage"]["input_tokens"]
    assert summary.usage.output_tokens == answer["usage"]["output_tokens"]
    assert [(c.id, c.name, c.parsed_arguments()) for c in summary.tool_calls] == [
        ("call_0_get_weather", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("call_1_get_time", "get_time", {"timezone": "Europe/Paris"}),
    ]
    assert responses.summarize_events(events) == summary


def test_mock_answer_is_a_complete_response() -> None:
    answer = responses.mock_answer(
        "gpt-4.1", "Hello", [ToolCall("", "get_weather", '{"city": "Oslo"}')]
    )
    response = Response.model_validate(answer)
    assert response.output_text == "Hello" and response.model == "gpt-4.1"
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.error is None and response.incomplete_details is None
    call = response.output[1]
    assert call.type == "function_call"
    assert call.call_id.startswith("call_") and call.id is not None and call.id.startswith("fc_")
    assert response.usage is not None and response.usage.total_tokens == 0
    assert responses.mock_answer("m", None, [])["output"] == []


def test_edit_answer_replaces_text_and_tool_calls_only() -> None:
    answer, _ = fake_stream(
        Reply(content="old", reasoning="kept", tool_calls=[WEATHER, TIME], text_before_tools=True)
    )
    edited = responses.edit_answer(answer, "new", [ToolCall("call_a", "get_time", "{}")])
    assert [item["type"] for item in edited["output"]] == ["reasoning", "message", "function_call"]
    assert edited["output"][0] == answer["output"][0]
    assert edited["output"][1]["id"] == answer["output"][1]["id"]
    assert Response.model_validate(edited).output_text == "new"
    assert edited["output"][2]["call_id"] == "call_a"
    assert (edited["id"], edited["usage"]) == (answer["id"], answer["usage"])
    assert answer["output"][1]["content"][0]["text"] == "old"  # a copy was edited

    only_calls, _ = fake_stream(Reply(tool_calls=[WEATHER]))
    texted = responses.edit_answer(only_calls, "added", None)
    assert [item["type"] for item in texted["output"]] == ["message", "function_call"]
    cleared = responses.edit_answer(only_calls, None, [])
    assert cleared["output"] == []


@pytest.mark.parametrize(
    ("answer", "path"),
    [
        ([], None),
        ({"output": {}}, "output"),
        ({"output": [1]}, "output[0]"),
        ({"output": [{"type": "answer"}]}, "output[0].type"),
        ({"output": [{"type": "message", "content": "text"}]}, "output[0].content"),
        (
            {"output": [{"type": "message", "content": [{"type": "text", "text": "x"}]}]},
            "output[0].content[0].type",
        ),
        ({"output": [{"type": "function_call", "arguments": "{}"}]}, "output[0].name"),
        (
            {"output": [{"type": "function_call", "name": "f", "arguments": {}}]},
            "output[0].arguments",
        ),
        ({"output": [], "status": "done"}, "status"),
        ({"output": [], "usage": 3}, "usage"),
    ],
)
def test_check_answer_names_the_field_at_fault(answer: Any, path: str | None) -> None:
    with pytest.raises(ValueError) as raised:
        responses.check_answer(answer, MODEL)
    if path is not None:
        assert f"`{path}`" in str(raised.value)


def test_check_answer_fills_what_a_person_may_leave_out() -> None:
    search = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "weather Paris"},
    }
    checked = responses.check_answer(
        {
            "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "hi"}]},
                {"type": "function_call", "name": "f", "arguments": "{}"},
                search,
            ],
            "usage": None,
        },
        MODEL,
    )
    response = Response.model_validate(checked)
    assert response.output_text == "hi" and response.model == MODEL
    assert response.id.startswith("resp_") and response.status == "completed"
    message, call, searched = checked["output"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    assert call["call_id"].startswith("call_") and call["id"].startswith("fc_")
    assert searched == search
    assert checked["usage"] is None


def test_continue_events_carry_on_the_stream_the_client_has() -> None:
    _, events = fake_stream(Reply(content="Before. ", tool_calls=[WEATHER], text_before_tools=True))
    first_call = next(n for n, e in enumerate(events) if '"type":"function_call"' in e)
    sent = events[:first_call]
    mock = responses.mock_answer(MODEL, "After.", [])
    rest = responses.continue_events(mock, {}, sent)
    whole = [*sent, *rest]
    typed = [typed_event.validate_python(json.loads(e.data)) for e in parse_events(whole)]
    assert [t.sequence_number for t in typed] == list(range(len(typed)))
    assert [t.type for t in typed].count("response.created") == 1
    created, final_response = typed[0], typed[-1]
    assert isinstance(created, ResponseCreatedEvent)
    assert isinstance(final_response, ResponseCompletedEvent)
    assert final_response.type == "response.completed"
    assert final_response.response.id == created.response.id
    assert final_response.response.output_text == "Before. After."
    assert responses.assemble(whole) == json.loads(list(parse_events(rest))[-1].data)["response"]

    # An item the client saw begun is closed as it stands before the mock's items.
    open_message = [e for e in sent if "output_item.done" not in e and "content_part.done" not in e]
    closing = responses.continue_events(mock, {}, open_message)
    told = json.loads(list(parse_events(closing))[-1].data)["response"]
    assert [item["type"] for item in told["output"]] == ["message", "message"]
    assert told["output"][0]["content"][0]["text"] == "Before. "


def test_error_event_is_raised_by_the_sdk_with_its_message() -> None:
    # The openai SDK raises APIError for a streamed event whose data holds an "error" object;
    # test_cut_off_answer_is_recorded_but_a_dropped_stream_is_not shows it end to end.
    event = responses.error_event("cut off", "upstream_error", "upstream_disconnected")
    (parsed,) = parse_events([event])
    assert parsed.event == "error"
    data = json.loads(parsed.data)
    assert data["error"] == {
        "message": "cut off",
        "type": "upstream_error",
        "code": "upstream_disconnected",
        "param": None,
    }
    typed = typed_event.validate_python(data)
    assert typed.type == "error" and typed.message == "cut off"
    assert responses.error_json("m", "t", "c") == {
        "error": {"message": "m", "type": "t", "code": "c", "param": None}
    }


def test_key_includes_the_endpoint() -> None:
    body = {"model": MODEL, "input": "Hello!"}
    assert responses.key(body, "/v1/responses") != responses.key(body, "/v1/chat/completions")
    assert responses.key({**body, "stream": True}, "/v1/responses") == responses.key(
        body, "/v1/responses"
    )


# --- real traffic ------------------------------------------------------------------------------
# From vercel/ai (Apache-2.0) at ed857f50, packages/openai/src/responses/__fixtures__/:
# openai-web-search-tool.1.chunks.txt (one search and the message that cites it; texts, the
# search's sources and the response's settings trimmed) and openai-error.1.chunks.txt.


def typed(*data: dict[str, Any]) -> list[str]:
    """Events as OpenAI sends them: named after their type, numbered in order."""
    return [
        f"event: {d['type']}\ndata: "
        + json.dumps({"type": d["type"], "sequence_number": n, **d}, separators=(",", ":"))
        + "\n\n"
        for n, d in enumerate(data)
    ]


RESPONSE = {
    "id": "resp_0cc96ac817fdc57e00693337060a408198b92bf1f99cf1b8ec",
    "object": "response",
    "created_at": 1764964102,
    "status": "in_progress",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-5-mini-2025-08-07",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [{"type": "web_search", "search_context_size": "medium"}],
    "usage": None,
}
WEB_SEARCH = {
    "id": "ws_0cc96ac817fdc57e006933370e71cc81989ece73cbdfe67d25",
    "type": "web_search_call",
    "status": "completed",
    "action": {
        "type": "search",
        "query": "tech news today December 5 2025",
        "sources": [{"type": "url", "url": "https://www.wired.com/story/the-big-interview-2025"}],
    },
}
CITATION = {
    "type": "url_citation",
    "end_index": 23,
    "start_index": 0,
    "title": "Petco confirms security lapse exposed customers\u2019 personal data | TechCrunch",
    "url": "https://techcrunch.com/2025/12/05/petco-confirms-security-lapse/?utm_source=openai",
}
MESSAGE_ID = "msg_0cc96ac817fdc57e006933374a84348198a4e1ac9bc0c4607b"
TEXT = "Petco confirms a lapse."
PART = {"type": "output_text", "annotations": [CITATION], "logprobs": [], "text": TEXT}
MESSAGE = {
    "id": MESSAGE_ID,
    "type": "message",
    "status": "completed",
    "content": [PART],
    "role": "assistant",
}
USAGE = {
    "input_tokens": 34138,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 1709,
    "output_tokens_details": {"reasoning_tokens": 832},
    "total_tokens": 35847,
}
COMPLETED = {**RESPONSE, "status": "completed", "output": [WEB_SEARCH, MESSAGE], "usage": USAGE}
AT_TEXT = {"item_id": MESSAGE_ID, "output_index": 1, "content_index": 0}
SEARCH: list[dict[str, Any]] = [
    {"type": "response.created", "response": RESPONSE},
    {"type": "response.in_progress", "response": RESPONSE},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": WEB_SEARCH["id"], "type": "web_search_call", "status": "in_progress"},
    },
    {
        "type": "response.web_search_call.in_progress",
        "output_index": 0,
        "item_id": WEB_SEARCH["id"],
    },
    {"type": "response.web_search_call.searching", "output_index": 0, "item_id": WEB_SEARCH["id"]},
    {"type": "response.web_search_call.completed", "output_index": 0, "item_id": WEB_SEARCH["id"]},
    {"type": "response.output_item.done", "output_index": 0, "item": WEB_SEARCH},
    {
        "type": "response.output_item.added",
        "output_index": 1,
        "item": {**MESSAGE, "status": "in_progress", "content": []},
    },
    {
        "type": "response.content_part.added",
        **AT_TEXT,
        "part": {**PART, "annotations": [], "text": ""},
    },
    {"type": "response.output_text.delta", **AT_TEXT, "delta": "Petco confirms", "logprobs": []},
    {"type": "response.output_text.delta", **AT_TEXT, "delta": " a lapse.", "logprobs": []},
    {
        "type": "response.output_text.annotation.added",
        **AT_TEXT,
        "annotation_index": 0,
        "annotation": CITATION,
    },
    {"type": "response.output_text.done", **AT_TEXT, "text": TEXT, "logprobs": []},
    {"type": "response.content_part.done", **AT_TEXT, "part": PART},
    {"type": "response.output_item.done", "output_index": 1, "item": MESSAGE},
]
SEARCH_STREAM = typed(*SEARCH, {"type": "response.completed", "response": COMPLETED})


def test_a_real_search_stream_assembles_to_its_final_response() -> None:
    assert responses.assemble(SEARCH_STREAM) == COMPLETED
    # A gateway that leaves the output out of the last event: rebuilt from the items.
    bare = typed(*SEARCH, {"type": "response.completed", "response": {**COMPLETED, "output": []}})
    assert responses.assemble(bare) == COMPLETED
    # Cut before the message was done: its text and citation from the deltas.
    cut = typed(*SEARCH[:-2])
    (_, message) = responses.assemble(cut)["output"]
    assert message["status"] == "in_progress"
    assert message["content"] == [PART]
    assert responses.streamed_text(SEARCH_STREAM) == TEXT
    assert responses.summarize_events(SEARCH_STREAM).usage is not None


def test_failure_is_an_error_event_or_a_failed_response() -> None:
    quota = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors."
    )
    failed_response = {
        **RESPONSE,
        "status": "failed",
        "error": {"code": "insufficient_quota", "message": quota},
    }
    error = {
        "type": "error",
        "error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": quota},
    }
    events = typed(
        {"type": "response.created", "response": RESPONSE},
        {"type": "response.in_progress", "response": RESPONSE},
        error,
        {"type": "response.failed", "response": failed_response},
    )
    assert responses.failure(events) == quota
    assert responses.failure(events[2:3]) == quota  # the error event alone
    assert responses.failure(events[3:]) == quota  # the failed response alone
    assert not responses.is_complete(events)
    # The documented ResponseErrorEvent: its message at the top.
    documented = typed({"type": "error", "code": "server_error", "message": "Boom", "param": None})
    assert responses.failure(documented) == "Boom"
    assert responses.failure([f"data: {documented[0].split('data: ')[1]}"]) == "Boom"
    assert responses.failure([responses.error_event("cut", "upstream_error", "x")]) == "cut"
    # Responses that say `"error": null`, an item's own error, text about errors: no failure.
    mcp = {"type": "mcp_call", "id": "mcp_1", "error": "tool failed", "output": None}
    calm = typed(
        {"type": "response.created", "response": RESPONSE},
        {"type": "response.output_item.done", "output_index": 0, "item": mcp},
        {"type": "response.output_text.delta", **AT_TEXT, "delta": 'an "error"'},
        {"type": "response.completed", "response": COMPLETED},
    )
    assert responses.failure(calm) is None
    assert responses.failure(SEARCH_STREAM) is None


def test_completion_is_the_final_event_wherever_it_is_in_a_read() -> None:
    last = SEARCH_STREAM[-1]
    assert responses.is_complete([SEARCH_STREAM[-2], last, "data: [DONE]\n\n", ": ping\n\n"])
    assert responses.is_complete([last.removesuffix("\n")])  # the body's tail
    incomplete = {**COMPLETED, "status": "incomplete", "incomplete_details": {"reason": "max"}}
    assert responses.is_complete(typed({"type": "response.incomplete", "response": incomplete}))
    assert not responses.is_complete(SEARCH_STREAM[:-1])


def test_usage_counts_cached_and_cache_write_tokens_within_the_input() -> None:
    answer, _ = fake_stream(Reply(content="Hi."))
    answer["usage"] = {
        "input_tokens": 5000,
        "input_tokens_details": {"cached_tokens": 4096, "cache_write_tokens": 512},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5040,
    }
    expected = Usage(5000, 40, cached_input_tokens=4096, cache_write_tokens=512)
    assert responses.summarize(answer).usage == expected
    # Streamed, the usage comes in response.completed.
    events = responses.to_events(answer, {"stream": True})
    assert '"cached_tokens":4096' in events[-1]
    assert responses.summarize_events(events).usage == expected
    answer["usage"] = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert responses.summarize(answer).usage == Usage(7, 3)
