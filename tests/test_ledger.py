"""The run's ledger: what it recorded, replayed and missed, and usage.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from playingpack.ledger import Miss, TapeLedger, read_last_run
from tests.test_catalog import chat_tape, save, write_usage


def test_report_and_unused_tapes(tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    one, two = "1" * 64, "2" * 64
    for key in (one, two, f"{two}.2", f"test_a/{one}", f"test_a/deep/{one}"):
        (tapes / f"{key}.json").parent.mkdir(parents=True, exist_ok=True)
        (tapes / f"{key}.json").write_text("{}")
    (tapes / f".{one[:16]}.x.tmp").write_text("{}")
    (tapes / "notes.json").write_text("{}")
    ledger = TapeLedger(tapes, tmp_path / "logs")
    ledger.tape_replayed(one)
    ledger.tape_recorded(f"test_a/{one}")
    ledger.tape_missing(Miss("POST", "/v1/chat/completions", "m", "k" * 64, "k" * 64, "why"))
    report = ledger.report()
    assert report["recorded"] == [f"test_a/{one}"] and report["replayed"] == [one]
    assert report["unused"] == [two, f"{two}.2", f"test_a/deep/{one}"]
    assert report["missing"][0]["explanation"] == "why"


def test_usage_is_written_only_when_tapes_were_used(tmp_path: Path) -> None:
    ledger = TapeLedger(tmp_path / "tapes", tmp_path / "logs")
    assert ledger.write_usage() is None
    assert not (tmp_path / "logs").exists()
    ledger.tape_replayed("b")
    ledger.tape_recorded("a")
    path = ledger.write_usage()
    assert path == tmp_path / "logs" / "usage.json"
    usage = json.loads(path.read_text())
    assert usage["format"] == 1 and usage["used"] == ["a", "b"]
    assert usage["tapes_dir"] == str((tmp_path / "tapes").resolve())
    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["usage.json"]


def test_read_last_run(tmp_path: Path) -> None:
    tapes_dir = tmp_path / "tapes"
    write_usage(tmp_path / "logs", tapes_dir, ["a", "test_x/b"])
    # The same folder written differently (relative, with ..) is the same folder.
    same = tmp_path / "tapes" / ".." / "tapes"
    last_run = read_last_run(tmp_path / "logs", same)
    assert last_run.used == frozenset({"a", "test_x/b"})
    assert last_run.finished_at.isoformat() == "2026-03-01T12:00:00+00:00"
    assert last_run.tapes_dir == tapes_dir.resolve()


def test_read_last_run_without_a_usage_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        read_last_run(tmp_path / "logs", tmp_path / "tapes")
    assert str(info.value).startswith(
        f"no usage record at {tmp_path / 'logs' / 'usage.json'}: prune deletes the tapes the last "
        "run did not use"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"format": 2}, "has format 2; this playingpack reads format 1"),
        ({"finished_at": "yesterday"}, "finished_at must be an ISO-8601 time (got 'yesterday')"),
        ({"used": "all"}, "is not a usage record (Expected `array`, got `str` - at `$.used`)"),
    ],
)
def test_read_last_run_rejects_a_bad_file(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    write_usage(tmp_path, tmp_path / "tapes", [], changes)
    with pytest.raises(ValueError, match=r"usage\.json") as info:
        read_last_run(tmp_path, tmp_path / "tapes")
    assert expected in str(info.value)


def test_read_last_run_of_another_tapes_folder(tmp_path: Path) -> None:
    write_usage(tmp_path, tmp_path / "other", [])
    with pytest.raises(ValueError) as info:
        read_last_run(tmp_path, tmp_path / "tapes")
    assert str(info.value) == (
        f"{tmp_path / 'usage.json'} records the tapes used in {tmp_path / 'other'}, not in "
        f"{tmp_path / 'tapes'}; prune that folder (--tapes-dir), or run once with this one"
    )


def test_usage_written_is_read_back(tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    tape = save(tapes, chat_tape())
    ledger = TapeLedger(tapes, tmp_path / "logs")
    ledger.tape_replayed(tape.key)
    ledger.write_usage()
    last_run = read_last_run(tmp_path / "logs", tapes)
    assert last_run.used == frozenset({tape.key}) and last_run.tapes_dir == tapes.resolve()
