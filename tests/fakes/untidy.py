"""Sending SSE the way real servers do, not the way a tidy fake would.

Real providers split events across network reads at any byte (inside a multi-byte UTF-8
character too), send ``:`` comments, may end lines with CRLF, and write the last event,
``[DONE]`` and the end of the body separately, with gaps between them. The fakes send every
stream through here, so that no test of the product passes only because the wire was tidy.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field

from aiohttp import web

# Long enough on loopback that what follows arrives in a read of its own.
TAIL_GAP = 0.002


@dataclass
class Untidy:
    """How one stream goes on the wire. Seeded, so a failing test fails the same way again."""

    seed: int = 0
    split: bool = True  # cut each event at up to two random byte offsets
    bytewise: bool = False  # send every byte on its own
    comments: bool = True  # a ``:`` comment before the first event and after the last
    crlf: bool = False  # CRLF line ends instead of LF
    tail_gap: float = TAIL_GAP  # before the last two events and before the end of the body
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pieces(self, event: str) -> list[bytes]:
        """``event`` as bytes, cut at up to two random offsets (inside a UTF-8 sequence too)."""
        data = (event.replace("\n", "\r\n") if self.crlf else event).encode()
        if self.bytewise:
            return [data[offset : offset + 1] for offset in range(len(data))]
        if not self.split or len(data) < 2:
            return [data]
        cuts = sorted(self.rng.sample(range(1, len(data)), k=min(2, len(data) - 1)))
        bounds = [0, *cuts, len(data)]
        return [data[start:end] for start, end in itertools.pairwise(bounds)]


async def start(response: web.StreamResponse, untidy: Untidy) -> None:
    """What real servers send before the first event."""
    if untidy.comments:
        await send(response, ": connected\n\n", untidy)


async def send(
    response: web.StreamResponse, event: str, untidy: Untidy, *, tail: bool = False
) -> None:
    """Write one event in pieces, yielding between them so that each goes out on its own;
    ``tail`` (the last event, the terminator) waits a gap first."""
    if tail and untidy.tail_gap:
        await asyncio.sleep(untidy.tail_gap)
    for number, piece in enumerate(untidy.pieces(event)):
        if number:
            await asyncio.sleep(0)
        await response.write(piece)


async def finish(response: web.StreamResponse, untidy: Untidy) -> None:
    """A trailing comment, then the end of the body, each after a gap."""
    if untidy.tail_gap:
        await asyncio.sleep(untidy.tail_gap)
    if untidy.comments:
        await send(response, ": end of stream\n\n", untidy)
        if untidy.tail_gap:
            await asyncio.sleep(untidy.tail_gap)
    await response.write_eof()
