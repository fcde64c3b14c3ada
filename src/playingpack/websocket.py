"""/ws: live events for the dashboard. A snapshot on connect, then one message per event.

Messages (JSON text frames)::

    {"type": "snapshot", "version": str, "settings": {...}, "flows": [flow, ...]}  newest first
    {"type": "flow", "flow": flow}             a flow started or changed (state, hold, result)
    {"type": "text", "id": str, "text": str}   text that just streamed in for a flow
    {"type": "settings", "settings": {...}}    the settings changed

A snapshot can come again (after ``DELETE /api/flows``); it replaces the list.

Flows are sent without their request and response bodies; ``GET /api/flows/{id}`` has them.
Each socket has a bounded queue: one that falls too far behind is closed (code 1013) and the
dashboard reconnects and gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from playingpack import __version__
from playingpack.access import Access
from playingpack.flows import Flow, FlowLog
from playingpack.settings import Settings
from playingpack.wire import flow_json, settings_json

logger = logging.getLogger(__name__)

QUEUE_SIZE = 2000
# How long a close frame may wait behind unsent messages before the connection is cut: a socket
# whose reader stopped reading must not keep a task, or the server's shutdown, waiting forever.
CLOSE_TIMEOUT = 10.0
CLOSE_TIMEOUT_STOPPING = 1.0
_encode = msgspec.json.encode


class LiveEvents:
    """The open dashboard sockets and what they are told."""

    def __init__(self, flows: FlowLog, settings: Settings, access: Access) -> None:
        self.flows = flows
        self.settings = settings
        self.access = access
        self._sockets: set[_Socket] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._sockets)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The ``GET /ws`` handler."""
        refusal = self.access.refusal(request, upgrade=True)
        if refusal is not None:
            return refusal
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1024**2)
        await ws.prepare(request)
        socket = _Socket(ws, request.transport)
        # Queued before the socket is registered, in the same loop turn: every event after
        # the snapshot reaches the socket, none before it.
        socket.send(_encode(self._snapshot()).decode())
        self._add(socket)
        sender = asyncio.create_task(socket.run())
        try:
            async for message in ws:
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            self._remove(socket)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await ws.close()
        return ws

    def settings_changed(self) -> None:
        """Tell every socket the new settings."""
        self._broadcast({"type": "settings", "settings": settings_json(self.settings)})

    def resync(self) -> None:
        """Send every socket a fresh snapshot (after flows were dropped from memory)."""
        self._broadcast(self._snapshot())

    async def close(self) -> None:
        """Close every socket (the server is stopping); one that cannot take the close frame
        within CLOSE_TIMEOUT_STOPPING seconds is cut off."""
        await asyncio.gather(
            *(
                socket.close(WSCloseCode.GOING_AWAY, b"server stopping", CLOSE_TIMEOUT_STOPPING)
                for socket in list(self._sockets)
            )
        )

    def _snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "version": __version__,
            "settings": settings_json(self.settings),
            "flows": [flow_json(flow, bodies=False) for flow in reversed(list(self.flows))],
        }

    def _on_flow(self, flow: Flow, text: str | None) -> None:
        if text is None:
            self._broadcast({"type": "flow", "flow": flow_json(flow, bodies=False)})
        else:
            self._broadcast({"type": "text", "id": flow.id, "text": text})

    def _broadcast(self, message: dict[str, Any]) -> None:
        if not self._sockets:
            return
        data = _encode(message).decode()
        for socket in list(self._sockets):
            if not socket.send(data):
                logger.warning("a dashboard socket fell %d messages behind; closed", QUEUE_SIZE)
                self._remove(socket)

    def _add(self, socket: _Socket) -> None:
        self._sockets.add(socket)
        if self._unsubscribe is None:
            # Only listened to while someone watches: without listeners the proxy skips the
            # work of extracting streamed text.
            self._unsubscribe = self.flows.subscribe(self._on_flow)

    def _remove(self, socket: _Socket) -> None:
        self._sockets.discard(socket)
        if not self._sockets and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class _Socket:
    """One dashboard connection and the messages waiting to be sent to it."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_SIZE)

    def send(self, data: str) -> bool:
        """Queue ``data``; False (and the socket is being closed) when the queue is full."""
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            # Dropped wholesale: the dashboard resyncs from a fresh snapshot anyway.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False
        return True

    async def run(self) -> None:
        while True:
            data = await self.queue.get()
            if data is None:
                await self.close(WSCloseCode.TRY_AGAIN_LATER, b"too far behind", CLOSE_TIMEOUT)
                return
            try:
                await self.ws.send_str(data)
            except ConnectionResetError:
                return

    async def close(self, code: WSCloseCode, message: bytes, timeout: float) -> None:
        """Send the close frame, or cut the connection when it cannot go out within ``timeout``
        seconds (it waits behind messages the reader never took)."""
        try:
            async with asyncio.timeout(timeout):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()
