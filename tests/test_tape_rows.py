"""What the tape index keeps of one tape file: its row, read through the tape's provider."""

from __future__ import annotations

import os
from pathlib import Path

from playingpack.providers import builtin
from playingpack.tape_rows import COLUMNS, row_of, rows_of
from playingpack.tapes import Tape
from tests.test_tape_index import chat, save

NAMES = COLUMNS.split(", ")


def fields(row: tuple[object, ...] | None) -> dict[str, object]:
    assert row is not None
    return dict(zip(NAMES, row, strict=True))


def test_a_tape_s_row_has_its_listing_and_its_words(tmp_path: Path) -> None:
    path = save(tmp_path / "test_a", chat("What should I pack for Paris?"), "2026-01-02T03:04:05Z")
    row = fields(row_of(tmp_path, builtin(), path))
    status = os.stat(path)
    assert row["key"] == f"test_a/{path.stem}" and row["folder"] == "test_a"
    assert (row["hash"], row["recording"]) == (path.stem, 1)
    assert (row["size"], row["mtime_ns"], row["inode"]) == (
        status.st_size,
        status.st_mtime_ns,
        status.st_ino,
    )
    assert row["model"] == "gpt-4o-mini" and row["timestamp"] == "2026-01-02T03:04:05Z"
    assert row["tool_calls"] == '["get_weather"]' and row["error"] is None
    assert row["first_user_message"] == "What should I pack for Paris?"
    assert {"paris", "pack"} <= set(str(row["words"]).split())
    assert "get_weather" in str(row["names"]).split()
    # The Tape just written gives the same row as the file it was written to.
    tape = Tape.from_json(path.read_bytes())
    assert row_of(tmp_path, builtin(), path, tape) == row_of(tmp_path, builtin(), path)


def test_a_file_that_is_no_tape_has_a_row_saying_why(tmp_path: Path) -> None:
    broken = tmp_path / ("e" * 64 + ".2.json")
    broken.write_text("{not json")
    row = fields(row_of(tmp_path, builtin(), broken))
    assert (row["hash"], row["recording"]) == ("e" * 64, 2)
    assert str(row["error"]).startswith("not valid JSON") and row["model"] is None
    assert row["size"] == broken.stat().st_size
    link = tmp_path / ("d" * 64 + ".json")
    link.symlink_to(broken)
    assert fields(row_of(tmp_path, builtin(), link))["error"] is not None


def test_files_gone_or_misnamed_have_no_row(tmp_path: Path) -> None:
    path = save(tmp_path, chat("hello"), "2026-01-01T00:00:00Z")
    other = tmp_path / "notes.json"
    other.write_text("{}")
    gone = tmp_path / ("c" * 64 + ".json")
    assert row_of(tmp_path, builtin(), other) is None
    assert row_of(tmp_path, builtin(), gone) is None
    assert [row[0] for row in rows_of(tmp_path, builtin(), [path, other, gone])] == [path.stem]
