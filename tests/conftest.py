"""Shared fixtures: a fake upstream and real playingpack servers on loopback, in threads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from playingpack.app import Server, create_app, start_server
from playingpack.config import Config
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.person import Person
from tests.fakes.threaded import LoopThread

# Distinctive, so a test can grep every written file and every output line for it.
API_KEY = "sk-pptest-Qz7XwV3kLm9Np2Rt5Ys8Ub4Hc6Jd1Fg0"


class Running:
    """A real playingpack server (its full aiohttp app) on 127.0.0.1:<free port> in a thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._thread = LoopThread("playingpack")
        self.app = create_app(config)
        self.server: Server = self._thread.run(start_server(config, app=self.app))
        self.url = self.server.url
        self.base_url = f"{self.url}/v1"
        self._clients: list[openai.OpenAI] = []
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

    def async_client(self, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=API_KEY, **options)

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
def start_proxy(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Callable[..., Running]]:
    """Start playingpack against the fake upstream; keyword arguments override Config fields."""
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        config = Config(
            upstream=upstream.url,
            tapes_dir=tmp_path / "tapes",
            logs_dir=tmp_path / "logs",
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


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether a test's body failed, for fixtures that keep evidence (screenshots)."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report
