"""SSE framing: events cut out of arbitrary network chunks."""

from __future__ import annotations

import pytest

from playingpack.sse import Event, EventSplitter, format_event, parse_event, split_text

BODY = 'data: {"a": "é"}\n\nevent: ping\ndata: 1\ndata: 2\n\n: comment\n\ndata: [DONE]\n\n'
EVENTS = [
    'data: {"a": "é"}\n\n',
    "event: ping\ndata: 1\ndata: 2\n\n",
    ": comment\n\n",
    "data: [DONE]\n\n",
]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 1000])
def test_splitter_finds_the_same_events_whatever_the_chunking(size: int, line_end: str) -> None:
    raw = BODY.replace("\n", line_end).encode("utf-8")
    splitter = EventSplitter()
    events: list[str] = []
    for start in range(0, len(raw), size):
        events.extend(splitter.feed(raw[start : start + size]))
    assert events == EVENTS
    assert splitter.pending == b""


def test_crlf_line_ends_are_normalised_even_when_split() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: x\r") == []
    assert splitter.feed(b"\n\r") == []
    assert splitter.feed(b"\ndata: y\r\n\r\n") == ["data: x\n\n", "data: y\n\n"]


def test_incomplete_event_stays_pending() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\n\ndata: 2\n") == ["data: 1\n\n"]
    assert splitter.pending == b"data: 2\n"


def test_parse_event_fields() -> None:
    assert parse_event("event: message_start\ndata: {}\n\n") == Event("message_start", "{}")
    assert parse_event("data:no-space\ndata:  two\n\n") == Event(None, "no-space\n two")
    assert parse_event(": heartbeat\n\n") == Event(None, "")
    assert parse_event("data: x\r\n\r\n") == Event(None, "x")
    assert parse_event("event: e\r\ndata: y\r\n\r\n") == Event("e", "y")


def test_format_event_round_trips() -> None:
    text = format_event("line 1\nline 2", event="delta")
    assert text == "event: delta\ndata: line 1\ndata: line 2\n\n"
    assert parse_event(text) == Event("delta", "line 1\nline 2")


def test_split_text_keeps_a_final_event_without_blank_line() -> None:
    assert split_text("data: 1\n\ndata: 2") == ["data: 1\n\n", "data: 2\n\n"]
