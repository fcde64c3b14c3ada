"""A fake Gemini API (Google AI, and Vertex AI's paths) that speaks the real wire format, for tests.

``POST /{v1beta,v1}/models/{model}:generateContent`` answers a ``GenerateContentResponse``
pretty-printed with two-space indents, as Google does. ``:streamGenerateContent?alt=sse`` sends
the same answer as SSE events ``data: {...}\\r\\n\\r\\n``: one line of JSON each (Google's
``", "``-less spacing: ``": "`` after keys, a bare ``,`` between items), no ``event:`` lines, no
comments, no ``[DONE]``; thought pieces, then text pieces, then the function calls, each event
with the usage so far, the last with the ``finishReason`` (by default in an event of its own with
an empty text part, as Gemini 3 ends). Without ``alt=sse`` the events go as a streamed JSON array,
``[{...}\\n,\\r\\n{...}\\n]``, each element pretty-printed. An error after the stream started is
one more event, ``{"error": {"code", "message", "status"}}``. ``:embedContent``,
``:batchEmbedContents``, ``:countTokens``, ``GET models`` (paged) and ``GET models/{model}`` are
there for pass-through. A key comes in ``x-goog-api-key`` or ``?key=`` (Vertex paths take a bearer
token too); none is a 403, ``INVALID_KEY`` a 400, both in Google's error shape.

Formats copied from recorded traffic: pydantic/pydantic-ai
``tests/models/cassettes/test_google/*.yaml`` (MIT) and google-gemini/cookbook
``quickstarts/rest/Streaming_REST.ipynb`` (Apache-2.0); what the SDK accepts from
googleapis/python-genai ``google/genai/_api_client.py`` (Apache-2.0).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import Received, Scripted
from tests.fakes.untidy import Untidy, send

MODEL = "gemini-2.5-flash"
INVALID_KEY = "AIzaSy-pptest-invalid-key"
# A real thoughtSignature, from pydantic/pydantic-ai@111dda9bcd3bb8542d24be815343c17ca133e4e8
# tests/models/cassettes/test_google/test_google_model_retry.yaml (MIT).
SIGNATURE = (
    "Ct8DAXLI2nzyZB3noFDSNOb6UxXhwYEZNwj0eyNt8xD/C3YOxs2KMqvO6uA1ux65clnUkIdRVv2IqT2xF5L1I5E/"
    "N3o7RgM/2GmM/LrTfzYOM7ydWxaBAmgyecJtWmDBz9tTabdIYzktJqMoXWpMZdZuMGp8mwW+uOrzMTrvv+rPvaxu"
    "NX2Rm8Zzk82bnoBfbWCoxV5UfWbUTVuM9H8wEGyD2s2XKUnoUd26GBMLCNOqVrTJK/J2ONjAY9jllPCbAhelziGD"
    "AsuuwEQVdlvmE/H6PvaNBP5GTxfI0y0BG/IYOQUgepHsU65Ok63dXD1cmS0bDM8unjnGD0apctRNOQS93I48j3Mp"
    "LkbTnjoGidBAonI0UpClMxGU8ND7J4lurr/K+7+0hkOT1vyo0d6wJ5+9FRIXaR7/HZFVQVFB5gHZbtimeG+JtC5E"
    "bs1o7BHa4ANRCA7NQyDSYGiL2ejKd5wFb+6LEpvDkxAxysKayMAddAZaQ81S/7J8f5pGRusCI+3rrxJo+QlAMF9e"
    "re+4ZnTEsZErenYjXQhsZjbomw7Ak/DwVOJgb2TcQd+hsYyPQ0kEpAgTJBClXgyTn0e9tWzc3zH+kiwlIud41V/i"
    "AHpleWZF4OQga0WGsjPVCE7VwVA="
)

# Vertex AI puts the model under a project and a location; the rest of the path is the same.
_PATH = re.compile(
    r"^/(?P<version>v1beta1?|v1)/"
    r"(?P<vertex>projects/[^/]+/locations/[^/]+/publishers/google/)?"
    r"models(?:/(?P<model>[^/:]+)(?::(?P<method>[A-Za-z]+))?)?$"
)
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGE = {
    429: "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_SAFETY = [
    {"category": category, "probability": "NEGLIGIBLE"}
    for category in (
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    )
]
MODELS = [
    {
        "name": f"models/{name}",
        "version": "001",
        "displayName": display,
        "description": f"Stable version of {display}.",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    }
    for name, display in (
        ("gemini-2.5-flash", "Gemini 2.5 Flash"),
        ("gemini-2.5-pro", "Gemini 2.5 Pro"),
        ("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
    )
] + [
    {
        "name": "models/gemini-embedding-001",
        "version": "001",
        "displayName": "Gemini Embedding 001",
        "description": "Obtain a distributed representation of a text.",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens"],
    }
]


@dataclass
class Reply:
    """How the fake answers one request."""

    text: str | None = "Hello from the fake Gemini!"
    thoughts: str | None = None  # sent as ``thought`` parts when the request includes thoughts
    signature: str | None = None  # on the first function call, or else on the last text piece
    function_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish_reason: str = "STOP"
    piece: int = 12  # characters of text per event
    separate_finish: bool = True  # the finishReason in an event of its own (an empty text part)
    safety: bool = False  # safetyRatings on the candidate, as older models send
    citation_metadata: dict[str, Any] | None = None
    grounding_metadata: dict[str, Any] | None = None
    delay: float = 0.0
    first_delay: float = 0.0  # before the first event (or the JSON answer)
    status: int = 200
    error_message: str | None = None  # for ``status`` and ``error_after``
    error_after: int | None = None  # an error event after this many events, then the end
    error_code: int = 500  # of that error event
    drop_after: int | None = None  # cut the connection after this many events
    headers: dict[str, str] = field(default_factory=dict)
    response_id: str | None = None
    # How the events are cut into writes and timed; Google's framing itself (CRLF, no
    # comments) is fixed, so ``comments`` and ``crlf`` are not used.
    untidy: Untidy = field(default_factory=Untidy)
    hold_after_first: threading.Event | None = None
    hold_at: int = 0  # the event after which ``hold_after_first`` parks the stream


class FakeGemini(Scripted[Reply]):
    """The fake Gemini API on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self) -> None:
        super().__init__(Reply())
        self.received: list[Received] = []
        self.sent_events = 0
        self.start("fake-gemini", client_max_size=64 * 1024**2)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
        match = _PATH.match(request.path)
        if match is None:
            return _error(404, f"Requested entity was not found: {request.path}")
        vertex = match["vertex"] is not None
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        bearer = vertex and request.headers.get("authorization", "").startswith("Bearer ")
        if not key and not bearer:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key == INVALID_KEY:
            return _error(
                400,
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        model, method = match["model"], match["method"]
        if request.method == "GET" and method is None:
            return self._models(request, model)
        if request.method != "POST" or method is None or model is None:
            return _error(404, f"Requested entity was not found: {request.path}")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "Invalid JSON payload received. Unexpected token.")
        if method == "countTokens":
            tokens = _tokens(json.dumps(body.get("contents", body)))
            return _json(
                {
                    "totalTokens": tokens,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
                }
            )
        if method == "embedContent":
            return _json({"embedding": {"values": _vector(json.dumps(body.get("content")))}})
        if method == "batchEmbedContents":
            return _json(
                {
                    "embeddings": [
                        {"values": _vector(json.dumps(item.get("content")))}
                        for item in body.get("requests", [])
                    ]
                }
            )
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} is not found for models/{model}.")
        reply = self.next_reply()
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        if reply.status >= 400:
            return _error(
                reply.status,
                reply.error_message or _MESSAGE.get(reply.status, "Request failed."),
                headers=reply.headers,
                details=_quota_details(model) if reply.status == 429 else None,
            )
        answer = Answer(model, body, reply, vertex=vertex)
        if method == "generateContent":
            return _json(answer.response(), headers=reply.headers)
        return await self._stream(request, answer, sse=request.query.get("alt") == "sse")

    def _models(self, request: web.Request, model: str | None) -> web.Response:
        if model is not None:
            for entry in MODELS:
                if entry["name"] == f"models/{model}":
                    return _json(entry)
            return _error(404, f"models/{model} is not found for API version v1beta")
        size = int(request.query.get("pageSize", "50"))
        start = int(request.query.get("pageToken") or 0)
        page: dict[str, Any] = {"models": MODELS[start : start + size]}
        if start + size < len(MODELS):
            page["nextPageToken"] = str(start + size)
        return _json(page)

    async def _stream(
        self, request: web.Request, answer: Answer, *, sse: bool
    ) -> web.StreamResponse:
        reply = answer.reply
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else "application/json; charset=UTF-8",
                **_google_headers(),
                **reply.headers,
            }
        )
        if sse:
            response.headers["Content-Disposition"] = "attachment"
        for origin in ("Origin", "X-Origin", "Referer"):
            response.headers.add("Vary", origin)
        await response.prepare(request)
        untidy = dataclasses.replace(reply.untidy, comments=False, crlf=False)
        events = answer.events()

        def frame(number: int, event: dict[str, Any]) -> str:
            if sse:
                return f"data: {_line(event)}\r\n\r\n"
            return ("[" if number == 0 else "\n,\r\n") + _pretty(event)

        for number, event in enumerate(events):
            if number > 0 and reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.error_after is not None and number == reply.error_after:
                code = reply.error_code
                error = _error_body(code, reply.error_message or _MESSAGE.get(code, "Failed."))
                await send(response, frame(number, error), untidy, tail=True)
                break
            if reply.drop_after is not None and number == reply.drop_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            await send(response, frame(number, event), untidy, tail=number >= len(events) - 2)
            self.sent_events += 1
            if number == reply.hold_at and reply.hold_after_first is not None:
                released = await asyncio.get_running_loop().run_in_executor(
                    None, reply.hold_after_first.wait, 10
                )
                assert released, "the test never released the rest of the stream"
        if not sse:
            await send(response, "\n]", untidy, tail=True)
        if untidy.tail_gap:
            await asyncio.sleep(untidy.tail_gap)
        await response.write_eof()
        return response


class Answer:
    """One answer in both shapes the real API gives it: one response, or its events."""

    def __init__(self, model: str, request: dict[str, Any], reply: Reply, *, vertex: bool) -> None:
        self.model = model
        self.reply = reply
        self.vertex = vertex
        self.id = reply.response_id or _response_id()
        self.prompt_tokens = _tokens(json.dumps(request.get("contents", [])))
        config = request.get("generationConfig") or request.get("generation_config") or {}
        thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
        # Google's JSON parser takes proto field names as well as camelCase (and the SDK sends
        # include_thoughts).
        included = thinking.get("includeThoughts", thinking.get("include_thoughts"))
        self.thoughts = reply.thoughts if included else None
        self.thoughts_tokens = _tokens(reply.thoughts) if reply.thoughts else 0

    def _calls(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for number, (name, args) in enumerate(self.reply.function_calls):
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
            if number == 0 and self.reply.signature:
                part["thoughtSignature"] = self.reply.signature
            parts.append(part)
        return parts

    def _usage(self, candidates_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": candidates_tokens,
            "totalTokenCount": self.prompt_tokens + candidates_tokens + self.thoughts_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        if self.vertex:
            usage["trafficType"] = "ON_DEMAND"
        return usage

    def _output_tokens(self) -> int:
        return _tokens(self.reply.text or "") + 10 * len(self.reply.function_calls)

    def _candidate(self, parts: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
        reply = self.reply
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if final:
            candidate["finishReason"] = reply.finish_reason
        candidate["index"] = 0
        if final and reply.safety:
            candidate["safetyRatings"] = _SAFETY
        if final and reply.citation_metadata is not None:
            candidate["citationMetadata"] = reply.citation_metadata
        if final and reply.grounding_metadata is not None:
            candidate["groundingMetadata"] = reply.grounding_metadata
        return candidate

    def _envelope(self, candidate: dict[str, Any], candidates_tokens: int) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "candidates": [candidate],
            "usageMetadata": self._usage(candidates_tokens),
            "modelVersion": self.model,
        }
        if self.vertex:
            envelope["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        envelope["responseId"] = self.id
        return envelope

    def response(self) -> dict[str, Any]:
        """The ``:generateContent`` answer."""
        reply = self.reply
        parts: list[dict[str, Any]] = []
        if self.thoughts:
            parts.append({"text": self.thoughts, "thought": True})
        if reply.text is not None:
            text: dict[str, Any] = {"text": reply.text}
            if reply.signature and not reply.function_calls:
                text["thoughtSignature"] = reply.signature
            parts.append(text)
        parts.extend(self._calls())
        return self._envelope(self._candidate(parts, final=True), self._output_tokens())

    def events(self) -> list[dict[str, Any]]:
        """The ``:streamGenerateContent`` events, the usage in each one cumulative."""
        reply = self.reply
        piece = reply.piece
        bodies: list[tuple[list[dict[str, Any]], int]] = []
        thoughts = self.thoughts or ""
        for start in range(0, len(thoughts), piece):
            bodies.append(([{"text": thoughts[start : start + piece], "thought": True}], 0))
        text = reply.text or ""
        pieces = [text[start : start + piece] for start in range(0, len(text), piece)]
        for number, chunk in enumerate(pieces):
            part: dict[str, Any] = {"text": chunk}
            if number == len(pieces) - 1 and reply.signature and not reply.function_calls:
                part["thoughtSignature"] = reply.signature
            bodies.append(([part], _tokens(text[: (number + 1) * piece])))
        if reply.function_calls:
            bodies.append((self._calls(), self._output_tokens()))
        if reply.separate_finish or not bodies:
            bodies.append(([{"text": ""}], self._output_tokens()))
        last = len(bodies) - 1
        return [
            self._envelope(self._candidate(parts, final=number == last), tokens)
            for number, (parts, tokens) in enumerate(bodies)
        ]


def _escape(text: str) -> str:
    # Google escapes these in every JSON answer; they can only occur inside strings.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _line(data: dict[str, Any]) -> str:
    return _escape(json.dumps(data, ensure_ascii=False, separators=(",", ": ")))


def _pretty(data: dict[str, Any]) -> str:
    return _escape(json.dumps(data, ensure_ascii=False, indent=2))


def _google_headers() -> dict[str, str]:
    return {
        "Server": "scaffolding on HTTPServer2",
        "X-XSS-Protection": "0",
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Server-Timing": "gfet4t7; dur=412",
        "Alt-Svc": 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
    }


def _json(
    data: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.Response(
        status=status,
        body=(_pretty(data) + "\n").encode(),
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            **_google_headers(),
            **(headers or {}),
        },
    )
    for origin in ("Origin", "X-Origin", "Referer"):
        response.headers.add("Vary", origin)
    return response


def _error_body(
    code: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": _STATUS.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _error(
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    return _json(_error_body(status, message, details), status=status, headers=headers)


def _quota_details(model: str) -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/"
                    "generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "10",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"},
    ]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _vector(text: str) -> list[float]:
    seed = sum(text.encode()) or 1
    return [round(((seed * (index + 7)) % 2000 - 1000) / 1000 * 0.05, 9) for index in range(8)]


def _response_id() -> str:
    return secrets.token_urlsafe(17)[:23]
