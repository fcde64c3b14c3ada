"""Recording: which tape answers a call (sequences included), the tapes made of answers, the
run's ledger of both, and why a replay-only call found none.

A streamed answer is recorded by a Capture as it passes; it calls back when there is a whole
answer to save.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from playingpack.call import MAX_ANSWER, OFF_LOOP, Call, run
from playingpack.config import RecordMode
from playingpack.framing import Splitter, closes, splitter_for
from playingpack.ledger import Miss, TapeLedger
from playingpack.providers import Framing, Provider, Summary
from playingpack.settings import Settings
from playingpack.store import TapeStores
from playingpack.tapes import Chunk, Tape
from playingpack.upstream import reason

logger = logging.getLogger(__name__)

# Saves a stream's tape: its chunks so far, and whether they replace the ones saved a moment ago.
SaveStream = Callable[[tuple[Chunk, ...], bool], Awaitable[None]]


class Recorder:
    """Finds the tape of a call and saves the tapes of answers, telling the ledger of both."""

    def __init__(self, settings: Settings, stores: TapeStores, ledger: TapeLedger) -> None:
        self.settings = settings
        self.stores = stores
        self.ledger = ledger
        # How many times each request has been seen this run, per tapes folder (sequences).
        self._seen: dict[tuple[str, str], int] = {}

    async def lookup(self, call: Call) -> Tape | None:
        """Key ``call`` and find its tape: None when there is none, or when the record mode
        records every answer afresh. Raises TapeError for a tape that cannot be read.

        In a sequence beyond its recordings, replay-only replays the last one (so a folder
        recorded without sequences keeps working).
        """
        flow, mode = call.flow, self.settings.record
        key = await run(call.big, call.provider.key, call.body, flow.path)
        flow.set_key(key)
        if self.settings.sequence:
            seen = (str(call.store.directory), key)
            call.index = self._seen[seen] = self._seen.get(seen, 0) + 1
        if mode is RecordMode.REFRESH:
            return None
        tape = await call.store.fetch(key, call.index)
        if tape is None and call.index > 1 and mode is RecordMode.REPLAY_ONLY:
            while tape is None and call.index > 1:
                call.index -= 1
                tape = await call.store.fetch(key, call.index)
        return tape

    async def key_of(self, call: Call) -> str:
        """Key ``call`` (the flow is told), leaving the sequences as they are."""
        key = await run(call.big, call.provider.key, call.body, call.flow.path)
        call.flow.set_key(key)
        return key

    async def find(self, call: Call) -> Tape | None:
        """The tape of ``call``'s request whatever the record mode (a resend to the tapes);
        raises TapeError as lookup does."""
        return await call.store.fetch(await self.key_of(call))

    def replayed(self, call: Call, tape: Tape) -> None:
        """Tell the ledger (and the flow) that ``tape`` answered ``call``."""
        call.flow.use_tape("replayed")
        self.ledger.tape_replayed(self.stores.name_of(call.store, tape.key, call.index))

    async def save(
        self,
        call: Call,
        status: int,
        streamed: bool,
        chunks: tuple[Chunk, ...],
        *,
        again: bool = False,
    ) -> None:
        """Save the tape of ``call``; ``again`` replaces the one saved for it a moment ago
        (more events arrived after the end of the answer) without counting a new recording.
        A tape that cannot be written is a warning: the client's answer never depends on it."""
        flow = call.flow
        assert flow.key is not None
        tape = Tape(
            key=flow.key,
            endpoint=flow.path,
            request=call.body,
            status=status,
            chunks=chunks,
            streamed=streamed,
            model=flow.model or "",
        )
        big = call.big or sum(len(chunk.c) for chunk in chunks) > OFF_LOOP
        try:
            await run(big, call.store.save, tape, call.index)
        except Exception as exc:
            logger.warning("could not save tape %s: %s", flow.key, reason(exc))
            return
        if not again:
            flow.use_tape("recorded")
            self.ledger.tape_recorded(self.stores.name_of(call.store, flow.key, call.index))

    async def miss(self, call: Call) -> str:
        """Replay-only and no tape: the message that says which request, where its tape
        would be, the nearest recording and how the two requests differ. The ledger is told."""
        flow = call.flow
        name, explanation = await self._explain(call)
        assert flow.key is not None
        self.ledger.tape_missing(
            Miss(flow.method, flow.path, flow.model, flow.key, name, explanation)
        )
        return (
            f"No tape for this POST {flow.path} request{_model(flow.model)}: tape {name} was not "
            f"found in {self.stores.directory}, and the record mode is replay-only, so the "
            f"upstream was not called. {explanation} Record it by running once with --record "
            "auto (or PLAYINGPACK_RECORD=auto; under pytest, --playingpack-record auto), then "
            "commit the new tape."
        )

    async def resend_miss(self, call: Call) -> str:
        """A resend to the tapes found none: the message, as for a miss (the run's ledger is
        not told: a person asked, no test)."""
        flow = call.flow
        name, explanation = await self._explain(call)
        return (
            f"No tape for this resent POST {flow.path} request{_model(flow.model)}: tape {name} "
            f"was not found in {self.stores.directory}, and a resend to the tapes never calls "
            f"the upstream. {explanation} Resend it to the upstream and keep its answer to make "
            "its tape."
        )

    async def _explain(self, call: Call) -> tuple[str, str]:
        """The missing tape's name, and the sentence on the nearest recording."""
        flow = call.flow
        assert flow.key is not None
        name = self.stores.name_of(call.store, flow.key, call.index)
        nearest = await asyncio.to_thread(call.store.nearest, call.body, flow.path)
        if nearest is not None:
            if flow.scope is not None and nearest.name:
                nearest = dataclasses.replace(nearest, name=f"{flow.scope}/{nearest.name}")
            explanation = nearest.describe()
        else:
            explanation = f"No request to {flow.path} has been recorded in that folder."
        flow.use_tape("missed")
        return name, explanation


def _model(model: str | None) -> str:
    return f" (model {model})" if model else ""


class Capture:
    """A streamed answer as it passes: cut into timed events for the flow and the tape.

    The tape is saved (``save``) as soon as the answer is complete, before those bytes go out
    (so a client that has seen the end of the answer can rely on the tape being there), and
    saved again when more events follow, so that it ends with the last byte of the body. An
    answer that reports an error, never completes, or grows past MAX_ANSWER is never saved.
    ``tell`` receives the events read on the loop, for the live view.
    """

    __slots__ = (
        "answer_end",
        "big",
        "chunks",
        "complete",
        "ended",
        "failure",
        "finished",
        "framing",
        "last",
        "loop",
        "oversized",
        "provider",
        "received",
        "save",
        "saved",
        "spill",
        "splitter",
        "tell",
    )

    def __init__(
        self,
        provider: Provider,
        sent_at: float,
        big: bool,
        save: SaveStream | None,
        tell: Callable[[list[str]], None],
        framing: Framing = "sse",
    ) -> None:
        """``sent_at`` is when the request went (loop time); ``big`` whether reading the
        answer's events is done off the loop from the start; ``save`` None records nothing;
        ``framing`` how the stream's events are cut."""
        self.provider = provider
        self.save = save
        self.tell = tell
        self.loop = asyncio.get_running_loop()
        self.framing: Framing = framing
        self.splitter: Splitter = splitter_for(framing)
        self.chunks: list[Chunk] = []
        self.last = sent_at
        self.complete = False
        self.finished = False  # the provider's last event came (a JSON array may still be open)
        self.ended = False
        self.failure: str | None = None  # the error the upstream reported in the stream
        self.answer_end = 0  # how many chunks make the whole answer, once complete
        self.saved = 0  # how many chunks the tape on disk holds
        self.big = big  # whether reading the answer's events is done off the loop
        self.oversized = False  # the answer went over MAX_ANSWER: the rest is not read
        self.spill = b""  # the bytes of the unfinished event kept back until then
        self.received = 0  # bytes of the answer so far

    @property
    def answered(self) -> bool:
        """Whether the events so far make a whole, successful answer."""
        return self.complete and self.failure is None

    def is_delivered_by(self, events: int) -> bool:
        """Whether a client sent the first ``events`` events has the whole answer."""
        return self.answered and events >= self.answer_end

    async def feed(self, data: bytes) -> list[str]:
        """Take the next network chunk; returns the events it completed."""
        if self.oversized:
            return []
        self.received += len(data)
        if self.received > MAX_ANSWER:
            self.oversized = True
            self.save = None
            self.spill = self.splitter.pending
            self.splitter = splitter_for(self.framing)
            return []
        if self.splitter.size > OFF_LOOP:
            # An event that big is joined and decoded off the loop when it ends.
            events = await asyncio.to_thread(self.splitter.feed, data)
        else:
            events = self.splitter.feed(data)
        if events:
            await self._add(events)
        return events

    def texts(self) -> list[str]:
        """The answer's event texts so far."""
        return [chunk.c for chunk in self.chunks]

    async def summary(self) -> Summary:
        """What the events so far say: model, usage, tool calls."""
        return await run(self.big, self.provider.summarize_events, self.texts())

    async def end(self) -> list[str]:
        """The upstream body has ended (or the relay stops reading it): keep any bytes after
        its last blank line as a last chunk, and save. Returns that chunk, if any."""
        if self.ended:
            return []
        self.ended = True
        rest = self.splitter.pending
        if not rest:
            await self._save()
            return []
        tail = [rest.decode("utf-8", "replace")]
        await self._add(tail)
        return tail

    async def _add(self, events: list[str]) -> None:
        now = self.loop.time()
        self.chunks.append(Chunk(events[0], round((now - self.last) * 1000)))
        self.chunks.extend(Chunk(event, 0) for event in events[1:])
        self.last = now
        big = sum(map(len, events)) > OFF_LOOP
        self.big = self.big or big
        if big:
            failure, ends = await asyncio.to_thread(self._read, events)
        else:
            failure, ends = self._read(events)
        if self.failure is None:
            self.failure = failure
        if not self.complete and ends is not None:
            self.complete = True
            self.answer_end = len(self.chunks) - len(events) + ends
        await self._save()
        if not big:
            # Text too big to read on the loop reaches listeners with the finished flow.
            self.tell(events)

    def _read(self, events: list[str]) -> tuple[str | None, int | None]:
        """The error these events report, and how many of them it takes to complete the
        answer (None when they do not)."""
        provider = self.provider
        failure = provider.failure(events) if self.failure is None else None
        if self.complete:
            return failure, None
        start = 0
        if not self.finished:
            if not provider.is_complete(events):
                return failure, None
            self.finished = True
            start = next(
                (n for n, event in enumerate(events) if provider.is_complete((event,))),
                len(events) - 1,
            )
        # A streamed JSON array is whole once closed too: cut before its "]", it is no JSON.
        ends = next(
            (n + 1 for n in range(start, len(events)) if closes(self.framing, events[n])), None
        )
        return failure, ends

    async def _save(self) -> None:
        if self.save is not None and self.answered and self.saved < len(self.chunks):
            saved = len(self.chunks)
            await self.save(tuple(self.chunks), self.saved > 0)
            self.saved = saved
