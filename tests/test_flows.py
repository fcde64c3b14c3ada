"""Flows: their lifecycle, the terminal line and the JSON log line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from playingpack.flows import FlowLog, Source, State
from playingpack.providers import Summary, ToolCall, Usage
from playingpack.request_log import format_line


def test_replay_lifecycle_and_log_line(tmp_path: Path) -> None:
    log = FlowLog(tmp_path)
    seen: list[State] = []
    log.subscribe(lambda flow, _text: seen.append(flow.state))
    flow = log.open("POST", "/v1/chat/completions")
    flow.model, flow.key, flow.status, flow.source = "gpt-4o", "ab" * 32, 200, Source.TAPE
    log.transition(flow, State.REPLAY)
    flow.summary = Summary("gpt-4o", Usage(10, 5), (ToolCall("c1", "get_weather", "{}"),))
    log.transition(flow, State.COMPLETE)
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


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([State.REPLAY], State.STREAMING),
        ([State.CONNECT], State.COMPLETE),
        ([State.CONNECT, State.STREAMING, State.COMPLETE], State.ERROR),
        ([], State.FLUSH),
    ],
)
def test_illegal_transitions_raise(path: list[State], illegal: State) -> None:
    log = FlowLog(None)
    flow = log.open("POST", "/v1/chat/completions")
    for state in path:
        log.transition(flow, state)
    with pytest.raises(RuntimeError, match=f"to {illegal}"):
        log.transition(flow, illegal)


def test_any_live_state_can_fail(tmp_path: Path) -> None:
    log = FlowLog(tmp_path)
    flow = log.open("GET", "/v1/models")
    log.transition(flow, State.CONNECT)
    log.fail(flow, "upstream answered 500", 500)
    log.close()
    assert flow.state is State.ERROR and flow.status == 500
    assert "error: upstream answered 500" in format_line(flow)


def test_history_is_bounded() -> None:
    log = FlowLog(None, history=3)
    flows = [log.open("GET", f"/v1/{i}") for i in range(5)]
    assert list(log) == flows[2:]


def test_log_lines_are_written_together_once_the_loop_runs_and_on_close(tmp_path: Path) -> None:
    async def run() -> list[str]:
        log = FlowLog(tmp_path)
        for i in range(3):
            flow = log.open("GET", f"/v1/{i}")
            log.transition(flow, State.CONNECT)
            log.fail(flow, "boom")
        assert list(tmp_path.glob("*.jsonl")) == []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        while not list(tmp_path.glob("*.jsonl")) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        flow = log.open("GET", "/v1/last")
        log.transition(flow, State.CONNECT)
        log.fail(flow, "boom")
        log.close()
        (logfile,) = tmp_path.glob("*.jsonl")
        return [json.loads(line)["path"] for line in logfile.read_text().splitlines()]

    assert asyncio.run(run()) == ["/v1/0", "/v1/1", "/v1/2", "/v1/last"]


def test_echo_receives_each_finished_line() -> None:
    lines: list[str] = []
    log = FlowLog(None, echo=lines.append)
    flow = log.open("GET", "/v1/models")
    log.transition(flow, State.CONNECT)
    assert lines == []
    log.fail(flow, "upstream answered 404", 404)
    assert len(lines) == 1 and "404" in lines[0] and "/v1/models" in lines[0]


def test_unwritable_logs_folder_is_a_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = FlowLog(blocker / "logs")
    flow = log.open("GET", "/v1/models")
    log.transition(flow, State.CONNECT)
    with caplog.at_level("WARNING", logger="playingpack.flows"):
        log.fail(flow, "boom")
    assert flow.state is State.ERROR
    assert "could not write the request log" in caplog.text
