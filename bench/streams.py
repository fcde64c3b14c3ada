"""Long streams, many streams: time and memory as a stream grows, and as streams multiply.

    .venv/bin/python bench/streams.py                      # everything, ~2 minutes
    .venv/bin/python bench/streams.py --only long --lengths 1000,10000
    .venv/bin/python bench/streams.py --only many,rss --json out.json

Sections (each proxy is a fresh ``playingpack start --no-ui`` process, so its peak RSS, VmHWM,
is that of the measurement alone; RSS in MiB = 2**20 bytes):

- ``long``: a stream of 1,000, 10,000 and 100,000 SSE events from the fake upstream (bench/
  servers.py, ``x-bench-chunks``, lean events of ~150 bytes so that 100,000 fit under the
  16 MiB limit on a recorded answer), read directly, relayed (``--record off``), recorded
  (``--record auto``, a fresh tapes folder) and replayed from that tape (``replay-only``,
  instant timing): wall time (median of 3 reads, the recording once, each after a warm-up
  request), time per event, the proxy's peak RSS and the tape's size.
- ``many``: 1,000 concurrent slow streams (20 events 100 ms apart) through one proxy while a
  dashboard WebSocket (``/ws``) is connected: failed streams, the longest gap between two
  messages on the socket and its ping round trips during the load, the proxy's open fds
  (``/proc/<pid>/fd``) and peak RSS.
- ``rss``: peak RSS with 50, 100, 200, 500 and 1,000 concurrent slow streams (section (c)'s
  shape: 40 events 50 ms apart), playingpack and the minimal relay, a fresh process each.

Every figure goes to bench/results/streams.json (``--json``); a markdown table is printed; exit
status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from run import (
    RESULTS,
    STREAM_BODY,
    Children,
    Report,
    Server,
    clean_up,
    finished,
    git_state,
    hwm_mb,
    new_session,
    open_fds,
    proxy_running,
    rss_mb,
    run_info,
    slow_streams,
    start_server,
    system_busy,
    warm_bytecode,
    write_json,
)

LENGTHS = (1_000, 10_000, 100_000)
LINEAR = 1.5  # time per event at the longest stream at most 1.5 times that at the next shorter
MANY = 1000
MANY_CHUNKS = 20
MANY_DELAY_MS = 100
PING_EVERY = 0.1  # seconds between the socket's pings during the load
WS_BOUND_MS = 1000  # the socket's longest silence and slowest ping, during the load
RSS_STREAMS = (50, 100, 200, 500, 1000)
PATH = "/v1/chat/completions"
MODES = ("relayed", "recorded", "replayed")
FRESH_STARTS = 3  # processes whose first replay, from disk, is timed
REPEATS = 3  # reads of a stream relayed or replayed (and direct): the median is kept
LONG_BODY = json.dumps(STREAM_BODY).encode()
# Sent first to each fresh proxy (its own tape when recording), so the timed stream is not the
# process's first request.
WARM_BODY = json.dumps(
    {**STREAM_BODY, "messages": [{"role": "user", "content": "Warm up."}]}
).encode()


async def read_stream(
    session: aiohttp.ClientSession, url: str, events: int, body: bytes = LONG_BODY
) -> tuple[float, int, str, str]:
    """POST a streamed chat request for ``events`` events: (seconds, bytes, sha256, source)."""
    digest = hashlib.sha256()
    size = 0
    tail = b""
    start = time.perf_counter()
    headers = {"x-bench-chunks": str(events), "x-bench-lean": "1"}
    async with session.post(url, data=body, headers=headers) as resp:
        while part := await resp.content.readany():
            digest.update(part)
            size += len(part)
            tail = (tail + part)[-64:]
    elapsed = time.perf_counter() - start
    if resp.status != 200 or not tail.endswith(b"data: [DONE]\n\n"):
        raise RuntimeError(f"{url}: status {resp.status}, {size} bytes, ends {tail[-30:]!r}")
    return elapsed, size, digest.hexdigest(), resp.headers.get("X-Playingpack-Source", "")


async def section_long(
    report: Report, children: Children, work: Path, upstream: Server, lengths: list[int]
) -> None:
    print("long streams", flush=True)
    figures: dict[str, Any] = {}
    async with new_session(4) as session:
        for events in lengths:
            await read_stream(session, upstream.url + PATH, events)  # the fake builds it once
            reads = [
                await read_stream(session, upstream.url + PATH, events) for _ in range(REPEATS)
            ]
            _, size, digest, _ = reads[0]
            direct = statistics.median(r[0] for r in reads)
            row: dict[str, Any] = {"bytes": size, "direct_s": direct}
            tapes = work / f"long-{events}-tapes"
            from_disk: list[float] = []
            runs = [*zip(MODES, ("off", "auto", "replay-only"), strict=True)]
            runs += [("replayed", "replay-only")] * (FRESH_STARTS - 1)
            for mode, record in runs:
                with proxy_running(
                    children,
                    f"long-{events}-{mode}",
                    upstream.url,
                    tapes,
                    work / "long-logs",
                    record,
                ) as proxy:
                    idle = rss_mb(proxy.proc.pid)
                    await read_stream(session, proxy.url + PATH, 50, WARM_BODY)
                    times = []
                    for _ in range(1 if mode == "recorded" else REPEATS):
                        took, got, seen, source = await read_stream(
                            session, proxy.url + PATH, events
                        )
                        if got != size or seen != digest:
                            raise RuntimeError(f"{mode} {events}: {got} bytes, not the upstream's")
                        if (source == "tape") != (mode == "replayed"):
                            raise RuntimeError(f"{mode} {events}: X-Playingpack-Source {source!r}")
                        times.append(took)
                    elapsed = statistics.median(times)
                    if mode == "replayed":
                        # A fresh process's first replay reads and parses the tape; later
                        # ones of a tape up to the store's cache limit (8 MiB) do not. One
                        # sample per process, so the median of FRESH_STARTS processes.
                        from_disk.append(times[0])
                        first = statistics.median(from_disk)
                        row["replayed from disk"] = {
                            "seconds": first,
                            "us_per_event": first / events * 1e6,
                            "idle_mib": idle,
                            "peak_mib": hwm_mb(proxy.proc.pid),
                            "samples": from_disk,
                        }
                        if len(from_disk) > 1:
                            continue  # the cached replays are those of the first process
                    row[mode] = {
                        "seconds": elapsed,
                        "us_per_event": elapsed / events * 1e6,
                        "idle_mib": idle,
                        "peak_mib": hwm_mb(proxy.proc.pid),
                    }
                    if mode == "recorded":
                        for _ in range(1000):  # the tape is written after the answer ends
                            if len(list(tapes.glob("*.json"))) == 2:
                                break
                            await asyncio.sleep(0.01)
                        sizes = [f.stat().st_size for f in tapes.glob("*.json")]
                        long_tape = len(sizes) == 2  # the warm-up's tape and the long one's
                        row["tape_mib"] = max(sizes) / 2**20 if long_tape else None
                        if not long_tape:
                            break  # nothing to replay
            figures[str(events)] = row
            tape = "no tape" if row["tape_mib"] is None else f"tape {row['tape_mib']:.1f} MiB"
            report.note(
                f"{events:,} events ({size / 2**20:.1f} MiB; {tape}): direct {direct:.3f} s; "
                + "; ".join(
                    f"{mode} {row[mode]['seconds']:.3f} s ({row[mode]['us_per_event']:.1f} µs "
                    f"per event, RSS {row[mode]['idle_mib']:.1f} → {row[mode]['peak_mib']:.1f} "
                    "MiB)"
                    for mode in (*MODES, "replayed from disk")
                    if mode in row
                )
            )
    report.put(figures, "long")
    # Against the next shorter stream: the shortest one's time is mostly fixed costs.
    shorter, longest = str(lengths[-2] if len(lengths) > 1 else lengths[0]), str(lengths[-1])
    for events in lengths:
        if figures[str(events)]["tape_mib"] is None:
            report.add(f"long: {events:,}-event stream recorded as a tape", "no", "yes", False)
    for mode in (*MODES, "replayed from disk"):
        for events in lengths:
            r = figures[str(events)].get(mode)
            if r is None:
                continue
            report.add(
                f"long: {events:,}-event stream {mode}: time (µs per event), peak RSS",
                f"{r['seconds']:.3f} s ({r['us_per_event']:.1f} µs), {r['peak_mib']:.1f} MiB",
            )
        if len(lengths) > 1 and mode in figures[longest] and mode in figures[shorter]:
            ratio = figures[longest][mode]["us_per_event"] / figures[shorter][mode]["us_per_event"]
            # A cached tape against one read from disk compares the cache, not the length:
            # the replays' target is on the first replay, from disk, at every length.
            cached = mode == "replayed"
            report.add(
                f"long: {mode}, time per event at {int(longest):,} / at {int(shorter):,} events"
                + (" (the shorter tape cached, the longer over the cache limit)" if cached else ""),
                f"{ratio:.2f}",
                "—" if cached else f"≤ {LINEAR}",
                None if cached else ratio <= LINEAR,
            )


class Watcher:
    """A dashboard WebSocket on /ws: when each message came, and ping round trips."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.arrivals: list[float] = []
        self.types: dict[str, int] = {}
        self.pings: dict[bytes, float] = {}
        self.round_trips: list[tuple[float, float]] = []  # (when sent, seconds)
        self.closed: str | None = None

    async def read(self) -> None:
        async for msg in self.ws:
            now = time.perf_counter()
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.arrivals.append(now)
                kind = json.loads(msg.data).get("type", "?")
                self.types[kind] = self.types.get(kind, 0) + 1
            elif msg.type == aiohttp.WSMsgType.PING:
                await self.ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                sent = self.pings.pop(msg.data, None)
                if sent is not None:
                    self.round_trips.append((sent, now - sent))
        self.closed = f"closed with code {self.ws.close_code}"

    async def ping(self, stop: asyncio.Event) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            payload = str(number).encode()
            self.pings[payload] = time.perf_counter()
            await self.ws.ping(payload)
            with_timeout = asyncio.wait_for(stop.wait(), PING_EVERY)
            with suppress(TimeoutError):
                await with_timeout

    def during(self, start: float, end: float) -> dict[str, Any]:
        """What the socket got between ``start`` and ``end`` (perf_counter times)."""
        times = [start] + [t for t in self.arrivals if start <= t <= end] + [end]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        trips = [rtt for sent, rtt in self.round_trips if start <= sent <= end]
        unanswered = [sent for sent in self.pings.values() if sent <= end]
        slowest = max(trips + [end - sent for sent in unanswered], default=float("nan"))
        return {
            "messages": len(times) - 2,
            "max_gap_ms": max(gaps) * 1000,
            "pings": len(trips) + len(unanswered),
            "pings_unanswered": len(unanswered),
            "ping_p50_ms": statistics.median(trips) * 1000 if trips else float("nan"),
            "ping_max_ms": slowest * 1000,
            "types": dict(self.types),
            "closed": self.closed,
        }


async def section_many(
    report: Report, children: Children, work: Path, upstream: Server, many: int
) -> None:
    print(f"{many:,} concurrent streams with the dashboard socket connected", flush=True)
    with proxy_running(
        children, "many-proxy", upstream.url, work / "many-tapes", work / "many-logs", "off"
    ) as proxy:
        async with new_session(4) as session:
            ws = await session.ws_connect(proxy.url + "/ws", autoping=False, heartbeat=None)
            watcher = Watcher(ws)
            stop = asyncio.Event()
            reader = asyncio.create_task(watcher.read())
            pinger = asyncio.create_task(watcher.ping(stop))
            start = time.perf_counter()
            load = await slow_streams(proxy, many, MANY_CHUNKS, MANY_DELAY_MS)
            end = time.perf_counter()
            stop.set()
            await pinger
            live = watcher.during(start, end)
            fds_after = open_fds(proxy.proc.pid)
            await ws.close()
            await asyncio.wait_for(reader, 10)
    figures = {**load, "ws": live, "fds_after": fds_after, "streams": many}
    report.put(figures, "many")
    report.note(f"{many:,} streams: {json.dumps(figures)}")
    report.add(
        f"many: {many:,} concurrent streams ({MANY_CHUNKS} events {MANY_DELAY_MS} ms apart): "
        f"failed ({load['most_open']} open at once, {load['elapsed']:.1f} s)",
        f"{load['errors']}" + (f" ({load['first_errors'][0]})" if load["errors"] else ""),
        "0",
        load["errors"] == 0,
    )
    report.add(
        "many: dashboard socket during the load: messages, longest gap",
        f"{live['messages']:,}, {live['max_gap_ms']:.0f} ms",
        f"> 0, ≤ {WS_BOUND_MS} ms",
        live["messages"] > 0 and live["max_gap_ms"] <= WS_BOUND_MS and live["closed"] is None,
    )
    report.add(
        f"many: dashboard socket ping round trip, p50 / slowest of {live['pings']}",
        f"{live['ping_p50_ms']:.1f} / {live['ping_max_ms']:.0f} ms",
        f"≤ {WS_BOUND_MS} ms",
        live["ping_max_ms"] <= WS_BOUND_MS,
    )
    report.add(
        "many: proxy open fds, idle / peak / after",
        f"{load['idle_fds']} / {load['peak_fds']} / {fds_after}",
    )
    report.add(
        "many: proxy RSS, idle / peak (VmHWM)", f"{load['idle']:.1f} / {load['hwm']:.1f} MiB"
    )


async def section_rss(report: Report, children: Children, work: Path, upstream: Server) -> None:
    print("RSS versus concurrent streams", flush=True)
    figures: dict[str, dict[str, Any]] = {"playingpack": {}, "relay": {}}
    for streams in RSS_STREAMS:
        with proxy_running(
            children, "rss-proxy", upstream.url, work / "rss-tapes", work / "rss-logs", "off"
        ) as proxy:
            figures["playingpack"][str(streams)] = await slow_streams(proxy, streams)
        relay = start_server(children, "relay", ["--upstream", upstream.url])
        try:
            figures["relay"][str(streams)] = await slow_streams(relay, streams)
        finally:
            children.stop(relay.proc)
        mine, ref = figures["playingpack"][str(streams)], figures["relay"][str(streams)]
        report.note(
            f"{streams} streams: playingpack idle {mine['idle']:.1f} → peak {mine['hwm']:.1f} "
            f"MiB ({mine['most_open']} open at once, {mine['errors']} failed, "
            f"{mine['peak_fds']} fds); relay {ref['idle']:.1f} → {ref['hwm']:.1f} MiB"
        )
        report.add(
            f"rss: {streams} concurrent slow streams, peak RSS playingpack / minimal relay",
            f"{mine['hwm']:.1f} / {ref['hwm']:.1f} MiB",
        )
    report.put(figures, "rss")


@contextmanager
def upstream_running(children: Children) -> Iterator[Server]:
    upstream = start_server(children, "upstream")
    try:
        yield upstream
    finally:
        children.stop(upstream.proc)


async def run_async(
    sections: set[str],
    lengths: list[int],
    many: int,
    report: Report,
    children: Children,
    work: Path,
) -> None:
    with upstream_running(children) as upstream:
        if "long" in sections:
            await section_long(report, children, work, upstream, lengths)
        if "many" in sections:
            await section_many(report, children, work, upstream, many)
        if "rss" in sections:
            await section_rss(report, children, work, upstream)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="long,many,rss", help="sections: long, many, rss")
    parser.add_argument("--lengths", default=",".join(str(n) for n in LENGTHS))
    parser.add_argument(
        "--many", type=int, default=MANY, help="concurrent streams of the many section"
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "streams.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    lengths = [int(n) for n in args.lengths.split(",")]
    info = run_info()
    work = Path(tempfile.mkdtemp(prefix="playingpack-streams-"))
    children = Children(work)
    report = Report()
    print(
        f"playingpack streams bench: {git_state()}; load average "
        f"{info['load_average_at_start']:.2f}; work dir {work}",
        flush=True,
    )
    started, busy_before = time.perf_counter(), system_busy()
    try:
        warm_bytecode(work)
        uvloop.run(run_async(sections, lengths, args.many, report, children, work))
    finally:
        clean_up(children, work, keep=args.keep)
    elapsed, others_cpu = finished(started, busy_before)
    print(report.render())
    command = "bench/streams.py" + (
        "" if sections == {"long", "many", "rss"} else f" --only {args.only}"
    )
    if args.many != MANY:
        command += f" --many {args.many}"
    info.update(seconds=elapsed, others_cpu_percent=others_cpu, command=command)
    write_json(args.json, report.payload(info))
    sys.exit(1 if any(row.ok is False for row in report.rows) else 0)


if __name__ == "__main__":
    main()
