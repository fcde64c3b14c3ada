"""The /v1/* handlers: one request's path from arrival to the last byte sent to the client.

A request to a recorded endpoint is read and checked, may be held before it is sent, and is
answered from its tape (recording, delivery), or by the upstream through the relay, which
records the answer. Any other request is passed through. Each stage ends the flow it was given
when it sends the last of the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from playingpack.call import MAX_RECORDED_BODY, OFF_LOOP, Call, run
from playingpack.config import RecordMode
from playingpack.delivery import Delivery, fail, nobody
from playingpack.destinations import OLLAMA_PREFIX, Upstreams
from playingpack.errors import TapeError, UpstreamError
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, Resend
from playingpack.hashing import InvalidJSON, UnsupportedJSON, parse_body
from playingpack.holding import HoldPolicy
from playingpack.interceptor import Interceptor
from playingpack.ledger import TapeLedger
from playingpack.providers import Provider
from playingpack.recording import Recorder
from playingpack.relay import Relay
from playingpack.replay import InvalidReplay, Replays
from playingpack.resend import Resends
from playingpack.settings import Settings
from playingpack.store import TapeStores, is_scope
from playingpack.tapes import Tape
from playingpack.upstream import (
    FAILURES,
    BadTarget,
    client_path,
    failure_text,
    forwarded_headers,
    is_decoded,
    reason,
    returned_headers,
)

logger = logging.getLogger(__name__)

_BUFFERED = 8 * 1024**2
# What is sent upstream: the body read whole, or the client's stream, or nothing.
_Body = bytes | aiohttp.StreamReader | None


class _Refused(Exception):
    """A request that is answered with a 4xx before anything else happens to it."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Proxy:
    """Serves recorded endpoints from tapes or the upstream, and passes everything else through."""

    def __init__(
        self,
        settings: Settings,
        stores: TapeStores,
        upstreams: Upstreams,
        flows: FlowLog,
        interceptor: Interceptor,
        ledger: TapeLedger,
        *,
        resends: Resends | None = None,
        found: Sequence[Provider] = (),
    ) -> None:
        """``upstreams`` say where each kind of client's requests go; ``resends`` tells which
        requests are a person's resends; ``found`` are the formats whose requests come through
        the catch-all routes (see forward)."""
        self.settings = settings
        self.stores = stores
        self.upstreams = upstreams
        self.flows = flows
        self.recorder = Recorder(settings, stores, ledger)
        self.delivery = Delivery(settings, flows, self.recorder)
        self.holds = HoldPolicy(settings, interceptor, self.delivery)
        self.relay = Relay(self.holds, self.delivery, self.recorder)
        self.resends = resends
        self.found = tuple(found)
        self._replays = Replays()

    async def recorded(self, request: web.Request, provider: Provider) -> web.StreamResponse:
        """A request to an endpoint whose answers are recorded and replayed.

        Under ``/t/<scope>/...`` the tapes live in the ``<scope>`` subfolder of the tapes
        folder; the prefix is not part of the tape key nor of what the upstream sees.
        """
        scope = request.match_info.get("scope")
        path = _unscoped(request.path, scope)
        claim = self.resends.claim(request) if self.resends is not None else None
        flow = self.flows.open(
            request.method,
            path,
            scope=scope,
            headers=request.headers,
            provider=provider,
            query=request.query_string,
        )
        if claim is not None:
            claim.opened(flow)
        call: Call | None = None
        try:
            try:
                if scope is not None and not is_scope(scope):
                    raise _Refused(
                        400,
                        f"{scope!r} cannot name a tapes folder: use letters, digits, '.', '-' "
                        "and '_' (at most 200, not starting with '.' and without '..').",
                        "invalid_scope",
                    )
                target = _target(request, scope)
                replay_only = self.settings.record is RecordMode.REPLAY_ONLY
                known = request.content_length
                if known is not None and known > MAX_RECORDED_BODY and not replay_only:
                    # Forwarded as it comes, unread: reading it would hold up every other request.
                    logger.warning(
                        "flow %s: not recorded: the request body is over %s", flow.id, _LIMIT
                    )
                    return await self._forward(request, flow, target, request.content)
                raw, body = await self._read(request, path, replay_only)
            except _Refused as refused:
                message, code = str(refused), refused.code
                return fail(
                    flow, refused.status, message, "invalid_request_error", code, provider=provider
                )
            call = Call(request, flow, provider, body, self.stores.get(scope), len(raw))
            if claim is not None:
                return await self._resent(call, claim.resend, target, raw)
            tape: Tape | None = None
            if self.holds.holds_requests(provider):
                resolution = await self.holds.hold_request(call)
                if resolution.injection is not None:
                    return await self.delivery.inject(call, resolution)
                if resolution.request is not None:
                    raw = msgspec.json.encode(resolution.request)
                    call.describe(resolution.request, len(raw))
                tape = resolution.tape
            mode = self.settings.record
            if tape is None and mode is not RecordMode.OFF:
                try:
                    tape = await self.recorder.lookup(call)
                except TapeError as exc:
                    return await self._unreadable(call, exc)
                if tape is None and mode is RecordMode.REPLAY_ONLY:
                    message = await self.recorder.miss(call)
                    return await self.delivery.error(
                        call, 404, message, "tape_not_found", "tape_not_found", retry=False
                    )
            if tape is not None:
                return await self._replay(call, tape)
            record = mode is RecordMode.AUTO or mode is RecordMode.REFRESH
            return await self._fetch(call, target, raw, record)
        except asyncio.CancelledError:
            _client_left(flow, call)
            raise
        except ConnectionResetError:
            # Found gone by a write (the headers, say) before aiohttp cancelled the handler.
            _client_left(flow, call)
            return call.response if call is not None and call.response else nobody()
        except Exception as exc:
            if not flow.is_finished:
                flow.fail(f"playingpack internal error: {reason(exc)}")
            raise

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """A request to a catch-all route: recorded when a format playingpack records serves
        its path (Gemini's model paths, Ollama's native ones), else passed through."""
        if request.method == "POST":
            path = _unscoped(request.path, request.match_info.get("scope"))
            for provider in self.found:
                if provider.serves(path):
                    return await self.recorded(request, provider)
        return await self.passthrough(request)

    async def passthrough(self, request: web.Request) -> web.StreamResponse:
        """Any other /v1/* request: forwarded unchanged and streamed back, never recorded."""
        scope = request.match_info.get("scope")
        flow = self.flows.open(
            request.method, _unscoped(request.path, scope), scope=scope, headers=request.headers
        )
        try:
            try:
                target = _target(request, scope)
            except _Refused as refused:
                return fail(
                    flow, refused.status, str(refused), "invalid_request_error", refused.code
                )
            data: _Body = None
            if request.body_exists:
                known = request.content_length
                # Small bodies go with a Content-Length, as sent; large uploads stream through.
                small = known is not None and known <= _BUFFERED
                data = await request.read() if small else request.content
            return await self._forward(request, flow, target, data)
        except asyncio.CancelledError:
            _client_left(flow, None)
            raise
        except ConnectionResetError:
            _client_left(flow, None)
            return nobody()
        except Exception as exc:
            if not flow.is_finished:
                flow.fail(f"playingpack internal error: {reason(exc)}")
            raise

    async def close(self) -> None:
        """Stop recordings still draining the answers of clients that left (at shutdown)."""
        await self.relay.close()

    async def _read(
        self, request: web.Request, path: str, replay_only: bool
    ) -> tuple[bytes, dict[str, Any]]:
        """The request body, raw and parsed; raises _Refused when it is too big to record or
        not a JSON object playingpack can record."""
        known = request.content_length
        try:
            if known is not None and known > MAX_RECORDED_BODY:
                raise web.HTTPRequestEntityTooLarge(MAX_RECORDED_BODY, known)
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _Refused(
                413,
                f"The request body is over {_LIMIT}, the most playingpack records or replays "
                f"for {path}. "
                + (
                    "In replay-only mode there is no tape for it: send a smaller request."
                    if replay_only
                    else "A bigger one is passed through unrecorded only when it comes with a "
                    "Content-Length: send it with one, or send a smaller request."
                ),
                "request_too_large",
            ) from None
        try:
            body = await run(len(raw) > OFF_LOOP, parse_body, raw)
        except InvalidJSON as exc:
            raise _Refused(
                400,
                f"The request body is not valid JSON: {exc}. Send the request as a JSON object.",
                "invalid_json",
            ) from None
        except UnsupportedJSON as exc:
            raise _Refused(
                400,
                f"playingpack cannot record this request: {exc}. Send numbers a double can "
                "hold and keep the body's nesting within that limit.",
                "unsupported_json",
            ) from None
        if not isinstance(body, dict):
            raise _Refused(
                400, f"The request body must be a JSON object, got {_kind(body)}.", "invalid_json"
            )
        return raw, body

    async def _resent(
        self, call: Call, resend: Resend, target: tuple[str, str], raw: bytes
    ) -> web.StreamResponse:
        """Answer a person's resend: from the tapes alone, or from the upstream (recorded only
        when it is a miss recorded on the spot), whatever the record mode; never held."""
        call.resent = True
        if resend == "tape":
            try:
                tape = await self.recorder.find(call)
            except TapeError as exc:
                return await self._unreadable(call, exc)
            if tape is None:
                message = await self.recorder.resend_miss(call)
                return await self.delivery.error(
                    call, 404, message, "tape_not_found", "tape_not_found", retry=False
                )
            return await self._replay(call, tape)
        await self.recorder.key_of(call)
        return await self._fetch(call, target, raw, resend == "record")

    async def _unreadable(self, call: Call, exc: TapeError) -> web.StreamResponse:
        logger.warning("%s", exc)
        return await self.delivery.error(
            call,
            500,
            f"{exc}. Fix the file or delete it to record the answer again "
            "(it is not overwritten on its own).",
            "tape_error",
            "tape_corrupt",
            retry=False,
        )

    async def _replay(self, call: Call, tape: Tape) -> web.StreamResponse:
        """Answer ``call`` from ``tape``, held first when the pause mode holds its answer."""
        call.flow.set_key(tape.key)
        try:
            served = await self._replays.prepared(
                tape, call.provider, call.body, call.stream, call.framing
            )
        except InvalidReplay as exc:
            problem = TapeError(call.store.path(tape.key, call.index), str(exc))
            logger.warning("%s", problem)
            return await self.delivery.error(
                call,
                500,
                f"{problem}. Fix the file or delete it to record the answer again.",
                "tape_error",
                "tape_corrupt",
                retry=False,
            )
        if call.resent:
            call.flow.use_tape("replayed")
        else:
            self.recorder.replayed(call, tape)
        call.flow.replay(tape, served.summary)
        if not call.resent and self.holds.holds(call.provider, served.summary):
            held = await self.holds.hold(call, served.answer)
            if held is not None:
                return held
        return await self.delivery.replay(call, tape, served)

    async def _fetch(
        self, call: Call, target: tuple[str, str], data: bytes, record: bool
    ) -> web.StreamResponse:
        """Answer ``call`` from the upstream; ``record`` saves a whole 2xx answer as its tape."""
        flow = call.flow
        sent_at = asyncio.get_running_loop().time()
        try:
            upstream = await self._send(call.request, flow, target, data)
        except UpstreamError as exc:
            return await self.delivery.error(
                call, 502, str(exc), "upstream_error", "upstream_unreachable"
            )
        handed_over = False
        try:
            headers = returned_headers(upstream.headers)
            flow.stream(upstream.status, headers)
            # A body in an encoding aiohttp cannot undo is passed on as it came, unread.
            if 200 <= upstream.status < 300 and is_decoded(upstream.headers):
                return await self.relay.answer(call, upstream, headers, sent_at, record)
            if call.response is not None:
                return await self.relay.upstream_error(call, upstream)
            return await self.relay.pipe(call.request, flow, upstream, headers)
        except asyncio.CancelledError:
            # The client has the whole answer and left: the rest of the body is still recorded.
            handed_over = self.relay.drain(call, upstream)
            raise
        finally:
            if not handed_over:
                upstream.close()

    async def _forward(
        self, request: web.Request, flow: Flow, target: tuple[str, str], data: _Body
    ) -> web.StreamResponse:
        """Pass a request the proxy does not record to the upstream, and its answer back."""
        try:
            upstream = await self._send(request, flow, target, data)
        except UpstreamError as exc:
            return fail(flow, 502, str(exc), "upstream_error", "upstream_unreachable")
        try:
            headers = returned_headers(upstream.headers)
            flow.stream(upstream.status, headers)
            return await self.relay.pipe(request, flow, upstream, headers)
        finally:
            upstream.close()

    async def _send(
        self, request: web.Request, flow: Flow, target: tuple[str, str], data: _Body
    ) -> aiohttp.ClientResponse:
        """Send the request upstream (CONNECT); raises UpstreamError saying why it could not
        get an answer, and where the upstream is set."""
        flow.connect()
        # The path as the client sent it (checked by client_path), not the re-quoted parse.
        path, query = target
        destination, setting = self.upstreams.of(path, request.headers)
        if path.startswith(OLLAMA_PREFIX):
            path = path[len(OLLAMA_PREFIX) :]
        headers = forwarded_headers(request.headers)
        if data is request.content and request.content_length is not None:
            # Streamed through with the length it came with, not re-framed as chunks.
            headers["Content-Length"] = str(request.content_length)
        try:
            return await destination.send(request.method, path, query, headers, data)
        except FAILURES as exc:
            raise UpstreamError(
                f"playingpack could not get an answer from the upstream: "
                f"{failure_text(exc, destination.url_for(path))} The upstream is set by "
                f"--{setting.replace('_', '-')} (or PLAYINGPACK_{setting.upper()})."
            ) from exc


_LIMIT = f"{MAX_RECORDED_BODY // 1024**2} MiB"


def _target(request: web.Request, scope: str | None) -> tuple[str, str]:
    """The path and query to forward; raises _Refused for a target that is not forwarded
    (see client_path)."""
    try:
        return client_path(request.raw_path, scope)
    except BadTarget as exc:
        raise _Refused(
            400, f"playingpack does not forward this request: {exc}", "invalid_path"
        ) from None


def _client_left(flow: Flow, call: Call | None) -> None:
    """End the flow of a client that went away (its handler is being cancelled)."""
    if call is not None:
        call.client_left()
    elif not flow.is_finished:
        flow.fail("client disconnected before the answer was complete")


def _unscoped(path: str, scope: str | None) -> str:
    """``path`` without its ``/t/<scope>`` prefix."""
    return path if scope is None else path[len(scope) + 3 :]


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
