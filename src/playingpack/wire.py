"""The JSON shapes of the API and the WebSocket, one Struct each, and how a Flow becomes one.

These names are the contract with the dashboard and with scripts; the OpenAPI description is
generated from them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from playingpack.config import LIVE_SETTINGS, Setting
from playingpack.conversation import Conversation
from playingpack.flows import Flow, Resend, Source, State, TapeUse, iso_time
from playingpack.interceptor import Stage
from playingpack.providers import Summary
from playingpack.redaction import mask
from playingpack.settings import Settings
from playingpack.tapes import Chunk, Origin


class UsageJSON(msgspec.Struct, kw_only=True):
    input_tokens: int  # all of them, cached ones included
    output_tokens: int
    total_tokens: int
    cached_input_tokens: int = 0  # of input_tokens, those read from the provider's cache
    cache_write_tokens: int = 0  # of input_tokens, those written to it


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


class PhasesJSON(msgspec.Struct):
    """Where a finished call's time went, in milliseconds; the four add up to its duration."""

    waiting_ms: float  # from the start to the request's send (lookup, a hold before sending)
    held_ms: float  # waiting for a person's decision
    first_byte_ms: float  # from the send to the answer's first chunk (0 for a tape or a mock)
    streaming_ms: float  # from the first byte to the end


class FlowJSON(msgspec.Struct, kw_only=True):
    """A flow as listed: everything but its chunks and headers."""

    id: str
    run: str  # the run (server start or pytest session) it belongs to
    thread: str | None  # the agent thread it is a step of (set once it is in the history)
    state: State
    source: Source | None
    method: str
    path: str
    scope: str | None  # the per-test tapes folder (requests under /t/<scope>/...)
    model: str | None
    status: int | None
    streamed: bool
    tape: str | None
    # What it did with its tape: recorded it, replayed it, or missed it (replay-only, none).
    tape_use: TapeUse | None = None
    started_at: str
    duration_ms: float | None
    usage: UsageJSON | None
    tool_calls: list[ToolCallJSON]
    hold: HoldJSON | None
    decision: str | None
    error: str | None
    cost: float | None  # in USD; 0 for a tape or a mock; None when the price is unknown
    saved: float | None  # for a tape: what the call would have cost upstream (None: unknown)
    phases: PhasesJSON | None  # None until it finishes
    # What it was resent from: a flow's id, or ``tape:<key>`` for a tape; None for a client's call.
    parent: str | None = None
    # How it was resent: to the upstream, to the tapes, or recorded on the spot (a miss).
    resend: Resend | None = None
    edited: bool = False  # its request differs from its parent's
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
    # The request read as turns, tools and parameters; None for a call passed through
    # unrecorded, whose wire format playingpack does not know.
    conversation: Conversation | None


# Annotated used as a value: the settings' types are only known when the table is read.
_annotated: Any = Annotated


def _live_type(row: Setting, *, patch: bool = False) -> Any:
    """The JSON type of a live setting (None too in a patch), within its bounds, with its help."""
    low, high = row.bounds if row.bounds and not row.choices else (None, None)
    bounds: dict[str, Any] = {"gt" if row.open_min else "ge": low, "le": high}
    kind = _annotated[row.type, msgspec.Meta(**bounds)]
    return _annotated[kind | None if patch else kind, msgspec.Meta(description=row.help)]


if TYPE_CHECKING:
    # mypy cannot see fields made at run time: to it, these are Structs without fields.
    class SettingsJSON(msgspec.Struct): ...

    class SettingsPatch(msgspec.Struct): ...

else:
    # Both are made from the live rows of the settings table, so a new live setting is in the
    # API, its schema and the dashboard's types without being spelled here.
    SettingsJSON = msgspec.defstruct(
        "SettingsJSON",
        [(row.name, _live_type(row)) for row in LIVE_SETTINGS],
        namespace={"__doc__": "The live settings: those that can change while the server runs."},
        module=__name__,
    )
    SettingsPatch = msgspec.defstruct(
        "SettingsPatch",
        [(row.name, _live_type(row, patch=True), None) for row in LIVE_SETTINGS],
        namespace={"__doc__": "Settings to change; the ones left out keep their value."},
        module=__name__,
        forbid_unknown_fields=True,
        omit_defaults=True,
    )


class TapeJSON(msgspec.Struct, kw_only=True):
    """A tape as listed."""

    # <hash>, <scope>/<hash> for a tape of a per-test folder, <hash>.<k> for the k-th recording
    # of a repeated request: its path under /api/tapes/.
    key: str
    id: str  # the key under its former name, kept for one version
    scope: str | None  # the per-test folder, None for the top tapes folder
    hash: str
    recording: int  # k of <hash>.<k>; 1 for the first recording
    model: str
    endpoint: str
    timestamp: str
    status: int
    streamed: bool
    size: int
    chunks: int
    tool_calls: list[str]
    origin: Origin  # how its answer came to be: recorded, resent, edited or mock
    parent: str | None  # for an answer a person kept: the key of the call it was resent from
    kept: str | None  # when a person kept it (ISO-8601 UTC); None for a recording


class TapeAnswerJSON(msgspec.Struct, kw_only=True):
    """A tape's answer as the dashboard reads it (``GET /api/tapes/{key}?answer=true``)."""

    text: str
    tool_calls: list[ToolCallJSON]


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    code: str
    param: str | None = None


class ErrorJSON(msgspec.Struct):
    error: ErrorBody


class MockValidJSON(msgspec.Struct):
    """The answer of ``POST /api/mocks/validate`` for a mock the decision would take."""

    ok: Literal[True]


class ResendBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/flows/{id}/resend`` (and ``/api/tapes/{key}/resend``): send the call again,
    as it was or with ``request`` in place of its body, ``to`` the upstream or the tapes, with
    ``headers`` over those it had (credentials, for a call the server no longer holds)."""

    request: Any = None
    to: Literal["upstream", "tape"] = "upstream"
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class KeepBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/flows/{id}/keep``: save the call's answer as the tape of its ``own`` request
    or of its ``parent``'s (the call it was resent from)."""

    for_: Literal["own", "parent"] = msgspec.field(name="for")


class RequestCheckBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/requests/validate``: would ``request`` do as a resend's body to ``path``?"""

    path: str
    request: Any = None


class ResentJSON(msgspec.Struct):
    """The new call a resend (or a recording on the spot) started."""

    id: str


class _LiveMessage(msgspec.Struct, tag_field="type"):
    """A message of ``/ws``; ``type`` tells which."""


class SnapshotMessage(_LiveMessage, tag="snapshot"):
    """Everything at once: sent on connect, and again when the flows in memory were dropped.
    ``flows`` (newest first, without bodies) replaces the list the dashboard has."""

    version: str
    settings: SettingsJSON
    flows: list[FlowJSON]
    live_window: int  # how many calls the server keeps in memory (and the page keeps too)


class FlowMessage(_LiveMessage, tag="flow"):
    """A flow started or changed (state, hold, result); sent without its bodies."""

    flow: FlowJSON


class TextMessage(_LiveMessage, tag="text"):
    """Text of the answer of flow ``id`` that just streamed in, to append to what came before."""

    id: str
    text: str


class SettingsMessage(_LiveMessage, tag="settings"):
    """The settings changed."""

    settings: SettingsJSON


LiveMessage = SnapshotMessage | FlowMessage | TextMessage | SettingsMessage


def settings_json(settings: Settings) -> SettingsJSON:
    """The live settings of `settings`."""
    values = {row.name: getattr(settings, row.name) for row in LIVE_SETTINGS}
    return msgspec.convert(values, SettingsJSON)


def flow_json(flow: Flow, *, bodies: bool = True) -> FlowJSON:
    """``flow`` as listed; without ``bodies`` the request and response are left out (the
    WebSocket sends those only on request)."""
    return FlowJSON(**_flow_fields(flow, bodies))


def flow_detail_json(flow: Flow) -> FlowDetailJSON:
    """``flow`` in full: chunks with their timing, headers with secrets masked."""
    chunks = flow.memo("chunks", lambda: _chunks_json(flow.chunks))
    return FlowDetailJSON(
        **_flow_fields(flow, True),
        history=[StateJSON(state, round(ms, 1)) for state, ms in flow.history],
        chunks=chunks,
        answer_streamed=flow.answer_streamed,
        request_headers=_headers(flow.request_headers),
        response_headers=_headers(flow.response_headers),
        text=answer_text(flow),
        conversation=conversation_of(flow),
    )


def _chunks_json(chunks: Sequence[Chunk]) -> list[ChunkJSON]:
    elapsed = 0
    shown = []
    for chunk in chunks:
        elapsed += chunk.d
        shown.append(ChunkJSON(chunk.c, chunk.d, elapsed))
    return shown


def answer_text(flow: Flow) -> str:
    """The text of ``flow``'s answer so far, as the client reads it."""
    provider = flow.provider
    if provider is None:
        return ""

    def text() -> str:
        try:
            if flow.answer_streamed:
                return provider.streamed_text([chunk.c for chunk in flow.chunks])
            answer = flow.json_answer()
            return provider.answer_text(answer) if isinstance(answer, dict) else ""
        except (msgspec.DecodeError, ValueError, TypeError, AttributeError, KeyError, IndexError):
            return ""

    return flow.memo("text", text) if flow.is_finished else text()


def conversation_of(flow: Flow) -> Conversation | None:
    """The request of ``flow`` as its provider reads it; None when it has none."""
    provider = flow.provider
    if provider is None:
        return None
    return flow.request_memo(f"conversation {flow.path}", lambda: provider.turns(flow.request))


def _flow_fields(flow: Flow, bodies: bool) -> dict[str, Any]:
    hold = flow.hold
    return {
        "id": flow.id,
        "run": flow.run,
        "thread": flow.thread,
        "state": flow.state,
        "source": flow.source,
        "method": flow.method,
        "path": flow.path,
        "scope": flow.scope,
        "model": flow.model,
        "status": flow.status,
        "streamed": flow.streamed,
        "tape": flow.key,
        "tape_use": flow.tape_use,
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
        "cost": flow.cost,
        "saved": flow.saved,
        "phases": phases_of(flow),
        "parent": flow.parent,
        "resend": flow.resend,
        "edited": flow.edited,
        "request": flow.request if bodies else None,
        "response": flow.json_answer() if bodies else None,
    }


def _usage(summary: Summary | None) -> UsageJSON | None:
    if summary is None or summary.usage is None:
        return None
    usage = summary.usage
    return UsageJSON(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )


def phases_of(flow: Flow) -> PhasesJSON | None:
    """Where the time of finished ``flow`` went (see PhasesJSON); None before it finishes.

    Each state's span counts to one phase: LOOKUP to waiting, HELD to held, and the rest
    (sent, streaming, replaying, delivering) to streaming, of which an upstream answer's wait
    for its first chunk is the first byte.
    """
    if not flow.is_finished or flow.duration_ms is None:
        return None
    spent = dict.fromkeys(("waiting", "held", "first_byte", "streaming"), 0.0)
    history = flow.history
    for (state, since), (_, until) in itertools.pairwise(history):
        spent[_PHASE.get(state, "streaming")] += until - since
    if flow.source is Source.UPSTREAM and flow.chunks:
        # The upstream's headers come at once; its first event is the wait that matters. The
        # first chunk's delay is counted from the send.
        sent = spent["first_byte"] + spent["streaming"]
        spent["first_byte"] = min(float(flow.chunks[0].d), sent)
        spent["streaming"] = sent - spent["first_byte"]
    return PhasesJSON(*(round(ms, 1) for ms in spent.values()))


_PHASE = {State.LOOKUP: "waiting", State.HELD: "held", State.CONNECT: "first_byte"}


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
        builtins = msgspec.to_builtins(value, builtin_types=(msgspec.Raw,))
        return json.dumps(builtins, separators=(",", ":"), default=_raw).encode()


def _raw(value: object) -> Any:
    if isinstance(value, msgspec.Raw):  # JSON already: encoded again as what it holds
        return json.loads(bytes(value))
    raise TypeError(f"{type(value).__name__} is not JSON")
