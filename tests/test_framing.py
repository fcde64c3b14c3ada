"""NDJSON and streamed JSON arrays cut into events as they arrive, however the reads fall:
checked on the real recorded Ollama and Gemini streams of the corpus."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from playingpack.framing import JsonArraySplitter, NdjsonSplitter

CORPUS = Path(__file__).parent / "corpus"


def recorded(kind: str) -> list[dict[str, Any]]:
    """The corpus's complete streams of one framing: ``ndjson`` or ``json-array``."""
    found = []
    for path in sorted(CORPUS.rglob("*.json")):
        document = json.loads(path.read_text("utf-8"))
        if not isinstance(document, dict) or not document.get("stream"):
            continue
        endpoint = str(document.get("endpoint", ""))
        events = document.get("response", {}).get("events") or []
        if not events or not document.get("expect", {}).get("tape"):
            continue
        ndjson = endpoint.startswith(("/api/chat", "/api/generate"))
        array = ":streamGenerateContent" in endpoint and "alt=sse" not in endpoint
        if (kind == "ndjson" and ndjson) or (kind == "json-array" and array):
            found.append(document)
    return found


def cut(body: bytes, rng: random.Random) -> list[bytes]:
    """``body`` in reads of random sizes, single bytes included."""
    reads, at = [], 0
    while at < len(body):
        size = rng.choice((1, 2, 3, 7, 64, 1000))
        reads.append(body[at : at + size])
        at += size
    return reads


def split(splitter: NdjsonSplitter | JsonArraySplitter, reads: list[bytes]) -> list[str]:
    events: list[str] = []
    for data in reads:
        events += splitter.feed(data)
    assert splitter.size == len(splitter.pending)
    rest = splitter.pending.decode()
    return events + ([rest] if rest else [])


@pytest.mark.parametrize("kind", ["ndjson", "json-array"])
def test_recorded_streams_split_into_their_events_however_they_are_read(kind: str) -> None:
    documents = recorded(kind)
    assert documents, f"the corpus has no complete {kind} stream"
    rng = random.Random(7)
    for document in documents:
        events: list[str] = document["response"]["events"]
        body = "".join(events).encode()
        for attempt in range(20):
            reads = [body] if attempt == 0 else cut(body, rng)
            made = NdjsonSplitter() if kind == "ndjson" else JsonArraySplitter()
            assert split(made, reads) == events, (document["id"], attempt)


def test_ndjson_lines_keep_their_bytes() -> None:
    splitter = NdjsonSplitter()
    assert splitter.feed(b'{"a": 1}\n{"b"') == ['{"a": 1}\n']
    assert splitter.pending == b'{"b"' and splitter.size == 4
    assert splitter.feed(b': "\xc3') == []
    assert splitter.feed(b'\xa9"}\n\n') == ['{"b": "\u00e9"}\n', "\n"]
    assert splitter.pending == b"" and splitter.size == 0


def test_a_json_array_is_cut_at_its_elements_not_inside_strings_or_nested_values() -> None:
    body = b'[{"text": "a } ] \\" \\\\", "list": [1, {"x": [2]}]}\n,\r\n{"text": "\\\\"}\n]'
    events = [
        '[{"text": "a } ] \\" \\\\", "list": [1, {"x": [2]}]}',
        '\n,\r\n{"text": "\\\\"}',
        "\n]",
    ]
    for size in range(1, len(body) + 1):
        reads = [body[at : at + size] for at in range(0, len(body), size)]
        assert split(JsonArraySplitter(), reads) == events, size


def test_a_cut_json_array_leaves_its_unfinished_element_pending() -> None:
    splitter = JsonArraySplitter()
    assert splitter.feed(b'[{"a": 1},\n{"b": "\\') == ['[{"a": 1}']
    assert splitter.pending == b',\n{"b": "\\'
    assert splitter.feed(b'"x"}') == [',\n{"b": "\\"x"}']
