"""tape_files: the one listing of the tape files under a tapes folder."""

from __future__ import annotations

from pathlib import Path

from playingpack.tape_files import find_tapes, parse_name
from tests.test_catalog import chat_tape, save


def test_find_tapes_walks_subfolders_and_names_them_by_relative_key(tmp_path: Path) -> None:
    tape = chat_tape()
    hash_ = tape.key
    save(tmp_path, tape)
    save(tmp_path, tape, index=2)
    save(tmp_path, tape, folder="test_foo")
    save(tmp_path, tape, folder="test_foo/case_1")
    (tmp_path / "README.md").write_text("not a tape")
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / f"{hash_}.1.json").write_text("{}")  # the first recording is <hash>.json
    (tmp_path / f".{hash_[:16]}.abc.tmp").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / f"{hash_}.json").write_text("{}")
    found = find_tapes(tmp_path)
    assert [(t.key, t.hash, t.index, t.folder) for t in found] == [
        (hash_, hash_, 1, ""),
        (f"{hash_}.2", hash_, 2, ""),
        (f"test_foo/{hash_}", hash_, 1, "test_foo"),
        (f"test_foo/case_1/{hash_}", hash_, 1, "test_foo/case_1"),
    ]
    assert found[1].short_key == f"{hash_[:12]}.2"
    assert found[2].short_key == f"test_foo/{hash_[:12]}"
    assert found[0].size == found[0].path.stat().st_size > 0


def test_find_tapes_in_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert find_tapes(tmp_path / "nothing-here") == []


def test_find_tapes_leaves_linked_folders_unentered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    save(outside, chat_tape())
    tapes_dir = tmp_path / "tapes"
    tapes_dir.mkdir()
    (tapes_dir / "test_x").symlink_to(outside, target_is_directory=True)
    assert find_tapes(tapes_dir) == []


def test_parse_name() -> None:
    hash_ = "ab" * 32
    assert parse_name(f"{hash_}.json") == (hash_, 1)
    assert parse_name(f"{hash_}.2.json") == (hash_, 2)
    assert parse_name(f"{hash_}.12.json") == (hash_, 12)
    for name in (f"{hash_}.1.json", f"{hash_}.02.json", f"{hash_.upper()}.json", "a.json"):
        assert parse_name(name) is None, name
