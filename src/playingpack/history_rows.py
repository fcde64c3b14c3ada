"""What a finished flow becomes in the history: its columns, its stored JSON and its search
text. Built in the history's writer thread, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from playingpack.conversation import TextPart, ToolCallPart, ToolResultPart
from playingpack.threads import flow_fingerprint
from playingpack.wire import FlowDetailJSON, FlowJSON, encode, flow_detail_json

if TYPE_CHECKING:
    from playingpack.flows import Flow
    from playingpack.threads import Placement, ThreadIndex

# The search text of one call is cut here: a call with a huge input is still found by its
# first megabyte of words.
MAX_TEXT = 1024**2
_LISTED_FIELDS = tuple(FlowJSON.__struct_fields__)


class Row(NamedTuple):
    values: tuple[Any, ...]  # the flows columns, in history._INSERT's order
    text: str  # the search text (flows_text.text)
    tools: str  # the tool names its answer called, space separated
    thread: str | None
    # The live flow and its loop, told its thread once the row is written.
    live: tuple[Flow, asyncio.AbstractEventLoop | None] | None = None


def row_of(flow: Flow, index: ThreadIndex) -> Row:
    """The row of finished ``flow``, placed in its agent thread by ``index``."""
    placement: Placement | None = None
    stored_print: bytes | None = None
    found = flow_fingerprint(flow)
    if found is not None:
        placement = index.place(flow.id, found)
        with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: not warmed at restart
            stored_print = found.encode()
        flow.join_thread(placement.thread)
    detail = flow_detail_json(flow)
    listed = FlowJSON(
        **{name: getattr(detail, name) for name in _LISTED_FIELDS if name not in _BODIES}
    )
    usage = detail.usage
    tools = " ".join(call.name for call in detail.tool_calls)
    stored = msgspec.structs.replace(
        detail,
        # The parts a replay shares with every other replay of its tape, encoded once per tape:
        # the stored JSON is the same, without encoding the answer's chunks for each call.
        chunks=flow.memo("stored chunks", lambda: msgspec.Raw(encode(detail.chunks))),
        request=flow.request_memo("stored request", lambda: msgspec.Raw(encode(detail.request))),
        response=flow.memo("stored response", lambda: msgspec.Raw(encode(detail.response))),
    )
    values = tuple(
        _clean(value) if isinstance(value, str) else value
        for value in (
            flow.id,
            flow.run,
            flow.started,
            flow.duration_ms,
            flow.method,
            flow.path,
            flow.scope,
            flow.model,
            flow.state.value,
            flow.source.value if flow.source is not None else None,
            flow.status,
            int(flow.streamed),
            flow.key,
            flow.tape_use,
            usage.input_tokens if usage else None,
            usage.output_tokens if usage else None,
            usage.cached_input_tokens if usage else None,
            usage.cache_write_tokens if usage else None,
            flow.cost,
            flow.saved,
            tools,
            flow.decision,
            flow.error,
            placement.thread if placement else None,
            placement.after if placement else None,
            placement.retry_of if placement else None,
            stored_print,
            flow.parent,
            encode(listed),
            encode(stored),
        )
    )
    thread = placement.thread if placement else None
    text = flow.request_memo(f"search text {flow.path}", lambda: _clean(search_text(detail)))
    return Row(values, text, _clean(tools), thread)


_BODIES = frozenset({"request", "response"})


def search_text(detail: FlowDetailJSON) -> str:
    """The words a search finds a call by: its messages, its answer, the tool calls on both
    sides with their arguments, its model and path."""
    words: list[str] = [detail.model or "", detail.path]
    conversation = detail.conversation
    if conversation is not None:
        for turn in conversation.turns:
            for part in turn.parts:
                if isinstance(part, TextPart):
                    words.append(part.text)
                elif isinstance(part, ToolCallPart):
                    words += (part.name, _text(part.arguments))
                elif isinstance(part, ToolResultPart):
                    words.append(_text(part.content))
    words.append(detail.text)
    for call in detail.tool_calls:
        words += (call.name, _text(call.arguments))
    return "\n".join(word for word in words if word)[:MAX_TEXT]


def _clean(text: str) -> str:
    """``text`` as SQLite takes it: UTF-8, so a lone surrogate (from a request) becomes U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode(errors="replace").decode()
    return text


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode(errors="replace") if value is not None else ""
