"""Shared fixtures: a fake upstream and real playingpack servers on loopback, in threads."""

from __future__ import annotations

import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from playingpack import Serving, serve
from playingpack.app import Server, create_app, start_server
from playingpack.config import Config
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.person import Person
from tests.fakes.threaded import LoopThread

# Distinctive, so a test can grep every written file and every output line for it.
API_KEY = "sk-pptest-Qz7XwV3kLm9Np2Rt5Ys8Ub4Hc6Jd1Fg0"
ANTHROPIC_KEY = "sk-ant-pptest-Wq4Rz8Tn2Vb6Xc1Ym5Kd9Lf3Hg7Js0"

# A chat completion as OpenAI sends it, for tests that write an upstream's answer themselves.
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


class Running:
    """A real playingpack server (its full aiohttp app) on 127.0.0.1:<free port> in a thread.

    A Config left with the default history (a path relative to the working directory) keeps
    it in its logs folder instead, so no test writes the checkout's history."""

    def __init__(self, config: Config) -> None:
        if config.history is not None and not config.history.is_absolute():
            config = dataclasses.replace(config, history=config.logs_dir / "history.db")
        self.config = config
        self._thread = LoopThread("playingpack")
        self.app = create_app(config)
        self.server: Server = self._thread.run(start_server(config, app=self.app))
        self.url = self.server.url
        self.base_url = f"{self.url}/v1"
        self._clients: list[openai.OpenAI | anthropic.Anthropic] = []
        self._people: list[Person] = []
        self._closed = False

    @property
    def tapes_dir(self) -> Path:
        return self.config.tapes_dir

    def tapes(self) -> list[Path]:
        """Tape files on disk, sorted by name."""
        return sorted(self.tapes_dir.glob("*.json")) if self.tapes_dir.exists() else []

    def client(self, **options: Any) -> openai.OpenAI:
        """An SDK client for this server; closed with the server."""
        client = openai.OpenAI(base_url=self.base_url, api_key=API_KEY, **options)
        self._clients.append(client)
        return client

    def anthropic(self, **options: Any) -> anthropic.Anthropic:
        """An anthropic SDK client for this server; closed with the server."""
        client = anthropic.Anthropic(base_url=self.url, api_key=ANTHROPIC_KEY, **options)
        self._clients.append(client)
        return client

    def async_client(self, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=API_KEY, **options)

    def finished_flows(self, count: int | None = None, timeout: float = 10) -> list[dict[str, Any]]:
        """``GET /api/flows`` (newest first) once every flow has ended, and there are ``count``
        of them if given. A flow can end a moment after its client returned: a client that
        stops reading at ``[DONE]`` leaves playingpack reading the rest of the upstream body."""
        deadline = time.monotonic() + timeout
        while True:
            flows: list[dict[str, Any]] = httpx.get(f"{self.url}/api/flows", timeout=5).json()
            settled = all(flow["state"] in ("COMPLETE", "ERROR") for flow in flows)
            if settled and (count is None or len(flows) == count):
                return flows
            if time.monotonic() > deadline:
                states = [flow["state"] for flow in flows]
                raise AssertionError(f"flows not all ended within {timeout} s: {states}")
            time.sleep(0.005)

    def person(self, headers: dict[str, str] | None = None) -> Person:
        """Someone at the dashboard of this server (watching /ws); closed with the server."""
        person = Person(self.url, headers)
        self._people.append(person)
        return person

    def close(self) -> None:
        """Stop the server (its log lines are flushed); safe to call twice."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        for person in self._people:
            person.close()
        self._people.clear()
        if not self._closed:
            self._closed = True
            self._thread.close(self.server.stop)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture
def fake_claude() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    yield fake
    fake.close()


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    yield fake
    fake.close()


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    yield fake
    fake.close()


@pytest.fixture
def agent() -> Iterator[ThreadPoolExecutor]:
    """Runs SDK calls in the background while the test plays the person at the dashboard.
    Not waited for at the end: closing the server ends any call a failed test left held."""
    pool = ThreadPoolExecutor(max_workers=24)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def start_proxy(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Callable[..., Running]]:
    """Start playingpack against the fake upstream; keyword arguments override Config fields.

    Each server started has a history of its own (tmp_path/history.db for the first, then
    history-2.db, ...); a test of a restart gives the second one the first one's."""
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        name = f"history-{len(started) + 1}.db" if started else "history.db"
        config = Config(
            upstream=upstream.url,
            tapes_dir=tmp_path / "tapes",
            logs_dir=tmp_path / "logs",
            history=tmp_path / name,
            port=0,
        )
        running = Running(dataclasses.replace(config, **overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


@pytest.fixture
def proxy(start_proxy: Callable[..., Running]) -> Running:
    return start_proxy()


@pytest.fixture
def client(proxy: Running) -> openai.OpenAI:
    return proxy.client()


def ask(text: str = "Hello!", **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a chat completion request with one user message."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


PLAYINGPACK = [sys.executable, "-m", "playingpack"]


class Process:
    """A `playingpack start` process whose output lines are collected as they come."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """The first line (seen so far or coming) matching ``pattern``, within ``timeout``."""
        for seen in self.lines:
            if match := re.search(pattern, seen):
                return match
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    @property
    def url(self) -> str:
        return self.wait_for(r"listening on (http://\S+)").group(1)

    def lines_matching(self, text: str, count: int, timeout: float = 10) -> list[str]:
        """The lines containing ``text``, once ``count`` of them have come (or ``timeout``
        passed), plus any more already printed: the caller asserts on how many there are."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return [line for line in self.lines if text in line]


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without PLAYINGPACK_* variables, plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")}
    environment.update(env or {})
    return environment


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `playingpack *args` to its end (within 30 s), without PLAYINGPACK_* variables."""
    return subprocess.run(
        [*PLAYINGPACK, *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def serving(tmp_path: Path, upstream: FakeUpstream, **settings: Any) -> Serving:
    """serve() against the fake, with no config file and no PLAYINGPACK_* variable around."""
    return serve(
        cwd=tmp_path,
        env={},
        upstream=upstream.url,
        tapes_dir=tmp_path / "tapes",
        logs_dir=tmp_path / "logs",
        **settings,
    )


@contextmanager
def started(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[Process]:
    """`playingpack start` on a free port; ``preexec`` runs in the child before it starts
    (to lower a resource limit, say)."""
    environment = clean_env(env)
    popen = subprocess.Popen(
        [*PLAYINGPACK, "start", "--port", "0", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=preexec,
    )
    process = Process(popen)
    try:
        yield process
    finally:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        assert popen.stdout is not None
        popen.stdout.close()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether a test's body failed, for fixtures that keep evidence (screenshots)."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report
