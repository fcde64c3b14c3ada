"""Tape files: JSON in and out, the original tool's format, timed replay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from playingpack.tapes import FORMAT_VERSION, Chunk, Tape, parse_time, play

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

    async def write(data: bytes | memoryview) -> None:
        writes.append((bytes(data), time.perf_counter()))

    started = time.perf_counter()
    asyncio.run(play(chunks, write, timed=True))
    assert [w[0] for w in writes] == [b"a", b"b", b"c"]
    assert writes[1][1] - writes[0][1] >= 0.11
    assert writes[0][1] - started < 0.05

    writes.clear()
    asyncio.run(play(chunks, write, timed=False))
    assert [w[0] for w in writes] == [b"abc"]


def test_the_format_written_is_read_and_a_newer_one_is_refused_saying_what_to_do() -> None:
    document = json.loads(make_tape().to_json())
    assert document["meta"]["format"] == FORMAT_VERSION
    assert Tape.from_json(json.dumps(document).encode()).key == KEY
    document["meta"]["format"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError) as info:
        Tape.from_json(json.dumps(document).encode())
    assert str(info.value) == (
        f"meta.format is {FORMAT_VERSION + 1}, newer than the tape format {FORMAT_VERSION} this "
        "playingpack reads: it was written by a newer playingpack. Upgrade playingpack (pip "
        "install -U playingpack) to replay it, or re-record it with this version"
    )


@pytest.mark.parametrize("version", [0, -1])
def test_a_format_never_written_is_refused(version: int) -> None:
    document = json.loads(make_tape().to_json())
    document["meta"]["format"] = version
    with pytest.raises(ValueError, match=f"meta.format is {version}, not a tape format"):
        Tape.from_json(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05.678000+00:00"),
        ("2026-01-02T04:04:05+01:00", "2026-01-02T03:04:05+00:00"),
        ("2026-01-02", "2026-01-02T00:00:00+00:00"),  # naive: taken as UTC
    ],
)
def test_parse_time(timestamp: str, expected: str) -> None:
    parsed = parse_time(timestamp)
    assert parsed is not None and parsed.isoformat() == expected


@pytest.mark.parametrize("timestamp", [None, "", "yesterday"])
def test_parse_time_of_what_is_no_time(timestamp: str | None) -> None:
    assert parse_time(timestamp) is None


def test_a_tapes_origin_is_written_and_read() -> None:
    recorded = json.loads(make_tape().to_json())
    assert recorded["meta"]["origin"] == "recorded"
    assert "parent" not in recorded["meta"] and "kept" not in recorded["meta"]

    kept = make_tape(origin="edited", parent="abc/" + KEY, kept="2026-12-01T10:00:00.000Z")
    again = Tape.from_json(kept.to_json())
    assert (again.origin, again.parent, again.kept) == (
        "edited",
        "abc/" + KEY,
        "2026-12-01T10:00:00.000Z",
    )


def test_a_tape_without_an_origin_or_with_an_unknown_one_reads_as_recorded() -> None:
    document = json.loads(make_tape().to_json())
    del document["meta"]["origin"]
    assert Tape.from_json(json.dumps(document).encode()).origin == "recorded"
    document["meta"]["origin"] = "dreamt"
    assert Tape.from_json(json.dumps(document).encode()).origin == "recorded"
