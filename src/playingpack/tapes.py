"""Tapes: one recorded answer, its JSON file format, and replaying its chunks with their timing.

File format (SPEC §6), UTF-8 JSON, pretty-printed with sorted keys::

    {"meta": {"id", "hash", "timestamp", "model", "endpoint", "format"},
     "request": {"body": <request JSON>},
     "response": {"status": int, "streamed": bool, "chunks": [{"c": str, "d": int}]}}

``c`` is the raw text of one chunk (one SSE event, or the whole JSON body of a non-streamed
answer) and ``d`` the milliseconds since the previous chunk (for the first, since the request was
sent). ``format`` and ``streamed`` are additions; tapes without them (the original tool's) are read
by sniffing the first chunk. Unknown fields are ignored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, NamedTuple

import msgspec

FORMAT_VERSION = 1
_SSE_PREFIXES = ("data:", "event:", ":", "id:", "retry:")


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

    @cached_property
    def body(self) -> bytes:
        """All chunks joined: the bytes a client gets when timing is not replayed."""
        return "".join(chunk.c for chunk in self.chunks).encode("utf-8")

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
            },
            "request": {"body": self.request},
            "response": {
                "status": self.status,
                "streamed": self.streamed,
                "chunks": [{"c": chunk.c, "d": chunk.d} for chunk in self.chunks],
            },
        }
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Tape:
        """Read a tape file's bytes; raise ValueError saying what is wrong."""
        try:
            document = msgspec.json.decode(data, type=_TapeFile)
        except msgspec.ValidationError as exc:
            raise ValueError(f"unexpected content: {exc}") from None
        except msgspec.DecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        chunks = tuple(Chunk(chunk.c, chunk.d) for chunk in document.response.chunks)
        streamed = document.response.streamed
        if streamed is None:
            streamed = bool(chunks) and chunks[0].c.lstrip().startswith(_SSE_PREFIXES)
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
        )


async def play(
    chunks: Sequence[Chunk], write: Callable[[bytes], Awaitable[None]], *, timed: bool
) -> None:
    """Write chunks through ``write``, sleeping each chunk's recorded delay first when timed."""
    if not timed:
        await write("".join(chunk.c for chunk in chunks).encode("utf-8"))
        return
    for chunk in chunks:
        if chunk.d > 0:
            await asyncio.sleep(chunk.d / 1000)
        await write(chunk.c.encode("utf-8"))


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Meta(msgspec.Struct):
    hash: str
    id: str = ""
    timestamp: str = ""
    model: str = ""
    endpoint: str = "/v1/chat/completions"


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
