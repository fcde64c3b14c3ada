"""The JSON shapes of the API and the WebSocket, one Struct each, and how a Flow becomes one.

These names are the contract with the dashboard and with scripts; the OpenAPI description is
generated from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from playingpack.config import MAX_HOLD_TIMEOUT, PauseMode, RecordMode, ReplayTiming
from playingpack.flows import Flow, Source, State, iso_time
from playingpack.interceptor import Stage
from playingpack.providers import Summary
from playingpack.redaction import mask
from playingpack.settings import Settings


class UsageJSON(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class ToolCallJSON(msgspec.Struct):
    id: str
    name: str
    arguments: Any  # parsed JSON, or the raw text when the model produced invalid JSON


class HoldJSON(msgspec.Struct):
    stage: Stage  # "request": held before it was sent; "response": held with its answer
    since: str
    deadline: str
    timeout_s: float


class StateJSON(msgspec.Struct):
    state: State
    ms: float  # since the flow started


class ChunkJSON(msgspec.Struct):
    c: str  # the raw text of the chunk (one SSE event, or a whole JSON body)
    d: int  # milliseconds since the previous chunk
    t: int  # milliseconds since the request was sent


class FlowJSON(msgspec.Struct, kw_only=True):
    """A flow as listed: everything but its chunks and headers."""

    id: str
    state: State
    source: Source | None
    method: str
    path: str
    scope: str | None  # the per-test tapes folder (requests under /t/<scope>/...)
    model: str | None
    status: int | None
    streamed: bool
    tape: str | None
    started_at: str
    duration_ms: float | None
    usage: UsageJSON | None
    tool_calls: list[ToolCallJSON]
    hold: HoldJSON | None
    decision: str | None
    error: str | None
    request: Any = None
    response: Any = None


class FlowDetailJSON(FlowJSON, kw_only=True):
    """One flow in full."""

    history: list[StateJSON]
    chunks: list[ChunkJSON]
    answer_streamed: bool
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    text: str  # the answer's text so far (streamed or not); tool calls are in tool_calls


class SettingsJSON(msgspec.Struct):
    record: RecordMode
    pause: PauseMode
    replay_timing: ReplayTiming
    pause_requests: bool
    hold_timeout: float
    sequence: bool


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Settings to change; the ones left out keep their value."""

    record: RecordMode | None = None
    pause: PauseMode | None = None
    replay_timing: ReplayTiming | None = None
    pause_requests: bool | None = None
    hold_timeout: Annotated[float, msgspec.Meta(gt=0, le=MAX_HOLD_TIMEOUT)] | None = None
    sequence: bool | None = None


class TapeJSON(msgspec.Struct):
    """A tape as listed."""

    id: str  # the hash, or <scope>/<hash> for a tape of a per-test folder: its /api/tapes/ path
    scope: str | None  # the per-test folder, None for the top tapes folder
    hash: str
    model: str
    endpoint: str
    timestamp: str
    status: int
    streamed: bool
    size: int
    chunks: int
    tool_calls: list[str]


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    code: str
    param: str | None = None


class ErrorJSON(msgspec.Struct):
    error: ErrorBody


def settings_json(settings: Settings) -> SettingsJSON:
    return SettingsJSON(
        settings.record,
        settings.pause,
        settings.replay_timing,
        settings.pause_requests,
        settings.hold_timeout,
        settings.sequence,
    )


def flow_json(flow: Flow, *, bodies: bool = True) -> FlowJSON:
    """``flow`` as listed; without ``bodies`` the request and response are left out (the
    WebSocket sends those only on request)."""
    return FlowJSON(**_flow_fields(flow, bodies))


def flow_detail_json(flow: Flow) -> FlowDetailJSON:
    """``flow`` in full: chunks with their timing, headers with secrets masked."""
    elapsed = 0
    chunks = []
    for chunk in flow.chunks:
        elapsed += chunk.d
        chunks.append(ChunkJSON(chunk.c, chunk.d, elapsed))
    return FlowDetailJSON(
        **_flow_fields(flow, True),
        history=[StateJSON(state, round(ms, 1)) for state, ms in flow.history],
        chunks=chunks,
        answer_streamed=flow.answer_streamed,
        request_headers=_headers(flow.request_headers),
        response_headers=_headers(flow.response_headers),
        text=answer_text(flow),
    )


def answer_text(flow: Flow) -> str:
    """The text of ``flow``'s answer so far, as the client reads it."""
    provider = flow.provider
    if provider is None:
        return ""
    try:
        if flow.answer_streamed:
            return provider.streamed_text([chunk.c for chunk in flow.chunks])
        answer = response_of(flow)
        if not isinstance(answer, dict):
            return ""
        return provider.streamed_text(provider.to_events(answer, flow.request))
    except (msgspec.DecodeError, ValueError, TypeError, AttributeError, KeyError, IndexError):
        return ""


def response_of(flow: Flow) -> Any:
    """The JSON answer of ``flow``: as given when known, else assembled from its chunks."""
    if flow.answer is not None:
        return flow.answer
    provider = flow.provider
    if provider is None or not flow.chunks:
        return None
    texts = [chunk.c for chunk in flow.chunks]
    if flow.answer_streamed:
        try:
            answer = provider.assemble(texts)
        except (msgspec.DecodeError, ValueError, TypeError, AttributeError):
            return None
    else:
        try:
            answer = msgspec.json.decode("".join(texts))
        except msgspec.DecodeError:
            return None
    if flow.is_finished:
        flow.answer = answer  # worked out once, when first asked for
    return answer


def _flow_fields(flow: Flow, bodies: bool) -> dict[str, Any]:
    hold = flow.hold
    return {
        "id": flow.id,
        "state": flow.state,
        "source": flow.source,
        "method": flow.method,
        "path": flow.path,
        "scope": flow.scope,
        "model": flow.model,
        "status": flow.status,
        "streamed": flow.streamed,
        "tape": flow.key,
        "started_at": flow.started_at,
        "duration_ms": flow.duration_ms,
        "usage": _usage(flow.summary),
        "tool_calls": [
            ToolCallJSON(call.id, call.name, call.parsed_arguments())
            for call in (flow.summary.tool_calls if flow.summary else ())
        ],
        "hold": (
            HoldJSON(hold.stage, iso_time(hold.since), iso_time(hold.deadline), hold.timeout)
            if hold is not None
            else None
        ),
        "decision": flow.decision,
        "error": flow.error,
        "request": flow.request if bodies else None,
        "response": response_of(flow) if bodies else None,
    }


def _usage(summary: Summary | None) -> UsageJSON | None:
    if summary is None or summary.usage is None:
        return None
    usage = summary.usage
    return UsageJSON(usage.input_tokens, usage.output_tokens, usage.total_tokens)


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    return {name: mask(name, value) for name, value in headers.items()}


def encode(value: Any) -> bytes:
    """``value`` (wire Structs included) as JSON. A request may hold lone surrogates (JSON
    allows ``\\ud800``; UTF-8 cannot carry it), which are written as such escapes."""
    try:
        return msgspec.json.encode(value)
    except UnicodeEncodeError:
        return json.dumps(msgspec.to_builtins(value), separators=(",", ":")).encode()
