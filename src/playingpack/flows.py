"""Flows: one proxied request and everything that happened to it, and the log of recent flows.

Every state change goes through FlowLog.transition, which checks it against the lifecycle of
SPEC §5 and tells subscribers. A finished flow becomes one INFO log line and one JSON line in the
logs folder.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from playingpack.providers import Summary

if TYPE_CHECKING:
    from collections.abc import Mapping

    from playingpack.providers import Provider
    from playingpack.tapes import Chunk

logger = logging.getLogger(__name__)


class State(enum.StrEnum):
    LOOKUP = "LOOKUP"
    REPLAY = "REPLAY"
    CONNECT = "CONNECT"
    STREAMING = "STREAMING"
    INTERCEPT = "INTERCEPT"
    FLUSH = "FLUSH"
    INJECT = "INJECT"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


class Source(enum.StrEnum):
    TAPE = "tape"
    UPSTREAM = "upstream"
    MOCK = "mock"


# INTERCEPT right after LOOKUP is a call held before it is sent; the person's decision then
# sends it (CONNECT), answers it from a tape (REPLAY) or with a mock (INJECT).
_NEXT: dict[State, frozenset[State]] = {
    State.LOOKUP: frozenset({State.REPLAY, State.CONNECT, State.INTERCEPT}),
    State.REPLAY: frozenset({State.COMPLETE, State.INTERCEPT}),
    State.CONNECT: frozenset({State.STREAMING}),
    State.STREAMING: frozenset({State.COMPLETE, State.INTERCEPT}),
    State.INTERCEPT: frozenset({State.FLUSH, State.INJECT, State.REPLAY, State.CONNECT}),
    State.FLUSH: frozenset({State.COMPLETE}),
    State.INJECT: frozenset({State.COMPLETE}),
    State.COMPLETE: frozenset(),
    State.ERROR: frozenset(),
}
FINAL_STATES = frozenset({State.COMPLETE, State.ERROR})

# How many bytes of request and answer bodies the finished flows kept in memory may hold in all.
# Past it the oldest finished flows let go of their bodies (the logs never held them).
BODY_BUDGET = 256 * 1024**2

# Called with the flow on every change, or with the flow and the text that just streamed in.
Listener = Callable[["Flow", "str | None"], None]


@dataclass(eq=False)
class Flow:
    """One client request through playingpack."""

    id: str
    method: str
    path: str
    state: State = State.LOOKUP
    source: Source | None = None
    model: str | None = None
    request: Any = None
    key: str | None = None
    status: int | None = None
    summary: Summary | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    duration_ms: float | None = None
    history: list[tuple[State, float]] = field(default_factory=list)  # (state, ms since start)
    provider: Provider | None = None
    scope: str | None = None  # the per-test tapes folder of a /t/<scope>/... request
    streamed: bool = False  # the client asked for a stream
    request_headers: Mapping[str, str] | None = None
    response_headers: Mapping[str, str] | None = None
    # The answer as it came: SSE events (answer_streamed) or one JSON body, with their delays.
    chunks: Sequence[Chunk] = ()
    answer_streamed: bool = False
    answer: dict[str, Any] | None = None  # the JSON answer, when already known (mocks, holds)
    hold: Any = None  # the interceptor's Hold while the flow waits for a decision
    decision: str | None = None  # what ended the hold: allow, mock, edit, tape, timeout
    size: int = 0  # bytes of the request body; the answer's are added when the flow ends
    trimmed: bool = False  # its bodies were let go of to stay within BODY_BUDGET
    _started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def is_finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def started_at(self) -> str:
        """When the flow started, ISO-8601 UTC with milliseconds."""
        return iso_time(self.started)

    def log_record(self) -> dict[str, Any]:
        """The flow as one JSON line of the logs folder: no headers, no bodies."""
        summary = self.summary
        return {
            "id": self.id,
            "started_at": self.started_at,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "state": self.state,
            "source": self.source,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "tape": self.key,
            "usage": (
                {
                    "input_tokens": summary.usage.input_tokens,
                    "output_tokens": summary.usage.output_tokens,
                }
                if summary and summary.usage
                else None
            ),
            "tool_calls": [call.name for call in summary.tool_calls] if summary else [],
            "decision": self.decision,
            "error": self.error,
        }


class FlowLog:
    """Recent flows (at most ``history`` kept in memory), their transitions and their log lines."""

    def __init__(
        self,
        logs_dir: Path | None,
        history: int = 500,
        echo: Callable[[str], object] | None = None,
        *,
        body_budget: int = BODY_BUDGET,
    ) -> None:
        """``echo`` receives each finished flow's terminal line; without it the line is logged
        at INFO on this module's logger."""
        self.logs_dir = logs_dir
        self._echo = echo
        self._pending: list[tuple[str, bytes]] = []
        self._flush_scheduled = False
        self.history = history
        self._flows: deque[Flow] = deque()
        self._by_id: dict[str, Flow] = {}
        # Finished flows still holding bodies, oldest first, and their bytes in all.
        self._bodies: dict[str, Flow] = {}
        self._body_bytes = 0
        self.body_budget = body_budget
        self._listeners: list[Listener] = []
        # Ids are unique per server run and sort in arrival order; cheaper than a uuid4 each.
        self._run = uuid.uuid4().hex[:8]
        self._count = itertools.count(1)
        self._log_file: BinaryIO | None = None
        self._log_day = ""

    def __iter__(self) -> Iterator[Flow]:
        """The flows kept in memory, oldest first."""
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    def get(self, flow_id: str) -> Flow | None:
        """The flow with ``flow_id``, if it is still kept in memory."""
        return self._by_id.get(flow_id)

    @property
    def has_listeners(self) -> bool:
        """Whether anyone listens; streamed text is only extracted for listeners."""
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change of any flow; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def open(self, method: str, path: str) -> Flow:
        """Start a flow in LOOKUP; the oldest flow is dropped from memory past ``history``."""
        flow = Flow(f"{self._run}-{next(self._count):06d}", method, path)
        flow.history.append((State.LOOKUP, 0.0))
        if len(self._flows) >= self.history:
            dropped = self._flows.popleft()
            del self._by_id[dropped.id]
            if self._bodies.pop(dropped.id, None) is not None:
                self._body_bytes -= dropped.size
        self._flows.append(flow)
        self._by_id[flow.id] = flow
        self._notify(flow)
        return flow

    def changed(self, flow: Flow) -> None:
        """Tell listeners about a change that is not a transition (e.g. a hold's details)."""
        self._notify(flow)

    def streamed_text(self, flow: Flow, text: str) -> None:
        """Tell listeners the text that just streamed in for ``flow``."""
        for listener in list(self._listeners):
            listener(flow, text)

    def clear(self) -> int:
        """Forget the finished flows (the logs keep them); returns how many were dropped."""
        kept = [flow for flow in self._flows if not flow.is_finished]
        dropped = len(self._flows) - len(kept)
        self._flows = deque(kept)
        self._by_id = {flow.id: flow for flow in kept}
        self._bodies.clear()
        self._body_bytes = 0
        return dropped

    def transition(self, flow: Flow, state: State) -> None:
        """Move ``flow`` to ``state``; an illegal move is a bug and raises RuntimeError."""
        if state is State.ERROR:
            if flow.is_finished:
                raise RuntimeError(f"flow {flow.id}: cannot go from {flow.state} to ERROR")
        elif state not in _NEXT[flow.state]:
            raise RuntimeError(f"flow {flow.id}: cannot go from {flow.state} to {state}")
        flow.state = state
        elapsed = (time.perf_counter() - flow._started) * 1000
        flow.history.append((state, elapsed))
        if state in FINAL_STATES:
            flow.duration_ms = round(elapsed, 1)
            self._finish(flow)
        self._notify(flow)

    def fail(self, flow: Flow, message: str, status: int | None = None) -> None:
        """End ``flow`` in ERROR with ``message`` (and the status the client got, if any)."""
        flow.error = message
        if status is not None:
            flow.status = status
        self.transition(flow, State.ERROR)

    def _notify(self, flow: Flow) -> None:
        for listener in list(self._listeners):
            listener(flow, None)

    def flush(self) -> None:
        """Append the pending JSON lines to the logs folder, one write per day file."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        try:
            for day, group in itertools.groupby(pending, key=lambda entry: entry[0]):
                self._log_file_for(day).write(b"".join(line for _, line in group))
        except OSError as exc:
            logger.warning("could not write the request log in %s: %s", self.logs_dir, exc)

    def close(self) -> None:
        """Write what is pending and close the log file (reopened if another flow finishes)."""
        self.flush()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _keep_bodies(self, flow: Flow) -> None:
        """Count ``flow``'s bodies against the budget; let go of the oldest ones past it."""
        flow.size += sum(len(chunk.c) for chunk in flow.chunks)
        self._bodies[flow.id] = flow
        self._body_bytes += flow.size
        while self._body_bytes > self.body_budget and len(self._bodies) > 1:
            oldest = self._bodies.pop(next(iter(self._bodies)))
            self._body_bytes -= oldest.size
            oldest.request = oldest.answer = None
            oldest.chunks = ()
            oldest.trimmed = True

    def _finish(self, flow: Flow) -> None:
        self._keep_bodies(flow)
        if self._echo is not None:
            self._echo(format_line(flow))
        elif logger.isEnabledFor(logging.INFO):
            logger.info("%s", format_line(flow))
        if self.logs_dir is None:
            return
        record = flow.log_record()
        self._pending.append((record["started_at"][:10], msgspec.json.encode(record) + b"\n"))
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        # Written right after this turn of the loop: still within microseconds of the answer, but
        # under load the flows finished in one turn share a write (a write per flow cost more
        # than the rest of a replay).
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def _log_file_for(self, day: str) -> BinaryIO:
        if self._log_file is None or day != self._log_day:
            if self._log_file is not None:
                self._log_file.close()
            assert self.logs_dir is not None
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            # Unbuffered: each flush is one write(2) of whole lines, so lines never interleave
            # with another process appending to the same file.
            self._log_file = (self.logs_dir / f"{day}.jsonl").open("ab", buffering=0)
            self._log_day = day
        return self._log_file


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as ISO-8601 UTC with milliseconds."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds * 1000) % 1000:03d}Z"


def format_line(flow: Flow) -> str:
    """The terminal line of a finished flow."""
    line = (
        f"{time.strftime('%H:%M:%S')}  {flow.status if flow.status is not None else '---'}  "
        f"{flow.source.value if flow.source else '-':<8}  {flow.method} {flow.path}  "
        f"{flow.model or '-'}"
    )
    if flow.duration_ms is not None:
        line += f"  {flow.duration_ms:.0f} ms"
    summary = flow.summary
    if summary is not None:
        if summary.usage is not None:
            line += f"  {summary.usage.input_tokens}+{summary.usage.output_tokens} tok"
        if summary.tool_calls:
            line += "  tools: " + ",".join(call.name for call in summary.tool_calls)
    if flow.decision:
        line += f"  held: {flow.decision}"
    if flow.key:
        line += f"  tape {flow.key[:8]}"
    if flow.error:
        line += f"  error: {flow.error}"
    return line
