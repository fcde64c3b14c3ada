"""Anthropic Messages (`POST /v1/messages`): a ``message`` JSON, or its named SSE events.

A stream is ``message_start`` (the message with no content yet), ``ping``, per content block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, then
``message_delta`` (stop reason, final usage) and ``message_stop``. Every event carries an
``event:`` line: the anthropic SDKs skip events without one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.conversation import (
    Conversation,
    message_turns,
    read_conversation,
    system_turns,
)
from playingpack.merging import Merge
from playingpack.providers.base import EventKind, Holdable, Summary, ToolCall, Usage, parsed_events
from playingpack.sse import format_event, parse_event

_encode = msgspec.json.encode
# Message fields a stream only reports at its end, in message_delta's `delta`.
_FINAL_FIELDS = ("stop_reason", "stop_sequence", "stop_details")
# Usage fields a stream only reports at its end, in message_delta's `usage`.
_FINAL_USAGE = frozenset({"output_tokens", "output_tokens_details", "server_tool_use"})
# What counts as input: fresh tokens plus those written to and read from the prompt cache.
_INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# Blocks whose `input` streams as input_json_delta (tool_use is the client's; the others run
# on Anthropic's side and are no tool call of the agent).
_INPUT_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# Blocks that run on Anthropic's side and arrive whole in their content_block_start.
_SERVER_BLOCKS = frozenset(
    {
        "server_tool_use",
        "mcp_tool_use",
        "mcp_tool_result",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
    }
)
# Fields of a compaction block that stream in its compaction_delta.
_COMPACTION_FIELDS = ("content", "encrypted_content")
_PING = format_event('{"type":"ping"}', "ping")
_STOP = format_event('{"type":"message_stop"}', "message_stop")


class AnthropicMessages(Holdable):
    """Anthropic Messages: ``message`` JSON, or ``message_start`` ... ``message_stop`` events.

    Usage maps to input tokens = ``input_tokens`` + ``cache_creation_input_tokens`` +
    ``cache_read_input_tokens`` (every prompt token the call processed, as Anthropic's own
    docs total them; Anthropic's ``input_tokens`` alone excludes the cached ones), of which
    ``cache_read_input_tokens`` are cached input and ``cache_creation_input_tokens`` cache
    writes; output tokens = ``output_tokens``. Tool calls are the ``tool_use``
    blocks; server tools (web search, code execution) run at Anthropic and are not counted.
    """

    endpoint = "/v1/messages"
    azure = False

    def turns(self, body: Any) -> Conversation:
        return read_conversation(
            body,
            lambda request: [
                *system_turns(request.get("system")),
                *message_turns(request.get("messages")),
            ],
        )

    def is_complete(self, events: Sequence[str]) -> bool:
        return any(
            event.event == "message_stop"
            or (event.event is None and _type_of(event.data) == "message_stop")
            for text in events
            if "message_stop" in text
            for event in parsed_events((text,))
        )

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        message: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        blocks: dict[int, Merge] = {}
        inputs: dict[int, list[str]] = {}
        for event in parsed_events(events):
            try:
                data = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue
            if not isinstance(data, dict):
                continue
            kind = data.get("type")
            if kind == "message_start" and isinstance(data.get("message"), dict):
                message = data["message"]
                usage = dict(message.get("usage") or {})
                for index, block in enumerate(message.get("content") or ()):
                    if isinstance(block, dict):
                        blocks[index] = Merge(block)
            elif kind == "content_block_start" and isinstance(data.get("content_block"), dict):
                block = data["content_block"]
                blocks[_index(data)] = Merge(block)
                served_by = block.get("to") if block.get("type") == "fallback" else None
                if isinstance(served_by, dict) and isinstance(served_by.get("model"), str):
                    # After a fallback the JSON answer names the model that served it.
                    message["model"] = served_by["model"]
            elif kind == "content_block_delta" and isinstance(data.get("delta"), dict):
                index = _index(data)
                merge = blocks.get(index)
                if merge is None:
                    merge = blocks[index] = Merge()
                _apply_delta(merge, data["delta"], inputs.setdefault(index, []))
            elif kind == "message_delta":
                for field, value in data.items():
                    if field == "delta" and isinstance(value, dict):
                        _merge(message, value)
                    elif field == "usage" and isinstance(value, dict):
                        _merge(usage, value)
                        if "output_tokens" in value:
                            usage["output_tokens"] = value["output_tokens"]
                    elif field not in ("type", "delta", "usage"):
                        message[field] = value
            elif kind == "message_stop":
                break
        content = {index: merge.result() for index, merge in blocks.items()}
        for index, parts in inputs.items():
            if parts:
                content[index]["input"] = _parse_input("".join(parts))
        message["content"] = [content[i] for i in sorted(content)]
        if usage or "usage" in message:
            message["usage"] = usage
        return message

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        events = [_event({"type": "message_start", "message": _opening(answer)}), _PING]
        for index, block in enumerate(_blocks(answer)):
            events.extend(_block_events(block, index))
        events.extend(_closing(answer))
        return events

    def answer_text(self, answer: dict[str, Any]) -> str:
        return "".join(
            block["text"]
            for block in _blocks(answer)
            if block.get("type") == "text" and isinstance(block.get("text"), str)
        )

    def summarize(self, answer: dict[str, Any]) -> Summary:
        usage = answer.get("usage")
        tokens = None
        if isinstance(usage, dict):
            tokens = Usage(
                sum(_count(usage.get(field)) for field in _INPUT_USAGE),
                _count(usage.get("output_tokens")),
                cached_input_tokens=_count(usage.get("cache_read_input_tokens")),
                cache_write_tokens=_count(usage.get("cache_creation_input_tokens")),
            )
        calls = tuple(
            ToolCall(
                str(block.get("id") or ""),
                str(block.get("name") or ""),
                _arguments(block.get("input")),
            )
            for block in _blocks(answer)
            if block.get("type") == "tool_use"
        )
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, calls)

    def failure(self, events: Sequence[str]) -> str | None:
        # `event: error` with `{"type": "error", "error": {...}}`: both name "error" in quotes.
        for text in events:
            if '"error"' not in text:
                continue
            for event in parsed_events((text,)):
                try:
                    data = msgspec.json.decode(event.data)
                except msgspec.DecodeError:
                    data = None
                if event.event != "error" and not (
                    isinstance(data, dict) and data.get("type") == "error"
                ):
                    continue
                error = data.get("error") if isinstance(data, dict) else None
                found = error.get("message") if isinstance(error, dict) else None
                return str(found or "error")
        return None

    def error_event(self, message: str, type_: str, code: str) -> str:
        # The SDKs raise APIStatusError on an `error` event, with this body as the error's body.
        return _event(self.error_json(message, type_, code))

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        # Anthropic's error body has no code; the type and the message say it all.
        return {"type": "error", "error": {"type": type_, "message": message}}

    def event_kind(self, event: str) -> EventKind:
        parsed = parse_event(event)
        if not parsed.data:
            return EventKind.OPENING
        try:
            view = _decode_kind(parsed.data)
        except msgspec.DecodeError:
            return EventKind.TEXT
        if view.type in ("message_start", "ping"):
            return EventKind.OPENING
        if view.type == "content_block_start" and view.content_block is not None:
            block = view.content_block.type
            if block == "tool_use":
                return EventKind.TOOL_CALL
            return EventKind.OPENING if block == "text" else EventKind.TEXT
        # input_json_delta always follows its block's content_block_start, which already said
        # whether the block is a tool call (tool_use) or runs at Anthropic (server_tool_use),
        # so it is TEXT here: a server tool's input must not hold an answer on its own.
        return EventKind.TEXT

    def streamed_text(self, events: Sequence[str]) -> str:
        parts: list[str] = []
        for event in parsed_events(events):
            if '"text_delta"' not in event.data:
                continue
            try:
                view = _decode_text(event.data)
            except msgspec.DecodeError:
                continue
            if view.delta is not None and view.delta.type == "text_delta":
                parts.append(view.delta.text)
        return "".join(parts)

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = []
        if content or (content is not None and not tool_calls):
            blocks.append({"type": "text", "text": content})
        blocks.extend(_tool_use_json(call) for call in tool_calls)
        return {
            "id": _fresh_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": "tool_use" if tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        blocks = _blocks(edited)
        if content is not None:
            # The new text takes the place of the first text block (or leads the answer).
            texts = [i for i, block in enumerate(blocks) if block.get("type") == "text"]
            at = texts[0] if texts else 0
            blocks = [block for block in blocks if block.get("type") != "text"]
            if content:
                blocks.insert(at, {"type": "text", "text": content})
        if tool_calls is not None:
            blocks = [block for block in blocks if block.get("type") != "tool_use"]
            blocks.extend(_tool_use_json(call) for call in tool_calls)
            if tool_calls:
                edited["stop_reason"] = "tool_use"
            elif edited.get("stop_reason") == "tool_use":
                edited["stop_reason"] = "end_turn"
        if not blocks:
            blocks = [{"type": "text", "text": content or ""}]
        edited["content"] = blocks
        edited.setdefault("role", "assistant")
        edited.setdefault("type", "message")
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ValueError("must be a message JSON object")
        if answer.get("type", "message") != "message":
            raise ValueError('`type` must be "message"')
        if answer.get("role", "assistant") != "assistant":
            raise ValueError('`role` must be "assistant"')
        if not isinstance(answer.get("model", model), str):
            raise ValueError("`model` must be a string")
        content = answer.get("content")
        if not isinstance(content, list):
            raise ValueError("must have a `content` array of content blocks")
        blocks = [_checked_block(block, f"content[{n}]") for n, block in enumerate(content)]
        usage = answer.get("usage", {})
        if not isinstance(usage, dict):
            raise ValueError("`usage` must be an object")
        for field in ("input_tokens", "output_tokens"):
            if not isinstance(usage.get(field, 0), int):
                raise ValueError(f"`usage.{field}` must be an integer")
        for field in ("stop_reason", "stop_sequence"):
            if not isinstance(answer.get(field), str | None):
                raise ValueError(f"`{field}` must be a string or null")
        calls = any(block["type"] == "tool_use" for block in blocks)
        return {
            "id": _fresh_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_sequence": None,
            **answer,
            "content": blocks,
            "stop_reason": answer.get("stop_reason") or ("tool_use" if calls else "end_turn"),
            "usage": {"input_tokens": 0, "output_tokens": 0, **usage},
        }

    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        stopped: set[int] = set()
        opened = False
        for event in parsed_events(sent):
            try:
                view = _decode_kind(event.data)
            except msgspec.DecodeError:
                continue
            opened = opened or view.type == "message_start"
            if view.type == "content_block_stop":
                stopped.add(view.index)
        if not opened:
            return self.to_events(answer, request)
        # The client has this message's opening (its id, model and input usage) and the
        # blocks sent so far. Leading blocks of the answer it already has (an edit of the real
        # answer keeps them) are not sent twice; an unfinished text block the answer's text
        # goes on from is continued; any other unfinished block is closed. The rest of the
        # answer's blocks follow at the next indexes.
        have = _blocks(self.assemble(sent))
        blocks = _blocks(answer)
        same = 0
        while same < min(len(have), len(blocks)) and have[same] == blocks[same]:
            same += 1
        events: list[str] = []
        for index, block in enumerate(have):
            if index in stopped:
                continue
            if index == same == len(have) - 1 and same < len(blocks):
                rest = _rest_of_text(block, blocks[same])
                if rest is not None:
                    if rest:
                        delta = {"type": "text_delta", "text": rest}
                        events.append(
                            _event({"type": "content_block_delta", "index": index, "delta": delta})
                        )
                    same += 1
            events.append(_event({"type": "content_block_stop", "index": index}))
        for position, block in enumerate(blocks[same:]):
            events.extend(_block_events(block, len(have) + position))
        events.extend(_closing(answer))
        return events


def _rest_of_text(sent: dict[str, Any], block: dict[str, Any]) -> str | None:
    """The text ``block`` adds to the partly sent text block ``sent``, or None when ``block``
    does not go on from it."""
    before, after = sent.get("text"), block.get("text")
    if sent.get("type") != "text" or not isinstance(before, str) or not isinstance(after, str):
        return None
    if not after.startswith(before) or {**sent, "text": ""} != {**block, "text": ""}:
        return None
    return after[len(before) :]


def _event(data: dict[str, Any]) -> str:
    """One event, named after its `type` as Anthropic names them."""
    return format_event(_encode(data).decode(), str(data["type"]))


def _opening(answer: dict[str, Any]) -> dict[str, Any]:
    """The message as message_start gives it: no content, no stop reason, usage so far."""
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    output = _count(usage.get("output_tokens"))
    start_usage: dict[str, Any] = {"input_tokens": 0}
    for field, value in usage.items():
        if field == "output_tokens":
            start_usage[field] = min(output, 1)  # Anthropic opens with the first token counted
        elif field not in _FINAL_USAGE:
            start_usage[field] = value
    start_usage.setdefault("output_tokens", min(output, 1))
    message: dict[str, Any] = {
        "id": "",
        "type": "message",
        "role": "assistant",
        "model": "",
        "content": [],
    }
    for field, value in answer.items():
        if field == "content":
            continue
        message[field] = None if field in _FINAL_FIELDS else value
    message.update(stop_reason=None, stop_sequence=None, usage=start_usage)
    return message


def _closing(answer: dict[str, Any]) -> list[str]:
    """message_delta (stop reason, final usage) and message_stop."""
    delta = {field: answer.get(field) for field in _FINAL_FIELDS if field in answer}
    delta.setdefault("stop_reason", None)
    delta.setdefault("stop_sequence", None)
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    final: dict[str, Any] = {"output_tokens": _count(usage.get("output_tokens"))}
    final.update({f: v for f, v in usage.items() if f in _FINAL_USAGE and f != "output_tokens"})
    return [_event({"type": "message_delta", "delta": delta, "usage": final}), _STOP]


def _block_events(block: dict[str, Any], index: int) -> list[str]:
    """content_block_start, its deltas and content_block_stop for one block of an answer."""
    kind = block.get("type")
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        start["text"] = ""
        if block.get("text"):
            deltas.append({"type": "text_delta", "text": block["text"]})
        citations = block.get("citations")
        if isinstance(citations, list) and citations:
            del start["citations"]
            deltas.extend({"type": "citations_delta", "citation": c} for c in citations)
    elif kind in _INPUT_BLOCKS and isinstance(block.get("input", {}), dict):
        start["input"] = {}
        given = block.get("input") or {}
        deltas.append(
            {"type": "input_json_delta", "partial_json": _encode(given).decode() if given else ""}
        )
    elif kind == "thinking":
        start["thinking"] = ""
        start["signature"] = ""
        if block.get("thinking"):
            deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "compaction":
        # Anthropic opens a compaction block with a null summary and sends it in one delta.
        streamed = {f: block[f] for f in _COMPACTION_FIELDS if block.get(f) is not None}
        start.update({f: None for f in _COMPACTION_FIELDS if f in block})
        if streamed:
            deltas.append({"type": "compaction_delta", **streamed})
    events = [_event({"type": "content_block_start", "index": index, "content_block": start})]
    events.extend(
        _event({"type": "content_block_delta", "index": index, "delta": delta}) for delta in deltas
    )
    events.append(_event({"type": "content_block_stop", "index": index}))
    return events


def _apply_delta(block: Merge, delta: dict[str, Any], inputs: list[str]) -> None:
    """Apply one ``<name>_delta`` to its block: the fields of the delta merge into the block by
    the one rule (``text_delta``, ``thinking_delta``, ``signature_delta``, ``compaction_delta``,
    ``citations_delta`` as a ``citations`` entry, and any delta to come), except a tool
    input's JSON text, joined apart and parsed at the end."""
    kind = delta.get("type")
    if kind == "input_json_delta":
        inputs.append(str(delta.get("partial_json") or ""))
    elif kind == "citations_delta":
        block.add({"citations": [delta.get("citation")]})
    else:
        block.add({field: value for field, value in delta.items() if field != "type"})


def _merge(target: dict[str, Any], values: dict[str, Any]) -> None:
    """Set ``values`` on ``target``; a null does not erase a value known before (as the SDKs
    merge message_delta: an absent or null count keeps message_start's)."""
    for field, value in values.items():
        if value is not None or target.get(field) is None:
            target[field] = value


def _parse_input(text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text  # invalid JSON from the model: kept as it came, for the person to see


def _checked_block(given: Any, where: str) -> dict[str, Any]:
    """A content block given by a person, with a fresh id where a tool_use has none."""
    if not isinstance(given, dict):
        raise ValueError(f"`{where}` must be an object")
    block: dict[str, Any] = given
    kind = block.get("type")
    strings: tuple[str, ...]
    if kind == "text":
        strings = ("text",)
        if not isinstance(block.get("citations"), list | None):
            raise ValueError(f"`{where}.citations` must be an array or null")
    elif kind == "tool_use":
        strings = ("name",)
        if not isinstance(block.get("input"), dict):
            raise ValueError(f"`{where}.input` must be an object (the tool's arguments)")
        if not isinstance(block.get("id", ""), str):
            raise ValueError(f"`{where}.id` must be a string")
        block = {"type": "tool_use", **block, "id": block.get("id") or _fresh_tool_id()}
    elif kind == "thinking":
        strings = ("thinking", "signature")
    elif kind == "redacted_thinking":
        strings = ("data",)
    elif kind in _SERVER_BLOCKS:
        strings = ()
    else:
        raise ValueError(
            f"`{where}.type` must be one of text, tool_use, thinking, redacted_thinking or a "
            f"server tool block, got {kind!r}"
        )
    for field in strings:
        if not isinstance(block.get(field), str):
            raise ValueError(f"`{where}.{field}` must be a string")
    return block


def _blocks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    content = answer.get("content")
    return (
        [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []
    )


def _tool_use_json(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": call.id or _fresh_tool_id(),
        "name": call.name,
        "input": _parse_input(call.arguments),
    }


def _arguments(value: Any) -> str:
    """A tool_use block's input as the JSON text a ToolCall carries."""
    if isinstance(value, str):
        return value
    return _encode(value if value is not None else {}).decode()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _index(data: dict[str, Any]) -> int:
    return _count(data.get("index"))


def _type_of(data: str) -> str:
    try:
        return _decode_kind(data).type
    except msgspec.DecodeError:
        return ""


def _fresh_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _fresh_tool_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


class _BlockView(msgspec.Struct):
    type: str = ""


class _KindView(msgspec.Struct):
    type: str = ""
    index: int = 0
    content_block: _BlockView | None = None


_decode_kind = msgspec.json.Decoder(_KindView).decode


class _TextDeltaView(msgspec.Struct):
    type: str = ""
    text: str = ""


class _TextView(msgspec.Struct):
    delta: _TextDeltaView | None = None


_decode_text = msgspec.json.Decoder(_TextView).decode
