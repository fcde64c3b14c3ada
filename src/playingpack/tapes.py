"""Tapes: one recorded answer, its JSON file format, and replaying its chunks with their timing.

File format, UTF-8 JSON, pretty-printed with sorted keys::

    {"meta": {"id", "hash", "timestamp", "model", "endpoint", "format", "origin",
              "parent"?, "kept"?},
     "request": {"body": <request JSON>},
     "response": {"status": int, "streamed": bool, "chunks": [{"c": str, "d": int}]}}

``c`` is the raw text of one chunk (one SSE event, or the whole JSON body of a non-streamed
answer) and ``d`` the milliseconds since the previous chunk (for the first, since the request was
sent). ``origin`` says how the answer came to be (see Origin); a tape a person kept from a resend
also names the ``parent`` call's key and when it was ``kept``. ``format`` and ``streamed`` are
additions; tapes without them (the original tool's) are read
by sniffing the first chunk. Unknown fields are ignored, but a ``format`` newer than
FORMAT_VERSION is refused: such a tape may mean something this version cannot tell.

A tape must make sense as an answer: its status is a final HTTP status (200..599), it has at
least one chunk, and its request nests at most MAX_DEPTH arrays and objects deep (the readers of
tapes walk requests recursively). Lone UTF-16 surrogates, which JSON allows as escapes
(``"\\ud800"``), are written as such escapes and read back as they were.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, cast, get_args

import msgspec

from playingpack.hashing import nests_deeper, reject_constant

FORMAT_VERSION = 1  # of the tape files written; older and newer ones are refused on read
_BIG_CHUNK = 1024**2  # a chunk longer than this is encoded off the loop and written in pieces
# Arrays and objects nested in a tape's request; deeper is refused as corrupt. Above the limit
# on requests (hashing.MAX_DEPTH), so every tape recorded reads; below where the readers'
# recursion (hashing, matching, the CLI) would run out of stack.
MAX_DEPTH = 300
_SSE_PREFIXES = ("data:", "event:", ":", "id:", "retry:")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_T = TypeVar("_T")
# How a tape's answer came to be: recorded from the upstream, or kept by a person from a resend
# of the same request, of an edited request, or from a mock.
Origin = Literal["recorded", "resent", "edited", "mock"]
ORIGINS: frozenset[str] = frozenset(get_args(Origin))


class Chunk(NamedTuple):
    """One piece of an answer: its raw text and the milliseconds since the previous one.

    A named tuple rather than a frozen dataclass: one is made per streamed event, and a tuple is
    several times cheaper to create.
    """

    c: str
    d: int


@dataclass(frozen=True, eq=False)
class Tape:
    """A recorded request and the complete answer the upstream gave to it."""

    key: str
    endpoint: str
    request: Any
    status: int
    chunks: tuple[Chunk, ...]
    streamed: bool
    model: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: str = field(default_factory=lambda: _utc_now())
    origin: Origin = "recorded"
    parent: str | None = None  # for a kept answer: the key of the call it was resent from
    kept: str | None = None  # when a person kept it, ISO-8601 UTC
    _memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @cached_property
    def body(self) -> bytes:
        """All chunks joined: the bytes a client gets when timing is not replayed."""
        return "".join(chunk.c for chunk in self.chunks).encode("utf-8")

    @cached_property
    def size(self) -> int:
        """Characters in all chunks: what a flow replaying the tape counts against its
        memory budget, worked out once for a tape the store keeps cached."""
        return sum(len(chunk.c) for chunk in self.chunks)

    def memo(self, name: str, make: Callable[[], _T]) -> _T:
        """What ``make`` works out from this tape (its assembled answer, its text), kept with
        it: a tape the store keeps cached is replayed, and its flows read, many times."""
        try:
            value: _T = self._memo[name]
        except KeyError:
            value = self._memo[name] = make()
        return value

    @cached_property
    def total_delay_ms(self) -> int:
        """Milliseconds from the request to the last chunk, as recorded."""
        return sum(chunk.d for chunk in self.chunks)

    def to_json(self) -> bytes:
        """The tape file's bytes: pretty-printed, keys sorted, non-ASCII kept."""
        document = {
            "meta": {
                "id": self.id,
                "hash": self.key,
                "timestamp": self.timestamp,
                "model": self.model,
                "endpoint": self.endpoint,
                "format": FORMAT_VERSION,
                "origin": self.origin,
                **({"parent": self.parent} if self.parent is not None else {}),
                **({"kept": self.kept} if self.kept is not None else {}),
            },
            "request": {"body": self.request},
            "response": {
                "status": self.status,
                "streamed": self.streamed,
                "chunks": [{"c": chunk.c, "d": chunk.d} for chunk in self.chunks],
            },
        }
        try:
            # msgspec's C encoder and formatter hold the interpreter for far less time than
            # json's indenting encoder (which big tapes, written from a worker thread, need).
            return (
                msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2) + b"\n"
            )
        except UnicodeEncodeError:
            text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            # Lone surrogates can only be inside strings, where their escape means the same.
            return _LONE_SURROGATE.sub(_escape, text).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Tape:
        """Read a tape file's bytes; raise ValueError saying what is wrong."""
        document = decode(data, _TapeFile)
        version = document.meta.format
        if version is not None and version != FORMAT_VERSION:
            raise ValueError(_unknown_format(version))
        response = document.response
        if not 200 <= response.status <= 599:
            raise ValueError(
                f"response.status is {response.status}, not a final HTTP status (200..599)"
            )
        if not response.chunks:
            raise ValueError("response.chunks is empty: the tape holds no answer")
        body = document.request.body
        if type(body) in (dict, list) and nests_deeper(body, MAX_DEPTH, data):
            raise ValueError(f"its request nests more than {MAX_DEPTH} arrays and objects deep")
        chunks = tuple(Chunk(chunk.c, chunk.d) for chunk in response.chunks)
        streamed = document.response.streamed
        if streamed is None:
            streamed = chunks[0].c.lstrip().startswith(_SSE_PREFIXES)
        meta = document.meta
        return cls(
            key=meta.hash,
            endpoint=meta.endpoint,
            request=document.request.body,
            status=document.response.status,
            chunks=chunks,
            streamed=streamed,
            model=meta.model,
            id=meta.id,
            timestamp=meta.timestamp,
            # A newer playingpack's origin reads as what this one knows: a recording.
            origin=cast("Origin", meta.origin) if meta.origin in ORIGINS else "recorded",
            parent=meta.parent,
            kept=meta.kept,
        )


async def play(
    chunks: Sequence[Chunk],
    write: Callable[[bytes | memoryview], Awaitable[None]],
    *,
    timed: bool,
) -> None:
    """Write chunks through ``write``, sleeping each chunk's recorded delay first when timed."""
    if not timed:
        await write("".join(chunk.c for chunk in chunks).encode("utf-8"))
        return
    for chunk in chunks:
        if chunk.d > 0:
            await asyncio.sleep(chunk.d / 1000)
        if len(chunk.c) > _BIG_CHUNK:
            # Encoding it would hold up the loop; so would writing it whole.
            data = await asyncio.to_thread(chunk.c.encode, "utf-8")
            view = memoryview(data)
            for start in range(0, len(view), _BIG_CHUNK):
                await write(view[start : start + _BIG_CHUNK])
        else:
            await write(chunk.c.encode("utf-8"))


def decode(data: bytes, shape: type[_T]) -> _T:
    """``data`` (a tape file's bytes) read as ``shape``, a msgspec Struct; raises ValueError
    saying what is wrong, nesting too deep to read included. Escaped lone surrogates are read."""
    try:
        return msgspec.json.decode(data, type=shape)
    except msgspec.ValidationError as exc:
        raise ValueError(f"unexpected content: {exc}") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    except msgspec.DecodeError as exc:
        reason = f"not valid JSON: {exc}"
    # msgspec rejects escaped lone surrogates, which JSON allows; the stdlib reads them.
    try:
        document = json.loads(data, parse_constant=reject_constant)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    except ValueError:
        raise ValueError(reason) from None
    try:
        return msgspec.convert(document, shape)
    except msgspec.ValidationError as exc:
        raise ValueError(f"unexpected content: {exc}") from None


_TOO_DEEP = f"it nests more than {MAX_DEPTH} arrays and objects deep"


def _unknown_format(version: int) -> str:
    if version > FORMAT_VERSION:
        return (
            f"meta.format is {version}, newer than the tape format {FORMAT_VERSION} this "
            "playingpack reads: it was written by a newer playingpack. Upgrade playingpack "
            "(pip install -U playingpack) to replay it, or re-record it with this version"
        )
    return (
        f"meta.format is {version}, not a tape format playingpack ever wrote (this version "
        f"reads format {FORMAT_VERSION}, and tapes without one): re-record it"
    )


def parse_time(timestamp: str | None) -> datetime | None:
    """An ISO-8601 time (as tapes and usage records hold them) as an aware datetime, naive
    ones taken as UTC; None when it is not one."""
    if not timestamp:
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Meta(msgspec.Struct):
    hash: str
    id: str = ""
    timestamp: str = ""
    model: str = ""
    endpoint: str = "/v1/chat/completions"
    format: int | None = None  # absent in the original tool's tapes
    origin: str = "recorded"  # absent in tapes written before provenance was kept
    parent: str | None = None
    kept: str | None = None


class _Request(msgspec.Struct):
    body: Any


class _Chunk(msgspec.Struct):
    c: str
    d: Annotated[int, msgspec.Meta(ge=0)] = 0


class _Response(msgspec.Struct):
    status: int
    chunks: list[_Chunk]
    streamed: bool | None = None


class _TapeFile(msgspec.Struct):
    meta: _Meta
    request: _Request
    response: _Response
