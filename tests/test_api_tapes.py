"""/api/tapes through a running playingpack: the list a page at a time (searched, sorted and
counted by the server, tapes written and deleted behind its back included), sequence
recordings, and the conversation and the answer of a tape."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from playingpack.hashing import request_key
from playingpack.tape_index import SORTS
from playingpack.tapes import Chunk, Tape
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
# What each sort orders by, in a listed tape.
SORTED_BY = {
    "recorded": "timestamp",
    "model": "model",
    "endpoint": "endpoint",
    "size": "size",
    "key": "key",
    "chunks": "chunks",
}


def write_tape(
    folder: Path,
    text: str,
    *,
    model: str = "gpt-4o-mini",
    endpoint: str = CHAT,
    chunks: int = 1,
    timestamp: str = "2026-01-02T03:04:05.000Z",
    tool: str | None = None,
) -> str:
    """A tape of a one-message request written as a file (as a person copying tapes in would);
    its hash."""
    body = {**ask(text), "model": model}
    answer = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"}
                if tool is None
                else {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": tool, "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "stop" if tool is None else "tool_calls",
            }
        ]
    }
    streamed = chunks > 1
    delta = {"choices": [{"index": 0, "delta": {"content": "o"}, "finish_reason": None}]}
    events = [Chunk(f"data: {json.dumps(delta)}\n\n", 1) for _ in range(chunks - 1)]
    pieces = (
        (*events, Chunk("data: [DONE]\n\n", 1)) if streamed else (Chunk(json.dumps(answer), 1),)
    )
    key = request_key(body)
    tape = Tape(
        key=key,
        endpoint=endpoint,
        request=body,
        status=200,
        chunks=pieces,
        streamed=streamed,
        model=model,
        timestamp=timestamp,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.json").write_bytes(tape.to_json())
    return key


def listed(proxy: Running, **query: str) -> tuple[list[dict[str, Any]], httpx.Response]:
    """The tapes of one page, and the response."""
    response = httpx.get(f"{proxy.url}/api/tapes", params=query, timeout=10)
    assert response.status_code == 200, response.text
    return response.json(), response


def every_page(proxy: Running, **query: str) -> list[dict[str, Any]]:
    """The tapes of every page, following the Link header to the end."""
    tapes, response = listed(proxy, **query)
    total = int(response.headers["X-Total-Count"])
    while "Link" in response.headers:
        link = response.headers["Link"]
        assert link.startswith("</api/tapes?") and link.endswith('>; rel="next"'), link
        response = httpx.get(f"{proxy.url}{link[1 : link.index('>')]}", timeout=10)
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Total-Count"]) == total
        page = response.json()
        assert page, "a Link to an empty page"
        tapes += page
    assert len(tapes) == total
    return tapes


def keys(tapes: list[dict[str, Any]]) -> list[str]:
    return [tape["key"] for tape in tapes]


@pytest.fixture
def shelf(proxy: Running) -> dict[str, str]:
    """Tapes of two models and endpoints, 1 to 4 chunks, some recorded at the same time; by
    their message."""
    written = {}
    for n in range(23):
        text = f"question number {n}"
        written[text] = write_tape(
            proxy.tapes_dir,
            text,
            model=("gpt-4o-mini", "gpt-4o", "o3")[n % 3],
            endpoint=(CHAT, RESPONSES)[n % 2],
            chunks=1 + n % 4,
            timestamp=f"2026-01-02T03:04:{n // 2:02d}.000Z",
        )
    return written


def test_the_pages_give_every_tape_once_newest_first_and_say_how_many(
    proxy: Running, shelf: dict[str, str]
) -> None:
    first, response = listed(proxy, limit="5")
    assert len(first) == 5 and response.headers["X-Total-Count"] == str(len(shelf))
    assert "cursor=" in response.headers["Link"] and "limit=5" in response.headers["Link"]
    tapes = every_page(proxy, limit="5")
    assert sorted(keys(tapes)) == sorted(shelf.values())
    stamps = [tape["timestamp"] for tape in tapes]
    assert stamps == sorted(stamps, reverse=True)
    assert keys(first) == keys(tapes)[:5]
    # The default page is 100: all of these, and no next page.
    everything, response = listed(proxy)
    assert keys(everything) == keys(tapes) and "Link" not in response.headers
    assert listed(proxy, limit="1000")[0] == everything


@pytest.mark.parametrize("sort", SORTS)
def test_each_sort_orders_every_page_both_ways(
    proxy: Running, shelf: dict[str, str], sort: str
) -> None:
    field = SORTED_BY[sort]
    for order in ("asc", "desc"):
        tapes = every_page(proxy, sort=sort, order=order, limit="4")
        assert sorted(keys(tapes)) == sorted(shelf.values()), (sort, order)
        values = [tape[field] for tape in tapes]
        assert values == sorted(values, reverse=order == "desc"), (sort, order)
        for before, after in itertools.pairwise(tapes):
            if before[field] == after[field]:  # ties: by key
                assert before["key"] < after["key"], (sort, order)
    assert keys(every_page(proxy, sort=sort)) == keys(every_page(proxy, sort=sort, order="desc"))


def test_q_words_are_each_the_start_of_a_word_and_all_must_be_found(proxy: Running) -> None:
    paris = write_tape(proxy.tapes_dir, "What should I pack for Paris?")
    lyon = write_tape(proxy.tapes_dir, "What should I pack for Lyon?", model="gpt-4o")
    tool = write_tape(proxy.tapes_dir, "Weather in Oslo?", tool="get_forecast")

    def found(q: str) -> set[str]:
        tapes, response = listed(proxy, q=q)
        assert response.headers["X-Total-Count"] == str(len(tapes))
        return set(keys(tapes))

    assert found("pack") == {paris, lyon}
    assert found("PACK par") == {paris}  # every word, ignoring case, each a prefix
    assert found("pack oslo") == set()
    assert found("aris") == set()  # the middle of a word is no match
    assert found("forecast") | found("get_forecast") == {tool}  # the tool's name
    assert found("mini") == {paris, tool}  # the model
    assert found(lyon[:12]) == {lyon}  # the hash
    assert found("") == {paris, lyon, tool}


def test_scope_keeps_one_folder_and_the_total_counts_it(proxy: Running) -> None:
    top = write_tape(proxy.tapes_dir, "top folder")
    scoped = write_tape(proxy.tapes_dir / "test_one.py-case_1", "scoped folder")
    assert set(keys(listed(proxy)[0])) == {top, f"test_one.py-case_1/{scoped}"}
    tapes, response = listed(proxy, scope="test_one.py-case_1")
    assert (
        keys(tapes) == [f"test_one.py-case_1/{scoped}"]
        and tapes[0]["scope"] == "test_one.py-case_1"
    )
    assert response.headers["X-Total-Count"] == "1"
    assert keys(listed(proxy, scope="")[0]) == [top]
    assert listed(proxy, scope="no-such-folder")[1].headers["X-Total-Count"] == "0"


def test_bad_list_parameters_are_refused_naming_them(proxy: Running) -> None:
    for query, param, says in [
        ({"sort": "newest"}, "sort", "one of recorded, model"),
        ({"order": "down"}, "order", "desc or asc"),
        ({"limit": "1001"}, "limit", "at most 1000"),
        ({"limit": "0"}, "limit", "positive integer"),
        ({"cursor": "-3"}, "cursor", "from a Link header"),
        ({"scope": "../x"}, "scope", "per-test tapes folder"),
    ]:
        response = httpx.get(f"{proxy.url}/api/tapes", params=query, timeout=10)
        assert response.status_code == 422, (query, response.text)
        error = response.json()["error"]
        assert (error["param"], error["type"]) == (param, "invalid_request_error"), query
        assert says in error["message"], (query, error)


def test_tapes_written_and_deleted_behind_the_servers_back_are_listed_as_they_are(
    proxy: Running,
) -> None:
    first = write_tape(proxy.tapes_dir, "there from the start")
    assert keys(listed(proxy)[0]) == [first]
    later = write_tape(proxy.tapes_dir, "copied in later", timestamp="2026-02-01T00:00:00.000Z")
    scoped = write_tape(proxy.tapes_dir / "test_two", "in a new folder")
    tapes, response = listed(proxy)
    assert keys(tapes)[0] == later and set(keys(tapes)) == {first, later, f"test_two/{scoped}"}
    assert response.headers["X-Total-Count"] == "3"
    (proxy.tapes_dir / f"{first}.json").unlink()
    (proxy.tapes_dir / "test_two" / f"{scoped}.json").unlink()
    tapes, response = listed(proxy)
    assert keys(tapes) == [later] and response.headers["X-Total-Count"] == "1"
    # A file replaced (written aside, then renamed over it) is listed as it is now.
    path = proxy.tapes_dir / f"{later}.json"
    document = json.loads(path.read_text("utf-8"))
    document["meta"]["model"] = "gpt-4.1"
    aside = proxy.tapes_dir / "edited.tmp"
    aside.write_text(json.dumps(document), "utf-8")
    aside.replace(path)
    assert [tape["model"] for tape in listed(proxy)[0]] == ["gpt-4.1"]


def test_sequence_recordings_are_listed_viewed_and_deleted_one_by_one(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(sequence=True)
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="first"), Reply(content="second"))
    client.chat.completions.create(**ask("again"))
    client.chat.completions.create(**ask("again"), stream=False)
    scoped = httpx.post(
        f"{proxy.url}/t/test_x/v1/chat/completions",
        json=ask("scoped"),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert scoped.status_code == 200
    hash_ = request_key(ask("again"))
    assert sorted(p.name for p in proxy.tapes()) == [f"{hash_}.2.json", f"{hash_}.json"]

    listed = httpx.get(f"{proxy.url}/api/tapes", timeout=10).json()
    by_key = {tape["key"]: tape for tape in listed}
    scoped_key = f"test_x/{request_key(ask('scoped'))}"
    assert set(by_key) == {hash_, f"{hash_}.2", scoped_key}
    assert all(tape["id"] == tape["key"] for tape in listed)  # the former name, kept
    assert (by_key[hash_]["recording"], by_key[f"{hash_}.2"]["recording"]) == (1, 2)
    assert by_key[f"{hash_}.2"]["hash"] == hash_ and by_key[scoped_key]["scope"] == "test_x"

    second = httpx.get(f"{proxy.url}/api/tapes/{hash_}.2", timeout=10)
    assert second.status_code == 200
    assert second.json() == json.loads((proxy.tapes_dir / f"{hash_}.2.json").read_text())
    assert "second" in second.text

    deleted = httpx.delete(f"{proxy.url}/api/tapes/{hash_}.2", timeout=10)
    assert deleted.status_code == 204
    assert [p.name for p in proxy.tapes()] == [f"{hash_}.json"]
    gone = httpx.get(f"{proxy.url}/api/tapes/{hash_}.2", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "tape_not_found"
    for bad in (f"{hash_}.1", f"{hash_}.02", f"{hash_}.x"):
        response = httpx.get(f"{proxy.url}/api/tapes/{bad}", timeout=10)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_tape_hash"


def test_a_tape_with_its_conversation(proxy: Running) -> None:
    body = {
        **ask("Weather in Oslo?"),
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
    }
    proxy.client(max_retries=0).chat.completions.create(**body)
    hash_ = request_key(body)
    url = f"{proxy.url}/api/tapes/{hash_}"
    plain = httpx.get(url, timeout=10).json()
    assert "conversation" not in plain
    shown = httpx.get(url, params={"conversation": "true"}, timeout=10).json()
    conversation = shown.pop("conversation")
    assert shown == plain
    assert conversation["turns"] == [
        {"role": "user", "parts": [{"kind": "text", "text": "Weather in Oslo?"}]}
    ]
    assert conversation["tools"] == [{"name": "weather", "parameters": {}}]
    assert ["model", body["model"]] in conversation["params"]
    refused = httpx.get(url, params={"conversation": "maybe"}, timeout=10)
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "conversation"


def test_a_tape_with_its_answer_read(proxy: Running, upstream: FakeUpstream) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content=None, tool_calls=[("weather", '{"city": "Oslo"}')]))
    streamed = {**ask("Weather in Oslo?"), "stream": True}
    for _ in client.chat.completions.create(**streamed):
        pass
    upstream.queue(Reply(content="Oslo is the capital of Norway."))
    client.chat.completions.create(**ask("Capital of Norway?"))

    def answer(body: dict[str, object]) -> object:
        url = f"{proxy.url}/api/tapes/{request_key(body)}"
        shown = httpx.get(url, params={"answer": "true"}, timeout=10).json()
        assert "conversation" not in shown
        return shown["answer"]

    assert answer(streamed) == {
        "text": "",
        "tool_calls": [{"id": "call_0_weather", "name": "weather", "arguments": {"city": "Oslo"}}],
    }
    assert answer(ask("Capital of Norway?")) == {
        "text": "Oslo is the capital of Norway.",
        "tool_calls": [],
    }
