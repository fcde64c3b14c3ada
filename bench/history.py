"""History at 100 000 calls: how fast the writer keeps up, and how fast the API answers.

    .venv/bin/python bench/history.py            # 100 000 calls, ~2 minutes
    .venv/bin/python bench/history.py --calls 20000 --keep

1. Builds a history of realistic calls (several runs; varied models, tools, conversations of
   1 to 8 turns whose words follow a Zipf law over a 6 000-word list; half of the answers
   streamed) through the real FlowLog and History writer, a block of 2 000 calls at a time,
   and times each block from the first ``add`` to the moment all of it is committed.
2. Starts ``playingpack start`` on that file and times, over HTTP, the first page of
   ``GET /api/flows`` (as the API gives it, and without bodies as the dashboard asks) and
   searches: ``q=`` words of high, middle and low frequency and a prefix, ``model=``,
   ``tool=`` and a combination.

Prints one table: p50 and p99 of each, the target (<= 50 ms), PASS/FAIL (on p50, as the issue
sets the target; p99 shown), plus the writer's cost per call and the file's size per call.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from playingpack.flow_log import FlowLog
from playingpack.flows import Flow
from playingpack.history import RunStart, open_history
from playingpack.pricing import PriceBook
from playingpack.providers import builtin
from playingpack.tapes import Chunk

PLAYINGPACK = str(Path(sys.executable).parent / "playingpack")
TARGET_MS = 50.0
BLOCK = 2000
RUNS = 5
REPEATS = 40
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "claude-sonnet-4-5", "gemini-2.0-flash")
TOOLS = ("get_weather", "search_web", "read_file", "run_sql", "send_email", "book_flight")
CHAT = next(p for p in builtin() if p.serves("/v1/chat/completions"))


def word_list(count: int = 6000) -> list[str]:
    """Made-up words (consonant-vowel syllables), the same on every run."""
    rng = random.Random(7)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < count:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


WORDS = word_list()
# Zipf: the k-th word is 1/k as frequent as the first.
WEIGHTS = [1 / rank for rank in range(1, len(WORDS) + 1)]


class Calls:
    """Realistic requests and answers, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(WORDS, WEIGHTS, k=self.rng.randint(low, high)))

    def request(self, model: str) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a helpful agent. " + self.text(5, 30)},
            {"role": "user", "content": self.text(8, 60)},
        ]
        for step in range(self.rng.randint(0, 3)):
            tool = self.rng.choice(TOOLS)
            call_id = f"call_{step}_{self.rng.randrange(10**6)}"
            arguments = {"query": self.text(1, 6), "limit": self.rng.randint(1, 20)}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": tool,
                                "arguments": msgspec.json.encode(arguments).decode(),
                            },
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": self.text(10, 80)})
        tools = [
            {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
            for name in self.rng.sample(TOOLS, 3)
        ]
        return {"model": model, "messages": messages, "tools": tools}

    def answer(self, model: str, streamed: bool) -> tuple[list[Chunk], Any]:
        """The answer's chunks (SSE events or one JSON body) and its usage."""
        usage = {
            "prompt_tokens": self.rng.randint(50, 4000),
            "completion_tokens": self.rng.randint(5, 400),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        calls = self.rng.random() < 0.4
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if calls else self.text(5, 120),
        }
        if calls:
            name = self.rng.choice(TOOLS)
            arguments = msgspec.json.encode({"query": self.text(1, 6)}).decode()
            message["tool_calls"] = [
                {
                    "id": "call_x",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
        base = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model}
        if not streamed:
            body = {
                **base,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
            return [Chunk(msgspec.json.encode(body).decode(), self.rng.randint(100, 2000))], usage
        events = []
        chunk = {**base, "object": "chat.completion.chunk"}
        content = message["content"] or ""
        pieces = [content[i : i + 24] for i in range(0, len(content), 24)] or [""]
        for piece in pieces:
            delta = {"content": piece}
            events.append(
                {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        if calls:
            call = message["tool_calls"][0]
            delta = {"tool_calls": [{"index": 0, **call}]}
            events.append(
                {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        events.append({**chunk, "choices": [], "usage": usage})
        texts = [f"data: {msgspec.json.encode(event).decode()}\n\n" for event in events]
        texts.append("data: [DONE]\n\n")
        return [Chunk(text, self.rng.randint(1, 40)) for text in texts], usage


def finished_flows(flows: FlowLog, calls: Calls, count: int) -> Iterator[Flow]:
    """``count`` flows opened and driven to COMPLETE as the proxy would (not yet finished:
    each is completed by the caller, which times that)."""
    for _ in range(count):
        model = calls.rng.choice(MODELS)
        streamed = calls.rng.random() < 0.5
        flow = flows.open(
            "POST",
            "/v1/chat/completions",
            provider=CHAT,
            headers={"authorization": "Bearer sk-bench-0000000000000000"},
        )
        request = calls.request(model)
        flow.set_request(request, streamed=streamed, size=len(msgspec.json.encode(request)))
        flow.connect()
        flow.stream(200, {"content-type": "text/event-stream" if streamed else "application/json"})
        chunks, _ = calls.answer(model, streamed)
        flow.take_answer(chunks, streamed=streamed)
        texts = [chunk.c for chunk in chunks]
        answer = CHAT.assemble(texts) if streamed else msgspec.json.decode(texts[0])
        flow.set_summary(CHAT.summarize(answer))
        yield flow


def build(path: Path, total: int) -> tuple[list[float], list[float]]:
    """Write ``total`` calls over RUNS runs; the writer's and the loop's µs per call, per block."""
    writer_us: list[float] = []
    add_us: list[float] = []
    calls = Calls(11)
    prices = PriceBook()
    per_run = total // RUNS
    for run in range(RUNS):
        run_id = uuid.uuid4().hex[:8]
        history = open_history(
            path,
            keep=str(total * 2),
            run=RunStart("pytest" if run % 2 else "server", f"bench run {run}"),
            run_id=run_id,
        )
        assert history is not None, "the history could not be opened"
        flows = FlowLog(None, run=run_id, prices=prices, history=history)
        written = 0
        while written < per_run:
            block = min(BLOCK, per_run - written)
            pending = list(finished_flows(flows, calls, block))
            start = time.perf_counter()
            for flow in pending:
                flow.complete()  # FlowLog prices it and hands it to the writer
            added = time.perf_counter()
            asyncio.run(history.read(lambda db: None))  # returns once all of it is committed
            done = time.perf_counter()
            add_us.append((added - start) / block * 1e6)
            writer_us.append((done - start) / block * 1e6)
            written += block
            print(
                f"  run {run + 1}/{RUNS}: {written:>6} calls, writer {writer_us[-1]:.0f} µs/call",
                flush=True,
            )
        history.close()
    return writer_us, add_us


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def timed(client: httpx.Client, params: dict[str, Any]) -> list[float]:
    client.get("/api/flows", params=params).raise_for_status()  # warm
    found = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = client.get("/api/flows", params=params)
        response.raise_for_status()
        found.append((time.perf_counter() - start) * 1000)
    return found


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(path: Path, folder: Path) -> list[tuple[str, int, list[float]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            PLAYINGPACK,
            "start",
            "--port",
            str(port),
            "--no-ui",
            "--record",
            "off",
            "--history",
            str(path),
            "--history-keep",
            "1000000",
            "--tapes-dir",
            str(folder / "tapes"),
            "--logs-dir",
            str(folder / "logs"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/health").raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            common, middle, rare = WORDS[0], WORDS[60], WORDS[4000]
            cases: list[tuple[str, dict[str, Any]]] = [
                ("first page (500, bodies)", {}),
                ("first page (500, no bodies)", {"bodies": "false"}),
                (f"q={common} (most common word)", {"q": common, "bodies": "false"}),
                (f"q={middle} (rank 60)", {"q": middle, "bodies": "false"}),
                (f"q={rare} (rank 4000)", {"q": rare, "bodies": "false"}),
                (f"q={middle} {rare}", {"q": f"{middle} {rare}", "bodies": "false"}),
                (f"q={WORDS[5][:3]} (prefix)", {"q": WORDS[5][:3], "bodies": "false"}),
                ("model=o3-mini", {"model": "o3-mini", "bodies": "false"}),
                ("tool=run_sql", {"tool": "run_sql", "bodies": "false"}),
                (f"q={middle}&model=gpt-4.1", {"q": middle, "model": "gpt-4.1", "bodies": "false"}),
            ]
            results = []
            for name, params in cases:
                count = len(client.get("/api/flows", params=params).json())
                results.append((name, count, timed(client, params)))
            listed_runs = client.get("/api/runs").json()
            results.append(("GET /api/runs", len(listed_runs), timed_runs(client)))
            return results
    finally:
        process.terminate()
        process.wait(10)


def timed_runs(client: httpx.Client) -> list[float]:
    found = []
    for _ in range(10):
        start = time.perf_counter()
        client.get("/api/runs").raise_for_status()
        found.append((time.perf_counter() - start) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pp-bench-history-"))
    path = folder / "history.db"
    try:
        print(f"building {options.calls} calls in {path}", flush=True)
        started = time.perf_counter()
        writer_us, add_us = build(path, options.calls)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        size = sum(file.stat().st_size for file in folder.glob("history.db*"))
        results = measure(path, folder)
    finally:
        if options.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    failed = False
    print()
    print("| measurement | matches | p50 ms | p99 ms | target | result |")
    print("|---|---|---|---|---|---|")
    for name, count, times in results:
        median = statistics.median(times)
        ok = median <= TARGET_MS
        failed |= not ok
        verdict = "PASS" if ok else "FAIL"
        target = f"p50 <= {TARGET_MS:.0f} ms"
        print(f"| {name} | {count} | {median:.1f} | {p99(times):.1f} | {target} | {verdict} |")
    print()
    blocks = f"median of {len(writer_us)} blocks of {BLOCK}"
    print(
        f"writer: {statistics.median(writer_us):.0f} µs per call ({blocks}); on the loop: ", end=""
    )
    print(f"{statistics.median(add_us):.1f} µs per call (pricing, counting, the hand-over)")
    megabytes = f"{size / 1024**2:.0f} MB for {options.calls} calls"
    print(f"file: {size / options.calls:.0f} bytes per call ({megabytes})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
