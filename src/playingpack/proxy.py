"""The /v1/* handlers: one request's path from arrival to the last byte sent to the client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import msgspec
from aiohttp import web

from playingpack.config import PauseMode, RecordMode, ReplayTiming
from playingpack.errors import TapeError
from playingpack.flows import Flow, FlowLog, Source, State
from playingpack.hashing import InvalidJSON, UnsupportedJSON, parse_body
from playingpack.interceptor import Interceptor, Resolution, Stage
from playingpack.ledger import Miss, TapeLedger
from playingpack.providers import EventKind, Provider, Summary
from playingpack.replay import InvalidReplay, Replays, decode_object
from playingpack.settings import Settings
from playingpack.sse import EventSplitter
from playingpack.store import TapeStore, TapeStores, is_scope
from playingpack.tapes import Chunk, Tape, play
from playingpack.upstream import (
    BadTarget,
    Upstream,
    client_path,
    failure_text,
    forwarded_headers,
    is_decoded,
    returned_headers,
)

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_KEEPALIVE = b": playingpack: held, waiting for a decision\n\n"
_BUFFERED = 8 * 1024**2
# Bodies, events and tapes bigger than this are parsed, hashed, encoded and written in a worker
# thread: on the event loop they would hold up every other request for tens of milliseconds.
OFF_LOOP = 1024**2
# The biggest request body recorded. Its handling needs a few times as much memory for a moment
# (parsed, hashed, written as a tape), and each of those steps holds the interpreter for a time
# that grows with the body. Bigger requests are passed through unrecorded (like uploads).
MAX_RECORDED_BODY = 32 * 1024**2
_PIECE = 256 * 1024  # how much of a big answer is written at a time
# The biggest answer recorded. A bigger one is passed on byte for byte, unread and unrecorded:
# reading it (joining, decoding, parsing, writing it as JSON) holds the interpreter long enough
# to stall every other request, and so would replaying it.
MAX_ANSWER = 16 * 1024**2
_UPSTREAM_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str,
    *,
    retry: bool | None = None,
    param: str | None = None,
) -> web.Response:
    """An OpenAI-style error. ``retry=False`` tells the SDKs not to retry (``x-should-retry``)."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    headers = {"x-should-retry": "true" if retry else "false"} if retry is not None else None
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


class Proxy:
    """Serves recorded endpoints from tapes or the upstream, and passes everything else through."""

    def __init__(
        self,
        settings: Settings,
        stores: TapeStores,
        upstream: Upstream,
        flows: FlowLog,
        interceptor: Interceptor,
        ledger: TapeLedger,
        *,
        anthropic: Upstream | None = None,
    ) -> None:
        """``anthropic`` is where requests of Anthropic's SDKs (they carry an
        ``anthropic-version`` header) go, when not to ``upstream``."""
        self.settings = settings
        self.stores = stores
        self.ledger = ledger
        # How many times each request has been seen this run, per tapes folder (sequences).
        self._seen: dict[tuple[str, str], int] = {}
        self.upstream = upstream
        self.anthropic = anthropic
        self.flows = flows
        self.interceptor = interceptor
        self._replays = Replays()
        self._draining: set[asyncio.Task[None]] = set()

    async def recorded(self, request: web.Request, provider: Provider) -> web.StreamResponse:
        """A request to an endpoint whose answers are recorded and replayed.

        Under ``/t/<scope>/...`` the tapes live in the ``<scope>`` subfolder of the tapes
        folder; the prefix is not part of the tape key nor of what the upstream sees.
        """
        scope = request.match_info.get("scope")
        path = _unscoped(request.path, scope)
        flow = self.flows.open(request.method, path)
        flow.scope = scope
        flow.request_headers = request.headers
        flow.provider = provider
        call: _Call | None = None
        try:
            if scope is not None and not is_scope(scope):
                return self._fail(
                    flow,
                    400,
                    f"{scope!r} cannot name a tapes folder: use letters, digits, '.', '-' and "
                    "'_' (at most 200, not starting with '.' and without '..').",
                    "invalid_request_error",
                    "invalid_scope",
                    provider=provider,
                )
            try:
                target = client_path(request.raw_path, scope)
            except BadTarget as exc:
                return self._refuse(flow, exc, provider)
            known = request.content_length
            limit = f"{MAX_RECORDED_BODY // 1024**2} MiB"
            replay_only = self.settings.record is RecordMode.REPLAY_ONLY
            if known is not None and known > MAX_RECORDED_BODY and not replay_only:
                # Forwarded as it comes, unread: reading it would hold up every other request.
                logger.warning("flow %s: not recorded: the request body is over %s", flow.id, limit)
                return await self._forward(
                    request, flow, target, request.content, None, record=False
                )
            try:
                if known is not None and known > MAX_RECORDED_BODY:
                    raise web.HTTPRequestEntityTooLarge(MAX_RECORDED_BODY, known)
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._fail(
                    flow,
                    413,
                    f"The request body is over {limit}, the most playingpack records or "
                    f"replays for {flow.path}. "
                    + (
                        "In replay-only mode there is no tape for it: send a smaller request."
                        if replay_only
                        else "A bigger one is passed through unrecorded only when it comes "
                        "with a Content-Length: send it with one, or send a smaller request."
                    ),
                    "invalid_request_error",
                    "request_too_large",
                    provider=provider,
                )
            try:
                body = await _run(len(raw) > OFF_LOOP, parse_body, raw)
            except InvalidJSON as exc:
                return self._fail(
                    flow,
                    400,
                    f"The request body is not valid JSON: {exc}. "
                    "Send the request as a JSON object.",
                    "invalid_request_error",
                    "invalid_json",
                    provider=provider,
                )
            except UnsupportedJSON as exc:
                return self._fail(
                    flow,
                    400,
                    f"playingpack cannot record this request: {exc}. Send numbers a double can "
                    "hold and keep the body's nesting within that limit.",
                    "invalid_request_error",
                    "unsupported_json",
                    provider=provider,
                )
            if not isinstance(body, dict):
                return self._fail(
                    flow,
                    400,
                    f"The request body must be a JSON object, got {_kind(body)}.",
                    "invalid_request_error",
                    "invalid_json",
                    provider=provider,
                )
            call = _Call(request, flow, provider, body, self.stores.get(scope))
            call.size = flow.size = len(raw)
            tape: Tape | None = None
            if self.settings.pause_requests and provider.holdable:
                resolution = await self.interceptor.hold(
                    flow, Stage.REQUEST, call.keepalive if call.stream else None
                )
                flow.decision = resolution.action
                if resolution.reply is not None:
                    return await self._inject(call, resolution)
                if resolution.request is not None:
                    call.describe(resolution.request)
                    raw = msgspec.json.encode(resolution.request)
                    call.size = flow.size = len(raw)
                tape = resolution.tape
            mode = self.settings.record
            if tape is None and mode is not RecordMode.OFF:
                key = flow.key = await _run(call.big, provider.key, call.body, flow.path)
                if self.settings.sequence:
                    seen = (str(call.store.directory), key)
                    call.index = self._seen[seen] = self._seen.get(seen, 0) + 1
                try:
                    if mode is not RecordMode.REFRESH:
                        tape = await self._load(call, key)
                except TapeError as exc:
                    logger.warning("%s", exc)
                    return await self._error(
                        call,
                        500,
                        f"{exc}. Fix the file or delete it to record the answer again "
                        "(it is not overwritten on its own).",
                        "tape_error",
                        "tape_corrupt",
                        retry=False,
                    )
                if tape is None and mode is RecordMode.REPLAY_ONLY:
                    return await self._miss(call)
            if tape is not None:
                flow.key = tape.key
                return await self._replay(call, tape)
            record = mode is RecordMode.AUTO or mode is RecordMode.REFRESH
            return await self._forward(request, flow, target, raw, call, record=record)
        except asyncio.CancelledError:
            self._client_left(flow, call)
            raise
        except ConnectionResetError:
            # Found gone by a write (the headers, say) before aiohttp cancelled the handler.
            self._client_left(flow, call)
            return call.response if call is not None and call.response else _nobody()
        except Exception as exc:
            if not flow.is_finished:
                self.flows.fail(flow, f"playingpack internal error: {_reason(exc)}")
            raise

    async def passthrough(self, request: web.Request) -> web.StreamResponse:
        """Any other /v1/* request: forwarded unchanged and streamed back, never recorded."""
        scope = request.match_info.get("scope")
        flow = self.flows.open(request.method, _unscoped(request.path, scope))
        flow.scope = scope
        flow.request_headers = request.headers
        try:
            try:
                target = client_path(request.raw_path, scope)
            except BadTarget as exc:
                return self._refuse(flow, exc, None)
            data: Any = None
            if request.body_exists:
                known = request.content_length
                # Small bodies go with a Content-Length, as sent; large uploads stream through.
                small = known is not None and known <= _BUFFERED
                data = await request.read() if small else request.content
            return await self._forward(request, flow, target, data, None, record=False)
        except asyncio.CancelledError:
            self._client_left(flow, None)
            raise
        except ConnectionResetError:
            self._client_left(flow, None)
            return _nobody()
        except Exception as exc:
            if not flow.is_finished:
                self.flows.fail(flow, f"playingpack internal error: {_reason(exc)}")
            raise

    def _client_left(self, flow: Flow, call: _Call | None) -> None:
        """End the flow of a client that went away (its handler is being cancelled).

        A client that leaves once it has the whole answer (openai-python's sync stream closes
        at ``[DONE]``) has not failed: the flow completes, and a recording still reading the
        upstream's last bytes finishes on its own (``_drain``).
        """
        if flow.is_finished or (call is not None and call.draining):
            return
        if call is not None and call.delivered:
            capture = call.capture
            if capture is not None and flow.summary is None:
                flow.summary = call.provider.summarize_events([c.c for c in capture.chunks])
            self.flows.transition(flow, State.COMPLETE)
            return
        failure = call.capture.failure if call is not None and call.capture else None
        if failure is not None:
            self.flows.fail(flow, f"the upstream reported an error mid-stream: {failure}")
        else:
            self.flows.fail(flow, "client disconnected before the answer was complete")

    async def _replay(self, call: _Call, tape: Tape) -> web.StreamResponse:
        flow = call.flow
        try:
            served = await self._replays.prepared(tape, call.provider, call.body, call.stream)
        except InvalidReplay as exc:
            problem = TapeError(call.store.path(tape.key, call.index), str(exc))
            logger.warning("%s", problem)
            return await self._error(
                call,
                500,
                f"{problem}. Fix the file or delete it to record the answer again.",
                "tape_error",
                "tape_corrupt",
                retry=False,
            )
        self.ledger.tape_replayed(self.stores.name_of(call.store, tape.key, call.index))
        flow.source = Source.TAPE
        flow.status = tape.status
        self.flows.transition(flow, State.REPLAY)
        flow.summary = served.summary
        flow.chunks = tape.chunks
        flow.answer_streamed = tape.streamed
        if self.interceptor.holds(call.provider, served.summary):
            resolution = await self.interceptor.hold(
                flow, Stage.RESPONSE, call.keepalive if call.stream else None, served.answer
            )
            flow.decision = resolution.action
            if resolution.reply is not None:
                return await self._inject(call, resolution)
            self.flows.transition(flow, State.FLUSH)
        timed = self.settings.replay_timing is ReplayTiming.ORIGINAL
        headers = {"X-Playingpack-Source": "tape", "X-Playingpack-Tape": tape.key}
        response: web.StreamResponse
        if call.stream:
            chunks = served.stream_chunks(call.body)
            if timed or call.response is not None:
                response = await call.open_stream(tape.status, {**_SSE_HEADERS, **headers})
                write = self._teller(call, response) if self.flows.has_listeners else None
                # The client has the answer once its last event is out: what follows (a
                # comment, the end of the body) may find it gone without that being a failure.
                whole = _answer_length(call.provider, chunks)
                try:
                    await play(chunks[:whole], write or response.write, timed=timed)
                    call.delivered = True
                    await play(chunks[whole:], write or response.write, timed=timed)
                except ConnectionResetError:
                    self._client_left(flow, call)
                    return response
                self.flows.transition(flow, State.COMPLETE)
                await _close(response)
                return response
            else:
                # One write of the whole stream: many times faster than one per event.
                body = served.stream_body(call.body)
                if len(body) > OFF_LOOP:
                    return await self._send_big(
                        call, body, tape.status, {**_SSE_HEADERS, **headers}
                    )
                response = web.Response(
                    body=body, status=tape.status, headers={**_SSE_HEADERS, **headers}
                )
        else:
            if timed and tape.total_delay_ms:
                await asyncio.sleep(tape.total_delay_ms / 1000)
            body = served.json_body()
            headers["Content-Type"] = "application/json"
            if len(body) > OFF_LOOP:
                return await self._send_big(call, body, tape.status, headers)
            response = web.Response(body=body, status=tape.status, headers=headers)
        self.flows.transition(flow, State.COMPLETE)
        return response

    async def _send_big(
        self, call: _Call, body: bytes, status: int, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Send a whole answer too big for one write (its copy into the socket's buffer would
        hold up the loop) in pieces, and complete the flow."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(call.request)
        if not await _write_in_pieces(response, body):
            return self._left(call, response)
        call.delivered = True
        self.flows.transition(call.flow, State.COMPLETE)
        await _close(response)
        return response

    def _teller(
        self, call: _Call, response: web.StreamResponse
    ) -> Callable[[bytes | memoryview], Awaitable[None]]:
        """A write function that also tells listeners the text of each replayed chunk (a
        piece of a chunk too big to read on the loop is only sent)."""

        async def write(data: bytes | memoryview) -> None:
            if isinstance(data, bytes):
                text = call.provider.streamed_text((data.decode("utf-8"),))
                if text:
                    self.flows.streamed_text(call.flow, text)
            await response.write(data)

        return write

    async def _forward(
        self,
        request: web.Request,
        flow: Flow,
        target: tuple[str, str],
        data: Any,
        call: _Call | None,
        *,
        record: bool,
    ) -> web.StreamResponse:
        flow.source = Source.UPSTREAM
        self.flows.transition(flow, State.CONNECT)
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        # The path as the client sent it (checked by client_path), not the re-quoted parse.
        path, query = target
        destination = self.upstream
        if self.anthropic is not None and "anthropic-version" in request.headers:
            destination = self.anthropic
        headers = forwarded_headers(request.headers)
        if data is request.content and request.content_length is not None:
            # Streamed through with the length it came with, not re-framed as chunks.
            headers["Content-Length"] = str(request.content_length)
        try:
            upstream = await destination.send(request.method, path, query, headers, data)
        except _UPSTREAM_FAILURES as exc:
            url = destination.url_for(path)
            setting = "anthropic_upstream" if destination is self.anthropic else "upstream"
            message = (
                f"playingpack could not get an answer from the upstream: "
                f"{failure_text(exc, url)} The upstream is set by "
                f"--{setting.replace('_', '-')} (or PLAYINGPACK_{setting.upper()})."
            )
            if call is not None:
                return await self._error(
                    call, 502, message, "upstream_error", "upstream_unreachable"
                )
            return self._fail(flow, 502, message, "upstream_error", "upstream_unreachable")
        handed_over = False
        try:
            flow.status = upstream.status
            self.flows.transition(flow, State.STREAMING)
            headers = returned_headers(upstream.headers)
            flow.response_headers = headers
            streamed = upstream.content_type == "text/event-stream"
            # A body in an encoding aiohttp cannot undo is passed on as it came, unread.
            readable = is_decoded(upstream.headers)
            if call is None or not 200 <= upstream.status < 300 or not readable:
                if call is not None and call.response is not None:
                    return await self._upstream_error(call, upstream)
                return await self._pipe(request, flow, upstream, headers)
            if streamed:
                call.capture = _Capture(self, call, upstream.status, sent_at, record)
                watched = self.settings.pause is not PauseMode.OFF and call.provider.holdable
                if not watched and call.response is None:
                    return await self._relay_stream(call, upstream, headers)
                return await self._relay_held(call, upstream, headers)
            length = upstream.content_length
            if length is not None and length > MAX_ANSWER and call.response is None:
                logger.warning(
                    "flow %s: not recorded: the answer is over %d MiB",
                    flow.id,
                    MAX_ANSWER // 1024**2,
                )
                return await self._pipe(request, flow, upstream, headers)
            try:
                payload = await upstream.read()
            except _UPSTREAM_FAILURES as exc:
                return await self._error(
                    call,
                    502,
                    f"The upstream broke off its answer: {_reason(exc)}.",
                    "upstream_error",
                    "upstream_disconnected",
                )
            delay = round((loop.time() - sent_at) * 1000)
            chunks: tuple[Chunk, ...] = ()
            answer = None
            if len(payload) > MAX_ANSWER:
                # Only its end showed how big it is: passed on as it came, unread.
                record = False
            else:
                big = len(payload) > OFF_LOOP
                answer = await _run(big, decode_object, payload)
                text = await _run(big, payload.decode, "utf-8", "replace")
                chunks = (Chunk(text, delay),)
            flow.chunks = chunks
            failure = _error_of(answer)
            if failure is not None and call.response is None:
                # A 2xx that carries an error object is a failure: passed on as sent, unrecorded.
                self.flows.fail(flow, f"the upstream reported an error: {failure}")
                return web.Response(body=payload, status=upstream.status, headers=headers)
            if answer is not None:
                flow.summary = call.provider.summarize(answer)
                if record:
                    await self._save(call, upstream.status, False, chunks)
                if self.interceptor.holds(call.provider, flow.summary):
                    resolution = await self.interceptor.hold(
                        flow, Stage.RESPONSE, call.keepalive if call.stream else None, answer
                    )
                    flow.decision = resolution.action
                    if resolution.reply is not None:
                        return await self._inject(call, resolution)
                    self.flows.transition(flow, State.FLUSH)
            if call.response is not None:
                # Kept alive with heartbeats while held: the answer goes out as a stream.
                if failure is not None:
                    return await self._error(
                        call,
                        502,
                        f"The upstream reported an error: {failure}",
                        "upstream_error",
                        "upstream_error",
                    )
                events = call.provider.to_events(answer or {}, call.body)
                call.delivered = True
                if not await _write(call.response, "".join(events).encode()):
                    call.delivered = False
                    self.flows.fail(flow, "client disconnected before the answer was complete")
                    return call.response
                await _close(call.response)
                self.flows.transition(flow, State.COMPLETE)
                return call.response
            self.flows.transition(flow, State.COMPLETE)
            return web.Response(body=payload, status=upstream.status, headers=headers)
        except asyncio.CancelledError:
            if call is not None and call.delivered and call.capture and not call.capture.ended:
                # The client has the whole answer and left: record the rest of the body.
                handed_over = call.draining = True
                task = asyncio.create_task(self._drain(call, upstream))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
            raise
        finally:
            if not handed_over:
                upstream.close()

    async def _drain(self, call: _Call, upstream: aiohttp.ClientResponse) -> None:
        """Read what is left of an answer whose client has left, so that the tape holds
        every event the upstream sent; then complete the flow."""
        capture = call.capture
        assert capture is not None
        try:
            while data := await upstream.content.readany():
                await capture.feed(data)
        except _UPSTREAM_FAILURES as exc:
            # The answer was already whole (and is on disk); only its tail is missing.
            logger.debug("flow %s: the upstream broke off after the answer: %s", call.flow.id, exc)
        finally:
            upstream.close()
            await capture.end()
            flow = call.flow
            if not flow.is_finished:
                flow.summary = await capture.summary()
                self.flows.transition(flow, State.COMPLETE)

    async def close(self) -> None:
        """Stop recordings still draining the answers of clients that left (at shutdown)."""
        for task in list(self._draining):
            task.cancel()
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)

    async def _pipe(
        self,
        request: web.Request,
        flow: Flow,
        upstream: aiohttp.ClientResponse,
        headers: Any,
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
            except _UPSTREAM_FAILURES as exc:
                self.flows.fail(flow, f"upstream broke off: {_reason(exc)}")
                response.force_close()
                return response
            if not data:
                break
            if not await _write(response, data):
                self.flows.fail(flow, "client disconnected before the answer was complete")
                return response
        if upstream.status >= 400:
            self.flows.fail(flow, f"upstream answered {upstream.status}")
        else:
            self.flows.transition(flow, State.COMPLETE)
        # After the flow ends: a client that leaves now has had every byte.
        await _close(response)
        return response

    async def _upstream_error(
        self, call: _Call, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        """An upstream error for a client already kept alive: it becomes an error event."""
        try:
            payload = await upstream.read()
        except _UPSTREAM_FAILURES:
            payload = b""
        error = (decode_object(payload) or {}).get("error")
        detail = error.get("message") if isinstance(error, dict) else None
        detail = detail or payload.decode("utf-8", "replace")[:500] or upstream.reason
        return await self._error(
            call,
            upstream.status,
            f"The upstream answered {upstream.status}: {detail}",
            "upstream_error",
            "upstream_status",
        )

    async def _relay_stream(
        self, call: _Call, upstream: aiohttp.ClientResponse, headers: Any
    ) -> web.StreamResponse:
        """Forward a 2xx SSE answer chunk by chunk while cutting it into events for the tape.

        Reads to the end of the upstream body even when the client leaves once it has the
        whole answer, so the tape holds every event that was sent.
        """
        capture = call.capture
        assert capture is not None
        response = await call.open_stream(upstream.status, headers)
        content = upstream.content
        client_gone = False
        while True:
            # readany() directly, not iter_any(): this loop runs once per network chunk.
            try:
                data = await content.readany()
            except _UPSTREAM_FAILURES as exc:
                if capture.complete:
                    break
                await capture.end()
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(call, broken)
            if not data:
                break
            await capture.feed(data)
            if client_gone:
                continue
            had_all = call.delivered
            # Set before the write: the bytes reach the transport before it can yield.
            call.delivered = had_all or capture.answered
            if not await _write(response, data):
                client_gone = True
                call.delivered = had_all
                if not capture.complete:
                    await capture.end()
                    return self._left(call, response)
        await capture.end()
        return await self._end_stream(call, response)

    async def _end_stream(self, call: _Call, response: web.StreamResponse) -> web.StreamResponse:
        """Finish a relayed stream whose upstream body has ended."""
        flow, capture = call.flow, call.capture
        assert capture is not None
        if capture.failure is not None:
            # The client has the upstream's own error event; nothing to add to it.
            self.flows.fail(flow, f"the upstream reported an error mid-stream: {capture.failure}")
            await _close(response)
            return response
        if capture.oversized:
            # Relayed whole but unread: its end is the end of the body.
            logger.warning(
                "flow %s: not recorded: its answer is over %d MiB, the most playingpack "
                "records; it was passed on unchanged",
                flow.id,
                MAX_ANSWER // 1024**2,
            )
            self.flows.transition(flow, State.COMPLETE)
            await _close(response)
            return response
        if not capture.complete:
            broken = "the upstream stream ended before the answer was complete"
            return await self._break_stream(call, broken)
        if not call.delivered:
            return self._left(call, response)
        flow.summary = await capture.summary()
        self.flows.transition(flow, State.COMPLETE)
        await _close(response)
        return response

    def _left(self, call: _Call, response: web.StreamResponse) -> web.StreamResponse:
        """End the flow of a client found gone by a failed write."""
        self._client_left(call.flow, call)
        return response

    async def _relay_held(
        self, call: _Call, upstream: aiohttp.ClientResponse, headers: Any
    ) -> web.StreamResponse:
        """Forward a 2xx SSE answer while the pause mode may hold it.

        With ``all`` nothing reaches the client before the decision. With ``tool-calls`` events
        pass as they come until the first tool-call event; the opening event waits for the next
        one, so an answer that calls a tool at once reaches the client only after the decision.
        The rest of the answer is read (and recorded) before the flow is held, so the person
        sees the complete arguments. An answer that reports an error is never held.
        """
        flow, provider, capture = call.flow, call.provider, call.capture
        assert capture is not None
        holding = self.settings.pause is PauseMode.ALL
        unsent: list[str] = []
        sent: list[str] = []
        content = upstream.content
        keepalive = self.interceptor.keepalive_seconds
        client_gone = False
        while True:
            try:
                if holding or not sent:
                    # The client has had nothing yet: heartbeats keep it waiting meanwhile.
                    try:
                        data = await asyncio.wait_for(content.readany(), keepalive)
                    except TimeoutError as exc:
                        if isinstance(exc, aiohttp.ServerTimeoutError):
                            raise
                        await call.keepalive()
                        continue
                else:
                    data = await content.readany()
            except _UPSTREAM_FAILURES as exc:
                if capture.complete:
                    break
                await capture.end()
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(call, broken)
            if not data:
                break
            events = await capture.feed(data)
            if capture.oversized:
                # Too big to read: what was kept back goes out, then the rest as it comes.
                spilled, capture.spill = capture.spill, b""
                if client_gone:
                    continue
                response = await call.open_stream(upstream.status, headers)
                if not await _write(response, "".join(unsent).encode() + spilled + data):
                    await capture.end()
                    return self._left(call, response)
                unsent.clear()
                holding = False
                continue
            if not events:
                continue
            if holding:
                unsent.extend(events)
                continue
            if client_gone:
                continue
            for position, event in enumerate(events):
                kind = provider.event_kind(event)
                if kind is EventKind.TOOL_CALL and capture.failure is None:
                    holding = True
                    unsent.extend(events[position:])
                    break
                unsent.append(event)
                if kind is EventKind.TEXT:
                    response = await call.open_stream(upstream.status, headers)
                    had_all = call.delivered
                    call.delivered = had_all or capture.is_delivered_by(len(sent) + len(unsent))
                    if not await _write(response, "".join(unsent).encode()):
                        call.delivered = had_all
                        if not capture.complete:
                            await capture.end()
                            return self._left(call, response)
                        client_gone = True
                        break
                    sent.extend(unsent)
                    unsent.clear()
        unsent.extend(await capture.end())
        if capture.failure is None and capture.complete:
            flow.summary = await capture.summary()
            if holding:
                answer = await _run(capture.big, provider.assemble, capture.texts())
                resolution = await self.interceptor.hold(
                    flow, Stage.RESPONSE, call.keepalive, answer
                )
                flow.decision = resolution.action
                if resolution.reply is not None:
                    return await self._inject(call, resolution, sent)
                self.flows.transition(flow, State.FLUSH)
        response = await call.open_stream(upstream.status, headers)
        if client_gone:
            return await self._end_stream(call, response)
        had_all = call.delivered
        call.delivered = had_all or capture.answered
        if not await _write(response, "".join(unsent).encode()):
            call.delivered = had_all
            return self._left(call, response)
        return await self._end_stream(call, response)

    def _tell(self, call: _Call, events: list[str]) -> None:
        text = call.provider.streamed_text(events)
        if text:
            self.flows.streamed_text(call.flow, text)

    async def _inject(
        self, call: _Call, resolution: Resolution, sent: Sequence[str] = ()
    ) -> web.StreamResponse:
        """Deliver a mock (or an edited answer) in the wire format the client asked for."""
        flow, provider = call.flow, call.provider
        reply = resolution.reply
        assert reply is not None
        flow.source = Source.MOCK
        self.flows.transition(flow, State.INJECT)
        headers = {"X-Playingpack-Source": "mock"}
        response: web.StreamResponse
        if reply.error is not None:
            error = reply.error
            flow.status = error.status
            # What the client got is the error, not the real answer held before it.
            flow.summary = None
            message, type_, code = error.message, error.type, error.code
            if call.response is not None:
                event = provider.error_event(message, type_, code)
                flow.answer, flow.chunks, flow.answer_streamed = None, (Chunk(event, 0),), True
                response = call.response
                call.delivered = True
                if not await _write(response, event.encode()):
                    call.delivered = False
                    return self._left(call, response)
            else:
                body = provider.error_json(message, type_, code)
                payload = _dumps(body)
                flow.answer, flow.chunks, flow.answer_streamed = body, (Chunk(payload, 0),), False
                retry = {"x-should-retry": "true" if error.retry else "false"}
                flow.response_headers = {"Content-Type": "application/json", **headers, **retry}
                response = web.Response(
                    text=payload,
                    status=error.status,
                    content_type="application/json",
                    headers={**headers, **retry},
                )
            self.flows.transition(flow, State.COMPLETE)
            await _close(response)
            return response
        answer = reply.answer
        assert answer is not None
        flow.answer = answer
        flow.summary = provider.summarize(answer)
        flow.status = 200
        chunks: tuple[Chunk, ...]
        if call.stream:
            if sent:
                events = provider.continue_events(answer, call.body, sent)
            else:
                events = provider.to_events(answer, call.body)
            chunks = tuple(Chunk(event, 0) for event in events)
            if call.response is None:
                flow.response_headers = {**_SSE_HEADERS, **headers}
            response = await call.open_stream(200, {**_SSE_HEADERS, **headers})
            call.delivered = True
            if not await _write(response, "".join(events).encode()):
                call.delivered = False
                return self._left(call, response)
        else:
            payload = _dumps(answer)
            chunks = (Chunk(payload, 0),)
            flow.response_headers = {"Content-Type": "application/json", **headers}
            response = web.Response(text=payload, content_type="application/json", headers=headers)
        flow.chunks = chunks
        flow.answer_streamed = call.stream
        if resolution.save:
            flow.key = flow.key or provider.key(call.body, flow.path)
            await self._save(call, 200, call.stream, chunks)
        self.flows.transition(flow, State.COMPLETE)
        await _close(response)
        return response

    async def _error(
        self,
        call: _Call,
        status: int,
        message: str,
        type_: str,
        code: str,
        *,
        retry: bool | None = None,
    ) -> web.StreamResponse:
        """An error for the client: a JSON error, or an error event when the client has been
        kept alive with a stream already."""
        if call.response is None:
            return self._fail(
                call.flow, status, message, type_, code, retry=retry, provider=call.provider
            )
        event = call.provider.error_event(message, type_, code)
        sent = await _write(call.response, event.encode())
        self.flows.fail(call.flow, message, status)
        if sent:
            await _close(call.response)
        return call.response

    async def _break_stream(self, call: _Call, broken: str) -> web.StreamResponse:
        """End a stream the upstream left incomplete with an error the SDK raises."""
        return await self._error(
            call,
            502,
            f"playingpack: {broken}; the answer is incomplete and was not recorded. "
            "Retry the request.",
            "upstream_error",
            "upstream_disconnected",
        )

    async def _save(
        self,
        call: _Call,
        status: int,
        streamed: bool,
        chunks: tuple[Chunk, ...],
        *,
        again: bool = False,
    ) -> None:
        """Save the tape of ``call``; ``again`` replaces the one saved for it a moment ago
        (more events arrived after the end of the answer) without counting a new recording."""
        flow, body = call.flow, call.body
        assert flow.key is not None
        tape = Tape(
            key=flow.key,
            endpoint=flow.path,
            request=body,
            status=status,
            chunks=chunks,
            streamed=streamed,
            model=flow.model or "",
        )
        big = call.big or sum(len(chunk.c) for chunk in chunks) > OFF_LOOP
        try:
            await _run(big, call.store.save, tape, call.index)
        except Exception as exc:
            # The client's answer never depends on the tape: it still gets every byte.
            logger.warning("could not save tape %s: %s", flow.key, _reason(exc))
            return
        if not again:
            self.ledger.tape_recorded(self.stores.name_of(call.store, flow.key, call.index))

    def _fail(
        self,
        flow: Flow,
        status: int,
        message: str,
        type_: str,
        code: str,
        *,
        retry: bool | None = None,
        provider: Provider | None = None,
    ) -> web.Response:
        """End ``flow`` in ERROR with an error body in the client's wire format."""
        self.flows.fail(flow, message, status)
        if provider is None:
            return error_response(status, message, type_, code, retry=retry)
        headers = {"x-should-retry": "true" if retry else "false"} if retry is not None else None
        return web.json_response(
            provider.error_json(message, type_, code), status=status, headers=headers, dumps=_dumps
        )

    def _refuse(self, flow: Flow, exc: BadTarget, provider: Provider | None) -> web.Response:
        """A 400 for a request target that is not forwarded (see client_path)."""
        message = f"playingpack does not forward this request: {exc}"
        return self._fail(
            flow, 400, message, "invalid_request_error", "invalid_path", provider=provider
        )

    async def _load(self, call: _Call, key: str) -> Tape | None:
        """The tape for this call; in a sequence beyond its recordings, replay-only replays the
        last one (so a folder recorded without sequences keeps working)."""
        tape = await call.store.fetch(key, call.index)
        if tape is None and call.index > 1 and self.settings.record is RecordMode.REPLAY_ONLY:
            while tape is None and call.index > 1:
                call.index -= 1
                tape = await call.store.fetch(key, call.index)
        return tape

    async def _miss(self, call: _Call) -> web.StreamResponse:
        """Replay-only and no tape: a 404 that says which request, where its tape would be,
        the nearest recording and how the two requests differ."""
        flow = call.flow
        assert flow.key is not None
        name = self.stores.name_of(call.store, flow.key, call.index)
        nearest = await asyncio.to_thread(call.store.nearest, call.body, flow.path)
        if nearest is not None:
            if flow.scope is not None:
                nearest = dataclasses.replace(nearest, name=f"{flow.scope}/{nearest.name}")
            explanation = nearest.describe()
        else:
            explanation = f"No request to {flow.path} has been recorded in that folder."
        model = f" (model {flow.model})" if flow.model else ""
        message = (
            f"No tape for this POST {flow.path} request{model}: tape {name} was not found in "
            f"{self.stores.directory}, and the record mode is replay-only, so the upstream was "
            f"not called. {explanation} Record it by running once with --record auto (or "
            "PLAYINGPACK_RECORD=auto; under pytest, --playingpack-record auto), then commit "
            "the new tape."
        )
        self.ledger.tape_missing(
            Miss(flow.method, flow.path, flow.model, flow.key, name, explanation)
        )
        return await self._error(
            call, 404, message, "tape_not_found", "tape_not_found", retry=False
        )


class _Capture:
    """A streamed answer as it passes: cut into timed events for the flow and the tape.

    The tape is saved as soon as the answer is complete, before those bytes go out (so a
    client that has seen the end of the answer can rely on the tape being there), and saved
    again when more events follow, so that it ends with the last byte of the body. An answer
    that reports an error, or never completes, is never saved.
    """

    __slots__ = (
        "answer_end",
        "big",
        "call",
        "chunks",
        "complete",
        "ended",
        "failure",
        "last",
        "loop",
        "oversized",
        "proxy",
        "received",
        "record",
        "saved",
        "spill",
        "splitter",
        "status",
    )

    def __init__(
        self, proxy: Proxy, call: _Call, status: int, sent_at: float, record: bool
    ) -> None:
        self.proxy = proxy
        self.call = call
        self.status = status
        self.record = record
        self.loop = asyncio.get_running_loop()
        self.splitter = EventSplitter()
        self.chunks: list[Chunk] = []
        self.last = sent_at
        self.complete = False
        self.ended = False
        self.failure: str | None = None  # the error the upstream reported in the stream
        self.answer_end = 0  # how many chunks make the whole answer, once complete
        self.saved = 0  # how many chunks the tape on disk holds
        self.big = call.big  # whether reading the answer's events is done off the loop
        self.oversized = False  # the answer went over MAX_ANSWER: the rest is not read
        self.spill = b""  # the bytes of the unfinished event kept back until then
        self.received = 0  # bytes of the answer so far
        call.flow.chunks = self.chunks
        call.flow.answer_streamed = True

    @property
    def answered(self) -> bool:
        """Whether the events so far make a whole, successful answer."""
        return self.complete and self.failure is None

    def is_delivered_by(self, events: int) -> bool:
        """Whether a client sent the first ``events`` events has the whole answer."""
        return self.answered and events >= self.answer_end

    async def feed(self, data: bytes) -> list[str]:
        """Take the next network chunk; returns the events it completed."""
        if self.oversized:
            return []
        self.received += len(data)
        if self.received > MAX_ANSWER:
            self.oversized = True
            self.record = False
            self.spill = self.splitter.pending
            self.splitter = EventSplitter()
            return []
        if self.splitter.size > OFF_LOOP:
            # An event that big is joined and decoded off the loop when it ends.
            events = await asyncio.to_thread(self.splitter.feed, data)
        else:
            events = self.splitter.feed(data)
        if events:
            await self._add(events)
        return events

    def texts(self) -> list[str]:
        """The answer's event texts so far."""
        return [chunk.c for chunk in self.chunks]

    async def summary(self) -> Summary:
        """What the events so far say: model, usage, tool calls."""
        return await _run(self.big, self.call.provider.summarize_events, self.texts())

    async def end(self) -> list[str]:
        """The upstream body has ended (or the relay stops reading it): keep any bytes after
        its last blank line as a last chunk, and save. Returns that chunk, if any."""
        if self.ended:
            return []
        self.ended = True
        rest = self.splitter.pending
        if not rest:
            await self._save()
            return []
        tail = [rest.decode("utf-8", "replace")]
        await self._add(tail)
        return tail

    async def _add(self, events: list[str]) -> None:
        now = self.loop.time()
        self.chunks.append(Chunk(events[0], round((now - self.last) * 1000)))
        self.chunks.extend(Chunk(event, 0) for event in events[1:])
        self.last = now
        big = sum(map(len, events)) > OFF_LOOP
        self.big = self.big or big
        if big:
            failure, ends = await asyncio.to_thread(self._read, events)
        else:
            failure, ends = self._read(events)
        if self.failure is None:
            self.failure = failure
        if not self.complete and ends is not None:
            self.complete = True
            self.answer_end = len(self.chunks) - len(events) + ends
        await self._save()
        if self.proxy.flows.has_listeners and not big:
            # Text too big to read on the loop reaches listeners with the finished flow.
            self.proxy._tell(self.call, events)

    def _read(self, events: list[str]) -> tuple[str | None, int | None]:
        """The error these events report, and how many of them it takes to complete the
        answer (None when they do not)."""
        provider = self.call.provider
        failure = provider.failure(events) if self.failure is None else None
        ends = None
        if not self.complete and provider.is_complete(events):
            ends = next(
                (n + 1 for n, event in enumerate(events) if provider.is_complete((event,))),
                len(events),
            )
        return failure, ends

    async def _save(self) -> None:
        if self.record and self.answered and self.saved < len(self.chunks):
            saved = len(self.chunks)
            await self.proxy._save(
                self.call, self.status, True, tuple(self.chunks), again=self.saved > 0
            )
            self.saved = saved


class _Call:
    """One recorded-endpoint request on its way: its flow, its parsed body, and the response
    once one has been started (a held stream is kept alive before its answer is known)."""

    __slots__ = (
        "body",
        "capture",
        "delivered",
        "draining",
        "flow",
        "index",
        "provider",
        "request",
        "response",
        "size",
        "store",
        "stream",
    )

    def __init__(
        self, request: web.Request, flow: Flow, provider: Provider, body: Any, store: TapeStore
    ) -> None:
        self.request = request
        self.flow = flow
        self.provider = provider
        self.store = store
        self.index = 1  # which recording of this request (sequence replay)
        self.response: web.StreamResponse | None = None
        self.capture: _Capture | None = None  # the upstream's streamed answer, as it passes
        # Whether the client has been sent the whole answer: leaving after that is no failure.
        self.delivered = False
        self.draining = False  # the rest of the upstream body is read after the client left
        self.size = 0  # the request body's length in bytes
        self.describe(body)

    @property
    def big(self) -> bool:
        """Whether the request is big enough that work on it is done off the loop."""
        return self.size > OFF_LOOP

    def describe(self, body: Any) -> None:
        """Take ``body`` as the request (again, after an edit)."""
        self.body = body
        self.stream = self.provider.wants_stream(body)
        flow = self.flow
        flow.request = body
        model = body.get("model")
        flow.model = model if isinstance(model, str) else None
        flow.streamed = self.stream

    async def open_stream(self, status: int, headers: Any) -> web.StreamResponse:
        """The streamed response, started now unless it already is."""
        if self.response is None:
            self.response = web.StreamResponse(status=status, headers=headers)
            await self.response.prepare(self.request)
        return self.response

    async def keepalive(self) -> None:
        """Send an SSE comment, which SDKs skip, so their read timeouts do not fire."""
        response = await self.open_stream(200, _SSE_HEADERS)
        await response.write(_KEEPALIVE)


async def _write(response: web.StreamResponse, data: bytes | memoryview) -> bool:
    """Send ``data`` to the client; False when the client has gone away."""
    try:
        await response.write(data)
    except ConnectionResetError:
        return False
    return True


async def _write_in_pieces(response: web.StreamResponse, data: bytes) -> bool:
    """Send ``data`` a slice at a time, each written once the last has gone; False when the
    client has gone away."""
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        if not await _write(response, view[start : start + _PIECE]):
            return False
    return True


async def _close(response: web.StreamResponse) -> None:
    """End a streamed response (a whole one is ended by aiohttp once returned); a client
    already gone has had everything there was."""
    if response.prepared:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()


async def _run(big: bool, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)``, in a worker thread when its input is big (see OFF_LOOP)."""
    if big:
        return await asyncio.to_thread(function, *args)
    return function(*args)


def _error_of(answer: dict[str, Any] | None) -> str | None:
    """The message of the error object a JSON answer carries instead of an answer, if any."""
    error = answer.get("error") if answer is not None else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error.get("type") or "error")
    return error if isinstance(error, str) and error else None


def _answer_length(provider: Provider, chunks: Sequence[Chunk]) -> int:
    """How many of ``chunks`` it takes to have the whole answer."""
    for position, chunk in enumerate(chunks):
        if provider.is_complete((chunk.c,)):
            return position + 1
    return len(chunks)


def _unscoped(path: str, scope: str | None) -> str:
    """``path`` without its ``/t/<scope>`` prefix."""
    return path if scope is None else path[len(scope) + 3 :]


def _nobody() -> web.StreamResponse:
    """The response for a client that is gone: aiohttp finds the connection closed and sends
    nothing."""
    return web.Response(status=499)


def _dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
