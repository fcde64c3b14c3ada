"""Explaining a miss: the nearest recorded request and where it differs."""

from __future__ import annotations

from typing import Any

from playingpack.matching import differences, leaf_set


def chat(*contents: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text} for text in contents]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


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


def test_leaves_are_paths_and_json_values_without_stream() -> None:
    assert leaf_set(chat("hi", stream=True, n=2)) == {
        (".model", '"gpt-4o-mini"'),
        (".messages[0].role", '"user"'),
        (".messages[0].content", '"hi"'),
        (".n", "2"),
    }
