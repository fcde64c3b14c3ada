"""The history file: a newer schema, retention, secrets, threads, and a file that cannot be used
(the proxy serves without it). Servers are real, on loopback, with the openai SDK as client."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import Config
from playingpack.history import decode_detail
from playingpack.history_schema import SCHEMA
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

AZURE_KEY = "az-pptest-8f3Kq1Zr7Lw2Xv9Nc4Bm6Td0"


def rows(path: Path, sql: str = "SELECT id FROM flows ORDER BY seq") -> list[Any]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def wait_until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def ids(running: Running) -> list[str]:
    return [flow["id"] for flow in httpx.get(f"{running.url}/api/flows", timeout=10).json()]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another program holding the file's write lock."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


def warnings(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


# --- schema -------------------------------------------------------------------------------


def test_a_newer_schema_is_refused_and_the_proxy_serves_without_history(
    start_proxy: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.db"
    start_proxy().close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema'")
    before = rows(path, "SELECT * FROM runs")

    proxy = start_proxy(logs_dir=tmp_path / "logs2", history=tmp_path / "history.db")
    proxy.client().chat.completions.create(**ask("still answered"))
    assert len(proxy.finished_flows(1)) == 1
    (message,) = warnings(caplog, "history off")
    assert str(path) in message and f"schema 7, newer than this playingpack's {SCHEMA}" in message
    assert "upgrade playingpack" in message
    proxy.close()
    assert rows(path, "SELECT * FROM runs") == before and rows(path) == []


# --- files that cannot be used ------------------------------------------------------------


def test_a_corrupt_file_is_a_warning(
    start_proxy: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is no database, " * 400)
    proxy = start_proxy()
    proxy.client().chat.completions.create(**ask("answered anyway"))
    assert len(proxy.finished_flows(1)) == 1
    (message,) = warnings(caplog, "history off")
    assert "corrupt" in message and "move it away" in message


def test_an_unwritable_folder_is_a_warning(
    start_proxy: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "plain-file").write_text("not a folder")
    proxy = start_proxy(history=tmp_path / "plain-file" / "history.db")
    proxy.client().chat.completions.create(**ask("answered anyway"))
    assert len(proxy.finished_flows(1)) == 1
    (message,) = warnings(caplog, "history off")
    assert "plain-file" in message


def test_a_file_locked_at_start_is_a_warning(
    start_proxy: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start_proxy().close()
    with locked(tmp_path / "history.db"):
        proxy = start_proxy(logs_dir=tmp_path / "logs2", history=tmp_path / "history.db")
        proxy.client().chat.completions.create(**ask("answered anyway"))
        assert len(proxy.finished_flows(1)) == 1
    (message,) = warnings(caplog, "history off")
    assert "locked" in message and "another program holds it" in message


def test_a_file_locked_while_serving_delays_the_writes_only(
    proxy: Running, caplog: pytest.LogCaptureFixture
) -> None:
    client = proxy.client()
    client.chat.completions.create(**ask("before the lock"))
    proxy.finished_flows(1)
    path = proxy.config.history
    assert path is not None and len(rows(path)) == 1
    with locked(path):
        for number in range(3):
            reply = client.chat.completions.create(**ask(f"during the lock {number}"))
            assert reply.choices[0].message.content
        # Listed from memory until they are written.
        assert len(proxy.finished_flows(4)) == 4
        wait_until(lambda: bool(warnings(caplog, "cannot write")))
        assert len(rows(path)) == 1
    wait_until(lambda: len(rows(path)) == 4)
    assert len(ids(proxy)) == 4
    assert len(warnings(caplog, "cannot write")) == 1 and warnings(caplog, "written again")


def test_calls_past_the_backlog_are_not_kept_and_said_so_and_the_proxy_keeps_answering(
    proxy: Running, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("playingpack.history.MAX_BEHIND", 3)
    client = proxy.client()
    path = proxy.config.history
    assert path is not None
    client.chat.completions.create(**ask("before the lock"))
    proxy.finished_flows(1)
    with locked(path):
        for number in range(6):
            reply = client.chat.completions.create(**ask(f"during the lock {number}"))
            assert reply.choices[0].message.content
        (said,) = warnings(caplog, "calls not kept so far")
        assert "calls not kept so far: 1; 3 wait to be written" in said
    # The three that waited are written; the other three were never kept; the next is.
    wait_until(lambda: len(rows(path)) == 4)
    client.chat.completions.create(**ask("after the lock"))
    wait_until(lambda: len(rows(path)) == 5)
    assert [row[0] for row in rows(path, "SELECT path FROM flows")] == ["/v1/chat/completions"] * 5


# --- retention ----------------------------------------------------------------------------


def test_retention_keeps_the_newest_calls(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(history_keep="5")
    client = proxy.client()
    for number in range(12):
        client.chat.completions.create(**ask(f"call {number}"))
    newest = [flow["id"] for flow in reversed(proxy.finished_flows(12))][-5:]
    proxy.close()
    path = proxy.config.history
    assert path is not None
    assert [row[0] for row in rows(path)] == newest
    assert rows(path, "SELECT count(*) FROM flows_text") == [(5,)]


def test_retention_by_days_prunes_older_calls(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    first = start_proxy()
    for number in range(3):
        first.client().chat.completions.create(**ask(f"old {number}"))
    kept = first.finished_flows(3)[0]["id"]
    first.close()
    path = tmp_path / "history.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE flows SET started = started - 31 * 86400 WHERE id != ?", (kept,))

    second = start_proxy(
        history_keep="30d", logs_dir=tmp_path / "logs2", history=tmp_path / "history.db"
    )
    wait_until(lambda: len(rows(path)) == 1)
    assert ids(second) == [kept]
    assert rows(path, "SELECT count(*) FROM flows_text") == [(1,)]


# --- secrets and threads ------------------------------------------------------------------


def test_no_key_reaches_the_file(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy()
    client = proxy.client(max_retries=0, default_headers={"api-key": AZURE_KEY})
    client.chat.completions.create(**ask("secret one"))
    list(client.chat.completions.create(stream=True, **ask("secret stream")))
    upstream.queue(Reply(status=401))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask("secret failure"))
    proxy.finished_flows(3)
    proxy.close()

    files = sorted(tmp_path.glob("history.db*"))
    assert files
    for file in files:
        data = file.read_bytes()
        assert API_KEY.encode() not in data and AZURE_KEY.encode() not in data, file
    details = [decode_detail(blob) for (blob,) in rows(files[0], "SELECT detail FROM flows")]
    assert len(details) == 3
    for detail in details:
        headers = {name.lower(): value for name, value in detail["request_headers"].items()}
        assert headers["authorization"] == f"Bearer ***{API_KEY[-4:]}"
        assert headers["api-key"] == f"***{AZURE_KEY[-4:]}"


def test_a_thread_goes_on_after_a_restart(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    first = start_proxy()
    question = ask("Plan a trip")
    answer = first.client().chat.completions.create(**question).choices[0].message.content
    (opening,) = first.finished_flows(1)
    first.close()

    second = start_proxy(logs_dir=tmp_path / "logs2", history=tmp_path / "history.db")
    follow_up = [
        *question["messages"],
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Now book it"},
    ]
    second.client().chat.completions.create(model="gpt-4o-mini", messages=follow_up)
    step, _ = second.finished_flows(2)
    wait_until(lambda: httpx.get(f"{second.url}/api/flows", timeout=10).json()[0]["thread"])
    assert httpx.get(f"{second.url}/api/flows", timeout=10).json()[0]["thread"] == opening["id"]
    assert step["run"] != opening["run"]


def test_a_test_server_left_with_the_default_history_keeps_it_in_its_logs_folder(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = Config(upstream=upstream.url, tapes_dir=tmp_path / "t", logs_dir=tmp_path / "l")
    assert config.history is not None and not config.history.is_absolute()
    running = Running(config)
    try:
        running.client().chat.completions.create(**ask("where am I kept"))
        running.finished_flows(1)
    finally:
        running.close()
    assert running.config.history == tmp_path / "l" / "history.db"
    assert len(rows(tmp_path / "l" / "history.db")) == 1


def test_a_request_with_a_lone_surrogate_is_kept(proxy: Running) -> None:
    body = (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "odd \\ud800 text"}]}'
    )
    answered = httpx.post(
        f"{proxy.base_url}/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert answered.status_code == 200, answered.text
    (flow,) = proxy.finished_flows(1)
    path = proxy.config.history
    assert path is not None
    wait_until(lambda: len(rows(path)) == 1)
    (listed,) = httpx.get(f"{proxy.url}/api/flows", timeout=10).json()
    assert listed["request"]["messages"][0]["content"] == "odd \ud800 text"
    assert [f["id"] for f in httpx.get(f"{proxy.url}/api/flows?q=odd", timeout=10).json()] == [
        flow["id"]
    ]


@pytest.mark.parametrize("content", ["Otters hold hands", "odd \ud800 text"])
def test_replays_of_one_tape_are_stored_whole_each_time(proxy: Running, content: str) -> None:
    # The parts every replay of a tape shares are encoded once per tape: each stored call
    # must still read back with its own request, answer and events, as it was served.
    question = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    body = json.dumps(question).encode()  # escapes a lone surrogate, as JSON allows
    for stream in (True, True, True, False):
        answered = httpx.post(
            f"{proxy.base_url}/chat/completions",
            content=body[:-1] + (b', "stream": true}' if stream else b"}"),
            headers={"content-type": "application/json", "authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert answered.status_code == 200, answered.text
    flows = proxy.finished_flows(4)
    assert [flow["source"] for flow in reversed(flows)] == ["upstream", "tape", "tape", "tape"]
    path = proxy.config.history
    assert path is not None
    wait_until(lambda: len(rows(path)) == 4)
    stored = {flow_id: decode_detail(blob) for flow_id, blob in rows(path, _DETAILS)}
    for flow in flows:
        live = httpx.get(f"{proxy.url}/api/flows/{flow['id']}", timeout=10).json()
        kept = stored[flow["id"]]
        for name in ("request", "response", "chunks", "text", "conversation", "streamed"):
            assert kept[name] == live[name], name
    assert stored[flows[0]["id"]]["response"]["choices"][0]["message"]["content"]
    assert len(stored[flows[1]["id"]]["chunks"]) > 3


_DETAILS = "SELECT id, detail FROM flows ORDER BY seq"
