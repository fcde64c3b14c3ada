"""Tape files: JSON in and out, the original tool's format, timed replay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from playingpack.tapes import Chunk, Tape, play

KEY = "a" * 64


def make_tape(**overrides: object) -> Tape:
    fields: dict[str, object] = {
        "key": KEY,
        "endpoint": "/v1/chat/completions",
        "request": {"model": "m", "messages": [{"role": "user", "content": "héllo"}]},
        "status": 200,
        "chunks": (Chunk('data: {"x": 1}\n\n', 12), Chunk("data: [DONE]\n\n", 0)),
        "streamed": True,
        "model": "m",
    }
    fields.update(overrides)
    return Tape(**fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    tape = make_tape()
    again = Tape.from_json(tape.to_json())
    assert (again.key, again.request, again.chunks, again.streamed, again.status) == (
        tape.key,
        tape.request,
        tape.chunks,
        True,
        200,
    )
    assert (again.id, again.timestamp, again.model, again.endpoint) == (
        tape.id,
        tape.timestamp,
        "m",
        "/v1/chat/completions",
    )


def test_file_is_pretty_sorted_and_keeps_non_ascii() -> None:
    text = make_tape().to_json().decode("utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "héllo" in text
    assert set(document) == {"meta", "request", "response"}
    assert set(document["meta"]) >= {"id", "hash", "timestamp", "model", "endpoint"}


def test_reads_original_format_without_additions() -> None:
    original = {
        "meta": {
            "id": "u",
            "hash": KEY,
            "timestamp": "2025-01-01T00:00:00.000Z",
            "model": "m",
            "endpoint": "/v1/chat/completions",
        },
        "request": {"body": {"model": "m"}},
        "response": {"status": 200, "chunks": [{"c": "data: [DONE]\n\n", "d": 3}]},
        "unknown": {"ignored": True},
    }
    tape = Tape.from_json(json.dumps(original).encode())
    assert tape.streamed is True
    json_answer = {**original, "response": {"status": 200, "chunks": [{"c": "{}", "d": 3}]}}
    assert Tape.from_json(json.dumps(json_answer).encode()).streamed is False


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (
            b'{"meta": {}, "request": {"body": {}}, "response": {"status": 200, "chunks": []}}',
            "hash",
        ),
        (
            b'{"meta": {"hash": "h"}, "request": {"body": {}}, '
            b'"response": {"status": 200, "chunks": [{"c": 1, "d": 0}]}}',
            "chunks",
        ),
        (
            b'{"meta": {"hash": "h"}, "request": {"body": {}}, '
            b'"response": {"status": 200, "chunks": [{"c": "x", "d": -1}]}}',
            "chunks",
        ),
    ],
)
def test_corrupt_tapes_raise_value_error_saying_what(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Tape.from_json(data)


def test_play_timed_and_instant() -> None:
    chunks = (Chunk("a", 0), Chunk("b", 120), Chunk("c", 0))
    writes: list[tuple[bytes, float]] = []

    async def write(data: bytes) -> None:
        writes.append((data, time.perf_counter()))

    started = time.perf_counter()
    asyncio.run(play(chunks, write, timed=True))
    assert [w[0] for w in writes] == [b"a", b"b", b"c"]
    assert writes[1][1] - writes[0][1] >= 0.11
    assert writes[0][1] - started < 0.05

    writes.clear()
    asyncio.run(play(chunks, write, timed=False))
    assert [w[0] for w in writes] == [b"abc"]
