"""A call's turns cut into *atoms*: what threads compare of one call's input and another's
input plus answer.

An atom is a piece of a turn that clients send back as they got it: a system, user or assistant
text (the text parts of one message joined and trimmed; an empty text is none), a tool call (its
id, name and arguments, parsed and written one way), a tool result (the id of the call it
answers, and its content; the text of an Ollama tool message, which names no call), or an image
or other block of a system or user message. Reasoning (Anthropic thinking blocks with their
signatures, chat reasoning parts, Responses reasoning items, Gemini ``thought`` parts, Ollama's
``thinking``) and the assistant's other items (server tools, references) are no atoms: clients
drop them or keep them as they please; nor are ``refusal`` or ``annotations`` fields, Gemini's
``thoughtSignature``, or a ``null`` content. Each atom has a strict form, with the tool call
ids, and a loose one without them (for a provider that gave no id and a client that made one
up).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from playingpack.conversation import (
    ImagePart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Turn,
    input_turns,
    message_turns,
    read_message,
    system_turns,
)
from playingpack.providers import Provider
from playingpack.providers.anthropic import AnthropicMessages
from playingpack.providers.gemini import GeminiGenerateContent
from playingpack.providers.ollama import OllamaChat
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.providers.openai_responses import OpenAIResponses

Kind = Literal["chat", "responses", "messages", "gemini", "ollama"]
# By the provider's type, not its path: Gemini's paths name the model, and every format is
# served under more than one path.
_KINDS: tuple[tuple[type[Provider], Kind], ...] = (
    (OpenAIChat, "chat"),
    (OpenAIResponses, "responses"),
    (AnthropicMessages, "messages"),
    (GeminiGenerateContent, "gemini"),
    (OllamaChat, "ollama"),
)
# The readers of Gemini's and Ollama's requests (their providers' ``turns``), for answers too.
_GEMINI = GeminiGenerateContent()
_OLLAMA = OllamaChat()
_ROLES = {"system": "s", "developer": "s", "user": "u", "assistant": "a", "model": "a"}
# Content blocks that are reasoning, whatever the format calls them.
_REASONING = frozenset({"thinking", "redacted_thinking", "reasoning"})
DIGEST = 8  # bytes of one atom's digest
_TITLE = 200  # characters of the first user message kept as a thread's title
_SURROGATE = re.compile(r"[\ud800-\udfff]")

Atom = tuple[tuple[str, ...], tuple[str, ...]]  # (strict form, loose form)


def kind_of(provider: Provider | None) -> Kind | None:
    """The conversation format of ``provider``; None for embeddings, completions (Ollama's
    generate among them), others."""
    return next((kind for type_, kind in _KINDS if isinstance(provider, type_)), None)


def request_turns(kind: Kind, request: dict[str, Any]) -> tuple[list[Turn], list[Turn]]:
    """A request's system prompt field and its other turns, reasoning blocks left out."""
    if kind == "responses":
        turns = input_turns(request["input"], conversational=True) if "input" in request else []
        return system_turns(request.get("instructions")), turns
    if kind == "gemini":
        turns = _GEMINI.turns(_without_thoughts(request)).turns
        given = request.get("systemInstruction", request.get("system_instruction")) is not None
        return turns[: int(given)], turns[int(given) :]
    if kind == "ollama":
        return [], _OLLAMA.turns(request).turns
    messages = message_turns(_without_reasoning(request.get("messages")))
    return (system_turns(request.get("system")) if kind == "messages" else []), messages


def answer_turns(kind: Kind, answer: Any) -> list[Turn] | None:
    """A JSON answer as the turns a client sends back, reasoning left out; None when it is no
    answer (an error body, a failed response)."""
    if not isinstance(answer, dict):
        return None
    if kind == "chat":
        choices = answer.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            return None
        return [read_message({**message, "content": _visible(message.get("content"))})]
    if kind == "responses":
        output = answer.get("output")
        if not isinstance(output, list) or answer.get("status") == "failed":
            return None
        return input_turns(output, conversational=True) if output else []
    if kind == "gemini":
        candidates = answer.get("candidates")
        if "error" in answer or not isinstance(candidates, list) or not candidates:
            return None
        content = candidates[0].get("content") if isinstance(candidates[0], dict) else None
        if not isinstance(content, dict):
            return []  # stopped before it said anything (a safety stop)
        said = _thoughtless({**content, "role": "model"})
        return _GEMINI.turns({"contents": [said]}).turns
    if kind == "ollama":
        message = answer.get("message")
        if "error" in answer or not isinstance(message, dict):
            return None
        return _OLLAMA.turns({"messages": [message]}).turns
    content = answer.get("content")
    if not isinstance(content, list) or answer.get("type") == "error":
        return None
    return [read_message({"role": "assistant", "content": _visible(content)})]


def turn_atoms(turn: Turn) -> list[Atom]:
    """The atoms of one turn, in order (see the module docstring)."""
    role = _ROLES.get(turn.role)
    atoms: list[Atom] = []
    texts: list[str] = []

    def flush() -> None:
        text = "".join(texts).strip()
        texts.clear()
        if text and turn.role == "tool":
            atoms.append((("r", "", text), ("r", text)))
        elif text and role is not None:
            atoms.append((("t", role, text), ("t", role, text)))

    for part in turn.parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
            continue
        flush()
        if isinstance(part, ToolCallPart):
            arguments = _arguments(part.arguments)
            atoms.append((("c", part.id or "", part.name, arguments), ("c", part.name, arguments)))
        elif isinstance(part, ToolResultPart):
            content = _canonical(part.content)
            atoms.append((("r", part.id or "", content), ("r", content)))
        elif role in ("s", "u"):
            value = part.source if isinstance(part, ImagePart) else _canonical(part.value)
            form = ("i" if isinstance(part, ImagePart) else "j", role, value)
            atoms.append((form, form))
    flush()
    return atoms


def digests(turns: Iterable[Turn]) -> tuple[bytes, bytes]:
    """The digests of the atoms of ``turns`` (DIGEST bytes each), strict and loose."""
    strict = bytearray()
    loose = bytearray()
    for turn in turns:
        for strict_form, loose_form in turn_atoms(turn):
            strict += _digest(strict_form)
            loose += _digest(loose_form)
    return bytes(strict), bytes(loose)


def title(turns: Iterable[Turn]) -> str:
    """The text of the first user message, shortened."""
    for turn in turns:
        if turn.role == "user":
            text = " ".join(part.text for part in turn.parts if isinstance(part, TextPart)).strip()
            if text:
                short = text if len(text) <= _TITLE else text[: _TITLE - 1].rstrip() + "…"
                return writable(short)
    return ""


def writable(text: str) -> str:
    """``text`` with any lone surrogate (JSON allows them, UTF-8 does not) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _digest(form: tuple[str, ...]) -> bytes:
    # surrogatepass: a request may hold lone surrogates, which JSON allows.
    text = "\x1f".join(form).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=DIGEST).digest()


def _arguments(value: Any) -> str:
    """Tool call arguments in one form: JSON text parsed, keys sorted, no spaces ("" and
    null are no arguments); text that is no JSON as it is."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "{}"
    if isinstance(value, str):
        try:
            return _json(json.loads(value))
        except ValueError:
            return value.strip()
    return _json(value)


def _canonical(value: Any) -> str:
    return value.strip() if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    try:
        return msgspec.json.encode(value, order="sorted").decode()
    except (UnicodeEncodeError, TypeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _without_reasoning(messages: Any) -> Any:
    if not isinstance(messages, list):
        return messages
    return [
        {**message, "content": _visible(message["content"])}
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        else message
        for message in messages
    ]


def _visible(content: Any) -> Any:
    """Content without its reasoning blocks."""
    if not isinstance(content, list):
        return content
    return [
        block
        for block in content
        if not (isinstance(block, dict) and block.get("type") in _REASONING)
    ]


def _without_thoughts(request: dict[str, Any]) -> dict[str, Any]:
    """A Gemini request without the ``thought`` parts of its contents."""
    contents = request.get("contents")
    if not isinstance(contents, list):
        return request
    return {**request, "contents": [_thoughtless(content) for content in contents]}


def _thoughtless(content: Any) -> Any:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return content
    kept = [part for part in parts if not (isinstance(part, dict) and part.get("thought") is True)]
    return {**content, "parts": kept}
