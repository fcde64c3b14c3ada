"""The FlowLog: the live window, the log lines of finished flows and the terminal line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from playingpack.flow_log import FlowLog
from playingpack.flows import State


def test_the_live_window_is_bounded() -> None:
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
    with caplog.at_level("WARNING", logger="playingpack.request_log"):
        flow.fail("boom")
    assert flow.state is State.ERROR
    assert "could not write the request log" in caplog.text
