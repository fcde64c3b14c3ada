"""Flows: one proxied request and everything that happened to it.

Only a flow changes its own state, through the methods named for its lifecycle (connect,
stream, replay, begin_hold, flush, inject, complete, fail). Each move is checked against the
lifecycle's table and told to the FlowLog (``flow_log``) that opened the flow.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec

from playingpack.providers import Summary

if TYPE_CHECKING:
    from collections.abc import Mapping

    from playingpack.interceptor import Hold
    from playingpack.providers import Provider
    from playingpack.tapes import Chunk, Tape

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# The model a path names, as Gemini's do (``/v1beta/models/{model}:generateContent``).
_PATH_MODEL = re.compile(r"/models/([^/:]+):[A-Za-z]+$")


class State(enum.StrEnum):
    LOOKUP = "LOOKUP"
    REPLAY = "REPLAY"
    CONNECT = "CONNECT"
    STREAMING = "STREAMING"
    HELD = "INTERCEPT"  # waiting for a person's decision; the wire keeps its first name
    FLUSH = "FLUSH"
    INJECT = "INJECT"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


class Source(enum.StrEnum):
    TAPE = "tape"
    UPSTREAM = "upstream"
    MOCK = "mock"


# HELD right after LOOKUP is a call held before it is sent; the person's decision then sends it
# (CONNECT), answers it from a tape (REPLAY) or with a mock (INJECT).
_NEXT: dict[State, frozenset[State]] = {
    State.LOOKUP: frozenset({State.REPLAY, State.CONNECT, State.HELD}),
    State.REPLAY: frozenset({State.COMPLETE, State.HELD}),
    State.CONNECT: frozenset({State.STREAMING}),
    State.STREAMING: frozenset({State.COMPLETE, State.HELD}),
    State.HELD: frozenset({State.FLUSH, State.INJECT, State.REPLAY, State.CONNECT}),
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
# A tape recorded for the call, replayed for it, or missing for a replay-only call.
TapeUse = Literal["recorded", "replayed", "missed"]
# How a person resent a call: to the upstream, to the tapes, or to the upstream to record it.
Resend = Literal["upstream", "tape", "record"]


@dataclass(eq=False)
class Flow:
    """One client request through playingpack.

    Its fields are read by anyone and written only by its own methods; a method that moves it
    to another state sets what that state shows first, so the event tells the whole change.
    """

    id: str
    method: str
    path: str
    run: str = ""  # the run it belongs to (see FlowLog)
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
    hold: Hold | None = None  # set while the flow waits for a decision
    decision: str | None = None  # what ended the hold: allow, mock, edit, tape, timeout
    size: int = 0  # bytes of the request body; the answer's are added when the flow ends
    trimmed: bool = False  # its bodies were let go of to stay within BODY_BUDGET
    cost: float | None = None  # USD, set when it finishes (0 for a tape or a mock)
    saved: float | None = None  # USD a tape saved: what the call would have cost upstream
    thread: str | None = None  # the agent thread it is a step of, once in the history
    tape_use: TapeUse | None = None  # what it did with its tape, if anything
    parent: str | None = None  # what a person resent: a flow id, or tape:<key>
    resend: Resend | None = None
    edited: bool = False  # a resend whose request differs from its parent's
    # The request's query string (Azure's api-version), for a resend; in memory only: it may
    # hold a key.
    query: str = field(default="", repr=False)
    _started: float = field(default_factory=time.perf_counter, repr=False)
    # Told of every move (the FlowLog that opened the flow).
    _on_move: Callable[[Flow], None] | None = field(default=None, repr=False)
    _tape: Tape | None = field(default=None, repr=False)  # the tape replayed, if any

    @property
    def is_finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def started_at(self) -> str:
        """When the flow started, ISO-8601 UTC with milliseconds."""
        return iso_time(self.started)

    def json_answer(self) -> Any:
        """The JSON answer: as given when known, else assembled from the chunks (None when they
        do not make one); worked out once for a finished flow, and once per cached tape."""
        if self.answer is not None:
            return self.answer
        provider = self.provider
        if provider is None or not self.chunks:
            return None
        answer = self.memo("answer", self._assemble)
        if self.is_finished and self._tape is None:
            self.answer = answer
        return answer

    def memo(self, name: str, make: Callable[[], _T]) -> _T:
        """``make()``, kept with the tape when the flow replays one (every replay of it has the
        same answer), else worked out now."""
        tape = self._tape
        if tape is not None and self.chunks is tape.chunks:
            return tape.memo(name, make)
        return make()

    def request_memo(self, name: str, make: Callable[[], _T]) -> _T:
        """``make()`` of a value worked out from the request (and the answer), kept with the
        tape when the flow replays one whose request is this very request (a test suite run
        again sends the same requests), else worked out now."""
        tape = self._tape
        if tape is not None and self.chunks is tape.chunks and self.request == tape.request:
            return tape.memo(name, make)
        return make()

    def _assemble(self) -> Any:
        assert self.provider is not None
        texts = [chunk.c for chunk in self.chunks]
        try:
            if self.answer_streamed:
                return self.provider.assemble(texts)
            return msgspec.json.decode("".join(texts))
        except (msgspec.DecodeError, ValueError, TypeError, AttributeError):
            return None

    def set_request(self, body: Any, *, streamed: bool, size: int) -> None:
        """Take ``body`` (``size`` bytes) as the request, again after an edit; no event. Its
        model is its ``model`` field, else the one its path names."""
        self.request = body
        model = body.get("model") if isinstance(body, dict) else None
        named = _PATH_MODEL.search(self.path)
        self.model = model if isinstance(model, str) else named[1] if named else None
        self.streamed = streamed
        self.size = size

    def resent_from(self, parent: str, resend: Resend, *, edited: bool) -> None:
        """It is a person's resend of ``parent`` (a flow id or tape:<key>); no event."""
        self.parent = parent
        self.resend = resend
        self.edited = edited

    def set_key(self, key: str) -> None:
        """The key of the tape that answers, or would answer, the request; no event."""
        self.key = key

    def use_tape(self, use: TapeUse) -> None:
        """Note what became of the call's tape (recorded, replayed, missed); no event."""
        self.tape_use = use

    def set_cost(self, cost: float | None, saved: float | None) -> None:
        """Its cost in USD and, for a tape, what it saved (None: unknown); no event."""
        self.cost = cost
        self.saved = saved

    def join_thread(self, thread: str) -> None:
        """The history placed it in agent thread ``thread``; no event."""
        self.thread = thread

    def set_summary(self, summary: Summary) -> None:
        """What the answer known so far says (shown with the next event)."""
        self.summary = summary

    def take_answer(self, chunks: Sequence[Chunk], *, streamed: bool) -> None:
        """The answer's chunks as they arrive: ``chunks`` may still grow (a stream); no event."""
        self.chunks = chunks
        self.answer_streamed = streamed

    def connect(self) -> None:
        """The request is on its way to the upstream (CONNECT)."""
        self.source = Source.UPSTREAM
        self._move(State.CONNECT)

    def stream(self, status: int, headers: Mapping[str, str]) -> None:
        """The upstream answered with ``status`` and ``headers``; its body follows (STREAMING)."""
        self.status = status
        self.response_headers = headers
        self._move(State.STREAMING)

    def replay(self, tape: Tape, summary: Summary) -> None:
        """``tape`` answers the request (REPLAY)."""
        self.source = Source.TAPE
        self.status = tape.status
        self.summary = summary
        self.chunks = tape.chunks
        self.answer_streamed = tape.streamed
        self._tape = tape
        self._move(State.REPLAY)

    def begin_hold(self, hold: Hold) -> None:
        """Wait for a person's decision (HELD), with the answer when held with one."""
        self.hold = hold
        if hold.answer is not None:
            self.answer = hold.answer
        self._move(State.HELD)

    def decide(self, decision: str) -> None:
        """Note what ended the hold (allow, mock, edit, tape, timeout); no event."""
        self.decision = decision

    def end_hold(self) -> None:
        """The wait is over (decided, timed out or abandoned); no event."""
        self.hold = None

    def flush(self) -> None:
        """The held answer goes on to the client as it was (FLUSH)."""
        self._move(State.FLUSH)

    def inject(
        self,
        status: int,
        answer: dict[str, Any] | None,
        chunks: Sequence[Chunk],
        *,
        streamed: bool,
        summary: Summary | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A mock or an edited answer takes the place of the real one (INJECT). ``headers``
        are the response's, when this answer starts it."""
        self.source = Source.MOCK
        self.status = status
        self.answer = answer
        self.summary = summary
        self.chunks = chunks
        self.answer_streamed = streamed
        if headers is not None:
            self.response_headers = headers
        self._move(State.INJECT)

    def complete(self, summary: Summary | None = None) -> None:
        """The client has the whole answer (COMPLETE); ``summary`` is what it says, when only
        known now."""
        if summary is not None:
            self.summary = summary
        self._move(State.COMPLETE)

    def fail(self, message: str, status: int | None = None) -> None:
        """End in ERROR with ``message`` (and the status the client got, if any)."""
        self.error = message
        if status is not None:
            self.status = status
        self._move(State.ERROR)

    def trim(self) -> None:
        """Let go of the bodies (the logs never held them)."""
        self.request = self.answer = None
        self.chunks = ()
        self._tape = None
        self.trimmed = True

    def _move(self, state: State) -> None:
        """Move to ``state``; an illegal move is a bug and raises RuntimeError."""
        if state is State.ERROR:
            if self.is_finished:
                raise RuntimeError(f"flow {self.id}: cannot go from {self.state} to ERROR")
        elif state not in _NEXT[self.state]:
            raise RuntimeError(f"flow {self.id}: cannot go from {self.state} to {state}")
        self.state = state
        elapsed = (time.perf_counter() - self._started) * 1000
        self.history.append((state, elapsed))
        if state in FINAL_STATES:
            self.duration_ms = round(elapsed, 1)
            tape = self._tape
            chunks = self.chunks
            self.size += (
                tape.size
                if tape is not None and chunks is tape.chunks
                else sum(len(chunk.c) for chunk in chunks)
            )
        if self._on_move is not None:
            self._on_move(self)


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as ISO-8601 UTC with milliseconds."""
    return f"{_whole_second(int(seconds))}.{int(seconds * 1000) % 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _whole_second(second: int) -> str:
    # Calls that finish in the same second share the formatting (a strftime per call was a
    # few percent of a replay).
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
