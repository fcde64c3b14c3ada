"""The request log: a finished flow's terminal line and JSON line, one file per day."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from playingpack.flows import Flow, Source, State
from playingpack.providers import Summary, Usage
from playingpack.request_log import RequestLog, format_line, log_record

DAY_ONE = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY_TWO = DAY_ONE + 86_400


def finished(number: int, started: float) -> Flow:
    return Flow(
        f"run-{number:06d}",
        "POST",
        "/v1/chat/completions",
        state=State.COMPLETE,
        source=Source.UPSTREAM,
        started=started,
        status=200,
        request={"secret": "not in the log"},
        request_headers={"Authorization": "Bearer sk-not-in-the-log"},
    )


def lines(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_lines_go_to_the_file_of_the_day_each_flow_started(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "logs")
    for number, started in ((1, DAY_ONE), (2, DAY_ONE + 5), (3, DAY_TWO)):
        log.add(finished(number, started))
    log.close()
    assert lines(tmp_path / "logs" / "2026-01-01.jsonl") == ["run-000001", "run-000002"]
    assert lines(tmp_path / "logs" / "2026-01-02.jsonl") == ["run-000003"]


def test_lines_added_in_one_turn_of_the_loop_are_written_after_it(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01.jsonl"

    async def run() -> tuple[bool, list[str]]:
        log = RequestLog(tmp_path)
        log.add(finished(1, DAY_ONE))
        log.add(finished(2, DAY_ONE))
        written_at_once = path.exists()
        # Scheduled after the write, so it runs once the write has.
        turned = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(turned.set_result, None)
        await turned
        written = lines(path)
        log.close()
        return written_at_once, written

    assert asyncio.run(run()) == (False, ["run-000001", "run-000002"])


def test_a_closed_log_reopens_its_file_for_the_next_line(tmp_path: Path) -> None:
    log = RequestLog(tmp_path)
    log.add(finished(1, DAY_ONE))
    log.close()
    log.add(finished(2, DAY_ONE))
    log.close()
    assert lines(tmp_path / "2026-01-01.jsonl") == ["run-000001", "run-000002"]


def test_the_json_line_holds_no_headers_and_no_bodies() -> None:
    record = log_record(finished(1, DAY_ONE))
    assert record["started_at"] == "2026-01-01T00:00:00.000Z"
    assert "sk-not-in-the-log" not in json.dumps(record)
    assert "not in the log" not in json.dumps(record)


def test_the_terminal_line_says_what_ended_a_hold() -> None:
    flow = finished(1, DAY_ONE)
    flow.decision = "mock"
    flow.summary = Summary("gpt-4o", Usage(3, 4), ())
    line = format_line(flow)
    assert "200" in line and "upstream" in line and "3+4 tok" in line
    assert "held: mock" in line
