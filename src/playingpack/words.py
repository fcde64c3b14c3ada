"""Word-level diffs of two texts: which words one has that the other has not.

A word is a run of non-space characters with the whitespace after it (whitespace at the very
start is a word of its own), so the words of a text joined give it back: the ``same`` and
``removed`` runs of a diff spell the first text, the ``same`` and ``added`` runs the second.
"""

from __future__ import annotations

import difflib
import re

from playingpack.wire_diff import WordJSON, WordOp

# Texts of more words than this are compared whole (one removal and one addition) past their
# common start and end: matching words costs more than linear time, and a diff of two
# different books tells a person nothing a side-by-side view does not.
MAX_WORDS = 20_000

_WORD = re.compile(r"\s+|\S+\s*")


def words_of(text: str) -> list[str]:
    """``text`` cut into words, each with the whitespace after it."""
    return _WORD.findall(text)


def word_diff(a: str, b: str) -> list[WordJSON]:
    """The runs of words ``a`` and ``b`` share, and those only one of them has, in order;
    neighbouring words of one kind are one run."""
    if a == b:
        return [WordJSON("same", a)] if a else []
    old, new = words_of(a), words_of(b)
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    runs: list[WordJSON] = []
    _add(runs, "same", old[:start])
    middle_old, middle_new = old[start : len(old) - end], new[start : len(new) - end]
    if len(middle_old) > MAX_WORDS or len(middle_new) > MAX_WORDS:
        _add(runs, "removed", middle_old)
        _add(runs, "added", middle_new)
    else:
        matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                _add(runs, "same", middle_old[i1:i2])
            else:
                _add(runs, "removed", middle_old[i1:i2])
                _add(runs, "added", middle_new[j1:j2])
    _add(runs, "same", old[len(old) - end :])
    return runs


def _add(runs: list[WordJSON], op: WordOp, words: list[str]) -> None:
    if not words:
        return
    text = "".join(words)
    if runs and runs[-1].op == op:
        runs[-1] = WordJSON(runs[-1].op, runs[-1].text + text)
    else:
        runs.append(WordJSON(op, text))
