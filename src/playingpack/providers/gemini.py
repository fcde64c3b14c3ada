"""The Gemini API (Google AI, and Vertex AI's paths): ``GenerateContentResponse`` JSON, or
its stream (SSE with ``alt=sse``, else a streamed JSON array; see ``gemini_events``).

The method is in the path, not the body: ``/v1beta/models/{model}:generateContent`` answers
JSON, ``:streamGenerateContent`` a stream, and ``/v1/...`` and Vertex's
``/{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:...`` are the same
format. Both methods of a model share one tape, whatever the version: the tape key hashes
``/models/{model}:generateContent`` (Vertex: with its project and location) before the body.

A stream's events are whole responses, each carrying the next pieces of the answer; how they
join into the JSON answer and how an answer splits back into them is ``gemini_events``'.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from playingpack.conversation import (
    Conversation,
    ImagePart,
    JsonPart,
    Part,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    Turn,
    read_conversation,
)
from playingpack.hashing import request_key
from playingpack.providers.base import (
    EventKind,
    Framing,
    Holdable,
    Provider,
    Summary,
    ToolCall,
    Usage,
)
from playingpack.providers.gemini_events import (
    EVERY_EVENT,
    GeminiFraming,
    assemble,
    candidates_of,
    finished,
    first_of,
    frame,
    index_of,
    is_answer_text,
    keepalive,
    objects,
    parts_of,
    rest_of_parts,
    split_answer,
    texts_of,
)

_encode = msgspec.json.encode
# A model's path under Google AI (/v1beta/models/...) or Vertex AI (/v1/projects/...).
_PATH = re.compile(
    r"/v1(?:alpha|beta1?)?/"
    r"(?P<where>projects/[^/]+/locations/[^/]+/publishers/google/)?"
    r"models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)"
)
_GENERATE = frozenset({"generateContent", "streamGenerateContent"})
_EMBED = frozenset({"embedContent", "batchEmbedContents"})
# Request fields that are the conversation itself; every other field is a parameter.
_CONVERSATION = frozenset({"contents", "systemInstruction", "system_instruction", "tools"})
# Google's status names, by HTTP status, and the HTTP status of playingpack's error types.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "tape_not_found": 404,
    "rate_limit_error": 429,
    "upstream_error": 503,
    "upstream_unreachable": 503,
    "timeout_error": 504,
    "tape_error": 500,
}


def _route(path: str) -> tuple[str, str, str] | None:
    """Where (a Vertex project and location, or ``""``), model and method of a model's path."""
    match = _PATH.fullmatch(path.partition("?")[0])
    if match is None:
        return None
    return match["where"] or "", match["model"], match["method"]


def _key(body: Any, path: str, methods: frozenset[str], *, shared: str | None) -> str:
    """The tape key: the body hashed after the versionless path, whose method is ``shared``
    for every one of ``methods`` (None: the path's own)."""
    route = _route(path)
    if route is None or route[2] not in methods:
        return request_key(body, extra=path + "\n")
    where, model, method = route
    return request_key(body, extra=f"/{where}models/{model}:{shared or method}\n")


def _without_call_ids(body: Any) -> Any:
    """``body`` without the ids of its ``functionCall`` and ``functionResponse`` parts: Gemini
    gives its calls none, so clients make them up (pydantic-ai's ``pyd_ai_<random>``), and a
    request that differs only in them is the same request."""
    contents = body.get("contents") if isinstance(body, dict) else None
    if not isinstance(contents, list):
        return body
    cleaned = []
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            content = {**content, "parts": [_without_id(part) for part in parts]}
        cleaned.append(content)
    return {**body, "contents": cleaned}


def _without_id(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    for name in ("functionCall", "functionResponse"):
        call = part.get(name)
        if isinstance(call, dict) and "id" in call:
            part = {**part, name: {key: value for key, value in call.items() if key != "id"}}
    return part


class GeminiGenerateContent(Holdable):
    """``:generateContent`` and ``:streamGenerateContent``.

    Usage maps to input tokens = ``promptTokenCount`` (cached ones included, of which
    ``cachedContentTokenCount`` are cached input) + ``toolUsePromptTokenCount`` (what the
    server's tools read, billed as input); output tokens = ``candidatesTokenCount`` +
    ``thoughtsTokenCount``. Tool calls are the first candidate's ``functionCall`` parts.
    """

    endpoint = "/v1beta/models/{model}:generateContent"
    azure = False
    routed = False

    def serves(self, path: str) -> bool:
        route = _route(path)
        return route is not None and route[2] in _GENERATE

    def key(self, body: Any, path: str) -> str:
        return _key(_without_call_ids(body), path, _GENERATE, shared="generateContent")

    def wants_stream_at(self, body: Any, path: str) -> bool:
        route = _route(path)
        return route is not None and route[2] == "streamGenerateContent"

    def framing(self, path: str, query: Mapping[str, str]) -> GeminiFraming:
        # The Go SDK asks `$alt=json;enum-encoding=int`; the system parameter is `alt` either way.
        alt = (query.get("alt") or query.get("$alt") or "").partition(";")[0]
        return "sse" if alt == "sse" or not self.wants_stream_at(None, path) else "json-array"

    def keepalive(self, framing: str, request: Any = None) -> bytes | None:
        return keepalive(framing)

    def turns(self, body: Any) -> Conversation:
        conversation = read_conversation(body, _request_turns)
        if not isinstance(body, dict):
            return conversation
        params = [(key, value) for key, value in body.items() if key not in _CONVERSATION]
        return Conversation(conversation.turns, _request_tools(body.get("tools")), params)

    def is_complete(self, events: Sequence[str]) -> bool:
        return any(
            finished(response)
            for text in events
            if "finishReason" in text
            for response in objects((text,))
        )

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        return assemble(objects(events))

    def to_events(self, answer: dict[str, Any], request: Any, *, framing: str = "sse") -> list[str]:
        """The stream of ``answer`` in ``framing`` (``sse`` or ``json-array``): an event per
        part (text parts that must stay apart share one), finish fields and usage in the
        last."""
        return frame(split_answer(answer), framing)

    def framed_events(self, answer: dict[str, Any], request: Any, framing: Framing) -> list[str]:
        return self.to_events(answer, request, framing=framing)

    def framed_continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str], framing: Framing
    ) -> list[str]:
        return self.continue_events(answer, request, sent, framing=framing)

    def framed_error_event(
        self, message: str, type_: str, code: str, framing: Framing, *, opened: bool = False
    ) -> str:
        # A whitespace keepalive sends no ``[``: unless the answer began, the event opens the
        # array it closes.
        return self.error_event(message, type_, code, framing=framing, opened=opened)

    def answer_text(self, answer: dict[str, Any]) -> str:
        return "".join(texts_of(parts_of(first_of(answer))))

    def summarize(self, answer: dict[str, Any]) -> Summary:
        usage = answer.get("usageMetadata")
        tokens = None
        if isinstance(usage, dict):
            tokens = Usage(
                _count(usage.get("promptTokenCount"))
                + _count(usage.get("toolUsePromptTokenCount")),
                _count(usage.get("candidatesTokenCount")) + _count(usage.get("thoughtsTokenCount")),
                cached_input_tokens=_count(usage.get("cachedContentTokenCount")),
            )
        calls = tuple(
            ToolCall(
                str(call.get("id") or ""),
                str(call.get("name") or ""),
                _encode(call.get("args") or {}).decode(),
            )
            for part in parts_of(first_of(answer))
            if isinstance(call := part.get("functionCall"), dict)
        )
        model = answer.get("modelVersion")
        return Summary(model if isinstance(model, str) else None, tokens, calls)

    def streamed_text(self, events: Sequence[str]) -> str:
        return "".join(
            text
            for event in events
            if '"text"' in event
            for response in objects((event,))
            for text in texts_of(parts_of(first_of(response)))
        )

    def failure(self, events: Sequence[str]) -> str | None:
        # Google's `{"error": {"code", "message", "status"}}`, as an event or an element.
        for text in events:
            if '"error"' not in text:
                continue
            for response in objects((text,)):
                error = response.get("error")
                if isinstance(error, dict):
                    return str(error.get("message") or error.get("status") or "error")
                if isinstance(error, str) and error:
                    return error
        return None

    def error_json(
        self, message: str, type_: str, code: str, *, status: int | None = None
    ) -> dict[str, Any]:
        """Google's error body. Its ``code`` is the HTTP status (``status``, else the one
        ``type_`` stands for), which the SDKs read to pick their exception; playingpack's
        own ``code`` and ``type_`` go in an ``ErrorInfo`` detail."""
        http = status or _STATUS_OF_TYPE.get(type_, 500)
        return {
            "error": {
                "code": http,
                "message": message,
                "status": _STATUS.get(http, "UNKNOWN"),
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": code,
                        "domain": "playingpack",
                        "metadata": {"type": type_},
                    }
                ],
            }
        }

    def error_event(
        self,
        message: str,
        type_: str,
        code: str,
        *,
        status: int | None = None,
        framing: str = "sse",
        opened: bool = False,
    ) -> str:
        """The error body as the last event of a stream in ``framing``; for an array,
        ``opened`` says its ``[`` went out already, and the event closes it."""
        error = self.error_json(message, type_, code, status=status)
        return "".join(frame([error], framing, opened=opened))

    def event_kind(self, event: str) -> EventKind:
        responses = list(objects((event,)))
        if not responses:
            # The closing bracket of an array ends the answer; other texts carry nothing.
            return EventKind.TEXT if "]" in event else EventKind.OPENING
        kind = EventKind.OPENING
        for response in responses:
            if "error" in response or "promptFeedback" in response:
                kind = EventKind.TEXT
            for candidate in candidates_of(response):
                parts = parts_of(candidate)
                if any("functionCall" in part for part in parts):
                    return EventKind.TOOL_CALL
                if "finishReason" in candidate or any(part != {"text": ""} for part in parts):
                    kind = EventKind.TEXT
        return kind

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if content or (content is not None and not tool_calls):
            parts.append({"text": content})
        parts.extend(_function_call(call) for call in tool_calls)
        return {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 0,
                "candidatesTokenCount": 0,
                "totalTokenCount": 0,
            },
            "modelVersion": model,
            "responseId": _fresh_id(),
        }

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        candidates = candidates_of(edited)
        if not candidates:
            candidates = [{"content": {"parts": [], "role": "model"}, "finishReason": "STOP"}]
        candidate = candidates[0]
        body = candidate.get("content")
        body = body if isinstance(body, dict) else {"role": "model"}
        parts = parts_of(candidate)
        if content is not None:
            # The new text takes the place of the answer's text parts, at the first one, with
            # the last signature they carried.
            texts = [n for n, part in enumerate(parts) if is_answer_text(part)]
            at = texts[0] if texts else 0
            signatures = [
                parts[n]["thoughtSignature"] for n in texts if "thoughtSignature" in parts[n]
            ]
            parts = [part for part in parts if not is_answer_text(part)]
            if content:
                text: dict[str, Any] = {"text": content}
                if signatures:
                    text["thoughtSignature"] = signatures[-1]
                parts.insert(at, text)
        if tool_calls is not None:
            # A call in the place of one the model made keeps its signature (Gemini 3 rejects
            # the next turn without it); a call added by the person has none.
            old = [part for part in parts if "functionCall" in part]
            parts = [part for part in parts if "functionCall" not in part]
            for position, call in enumerate(tool_calls):
                part = _function_call(call)
                if position < len(old) and "thoughtSignature" in old[position]:
                    part["thoughtSignature"] = old[position]["thoughtSignature"]
                parts.append(part)
        if not parts:
            parts = [{"text": content or ""}]
        candidate["content"] = {**body, "parts": parts}
        candidate.setdefault("finishReason", "STOP")
        edited["candidates"] = [candidate, *candidates[1:]]
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ValueError("must be a GenerateContentResponse JSON object")
        candidates = answer.get("candidates")
        if not isinstance(candidates, list) or not (candidates or "promptFeedback" in answer):
            raise ValueError("must have a `candidates` array of candidates")
        checked = [_checked_candidate(c, f"candidates[{n}]", n) for n, c in enumerate(candidates)]
        usage = answer.get("usageMetadata", {})
        if not isinstance(usage, dict):
            raise ValueError("`usageMetadata` must be an object")
        for field, value in usage.items():
            if field.endswith("TokenCount") and not isinstance(value, int):
                raise ValueError(f"`usageMetadata.{field}` must be an integer")
        for field in ("modelVersion", "responseId"):
            if not isinstance(answer.get(field, ""), str):
                raise ValueError(f"`{field}` must be a string")
        return {
            **answer,
            "candidates": checked,
            "usageMetadata": {
                "promptTokenCount": 0,
                "candidatesTokenCount": 0,
                "totalTokenCount": 0,
                **usage,
            },
            "modelVersion": answer.get("modelVersion") or model,
            "responseId": answer.get("responseId") or _fresh_id(),
        }

    def continue_events(
        self,
        answer: dict[str, Any],
        request: Any,
        sent: Sequence[str],
        *,
        framing: str = "sse",
    ) -> list[str]:
        """The rest of the stream for a client that had ``sent``: the answer's response id and
        model are the ones it saw, parts it already has are not sent again, and a text part it
        has the start of goes on from there."""
        opened = framing == "json-array" and any(text.strip() for text in sent)
        have = self.assemble(sent)
        if not candidates_of(have):
            return frame(split_answer(answer), framing, opened=opened)
        seen = {field: have[field] for field in EVERY_EVENT if have.get(field)}
        had = {index_of(c, n): parts_of(c) for n, c in enumerate(candidates_of(have))}
        candidates = []
        for position, candidate in enumerate(candidates_of(answer)):
            parts = rest_of_parts(had.get(index_of(candidate, position), []), parts_of(candidate))
            body = candidate.get("content")
            body = body if isinstance(body, dict) else {}
            candidates.append({**candidate, "content": {**body, "parts": parts}})
        return frame(
            split_answer({**answer, **seen, "candidates": candidates}), framing, opened=True
        )


class GeminiEmbeddings(Provider):
    """``:embedContent`` and ``:batchEmbedContents``: JSON only, never streamed or held."""

    endpoint = "/v1beta/models/{model}:batchEmbedContents"
    azure = False
    routed = False

    def serves(self, path: str) -> bool:
        route = _route(path)
        return route is not None and route[2] in _EMBED

    def key(self, body: Any, path: str) -> str:
        return _key(body, path, _EMBED, shared=None)

    def wants_stream(self, body: Any) -> bool:
        return False

    def turns(self, body: Any) -> Conversation:
        conversation = read_conversation(body, _embedded_turns)
        if not isinstance(body, dict):
            return conversation
        params = [(key, value) for key, value in body.items() if key not in ("content", "requests")]
        return Conversation(conversation.turns, [], params)

    def is_complete(self, events: Sequence[str]) -> bool:
        return True

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer = msgspec.json.decode("".join(events))
        return answer if isinstance(answer, dict) else {}

    def summarize(self, answer: dict[str, Any]) -> Summary:
        usage = answer.get("usageMetadata")
        tokens = (
            Usage(_count(usage.get("promptTokenCount")), 0) if isinstance(usage, dict) else None
        )
        return Summary(None, tokens, ())

    def answer_text(self, answer: dict[str, Any]) -> str:
        """How many vectors of how many dimensions: the numbers themselves are no text."""
        single = answer.get("embedding")
        listed = answer.get("embeddings")
        vectors = (
            [single] if isinstance(single, dict) else listed if isinstance(listed, list) else []
        )
        vectors = [vector for vector in vectors if isinstance(vector, dict)]
        if not vectors:
            return ""
        values = vectors[0].get("values")
        size = len(values) if isinstance(values, list) else 0
        noun = "embedding" if len(vectors) == 1 else "embeddings"
        return f"[{len(vectors)} {noun} of {size} dimensions]"

    def streamed_text(self, events: Sequence[str]) -> str:
        return ""

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        # Google's error body, as for generateContent: the SDKs read no other.
        return GeminiGenerateContent().error_json(message, type_, code)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _function_call(call: ToolCall) -> dict[str, Any]:
    arguments = call.parsed_arguments()
    if not isinstance(arguments, dict):
        raise ValueError(
            f"the arguments of the call of {call.name!r} must be a JSON object, as Gemini's are"
        )
    function: dict[str, Any] = {"name": call.name, "args": arguments}
    if call.id:
        function["id"] = call.id
    return {"functionCall": function}


def _checked_candidate(given: Any, where: str, position: int) -> dict[str, Any]:
    """A candidate given by a person, with its role, finish reason and index where absent."""
    if not isinstance(given, dict):
        raise ValueError(f"`{where}` must be an object")
    content = given.get("content", {"parts": []})
    if not isinstance(content, dict):
        raise ValueError(f"`{where}.content` must be an object")
    parts = content.get("parts", [])
    if not isinstance(parts, list):
        raise ValueError(f"`{where}.content.parts` must be an array of parts")
    for n, part in enumerate(parts):
        _check_part(part, f"{where}.content.parts[{n}]")
    if not isinstance(given.get("finishReason", ""), str):
        raise ValueError(f"`{where}.finishReason` must be a string")
    return {
        "finishReason": "STOP",
        "index": position,
        **given,
        "content": {"role": "model", **content, "parts": parts},
    }


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise ValueError(f"`{where}` must be an object")
    if "text" in part and not isinstance(part["text"], str):
        raise ValueError(f"`{where}.text` must be a string")
    if not isinstance(part.get("thought", False), bool):
        raise ValueError(f"`{where}.thought` must be true or false")
    if not _is_base64(part.get("thoughtSignature", "")):
        raise ValueError(f"`{where}.thoughtSignature` must be a base64 string, as Gemini gave it")
    call = part.get("functionCall")
    if call is not None:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"`{where}.functionCall` must be an object with a `name` string")
        if not isinstance(call.get("args", {}), dict):
            raise ValueError(f"`{where}.functionCall.args` must be an object (the arguments)")


def _is_base64(value: Any) -> bool:
    """Whether ``value`` is base64 text the SDK decodes (its last symbol's spare bits zero)."""
    if not isinstance(value, str):
        return False
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return False
    return base64.b64encode(decoded).decode().rstrip("=") == text


def _request_turns(request: dict[str, Any]) -> list[Turn]:
    turns = []
    system = request.get("systemInstruction", request.get("system_instruction"))
    if system is not None:
        turns.append(Turn("system", _content_parts(system)))
    contents = request.get("contents")
    for content in contents if isinstance(contents, list) else ():
        role = content.get("role") if isinstance(content, dict) else None
        turns.append(Turn(role if isinstance(role, str) else "user", _content_parts(content)))
    return turns


def _embedded_turns(request: dict[str, Any]) -> list[Turn]:
    if "content" in request:
        return [Turn("input", _content_parts(request["content"]))]
    requests = request.get("requests")
    return [
        Turn("input", _content_parts(item.get("content") if isinstance(item, dict) else item))
        for item in (requests if isinstance(requests, list) else ())
    ]


def _content_parts(content: Any) -> list[Part]:
    """A Content's parts (a string is one text part, as the SDKs take it)."""
    if isinstance(content, str):
        return [TextPart(content)]
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return [JsonPart(content)]
    return [_read_part(part) for part in parts]


def _read_part(part: Any) -> Part:
    if not isinstance(part, dict):
        return JsonPart(part)
    if isinstance(part.get("text"), str):
        return TextPart(part["text"])
    call = part.get("functionCall", part.get("function_call"))
    if isinstance(call, dict):
        name = call.get("name")
        return ToolCallPart(
            name if isinstance(name, str) else "?", call.get("args"), _text(call.get("id"))
        )
    response = part.get("functionResponse", part.get("function_response"))
    if isinstance(response, dict):
        return ToolResultPart(
            response.get("response"), _text(response.get("id")), _text(response.get("name"))
        )
    for data in (
        part.get("inlineData", part.get("inline_data")),
        part.get("fileData", part.get("file_data")),
    ):
        if isinstance(data, dict):
            mime = _text(data.get("mimeType", data.get("mime_type"))) or ""
            if mime.startswith("image/"):
                uri = _text(data.get("fileUri", data.get("file_uri")))
                return ImagePart(uri or f"{mime} (inline data)")
    return JsonPart(part)


def _request_tools(tools: Any) -> list[Tool]:
    """Function declarations by name; built-in tools (``googleSearch``, ``codeExecution``,
    ...) by the name of their field."""
    found: list[Tool] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            found.append(Tool(str(tool)))
            continue
        declared = tool.get("functionDeclarations", tool.get("function_declarations"))
        for declaration in declared if isinstance(declared, list) else ():
            if isinstance(declaration, dict):
                schema = next(
                    (
                        declaration[field]
                        for field in (
                            "parameters",
                            "parametersJsonSchema",
                            "parameters_json_schema",
                        )
                        if field in declaration
                    ),
                    None,
                )
                name = _text(declaration.get("name")) or "?"
                found.append(Tool(name, _text(declaration.get("description")), schema))
        found.extend(
            Tool(field)
            for field in tool
            if field not in ("functionDeclarations", "function_declarations")
        )
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _fresh_id() -> str:
    """A response id shaped like Google's (23 URL-safe characters)."""
    return secrets.token_urlsafe(18)[:23]
