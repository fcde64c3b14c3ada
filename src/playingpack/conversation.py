"""A request read as a conversation: its turns, the tools it offers and its other parameters.

One shape for every wire format, so that the dashboard and ``playingpack tapes show`` present
all of them one way. Each provider reads its own request fields (``Provider.turns``) with the
readers here, which also read the content blocks the formats share: text, images, tool calls
and tool results. A field that is none of these is kept as a ``json`` part, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

# Request fields that are the conversation itself; every other field is a parameter.
CONVERSATION_KEYS = frozenset({"messages", "input", "system", "instructions", "tools", "prompt"})


class TextPart(msgspec.Struct, tag_field="kind", tag="text"):
    text: str


class ToolCallPart(msgspec.Struct, tag_field="kind", tag="tool_call", omit_defaults=True):
    name: str
    arguments: Any  # as the request holds them: JSON text (OpenAI) or an object (Anthropic)
    id: str | None = None


class ToolResultPart(msgspec.Struct, tag_field="kind", tag="tool_result", omit_defaults=True):
    content: Any  # text blocks joined into one string; anything else as given
    id: str | None = None
    name: str | None = None  # the tool's, where the format says it (Gemini, Ollama)


class ImagePart(msgspec.Struct, tag_field="kind", tag="image"):
    source: str  # a URL (data: URLs included), or what kind of inline data it is


class JsonPart(msgspec.Struct, tag_field="kind", tag="json"):
    value: Any


Part = TextPart | ToolCallPart | ToolResultPart | ImagePart | JsonPart


class Turn(msgspec.Struct, omit_defaults=True):
    """What one participant said: ``system``, ``user``, ``assistant``, ``tool``, ``input``
    (a text to embed), ``prompt`` (a completions prompt), or the request's own role name."""

    role: str
    parts: list[Part]
    name: str | None = None


class Tool(msgspec.Struct, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: Any = None  # the JSON schema of its arguments


class Conversation(msgspec.Struct):
    """A request as turns, tools and ``params``: its other top-level fields as [key, value]
    pairs in the request's order (model, temperature, stream, ...)."""

    turns: list[Turn]
    tools: list[Tool]
    params: list[tuple[str, Any]]


def read_conversation(body: Any, turns: Callable[[dict[str, Any]], list[Turn]]) -> Conversation:
    """``body`` as a Conversation whose turns ``turns`` reads from the request object; a body
    that is no object is one ``body`` turn (none when it is null)."""
    if not isinstance(body, dict):
        shown = [] if body is None else [Turn("body", [JsonPart(body)])]
        return Conversation(shown, [], [])
    params = [(key, value) for key, value in body.items() if key not in CONVERSATION_KEYS]
    return Conversation(turns(body), read_tools(body.get("tools")), params)


def system_turns(value: Any) -> list[Turn]:
    """The system prompt (Anthropic's ``system``, Responses' ``instructions``) as a turn."""
    return [] if value is None else [Turn("system", read_content(value))]


def message_turns(messages: Any) -> list[Turn]:
    """Chat or Anthropic ``messages``."""
    return [read_message(message) for message in messages] if isinstance(messages, list) else []


def read_message(message: Any) -> Turn:
    """A chat or Anthropic message, or a Responses message item."""
    if not isinstance(message, dict):
        return Turn("?", [JsonPart(message)])
    role = _text(message.get("role")) or _text(message.get("type")) or "?"
    parts: list[Part] = []
    content = message.get("content")
    if role == "tool" and "tool_call_id" in message:
        parts.append(ToolResultPart(join_text(content), _text(message["tool_call_id"])))
    elif content is not None:
        parts.extend(read_content(content))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                name = _text(function.get("name")) or "?"
                parts.append(ToolCallPart(name, function.get("arguments"), _text(call.get("id"))))
            else:
                parts.append(JsonPart(call))
    function_call = message.get("function_call")
    if isinstance(function_call, dict):
        name = _text(function_call.get("name")) or "?"
        parts.append(ToolCallPart(name, function_call.get("arguments")))
    return Turn(role, parts, _text(message.get("name")))


def input_turns(value: Any, *, conversational: bool) -> list[Turn]:
    """Responses ``input`` (a string or items; ``conversational``), or embeddings ``input``
    (texts to embed, or token ids)."""
    if isinstance(value, str):
        return [Turn("user" if conversational else "input", [TextPart(value)])]
    if not isinstance(value, list):
        return [Turn("input", [JsonPart(value)])]
    if all(isinstance(item, str) for item in value):
        return [Turn("input", [TextPart(item)]) for item in value]
    if all(_is_number(item) or isinstance(item, list) for item in value):
        return [Turn("input", [JsonPart(value)])]
    return [_read_item(item) for item in value]


def prompt_turns(prompt: Any) -> list[Turn]:
    """Completions ``prompt``: one turn per prompt of a list."""
    prompts = prompt if isinstance(prompt, list) else [prompt]
    return [Turn("prompt", read_content(one)) for one in prompts]


def _read_item(item: Any) -> Turn:
    """A Responses input item."""
    if not isinstance(item, dict):
        return Turn("input", [JsonPart(item)])
    kind = item.get("type")
    if kind == "function_call":
        name = _text(item.get("name")) or "?"
        call = ToolCallPart(name, item.get("arguments"), _text(item.get("call_id")))
        return Turn("assistant", [call])
    if kind == "function_call_output":
        return Turn("tool", [ToolResultPart(item.get("output"), _text(item.get("call_id")))])
    if ("type" not in item or kind == "message") and "role" in item:
        return read_message(item)
    return Turn(_text(kind) or "item", [JsonPart(item)])


def read_content(content: Any) -> list[Part]:
    """A content string, or a list of the parts or blocks of any of the formats."""
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        return [JsonPart(content)]
    return [_read_block(block) for block in content]


def _read_block(block: Any) -> Part:
    if isinstance(block, str):
        return TextPart(block)
    if not isinstance(block, dict):
        return JsonPart(block)
    kind = block.get("type")
    text = _text(block.get("text"))
    if kind in ("text", "input_text", "output_text") and text is not None:
        return TextPart(text)
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        return TextPart(block["thinking"])
    if kind == "tool_use":
        return ToolCallPart(
            _text(block.get("name")) or "?", block.get("input"), _text(block.get("id"))
        )
    if kind == "tool_result":
        return ToolResultPart(join_text(block.get("content")), _text(block.get("tool_use_id")))
    if kind == "image_url":
        image = block.get("image_url")
        url = _text(image.get("url")) if isinstance(image, dict) else _text(image)
        if url:
            return ImagePart(url)
    if kind == "input_image" and (url := _text(block.get("image_url"))):
        return ImagePart(url)
    source = block.get("source")
    if kind == "image" and isinstance(source, dict):
        described = (
            f"{_text(source.get('media_type')) or 'image'} ({_text(source.get('type')) or 'data'})"
        )
        return ImagePart(_text(source.get("url")) or described)
    return JsonPart(block)


def join_text(content: Any) -> Any:
    """Text blocks joined into one string (lines); anything else stays as it is."""
    if not isinstance(content, list):
        return content
    parts = [_read_block(block) for block in content]
    if all(isinstance(part, TextPart) for part in parts):
        return "\n".join(part.text for part in parts if isinstance(part, TextPart))
    return content


def read_tools(tools: Any) -> list[Tool]:
    """The tools a request offers: chat's ``function`` tools, Responses' and Anthropic's flat
    ones, and built-in tools by their type."""
    if not isinstance(tools, list):
        return []
    found = []
    for tool in tools:
        if not isinstance(tool, dict):
            found.append(Tool(_js_string(tool)))
            continue
        function = tool.get("function")
        spec = function if isinstance(function, dict) else tool
        parameters = spec.get("parameters")
        found.append(
            Tool(
                _text(spec.get("name")) or _text(tool.get("type")) or "?",
                _text(spec.get("description")),
                spec.get("input_schema") if parameters is None else parameters,
            )
        )
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_string(value: Any) -> str:
    """``value`` as JavaScript's ``String()`` writes it (no objects reach here)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if item is None else _js_string(item) for item in value)
    return str(value)
