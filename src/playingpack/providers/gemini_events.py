"""Gemini's streamed answers as event texts: read from either framing, written in either.

``:streamGenerateContent?alt=sse`` sends each ``GenerateContentResponse`` as one SSE event,
``data: {...}\\r\\n\\r\\n``: no ``event:`` lines, no comments, no ``[DONE]``. Without ``alt=sse``
the same responses are the elements of one JSON array, sent as they come: ``[{...}``, then
``\\n,\\r\\n{...}`` for each next one, and ``\\n]``. The readers take the event texts of either
however they were cut (a recorded array with the separator after each element, a whole body
in one text, a JSON error body sent in place of a stream); the writers cut as Google sends.

Every event is a whole response carrying the next pieces of each candidate's parts. Joined,
text parts continue per candidate (by ``index``): the first part of an event continues the last
part so far when both are text of the same kind (``thought`` or not), and keeps the last
``thoughtSignature`` the pieces carried; any other part (``functionCall`` with its signature,
``executableCode``, ...), and every other part of the event, is a part of its own. Every other
field takes its last value, a null or an empty object never erasing one (``usageMetadata`` is
the last event's); a candidate's ``citationMetadata`` sources add up. Split back, an answer is
an event per part, text parts that must stay apart sharing one, the finish fields and usage in
the last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import msgspec

from playingpack.providers.base import parsed_events

# The framings of a Gemini stream, as ``Provider.framing`` names them.
GeminiFraming = Literal["sse", "json-array"]

_encode = msgspec.json.encode
# The fields of a text part that joins with the next piece of its text.
_TEXT_FIELDS = frozenset({"text", "thought", "thoughtSignature"})
# Response fields every event of a stream carries; the others go with the last event.
EVERY_EVENT = frozenset({"modelVersion", "responseId", "createTime"})
_scanner = json.JSONDecoder()
# What may stand between the elements of a streamed array, or around them.
_BETWEEN = " \t\r\n,[]"
_WHITESPACE = " \t\r\n"
_JSON_STARTS = frozenset("[{,]")
# A held client's keepalive in each framing. Neither Gemini SDK skips an SSE comment or a blank
# line (the Python SDK parses every line that is not `data: ` as JSON; the JS SDKs match
# `^data: ` at the start of what they have read, so anything else jams the rest of the stream),
# so an SSE keepalive is a response: one candidate with an empty text part, which the SDKs and
# pydantic-ai take as no text, and which keeps a chat's history valid. Between the elements of
# an array, whitespace is valid JSON.
_KEEPALIVES: dict[str, bytes] = {
    "sse": b'data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"index":0}]}'
    b"\r\n\r\n",
    "json-array": b"\n",
}


def _values(events: Iterable[str]) -> Iterator[Any]:
    """The JSON values the event texts carry, in order, in whichever framing they are.

    A value cut short (a dropped connection) and data that is no JSON are skipped."""
    for text in events:
        stripped = text.lstrip(_WHITESPACE)
        if not stripped:
            continue
        if stripped[0] in _JSON_STARTS:
            yield from _array_values(stripped)
            continue
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        for event in parsed_events((text,)):
            try:
                yield msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue


def objects(events: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects among ``_values(events)``."""
    for value in _values(events):
        if isinstance(value, dict):
            yield value


def _array_values(text: str) -> Iterator[Any]:
    """The values of a piece of a streamed array: one element with its separators (the
    common case, decoded in one call), or any run of them."""
    one = text.strip(_BETWEEN)
    if not one:
        return
    try:
        yield msgspec.json.decode(one)
        return
    except msgspec.DecodeError:
        pass
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in _BETWEEN:
            position += 1
        if position >= end:
            return
        try:
            value, position = _scanner.raw_decode(text, position)
        except ValueError:
            return  # the rest is cut short
        yield value


def frame(values: Sequence[dict[str, Any]], framing: str, *, opened: bool = False) -> list[str]:
    """``values`` as the event texts of a stream in ``framing`` (SSE unless ``json-array``).

    For an array, ``opened`` says the client has had its ``[`` and elements already: the
    first value then goes on after a separator. The closing ``]`` is an event of its own."""
    if framing != "json-array":
        return [f"data: {_encode(value).decode()}\r\n\r\n" for value in values]
    events = [
        ("\n,\r\n" if opened or number else "[") + _encode(value).decode()
        for number, value in enumerate(values)
    ]
    if not opened and not events:
        events.append("[")
    events.append("\n]")
    return events


def keepalive(framing: str) -> bytes | None:
    """What a held client of a stream in ``framing`` may be sent while it waits."""
    return _KEEPALIVES.get(framing)


class _Candidate:
    """One candidate being joined from the pieces the events of a stream carry."""

    __slots__ = ("content", "fields", "parts", "pieces")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.content: dict[str, Any] | None = None
        self.parts: list[Any] = []
        self.pieces: dict[int, list[str]] = {}  # a text part's position -> its text's pieces

    def add(self, candidate: dict[str, Any]) -> None:
        for field, value in candidate.items():
            if field == "content" and isinstance(value, dict):
                self.fields.setdefault("content", None)
                self._add_content(value)
            elif field == "citationMetadata" and isinstance(value, dict):
                self.fields[field] = _add_citations(self.fields.get(field), value)
            elif _replaces(self.fields, field, value):
                self.fields[field] = value

    def _add_content(self, content: dict[str, Any]) -> None:
        if self.content is None:
            self.content = {}
        for field, value in content.items():
            if field == "parts" and isinstance(value, list):
                self.content.setdefault("parts", None)
                for position, part in enumerate(value):
                    self._add_part(part, continues=position == 0)
            elif _replaces(self.content, field, value):
                self.content[field] = value

    def _add_part(self, part: Any, *, continues: bool) -> None:
        if not _is_text(part):
            self.parts.append(part)
            return
        last = len(self.parts) - 1
        if continues and last in self.pieces and _same_kind(self.parts[last], part):
            self.pieces[last].append(part["text"])
            joined = self.parts[last]
            joined.update({f: v for f, v in part.items() if f != "text" and v is not None})
            return
        if part == {"text": ""} and self.parts:
            return  # an empty piece after a part that is no text adds nothing
        self.parts.append(dict(part))
        self.pieces[last + 1] = [part["text"]]

    def result(self) -> dict[str, Any]:
        for position, pieces in self.pieces.items():
            self.parts[position]["text"] = "".join(pieces)
        candidate = dict(self.fields)
        if self.content is not None:
            content = dict(self.content)
            if "parts" in content:
                content["parts"] = self.parts
            candidate["content"] = content
        return candidate


def assemble(responses: Iterable[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    candidates: dict[int, _Candidate] = {}
    for response in responses:
        for field, value in response.items():
            if field == "candidates" and isinstance(value, list):
                answer.setdefault("candidates", None)
                for position, candidate in enumerate(value):
                    if isinstance(candidate, dict):
                        index = index_of(candidate, position)
                        candidates.setdefault(index, _Candidate()).add(candidate)
            elif _replaces(answer, field, value):
                answer[field] = value
    if "candidates" in answer:
        answer["candidates"] = [candidates[index].result() for index in sorted(candidates)]
    return answer


def split_answer(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The responses a stream of ``answer`` is made of (see ``to_events``)."""
    candidates = candidates_of(answer)
    groups = [_groups(parts_of(candidate)) for candidate in candidates]
    count = max([len(group) for group in groups] + [1])
    responses = []
    for number in range(count):
        last = number == count - 1
        entries = []
        for position, (candidate, parts) in enumerate(zip(candidates, groups, strict=True)):
            if number >= len(parts) and not last:
                continue
            entry: dict[str, Any] = {}
            for field, value in candidate.items():
                if field == "content":
                    body = value if isinstance(value, dict) else {}
                    if number < len(parts):
                        entry[field] = {**body, "parts": parts[number]}
                    elif not parts and isinstance(value, dict):
                        entry[field] = value
                elif last or field == "index":
                    entry[field] = value
            if len(candidates) > 1:
                entry.setdefault("index", position)
            entries.append(entry)
        response: dict[str, Any] = {}
        for field, value in answer.items():
            if field == "candidates":
                response[field] = entries
            elif last or field in EVERY_EVENT:
                response[field] = value
        responses.append(response)
    return responses


def _groups(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The parts of one candidate, one event's worth each: a part alone, except a text part
    after one of its kind, which goes in the same event so that it stays a part of its own."""
    groups: list[list[dict[str, Any]]] = []
    for part in parts:
        if groups and _is_text(part) and _same_kind(groups[-1][-1], part):
            groups[-1].append(part)
        else:
            groups.append([part])
    return groups


def rest_of_parts(have: list[dict[str, Any]], parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parts of ``parts`` a client that has ``have`` lacks: those after the ones it has
    the same, the first one shortened to what follows when it goes on from a text it has the
    start of."""
    same = 0
    while same < min(len(have), len(parts)) and have[same] == parts[same]:
        same += 1
    rest = parts[same:]
    if same == len(have) - 1 and rest:
        before, after = have[same], rest[0]
        if (
            _is_text(before)
            and _is_text(after)
            and _same_kind(before, after)
            and after["text"].startswith(before["text"])
        ):
            piece = {f: v for f, v in after.items() if f == "text" or before.get(f) != v}
            piece["text"] = after["text"][len(before["text"]) :]
            rest = rest[1:] if piece == {"text": ""} else [piece, *rest[1:]]
    return rest


def _replaces(fields: dict[str, Any], field: str, value: Any) -> bool:
    """Whether a later ``value`` of ``field`` takes the place of the one known: a null or an
    empty object (Gemini's `groundingMetadata: {}` before the real one) never erases."""
    return value is not None and not (value == {} and fields.get(field) is not None)


def _add_citations(have: Any, citations: dict[str, Any]) -> dict[str, Any]:
    merged = dict(have) if isinstance(have, dict) else {}
    for field, value in citations.items():
        sources = merged.get(field)
        if field == "citationSources" and isinstance(value, list) and isinstance(sources, list):
            merged[field] = sources + [source for source in value if source not in sources]
        elif value is not None:
            merged[field] = value
    return merged


def finished(response: dict[str, Any]) -> bool:
    return any(candidate.get("finishReason") for candidate in candidates_of(response))


def candidates_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    found = response.get("candidates")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def first_of(response: dict[str, Any]) -> dict[str, Any]:
    """The first candidate (index 0, or the first listed), what the SDKs' ``.text`` reads."""
    candidates = candidates_of(response)
    return next((c for n, c in enumerate(candidates) if index_of(c, n) == 0), {})


def parts_of(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def texts_of(parts: list[dict[str, Any]]) -> list[str]:
    return [part["text"] for part in parts if is_answer_text(part)]


def _is_text(part: Any) -> bool:
    """Whether ``part`` is a text part whose pieces join (text, thought flag, signature)."""
    return (
        isinstance(part, dict) and isinstance(part.get("text"), str) and part.keys() <= _TEXT_FIELDS
    )


def is_answer_text(part: dict[str, Any]) -> bool:
    return isinstance(part.get("text"), str) and not part.get("thought")


def _same_kind(part: Any, other: dict[str, Any]) -> bool:
    return _is_text(part) and bool(part.get("thought")) == bool(other.get("thought"))


def index_of(candidate: dict[str, Any], position: int) -> int:
    index = candidate.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else position
