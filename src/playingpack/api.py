"""/api/*: the JSON API the dashboard calls; everything the UI can do, a script can do.

REST with JSON bodies; the shapes are the Structs of ``wire`` and the OpenAPI description at
``/api/openapi.json`` is generated from them. Errors are OpenAI-style bodies whose ``param``
names the field at fault.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, get_args

import msgspec
from aiohttp import web

from playingpack.access import Access
from playingpack.config import HOLD_TIMEOUT_RULE, PauseMode, RecordMode, ReplayTiming
from playingpack.errors import DecisionError, TapeError
from playingpack.flows import FlowLog, State
from playingpack.har import har_document
from playingpack.interceptor import Decision, Interceptor
from playingpack.ledger import TapeLedger
from playingpack.openapi import openapi_document
from playingpack.providers import Provider
from playingpack.proxy import error_response
from playingpack.settings import Settings
from playingpack.store import TapeStore, TapeStores, is_key, is_scope
from playingpack.tapes import Tape
from playingpack.websocket import LiveEvents
from playingpack.wire import (
    SettingsPatch,
    TapeJSON,
    encode,
    flow_detail_json,
    flow_json,
    settings_json,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_decode_decision = msgspec.json.Decoder(Decision).decode
_decode_patch = msgspec.json.Decoder(SettingsPatch).decode
# Calls whose bodies are bigger than this (bytes) are listed without them: encoding them holds
# up the server; they come with the call alone.
LISTED_BODIES = 1024**2
_AT = re.compile(r" - at `\$\.?(.*)`$")
# The field a "missing required field" or "unknown field" message names, below its ``at`` path.
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]*)`")
_ALLOWED: dict[str, str] = {
    "action": ", ".join(str(action.__struct_config__.tag) for action in get_args(Decision)),
    "record": ", ".join(mode.value for mode in RecordMode),
    "pause": ", ".join(mode.value for mode in PauseMode),
    "replay_timing": ", ".join(timing.value for timing in ReplayTiming),
}


class Api:
    """The handlers of ``/api/*`` over the server's shared state."""

    def __init__(
        self,
        *,
        flows: FlowLog,
        interceptor: Interceptor,
        settings: Settings,
        stores: TapeStores,
        ledger: TapeLedger,
        providers: Sequence[Provider],
        access: Access,
        live: LiveEvents,
    ) -> None:
        self.flows = flows
        self.interceptor = interceptor
        self.settings = settings
        self.stores = stores
        self.ledger = ledger
        self.providers = providers
        self.access = access
        self.live = live
        self._unreadable: set[str] = set()  # tape problems the listing has logged

    def add_routes(self, app: web.Application) -> None:
        """Register every route of the API (each behind the access checks)."""
        guard = self._guarded
        router = app.router
        router.add_get("/api/openapi.json", guard(self.openapi))
        router.add_get("/api/flows", guard(self.list_flows))
        router.add_delete("/api/flows", guard(self.clear_flows))
        router.add_get("/api/flows/{id}", guard(self.get_flow))
        router.add_post("/api/flows/{id}/decision", guard(self.decide))
        router.add_get("/api/run", guard(self.get_run))
        router.add_get("/api/har", guard(self.get_har))
        router.add_get("/api/settings", guard(self.get_settings))
        router.add_patch("/api/settings", guard(self.patch_settings))
        router.add_get("/api/tapes", guard(self.list_tapes))
        for path in ("/api/tapes/{hash}", "/api/tapes/{scope}/{hash}"):
            router.add_get(path, guard(self.get_tape))
            router.add_delete(path, guard(self.delete_tape))

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            refusal = self.access.refusal(request)
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except _Invalid as exc:
                return _error(exc.status, str(exc), exc.code, exc.param)
            except DecisionError as exc:
                code = {404: "flow_not_found", 409: "flow_not_held"}.get(
                    exc.status, "invalid_decision"
                )
                return _error(exc.status, str(exc), code, exc.param)
            except (asyncio.CancelledError, ConnectionResetError):
                raise
            except Exception:
                logger.exception("internal error while serving %s %s", request.method, request.path)
                return error_response(
                    500,
                    "playingpack hit an internal error; details are in its terminal output.",
                    "server_error",
                    "internal_error",
                )

        return guarded

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document())

    async def list_flows(self, request: web.Request) -> web.Response:
        """Recent flows, newest first; filters: state, source, limit, bodies."""
        state = request.query.get("state")
        if state is not None and state not in State.__members__:
            raise _Invalid(
                f"`state` must be one of {', '.join(State)}, got {state!r}.", param="state"
            )
        source = request.query.get("source")
        if source is not None and source not in ("tape", "upstream", "mock"):
            raise _Invalid(
                f"`source` must be one of tape, upstream, mock, got {source!r}.", param="source"
            )
        limit = _int_query(request, "limit")
        bodies = _bool_query(request, "bodies", default=True)
        found = []
        for flow in reversed(list(self.flows)):
            if state is not None and flow.state.value != state:
                continue
            if source is not None and (flow.source is None or flow.source.value != source):
                continue
            # A big call's bodies come only with it alone (GET /api/flows/{id}).
            found.append(flow_json(flow, bodies=bodies and flow.size <= LISTED_BODIES))
            if limit is not None and len(found) >= limit:
                break
        return _json(found)

    async def clear_flows(self, request: web.Request) -> web.Response:
        """Forget the finished flows (the logs folder keeps them)."""
        dropped = self.flows.clear()
        self.live.resync()
        return _json({"dropped": dropped})

    async def get_flow(self, request: web.Request) -> web.Response:
        flow = self._flow(request)
        detail = flow_detail_json(flow)
        if flow.size > LISTED_BODIES:
            return await asyncio.to_thread(_json, detail)
        return _json(detail)

    async def decide(self, request: web.Request) -> web.Response:
        """Carry a decision to a held flow."""
        flow_id = request.match_info["id"]
        decision = _decode(await request.read(), _decode_decision)
        flow = self.interceptor.resolve(flow_id, decision)
        return _json(flow_json(flow, bodies=False))

    async def get_run(self, request: web.Request) -> web.Response:
        """What this run did with the tapes: recorded, replayed, missing (with why), unused."""
        return _json(self.ledger.report())

    async def get_har(self, request: web.Request) -> web.Response:
        """The flows in memory as a HAR file, oldest first (a download)."""
        document = har_document(list(self.flows), f"{request.scheme}://{request.host}")
        response = await asyncio.to_thread(_json, document)
        response.headers["Content-Disposition"] = 'attachment; filename="playingpack.har"'
        return response

    async def get_settings(self, request: web.Request) -> web.Response:
        return _json(settings_json(self.settings))

    async def patch_settings(self, request: web.Request) -> web.Response:
        """Change some settings; the others keep their value. Held calls stay held."""
        try:
            patch = _decode(await request.read(), _decode_patch)
        except _Invalid as exc:
            if exc.param != "hold_timeout":
                raise
            # msgspec names only the bound that failed; say both, as the config checks do.
            raise _Invalid(f"{exc} `hold_timeout` {HOLD_TIMEOUT_RULE}.", param=exc.param) from None
        for name in patch.__struct_fields__:
            value = getattr(patch, name)
            if value is not None:
                setattr(self.settings, name, value)
        self.live.settings_changed()
        return _json(settings_json(self.settings))

    async def list_tapes(self, request: web.Request) -> web.Response:
        """Tapes on disk, newest first, of the top folder and every per-test folder (``scope``
        keeps one: a folder name, or empty for the top folder); ``q`` keeps those whose hash,
        model or request contains it (case-insensitive)."""
        query = request.query.get("q", "").lower()
        limit = _int_query(request, "limit")
        scope = request.query.get("scope")
        if scope and not is_scope(scope):
            raise _Invalid(
                f"`scope` must name a per-test tapes folder, got {scope[:100]!r}.",
                param="scope",
            )
        # Reading every tape file would hold up the event loop.
        tapes = await asyncio.to_thread(self._listed, scope, query)
        return _json(tapes[:limit] if limit is not None else tapes)

    def _listed(self, scope: str | None, query: str) -> list[TapeJSON]:
        """The tapes list_tapes gives, newest first; unreadable ones are logged (once each)
        and left out."""
        if scope is None:
            stores = self.stores.all()
        else:
            stores = [(scope or None, self.stores.get(scope or None))]
        listed: list[tuple[str, TapeJSON]] = []
        for folder, store in stores:
            for key, size in store.files():
                try:
                    tape = store.load(key)
                except TapeError as exc:
                    if str(exc) not in self._unreadable:
                        self._unreadable.add(str(exc))
                        logger.warning("%s; it is left out of the tapes list", exc)
                    continue
                if tape is None:
                    continue
                if query and not _matches(tape, query):
                    continue
                listed.append((tape.timestamp, self._tape_json(folder, tape, size)))
        listed.sort(key=lambda entry: entry[0], reverse=True)
        return [entry for _, entry in listed]

    async def get_tape(self, request: web.Request) -> web.Response:
        """The tape file's JSON, as stored (fields this version does not know included)."""
        store, key = self._tape(request)
        try:
            tape = await store.fetch(key)
            # The file itself rather than the parsed Tape re-serialised: a tape written by the
            # original tool or a newer version would otherwise show fields it does not have
            # and hide those it does.
            data = await asyncio.to_thread(store.raw, key) if tape is not None else None
        except TapeError as exc:
            raise _Invalid(str(exc), status=500, code="tape_corrupt", param="hash") from None
        if data is None:  # none, or deleted in between
            raise _no_tape(key, store)
        return web.Response(body=data, content_type="application/json")

    async def delete_tape(self, request: web.Request) -> web.Response:
        store, key = self._tape(request)
        try:
            deleted = store.delete(key)
        except TapeError as exc:
            raise _Invalid(str(exc), status=409, code="tape_refused", param="scope") from None
        except OSError as exc:
            raise _cannot_delete(store, key, exc) from None
        if not deleted:
            raise _no_tape(key, store)
        return web.Response(status=204)

    def _flow(self, request: web.Request) -> Any:
        flow_id = request.match_info["id"]
        flow = self.flows.get(flow_id)
        if flow is None:
            raise _unknown_flow(flow_id)
        return flow

    def _tape(self, request: web.Request) -> tuple[TapeStore, str]:
        """The store and key a ``/api/tapes/[<scope>/]<hash>`` path names."""
        key = request.match_info["hash"]
        if not is_key(key):
            raise _Invalid(
                f"{key[:100]!r} is not a tape hash: a tape is named by 64 lowercase hex "
                "digits (see GET /api/tapes).",
                status=400,
                code="invalid_tape_hash",
                param="hash",
            )
        scope = request.match_info.get("scope")
        if scope is not None and not is_scope(scope):
            raise _Invalid(
                f"{scope[:100]!r} is not a per-test tapes folder name.",
                status=400,
                code="invalid_tape_scope",
                param="scope",
            )
        return self.stores.get(scope), key

    def _tape_json(self, scope: str | None, tape: Tape, size: int) -> TapeJSON:
        provider = next((p for p in self.providers if p.serves(tape.endpoint)), None)
        names: list[str] = []
        if provider is not None:
            try:
                texts = [chunk.c for chunk in tape.chunks]
                summary = (
                    provider.summarize_events(texts)
                    if tape.streamed
                    else provider.summarize(msgspec.json.decode(tape.body))
                )
                names = [call.name for call in summary.tool_calls]
            except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
                names = []  # the file is listed all the same; replaying it will say why
        return TapeJSON(
            f"{scope}/{tape.key}" if scope else tape.key,
            scope,
            tape.key,
            tape.model,
            tape.endpoint,
            tape.timestamp,
            tape.status,
            tape.streamed,
            size,
            len(tape.chunks),
            names,
        )


class _Invalid(Exception):
    """A request the API refuses; becomes an error body with ``param``."""

    def __init__(
        self, message: str, *, status: int = 422, code: str = "invalid_body", param: str | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def _decode(raw: bytes, decode: Callable[[bytes], Any]) -> Any:
    if not raw.strip():
        raise _Invalid("The request body is empty; send a JSON object.", status=400, param=None)
    try:
        return decode(raw)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT.search(message)
        param = match.group(1) if match else None
        named = _NAMED_FIELD.search(message)
        if named is not None:
            param = f"{param}.{named.group(1)}" if param else named.group(1)
        allowed = _ALLOWED.get(param or "")
        text = f"Invalid body: {message}."
        if allowed:
            text += f" `{param}` must be one of: {allowed}."
        raise _Invalid(text, param=param) from None
    except msgspec.DecodeError as exc:
        raise _Invalid(
            f"The request body is not valid JSON: {exc}.",
            status=400,
            code="invalid_json",
            param=None,
        ) from None


def _int_query(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None:
        return None
    if not text.isdecimal() or int(text) < 1:
        raise _Invalid(f"`{name}` must be a positive integer, got {text!r}.", param=name)
    return int(text)


def _bool_query(request: web.Request, name: str, *, default: bool) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
        text.lower()
    )
    if value is None:
        raise _Invalid(f"`{name}` must be true or false, got {text!r}.", param=name)
    return value


def _matches(tape: Tape, query: str) -> bool:
    if query in tape.key or query in tape.model.lower():
        return True
    return query in encode(tape.request).decode().lower()


def _unknown_flow(flow_id: str) -> _Invalid:
    return _Invalid(
        f"No flow {flow_id!r}: it never existed or has been dropped from memory (the server "
        "keeps the most recent flows; see --history). GET /api/flows lists them.",
        status=404,
        code="flow_not_found",
        param="id",
    )


def _no_tape(key: str, store: TapeStore) -> _Invalid:
    return _Invalid(
        f"No tape {key} in {store.directory}.", status=404, code="tape_not_found", param="hash"
    )


def _cannot_delete(store: TapeStore, key: str, exc: OSError) -> _Invalid:
    where = exc.filename or store.path(key)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return _Invalid(
            f"Cannot delete tape {where}: {reason}. playingpack may not change {store.directory} "
            "(read-only, or protected); make it writable, or delete the file yourself.",
            status=409,
            code="tapes_read_only",
            param="hash",
        )
    return _Invalid(
        f"Cannot delete tape {where}: {reason}.", status=500, code="tape_io_error", param="hash"
    )


def _error(status: int, message: str, code: str, param: str | None) -> web.Response:
    return error_response(status, message, "invalid_request_error", code, param=param)


def _json(value: Any) -> web.Response:
    return web.Response(body=encode(value), content_type="application/json")
