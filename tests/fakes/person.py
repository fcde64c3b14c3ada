"""The person at the dashboard: watches /ws and decides through /api, as the dashboard does."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx

from tests.fakes.threaded import LoopThread

Message = dict[str, Any]


class Person:
    """A WebSocket watcher plus an HTTP client for ``/api``; every wait is bounded."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers=headers, timeout=10)
        self.messages: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        self._thread = LoopThread("person")
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.snapshot: Message = self._thread.run(self._connect(headers or {}))

    async def _connect(self, headers: dict[str, str]) -> Message:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"{self.url}/ws", headers=headers)
        snapshot: Message = await self._ws.receive_json(timeout=10)
        self._reader = asyncio.create_task(self._read())
        return snapshot

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.messages.put(message.json())

    def wait(self, predicate: Callable[[Message], bool], timeout: float = 10) -> Message:
        """The next message that satisfies ``predicate``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching /ws message within {timeout} s")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(message)
            if predicate(message):
                return message

    def held(self, timeout: float = 10) -> Message:
        """The next flow that becomes held (state INTERCEPT)."""
        message = self.wait(
            lambda m: m["type"] == "flow" and m["flow"]["state"] == "INTERCEPT", timeout
        )
        flow: Message = message["flow"]
        return flow

    def finished(self, flow_id: str, timeout: float = 10) -> Message:
        """The flow ``flow_id`` once it is COMPLETE or ERROR."""
        message = self.wait(
            lambda m: (
                m["type"] == "flow"
                and m["flow"]["id"] == flow_id
                and m["flow"]["state"] in ("COMPLETE", "ERROR")
            ),
            timeout,
        )
        flow: Message = message["flow"]
        return flow

    def states(self, flow_id: str) -> list[str]:
        """The states of ``flow_id`` in the order /ws announced them, once it has finished."""
        if not any(
            m["type"] == "flow"
            and m["flow"]["id"] == flow_id
            and m["flow"]["state"] in ("COMPLETE", "ERROR")
            for m in self.seen
        ):
            self.finished(flow_id)
        return [
            m["flow"]["state"]
            for m in self.seen
            if m["type"] == "flow" and m["flow"]["id"] == flow_id
        ]

    def decide(self, flow_id: str, **decision: Any) -> httpx.Response:
        return self.http.post(f"/api/flows/{flow_id}/decision", json=decision)

    def close(self) -> None:
        """Close the socket and the HTTP client; safe to call twice."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            await self._ws.close()
            if self._reader is not None:
                await self._reader
            await self._session.close()

        self.http.close()
        self._thread.close(stop)
