"""Flows: their lifecycle, the terminal line and the JSON log line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, State
from playingpack.providers import Summary, ToolCall, Usage
from playingpack.request_log import format_line
from playingpack.tapes import Chunk, Tape


def test_replay_lifecycle_and_log_line(tmp_path: Path) -> None:
    log = FlowLog(tmp_path)
    seen: list[State] = []
    log.subscribe(lambda flow, _text: seen.append(flow.state))
    flow = log.open("POST", "/v1/chat/completions")
    flow.set_request({"model": "gpt-4o"}, streamed=False, size=17)
    flow.set_key("ab" * 32)
    tape = Tape("ab" * 32, "/v1/chat/completions", {}, 200, (Chunk("{}", 1),), streamed=False)
    flow.replay(tape, Summary("gpt-4o", None, ()))
    flow.complete(Summary("gpt-4o", Usage(10, 5), (ToolCall("c1", "get_weather", "{}"),)))
    assert seen == [State.LOOKUP, State.REPLAY, State.COMPLETE]
    assert [state for state, _ in flow.history] == seen
    assert flow.duration_ms is not None
    log.close()
    (logfile,) = tmp_path.glob("*.jsonl")
    record = json.loads(logfile.read_text())
    assert record["source"] == "tape" and record["state"] == "COMPLETE"
    assert record["usage"] == {"input_tokens": 10, "output_tokens": 5}
    assert record["tool_calls"] == ["get_weather"]
    line = format_line(flow)
    for part in ("200", "tape", "gpt-4o", "10+5 tok", "tools: get_weather", "tape abababab"):
        assert part in line


TAPE = Tape("ab" * 32, "/v1/chat/completions", {}, 200, (Chunk("{}", 1),), streamed=False)
NO_USAGE = Summary(None, None, ())


def _replay(flow: Flow) -> None:
    flow.replay(TAPE, NO_USAGE)


def _connect(flow: Flow) -> None:
    flow.connect()


def _stream(flow: Flow) -> None:
    flow.stream(200, {})


def _complete(flow: Flow) -> None:
    flow.complete(NO_USAGE)


def _fail(flow: Flow) -> None:
    flow.fail("boom")


def _flush(flow: Flow) -> None:
    flow.flush()


@pytest.mark.parametrize(
    ("path", "illegal", "state"),
    [
        ([_replay], _stream, State.STREAMING),
        ([_connect], _complete, State.COMPLETE),
        ([_connect, _stream, _complete], _fail, State.ERROR),
        ([], _flush, State.FLUSH),
    ],
)
def test_illegal_moves_raise(
    path: list[Callable[[Flow], None]], illegal: Callable[[Flow], None], state: State
) -> None:
    log = FlowLog(None)
    flow = log.open("POST", "/v1/chat/completions")
    for move in path:
        move(flow)
    with pytest.raises(RuntimeError, match=f"to {state}"):
        illegal(flow)


def test_any_live_state_can_fail(tmp_path: Path) -> None:
    log = FlowLog(tmp_path)
    flow = log.open("GET", "/v1/models")
    flow.connect()
    flow.fail("upstream answered 500", 500)
    log.close()
    assert flow.state is State.ERROR and flow.status == 500
    assert "error: upstream answered 500" in format_line(flow)


def test_a_finished_flow_counts_its_answer_against_the_budget_whoever_gave_it() -> None:
    log = FlowLog(None)
    replayed = log.open("POST", "/v1/chat/completions")
    replayed.set_request({}, streamed=False, size=10)
    replayed.replay(TAPE, NO_USAGE)
    replayed.complete()
    relayed = log.open("POST", "/v1/chat/completions")
    relayed.set_request({}, streamed=True, size=10)
    relayed.connect()
    relayed.stream(200, {})
    relayed.take_answer((Chunk("data: é\n\n", 0), Chunk("data: [DONE]\n\n", 0)), streamed=True)
    relayed.complete(NO_USAGE)
    assert replayed.size == 10 + TAPE.size == 12
    assert relayed.size == 10 + len("data: é\n\n") + len("data: [DONE]\n\n")
