"""playingpack benchmarks: one command, side by side, loopback only, under ~4 minutes.

    .venv/bin/python bench/run.py            # everything; figures also in bench/results/run.json
    .venv/bin/python bench/run.py --only a,d # some sections

Processes: this script is the load generator (an aiohttp client on uvloop); the fake upstream,
the proxy (``playingpack start``), and the reference servers (a minimal relay, the replay
ceiling; bench/servers.py) each run as their own process. See bench/README.md for what each
section measures and how.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
import uvloop

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
PLAYINGPACK = str(Path(sys.executable).parent / "playingpack")
HOST = "127.0.0.1"
RESULTS = BENCH / "results"

# (a) pass-through
PAIRS_C1 = 600  # direct + proxy pairs at concurrency 1
PAIRS_PER_WORKER_C32 = 40  # 32 workers x 40 pairs
PACED_PAIRS_C1 = 200
PACED_PAIRS_PER_WORKER_C32 = 8
# (b) replay throughput
HISTORY_ROUNDS = 6  # (h): alternating rounds of HISTORY_PAIRS pairs, history on then off
HISTORY_PAIRS = 100
RUN_SECONDS = 1.5  # per round; ROUNDS rounds per server, alternating proxy and ceiling
ROUNDS = 3
REPLAY_CONCURRENCY = (1, 4, 16, 64)
REPLAY_TARGETS = {"json": 0.5, "stream": 0.75}  # proxy / ceiling req/s, at c=16 and c=64
# (a) targets at concurrency 1, in seconds: the issue's; 3.58 ms is the original 0.2.1's
# added total p99 as the issue measured it (0.2.1 is not on npm, so it cannot run here).
ADDED_TTFB_P50 = 0.0010
ADDED_TOTAL_P50 = 0.0010
ADDED_TOTAL_P99 = 0.00358
# (c) memory with slow streams
SLOW_STREAMS = 200
SLOW_RSS_MIB = 50
SLOW_CHUNKS = 40
SLOW_DELAY_MS = 50
# (d) start-up
STARTS = 5
START_TARGET = 0.250
# (e) memory after many requests
GROWTH_CHECKPOINTS = (5_000, 10_000, 20_000, 30_000, 40_000, 50_000)
GROWTH_CONCURRENCY = 32

JSON_BYTES = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "History bench."}]}
).encode()
STREAM_BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a benchmark."},
        {"role": "user", "content": "Tell me a story in fifty chunks."},
    ],
    "stream": True,
}
JSON_BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a benchmark."},
        {"role": "user", "content": "Answer in one JSON body."},
    ],
}


# --------------------------------------------------------------------------- processes


def child_env(work: Path) -> dict[str, str]:
    """The environment of every child: no PLAYINGPACK_* settings, and bytecode cached (in the
    temporary folder, not next to the sources) as it is for an installed package, even when the
    calling shell sets PYTHONDONTWRITEBYTECODE."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLAYINGPACK_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def warm_bytecode(work: Path) -> None:
    """Fill the children's bytecode cache, so a timed start is an installed package's."""
    subprocess.run(
        [PYTHON, "-c", "import playingpack.cli, playingpack.app"],
        check=True,
        cwd=work,
        env=child_env(work),
    )


class Children:
    """Every process this run started; all of them are stopped in ``stop_all``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], name: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{name}.out").open("ab")
        env = child_env(self.workdir)
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or self.workdir,
            env=env,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def source_checkout() -> Path:
    """The checkout whose playingpack the children run: this one, or the one PYTHONPATH names
    (``PYTHONPATH=<worktree>/src`` measures another commit with this bench)."""
    found = subprocess.run(
        [PYTHON, "-c", "import playingpack; print(playingpack.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")},
    ).stdout.strip()
    return Path(found).resolve().parent.parent.parent


def git(*args: str) -> str:
    """What ``git args`` prints in the checkout under test."""
    command = ["git", "-C", str(source_checkout()), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def git_state() -> str:
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "src")
    except (OSError, subprocess.CalledProcessError):
        return "git state unknown"
    return f"commit {head} ({source_checkout()})" + (
        f" + {len(dirty.splitlines())} changed file(s) in src/" if dirty else ""
    )


def run_info() -> dict[str, Any]:
    """Where and when figures were measured, for the JSON results."""
    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "src").splitlines()
    except (OSError, subprocess.CalledProcessError):
        commit, changed = "unknown", []
    return {
        "commit": commit,
        "changed_in_src": len(changed),
        # Whether PYTHONPATH named another checkout; its path would be this machine's own.
        "other_checkout": source_checkout() != BENCH.parent,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "load_average_at_start": os.getloadavg()[0],
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(f"figures written to {path}", flush=True)


def system_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def clean_up(children: Children, work: Path, *, keep: bool) -> None:
    """Stop every child, and remove the work folder unless asked to keep it."""
    children.stop_all()
    if keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def finished(started: float, busy_before: float) -> tuple[float, float]:
    """Print how long the run took and how much CPU other processes used meanwhile (the
    noise); the run's seconds, and that CPU in percent of a core."""
    elapsed = time.perf_counter() - started
    own = os.times()
    ours = own.user + own.system + own.children_user + own.children_system
    others = max(0.0, system_busy() - busy_before - ours)
    print(
        f"\nfinished in {elapsed:.0f} s; other processes on the machine used "
        f"{100 * others / elapsed:.0f}% of a core meanwhile (noise)\n"
    )
    return elapsed, 100 * others / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> float:
    """Poll GET /health every millisecond; the perf_counter time of the first 200."""
    deadline = time.perf_counter() + timeout
    request = f"GET /health HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pid {proc.pid} exited with {proc.returncode} before /health")
        try:
            with socket.create_connection((HOST, port), timeout=2) as sock:
                sock.sendall(request)
                data = b""
                while b"\r\n" not in data:
                    part = sock.recv(4096)
                    if not part:
                        break
                    data += part
                if data.startswith(b"HTTP/1.1 200"):
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"no healthy /health on port {port} within {timeout} s")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def proxy_args(
    port: int,
    upstream: str,
    tapes: Path,
    logs: Path,
    record: str,
    timing: str = "instant",
    history: str | None = None,
) -> list[str]:
    """``playingpack start`` headless; ``history`` is its --history (by default the history
    database under the work folder, as for a user)."""
    return [
        PLAYINGPACK,
        "start",
        "--no-ui",
        "--port",
        str(port),
        "--upstream",
        upstream,
        "--tapes-dir",
        str(tapes),
        "--logs-dir",
        str(logs),
        "--record",
        record,
        "--replay-timing",
        timing,
        *(["--history", history] if history is not None else []),
    ]


def start_proxy(
    children: Children,
    name: str,
    upstream: str,
    tapes: Path,
    logs: Path,
    record: str,
    timing: str = "instant",
    history: str | None = None,
) -> Server:
    port = free_port()
    proc = children.spawn(proxy_args(port, upstream, tapes, logs, record, timing, history), name)
    wait_healthy(port, proc)
    return Server(proc, port)


def start_server(children: Children, role: str, extra: Sequence[str] = ()) -> Server:
    port = free_port()
    proc = children.spawn(
        [PYTHON, str(BENCH / "servers.py"), role, "--port", str(port), *extra], role
    )
    wait_healthy(port, proc)
    return Server(proc, port)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` now, in MiB (2**20 bytes)."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def hwm_mb(pid: int) -> float:
    """Peak RSS of the process's whole life (VmHWM), in MiB (2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuMeter:
    """CPU seconds used by some processes between start and stop, as % of one core."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.result: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def _times(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        return out

    @contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        start, wall = self._times(), time.perf_counter()
        yield self.result
        end, wall = self._times(), time.perf_counter() - wall
        for name in self.pids:
            self.seconds[name] = end[name] - start[name]
            self.result[name] = 100 * self.seconds[name] / wall


# --------------------------------------------------------------------------- load generator


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def new_session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def fetch(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[float, float, bytes, aiohttp.ClientResponse]:
    """One POST: (time to first body byte, total time, body, response)."""
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        first = await resp.content.readany()
        ttfb = time.perf_counter() - start
        parts = [first]
        while True:
            part = await resp.content.readany()
            if not part:
                break
            parts.append(part)
    total = time.perf_counter() - start
    if resp.status != 200:
        raise RuntimeError(f"{url} answered {resp.status}: {b''.join(parts)[:300]!r}")
    return ttfb, total, b"".join(parts), resp


@dataclass
class Latencies:
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    # With x-bench-stamp: how long the upstream took to write its events, and how long its
    # last event then took to reach the client (seconds).
    span: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)


_STAMP = re.compile(rb": sent (\d+) (\d+)\n\n")


async def paired(
    session: aiohttp.ClientSession,
    direct: str,
    proxy: str,
    body: bytes,
    headers: dict[str, str],
    workers: int,
    pairs: int,
) -> tuple[Latencies, Latencies]:
    """``workers`` loops, each doing ``pairs`` direct+proxy pairs in random order."""
    results = {direct: Latencies(), proxy: Latencies()}
    path = "/v1/chat/completions"

    async def worker(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(pairs):
            order = [direct, proxy]
            rnd.shuffle(order)
            for base in order:
                ttfb, total, data, _ = await fetch(session, base + path, body, headers)
                arrived = time.monotonic_ns()
                if not data.endswith(b"data: [DONE]\n\n"):
                    raise RuntimeError(f"incomplete stream from {base}")
                results[base].ttfb.append(ttfb)
                results[base].total.append(total)
                stamp = _STAMP.search(data, len(data) - 200)
                if stamp is not None:
                    began, sent = int(stamp[1]), int(stamp[2])
                    results[base].span.append((sent - began) / 1e9)
                    results[base].last.append((arrived - sent) / 1e9)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return results[direct], results[proxy]


async def throughput(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    expect: bytes,
    workers: int,
    seconds: float,
    warmup: float = 0.3,
) -> tuple[int, float]:
    """Requests completed by ``workers`` closed loops in ``seconds`` (after a warm-up)."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            async with session.post(url, data=body) as resp:
                data = await resp.read()
            if resp.status != 200 or len(data) != len(expect):
                raise RuntimeError(f"{url}: status {resp.status}, {len(data)} bytes")
            now = loop.time()
            if now >= end:
                return
            if now >= begin:
                done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done, seconds


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    metric: str
    measured: str
    target: str = "—"
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "—" if self.ok is None else ("pass" if self.ok else "**FAIL**")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # every figure, for the JSON results

    def add(self, metric: str, measured: str, target: str = "—", ok: bool | None = None) -> None:
        self.rows.append(Row(metric, measured, target, ok))

    def put(self, value: Any, *path: str) -> None:
        """Keep ``value`` at ``path`` in ``data``."""
        node = self.data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    def payload(self, info: dict[str, Any]) -> dict[str, Any]:
        return {
            **info,
            "figures": self.data,
            "rows": [asdict(row) for row in self.rows],
            "raw": self.raw,
        }

    def note(self, line: str) -> None:
        self.raw.append(line)
        print("   ", line, flush=True)

    def render(self) -> str:
        out = ["| metric | measured | target | pass/fail |", "|---|---|---|---|"]
        out += [f"| {r.metric} | {r.measured} | {r.target} | {r.verdict} |" for r in self.rows]
        return "\n".join(out)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """p50, p90 and p99 of ``values`` (seconds), in milliseconds."""
    return {name: round(pct(values, q) * 1000, 4) for name, q in PERCENTILES.items()}


# --------------------------------------------------------------------------- sections


def section_d(report: Report, children: Children, work: Path, upstream: str) -> None:
    """Start-up: spawn to first healthy /health; CLI import time; --help time."""
    print("(d) start-up", flush=True)
    warm_bytecode(work)
    times = []
    for run in range(STARTS + 1):  # the first run only warms the page cache
        port = free_port()
        args = proxy_args(port, upstream, work / "d-tapes", work / "d-logs", "off")
        start = time.perf_counter()
        proc = children.spawn(args, "d-proxy")
        healthy = wait_healthy(port, proc)
        children.stop(proc)
        if run:
            times.append(healthy - start)
    median = statistics.median(times)
    reference = []
    for _ in range(STARTS):
        port = free_port()
        start = time.perf_counter()
        proc = children.spawn(
            [
                PYTHON,
                str(BENCH / "servers.py"),
                "relay",
                "--port",
                str(port),
                "--upstream",
                upstream,
            ],
            "d-relay",
        )
        reference.append(wait_healthy(port, proc) - start)
        children.stop(proc)
    report.note(
        "spawn → /health 200 (ms): "
        + ", ".join(f"{t * 1000:.0f}" for t in times)
        + "; minimal aiohttp relay (bench/servers.py): "
        + ", ".join(f"{t * 1000:.0f}" for t in reference)
    )
    report.add(
        "(d) spawn → first 200 of /health, median of 5",
        ms(median),
        f"≤ {START_TARGET * 1000:.0f} ms",
        median <= START_TARGET,
    )
    report.put([round(t * 1000, 2) for t in times], "d", "start_ms")
    report.put([round(t * 1000, 2) for t in reference], "d", "relay_start_ms")
    report.add(
        "(d) reference, minimal aiohttp relay: spawn → /health, median",
        ms(statistics.median(reference)),
    )

    def wall(args: list[str], runs: int = 5) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, cwd=work, env=child_env(work))
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    def in_process(module: str, runs: int = 5) -> float:
        code = (
            f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        )
        return statistics.median(
            float(
                subprocess.run(
                    [PYTHON, "-c", code],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=work,
                    env=child_env(work),
                ).stdout
            )
            for _ in range(runs)
        )

    bare = wall([PYTHON, "-c", "pass"])
    cli_import = in_process("playingpack.cli")
    app_import = in_process("playingpack.app")
    helptime = wall([PLAYINGPACK, "--help"])
    report.note(
        f"python -c pass: {ms(bare)}; import playingpack.cli: {ms(cli_import)}; "
        f"import playingpack.app (server stack): {ms(app_import)}; "
        f"playingpack --help: {ms(helptime)} (medians of 5)"
    )
    report.put(
        {
            "python_pass": bare * 1000,
            "import_cli": cli_import * 1000,
            "import_app": app_import * 1000,
            "help": helptime * 1000,
        },
        "d",
        "wall_ms",
    )
    report.add("(d) import playingpack.cli (in-process, median)", ms(cli_import))
    report.add("(d) import playingpack.app, server stack (in-process, median)", ms(app_import))
    report.add(
        f"(d) `playingpack --help` wall time (median; bare `python -c pass` {ms(bare)})",
        ms(helptime),
    )

    # The slowest imports of the server stack, for the README's findings.
    trace = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", "import playingpack.app"],
        capture_output=True,
        text=True,
        cwd=work,
        env=child_env(work),
    ).stderr
    tops = []
    for line in trace.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 3:  # top-level and first-level imports
            tops.append((int(m.group(2)), m.group(4).strip()))
    tops.sort(reverse=True)
    report.note(
        "-X importtime, largest cumulative (ms): "
        + ", ".join(f"{name} {us / 1000:.0f}" for us, name in tops[:8])
    )


async def section_a(report: Report, children: Children, proxy: Server, upstream: Server) -> None:
    """Streamed pass-through, direct vs proxy interleaved; then direct vs a minimal relay."""
    print("(a) streamed pass-through (--record off)", flush=True)
    body = json.dumps(STREAM_BODY).encode()
    path = "/v1/chat/completions"
    relay = start_server(children, "relay", ["--upstream", upstream.url])
    try:
        async with new_session(200) as session:
            # Check the answer shape once: ~50 events, same bytes both ways.
            _, _, direct_body, _ = await fetch(
                session, upstream.url + path, body, {"x-bench-chunks": "50"}
            )
            _, _, proxy_body, _ = await fetch(
                session, proxy.url + path, body, {"x-bench-chunks": "50"}
            )
            events = direct_body.count(b"\n\n")
            report.note(
                f"answer: {events} SSE events, {len(direct_body)} bytes; proxy body "
                f"identical: {direct_body == proxy_body}"
            )
            scenarios = [
                (
                    "burst",
                    {"x-bench-chunks": "50", "x-bench-delay-ms": "0"},
                    PAIRS_C1,
                    PAIRS_PER_WORKER_C32,
                ),
                (
                    "paced 1 ms",
                    {"x-bench-chunks": "50", "x-bench-delay-ms": "1", "x-bench-stamp": "1"},
                    PACED_PAIRS_C1,
                    PACED_PAIRS_PER_WORKER_C32,
                ),
            ]
            for label, headers, pairs_c1, pairs_c32 in scenarios:
                for workers, pairs in ((1, pairs_c1), (32, pairs_c32)):
                    name = f"{label}, c={workers}"
                    added: dict[str, dict[str, dict[str, float]]] = {}
                    cpu_per: dict[str, float] = {}
                    spans: dict[str, float] = {}
                    lasts: dict[str, dict[str, float]] = {}
                    for who, server in (("playingpack", proxy), ("relay", relay)):
                        meter = CpuMeter(
                            **{
                                who: server.proc.pid,
                                "upstream": upstream.proc.pid,
                                "loadgen": os.getpid(),
                            }
                        )
                        await paired(
                            session,
                            upstream.url,
                            server.url,
                            body,
                            headers,
                            workers,
                            max(3, pairs // 10),
                        )  # warm-up: connections, pools
                        with meter.measure() as cpu:
                            direct, via = await paired(
                                session, upstream.url, server.url, body, headers, workers, pairs
                            )
                        n = len(direct.ttfb)
                        d = {
                            "ttfb": percentiles_ms(direct.ttfb),
                            "total": percentiles_ms(direct.total),
                        }
                        v = {"ttfb": percentiles_ms(via.ttfb), "total": percentiles_ms(via.total)}
                        a = {
                            part: {q: round(v[part][q] - d[part][q], 4) for q in PERCENTILES}
                            for part in ("ttfb", "total")
                        }
                        per_request = meter.seconds[who] / n * 1000
                        stamped = {}
                        if via.span:
                            stamped = {
                                "upstream_span": {
                                    "direct": percentiles_ms(direct.span),
                                    "via": percentiles_ms(via.span),
                                },
                                "last_event": {
                                    "direct": percentiles_ms(direct.last),
                                    "via": percentiles_ms(via.last),
                                },
                            }
                        report.put(
                            {
                                "pairs": n,
                                "direct": d,
                                "via": v,
                                "added": a,
                                **stamped,
                                "cpu_per_request_ms": per_request,
                                "cpu_percent": dict(cpu),
                            },
                            "a",
                            label,
                            f"c={workers}",
                            who,
                        )

                        def three(figures: dict[str, float]) -> str:
                            return "/".join(f"{figures[q]:.2f}" for q in PERCENTILES)

                        report.note(
                            f"{name}, {who} ({n} pairs): TTFB direct p50/p90/p99 "
                            f"{three(d['ttfb'])} ms | via {who} {three(v['ttfb'])} ms; total "
                            f"direct {three(d['total'])} ms | via {three(v['total'])} ms; "
                            "CPU % of a core: "
                            + ", ".join(f"{k} {share:.0f}" for k, share in cpu.items())
                            + f"; {who} CPU per request {per_request:.2f} ms"
                        )
                        if stamped:
                            span, last = stamped["upstream_span"], stamped["last_event"]
                            report.note(
                                f"{name}, {who}: the upstream wrote its events in p50 "
                                f"{span['direct']['p50']:.2f} ms direct | "
                                f"{span['via']['p50']:.2f} ms via {who}; its last event "
                                f"reached the client in p50/p99 {three(last['direct'])} ms "
                                f"direct | {three(last['via'])} ms via {who}"
                            )
                            spans[who] = span["via"]["p50"] - span["direct"]["p50"]
                            lasts[who] = {
                                q: last["via"][q] - last["direct"][q] for q in PERCENTILES
                            }
                        added[who] = a
                        cpu_per[who] = per_request
                    targeted = workers == 1
                    mine, ref = added["playingpack"], added["relay"]
                    for part, label_part in (("ttfb", "TTFB"), ("total", "total")):
                        for q in PERCENTILES:
                            limit = {
                                ("ttfb", "p50"): ADDED_TTFB_P50,
                                ("total", "p50"): ADDED_TOTAL_P50,
                                ("total", "p99"): ADDED_TOTAL_P99,
                            }.get((part, q))
                            value = mine[part][q]
                            metric = (
                                f"(a) {name}: added {label_part} {q} "
                                f"(minimal relay: {ref[part][q]:.2f} ms)"
                            )
                            if targeted and limit is not None:
                                report.add(
                                    metric,
                                    f"{value:.2f} ms",
                                    f"≤ {limit * 1000:.2f} ms",
                                    value <= limit * 1000,
                                )
                            else:
                                report.add(metric, f"{value:.2f} ms")
                    if spans:
                        # The added total time of a paced stream is mostly the upstream's own
                        # pacing slowing down while three processes share two cores; the last
                        # event's trip is the proxy's own share.
                        report.add(
                            f"(a) {name}: the upstream's own time to write its events, p50 "
                            "added when a proxy reads them: playingpack / minimal relay",
                            f"{spans['playingpack']:.2f} ms / {spans['relay']:.2f} ms",
                        )
                        for q in PERCENTILES:
                            report.add(
                                f"(a) {name}: added time of the last event's trip {q}, "
                                "playingpack / minimal relay",
                                f"{lasts['playingpack'][q]:.2f} ms / {lasts['relay'][q]:.2f} ms",
                            )
                    report.add(
                        f"(a) {name}: CPU per streamed request, playingpack / minimal relay",
                        f"{cpu_per['playingpack']:.2f} ms / {cpu_per['relay']:.2f} ms",
                    )
    finally:
        children.stop(relay.proc)


async def record_tapes(proxy: Server, tapes: Path) -> dict[str, bytes]:
    """Record the streamed and the JSON tape through the proxy in auto mode."""
    print("    recording tapes through the proxy (--record auto)", flush=True)
    bodies = {"stream": json.dumps(STREAM_BODY).encode(), "json": json.dumps(JSON_BODY).encode()}
    async with new_session(10) as session:
        for kind, body in bodies.items():
            async with session.post(
                proxy.url + "/v1/chat/completions", data=body, headers={"x-bench-chunks": "50"}
            ) as resp:
                await resp.read()
                if resp.status != 200 or resp.headers.get("X-Playingpack-Source") == "tape":
                    raise RuntimeError(f"recording {kind}: {resp.status} {dict(resp.headers)}")
    for _ in range(200):
        if len(list(tapes.glob("*.json"))) == 2:
            break
        await asyncio.sleep(0.01)
    files = sorted(tapes.glob("*.json"))
    if len(files) != 2:
        raise RuntimeError(f"expected 2 tapes in {tapes}, found {files}")
    for file in files:
        tape = json.loads(file.read_bytes())
        print(
            f"    tape {file.name[:12]}… streamed={tape['response'].get('streamed')} "
            f"chunks={len(tape['response']['chunks'])}",
            flush=True,
        )
    return bodies


async def section_b(
    report: Report, children: Children, work: Path, replay: Server, bodies: dict[str, bytes]
) -> None:
    """Replay throughput vs a minimal aiohttp handler serving the same bytes."""
    print("(b) replay throughput (--record replay-only --replay-timing instant)", flush=True)
    answers: list[str] = []
    expected: dict[str, bytes] = {}
    async with new_session(10) as session:
        for kind, body in bodies.items():
            _, _, data, resp = await fetch(session, replay.url + "/v1/chat/completions", body, {})
            if resp.headers.get("X-Playingpack-Source") != "tape":
                raise RuntimeError(f"{kind} was not replayed from a tape: {dict(resp.headers)}")
            expected[kind] = data
            (work / f"{kind}.req").write_bytes(body)
            (work / f"{kind}.resp").write_bytes(data)
            answers += [
                "--answer",
                str(work / f"{kind}.req"),
                str(work / f"{kind}.resp"),
                kind,
                resp.headers["X-Playingpack-Tape"],
            ]
            report.note(
                f"{kind} replay: {len(data)} bytes, content-type {resp.headers.get('Content-Type')}"
            )
    ceiling = start_server(children, "ceiling", answers)
    path = "/v1/chat/completions"
    meter = CpuMeter(proxy=replay.proc.pid, ceiling=ceiling.proc.pid, loadgen=os.getpid())
    try:
        async with new_session(200) as session:
            _, _, data, _ = await fetch(session, ceiling.url + path, bodies["stream"], {})
            assert data == expected["stream"], "the ceiling does not send the proxy's bytes"
            for kind, label in (("stream", "50-chunk stream"), ("json", "JSON tape")):
                for workers in REPLAY_CONCURRENCY:
                    counts = {"proxy": 0, "ceiling": 0}
                    cpu_seen: dict[str, list[float]] = {
                        "proxy": [],
                        "ceiling": [],
                        "loadgen proxy": [],
                        "loadgen ceiling": [],
                    }
                    for _ in range(ROUNDS):
                        for name, server in (("ceiling", ceiling), ("proxy", replay)):
                            with meter.measure() as cpu:
                                done, _ = await throughput(
                                    session,
                                    server.url + path,
                                    bodies[kind],
                                    expected[kind],
                                    workers,
                                    RUN_SECONDS,
                                )
                            counts[name] += done
                            cpu_seen[name].append(cpu[name])
                            cpu_seen["loadgen " + name].append(cpu["loadgen"])
                    seconds = RUN_SECONDS * ROUNDS
                    rps_proxy, rps_ceiling = counts["proxy"] / seconds, counts["ceiling"] / seconds
                    ratio = rps_proxy / rps_ceiling
                    per_proxy = 10 * statistics.mean(cpu_seen["proxy"]) / rps_proxy
                    per_ceiling = 10 * statistics.mean(cpu_seen["ceiling"]) / rps_ceiling
                    report.note(
                        f"{label}, c={workers}: proxy {rps_proxy:,.0f} req/s (server CPU "
                        f"{statistics.mean(cpu_seen['proxy']):.0f}%, load generator "
                        f"{statistics.mean(cpu_seen['loadgen proxy']):.0f}%), ceiling "
                        f"{rps_ceiling:,.0f} req/s (server CPU "
                        f"{statistics.mean(cpu_seen['ceiling']):.0f}%, load generator "
                        f"{statistics.mean(cpu_seen['loadgen ceiling']):.0f}%), "
                        f"ratio {ratio:.2f}; server CPU per request: proxy {per_proxy:.3f} ms, "
                        f"ceiling {per_ceiling:.3f} ms"
                    )
                    report.put(
                        {
                            "proxy_rps": rps_proxy,
                            "ceiling_rps": rps_ceiling,
                            "ratio": ratio,
                            "proxy_cpu_per_request_ms": per_proxy,
                            "ceiling_cpu_per_request_ms": per_ceiling,
                            "proxy_cpu_percent": statistics.mean(cpu_seen["proxy"]),
                            "ceiling_cpu_percent": statistics.mean(cpu_seen["ceiling"]),
                            "loadgen_cpu_percent_proxy": statistics.mean(cpu_seen["loadgen proxy"]),
                            "loadgen_cpu_percent_ceiling": statistics.mean(
                                cpu_seen["loadgen ceiling"]
                            ),
                        },
                        "b",
                        kind,
                        f"c={workers}",
                    )
                    metric = (
                        f"(b) replay {label}, c={workers}: proxy / ceiling req/s "
                        f"({rps_proxy:,.0f} / {rps_ceiling:,.0f})"
                    )
                    if workers >= 16:
                        floor = REPLAY_TARGETS[kind]
                        report.add(metric, f"{ratio:.2f}", f"≥ {floor}", ratio >= floor)
                    else:
                        report.add(metric, f"{ratio:.2f}")
                    if workers > 1:
                        report.add(
                            f"(b) replay {label}, c={workers}: server CPU per request, "
                            "proxy / ceiling",
                            f"{per_proxy:.3f} / {per_ceiling:.3f} ms",
                        )
    finally:
        children.stop(ceiling.proc)


def open_fds(pid: int) -> int:
    """File descriptors ``pid`` has open now (sockets included)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


async def slow_streams(
    server: Server,
    streams: int = SLOW_STREAMS,
    chunks: int = SLOW_CHUNKS,
    delay_ms: int = SLOW_DELAY_MS,
) -> dict[str, Any]:
    """Idle RSS, then RSS (MiB) and open fds while ``streams`` slow streams of ``chunks``
    events ``delay_ms`` apart pass through ``server`` at once; failed streams are counted."""
    pid = server.proc.pid
    result: dict[str, Any] = {"idle": rss_mb(pid), "idle_fds": open_fds(pid)}
    body = json.dumps(STREAM_BODY).encode()
    headers = {"x-bench-chunks": str(chunks), "x-bench-delay-ms": str(delay_ms)}
    url = server.url + "/v1/chat/completions"
    errors: list[str] = []
    async with new_session(streams + 50) as session:
        await fetch(session, url, body, {"x-bench-chunks": "50"})
        result["warm"] = rss_mb(pid)
        open_now = 0
        most_open = 0
        peak = 0.0
        peak_fds = 0
        running = True

        async def sample() -> None:
            nonlocal peak, peak_fds
            while running:
                peak = max(peak, rss_mb(pid))
                peak_fds = max(peak_fds, open_fds(pid))
                await asyncio.sleep(0.01)

        async def stream() -> None:
            nonlocal open_now, most_open
            opened = False
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    first = await resp.content.readany()
                    open_now += 1
                    opened = True
                    most_open = max(most_open, open_now)
                    data = [first]
                    while part := await resp.content.readany():
                        data.append(part)
                if resp.status != 200:
                    errors.append(f"status {resp.status}")
                elif not b"".join(data).endswith(b"data: [DONE]\n\n"):
                    errors.append("a stream ended early")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                open_now -= opened

        sampler = asyncio.create_task(sample())
        start = time.perf_counter()
        await asyncio.gather(*(stream() for _ in range(streams)))
        result["elapsed"] = time.perf_counter() - start
        running = False
        await sampler
    result.update(
        peak=peak,
        hwm=hwm_mb(pid),
        after=rss_mb(pid),
        most_open=most_open,
        peak_fds=peak_fds,
        errors=len(errors),
        first_errors=errors[:5],
    )
    return result


async def section_c(report: Report, children: Children, proxy: Server, upstream: Server) -> None:
    """Peak RSS of the proxy with 200 concurrent slow streams; a minimal relay for reference."""
    print(f"(c) memory with {SLOW_STREAMS} concurrent slow streams", flush=True)
    seen = await slow_streams(proxy)
    relay = start_server(children, "relay", ["--upstream", upstream.url])
    try:
        ref = await slow_streams(relay)
    finally:
        children.stop(relay.proc)
    for who, r in (("playingpack", seen), ("minimal relay", ref)):
        report.note(
            f"{who}: idle RSS {r['idle']:.1f} MiB (fresh), {r['warm']:.1f} MiB after one "
            f"request; peak sampled {r['peak']:.1f} MiB, VmHWM {r['hwm']:.1f} MiB; "
            f"{r['most_open']:.0f} streams open at once; {SLOW_STREAMS} x {SLOW_CHUNKS} chunks "
            f"{SLOW_DELAY_MS} ms apart took {r['elapsed']:.2f} s; RSS after they ended "
            f"{r['after']:.1f} MiB"
        )
    report.put({"playingpack": seen, "relay": ref, "streams": SLOW_STREAMS}, "c")
    report.add(
        "(c) idle proxy RSS (fresh / after one request)",
        f"{seen['idle']:.1f} / {seen['warm']:.1f} MiB",
    )
    report.add(
        f"(c) peak proxy RSS, {seen['most_open']:.0f} concurrent slow streams (VmHWM)",
        f"{seen['hwm']:.1f} MiB",
        f"≤ {SLOW_RSS_MIB} MiB",
        seen["hwm"] <= SLOW_RSS_MIB and seen["most_open"] == SLOW_STREAMS and not seen["errors"],
    )
    report.add(
        "(c) reference, minimal aiohttp relay: idle / peak RSS, same streams",
        f"{ref['idle']:.1f} / {ref['hwm']:.1f} MiB",
    )


async def section_e(report: Report, replay: Server, bodies: dict[str, bytes]) -> None:
    """RSS after 5,000 and after 50,000 replays."""
    print(f"(e) RSS growth over {GROWTH_CHECKPOINTS[-1]:,} replays", flush=True)
    url = replay.url + "/v1/chat/completions"
    body = bodies["stream"]
    sent = 0
    samples: dict[int, float] = {}
    start = time.perf_counter()
    async with new_session(GROWTH_CONCURRENCY + 10) as session:

        async def worker(limit: int) -> None:
            nonlocal sent
            while sent < limit:
                sent += 1
                async with session.post(url, data=body) as resp:
                    await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"replay answered {resp.status}")

        for checkpoint in GROWTH_CHECKPOINTS:
            await asyncio.gather(*(worker(checkpoint) for _ in range(GROWTH_CONCURRENCY)))
            samples[checkpoint] = rss_mb(replay.proc.pid)
    elapsed = time.perf_counter() - start
    report.note(
        "RSS (MiB) after N requests: "
        + ", ".join(f"{n:,}: {v:.1f}" for n, v in samples.items())
        + f"; {sent:,} requests in {elapsed:.1f} s ({sent / elapsed:,.0f} req/s)"
    )
    report.put({str(n): v for n, v in samples.items()}, "e", "rss_mib_after")
    report.put(sent / elapsed, "e", "rps")
    first, last = samples[GROWTH_CHECKPOINTS[0]], samples[GROWTH_CHECKPOINTS[-1]]
    growth = last / first - 1
    report.add(
        f"(e) RSS after 50,000 vs after 5,000 replays ({first:.1f} → {last:.1f} MiB)",
        f"{growth * 100:+.1f} %",
        "≤ +10 %",
        growth <= 0.10,
    )


# --------------------------------------------------------------------------- main


async def section_h(
    report: Report, upstream: Server, on: Server, off: Server, json_on: Server, json_off: Server
) -> None:
    """History on vs off: added pass-through latency, and JSON replay throughput."""
    print("(h) history on vs off", flush=True)
    body = json.dumps(STREAM_BODY).encode()
    headers = {"x-bench-chunks": "50", "x-bench-delay-ms": "0"}
    path = "/v1/chat/completions"
    times = {name: (Latencies(), Latencies()) for name in ("on", "off")}
    async with new_session(200) as session:
        for server in (on, off):
            await paired(session, upstream.url, server.url, body, headers, 1, 30)  # warm-up
        # Short alternating rounds, so both see the same conditions.
        for _ in range(HISTORY_ROUNDS):
            for name, server in (("on", on), ("off", off)):
                direct, via = await paired(
                    session, upstream.url, server.url, body, headers, 1, HISTORY_PAIRS
                )
                times[name][0].total.extend(direct.total)
                times[name][1].total.extend(via.total)
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            with_history, without = (
                pct(times[name][1].total, q) - pct(times[name][0].total, q)
                for name in ("on", "off")
            )
            report.put(
                {"on_ms": with_history * 1000, "off_ms": without * 1000},
                "h",
                "added_total",
                label,
            )
            report.add(
                f"(h) streamed pass-through c=1: added total {label}, history on / off",
                f"{ms(with_history)} / {ms(without)}",
                "on ≤ off + 0.3 ms" if q == 0.5 else "—",
                with_history <= without + 0.0003 if q == 0.5 else None,
            )
        expected = {}
        for server in (json_on, json_off):
            _, _, data, resp = await fetch(session, server.url + path, JSON_BYTES, {})
            if resp.headers.get("X-Playingpack-Source") != "tape":
                raise RuntimeError("the JSON request was not replayed from a tape")
            expected[server.url] = data
        for workers in (16, 64):
            done = {"on": 0, "off": 0}
            for _ in range(ROUNDS):
                for name, server in (("on", json_on), ("off", json_off)):
                    count, _ = await throughput(
                        session,
                        server.url + path,
                        JSON_BYTES,
                        expected[server.url],
                        workers,
                        RUN_SECONDS,
                    )
                    done[name] += count
            ratio = done["on"] / done["off"]
            seconds = RUN_SECONDS * ROUNDS
            report.put(
                {"on_rps": done["on"] / seconds, "off_rps": done["off"] / seconds},
                "h",
                "json_replay",
                f"c={workers}",
            )
            report.add(
                f"(h) JSON replay c={workers}: req/s history on / off "
                f"({done['on'] / seconds:,.0f} / {done['off'] / seconds:,.0f})",
                f"{ratio:.2f}",
                "≥ 0.9",
                ratio >= 0.9,
            )


@contextmanager
def proxy_running(children: Children, name: str, *args: Any) -> Iterator[Server]:
    """A playingpack process (see start_proxy) stopped when the block ends."""
    proxy = start_proxy(children, name, *args)
    try:
        yield proxy
    finally:
        children.stop(proxy.proc)


async def run_async(
    sections: set[str], report: Report, children: Children, work: Path, upstream: Server
) -> None:
    if "a" in sections:
        with proxy_running(
            children, "a-proxy", upstream.url, work / "a-tapes", work / "a-logs", "off"
        ) as proxy:
            await section_a(report, children, proxy, upstream)
    if sections & {"b", "e"}:
        tapes = work / "tapes"
        with proxy_running(
            children, "record-proxy", upstream.url, tapes, work / "r-logs", "auto"
        ) as recorder:
            bodies = await record_tapes(recorder, tapes)
        replay_args = (upstream.url, tapes, work / "replay-logs", "replay-only", "instant")
        if "b" in sections:
            with proxy_running(children, "b-proxy", *replay_args) as replay:
                await section_b(report, children, work, replay, bodies)
        if "e" in sections:
            with proxy_running(children, "e-proxy", *replay_args) as replay:
                await section_e(report, replay, bodies)
    if "h" in sections:
        tapes = work / "h-tapes"
        history = str(work / "h-history.db")
        with proxy_running(
            children, "h-recorder", upstream.url, tapes, work / "h-logs", "auto", "instant", "off"
        ) as recorder:
            async with new_session(2) as session:
                await fetch(session, recorder.url + "/v1/chat/completions", JSON_BYTES, {})
        with (
            proxy_running(
                children, "h-on", upstream.url, tapes, work / "h-logs", "off", "instant", history
            ) as on,
            proxy_running(
                children, "h-off", upstream.url, tapes, work / "h-logs", "off", "instant", "off"
            ) as off,
            proxy_running(
                children,
                "h-json-on",
                upstream.url,
                tapes,
                work / "h-logs",
                "replay-only",
                "instant",
                str(work / "h-json-history.db"),
            ) as json_on,
            proxy_running(
                children,
                "h-json-off",
                upstream.url,
                tapes,
                work / "h-logs",
                "replay-only",
                "instant",
                "off",
            ) as json_off,
        ):
            await section_h(report, upstream, on, off, json_on, json_off)
    if "c" in sections:
        with proxy_running(
            children, "c-proxy", upstream.url, work / "c-tapes", work / "c-logs", "off"
        ) as proxy:
            await section_c(report, children, proxy, upstream)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", default="a,b,c,d,e,h", help="comma-separated sections to run (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "run.json",
        help="where every measured figure is written (default: bench/results/run.json)",
    )
    args = parser.parse_args()
    sections = set(args.only.split(","))
    report = Report()
    info = run_info()
    work = Path(tempfile.mkdtemp(prefix="playingpack-bench-"))
    children = Children(work)
    started = time.perf_counter()
    print(
        f"playingpack bench: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
        f"aiohttp {aiohttp.__version__}, {git_state()}; load average "
        f"{os.getloadavg()[0]:.2f}; work dir {work}",
        flush=True,
    )
    busy_before = system_busy()
    try:
        upstream = start_server(children, "upstream")
        if "d" in sections:
            section_d(report, children, work, upstream.url)
        uvloop.run(run_async(sections, report, children, work, upstream))
    finally:
        clean_up(children, work, keep=args.keep)
    elapsed, others_cpu = finished(started, busy_before)
    print(report.render())
    info.update(
        sections=sorted(sections),
        seconds=elapsed,
        others_cpu_percent=others_cpu,
        command="bench/run.py" + ("" if args.only == "a,b,c,d,e,h" else f" --only {args.only}"),
    )
    write_json(args.json, report.payload(info))
    failed = [row.metric for row in report.rows if row.ok is False]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
