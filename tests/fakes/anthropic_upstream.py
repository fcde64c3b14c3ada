"""A fake Anthropic Messages API that speaks the real wire format, for tests.

``POST /v1/messages`` answers a ``message`` JSON, or with ``"stream": true`` the named SSE
events Anthropic sends: ``message_start`` (usage so far, output_tokens 1), the first
``content_block_start``, ``ping``, then per block its deltas (an optional thinking block with
``thinking_delta`` pieces and a ``signature_delta``; text as ``text_delta`` pieces; tool_use
input as ``input_json_delta`` pieces, the first one empty), ``content_block_stop``,
``message_delta`` (stop reason and cumulative usage) and ``message_stop``. Both shapes of one
Reply describe the same message. Like the real API it refuses a request without an
``anthropic-version`` header (400) or without an API key (401), and errors are
``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import Scripted
from tests.fakes.untidy import Untidy, finish, send, start

MODEL = "claude-haiku-4-5"


@dataclass
class Reply:
    """How the fake answers one request."""

    text: str | None = "Hello from the fake Claude!"
    tool_uses: list[tuple[str, str]] = field(default_factory=list)  # (name, input JSON text)
    thinking: str | None = None
    piece: int = 4
    delay: float = 0.0
    status: int = 200
    error_type: str = "api_error"
    error_message: str = "Internal server error"
    error_after: int | None = None  # send an `error` event after this many events, then end
    drop_after: int | None = None  # cut the connection after this many events
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    untidy: Untidy = field(default_factory=Untidy)  # how the stream goes on the wire
    hold_after_first: threading.Event | None = None
    hold_at: int = 0  # the event after which ``hold_after_first`` parks the stream


@dataclass
class Received:
    """A request as the fake saw it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeAnthropic(Scripted[Reply]):
    """The fake Anthropic API on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self) -> None:
        super().__init__(Reply())
        self.received: list[Received] = []
        self.sent_events = 0
        self.start("fake-anthropic")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.received.append(
            Received(
                request.method,
                request.path,
                {name.lower(): value for name, value in request.headers.items()},
                raw,
            )
        )
        if "anthropic-version" not in request.headers:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if "x-api-key" not in request.headers and "authorization" not in request.headers:
            return _error(401, "authentication_error", "x-api-key header is required")
        reply = self.next_reply()
        if reply.status >= 400:
            return _error(reply.status, reply.error_type, reply.error_message, reply.headers)
        body = json.loads(raw)
        answer = Answer(body, reply)
        if not body.get("stream"):
            return web.json_response(answer.message(), headers=reply.headers)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                **reply.headers,
            }
        )
        await response.prepare(request)
        untidy = reply.untidy
        await start(response, untidy)
        events = answer.events()
        for number, event in enumerate(events):
            if number > 0 and reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.error_after is not None and number == reply.error_after:
                error = {
                    "type": "error",
                    "error": {"type": reply.error_type, "message": reply.error_message},
                }
                await send(response, _sse("error", error), untidy, tail=True)
                break
            if reply.drop_after is not None and number == reply.drop_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            await send(response, event, untidy, tail=number >= len(events) - 2)
            self.sent_events += 1
            if number == reply.hold_at and reply.hold_after_first is not None:
                released = await asyncio.get_running_loop().run_in_executor(
                    None, reply.hold_after_first.wait, 10
                )
                assert released, "the test never released the rest of the stream"
        await finish(response, untidy)
        return response


class Answer:
    """One message in both shapes the real API gives it."""

    def __init__(self, request: dict[str, Any], reply: Reply) -> None:
        self.reply = reply
        self.id = reply.message_id or f"msg_fake{time.monotonic_ns()}"
        self.model = str(request.get("model", MODEL))
        prompt = json.dumps(request.get("messages", []))
        self.input_tokens = len(prompt) // 4
        self.output_tokens = (
            len(reply.text or "") // 4 + len(reply.thinking or "") // 4 + 20 * len(reply.tool_uses)
        )
        self.stop_reason = "tool_use" if reply.tool_uses else "end_turn"

    def usage(self, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 12,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def blocks(self) -> list[dict[str, Any]]:
        reply = self.reply
        blocks: list[dict[str, Any]] = []
        if reply.thinking is not None:
            blocks.append(
                {"type": "thinking", "thinking": reply.thinking, "signature": "EqQBCgIYAhIM1gbc"}
            )
        if reply.text is not None:
            blocks.append({"type": "text", "text": reply.text})
        for number, (name, arguments) in enumerate(reply.tool_uses):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_fake{number}_{name}",
                    "name": name,
                    "input": json.loads(arguments) if arguments else {},
                }
            )
        return blocks

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks(),
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(self.output_tokens),
        }

    def events(self) -> list[str]:
        start = {**self.message(), "content": [], "stop_reason": None, "usage": self.usage(1)}
        out = [_sse("message_start", {"type": "message_start", "message": start})]
        piece = self.reply.piece
        tool_inputs = iter(arguments for _, arguments in self.reply.tool_uses)
        for index, block in enumerate(self.blocks()):
            kind = block["type"]
            opening: dict[str, Any]
            deltas: list[dict[str, Any]] = []
            if kind == "thinking":
                opening = {"type": "thinking", "thinking": "", "signature": ""}
                text = block["thinking"]
                deltas = [
                    {"type": "thinking_delta", "thinking": text[i : i + piece]}
                    for i in range(0, len(text), piece)
                ]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif kind == "text":
                opening = {"type": "text", "text": ""}
                text = block["text"]
                deltas = [
                    {"type": "text_delta", "text": text[i : i + piece]}
                    for i in range(0, len(text), piece)
                ]
            else:
                opening = {**block, "input": {}}
                arguments = next(tool_inputs)
                # Anthropic opens a tool's input with an empty piece.
                deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                    {"type": "input_json_delta", "partial_json": arguments[i : i + piece]}
                    for i in range(0, len(arguments), piece)
                ]
            out.append(
                _sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opening},
                )
            )
            if index == 0:
                out.append(_sse("ping", {"type": "ping"}))
            out.extend(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                for delta in deltas
            )
            out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        final_usage = {
            key: value
            for key, value in self.usage(self.output_tokens).items()
            if key not in ("cache_creation", "service_tier")
        }
        out.append(
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": final_usage,
                },
            )
        )
        out.append(_sse("message_stop", {"type": "message_stop"}))
        return out


def _sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _error(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return web.json_response(
        body, status=status, headers={"request-id": "req_fake", **(headers or {})}
    )
