"""A call: one request to a recorded endpoint on its way through the proxy, and the sizes past
which the work done for it leaves the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aiohttp import web

    from playingpack.flows import Flow
    from playingpack.providers import Framing, Provider
    from playingpack.recording import Capture
    from playingpack.store import TapeStore

_T = TypeVar("_T")

# Bodies, events and tapes bigger than this are parsed, hashed, encoded and written in a worker
# thread: on the event loop they would hold up every other request for tens of milliseconds.
OFF_LOOP = 1024**2
# The biggest request body recorded. Its handling needs a few times as much memory for a moment
# (parsed, hashed, written as a tape), and each of those steps holds the interpreter for a time
# that grows with the body. Bigger requests are passed through unrecorded (like uploads).
MAX_RECORDED_BODY = 32 * 1024**2
# The biggest answer recorded. A bigger one is passed on byte for byte, unread and unrecorded:
# reading it (joining, decoding, parsing, writing it as JSON) holds the interpreter long enough
# to stall every other request, and so would replaying it.
MAX_ANSWER = 16 * 1024**2
# Why the flow of a client that left before the end of its answer failed.
CLIENT_GONE = "client disconnected before the answer was complete"


class Call:
    """One recorded-endpoint request on its way: its flow, its parsed body, where its tape is,
    and the response once one has been started (a held stream is kept alive before its answer
    is known)."""

    __slots__ = (
        "body",
        "capture",
        "delivered",
        "draining",
        "flow",
        "framing",
        "index",
        "opened",
        "provider",
        "request",
        "resent",
        "response",
        "size",
        "store",
        "stream",
    )

    def __init__(
        self,
        request: web.Request,
        flow: Flow,
        provider: Provider,
        body: Any,
        store: TapeStore,
        size: int,
    ) -> None:
        """``size`` is the length of the request body in bytes."""
        self.request = request
        self.flow = flow
        self.provider = provider
        self.store = store
        # How its answer streams on the wire, should it stream.
        self.framing: Framing = provider.framing(flow.path, request.query)
        self.index = 1  # which recording of this request (sequence replay)
        self.response: web.StreamResponse | None = None
        self.capture: Capture | None = None  # the upstream's streamed answer, as it passes
        # Whether the client has been sent the whole answer: leaving after that is no failure.
        self.delivered = False
        # Whether any of the answer itself (not a keepalive) has gone to the client: an error
        # then goes on the stream it has begun (a JSON array's next element).
        self.opened = False
        self.draining = False  # the rest of the upstream body is read after the client left
        self.resent = False  # a person's resend: never held
        self.describe(body, size)

    @property
    def big(self) -> bool:
        """Whether the request is big enough that work on it is done off the loop."""
        return self.size > OFF_LOOP

    def describe(self, body: Any, size: int) -> None:
        """Take ``body`` (``size`` bytes) as the request, again after an edit."""
        self.body = body
        self.size = size
        self.stream = self.provider.wants_stream_at(body, self.flow.path)
        self.flow.set_request(body, streamed=self.stream, size=size)

    def client_left(self) -> None:
        """End the flow of a client that went away.

        A client that leaves once it has the whole answer (openai-python's sync stream closes
        at ``[DONE]``) has not failed: the flow completes, and a recording still reading the
        upstream's last bytes finishes on its own (the relay drains it).
        """
        flow, capture = self.flow, self.capture
        if flow.is_finished or self.draining:
            return
        if self.delivered:
            summary = None
            if capture is not None and flow.summary is None:
                summary = self.provider.summarize_events(capture.texts())
            flow.complete(summary)
        elif capture is not None and capture.failure is not None:
            flow.fail(f"the upstream reported an error mid-stream: {capture.failure}")
        else:
            flow.fail(CLIENT_GONE)


async def run(big: bool, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)``, in a worker thread when its input is big (see OFF_LOOP)."""
    if big:
        return await asyncio.to_thread(function, *args)
    return function(*args)
