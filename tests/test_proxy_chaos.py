"""Hundreds of clients that leave at random points, against a real `playingpack start` process.

Whatever a client does (hang up before the headers, mid-stream, right after ``[DONE]``, while
its call is held, or read to the end), every flow ends COMPLETE or ERROR with one terminal line
and one log line, nothing prints a traceback, and no tape exists for an answer that did not
complete.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from playingpack.hashing import request_key
from tests.conftest import API_KEY, Process, started
from tests.fakes.openai_upstream import FakeUpstream, Reply

CONTENT = "Bonjour, ça va très bien ✓ merci"  # multi-byte characters, cut across reads
TOOL = ("get_weather", '{"city": "Paris", "unit": "celsius"}')
# How a raw client leaves; the SDK clients read as the SDKs do.
RAW_WAYS = ("before_headers", "first_event", "mid_stream", "after_done", "to_end", "json")
SDK_WAYS = ("sync_stream", "async_stream", "sync_json")
HELD_WAYS = ("while_held", "after_done", "to_end")
MID_STREAM = ("first_event", "mid_stream")  # the raw ways that leave a stream part way
HEARTBEAT = b": playingpack: held"


class RawClient:
    """One HTTP/1.1 request on its own socket, hung up at a chosen point."""

    def __init__(self, port: int, body: dict[str, Any]) -> None:
        self.port = port
        self.data = json.dumps(body).encode()

    async def run(self, way: str, rng: random.Random) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Authorization: Bearer {API_KEY}\r\n"
            "Connection: close\r\n"
            f"Content-Length: {len(self.data)}\r\n\r\n"
        )
        writer.write(head.encode() + self.data)
        await writer.drain()
        seen = b""
        try:
            if way != "before_headers":
                marker = {
                    "first_event": b"data: {",
                    "mid_stream": b'"content":"',
                    "after_done": b"data: [DONE]",
                    "while_held": HEARTBEAT,
                }.get(way)
                while marker is None or marker not in seen:
                    data = await asyncio.wait_for(reader.read(65536), 20)
                    if not data:
                        break
                    seen += data
        finally:
            # Half the clients close politely (FIN), the others reset the connection.
            if rng.random() < 0.5:
                writer.transport.abort()
            else:
                writer.close()


def body(prompt: str, *, stream: bool, tools: bool = False) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
    }
    if stream and random.Random(prompt).random() < 0.5:
        request["stream_options"] = {"include_usage": True}
    if tools:
        request["tools"] = [{"type": "function", "function": {"name": TOOL[0]}}]
    return request


def sdk_call(base_url: str, way: str, request: dict[str, Any]) -> None:
    request = {key: value for key, value in request.items() if key != "stream"}
    if way == "async_stream":

        async def run() -> None:
            async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY) as client:
                async for _ in await client.chat.completions.create(stream=True, **request):
                    pass

        asyncio.run(run())
        return
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        if way == "sync_stream":
            # openai-python's sync stream closes the response as soon as it has read [DONE].
            for _ in client.chat.completions.create(stream=True, **request):
                pass
        else:
            client.chat.completions.create(**request)


@pytest.fixture
def upstream_process(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Callable[..., Process]]:
    """Start `playingpack start` against the fake upstream, with extra arguments."""
    opened: list[Any] = []

    def start(*args: str) -> Process:
        context = started(
            "--upstream",
            upstream.url,
            "--tapes-dir",
            str(tmp_path / "tapes"),
            "--logs-dir",
            str(tmp_path / "logs"),
            "--no-ui",
            *args,
            cwd=tmp_path,
        )
        opened.append(context)
        return context.__enter__()

    yield start
    for context in reversed(opened):
        context.__exit__(None, None, None)


def run_clients(
    port: int, base_url: str, plan: list[tuple[str, str, dict[str, Any]]], seed: int
) -> None:
    """Run every (kind, way, request) of ``plan`` at once: raw clients on one event loop,
    SDK clients in threads."""
    rng = random.Random(seed)
    sdk = [(way, request) for kind, way, request in plan if kind == "sdk"]
    raw = [(way, request) for kind, way, request in plan if kind == "raw"]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(sdk_call, base_url, way, request) for way, request in sdk]

        async def everyone() -> None:
            await asyncio.gather(
                *(RawClient(port, request).run(way, rng) for way, request in raw),
                return_exceptions=True,
            )

        asyncio.run(everyone())
        for future in futures:
            future.result(60)


def settled_flows(url: str, timeout: float = 20) -> list[dict[str, Any]]:
    """The server's flows once none is still running (every client has gone by then)."""
    deadline = time.monotonic() + timeout
    while True:
        flows: list[dict[str, Any]] = httpx.get(f"{url}/api/flows", timeout=5).json()
        if all(flow["state"] in ("COMPLETE", "ERROR") for flow in flows):
            return flows
        if time.monotonic() > deadline:
            states = Counter(flow["state"] for flow in flows)
            raise AssertionError(f"flows still running after {timeout} s: {dict(states)}")
        time.sleep(0.01)


def test_clients_that_leave_anywhere_leave_every_flow_ended_once(
    upstream_process: Callable[..., Process], upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.default = Reply(content=CONTENT, piece=3, delay=0.004)
    process = upstream_process("--pause", "tool-calls", "--hold-timeout", "1")
    url = process.url
    port = int(url.rsplit(":", 1)[1])
    base_url = f"{url}/v1"
    rng = random.Random(11)
    unique = iter(range(10**6))

    def plan_of(ways: tuple[str, ...], kind: str, count: int, **shape: bool) -> list[Any]:
        plan = []
        for _ in range(count):
            way = rng.choice(ways)
            stream = way != "json" and way != "sync_json"
            request = body(f"chaos {next(unique)}", stream=stream, **shape)
            plan.append((kind, way, request))
        return plan

    # 1. Text answers recorded from the upstream, clients leaving anywhere.
    text = plan_of(RAW_WAYS, "raw", 160) + plan_of(SDK_WAYS, "sdk", 40)
    run_clients(port, base_url, text, seed=1)
    # 2. Tool calls, held (and released by the hold timeout) unless the client leaves first.
    upstream.default = Reply(content=None, tool_calls=[TOOL], piece=3, delay=0.004)
    held = plan_of(HELD_WAYS, "raw", 30, tools=True)
    run_clients(port, base_url, held, seed=2)
    # 3. Replays of what was recorded, with their recorded timing, left anywhere again.
    recorded = [request for _, _, request in text + held]
    tapes_dir = tmp_path / "tapes"
    replays = []
    for request in rng.sample(recorded, 60):
        if (tapes_dir / f"{request_key(request)}.json").exists():
            way = rng.choice(RAW_WAYS[:-1] if request["stream"] else ("json",))
            replays.append(("raw", way, request))
    run_clients(port, base_url, replays, seed=3)

    total = len(text) + len(held) + len(replays)
    flows = settled_flows(url)
    # A client that hangs up before its request was handled leaves no flow at all.
    early = sum(1 for _, way, _ in text + held + replays if way == "before_headers")
    assert total - early <= len(flows) <= total
    # One terminal line and one log line per flow.
    lines = process.lines_matching(" POST /v1/chat/completions ", len(flows))
    assert len(lines) == len(flows)
    logged = [
        json.loads(line)
        for path in sorted((tmp_path / "logs").glob("*.jsonl"))
        for line in path.read_text("utf-8").splitlines()
    ]
    assert sorted(entry["id"] for entry in logged) == sorted(flow["id"] for flow in flows)
    noisy = [line for line in process.lines if "Traceback" in line or "Error handling" in line]
    assert not noisy, "\n".join(process.lines[-80:])

    # The clients that had the whole answer completed; the sync SDK's [DONE] close included.
    by_prompt = {flow["tape"]: flow for flow in flows if flow["source"] == "upstream"}
    for kind, way, request in text + held:
        flow = by_prompt[request_key(request)] if way != "before_headers" else None
        if way in ("after_done", "to_end", "json") or kind == "sdk":
            assert flow is not None, way
            assert flow["state"] == "COMPLETE", (way, flow["error"])
    # A tape exists exactly for the answers that completed, and each one is whole.
    for _, way, request in text + held:
        flow = by_prompt.get(request_key(request))
        tape = tapes_dir / f"{request_key(request)}.json"
        if flow is None:
            assert way == "before_headers" and not tape.exists()
            continue
        # A client leaving a stream part way may leave after the upstream's whole answer was
        # read and saved (under load it comes in one read): then the tape is checked whole below.
        if flow["state"] == "ERROR" and (way not in MID_STREAM or not tape.exists()):
            assert not tape.exists(), (way, flow)
            continue
        if request["stream"] or way in ("json", "sync_json"):
            assert tape.exists(), (way, flow)
            chunks = [c["c"] for c in json.loads(tape.read_text("utf-8"))["response"]["chunks"]]
            if request["stream"]:
                assert "data: [DONE]\n\n" in chunks
                assert chunks[-1] == ": end of stream\n\n"  # read to the end of the body
    assert Counter(flow["state"] for flow in flows)["COMPLETE"] > total / 3
