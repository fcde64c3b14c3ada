"""Replays: what a tape turns into for each kind of client, worked out once per tape.

A tape recorded from a stream is served to a JSON client as the assembled answer, and a JSON
tape to a streaming client as the events the provider would have sent (SPEC §6).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import msgspec

from playingpack.providers import Provider
from playingpack.tapes import Chunk, Tape


class Replays:
    """The Replay of each tape in use; one goes when its tape is no longer cached."""

    def __init__(self) -> None:
        self._replays: weakref.WeakKeyDictionary[Tape, Replay] = weakref.WeakKeyDictionary()

    def of(self, tape: Tape, provider: Provider) -> Replay:
        replay = self._replays.get(tape)
        if replay is None:
            replay = self._replays[tape] = Replay(tape, provider)
        return replay


class Replay:
    """A tape as each kind of client gets it; each form is built on first use and kept.

    It keeps the tape's parts, not the tape: Replays holds it in a weak dictionary keyed by
    the tape, which a reference back would keep alive forever.
    """

    def __init__(self, tape: Tape, provider: Provider) -> None:
        self.provider = provider
        self.streamed = tape.streamed
        self.chunks = tape.chunks
        self.body = tape.body
        self.total_delay_ms = tape.total_delay_ms
        if tape.streamed:
            self.summary = provider.summarize_events([chunk.c for chunk in tape.chunks])
        else:
            self.summary = provider.summarize(self.answer)
        self._json: bytes | None = None
        self._chunks: tuple[Chunk, ...] | None = None
        self._stream: bytes | None = None

    @functools.cached_property
    def answer(self) -> dict[str, Any]:
        """The answer as JSON."""
        if self.streamed:
            return self.provider.assemble([chunk.c for chunk in self.chunks])
        return decode_object(self.body) or {}

    def json_body(self) -> bytes:
        """What a non-streaming client gets: the recorded body, or the assembled stream."""
        if self._json is None:
            self._json = msgspec.json.encode(self.answer) if self.streamed else self.body
        return self._json

    def stream_chunks(self, request: Any) -> tuple[Chunk, ...]:
        """What a streaming client gets, with the delays to replay."""
        # The request's stream_options are part of the tape key, so the converted stream is the
        # same for every request that finds this tape.
        if self._chunks is None:
            if self.streamed:
                self._chunks = self.chunks
            else:
                events = self.provider.to_events(self.answer, request)
                delay = self.total_delay_ms
                self._chunks = tuple(Chunk(e, delay if i == 0 else 0) for i, e in enumerate(events))
        return self._chunks

    def stream_body(self, request: Any) -> bytes:
        """All of stream_chunks in one piece (replay without timing)."""
        if self._stream is None:
            chunks = self.stream_chunks(request)
            self._stream = "".join(chunk.c for chunk in chunks).encode("utf-8")
        return self._stream


def decode_object(payload: bytes | str) -> dict[str, Any] | None:
    """``payload`` as a JSON object, or None when it is not one."""
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None
