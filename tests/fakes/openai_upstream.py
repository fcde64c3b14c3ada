"""A fake OpenAI API that speaks the real wire format, for tests and benchmarks.

It stands in for the outside world: chat completions as ``chat.completion`` JSON or as
``chat.completion.chunk`` SSE events ending in ``data: [DONE]`` (role chunk, content deltas,
tool-call deltas with arguments split across chunks, finish chunk, optional usage chunk); the
Responses API as ``response`` JSON or typed ``event:`` events (created, in_progress, items added,
text and argument deltas in pieces, items done, ``response.completed`` with the usage); plus
``GET /v1/models`` and an echo endpoint. Each request takes the next queued Reply, or the default.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import Received, Scripted
from tests.fakes.untidy import Untidy, finish, send, start


@dataclass
class Reply:
    """How the fake answers one chat completion request."""

    content: str | None = "Hello from the fake upstream!"
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    text_before_tools: bool = False  # stream ``content`` first, then the tool calls
    piece: int = 4
    delay: float = 0.0
    first_delay: float = 0.0
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    end_without_done: bool = False
    hold_after_first: threading.Event | None = None
    hold_at: int = 0  # the event after which ``hold_after_first`` parks the stream
    hang: bool = False
    reasoning: str | None = None  # Responses: a reasoning item with this summary comes first
    incomplete: bool = False  # Responses: cut by max_output_tokens (``response.incomplete``)
    untidy: Untidy = field(default_factory=Untidy)  # how the stream goes on the wire
    # A stream that reports an error after this many events (``error_body`` or a server
    # error), then sends [DONE], as gateways do inside a 200 stream.
    error_after: int | None = None
    body: dict[str, Any] | None = None  # a 200 JSON body sent instead of the answer
    trailing: tuple[str, ...] = ()  # raw events sent after the last one (e.g. a [DONE])


class FakeUpstream(Scripted[Reply]):
    """The fake OpenAI API on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self) -> None:
        super().__init__(Reply())
        self.received: list[Received] = []
        self.sent_chunks = 0
        self.streamed: list[bytes] = []  # every stream's bytes, as written
        self.cancelled = threading.Event()
        self.start("fake-upstream", client_max_size=64 * 1024**2)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/v1/chat/completions", self._chat)
        # An upstream whose base URL has a path of its own (Gemini's OpenAI-compatible API).
        app.router.add_post("/v1beta/openai/chat/completions", self._chat)
        # Azure OpenAI serves the same formats under deployment paths (and an api-version query).
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/responses", self._responses)
        # Azure's Responses API: its v1 path, or /openai/responses with an api-version query.
        app.router.add_post("/openai/v1/responses", self._responses)
        app.router.add_post("/openai/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/v1/echo/{tail:.*}", self._echo)

    async def _remember(self, request: web.Request) -> bytes:
        body = await request.read()
        self.received.append(
            Received(
                request.method,
                request.path,
                request.raw_path.partition("?")[2],
                dict(request.headers),
                body,
            )
        )
        return body

    async def _models(self, request: web.Request) -> web.Response:
        await self._remember(request)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": "gpt-4o-mini",
                        "object": "model",
                        "created": 1721172741,
                        "owned_by": "system",
                    }
                ],
            }
        )

    async def _echo(self, request: web.Request) -> web.Response:
        body = await self._remember(request)
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "body": body.decode("utf-8", "replace"),
            },
            headers={"x-echo": "yes"},
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = json.loads(await self._remember(request))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            # A few deterministic floats per input, with values float32 cannot hold exactly
            # in decimal, so any re-encoding would show.
            vector = [((len(str(text)) * 7 + n * 13) % 97) / 97 - 0.5 for n in range(8)]
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(str(text)) // 4 + 1 for text in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "text-embedding-3-small"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        """Legacy completions: ``text_completion`` JSON, or its chunks and ``[DONE]``."""
        body = json.loads(await self._remember(request))
        reply = self.next_reply()
        text = reply.content or ""
        base = {
            "id": f"cmpl-fake{time.monotonic_ns()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-3.5-turbo-instruct"),
            "system_fingerprint": None,
        }
        usage = {
            "prompt_tokens": len(str(body.get("prompt", ""))) // 4 + 1,
            "completion_tokens": len(text) // 4 + 1,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
            return web.json_response({**base, "choices": [choice], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [text[i : i + reply.piece] for i in range(0, len(text), reply.piece)] or [""]
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            choice = {
                "text": piece,
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop" if last else None,
            }
            await response.write(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**base, "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await self._remember(request)
        if request.method != "POST":
            message = f"Method {request.method} not allowed; use POST."
            return web.json_response(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "code": None,
                        "param": None,
                    }
                },
                status=405,
            )
        reply = self.next_reply()
        body = json.loads(raw)
        failed = await self._hang_or_fail(reply)
        if failed is not None:
            return failed
        answer = _Answer(body, reply)
        if not body.get("stream"):
            return await self._whole(reply, answer.completion())
        events = answer.events()
        if reply.end_without_done:
            events = [event for event in events if not event.startswith("data: [DONE]")]
        if reply.error_after is not None:
            error = reply.error_body or {
                "error": {"message": "fake failure mid-stream", "type": "server_error"}
            }
            events = [*events[: reply.error_after], f"data: {json.dumps(error)}\n\n"]
            events.append("data: [DONE]\n\n")
        return await self._stream(request, reply, [*events, *reply.trailing])

    async def _hang_or_fail(self, reply: Reply) -> web.Response | None:
        """Wait until cancelled, or answer with the reply's error status; None otherwise."""
        if reply.hang:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if reply.status < 400:
            return None
        error = reply.error_body or {
            "error": {
                "message": "fake failure",
                "type": "server_error",
                "code": None,
                "param": None,
            }
        }
        return web.json_response(error, status=reply.status, headers=reply.headers)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API: a ``response`` JSON, or its typed events."""
        raw = await self._remember(request)
        reply = self.next_reply()
        body = json.loads(raw)
        failed = await self._hang_or_fail(reply)
        if failed is not None:
            return failed
        answer = _ResponsesAnswer(body, reply)
        if not body.get("stream"):
            return await self._whole(reply, answer.response())
        events = answer.events()
        if reply.end_without_done:
            events = events[:-1]  # no response.completed
        return await self._stream(request, reply, [*events, *reply.trailing])

    async def _whole(self, reply: Reply, answer: dict[str, Any]) -> web.Response:
        """A JSON answer: ``reply.body`` if it gives one, after ``reply.first_delay``."""
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        return web.json_response(reply.body or answer, headers=reply.headers)

    async def _stream(
        self, request: web.Request, reply: Reply, events: list[str]
    ) -> web.StreamResponse:
        """Send ``events`` as real servers do (see ``untidy``), with the reply's delays, drop
        and hold."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                **reply.headers,
            }
        )
        await response.prepare(request)
        untidy = reply.untidy
        slot = len(self.streamed)
        self.streamed.append(b"")
        write = response.write

        async def keep(data: bytes | bytearray | memoryview) -> None:
            self.streamed[slot] += bytes(data)
            await write(data)

        response.write = keep  # type: ignore[method-assign]
        try:
            await start(response, untidy)
            for number, event in enumerate(events):
                if number == 0 and reply.first_delay:
                    await asyncio.sleep(reply.first_delay)
                elif number > 0 and reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.drop_after is not None and number == reply.drop_after:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                await send(response, event, untidy, tail=number >= len(events) - 2)
                self.sent_chunks += 1
                if number == reply.hold_at and reply.hold_after_first is not None:
                    released = await asyncio.get_running_loop().run_in_executor(
                        None, reply.hold_after_first.wait, 10
                    )
                    assert released, "the test never released the second chunk"
            await finish(response, untidy)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        except ConnectionResetError:
            self.cancelled.set()  # the proxy hung up: its client left
        return response


class _Answer:
    """One answer in both shapes the real API gives it."""

    def __init__(self, request: dict[str, Any], reply: Reply) -> None:
        self.request = request
        self.reply = reply
        self.id = f"chatcmpl-fake{time.monotonic_ns()}"
        self.created = int(time.time())
        self.model = str(request.get("model", "gpt-4o-mini"))
        prompt = json.dumps(request.get("messages", []))
        prompt_tokens = len(prompt) // 4
        completion_tokens = len(reply.content or "") // 4 + 5 * len(reply.tool_calls)
        self.usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
            "total_tokens": prompt_tokens + completion_tokens,
        }
        self.finish_reason = "tool_calls" if reply.tool_calls else "stop"

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": (
                self.reply.content
                if not self.reply.tool_calls or self.reply.text_before_tools
                else None
            ),
            "refusal": None,
            "annotations": [],
        }
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}_{name}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for i, (name, arguments) in enumerate(self.reply.tool_calls)
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def events(self) -> list[str]:
        include_usage = bool((self.request.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if include_usage:
            base["usage"] = None

        def event(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return (
                "data: " + json.dumps({**base, "choices": [choice]}, separators=(",", ":")) + "\n\n"
            )

        piece = self.reply.piece
        out: list[str] = []
        before = self.reply.text_before_tools and self.reply.tool_calls
        if before:
            out.append(event({"role": "assistant", "content": "", "refusal": None}))
            text = self.reply.content or ""
            for start in range(0, len(text), piece):
                out.append(event({"content": text[start : start + piece]}))
        if self.reply.tool_calls:
            for i, (name, arguments) in enumerate(self.reply.tool_calls):
                head = {
                    "index": i,
                    "id": f"call_{i}_{name}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                delta: dict[str, Any] = {"tool_calls": [head]}
                if i == 0 and not before:
                    delta = {"role": "assistant", "content": None, **delta, "refusal": None}
                out.append(event(delta))
                for start in range(0, len(arguments), piece):
                    out.append(
                        event(
                            {
                                "tool_calls": [
                                    {
                                        "index": i,
                                        "function": {"arguments": arguments[start : start + piece]},
                                    }
                                ]
                            }
                        )
                    )
        else:
            out.append(event({"role": "assistant", "content": "", "refusal": None}))
            text = self.reply.content or ""
            for start in range(0, len(text), piece):
                out.append(event({"content": text[start : start + piece]}))
        out.append(event({}, self.finish_reason))
        if include_usage:
            out.append(
                "data: "
                + json.dumps({**base, "choices": [], "usage": self.usage}, separators=(",", ":"))
                + "\n\n"
            )
        out.append("data: [DONE]\n\n")
        return out


class _ResponsesAnswer:
    """One Responses API answer in both shapes the real API gives it."""

    def __init__(self, request: dict[str, Any], reply: Reply) -> None:
        self.request = request
        self.reply = reply
        stamp = time.monotonic_ns()
        self.id = f"resp_fake{stamp}"
        self.created_at = int(time.time())
        self.model = str(request.get("model", "gpt-4o-mini"))
        items: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            items.append(
                {
                    "id": f"rs_fake{stamp}",
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": reply.reasoning}],
                }
            )
        if reply.content is not None and (not reply.tool_calls or reply.text_before_tools):
            items.append(
                {
                    "id": f"msg_fake{stamp}",
                    "type": "message",
                    "status": "incomplete" if reply.incomplete else "completed",
                    "content": [
                        {
                            "type": "output_text",
                            "annotations": [],
                            "logprobs": [],
                            "text": reply.content,
                        }
                    ],
                    "role": "assistant",
                }
            )
        for i, (name, arguments) in enumerate(reply.tool_calls):
            items.append(
                {
                    "id": f"fc_fake{stamp}_{i}",
                    "type": "function_call",
                    "status": "completed",
                    "arguments": arguments,
                    "call_id": f"call_{i}_{name}",
                    "name": name,
                }
            )
        self.items = items
        output_tokens = len(reply.content or "") // 4 + 5 * len(reply.tool_calls)
        reasoning_tokens = len(reply.reasoning or "") // 4
        input_tokens = len(json.dumps(request.get("input", ""))) // 4
        self.usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens + reasoning_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens + reasoning_tokens,
        }

    def response(self, *, final: bool = True) -> dict[str, Any]:
        """The response object; ``final=False`` is how response.created shows it."""
        request = self.request
        status = (
            ("incomplete" if self.reply.incomplete else "completed") if final else "in_progress"
        )
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": self.created_at + 1 if final else None,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if final and self.reply.incomplete else None
            ),
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.model,
            "output": self.items if final else [],
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "prompt_cache_key": None,
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": None,
            "service_tier": "default",
            "store": request.get("store", True),
            "temperature": request.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools", []),
            "top_logprobs": 0,
            "top_p": request.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage if final else None,
            "user": None,
            "metadata": request.get("metadata") or {},
        }

    def events(self) -> list[str]:
        piece = self.reply.piece
        obfuscate = (self.request.get("stream_options") or {}).get("include_obfuscation", True)
        out: list[str] = []

        def event(type_: str, **fields: Any) -> None:
            data = {"type": type_, "sequence_number": len(out), **fields}
            out.append(f"event: {type_}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n")

        def pieces(text: str) -> list[str]:
            return [text[start : start + piece] for start in range(0, len(text), piece)]

        def padded(fields: dict[str, Any]) -> dict[str, Any]:
            # OpenAI pads deltas with random characters so their sizes say nothing.
            return {**fields, "obfuscation": "x" * (len(out) % 7 + 1)} if obfuscate else fields

        event("response.created", response=self.response(final=False))
        event("response.in_progress", response=self.response(final=False))
        for index, item in enumerate(self.items):
            where = {"item_id": item["id"], "output_index": index}
            if item["type"] == "reasoning":
                event(
                    "response.output_item.added", output_index=index, item={**item, "summary": []}
                )
                text = item["summary"][0]["text"]
                at = {**where, "summary_index": 0}
                event(
                    "response.reasoning_summary_part.added",
                    **at,
                    part={"type": "summary_text", "text": ""},
                )
                for part in pieces(text):
                    event("response.reasoning_summary_text.delta", **padded({**at, "delta": part}))
                event("response.reasoning_summary_text.done", **at, text=text)
                event(
                    "response.reasoning_summary_part.done",
                    **at,
                    part={"type": "summary_text", "text": text},
                )
            elif item["type"] == "message":
                added = {**item, "status": "in_progress", "content": []}
                event("response.output_item.added", output_index=index, item=added)
                at = {**where, "content_index": 0}
                text = item["content"][0]["text"]
                empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
                event("response.content_part.added", **at, part=empty)
                for part in pieces(text):
                    event(
                        "response.output_text.delta",
                        **padded({**at, "delta": part, "logprobs": []}),
                    )
                event("response.output_text.done", **at, text=text, logprobs=[])
                event("response.content_part.done", **at, part=item["content"][0])
            else:
                added = {**item, "status": "in_progress", "arguments": ""}
                event("response.output_item.added", output_index=index, item=added)
                for part in pieces(item["arguments"]):
                    event(
                        "response.function_call_arguments.delta", **padded({**where, "delta": part})
                    )
                event("response.function_call_arguments.done", **where, arguments=item["arguments"])
            event("response.output_item.done", output_index=index, item=item)
        final = self.response()
        event(
            "response.incomplete" if self.reply.incomplete else "response.completed",
            response=final,
        )
        return out
