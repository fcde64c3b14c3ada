"""/api/*: the JSON API the dashboard calls; everything the UI can do, a script can do.

REST with JSON bodies; the shapes are the Structs of ``wire`` and the OpenAPI description at
``/api/openapi.json`` is generated from them. Errors are OpenAI-style bodies whose ``param``
names the field at fault.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, get_args

import msgspec
from aiohttp import web

from playingpack import __version__
from playingpack.access import Access
from playingpack.config import PauseMode, RecordMode, ReplayTiming
from playingpack.errors import DecisionError, TapeError
from playingpack.flows import FlowLog, State
from playingpack.interceptor import Decision, Interceptor
from playingpack.ledger import TapeLedger
from playingpack.providers import Provider
from playingpack.proxy import error_response
from playingpack.settings import Settings
from playingpack.store import TapeStore, is_key
from playingpack.tapes import Tape
from playingpack.websocket import LiveEvents
from playingpack.wire import (
    ErrorJSON,
    FlowDetailJSON,
    FlowJSON,
    SettingsJSON,
    SettingsPatch,
    TapeJSON,
    flow_detail_json,
    flow_json,
    settings_json,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_encode = msgspec.json.encode
_decode_decision = msgspec.json.Decoder(Decision).decode
_decode_patch = msgspec.json.Decoder(SettingsPatch).decode
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
        store: TapeStore,
        ledger: TapeLedger,
        providers: Sequence[Provider],
        access: Access,
        live: LiveEvents,
    ) -> None:
        self.flows = flows
        self.interceptor = interceptor
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.providers = providers
        self.access = access
        self.live = live

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
        router.add_get("/api/settings", guard(self.get_settings))
        router.add_patch("/api/settings", guard(self.patch_settings))
        router.add_get("/api/tapes", guard(self.list_tapes))
        router.add_get("/api/tapes/{hash}", guard(self.get_tape))
        router.add_delete("/api/tapes/{hash}", guard(self.delete_tape))

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
            found.append(flow_json(flow, bodies=bodies))
            if limit is not None and len(found) >= limit:
                break
        return _json(found)

    async def clear_flows(self, request: web.Request) -> web.Response:
        """Forget the finished flows (the logs folder keeps them)."""
        dropped = self.flows.clear()
        self.live.resync()
        return _json({"dropped": dropped})

    async def get_flow(self, request: web.Request) -> web.Response:
        return _json(flow_detail_json(self._flow(request)))

    async def decide(self, request: web.Request) -> web.Response:
        """Carry a decision to a held flow."""
        flow_id = request.match_info["id"]
        decision = _decode(await request.read(), _decode_decision)
        flow = self.interceptor.resolve(flow_id, decision)
        return _json(flow_json(flow, bodies=False))

    async def get_run(self, request: web.Request) -> web.Response:
        """What this run did with the tapes: recorded, replayed, missing (with why), unused."""
        return _json(self.ledger.report())

    async def get_settings(self, request: web.Request) -> web.Response:
        return _json(settings_json(self.settings))

    async def patch_settings(self, request: web.Request) -> web.Response:
        """Change some settings; the others keep their value. Held calls stay held."""
        patch = _decode(await request.read(), _decode_patch)
        for name in patch.__struct_fields__:
            value = getattr(patch, name)
            if value is not None:
                setattr(self.settings, name, value)
        self.live.settings_changed()
        return _json(settings_json(self.settings))

    async def list_tapes(self, request: web.Request) -> web.Response:
        """Tapes on disk, newest first; ``q`` keeps those whose hash, model or request
        contains it (case-insensitive)."""
        query = request.query.get("q", "").lower()
        limit = _int_query(request, "limit")
        listed: list[tuple[str, TapeJSON]] = []
        for key, size in self.store.files():
            try:
                tape = self.store.load(key)
            except TapeError:
                continue
            if tape is None:
                continue
            if query and not _matches(tape, query):
                continue
            listed.append((tape.timestamp, self._tape_json(tape, size)))
        listed.sort(key=lambda entry: entry[0], reverse=True)
        tapes = [entry for _, entry in listed]
        return _json(tapes[:limit] if limit is not None else tapes)

    async def get_tape(self, request: web.Request) -> web.Response:
        """The tape file's JSON, as stored (fields this version does not know included)."""
        key = self._key(request)
        try:
            tape = self.store.load(key)
            # The file itself rather than the parsed Tape re-serialised: a tape written by the
            # original tool or a newer version would otherwise show fields it does not have
            # and hide those it does.
            data = self.store.path(key).read_bytes() if tape is not None else b""
        except TapeError as exc:
            raise _Invalid(str(exc), status=500, code="tape_corrupt", param="hash") from None
        except FileNotFoundError:
            tape = None  # deleted in between
        if tape is None:
            raise _no_tape(key, self.store)
        return web.Response(body=data, content_type="application/json")

    async def delete_tape(self, request: web.Request) -> web.Response:
        key = self._key(request)
        if not self.store.delete(key):
            raise _no_tape(key, self.store)
        return web.Response(status=204)

    def _flow(self, request: web.Request) -> Any:
        flow_id = request.match_info["id"]
        flow = self.flows.get(flow_id)
        if flow is None:
            raise _unknown_flow(flow_id)
        return flow

    def _key(self, request: web.Request) -> str:
        key = request.match_info["hash"]
        if not is_key(key):
            raise _Invalid(
                f"{key[:100]!r} is not a tape hash: a tape is named by 64 lowercase hex "
                "digits (see GET /api/tapes).",
                status=400,
                code="invalid_tape_hash",
                param="hash",
            )
        return key

    def _tape_json(self, tape: Tape, size: int) -> TapeJSON:
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
            except (msgspec.DecodeError, ValueError, TypeError, AttributeError):
                names = []
        return TapeJSON(
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
    return query in _encode(tape.request).decode().lower()


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


def _error(status: int, message: str, code: str, param: str | None) -> web.Response:
    return error_response(status, message, "invalid_request_error", code, param=param)


def _json(value: Any) -> web.Response:
    return web.Response(body=_encode(value), content_type="application/json")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``/api/*``."""
    shapes: list[Any] = [
        FlowJSON,
        FlowDetailJSON,
        Decision,
        SettingsJSON,
        SettingsPatch,
        TapeJSON,
        ErrorJSON,
    ]
    (flow, detail, decision, settings, patch, tape, error), components = (
        msgspec.json.schema_components(shapes, ref_template="#/components/schemas/{name}")
    )

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, **body(schema)}

    def fails(*codes: int) -> dict[str, Any]:
        meaning = {
            400: "Not JSON, or a malformed path value",
            401: "Token required (non-loopback bind)",
            403: "Foreign Host or cross-site Origin",
            404: "Unknown id or hash",
            409: "The flow is not held",
            422: "A field is invalid; `param` names it",
            500: "The tape file is corrupt (the message names it)",
        }
        return {str(code): ok(meaning[code], error) for code in (401, 403, *codes)}

    flow_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    tape_hash = {
        "name": "hash",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "playingpack API",
            "version": __version__,
            "description": (
                "The dashboard's JSON API: flows (calls) live and held, decisions, settings and "
                "tapes. Live events are on the WebSocket at /ws."
            ),
        },
        "paths": {
            "/api/flows": {
                "get": {
                    "summary": "List recent flows, newest first",
                    "parameters": [
                        query(
                            "state",
                            "Only flows in this state (e.g. INTERCEPT: held)",
                            {"type": "string", "enum": [s.value for s in State]},
                        ),
                        query(
                            "source",
                            "Only flows answered from this source",
                            {"type": "string", "enum": ["tape", "upstream", "mock"]},
                        ),
                        query("limit", "At most this many", {"type": "integer", "minimum": 1}),
                        query(
                            "bodies",
                            "Include request and response bodies (default true)",
                            {"type": "boolean"},
                        ),
                    ],
                    "responses": {
                        "200": ok("Flows", {"type": "array", "items": flow}),
                        **fails(422),
                    },
                },
                "delete": {
                    "summary": "Forget the finished flows (the logs folder keeps them)",
                    "responses": {
                        "200": ok(
                            "How many were dropped",
                            {"type": "object", "properties": {"dropped": {"type": "integer"}}},
                        ),
                        **fails(),
                    },
                },
            },
            "/api/flows/{id}": {
                "get": {
                    "summary": "One flow: request, response, chunks with timing, headers",
                    "parameters": [flow_id],
                    "responses": {"200": ok("The flow", detail), **fails(404)},
                }
            },
            "/api/flows/{id}/decision": {
                "post": {
                    "summary": "Decide on a held flow: allow, mock, edit, or answer from a tape",
                    "parameters": [flow_id],
                    "requestBody": {"required": True, **body(decision)},
                    "responses": {
                        "200": ok("Accepted; the flow goes on", flow),
                        **fails(400, 404, 409, 422),
                    },
                }
            },
            "/api/run": {
                "get": {
                    "summary": "What this run did with the tapes: for test-suite reports",
                    "responses": {
                        "200": ok(
                            "Tapes recorded, replayed, missing (with the nearest recording and "
                            "how it differs) and unused, by name (path under the tapes folder)",
                            {
                                "type": "object",
                                "properties": {
                                    "tapes_dir": {"type": "string"},
                                    "recorded": {"type": "array", "items": {"type": "string"}},
                                    "replayed": {"type": "array", "items": {"type": "string"}},
                                    "missing": {"type": "array", "items": {"type": "object"}},
                                    "unused": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        ),
                        **fails(),
                    },
                }
            },
            "/api/settings": {
                "get": {
                    "summary": "The live settings",
                    "responses": {"200": ok("Settings", settings), **fails()},
                },
                "patch": {
                    "summary": "Change settings (record and pause modes, ...) at runtime",
                    "requestBody": {"required": True, **body(patch)},
                    "responses": {"200": ok("The new settings", settings), **fails(400, 422)},
                },
            },
            "/api/tapes": {
                "get": {
                    "summary": "List tapes, newest first",
                    "parameters": [
                        query(
                            "q",
                            "Only tapes whose hash, model or request contains this",
                            {"type": "string"},
                        ),
                        query("limit", "At most this many", {"type": "integer", "minimum": 1}),
                    ],
                    "responses": {
                        "200": ok("Tapes", {"type": "array", "items": tape}),
                        **fails(422),
                    },
                }
            },
            "/api/tapes/{hash}": {
                "get": {
                    "summary": "A tape file's JSON (meta, request, response with chunks)",
                    "parameters": [tape_hash],
                    "responses": {
                        "200": ok("The tape", {"type": "object"}),
                        **fails(400, 404, 500),
                    },
                },
                "delete": {
                    "summary": "Delete a tape",
                    "parameters": [tape_hash],
                    "responses": {"204": {"description": "Deleted"}, **fails(400, 404)},
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {"200": ok("OpenAPI 3.1", {"type": "object"}), **fails()},
                }
            },
        },
        "components": {"schemas": components},
    }
