"""Word-level diffs, by direct calls on literal texts."""

from __future__ import annotations

import itertools

from playingpack.wire_diff import WordJSON
from playingpack.words import MAX_WORDS, word_diff, words_of


def spelled(runs: list[WordJSON], side: str) -> str:
    """The text one side's runs spell: ``a`` from same + removed, ``b`` from same + added."""
    kept = {"a": ("same", "removed"), "b": ("same", "added")}[side]
    return "".join(run.text for run in runs if run.op in kept)


def test_words_keep_the_whitespace_after_them() -> None:
    assert words_of("  The cat\n sat.") == ["  ", "The ", "cat\n ", "sat."]
    assert "".join(words_of("a  b\tc\n")) == "a  b\tc\n"


def test_a_changed_word_is_removed_then_added_between_shared_runs() -> None:
    runs = word_diff("The weather in Paris is sunny.", "The weather in Lyon is sunny.")
    assert runs == [
        WordJSON("same", "The weather in "),
        WordJSON("removed", "Paris "),
        WordJSON("added", "Lyon "),
        WordJSON("same", "is sunny."),
    ]


def test_the_runs_spell_both_texts() -> None:
    a = "one two three four five six seven"
    b = "zero one two four five 5.5 six seven eight"
    runs = word_diff(a, b)
    assert spelled(runs, "a") == a
    assert spelled(runs, "b") == b
    # Neighbouring runs are of different kinds: like words are one run.
    assert all(x.op != y.op for x, y in itertools.pairwise(runs))
    assert WordJSON("removed", "three ") in runs
    assert WordJSON("added", "5.5 ") in runs


def test_equal_and_empty_texts() -> None:
    assert word_diff("same text", "same text") == [WordJSON("same", "same text")]
    assert word_diff("", "") == []
    assert word_diff("", "new") == [WordJSON("added", "new")]
    assert word_diff("old", "") == [WordJSON("removed", "old")]


def test_texts_too_long_to_match_are_compared_whole_past_their_shared_ends() -> None:
    a = "start " + " ".join(f"a{i}" for i in range(MAX_WORDS + 5)) + " end"
    b = "start " + " ".join(f"b{i}" for i in range(MAX_WORDS + 5)) + " end"
    runs = word_diff(a, b)
    assert [run.op for run in runs] == ["same", "removed", "added", "same"]
    assert runs[0].text == "start "
    assert runs[-1].text.endswith("end")
    assert (spelled(runs, "a"), spelled(runs, "b")) == (a, b)


def test_a_long_text_with_one_change_is_still_diffed_word_by_word() -> None:
    words = [f"w{i}" for i in range(3 * MAX_WORDS)]
    changed = [*words]
    changed[MAX_WORDS] = "CHANGED"
    runs = word_diff(" ".join(words), " ".join(changed))
    assert [run.op for run in runs] == ["same", "removed", "added", "same"]
    assert (runs[1].text, runs[2].text) == (f"w{MAX_WORDS} ", "CHANGED ")
