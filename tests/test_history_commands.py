"""`playingpack history` run as a user would, on a history written by a real server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Running, ask, run_cli
from tests.fakes.openai_upstream import FakeUpstream, Reply


@pytest.fixture
def written(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, tmp_path: Path
) -> list[dict[str, Any]]:
    """Four calls in the history at tmp_path/history.db, newest first."""
    proxy = start_proxy()
    client = proxy.client()
    client.chat.completions.create(**ask("Tell me about otters"))
    client.chat.completions.create(**ask("Tell me about otters"))  # from the tape
    upstream.queue(Reply(tool_calls=[("find_otter", '{"river": "Thames"}')]))
    client.chat.completions.create(**ask("Find an otter"))
    client.chat.completions.create(**ask("Something else", model="gpt-4.1"))
    flows = proxy.finished_flows(4)
    proxy.close()
    return flows


def history(*args: str, cwd: Path) -> Any:
    return run_cli("history", *args, "--history", str(cwd / "history.db"), cwd=cwd)


def test_list_filters_and_json(written: list[dict[str, Any]], tmp_path: Path) -> None:
    listed = history("list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "STARTED", "MODEL", "SOURCE", "STATE"]
    assert [line.split()[0] for line in lines[1:]] == [flow["id"] for flow in written]

    def ids(*args: str) -> list[str]:
        result = history("list", "--json", *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    newest, tool, tape, oldest = (flow["id"] for flow in written)
    assert ids("--search", "otters") == [tape, oldest]
    assert ids("-s", "thames") == [tool]
    assert ids("--tool", "find_otter") == [tool]
    assert ids("--model", "gpt-4.1") == [newest]
    assert ids("--source", "tape") == [tape]
    assert ids("--state", "ERROR") == []
    assert ids("--run", written[0]["run"], "--limit", "2") == [newest, tool]
    assert ids("--since", "2999-01-01") == []
    assert ids("--until", written[0]["started_at"]) == [tool, tape, oldest]
    runs = history("list", "--runs", cwd=tmp_path)
    assert runs.returncode == 0 and written[0]["run"] in runs.stdout
    assert "playingpack start" in runs.stdout


def test_show_a_call(written: list[dict[str, Any]], tmp_path: Path) -> None:
    tool_call = written[1]
    shown = history("show", tool_call["id"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert f"call      {tool_call['id']}" in text and "model     gpt-4o-mini" in text
    assert "user: Find an otter" in text
    assert "tool call find_otter" in text and '"river": "Thames"' in text
    assert "usage     " in text and "cost      $" in text and "timing    " in text
    answered = history("show", written[-1]["id"], cwd=tmp_path).stdout
    assert "text: Hello from the fake upstream!" in answered
    missing = history("show", "nope-000001", cwd=tmp_path)
    assert missing.returncode == 1 and "no call 'nope-000001'" in missing.stderr


def test_export_jsonl_and_har(written: list[dict[str, Any]], tmp_path: Path) -> None:
    exported = history("export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    calls = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [call["id"] for call in calls] == [flow["id"] for flow in reversed(written)]
    assert calls[0]["request"] == ask("Tell me about otters") and calls[0]["chunks"]

    target = tmp_path / "calls.har"
    har = history("export", "--format", "har", "-o", str(target), "--search", "otter", cwd=tmp_path)
    assert har.returncode == 0 and "wrote 3 calls" in har.stderr
    entries = json.loads(target.read_text())["log"]["entries"]
    assert [entry["_playingpack"]["id"] for entry in entries] == [
        flow["id"] for flow in reversed(written[1:])
    ]
    assert entries[0]["request"]["url"].endswith("/v1/chat/completions")


def test_prune(written: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "history.db"

    def count() -> int:
        with closing(sqlite3.connect(path)) as db:
            return int(db.execute("SELECT count(*) FROM flows").fetchone()[0])

    dry = history("prune", "--keep", "1", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and dry.stdout.strip() == "would delete 3 calls" and count() == 4
    assert history("prune", "--keep", "3", cwd=tmp_path).stdout.strip() == "deleted 1 call"
    assert history("prune", "--keep", "30d", cwd=tmp_path).stdout.strip() == "deleted 0 calls"
    assert history("prune", "--run", "00000000", cwd=tmp_path).stdout.strip() == "deleted 0 calls"
    assert history("prune", "--all", cwd=tmp_path).stdout.strip() == "deleted 3 calls"
    assert count() == 0
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM flows_text").fetchone()[0] == 0
    both = history("prune", "--all", "--keep", "3", cwd=tmp_path)
    assert both.returncode == 2 and "exactly one of" in both.stderr
    bad = history("prune", "--keep", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and "number of calls" in bad.stderr


def test_missing_and_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    missing = run_cli("history", "list", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no history at .playingpack/history.db" in missing.stderr
    (tmp_path / "broken.db").write_bytes(b"garbage " * 1000)
    broken = run_cli("history", "list", "--history", "broken.db", cwd=tmp_path)
    assert broken.returncode == 1 and "broken.db is not a readable history" in broken.stderr
    with closing(sqlite3.connect(tmp_path / "other.db")) as db:
        db.execute("CREATE TABLE notes(x)")
    other = run_cli("history", "show", "x", "--history", "other.db", cwd=tmp_path)
    assert other.returncode == 1 and "is not a playingpack history" in other.stderr
