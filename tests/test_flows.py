"""Flows: their lifecycle, the terminal line and the JSON log line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from playingpack.flows import Flow, FlowLog, State
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


def test_history_is_bounded() -> None:
    log = FlowLog(None, window=3)
    flows = [log.open("GET", f"/v1/{i}") for i in range(5)]
    assert list(log) == flows[2:]


def test_log_lines_are_written_together_once_the_loop_runs_and_on_close(tmp_path: Path) -> None:
    async def run() -> list[str]:
        log = FlowLog(tmp_path)
        for i in range(3):
            flow = log.open("GET", f"/v1/{i}")
            flow.connect()
            flow.fail("boom")
        assert list(tmp_path.glob("*.jsonl")) == []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        while not list(tmp_path.glob("*.jsonl")) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        flow = log.open("GET", "/v1/last")
        flow.connect()
        flow.fail("boom")
        log.close()
        (logfile,) = tmp_path.glob("*.jsonl")
        return [json.loads(line)["path"] for line in logfile.read_text().splitlines()]

    assert asyncio.run(run()) == ["/v1/0", "/v1/1", "/v1/2", "/v1/last"]


def test_echo_receives_each_finished_line() -> None:
    lines: list[str] = []
    log = FlowLog(None, echo=lines.append)
    flow = log.open("GET", "/v1/models")
    flow.connect()
    assert lines == []
    flow.fail("upstream answered 404", 404)
    assert len(lines) == 1 and "404" in lines[0] and "/v1/models" in lines[0]


def test_unwritable_logs_folder_is_a_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = FlowLog(blocker / "logs")
    flow = log.open("GET", "/v1/models")
    flow.connect()
    with caplog.at_level("WARNING", logger="playingpack.flows"):
        flow.fail("boom")
    assert flow.state is State.ERROR
    assert "could not write the request log" in caplog.text


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
