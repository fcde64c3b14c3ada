"""The proxy end to end: the real openai SDK -> playingpack -> a fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import RecordMode, ReplayTiming
from playingpack.hashing import request_key
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

WEATHER_ARGS = '{"location": "Paris, France", "unit": "celsius", "days": [1, 2, 3]}'
TIME_ARGS = '{"timezone": "Europe/Paris"}'


def stream_text(client: openai.OpenAI, **request: Any) -> str:
    chunks = client.chat.completions.create(stream=True, **request)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def stream_tool_calls(client: openai.OpenAI, **request: Any) -> list[tuple[str, str, str]]:
    calls: dict[int, list[str]] = {}
    for chunk in client.chat.completions.create(stream=True, **request):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                entry = calls.setdefault(call.index, ["", "", ""])
                entry[0] += call.id or ""
                entry[1] += (call.function.name or "") if call.function else ""
                entry[2] += (call.function.arguments or "") if call.function else ""
    return [tuple(calls[i]) for i in sorted(calls)]  # type: ignore[misc]


# --- pass-through -------------------------------------------------------------------------


def test_stream_reaches_client_before_upstream_sends_second_chunk(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    release = threading.Event()
    upstream.queue(Reply(content="first second third", hold_after_first=release))
    stream = client.chat.completions.create(stream=True, **ask("chunk by chunk"))
    first = next(iter(stream))
    # The upstream is parked after its first chunk, so the client can only have it if it was
    # forwarded on arrival rather than buffered.
    assert upstream.sent_chunks == 1
    assert first.choices[0].delta.role == "assistant"
    release.set()
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert rest == "first second third"


def test_body_bytes_and_credentials_reach_upstream_unchanged(
    proxy: Running, upstream: FakeUpstream
) -> None:
    raw = (
        b'{ "model":"gpt-4o-mini", "messages":[{"role":"user",'
        b'"content":"caf\\u00e9 \xc3\xa9"}] ,"temperature":1.0}'
    )
    response = httpx.post(
        f"{proxy.base_url}/chat/completions",
        content=raw,
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "api-key": "azure-key-123",
            "Content-Type": "application/json",
            "Connection": "keep-alive, x-hop",
            "x-hop": "dropped",
            "OpenAI-Organization": "org-123",
        },
    )
    assert response.status_code == 200
    seen = upstream.received[-1]
    assert seen.body == raw
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["api-key"] == "azure-key-123"
    assert seen.headers["OpenAI-Organization"] == "org-123"
    assert "x-hop" not in {name.lower() for name in seen.headers}
    assert seen.path == "/v1/chat/completions"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_upstream_with_or_without_v1_never_doubles_it(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, suffix: str
) -> None:
    proxy = start_proxy(upstream=upstream.url + suffix, record=RecordMode.OFF)
    assert proxy.client().models.list().data[0].id == "gpt-4o-mini"
    assert upstream.received[-1].path == "/v1/models"
    sent = {name.lower() for name in upstream.received[-1].headers}
    assert "transfer-encoding" not in sent and "content-length" not in sent


def test_large_upload_streams_through_intact(proxy: Running, upstream: FakeUpstream) -> None:
    payload = bytes(range(256)) * (40 * 1024)  # 10 MiB, above the buffered size
    response = httpx.post(f"{proxy.base_url}/echo/files", content=payload, timeout=30)
    assert response.status_code == 200
    assert upstream.received[-1].body == payload


def test_other_v1_requests_pass_through_with_query_and_body(
    proxy: Running, upstream: FakeUpstream
) -> None:
    response = httpx.put(
        f"{proxy.base_url}/echo/files/abc?purpose=fine-tune&q=a%26b%20c%2F",
        content=b"\x00binary\xff",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 200
    assert response.headers["x-echo"] == "yes"
    assert response.json()["path"] == "/v1/echo/files/abc"
    seen = upstream.received[-1]
    assert (seen.method, seen.query, seen.body) == (
        "PUT",
        "purpose=fine-tune&q=a%26b%20c%2F",
        b"\x00binary\xff",
    )
    assert proxy.tapes() == []


def test_health_answers_json(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    health = httpx.get(f"{proxy.url}/health").json()
    assert health["status"] == "ok"
    assert health["record"] == "replay-only"
    assert health["pause"] == "off"
    assert health["version"]


# --- recording and replay -----------------------------------------------------------------


def test_records_then_replays_without_upstream(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Recorded answer."))
    first = client.chat.completions.create(**ask("record me"))
    assert len(proxy.tapes()) == 1
    calls = len(upstream.received)
    upstream.queue(Reply(content="A different answer the replay must not see."))
    second = client.chat.completions.create(**ask("record me"))
    assert len(upstream.received) == calls
    assert (
        second.choices[0].message.content == first.choices[0].message.content == "Recorded answer."
    )
    assert second.id == first.id


def test_streamed_tape_replays_to_non_streaming_client(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(
        Reply(tool_calls=[("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], piece=3)
    )
    request = ask("weather and time", stream_options={"include_usage": True})
    streamed = stream_tool_calls(client, **request)
    assert [(name, args) for _, name, args in streamed] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", TIME_ARGS),
    ]
    upstream.queue(Reply(tool_calls=[("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]))
    with openai.OpenAI(base_url=upstream.url + "/v1", api_key=API_KEY) as direct:
        reference = direct.chat.completions.create(**request)

    replayed = client.chat.completions.create(**request)
    message = replayed.choices[0].message
    assert [
        (c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []
    ] == list(streamed)
    assert replayed.choices[0].finish_reason == "tool_calls"
    assert replayed.usage is not None and reference.usage is not None
    assert replayed.usage.model_dump() == reference.usage.model_dump()
    assert replayed.model == "gpt-4o-mini"
    assert message.content is None


def test_json_tape_replays_to_streaming_client(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Bonjour, tout le monde !"))
    recorded = client.chat.completions.create(**ask("greet"))
    assert stream_text(client, **ask("greet")) == "Bonjour, tout le monde !"

    upstream.queue(Reply(tool_calls=[("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]))
    client.chat.completions.create(**ask("tools"))
    replayed = stream_tool_calls(client, **ask("tools"))
    assert [(name, args) for _, name, args in replayed] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", TIME_ARGS),
    ]
    assert recorded.choices[0].message.content == "Bonjour, tout le monde !"


def test_replay_of_stream_yields_the_same_sdk_chunks(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Some streamed words, split small.", piece=2))
    request = ask("stream twice", stream_options={"include_usage": True})
    live = [c.model_dump() for c in client.chat.completions.create(stream=True, **request)]
    replay = [c.model_dump() for c in client.chat.completions.create(stream=True, **request)]
    assert replay == live
    assert live[-1]["usage"]["completion_tokens"] > 0


def test_usage_chunk_round_trips_from_json_tape(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="count me"))
    raw_request = ask("usage", stream_options={"include_usage": True})
    # Record the JSON form of the same key by sending stream=false with the same other fields.
    httpx.post(
        f"{proxy.base_url}/chat/completions",
        json={**raw_request, "stream": False},
        headers={"Authorization": f"Bearer {API_KEY}"},
    ).raise_for_status()
    chunks = list(client.chat.completions.create(stream=True, **raw_request))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_async_client_records_and_replays(proxy: Running, upstream: FakeUpstream) -> None:
    async def run() -> tuple[str, str, str]:
        client = proxy.async_client()
        upstream.queue(Reply(content="async hello"))
        stream = await client.chat.completions.create(stream=True, **ask("async"))
        live = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        again = await client.chat.completions.create(stream=True, **ask("async"))
        replay = "".join([c.choices[0].delta.content or "" async for c in again if c.choices])
        whole = await client.chat.completions.create(**ask("async"))
        await client.close()
        return live, replay, whole.choices[0].message.content or ""

    assert asyncio.run(run()) == ("async hello", "async hello", "async hello")
    assert len(upstream.received) == 1


def test_tape_file_format(proxy: Running, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(content="On tape.", piece=3))
    stream_text(client, **ask("tape format", temperature=0.5))
    proxy.finished_flows(1)
    (path,) = proxy.tapes()
    text = path.read_text("utf-8")
    tape = json.loads(text)
    assert text == json.dumps(tape, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert path.stem == tape["meta"]["hash"]
    assert tape["meta"]["endpoint"] == "/v1/chat/completions"
    assert tape["meta"]["model"] == "gpt-4o-mini"
    assert tape["meta"]["timestamp"].endswith("Z")
    assert tape["request"]["body"]["temperature"] == 0.5
    assert tape["response"]["status"] == 200
    chunks = tape["response"]["chunks"]
    assert all(
        chunk["c"].startswith(("data: ", ":")) and chunk["c"].endswith("\n\n") for chunk in chunks
    )
    # Every event to the end of the body, the comments after [DONE] included.
    assert [chunk["c"] for chunk in chunks[-2:]] == ["data: [DONE]\n\n", ": end of stream\n\n"]
    assert all(isinstance(chunk["d"], int) and chunk["d"] >= 0 for chunk in chunks)
    assert API_KEY not in text and "Authorization" not in text


# --- record modes -------------------------------------------------------------------------


def test_record_off_never_reads_or_writes_tapes(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    recorder = start_proxy()
    upstream.queue(Reply(content="taped"))
    recorder.client().chat.completions.create(**ask("off"))
    assert len(recorder.tapes()) == 1
    off = start_proxy(record=RecordMode.OFF)
    upstream.queue(Reply(content="live"))
    assert off.client().chat.completions.create(**ask("off")).choices[0].message.content == "live"
    upstream.queue(Reply(content="live 2"))
    off.client().chat.completions.create(**ask("off, new"))
    assert len(off.tapes()) == 1


def test_replay_only_miss_fails_fast_without_upstream(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    client = proxy.client()  # default retries on: the error must not be retried
    started = time.perf_counter()
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(**ask("never recorded"))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert upstream.received == []
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "tape_not_found" and error["type"] == "tape_not_found"
    key = request_key(ask("never recorded"))
    assert key in error["message"]
    assert "--record auto" in error["message"]
    assert proxy.tapes() == []


def test_replay_only_serves_recorded_tapes(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="from the tape"))
    start_proxy().client().chat.completions.create(**ask("ci"))
    calls = len(upstream.received)
    replay = start_proxy(record=RecordMode.REPLAY_ONLY)
    assert stream_text(replay.client(), **ask("ci")) == "from the tape"
    assert len(upstream.received) == calls


def test_original_timing_reproduces_recorded_gap(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    recorder = start_proxy(record=RecordMode.AUTO)
    upstream.queue(Reply(content="slow-answer", piece=5, delay=0.3))
    stream_text(recorder.client(), **ask("timing"))
    recorder.finished_flows(1)
    chunks = json.loads(recorder.tapes()[0].read_text())["response"]["chunks"]
    # The gaps before the chunks the SDK yields: not comments, not the final [DONE].
    gaps = [c["d"] for c in chunks if c["c"].startswith("data: {")]
    assert max(gaps) >= 280

    def arrival_gaps(proxy: Running) -> list[float]:
        stamps = []
        for _ in proxy.client().chat.completions.create(stream=True, **ask("timing")):
            stamps.append(time.perf_counter())
        return [b - a for a, b in itertools.pairwise(stamps)]

    original = arrival_gaps(start_proxy(replay_timing=ReplayTiming.ORIGINAL))
    assert max(original) == pytest.approx(0.3, abs=0.1)
    assert sum(1 for gap in original if gap > 0.2) == sum(1 for d in gaps[1:] if d > 200)
    instant = arrival_gaps(start_proxy(replay_timing=ReplayTiming.INSTANT))
    assert max(instant) < 0.1


def test_instant_timing_sends_whole_replay_in_one_write(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="x" * 200, piece=4, delay=0.01))
    recorder = start_proxy()
    stream_text(recorder.client(), **ask("instant"))
    instant = start_proxy(replay_timing=ReplayTiming.INSTANT)
    started = time.perf_counter()
    assert stream_text(instant.client(), **ask("instant")) == "x" * 200
    assert time.perf_counter() - started < 0.3


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_upstream_errors_pass_through_and_leave_no_tape(
    proxy: Running, upstream: FakeUpstream, status: int
) -> None:
    body = {
        "error": {"message": f"upstream says {status}", "type": "x", "code": "y", "param": None}
    }
    headers = {"Retry-After": "0", "x-ratelimit-remaining-requests": "0", "x-request-id": "req_42"}
    upstream.queue(Reply(status=status, error_body=body, headers=headers))
    client = proxy.client(max_retries=0)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(**ask(f"fail {status}"))
    error = raised.value
    assert error.status_code == status
    assert error.body == body["error"]
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.response.headers["retry-after"] == "0"
    assert error.request_id == "req_42"
    assert proxy.tapes() == []


def test_sdk_retries_a_429_and_gets_the_answer(proxy: Running, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(status=429, headers={"Retry-After": "0"}), Reply(content="after retry"))
    answer = proxy.client(max_retries=2).chat.completions.create(**ask("retry"))
    assert answer.choices[0].message.content == "after retry"
    assert len(proxy.tapes()) == 1


@pytest.mark.parametrize("drop_after", [0, 3])
def test_upstream_drop_mid_stream_is_an_error_and_leaves_no_tape(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream, drop_after: int
) -> None:
    upstream.queue(Reply(content="this answer will be cut", piece=2, drop_after=drop_after))
    with pytest.raises(openai.APIError) as raised:
        stream_text(client, **ask("drop"))
    assert "broke off" in raised.value.message
    assert proxy.tapes() == []
    assert stream_text(client, **ask("after the drop")) == "Hello from the fake upstream!"


def test_stream_ending_without_done_is_an_error_and_leaves_no_tape(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="no done marker", end_without_done=True))
    with pytest.raises(openai.APIError, match="before the answer was complete"):
        stream_text(client, **ask("no done"))
    assert proxy.tapes() == []


def test_unreachable_upstream_gives_502_quickly(start_proxy: Callable[..., Running]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    proxy = start_proxy(upstream=f"http://127.0.0.1:{closed_port}")
    started = time.perf_counter()
    with pytest.raises(openai.InternalServerError) as raised:
        proxy.client(max_retries=0).chat.completions.create(**ask("unreachable"))
    assert time.perf_counter() - started < 2
    assert raised.value.status_code == 502
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "upstream_unreachable"
    assert f"127.0.0.1:{closed_port}" in raised.value.body["message"]


def test_client_disconnect_cancels_upstream_and_proxy_keeps_serving(
    proxy: Running, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(hang=True))
    with pytest.raises(openai.APITimeoutError):
        proxy.client(timeout=0.5, max_retries=0).chat.completions.create(stream=True, **ask("hang"))
    assert upstream.cancelled.wait(5), "the upstream request was not cancelled"
    assert proxy.tapes() == []
    assert stream_text(proxy.client(), **ask("still alive")) == "Hello from the fake upstream!"


def test_client_leaving_mid_stream_leaves_no_tape(proxy: Running, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(content="a long answer " * 20, piece=4, delay=0.02))
    stream = proxy.client().chat.completions.create(stream=True, **ask("leave"))
    next(iter(stream))
    stream.close()
    assert upstream.cancelled.wait(5), "the upstream stream was not cancelled"
    assert proxy.tapes() == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"model": "x",}'])
def test_invalid_json_gives_400(proxy: Running, raw: bytes) -> None:
    response = httpx.post(
        f"{proxy.base_url}/chat/completions",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "not valid JSON" in error["message"]


def test_non_object_body_gives_400(proxy: Running) -> None:
    response = httpx.post(f"{proxy.base_url}/chat/completions", content=b"[1, 2]")
    assert response.status_code == 400
    assert "must be a JSON object, got an array" in response.json()["error"]["message"]


def test_corrupt_tape_names_the_file_and_is_not_rerecorded(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    client.chat.completions.create(**ask("corrupt me"))
    (path,) = proxy.tapes()
    path.write_text('{"meta": {"hash": "truncated', "utf-8")
    calls = len(upstream.received)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(**ask("corrupt me"))
    assert str(path) in raised.value.message
    assert len(upstream.received) == calls
    assert path.read_text("utf-8") == '{"meta": {"hash": "truncated'
    assert stream_text(client, **ask("a healthy one")) == "Hello from the fake upstream!"


# --- concurrency --------------------------------------------------------------------------


def test_fifty_concurrent_distinct_requests_give_fifty_tapes(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.default = Reply(content="concurrent", delay=0.005)

    def call(i: int) -> str:
        if i % 2:
            return stream_text(client, **ask(f"question {i}"))
        return (
            client.chat.completions.create(**ask(f"question {i}")).choices[0].message.content or ""
        )

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(call, range(50)))
    assert answers == ["concurrent"] * 50
    tapes = proxy.tapes()
    assert len(tapes) == 50
    for path in tapes:
        tape = json.loads(path.read_text("utf-8"))
        assert path.stem == tape["meta"]["hash"]
    assert list(proxy.tapes_dir.glob(".*")) == []


def test_concurrent_identical_requests_give_one_valid_tape(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.default = Reply(content="same", delay=0.01)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: stream_text(client, **ask("identical")), range(20)))
    assert answers == ["same"] * 20
    proxy.finished_flows(20)
    (path,) = proxy.tapes()
    chunks = json.loads(path.read_text("utf-8"))["response"]["chunks"]
    assert [chunk["c"] for chunk in chunks[-2:]] == ["data: [DONE]\n\n", ": end of stream\n\n"]
    # Nothing but the tape (the hidden .playingpack holds the tape index).
    assert [p for p in proxy.tapes_dir.iterdir() if not p.name.startswith(".")] == [path]


# --- secrets ------------------------------------------------------------------------------


def test_no_api_key_in_any_written_file(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="secret-free"), Reply(status=500))
    stream_text(client, **ask("secrets"))
    with pytest.raises(openai.InternalServerError):
        proxy.client(max_retries=0).chat.completions.create(**ask("secrets 2"))
    client.models.list()
    proxy.close()
    written = [p for p in proxy.tapes_dir.parent.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in written) and proxy.tapes()
    for path in written:
        assert API_KEY not in path.read_text("utf-8", "replace"), path


# --- the async SDK ------------------------------------------------------------------------


def test_async_client_sees_conversions_errors_and_misses(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    recorder = start_proxy()
    replayer = start_proxy(record=RecordMode.REPLAY_ONLY, replay_timing=ReplayTiming.INSTANT)
    tools = [("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]

    async def run() -> None:
        live = recorder.async_client(max_retries=0)
        replay = replayer.async_client()
        upstream.queue(Reply(tool_calls=tools, piece=5))
        stream = await live.chat.completions.create(stream=True, **ask("async tools"))
        streamed = [chunk async for chunk in stream]
        assert streamed[-1].choices[0].finish_reason == "tool_calls"
        whole = await replay.chat.completions.create(**ask("async tools"))
        calls = whole.choices[0].message.tool_calls or []
        assert [(c.function.name, c.function.arguments) for c in calls] == tools

        upstream.queue(Reply(content="json first"))
        await live.chat.completions.create(**ask("async json"))
        again = await replay.chat.completions.create(stream=True, **ask("async json"))
        assert "".join([c.choices[0].delta.content or "" async for c in again]) == "json first"

        started = time.perf_counter()
        with pytest.raises(openai.NotFoundError):
            await replay.chat.completions.create(**ask("async never recorded"))
        assert time.perf_counter() - started < 0.5

        upstream.queue(Reply(status=429, headers={"Retry-After": "7"}))
        with pytest.raises(openai.RateLimitError) as limited:
            await live.chat.completions.create(**ask("async limited"))
        assert limited.value.response.headers["retry-after"] == "7"

        upstream.queue(Reply(content="cut short", piece=1, drop_after=4))
        with pytest.raises(openai.APIError, match="broke off"):
            broken = await live.chat.completions.create(stream=True, **ask("async drop"))
            async for _ in broken:
                pass
        await live.close()
        await replay.close()

    asyncio.run(run())
    assert len(recorder.tapes()) == 2


def test_unwritable_tapes_folder_still_answers_and_warns(
    start_proxy: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    proxy = start_proxy(tapes_dir=blocker / "tapes")
    with caplog.at_level("WARNING", logger="playingpack.proxy"):
        assert stream_text(proxy.client(), **ask("cannot save")) == "Hello from the fake upstream!"
    assert "could not save tape" in caplog.text


# --- test-suite features: explained misses, refresh, sequences, per-test folders ------------


def test_replay_only_miss_names_the_nearest_tape_and_what_differs(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    recording = start_proxy()
    recording.client().chat.completions.create(
        **ask("What is the capital of France? Think of Paris.")
    )
    recorded_key = recording.tapes()[0].stem
    recording.close()
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().chat.completions.create(
            **ask("What is the capital of France? Think of Lyon.")
        )
    message = raised.value.message
    assert f"The nearest recorded request is tape {recorded_key}" in message
    assert 'messages[0].content: "…of France? Think of Paris." ≠ "…of France? Think of Lyon."' in (
        message
    )
    (missing,) = httpx.get(f"{proxy.url}/api/run").json()["missing"]
    assert "Think of Lyon" in missing["explanation"]
    (flow,) = httpx.get(f"{proxy.url}/api/flows").json()
    assert "nearest recorded request" in flow["error"]


def test_refresh_re_records_and_a_broken_refresh_keeps_the_old_tape(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    client = proxy.client()
    upstream.queue(Reply(content="first answer"))
    assert stream_text(client, **ask("refresh me")) == "first answer"
    (tape,) = proxy.tapes()
    proxy.close()
    refreshing = start_proxy(record=RecordMode.REFRESH)
    client = refreshing.client(max_retries=0)
    upstream.queue(Reply(content="second answer"))
    assert client.chat.completions.create(**ask("refresh me")).choices[0].message.content == (
        "second answer"
    )
    assert len(upstream.received) == 2 and refreshing.tapes() == [tape]
    assert "second answer" in tape.read_text()
    upstream.queue(Reply(content="third answer, cut short", drop_after=3))
    with pytest.raises(openai.APIError):
        stream_text(client, **ask("refresh me"))
    assert "second answer" in tape.read_text()  # the interrupted refresh left it whole
    assert [p.name for p in refreshing.tapes_dir.iterdir() if p.name != ".playingpack"] == [
        tape.name
    ]


def test_sequence_replays_repeated_requests_in_order(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(sequence=True)
    client = proxy.client()
    upstream.queue(*(Reply(content=f"answer {n}") for n in (1, 2, 3)))
    question = ask("Roll a die")
    live = [client.chat.completions.create(**question).choices[0].message.content for _ in "abc"]
    assert live == ["answer 1", "answer 2", "answer 3"]
    key = request_key(question)
    assert [p.name for p in proxy.tapes()] == [f"{key}.2.json", f"{key}.3.json", f"{key}.json"]
    proxy.close()

    replaying = start_proxy(sequence=True, record=RecordMode.REPLAY_ONLY)
    client = replaying.client()
    again = [client.chat.completions.create(**question).choices[0].message.content for _ in "abcd"]
    # In order; past the recordings, the last one repeats.
    assert again == ["answer 1", "answer 2", "answer 3", "answer 3"]
    assert len(upstream.received) == 3
    replaying.close()

    # Without sequence replay the first recording answers every time, as before.
    plain = start_proxy(record=RecordMode.REPLAY_ONLY)
    client = plain.client()
    assert {
        client.chat.completions.create(**question).choices[0].message.content for _ in "ab"
    } == {"answer 1"}


def test_scoped_base_url_keeps_tapes_in_their_own_folder(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    one = openai.OpenAI(base_url=f"{proxy.url}/t/test_one/v1", api_key=API_KEY)
    two = openai.OpenAI(base_url=f"{proxy.url}/t/test_two/v1", api_key=API_KEY)
    upstream.queue(Reply(content="for one"), Reply(content="for two"))
    assert one.chat.completions.create(**ask("same")).choices[0].message.content == "for one"
    assert two.chat.completions.create(**ask("same")).choices[0].message.content == "for two"
    assert one.chat.completions.create(**ask("same")).choices[0].message.content == "for one"
    key = request_key(ask("same"))
    assert sorted(str(p.relative_to(proxy.tapes_dir)) for p in proxy.tapes_dir.rglob("*.json")) == [
        f"test_one/{key}.json",
        f"test_two/{key}.json",
    ]
    # The prefix reaches neither the upstream nor the tape.
    assert [r.path for r in upstream.received] == ["/v1/chat/completions"] * 2
    tape = json.loads((proxy.tapes_dir / "test_one" / f"{key}.json").read_text())
    assert tape["meta"]["endpoint"] == "/v1/chat/completions"
    assert one.models.list().data[0].id == "gpt-4o-mini"
    assert upstream.received[-1].path == "/v1/models"
    report = httpx.get(f"{proxy.url}/api/run").json()
    assert report["recorded"] == [f"test_one/{key}", f"test_two/{key}"]
    assert report["replayed"] == [f"test_one/{key}"]
    flows = httpx.get(f"{proxy.url}/api/flows").json()
    assert {f["scope"] for f in flows} == {"test_one", "test_two"}


@pytest.mark.parametrize("scope", ["..", "%2E%2E", ".hidden", "a..b", "x" * 201])
def test_scopes_that_could_leave_the_tapes_folder_are_refused(
    proxy: Running, upstream: FakeUpstream, scope: str
) -> None:
    with httpx.Client() as http:
        request = http.build_request(
            "POST",
            f"{proxy.url}/v1/chat/completions",
            json=ask("escape"),
            headers={"Authorization": f"Bearer {API_KEY}"},
            # Sent as written: httpx would otherwise resolve the dots itself.
            extensions={"target": f"/t/{scope}/v1/chat/completions".encode()},
        )
        response = http.send(request)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_scope"
    assert upstream.received == []
    outside = [
        p for p in proxy.tapes_dir.parent.rglob("*.json") if proxy.tapes_dir not in p.parents
    ]
    assert outside == []
