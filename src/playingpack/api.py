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

from playingpack.access import Access
from playingpack.config import LIVE_SETTINGS, SETTINGS_BY_NAME
from playingpack.errors import DecisionError, error_response
from playingpack.flow_log import FlowLog
from playingpack.interceptor import Decision, Interceptor, MockDecision
from playingpack.ledger import TapeLedger
from playingpack.mock import render
from playingpack.providers import Holdable, Provider
from playingpack.settings import Settings
from playingpack.store import TapeStores
from playingpack.websocket import LiveEvents
from playingpack.wire import (
    MockValidJSON,
    SettingsPatch,
    encode,
    flow_json,
    settings_json,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_decode_decision = msgspec.json.Decoder(Decision).decode
_decode_patch = msgspec.json.Decoder(SettingsPatch).decode
# The chat format checks a mock that names no flow (the OpenAI API the SDKs speak first).
_DEFAULT_MOCK_PATH = "/v1/chat/completions"
# Calls whose bodies are bigger than this (bytes) are listed without them: encoding them holds
# up the server; they come with the call alone.
LISTED_BODIES = 1024**2
_AT = re.compile(r" - at `\$\.?(.*)`$")
# The field a "missing required field" or "unknown field" message names, below its ``at`` path.
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]*)`")
_ALLOWED: dict[str, str] = {
    "action": ", ".join(str(action.__struct_config__.tag) for action in get_args(Decision)),
    **{row.name: ", ".join(row.choices) for row in LIVE_SETTINGS if row.choices},
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

    def add_routes(self, app: web.Application) -> None:
        """Register every route of the API (each behind the access checks)."""
        guard = self.guarded
        router = app.router
        router.add_get("/api/openapi.json", guard(self.openapi))
        router.add_delete("/api/flows", guard(self.clear_flows))
        router.add_post("/api/flows/{id}/decision", guard(self.decide))
        router.add_post("/api/mocks/validate", guard(self.validate_mock))
        router.add_get("/api/run", guard(self.get_run))
        router.add_get("/api/har", guard(self.get_har))
        router.add_get("/api/settings", guard(self.get_settings))
        router.add_patch("/api/settings", guard(self.patch_settings))

    def guarded(self, handler: Handler) -> Handler:
        """``handler`` behind the access checks, its refusals as error bodies."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            refusal = self.access.refusal(request)
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except Invalid as exc:
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
        # The description and the HAR export are built by modules imported at first use: the
        # server need not load them to answer its first call.
        from playingpack.openapi import openapi_document

        return json_response(openapi_document())

    async def clear_flows(self, request: web.Request) -> web.Response:
        """Empty the live window of its finished flows (the history keeps them)."""
        dropped = self.flows.clear()
        self.live.resync()
        return json_response({"dropped": dropped})

    async def decide(self, request: web.Request) -> web.Response:
        """Carry a decision to a held flow."""
        flow_id = request.match_info["id"]
        decision = decode_body(await request.read(), _decode_decision)
        flow = self.interceptor.resolve(flow_id, decision)
        return json_response(flow_json(flow, bodies=False))

    async def validate_mock(self, request: web.Request) -> web.Response:
        """Check a mock as a mock decision would, without deciding anything: the same refusal,
        message and ``param``. ``flow`` names the call it is for, whose format and model a
        full ``response`` must fit; without it the mock is checked as a Chat Completions one."""
        decision = decode_body(await request.read(), _decode_mock)
        flow_id = request.query.get("flow")
        if flow_id is None:
            chat = next(p for p in self.providers if p.serves(_DEFAULT_MOCK_PATH))
            assert isinstance(chat, Holdable)
            provider, model = chat, ""
        else:
            flow = self.flows.get(flow_id)
            if flow is None:
                raise _unknown_flow(flow_id)
            if not isinstance(flow.provider, Holdable):
                raise Invalid(
                    f"flow {flow_id} ({flow.path}) is never held, so it takes no mock.",
                    status=409,
                    code="flow_not_holdable",
                    param="flow",
                )
            provider, model = flow.provider, flow.model or ""
        render(decision.mock, provider, model)
        return json_response(MockValidJSON(True))

    async def get_run(self, request: web.Request) -> web.Response:
        """What this run did with the tapes: recorded, replayed, missing (with why), unused."""
        return json_response(self.ledger.report())

    async def get_har(self, request: web.Request) -> web.Response:
        """The flows in memory as a HAR file, oldest first (a download)."""
        from playingpack.har import har_document

        document = har_document(list(self.flows), f"{request.scheme}://{request.host}")
        response = await asyncio.to_thread(json_response, document)
        response.headers["Content-Disposition"] = 'attachment; filename="playingpack.har"'
        return response

    async def get_settings(self, request: web.Request) -> web.Response:
        return json_response(settings_json(self.settings))

    async def patch_settings(self, request: web.Request) -> web.Response:
        """Change some settings; the others keep their value. Held calls stay held."""
        try:
            patch = decode_body(await request.read(), _decode_patch)
        except Invalid as exc:
            row = SETTINGS_BY_NAME.get(exc.param or "")
            if row is None or row.rule is None:
                raise
            # msgspec names only the bound that failed; say both, as the config checks do.
            raise Invalid(f"{exc} `{row.name}` {row.rule}.", param=exc.param) from None
        given = {name: getattr(patch, name) for name in patch.__struct_fields__}
        self.settings.update({name: value for name, value in given.items() if value is not None})
        self.live.settings_changed()
        return json_response(settings_json(self.settings))


class Invalid(Exception):
    """A request the API refuses; becomes an error body with ``param``."""

    def __init__(
        self, message: str, *, status: int = 422, code: str = "invalid_body", param: str | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def decode_body(raw: bytes, decode: Callable[[bytes], Any]) -> Any:
    """A request body read by ``decode``; raises Invalid naming the field at fault."""
    if not raw.strip():
        raise Invalid("The request body is empty; send a JSON object.", status=400, param=None)
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
        raise Invalid(text, param=param) from None
    except msgspec.DecodeError as exc:
        raise Invalid(
            f"The request body is not valid JSON: {exc}.",
            status=400,
            code="invalid_json",
            param=None,
        ) from None


def _decode_mock(raw: bytes) -> MockDecision:
    """A mock body read as the ``mock`` of a mock decision, so that each refusal names the
    field as the decision endpoint does (``mock.tool_calls[0].name``)."""
    decision = msgspec.convert({"action": "mock", "mock": msgspec.json.decode(raw)}, Decision)
    assert isinstance(decision, MockDecision)
    return decision


def int_query(request: web.Request, name: str) -> int | None:
    """The positive integer query parameter ``name``, if given."""
    text = request.query.get(name)
    if text is None:
        return None
    if not text.isdecimal() or int(text) < 1:
        raise Invalid(f"`{name}` must be a positive integer, got {text!r}.", param=name)
    return int(text)


def bool_query(request: web.Request, name: str, *, default: bool) -> bool:
    """The true/false query parameter ``name``, or ``default``."""
    text = request.query.get(name)
    if text is None:
        return default
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
        text.lower()
    )
    if value is None:
        raise Invalid(f"`{name}` must be true or false, got {text!r}.", param=name)
    return value


def _unknown_flow(flow_id: str) -> Invalid:
    return Invalid(
        f"No flow {flow_id!r}: it never existed or has been dropped from memory (the server "
        "keeps the most recent flows; see --live-window). GET /api/flows lists them.",
        status=404,
        code="flow_not_found",
        param="id",
    )


def _error(status: int, message: str, code: str, param: str | None) -> web.Response:
    return error_response(status, message, "invalid_request_error", code, param=param)


def json_response(value: Any) -> web.Response:
    """``value`` encoded as a JSON response."""
    return web.Response(body=encode(value), content_type="application/json")
