"""Explaining a miss: the nearest recorded request and where it differs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playingpack.matching import RequestIndex, differences
from playingpack.tapes import Chunk, Tape


def chat(*contents: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text} for text in contents]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


def write(folder: Path, name: str, body: Any, endpoint: str = "/v1/chat/completions") -> None:
    tape = Tape(name, endpoint, body, 200, (Chunk("{}", 1),), False, timestamp=f"t-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_bytes(tape.to_json())


def test_differences_name_the_path_and_both_values() -> None:
    old = chat("You are terse.", "What is the capital of France? Answer about Paris.")
    new = chat("You are terse.", "What is the capital of France? Answer about Lyon.")
    assert differences(old, new) == [
        'messages[1].content: "…rance? Answer about Paris." ≠ "…rance? Answer about Lyon."'
    ]


def test_differences_cover_added_removed_and_typed_values_up_to_a_limit() -> None:
    old = chat("a", temperature=0.2, user="x")
    new = chat("a", "b", temperature=1, top_p=0.5)
    assert differences(old, new, limit=5) == [
        'messages[1]: (absent) ≠ {"role":"user","content":"b"}',
        "temperature: 0.2 ≠ 1",
        'user: "x" ≠ (absent)',
        "top_p: (absent) ≠ 0.5",
    ]
    assert len(differences(old, new, limit=2)) == 2
    assert differences(old, old) == []


def test_long_values_are_shortened() -> None:
    old = {"input": "x" * 500 + "A" + "y" * 500}
    new = {"input": "x" * 500 + "B" + "y" * 500}
    (line,) = differences(old, new)
    assert len(line) < 120 and "A" in line and "B" in line and "…" in line


def test_nearest_prefers_the_most_shared_request_on_the_same_endpoint(tmp_path: Path) -> None:
    write(tmp_path, "a" * 64, chat("You are terse.", "Weather in Paris?"))
    write(tmp_path, "b" * 64, chat("You are chatty.", "Tell me a joke", temperature=0.9))
    write(tmp_path, "c" * 64, {"model": "m", "input": "Weather in Paris?"}, "/v1/responses")
    index = RequestIndex(tmp_path)
    nearest = index.nearest(chat("You are terse.", "Weather in Lyon?"), "/v1/chat/completions")
    assert nearest is not None and nearest.name == "a" * 64
    assert nearest.differences == ['messages[1].content: "Weather in Paris?" ≠ "Weather in Lyon?"']
    assert "tape " + "a" * 64 in nearest.describe()
    assert index.nearest({"input": "x"}, "/v1/embeddings") is None


def test_index_follows_the_folder(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path / "missing")
    assert index.nearest(chat("hi"), "/v1/chat/completions") is None
    write(tmp_path, "a" * 64, chat("first"))
    index = RequestIndex(tmp_path)
    assert index.nearest(chat("first!"), "/v1/chat/completions").name == "a" * 64  # type: ignore[union-attr]
    write(tmp_path, "b" * 64, chat("first!"))
    (tmp_path / ("a" * 64 + ".json")).unlink()
    (tmp_path / "broken.json").write_text("{not json")
    nearest = index.nearest(chat("first!"), "/v1/chat/completions")
    assert nearest is not None and nearest.name == "b" * 64 and nearest.differences == []
    os.utime(tmp_path / ("b" * 64 + ".json"), (1, 1))
    assert index.nearest(chat("first!"), "/v1/chat/completions") is not None
