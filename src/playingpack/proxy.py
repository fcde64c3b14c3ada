"""The /v1/* handlers: one request's path from arrival to the last byte sent to the client."""

from __future__ import annotations

import asyncio
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
            if not flow.is_finished:
                self.flows.fail(flow, "client disconnected")
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
            if not flow.is_finished:
                self.flows.fail(flow, "client disconnected")
            raise

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
                if self.flows.has_listeners:
                    await play(chunks, self._teller(call, response), timed=timed)
                else:
                    await play(chunks, response.write, timed=timed)
                await response.write_eof()
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
                watched = self.settings.pause is not PauseMode.OFF and call.provider.holdable
                if not watched and call.response is None:
                    return await self._relay_stream(call, upstream, headers, sent_at, record)
                return await self._relay_held(call, upstream, headers, sent_at, record)
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
                events = call.provider.to_events(answer or {}, call.body)
                await call.response.write("".join(events).encode())
                await call.response.write_eof()
                self.flows.transition(flow, State.COMPLETE)
                return call.response
            self.flows.transition(flow, State.COMPLETE)
            return web.Response(body=payload, status=upstream.status, headers=headers)
        finally:
            upstream.close()

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
            try:
                await response.write(data)
            except ConnectionResetError:
                self.flows.fail(flow, "client disconnected")
                return response
        await response.write_eof()
        if upstream.status >= 400:
            self.flows.fail(flow, f"upstream answered {upstream.status}")
        else:
            self.flows.transition(flow, State.COMPLETE)
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
        self,
        call: _Call,
        upstream: aiohttp.ClientResponse,
        headers: Any,
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Forward a 2xx SSE answer chunk by chunk while cutting it into events for the tape."""
        flow, provider = call.flow, call.provider
        response = await call.open_stream(upstream.status, headers)
        capture = _Capture(self, call, upstream.status, sent_at, record)
        chunks = capture.chunks
        content = upstream.content
        while True:
            # readany() directly, not iter_any(): this loop runs once per network chunk.
            try:
                data = await content.readany()
            except _UPSTREAM_FAILURES as exc:
                if capture.complete:
                    break
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(call, broken)
            if not data:
                break
            capture.feed(data)
            try:
                await response.write(data)
            except ConnectionResetError:
                self.flows.fail(flow, "client disconnected")
                return response
        if not capture.complete:
            failure = provider.failure([chunk.c for chunk in chunks[-3:]])
            if failure is not None:
                # The client has the upstream's own error event; nothing to add to it.
                await response.write_eof()
                self.flows.fail(flow, f"the upstream reported an error mid-stream: {failure}")
                return response
            broken = "the upstream stream ended before the answer was complete"
            return await self._break_stream(call, broken)
        await response.write_eof()
        flow.summary = provider.summarize_events([chunk.c for chunk in chunks])
        self.flows.transition(flow, State.COMPLETE)
        return response

    async def _relay_held(
        self,
        call: _Call,
        upstream: aiohttp.ClientResponse,
        headers: Any,
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Forward a 2xx SSE answer while the pause mode may hold it.

        With ``all`` nothing reaches the client before the decision. With ``tool-calls`` events
        pass as they come until the first tool-call event; the opening event waits for the next
        one, so an answer that calls a tool at once reaches the client only after the decision.
        The rest of the answer is read (and recorded) before the flow is held, so the person
        sees the complete arguments.
        """
        flow, provider = call.flow, call.provider
        holding = self.settings.pause is PauseMode.ALL
        capture = _Capture(self, call, upstream.status, sent_at, record)
        chunks = capture.chunks
        unsent: list[str] = []
        sent: list[str] = []
        content = upstream.content
        keepalive = self.interceptor.keepalive_seconds
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
            for position, event in enumerate(events):
                kind = provider.event_kind(event)
                if kind is EventKind.TOOL_CALL:
                    holding = True
                    unsent.extend(events[position:])
                    break
                unsent.append(event)
                if kind is EventKind.TEXT:
                    response = await call.open_stream(upstream.status, headers)
                    if not await _write(response, "".join(unsent).encode()):
                        self.flows.fail(flow, "client disconnected")
                        return response
                    sent.extend(unsent)
                    unsent.clear()
        if not capture.complete:
            failure = provider.failure([chunk.c for chunk in chunks[-3:]])
            if failure is not None:
                # Not held: there is no answer to decide on. The client gets what the
                # upstream sent, its error event included.
                response = await call.open_stream(upstream.status, headers)
                if await _write(response, "".join(unsent).encode()):
                    await response.write_eof()
                self.flows.fail(flow, f"the upstream reported an error mid-stream: {failure}")
                return response
            broken = "the upstream stream ended before the answer was complete"
            return await self._break_stream(call, broken)
        flow.summary = provider.summarize_events([chunk.c for chunk in chunks])
        if holding:
            answer = provider.assemble([chunk.c for chunk in chunks])
            resolution = await self.interceptor.hold(flow, Stage.RESPONSE, call.keepalive, answer)
            flow.decision = resolution.action
            if resolution.reply is not None:
                return await self._inject(call, resolution, sent)
            self.flows.transition(flow, State.FLUSH)
        response = await call.open_stream(upstream.status, headers)
        if not await _write(response, "".join(unsent).encode()):
            self.flows.fail(flow, "client disconnected")
            return response
        await response.write_eof()
        self.flows.transition(flow, State.COMPLETE)
        return response

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
                if await _write(call.response, event.encode()):
                    await call.response.write_eof()
                response = call.response
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
            if await _write(response, "".join(events).encode()):
                await response.write_eof()
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
        if await _write(call.response, event.encode()):
            await call.response.write_eof()
        self.flows.fail(call.flow, message, status)
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
    ) -> None:
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
    """A streamed answer as it passes: cut into timed events for the flow and the tape, which
    is saved the moment the answer is complete, before its last bytes go out (so a client that
    has seen the end of the answer can rely on the tape being there)."""

    __slots__ = (
        "call",
        "chunks",
        "complete",
        "last",
        "loop",
        "proxy",
        "record",
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
        call.flow.chunks = self.chunks
        call.flow.answer_streamed = True

    def feed(self, data: bytes) -> list[str]:
        """Take the next network chunk; returns the events it completed."""
        events = self.splitter.feed(data)
        if events:
            now = self.loop.time()
            self.chunks.append(Chunk(events[0], round((now - self.last) * 1000)))
            self.chunks.extend(Chunk(event, 0) for event in events[1:])
            self.last = now
            if not self.complete and self.call.provider.is_complete(events):
                self.complete = True
                if self.record:
                    self.proxy._save(self.call, self.status, True, tuple(self.chunks))
            if self.proxy.flows.has_listeners:
                self.proxy._tell(self.call, events)
        return events


class _Call:
    """One recorded-endpoint request on its way: its flow, its parsed body, and the response
    once one has been started (a held stream is kept alive before its answer is known)."""

    __slots__ = ("body", "flow", "index", "provider", "request", "response", "store", "stream")

    def __init__(
        self, request: web.Request, flow: Flow, provider: Provider, body: Any, store: TapeStore
    ) -> None:
        self.request = request
        self.flow = flow
        self.provider = provider
        self.store = store
        self.index = 1  # which recording of this request (sequence replay)
        self.response: web.StreamResponse | None = None
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


def _unscoped(path: str, scope: str | None) -> str:
    """``path`` without its ``/t/<scope>`` prefix."""
    return path if scope is None else path[len(scope) + 3 :]


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
