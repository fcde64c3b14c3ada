"""Embeddings: recorded and replayed byte for byte, in float and base64 encodings."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from playingpack.config import PauseMode, RecordMode
from playingpack.providers.openai_embeddings import OpenAIEmbeddings
from tests.conftest import API_KEY, Running
from tests.fakes.openai_upstream import FakeUpstream

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def embed(proxy: Running, **body: object) -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}/embeddings",
        json={"model": "text-embedding-3-small", **body},
        headers=HEADERS,
        timeout=10,
    )


def test_float_and_base64_replays_are_byte_identical(
    proxy: Running, upstream: FakeUpstream
) -> None:
    for encoding in ("float", "base64"):
        live = embed(proxy, input=["alpha", "beta"], encoding_format=encoding)
        replay = embed(proxy, input=["alpha", "beta"], encoding_format=encoding)
        assert live.status_code == replay.status_code == 200
        assert replay.headers["X-Playingpack-Source"] == "tape"
        assert replay.content == live.content
    assert len(upstream.received) == 2  # one per encoding; the replays stayed local
    assert len(proxy.tapes()) == 2
    meta = json.loads(proxy.tapes()[0].read_text())["meta"]
    assert meta["endpoint"] == "/v1/embeddings"


def test_sdk_gets_the_same_vectors_from_a_replay(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    client = proxy.client()
    live = client.embeddings.create(model="text-embedding-3-small", input="playingpack")
    proxy.close()
    replaying = start_proxy(record=RecordMode.REPLAY_ONLY, upstream="http://127.0.0.1:9")
    replay = replaying.client().embeddings.create(
        model="text-embedding-3-small", input="playingpack"
    )
    assert replay.model_dump() == live.model_dump()
    assert len(replay.data[0].embedding) == 8
    assert replay.usage.prompt_tokens > 0


def test_embeddings_are_never_held(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL, pause_requests=True, hold_timeout=30)
    person = proxy.person()
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(embed, proxy, input="not a decision")
        assert call.result(10).status_code == 200
    flow = person.wait(lambda m: m["type"] == "flow" and m["flow"]["state"] == "COMPLETE")
    assert "INTERCEPT" not in person.states(flow["flow"]["id"])
    assert flow["flow"]["usage"]["input_tokens"] > 0


def test_log_line_carries_model_and_tokens(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy()
    embed(proxy, input="count me")
    proxy.close()
    (log,) = proxy.config.logs_dir.glob("*.jsonl")
    record = json.loads(log.read_text())
    assert record["model"] == "text-embedding-3-small"
    assert record["usage"]["input_tokens"] > 0 and record["tool_calls"] == []


def test_summary_and_keys_of_literal_answers() -> None:
    provider = OpenAIEmbeddings()
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    summary = provider.summarize(answer)
    assert (summary.model, summary.usage, summary.tool_calls) == (
        "text-embedding-3-small",
        provider.summarize(answer).usage,
        (),
    )
    assert summary.usage is not None and summary.usage.input_tokens == 3
    body = {"model": "m", "input": "x"}
    assert provider.key(body, "/v1/embeddings") != provider.key(
        body, "/openai/deployments/a/embeddings"
    )
    assert provider.serves("/openai/deployments/a/embeddings")
    assert not provider.serves("/v1/chat/completions")
    assert provider.assemble([json.dumps(answer)]) == answer
    assert provider.wants_stream({"stream": True}) is False
