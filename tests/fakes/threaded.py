"""Run an aiohttp server on its own event loop in a background thread."""

from __future__ import annotations

import abc
import asyncio
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import uvloop
from aiohttp import web

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Received:
    """A request as a fake upstream saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class LoopThread:
    """An event loop (uvloop, as the CLI uses) running in a daemon thread until ``close()``."""

    def __init__(self, name: str) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the loop and wait (bounded) for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10) -> T:
        """Run a plain function on the loop's thread (for state owned by the loop)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def close(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Run ``cleanup`` on the loop, then stop it and join the thread."""
        if cleanup is not None:
            self.run(cleanup(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError(f"{self._thread.name} did not stop within 10 s")
        self.loop.close()


class AppServer(abc.ABC):
    """An aiohttp application on 127.0.0.1 (a free port), served from its own LoopThread: the
    fake upstreams add their routes in ``routes`` and call ``start`` once they are set up."""

    def start(self, name: str, *, client_max_size: int = 1024**2) -> None:
        """Serve on a new loop thread called ``name``; sets ``port`` and ``url``."""
        self._thread = LoopThread(name)
        self._runner: web.AppRunner | None = None
        self._closed = False
        self.port = self._thread.run(self._serve(client_max_size))
        self.url = f"http://127.0.0.1:{self.port}"

    @abc.abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""

    def close(self) -> None:
        """Stop serving (a test may stop it early to prove nothing reaches it); safe to call
        twice."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        self._thread.close(stop)

    async def _serve(self, client_max_size: int) -> int:
        app = web.Application(client_max_size=client_max_size)
        self.routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


class Scripted(AppServer, Generic[R]):
    """A fake upstream that answers each request with the next queued reply, or ``default``."""

    def __init__(self, default: R) -> None:
        self.replies: deque[R] = deque()
        self.default = default

    def queue(self, *replies: R) -> None:
        """Answer the next requests with these replies, in order."""
        self.replies.extend(replies)

    def next_reply(self) -> R:
        return self.replies.popleft() if self.replies else self.default
