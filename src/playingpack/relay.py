"""The relay: the upstream's answer on its way to the client, recorded as it passes and held
when the pause setting says so.

One loop reads a streamed answer. When the HoldPolicy does not watch the answer it passes the
bytes on as they come; otherwise it passes whole events until the policy holds the answer, keeps
the rest back, and holds the answer once it is complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from playingpack.call import MAX_ANSWER, OFF_LOOP, Call, run
from playingpack.delivery import Delivery, close, write
from playingpack.flows import Flow
from playingpack.framing import is_stream
from playingpack.holding import HoldPolicy
from playingpack.providers import EventKind, Holdable, Summary
from playingpack.recording import Capture, Recorder, SaveStream
from playingpack.replay import decode_object
from playingpack.tapes import Chunk
from playingpack.upstream import FAILURES, reason

logger = logging.getLogger(__name__)


class Relay:
    """Relays an upstream answer to a recorded call; drains the answers of clients that left
    once they had it whole."""

    def __init__(self, holds: HoldPolicy, delivery: Delivery, recorder: Recorder) -> None:
        self.holds = holds
        self.delivery = delivery
        self.recorder = recorder
        self.keepalive_seconds = holds.interceptor.keepalive_seconds
        self._draining: set[asyncio.Task[None]] = set()

    async def answer(
        self,
        call: Call,
        upstream: aiohttp.ClientResponse,
        headers: Mapping[str, str],
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Relay a 2xx answer the client can read (a stream or JSON); ``sent_at`` is when the
        request went (loop time), ``record`` whether a whole answer is saved as its tape."""
        if is_stream(call.framing, upstream.content_type, call.stream):
            return await self._stream(call, upstream, headers, sent_at, record)
        return await self._json(call, upstream, headers, sent_at, record)

    async def pipe(
        self,
        request: web.Request,
        flow: Flow,
        upstream: aiohttp.ClientResponse,
        headers: Mapping[str, str],
    ) -> web.StreamResponse:
        """Copy an answer through as it arrives (unrecorded endpoints and upstream errors)."""
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        await response.prepare(request)
        content = upstream.content
        while True:
            try:
                data = await content.readany()
            except FAILURES as exc:
                flow.fail(f"upstream broke off: {reason(exc)}")
                response.force_close()
                return response
            if not data:
                break
            if not await write(response, data):
                flow.fail("client disconnected before the answer was complete")
                return response
        if upstream.status >= 400:
            flow.fail(f"upstream answered {upstream.status}")
        else:
            flow.complete()
        # After the flow ends: a client that leaves now has had every byte.
        await close(response)
        return response

    async def upstream_error(
        self, call: Call, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        """An upstream error for a client already kept alive: it becomes an error event."""
        try:
            payload = await upstream.read()
        except FAILURES:
            payload = b""
        error = (decode_object(payload) or {}).get("error")
        detail = error.get("message") if isinstance(error, dict) else None
        detail = detail or payload.decode("utf-8", "replace")[:500] or upstream.reason
        return await self.delivery.error(
            call,
            upstream.status,
            f"The upstream answered {upstream.status}: {detail}",
            "upstream_error",
            "upstream_status",
        )

    def drain(self, call: Call, upstream: aiohttp.ClientResponse) -> bool:
        """The client of ``call`` left: when it had the whole streamed answer, read the rest of
        the body in a task (so the tape holds every event the upstream sent), which then
        closes ``upstream``. Returns whether it does."""
        capture = call.capture
        if not call.delivered or capture is None or capture.ended:
            return False
        call.draining = True
        task = asyncio.create_task(self._drain(call, capture, upstream))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)
        return True

    async def close(self) -> None:
        """Stop the drains still reading (at shutdown)."""
        for task in list(self._draining):
            task.cancel()
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)

    async def _drain(self, call: Call, capture: Capture, upstream: aiohttp.ClientResponse) -> None:
        try:
            while data := await upstream.content.readany():
                await capture.feed(data)
        except FAILURES as exc:
            # The answer was already whole (and is on disk); only its tail is missing.
            logger.debug("flow %s: the upstream broke off after the answer: %s", call.flow.id, exc)
        finally:
            upstream.close()
            await capture.end()
            if not call.flow.is_finished:
                call.flow.complete(await capture.summary())

    async def _json(
        self,
        call: Call,
        upstream: aiohttp.ClientResponse,
        headers: Mapping[str, str],
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Read a JSON answer whole: record it, hold it when the policy says so, send it."""
        flow, provider = call.flow, call.provider
        length = upstream.content_length
        if length is not None and length > MAX_ANSWER and call.response is None:
            logger.warning(
                "flow %s: not recorded: the answer is over %d MiB", flow.id, MAX_ANSWER // 1024**2
            )
            return await self.pipe(call.request, flow, upstream, headers)
        try:
            payload = await upstream.read()
        except FAILURES as exc:
            return await self.delivery.error(
                call,
                502,
                f"The upstream broke off its answer: {reason(exc)}.",
                "upstream_error",
                "upstream_disconnected",
            )
        delay = round((asyncio.get_running_loop().time() - sent_at) * 1000)
        chunks: tuple[Chunk, ...] = ()
        answer = None
        if len(payload) > MAX_ANSWER:
            # Only its end showed how big it is: passed on as it came, unread.
            record = False
        else:
            big = len(payload) > OFF_LOOP
            answer = await run(big, decode_object, payload)
            text = await run(big, payload.decode, "utf-8", "replace")
            chunks = (Chunk(text, delay),)
        flow.take_answer(chunks, streamed=False)
        failure = _error_of(answer)
        if failure is not None and call.response is None:
            # A 2xx that carries an error object is a failure: passed on as sent, unrecorded.
            flow.fail(f"the upstream reported an error: {failure}")
            return web.Response(body=payload, status=upstream.status, headers=headers)
        if answer is not None:
            summary = provider.summarize(answer)
            flow.set_summary(summary)
            if record:
                await self.recorder.save(call, upstream.status, False, chunks)
            if not call.resent and self.holds.holds(provider, summary):
                held = await self.holds.hold(call, answer)
                if held is not None:
                    return held
        if call.response is not None:
            # Kept alive with heartbeats while held: the answer goes out as a stream.
            if failure is not None:
                return await self.delivery.error(
                    call,
                    502,
                    f"The upstream reported an error: {failure}",
                    "upstream_error",
                    "upstream_error",
                )
            assert isinstance(provider, Holdable)  # only their calls are held
            return await self.delivery.events(
                call, provider.framed_events(answer or {}, call.body, call.framing)
            )
        flow.complete()
        return web.Response(body=payload, status=upstream.status, headers=headers)

    async def _stream(
        self,
        call: Call,
        upstream: aiohttp.ClientResponse,
        headers: Mapping[str, str],
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Relay an SSE answer while recording it and, when watched, while the pause mode may
        hold it.

        Unwatched, the bytes pass as they come. With ``all`` nothing reaches the client before
        the decision. With ``tool-calls`` events pass as they come until the first tool-call
        event; the opening event waits for the next one, so an answer that calls a tool at once
        reaches the client only after the decision. The rest of the answer is read (and
        recorded) before the flow is held, so the person sees the complete arguments. An
        answer that reports an error is never held. Reads to the end of the upstream body even
        when the client leaves once it has the whole answer, so the tape holds every event.
        """
        flow, status = call.flow, upstream.status
        capture = call.capture = Capture(
            call.provider,
            sent_at,
            call.big,
            self._saver(call, status) if record else None,
            lambda events: self.delivery.tell(call, events),
            call.framing,
        )
        flow.take_answer(capture.chunks, streamed=True)
        watched = None if call.resent else self.holds.watches(call.provider)
        holding = watched is not None and self.holds.holds_everything
        # Heartbeats keep the client waiting while it has had nothing of the answer: where the
        # answer may be held, or where it was kept waiting before the request was sent.
        heartbeat = watched is not None or call.response is not None
        if watched is None:
            await self.delivery.open_stream(call, status, headers)
        unsent: list[str] = []  # events read and kept back
        sent: list[str] = []  # events the client has been sent, when watched
        wrote = False  # whether any of the answer has gone to the client
        client_gone = False
        content = upstream.content
        while True:
            try:
                if heartbeat and (holding or not wrote):
                    data = await self._read_keeping_alive(call, content)
                else:
                    # readany() directly, not iter_any(): this loop runs once per network chunk.
                    data = await content.readany()
            except FAILURES as exc:
                if capture.complete:
                    break
                await capture.end()
                broken = f"the upstream connection broke off mid-stream ({reason(exc)})"
                return await self.delivery.break_stream(call, broken)
            if not data:
                break
            events = await capture.feed(data)
            if client_gone:
                continue
            if watched is None or capture.oversized:
                # As it came. A watched answer that just grew too big to read first lets go of
                # what was kept back: its events, then the bytes of its unfinished event.
                ready = len(unsent)
                if watched is not None and (unsent or capture.spill):
                    data = "".join(unsent).encode() + capture.spill + data
                    capture.spill = b""
                holding = False
                passed = capture.answered
            else:
                before = len(unsent)
                unsent.extend(events)
                if holding:
                    continue
                ready, holding = _ready(watched, events, before, capture.failure is None)
                if not ready:
                    continue
                data = "".join(unsent[:ready]).encode()
                passed = capture.is_delivered_by(len(sent) + ready)
            response = call.response or await self.delivery.open_stream(call, status, headers)
            if not await self._pass(call, response, data, passed):
                if not capture.complete:
                    await capture.end()
                    call.client_left()
                    return response
                client_gone = True
                continue
            wrote = True
            if ready:
                sent.extend(unsent[:ready])
                del unsent[:ready]
        if watched is not None:
            unsent.extend(await capture.end())
        else:
            await capture.end()
        summary = None
        if holding and capture.answered:
            assert watched is not None
            summary = await capture.summary()
            flow.set_summary(summary)
            answer = await run(capture.big, watched.assemble, capture.texts())
            held = await self.holds.hold(call, answer, sent)
            if held is not None:
                return held
        response = await self.delivery.open_stream(call, status, headers)
        rest = "".join(unsent).encode()
        if not client_gone and not await self._pass(call, response, rest, capture.answered):
            call.client_left()
            return response
        return await self._end(call, response, summary)

    async def _end(
        self, call: Call, response: web.StreamResponse, summary: Summary | None
    ) -> web.StreamResponse:
        """Finish a relayed stream whose upstream body has ended; ``summary`` is the answer's,
        when worked out already."""
        flow, capture = call.flow, call.capture
        assert capture is not None
        if capture.failure is not None:
            # The client has the upstream's own error event; nothing to add to it.
            flow.fail(f"the upstream reported an error mid-stream: {capture.failure}")
            await close(response)
            return response
        if capture.oversized:
            # Relayed whole but unread: its end is the end of the body.
            logger.warning(
                "flow %s: not recorded: its answer is over %d MiB, the most playingpack "
                "records; it was passed on unchanged",
                flow.id,
                MAX_ANSWER // 1024**2,
            )
            flow.complete()
            await close(response)
            return response
        if not capture.complete:
            broken = "the upstream stream ended before the answer was complete"
            return await self.delivery.break_stream(call, broken)
        if not call.delivered:
            call.client_left()
            return response
        # The client has the end of its answer before the flow's bookkeeping is done (one that
        # leaves meanwhile has its flow completed by client_left).
        await close(response)
        flow.complete(summary or await capture.summary())
        return response

    async def _pass(
        self, call: Call, response: web.StreamResponse, data: bytes, passed: bool
    ) -> bool:
        """Write ``data`` of the answer, after which the client has it whole when ``passed``;
        False when the client has gone (``call.delivered`` is then as it was)."""
        had_all = call.delivered
        # Set before the write: the bytes reach the transport before it can yield.
        call.delivered = had_all or passed
        try:
            if data:
                call.opened = True
                await response.write(data)
        except ConnectionResetError:
            call.delivered = had_all
            return False
        return True

    async def _read_keeping_alive(self, call: Call, content: aiohttp.StreamReader) -> bytes:
        """The next network chunk; a heartbeat goes to the client every keepalive interval
        meanwhile."""
        while True:
            try:
                return await asyncio.wait_for(content.readany(), self.keepalive_seconds)
            except TimeoutError as exc:
                if isinstance(exc, aiohttp.ServerTimeoutError):
                    raise
                await self.delivery.keepalive(call)

    def _saver(self, call: Call, status: int) -> SaveStream:
        async def save(chunks: tuple[Chunk, ...], again: bool) -> None:
            await self.recorder.save(call, status, True, chunks, again=again)

        return save


def _ready(
    provider: Holdable, events: Sequence[str], before: int, holdable: bool
) -> tuple[int, bool]:
    """How many kept-back events go out now that ``events`` follow the ``before`` kept back
    already: those through the last text event ahead of any tool call. And whether a tool
    call starts the hold (never in an answer that reported an error: ``holdable`` False)."""
    ready = 0
    for position, event in enumerate(events):
        kind = provider.event_kind(event)
        if kind is EventKind.TOOL_CALL and holdable:
            return ready, True
        if kind is EventKind.TEXT:
            ready = before + position + 1
    return ready, False


def _error_of(answer: dict[str, Any] | None) -> str | None:
    """The message of the error object a JSON answer carries instead of an answer, if any."""
    error = answer.get("error") if answer is not None else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error.get("type") or "error")
    return error if isinstance(error, str) and error else None
