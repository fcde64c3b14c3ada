"""The run's ledger: what it recorded, replayed and missed, and usage.json."""

from __future__ import annotations

import json
from pathlib import Path

from playingpack.ledger import Miss, TapeLedger, tape_names


def test_report_and_unused_tapes(tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    (tapes / "test_a").mkdir(parents=True)
    for name in ("one.json", "two.json", "two.2.json", ".tmp.json", "test_a/three.json"):
        (tapes / name).write_text("{}")
    assert sorted(tape_names(tapes)) == ["one", "test_a/three", "two", "two.2"]
    ledger = TapeLedger(tapes, tmp_path / "logs")
    ledger.tape_replayed("one")
    ledger.tape_recorded("test_a/three")
    ledger.tape_missing(Miss("POST", "/v1/chat/completions", "m", "k" * 64, "k" * 64, "why"))
    report = ledger.report()
    assert report["recorded"] == ["test_a/three"] and report["replayed"] == ["one"]
    assert report["unused"] == ["two", "two.2"]
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
