"""The JSON shapes of ``GET /api/diff``: two calls or tapes compared, request and answer.

Part of the contract ``wire`` describes; the OpenAPI description and the dashboard's types are
generated from them too. Paths are JSON paths from the root of what is compared:
``$.messages[2].content`` in a request, ``$.city`` in a tool call's arguments.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from playingpack.flows import Source
from playingpack.wire import ToolCallJSON

WordOp = Literal["same", "removed", "added"]
ChangeOp = Literal["changed", "added", "removed"]


class WordJSON(msgspec.Struct):
    """A run of words (each with the whitespace after it) both texts have, or only one."""

    op: WordOp
    text: str


class ChangeJSON(msgspec.Struct, kw_only=True):
    """One difference: a value changed at ``path``, or a key or array element only one side
    has (then ``a`` or ``b`` is null and the other the whole value)."""

    path: str
    op: ChangeOp
    a: Any
    b: Any
    words: list[WordJSON] | None  # the word-level diff when ``a`` and ``b`` are both strings


class TextPairJSON(msgspec.Struct):
    a: str | None
    b: str | None
    same: bool


class IntPairJSON(msgspec.Struct):
    a: int | None
    b: int | None
    same: bool


class FloatPairJSON(msgspec.Struct):
    a: float | None
    b: float | None
    same: bool


class DiffSideJSON(msgspec.Struct, kw_only=True):
    """One of the two compared: a call (flow) or a tape."""

    ref: str  # a flow's id, or tape:<key>
    kind: Literal["flow", "tape"]
    label: str  # how to name it to a person
    path: str  # the endpoint
    model: str | None
    status: int | None
    source: Source | None  # where the answer came from ("tape" for a tape)
    streamed: bool
    time: str | None  # when the call started, or the tape was recorded
    origin: str | None  # a tape's: recorded, resent, edited, mock
    parent: str | None  # what it was resent from
    text: str  # the answer's text
    tool_calls: list[ToolCallJSON]
    request: Any
    answer: Any  # the JSON answer (a stream assembled); null when there is none


class RequestDiffJSON(msgspec.Struct):
    """The requests' differences, ``stream`` left out (a stream and a JSON call of the same
    request are the same request)."""

    same: bool
    changes: list[ChangeJSON]


class TextDiffJSON(msgspec.Struct):
    same: bool
    words: list[WordJSON]


class ToolCallDiffJSON(msgspec.Struct, kw_only=True):
    """The tool calls at ``index`` of both answers; ids are not compared (each call has its
    own). ``changes`` are paths within the parsed arguments; [] when only one side has it."""

    index: int
    a: ToolCallJSON | None
    b: ToolCallJSON | None
    same: bool
    name_changed: bool
    changes: list[ChangeJSON]


class AnswerDiffJSON(msgspec.Struct, kw_only=True):
    same: bool  # text, tool calls, finish reason and status all the same
    text: TextDiffJSON
    tool_calls: list[ToolCallDiffJSON]
    finish_reason: TextPairJSON
    status: IntPairJSON


class UsageDiffJSON(msgspec.Struct, kw_only=True):
    input_tokens: IntPairJSON
    output_tokens: IntPairJSON
    total_tokens: IntPairJSON


class LatencyDiffJSON(msgspec.Struct, kw_only=True):
    duration_ms: FloatPairJSON  # a tape's: from the request to its last chunk, as recorded
    first_byte_ms: FloatPairJSON


class DiffJSON(msgspec.Struct, kw_only=True):
    """Two calls or tapes compared: ``GET /api/diff?a=<ref>&b=<ref>``."""

    a: DiffSideJSON
    b: DiffSideJSON
    request: RequestDiffJSON
    answer: AnswerDiffJSON
    usage: UsageDiffJSON
    cost: FloatPairJSON  # USD; a tape's is what its answer cost upstream (None: unknown price)
    latency: LatencyDiffJSON
