"""What the tape index keeps of one tape file: its row, read from the file (or from the Tape
just written to it) through the tape's provider.

A row is a tuple in the order of ``COLUMNS``; a file that does not parse as a tape gets a row
all the same, with ``error`` saying why, so the tapes list can show it. Reading is CPU-bound
(parsing, each provider's reading of the request), so thousands of files are read by a pool of
processes (``rows_of``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import msgspec

from playingpack.errors import TapeError
from playingpack.matching import text_of, words_of
from playingpack.providers import Provider
from playingpack.tape_files import parse_name
from playingpack.tapes import Tape

COLUMNS = (
    "key, folder, hash, recording, size, mtime_ns, inode, model, endpoint, timestamp, status, "
    "streamed, chunks, tool_calls, origin, parent, kept, first_user_message, error, words, "
    "names"
)

Row = tuple[Any, ...]


def row_of(
    tapes_dir: Path, providers: Sequence[Provider], path: Path, tape: Tape | None = None
) -> Row | None:
    """The row of the tape file at ``path`` under ``tapes_dir`` (``tape``, when given, is what
    it holds); None when it is gone or not named like a tape."""
    named = parse_name(path.name)
    if named is None:
        return None
    key = path.relative_to(tapes_dir).as_posix().removesuffix(".json")
    folder = key.rpartition("/")[0]
    status: os.stat_result | None = None  # of the file read, else of the name (a link's)
    error = None
    if tape is None:
        try:
            data, status = read_file(path)
            tape = Tape.from_json(data)
        except FileNotFoundError:
            return None
        except TapeError as exc:
            error = exc.reason
        except OSError as exc:
            error = exc.strerror or str(exc)
        except ValueError as exc:
            error = str(exc)
    if status is None:
        try:
            status = os.lstat(path)
        except OSError:
            return None
    head = (key, folder, named[0], named[1], status.st_size, status.st_mtime_ns, status.st_ino)
    if tape is None:
        return (*head, *(None,) * 6, "[]", None, None, None, None, sqlite_text(error), "", key)
    return (*head, *_described(tape, key, providers))


def rows_of(tapes_dir: Path, providers: Sequence[Provider], paths: list[Path]) -> list[Row]:
    """The rows of these tape files, those gone or misnamed left out (a pool worker's task)."""
    rows = (row_of(tapes_dir, providers, path) for path in paths)
    return [row for row in rows if row is not None]


def provider_of(providers: Sequence[Provider], endpoint: str) -> Provider | None:
    return next((provider for provider in providers if provider.serves(endpoint)), None)


@overload
def sqlite_text(text: str) -> str: ...
@overload
def sqlite_text(text: str | None) -> str | None: ...
def sqlite_text(text: str | None) -> str | None:
    """``text`` as SQLite keeps it: UTF-8, so a lone surrogate becomes U+FFFD."""
    return None if text is None else text.encode("utf-8", "replace").decode()


def read_file(path: Path) -> tuple[bytes, os.stat_result]:
    """A tape file's bytes and its status (see store.read_file)."""
    from playingpack.store import read_file  # store keeps its tapes' index

    return read_file(path)


def _described(tape: Tape, key: str, providers: Sequence[Provider]) -> Row:
    from playingpack.tape_views import first_user_message  # tape_views lists the index

    provider = provider_of(providers, tape.endpoint)
    try:
        conversation = None if provider is None else provider.turns(tape.request)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        conversation = None
    calls = [] if provider is None else _tool_calls(tape, provider)
    model = tape.model
    if not model and conversation is not None:
        named = dict(conversation.params).get("model")
        model = named if isinstance(named, str) else ""
    words = " ".join(sorted(words_of(text_of(tape.request, provider, conversation))))
    names = " ".join([key, model, tape.endpoint, *calls])
    return (
        sqlite_text(model) or None,
        sqlite_text(tape.endpoint),
        sqlite_text(tape.timestamp) or None,
        tape.status,
        int(tape.streamed),
        len(tape.chunks),
        sqlite_text(json.dumps(calls, ensure_ascii=False)),
        tape.origin,
        sqlite_text(tape.parent),
        sqlite_text(tape.kept),
        sqlite_text(first_user_message(conversation) if conversation is not None else None),
        None,
        sqlite_text(words),
        sqlite_text(names),
    )


def _tool_calls(tape: Tape, provider: Provider) -> list[str]:
    try:
        summary = (
            provider.summarize_events([chunk.c for chunk in tape.chunks])
            if tape.streamed
            else provider.summarize(msgspec.json.decode(tape.body))
        )
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        return []  # listed all the same; replaying it will say why
    return [call.name for call in summary.tool_calls]
