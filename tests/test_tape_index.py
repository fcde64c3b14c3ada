"""The tape index: listing, searching and the nearest tape, kept in step with the folder."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import RecordMode
from playingpack.hashing import request_key
from playingpack.providers import builtin
from playingpack.store import TapeStore, TapeStores
from playingpack.tape_index import TapeIndex
from playingpack.tapes import Chunk, Tape
from tests.conftest import Running

CHAT = "/v1/chat/completions"
ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
)


def chat(*contents: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text} for text in contents]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


def save(folder: Path, body: Any, when: str, endpoint: str = CHAT, index: int = 1) -> Path:
    tape = Tape(
        request_key(body),
        endpoint,
        body,
        200,
        (Chunk(ANSWER, 5),),
        False,
        model=str(body.get("model", "")),
        timestamp=when,
    )
    return TapeStore(folder).save(tape, index)


def test_page_sorts_filters_and_counts(tmp_path: Path) -> None:
    paris = save(tmp_path, chat("What should I pack for Paris?"), "2024-01-01T00:00:00Z")
    lyon = save(tmp_path, chat("What should I pack for Lyon?"), "2024-01-02T00:00:00Z")
    scoped = save(tmp_path / "test_trip", chat("Weather in Oslo?"), "2024-01-03T00:00:00Z")
    (tmp_path / ("f" * 64 + ".json")).write_text("{not json")
    index = TapeIndex(tmp_path, builtin())

    tapes, total, _ = index.page()
    assert total == 3 and [t.path for t in tapes] == [scoped, lyon, paris]
    first = tapes[0]
    assert (first.key, first.folder, first.recording) == (
        f"test_trip/{scoped.stem}",
        "test_trip",
        1,
    )
    assert (first.model, first.endpoint, first.status, first.streamed, first.chunks) == (
        "gpt-4o-mini",
        CHAT,
        200,
        False,
        1,
    )
    assert first.tool_calls == ["get_weather"] and first.first_user_message == "Weather in Oslo?"
    assert first.size == scoped.stat().st_size and first.error is None

    assert index.page(limit=1, offset=1) == ([tapes[1]], 3, True)
    assert [t.path for t in index.page(descending=False)[0]] == [paris, lyon, scoped]
    assert [t.path for t in index.page(scope="")[0]] == [lyon, paris]
    assert [t.path for t in index.page(scope="test_trip")[0]] == [scoped]
    everything, total, _ = index.page(readable_only=False, sort="size", descending=False)
    assert total == 4 and everything[0].error is not None and everything[0].model is None
    with pytest.raises(ValueError, match="unknown sort"):
        index.page(sort="colour")


def test_q_is_word_prefixes_of_hash_key_model_endpoint_text_and_tool_names(
    tmp_path: Path,
) -> None:
    paris = save(tmp_path, chat("What should I pack for Paris?"), "2024-01-01T00:00:00Z")
    lyon = save(tmp_path, chat("What should I PACK for Lyon?"), "2024-01-02T00:00:00Z")
    index = TapeIndex(tmp_path, builtin())

    def found(q: str) -> list[Path]:
        return [tape.path for tape in index.page(q=q)[0]]

    assert found("par") == [paris]
    assert found("pack lyo") == [lyon]
    assert found("pack") == [lyon, paris]
    assert found(paris.stem[:10]) == [paris]
    assert found("gpt-4o") == [lyon, paris]
    assert found("get_weath") == [lyon, paris]
    assert found("completions") == [lyon, paris]
    assert found('"; drop') == [] and found("berlin") == []


def test_rows_follow_the_folder_and_our_own_writes(tmp_path: Path) -> None:
    stores = TapeStores(tmp_path)
    body = chat("first")
    tape = Tape(request_key(body), CHAT, body, 200, (Chunk(ANSWER, 1),), False)
    assert stores.index.rows() == []
    path = stores.get("test_a").save(tape)
    assert [row.key for row in stores.index.rows()] == [f"test_a/{path.stem}"]
    second = save(tmp_path, chat("second"), "2024-01-01T00:00:00Z")
    assert {row.path for row in stores.index.rows()} == {path, second}
    stores.get("test_a").delete(tape.key)
    assert [row.path for row in stores.index.rows()] == [second]
    second.unlink()
    assert stores.index.rows() == []
    # A tape edited in place (no rename, so its folder is unchanged) is seen by a thorough look.
    again = save(tmp_path, chat("second"), "2024-01-01T00:00:00Z")
    assert [row.timestamp for row in stores.index.rows()] == ["2024-01-01T00:00:00Z"]
    os.utime(tmp_path, ns=(0, 0))
    again.write_text(again.read_text().replace("2024-01-01", "2025-05-05"))
    assert [row.timestamp for row in stores.index.rows(thorough=True)] == ["2025-05-05T00:00:00Z"]
    stores.close()


def test_the_index_is_kept_in_the_tapes_folder_and_read_again_by_the_next_process(
    tmp_path: Path,
) -> None:
    save(tmp_path, chat("hello"), "2024-01-01T00:00:00Z")
    first = TapeIndex(tmp_path, builtin())
    assert len(first.rows()) == 1
    first.close()
    folder = tmp_path / ".playingpack"
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    assert first.location == str(folder / "index.sqlite3")
    # The next one finds the rows there (and no tape file is read to list them).
    (tmp_path / "x.txt").write_text("not a tape")
    db = sqlite3.connect(folder / "index.sqlite3")
    db.execute("UPDATE tapes SET first_user_message = 'from the index'")
    db.commit()
    db.close()
    assert [row.first_user_message for row in TapeIndex(tmp_path, builtin()).rows()] == [
        "from the index"
    ]


def test_a_broken_index_file_is_rebuilt(tmp_path: Path) -> None:
    save(tmp_path, chat("hello"), "2024-01-01T00:00:00Z")
    folder = tmp_path / ".playingpack"
    folder.mkdir()
    (folder / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    assert [row.first_user_message for row in TapeIndex(tmp_path, builtin()).rows()] == ["hello"]


def test_an_index_that_cannot_be_kept_in_the_tapes_folder_is_kept_in_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tapes = tmp_path / "tapes"
    save(tapes, chat("hello"), "2024-01-01T00:00:00Z")
    (tapes / ".playingpack").write_text("a file where the index's folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    index = TapeIndex(tapes, builtin())
    assert len(index.rows()) == 1
    assert index.location is not None
    assert Path(index.location).parent == tmp_path / "cache" / "playingpack" / "index"
    index.close()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tapes / ".playingpack"))  # a file: no cache folder
    index = TapeIndex(tapes, builtin())
    assert len(index.rows()) == 1 and index.location == ":memory:"


def test_a_missing_folder_has_no_tapes_and_gets_no_index(tmp_path: Path) -> None:
    index = TapeIndex(tmp_path / "none", builtin())
    assert index.page() == ([], 0, True)
    assert index.nearest(chat("hi"), CHAT) is None
    assert not (tmp_path / "none").exists()


def test_nearest_is_ranked_by_the_message_text(tmp_path: Path) -> None:
    paris = save(tmp_path, chat("What should I pack for Paris?"), "2024-01-01T00:00:00Z")
    save(tmp_path, chat("What should I pack for Lyon?"), "2024-01-02T00:00:00Z")
    save(tmp_path, chat("What should I pack for Lyon in winter?"), "2024-01-03T00:00:00Z")
    index = TapeIndex(tmp_path, builtin())
    nearest = index.nearest(chat("What should I pack for Paris in winter?"), CHAT)
    assert nearest is not None and nearest.name == paris.stem
    assert nearest.differences == [
        'messages[0].content: "…uld I pack for Paris?" ≠ "…uld I pack for Paris in winter?"'
    ]


def test_nearest_ties_go_to_the_most_shared_request_then_the_newest(tmp_path: Path) -> None:
    older = save(tmp_path, chat("Tell me a joke", temperature=0.1), "2024-01-01T00:00:00Z")
    newer = save(tmp_path, chat("Tell me a joke", temperature=0.2), "2024-01-02T00:00:00Z")
    far = save(tmp_path, chat("Tell me a joke", temperature=0.3, top_p=1), "2024-01-03T00:00:00Z")
    index = TapeIndex(tmp_path, builtin())
    assert index.nearest(chat("Tell me a joke", temperature=0.1), CHAT).name == older.stem  # type: ignore[union-attr]
    assert index.nearest(chat("Tell me a joke", temperature=0.9), CHAT).name == newer.stem  # type: ignore[union-attr]
    assert index.nearest(chat("Tell me a joke", top_p=1), CHAT).name == far.stem  # type: ignore[union-attr]


def test_nearest_keeps_to_its_endpoint_and_folder(tmp_path: Path) -> None:
    save(tmp_path, chat("Weather in Paris?"), "2024-01-01T00:00:00Z")
    responses = save(tmp_path, {"model": "m", "input": "Weather in Paris?"}, "t", "/v1/responses")
    scoped = save(tmp_path / "test_x", chat("Joke about Paris"), "2024-01-01T00:00:00Z")
    index = TapeIndex(tmp_path, builtin())
    found = index.nearest({"model": "m", "input": "Weather in Lyon?"}, "/v1/responses")
    assert found is not None and found.name == responses.stem
    found = index.nearest(chat("Weather in Paris?"), CHAT, "test_x")
    assert found is not None and found.name == scoped.stem
    assert index.nearest({"input": "x"}, "/v1/embeddings") is None
    assert index.nearest(chat("Weather"), CHAT, "test_none") is None


def test_nearest_without_words_in_common_is_the_newest(tmp_path: Path) -> None:
    save(tmp_path, chat("alpha"), "2024-01-01T00:00:00Z")
    newest = save(tmp_path, chat("beta"), "2024-01-02T00:00:00Z")
    index = TapeIndex(tmp_path, builtin())
    assert index.nearest(chat("gamma"), CHAT).name == newest.stem  # type: ignore[union-attr]
    assert index.nearest({"model": "gpt-4o-mini"}, CHAT).name == newest.stem  # type: ignore[union-attr]


def test_a_replay_only_miss_names_the_tape_whose_question_it_extends(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    tapes = tmp_path / "tapes"
    paris = save(tapes, chat("What should I pack for Paris?"), "2024-01-01T00:00:00Z")
    save(tapes, chat("What should I pack for Lyon?"), "2024-01-02T00:00:00Z")
    save(tapes, chat("What should I pack for Lyon in winter?"), "2024-01-03T00:00:00Z")
    proxy = start_proxy(tapes_dir=tapes, record=RecordMode.REPLAY_ONLY)
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What should I pack for Paris in winter?"}],
        )
    assert f"The nearest recorded request is tape {paris.stem} (2024-01-01T00:00:00Z)" in (
        raised.value.message
    )
    (miss,) = proxy.finished_flows(1)
    diff = httpx.get(
        f"{proxy.url}/api/diff", params={"a": miss["id"], "b": "nearest"}, timeout=10
    ).json()
    assert diff["b"]["ref"] == f"tape:{paris.stem}"


def test_a_miss_while_the_folder_is_first_indexed_is_answered_from_the_tapes_indexed_so_far(
    start_proxy: Callable[..., Running], tmp_path: Path
) -> None:
    # A fresh clone's tapes have no index: reading 12,000 of them takes seconds, and the first
    # miss must not wait for that. Written as files, as a checkout brings them.
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    paris = save(tapes, chat("What should I pack for Paris?"), "2024-01-01T00:00:00Z")
    for number in range(12_000):
        body = chat(f"Question number {number} about otters")
        tape = Tape(request_key(body), CHAT, body, 200, (Chunk(ANSWER, 5),), False, "gpt-4o-mini")
        (tapes / f"{tape.key}.json").write_bytes(tape.to_json())
    proxy = start_proxy(tapes_dir=tapes, record=RecordMode.REPLAY_ONLY)
    client = proxy.client(max_retries=0)
    question = [{"role": "user", "content": "What should I pack for Paris in winter?"}]
    started = time.monotonic()
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=question)  # type: ignore[arg-type]
    waited = time.monotonic() - started
    assert "tapes of this folder indexed so far" in raised.value.message
    assert waited < 1.5, f"the first miss waited {waited:.1f} s for the index"
    started = time.monotonic()
    listed = httpx.get(f"{proxy.url}/api/tapes", params={"limit": 1}, timeout=10)
    assert time.monotonic() - started < 1.5 and listed.headers["X-Playingpack-Indexing"] == "true"
    assert int(listed.headers["X-Total-Count"]) < 12001

    def indexed() -> bool:
        listed = httpx.get(f"{proxy.url}/api/tapes", params={"limit": 1}, timeout=10)
        return "X-Playingpack-Indexing" not in listed.headers

    deadline = time.monotonic() + 120
    while not indexed():
        assert time.monotonic() < deadline, "the tapes folder was not indexed within 120 s"
        time.sleep(0.1)
    listed = httpx.get(f"{proxy.url}/api/tapes", params={"limit": 1}, timeout=10)
    assert listed.headers["X-Total-Count"] == "12001"
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=question)  # type: ignore[arg-type]
    assert f"The nearest recorded request is tape {paris.stem} (" in raised.value.message
    assert "indexed so far" not in raised.value.message
