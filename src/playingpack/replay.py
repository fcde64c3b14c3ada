"""Replays: what a tape turns into for each kind of client, worked out once per tape.

A tape recorded from a stream is served to a JSON client as the assembled answer, and a JSON
tape to a streaming client as the events the provider would have sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import weakref
from collections.abc import Iterator
from typing import Any

import msgspec

from playingpack.framing import framing_of
from playingpack.hashing import InvalidJSON, parse_body
from playingpack.providers import Framing, Holdable, Provider
from playingpack.tapes import Chunk, Tape

# Tapes whose chunks hold more characters than this are turned into replays off the loop.
BIG_TAPE = 1024**2


class InvalidReplay(ValueError):
    """A tape that parses but cannot be served: its answer is not one the provider can read.
    The message says why in plain words; it does not name the file (the caller knows it)."""


class Replays:
    """The Replay of each tape in use; one goes when its tape is no longer cached."""

    def __init__(self) -> None:
        self._replays: weakref.WeakKeyDictionary[Tape, Replay] = weakref.WeakKeyDictionary()

    async def prepared(
        self, tape: Tape, provider: Provider, request: Any, stream: bool, framing: Framing = "sse"
    ) -> Replay:
        """The Replay of ``tape`` with the form a client asking ``stream`` (in ``framing``)
        gets built (a big tape's in a worker thread). Raises InvalidReplay when the tape
        cannot give it."""
        replay = self._replays.get(tape)
        if replay is not None and replay.ready(stream, framing):
            return replay

        def build() -> Replay:
            built = replay or Replay(tape, provider)
            if stream:
                built.stream_body(request, framing)
            else:
                built.json_body()
            return built

        if sum(len(chunk.c) for chunk in tape.chunks) > BIG_TAPE:
            replay = await asyncio.to_thread(build)
        else:
            replay = build()
        # Kept as long as its tape is (the tape cache holds tapes up to CACHE_TAPE_LIMIT).
        self._replays[tape] = replay
        return replay


class Replay:
    """A tape as each kind of client gets it; each form is built on first use and kept.

    It keeps the tape's parts, not the tape: Replays holds it in a weak dictionary keyed by
    the tape, which a reference back would keep alive forever.
    """

    def __init__(self, tape: Tape, provider: Provider) -> None:
        """Raises InvalidReplay when the tape's answer is not one ``provider`` can read."""
        self.provider = provider
        self.streamed = tape.streamed
        self.chunks = tape.chunks
        self.total_delay_ms = tape.total_delay_ms
        with _invalid("its recorded events cannot be read as an answer"):
            self.body = tape.body
            if tape.streamed:
                self.summary = provider.summarize_events([chunk.c for chunk in tape.chunks])
            else:
                self.summary = provider.summarize(self.answer)
        self._json: bytes | None = None
        self._chunks: dict[Framing, tuple[Chunk, ...]] = {}
        self._stream: dict[Framing, bytes] = {}

    def ready(self, stream: bool, framing: Framing = "sse") -> bool:
        """Whether the form a client asking ``stream`` (in ``framing``) gets is built."""
        return framing in self._stream if stream else self._json is not None

    @functools.cached_property
    def answer(self) -> dict[str, Any]:
        """The answer as JSON; raises InvalidReplay when there is none to be had."""
        if self.streamed:
            with _invalid("its recorded events cannot be assembled into a JSON answer"):
                return self.provider.assemble([chunk.c for chunk in self.chunks])
        answer = decode_object(self.body)
        if answer is None:
            start = self.body[:40].decode("utf-8", "replace")
            raise InvalidReplay(
                f"it holds a JSON answer that is not a JSON object (it starts {start!r})"
            )
        return answer

    def json_body(self) -> bytes:
        """What a non-streaming client gets: the recorded body, or the assembled stream."""
        if self._json is None:
            if self.streamed:
                with _invalid("its assembled answer cannot be written as JSON"):
                    self._json = msgspec.json.encode(self.answer)
            else:
                self._json = self.body
        return self._json

    def stream_chunks(self, request: Any, framing: Framing = "sse") -> tuple[Chunk, ...]:
        """What a streaming client gets in ``framing``, with the delays to replay: the events
        recorded when they are in that framing, else the answer written in it."""
        # The request's stream_options are part of the tape key, so the converted stream is the
        # same for every request that finds this tape.
        chunks = self._chunks.get(framing)
        if chunks is None:
            if self.streamed and framing_of(self.chunks[0].c) == framing:
                chunks = self.chunks
            else:
                provider = self.provider
                if not isinstance(provider, Holdable):
                    raise InvalidReplay(f"answers of {provider.endpoint} are never streamed")
                with _invalid("its answer cannot be turned into a stream"):
                    try:
                        events = provider.framed_events(self.answer, request, framing)
                    except UnicodeEncodeError:
                        # A lone surrogate (valid JSON, escaped) that the event encoder cannot
                        # write: the stream carries U+FFFD instead, as a decoder would show it.
                        answer = _without_lone_surrogates(self.answer)
                        events = provider.framed_events(answer, request, framing)
                delay = self.total_delay_ms
                chunks = tuple(Chunk(e, delay if i == 0 else 0) for i, e in enumerate(events))
            self._chunks[framing] = chunks
        return chunks

    def stream_body(self, request: Any, framing: Framing = "sse") -> bytes:
        """All of stream_chunks in one piece (replay without timing)."""
        body = self._stream.get(framing)
        if body is None:
            chunks = self.stream_chunks(request, framing)
            body = self._stream[framing] = "".join(chunk.c for chunk in chunks).encode("utf-8")
        return body


def decode_object(payload: bytes | str) -> dict[str, Any] | None:
    """``payload`` as a JSON object, or None when it is not one (or nests too deep to read)."""
    try:
        value = msgspec.json.decode(payload)
    except RecursionError:
        return None
    except msgspec.DecodeError:
        # Escaped lone surrogates are valid JSON that msgspec refuses; parse_body reads them.
        try:
            value = parse_body(payload.encode() if isinstance(payload, str) else payload)
        except (InvalidJSON, ValueError, UnicodeEncodeError):
            return None
    return value if isinstance(value, dict) else None


# What a provider's code raises on a stream or answer of an unexpected shape.
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


@contextlib.contextmanager
def _invalid(what: str) -> Iterator[None]:
    try:
        yield
    except InvalidReplay:
        raise
    except _UNREADABLE as exc:
        raise InvalidReplay(f"{what} ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it nests too deep"
    if isinstance(exc, UnicodeError):
        return "it holds a lone UTF-16 surrogate, which UTF-8 cannot carry"
    return f"{type(exc).__name__}: {exc}"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value
