"""A fake Ollama native API that answers as ``ollama serve`` does, for tests.

``POST /api/chat`` and ``POST /api/generate`` stream NDJSON (``application/x-ndjson``) unless the
body says ``"stream": false``: one compact JSON object a line, Go's field order and escapes
(``<``, ``>``, ``&`` as ``\\u003c`` …), ``created_at`` in RFC 3339 with nanoseconds. Thinking
lines come first when the request asks to ``think``, then content lines, then one line with the
tool calls (``id``, ``function.index``, ``name``, ``arguments`` as an object), then the last line,
``done: true`` with ``done_reason``, the counts and the durations (and ``context`` for generate).
``"stream": false`` answers the same lines joined into one ``application/json`` object, as the
server assembles it. ``POST /api/embed``, the legacy ``POST /api/embeddings``, ``GET /api/tags``,
``POST /api/show``, ``GET /api/ps`` and ``GET /api/version`` are there for pass-through. Errors
are ``{"error": "..."}`` (``model 'x' not found`` with 404); one after the stream started is one
more line. Lines go out several to a write and cut at random bytes, so a read may end inside a
line or hold two.

Formats copied from ollama/ollama ``docs/api.md``, ``docs/api/errors.mdx``, ``api/types.go``
and ``server/routes.go`` (MIT); what the client accepts from ollama/ollama-python
``ollama/_client.py`` (MIT).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import Received, Scripted
from tests.fakes.untidy import Untidy, send

MODEL = "llama3.2"
VERSION = "0.32.15"
_DETAILS = {
    "llama3.2:latest": ("llama", "3.2B", 2019393189),
    "qwen3:latest": ("qwen3", "8.2B", 5225388164),
    "all-minilm:latest": ("bert", "23M", 45960996),
}
_CAPABILITIES = {
    "llama3.2:latest": ["completion", "tools"],
    "qwen3:latest": ["completion", "tools", "thinking"],
    "all-minilm:latest": ["embedding"],
}


@dataclass
class Reply:
    """How the fake answers one chat or generate request."""

    content: str | None = "Hello from the fake Ollama!"
    thinking: str | None = None  # sent when the request asks to think
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    done_reason: str = "stop"
    piece: int = 3  # characters per line; Ollama sends about a token a line
    lines_per_write: int = 2  # lines joined before the write is cut by ``untidy``
    delay: float = 0.0  # between writes
    first_delay: float = 0.0  # before the first line (or the JSON answer)
    status: int = 200
    error: str = "an error was encountered while running the model"
    error_after: int | None = None  # an ``{"error"}`` line after this many lines, then the end
    drop_after: int | None = None  # cut the connection after this many lines
    headers: dict[str, str] = field(default_factory=dict)
    # How the writes are cut and timed; NDJSON has no comments and Ollama ends lines with LF,
    # so ``comments`` and ``crlf`` are not used.
    untidy: Untidy = field(default_factory=Untidy)
    hold_after_first: threading.Event | None = None
    hold_at: int = 0  # the line after which ``hold_after_first`` parks the stream


class FakeOllama(Scripted[Reply]):
    """The fake Ollama server on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self) -> None:
        super().__init__(Reply())
        self.received: list[Received] = []
        self.sent_lines = 0
        self.start("fake-ollama", client_max_size=64 * 1024**2)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._generation)
        app.router.add_post("/api/generate", self._generation)
        app.router.add_post("/api/embed", self._embed)
        app.router.add_post("/api/embeddings", self._embeddings)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_get("/api/version", self._version)
        app.router.add_route("*", "/{tail:.*}", self._other)

    async def _record(self, request: web.Request) -> bytes:
        raw = await request.read()
        self.received.append(
            Received(
                request.method,
                request.path,
                request.query_string,
                {name.lower(): value for name, value in request.headers.items()},
                raw,
            )
        )
        return raw

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON with a known model, or the error Ollama answers instead."""
        raw = await self._record(request)
        if not raw:
            return _error(400, "missing request body")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid character looking for beginning of value")
        name = body.get("model") or body.get("name")
        if not name:
            return _error(400, "model is required")
        if _known(name) is None:
            return _error(404, f"model '{name}' not found")
        return dict(body)

    async def _generation(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        reply = self.next_reply()
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        if reply.status >= 400:
            return _error(reply.status, reply.error, reply.headers)
        answer = Answer(body, reply, chat=request.path == "/api/chat")
        if body.get("stream") is False:
            return _json(answer.joined(), headers=reply.headers)
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", **reply.headers}
        )
        await response.prepare(request)
        untidy = dataclasses.replace(reply.untidy, comments=False, crlf=False)
        lines = [_go_json(line) + "\n" for line in answer.lines()]
        if reply.error_after is not None:
            lines = [*lines[: reply.error_after], _go_json({"error": reply.error}) + "\n"]
        stop = len(lines) if reply.drop_after is None else min(reply.drop_after, len(lines))
        per = max(1, reply.lines_per_write)
        for start in range(0, stop, per):
            if start and reply.delay:
                await asyncio.sleep(reply.delay)
            group = lines[start : min(start + per, stop)]
            await send(response, "".join(group), untidy, tail=start + per >= stop)
            self.sent_lines += len(group)
            if reply.hold_after_first is not None and start <= reply.hold_at < start + per:
                released = await asyncio.get_running_loop().run_in_executor(
                    None, reply.hold_after_first.wait, 10
                )
                assert released, "the test never released the rest of the stream"
        if reply.drop_after is not None:
            assert request.transport is not None
            request.transport.abort()
            return response
        if untidy.tail_gap:
            await asyncio.sleep(untidy.tail_gap)
        await response.write_eof()
        return response

    async def _embed(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        inputs = body.get("input", [])
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        return _json(
            {
                "model": body["model"],
                "embeddings": [_vector(text) for text in texts],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(_tokens(text) for text in texts),
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return _json({"embedding": _vector(str(body.get("prompt", "")))})

    async def _tags(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _json(
            {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
                        "size": size,
                        "digest": _digest(name),
                        "details": _details(name),
                    }
                    for name, (_, _, size) in _DETAILS.items()
                ]
            }
        )

    async def _show(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        name = _known(str(body.get("model") or body.get("name")))
        assert name is not None
        family = _DETAILS[name][0]
        return _json(
            {
                "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {name}\n',
                "parameters": 'stop                           "<|eot_id|>"',
                "template": "{{ if .System }}<|start_header_id|>system<|end_header_id|>",
                "details": _details(name),
                "model_info": {
                    "general.architecture": family,
                    "general.parameter_count": 3212749888,
                    f"{family}.context_length": 131072,
                },
                "capabilities": _CAPABILITIES[name],
                "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            }
        )

    async def _ps(self, request: web.Request) -> web.Response:
        await self._record(request)
        name = "llama3.2:latest"
        return _json(
            {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "size": 3298019328,
                        "digest": _digest(name),
                        "details": _details(name),
                        "expires_at": "2025-06-04T14:38:31.83753-07:00",
                        "size_vram": 3298019328,
                        "context_length": 4096,
                    }
                ]
            }
        )

    async def _version(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _json({"version": VERSION})

    async def _other(self, request: web.Request) -> web.Response:
        await self._record(request)
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return web.Response(text="Ollama is running", content_type="text/plain")
        # gin's answer to a path (or method) it has no route for
        return web.Response(status=404, text="404 page not found", content_type="text/plain")


class Answer:
    """One answer in both shapes the server gives it: NDJSON lines, or them joined."""

    def __init__(self, request: dict[str, Any], reply: Reply, *, chat: bool) -> None:
        self.reply = reply
        self.chat = chat
        self.model = str(request["model"])
        self.think = bool(request.get("think"))
        prompt = request.get("messages") if chat else request.get("prompt")
        self.prompt_tokens = _tokens(json.dumps(prompt))
        self.rng = random.Random(self.prompt_tokens)

    def _line(
        self, content: str, *, thinking: str = "", tool_calls: list[Any] | None = None
    ) -> dict[str, Any]:
        line: dict[str, Any] = {"model": self.model, "created_at": _now()}
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = tool_calls
            line["message"] = message
        else:
            line["response"] = content
            if thinking:
                line["thinking"] = thinking
        line["done"] = False
        if tool_calls and not self.chat:
            line["tool_calls"] = tool_calls
        return line

    def _tool_calls(self) -> list[dict[str, Any]]:
        letters = "abcdefghijklmnopqrstuvwxyz0123456789"
        return [
            {
                "id": "call_" + "".join(self.rng.choice(letters) for _ in range(8)),
                "function": {"index": index, "name": name, "arguments": arguments},
            }
            for index, (name, arguments) in enumerate(self.reply.tool_calls)
        ]

    def _final(self, line: dict[str, Any], eval_count: int) -> dict[str, Any]:
        """``line`` made the last one: done, why, the context (generate), counts, durations."""
        calls = line.pop("tool_calls", None)
        line["done"] = True
        line["done_reason"] = self.reply.done_reason
        if not self.chat:
            line["context"] = [128006, 882, 128007, 271, *range(1000, 1000 + eval_count)]
        load = 41295167
        prompt_eval = 24573166 + 1000 * self.prompt_tokens
        evaluation = 7700000 * eval_count
        line.update(
            {
                "total_duration": load + prompt_eval + evaluation + 3100000,
                "load_duration": load,
                "prompt_eval_count": self.prompt_tokens,
                "prompt_eval_duration": prompt_eval,
                "eval_count": eval_count,
                "eval_duration": evaluation,
            }
        )
        if calls:
            line["tool_calls"] = calls  # after the metrics in Go's GenerateResponse
        return line

    def lines(self) -> list[dict[str, Any]]:
        reply = self.reply
        piece = reply.piece
        out: list[dict[str, Any]] = []
        thinking = (reply.thinking or "") if self.think else ""
        content = reply.content or ""
        out.extend(
            self._line("", thinking=thinking[start : start + piece])
            for start in range(0, len(thinking), piece)
        )
        out.extend(
            self._line(content[start : start + piece]) for start in range(0, len(content), piece)
        )
        if reply.tool_calls:
            out.append(self._line("", tool_calls=self._tool_calls()))
        out.append(self._final(self._line(""), len(out) + 1))
        return out

    def joined(self) -> dict[str, Any]:
        """The lines as the server joins them for ``"stream": false``: the last line's fields
        with the content and the thinking joined and the tool calls gathered."""
        lines = self.lines()
        parts = [line["message"] for line in lines] if self.chat else lines
        content = "".join(part["content" if self.chat else "response"] for part in parts)
        thinking = "".join(part.get("thinking", "") for part in parts)
        calls = [call for part in parts for call in part.get("tool_calls", [])]
        eval_count = lines[-1]["eval_count"]
        return self._final(
            self._line(content, thinking=thinking, tool_calls=calls or None), eval_count
        )


def _go_json(data: Any) -> str:
    """JSON as Go's encoding/json writes it: compact, with HTML and line separators escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=_go_json(data).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": message}, status=status, headers=headers)


def _known(name: str) -> str | None:
    full = name if ":" in name else f"{name}:latest"
    return full if full in _DETAILS else None


def _details(name: str) -> dict[str, Any]:
    family, size, _ = _DETAILS[name]
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": size,
        "quantization_level": "Q4_K_M",
    }


def _digest(name: str) -> str:
    return (name.encode().hex() * 8)[:64]


def _now() -> str:
    """The time as Go's RFC 3339 with nanoseconds: trailing zeros of the fraction dropped."""
    nanos = time.time_ns()
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _vector(text: str) -> list[float]:
    seed = sum(text.encode()) or 1
    return [round(((seed * (index + 3)) % 2000 - 1000) / 1000 * 0.13, 9) for index in range(8)]
