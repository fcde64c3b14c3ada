"""Stream framings other than SSE: newline-delimited JSON (Ollama) and a streamed JSON array
(Gemini's ``:streamGenerateContent`` without ``alt=sse``), cut into event texts as they arrive.

Each splitter has the interface of ``sse.EventSplitter``: ``feed(bytes)`` returns the events
the bytes completed, ``pending`` the bytes after the last one and ``size`` their length. Unlike
SSE events, these event texts keep their bytes exactly (no line-end normalising): joined, they
are the body as it came.
"""

from __future__ import annotations

import re

from playingpack.providers import Framing
from playingpack.sse import EventSplitter

# What changes the state of a JSON scan: brackets, braces, quotes and escapes.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class NdjsonSplitter:
    """Cuts network chunks into whole lines, each with its ``\\n``; blank lines are events too
    (the client decides what they mean). Linear in the bytes fed."""

    __slots__ = ("_parts", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the lines completed by them."""
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._parts.append(chunk)
                self.size += len(chunk)
            return []
        complete = b"".join((*self._parts, chunk[: end + 1]))
        rest = chunk[end + 1 :]
        self._parts = [rest] if rest else []
        self.size = len(rest)
        text = complete.decode("utf-8", "replace")
        return [line + "\n" for line in text.split("\n")[:-1]]

    @property
    def pending(self) -> bytes:
        """Bytes received after the last complete line."""
        return b"".join(self._parts)


class JsonArraySplitter:
    """Cuts a streamed JSON array of objects into its elements as they complete.

    An event is an element with the bytes before it since the previous one: ``[{...}``, then
    ``\\n,\\r\\n{...}`` and so on; the closing bracket, with what precedes it, is an event of
    its own. The scan keeps its state (depth, inside a string, after a backslash) between
    reads and looks only at the bytes that can change it, so it is linear in the bytes fed.
    """

    __slots__ = ("_depth", "_escaped", "_parts", "_string", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._depth = 0  # of brackets and braces, the array's own included
        self._string = False
        self._escaped = False  # the read ended on a backslash inside a string
        self.size = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the elements (and the closing bracket) they completed."""
        ends: list[int] = []
        skip = 0 if self._escaped else -1  # the position of a byte a backslash escapes
        for match in _STRUCTURE.finditer(chunk):
            at = match.start()
            if at == skip:
                continue
            byte = chunk[at]
            if self._string:
                if byte == 0x5C:  # backslash
                    skip = at + 1
                elif byte == 0x22:  # quote
                    self._string = False
            elif byte == 0x22:
                self._string = True
            elif byte in (0x7B, 0x5B):  # { [
                self._depth += 1
            elif byte in (0x7D, 0x5D):  # } ]
                self._depth -= 1
                if self._depth <= 1:
                    ends.append(at + 1)
        self._escaped = skip == len(chunk)
        if not ends:
            if chunk:
                self._parts.append(chunk)
                self.size += len(chunk)
            return []
        buffer = b"".join((*self._parts, chunk))
        offset = len(buffer) - len(chunk)
        events: list[str] = []
        previous = 0
        for end in ends:
            events.append(buffer[previous : offset + end].decode("utf-8", "replace"))
            previous = offset + end
        rest = buffer[previous:]
        self._parts = [rest] if rest else []
        self.size = len(rest)
        return events

    @property
    def pending(self) -> bytes:
        """Bytes received after the last complete element."""
        return b"".join(self._parts)


Splitter = EventSplitter | NdjsonSplitter | JsonArraySplitter
# The Content-Type of a stream in each framing, as the providers send it.
_CONTENT_TYPES: dict[Framing, str] = {
    "sse": "text/event-stream; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "json-array": "application/json; charset=UTF-8",
}


def splitter_for(framing: Framing) -> Splitter:
    """A splitter of a stream in ``framing`` into its event texts."""
    if framing == "ndjson":
        return NdjsonSplitter()
    if framing == "json-array":
        return JsonArraySplitter()
    return EventSplitter()


def stream_headers(framing: Framing) -> dict[str, str]:
    """The headers of a stream the proxy writes itself (a replay, a mock, a held answer)."""
    return {
        "Content-Type": _CONTENT_TYPES[framing],
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }


def is_stream(framing: Framing, content_type: str, asked: bool) -> bool:
    """Whether an upstream's 2xx answer of ``content_type`` (its media type alone) is a stream
    in ``framing``; ``asked`` says whether the client asked for one (a JSON array is told from
    a JSON answer only by that)."""
    if framing == "json-array":
        return asked and content_type == "application/json"
    return content_type == _CONTENT_TYPES[framing].partition(";")[0]


def closes(framing: Framing, event: str) -> bool:
    """Whether a stream in ``framing`` may end after ``event``: in a JSON array only its
    closing bracket (an element's event ends with its ``}``), in the others any event."""
    return framing != "json-array" or event.rstrip().endswith("]")


def framing_of(event: str) -> Framing:
    """The framing a recorded stream's first event text is in."""
    start = event.lstrip()
    if start.startswith("["):
        return "json-array"
    if start.startswith("{"):
        return "ndjson"
    return "sse"
