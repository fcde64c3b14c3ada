"""One rule for merging the pieces of a streamed JSON object into the whole object.

A stream sends an answer as deltas, pieces of JSON objects that give, merged in order, what a
non-streaming call returns. ``Merge`` applies that rule for every wire format, so a field that
nobody named survives as well as the ones we know:

- strings are joined. A text field (``content``, ``text``, ``reasoning``, ...) always is; any
  other string is joined unless the piece repeats the whole value so far: that is a label sent
  again with every piece (OpenRouter repeats ``format``, Groq ``channel`` and the ``arguments``
  of a tool it ran), not more of it;
- ``id``, ``index``, ``role`` and ``type`` name a thing and are never joined: the last
  non-empty value wins;
- a list whose entries carry an ``index`` is merged entry by entry: the pieces with one index
  merge, by this same rule, into one entry (which keeps its ``index``), in index order;
- content parts stay parts: in a list under ``content``, or under the field named after its
  object's ``type`` (Mistral's ``{"type": "thinking", "thinking": [...]}``), a delta's first
  part continues the last part when both have the same type, its other parts are new parts,
  and a string is a piece of a text part (``{"type": "text", "text": ...}``);
- the entries of any other list are appended;
- objects merge recursively; numbers and booleans take the last value; a null never erases a
  value, and a field first seen as null stays there as null.
"""

from __future__ import annotations

from typing import Any

# Fields whose pieces are generated text (or audio: base64 `data`), where two equal pieces in
# a row are real ("\n" then "\n", two chunks of silence).
_TEXT = frozenset(
    {
        "content",
        "text",
        "reasoning",
        "reasoning_content",
        "refusal",
        "thinking",
        "transcript",
        "data",
    }
)
_LABELS = frozenset({"id", "index", "role", "type"})


class Merge:
    """One JSON object being merged from the deltas of a stream, starting from ``start`` (the
    object as a stream first gives it whole, taken as it is and changed in place)."""

    __slots__ = ("_value",)

    def __init__(self, start: dict[str, Any] | None = None) -> None:
        self._value: dict[str, Any] = {} if start is None else start

    def add(self, delta: dict[str, Any]) -> None:
        """Merge the next delta in (it is read, never kept or changed)."""
        _merge_object(self._value, delta)

    def result(self) -> dict[str, Any]:
        """The object merged so far, as a fresh JSON value."""
        result: dict[str, Any] = _finished(self._value)
        return result


class _Text:
    """A string being joined: its pieces, joined once at the end (joining at every piece
    would copy a long answer once per piece)."""

    __slots__ = ("pieces",)

    def __init__(self, *pieces: str) -> None:
        self.pieces = list(pieces)


def _merge_object(into: dict[str, Any], delta: dict[str, Any]) -> None:
    kind = delta.get("type") or into.get("type")
    for key, value in delta.items():
        have = into.get(key)
        if value is None:
            into.setdefault(key, None)
        elif have is None:
            into[key] = _copy(value, key == "content" or key == kind)
        else:
            into[key] = _merged(key, have, value, key == "content" or key == kind)


def _merged(key: str, have: Any, value: Any, parts: bool) -> Any:
    if key in _LABELS:
        return have if value == "" else _copy(value, parts)
    if isinstance(value, str):
        if isinstance(have, _Text):
            have.pieces.append(value)
            return have
        if isinstance(have, str):
            return _Text(have, value) if key in _TEXT or value != have else have
    if isinstance(value, dict) and isinstance(have, dict):
        _merge_object(have, value)
        return have
    if parts and isinstance(have, str | _Text | list) and isinstance(value, str | list):
        # A content that goes from text to parts or back (Mistral's thinking models open
        # with "", send thinking parts, then the answer as strings).
        return _merge_list(_as_parts(have), _as_parts(value), parts=True)
    if isinstance(value, list) and isinstance(have, list):
        return _merge_list(have, value, parts)
    return _copy(value, parts)  # a number, a boolean, or a value that changed its kind


def _merge_list(have: list[Any], pieces: list[Any], parts: bool) -> list[Any]:
    if any(_index_of(piece) is not None for piece in pieces):
        unordered = False
        for piece in pieces:
            index = _index_of(piece)
            entry = None
            if index is not None:
                entry = next((e for e in have if _index_of(e) == index), None)
            if entry is not None:
                _merge_object(entry, piece)
                continue
            if have and index is not None and (_index_of(have[-1]) or 0) > index:
                unordered = True
            have.append(_copy(piece, parts=False))
        if unordered and all(_index_of(entry) is not None for entry in have):
            have.sort(key=lambda entry: _index_of(entry) or 0)
        return have
    if parts and pieces:
        first, last = pieces[0], have[-1] if have else None
        if (
            isinstance(first, dict)
            and isinstance(last, dict)
            and first.get("type") is not None
            and first.get("type") == last.get("type")
        ):
            _merge_object(last, first)
            pieces = pieces[1:]
    have.extend(_copy(piece, parts=False) for piece in pieces)
    return have


def _copy(value: Any, parts: bool) -> Any:
    """``value`` as a fresh merged value (an indexed list with its pieces already merged)."""
    if isinstance(value, dict):
        fresh: dict[str, Any] = {}
        _merge_object(fresh, value)
        return fresh
    if isinstance(value, list):
        if any(_index_of(piece) is not None for piece in value):
            return _merge_list([], value, parts)
        return [_copy(piece, parts=False) for piece in value]
    return value


def _as_parts(value: str | _Text | list[Any]) -> list[Any]:
    if isinstance(value, list):
        return value
    text = "".join(value.pieces) if isinstance(value, _Text) else value
    return [{"type": "text", "text": text}] if text else []


def _index_of(entry: Any) -> int | None:
    if isinstance(entry, dict):
        index = entry.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
    return None


def _finished(value: Any) -> Any:
    if isinstance(value, _Text):
        return "".join(value.pieces)
    if isinstance(value, dict):
        return {key: _finished(entry) for key, entry in value.items()}
    if isinstance(value, list):
        return [_finished(entry) for entry in value]
    return value
