"""The /v1/* handlers: one request's path from arrival to the last byte sent to the client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from playingpack.config import PauseMode, RecordMode, ReplayTiming
from playingpack.errors import TapeError
from playingpack.flows import Flow, FlowLog, Source, State
from playingpack.hashing import InvalidJSON, parse_body
from playingpack.interceptor import Interceptor, Resolution, Stage
from playingpack.ledger import Miss, TapeLedger
from playingpack.providers import EventKind, Provider
from playingpack.replay import Replays, decode_object
from playingpack.settings import Settings
from playingpack.sse import EventSplitter
from playingpack.store import TapeStore, TapeStores, is_scope
from playingpack.tapes import Chunk, Tape, play
from playingpack.upstream import Upstream, forwarded_headers, returned_headers

logger = logging.getLogger(__name__)

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_KEEPALIVE = b": playingpack: held, waiting for a decision\n\n"
_BUFFERED = 8 * 1024**2
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
        raw = await request.read()
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
                body = parse_body(raw)
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
                tape = resolution.tape
            mode = self.settings.record
            if tape is None and mode is not RecordMode.OFF:
                key = flow.key = provider.key(call.body, flow.path)
                if self.settings.sequence:
                    seen = (str(call.store.directory), key)
                    call.index = self._seen[seen] = self._seen.get(seen, 0) + 1
                try:
                    if mode is not RecordMode.REFRESH:
                        tape = self._load(call, key)
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
            return await self._forward(request, flow, raw, call, record=record)
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
            data: Any = None
            if request.body_exists:
                known = request.content_length
                # Small bodies go with a Content-Length, as sent; large uploads stream through.
                small = known is not None and known <= _BUFFERED
                data = await request.read() if small else request.content
            return await self._forward(request, flow, data, None, record=False)
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
        self.ledger.tape_replayed(self.stores.name_of(call.store, tape.key, call.index))
        flow.source = Source.TAPE
        flow.status = tape.status
        self.flows.transition(flow, State.REPLAY)
        served = self._replays.of(tape, call.provider)
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
                response = web.Response(
                    body=served.stream_body(call.body),
                    status=tape.status,
                    headers={**_SSE_HEADERS, **headers},
                )
        else:
            if timed and tape.total_delay_ms:
                await asyncio.sleep(tape.total_delay_ms / 1000)
            response = web.Response(
                body=served.json_body(),
                status=tape.status,
                content_type="application/json",
                headers=headers,
            )
        self.flows.transition(flow, State.COMPLETE)
        return response

    def _teller(
        self, call: _Call, response: web.StreamResponse
    ) -> Callable[[bytes], Awaitable[None]]:
        """A write function that also tells listeners the text of each replayed chunk."""

        async def write(data: bytes) -> None:
            text = call.provider.streamed_text((data.decode("utf-8"),))
            if text:
                self.flows.streamed_text(call.flow, text)
            await response.write(data)

        return write

    async def _forward(
        self,
        request: web.Request,
        flow: Flow,
        data: Any,
        call: _Call | None,
        *,
        record: bool,
    ) -> web.StreamResponse:
        flow.source = Source.UPSTREAM
        self.flows.transition(flow, State.CONNECT)
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        # raw_path is the target exactly as the client sent it; the parsed URL re-quotes it.
        path, _, query = request.raw_path.partition("?")
        path = _unscoped(path, flow.scope)
        target = self.upstream
        if self.anthropic is not None and "anthropic-version" in request.headers:
            target = self.anthropic
        try:
            upstream = await target.send(
                request.method, path, query, forwarded_headers(request.headers), data
            )
        except _UPSTREAM_FAILURES as exc:
            url = target.url_for(flow.path)
            setting = "anthropic_upstream" if target is self.anthropic else "upstream"
            message = (
                f"Could not reach the upstream at {url}: {_reason(exc)}. Check that it "
                f"is running and that --{setting.replace('_', '-')} (or "
                f"PLAYINGPACK_{setting.upper()}) points at it."
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
            if call is None or not 200 <= upstream.status < 300:
                if call is not None and call.response is not None:
                    return await self._upstream_error(call, upstream)
                return await self._pipe(request, flow, upstream, headers)
            if streamed:
                call.capture = _Capture(self, call, upstream.status, sent_at, record)
                watched = self.settings.pause is not PauseMode.OFF and call.provider.holdable
                if not watched and call.response is None:
                    return await self._relay_stream(call, upstream, headers)
                return await self._relay_held(call, upstream, headers)
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
            answer = decode_object(payload)
            chunks = (Chunk(payload.decode("utf-8", "replace"), delay),)
            flow.chunks = chunks
            failure = _error_of(answer)
            if failure is not None and call.response is None:
                # A 2xx that carries an error object is a failure: passed on as sent, unrecorded.
                self.flows.fail(flow, f"the upstream reported an error: {failure}")
                return web.Response(body=payload, status=upstream.status, headers=headers)
            if answer is not None:
                flow.summary = call.provider.summarize(answer)
                if record:
                    self._save(call, upstream.status, False, chunks)
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
                capture.feed(data)
        except _UPSTREAM_FAILURES as exc:
            # The answer was already whole (and is on disk); only its tail is missing.
            logger.debug("flow %s: the upstream broke off after the answer: %s", call.flow.id, exc)
        finally:
            upstream.close()
            capture.end()
            flow = call.flow
            if not flow.is_finished:
                flow.summary = call.provider.summarize_events([c.c for c in capture.chunks])
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
                capture.end()
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(call, broken)
            if not data:
                break
            capture.feed(data)
            if client_gone:
                continue
            had_all = call.delivered
            # Set before the write: the bytes reach the transport before it can yield.
            call.delivered = had_all or capture.answered
            if not await _write(response, data):
                client_gone = True
                call.delivered = had_all
                if not capture.complete:
                    capture.end()
                    return self._left(call, response)
        capture.end()
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
        if not capture.complete:
            broken = "the upstream stream ended before the answer was complete"
            return await self._break_stream(call, broken)
        if not call.delivered:
            return self._left(call, response)
        flow.summary = call.provider.summarize_events([chunk.c for chunk in capture.chunks])
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
                capture.end()
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(call, broken)
            if not data:
                break
            events = capture.feed(data)
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
                            capture.end()
                            return self._left(call, response)
                        client_gone = True
                        break
                    sent.extend(unsent)
                    unsent.clear()
        unsent.extend(capture.end())
        if capture.failure is None and capture.complete:
            flow.summary = provider.summarize_events([chunk.c for chunk in capture.chunks])
            if holding:
                answer = provider.assemble([chunk.c for chunk in capture.chunks])
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
            self._save(call, 200, call.stream, chunks)
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

    def _save(
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
        try:
            call.store.save(tape, call.index)
        except OSError as exc:
            logger.warning("could not save tape %s: %s", flow.key, exc)
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

    def _load(self, call: _Call, key: str) -> Tape | None:
        """The tape for this call; in a sequence beyond its recordings, replay-only replays the
        last one (so a folder recorded without sequences keeps working)."""
        tape = call.store.load(key, call.index)
        if tape is None and call.index > 1 and self.settings.record is RecordMode.REPLAY_ONLY:
            while tape is None and call.index > 1:
                call.index -= 1
                tape = call.store.load(key, call.index)
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
        "call",
        "chunks",
        "complete",
        "ended",
        "failure",
        "last",
        "loop",
        "proxy",
        "record",
        "saved",
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
        call.flow.chunks = self.chunks
        call.flow.answer_streamed = True

    @property
    def answered(self) -> bool:
        """Whether the events so far make a whole, successful answer."""
        return self.complete and self.failure is None

    def is_delivered_by(self, events: int) -> bool:
        """Whether a client sent the first ``events`` events has the whole answer."""
        return self.answered and events >= self.answer_end

    def feed(self, data: bytes) -> list[str]:
        """Take the next network chunk; returns the events it completed."""
        events = self.splitter.feed(data)
        if events:
            self._add(events)
        return events

    def end(self) -> list[str]:
        """The upstream body has ended (or the relay stops reading it): keep any bytes after
        its last blank line as a last chunk, and save. Returns that chunk, if any."""
        if self.ended:
            return []
        self.ended = True
        rest = self.splitter.pending
        if not rest:
            self._save()
            return []
        tail = [rest.decode("utf-8", "replace")]
        self._add(tail)
        return tail

    def _add(self, events: list[str]) -> None:
        now = self.loop.time()
        self.chunks.append(Chunk(events[0], round((now - self.last) * 1000)))
        self.chunks.extend(Chunk(event, 0) for event in events[1:])
        self.last = now
        provider = self.call.provider
        if self.failure is None:
            self.failure = provider.failure(events)
        if not self.complete and provider.is_complete(events):
            self.complete = True
            first = len(self.chunks) - len(events)
            self.answer_end = first + next(
                (n + 1 for n, event in enumerate(events) if provider.is_complete((event,))),
                len(events),
            )
        self._save()
        if self.proxy.flows.has_listeners:
            self.proxy._tell(self.call, events)

    def _save(self) -> None:
        if self.record and self.answered and self.saved < len(self.chunks):
            self.proxy._save(self.call, self.status, True, tuple(self.chunks), again=self.saved > 0)
            self.saved = len(self.chunks)


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
        self.describe(body)

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


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    """Send ``data`` to the client; False when the client has gone away."""
    try:
        await response.write(data)
    except ConnectionResetError:
        return False
    return True


async def _close(response: web.StreamResponse) -> None:
    """End a streamed response (a whole one is ended by aiohttp once returned); a client
    already gone has had everything there was."""
    if response.prepared:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()


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
