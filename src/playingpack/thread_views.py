"""Agent threads as the API shows them, read from the history: the threads of a run, and one
thread's steps read as the conversation.

A thread's numbers are totals over all its calls, retries included (they were paid for);
``steps`` counts the calls that are no retries. Its cost is unknown (None) when one of its
calls carried usage but has no price, so a thread is never shown cheaper than it was.

A step shows only what its input added to the call it continues (the user message, the tool
results, each with the name of the tool call it answers), then its answer. The first step's
system prompt is the thread's ``system``. A retry adds nothing: it repeats the call before.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import msgspec

from playingpack.conversation import TextPart, ToolCallPart, ToolResultPart, Turn
from playingpack.flows import Source, State, iso_time
from playingpack.history import decode_detail
from playingpack.providers import builtin
from playingpack.thread_atoms import DIGEST, Kind, answer_turns, request_turns, turn_atoms
from playingpack.threads import Fingerprint, fingerprint
from playingpack.wire import ToolCallJSON, UsageJSON
from playingpack.wire_history import AnswerJSON, ThreadDetailJSON, ThreadJSON, ThreadStepJSON

_LISTED = (
    "SELECT thread, id, run, started, duration_ms, model, tools, input_tokens, output_tokens, "
    "cost, retry_of, fingerprint FROM flows WHERE thread IN ({}) ORDER BY seq"
)
_STEPS = (
    "SELECT id, run, started, duration_ms, model, tools, input_tokens, output_tokens, cost, "
    "retry_of, fingerprint, after, detail FROM flows WHERE thread = ? ORDER BY seq"
)


@dataclass
class _Totals:
    """A thread's numbers, added up call by call (oldest first)."""

    id: str
    run: str = ""
    title: str | None = None
    steps: int = 0
    tools: dict[str, None] = field(default_factory=dict)  # an ordered set
    models: dict[str, None] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    unpriced: bool = False
    started: float | None = None
    ended: float | None = None

    def add(self, row: tuple[Any, ...]) -> None:
        """Count one call: (id, run, started, duration_ms, model, tools, input_tokens,
        output_tokens, cost, retry_of, fingerprint, ...)."""
        flow_id, run, started, duration_ms, model, tools, input_tokens, output_tokens = row[:8]
        cost, retry_of, blob = row[8:11]
        if self.started is None or flow_id == self.id:
            self.run = run
            self.title = _title(blob) if blob is not None else self.title
        self.steps += retry_of is None
        self.tools.update(dict.fromkeys((tools or "").split()))
        if model:
            self.models[model] = None
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
        elif input_tokens is not None:
            self.unpriced = True
        self.started = started if self.started is None else min(self.started, started)
        end = started + (duration_ms or 0.0) / 1000
        self.ended = end if self.ended is None else max(self.ended, end)

    def fields(self) -> dict[str, Any]:
        started = self.started or 0.0
        return {
            "id": self.id,
            "run": self.run,
            "first_message": self.title or "",
            "steps": self.steps,
            "tools": list(self.tools),
            "models": list(self.models),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": None if self.unpriced else self.cost,
            "started_at": iso_time(started),
            "duration_ms": round(((self.ended or started) - started) * 1000, 1),
        }


def list_threads(db: sqlite3.Connection, run: str | None) -> list[ThreadJSON]:
    """The threads with a call in ``run`` (every run's when None), newest first, with the
    totals of all their calls (those of other runs too: a thread goes on across a restart)."""
    if run is None:
        rows = db.execute(_LISTED.format("SELECT thread FROM flows")).fetchall()
    else:
        picked = "SELECT thread FROM flows WHERE run = ? AND thread IS NOT NULL"
        rows = db.execute(_LISTED.format(picked), (run,)).fetchall()
    threads: dict[str, _Totals] = {}
    for thread, *rest in rows:
        if thread is not None:
            threads.setdefault(thread, _Totals(thread)).add(tuple(rest))
    listed = sorted(threads.values(), key=lambda totals: totals.started or 0.0, reverse=True)
    return [ThreadJSON(**totals.fields()) for totals in listed]


def thread_detail(db: sqlite3.Connection, thread_id: str) -> ThreadDetailJSON | None:
    """Thread ``thread_id`` with its steps in order; None when the history has none of it."""
    rows = db.execute(_STEPS, (thread_id,)).fetchall()
    if not rows:
        return None
    totals = _Totals(thread_id)
    reader = _StepReader()
    steps = []
    for row in rows:
        totals.add(row)
        flow_id, blob, after, detail = row[0], row[10], row[11], decode_detail(row[12])
        fp = _fingerprint_of(blob, detail)
        if fp is not None:
            steps.append(reader.step(flow_id, fp, after, row[9], detail))
    return ThreadDetailJSON(**totals.fields(), system=reader.system, step_list=steps)


class _StepReader:
    """Reads a thread's calls in order, each with what the earlier ones said."""

    def __init__(self) -> None:
        self.system: str | None = None
        # Each call's digests: its whole conversation (input and answer) strict and loose,
        # and the length of its input.
        self._seen: dict[str, tuple[bytes, bytes, int]] = {}
        self._tool_names: dict[str, str] = {}  # every tool call so far, by id

    def step(
        self,
        flow_id: str,
        fp: Fingerprint,
        after: str | None,
        retry_of: str | None,
        detail: dict[str, Any],
    ) -> ThreadStepJSON:
        request, response = detail.get("request"), detail.get("response")
        system, turns = request_turns(fp.kind, request) if isinstance(request, dict) else ([], [])
        first = not self._seen
        continued = self._seen.get(after) if after is not None else None
        if fp.previous and continued is not None:
            strict, loose = continued[0] + fp.input, continued[1] + (fp.input_loose or fp.input)
        else:
            strict, loose = fp.system + fp.input, fp.system + (fp.input_loose or fp.input)
        self._seen[flow_id] = (
            strict + fp.answer,
            loose + (fp.answer_loose or fp.answer),
            len(strict),
        )
        for turn in turns:
            for part in turn.parts:
                if isinstance(part, ToolCallPart) and part.id:
                    self._tool_names[part.id] = part.name
        if first:
            self.system = _system_text(system, turns)
            added = [turn for turn in turns if turn.role not in ("system", "developer")]
        elif retry_of is not None:
            added = []
        elif fp.previous or continued is None:
            added = turns
        else:
            whole, whole_loose, input_length = continued
            # All of the continued call's conversation, or only its input when the client
            # sent its answer back rewritten.
            kept = strict.startswith(whole) or loose.startswith(whole_loose)
            shared = len(whole) if kept else input_length
            added = _after(turns, len(fp.system) // DIGEST, shared // DIGEST)
        named = {
            part.id: self._tool_names[part.id]
            for turn in added
            for part in turn.parts
            if isinstance(part, ToolResultPart) and part.id in self._tool_names
        }
        answer = _answer(fp.kind, detail)
        for call in answer.tool_calls if answer is not None else ():
            self._tool_names[call.id] = call.name
        return ThreadStepJSON(
            flow=flow_id,
            model=detail.get("model"),
            source=None if detail.get("source") is None else Source(detail["source"]),
            state=State(detail["state"]),
            status=detail.get("status"),
            started_at=detail["started_at"],
            duration_ms=detail.get("duration_ms"),
            usage=msgspec.convert(detail["usage"], UsageJSON) if detail.get("usage") else None,
            cost=detail.get("cost"),
            retry_of=retry_of,
            input=added,
            tool_names=named,
            answer=answer,
            error=detail.get("error") or (None if answer else _error_of(response)),
        )


def _after(turns: list[Turn], system_atoms: int, known: int) -> list[Turn]:
    """The turns past the first ``known`` atoms (those of the call continued)."""
    seen = system_atoms
    for index, turn in enumerate(turns):
        if seen >= known:
            return turns[index:]
        seen += len(turn_atoms(turn))
    return []


def _answer(kind: Kind, detail: dict[str, Any]) -> AnswerJSON | None:
    response = detail.get("response")
    failed = detail.get("state") == State.ERROR or (detail.get("status") or 0) >= 400
    if failed or answer_turns(kind, response) is None:
        return None
    assert isinstance(response, dict)
    return AnswerJSON(
        text=detail.get("text") or "",
        reasoning=_reasoning(kind, response),
        tool_calls=[msgspec.convert(call, ToolCallJSON) for call in detail.get("tool_calls") or ()],
        finish_reason=finish_reason(kind, response),
    )


def _reasoning(kind: Kind, answer: dict[str, Any]) -> str:
    """The reasoning the answer shows: chat ``reasoning_content`` (or ``reasoning``),
    Responses reasoning summaries and texts, Anthropic thinking blocks, Gemini ``thought``
    parts, Ollama's ``thinking``."""
    texts: list[str] = []
    if kind == "chat":
        message = _first(answer.get("choices")).get("message") or {}
        for name in ("reasoning_content", "reasoning"):
            if isinstance(message.get(name), str):
                texts.append(message[name])
                break
    elif kind == "responses":
        for item in _dicts(answer.get("output")):
            if item.get("type") == "reasoning":
                for part in _dicts(item.get("summary")) + _dicts(item.get("content")):
                    if isinstance(part.get("text"), str):
                        texts.append(part["text"])
    elif kind == "gemini":
        content = _first(answer.get("candidates")).get("content")
        for part in _dicts(content.get("parts") if isinstance(content, dict) else None):
            if part.get("thought") is True and isinstance(part.get("text"), str):
                texts.append(part["text"])
    elif kind == "ollama":
        message = answer.get("message")
        thinking = message.get("thinking") if isinstance(message, dict) else None
        texts.extend([thinking] if isinstance(thinking, str) else [])
    else:
        for block in _dicts(answer.get("content")):
            if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                texts.append(block["thinking"])
    return "\n\n".join(text for text in texts if text)


def finish_reason(kind: Kind, answer: dict[str, Any]) -> str | None:
    """Why the answer ended: chat ``finish_reason``, Anthropic ``stop_reason``, Responses
    its status (or why it is incomplete), Gemini ``finishReason``, Ollama ``done_reason``."""
    if kind == "chat":
        reason = _first(answer.get("choices")).get("finish_reason")
    elif kind == "messages":
        reason = answer.get("stop_reason")
    elif kind == "gemini":
        reason = _first(answer.get("candidates")).get("finishReason")
    elif kind == "ollama":
        reason = answer.get("done_reason")
    else:
        details = answer.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        reason = reason or answer.get("status")
    return reason if isinstance(reason, str) else None


def _error_of(response: Any) -> str | None:
    """The message of an error body (Ollama's is the message itself)."""
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return None


def _system_text(system: list[Turn], turns: list[Turn]) -> str | None:
    """The system prompt: the request's system field, else its first system messages."""
    prompts = system or [turn for turn in turns[:1] if turn.role in ("system", "developer")]
    texts = [part.text for turn in prompts for part in turn.parts if isinstance(part, TextPart)]
    return "\n".join(texts) or None


def _fingerprint_of(blob: bytes | None, detail: dict[str, Any]) -> Fingerprint | None:
    """The stored fingerprint, else (none was stored) the one the call's detail gives."""
    if blob is not None:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            return Fingerprint.decode(blob)
    path = detail.get("path") or ""
    provider = next((p for p in builtin() if p.serves(path)), None)
    if provider is None:
        return None
    return fingerprint(provider, detail.get("request"), detail.get("response"))


def _title(blob: bytes) -> str:
    try:
        return Fingerprint.decode(blob).title
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""


def _first(value: Any) -> dict[str, Any]:
    listed = _dicts(value)
    return listed[0] if listed else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
