"""Ollama's native API: `POST /api/chat` and `/api/generate`, and `POST /api/embed`.

Chat and generate stream NDJSON (``application/x-ndjson``) unless the request says
``"stream": false``: one JSON object a line, each a piece of the answer (``message.content`` and
``message.thinking`` for chat, ``response`` and ``thinking`` for generate) with ``done: false``,
then one line with ``done: true``, ``done_reason``, the counts and the durations (and
``context`` for generate). ``"stream": false`` answers the lines joined as the server joins
them: the last line's fields, the texts joined, the tool calls gathered. An event is one line
with its ``\\n``; a text may hold several (a replayed tape is told in one piece). An error is
``{"error": "..."}``, as the body of an error status or as one more line of a stream.

Both are also served under ``/ollama/api/...``, where they share the tapes of ``/api/...``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from playingpack.conversation import (
    Conversation,
    ImagePart,
    JsonPart,
    Part,
    ToolResultPart,
    Turn,
    input_turns,
    join_text,
    prompt_turns,
    read_conversation,
    read_message,
    system_turns,
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

_encode = msgspec.json.encode
_PREFIX = "/ollama"
# Fields every line of a stream repeats before its piece of the answer, as Go's structs order them.
_HEAD = ("model", "remote_model", "remote_host", "created_at")


class _OllamaGeneration(Holdable):
    """What chat and generate share: the NDJSON lines, their joining, errors and keepalives.

    Usage maps to input tokens = ``prompt_eval_count`` and output tokens = ``eval_count``
    (Ollama reports no cache). Tool calls are ``tool_calls`` entries, their ``arguments`` an
    object; their ids are Ollama's (``call_...``) where the server gave one.
    """

    # Where the answer's text and tool calls sit: under `message` (chat) or at the top.
    chat: bool
    text_field: str

    def serves(self, path: str) -> bool:
        return path in (self.endpoint, _PREFIX + self.endpoint)

    def key(self, body: Any, path: str) -> str:
        # /ollama/api/... shares the tapes of /api/...; `stream` is never part of a key, so an
        # absent flag (a stream) shares the tape of `"stream": true` and of `"stream": false`.
        return request_key(body, extra=self.endpoint + "\n")

    def wants_stream(self, body: Any) -> bool:
        # Go reads the flag as a *bool: absent or null streams, only false does not.
        return isinstance(body, dict) and body.get("stream") is not False

    def framing(self, path: str, query: Mapping[str, str]) -> Framing:
        """What a streamed answer looks like on the wire: NDJSON."""
        return "ndjson"

    def keepalive(self, framing: Framing, request: Any = None) -> bytes | None:
        """A line that adds nothing, in the shape of the stream's other lines; ``request``
        names its model.

        The ollama clients parse every line as a JSON object (a blank line or an SSE comment
        makes them raise) and hand each one to the caller as a part of the answer, so the
        heartbeat is a part with empty text, as Ollama's own lines are while the model thinks
        or a tool call is buffered. Typed clients need its ``model``, ``created_at`` and
        ``done``.
        """
        if framing != "ndjson":
            return None
        model = request.get("model") if isinstance(request, dict) else None
        line: dict[str, Any] = {"model": model if isinstance(model, str) else ""}
        line["created_at"] = _now()
        line.update(self._piece({}, ""))
        line["done"] = False
        return _encode(line) + b"\n"

    def is_complete(self, events: Sequence[str]) -> bool:
        return any(
            line.get("done") is True
            for text in events
            if '"done"' in text
            for line in _lines((text,))
        )

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        lines: list[dict[str, Any]] = []
        for line in _lines(events):
            lines.append(line)
            if line.get("done") is True:
                break  # the answer ends with its done line, whatever follows
        if not lines:
            return {}
        final = lines[-1]
        answer: dict[str, Any] = msgspec.json.decode(_encode(final))
        holder = self._holder(answer, create=True)
        texts: dict[str, list[str]] = {self.text_field: [], "thinking": []}
        calls: list[Any] = []
        logprobs: list[Any] = []
        for line in lines:
            if "error" in line:
                continue
            piece = self._holder(line)
            for field, parts in texts.items():
                value = piece.get(field)
                if isinstance(value, str):
                    parts.append(value)
            calls.extend(_listed(piece.get("tool_calls")))
            logprobs.extend(_listed(line.get("logprobs")))
        for field, parts in texts.items():
            joined = "".join(parts)
            if joined or field == self.text_field:
                holder[field] = joined
        if calls:
            holder["tool_calls"] = calls
        if logprobs:
            answer["logprobs"] = logprobs
        return answer

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        head = {field: answer[field] for field in _HEAD if field in answer}
        holder = self._holder(answer)
        role = holder.get("role", "assistant")
        text, thinking = _string(holder.get(self.text_field)), _string(holder.get("thinking"))
        calls = _listed(holder.get("tool_calls"))
        logprobs = answer.get("logprobs")
        lines: list[dict[str, Any]] = []
        if thinking:
            lines.append({**head, **self._piece({"thinking": thinking}, role), "done": False})
        if text:
            line = {**head, **self._piece({self.text_field: text}, role), "done": False}
            if logprobs:
                line["logprobs"] = logprobs
            lines.append(line)
        if calls and self.chat:
            # Chat sends the calls as the parser finds them, before the last line; generate
            # sends them on its last line.
            lines.append({**head, **self._piece({"tool_calls": calls}, role), "done": False})
        final: dict[str, Any] = msgspec.json.decode(_encode(answer))
        rest = self._holder(final, create=True)
        rest[self.text_field] = ""
        if thinking:
            del rest["thinking"]
        if calls and self.chat:
            del rest["tool_calls"]
        if text and logprobs:
            del final["logprobs"]
        final["done"] = True
        lines.append(final)
        return [_encode(line).decode() + "\n" for line in lines]

    def answer_text(self, answer: dict[str, Any]) -> str:
        return _string(self._holder(answer).get(self.text_field))

    def streamed_text(self, events: Sequence[str]) -> str:
        return "".join(
            _string(self._holder(line).get(self.text_field))
            for line in _lines(events)
            if "error" not in line
        )

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = None
        if "prompt_eval_count" in answer or "eval_count" in answer:
            tokens = Usage(
                _count(answer.get("prompt_eval_count")), _count(answer.get("eval_count"))
            )
        calls = tuple(_tool_call(call) for call in _listed(self._holder(answer).get("tool_calls")))
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, calls)

    def failure(self, events: Sequence[str]) -> str | None:
        for text in events:
            if '"error"' in text:
                for line in _lines((text,)):
                    message = _error_message(line)
                    if message is not None:
                        return message
        return None

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        # Ollama's errors are one message: the type and code have no place in them.
        return {"error": message}

    def error_event(self, message: str, type_: str, code: str) -> str:
        # The clients raise ResponseError on a line with an `error`.
        return _encode(self.error_json(message, type_, code)).decode() + "\n"

    def event_kind(self, event: str) -> EventKind:
        kind = EventKind.OPENING
        for line in _lines((event,)):
            piece = self._holder(line)
            if _listed(piece.get("tool_calls")):
                return EventKind.TOOL_CALL
            if (
                "error" in line
                or line.get("done") is True
                or piece.get(self.text_field)
                or piece.get("thinking")
            ):
                kind = EventKind.TEXT
        return kind

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        piece: dict[str, Any] = {self.text_field: content or ""}
        if tool_calls:
            piece["tool_calls"] = [_tool_call_json(call, n) for n, call in enumerate(tool_calls)]
        answer: dict[str, Any] = {"model": model, "created_at": _now()}
        if self.chat:
            answer["message"] = {"role": "assistant", **piece}
            answer.update(done=True, done_reason="stop")
        else:
            # Go's GenerateResponse: the calls come after the done fields and the counts.
            calls = piece.pop("tool_calls", None)
            answer.update(piece, done=True, done_reason="stop")
            if calls:
                answer["tool_calls"] = calls
        return answer

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        holder = self._holder(edited, create=True)
        if content is not None:
            holder[self.text_field] = content
        holder.setdefault(self.text_field, "")
        if tool_calls is not None:
            holder.pop("tool_calls", None)
            if tool_calls:
                holder["tool_calls"] = [
                    _tool_call_json(call, n) for n, call in enumerate(tool_calls)
                ]
        edited.setdefault("done", True)
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        kind = "chat" if self.chat else "generate"
        if not isinstance(answer, dict):
            raise ValueError(f"must be a {kind} answer JSON object")
        completed: dict[str, Any] = {"model": model, "created_at": _now(), **answer}
        if not isinstance(completed["model"], str):
            raise ValueError("`model` must be a string")
        prefix = ""
        if self.chat:
            message = answer.get("message")
            if not isinstance(message, dict):
                raise ValueError("must have a `message` object")
            if message.get("role", "assistant") != "assistant":
                raise ValueError('`message.role` must be "assistant"')
            completed["message"] = holder = {"role": "assistant", "content": "", **message}
            prefix = "message."
        else:
            holder = completed
            holder.setdefault(self.text_field, "")
        for field in (self.text_field, "thinking"):
            if not isinstance(holder.get(field, ""), str):
                raise ValueError(f"`{prefix}{field}` must be a string")
        calls = holder.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise ValueError(f"`{prefix}tool_calls` must be an array")
            holder["tool_calls"] = [
                _checked_call(call, f"{prefix}tool_calls[{n}]") for n, call in enumerate(calls)
            ]
        for field in ("prompt_eval_count", "eval_count"):
            value = completed.get(field, 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"`{field}` must be an integer")
        if not isinstance(completed.get("done_reason", ""), str):
            raise ValueError("`done_reason` must be a string")
        if completed.get("done", True) is not True:
            raise ValueError("`done` must be true: a JSON answer is a whole answer")
        completed["done"] = True
        completed.setdefault("done_reason", "stop")
        return completed

    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        # NDJSON has no opening: the rest of the answer is what the client does not have yet
        # (an edit of the real answer repeats the text and the calls already sent).
        have = self._holder(self.assemble(sent))
        rest: dict[str, Any] = msgspec.json.decode(_encode(answer))
        holder = self._holder(rest)
        for field in (self.text_field, "thinking"):
            told, whole = have.get(field), holder.get(field)
            if isinstance(told, str) and isinstance(whole, str) and whole.startswith(told):
                holder[field] = whole[len(told) :]
        told_calls, calls = _listed(have.get("tool_calls")), _listed(holder.get("tool_calls"))
        if told_calls and calls[: len(told_calls)] == told_calls:
            holder["tool_calls"] = calls[len(told_calls) :]
            if not holder["tool_calls"]:
                del holder["tool_calls"]
        return self.to_events(rest, request)

    def _holder(self, value: dict[str, Any], *, create: bool = False) -> dict[str, Any]:
        """The object that holds the text and the calls: ``message`` (chat) or the line
        itself; ``create`` gives a chat answer without one an empty message."""
        if not self.chat:
            return value
        message = value.get("message")
        if isinstance(message, dict):
            return message
        if not create:
            return {}
        created: dict[str, Any] = {"role": "assistant", "content": ""}
        value["message"] = created
        return created

    def _piece(self, fields: dict[str, Any], role: Any) -> dict[str, Any]:
        """The fields of one line's piece of the answer, where this endpoint puts them."""
        if self.chat:
            return {"message": {"role": role or "assistant", "content": "", **fields}}
        return {"response": "", **fields}


class OllamaChat(_OllamaGeneration):
    """``POST /api/chat``: ``message`` pieces (content, thinking, tool_calls) a line."""

    endpoint = "/api/chat"
    azure = False
    routed = False
    chat = True
    text_field = "content"

    def turns(self, body: Any) -> Conversation:
        return read_conversation(body, lambda request: _message_turns(request.get("messages")))


class OllamaGenerate(_OllamaGeneration):
    """``POST /api/generate``: ``response`` pieces a line, a ``context`` on the last."""

    endpoint = "/api/generate"
    azure = False
    routed = False
    chat = False
    text_field = "response"

    def turns(self, body: Any) -> Conversation:
        def read(request: dict[str, Any]) -> list[Turn]:
            turns = []
            system = request.get("system")
            if system:  # Ollama takes an empty system as none (clients send "")
                turns.extend(system_turns(system))
            if "prompt" in request:
                turns.extend(prompt_turns(request["prompt"]))
            return turns

        return read_conversation(body, read)


class OllamaEmbed(Provider):
    """``POST /api/embed``: ``embeddings`` (a vector per input) with ``prompt_eval_count``.
    JSON only, never held; replayed as the exact bytes recorded."""

    endpoint = "/api/embed"
    azure = False
    routed = False

    def serves(self, path: str) -> bool:
        return path in (self.endpoint, _PREFIX + self.endpoint)

    def key(self, body: Any, path: str) -> str:
        return request_key(body, extra=self.endpoint + "\n")

    def wants_stream(self, body: Any) -> bool:
        return False

    def turns(self, body: Any) -> Conversation:
        return read_conversation(
            body,
            lambda request: (
                input_turns(request["input"], conversational=False) if "input" in request else []
            ),
        )

    def is_complete(self, events: Sequence[str]) -> bool:
        return True

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer = msgspec.json.decode("".join(events))
        return answer if isinstance(answer, dict) else {}

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = None
        if "prompt_eval_count" in answer:
            tokens = Usage(_count(answer.get("prompt_eval_count")), 0)
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, ())

    def answer_text(self, answer: dict[str, Any]) -> str:
        """How many vectors of how many dimensions: the numbers themselves are no text."""
        vectors = [v for v in answer.get("embeddings") or () if isinstance(v, list)]
        if not vectors:
            return ""
        noun = "embedding" if len(vectors) == 1 else "embeddings"
        return f"[{len(vectors)} {noun} of {len(vectors[0])} dimensions]"

    def streamed_text(self, events: Sequence[str]) -> str:
        return ""

    def failure(self, events: Sequence[str]) -> str | None:
        try:
            body = msgspec.json.decode("".join(events))
        except msgspec.DecodeError:
            return None
        return _error_message(body) if isinstance(body, dict) else None

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        return {"error": message}


def _lines(events: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of NDJSON ``events``; a cut or unparsable line is skipped."""
    for text in events:
        # One line with its newline is the common case: read without splitting.
        for line in text.split("\n") if text.find("\n") < len(text) - 1 else (text,):
            if not line or line.isspace():
                continue
            try:
                value = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(value, dict):
                yield value


def _message_turns(messages: Any) -> list[Turn]:
    """Ollama's chat messages: chat's shape, with ``images`` (base64), ``thinking`` and a
    tool result's ``tool_name``."""
    if not isinstance(messages, list):
        return []
    turns = []
    for message in messages:
        turn = read_message(message)
        if isinstance(message, dict):
            if isinstance(message.get("tool_name"), str):
                turn.name = message["tool_name"]
                if turn.role == "tool":
                    turn.parts = [_named_result(turn.parts, message)]
            if isinstance(message.get("thinking"), str) and message["thinking"]:
                turn.parts.insert(0, JsonPart({"thinking": message["thinking"]}))
            turn.parts.extend(ImagePart("image (base64)") for _ in _images(message.get("images")))
        turns.append(turn)
    return turns


def _named_result(parts: list[Part], message: dict[str, Any]) -> ToolResultPart:
    """A tool message's result, named by its ``tool_name`` (it rarely has a call id)."""
    given = next((part for part in parts if isinstance(part, ToolResultPart)), None)
    if given is None:
        return ToolResultPart(join_text(message.get("content")), None, message["tool_name"])
    return ToolResultPart(given.content, given.id, message["tool_name"])


def _images(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return max(value, 0) if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_message(line: dict[str, Any]) -> str | None:
    error = line.get("error")
    if isinstance(error, str):
        return error or "error"
    if isinstance(error, dict):
        return str(error.get("message") or "error")
    return None


def _tool_call(call: Any) -> ToolCall:
    """A ``tool_calls`` entry as a ToolCall, its arguments object as JSON text."""
    function = call.get("function") if isinstance(call, dict) else None
    function = function if isinstance(function, dict) else {}
    arguments = function.get("arguments")
    text = arguments if isinstance(arguments, str) else _encode(arguments or {}).decode()
    call_id = call.get("id") if isinstance(call, dict) else None
    name = str(function.get("name") or "")
    return ToolCall(call_id if isinstance(call_id, str) else "", name, text)


def _tool_call_json(call: ToolCall, index: int) -> dict[str, Any]:
    try:
        arguments = msgspec.json.decode(call.arguments) if call.arguments.strip() else {}
    except msgspec.DecodeError:
        raise ValueError(f"the arguments of {call.name} are not JSON") from None
    if not isinstance(arguments, dict):
        raise ValueError(f"the arguments of {call.name} must be a JSON object for Ollama")
    return {
        "id": call.id or _fresh_call_id(),
        "function": {"index": index, "name": call.name, "arguments": arguments},
    }


def _checked_call(call: Any, where: str) -> dict[str, Any]:
    """A tool call given by a person, with an id where it has none."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ValueError(f"`{where}.function.name` must be a string")
    if not isinstance(function.get("arguments", {}), dict):
        raise ValueError(f"`{where}.function.arguments` must be an object (the tool's arguments)")
    assert isinstance(call, dict)
    return {"id": _fresh_call_id(), **call, "function": {"arguments": {}, **function}}


def _fresh_call_id() -> str:
    # Ollama's ids: call_ and eight lower-case letters or digits.
    return f"call_{uuid.uuid4().hex[:8]}"


def _now() -> str:
    """The time as Go writes a time.Time: RFC 3339 with nanoseconds, trailing zeros dropped."""
    nanos = time.time_ns()
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"
