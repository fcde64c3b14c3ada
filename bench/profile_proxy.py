"""Profile the proxy under load with py-spy (``.venv/bin/pip install py-spy`` first).

    .venv/bin/python bench/profile_proxy.py passthrough   # streamed pass-through, c=32
    .venv/bin/python bench/profile_proxy.py paced         # 1 ms between chunks, c=16
    .venv/bin/python bench/profile_proxy.py replay        # instant replay of a stream, c=64

The proxy runs under ``py-spy record --format raw`` (collapsed stacks, idle frames dropped) while
this process drives load; the summary printed is the share of samples spent in each function
(self time) and under each playingpack / aiohttp function (inclusive time).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import run as bench
import uvloop

PY_SPY = str(Path(sys.executable).parent / "py-spy")


def summarize(collapsed: Path, top: int) -> None:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        total += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"\n{total} samples (busy only)\n\nself time:")
    for frame, n in self_time.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("\ninclusive, playingpack/aiohttp/msgspec/logging frames:")
    shown = 0
    for frame, n in inclusive.most_common():
        if any(
            k in frame
            for k in (
                "proxy.py",
                "flows.py",
                "hashing.py",
                "openai_chat",
                "sse.py",
                "upstream.py",
                "app.py",
                "tapes.py",
                "store.py",
                "web_protocol",
                "client",
                "streams",
                "logging",
                "click",
                "http_writer",
                "web_response",
                "connector",
            )
        ):
            print(f"  {100 * n / total:5.1f}%  {frame}")
            shown += 1
            if shown >= top * 2:
                break


async def drive(mode: str, proxy_url: str, upstream_url: str, seconds: float) -> int:
    body = json.dumps(bench.STREAM_BODY).encode()
    url = proxy_url + "/v1/chat/completions"
    headers = {"x-bench-chunks": "50", "x-bench-delay-ms": "1" if mode == "paced" else "0"}
    workers = {"passthrough": 32, "paced": 16, "replay": 64}[mode]
    end = time.perf_counter() + seconds
    done = 0
    async with bench.new_session(200) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                done += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["passthrough", "paced", "replay"])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="playingpack-profile-"))
    children = bench.Children(work)
    try:
        upstream = bench.start_server(children, "upstream")
        tapes = work / "tapes"
        record = "off"
        if args.mode == "replay":
            recorder = bench.start_proxy(children, "rec", upstream.url, tapes, work / "l", "auto")
            uvloop.run(bench.record_tapes(recorder, tapes))
            children.stop(recorder.proc)
            record = "replay-only"
        port = bench.free_port()
        out = work / "profile.txt"
        proc = children.spawn(
            [
                PY_SPY,
                "record",
                "--format",
                "raw",
                "--rate",
                "500",
                "-o",
                str(out),
                "--",
                *bench.proxy_args(port, upstream.url, tapes, work / "logs", record),
            ],
            "py-spy",
        )
        bench.wait_healthy(port, proc, timeout=30)
        done = uvloop.run(drive(args.mode, f"http://127.0.0.1:{port}", upstream.url, args.seconds))
        print(
            f"{done} requests in {args.seconds} s ({done / args.seconds:,.0f} req/s) "
            "under py-spy (sampling slows the proxy)"
        )
        # Stop the profiled proxy itself; py-spy then writes its file and exits.
        for child in psutil.Process(proc.pid).children():
            child.terminate()
        proc.wait(30)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.1)
        summarize(out, args.top)
    finally:
        children.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
