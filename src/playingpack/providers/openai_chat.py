"""OpenAI Chat Completions (`POST /v1/chat/completions`), streamed and not."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.conversation import Conversation, message_turns, read_conversation
from playingpack.hashing import request_key
from playingpack.merging import Merge
from playingpack.providers.base import (
    EventKind,
    Holdable,
    Summary,
    ToolCall,
    Usage,
    has_done,
    parsed_events,
    usage_of,
)
from playingpack.sse import DONE, format_event

_encode = msgspec.json.encode
_DONE_EVENT = f"data: {DONE}\n\n"
# Chunk fields that are not fields of the assembled answer (obfuscation is stream padding).
_NOT_COPIED = frozenset({"object", "choices", "usage", "obfuscation"})
_DELTA_FIELDS = frozenset({"role", "content", "refusal", "tool_calls"})
_CHOICE_FIELDS = frozenset({"index", "delta", "message", "logprobs", "finish_reason"})
_EMPTY: tuple[Any, ...] = (None, "", [], {})
# Where tool calls without an index go in a summary: after the indexed ones, in order.
_UNINDEXED = 1 << 30


class OpenAIChat(Holdable):
    """Chat completions: ``chat.completion`` JSON, or ``chat.completion.chunk`` events + [DONE]."""

    endpoint = "/v1/chat/completions"

    def key(self, body: Any, path: str) -> str:
        if path == self.endpoint:
            # No endpoint in the hashed text: keys stay equal to the original tool's.
            return request_key(body)
        return super().key(body, path)

    def turns(self, body: Any) -> Conversation:
        return read_conversation(body, lambda request: message_turns(request.get("messages")))

    def is_complete(self, events: Sequence[str]) -> bool:
        return has_done(events)

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": "", "object": "chat.completion", "created": 0, "model": ""}
        choices: dict[int, _Choice] = {}
        usage: Any = None
        for event in parsed_events(events):
            if event.data == DONE:
                break
            try:
                chunk = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue  # a stream cut inside an event (what came before still counts)
            if not isinstance(chunk, dict):
                continue
            for field, value in chunk.items():
                if value is not None and field not in _NOT_COPIED:
                    answer[field] = value
            if chunk.get("usage") is not None:
                usage = chunk["usage"]
            for delta_choice in chunk.get("choices") or ():
                index = delta_choice.get("index", 0)
                choice = choices.get(index)
                if choice is None:
                    choice = choices[index] = _Choice(index)
                choice.add(delta_choice)
        answer["choices"] = [choices[i].to_json() for i in sorted(choices)]
        answer["usage"] = usage
        return answer

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        include_usage = (
            isinstance(request, dict)
            and isinstance(request.get("stream_options"), dict)
            and request["stream_options"].get("include_usage") is True
        )
        base: dict[str, Any] = {
            "id": answer.get("id", ""),
            "object": "chat.completion.chunk",
            "created": answer.get("created", 0),
            "model": answer.get("model", ""),
        }
        base.update({f: v for f, v in answer.items() if f not in base and f not in _NOT_COPIED})
        if include_usage:
            base["usage"] = None

        def chunk(choice: dict[str, Any]) -> str:
            return format_event(_encode({**base, "choices": [choice]}).decode())

        events: list[str] = []
        for choice in answer.get("choices") or ():
            index = choice.get("index", 0)
            message = choice.get("message") or {}
            logprobs = choice.get("logprobs")

            def delta(body: dict[str, Any], index: int = index) -> dict[str, Any]:
                return {"index": index, "delta": body, "logprobs": None, "finish_reason": None}

            content = message.get("content")
            # OpenAI opens a text answer with content "" and a tool-call answer with null. An
            # array of content parts opens with null and comes whole in one delta: the SDK's
            # accumulation keeps a list only when it meets a null (and joins no two lists).
            opening = "" if isinstance(content, str) else None
            first: dict[str, Any] = {"role": message.get("role", "assistant"), "content": opening}
            if "refusal" in message:
                first["refusal"] = None
            # The fields the message has empty open with it (as OpenAI opens with refusal:
            # null), so they come back as they were.
            first.update(
                {f: v for f, v in message.items() if f not in ("role", "content") and v in _EMPTY}
            )
            events.append(chunk(delta(first)))
            # Reasoning, annotations, audio and whatever else the message carries, whole.
            extra = {
                field: value
                for field, value in message.items()
                if field not in _DELTA_FIELDS and value not in _EMPTY
            }
            if extra:
                events.append(chunk(delta(extra)))
            if content:
                content_delta = delta({"content": content})
                if logprobs is not None:
                    content_delta["logprobs"] = logprobs
                events.append(chunk(content_delta))
            if message.get("refusal"):
                events.append(chunk(delta({"refusal": message["refusal"]})))
            for position, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                tool_delta = {
                    **call,
                    "index": position,  # the SDK puts a piece at this position of its list
                    "id": call.get("id"),
                    "type": call.get("type", "function"),
                    "function": {
                        **function,
                        "name": function.get("name", ""),
                        "arguments": function.get("arguments", ""),
                    },
                }
                events.append(chunk(delta({"tool_calls": [tool_delta]})))
            last = delta({})
            last["finish_reason"] = choice.get("finish_reason")
            last.update({f: v for f, v in choice.items() if f not in _CHOICE_FIELDS})
            events.append(chunk(last))
        if include_usage and answer.get("usage") is not None:
            events.append(
                format_event(_encode({**base, "choices": [], "usage": answer["usage"]}).decode())
            )
        events.append(_DONE_EVENT)
        return events

    def answer_text(self, answer: dict[str, Any]) -> str:
        texts: list[str] = []
        for choice in _listed(answer.get("choices")):
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                texts.append(content)
            else:
                # Content parts: only the answer's text (a thinking part is not answer).
                texts.extend(
                    part["text"]
                    for part in _listed(content)
                    if part.get("type") == "text" and isinstance(part.get("text"), str)
                )
        return "".join(texts)

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = usage_of(
            answer.get("usage"), "prompt_tokens", "completion_tokens", "prompt_tokens_details"
        )
        calls: list[ToolCall] = []
        for choice in answer.get("choices") or ():
            message = choice.get("message") or {}
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                calls.append(
                    ToolCall(
                        str(call.get("id") or ""),
                        str(function.get("name") or ""),
                        str(function.get("arguments") or ""),
                    )
                )
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, tuple(calls))

    def summarize_events(self, events: Sequence[str]) -> Summary:
        # Typed decoding skips every field the summary does not need; several times faster
        # than assembling the answer, and it runs once per streamed call.
        model: str | None = None
        usage: _UsageView | None = None
        # (choice, call) -> id, name pieces, arguments pieces; read by the rule ``merging``
        # applies, so this summary is the summary of the assembled answer.
        calls: dict[tuple[int, int], tuple[list[str], list[str], list[str]]] = {}
        for event in parsed_events(events):
            if event.data == DONE:
                break
            if model and '"tool_calls"' not in event.data and '"usage"' not in event.data:
                continue  # a content delta: nothing in it for the summary
            try:
                chunk = _decode_view(event.data)
            except msgspec.DecodeError:
                continue
            model = chunk.model or model
            usage = chunk.usage or usage
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or ():
                    # A piece without an index is a call of its own (Mistral's whole calls).
                    position = call.index if call.index is not None else _UNINDEXED + len(calls)
                    ids, names, arguments = calls.setdefault((choice.index, position), ([], [], []))
                    if call.id:
                        ids.append(call.id)
                    if call.function is not None:
                        _add_piece(names, call.function.name)
                        _add_piece(arguments, call.function.arguments)
        tokens = None
        if usage is not None:
            details = usage.prompt_tokens_details or _PromptDetailsView()
            tokens = Usage(
                usage.prompt_tokens,
                usage.completion_tokens,
                cached_input_tokens=details.cached_tokens or 0,
                cache_write_tokens=details.cache_write_tokens or 0,
            )
        tool_calls = tuple(
            ToolCall(ids[-1] if ids else "", "".join(names), "".join(arguments))
            for ids, names, arguments in (calls[key] for key in sorted(calls))
        )
        return Summary(model, tokens, tool_calls)

    def event_kind(self, event: str) -> EventKind:
        for parsed in parsed_events((event,)):
            try:
                chunk = msgspec.json.decode(parsed.data)
            except msgspec.DecodeError:
                return EventKind.TEXT
            if not isinstance(chunk, dict):
                return EventKind.TEXT
            choices = chunk.get("choices") or ()
            if any((choice.get("delta") or {}).get("tool_calls") for choice in choices):
                return EventKind.TOOL_CALL
            for choice in choices:
                if choice.get("finish_reason") is not None:
                    return EventKind.TEXT
                for field, value in (choice.get("delta") or {}).items():
                    if field != "role" and value not in _EMPTY:
                        return EventKind.TEXT
            if chunk.get("usage") is not None:
                return EventKind.TEXT
        return EventKind.OPENING

    def streamed_text(self, events: Sequence[str]) -> str:
        parts: list[str] = []
        for event in parsed_events(events):
            if '"content"' not in event.data:
                continue
            try:
                chunk = _decode_text(event.data)
            except msgspec.DecodeError:
                continue
            for choice in chunk.choices:
                content = choice.delta.content
                if isinstance(content, str):
                    parts.append(content)
                elif content is not None:
                    # Content parts: only the answer's text (a thinking part is not answer).
                    parts.extend(part.text for part in content if part.type == "text")
        return "".join(parts)

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = [_tool_call_json(call) for call in tool_calls]
        return {
            "id": _fresh_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        choices = edited.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            choices = edited["choices"] = [
                {"index": 0, "message": {}, "logprobs": None, "finish_reason": "stop"}
            ]
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            message = choice["message"] = {}
        message.setdefault("role", "assistant")
        if content is not None:
            message["content"] = content
        if tool_calls is not None:
            if tool_calls:
                message["tool_calls"] = [_tool_call_json(call) for call in tool_calls]
                choice["finish_reason"] = "tool_calls"
            else:
                message.pop("tool_calls", None)
                if choice.get("finish_reason") == "tool_calls":
                    choice["finish_reason"] = "stop"
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ValueError("must be a chat.completion JSON object")
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError("must have a non-empty `choices` array")
        completed: dict[str, Any] = {
            "id": _fresh_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            **answer,
        }
        fixed = []
        for position, choice in enumerate(choices):
            where = f"choices[{position}]"
            if not isinstance(choice, dict):
                raise ValueError(f"`{where}` must be an object")
            message = choice.get("message")
            if not isinstance(message, dict):
                raise ValueError(f"`{where}.message` must be an object")
            content = message.get("content")
            if not isinstance(content, str | None) and not (
                isinstance(content, list)
                and all(
                    isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
                )
            ):
                raise ValueError(
                    f"`{where}.message.content` must be a string or null, or an array of content "
                    "parts (objects with a `type`)"
                )
            calls = message.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    raise ValueError(f"`{where}.message.tool_calls` must be an array")
                for number, call in enumerate(calls):
                    function = call.get("function") if isinstance(call, dict) else None
                    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                        raise ValueError(
                            f"`{where}.message.tool_calls[{number}].function.name` must be a string"
                        )
                    if not isinstance(function.get("arguments"), str):
                        raise ValueError(
                            f"`{where}.message.tool_calls[{number}].function.arguments` must "
                            "be a string of JSON"
                        )
            fixed.append(
                {
                    "index": position,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                    **choice,
                    "message": {"role": "assistant", **message},
                }
            )
        completed["choices"] = fixed
        return completed

    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        opened = self.assemble(sent)
        ids = {field: opened[field] for field in ("id", "created", "model") if opened.get(field)}
        answer = {**answer, **ids}
        told = [(c.get("message") or {}).get("content") or "" for c in opened["choices"]]
        choices = []
        for position, choice in enumerate(answer.get("choices") or ()):
            message = choice.get("message") or {}
            content, already = (
                message.get("content"),
                told[position] if position < len(told) else "",
            )
            if (
                isinstance(already, str)
                and already
                and isinstance(content, str)
                and content.startswith(already)
            ):
                # An edited answer repeats the text the client has; send only what follows.
                choice = {**choice, "message": {**message, "content": content[len(already) :]}}
            choices.append(choice)
        events = self.to_events({**answer, "choices": choices}, request)
        return events[1:]  # the first event opens the answer, which the client already has


def _listed(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (none when it is not one)."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _add_piece(pieces: list[str], piece: str | None) -> None:
    """Add a piece of a string as ``merging`` joins one: a piece that repeats the whole value
    so far is the same value sent again."""
    if piece is not None and not (len(pieces) == 1 and pieces[0] == piece):
        pieces.append(piece)


def _fresh_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:29]}"


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


class _PartView(msgspec.Struct):
    type: str = ""
    text: str = ""


class _TextDelta(msgspec.Struct):
    content: str | list[_PartView] | None = None


class _TextChoice(msgspec.Struct):
    delta: _TextDelta = msgspec.field(default_factory=_TextDelta)


class _TextChunk(msgspec.Struct):
    choices: list[_TextChoice] = msgspec.field(default_factory=list)


_decode_text = msgspec.json.Decoder(_TextChunk).decode


class _FunctionView(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallView(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    function: _FunctionView | None = None


class _DeltaView(msgspec.Struct):
    tool_calls: list[_ToolCallView] | None = None


class _ChoiceView(msgspec.Struct):
    index: int = 0
    delta: _DeltaView = msgspec.field(default_factory=_DeltaView)


class _PromptDetailsView(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class _UsageView(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptDetailsView | None = None


class _ChunkView(msgspec.Struct):
    model: str | None = None
    choices: list[_ChoiceView] = msgspec.field(default_factory=list)
    usage: _UsageView | None = None


_decode_view = msgspec.json.Decoder(_ChunkView).decode


class _Choice:
    """One choice being assembled from deltas: the delta pieces merge into the message by
    the one rule (``merging``); choice fields take their last value, except ``logprobs``,
    whose lists are pieces too."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.message = Merge({"role": "assistant", "content": None, "refusal": None})
        self.logprobs: Merge | None = None
        self.finish_reason: Any = None
        self.extra: dict[str, Any] = {}

    def add(self, delta_choice: dict[str, Any]) -> None:
        delta = delta_choice.get("delta")
        if isinstance(delta, dict):
            self.message.add(delta)
        logprobs = delta_choice.get("logprobs")
        if isinstance(logprobs, dict):
            if self.logprobs is None:
                self.logprobs = Merge()
            self.logprobs.add(logprobs)
        if delta_choice.get("finish_reason") is not None:
            self.finish_reason = delta_choice["finish_reason"]
        for field, value in delta_choice.items():
            if field not in _CHOICE_FIELDS and value is not None:
                self.extra[field] = value

    def to_json(self) -> dict[str, Any]:
        message = self.message.result()
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            # A JSON answer's tool calls carry no index (the stream's pieces do).
            message["tool_calls"] = [_whole_call(call) for call in calls if isinstance(call, dict)]
        return {
            "index": self.index,
            "message": message,
            "logprobs": self.logprobs.result() if self.logprobs is not None else None,
            "finish_reason": self.finish_reason,
            **self.extra,
        }


def _whole_call(call: dict[str, Any]) -> dict[str, Any]:
    """A merged tool call as a JSON answer has it: no index; id, type and function always."""
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    whole = {field: value for field, value in call.items() if field != "index"}
    whole["id"] = call.get("id") or ""
    whole["type"] = call.get("type") or "function"
    whole["function"] = {
        **function,
        "name": function.get("name") or "",
        "arguments": function.get("arguments") or "",
    }
    return whole
