"""/api/tapes with sequence recordings, and the conversation and the answer of a tape, through a
running playingpack."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from playingpack.hashing import request_key
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply


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
