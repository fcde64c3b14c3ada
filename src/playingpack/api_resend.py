"""/api/flows/{id}/resend, /keep and /record, /api/tapes/{key}/resend and
/api/requests/validate: a person sends a call again, edited or not, and keeps the answer they
want as a tape.

A call is found in the live window, or in the history once it has left it (its credentials do
not survive that: the history's copies of its headers are masked).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from playingpack.api import Handler, Invalid, bool_query, decode_body, json_response
from playingpack.api_tapes import named_tape, tape_json
from playingpack.errors import TapeError
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, Resend, Source, State
from playingpack.history import History
from playingpack.history_queries import find_detail
from playingpack.providers import Provider
from playingpack.resend import (
    RequestProblem,
    Resends,
    check_request,
    own_address,
    resent_headers,
    scoped,
)
from playingpack.store import TapeStore, TapeStores
from playingpack.tape_files import TapeFile
from playingpack.tapes import Chunk, Origin, Tape
from playingpack.wire import (
    FlowDetailJSON,
    KeepBody,
    MockValidJSON,
    RequestCheckBody,
    ResendBody,
    ResentJSON,
    flow_detail_json,
)

_decode_resend = msgspec.json.Decoder(ResendBody).decode
_decode_keep = msgspec.json.Decoder(KeepBody).decode
_decode_check = msgspec.json.Decoder(RequestCheckBody).decode
# How long ``?wait=true`` waits for the resend's answer to end.
_WAIT_SECONDS = 600.0
_TAPE = "tape:"


@dataclass(frozen=True)
class _Known:
    """A call (or a tape) as far as a resend or a keep needs it."""

    ref: str  # a flow id, or tape:<key>
    path: str
    scope: str | None
    provider: Provider | None
    request: Any
    key: str | None  # the hash of its request: its tape's
    index: int
    headers: Mapping[str, str] | None
    query: str  # the request's query string, while the call is in memory
    masked: bool  # its headers are the history's masked copy
    state: State
    status: int | None
    source: Source | None
    model: str | None
    parent: str | None
    edited: bool
    chunks: tuple[Chunk, ...]
    streamed: bool


class ResendRoutes:
    """The handlers of resends, keeps and recordings on the spot."""

    def __init__(
        self,
        flows: FlowLog,
        history: History | None,
        stores: TapeStores,
        providers: Sequence[Provider],
        resends: Resends,
    ) -> None:
        self.flows = flows
        self.history = history
        self.stores = stores
        self.providers = providers
        self.resends = resends

    def add_routes(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        """Register the routes, each behind ``guard`` (the API's access checks)."""
        router = app.router
        router.add_post("/api/flows/{id}/resend", guard(self.resend_flow))
        router.add_post("/api/flows/{id}/keep", guard(self.keep))
        router.add_post("/api/flows/{id}/record", guard(self.record))
        router.add_post("/api/tapes/{hash}/resend", guard(self.resend_tape))
        router.add_post("/api/tapes/{scope}/{hash}/resend", guard(self.resend_tape))
        router.add_post("/api/requests/validate", guard(self.validate))

    async def resend_flow(self, request: web.Request) -> web.Response:
        """Send a call again (202 with the new call's id; with ``?wait=true``, 200 with the
        finished call)."""
        body = decode_body(await request.read(), _decode_resend)
        known = await self._flow(request.match_info["id"], param="id")
        return await self._resend(request, known, body, body.to)

    async def resend_tape(self, request: web.Request) -> web.Response:
        """Send a tape's request again, as the flow resend does."""
        body = decode_body(await request.read(), _decode_resend)
        store, key, index = named_tape(
            self.stores, request.match_info["hash"], request.match_info.get("scope")
        )
        known = await self._tape(store, key, index, param="hash")
        return await self._resend(request, known, body, body.to)

    async def record(self, request: web.Request) -> web.Response:
        """Forward a call's request to the upstream once, in any record mode, and save its
        tape when the answer completes (a replay-only miss recorded on the spot)."""
        known = await self._flow(request.match_info["id"], param="id")
        return await self._resend(request, known, ResendBody(), "record")

    async def validate(self, request: web.Request) -> web.Response:
        """Check a request as a resend would, without sending it."""
        body = decode_body(await request.read(), _decode_check)
        provider = self._provider(body.path)
        if provider is None:
            raise Invalid(
                f"playingpack records no endpoint {body.path[:200]!r}, so it resends none.",
                status=400,
                code="invalid_path",
                param="path",
            )
        _check(provider, body.request)
        return json_response(MockValidJSON(True))

    async def keep(self, request: web.Request) -> web.Response:
        """Save a call's answer as the tape of its own request or of its parent's."""
        body = decode_body(await request.read(), _decode_keep)
        known = await self._flow(request.match_info["id"], param="id")
        if known.state is not State.COMPLETE and known.state is not State.ERROR:
            raise Invalid(
                f"Call {known.ref} has not finished: keep its answer once it has.",
                status=409,
                code="flow_not_finished",
                param="id",
            )
        status = known.status or 0
        if known.state is State.ERROR or not 200 <= status < 300 or not known.chunks:
            raise Invalid(
                f"Call {known.ref} has no answer to keep: it "
                + (f"ended in an error ({status or 'no status'})." if status else "failed.")
                + " Keep a call that completed.",
                status=409,
                code="answer_unusable",
                param="id",
            )
        if body.for_ == "own":
            target = known
        else:
            target = await self._parent_of(known)
        if target.key is None or target.provider is None:
            raise Invalid(
                f"Call {target.ref} ({target.path}) is not recorded by playingpack, so its "
                "answer cannot be a tape.",
                status=409,
                code="request_unknown",
                param="for",
            )
        store = self.stores.get(target.scope)
        parent = None
        if known.parent is not None:
            source = target if body.for_ == "parent" else await self._parent_of(known)
            if source.key is not None:
                parent = self.stores.name_of(
                    self.stores.get(source.scope), source.key, source.index
                )
        tape = Tape(
            key=target.key,
            endpoint=target.path,
            request=target.request,
            status=status,
            chunks=known.chunks,
            streamed=known.streamed,
            model=target.model or "",
            origin=_origin(known),
            parent=parent,
            kept=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        index = target.index
        try:
            path = await asyncio.to_thread(store.save, tape, index)
        except TapeError as exc:
            raise Invalid(str(exc), status=409, code="tape_refused", param="for") from None
        except OSError as exc:
            raise Invalid(
                f"Cannot write tape {store.path(target.key, index)}: {exc.strerror or exc}. "
                f"Make {store.directory} writable.",
                status=409,
                code="tapes_read_only",
                param="for",
            ) from None
        name = self.stores.name_of(store, target.key, index)
        stat = os.stat(path)
        file = TapeFile(name, path, target.key, index, stat.st_size, stat.st_mtime)
        return json_response(tape_json(file, tape, self.providers))

    async def _resend(
        self, request: web.Request, known: _Known, body: ResendBody, resend: Resend
    ) -> web.Response:
        provider = known.provider
        if provider is None or known.request is None:
            raise Invalid(
                f"{_named(known)} ({known.path}) was passed through unrecorded, or its request "
                "is no longer known, so it cannot be resent.",
                status=409,
                code="request_unknown",
                param="id",
            )
        sent = known.request if body.request is None else body.request
        _check(provider, sent)
        edited = body.request is not None and _differs(provider, known, sent)
        headers = resent_headers(known.headers, body.headers, provider, masked=known.masked)
        flow = await self.resends.send(
            own_address(request),
            scoped(known.path, known.scope) + (f"?{known.query}" if known.query else ""),
            sent,
            headers,
            parent=known.ref,
            resend=resend,
            edited=edited,
        )
        if not bool_query(request, "wait", default=False):
            response = json_response(ResentJSON(flow.id))
            response.set_status(202)
            response.headers["Location"] = f"/api/flows/{flow.id}"
            return response
        await self.resends.finished(flow, _WAIT_SECONDS)
        return json_response(flow_detail_json(flow))

    async def _flow(self, flow_id: str, *, param: str) -> _Known:
        """The call ``flow_id``, from memory or the history; raises Invalid (404) for none."""
        flow = self.flows.get(flow_id)
        if flow is not None and not flow.trimmed:
            return self._of_flow(flow)
        detail = await self._detail(flow_id)
        if detail is not None:
            # A call still in memory keeps its credentials; the history's headers are masked.
            return self._of_detail(detail, flow)
        if flow is not None:
            return self._of_flow(flow)
        raise Invalid(
            f"No call {flow_id!r}: it is neither in memory nor in the history (pruned, or never "
            "there). GET /api/flows lists them.",
            status=404,
            code="flow_not_found",
            param=param,
        )

    async def _tape(self, store: TapeStore, key: str, index: int, *, param: str) -> _Known:
        try:
            tape = await store.fetch(key, index)
        except TapeError as exc:
            raise Invalid(str(exc), status=500, code="tape_corrupt", param=param) from None
        if tape is None:
            raise Invalid(
                f"No tape {key} in {store.directory}.",
                status=404,
                code="tape_not_found",
                param=param,
            )
        scope = None if store is self.stores.root else store.directory.name
        return _Known(
            ref=_TAPE + self.stores.name_of(store, key, index),
            path=tape.endpoint,
            scope=scope,
            provider=self._provider(tape.endpoint),
            request=tape.request,
            key=tape.key,
            index=index,
            headers=None,
            query="",
            masked=False,
            state=State.COMPLETE,
            status=tape.status,
            source=Source.TAPE,
            model=tape.model or None,
            parent=None,
            edited=False,
            chunks=tape.chunks,
            streamed=tape.streamed,
        )

    async def _parent_of(self, known: _Known) -> _Known:
        """The call or tape ``known`` was resent from; raises Invalid (409) when there is none
        or it is gone."""
        parent = known.parent
        if parent is None:
            raise Invalid(
                f"Call {known.ref} was not resent from another call: keep it for its own "
                'request ({"for": "own"}).',
                status=409,
                code="no_parent",
                param="for",
            )
        try:
            if parent.startswith(_TAPE):
                folder, _, name = parent[len(_TAPE) :].rpartition("/")
                store, key, index = named_tape(self.stores, name, folder or None)
                return await self._tape(store, key, index, param="for")
            return await self._flow(parent, param="for")
        except Invalid as exc:
            raise Invalid(
                f"The call {known.ref} was resent from is not known any more: {exc}",
                status=409,
                code="parent_unknown",
                param="for",
            ) from None

    async def _detail(self, flow_id: str) -> FlowDetailJSON | None:
        if self.history is None:
            return None
        try:
            blob = await self.history.read(lambda db: find_detail(db, flow_id))
        except sqlite3.Error:
            return None
        if blob is None:
            return None
        return await asyncio.to_thread(msgspec.json.decode, blob, type=FlowDetailJSON)

    def _of_flow(self, flow: Flow) -> _Known:
        return _Known(
            ref=flow.id,
            path=flow.path,
            scope=flow.scope,
            provider=flow.provider,
            request=flow.request,
            key=flow.key,
            index=1,
            headers=flow.request_headers,
            query=flow.query,
            masked=False,
            state=flow.state,
            status=flow.status,
            source=flow.source,
            model=flow.model,
            parent=flow.parent,
            edited=flow.edited,
            chunks=tuple(flow.chunks),
            streamed=flow.answer_streamed,
        )

    def _of_detail(self, detail: FlowDetailJSON, live: Flow | None) -> _Known:
        return _Known(
            ref=detail.id,
            path=detail.path,
            scope=detail.scope,
            provider=self._provider(detail.path),
            request=detail.request,
            key=detail.tape,
            index=1,
            headers=live.request_headers if live is not None else detail.request_headers,
            query=live.query if live is not None else "",
            masked=live is None,
            state=detail.state,
            status=detail.status,
            source=detail.source,
            model=detail.model,
            parent=detail.parent,
            edited=detail.edited,
            chunks=tuple(Chunk(chunk.c, chunk.d) for chunk in detail.chunks),
            streamed=detail.answer_streamed,
        )

    def _provider(self, path: str) -> Provider | None:
        return next((p for p in self.providers if p.serves(path)), None)


def _check(provider: Provider, body: Any) -> None:
    try:
        check_request(provider, body)
    except RequestProblem as exc:
        raise Invalid(str(exc), status=400, code="invalid_request", param=exc.param) from None


def _differs(provider: Provider, known: _Known, sent: Any) -> bool:
    """Whether ``sent`` is another request than ``known``'s: one with another tape."""
    try:
        return provider.key(sent, known.path) != provider.key(known.request, known.path)
    except (ValueError, TypeError):
        return True


def _origin(known: _Known) -> Origin:
    if known.source is Source.MOCK:
        return "mock"
    if known.edited:
        return "edited"
    return "resent" if known.parent is not None else "recorded"


def _named(known: _Known) -> str:
    return f"Tape {known.ref[len(_TAPE) :]}" if known.ref.startswith(_TAPE) else f"Call {known.ref}"
