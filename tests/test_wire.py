"""How a Flow becomes the JSON of the API and the WebSocket: answers, chunks, headers."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import msgspec
import pytest

from playingpack.config import PauseMode, RecordMode, ReplayTiming
from playingpack.flows import Flow, Source, State
from playingpack.providers import Summary, ToolCall, Usage
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.settings import Settings
from playingpack.tapes import Chunk
from playingpack.wire import (
    FlowDetailJSON,
    FlowJSON,
    PhasesJSON,
    flow_detail_json,
    flow_json,
    phases_of,
    settings_json,
)
from tests.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[1]

chat = OpenAIChat()
BASE = {"id": "chatcmpl-w1", "object": "chat.completion.chunk", "created": 1700000000}


def event(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    chunk = {**BASE, "model": "gpt-4o", "choices": [choice]}
    return f"data: {json.dumps(chunk)}\n\n"


STREAM = [
    event({"role": "assistant", "content": ""}),
    event({"content": "Hel"}),
    event({"content": "lo!"}),
    event({}, "stop"),
    "data: [DONE]\n\n",
]
ANSWER = {
    "id": "chatcmpl-j1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Whole."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
}


def flow(**fields: Any) -> Flow:
    return Flow("run-000001", "POST", "/v1/chat/completions", provider=chat, **fields)


# --- Flow.json_answer --------------------------------------------------------------------------


def test_streamed_chunks_are_assembled_into_the_json_answer() -> None:
    chunks = [Chunk(text, 3) for text in STREAM]
    answer = flow(chunks=chunks, answer_streamed=True, state=State.COMPLETE).json_answer()
    assert answer is not None
    assert answer["object"] == "chat.completion"
    assert answer["id"] == "chatcmpl-w1" and answer["model"] == "gpt-4o"
    (choice,) = answer["choices"]
    assert choice["message"]["content"] == "Hello!"
    assert choice["finish_reason"] == "stop"


def test_json_chunks_are_the_answer_itself() -> None:
    text = json.dumps(ANSWER)
    # Split anywhere: the chunks of a JSON answer are pieces of one body.
    chunks = [Chunk(text[:10], 40), Chunk(text[10:], 2)]
    assert flow(chunks=chunks, answer_streamed=False).json_answer() == ANSWER


def test_streamed_flag_decides_how_chunks_are_read() -> None:
    # The same JSON text read as a stream has no SSE events in it: an answer with no choices,
    # not the JSON; the flag, not a guess from the text, decides.
    chunks = [Chunk(json.dumps(ANSWER), 1)]
    as_stream = flow(chunks=chunks, answer_streamed=True).json_answer()
    assert as_stream is not None and as_stream["choices"] == []


def test_a_known_answer_wins_over_the_chunks() -> None:
    given = {**ANSWER, "id": "chatcmpl-given"}
    chunks = [Chunk(text, 0) for text in STREAM]
    assert flow(chunks=chunks, answer_streamed=True, answer=given).json_answer() is given


def test_a_live_stream_shows_what_has_arrived_so_far_and_a_finished_one_is_kept() -> None:
    chunks = [Chunk(STREAM[0], 5), Chunk(STREAM[1], 5)]
    live = flow(chunks=chunks, answer_streamed=True, state=State.STREAMING)
    first = live.json_answer()
    assert first is not None and first["choices"][0]["message"]["content"] == "Hel"
    assert live.answer is None
    chunks.extend(Chunk(text, 5) for text in STREAM[2:])
    live.state = State.COMPLETE
    whole = live.json_answer()
    assert whole is not None and whole["choices"][0]["message"]["content"] == "Hello!"
    assert live.answer is whole


@pytest.mark.parametrize(
    "fields",
    [
        {"chunks": [Chunk("{not json", 1)], "answer_streamed": False},
        {"chunks": (), "answer_streamed": True},
    ],
    ids=["bad-json", "no-chunks"],
)
def test_no_answer_when_the_chunks_hold_none(fields: dict[str, Any]) -> None:
    assert flow(**fields).json_answer() is None


def test_a_stream_cut_inside_an_event_shows_what_came_before_it() -> None:
    cut = [Chunk('data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n', 1)]
    cut.append(Chunk('data: {"choices":[{"ind', 1))
    answer = flow(chunks=cut, answer_streamed=True).json_answer()
    assert answer is not None and answer["choices"][0]["message"]["content"] == "Hel"


def test_no_answer_without_a_provider() -> None:
    passthrough = Flow("run-000002", "GET", "/v1/models", chunks=[Chunk('{"data": []}', 1)])
    assert passthrough.json_answer() is None


# --- flow_detail_json ---------------------------------------------------------------------


def test_chunk_timing_t_is_cumulative() -> None:
    delays = [120, 0, 35, 7, 0]
    chunks = [Chunk(text, d) for text, d in zip(STREAM, delays, strict=True)]
    detail = flow_detail_json(flow(chunks=chunks, answer_streamed=True, state=State.COMPLETE))
    assert [(c.c, c.d) for c in detail.chunks] == [(c.c, c.d) for c in chunks]
    assert [c.t for c in detail.chunks] == [120, 120, 155, 162, 162]
    assert detail.answer_streamed is True


def test_secret_headers_are_masked_and_others_kept() -> None:
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "api-key": "azure-key-0123456789abcdef",
        "X-Api-Key": "sk-ant-api03-abcdefghijklmnop",
        "Proxy-Authorization": "Basic dXNlcjpwYXNzd29yZA==",
        "OpenAI-Organization": "org-visible",
        "Content-Type": "application/json",
    }
    detail = flow_detail_json(
        flow(request_headers=headers, response_headers={"x-request-id": "req_1"})
    )
    assert detail.request_headers == {
        "Authorization": f"Bearer ***{API_KEY[-4:]}",
        "api-key": "***cdef",
        "X-Api-Key": "***mnop",
        "Proxy-Authorization": "Basic ***ZA==",
        "OpenAI-Organization": "org-visible",
        "Content-Type": "application/json",
    }
    assert detail.response_headers == {"x-request-id": "req_1"}
    assert API_KEY not in msgspec.json.encode(detail).decode()


def test_short_secrets_are_masked_whole() -> None:
    detail = flow_detail_json(flow(request_headers={"Authorization": "Bearer short"}))
    assert detail.request_headers == {"Authorization": "Bearer ***"}


def test_cookie_header_is_masked_whole() -> None:
    cookie = "session=s3cr3t-session-value-1234; theme=dark"
    detail = flow_detail_json(flow(request_headers={"Cookie": cookie}))
    assert "s3cr3t" not in detail.request_headers["Cookie"]


def test_phases_split_the_duration_by_the_state_each_span_was_in() -> None:
    history = [
        (State.LOOKUP, 0.0),
        (State.CONNECT, 1.0),
        (State.STREAMING, 11.0),
        (State.HELD, 20.0),
        (State.FLUSH, 50.0),
        (State.COMPLETE, 60.0),
    ]
    finished = flow(history=history, state=State.COMPLETE, duration_ms=60.0)
    assert phases_of(finished) == PhasesJSON(
        waiting_ms=1.0, held_ms=30.0, first_byte_ms=10.0, streaming_ms=19.0
    )


def test_an_upstream_answer_waits_for_its_first_chunk_not_its_headers() -> None:
    history = [
        (State.LOOKUP, 0.0),
        (State.CONNECT, 1.0),
        (State.STREAMING, 3.0),
        (State.COMPLETE, 400.0),
    ]
    chunks = [Chunk("data: {}\n\n", 250), Chunk("data: [DONE]\n\n", 149)]
    finished = flow(
        history=history,
        state=State.COMPLETE,
        duration_ms=400.0,
        source=Source.UPSTREAM,
        chunks=chunks,
    )
    assert phases_of(finished) == PhasesJSON(1.0, 0.0, 250.0, 149.0)


def test_a_call_held_before_it_is_sent_waits_then_is_held_then_replays() -> None:
    history = [
        (State.LOOKUP, 0.0),
        (State.HELD, 2.0),
        (State.REPLAY, 502.0),
        (State.COMPLETE, 503.5),
    ]
    finished = flow(history=history, state=State.COMPLETE, duration_ms=503.5)
    assert phases_of(finished) == PhasesJSON(2.0, 500.0, 0.0, 1.5)


def test_a_flow_still_running_has_no_phases() -> None:
    assert phases_of(flow(history=[(State.LOOKUP, 0.0), (State.CONNECT, 1.0)])) is None


def test_no_headers_are_empty_objects() -> None:
    detail = flow_detail_json(flow())
    assert detail.request_headers == {} and detail.response_headers == {}
    assert detail.chunks == [] and detail.history == []


def test_history_is_state_and_milliseconds_rounded() -> None:
    history = [(State.LOOKUP, 0.0), (State.CONNECT, 0.123), (State.COMPLETE, 41.26)]
    detail = flow_detail_json(flow(history=history, state=State.COMPLETE))
    assert [(s.state, s.ms) for s in detail.history] == [
        ("LOOKUP", 0.0),
        ("CONNECT", 0.1),
        ("COMPLETE", 41.3),
    ]


# --- flow_json ----------------------------------------------------------------------------


def finished_flow() -> Flow:
    calls = (
        ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_2", "broken", '{"city": '),
        ToolCall("call_3", "no_args", ""),
    )
    return flow(
        state=State.COMPLETE,
        source=Source.UPSTREAM,
        model="gpt-4o",
        request={"model": "gpt-4o", "messages": []},
        key="ab" * 32,
        status=200,
        streamed=True,
        duration_ms=12.5,
        summary=Summary("gpt-4o", Usage(10, 5, cached_input_tokens=4, cache_write_tokens=2), calls),
        chunks=[Chunk(text, 1) for text in STREAM],
        answer_streamed=True,
        decision="allow",
    )


def test_flow_json_fields() -> None:
    listed = flow_json(finished_flow())
    assert isinstance(listed, FlowJSON) and not isinstance(listed, FlowDetailJSON)
    encoded = msgspec.json.decode(msgspec.json.encode(listed))
    assert encoded["state"] == "COMPLETE" and encoded["source"] == "upstream"
    assert encoded["tape"] == "ab" * 32
    assert encoded["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "cached_input_tokens": 4,
        "cache_write_tokens": 2,
    }
    assert encoded["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call_2", "name": "broken", "arguments": '{"city": '},
        {"id": "call_3", "name": "no_args", "arguments": {}},
    ]
    assert encoded["decision"] == "allow" and encoded["hold"] is None
    assert encoded["started_at"].endswith("Z")
    assert encoded["request"] == {"model": "gpt-4o", "messages": []}
    assert encoded["response"]["choices"][0]["message"]["content"] == "Hello!"
    assert "chunks" not in encoded and "request_headers" not in encoded


def test_flow_json_without_bodies() -> None:
    listed = flow_json(finished_flow(), bodies=False)
    assert listed.request is None and listed.response is None
    assert listed.tool_calls[0].name == "get_weather"


def test_flow_without_summary_has_no_usage_and_no_tool_calls() -> None:
    listed = flow_json(flow())
    assert listed.usage is None and listed.tool_calls == []
    assert listed.state == "LOOKUP" and listed.source is None


# --- settings -----------------------------------------------------------------------------


def test_settings_json_encodes_modes_as_users_type_them() -> None:
    settings = Settings(
        record=RecordMode.REPLAY_ONLY,
        pause=PauseMode.TOOL_CALLS,
        replay_timing=ReplayTiming.INSTANT,
        pause_requests=True,
        hold_timeout=2.5,
    )
    assert msgspec.json.decode(msgspec.json.encode(settings_json(settings))) == {
        "record": "replay-only",
        "pause": "tool-calls",
        "replay_timing": "instant",
        "pause_requests": True,
        "hold_timeout": 2.5,
        "sequence": False,
    }


def test_dashboard_types_are_generated_from_these_models() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "gen_web_types.py"))
    generated = script["render"]()
    assert "export interface FlowDetailJSON extends FlowJSON {" in generated
    assert 'export type Source = "mock" | "tape" | "upstream";' in generated
    assert "export type Decision = Allow | MockDecision | Edit | UseTape;" in generated
    assert (ROOT / "web" / "src" / "api" / "types.gen.ts").read_text("utf-8") == generated, (
        "web/src/api/types.gen.ts differs from the wire models: run "
        "`.venv/bin/python scripts/gen_web_types.py --write`"
    )
