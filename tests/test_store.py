"""TapeStore: atomic saves, corrupt files, key validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from playingpack.errors import TapeError
from playingpack.store import TapeStore
from playingpack.tapes import Chunk, Tape

KEY = "0123456789abcdef" * 4


def tape(text: str = "{}") -> Tape:
    return Tape(
        key=KEY,
        endpoint="/v1/chat/completions",
        request={"model": "m"},
        status=200,
        chunks=(Chunk(text, 5),),
        streamed=False,
        model="m",
    )


def test_missing_tape_is_none(tmp_path: Path) -> None:
    assert TapeStore(tmp_path / "none-yet").load(KEY) is None


def test_save_is_atomic_and_readable(tmp_path: Path) -> None:
    store = TapeStore(tmp_path / "tapes")
    path = store.save(tape('{"a": 1}'))
    assert path == tmp_path / "tapes" / f"{KEY}.json"
    assert [p.name for p in (tmp_path / "tapes").iterdir()] == [f"{KEY}.json"]
    assert path.stat().st_mode & 0o777 == 0o644
    loaded = TapeStore(tmp_path / "tapes").load(KEY)
    assert loaded is not None and loaded.body == b'{"a": 1}'


def test_failed_write_leaves_old_tape_and_no_temporary(tmp_path: Path) -> None:
    store = TapeStore(tmp_path)
    store.save(tape('"old"'))
    broken = Tape(
        key=KEY,
        endpoint="/v1/chat/completions",
        request={"x": object()},
        status=200,
        chunks=(),
        streamed=False,
    )
    with pytest.raises(TypeError):
        store.save(broken)
    assert [p.name for p in tmp_path.iterdir()] == [f"{KEY}.json"]
    loaded = TapeStore(tmp_path).load(KEY)
    assert loaded is not None and loaded.body == b'"old"'


def test_corrupt_tape_raises_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / f"{KEY}.json").write_text("{", "utf-8")
    with pytest.raises(TapeError) as raised:
        TapeStore(tmp_path).load(KEY)
    assert raised.value.path == tmp_path / f"{KEY}.json"
    assert str(tmp_path / f"{KEY}.json") in str(raised.value)


def test_edits_on_disk_are_seen_despite_the_cache(tmp_path: Path) -> None:
    store = TapeStore(tmp_path)
    store.save(tape('"first"'))
    assert store.load(KEY) is not None
    other = TapeStore(tmp_path)
    other.save(tape('"second, longer"'))
    loaded = store.load(KEY)
    assert loaded is not None and loaded.body == b'"second, longer"'
    (tmp_path / f"{KEY}.json").unlink()
    assert store.load(KEY) is None


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", KEY.upper(), KEY[:-1], ""])
def test_only_hex_keys_name_files(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a tape key"):
        TapeStore(tmp_path).path(key)


def test_delete(tmp_path: Path) -> None:
    store = TapeStore(tmp_path)
    store.save(tape())
    assert store.delete(KEY) is True
    assert store.delete(KEY) is False
    assert store.load(KEY) is None


def test_recordings_of_a_sequence_are_read_and_deleted_alone_or_together(tmp_path: Path) -> None:
    store = TapeStore(tmp_path)
    for index, text in enumerate(("{}", '{"n": 2}', '{"n": 3}'), start=1):
        store.save(tape(text), index)
    assert (store.raw(KEY, 2) or b"").count(b'\\"n\\": 2') == 1
    assert store.delete(KEY, 2) is True
    assert store.delete(KEY, 2) is False
    assert store.load(KEY, 2) is None and store.raw(KEY, 2) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{KEY}.3.json", f"{KEY}.json"]
    assert store.delete(KEY) is True  # the first, and the recordings after it
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{KEY}.3.json"]
