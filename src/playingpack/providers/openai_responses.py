"""OpenAI Responses (`POST /v1/responses`): a ``response`` JSON, or typed events.

A stream is ``event: <type>`` + ``data: {"type", "sequence_number", ...}`` events: the response
opens (``response.created``, ``response.in_progress``), each output item is added, filled by
deltas and done, and the stream ends with ``response.completed`` (or ``response.incomplete``)
carrying the whole response, exactly the JSON a non-streaming call gets. There is no ``[DONE]``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.conversation import (
    Conversation,
    Turn,
    input_turns,
    read_conversation,
    system_turns,
)
from playingpack.providers.base import (
    EventKind,
    Holdable,
    Summary,
    ToolCall,
    parsed_events,
    usage_of,
)
from playingpack.sse import DONE, Event, format_event

_encode = msgspec.json.encode

# A whole answer ends with one of these (cut by max_output_tokens is still an answer);
# ``response.failed`` and ``error`` end a stream without one.
_COMPLETE = frozenset({"response.completed", "response.incomplete"})
_ENDED = _COMPLETE | {"response.failed"}
_OPENING = frozenset(
    {"response.created", "response.queued", "response.in_progress", "response.content_part.added"}
)
_TOOL_EVENTS = frozenset(
    {
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
    }
)
# Items the client runs itself: what pause mode ``tool-calls`` holds for.
_TOOL_ITEMS = frozenset({"function_call", "custom_tool_call"})
# Output item types the openai SDK knows (types/responses/response_output_item.py).
# fmt: off
_ITEM_TYPES = frozenset({
    "message", "function_call", "reasoning", "custom_tool_call", "file_search_call",
    "web_search_call", "computer_call", "computer_call_output", "function_call_output",
    "custom_tool_call_output", "image_generation_call", "code_interpreter_call",
    "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
    "apply_patch_call", "apply_patch_call_output", "mcp_call", "mcp_list_tools",
    "mcp_approval_request", "mcp_approval_response", "tool_search_call", "tool_search_output",
    "compaction", "additional_tools", "program", "program_output",
})
# fmt: on
# How a finished response can end (in_progress, queued and cancelled are for background runs).
_STATUSES = ("completed", "incomplete", "failed")


class OpenAIResponses(Holdable):
    """The Responses API: ``response`` JSON, or typed events ending in ``response.completed``."""

    endpoint = "/v1/responses"

    def turns(self, body: Any) -> Conversation:
        return read_conversation(body, _input_turns)

    def is_complete(self, events: Sequence[str]) -> bool:
        for text in events:
            if "response.completed" in text or "response.incomplete" in text:
                for event in parsed_events((text,)):
                    data = None if event.event is not None else _decode(event.data)
                    if _type(event, data) in _COMPLETE:
                        return True
        return False

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        final = _final_response(events)
        if final is not None and (final["output"] or final.get("status") == "failed"):
            return final
        # A stream cut off, or whose last event left the output out (some gateways send
        # ``response.completed`` with ``output: []``): rebuilt from the items it streamed.
        return _Accumulator(events).answer()

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        writer = _Writer()
        opening = _opening(answer)
        writer.add("response.created", response=opening)
        writer.add("response.in_progress", response=opening)
        for index, item in enumerate(_output(answer)):
            writer.item(index, item)
        writer.add(_terminal_type(answer), response=answer)
        return writer.events

    def answer_text(self, answer: dict[str, Any]) -> str:
        return "".join(
            part["text"]
            for item in _output(answer)
            if item.get("type") == "message"
            for part in _list(item.get("content"))
            if part.get("type") == "output_text" and isinstance(part.get("text"), str)
        )

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = usage_of(
            answer.get("usage"), "input_tokens", "output_tokens", "input_tokens_details"
        )
        calls = tuple(
            ToolCall(
                str(item.get("call_id") or ""),
                str(item.get("name") or ""),
                str(item.get("arguments" if item["type"] == "function_call" else "input") or ""),
            )
            for item in _output(answer)
            if item.get("type") in _TOOL_ITEMS
        )
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, calls)

    def failure(self, events: Sequence[str]) -> str | None:
        # Every event that carries an error names it in quotes: `"type":"error"`, an
        # `"error"` object, or `response.failed` (whose response has `"error"`). Events with a
        # whole response also carry `"error":null`, hence the typed decoding after the check.
        for text in events:
            if '"error"' not in text:
                continue
            for event in parsed_events((text,)):
                try:
                    view = _decode_failure(event.data)
                except msgspec.DecodeError:
                    continue
                type_ = event.event or view.type
                if type_ == "response.failed":
                    error = view.response.error if view.response is not None else None
                    return str(_message_of(error) or "the response failed")
                if type_ == "error" or (not type_ and view.error is not None):
                    return str(_message_of(view.error) or view.message or "error")
        return None

    def error_event(self, message: str, type_: str, code: str) -> str:
        # The openai SDK raises APIError for a streamed event whose data has an "error" object
        # (the shape OpenAI sends); the top-level fields are the documented ResponseErrorEvent.
        # The event does not know the stream's numbering, hence sequence number 0.
        error = {"message": message, "type": type_, "code": code, "param": None}
        data = {
            "type": "error",
            "sequence_number": 0,
            "code": code,
            "message": message,
            "param": None,
            "error": error,
        }
        return format_event(_encode(data).decode(), event="error")

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "code": code, "param": None}}

    def event_kind(self, event: str) -> EventKind:
        for parsed in parsed_events((event,)):
            data = _decode(parsed.data) if parsed.event is None else None
            type_ = _type(parsed, data)
            if type_ in _TOOL_EVENTS:
                return EventKind.TOOL_CALL
            if type_ in _OPENING:
                return EventKind.OPENING
            if type_ == "response.output_item.added":
                data = data if data is not None else _decode(parsed.data)
                item = data.get("item") if data is not None else None
                item_type = item.get("type") if isinstance(item, dict) else None
                if item_type in _TOOL_ITEMS:
                    return EventKind.TOOL_CALL
                if item_type == "message":
                    return EventKind.OPENING
            return EventKind.TEXT
        return EventKind.OPENING

    def streamed_text(self, events: Sequence[str]) -> str:
        parts: list[str] = []
        for event in parsed_events(events):
            if "response.output_text.delta" not in event.data:
                continue
            try:
                delta = _decode_delta(event.data)
            except msgspec.DecodeError:
                continue
            if delta.type == "response.output_text.delta":
                parts.append(delta.delta)
        return "".join(parts)

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if content is not None:
            output.append(_message(content))
        output.extend(_function_call(call) for call in tool_calls)
        return {**_template(model), "output": output}

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        output = _output(edited)
        if content is not None:
            messages = [n for n, item in enumerate(output) if item.get("type") == "message"]
            if messages:
                first = output[messages[0]]
                first["content"] = [_text_part(content)]
                for position in reversed(messages[1:]):
                    del output[position]
            else:
                calls = [n for n, item in enumerate(output) if item.get("type") in _TOOL_ITEMS]
                output.insert(calls[0] if calls else len(output), _message(content))
        if tool_calls is not None:
            calls = [n for n, item in enumerate(output) if item.get("type") in _TOOL_ITEMS]
            at = calls[0] if calls else len(output)
            for position in reversed(calls):
                del output[position]
            output[at:at] = [_function_call(call) for call in tool_calls]
        edited["output"] = output
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ValueError("must be a Responses API `response` JSON object")
        output = answer.get("output")
        if not isinstance(output, list):
            raise ValueError("`output` must be an array of output items")
        status = answer.get("status", "completed")
        if status not in _STATUSES:
            raise ValueError(f"`status` must be one of {', '.join(_STATUSES)}, got {status!r}")
        usage = answer.get("usage")
        if usage is not None and not isinstance(usage, dict):
            raise ValueError("`usage` must be an object or null")
        completed: dict[str, Any] = {**_template(model), **answer}
        completed["output"] = [_checked_item(item, f"output[{n}]") for n, item in enumerate(output)]
        return completed

    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        told = _Accumulator(sent)
        writer = _Writer(told.last_sequence + 1)
        # Items the client saw added but not done are closed as they stand.
        for index in sorted(told.items):
            if index not in told.done:
                item = {**told.items[index]}
                if "status" in item:
                    item["status"] = "completed"
                told.items[index] = item
                writer.add("response.output_item.done", output_index=index, item=item)
        opened = told.response or {}
        ids = {f: opened[f] for f in ("id", "object", "created_at", "model") if opened.get(f)}
        start = max(told.items, default=-1) + 1
        mock_items = _output(answer)
        for offset, item in enumerate(mock_items):
            writer.item(start + offset, item)
        whole = {
            **answer,
            **ids,
            "output": [told.items[i] for i in sorted(told.items)] + mock_items,
        }
        writer.add(_terminal_type(whole), response=whole)
        return writer.events


# --- reading events ---------------------------------------------------------------------------


def _input_turns(request: dict[str, Any]) -> list[Turn]:
    turns = system_turns(request.get("instructions"))
    if "input" in request:
        turns += input_turns(request["input"], conversational=True)
    return turns


def _decode(data: str) -> dict[str, Any] | None:
    if not data or data == DONE:
        return None
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _type(event: Event, data: dict[str, Any] | None) -> str | None:
    """The event's type: its ``event:`` name, else the ``type`` of its data."""
    if event.event is not None:
        return event.event
    value = data.get("type") if data is not None else None
    return value if isinstance(value, str) else None


def _message_of(error: Any) -> Any:
    return error.get("message") if isinstance(error, dict) else None


class _FailedResponseView(msgspec.Struct):
    error: Any = None


class _FailureView(msgspec.Struct):
    type: str | None = None
    error: Any = None
    message: Any = None
    response: _FailedResponseView | None = None


_decode_failure = msgspec.json.Decoder(_FailureView).decode


def _final_response(events: Sequence[str]) -> dict[str, Any] | None:
    """The response of the stream's last event when that event ends the stream with the whole
    output: the answer a non-streaming call gets, with nothing to rebuild."""
    for text in reversed(events):
        for event in reversed(list(parsed_events((text,)))):
            if event.data == DONE:
                continue
            data = _decode(event.data)
            if data is None or _type(event, data) not in _ENDED:
                return None
            response = data.get("response")
            if isinstance(response, dict) and isinstance(response.get("output"), list):
                return response
            return None
    return None


class _Accumulator:
    """A response rebuilt from its events, for a stream without a final response (cut off, or
    the part a client has seen so far)."""

    def __init__(self, events: Sequence[str]) -> None:
        self.response: dict[str, Any] | None = None
        self.items: dict[int, dict[str, Any]] = {}
        self.done: set[int] = set()
        self.last_sequence = -1
        for event in parsed_events(events):
            data = _decode(event.data)
            if data is not None:
                self._add(_type(event, data) or "", data)

    def answer(self) -> dict[str, Any]:
        response = dict(self.response or {"id": "", "object": "response", "model": ""})
        if not isinstance(response.get("output"), list) or not response["output"]:
            response["output"] = [self.items[i] for i in sorted(self.items)]
        return response

    def _add(self, type_: str, data: dict[str, Any]) -> None:
        sequence = data.get("sequence_number")
        if isinstance(sequence, int):
            self.last_sequence = max(self.last_sequence, sequence)
        if isinstance(data.get("response"), dict) and type_.startswith("response."):
            self.response = data["response"]
            return
        index = data.get("output_index")
        if not isinstance(index, int):
            return
        if type_ in ("response.output_item.added", "response.output_item.done"):
            if isinstance(data.get("item"), dict):
                self.items[index] = data["item"]  # freshly decoded: safe to change
                if type_ == "response.output_item.done":
                    self.done.add(index)
            return
        item = self.items.get(index)
        if item is None:
            return
        delta = data.get("delta")
        if type_ == "response.function_call_arguments.delta" and isinstance(delta, str):
            item["arguments"] = str(item.get("arguments") or "") + delta
        elif type_ == "response.function_call_arguments.done":
            item["arguments"] = data.get("arguments", item.get("arguments"))
        elif type_ == "response.custom_tool_call_input.delta" and isinstance(delta, str):
            item["input"] = str(item.get("input") or "") + delta
        elif type_ in ("response.content_part.added", "response.content_part.done"):
            _put(item, "content", data.get("content_index"), data.get("part"))
        elif type_ in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            _put(item, "summary", data.get("summary_index"), data.get("part"))
        elif isinstance(delta, str):
            part = self._part(item, type_, data)
            if part is not None:
                field = "refusal" if type_ == "response.refusal.delta" else "text"
                part[field] = str(part.get(field) or "") + delta
        elif type_ == "response.output_text.annotation.added":
            part = self._part(item, type_, data)
            position = data.get("annotation_index")
            if part is not None and isinstance(position, int):
                annotations = part.setdefault("annotations", [])
                if isinstance(annotations, list):
                    annotations[position:position] = [data.get("annotation")]

    @staticmethod
    def _part(item: dict[str, Any], type_: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The content or summary part a delta adds to."""
        if type_ == "response.reasoning_summary_text.delta":
            field, position = "summary", data.get("summary_index")
        else:
            field, position = "content", data.get("content_index")
        parts = item.get(field)
        if not isinstance(parts, list) or not isinstance(position, int):
            return None
        if position < len(parts) and isinstance(parts[position], dict):
            part: dict[str, Any] = parts[position]
            return part
        return None


def _put(item: dict[str, Any], field: str, position: Any, part: Any) -> None:
    if not isinstance(position, int) or not isinstance(part, dict):
        return
    parts = item.get(field)
    if not isinstance(parts, list):
        parts = item[field] = []
    while len(parts) <= position:
        parts.append({})
    parts[position] = part


class _Delta(msgspec.Struct):
    type: str = ""
    delta: str = ""


_decode_delta = msgspec.json.Decoder(_Delta).decode


# --- writing events ---------------------------------------------------------------------------


class _Writer:
    """Typed events with increasing sequence numbers, framed as OpenAI sends them."""

    def __init__(self, sequence: int = 0) -> None:
        self.events: list[str] = []
        self.sequence = sequence

    def add(self, type_: str, **fields: Any) -> None:
        data = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        self.events.append(format_event(_encode(data).decode(), event=type_))

    def item(self, index: int, item: dict[str, Any]) -> None:
        """The events of one output item, from added to done."""
        kind = item.get("type")
        item_id = item.get("id", "")
        where = {"item_id": item_id, "output_index": index}
        added = {**item}
        if "status" in item or kind in ("message", "function_call"):
            added["status"] = "in_progress"
        if kind == "message":
            added["content"] = []
        elif kind == "function_call":
            added["arguments"] = ""
        elif kind == "custom_tool_call":
            added["input"] = ""
        elif kind == "reasoning":
            added["summary"] = []
            if isinstance(item.get("content"), list):
                added["content"] = []
        self.add("response.output_item.added", output_index=index, item=added)
        if kind == "message":
            for position, part in enumerate(_list(item.get("content"))):
                self._content_part(where, position, part)
        elif kind == "function_call":
            arguments = str(item.get("arguments") or "")
            if arguments:
                self.add("response.function_call_arguments.delta", **where, delta=arguments)
            self.add("response.function_call_arguments.done", **where, arguments=arguments)
        elif kind == "custom_tool_call":
            text = str(item.get("input") or "")
            if text:
                self.add("response.custom_tool_call_input.delta", **where, delta=text)
            self.add("response.custom_tool_call_input.done", **where, input=text)
        elif kind == "reasoning":
            for position, part in enumerate(_list(item.get("summary"))):
                at = {**where, "summary_index": position}
                text = str(part.get("text") or "")
                self.add("response.reasoning_summary_part.added", **at, part={**part, "text": ""})
                if text:
                    self.add("response.reasoning_summary_text.delta", **at, delta=text)
                self.add("response.reasoning_summary_text.done", **at, text=text)
                self.add("response.reasoning_summary_part.done", **at, part=part)
            for position, part in enumerate(_list(item.get("content"))):
                at = {**where, "content_index": position}
                text = str(part.get("text") or "")
                self.add("response.content_part.added", **at, part={**part, "text": ""})
                if text:
                    self.add("response.reasoning_text.delta", **at, delta=text)
                self.add("response.reasoning_text.done", **at, text=text)
                self.add("response.content_part.done", **at, part=part)
        self.add("response.output_item.done", output_index=index, item=item)

    def _content_part(self, where: dict[str, Any], position: int, part: dict[str, Any]) -> None:
        at = {**where, "content_index": position}
        kind = part.get("type")
        if kind == "output_text":
            text = str(part.get("text") or "")
            logprobs = part.get("logprobs") or []
            opening = {**part, "text": "", "annotations": []}
            if "logprobs" in part:
                opening["logprobs"] = []
            self.add("response.content_part.added", **at, part=opening)
            if text:
                self.add("response.output_text.delta", **at, delta=text, logprobs=logprobs)
            for number, annotation in enumerate(_list(part.get("annotations"))):
                self.add(
                    "response.output_text.annotation.added",
                    **at,
                    annotation_index=number,
                    annotation=annotation,
                )
            self.add("response.output_text.done", **at, text=text, logprobs=logprobs)
        elif kind == "refusal":
            refusal = str(part.get("refusal") or "")
            self.add("response.content_part.added", **at, part={**part, "refusal": ""})
            if refusal:
                self.add("response.refusal.delta", **at, delta=refusal)
            self.add("response.refusal.done", **at, refusal=refusal)
        else:
            self.add("response.content_part.added", **at, part=part)
        self.add("response.content_part.done", **at, part=part)


def _list(value: Any) -> list[dict[str, Any]]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _output(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return _list(answer.get("output"))


def _opening(answer: dict[str, Any]) -> dict[str, Any]:
    """The response as ``response.created`` shows it: in progress, nothing output yet."""
    opening = {
        **answer,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
    }
    if "completed_at" in opening:
        opening["completed_at"] = None
    return opening


def _terminal_type(answer: dict[str, Any]) -> str:
    status = answer.get("status")
    if status == "incomplete":
        return "response.incomplete"
    if status == "failed":
        return "response.failed"
    return "response.completed"


# --- making answers ---------------------------------------------------------------------------


def _fresh(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _template(model: str) -> dict[str, Any]:
    """A completed response with no output, every top-level field as OpenAI sends it."""
    now = int(time.time())
    return {
        "id": _fresh("resp"),
        "object": "response",
        "created_at": now,
        "status": "completed",
        "background": False,
        "completed_at": now,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        },
        "user": None,
        "metadata": {},
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(text: str) -> dict[str, Any]:
    return {
        "id": _fresh("msg"),
        "type": "message",
        "status": "completed",
        "content": [_text_part(text)],
        "role": "assistant",
    }


def _function_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": _fresh("fc"),
        "type": "function_call",
        "status": "completed",
        "arguments": call.arguments,
        "call_id": call.id or f"call_{secrets.token_hex(12)}",
        "name": call.name,
    }


def _checked_item(item: Any, where: str) -> dict[str, Any]:
    """One output item of a person's response, with ids and statuses filled in."""
    if not isinstance(item, dict):
        raise ValueError(f"`{where}` must be an object")
    kind = item.get("type")
    if kind not in _ITEM_TYPES:
        raise ValueError(
            f"`{where}.type` must be an output item type such as message, function_call or "
            f"reasoning, got {kind!r}"
        )
    if kind == "message":
        content = item.get("content")
        if not isinstance(content, list):
            raise ValueError(f"`{where}.content` must be an array of output_text parts")
        parts = []
        for number, part in enumerate(content):
            at = f"{where}.content[{number}]"
            if not isinstance(part, dict):
                raise ValueError(f"`{at}` must be an object")
            if part.get("type") == "output_text":
                if not isinstance(part.get("text"), str):
                    raise ValueError(f"`{at}.text` must be a string")
                parts.append({"annotations": [], "logprobs": [], **part})
            elif part.get("type") == "refusal":
                if not isinstance(part.get("refusal"), str):
                    raise ValueError(f"`{at}.refusal` must be a string")
                parts.append(part)
            else:
                raise ValueError(f"`{at}.type` must be output_text or refusal")
        return {
            "id": _fresh("msg"),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            **item,
            "content": parts,
        }
    if kind == "function_call":
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"`{where}.name` must be the function's name")
        if not isinstance(item.get("arguments"), str):
            raise ValueError(f"`{where}.arguments` must be a string of JSON")
        if not isinstance(item.get("call_id", ""), str):
            raise ValueError(f"`{where}.call_id` must be a string")
        return {
            "id": _fresh("fc"),
            "type": "function_call",
            "status": "completed",
            "call_id": f"call_{secrets.token_hex(12)}",
            **item,
        }
    if kind == "custom_tool_call":
        for field in ("name", "input"):
            if not isinstance(item.get(field), str):
                raise ValueError(f"`{where}.{field}` must be a string")
        return {"id": _fresh("ctc"), "call_id": f"call_{secrets.token_hex(12)}", **item}
    if kind == "reasoning":
        summary = item.get("summary", [])
        if not isinstance(summary, list) or not all(
            isinstance(part, dict) and isinstance(part.get("text"), str) for part in summary
        ):
            raise ValueError(f"`{where}.summary` must be an array of summary_text parts")
        return {"id": _fresh("rs"), "type": "reasoning", **item, "summary": summary}
    return item
