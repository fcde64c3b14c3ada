"""/ws: live events for the dashboard. A snapshot on connect, then one message per event.

Messages are JSON text frames, the ``LiveMessage`` Structs of ``wire`` told apart by ``type``::

    {"type": "snapshot", "version": str, "settings": {...}, "flows": [flow, ...]}  newest first
    {"type": "flow", "flow": flow}             a flow started or changed (state, hold, result)
    {"type": "text", "id": str, "text": str}   text that just streamed in for a flow
    {"type": "settings", "settings": {...}}    the settings changed

A snapshot can come again (after ``DELETE /api/flows``); it replaces the list.

Flows are sent without their request and response bodies; ``GET /api/flows/{id}`` has them.
Each socket has a bounded queue: one that falls too far behind is closed (code 1013), or cut
off when it has not read that far within CLOSE_TIMEOUT seconds; the dashboard reconnects and
gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from socket import SO_LINGER, SOL_SOCKET

from aiohttp import WSCloseCode, WSMsgType, web

from playingpack import __version__
from playingpack.access import Access
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow
from playingpack.settings import Settings
from playingpack.wire import (
    FlowMessage,
    LiveMessage,
    SettingsMessage,
    SnapshotMessage,
    TextMessage,
    encode,
    flow_json,
    settings_json,
)

logger = logging.getLogger(__name__)

QUEUE_SIZE = 2000
# How long a close frame may wait behind unsent messages before the connection is cut: a socket
# whose reader stopped reading must not keep a task, or the server's shutdown, waiting forever.
CLOSE_TIMEOUT = 10.0
CLOSE_TIMEOUT_STOPPING = 1.0


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
        socket.send(encode(self._snapshot()).decode())
        self._add(socket)
        try:
            await socket.serve()
        finally:
            self._remove(socket)
        return ws

    def settings_changed(self) -> None:
        """Tell every socket the new settings."""
        self._broadcast(SettingsMessage(settings_json(self.settings)))

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

    def _snapshot(self) -> SnapshotMessage:
        return SnapshotMessage(
            __version__,
            settings_json(self.settings),
            [flow_json(flow, bodies=False) for flow in reversed(list(self.flows))],
            self.flows.window,
        )

    def _on_flow(self, flow: Flow, text: str | None) -> None:
        if text is None:
            self._broadcast(FlowMessage(flow_json(flow, bodies=False)))
        else:
            self._broadcast(TextMessage(flow.id, text))

    def _broadcast(self, message: LiveMessage) -> None:
        if not self._sockets:
            return
        data = encode(message).decode()
        for socket in list(self._sockets):
            if not socket.send(data):
                logger.warning("a dashboard socket fell %d messages behind; closing it", QUEUE_SIZE)
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
        self._receiver: asyncio.Task[None] | None = None
        self._closing = False
        self._cutoff: asyncio.TimerHandle | None = None

    def send(self, data: str) -> bool:
        """Queue ``data``; False (and the socket is being closed) when the queue is full."""
        if self._cutoff is not None:
            return False
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            # Dropped wholesale: the dashboard reconnects and gets a fresh snapshot.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            # The close frame goes after what the reader has not taken yet, which it may never
            # take: past CLOSE_TIMEOUT the connection is cut.
            self._cutoff = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._cut)
            return False
        return True

    async def serve(self) -> None:
        """Send what is queued and take what the dashboard sends, until the connection ends;
        then close it, cutting it if bytes are still unsent."""
        receiver = self._receiver = asyncio.create_task(self._receive())
        sender = asyncio.create_task(self._send_queued())
        try:
            await asyncio.wait({receiver})
            if self._closing:
                await asyncio.wait({sender})
        finally:
            receiver.cancel()
            sender.cancel()
            await asyncio.wait({receiver, sender})
            if self._cutoff is not None:
                self._cutoff.cancel()
            if self.transport is not None and self.transport.get_write_buffer_size() > 0:
                # A graceful close would wait for them, forever if the reader stopped reading.
                self._cut()
            else:
                await self.close(WSCloseCode.OK, b"", CLOSE_TIMEOUT)

    async def _receive(self) -> None:
        async for message in self.ws:
            if message.type is WSMsgType.ERROR:
                return

    async def _send_queued(self) -> None:
        while True:
            data = await self.queue.get()
            if data is None:
                await self._close_behind()
                return
            try:
                await self.ws.send_str(data)
            except ConnectionResetError:
                return

    async def _close_behind(self) -> None:
        self._closing = True
        if self._receiver is not None:
            # With a receive pending, aiohttp closes the connection right after the close
            # frame; without, it waits for the dashboard's answer, so the connection is still
            # there for the cut-off if the dashboard never reads that far.
            self._receiver.cancel()
            await asyncio.wait({self._receiver})
        await self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too far behind")

    def _cut(self) -> None:
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # A reset: a socket merely closed keeps its unsent bytes in the kernel, and
                # the connection open, until the reader takes them.
                sock.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    async def close(self, code: WSCloseCode, message: bytes, timeout: float) -> None:
        """Send the close frame, or cut the connection when it cannot go out within ``timeout``
        seconds (it waits behind messages the reader never took)."""
        try:
            async with asyncio.timeout(timeout):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            self._cut()
