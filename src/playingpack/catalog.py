"""The tapes under a tapes folder: found, described, checked, deleted and pruned.

The logic of ``playingpack tapes list|show|rm|verify|prune``; cli.py only parses and prints.
Nothing here imports the server stack (aiohttp), so the commands start fast.

Tapes may sit in subfolders (one per test) and a repeated identical request may be recorded
more than once, so a tape is named by its *id*: its path relative to the tapes folder without
``.json``, with ``/`` separators. ``<key>`` is a tape at the top, ``test_foo/<key>`` one in a
per-test folder, ``<key>.<k>`` the k-th recording (k ≥ 2) of a request whose first is ``<key>``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from playingpack.errors import TapeError
from playingpack.ledger import USAGE_FILE, USAGE_FORMAT
from playingpack.providers import Provider, builtin
from playingpack.redaction import SECRET_HEADERS
from playingpack.replay import InvalidReplay, Replay
from playingpack.store import (
    MAX_TAPE_FILE,
    STALE_TEMPORARY,
    is_temporary,
    read_file,
    refusal,
    too_big,
)
from playingpack.tapes import Tape

MIN_PREFIX = 6  # hex digits a hash prefix needs to name a tape


# <key>.json, or <key>.<k>.json for the k-th recording with k >= 2.
_TAPE_NAME = re.compile(r"([0-9a-f]{64})(?:\.([2-9]|[1-9][0-9]+))?\.json")
_REF = re.compile(r"([0-9a-fA-F]+)(?:\.([0-9]+))?")


@dataclass(frozen=True)
class TapeFile:
    """One tape file found under the tapes folder."""

    id: str  # path relative to the tapes folder, without .json
    path: Path
    key: str
    index: int  # 1 for <key>.json, k for <key>.<k>.json
    size: int  # bytes
    mtime: float

    @property
    def folder(self) -> str:
        """The per-test folder it is in, relative to the tapes folder ("" at the top)."""
        return self.id.rpartition("/")[0]

    @property
    def short_id(self) -> str:
        """The id with the key cut to 12 digits (still accepted by resolve())."""
        folder = self.folder + "/" if self.folder else ""
        return folder + self.key[:12] + (f".{self.index}" if self.index > 1 else "")


def find_tapes(tapes_dir: Path) -> list[TapeFile]:
    """Every tape file under ``tapes_dir``, sorted by id; [] when the folder does not exist.

    Files whose name is not a tape's (see _TAPE_NAME) are left out; verify() reports them.
    Entries named like tapes that are not regular files (links, FIFOs) are in, to be reported
    as unreadable; nothing is read through them (see store.refusal).
    """
    found = []
    for path in _walk(tapes_dir):
        match = _TAPE_NAME.fullmatch(path.name)
        if match is None:
            continue
        try:
            stat = path.lstat()
        except FileNotFoundError:
            continue
        found.append(
            TapeFile(
                id=path.relative_to(tapes_dir).as_posix().removesuffix(".json"),
                path=path,
                key=match.group(1),
                index=int(match.group(2) or 1),
                size=stat.st_size,
                mtime=stat.st_mtime,
            )
        )
    return sorted(found, key=lambda tape: tape.id)


def _walk(tapes_dir: Path) -> Iterable[Path]:
    """Every file under ``tapes_dir``, and every link to a folder (which is not entered)."""
    for folder, subfolders, names in os.walk(tapes_dir):
        # Hidden folders (.git, editors' state) hold no tapes; hidden files may be .tmp ones.
        visible = sorted(name for name in subfolders if not name.startswith("."))
        links = [name for name in visible if os.path.islink(os.path.join(folder, name))]
        subfolders[:] = [name for name in visible if name not in links]
        for name in sorted(names + links):
            yield Path(folder, name)


def _read(path: Path) -> bytes:
    """The bytes of a tape file; raises ValueError saying why it cannot be read."""
    try:
        return read_file(path)[0]
    except TapeError as exc:
        raise ValueError(exc.reason) from None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None


# --- resolving what the user typed ---------------------------------------------------------------


def resolve(tapes: list[TapeFile], ref: str) -> list[TapeFile]:
    """The tapes ``ref`` names, all recordings of one request in one folder (first first).

    ``ref`` is a tape id (``test_foo/<key>``, ``<key>.2``), a full key or a prefix of at least
    MIN_PREFIX hex digits, optionally with a folder (``test_foo/3ff33a``) or a recording number
    (``3ff33a.2``). Like a path, a ref without a folder names tapes at the top of the tapes
    folder; only when none matches there is every per-test folder searched. Returns [] when
    nothing matches; raises ValueError when ``ref`` is malformed or matches more than one
    request (listing their ids).
    """
    text = ref.strip().replace("\\", "/").removesuffix(".json").removeprefix("./")
    folder, slash, name = text.rpartition("/")
    match = _REF.fullmatch(name)
    if match is None or len(match.group(1)) < MIN_PREFIX:
        raise ValueError(
            f"{ref!r} is not a tape hash or id: expected a hash or at least {MIN_PREFIX} of its "
            "first hex digits, optionally with a folder or a recording number "
            "(3ff33a93, test_foo/3ff33a93, 3ff33a93.2); `playingpack tapes list` shows them"
        )
    prefix, number = match.group(1).lower(), match.group(2)
    candidates = [
        tape
        for tape in tapes
        if tape.key.startswith(prefix)
        and (not slash or tape.folder == folder)
        and (number is None or tape.index == int(number))
    ]
    if not slash and any(tape.folder == "" for tape in candidates):
        candidates = [tape for tape in candidates if tape.folder == ""]
    groups = sorted({_group(tape) for tape in candidates})
    if len(groups) > 1:
        listed = "\n".join(f"  {group}" for group in groups)
        raise ValueError(
            f"{ref!r} matches {len(groups)} recorded requests; name one of them by its id "
            f"(or more of its hash):\n{listed}"
        )
    return sorted(candidates, key=lambda tape: tape.index)


def _group(tape: TapeFile) -> str:
    """The id of the request's first recording: what all its recordings share."""
    return f"{tape.folder}/{tape.key}" if tape.folder else tape.key


# --- list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TapeRow:
    """What `tapes list` shows of one tape; the fields are None when the file does not parse."""

    file: TapeFile
    model: str | None
    endpoint: str | None
    recorded_at: str | None
    first_user_message: str | None
    streamed: bool | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.file.id,
            "hash": self.file.key,
            "recording": self.file.index,
            "folder": self.file.folder,
            "path": str(self.file.path),
            "size": self.file.size,
            "model": self.model,
            "endpoint": self.endpoint,
            "recorded_at": self.recorded_at,
            "streamed": self.streamed,
            "first_user_message": self.first_user_message,
            "error": self.error,
        }


def list_tapes(tapes_dir: Path) -> list[TapeRow]:
    """A row per tape, the most recently recorded first (unparsable ones last)."""
    rows = [_row(tape) for tape in find_tapes(tapes_dir)]
    return sorted(rows, key=lambda row: _recorded(row.recorded_at) or _EPOCH, reverse=True)


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _row(file: TapeFile) -> TapeRow:
    try:
        tape = Tape.from_json(_read(file.path))
    except ValueError as exc:
        return TapeRow(file, None, None, None, None, None, str(exc))
    return TapeRow(
        file,
        tape.model or _model_of(tape.request),
        tape.endpoint,
        tape.timestamp or None,
        first_user_message(tape.request),
        tape.streamed,
        None,
    )


def format_list(rows: list[TapeRow], *, message_width: int = 60) -> str:
    """The `tapes list` table, with a total line."""
    table = [("tape", "model", "endpoint", "recorded (UTC)", "size", "first user message")]
    for row in rows:
        recorded = _recorded(row.recorded_at)
        message = row.first_user_message or ""
        if row.error is not None:
            message = f"(unreadable: {row.error})"
        table.append(
            (
                row.file.short_id,
                row.model or "-",
                row.endpoint or "-",
                recorded.strftime("%Y-%m-%d %H:%M:%S") if recorded else row.recorded_at or "-",
                format_size(row.file.size),
                _one_line(message, message_width),
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    lines = [
        "  ".join(
            cell.rjust(width) if column == 4 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]
    total = sum(row.file.size for row in rows)
    unreadable = sum(row.error is not None for row in rows)
    summary = f"{_count(len(rows), 'tape')}, {format_size(total)}"
    if unreadable:
        summary += f" ({unreadable} unreadable: run `playingpack tapes verify`)"
    return "\n".join([*lines, summary])


def first_user_message(body: Any) -> str | None:
    """The text of the first user message of a request: chat and Anthropic ``messages``,
    Responses ``input`` (a string or items), embeddings ``input``, completions ``prompt``."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        return next((_content_text(m.get("content")) for m in messages if _role(m) == "user"), None)
    if "input" in body:
        value = body["input"]
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            return next(
                (_content_text(i.get("content")) for i in value if _role(i) == "user"), None
            )
        return _prompt_text(value)
    if "prompt" in body:
        return _prompt_text(body["prompt"])
    return None


def _role(message: Any) -> str | None:
    role = message.get("role") if isinstance(message, dict) else None
    return role if isinstance(role, str) else None


def _content_text(content: Any) -> str:
    """A message's content as text: parts joined, non-text parts as [image], [file], ..."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else json.dumps(content, ensure_ascii=False)
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            parts.append(_part_text(part))
    return "\n".join(part for part in parts if part)


def _part_text(part: dict[str, Any]) -> str:
    kind = str(part.get("type") or "")
    text = part.get("text")
    if isinstance(text, str):
        return text
    if kind == "tool_use":  # Anthropic: the assistant called a tool
        return f"→ {part.get('name')}({_compact(part.get('input'))})"
    if kind == "tool_result":  # Anthropic: a tool's answer, in a user message
        return f"← {part.get('tool_use_id')}: {_content_text(part.get('content'))}"
    if "image" in kind:
        return "[image]"
    if kind in ("file", "input_file", "document"):
        return "[file]"
    return f"[{kind or 'part'}]"


def _prompt_text(value: Any) -> str | None:
    """Embeddings ``input`` or completions ``prompt``: a string, strings, or token ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        first = value[0]
        more = f" (+{len(value) - 1} more)" if len(value) > 1 else ""
        if isinstance(first, str):
            return first + more
        if isinstance(first, int):
            return f"[{len(value)} token ids]"
        if isinstance(first, list):
            return f"[{len(first)} token ids]{more}"
    return None


def _model_of(body: Any) -> str | None:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


# --- show ----------------------------------------------------------------------------------------


def format_tape(file: TapeFile, others: list[TapeFile] | None = None) -> str:
    """A tape for reading: its request (messages, tools offered) and its answer (text, tool
    calls with their arguments, usage). ``others`` are further recordings of the same request.

    Raises ValueError when the file cannot be read or does not parse.
    """
    tape = Tape.from_json(_read(file.path))
    recording = f" (recording {file.index})" if file.index > 1 else ""
    if tape.streamed:
        seconds = tape.total_delay_ms / 1000
        answer_kind = f"streamed, {_count(len(tape.chunks), 'chunk')} over {seconds:.2f} s"
    else:
        answer_kind = f"JSON, answered after {tape.total_delay_ms / 1000:.2f} s"
    lines = [
        f"tape      {file.id}{recording}",
        f"file      {file.path}",
        f"endpoint  {tape.endpoint}",
        f"model     {tape.model or _model_of(tape.request) or '-'}",
        f"recorded  {tape.timestamp or '-'}",
        f"answer    {tape.status}, {answer_kind}",
    ]
    if others:
        lines.append("also      " + ", ".join(other.id for other in others))
    lines += ["", "Request", *_request_lines(tape.request), "", "Answer"]
    lines += _answer_lines(tape)
    return "\n".join(lines)


def _request_lines(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return [f"  {_compact(body)}"]
    lines: list[str] = []
    for name in ("system", "instructions"):  # Anthropic's system prompt; Responses' instructions
        if body.get(name):
            lines += _said(name, _content_text(body[name]))
    messages = body.get("messages")
    items = body.get("input")
    if isinstance(messages, list):
        for message in messages:
            lines += _message_lines(message)
    elif isinstance(items, list) and any(isinstance(item, dict) for item in items):
        for item in items:
            lines += _item_lines(item)
    elif isinstance(items, str):
        lines += _said("input", items)
    elif isinstance(items, list):
        for position, value in enumerate(items):
            text = value if isinstance(value, str) else _prompt_text(value) or _compact(value)
            lines += _said(f"input {position}", text)
    if "prompt" in body:
        prompt = body["prompt"]
        lines += _said("prompt", prompt if isinstance(prompt, str) else _compact(prompt))
    tools = [_tool_name(tool) for tool in body.get("tools") or () if isinstance(tool, dict)]
    if tools:
        lines.append("  tools offered: " + ", ".join(tools))
    settings = [
        f"{key}={_compact(value)}"
        for key, value in sorted(body.items())
        if key not in _SHOWN_KEYS and isinstance(value, str | int | float | bool)
    ]
    if settings:
        lines.append("  settings: " + ", ".join(settings))
    return lines or ["  (empty)"]


_SHOWN_KEYS = frozenset({"model", "messages", "input", "prompt", "system", "instructions"})


def _message_lines(message: Any) -> list[str]:
    """A chat or Anthropic message."""
    if not isinstance(message, dict):
        return _said("?", _compact(message))
    role = str(message.get("role") or "?")
    if role == "tool" and message.get("tool_call_id"):
        role = f"tool ({message['tool_call_id']})"
    texts = [_content_text(message.get("content"))]
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            texts.append(f"→ {function.get('name')}({function.get('arguments') or ''})")
    return _said(role, "\n".join(text for text in texts if text))


def _item_lines(item: Any) -> list[str]:
    """A Responses input item."""
    if not isinstance(item, dict):
        return _said("input", item if isinstance(item, str) else _compact(item))
    kind = item.get("type")
    if kind in (None, "message") or "role" in item:
        return _said(str(item.get("role") or "?"), _content_text(item.get("content")))
    if kind == "function_call":
        return _said("assistant", f"→ {item.get('name')}({item.get('arguments') or ''})")
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else _content_text(output)
        return _said(f"tool ({item.get('call_id')})", text)
    return _said("item", f"[{kind}]")


def _tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    if isinstance(function, dict) and function.get("name"):
        return str(function["name"])  # chat completions
    return str(tool.get("name") or tool.get("type") or "?")  # Responses, Anthropic, built-ins


def _answer_lines(tape: Tape) -> list[str]:
    provider = provider_for(tape.endpoint)
    if provider is None:
        return [f"  (no wire format known for {tape.endpoint}; --raw shows the file)"]
    try:
        answer = _answer(provider, tape)
        summary = provider.summarize(answer)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return [f"  (cannot read the answer: {exc}; --raw shows the file)"]
    text = _answer_text(answer)
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


def _answer(provider: Provider, tape: Tape) -> dict[str, Any]:
    """The JSON answer a non-streaming client gets from this tape (InvalidReplay if none)."""
    return Replay(tape, provider).answer


def _answer_text(answer: dict[str, Any]) -> str:
    """The text of a JSON answer of any of the wire formats."""
    texts: list[str] = []
    for choice in answer.get("choices") or ():  # chat completions, completions
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict):
            texts.append(_content_text(message.get("content")))
            if message.get("refusal"):
                texts.append(f"(refusal) {message['refusal']}")
        elif isinstance(choice.get("text"), str):
            texts.append(choice["text"])
    if answer.get("type") == "message":  # Anthropic
        texts += [
            block["text"]
            for block in answer.get("content") or ()
            if isinstance(block, dict) and block.get("type") == "text"
        ]
    for item in answer.get("output") or ():  # Responses
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    texts.append(f"(refusal) {part.get('refusal')}")
    vectors = [item for item in answer.get("data") or () if isinstance(item, dict)]
    if vectors and answer.get("object") == "list":  # embeddings
        size = len(vectors[0].get("embedding") or ())
        texts.append(f"[{_count(len(vectors), 'embedding')} of {size} dimensions]")
    return "\n".join(text for text in texts if text)


def _said(who: str, text: str) -> list[str]:
    """``  who: text``, with further lines indented under the first."""
    head = f"  {who}: "
    lines = (text or "").splitlines() or [""]
    return [head + lines[0], *(" " * len(head) + line for line in lines[1:])]


def provider_for(endpoint: str) -> Provider | None:
    """The wire format of tapes recorded at ``endpoint``, or None for an unknown one."""
    return next((provider for provider in _providers() if provider.serves(endpoint)), None)


_PROVIDERS: list[Provider] = []


def _providers() -> list[Provider]:
    if not _PROVIDERS:
        _PROVIDERS.extend(builtin())
    return _PROVIDERS


# --- rm ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    deleted: list[TapeFile]
    unknown: list[str]  # the references that named no tape


def remove(tapes_dir: Path, refs: list[str]) -> Removal:
    """Delete the tapes ``refs`` name (every recording of each named request), then any folder
    that leaves empty. Every ref is resolved before anything is deleted, so a malformed or
    ambiguous one (ValueError, see resolve()) deletes nothing."""
    tapes = find_tapes(tapes_dir)
    chosen: dict[str, TapeFile] = {}
    unknown: list[str] = []
    for ref in refs:
        found = resolve(tapes, ref)
        if not found:
            unknown.append(ref)
        chosen.update((tape.id, tape) for tape in found)
    deleted = list(chosen.values())
    _delete(tapes_dir, deleted)
    return Removal(deleted, unknown)


def _delete(tapes_dir: Path, tapes: list[TapeFile]) -> None:
    for tape in tapes:
        tape.path.unlink(missing_ok=True)
    root = tapes_dir.resolve()
    for folder in sorted({tape.path.parent for tape in tapes}, key=lambda p: -len(p.parts)):
        # Walk up through the per-test folders this emptied, never past the tapes folder.
        while folder.resolve() != root and folder.resolve().is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone)
                break
            folder = folder.parent


# --- verify --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    path: Path
    what: str


@dataclass(frozen=True)
class Verification:
    checked: int  # .json files read
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # worth a look, not wrong


def verify(tapes_dir: Path, now: float | None = None) -> Verification:
    """Check every ``*.json`` file under ``tapes_dir``: it parses as a tape whose answer can be
    replayed, its name is a tape name whose key is ``meta.hash`` and the key of the request as
    stored, and its text holds nothing that looks like an API key or a secret header. A link
    to a folder (not entered) is a problem too. The temporary files of tape writes are
    warnings: of a write in progress, or of one a killed process left behind (``playingpack
    start`` removes those once they are STALE_TEMPORARY seconds old)."""
    moment = time.time() if now is None else now
    checked = 0
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for path in _walk(tapes_dir):
        try:
            mode = path.lstat()
        except FileNotFoundError:
            continue
        if is_temporary(path.name):
            warnings.append(Problem(path, _temporary(path, moment - mode.st_mtime)))
        elif path.name.endswith(".json"):
            checked += 1
            problems += [Problem(path, what) for what in _check(path)]
        elif os.path.isdir(path):  # a link to a folder: _walk yields no other
            problems.append(Problem(path, refusal(mode.st_mode, folder=True) or ""))
    return Verification(checked, problems, warnings)


def _temporary(path: Path, age: float) -> str:
    remove = f"`rm {shlex.quote(str(path))}`"
    if age < STALE_TEMPORARY:
        return (
            f"temporary file of a tape being written ({age:.0f} s old); if no playingpack is "
            f"running, it was left by an interrupted write: remove it with {remove}"
        )
    return (
        f"temporary file left by an interrupted write ({age / 60:.0f} min old; `playingpack "
        f"start` removes it): remove it with {remove}"
    )


def _check(path: Path) -> list[str]:
    try:
        data = _read(path)
    except ValueError as exc:
        return [f"cannot be read: {exc}"]
    found = [
        f"{kind} at line {line} ({shown}); {_SECRET_ADVICE}" for kind, line, shown in _secrets(data)
    ]
    try:
        tape = Tape.from_json(data)
    except ValueError as exc:
        return [f"is not a tape: {exc}", *found]
    match = _TAPE_NAME.fullmatch(path.name)
    if match is None:
        return [
            "is not named like a tape (expected <64 hex digits>.json, or <64 hex digits>.<k>"
            f".json with k >= 2 for a repeated request); rename it to {tape.key}.json if it is "
            "one",
            *found,
        ]
    key = match.group(1)
    if tape.key != key:
        found.insert(
            0,
            f"meta.hash is {tape.key[:12]}…, but the file name says {key[:12]}…; the file was "
            "renamed or its meta edited: make them agree",
        )
    provider = provider_for(tape.endpoint)
    if provider is None:
        found.insert(
            0, f"endpoint {tape.endpoint!r} is not one playingpack records; its hash is unchecked"
        )
    else:
        if (computed := provider.key(tape.request, tape.endpoint)) != key:
            found.insert(
                0,
                f"the request hashes to {computed[:12]}…, not to the {key[:12]}… of the file "
                "name: it was edited after recording, so it can never be replayed; re-record it "
                "(--record refresh) or delete it",
            )
        unplayable = too_big(len(data)) if len(data) > MAX_TAPE_FILE else None
        unplayable = unplayable or _unplayable(tape, provider)
        if unplayable is not None:
            found.insert(0, f"cannot be replayed: {unplayable}; re-record it or delete it")
    return found


def _unplayable(tape: Tape, provider: Provider) -> str | None:
    """Why ``tape`` cannot be replayed (its summary, or the JSON answer), or None."""
    try:
        Replay(tape, provider).json_body()
    except InvalidReplay as exc:
        return str(exc)
    return None


_SECRET_ADVICE = "remove it from the tape (and revoke the key if it is real)"
_KEY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", re.compile(r"(?<![\w-])sk-ant-[\w-]{20,}")),
    ("an OpenAI project API key", re.compile(r"(?<![\w-])sk-proj-[\w-]{20,}")),
    ("an API key", re.compile(r"(?<![\w-])sk-[\w-]{20,}")),
    ("a bearer token", re.compile(r"\bBearer\s+[\w.~+/=-]{20,}", re.IGNORECASE)),
    ("an AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)
# A JSON key named like a secret header (or with underscores), holding a string; the quotes
# may be escaped, as in a chunk's text.
_SECRET_FIELD = re.compile(
    r'\\*"('
    + "|".join(
        sorted({re.escape(name) for h in SECRET_HEADERS for name in (h, h.replace("-", "_"))})
    )
    + r')\\*"\s*:\s*\\*"([^"\\]*)',
    re.IGNORECASE,
)


def _secrets(data: bytes) -> list[tuple[str, int, str]]:
    """(what, line, masked value) of everything in ``data`` that looks like a secret."""
    text = data.decode("utf-8", "replace")
    # (start, rank, end, what): where two patterns match at one place, the first listed wins.
    spans: list[tuple[int, int, int, str]] = []
    for rank, (kind, pattern) in enumerate(_KEY_PATTERNS):
        spans += [(m.start(), rank, m.end(), kind) for m in pattern.finditer(text)]
    for m in _SECRET_FIELD.finditer(text):
        value = m.group(2)
        if value.strip() and "***" not in value:  # "***abcd" is already masked
            spans.append(
                (m.start(2), len(_KEY_PATTERNS), m.end(2), f"a {m.group(1).lower()!r} field")
            )
    found = []
    end = -1
    for start, _, stop, kind in sorted(spans):
        if start < end:
            continue  # inside one already reported (a key after "Bearer", in an api-key field)
        end = stop
        value = text[start:stop]
        shown = f"…{value[-4:]}" if len(value) > 12 else "value not shown"
        found.append((kind, text.count("\n", 0, start) + 1, shown))
    return found


# --- prune ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    """What ``<logs_dir>/usage.json`` says of the last run that recorded which tapes it used."""

    finished_at: datetime
    tapes_dir: Path
    used: frozenset[str]  # tape ids replayed or recorded during the run


def read_last_run(logs_dir: Path, tapes_dir: Path) -> LastRun:
    """Read ``<logs_dir>/usage.json``; raise ValueError saying what is missing or wrong, also
    when it was written for another tapes folder than ``tapes_dir``."""
    path = logs_dir / USAGE_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(
            f"no usage record at {path}: prune deletes the tapes the last run did not use, and "
            "no run has "
            "recorded which tapes it used yet. Run your agent or tests through playingpack "
            "(it writes that file when it stops), then prune again; or give --logs-dir"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = msgspec.json.decode(data, type=_UsageFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(
            f"{path} is not a usage record ({exc}); expected "
            '{"format": 1, "finished_at": ..., "tapes_dir": ..., "used": [...]}'
        ) from None
    if document.format != USAGE_FORMAT:
        raise ValueError(
            f"{path} has format {document.format}; this playingpack reads format "
            f"{USAGE_FORMAT}: run once with this version, then prune again"
        )
    finished = _recorded(document.finished_at)
    if finished is None:
        raise ValueError(
            f"{path}: finished_at must be an ISO-8601 time (got {document.finished_at!r})"
        )
    recorded_for = Path(document.tapes_dir)
    if recorded_for.resolve() != tapes_dir.resolve():
        raise ValueError(
            f"{path} records the tapes used in {recorded_for}, not in {tapes_dir}; prune that "
            "folder (--tapes-dir), or run once with this one"
        )
    return LastRun(finished, recorded_for, frozenset(document.used))


class _UsageFile(msgspec.Struct):
    format: int
    finished_at: str
    tapes_dir: str
    used: list[str]


@dataclass(frozen=True)
class Pruning:
    deleted: list[TapeFile]  # (or, on a dry run, to be deleted)
    kept: list[TapeFile]  # used by the last run
    newer: list[TapeFile]  # unused but written after the last run ended: kept


def prune(tapes_dir: Path, last_run: LastRun, *, dry_run: bool = False) -> Pruning:
    """Delete the tapes the last run neither replayed nor recorded, then the folders that
    leaves empty. Tapes written after that run ended are kept: it could not have used them."""
    deleted, kept, newer = [], [], []
    finished = last_run.finished_at.timestamp()
    for tape in find_tapes(tapes_dir):
        if tape.id in last_run.used:
            kept.append(tape)
        elif tape.mtime > finished:
            newer.append(tape)
        else:
            deleted.append(tape)
    if not dry_run:
        _delete(tapes_dir, deleted)
    return Pruning(deleted, kept, newer)


# --- small helpers -------------------------------------------------------------------------------


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _recorded(timestamp: str | None) -> datetime | None:
    """An ISO-8601 time as an aware datetime (naive ones taken as UTC); None if it is not one."""
    if not timestamp:
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
