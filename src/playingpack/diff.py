"""Two calls or tapes compared: their requests as JSON paths, their answers' text word by word,
their tool calls argument by argument, and their finish, status, usage, cost and latency.

Each thing compared is read into a Side first, from a live flow, a flow the history kept or a
tape; ``diff`` then works on Sides alone, so any two of them compare alike.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from playingpack.flows import Flow, Source
from playingpack.pricing import PriceBook
from playingpack.providers import Provider, Summary, Usage
from playingpack.replay import Replay, decode_object
from playingpack.tapes import Tape
from playingpack.thread_atoms import kind_of
from playingpack.thread_views import finish_reason
from playingpack.wire import FlowDetailJSON, ToolCallJSON, answer_text, phases_of
from playingpack.wire_diff import (
    AnswerDiffJSON,
    ChangeJSON,
    DiffJSON,
    DiffSideJSON,
    FloatPairJSON,
    IntPairJSON,
    LatencyDiffJSON,
    RequestDiffJSON,
    TextDiffJSON,
    TextPairJSON,
    ToolCallDiffJSON,
    UsageDiffJSON,
)
from playingpack.words import word_diff

_Pair = TypeVar("_Pair", TextPairJSON, IntPairJSON)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a provider's code raises on an answer of an unexpected shape (InvalidReplay included).
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


@dataclass(frozen=True, kw_only=True)
class Side:
    """One of the two things compared, read from wherever it came from."""

    ref: str  # a flow's id, or tape:<key>
    kind: Literal["flow", "tape"]
    label: str
    path: str  # the endpoint
    scope: str | None  # the per-test tapes folder it belongs to
    provider: Provider | None
    request: Any
    answer: Any  # the JSON answer (a stream assembled), None when there is none
    status: int | None
    source: Source | None
    streamed: bool
    time: str | None
    origin: str | None
    parent: str | None
    model: str | None
    duration_ms: float | None
    first_byte_ms: float | None
    usage: Usage | None
    cost: float | None
    text: str
    tool_calls: list[ToolCallJSON]
    size: int = 0  # about how many bytes its request and answer are

    @property
    def finish_reason(self) -> str | None:
        """Why the answer ended (chat ``finish_reason``, Anthropic ``stop_reason``, Responses
        status); None when unknown."""
        kind = kind_of(self.provider)
        if kind is None or not isinstance(self.answer, dict):
            return None
        return finish_reason(kind, self.answer)


def side_of_flow(flow: Flow) -> Side:
    """A live flow as it is now (an answer still streaming is compared as far as it came)."""
    summary = flow.summary
    phases = phases_of(flow)
    return Side(
        ref=flow.id,
        kind="flow",
        label=f"call {flow.id}",
        path=flow.path,
        scope=flow.scope,
        provider=flow.provider,
        request=flow.request,
        answer=flow.json_answer(),
        status=flow.status,
        source=flow.source,
        streamed=flow.streamed,
        time=flow.started_at,
        origin=None,
        parent=flow.parent,
        model=flow.model or (summary.model if summary else None),
        duration_ms=flow.duration_ms,
        first_byte_ms=phases.first_byte_ms if phases is not None else None,
        usage=summary.usage if summary else None,
        cost=flow.cost,
        text=answer_text(flow),
        tool_calls=_calls(summary),
        size=flow.size,
    )


def side_of_detail(detail: FlowDetailJSON, providers: Sequence[Provider], *, size: int = 0) -> Side:
    """A flow as the history keeps it (``size``: the bytes it is stored in)."""
    used = detail.usage
    usage = (
        None
        if used is None
        else Usage(
            used.input_tokens,
            used.output_tokens,
            cached_input_tokens=used.cached_input_tokens,
            cache_write_tokens=used.cache_write_tokens,
        )
    )
    return Side(
        ref=detail.id,
        kind="flow",
        label=f"call {detail.id}",
        path=detail.path,
        scope=detail.scope,
        provider=_provider(detail.path, providers),
        request=detail.request,
        answer=detail.response,
        status=detail.status,
        source=detail.source,
        streamed=detail.streamed,
        time=detail.started_at,
        origin=None,
        parent=detail.parent,
        model=detail.model,
        duration_ms=detail.duration_ms,
        first_byte_ms=detail.phases.first_byte_ms if detail.phases is not None else None,
        usage=usage,
        cost=detail.cost,
        text=detail.text,
        tool_calls=list(detail.tool_calls),
        size=size,
    )


def side_of_tape(
    key: str, tape: Tape, providers: Sequence[Provider], prices: PriceBook, *, size: int = 0
) -> Side:
    """A tape, named by its ``key`` (``size``: its file's bytes); its cost is what its answer
    cost upstream (by ``prices``), its latency the recorded one. Blocking for a big tape, whose
    stream is assembled here."""
    provider = _provider(tape.endpoint, providers)
    answer: Any = None
    text = ""
    summary: Summary | None = None
    if provider is not None:
        try:
            replay = Replay(tape, provider)
            summary = replay.summary
            answer = replay.answer
            text = provider.answer_text(answer)
        except _UNREADABLE:
            pass  # compared as far as it could be read; replaying it says why
    elif not tape.streamed:
        answer = decode_object(tape.body)
    usage = summary.usage if summary else None
    model = tape.model or (summary.model if summary else None)
    return Side(
        ref=f"tape:{key}",
        kind="tape",
        label=f"tape {key}",
        path=tape.endpoint,
        scope=key.rpartition("/")[0] or None,
        provider=provider,
        request=tape.request,
        answer=answer,
        status=tape.status,
        source=Source.TAPE,
        streamed=tape.streamed,
        time=tape.timestamp or None,
        origin=tape.origin,
        parent=tape.parent,
        model=model,
        duration_ms=float(tape.total_delay_ms),
        first_byte_ms=float(tape.chunks[0].d) if tape.chunks else None,
        usage=usage,
        cost=prices.cost(model, usage),
        text=text,
        tool_calls=_calls(summary),
        size=size,
    )


def diff(a: Side, b: Side) -> DiffJSON:
    """``a`` and ``b`` compared. Blocking, and linear in their size but for the word diffs
    of the texts that differ: run it off the event loop for big bodies."""
    changes = json_changes(_without_stream(a.request), _without_stream(b.request))
    text = TextDiffJSON(a.text == b.text, word_diff(a.text, b.text))
    calls = tool_call_diffs(a.tool_calls, b.tool_calls)
    finish = _pair(TextPairJSON, a.finish_reason, b.finish_reason)
    status = _pair(IntPairJSON, a.status, b.status)
    answer = AnswerDiffJSON(
        same=text.same and all(call.same for call in calls) and finish.same and status.same,
        text=text,
        tool_calls=calls,
        finish_reason=finish,
        status=status,
    )

    def tokens(name: str) -> IntPairJSON:
        return _pair(IntPairJSON, *(_tokens(side.usage, name) for side in (a, b)))

    return DiffJSON(
        a=side_json(a),
        b=side_json(b),
        request=RequestDiffJSON(not changes, changes),
        answer=answer,
        usage=UsageDiffJSON(
            input_tokens=tokens("input_tokens"),
            output_tokens=tokens("output_tokens"),
            total_tokens=tokens("total_tokens"),
        ),
        cost=_float_pair(a.cost, b.cost),
        latency=LatencyDiffJSON(
            duration_ms=_float_pair(a.duration_ms, b.duration_ms),
            first_byte_ms=_float_pair(a.first_byte_ms, b.first_byte_ms),
        ),
    )


def is_same(compared: DiffJSON) -> bool:
    """Whether the two asked the same and were answered the same, with the same usage (cost
    and latency aside: timing always differs a little)."""
    usage = compared.usage
    return (
        compared.request.same
        and compared.answer.same
        and usage.input_tokens.same
        and usage.output_tokens.same
    )


def side_json(side: Side) -> DiffSideJSON:
    """How ``side`` is shown next to the diff."""
    return DiffSideJSON(
        ref=side.ref,
        kind=side.kind,
        label=side.label,
        path=side.path,
        model=side.model,
        status=side.status,
        source=side.source,
        streamed=side.streamed,
        time=side.time,
        origin=side.origin,
        parent=side.parent,
        text=side.text,
        tool_calls=side.tool_calls,
        request=side.request,
        answer=side.answer,
    )


def json_changes(a: Any, b: Any, path: str = "$") -> list[ChangeJSON]:
    """Where JSON values ``a`` and ``b`` differ, leaf by leaf: a changed scalar at its path,
    a key or array element only one has as one change with its whole value. Arrays are
    compared index by index (messages appended are added at their index)."""
    changes: list[ChangeJSON] = []
    _compare(a, b, path, changes)
    return changes


def tool_call_diffs(a: Sequence[ToolCallJSON], b: Sequence[ToolCallJSON]) -> list[ToolCallDiffJSON]:
    """The tool calls of two answers compared index by index: names, and arguments as JSON
    paths within them (``$.city``)."""
    compared = []
    for index in range(max(len(a), len(b))):
        call_a = a[index] if index < len(a) else None
        call_b = b[index] if index < len(b) else None
        if call_a is None or call_b is None:
            compared.append(
                ToolCallDiffJSON(
                    index=index, a=call_a, b=call_b, same=False, name_changed=False, changes=[]
                )
            )
            continue
        changes = json_changes(call_a.arguments, call_b.arguments)
        renamed = call_a.name != call_b.name
        compared.append(
            ToolCallDiffJSON(
                index=index,
                a=call_a,
                b=call_b,
                same=not renamed and not changes,
                name_changed=renamed,
                changes=changes,
            )
        )
    return compared


def _compare(a: Any, b: Any, path: str, changes: list[ChangeJSON]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            where = _member(path, key)
            if key in b:
                _compare(value, b[key], where, changes)
            else:
                changes.append(ChangeJSON(path=where, op="removed", a=value, b=None, words=None))
        for key, value in b.items():
            if key not in a:
                where = _member(path, key)
                changes.append(ChangeJSON(path=where, op="added", a=None, b=value, words=None))
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            where = f"{path}[{index}]"
            if index >= len(b):
                changes.append(ChangeJSON(path=where, op="removed", a=a[index], b=None, words=None))
            elif index >= len(a):
                changes.append(ChangeJSON(path=where, op="added", a=None, b=b[index], words=None))
            else:
                _compare(a[index], b[index], where, changes)
    elif not _same(a, b):
        words = word_diff(a, b) if isinstance(a, str) and isinstance(b, str) else None
        changes.append(ChangeJSON(path=path, op="changed", a=a, b=b, words=words))


def _same(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal as JSON: ``1`` is ``1.0`` but never ``true``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _member(path: str, key: str) -> str:
    if _NAME.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _without_stream(request: Any) -> Any:
    if isinstance(request, dict) and "stream" in request:
        return {key: value for key, value in request.items() if key != "stream"}
    return request


def _provider(path: str, providers: Sequence[Provider]) -> Provider | None:
    return next((provider for provider in providers if provider.serves(path)), None)


def _calls(summary: Summary | None) -> list[ToolCallJSON]:
    if summary is None:
        return []
    return [ToolCallJSON(c.id, c.name, c.parsed_arguments()) for c in summary.tool_calls]


def _tokens(usage: Usage | None, name: str) -> int | None:
    return None if usage is None else int(getattr(usage, name))


def _pair(shape: type[_Pair], a: Any, b: Any) -> _Pair:
    return shape(a, b, a == b)


def _float_pair(a: float | None, b: float | None) -> FloatPairJSON:
    if a is None or b is None:
        return FloatPairJSON(a, b, a is b)
    return FloatPairJSON(a, b, math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
