"""Agent threads, rebuilt from the traffic: which earlier call each call continues.

The rule. A call *continues* an earlier call when its input extends that call's input plus its
answer: the chat (and Ollama chat) ``messages``, the Responses ``input`` (or its
``previous_response_id``, which names the earlier call's answer), the Anthropic ``messages``,
the Gemini ``contents``, with ``system`` (Responses' ``instructions``, Gemini's
``systemInstruction``) as the first turns. A call that continues none starts a thread; a
thread's id is the id of its first call. The longest match wins.

The turns are compared as atoms (``thread_atoms``), not as raw JSON: what clients send back
differs from what the API answered (``null`` content, ``refusal`` fields, arguments written
again, reasoning dropped or kept, text split into blocks). Tool call ids are the strongest
signal: at each length the match with the ids is tried before the one without.

Retries. A call whose input equals a failed earlier call's input (ERROR, or a 4xx/5xx answer),
sent after that call ended, repeats it (``retry_of``): same thread, same place in it, no new
step. A client gives up on a call it times out on by hanging up, which ends it in ERROR, so a
retry after a timeout is one too. The same input after a *successful* call is no retry: it is
the same agent started again with the same first message (a new thread), or a second answer
asked for at the same point (a branch after the same step). The same input sent while the
earlier call was still running is no retry either (two agents started at once).

Equal traffic. When several calls have the same input and answer (the same agent run twice on
tapes, or two identical agents in parallel), a call continues the one that nothing continues
yet, then the latest. That keeps two runs of one agent apart, whichever order their calls end
in. A thread never leaves its scope (the per-test tapes folder: each test's calls are its own).

A call may also continue an earlier call whose whole input its own input extends, without that
call's answer (the client rewrote the answer, or the call failed and the client went on). The
longest match of either kind wins; at one length, input plus answer comes first.

The index keeps, for each of its recent calls, the hashes of its input and of its input plus
answer; a call is placed by hashing the prefixes of its input in one pass and looking each up,
so placing costs O(turns), however many calls came before (at most a few calls are kept under
one hash and scope). It is bounded (``capacity`` calls, the oldest forgotten first) and
warmed at start from the stored fingerprints, oldest first, so a thread goes on across a
restart.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from playingpack.flows import Flow, State
from playingpack.providers import Provider
from playingpack.thread_atoms import (
    DIGEST,
    Kind,
    answer_turns,
    digests,
    kind_of,
    request_turns,
    title,
    writable,
)

# A retry is sent once the call it repeats has ended; this much earlier still counts (the
# call's end is taken when the proxy has written its last byte, the client may be quicker).
_RETRY_SLACK = 0.1
CAPACITY = 20_000
# Calls kept under one hash and scope: equal traffic (a test suite run again and again on its
# tapes) would otherwise make one list as long as the index, scanned at every placement.
_KEPT = 8

_Key = tuple[str | None, bytes]  # (scope, hash)


class Fingerprint(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What placing a call needs of it: the digests of its atoms (8 bytes each, strict and
    loose), and the few facts the retry and equal-traffic rules use. Stored with the call."""

    kind: Kind
    system: bytes = b""  # the system prompt's atoms (Anthropic system, Responses instructions)
    input: bytes = b""  # the other turns' atoms, with tool call ids
    input_loose: bytes = b""  # the same without ids; empty when equal to ``input``
    answer: bytes = b""
    answer_loose: bytes = b""
    previous: str | None = None  # Responses: the previous_response_id it sent
    answer_id: str | None = None  # Responses: the id of its answer
    failed: bool = False
    scope: str | None = None
    started: float | None = None  # epoch seconds
    ended: float | None = None
    title: str = ""  # its first user message's text, shortened

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @staticmethod
    def decode(blob: bytes | str) -> Fingerprint:
        """A fingerprint from ``encode``; raises msgspec.DecodeError or ValidationError."""
        return _decode_fingerprint(blob)


_decode_fingerprint = msgspec.json.Decoder(Fingerprint).decode


class Placement(NamedTuple):
    thread: str  # the thread's id: the id of its first call
    after: str | None  # the call this one continues
    retry_of: str | None  # the call this one repeats


def fingerprint(
    provider: Provider,
    request: Any,
    answer: Any,
    *,
    failed: bool | None = None,
    scope: str | None = None,
    started: float | None = None,
    ended: float | None = None,
    memo: Callable[[str, Callable[[], Any]], Any] | None = None,
    request_memo: Callable[[str, Callable[[], Any]], Any] | None = None,
) -> Fingerprint | None:
    """The fingerprint of a call to ``provider`` with this ``request`` and JSON ``answer``;
    None for a call that is no conversation (embeddings, completions, pass-through, a body
    that is no object). ``failed`` unknown: an answer of the wrong shape (an error body).
    ``memo`` keeps what is worked out from the answer alone (``Flow.memo``: once per tape),
    ``request_memo`` what is worked out from the request (``Flow.request_memo``)."""
    kind = kind_of(provider)
    if kind is None or not isinstance(request, dict):
        return None
    system, (strict, loose), named = (request_memo or _now)(
        "thread request", lambda: _request_digests(kind, request)
    )
    given, (answer_strict, answer_loose) = (memo or _now)(
        "thread answer", lambda: _answer_digests(kind, answer)
    )
    previous = request.get("previous_response_id") if kind == "responses" else None
    answer_id = answer.get("id") if kind == "responses" and isinstance(answer, dict) else None
    return Fingerprint(
        kind=kind,
        system=system,
        input=strict,
        input_loose=b"" if loose == strict else loose,
        answer=answer_strict,
        answer_loose=b"" if answer_loose == answer_strict else answer_loose,
        previous=writable(previous) if isinstance(previous, str) else None,
        answer_id=writable(answer_id) if isinstance(answer_id, str) else None,
        failed=given is None if failed is None else failed,
        scope=scope,
        started=started,
        ended=ended,
        title=named,
    )


def flow_fingerprint(flow: Flow) -> Fingerprint | None:
    """The fingerprint of finished ``flow``: failed when it ended in ERROR or its status is an
    error (the client then has no answer to go on with)."""
    if flow.provider is None:
        return None
    ended = None if flow.duration_ms is None else flow.started + flow.duration_ms / 1000
    return fingerprint(
        flow.provider,
        flow.request,
        flow.json_answer(),
        failed=flow.state is State.ERROR or (flow.status or 0) >= 400,
        scope=flow.scope,
        started=flow.started,
        ended=ended,
        memo=flow.memo,
        request_memo=flow.request_memo,
    )


def _request_digests(kind: Kind, request: dict[str, Any]) -> tuple[bytes, tuple[bytes, bytes], str]:
    system, turns = request_turns(kind, request)
    return digests(system)[0], digests(turns), title(turns)


def _answer_digests(kind: Kind, answer: Any) -> tuple[Any, tuple[bytes, bytes]]:
    given = answer_turns(kind, answer)
    return given, digests(given or ())


def _now(name: str, make: Callable[[], Any]) -> Any:
    return make()


@dataclass(eq=False, slots=True)
class _Call:
    id: str
    thread: str
    after: str | None
    retry_of: str | None
    scope: str | None
    failed: bool
    ended: float | None
    input_key: bytes
    ends: tuple[bytes, bytes] | None  # strict and loose hash of input + answer (None: failed)
    answer_id: str | None
    continued: bool = False
    retried: bool = False


class _Keys(NamedTuple):
    parent: _Call | None  # the call its previous_response_id names
    strict: list[bytes]  # the hash of each prefix of its input, shortest first
    loose: list[bytes]
    ends: tuple[bytes, bytes]


class ThreadIndex:
    """The recent calls (at most ``capacity``), by the hashes the rule looks up."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._ends: dict[_Key, list[_Call]] = {}
        self._loose_ends: dict[_Key, list[_Call]] = {}
        self._inputs: dict[_Key, list[_Call]] = {}
        self._answers: dict[str, _Call] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def place(self, flow_id: str, fp: Fingerprint) -> Placement:
        """Where the call ``flow_id`` goes (see the module docstring), and remember it. Calls
        are placed in the order they finish."""
        known = self._calls.get(flow_id)
        if known is not None:
            return Placement(known.thread, known.after, known.retry_of)
        keys = self._keys(fp)
        placement = self._decide(flow_id, fp, keys)
        self._add(flow_id, fp, keys, placement)
        return placement

    def remember(self, flow_id: str, fp: Fingerprint, placement: Placement) -> None:
        """Take a call placed before (a stored one, oldest first) so that later calls find
        it."""
        if flow_id not in self._calls:
            self._add(flow_id, fp, self._keys(fp), placement)

    def _keys(self, fp: Fingerprint) -> _Keys:
        parent = self._answers.get(fp.previous) if fp.previous else None
        if parent is not None and parent.ends is not None:
            # The earlier call's answer stands for the whole conversation before it; the
            # instructions are sent again with every call, so they are no new turn.
            strict_base, loose_base = parent.ends
            atoms, loose_atoms = fp.input, fp.input_loose or fp.input
        else:
            parent = None
            strict_base = loose_base = b""
            atoms, loose_atoms = fp.system + fp.input, fp.system + (fp.input_loose or fp.input)
        strict = _chain(strict_base, atoms)
        loose = _chain(loose_base, loose_atoms)
        strict_end = _chain(strict[-1] if strict else strict_base, fp.answer)
        loose_end = _chain(loose[-1] if loose else loose_base, fp.answer_loose or fp.answer)
        ends = (
            strict_end[-1] if strict_end else (strict[-1] if strict else strict_base),
            loose_end[-1] if loose_end else (loose[-1] if loose else loose_base),
        )
        return _Keys(parent, strict, loose, ends)

    def _decide(self, flow_id: str, fp: Fingerprint, keys: _Keys) -> Placement:
        if not fp.input:
            return Placement(flow_id, None, None)
        started, scope = fp.started, fp.scope

        def repeatable(call: _Call) -> bool:
            return (
                call.failed
                and not call.retried
                and (started is None or call.ended is None or started >= call.ended - _RETRY_SLACK)
            )

        repeated = _best(self._inputs.get((scope, keys.strict[-1]), ()), repeatable)
        if repeated is not None:
            return Placement(repeated.thread, repeated.after, repeated.id)
        whole = len(keys.strict)
        for length in range(whole, 0, -1):
            strict, loose = (scope, keys.strict[length - 1]), (scope, keys.loose[length - 1])
            earlier = _best(self._ends.get(strict, ())) or _best(self._loose_ends.get(loose, ()))
            if earlier is None and length < whole:
                earlier = _best(self._inputs.get(strict, ()))
            if earlier is not None:
                return Placement(earlier.thread, earlier.id, None)
        if keys.parent is not None:
            return Placement(keys.parent.thread, keys.parent.id, None)
        return Placement(flow_id, None, None)

    def _add(self, flow_id: str, fp: Fingerprint, keys: _Keys, placement: Placement) -> None:
        if not fp.input:
            return  # no conversation to go on from
        call = _Call(
            flow_id,
            placement.thread,
            placement.after,
            placement.retry_of,
            fp.scope,
            fp.failed,
            fp.ended,
            keys.strict[-1],
            None if fp.failed else keys.ends,
            fp.answer_id,
        )
        self._calls[flow_id] = call
        _push(self._inputs, (call.scope, call.input_key), call)
        if call.ends is not None:
            _push(self._ends, (call.scope, call.ends[0]), call)
            _push(self._loose_ends, (call.scope, call.ends[1]), call)
            if call.answer_id is not None:
                self._answers[call.answer_id] = call
        for marked, flag in ((placement.after, "continued"), (placement.retry_of, "retried")):
            earlier = self._calls.get(marked) if marked is not None else None
            if earlier is not None:
                setattr(earlier, flag, True)
        while len(self._calls) > self.capacity:
            self._forget(self._calls.popitem(last=False)[1])

    def _forget(self, call: _Call) -> None:
        _drop(self._inputs, (call.scope, call.input_key), call)
        if call.ends is not None:
            _drop(self._ends, (call.scope, call.ends[0]), call)
            _drop(self._loose_ends, (call.scope, call.ends[1]), call)
        if call.answer_id is not None and self._answers.get(call.answer_id) is call:
            del self._answers[call.answer_id]


def _best(calls: Iterable[_Call], usable: Callable[[_Call], bool] | None = None) -> _Call | None:
    """Of the ``calls`` (oldest first) that are ``usable``: the latest that nothing
    continues yet, else the latest."""
    best: _Call | None = None
    for call in calls:
        if usable is not None and not usable(call):
            continue
        if best is None or call.continued <= best.continued:
            best = call
    return best


def _push(index: dict[_Key, list[_Call]], key: _Key, call: _Call) -> None:
    calls = index.setdefault(key, [])
    calls.append(call)
    if len(calls) > _KEPT:
        del calls[0]


def _drop(index: dict[_Key, list[_Call]], key: _Key, call: _Call) -> None:
    calls = index.get(key)
    if calls is not None:
        calls[:] = [other for other in calls if other is not call]
        if not calls:
            del index[key]


def _chain(base: bytes, digests: bytes) -> list[bytes]:
    """The hash of each prefix of ``digests`` (atom by atom), continuing from ``base``."""
    prefixes = []
    current = base
    for start in range(0, len(digests), DIGEST):
        current = hashlib.blake2b(
            current + digests[start : start + DIGEST], digest_size=16
        ).digest()
        prefixes.append(current)
    return prefixes
