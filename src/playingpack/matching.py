"""Explaining a miss: how near a recorded request is to a new one, and where the two differ.

The tape index (``tape_index``) finds the nearest tape by these measures: first the words of the
messages, then the request's (path, value) leaves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from playingpack.conversation import (
    Conversation,
    ImagePart,
    JsonPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from playingpack.providers import Provider

_SHOWN = 40  # characters of each value shown around the first difference
_WORD = re.compile(r"[^\W_]+")
# Words that say little about which request is meant: a question that adds "in winter" to a
# tape's question is nearer to it than to another city's question "in winter".
STOPWORDS = frozenset(
    str.split(
        "a about above after again all am an and any are as at be because been before being "
        "below between both but by can could did do does doing down during each few for from "
        "further had has have having he her here hers him his how i if in into is it its itself "
        "just me more most my myself no nor not now of off on once only or other our ours out "
        "over own same she should so some such than that the their theirs them then there these "
        "they this those through to too under until up very was we were what when where which "
        "while who whom why will with would you your yours"
    )
)
_READ_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


@dataclass(frozen=True)
class Nearest:
    """The recorded tape nearest to a request, and the first differences between them."""

    name: str  # the file's path relative to the tapes folder, without .json; "" for none
    timestamp: str
    differences: list[str]
    # While the folder is indexed for the first time: how many of its tapes were searched.
    searched: int | None = None

    def describe(self) -> str:
        """One sentence for an error message (two while the folder is being indexed)."""
        partial = (
            f"the {self.searched or 0:,} tapes of this folder indexed so far (it is being "
            "indexed for the first time: a miss in a few seconds searches them all)"
        )
        if not self.name:
            return f"No request to this endpoint is among {partial}."
        where = "; ".join(self.differences) if self.differences else "no difference in the body"
        found = f"The nearest recorded request is tape {self.name} ({self.timestamp}): {where}."
        return found if self.searched is None else f"{found} Searched: {partial}."


def differences(recorded: Any, wanted: Any, limit: int = 3) -> list[str]:
    """The first ``limit`` places where ``wanted`` differs from ``recorded``, each as
    ``path: recorded-value ≠ wanted-value`` with long values shortened around the change."""
    found: list[str] = []
    _compare(recorded, wanted, "", found, limit)
    return found


def _compare(old: Any, new: Any, path: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                found.append(f"{where}: {_shown(old[key])} ≠ (absent)")
            elif key not in old:
                found.append(f"{where}: (absent) ≠ {_shown(new[key])}")
            else:
                _compare(old[key], new[key], where, found, limit)
            if len(found) >= limit:
                return
        return
    if isinstance(old, list) and isinstance(new, list):
        for position in range(max(len(old), len(new))):
            where = f"{path}[{position}]"
            if position >= len(new):
                found.append(f"{where}: {_shown(old[position])} ≠ (absent)")
            elif position >= len(old):
                found.append(f"{where}: (absent) ≠ {_shown(new[position])}")
            else:
                _compare(old[position], new[position], where, found, limit)
            if len(found) >= limit:
                return
        return
    if old != new or type(old) is not type(new):
        if isinstance(old, str) and isinstance(new, str):
            shown_old, shown_new = _around_change(old, new)
        else:
            shown_old, shown_new = _shown(old), _shown(new)
        found.append(f"{path or '(body)'}: {shown_old} ≠ {shown_new}")


def _around_change(old: str, new: str) -> tuple[str, str]:
    """Both strings cut to a window around their first differing character."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    begin = max(0, start - _SHOWN // 2)

    def cut(text: str) -> str:
        part = text[begin : begin + _SHOWN]
        head = "…" if begin > 0 else ""
        tail = "…" if begin + _SHOWN < len(text) else ""
        return _json(head + part + tail)

    return cut(old), cut(new)


def _shown(value: Any) -> str:
    text = _json(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def leaf_set(value: Any) -> frozenset[tuple[str, str]]:
    """The (path, JSON value) pairs of every leaf of ``value``, ``stream`` left out."""
    leaves: list[tuple[str, str]] = []
    _walk(value, "", leaves)
    return frozenset(leaves)


def _walk(value: Any, path: str, leaves: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "stream":
                _walk(item, f"{path}.{key}", leaves)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _walk(item, f"{path}[{position}]", leaves)
    else:
        leaves.append((path, _json(value)))


def _json(value: Any) -> str:
    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON writes as an escape
        return json.dumps(value)


def text_of(body: Any, provider: Provider | None, conversation: Conversation | None = None) -> str:
    """The text of a request's messages as its provider reads them (``conversation``, when
    given, is that reading); every string in it when no provider reads it."""
    if conversation is None and provider is not None:
        try:
            conversation = provider.turns(body)
        except _READ_ERRORS:
            conversation = None
    if conversation is None:
        return _strings(body)
    texts: list[str] = []
    for turn in conversation.turns:
        _part_texts(turn.parts, texts)
    return "\n".join(texts)


def words_of(text: str) -> set[str]:
    """The words of ``text``, lowercased (runs of letters and digits, as SQLite's FTS5 sees
    them)."""
    return set(_WORD.findall(text.lower()))


def content_words(words: set[str]) -> set[str]:
    """``words`` without the STOPWORDS, unless nothing else is left."""
    return (words - STOPWORDS) or words


def word_share(wanted: set[str], recorded: set[str]) -> float:
    """How near two texts are by their (content) words: the Jaccard similarity of the sets."""
    return _jaccard(wanted, recorded)


def leaf_share(wanted: frozenset[tuple[str, str]], recorded: frozenset[tuple[str, str]]) -> float:
    """How near two requests are by their leaves (see leaf_set): the Jaccard similarity."""
    return _jaccard(wanted, recorded)


def _jaccard(a: set[Any] | frozenset[Any], b: set[Any] | frozenset[Any]) -> float:
    if not a and not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _part_texts(parts: Sequence[Any], texts: list[str]) -> None:
    for part in parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ToolCallPart):
            texts += [part.name, _strings(part.arguments)]
        elif isinstance(part, ToolResultPart):
            texts.append(_strings(part.content))
        elif isinstance(part, JsonPart):
            texts.append(_strings(part.value))
        elif not isinstance(part, ImagePart):
            texts.append(_strings(part))


def _strings(value: Any) -> str:
    """Every string in ``value``, one a line."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return "\n".join(found)
