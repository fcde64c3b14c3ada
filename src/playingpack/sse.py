"""Server-sent events: split a byte stream into events and read their fields.

Independent of any provider: OpenAI sends ``data:`` lines only, Anthropic and the Responses API
add ``event:`` lines; both end each event with a blank line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

DONE = "[DONE]"


class Event(NamedTuple):
    """One parsed SSE event. ``data`` joins multiple data lines with newlines."""

    event: str | None
    data: str


class EventSplitter:
    """Cuts arbitrary network chunks into whole SSE event texts, each ending in a blank line.

    Linear in the bytes fed, however an event is cut: bytes that end no event are only kept,
    and joined once, when the chunk that ends the event arrives. Bytes that are not UTF-8 are
    read as U+FFFD (the client is sent the bytes themselves).
    """

    __slots__ = ("_parts", "_tail", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._tail = b""  # the last three pending bytes, however many reads they came in
        self.size = 0  # how many bytes are pending

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the events completed by them (normalised to ``\\n`` line ends)."""
        parts = self._parts
        if parts:
            # A blank line may start in the bytes kept so far: look at their last three too.
            window = self._tail + chunk[:3]
            ends = b"\n\n" in window or b"\n\r\n" in window
            if not ends and b"\n\n" not in chunk and b"\n\r\n" not in chunk:
                parts.append(chunk)
                self._tail = (self._tail + chunk[-3:])[-3:]
                self.size += len(chunk)
                return []
            parts.append(chunk)
            buffer = b"".join(parts)
        else:
            buffer = chunk
        if b"\r" in buffer:
            # A "\r" at the very end stays pending until its "\n" arrives.
            buffer = buffer.replace(b"\r\n", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._parts = [buffer]
            self._tail = buffer[-3:]
            self.size = len(buffer)
            return []
        complete, rest = buffer[: end + 2], buffer[end + 2 :]
        self._parts = [rest] if rest else []
        self._tail = rest[-3:]
        self.size = len(rest)
        text = complete.decode("utf-8", "replace")
        return [part + "\n\n" for part in text.split("\n\n") if part]

    @property
    def pending(self) -> bytes:
        """Bytes received after the last complete event."""
        return b"".join(self._parts)


def parse_event(text: str) -> Event:
    """Read the ``event`` and ``data`` fields of one event text; comments are ignored."""
    if text.startswith("data: ") and text.endswith("\n\n") and text.count("\n") == 2:
        return Event(None, text[6:-2])  # the common case: one data line
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    name: str | None = None
    data: list[str] = []
    for line in text.split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    return Event(name, "\n".join(data))


def parse_events(texts: Iterable[str]) -> Iterator[Event]:
    """Parse each event text, skipping texts that carry no data (comments, heartbeats)."""
    for text in texts:
        event = parse_event(text)
        if event.data or event.event:
            yield event


def format_event(data: str, event: str | None = None) -> str:
    """Frame one event: an optional ``event:`` line, then one ``data:`` line per line of data."""
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def split_text(text: str) -> list[str]:
    """Split a whole SSE body (as stored or replayed) into event texts."""
    splitter = EventSplitter()
    events = splitter.feed(text.encode("utf-8"))
    rest = splitter.pending.decode("utf-8", "replace").strip("\n")
    if rest:
        events.append(rest + "\n\n")
    return events
