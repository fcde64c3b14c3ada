"""Hostile tape folders and tape files: lone surrogates, deep nesting, links out of the folder,
left-over temporary files, tapes that make no sense, read-only folders, FIFOs, big tapes.

Each test runs a real playingpack (in a thread) or the real CLI (a subprocess) against a tapes
folder made the way an attacker or a crash would leave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playingpack import store as stores
from playingpack.config import RecordMode
from playingpack.hashing import request_key
from playingpack.store import TapeStore, TapeStores
from playingpack.tapes import Chunk, Tape
from tests.conftest import API_KEY, COMPLETION, PLAYINGPACK, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

CHAT = "/v1/chat/completions"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def tape_for(body: dict[str, Any], text: str = json.dumps(COMPLETION), **fields: Any) -> Tape:
    """A JSON tape for the chat request ``body`` (the key it is looked up by)."""
    values: dict[str, Any] = {
        "key": request_key(body),
        "endpoint": CHAT,
        "request": body,
        "status": 200,
        "chunks": (Chunk(text, 1),),
        "streamed": False,
        "model": "gpt-4o-mini",
    }
    values.update(fields)
    return Tape(**values)


def write_tape(tapes_dir: Path, tape: Tape, *, name: str | None = None) -> Path:
    tapes_dir.mkdir(parents=True, exist_ok=True)
    path = tapes_dir / (name or f"{tape.key}.json")
    path.write_bytes(tape.to_json())
    return path


def edit_tape(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_bytes())
    change(document)
    path.write_text(json.dumps(document), "utf-8")


def cli(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")}
    return subprocess.run(
        [*PLAYINGPACK, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def post(proxy: Running, body: bytes | dict[str, Any], path: str = CHAT) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{proxy.url}{path}", content=content, headers=HEADERS, timeout=10)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def deep_body(depth: int) -> bytes:
    """A chat request whose ``metadata`` nests ``depth`` arrays."""
    return b'{"model":"gpt-4o-mini","messages":[],"metadata":' + b"[" * depth + b"]" * depth + b"}"


# --- 4: lone surrogates ------------------------------------------------------------------------


def test_lone_surrogates_are_written_as_json_escapes_and_read_back_the_same() -> None:
    tape = Tape(
        "a" * 64,
        CHAT,
        {"messages": [{"role": "user", "content": "\ud800 and \udfff é"}]},
        200,
        (Chunk('data: {"x": "\ud83d"}\n\n', 3), Chunk("data: [DONE]\n\n", 0)),
        True,
    )
    data = tape.to_json()
    text = data.decode("utf-8")  # strict: the file is valid UTF-8
    assert "\\ud800 and \\udfff é" in text
    assert json.loads(text)["request"]["body"] == tape.request
    again = Tape.from_json(data)
    assert again.request == tape.request
    assert again.chunks == tape.chunks


def test_a_stream_asked_with_a_lone_surrogate_ends_whole_and_is_recorded(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy()
    raw = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"\\ud800"}]}'
    first = post(proxy, raw)
    assert first.status_code == 200
    assert "data: [DONE]\n\n" in first.text
    assert len(proxy.tapes()) == 1
    proxy.close()
    again = start_proxy(record=RecordMode.REPLAY_ONLY)
    replayed = post(again, raw)
    assert replayed.status_code == 200
    assert replayed.headers["X-Playingpack-Source"] == "tape"
    assert replayed.text == first.text


def test_a_json_answer_holding_a_lone_surrogate_is_recorded_and_replayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="half a pair: \ud800"))
    proxy = start_proxy()
    body = ask("Say half a pair")
    first = post(proxy, body)
    assert first.status_code == 200
    assert "\\ud800" in first.text
    (tape,) = proxy.tapes()
    proxy.close()
    again = start_proxy(record=RecordMode.REPLAY_ONLY)
    replayed = post(again, body)
    assert replayed.status_code == 200 and replayed.content == first.content
    streamed = post(again, {**body, "stream": True})
    assert streamed.status_code == 200 and "data: [DONE]\n\n" in streamed.text
    assert tape.name == f"{request_key(body)}.json"


# --- 5: deeply nested tapes -----------------------------------------------------------------------


def deep_tape(tapes_dir: Path, body: dict[str, Any], depth: int = 100_000) -> Path:
    """The file of ``body``'s tape, with a request nested ``depth`` arrays deep instead."""
    path = write_tape(tapes_dir, tape_for(body))
    data = path.read_bytes()
    document = json.loads(data)
    document["request"]["body"] = "DEEP"
    text = json.dumps(document).encode()
    path.write_bytes(text.replace(b'"DEEP"', b"[" * depth + b"]" * depth))
    return path


def test_a_deeply_nested_tape_is_reported_by_name_by_every_tapes_command(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    deep = deep_tape(tapes_dir, ask("deep"))
    good = write_tape(tapes_dir, tape_for(ask("fine")))
    listed = cli("tapes", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "RecursionError" not in listed.stderr + listed.stdout
    assert "unreadable" in listed.stdout and good.stem[:12] in listed.stdout
    rows = json.loads(cli("tapes", "list", "--json", cwd=tmp_path).stdout)
    (bad,) = [row for row in rows if row["error"]]
    assert bad["path"].endswith(deep.name) and "nests more than" in bad["error"]
    assert [row["hash"] for row in rows if not row["error"]] == [good.stem]
    shown = cli("tapes", "show", deep.stem, cwd=tmp_path)
    assert shown.returncode == 1
    assert deep.name in shown.stderr and "nests more than" in shown.stderr
    assert "Traceback" not in shown.stderr
    verified = cli("tapes", "verify", cwd=tmp_path)
    assert verified.returncode == 1
    assert "Traceback" not in verified.stderr
    (line,) = [line for line in verified.stdout.splitlines() if deep.name in line]
    assert "nests more than" in line


def test_a_deeply_nested_tape_is_left_out_of_the_api_list_and_its_replay_names_it(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    deep = deep_tape(proxy.tapes_dir, ask("deep"))
    good = write_tape(proxy.tapes_dir, tape_for(ask("fine")))
    listing = httpx.get(f"{proxy.url}/api/tapes", timeout=10)
    assert listing.status_code == 200
    assert [tape["hash"] for tape in listing.json()] == [good.stem]
    replay = post(proxy, ask("deep"))
    assert replay.status_code == 500
    error = error_of(replay)
    assert error["code"] == "tape_corrupt" and str(deep) in error["message"]
    shown = httpx.get(f"{proxy.url}/api/tapes/{deep.stem}", timeout=10)
    assert shown.status_code == 500 and str(deep) in error_of(shown)["message"]


def test_a_miss_explains_itself_with_a_deeply_nested_tape_in_the_folder(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    deep_tape(proxy.tapes_dir, ask("deep"))
    good = write_tape(proxy.tapes_dir, tape_for(ask("fine")))
    miss = post(proxy, ask("finer"))
    assert miss.status_code == 404
    assert f"nearest recorded request is tape {good.stem}" in error_of(miss)["message"]


# --- 9: links out of the tapes folder -------------------------------------------------------------


def outside_tape(tmp_path: Path, body: dict[str, Any]) -> Path:
    """A tape for ``body`` in a folder outside the tapes folder."""
    return write_tape(tmp_path / "outside", tape_for(body))


def test_a_linked_folder_inside_the_tapes_folder_is_neither_read_nor_written_nor_deleted(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    secret = outside_tape(tmp_path, ask("outside"))
    proxy = start_proxy()
    proxy.tapes_dir.mkdir(parents=True)
    (proxy.tapes_dir / "evil").symlink_to(tmp_path / "outside", target_is_directory=True)
    listing = httpx.get(f"{proxy.url}/api/tapes", timeout=10).json()
    assert listing == []
    shown = httpx.get(f"{proxy.url}/api/tapes/evil/{secret.stem}", timeout=10)
    assert shown.status_code == 500 and "symbolic link" in error_of(shown)["message"]
    deleted = httpx.delete(f"{proxy.url}/api/tapes/evil/{secret.stem}", timeout=10)
    assert deleted.status_code == 409 and "symbolic link" in error_of(deleted)["message"]
    assert secret.exists()
    replay = post(proxy, ask("outside"), path=f"/t/evil{CHAT}")
    assert replay.status_code == 500
    assert str(proxy.tapes_dir / "evil") in error_of(replay)["message"]
    recorded = post(proxy, ask("new"), path=f"/t/evil{CHAT}")
    assert recorded.status_code == 500
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == [secret.name]


def test_a_linked_tape_file_is_reported_by_the_server_and_the_cli_alike(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    secret = outside_tape(tmp_path, ask("outside"))
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    proxy.tapes_dir.mkdir(parents=True)
    link = proxy.tapes_dir / secret.name
    link.symlink_to(secret)
    (proxy.tapes_dir / "test_x").symlink_to(tmp_path / "outside", target_is_directory=True)
    replay = post(proxy, ask("outside"))
    assert replay.status_code == 500
    message = error_of(replay)["message"]
    assert str(link) in message and "symbolic link" in message
    assert httpx.get(f"{proxy.url}/api/tapes", timeout=10).json() == []
    listed = json.loads(cli("tapes", "list", "--json", "--tapes-dir", "tapes", cwd=tmp_path).stdout)
    assert [(row["id"], "symbolic link" in row["error"]) for row in listed] == [(secret.stem, True)]
    verified = cli("tapes", "verify", "--tapes-dir", "tapes", cwd=tmp_path)
    assert verified.returncode == 1
    assert [line.split(":")[0] for line in verified.stdout.splitlines()] == [
        f"tapes/{secret.name}",
        "tapes/test_x",
    ]
    assert all("symbolic link" in line for line in verified.stdout.splitlines())
    # Deleting the tape removes the link, never what it points at.
    assert httpx.delete(f"{proxy.url}/api/tapes/{secret.stem}", timeout=10).status_code == 204
    assert not link.is_symlink() and secret.exists()


# --- 10: temporary files left by a killed write ---------------------------------------------------


def temporary_files(tapes_dir: Path, key: str) -> tuple[Path, Path]:
    """A stale temporary file (an hour old) and a fresh one, named as TapeStore.save names them."""
    tapes_dir.mkdir(parents=True, exist_ok=True)
    stale = tapes_dir / f".{key[:16]}.k1ll3d_x.tmp"
    fresh = tapes_dir / f".{key[:16]}.wr1t1ng.tmp"
    stale.write_text('{"meta": {')
    fresh.write_text('{"meta": {')
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    return stale, fresh


def test_sweep_removes_stale_temporary_files_and_keeps_fresh_ones(tmp_path: Path) -> None:
    tapes_dir = tmp_path / "tapes"
    key = request_key(ask())
    stale, fresh = temporary_files(tapes_dir, key)
    scoped_stale, scoped_fresh = temporary_files(tapes_dir / "test_a", key)
    other = tapes_dir / ".notes.tmp"
    other.write_text("mine")
    os.utime(other, (0, 0))
    removed = TapeStores(tapes_dir).sweep()
    assert sorted(removed) == sorted([stale, scoped_stale])
    assert fresh.exists() and scoped_fresh.exists() and other.exists()
    assert stores.STALE_TEMPORARY <= 3600 / 2


def test_playingpack_start_sweeps_stale_temporary_files(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    stale, fresh = temporary_files(tmp_path / "tapes", request_key(ask()))
    start_proxy()
    deadline = time.monotonic() + 5
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not stale.exists()
    assert fresh.exists()


def test_verify_warns_of_temporary_files_with_the_command_to_remove_them(tmp_path: Path) -> None:
    tapes_dir = tmp_path / "tapes"
    stale, fresh = temporary_files(tapes_dir, request_key(ask()))
    TapeStore(tapes_dir).save(tape_for(ask()))
    result = cli("tapes", "verify", "--tapes-dir", "tapes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any(f"`rm {fresh}`" in line and "being written" in line for line in warnings)
    assert any(f"`rm {stale}`" in line and "interrupted" in line for line in warnings)
    assert "1 tape file in tapes: all parse" in result.stdout


# --- 13: tapes that parse but make no sense -------------------------------------------------------


def senseless_tapes(tapes_dir: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Tapes that parse, each for its own request, named by what is wrong with them: the
    first ones by themselves, the last two (html, bad event) as answers of their endpoint."""
    made: dict[str, tuple[dict[str, Any], Path]] = {}

    def make(name: str, tape_body: dict[str, Any], **fields: Any) -> Path:
        path = write_tape(tapes_dir, tape_for(tape_body, **fields))
        made[name] = (tape_body, path)
        return path

    for status in (0, 101, 1000):
        path = make(f"status {status}", ask(f"status {status}"))
        edit_tape(path, functools.partial(_set_status, status=status))
    make("no chunks", ask("no chunks"), chunks=())
    make("html", ask("html"), text="<html><body>Bad gateway</body></html>")
    events = ['data: {"choices": [1]}\n\n', "data: [DONE]\n\n"]
    make("bad event", ask("bad event"), chunks=tuple(Chunk(e, 1) for e in events), streamed=True)
    return made


def _set_status(document: dict[str, Any], status: int) -> None:
    document["response"]["status"] = status


def refused(proxy: Running, tapes: dict[str, tuple[dict[str, Any], Path]]) -> None:
    for what, (body, path) in tapes.items():
        response = post(proxy, body)
        assert response.status_code == 500, what
        error = error_of(response)
        assert error["code"] == "tape_corrupt", what
        assert str(path) in error["message"], what
    health = httpx.get(f"{proxy.url}/health", timeout=5)
    assert health.status_code == 200


def test_tapes_with_an_impossible_status_or_no_answer_are_refused_naming_the_file(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    made = senseless_tapes(proxy.tapes_dir)
    refused(proxy, {what: made[what] for what in list(made)[:-2]})


def test_tapes_whose_answer_the_client_cannot_be_given_are_refused_naming_the_file(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    made = senseless_tapes(proxy.tapes_dir)
    refused(proxy, {what: made[what] for what in ("html", "bad event")})


def test_verify_reports_tapes_that_make_no_sense(tmp_path: Path) -> None:
    made = senseless_tapes(tmp_path / "tapes")
    result = cli("tapes", "verify", "--tapes-dir", "tapes", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    expected = {
        "status 0": "not a final HTTP status (200..599)",
        "status 101": "not a final HTTP status (200..599)",
        "status 1000": "not a final HTTP status (200..599)",
        "no chunks": "the tape holds no answer",
        "html": "cannot be replayed: it holds a JSON answer that is not a JSON object",
        "bad event": "cannot be replayed: its recorded events cannot be",
    }
    for what, (_, path) in made.items():
        (line,) = [line for line in lines if path.name in line]
        assert expected[what] in line, line


# --- 17: a tapes folder playingpack may not change ------------------------------------------------


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unchangeable: by its mode, or, for root (whom modes do not stop), by the
    immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root without a working chattr: no way to make a folder read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_deleting_a_tape_in_a_read_only_folder_says_so(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy()
    path = write_tape(proxy.tapes_dir, tape_for(ask()))
    with read_only(proxy.tapes_dir):
        response = httpx.delete(f"{proxy.url}/api/tapes/{path.stem}", timeout=10)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "tapes_read_only"
    assert str(path) in error["message"]
    assert "Operation not permitted" in error["message"] or "Permission denied" in error["message"]
    assert path.exists()


# --- 19: FIFOs named like tapes -------------------------------------------------------------------


def test_a_fifo_named_like_a_tape_never_blocks_the_server(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    proxy.tapes_dir.mkdir(parents=True)
    fifo = proxy.tapes_dir / f"{request_key(ask('fifo'))}.json"
    os.mkfifo(fifo)
    good = write_tape(proxy.tapes_dir, tape_for(ask("fine")))
    replay = post(proxy, ask("fifo"))
    assert replay.status_code == 500
    message = error_of(replay)["message"]
    assert str(fifo) in message and "not a regular file (a FIFO)" in message
    listing = httpx.get(f"{proxy.url}/api/tapes", timeout=5)
    assert [tape["hash"] for tape in listing.json()] == [good.stem]
    shown = httpx.get(f"{proxy.url}/api/tapes/{fifo.stem}", timeout=5)
    assert shown.status_code == 500 and "FIFO" in error_of(shown)["message"]
    miss = post(proxy, ask("finer"))
    assert miss.status_code == 404 and good.stem in error_of(miss)["message"]
    assert httpx.get(f"{proxy.url}/health", timeout=5).status_code == 200


def test_the_tapes_commands_report_a_fifo_instead_of_waiting_on_it(tmp_path: Path) -> None:
    tapes_dir = tmp_path / "tapes"
    tapes_dir.mkdir()
    fifo = tapes_dir / f"{request_key(ask('fifo'))}.json"
    os.mkfifo(fifo)
    listed = cli("tapes", "list", "--json", "--tapes-dir", "tapes", cwd=tmp_path, timeout=20)
    (row,) = json.loads(listed.stdout)
    assert "not a regular file (a FIFO)" in row["error"]
    verified = cli("tapes", "verify", "--tapes-dir", "tapes", cwd=tmp_path, timeout=20)
    assert verified.returncode == 1 and "not a regular file (a FIFO)" in verified.stdout
    for raw in ((), ("--raw",)):
        shown = cli("tapes", "show", *raw, fifo.stem, "--tapes-dir", "tapes", cwd=tmp_path)
        assert shown.returncode == 1 and "FIFO" in shown.stderr


# --- 15: the tape cache is bounded by bytes -------------------------------------------------------


def test_the_tape_cache_keeps_no_tape_over_its_limit_and_stays_within_its_budget(
    tmp_path: Path,
) -> None:
    limit, budget = stores.CACHE_TAPE_LIMIT, stores.CACHE_BUDGET
    store = TapeStore(tmp_path)
    small = store.save(tape_for(ask("small")))
    assert store.load(small.stem) is store.load(small.stem)
    big_text = json.dumps({**COMPLETION, "padding": "x" * limit})
    big = store.save(tape_for(ask("big"), text=big_text))
    assert store.load(big.stem) is not store.load(big.stem)
    # Tapes just under the limit, more of them than the budget holds: the oldest go.
    size = limit - 1024**2
    count = budget // size + 1
    text = json.dumps({**COMPLETION, "padding": "y" * size})
    keys = [store.save(tape_for(ask(f"medium {n}"), text=text)).stem for n in range(count)]
    loaded = [store.load(key) for key in keys]
    assert store.load(keys[-1]) is loaded[-1]
    assert store.load(keys[0]) is not loaded[0]


def test_a_big_tape_is_read_off_the_event_loop(tmp_path: Path) -> None:
    text = json.dumps({**COMPLETION, "padding": "z" * stores.READ_INLINE})
    key = TapeStore(tmp_path).save(tape_for(ask("big"), text=text)).stem
    small = TapeStore(tmp_path).save(tape_for(ask("small"))).stem

    async def loop_turns_during(fetch: Awaitable[Tape | None]) -> int:
        """How often the loop ran something else while ``fetch`` read the tape."""
        turns = 0

        async def turn() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(turn())
        assert await fetch is not None
        other.cancel()
        return turns

    assert asyncio.run(loop_turns_during(TapeStore(tmp_path).fetch(key))) > 0
    assert asyncio.run(loop_turns_during(TapeStore(tmp_path).fetch(small))) == 0


# --- a tape of a newer format ---------------------------------------------------------------------


def test_a_tape_of_a_newer_format_is_refused_by_the_proxy_and_the_cli_saying_what_to_do(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    path = write_tape(proxy.tapes_dir, tape_for(ask("from the future")))
    edit_tape(path, lambda document: document["meta"].update(format=99))
    replay = post(proxy, ask("from the future"))
    assert replay.status_code == 500
    error = error_of(replay)
    assert error["code"] == "tape_corrupt"
    assert str(path) in error["message"] and "Upgrade playingpack" in error["message"]
    shown = cli("tapes", "show", path.stem, "--tapes-dir", "tapes", cwd=tmp_path)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert "meta.format is 99, newer than the tape format 1" in shown.stderr
    verified = cli("tapes", "verify", "--tapes-dir", "tapes", cwd=tmp_path)
    assert verified.returncode == 1
    (line,) = verified.stdout.splitlines()
    assert line.startswith(f"tapes/{path.name}: is not a tape: meta.format is 99")
    assert "Upgrade playingpack (pip install -U playingpack)" in line
