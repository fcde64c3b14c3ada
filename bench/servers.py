"""The two stand-in servers of the benchmark, each run as its own process by bench/run.py.

``upstream``: a lean fake OpenAI chat-completions API. The events of an answer are built once
and cached, so the fake spends as little CPU as possible (the three processes of a run share two
cores). Per request, headers choose the shape of the answer:

    x-bench-chunks     number of SSE events, [DONE] included (default 50; 100,000 and more
                       are fine: each content delta carries 4 characters of text)
    x-bench-delay-ms   pause between two events (default 0: written back to back)
    x-bench-first-ms   pause before the first event (default 0)
    x-bench-stamp      1: an SSE comment ``: sent <first> <last>`` (time.monotonic_ns() when
                       the first and the last event were written) comes just before [DONE]
    x-bench-lean       1: events with only id, object, created, model and choices (~130
                       bytes, ~250 otherwise), so 100,000 of them fit under playingpack's 16
                       MiB limit on a recorded answer

``relay``: the least a pass-through proxy on our stack can do (the reference for section (a)):
aiohttp.web on uvloop, one shared aiohttp ClientSession (limit 1000, read timeout), the request
forwarded with its headers, the answer streamed back with ``iter_any()``; no parsing, no
logging, no recording.

``ceiling``: the least our server stack can do for a replay: aiohttp.web on uvloop, access log
off, read the request, look its bytes up in a dict, and send stored bytes from memory with the
same headers and the same calls (``prepare`` + one ``write`` + ``write_eof`` for a stream) as the
proxy does. Its throughput is the ceiling the proxy's replay is compared with.

Usage: python bench/servers.py upstream --port P
       python bench/servers.py relay --port P --upstream URL
       python bench/servers.py ceiling --port P --answer REQUEST_FILE RESPONSE_FILE KIND ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
_WORDS = (
    "The quick brown fox jumps over the lazy dog while the proxy records every token "
    "so that tomorrow's test run replays exactly the same answer, byte for byte. "
) * 8


async def _health(request: web.Request) -> web.Response:
    return web.Response(text='{"status":"ok"}', content_type="application/json")


def _app(chat: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """An app answering chat completions with ``chat`` and GET /health with a fixed 200."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", _health)
    return app


def _chunk(
    base: dict[str, object], delta: dict[str, object], finish: str | None = None, lean: bool = False
) -> bytes:
    choice: dict[str, object] = (
        {"index": 0, "delta": delta, "finish_reason": finish}
        if lean
        else {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    )
    return (
        b"data: "
        + json.dumps({**base, "choices": [choice]}, separators=(",", ":")).encode()
        + b"\n\n"
    )


class _Answers:
    """Chat answers, built once per (model, number of events, lean)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, int, bool], list[bytes]] = {}
        self._json: dict[tuple[str, int], bytes] = {}

    def _base(self, model: str, lean: bool = False) -> dict[str, object]:
        if lean:
            return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model}
        return {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion.chunk",
            "created": 1721172741,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
        }

    def _text(self, count: int) -> list[str]:
        pieces = max(count - 3, 0)  # role chunk, finish chunk and [DONE] are the other three
        # 4 characters each, the words taken round and round: a 100,000-event stream's deltas
        # all carry text, like a long answer.
        size = len(_WORDS) - len(_WORDS) % 4
        return [_WORDS[i * 4 % size : i * 4 % size + 4] for i in range(pieces)]

    def events(self, model: str, count: int, lean: bool = False) -> list[bytes]:
        known = self._events.get((model, count, lean))
        if known is None:
            base = self._base(model, lean)
            role: dict[str, object] = {"role": "assistant", "content": ""}
            if not lean:
                role["refusal"] = None
            known = [_chunk(base, role, lean=lean)]
            known += [_chunk(base, {"content": piece}, lean=lean) for piece in self._text(count)]
            known.append(_chunk(base, {}, "stop", lean))
            known.append(b"data: [DONE]\n\n")
            self._events[(model, count, lean)] = known
        return known

    def completion(self, model: str, count: int) -> bytes:
        known = self._json.get((model, count))
        if known is None:
            text = "".join(self._text(count))
            answer = {
                "id": "chatcmpl-bench0001",
                "object": "chat.completion",
                "created": 1721172741,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": text,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": len(text) // 4,
                    "total_tokens": 12 + len(text) // 4,
                },
                "service_tier": "default",
                "system_fingerprint": "fp_bench",
            }
            known = self._json[(model, count)] = json.dumps(answer).encode()
        return known


def upstream_app() -> web.Application:
    answers = _Answers()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        model = str(body.get("model", "gpt-4o-mini"))
        headers = request.headers
        count = int(headers.get("x-bench-chunks", "50"))
        delay = int(headers.get("x-bench-delay-ms", "0")) / 1000
        first = int(headers.get("x-bench-first-ms", "0")) / 1000
        if not body.get("stream"):
            if first:
                await asyncio.sleep(first)
            return web.Response(
                body=answers.completion(model, count), content_type="application/json"
            )
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        lean = headers.get("x-bench-lean") == "1"
        stamp = headers.get("x-bench-stamp") == "1"
        events = answers.events(model, count, lean)
        began = 0
        for number, event in enumerate(events):
            if number == 0:
                if first:
                    await asyncio.sleep(first)
                began = time.monotonic_ns()
            elif delay:
                await asyncio.sleep(delay)
            if stamp and number == len(events) - 1:
                # When this process sent its first event and its last: CLOCK_MONOTONIC is the
                # machine's, so the client can tell the upstream's own pacing from the path's.
                event = f": sent {began} {time.monotonic_ns()}\n\n".encode() + event
            await response.write(event)
        await response.write_eof()
        return response

    app = _app(chat)
    return app


def ceiling_app(answers: dict[bytes, tuple[bytes, str, str]]) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        known = answers.get(raw)
        if known is None:
            return web.Response(status=404, text="unknown request")
        payload, kind, key = known
        headers = {"X-Playingpack-Source": "tape", "X-Playingpack-Tape": key}
        if kind == "stream":
            response = web.StreamResponse(headers={**_SSE_HEADERS, **headers})
            await response.prepare(request)
            await response.write(payload)
            await response.write_eof()
            return response
        return web.Response(body=payload, content_type="application/json", headers=headers)

    app = _app(chat)
    return app


_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "host",
        "content-encoding",
        "accept-encoding",
    }
)


def relay_app(upstream: str) -> web.Application:
    async def start(app: web.Application) -> None:
        app[SESSION] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def stop(app: web.Application) -> None:
        await app[SESSION].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with request.app[SESSION].post(
            upstream + request.path, data=body, headers=headers
        ) as answer:
            response = web.StreamResponse(
                status=answer.status,
                headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
            )
            await response.prepare(request)
            async for data in answer.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response

    app = _app(forward)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    await web.SockSite(runner, sock).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["upstream", "relay", "ceiling"])
    parser.add_argument("--upstream", help="the upstream base URL (relay)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--answer",
        nargs=4,
        action="append",
        default=[],
        metavar=("REQUEST_FILE", "RESPONSE_FILE", "KIND", "KEY"),
    )
    args = parser.parse_args()
    if args.role == "upstream":
        app = upstream_app()
    elif args.role == "relay":
        app = relay_app(args.upstream.rstrip("/"))
    else:
        app = ceiling_app(
            {
                Path(req).read_bytes(): (Path(resp).read_bytes(), kind, key)
                for req, resp, kind, key in args.answer
            }
        )
    uvloop.run(_serve(app, args.port))


if __name__ == "__main__":
    main()
