"""The server's client connections: how long one may take to ask, and how many may be open.

aiohttp bounds an idle keep-alive connection (``KEEPALIVE_TIMEOUT``, from the end of one answer
until the next request's headers are complete, however slowly they trickle in), but nothing
bounds a fresh connection that never completes its first request. ``Connections`` wraps each
connection's protocol to add that bound (``HEADER_TIMEOUT``, counted from the connection's start
and not reset by bytes that arrive, so a client sending a header byte every few seconds is cut
off too) and a limit on open connections, below the file-descriptor limit: at the limit, a new
connection takes the place of the oldest one that has not yet sent its request's headers, or is
answered 503 when every open connection is busy.

A request's body and the answer have no time limit: a held call, a slow stream or a WebSocket
may stay open as long as both sides keep it.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from typing import cast

import msgspec

logger = logging.getLogger(__name__)

HEADER_TIMEOUT = 20.0
KEEPALIVE_TIMEOUT = 60.0
MAX_CONNECTIONS = 4096
# File descriptors kept for tapes, logs and the event loop itself; each client connection may
# need a second one, for its call to the upstream.
FD_RESERVE = 64
FDS_PER_CONNECTION = 2
# After the limit was reached, the next warning waits until the count fell below this share.
_CALM = 0.75
_END_OF_HEADERS = b"\r\n\r\n"


def connection_limit() -> int:
    """``MAX_CONNECTIONS``, or fewer when the process's file-descriptor limit is lower."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, (soft - FD_RESERVE) // FDS_PER_CONNECTION))


def raise_fd_limit() -> None:
    """Lift the process's soft file-descriptor limit to what MAX_CONNECTIONS need, within the
    hard limit (many systems start processes at 1024, or 256, of a far higher hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS * FDS_PER_CONNECTION + FD_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.debug("file-descriptor limit left at %d: %s", soft, exc)


class Connections:
    """A protocol factory for ``loop.create_server`` that guards the protocols ``factory`` makes
    (aiohttp's ``web.Server``)."""

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        *,
        limit: int,
        header_timeout: float,
    ) -> None:
        self.factory = factory
        self.limit = limit
        self.header_timeout = header_timeout
        self._open: set[_Guarded] = set()
        # Connections whose first request's headers are incomplete, oldest first.
        self._asking: dict[_Guarded, None] = {}
        self._full = False
        self._cut = 0
        self._refused = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self.factory())

    def admit(self, connection: _Guarded) -> bool:
        """Count ``connection`` in, making room if needed; False when it must be refused."""
        if len(self._open) >= self.limit:
            self._at_limit()
            oldest = next(iter(self._asking), None)
            if oldest is None:
                self._refused += 1
                return False
            self._cut += 1
            oldest.close(abort=True)
        self._open.add(connection)
        self._asking[connection] = None
        return True

    def asked(self, connection: _Guarded) -> None:
        """``connection`` has sent its first request's headers."""
        self._asking.pop(connection, None)

    def closed(self, connection: _Guarded) -> None:
        """``connection`` ended; it is no longer counted."""
        self._asking.pop(connection, None)
        self._open.discard(connection)
        if self._full and len(self._open) < self.limit * _CALM:
            self._full = False
            logger.info(
                "connections back under the limit; meanwhile %d that had sent no request were "
                "closed and %d refused",
                self._cut,
                self._refused,
            )
            self._cut = self._refused = 0

    def _at_limit(self) -> None:
        if self._full:
            return
        self._full = True
        logger.warning(
            "client connections reached the limit of %d (this process may open %d files): "
            "new ones replace the oldest that have not sent a request yet, or are answered 503",
            self.limit,
            resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        )


class _Guarded(asyncio.Protocol):
    """One connection: its protocol, and the deadline for its first request's headers."""

    def __init__(self, connections: Connections, inner: asyncio.Protocol) -> None:
        self._connections = connections
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast: uvloop's transports are not asyncio.Transport subclasses.
        self._transport = transport = cast(asyncio.Transport, transport)
        if not self._connections.admit(self):
            transport.write(_REFUSAL)
            transport.close()
            return
        self._admitted = True
        self._deadline = asyncio.get_running_loop().call_later(
            self._connections.header_timeout, self.close
        )
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._deadline is not None:
            seen = self._tail + data
            if not self._tail:
                # Empty lines before a request line are allowed, and are no headers' end.
                seen = seen.lstrip(b"\r\n")
            if _END_OF_HEADERS in seen:
                self._deadline.cancel()
                self._deadline = None
                self._tail = b""
                self._connections.asked(self)
            else:
                self._tail = seen[-len(_END_OF_HEADERS) + 1 :]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        if self._admitted:
            self._inner.connection_lost(exc)

    def close(self, *, abort: bool = False) -> None:
        """End the connection (it is no longer counted from now on)."""
        self._stop()
        if self._transport is not None:
            if abort:
                self._transport.abort()
            else:
                self._transport.close()

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._connections.closed(self)


def _refusal() -> bytes:
    body = msgspec.json.encode(
        {
            "error": {
                "message": "playingpack has as many connections open as it allows, and every "
                "one is in use; retry in a moment, or close idle connections.",
                "type": "server_error",
                "code": "too_many_connections",
                "param": None,
            }
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


_REFUSAL = _refusal()
