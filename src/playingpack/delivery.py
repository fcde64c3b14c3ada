"""Delivery: an answer the proxy has whole (a replay, a mock or an edited answer, an error)
written to the client as JSON or as SSE, and the heartbeats that keep a held stream's client
waiting.

Every write to a client that may have gone is guarded: a failed write ends the flow (see
Call.client_left) instead of raising. Bodies too big for one write go out in pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web

from playingpack.call import OFF_LOOP, Call
from playingpack.config import ReplayTiming
from playingpack.errors import error_response, json_error
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow
from playingpack.framing import stream_headers
from playingpack.interceptor import Resolution
from playingpack.providers import Holdable, Provider
from playingpack.recording import Recorder
from playingpack.replay import Replay
from playingpack.settings import Settings
from playingpack.tapes import Chunk, Tape, play

_PIECE = 256 * 1024  # how much of a big answer is written at a time


class Delivery:
    """Writes whole answers and errors to the client of a call, and ends its flow."""

    def __init__(self, settings: Settings, flows: FlowLog, recorder: Recorder) -> None:
        self.settings = settings
        self.flows = flows
        self.recorder = recorder

    async def open_stream(
        self, call: Call, status: int, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        """The streamed response of ``call``, started now unless it already is."""
        if call.response is None:
            call.response = web.StreamResponse(status=status, headers=headers)
            await call.response.prepare(call.request)
        return call.response

    async def keepalive(self, call: Call) -> None:
        """Send what the client's format skips (an SSE comment), so its read timeouts do not
        fire; nothing for a format that has no such thing."""
        data = call.provider.keepalive(call.framing, call.body)
        if data is not None:
            response = await self.open_stream(call, 200, stream_headers(call.framing))
            await response.write(data)

    def keepalive_of(self, call: Call) -> Callable[[], Awaitable[None]] | None:
        """What keeps the client of ``call`` waiting while it is held: heartbeats for a
        streaming client whose format has them, nothing for one waiting for JSON."""
        if not call.stream or call.provider.keepalive(call.framing, call.body) is None:
            return None
        return functools.partial(self.keepalive, call)

    def tell(self, call: Call, events: Sequence[str]) -> None:
        """Tell listeners the answer text ``events`` carry (worked out only for listeners)."""
        if self.flows.has_listeners:
            text = call.provider.streamed_text(events)
            if text:
                self.flows.streamed_text(call.flow, text)

    async def replay(self, call: Call, tape: Tape, served: Replay) -> web.StreamResponse:
        """Send ``tape`` as the client asked for it, in one write unless timed (or kept
        alive already), and complete the flow."""
        flow = call.flow
        timed = self.settings.replay_timing is ReplayTiming.ORIGINAL
        headers = {"X-Playingpack-Source": "tape", "X-Playingpack-Tape": tape.key}
        if call.stream:
            headers = {**stream_headers(call.framing), **headers}
            chunks = served.stream_chunks(call.body, call.framing)
            if timed or call.response is not None:
                return await self._play(call, tape.status, headers, chunks, timed)
            # One write of the whole stream: many times faster than one per event.
            body = served.stream_body(call.body, call.framing)
        else:
            if timed and tape.total_delay_ms:
                await asyncio.sleep(tape.total_delay_ms / 1000)
            body = served.json_body()
            headers["Content-Type"] = "application/json"
        if len(body) > OFF_LOOP:
            return await self._send_big(call, body, tape.status, headers)
        response = web.Response(body=body, status=tape.status, headers=headers)
        flow.complete()
        return response

    async def inject(
        self, call: Call, resolution: Resolution, sent: Sequence[str] = ()
    ) -> web.StreamResponse:
        """Deliver a mock (or an edited answer) in the wire format the client asked for;
        ``sent`` are the events of the real answer the client has had already."""
        flow, provider, injection = call.flow, call.provider, resolution.injection
        assert injection is not None
        assert isinstance(provider, Holdable)  # only their calls are held
        headers = {"X-Playingpack-Source": "mock"}
        response: web.StreamResponse
        if injection.error is not None:
            error = injection.error
            message, type_, code = error.message, error.type, error.code
            # What the client gets is the error, not the real answer held before it.
            if call.response is not None:
                event = provider.framed_error_event(
                    message, type_, code, call.framing, opened=call.opened
                )
                chunk = Chunk(event, 0)
                flow.inject(error.status, None, (chunk,), streamed=True, summary=None)
                response = call.response
                if not await self._finish(call, response, event.encode()):
                    return response
            else:
                body = provider.error_json(message, type_, code)
                payload = dumps(body)
                retry = {"x-should-retry": "true" if error.retry else "false"}
                flow.inject(
                    error.status,
                    body,
                    (Chunk(payload, 0),),
                    streamed=False,
                    summary=None,
                    headers={"Content-Type": "application/json", **headers, **retry},
                )
                response = web.Response(
                    text=payload,
                    status=error.status,
                    content_type="application/json",
                    headers={**headers, **retry},
                )
            flow.complete()
            await close(response)
            return response
        answer = injection.answer
        assert answer is not None
        summary = provider.summarize(answer)
        chunks: tuple[Chunk, ...]
        if call.stream:
            if sent:
                events = provider.framed_continue_events(answer, call.body, sent, call.framing)
            else:
                events = provider.framed_events(answer, call.body, call.framing)
            chunks = tuple(Chunk(event, 0) for event in events)
            opened = {**stream_headers(call.framing), **headers}
            flow.inject(
                200,
                answer,
                chunks,
                streamed=True,
                summary=summary,
                headers=opened if call.response is None else None,
            )
            response = await self.open_stream(call, 200, opened)
            if not await self._finish(call, response, "".join(events).encode()):
                return response
        else:
            payload = dumps(answer)
            chunks = (Chunk(payload, 0),)
            flow.inject(
                200,
                answer,
                chunks,
                streamed=False,
                summary=summary,
                headers={"Content-Type": "application/json", **headers},
            )
            response = web.Response(text=payload, content_type="application/json", headers=headers)
        if resolution.save:
            flow.set_key(flow.key or provider.key(call.body, flow.path))
            await self.recorder.save(call, 200, call.stream, chunks)
        flow.complete()
        await close(response)
        return response

    async def events(self, call: Call, events: Sequence[str]) -> web.StreamResponse:
        """Send the whole answer as ``events`` to a client kept alive with heartbeats (its
        stream is open already), and complete the flow."""
        response = call.response
        assert response is not None
        if await self._finish(call, response, "".join(events).encode()):
            call.flow.complete()
            await close(response)
        return response

    async def error(
        self,
        call: Call,
        status: int,
        message: str,
        type_: str,
        code: str,
        *,
        retry: bool | None = None,
    ) -> web.StreamResponse:
        """An error for the client: a JSON error, or an error event when the client has been
        kept alive with a stream already. The flow ends in ERROR."""
        if call.response is None:
            return fail(
                call.flow, status, message, type_, code, retry=retry, provider=call.provider
            )
        event = call.provider.framed_error_event(
            message, type_, code, call.framing, opened=call.opened
        )
        sent = await write(call.response, event.encode())
        call.flow.fail(message, status)
        if sent:
            await close(call.response)
        return call.response

    async def break_stream(self, call: Call, broken: str) -> web.StreamResponse:
        """End a stream the upstream left incomplete with an error the SDK raises."""
        return await self.error(
            call,
            502,
            f"playingpack: {broken}; the answer is incomplete and was not recorded. "
            "Retry the request.",
            "upstream_error",
            "upstream_disconnected",
        )

    async def _play(
        self,
        call: Call,
        status: int,
        headers: Mapping[str, str],
        chunks: Sequence[Chunk],
        timed: bool,
    ) -> web.StreamResponse:
        """Replay ``chunks`` one write each (with their delays when ``timed``)."""
        response = await self.open_stream(call, status, headers)
        write: Callable[[bytes | memoryview], Awaitable[None]] = response.write
        if self.flows.has_listeners:
            write = self._teller(call, response)
        # The client has the answer once its last event is out: what follows (a comment, the
        # end of the body) may find it gone without that being a failure.
        whole = _answer_length(call.provider, chunks)
        try:
            await play(chunks[:whole], write, timed=timed)
            call.delivered = True
            await play(chunks[whole:], write, timed=timed)
        except ConnectionResetError:
            call.client_left()
            return response
        call.flow.complete()
        await close(response)
        return response

    def _teller(
        self, call: Call, response: web.StreamResponse
    ) -> Callable[[bytes | memoryview], Awaitable[None]]:
        """A write function that also tells listeners the text of each replayed chunk (a
        piece of a chunk too big to read on the loop is only sent)."""

        async def write(data: bytes | memoryview) -> None:
            if isinstance(data, bytes):
                self.tell(call, (data.decode("utf-8"),))
            await response.write(data)

        return write

    async def _send_big(
        self, call: Call, body: bytes, status: int, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        """Send a whole answer too big for one write (its copy into the socket's buffer would
        hold up the loop) in pieces, and complete the flow."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(call.request)
        if not await write_in_pieces(response, body):
            call.client_left()
            return response
        call.delivered = True
        call.flow.complete()
        await close(response)
        return response

    async def _finish(self, call: Call, response: web.StreamResponse, data: bytes) -> bool:
        """Write the rest of the answer; False, with the flow ended, when the client has
        gone."""
        call.delivered = True
        if await write(response, data):
            return True
        call.delivered = False
        call.client_left()
        return False


def fail(
    flow: Flow,
    status: int,
    message: str,
    type_: str,
    code: str,
    *,
    retry: bool | None = None,
    provider: Provider | None = None,
) -> web.Response:
    """End ``flow`` in ERROR with an error body in the client's wire format (OpenAI's when
    the endpoint has none)."""
    flow.fail(message, status)
    if provider is None:
        return error_response(status, message, type_, code, retry=retry)
    return json_error(provider.error_json(message, type_, code), status, retry=retry)


async def write(response: web.StreamResponse, data: bytes | memoryview) -> bool:
    """Send ``data`` to the client; False when the client has gone away."""
    try:
        await response.write(data)
    except ConnectionResetError:
        return False
    return True


async def write_in_pieces(response: web.StreamResponse, data: bytes) -> bool:
    """Send ``data`` a slice at a time, each written once the last has gone; False when the
    client has gone away."""
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        if not await write(response, view[start : start + _PIECE]):
            return False
    return True


async def close(response: web.StreamResponse) -> None:
    """End a streamed response (a whole one is ended by aiohttp once returned); a client
    already gone has had everything there was."""
    if response.prepared:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()


def nobody() -> web.StreamResponse:
    """The response for a client that is gone: aiohttp finds the connection closed and sends
    nothing."""
    return web.Response(status=499)


def dumps(value: Any) -> str:
    """``value`` as JSON text."""
    return msgspec.json.encode(value).decode()


def _answer_length(provider: Provider, chunks: Sequence[Chunk]) -> int:
    """How many of ``chunks`` it takes to have the whole answer."""
    for position, chunk in enumerate(chunks):
        if provider.is_complete((chunk.c,)):
            return position + 1
    return len(chunks)
