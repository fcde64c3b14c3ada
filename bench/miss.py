"""How long a replay-only miss takes to explain itself with 10,000 tapes in the folder.

    .venv/bin/python bench/miss.py [--tapes 10000]

Writes that many chat tapes (agent-like requests: a system prompt, a few turns, tools) into a
temporary folder, starts playingpack in replay-only mode, and times with the openai SDK, side by
side: a hit (a replay), the first miss (which reads the folder's requests into the index), and
later misses (the index is kept and only re-read for changed files). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

import playingpack
from playingpack.hashing import request_key
from playingpack.tapes import Chunk, Tape

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"tool_{n}",
            "description": "Looks something up. " * 5,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    for n in range(4)
]


def request(n: int) -> dict[str, Any]:
    return {
        "model": ["gpt-4o-mini", "gpt-4.1", "o4-mini"][n % 3],
        "messages": [
            {"role": "system", "content": "You are a careful assistant. " * 20},
            {"role": "user", "content": f"Task {n}: plan a trip to city number {n % 500}."},
            {"role": "assistant", "content": f"Looking up city {n % 500} first. " * 3},
            {"role": "user", "content": f"Also budget {n * 7 % 1000} euros, {n % 9} nights."},
        ],
        "tools": TOOLS,
        "temperature": 0.2,
    }


def write_tapes(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    answer = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Sure. " * 50},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 400, "completion_tokens": 60, "total_tokens": 460},
        }
    )
    for n in range(count):
        body = request(n)
        key = request_key(body)
        tape = Tape(key, "/v1/chat/completions", body, 200, (Chunk(answer, 800),), False)
        (folder / f"{key}.json").write_bytes(tape.to_json())


def timed(call: Any) -> float:
    started = time.perf_counter()
    with contextlib.suppress(openai.NotFoundError):
        call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tapes", type=int, default=10_000)
    count = parser.parse_args().tapes
    with tempfile.TemporaryDirectory() as work:
        tapes = Path(work) / "tapes"
        started = time.perf_counter()
        write_tapes(tapes, count)
        size = sum(p.stat().st_size for p in tapes.iterdir()) / 1024**2
        print(f"wrote {count} tapes ({size:.0f} MB) in {time.perf_counter() - started:.1f} s")
        with playingpack.serve(
            tapes_dir=tapes,
            logs_dir=Path(work) / "logs",
            record="replay-only",
            replay_timing="instant",
            upstream="http://127.0.0.1:9",
        ) as pp:
            client = openai.OpenAI(base_url=pp.base_url, api_key="bench", max_retries=0)
            hit = request(42)
            miss = request(42)
            miss["messages"][3]["content"] = "Also budget 1 euro, 0 nights."

            def ask(body: dict[str, Any]) -> Any:
                return client.chat.completions.create(**body)

            for _ in range(5):
                timed(lambda: ask(hit))
            hits = [timed(lambda: ask(hit)) for _ in range(30)]
            first = timed(lambda: ask(miss))
            misses = [timed(lambda: ask(miss)) for _ in range(30)]
            try:
                ask(miss)
            except openai.NotFoundError as error:
                explained = "nearest recorded request is tape" in error.message
        hit_ms, miss_ms = statistics.median(hits), statistics.median(misses)
        print()
        print(f"| {count} tapes | ms |")
        print("|---|---|")
        print(f"| hit (replay), p50 | {hit_ms:.1f} |")
        print(f"| first miss (reads every tape's request into the index) | {first:.0f} |")
        print(f"| later misses, p50 | {miss_ms:.1f} |")
        print(f"| later miss / hit | {miss_ms / hit_ms:.1f}x |")
        print(f"| miss names the nearest tape | {'yes' if explained else 'NO'} |")


if __name__ == "__main__":
    main()
