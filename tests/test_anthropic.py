"""Anthropic Messages: the wire format on literal inputs, then the real anthropic SDK ->
playingpack -> a fake Anthropic API, recorded, replayed, held and mocked."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import anthropic
import httpx
import httpx2  # the anthropic SDK's own httpx
import pytest
from anthropic.lib.streaming._beta_messages import accumulate_event as accumulate_beta_event
from anthropic.types import ContentBlock, Message, RawMessageStreamEvent, TextBlock, ToolUseBlock
from pydantic import TypeAdapter

from playingpack.config import PauseMode, RecordMode
from playingpack.providers import EventKind, ToolCall, Usage
from playingpack.providers.anthropic import AnthropicMessages
from playingpack.sse import parse_events
from tests.conftest import ANTHROPIC_KEY, Running
from tests.fakes.anthropic_upstream import MODEL, Answer, FakeAnthropic, Reply
from tests.fakes.openai_upstream import FakeUpstream

KEY = ANTHROPIC_KEY
WEATHER = ("get_weather", '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}')
TIME = ("get_time", '{"timezone": "Europe/Paris"}')
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]

claude = AnthropicMessages()
events_adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)


def ask(text: str = "Hello, Claude", **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a messages request with one user message."""
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def answer_of(reply: Reply, **request: Any) -> Answer:
    return Answer(ask(**request), reply)


def text_of(block: ContentBlock) -> str:
    assert isinstance(block, TextBlock)
    return block.text


def use_of(block: ContentBlock) -> ToolUseBlock:
    assert isinstance(block, ToolUseBlock)
    return block


# --- the wire format on literal inputs ------------------------------------------------------


def test_assemble_gives_the_message_the_json_answer_is() -> None:
    answer = answer_of(
        Reply(thinking="Paris, so metric.", text="Let me look. ", tool_uses=[WEATHER, TIME])
    )
    assembled = claude.assemble(answer.events())
    assert assembled == answer.message()
    tool_use = assembled["content"][2]
    assert tool_use["input"] == json.loads(WEATHER[1])  # joined from pieces, then parsed
    assert assembled["usage"]["output_tokens"] == answer.output_tokens  # from message_delta
    assert assembled["usage"]["service_tier"] == "standard"  # from message_start
    Message.model_validate(assembled)


def test_to_events_is_a_stream_the_sdk_parses_and_assembles_back() -> None:
    message = answer_of(
        Reply(thinking="Hmm.", text="Sunny.", tool_uses=[WEATHER, ("ping", "")])
    ).message()
    events = claude.to_events(message, {})
    parsed = list(parse_events(events))
    assert [e.event for e in parsed] == [json.loads(e.data)["type"] for e in parsed]
    kinds = [e.event for e in parsed]
    assert kinds[:2] == ["message_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    for event in parsed[2:]:  # the SDK skips ping before parsing
        events_adapter.validate_python(json.loads(event.data))
    start = json.loads(parsed[0].data)["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == message["usage"]["input_tokens"]
    assert start["usage"]["output_tokens"] == 1
    delta = json.loads(parsed[-2].data)
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": message["usage"]["output_tokens"]}
    tool_start = next(
        json.loads(e.data)
        for e in parsed
        if '"tool_use"' in e.data and e.event == "content_block_start"
    )
    assert tool_start["content_block"] == {
        "type": "tool_use",
        "id": "toolu_fake0_get_weather",
        "name": "get_weather",
        "input": {},
    }
    assert claude.assemble(events) == message


def test_fields_the_format_may_add_survive_both_conversions() -> None:
    citation = {
        "type": "char_location",
        "cited_text": "Paris is in France.",
        "document_index": 0,
        "document_title": None,
        "start_char_index": 0,
        "end_char_index": 19,
    }
    events = [
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        '"type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],'
        '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,'
        '"cache_read_input_tokens":100,"output_tokens":1},"future_field":{"a":1}}}\n\n',
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}\n\n',
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"In France."}}\n\n',
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"citations_delta","citation":' + json.dumps(citation) + "}}\n\n",
        'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        'event: content_block_start\ndata: {"type":"content_block_start","index":1,'
        '"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}\n\n',
        'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        '"end_turn","stop_sequence":null},"usage":{"output_tokens":7,'
        '"cache_read_input_tokens":null},"context_management":{"applied_edits":[]}}\n\n',
        'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    message = claude.assemble(events)
    assert message["content"] == [
        {"type": "text", "text": "In France.", "citations": [citation]},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
    ]
    assert message["future_field"] == {"a": 1}
    assert message["context_management"] == {"applied_edits": []}
    # A null in message_delta keeps what message_start said.
    assert message["usage"] == {
        "input_tokens": 9,
        "cache_read_input_tokens": 100,
        "output_tokens": 7,
    }
    assert claude.assemble(claude.to_events(message, {})) == message
    Message.model_validate(message)


def test_tool_input_streamed_empty_or_broken() -> None:
    def tool_stream(*pieces: str) -> list[str]:
        answer = answer_of(Reply(text=None, tool_uses=[("noop", "")]))
        events = [e for e in answer.events() if "input_json_delta" not in e]
        at = next(i for i, e in enumerate(events) if "content_block_stop" in e)
        deltas = [
            "event: content_block_delta\ndata: "
            + json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
            )
            + "\n\n"
            for piece in pieces
        ]
        return events[:at] + deltas + events[at:]

    assert claude.assemble(tool_stream())["content"][0]["input"] == {}
    assert claude.assemble(tool_stream(""))["content"][0]["input"] == {}
    assert claude.assemble(tool_stream('{"a": ', "[1]}"))["content"][0]["input"] == {"a": [1]}
    # Invalid JSON from the model stays as it came, so the person sees it.
    assert claude.assemble(tool_stream('{"a": '))["content"][0]["input"] == '{"a": '


def test_completeness_needs_message_stop() -> None:
    events = answer_of(Reply(text="x")).events()
    assert claude.is_complete(events)
    assert claude.is_complete(events[-1:])
    assert not claude.is_complete(events[:-1])
    assert not claude.is_complete([])
    assert not claude.is_complete([claude.error_event("cut", "overloaded_error", "x")])


def sse_events(*data: dict[str, Any]) -> list[str]:
    """Events as Anthropic sends them: named after their type, compact JSON."""
    return [
        f"event: {d['type']}\ndata: {json.dumps(d, separators=(',', ':'), ensure_ascii=False)}\n\n"
        for d in data
    ]


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def sdk_accumulates(events: list[str]) -> dict[str, Any]:
    """The message the anthropic SDK's (beta) stream accumulation makes of the events."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in parse_events(events):
        data = json.loads(event.data)
        if data["type"] != "ping":
            snapshot = accumulate_beta_event(
                event=data,
                current_snapshot=snapshot,
                json_bufs=buffers,
                request_headers=httpx2.Headers(),
            )
    assert snapshot is not None
    message: dict[str, Any] = snapshot.model_dump(exclude_none=True, mode="json")
    return message


# From pydantic/pydantic-ai (MIT) at 4fda3898, tests/models/cassettes/test_anthropic/
# test_anthropic_compaction_usage_with_cache_streaming.yaml (summary and usage trimmed).
SUMMARY = (
    'The user provided a very long context consisting entirely of the repeated sentence "The '
    'quick brown fox jumps over the lazy dog."\n\nNext step: Say hello to the user.'
)
COMPACTION_STREAM = sse_events(
    {
        "type": "message_start",
        "message": {
            "model": "claude-sonnet-4-6",
            "id": "msg_011CduoCRono7pFKoTWpPAia",
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": {"input_tokens": 100, "cache_read_input_tokens": 55096, "output_tokens": 7},
        },
    },
    block_start(0, {"type": "compaction", "content": None}),
    {"type": "ping"},
    block_delta(0, {"type": "compaction_delta", "content": SUMMARY}),
    {"type": "content_block_stop", "index": 0},
    block_start(1, {"type": "text", "text": ""}),
    block_delta(1, {"type": "text_delta", "text": "Hello!"}),
    block_delta(1, {"type": "text_delta", "text": " "}),
    block_delta(1, {"type": "text_delta", "text": "👋"}),
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None, "stop_details": None},
        "usage": {
            "input_tokens": 181,
            "cache_read_input_tokens": 0,
            "output_tokens": 8,
            "iterations": [
                {"input_tokens": 100, "output_tokens": 83, "type": "compaction"},
                {"input_tokens": 181, "output_tokens": 8, "type": "message"},
            ],
        },
        "context_management": {"applied_edits": []},
    },
    {"type": "message_stop"},
)


def test_a_compaction_block_gets_its_summary_as_the_sdk_accumulates_it() -> None:
    # Was: compaction_delta ignored, the block assembled with `content: null`.
    message = claude.assemble(COMPACTION_STREAM)
    assert message["content"] == [
        {"type": "compaction", "content": SUMMARY},
        {"type": "text", "text": "Hello! 👋"},
    ]
    assert message["usage"]["iterations"][0]["type"] == "compaction"
    sdk = sdk_accumulates(COMPACTION_STREAM)
    assert sdk["content"] == message["content"]
    assert {k: v for k, v in message.items() if v is not None} == sdk
    # Back as a stream: the summary in one compaction_delta after a null, as Anthropic sends it.
    events = claude.to_events(message, {})
    blocks = [json.loads(e.data) for e in parse_events(events) if e.event and "block" in e.event]
    assert blocks[0]["content_block"] == {"type": "compaction", "content": None}
    assert blocks[1]["delta"] == {"type": "compaction_delta", "content": SUMMARY}
    assert sdk_accumulates(events)["content"] == message["content"]
    assert claude.assemble(events) == message


def test_every_kind_of_delta_is_applied_to_its_block_by_one_rule() -> None:
    events = sse_events(
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "content": []}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        block_delta(0, {"type": "thinking_delta", "thinking": "Paris"}),
        block_delta(0, {"type": "thinking_delta", "thinking": "."}),
        block_delta(0, {"type": "signature_delta", "signature": "EqQB"}),
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "compaction", "content": None, "encrypted_content": None},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "compaction_delta", "content": "Sum", "encrypted_content": "opaque"},
        },
        # A delta that does not exist yet: its fields merge into its block all the same.
        block_start(2, {"type": "verdict", "notes": ""}),
        block_delta(2, {"type": "verdict_delta", "notes": "Go", "score": 1}),
        block_delta(2, {"type": "verdict_delta", "notes": "od", "score": 2}),
        {"type": "message_stop"},
    )
    assert claude.assemble(events)["content"] == [
        {"type": "thinking", "thinking": "Paris.", "signature": "EqQB"},
        {"type": "compaction", "content": "Sum", "encrypted_content": "opaque"},
        {"type": "verdict", "notes": "Good", "score": 2},
    ]
    assert (
        claude.assemble(claude.to_events(claude.assemble(events), {}))["content"]
        == (claude.assemble(events)["content"])
    )


def test_after_a_fallback_the_answer_names_the_model_that_served_it() -> None:
    # vercel/ai (Apache-2.0) at ed857f50, packages/anthropic/src/__fixtures__/
    # anthropic-fallback.chunks.txt; its anthropic-fallback.json names the second model.
    events = sse_events(
        {
            "type": "message_start",
            "message": {
                "id": "msg_01FallbackStreamAbcdefghij",
                "type": "message",
                "role": "assistant",
                "model": "claude-fable-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 408, "output_tokens": 1},
            },
        },
        block_start(
            0,
            {
                "type": "fallback",
                "from": {"model": "claude-fable-5"},
                "to": {"model": "claude-opus-4-8"},
            },
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    )
    assert claude.assemble(events)["model"] == "claude-opus-4-8"
    assert sdk_accumulates(events)["model"] == "claude-opus-4-8"


def test_failure_is_an_error_event_anywhere_in_the_batch() -> None:
    # Anthropic's mid-stream error, as its docs show it.
    overloaded = (
        'event: error\ndata: {"type": "error", "error": {"details": null, "type": '
        '"overloaded_error", "message": "Overloaded"}}\n\n'
    )
    assert claude.failure([*COMPACTION_STREAM[:3], overloaded, ": trailing\n\n"]) == "Overloaded"
    assert claude.failure([overloaded.removeprefix("event: error\n")]) == "Overloaded"
    assert claude.failure([claude.error_event("cut", "api_error", "x")]) == "cut"
    talk = sse_events(
        block_delta(0, {"type": "text_delta", "text": "an error"}),
        block_delta(0, {"type": "text_delta", "text": '"error"'}),
        block_start(
            1,
            {
                "type": "web_search_tool_result",
                "content": {"type": "web_search_tool_result_error", "error_code": "max_uses"},
            },
        ),
    )
    assert claude.failure(talk) is None
    assert claude.failure(COMPACTION_STREAM) is None


def test_completion_is_message_stop_wherever_it_is_in_a_read() -> None:
    stop = COMPACTION_STREAM[-1]
    assert claude.is_complete([COMPACTION_STREAM[-2], stop, ": keepalive\n\n", "\n\n"])
    assert claude.is_complete([stop, 'event: ping\ndata: {"type": "ping"}\n\n'])
    assert claude.is_complete([stop.removesuffix("\n")])  # the body's tail
    assert claude.is_complete(['data: {"type":"message_stop"}\n\n'])  # no event line
    assert claude.is_complete(["".join(COMPACTION_STREAM)])  # one replayed write
    assert not claude.is_complete(COMPACTION_STREAM[:-1])
    mention = sse_events(block_delta(0, {"type": "text_delta", "text": "message_stop"}))
    assert not claude.is_complete(mention)


def test_event_kinds_hold_at_the_first_tool_use_only() -> None:
    events = answer_of(Reply(thinking="Hm.", text="Checking.", tool_uses=[WEATHER])).events()
    kinds = {(e.split("\n")[0], claude.event_kind(e)) for e in events}
    assert (
        ("event: message_start", EventKind.OPENING) in kinds
        and ("event: ping", EventKind.OPENING) in kinds
        and ("event: message_stop", EventKind.TEXT) in kinds
    )

    def start(block: dict[str, Any]) -> str:
        data = {"type": "content_block_start", "index": 0, "content_block": block}
        return f"event: content_block_start\ndata: {json.dumps(data)}\n\n"

    assert claude.event_kind(start({"type": "text", "text": ""})) is EventKind.OPENING
    assert claude.event_kind(start({"type": "thinking", "thinking": ""})) is EventKind.TEXT
    tool = {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}
    assert claude.event_kind(start(tool)) is EventKind.TOOL_CALL
    # A server tool runs at Anthropic: its input does not hold the answer.
    server = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    assert claude.event_kind(start(server)) is EventKind.TEXT
    delta = (
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"input_json_delta","partial_json":"{}"}}\n\n'
    )
    assert claude.event_kind(delta) is EventKind.TEXT
    assert claude.event_kind(": heartbeat\n\n") is EventKind.OPENING


def test_summary_counts_cached_input_and_lists_tool_uses() -> None:
    answer = answer_of(Reply(text="On it.", tool_uses=[WEATHER, TIME]))
    message = answer.message()
    message["usage"]["cache_creation_input_tokens"] = 30
    summary = claude.summarize(message)
    assert summary.model == MODEL
    assert summary.usage is not None
    assert summary.usage.input_tokens == answer.input_tokens + 30 + 12
    assert summary.usage.output_tokens == answer.output_tokens
    assert [(c.id, c.name, c.parsed_arguments()) for c in summary.tool_calls] == [
        ("toolu_fake0_get_weather", "get_weather", json.loads(WEATHER[1])),
        ("toolu_fake1_get_time", "get_time", json.loads(TIME[1])),
    ]
    events = answer.events()
    assert claude.summarize_events(events) == claude.summarize(answer.message())
    assert claude.streamed_text(events) == "On it."


def test_error_body_and_event_have_anthropics_shape() -> None:
    body = claude.error_json("No tape", "tape_not_found", "tape_not_found")
    assert body == {"type": "error", "error": {"type": "tape_not_found", "message": "No tape"}}
    (event,) = parse_events([claude.error_event("No tape", "tape_not_found", "x")])
    assert event.event == "error" and json.loads(event.data) == body


def test_mock_answer_is_a_message_with_fresh_ids() -> None:
    calls = [("get_weather", '{"city": "Oslo"}')]
    mock = claude.mock_answer(MODEL, "Checking.", [ToolCall("", *calls[0])])
    parsed = Message.model_validate(mock)
    assert parsed.id.startswith("msg_") and parsed.model == MODEL
    assert parsed.stop_reason == "tool_use"
    assert [b.type for b in parsed.content] == ["text", "tool_use"]
    tool_use = mock["content"][1]
    assert tool_use["id"].startswith("toolu_") and tool_use["input"] == {"city": "Oslo"}
    text = claude.mock_answer(MODEL, "Hi.", [])
    assert text["stop_reason"] == "end_turn" and text["content"] == [
        {"type": "text", "text": "Hi."}
    ]
    assert claude.mock_answer(MODEL, "a", [])["id"] != text["id"]


def test_edit_answer_replaces_text_and_tool_uses() -> None:
    real = answer_of(Reply(thinking="Hm.", text="Old text.", tool_uses=[WEATHER])).message()
    edited = claude.edit_answer(real, "New text.", None)
    assert [b.get("text") for b in edited["content"]] == [None, "New text.", None]
    assert edited["id"] == real["id"] and real["content"][1]["text"] == "Old text."
    no_tools = claude.edit_answer(real, None, [])
    assert [b["type"] for b in no_tools["content"]] == ["thinking", "text"]
    assert no_tools["stop_reason"] == "end_turn"
    other = claude.edit_answer(real, None, [ToolCall("", "get_time", '{"timezone": "UTC"}')])
    assert other["content"][-1]["name"] == "get_time"
    assert other["content"][-1]["input"] == {"timezone": "UTC"}
    assert other["stop_reason"] == "tool_use"
    Message.model_validate(other)


def test_check_answer_completes_or_names_the_fault() -> None:
    given = {
        "content": [
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "name": "get_weather", "input": {"city": "Rome"}},
        ]
    }
    checked = claude.check_answer(given, MODEL)
    parsed = Message.model_validate(checked)
    assert parsed.model == MODEL and parsed.id.startswith("msg_")
    assert parsed.stop_reason == "tool_use"
    assert checked["content"][1]["id"].startswith("toolu_")

    faults = {
        "not a message": "must be a message JSON object",
        json.dumps({"content": "Hi"}): "`content` array",
        json.dumps({"content": [{"type": "text"}]}): "`content[0].text` must be a string",
        json.dumps(
            {"content": [{"type": "text", "text": ""}, {"type": "tool_use", "name": "x"}]}
        ): "`content[1].input` must be an object",
        json.dumps({"content": [{"type": "image"}]}): "`content[0].type` must be one of",
        json.dumps({"content": [], "usage": {"output_tokens": "2"}}): "`usage.output_tokens`",
        json.dumps({"content": [], "role": "user"}): "`role`",
    }
    for given_text, fault in faults.items():
        value = given_text if given_text == "not a message" else json.loads(given_text)
        with pytest.raises(ValueError, match=fault.replace("[", r"\[").replace("]", r"\]")):
            claude.check_answer(value, MODEL)


def test_continue_events_close_the_open_block_and_go_on_at_the_next_index() -> None:
    live = answer_of(Reply(text="Let me check. ", tool_uses=[WEATHER], piece=5)).events()
    # What a held stream had sent: the opening and part of the text block (still open).
    sent = [e for e in live if "tool_use" not in e][:5]
    assert "content_block_stop" not in "".join(sent)
    mock = claude.mock_answer(MODEL, None, [ToolCall("", "get_time", "{}")])
    rest = claude.continue_events(mock, {}, sent)
    kinds = [(e.event, json.loads(e.data).get("index")) for e in parse_events(rest)]
    assert kinds == [
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    whole = claude.assemble(sent + rest)
    assert whole["id"] == live_id(live)  # the id the client already has
    assert [b["type"] for b in whole["content"]] == ["text", "tool_use"]
    assert whole["stop_reason"] == "tool_use"
    # Nothing sent yet: the whole answer.
    assert claude.continue_events(mock, {}, []) == claude.to_events(mock, {})


def test_continue_events_send_no_block_twice() -> None:
    real = answer_of(Reply(text="Let me check. ", tool_uses=[WEATHER], piece=5)).events()
    before_tool = [e for e in real if "tool_use" not in e and "input_json" not in e]
    sent = before_tool[: before_tool.index(next(e for e in before_tool if "block_stop" in e)) + 1]
    # An edit of the real answer keeps the text block the client already has.
    edited = claude.edit_answer(
        claude.assemble(real), None, [ToolCall("", "get_weather", '{"city": "Rome"}')]
    )
    whole = claude.assemble(sent + claude.continue_events(edited, {}, sent))
    assert [b.get("text") or b["input"] for b in whole["content"]] == [
        "Let me check. ",
        {"city": "Rome"},
    ]
    # A text block cut short goes on where it stopped when the answer's text goes on from it.
    partial = sent[:4]  # message_start, content_block_start, ping, "Let m"
    rest = claude.continue_events(claude.assemble(real), {}, partial)
    assert claude.streamed_text(rest) == "e check. "
    assert claude.assemble(partial + rest)["content"] == claude.assemble(real)["content"]


def live_id(events: list[str]) -> str:
    return str(json.loads(next(iter(parse_events(events))).data)["message"]["id"])


# --- end to end: the anthropic SDK through playingpack ------------------------------------


@pytest.fixture
def start(
    start_proxy: Callable[..., Running], fake_claude: FakeAnthropic
) -> Callable[..., Running]:
    """Start playingpack with the fake Anthropic API as its upstream."""
    return lambda **overrides: start_proxy(upstream=fake_claude.url, **overrides)


@pytest.fixture
def connect() -> Iterator[Callable[..., anthropic.Anthropic]]:
    """Anthropic SDK clients for a running playingpack (base_url without /v1), closed after."""
    clients: list[anthropic.Anthropic] = []

    def make(proxy: Running | str, **options: Any) -> anthropic.Anthropic:
        url = proxy if isinstance(proxy, str) else proxy.url
        client = anthropic.Anthropic(base_url=url, api_key=KEY, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def final_of_stream(client: anthropic.Anthropic, **request: Any) -> tuple[str, Message]:
    """The text the SDK streamed and the message it assembled."""
    with client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        return text, stream.get_final_message()


def test_streamed_tape_replays_to_a_json_client_as_the_upstream_json(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start()
    client = connect(proxy)
    reply = Reply(
        thinking="Paris: metric units.",
        text="Let me look that up. ",
        tool_uses=[WEATHER, TIME],
        piece=3,
        message_id="msg_01FakeSameForBoth",
    )
    fake_claude.queue(reply, reply)
    request = ask("Weather and time in Paris?", tools=TOOLS)
    text, live = final_of_stream(client, **request)
    assert text == "Let me look that up. "
    direct = connect(fake_claude.url).messages.create(**request)  # the fake's own JSON

    replayed = client.messages.create(**request)
    assert len(fake_claude.received) == 2  # the replay did not reach the upstream
    assert replayed.model_dump() == direct.model_dump() == live.model_dump()
    weather = replayed.content[2]
    assert weather.type == "tool_use" and weather.input == json.loads(WEATHER[1])
    assert replayed.usage.cache_read_input_tokens == 12

    (path,) = proxy.tapes()
    tape = json.loads(path.read_text())
    assert tape["meta"]["endpoint"] == "/v1/messages"
    events = [chunk["c"] for chunk in tape["response"]["chunks"] if not chunk["c"].startswith(":")]
    assert events[0].startswith("event: message_start\n")


def test_json_tape_replays_to_a_streaming_client(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start()
    client = connect(proxy)
    fake_claude.queue(Reply(text="Bonjour, je regarde. ", tool_uses=[WEATHER]))
    request = ask("Météo ?", tools=TOOLS)
    recorded = client.messages.create(**request)
    text, final = final_of_stream(client, **request)
    assert len(fake_claude.received) == 1
    assert text == "Bonjour, je regarde. "
    assert final.model_dump() == recorded.model_dump()
    assert final.content[1].type == "tool_use"
    assert final.content[1].input == json.loads(WEATHER[1])
    assert final.usage.output_tokens == recorded.usage.output_tokens > 0
    raw = [event.type for event in client.messages.create(stream=True, **request)]
    assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"]


def test_streamed_replay_is_the_live_stream_event_for_event(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start()
    client = connect(proxy)
    fake_claude.queue(Reply(thinking="Short.", text="Some words, split small.", piece=2))
    request = ask("stream twice")
    live = [e.model_dump() for e in client.messages.create(stream=True, **request)]
    replay = [e.model_dump() for e in client.messages.create(stream=True, **request)]
    assert replay == live
    assert len(fake_claude.received) == 1
    assert live[-2]["usage"]["output_tokens"] > 0


def test_tool_use_shows_on_the_flow_the_log_and_the_terminal_line(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = start()
    person = proxy.person()
    fake_claude.queue(Reply(text=None, tool_uses=[WEATHER], piece=5))
    with caplog.at_level(logging.INFO, logger="playingpack.flow_log"):
        final_of_stream(connect(proxy), **ask("tools", tools=TOOLS))
        flow = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")
    detail = person.http.get(f"/api/flows/{flow['flow']['id']}").json()
    assert detail["tool_calls"] == [
        {
            "id": "toolu_fake0_get_weather",
            "name": "get_weather",
            "arguments": json.loads(WEATHER[1]),
        }
    ]
    assert detail["model"] == MODEL and detail["source"] == "upstream"
    answer = Answer(ask("tools", tools=TOOLS), Reply(text=None, tool_uses=[WEATHER]))
    usage = {"input_tokens": answer.input_tokens + 12, "output_tokens": answer.output_tokens}
    assert {k: detail["usage"][k] for k in usage} == usage
    # The 12 read from the cache are priced as cached input (Claude Haiku 4.5: $1, $0.10 and
    # $5 per million input, cached and output tokens).
    assert (detail["usage"]["cached_input_tokens"], detail["usage"]["cache_write_tokens"]) == (
        12,
        0,
    )
    assert detail["cost"] == pytest.approx(
        (answer.input_tokens * 1.0 + 12 * 0.1 + answer.output_tokens * 5.0) / 1e6
    )
    assert detail["response"]["content"][0]["input"] == json.loads(WEATHER[1])
    (line,) = [r.getMessage() for r in caplog.records if "/v1/messages" in r.getMessage()]
    assert MODEL in line and "tools: get_weather" in line
    assert f"{usage['input_tokens']}+{usage['output_tokens']} tok" in line
    proxy.close()
    (record,) = [
        json.loads(text)
        for path in proxy.config.logs_dir.glob("*.jsonl")
        for text in path.read_text().splitlines()
    ]
    assert record["model"] == MODEL and record["path"] == "/v1/messages"
    assert record["usage"] == usage
    assert record["tool_calls"] == ["get_weather"]


def test_replay_only_miss_raises_not_found_at_once(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start(record=RecordMode.REPLAY_ONLY)
    client = connect(proxy, max_retries=2)
    began = time.monotonic()
    with pytest.raises(anthropic.NotFoundError) as raised:
        client.messages.create(**ask("never recorded"))
    assert time.monotonic() - began < 2  # no retries with their backoff
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "tape_not_found"
    assert "replay-only" in body["error"]["message"] and "/v1/messages" in body["error"]["message"]
    assert raised.value.api_message == body["error"]["message"]
    assert fake_claude.received == []
    flows = httpx.get(f"{proxy.url}/api/flows").json()
    assert len(flows) == 1  # the SDK did not retry


def test_credentials_are_forwarded_and_never_written(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start()
    person = proxy.person()
    # This SDK sends its api_key as a Bearer token; x-api-key is Anthropic's own header.
    client = connect(proxy, default_headers={"x-api-key": KEY})
    client.messages.create(**ask("secret"))
    final_of_stream(client, **ask("secret, streamed"))
    version = client.default_headers["anthropic-version"]
    assert isinstance(version, str) and version
    for seen in fake_claude.received:
        assert seen.headers["x-api-key"] == KEY
        assert seen.headers["authorization"] == f"Bearer {KEY}"
        assert seen.headers["anthropic-version"] == version
        assert seen.path == "/v1/messages"
    flows = person.http.get("/api/flows").json()
    for flow in flows:
        detail = person.http.get(f"/api/flows/{flow['id']}").text
        assert KEY not in detail and "anthropic-version" in detail
    proxy.close()
    written = [*proxy.tapes_dir.rglob("*"), *proxy.config.logs_dir.rglob("*")]
    files = [path for path in written if path.is_file()]
    assert len([p for p in files if p.suffix == ".json" and p.name != "usage.json"]) == 2
    for path in files:
        text = path.read_text()
        assert KEY not in text and KEY[-12:] not in text
        assert "x-api-key" not in text.lower()


def test_upstream_errors_reach_the_sdk_as_anthropic_errors_and_are_not_recorded(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start()
    client = connect(proxy, max_retries=0)
    fake_claude.queue(
        Reply(status=429, error_type="rate_limit_error", error_message="Slow down, fake."),
        Reply(text="Half an answer, then trouble.", error_after=4, error_type="overloaded_error"),
        Reply(text="Cut off in the middle of it.", drop_after=4),
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(**ask("limited"))
    assert limited.value.type == "rate_limit_error"
    assert limited.value.api_message == "Slow down, fake."
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        final_of_stream(client, **ask("overloaded"))
    assert overloaded.value.type == "overloaded_error"
    # The client got the upstream's own error event and nothing after it; the flow says so.
    errors = [f["error"] for f in httpx.get(f"{proxy.url}/api/flows?state=ERROR").json()]
    assert errors[0].startswith("the upstream reported an error mid-stream")
    # The upstream dropped the connection: playingpack ends the stream with an error event.
    with pytest.raises(anthropic.APIStatusError) as dropped:
        final_of_stream(client, **ask("dropped"))
    assert str(dropped.value.type) == "upstream_error"  # playingpack's own type
    assert "incomplete" in str(dropped.value.api_message)
    assert proxy.tapes() == []
    # No anthropic-version header: the upstream's own 400 comes back as it was.
    response = httpx.post(
        f"{proxy.url}/v1/messages", json=ask("no version"), headers={"x-api-key": KEY}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- holding ------------------------------------------------------------------------------


def run_call(
    agent: ThreadPoolExecutor, client: anthropic.Anthropic, stream: bool, question: str
) -> Future[Message]:
    request = ask(question, tools=TOOLS)
    if stream:
        return agent.submit(lambda: final_of_stream(client, **request)[1])
    return agent.submit(lambda: client.messages.create(**request))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_held_tool_use_allowed_delivers_the_real_answer(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
    agent: ThreadPoolExecutor,
    stream: bool,
) -> None:
    proxy = start(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = connect(proxy)
    fake_claude.queue(Reply(text=None, tool_uses=[WEATHER], piece=3))
    call = run_call(agent, client, stream, "allow me")
    held = person.held()
    assert held["tool_calls"] == [
        {
            "id": "toolu_fake0_get_weather",
            "name": "get_weather",
            "arguments": json.loads(WEATHER[1]),
        }
    ]
    assert person.decide(held["id"], action="allow").status_code == 200
    allowed = call.result(10)
    assert person.states(held["id"])[-3:] == ["INTERCEPT", "FLUSH", "COMPLETE"]
    person.http.patch("/api/settings", json={"pause": "off"}).raise_for_status()
    replayed = client.messages.create(**ask("allow me", tools=TOOLS))
    assert allowed.model_dump() == replayed.model_dump()
    assert allowed.content[0].type == "tool_use"
    assert allowed.content[0].input == json.loads(WEATHER[1])
    assert len(fake_claude.received) == 1


@pytest.mark.parametrize(
    ("decision", "tool_use"),
    [
        ({"action": "mock", "mock": {"tool_calls": [{"name": "get_time"}]}}, ("get_time", {})),
        (
            {
                "action": "edit",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}],
            },
            ("get_weather", {"city": "Rome"}),
        ),
    ],
    ids=["mock", "edit"],
)
def test_text_before_a_tool_use_passes_and_the_decision_continues_the_same_stream(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
    agent: ThreadPoolExecutor,
    decision: dict[str, Any],
    tool_use: tuple[str, dict[str, Any]],
) -> None:
    """The text already delivered is neither repeated nor lost, whatever comes after it."""
    proxy = start(pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    client = connect(proxy)
    fake_claude.queue(Reply(text="Let me check. ", tool_uses=[WEATHER], message_id="msg_01Real"))
    seen: list[str] = []

    def run() -> Message:
        with client.messages.stream(**ask("preamble", tools=TOOLS)) as stream:
            for text in stream.text_stream:
                seen.append(text)
            return stream.get_final_message()

    call = agent.submit(run)
    held = person.held()
    # The text before the tool call reached the client while the call is held.
    deadline = time.monotonic() + 5
    while "".join(seen) != "Let me check. " and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "".join(seen) == "Let me check. "
    assert person.decide(held["id"], **decision).status_code == 200
    final = call.result(10)
    assert final.id == "msg_01Real"  # one stream, the message it started with
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert text_of(final.content[0]) == "Let me check. "
    assert (use_of(final.content[1]).name, use_of(final.content[1]).input) == tool_use
    assert final.stop_reason == "tool_use"


def test_held_json_tape_is_edited_before_delivery(
    start: Callable[..., Running],
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
    agent: ThreadPoolExecutor,
) -> None:
    proxy = start()
    person = proxy.person()
    client = connect(proxy)
    fake_claude.queue(Reply(text="Checking.", tool_uses=[WEATHER]))
    recorded = client.messages.create(**ask("edit me", tools=TOOLS))
    person.http.patch("/api/settings", json={"pause": "tool-calls"}).raise_for_status()
    call = run_call(agent, client, True, "edit me")
    held = person.held()
    assert held["source"] == "tape"
    edited = [{"name": "get_weather", "arguments": {"city": "Berlin"}}]
    assert person.decide(held["id"], action="edit", tool_calls=edited).status_code == 200
    answer = call.result(10)
    assert answer.id == recorded.id  # the real answer, changed
    assert text_of(answer.content[0]) == "Checking."
    assert use_of(answer.content[1]).input == {"city": "Berlin"}
    assert answer.usage.model_dump() == recorded.usage.model_dump()


def test_one_playingpack_serves_openai_and_anthropic_clients_each_to_its_upstream(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    fake_claude: FakeAnthropic,
    connect: Callable[..., anthropic.Anthropic],
) -> None:
    proxy = start_proxy(upstream=upstream.url, anthropic_upstream=fake_claude.url)
    claude = connect(proxy).messages.create(**ask("Which one are you?"))
    gpt = proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Which one are you?"}]
    )
    assert claude.type == "message" and gpt.object == "chat.completion"
    assert [r.path for r in fake_claude.received] == ["/v1/messages"]
    assert [r.path for r in upstream.received] == ["/v1/chat/completions"]
    # Other Anthropic requests follow the anthropic-version header too.
    models = httpx.get(
        f"{proxy.url}/v1/models", headers={"anthropic-version": "2023-06-01", "x-api-key": KEY}
    )
    # The fake Anthropic API has no models route: its plain 404 came back.
    assert (models.status_code, models.text) == (404, "404: Not Found")
    assert [r.path for r in upstream.received] == ["/v1/chat/completions"]
    health = httpx.get(f"{proxy.url}/health").json()
    assert health["anthropic_upstream"] == fake_claude.url


def test_anthropic_requests_go_to_anthropic_by_default_when_upstream_is_openai(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(upstream="https://api.openai.com")
    assert httpx.get(f"{proxy.url}/health").json()["anthropic_upstream"] == (
        "https://api.anthropic.com"
    )


def test_usage_input_is_every_prompt_token_with_the_cached_and_written_ones() -> None:
    # Anthropic's input_tokens leaves out what was read from or written to the cache; the
    # Usage counts them in, as every other provider's input does, and says how many.
    message = answer_of(Reply(text="Cached.")).message()
    message["usage"] = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 3000,
        "output_tokens": 50,
    }
    expected = Usage(3210, 50, cached_input_tokens=3000, cache_write_tokens=200)
    assert claude.summarize(message).usage == expected
    # Streamed: the input counts come in message_start, the output count in message_delta.
    events = claude.to_events(message, {"stream": True})
    start, delta = (
        next(e for e in parse_events(events) if e.event == kind)
        for kind in ("message_start", "message_delta")
    )
    assert json.loads(start.data)["message"]["usage"]["cache_read_input_tokens"] == 3000
    assert json.loads(delta.data)["usage"]["output_tokens"] == 50
    assert claude.summarize_events(events).usage == expected
    message["usage"] = {"input_tokens": 7, "output_tokens": 3}
    assert claude.summarize(message).usage == Usage(7, 3)
