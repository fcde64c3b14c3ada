"""Loop stalls and memory with big payloads: how long ``/health`` waits while playingpack
handles a big request, a big SSE event and the replay of a big tape.

::

    .venv/bin/python bench/stalls.py            # ~1 min on the 2-core dev machine

A thread polls ``GET /health`` on its own connection every 5 ms; a stall is the longest answer
time during a scenario, minus the median answer time when idle. Peak RSS is the proxy's VmHWM
after each scenario (it only grows). The upstream is a separate process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0


def serve_upstream(port: int) -> None:
    """A fake chat completions API: a stream is one event of ``x-event-mb`` megabytes."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        stream = b'"stream": true' in body[:200] or b'"stream":true' in body[:200]
        if not stream:
            answer = {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
            }
            return web.json_response(answer)
        size = int(float(request.headers.get("x-event-mb", "1")) * 1024**2)
        event = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "x" * size}, "finish_reason": "stop"}],
        }
        data = f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(data), 65536):
            await response.write(data[start : start + 65536])
        await response.write_eof()
        return response

    app = web.Application(client_max_size=1024**3)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Poller:
    """Polls /health from a thread; ``window()`` gives the longest answer time since the last
    call, in milliseconds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            started = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            with self._lock:
                self._times.append((time.perf_counter() - started) * 1000)
            self._stop.wait(0.005)

    def window(self) -> list[float]:
        with self._lock:
            times, self._times = self._times, []
        return times

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, path: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


def hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """POST a chat completion; the status and how many body bytes came back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer sk-x",
            **(headers or {}),
        },
    )
    response = connection.getresponse()
    return response.status, len(response.read())


def chat(content: str, *, stream: bool = False) -> bytes:
    messages = [{"role": "user", "content": content}]
    if stream:
        return json.dumps({"model": "m", "stream": True, "messages": messages}).encode()
    return json.dumps({"model": "m", "messages": messages}).encode()


def write_big_tape(folder: Path, request: bytes, megabytes: float) -> None:
    """A streamed tape of one event of ``megabytes`` for ``request``, written as playingpack
    would have (a recording that big is passed on unrecorded, so it is made by hand)."""
    sys.path.insert(0, str(ROOT / "src"))
    from playingpack.hashing import request_key
    from playingpack.tapes import Chunk, Tape

    body = json.loads(request)
    event = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"content": "y" * int(megabytes * 1024**2)},
                "finish_reason": "stop",
            }
        ],
    }
    chunks = (Chunk(f"data: {json.dumps(event)}\n\n", 5), Chunk("data: [DONE]\n\n", 0))
    tape = Tape(request_key(body), "/v1/chat/completions", body, 200, chunks, True, "m")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{tape.key}.json").write_bytes(tape.to_json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--event-mb", type=float, default=100)
    parser.add_argument("--request-mb", type=float, default=30)
    parser.add_argument("--tape-mb", type=float, default=15)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    work = Path(tempfile.mkdtemp(prefix="pp-stalls-"))
    upstream_port, proxy_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve-upstream", str(upstream_port)],
            stdout=subprocess.DEVNULL,
        )
    ]
    try:
        wait_for(upstream_port, "/")
        proxy = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "playingpack",
                "start",
                "--no-ui",
                "--port",
                str(proxy_port),
                "--upstream",
                f"http://127.0.0.1:{upstream_port}",
                "--tapes-dir",
                str(work / "tapes"),
                "--logs-dir",
                str(work / "logs"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        children.append(proxy)
        wait_for(proxy_port, "/health")
        poller = Poller(proxy_port)
        time.sleep(1)
        idle = statistics.median(poller.window())
        event_mb, request_mb, tape_mb = args.event_mb, args.request_mb, args.tape_mb
        big_request = chat("x" * int(request_mb * 1024**2))
        huge_request = chat("x" * 200 * 1024**2)
        recorded = chat("a recorded event", stream=True)
        stream = chat("a big event", stream=True)
        near, far = chat("a big tape", stream=True), chat("a huge tape", stream=True)
        write_big_tape(work / "tapes", near, tape_mb)
        write_big_tape(work / "tapes", far, event_mb)

        def asked(body: bytes, *, stream: bool = True) -> bytes:
            return body if stream else body.replace(b', "stream": true', b"")

        scenarios: list[tuple[str, Callable[[], tuple[int, int]]]] = [
            (f"{request_mb:g} MB request, recorded", lambda: post(proxy_port, big_request)),
            (f"{request_mb:g} MB request, replayed", lambda: post(proxy_port, big_request)),
            ("200 MB request, passed through unrecorded", lambda: post(proxy_port, huge_request)),
            (
                f"one {tape_mb:g} MB SSE event, relayed and recorded",
                lambda: post(proxy_port, recorded, {"x-event-mb": str(tape_mb)}),
            ),
            (
                f"one {event_mb:g} MB SSE event, relayed unrecorded",
                lambda: post(proxy_port, stream, {"x-event-mb": str(event_mb)}),
            ),
            (f"{tape_mb:g} MB tape replayed to a stream client", lambda: post(proxy_port, near)),
            (
                f"{tape_mb:g} MB tape replayed to a JSON client",
                lambda: post(proxy_port, asked(near, stream=False)),
            ),
            (
                f"{event_mb:g} MB tape (over the limit) asked for by a stream client",
                lambda: post(proxy_port, far),
            ),
        ]
        print(f"idle /health p50 {idle:.2f} ms")
        print(
            "| scenario | status | answer bytes | seconds | longest stall (ms) | peak RSS (MiB) |"
        )
        print("|---|---|---|---|---|---|")
        worst = 0.0
        for name, run in scenarios:
            poller.window()
            started = time.perf_counter()
            status, length = run()
            seconds = time.perf_counter() - started
            time.sleep(0.2)
            stall = max(poller.window()) - idle
            worst = max(worst, stall)
            print(
                f"| {name} | {status} | {length} | {seconds:.2f} | {stall:.1f} | "
                f"{hwm_mib(proxy.pid):.0f} |"
            )
        poller.stop()
        verdict = "pass" if worst <= TARGET_MS else "FAIL"
        print(f"\nlongest stall {worst:.1f} ms, target ≤ {TARGET_MS:.0f} ms: {verdict}")
        if worst > TARGET_MS:
            sys.exit(1)
    finally:
        for child in children:
            child.terminate()
            child.wait(10)


if __name__ == "__main__":
    main()
