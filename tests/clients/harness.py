"""playingpack as a user runs it (``python -m playingpack start``), for the third-party clients.

A test records a client's calls through one process (record mode ``auto``, the fakes as the
upstream) and replays them through a second one (``replay-only``, whose upstream is not
running), and checks what the user sees: every flow COMPLETE in ``/api/flows``, one terminal
line and one log line each, nothing on stderr. Both processes serve a whole test module; each
test uses its own tapes folder (``/t/<scope>``), and its terminal lines are the ones printed
since it started (tests of a module run one at a time).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream

T = TypeVar("T")

# A finished call's terminal line (flows.format_line): time, status, source, method and path.
FLOW_LINE = re.compile(r"^\d\d:\d\d:\d\d  (?:\d{3}|---)  \S+\s+[A-Z]+ /")
FINISHED = {"COMPLETE", "ERROR"}


@dataclass(frozen=True)
class Mark:
    """How much a process had printed at some moment."""

    stdout: int
    stderr: int


class _Output:
    """The lines of one of a process's pipes, read by a thread as they come."""

    def __init__(self, pipe: IO[str], name: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), name=name, daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait(self, predicate: Callable[[list[str]], bool], timeout: float) -> bool:
        """Whether ``predicate(lines)`` held within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.lines), timeout)

    def join(self) -> None:
        self._thread.join(10)


class Playingpack:
    """``python -m playingpack start`` in its own process, on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        *,
        upstream: str,
        record: str,
        tapes_dir: Path,
        logs_dir: Path,
        anthropic_upstream: str | None = None,
    ) -> None:
        self.logs_dir = logs_dir
        command = [
            sys.executable,
            "-m",
            "playingpack",
            "start",
            "--port",
            "0",
            "--no-ui",
            "--upstream",
            upstream,
            "--tapes-dir",
            str(tapes_dir),
            "--logs-dir",
            str(logs_dir),
            "--record",
            record,
        ]
        if anthropic_upstream is not None:
            command += ["--anthropic-upstream", anthropic_upstream]
        workdir.mkdir(parents=True, exist_ok=True)
        # Only the flags count: no PLAYINGPACK_* variable, and a folder without config files.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")}
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = _Output(self.process.stdout, "playingpack-stdout")
        self.stderr = _Output(self.process.stderr, "playingpack-stderr")
        listening = re.compile(r"^playingpack \S+ listening on (http://127\.0\.0\.1:\d+)$")
        started = self.stdout.wait(
            lambda lines: (
                any(listening.match(line) for line in lines) or self.process.poll() is not None
            ),
            timeout=20,
        )
        found = [m for line in self.stdout.lines if (m := listening.match(line))]
        if not started or not found:
            self.process.kill()
            self.process.wait(10)
            self._close_pipes()
            raise AssertionError(
                "playingpack did not start within 20 s:\n"
                + "\n".join(self.stdout.lines + self.stderr.lines)
            )
        self.url = found[0].group(1)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def root(self, scope: str) -> str:
        """The root URL whose calls use the ``scope`` tapes folder (Anthropic SDKs take this)."""
        return f"{self.url}/t/{scope}"

    def base_url(self, scope: str) -> str:
        """The ``base_url`` of OpenAI-style clients for the ``scope`` tapes folder."""
        return f"{self.root(scope)}/v1"

    def api(self, path: str) -> Any:
        response = self.http.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def mark(self) -> Mark:
        return Mark(len(self.stdout.lines), len(self.stderr.lines))

    def flow_lines(self, since: Mark) -> list[str]:
        """The terminal lines of finished calls printed since ``since``."""
        return [line for line in self.stdout.lines[since.stdout :] if FLOW_LINE.match(line)]

    def stderr_since(self, since: Mark) -> list[str]:
        return self.stderr.lines[since.stderr :]

    def wait_flow_lines(self, since: Mark, count: int, timeout: float = 10) -> list[str]:
        """The flow lines since ``since`` once there are ``count`` of them (or after
        ``timeout`` seconds, however many there are)."""
        self.stdout.wait(
            lambda lines: (
                sum(bool(FLOW_LINE.match(line)) for line in lines[since.stdout :]) >= count
            ),
            timeout,
        )
        return self.flow_lines(since)

    def log_records(self) -> list[dict[str, Any]]:
        """Every JSON line of the logs folder."""
        return [
            json.loads(line)
            for path in sorted(self.logs_dir.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]

    def __enter__(self) -> Playingpack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop it as Ctrl-C would and wait (bounded) until it has exited."""
        self.http.close()
        stuck = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                stuck = True
                self.process.kill()
                self.process.wait(10)
        self._close_pipes()
        assert not stuck, "playingpack did not stop within 15 s of SIGINT"

    def _close_pipes(self) -> None:
        """Close stdout and stderr once their readers have seen the end (bounded)."""
        self.stdout.join()
        self.stderr.join()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def wait_finished(pp: Playingpack, scope: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The flows of ``scope``, oldest first, once none is still in progress; after ``timeout``
    seconds, as they are (the caller's checks then show which are stuck)."""
    deadline = time.monotonic() + timeout
    while True:
        flows = [flow for flow in pp.api("/api/flows") if flow["scope"] == scope]
        if all(flow["state"] in FINISHED for flow in flows) or time.monotonic() > deadline:
            return flows[::-1]
        time.sleep(0.05)  # a poll interval, bounded by the deadline


def check_flows(
    pp: Playingpack,
    scope: str,
    since: Mark,
    *,
    calls: int,
    source: str,
    tools: list[str],
) -> list[dict[str, Any]]:
    """Check what the user sees of the ``calls`` calls made since ``since``: each flow COMPLETE
    from ``source`` in ``/api/flows`` and ``/api/flows/{id}``, with the tool calls the model
    made (``tools``, in order) and the usage its answer carried, one terminal line and one log
    line each, nothing on stderr.
    Returns the flows' details, oldest first."""
    flows = wait_finished(pp, scope)
    states = [(flow["path"], flow["state"], flow["error"]) for flow in flows]
    assert len(flows) == calls, f"{calls} calls expected, flows: {states}"
    details = [pp.api(f"/api/flows/{flow['id']}") for flow in flows]
    assert [d["state"] for d in details] == ["COMPLETE"] * calls, states
    assert [d["history"][-1]["state"] for d in details] == ["COMPLETE"] * calls
    assert [d["source"] for d in details] == [source] * calls
    assert [d["error"] for d in details] == [None] * calls
    assert [call["name"] for d in details for call in d["tool_calls"]] == tools
    missing = [d["id"] for d in details if _carries_usage(d) and d["usage"] is None]
    assert missing == [], f"flows without the usage their answer carried: {missing}"

    lines = pp.wait_flow_lines(since, calls)
    assert len(lines) == calls, "\n".join(lines)
    for flow in details:
        # The short tape hash names the flow's line (the requests of one test differ).
        mine = [line for line in lines if f"tape {flow['tape'].rpartition('/')[2][:8]}" in line]
        assert len(mine) == 1, (flow["id"], lines)
        assert f"  {flow['status']}  {source}" in mine[0], mine[0]
        assert f" {flow['method']} {flow['path']}  " in mine[0], mine[0]
        assert "error" not in mine[0], mine[0]

    ids = [flow["id"] for flow in details]
    logged = _wait(lambda: _logged(pp, ids), lambda seen: all(seen[i] >= 1 for i in ids))
    assert logged == dict.fromkeys(ids, 1), logged
    assert pp.stderr_since(since) == []
    return details


def _carries_usage(flow: dict[str, Any]) -> bool:
    """Whether the answer of ``flow`` carried token usage: every answer does, except a chat
    completions stream whose request did not ask for it (``stream_options.include_usage``)."""
    body = flow["request"] if isinstance(flow["request"], dict) else {}
    if flow["path"].endswith("/chat/completions") and body.get("stream"):
        return bool((body.get("stream_options") or {}).get("include_usage"))
    return True


def _logged(pp: Playingpack, ids: list[str]) -> dict[str, int]:
    """How many log lines each of ``ids`` has."""
    records = pp.log_records()
    return {flow_id: sum(r["id"] == flow_id for r in records) for flow_id in ids}


def _wait(get: Callable[[], T], done: Callable[[T], bool], timeout: float = 10) -> T:
    """``get()`` once ``done`` holds for it, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)  # a poll interval, bounded by the deadline


def not_listening() -> str:
    """The URL of a loopback port nothing listens on: the upstream of a replay, so any call
    that reached for the upstream would fail (502)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Pair:
    """A recording playingpack (``auto``, against the fakes) and a replaying one
    (``replay-only``, against an upstream that is not running) on one tapes folder."""

    def __init__(
        self, workdir: Path, upstream: FakeUpstream, anthropic: FakeAnthropic | None = None
    ) -> None:
        self.tapes_dir = workdir / "tapes"
        self.fakes: list[FakeUpstream | FakeAnthropic] = [upstream]
        if anthropic is not None:
            self.fakes.append(anthropic)
        self.recording = Playingpack(
            workdir / "recording",
            upstream=upstream.url,
            anthropic_upstream=anthropic.url if anthropic is not None else None,
            record="auto",
            tapes_dir=self.tapes_dir,
            logs_dir=workdir / "logs-recording",
        )
        down = not_listening()
        try:
            self.replaying = Playingpack(
                workdir / "replaying",
                upstream=down,
                anthropic_upstream=down,
                record="replay-only",
                tapes_dir=self.tapes_dir,
                logs_dir=workdir / "logs-replaying",
            )
        except BaseException:
            self.recording.stop()
            raise

    def record_then_replay(
        self, scope: str, run: Callable[[str], T], *, calls: int, tools: list[str]
    ) -> T:
        """``run(root)`` through the recording process, then the replaying one: both make
        ``calls`` calls, COMPLETE, with the tool calls ``tools``, and give the same result
        (which is returned). ``root`` is the server's URL for the ``scope`` tapes folder; the
        fakes must have been given the replies of the recording."""
        received = sum(len(fake.received) for fake in self.fakes)
        since = self.recording.mark()
        recorded = run(self.recording.root(scope))
        check_flows(self.recording, scope, since, calls=calls, source="upstream", tools=tools)
        assert sum(len(fake.received) for fake in self.fakes) == received + calls
        assert [len(fake.replies) for fake in self.fakes] == [0] * len(self.fakes)
        assert len(list((self.tapes_dir / scope).glob("*.json"))) == calls

        since = self.replaying.mark()
        replayed = run(self.replaying.root(scope))
        check_flows(self.replaying, scope, since, calls=calls, source="tape", tools=tools)
        assert sum(len(fake.received) for fake in self.fakes) == received + calls
        assert replayed == recorded
        return recorded

    def close(self) -> None:
        """Stop both; every flow either served has one terminal line and one log line."""
        flows: dict[Playingpack, list[dict[str, Any]]] = {}
        for pp in (self.recording, self.replaying):
            flows[pp] = pp.api("/api/flows") if pp.process.poll() is None else []
            pp.stop()
        for pp in (self.recording, self.replaying):
            assert pp.process.returncode == 0, pp.stderr.lines
            lines = [line for line in pp.stdout.lines if FLOW_LINE.match(line)]
            records = pp.log_records()
            assert len(lines) == len(records) == len(flows[pp]), (lines, records, flows[pp])
            assert sorted(r["id"] for r in records) == sorted(f["id"] for f in flows[pp])
            assert not [line for line in pp.stderr.lines if "Traceback" in line]
