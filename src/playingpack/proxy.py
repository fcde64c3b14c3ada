"""The /v1/* handlers: one request's path from arrival to the last byte sent to the client."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from playingpack.config import RecordMode, ReplayTiming
from playingpack.errors import TapeError
from playingpack.flows import Flow, FlowLog, Source, State
from playingpack.hashing import InvalidJSON, parse_body
from playingpack.providers import Provider
from playingpack.settings import Settings
from playingpack.sse import EventSplitter
from playingpack.store import TapeStore
from playingpack.tapes import Chunk, Tape, play
from playingpack.upstream import Upstream, forwarded_headers, returned_headers

logger = logging.getLogger(__name__)

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_BUFFERED = 8 * 1024**2
_UPSTREAM_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def error_response(
    status: int, message: str, type_: str, code: str, *, retry: bool | None = None
) -> web.Response:
    """An OpenAI-style error. ``retry=False`` tells the SDKs not to retry (``x-should-retry``)."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": None}}
    headers = {"x-should-retry": "true" if retry else "false"} if retry is not None else None
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


class Proxy:
    """Serves recorded endpoints from tapes or the upstream, and passes everything else through."""

    def __init__(
        self, settings: Settings, store: TapeStore, upstream: Upstream, flows: FlowLog
    ) -> None:
        self.settings = settings
        self.store = store
        self.upstream = upstream
        self.flows = flows
        # What a loaded tape turns into for each kind of client, worked out once per tape.
        self._replays: weakref.WeakKeyDictionary[Tape, _Served] = weakref.WeakKeyDictionary()

    async def recorded(self, request: web.Request, provider: Provider) -> web.StreamResponse:
        """A request to an endpoint whose answers are recorded and replayed."""
        raw = await request.read()
        flow = self.flows.open(request.method, request.path)
        try:
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
                )
            if not isinstance(body, dict):
                return self._fail(
                    flow,
                    400,
                    f"The request body must be a JSON object, got {_kind(body)}.",
                    "invalid_request_error",
                    "invalid_json",
                )
            flow.request = body
            model = body.get("model")
            flow.model = model if isinstance(model, str) else None
            mode = self.settings.record
            if mode is not RecordMode.OFF:
                flow.key = provider.key(body)
                try:
                    tape = self.store.load(flow.key)
                except TapeError as exc:
                    logger.warning("%s", exc)
                    return self._fail(
                        flow,
                        500,
                        f"{exc}. Fix the file or delete it to record the answer again "
                        "(it is not overwritten on its own).",
                        "tape_error",
                        "tape_corrupt",
                        retry=False,
                    )
                if tape is not None:
                    return await self._replay(request, flow, provider, tape, body)
                if mode is RecordMode.REPLAY_ONLY:
                    return self._fail(
                        flow,
                        404,
                        self._miss_message(flow, request.path),
                        "tape_not_found",
                        "tape_not_found",
                        retry=False,
                    )
            return await self._forward(
                request, flow, raw, provider, body, record=mode is RecordMode.AUTO
            )
        except asyncio.CancelledError:
            if not flow.is_finished:
                self.flows.fail(flow, "client disconnected")
            raise

    async def passthrough(self, request: web.Request) -> web.StreamResponse:
        """Any other /v1/* request: forwarded unchanged and streamed back, never recorded."""
        flow = self.flows.open(request.method, request.path)
        try:
            data: Any = None
            if request.body_exists:
                known = request.content_length
                # Small bodies go with a Content-Length, as sent; large uploads stream through.
                small = known is not None and known <= _BUFFERED
                data = await request.read() if small else request.content
            return await self._forward(request, flow, data, None, None, record=False)
        except asyncio.CancelledError:
            if not flow.is_finished:
                self.flows.fail(flow, "client disconnected")
            raise

    async def _replay(
        self, request: web.Request, flow: Flow, provider: Provider, tape: Tape, body: Any
    ) -> web.StreamResponse:
        flow.source = Source.TAPE
        flow.status = tape.status
        self.flows.transition(flow, State.REPLAY)
        timed = self.settings.replay_timing is ReplayTiming.ORIGINAL
        served = self._served(tape, provider)
        headers = {"X-Playingpack-Source": "tape", "X-Playingpack-Tape": tape.key}
        if provider.wants_stream(body):
            chunks = served.stream_chunks(body)
            if timed:
                response = web.StreamResponse(
                    status=tape.status, headers={**_SSE_HEADERS, **headers}
                )
                await response.prepare(request)
                await play(chunks, response.write, timed=True)
                await response.write_eof()
            else:
                # One write of the whole stream: many times faster than one per event.
                response = web.Response(
                    body=served.stream_body(body),
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
        flow.summary = served.summary
        self.flows.transition(flow, State.COMPLETE)
        return response

    async def _forward(
        self,
        request: web.Request,
        flow: Flow,
        data: Any,
        provider: Provider | None,
        body: Any,
        *,
        record: bool,
    ) -> web.StreamResponse:
        flow.source = Source.UPSTREAM
        self.flows.transition(flow, State.CONNECT)
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        # raw_path is the target exactly as the client sent it; the parsed URL re-quotes it.
        path, _, query = request.raw_path.partition("?")
        try:
            upstream = await self.upstream.send(
                request.method, path, query, forwarded_headers(request.headers), data
            )
        except _UPSTREAM_FAILURES as exc:
            url = self.upstream.url_for(request.path)
            return self._fail(
                flow,
                502,
                f"Could not reach the upstream at {url}: {_reason(exc)}. Check that it "
                "is running and that --upstream (or PLAYINGPACK_UPSTREAM) points at it.",
                "upstream_error",
                "upstream_unreachable",
            )
        try:
            flow.status = upstream.status
            self.flows.transition(flow, State.STREAMING)
            headers = returned_headers(upstream.headers)
            streamed = upstream.content_type == "text/event-stream"
            if provider is None or not 200 <= upstream.status < 300:
                return await self._pipe(request, flow, upstream, headers)
            if streamed:
                return await self._relay_stream(
                    request, flow, upstream, headers, provider, body, sent_at, record
                )
            try:
                payload = await upstream.read()
            except _UPSTREAM_FAILURES as exc:
                return self._fail(
                    flow,
                    502,
                    f"The upstream broke off its answer: {_reason(exc)}.",
                    "upstream_error",
                    "upstream_disconnected",
                )
            delay = round((loop.time() - sent_at) * 1000)
            answer = _decode_object(payload)
            if answer is not None:
                flow.summary = provider.summarize(answer)
                if record:
                    self._save(
                        flow,
                        provider,
                        body,
                        upstream.status,
                        False,
                        (Chunk(payload.decode("utf-8", "replace"), delay),),
                    )
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

    async def _relay_stream(
        self,
        request: web.Request,
        flow: Flow,
        upstream: aiohttp.ClientResponse,
        headers: Any,
        provider: Provider,
        body: Any,
        sent_at: float,
        record: bool,
    ) -> web.StreamResponse:
        """Forward a 2xx SSE answer chunk by chunk while cutting it into events for the tape."""
        loop = asyncio.get_running_loop()
        response = web.StreamResponse(status=upstream.status, headers=headers)
        await response.prepare(request)
        splitter = EventSplitter()
        chunks: list[Chunk] = []
        last = sent_at
        complete = False
        content = upstream.content
        while True:
            # readany() directly, not iter_any(): this loop runs once per network chunk.
            try:
                data = await content.readany()
            except _UPSTREAM_FAILURES as exc:
                if complete:
                    break
                broken = f"the upstream connection broke off mid-stream ({_reason(exc)})"
                return await self._break_stream(flow, provider, response, broken)
            if not data:
                break
            events = splitter.feed(data)
            if events:
                now = loop.time()
                chunks.append(Chunk(events[0], round((now - last) * 1000)))
                chunks.extend(Chunk(event, 0) for event in events[1:])
                last = now
                if not complete and provider.is_complete(events):
                    complete = True
                    if record:
                        # Saved before the last bytes go out, so a client that has seen the
                        # end of the answer can rely on the tape being there.
                        self._save(flow, provider, body, upstream.status, True, tuple(chunks))
            try:
                await response.write(data)
            except ConnectionResetError:
                self.flows.fail(flow, "client disconnected")
                return response
        if not complete:
            broken = "the upstream stream ended before the answer was complete"
            return await self._break_stream(flow, provider, response, broken)
        await response.write_eof()
        flow.summary = provider.summarize_events([chunk.c for chunk in chunks])
        self.flows.transition(flow, State.COMPLETE)
        return response

    async def _break_stream(
        self, flow: Flow, provider: Provider, response: web.StreamResponse, broken: str
    ) -> web.StreamResponse:
        """End a stream the upstream left incomplete with an error event the SDK raises."""
        event = provider.error_event(
            f"playingpack: {broken}; the answer is incomplete and was not recorded. "
            "Retry the request.",
            "upstream_error",
            "upstream_disconnected",
        )
        if await _write(response, event.encode()):
            await response.write_eof()
        self.flows.fail(flow, broken)
        return response

    def _save(
        self,
        flow: Flow,
        provider: Provider,
        body: Any,
        status: int,
        streamed: bool,
        chunks: tuple[Chunk, ...],
    ) -> None:
        assert flow.key is not None
        tape = Tape(
            key=flow.key,
            endpoint=provider.endpoint,
            request=body,
            status=status,
            chunks=chunks,
            streamed=streamed,
            model=flow.model or "",
        )
        try:
            self.store.save(tape)
        except OSError as exc:
            logger.warning("could not save tape %s: %s", flow.key, exc)

    def _served(self, tape: Tape, provider: Provider) -> _Served:
        served = self._replays.get(tape)
        if served is None:
            served = self._replays[tape] = _Served(tape, provider)
        return served

    def _fail(
        self,
        flow: Flow,
        status: int,
        message: str,
        type_: str,
        code: str,
        *,
        retry: bool | None = None,
    ) -> web.Response:
        self.flows.fail(flow, message, status)
        return error_response(status, message, type_, code, retry=retry)

    def _miss_message(self, flow: Flow, path: str) -> str:
        model = f" (model {flow.model})" if flow.model else ""
        return (
            f"No tape for this POST {path} request{model}: key {flow.key} was not found in "
            f"{self.store.directory}, and the record mode is replay-only, so the upstream was not "
            "called. Record it by running once with --record auto (or PLAYINGPACK_RECORD=auto), "
            "then commit the new tape."
        )


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    """Send ``data`` to the client; False when the client has gone away."""
    try:
        await response.write(data)
    except ConnectionResetError:
        return False
    return True


class _Served:
    """A tape as each kind of client gets it; each form is built on first use and kept."""

    def __init__(self, tape: Tape, provider: Provider) -> None:
        self.tape = tape
        self.provider = provider
        if tape.streamed:
            self.summary = provider.summarize_events([chunk.c for chunk in tape.chunks])
        else:
            self.summary = provider.summarize(self.answer)
        self._json: bytes | None = None
        self._chunks: tuple[Chunk, ...] | None = None
        self._stream: bytes | None = None

    @functools.cached_property
    def answer(self) -> dict[str, Any]:
        if self.tape.streamed:
            return self.provider.assemble([chunk.c for chunk in self.tape.chunks])
        return _decode_object(self.tape.body) or {}

    def json_body(self) -> bytes:
        if self._json is None:
            self._json = _dumps(self.answer).encode() if self.tape.streamed else self.tape.body
        return self._json

    def stream_chunks(self, request: Any) -> tuple[Chunk, ...]:
        # The request's stream_options are part of the tape key, so the converted stream is the
        # same for every request that finds this tape.
        if self._chunks is None:
            if self.tape.streamed:
                self._chunks = self.tape.chunks
            else:
                events = self.provider.to_events(self.answer, request)
                delay = self.tape.total_delay_ms
                self._chunks = tuple(Chunk(e, delay if i == 0 else 0) for i, e in enumerate(events))
        return self._chunks

    def stream_body(self, request: Any) -> bytes:
        if self._stream is None:
            chunks = self.stream_chunks(request)
            self._stream = "".join(chunk.c for chunk in chunks).encode("utf-8")
        return self._stream


def _decode_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


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
