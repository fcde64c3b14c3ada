"""The JSON shapes of the history's own routes: runs (``/api/runs``) and agent threads
(``/api/threads``). Part of the contract ``wire`` describes; the OpenAPI description and the
dashboard's types are generated from them too."""

from __future__ import annotations

from typing import Literal

import msgspec

from playingpack.conversation import Turn
from playingpack.flows import Source, State
from playingpack.wire import ToolCallJSON, UsageJSON


class RunJSON(msgspec.Struct, kw_only=True):
    """One run: a server start, or a pytest session's server."""

    id: str
    kind: Literal["server", "pytest"]
    label: str  # what started it: "playingpack start", "pytest tests/ -k agent", ...
    started_at: str
    ended_at: str | None  # None while it runs (or if it was killed)
    live: bool  # this server's own run
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float | None  # USD of the priced calls; None when none could be priced
    unpriced: int  # calls with usage whose model has no price
    saved: float | None  # USD the calls answered from tapes would have cost upstream
    recorded: int  # tapes recorded
    replayed: int  # tapes replayed
    missed: int  # replay-only misses


class ThreadJSON(msgspec.Struct, kw_only=True):
    """An agent thread: calls whose inputs each extend the one before plus its answer."""

    id: str  # the id of its first call
    run: str
    first_message: str  # the first user message's text, shortened
    steps: int  # its calls that are no retries (a retry repeats a step; step_list has both)
    tools: list[str]  # tool names called, in order of first use
    models: list[str]
    input_tokens: int  # of all its calls, retries included (they were paid for)
    output_tokens: int
    cost: float | None  # None when a call with usage has no price
    started_at: str
    duration_ms: float  # from the first call's start to the last one's end


class AnswerJSON(msgspec.Struct, kw_only=True):
    """A step's answer as the conversation shows it."""

    text: str
    reasoning: str
    tool_calls: list[ToolCallJSON]
    finish_reason: str | None


class ThreadStepJSON(msgspec.Struct, kw_only=True):
    """One call of a thread: the turns it added to the conversation, then its answer."""

    flow: str  # the call's id (GET /api/flows/{id})
    model: str | None
    source: Source | None
    state: State
    status: int | None
    started_at: str
    duration_ms: float | None
    usage: UsageJSON | None
    cost: float | None
    retry_of: str | None  # the call this one repeats (same input, after an error, say)
    # The turns of its input that the step before did not have: the user message, tool results
    # (none for a retry).
    input: list[Turn]
    # The name of the tool call each tool result of ``input`` answers, by the call's id.
    tool_names: dict[str, str]
    answer: AnswerJSON | None  # None when the call failed before an answer
    error: str | None


class ThreadDetailJSON(ThreadJSON, kw_only=True):
    """A thread with its steps, in order."""

    system: str | None  # the system prompt of its first step
    step_list: list[ThreadStepJSON]
