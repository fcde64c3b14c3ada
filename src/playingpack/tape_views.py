"""How tapes read for a person: the rows of ``playingpack tapes list`` and the text of
``playingpack tapes show``.

Bodies are read only through the tape's provider: its turns for the request, its summary and
answer text for the answer. Nothing here imports the server stack (aiohttp).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from playingpack.catalog import provider_for, read_tape
from playingpack.conversation import (
    Conversation,
    ImagePart,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Turn,
    read_content,
)
from playingpack.providers import Provider
from playingpack.replay import Replay
from playingpack.tape_files import TapeFile
from playingpack.tapes import Tape, parse_time

# --- list ----------------------------------------------------------------------------------------


class TapeRow(NamedTuple):
    """What `tapes list` shows of one tape; the fields are None when the file does not parse.
    A tuple, and its TapeFile made only when asked for: a list may have 100,000 rows."""

    tapes_dir: Path
    key: str
    size: int
    mtime_ns: int
    model: str | None
    endpoint: str | None
    recorded_at: str | None
    first_user_message: str | None
    streamed: bool | None
    error: str | None
    origin: str | None  # recorded, resent, edited or mock (see tapes.Origin)
    recorded: datetime | None  # recorded_at read

    @property
    def hash(self) -> str:
        return self.key.rpartition("/")[2][:64]

    @property
    def recording(self) -> int:
        return int(self.key.rpartition("/")[2][65:] or 1)

    @property
    def file(self) -> TapeFile:
        return TapeFile(
            self.key, Path(self.path), self.hash, self.recording, self.size, self.mtime_ns / 1e9
        )

    @property
    def path(self) -> str:
        return os.path.join(self.tapes_dir, f"{self.key}.json")

    def to_json(self) -> dict[str, Any]:
        """The row as `tapes list --json` prints it (``id`` is the old name of ``key``)."""
        return {
            "key": self.key,
            "id": self.key,
            "hash": self.hash,
            "recording": self.recording,
            "folder": self.key.rpartition("/")[0],
            "path": self.path,
            "size": self.size,
            "model": self.model,
            "endpoint": self.endpoint,
            "recorded_at": self.recorded_at,
            "streamed": self.streamed,
            "first_user_message": self.first_user_message,
            "origin": self.origin,
            "error": self.error,
        }


_LISTED = (
    "key", "size", "mtime_ns", "model", "endpoint", "timestamp",
    "first_user_message", "streamed", "error", "origin",
)  # fmt: skip


def list_tapes(tapes_dir: Path, providers: Sequence[Provider]) -> list[TapeRow]:
    """A row per tape, the most recently recorded first (unparsable ones last), from the tape
    index (it reads only the files of folders changed since it last looked)."""
    from playingpack.tape_index import TapeIndex  # the index reads tapes as this module does

    index = TapeIndex(tapes_dir, providers, processes=2)
    try:
        found = index.values(_LISTED)
    finally:
        index.close()
    rows = [
        TapeRow(
            tapes_dir, key, size, mtime_ns, model, endpoint, timestamp,
            message, None if streamed is None else streamed == 1, error, origin,
            parse_time(timestamp),
        )
        for (
            key, size, mtime_ns, model, endpoint, timestamp, message,
            streamed, error, origin,
        ) in found
    ]  # fmt: skip
    rows.sort(key=attrgetter("key"))  # equal times stay in key order (sorts are stable)
    rows.sort(key=lambda row: row.recorded or _EPOCH, reverse=True)
    return rows


_EPOCH = datetime.min.replace(tzinfo=UTC)


def format_list(rows: list[TapeRow], *, message_width: int = 60) -> str:
    """The `tapes list` table, with a total line."""
    # Column by column, with string operations and C loops: 100,000 rows take well under a
    # second.
    keys = list(map(attrgetter("key"), rows))
    sizes = list(map(attrgetter("size"), rows))
    columns = [
        ["tape", *(k[:12] if len(k) == 64 else _short_key(k) for k in keys)],
        ["model", *(model or "-" for model in map(attrgetter("model"), rows))],
        ["endpoint", *(endpoint or "-" for endpoint in map(attrgetter("endpoint"), rows))],
        ["recorded (UTC)", *map(_when, rows)],
        ["size", *(f"{n / 1024:.1f} KB" if 1024 <= n < 1048576 else format_size(n) for n in sizes)],
    ]
    a, b, c, d, e = map(max, (map(len, column) for column in columns))
    messages = [
        text if len(text) <= message_width and _flat(text) else _one_line(text, message_width)
        for text in map(_message, rows)
    ]
    cells = zip(
        *(
            map(str.ljust, column, repeat(width))
            for column, width in zip(columns[:4], (a, b, c, d), strict=True)
        ),
        map(str.rjust, columns[4], repeat(e)),  # the size right-aligned
        ["first user message", *messages],
        strict=True,
    )
    lines = list(map(str.rstrip, map("  ".join, cells)))
    total = sum(sizes)
    unreadable = len(rows) - list(map(attrgetter("error"), rows)).count(None)
    summary = f"{_count(len(rows), 'tape')}, {format_size(total)}"
    if unreadable:
        summary += f" ({unreadable} unreadable: run `playingpack tapes verify`)"
    lines.append(summary)
    return "\n".join(lines)


def format_json(rows: list[TapeRow]) -> str:
    """`tapes list --json`: a JSON array of the rows' fields, indented by two spaces."""
    documents = [row.to_json() for row in rows]
    try:
        # msgspec's encoder and formatter write what json.dumps would, seven times as fast.
        return msgspec.json.format(msgspec.json.encode(documents), indent=2).decode()
    except UnicodeEncodeError:  # a path not in UTF-8 (a lone surrogate)
        return json.dumps(documents, indent=2, ensure_ascii=False)


def _when(row: TapeRow) -> str:
    """When the tape was recorded, as `tapes list` shows it."""
    recorded, text = row.recorded, row.recorded_at or ""
    if recorded is None:
        return text or "-"
    if (
        # An ISO-8601 time in UTC to the second or finer is shown as it starts: strftime
        # would take five times as long (100,000 tapes).
        text[4:5] == text[7:8] == "-"
        and text[13:14] == text[16:17] == ":"
        and (len(text) == 19 or text.endswith(("Z", "+00:00")))
        and recorded.year >= 1000
    ):
        return f"{text[:10]} {text[11:19]}"
    return recorded.strftime("%Y-%m-%d %H:%M:%S")


def _short_key(key: str) -> str:
    """A key with its hash cut to 12 digits (its folder and recording number kept)."""
    cut = key.rfind("/") + 1
    return key[: cut + 12] + key[cut + 64 :]


def _message(row: TapeRow) -> str:
    if row.error is not None:
        return f"(unreadable: {row.error})"
    if row.origin not in (None, "recorded"):
        # A hand-picked answer says so where a reviewer scans.
        return f"[{row.origin}] {row.first_user_message or ''}"
    return row.first_user_message or ""


def first_user_message(conversation: Conversation) -> str | None:
    """The text of the first thing the user said: the first user turn, else the first text
    to embed or prompt to complete (saying how many more there are)."""
    turns = conversation.turns
    user = next((turn for turn in turns if turn.role == "user"), None)
    if user is not None:
        return _parts_text(user.parts)
    given = [turn for turn in turns if turn.role in ("input", "prompt")]
    if not given:
        return None
    same = sum(turn.role == given[0].role for turn in given)
    return _parts_text(given[0].parts) + (f" (+{same - 1} more)" if same > 1 else "")


# --- show ----------------------------------------------------------------------------------------


def format_tape(
    file: TapeFile, providers: Sequence[Provider], others: list[TapeFile] | None = None
) -> str:
    """A tape for reading: its request (turns, tools offered, settings) and its answer (text,
    tool calls with their arguments, usage). ``others`` are further recordings of the same
    request.

    Raises ValueError when the file cannot be read or does not parse.
    """
    tape = Tape.from_json(read_tape(file.path))
    provider = provider_for(tape.endpoint, providers)
    conversation = None if provider is None else provider.turns(tape.request)
    recording = f" (recording {file.index})" if file.index > 1 else ""
    if tape.streamed:
        seconds = tape.total_delay_ms / 1000
        answer_kind = f"streamed, {_count(len(tape.chunks), 'chunk')} over {seconds:.2f} s"
    else:
        answer_kind = f"JSON, answered after {tape.total_delay_ms / 1000:.2f} s"
    model = tape.model or (_model_of(conversation) if conversation else None)
    lines = [
        f"tape      {file.key}{recording}",
        f"file      {file.path}",
        f"endpoint  {tape.endpoint}",
        f"model     {model or '-'}",
        f"recorded  {tape.timestamp or '-'}",
        f"origin    {_origin(tape)}",
        f"answer    {tape.status}, {answer_kind}",
    ]
    if others:
        lines.append("also      " + ", ".join(other.key for other in others))
    lines += ["", "Request"]
    lines += (
        [f"  {_compact(tape.request)}"] if conversation is None else _request_lines(conversation)
    )
    lines += ["", "Answer", *_answer_lines(tape, provider)]
    return "\n".join(lines)


def _origin(tape: Tape) -> str:
    """How the tape's answer came to be, and who picked it."""
    if tape.kept is None:
        return tape.origin
    kind = {
        "recorded": "recorded, kept by a person",
        "resent": "resent and kept by a person",
        "edited": "from an edited request, kept by a person",
        "mock": "a mock, kept by a person",
    }[tape.origin]
    parent = f" (resent from tape {tape.parent})" if tape.parent else ""
    return f"{tape.origin}: {kind} at {tape.kept}{parent}"


def _request_lines(conversation: Conversation) -> list[str]:
    lines: list[str] = []
    turns = conversation.turns
    for turn in turns:
        lines += _said(_label(turn, turns), _turn_text(turn))
    if conversation.tools:
        lines.append("  tools offered: " + ", ".join(tool.name for tool in conversation.tools))
    settings = [
        f"{key}={_compact(value)}"
        for key, value in sorted(conversation.params, key=lambda param: param[0])
        if key != "model" and isinstance(value, str | int | float | bool)
    ]
    if settings:
        lines.append("  settings: " + ", ".join(settings))
    return lines or ["  (empty)"]


def _label(turn: Turn, turns: list[Turn]) -> str:
    """Who said ``turn``: its role, with the id of the call a tool answers (else the tool's
    name), numbered among several texts to embed or prompts."""
    first = turn.parts[0] if turn.parts else None
    if turn.role == "tool" and isinstance(first, ToolResultPart) and (first.id or first.name):
        return f"tool ({first.id or first.name})"
    if turn.role in ("input", "prompt"):
        same = [other for other in turns if other.role == turn.role]
        if len(same) > 1:
            return f"{turn.role} {next(n for n, other in enumerate(same) if other is turn)}"
    return turn.role


def _turn_text(turn: Turn) -> str:
    first = turn.parts[0] if turn.parts else None
    if turn.role == "tool" and isinstance(first, ToolResultPart) and (first.id or first.name):
        return "\n".join(filter(None, [_content_text(first.content), _parts_text(turn.parts[1:])]))
    return _parts_text(turn.parts)


def _parts_text(parts: Sequence[Part]) -> str:
    """Parts as lines of text; non-text parts as [image], [file], → call(...), ← result."""
    return "\n".join(text for text in map(_part_text, parts) if text)


def _part_text(part: Part) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, ImagePart):
        return "[image]"
    if isinstance(part, ToolCallPart):
        arguments = part.arguments
        shown = arguments if isinstance(arguments, str) else _compact(arguments)
        return f"→ {part.name}({'' if arguments is None else shown})"
    if isinstance(part, ToolResultPart):
        answered = part.id or part.name
        text = _content_text(part.content)
        return f"← {answered}: {text}" if answered else f"← {text}"
    return _value_text(part.value)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "" if content is None else _parts_text(read_content(content))


def _value_text(value: Any) -> str:
    """A part no format names: a block by its type, token ids by their count, else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str):
            return text
        kind = str(value.get("type") or "")
        if "image" in kind:
            return "[image]"
        return "[file]" if kind in ("file", "input_file", "document") else f"[{kind or 'part'}]"
    if isinstance(value, list) and value:
        if all(isinstance(item, int) for item in value):
            return f"[{len(value)} token ids]"
        if isinstance(value[0], list):
            more = f" (+{len(value) - 1} more)" if len(value) > 1 else ""
            return f"[{len(value[0])} token ids]{more}"
    return _compact(value)


def _answer_lines(tape: Tape, provider: Provider | None) -> list[str]:
    if provider is None:
        return [f"  (no wire format known for {tape.endpoint}; --raw shows the file)"]
    try:
        answer = Replay(tape, provider).answer
        summary = provider.summarize(answer)
        text = provider.answer_text(answer)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return [f"  (cannot read the answer: {exc}; --raw shows the file)"]
    lines = _said("text", text) if text else []
    for call in summary.tool_calls:
        arguments = call.parsed_arguments()
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments, indent=2)
        lines.append(f"  tool call {call.name} ({call.id})")
        lines += ["    " + line for line in shown.splitlines()]
    if summary.usage:
        usage = summary.usage
        lines.append(
            f"  usage: {usage.input_tokens} in + {usage.output_tokens} out = "
            f"{usage.total_tokens} tokens"
        )
    return lines or ["  (no text and no tool calls)"]


def _said(who: str, text: str) -> list[str]:
    """``  who: text``, with further lines indented under the first."""
    head = f"  {who}: "
    lines = (text or "").splitlines() or [""]
    return [head + lines[0], *(" " * len(head) + line for line in lines[1:])]


# --- small helpers -------------------------------------------------------------------------------


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _model_of(conversation: Conversation | None) -> str | None:
    """The ``model`` the request names, when the tape's meta has none."""
    model = dict(conversation.params).get("model") if conversation else None
    return model if isinstance(model, str) else None


def _flat(text: str) -> bool:
    # Only a space is both whitespace and printable: a printable text without two spaces in a
    # row, leading or trailing, is already one line.
    return text.isprintable() and "  " not in text and text[:1] != " " != text[-1:]


def _one_line(text: str, width: int) -> str:
    flat = text if _flat(text) else " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
