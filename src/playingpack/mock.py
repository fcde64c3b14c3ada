"""Mocks: answers a person makes up for a held call, checked and turned into a provider's JSON.

A mock is one of::

    {"content": "text"}                                    a text answer
    {"tool_calls": [{"name": "...", "arguments": {...}}]}  tool calls (with "content" if wanted)
    {"error": {"status": 500, "message": "..."}}           an error status and message
    {"response": {...}}                                    a full answer in the provider's JSON

The proxy delivers the resulting Injection as the client asked (JSON, or SSE events).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from playingpack.errors import DecisionError
from playingpack.providers import Holdable, ToolCall

# The field a provider's complaint about a full response names first, e.g. `choices[0].message`.
_FIELD = re.compile(r"`([^`]+)`")


class MockToolCall(msgspec.Struct, forbid_unknown_fields=True):
    """One tool call of a mock. ``arguments`` is any JSON value, or a string of JSON."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    arguments: Any = msgspec.field(default_factory=dict)
    id: str | None = None


class MockError(msgspec.Struct, forbid_unknown_fields=True):
    """An error answer. ``retry`` lets the SDK retry it as it would a real one."""

    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    message: Annotated[str, msgspec.Meta(min_length=1)]
    type: str = "mock_error"
    code: str = "mock_error"
    retry: bool = False


class Mock(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A made-up answer: text and/or tool calls, an error, or a full response."""

    content: str | None = None
    tool_calls: list[MockToolCall] | None = None
    error: MockError | None = None
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class Injection:
    """What a mock or an edit delivers in place of the real answer: a complete JSON answer,
    or an error."""

    answer: dict[str, Any] | None = None
    error: MockError | None = None


def render(mock: Mock, provider: Holdable, model: str, where: str = "mock") -> Injection:
    """Check ``mock`` and build the answer it stands for; raises DecisionError naming the field
    at fault (``where`` is the mock's path in the decision)."""
    # An empty tool_calls list alone would deliver an answer with no text and no call at all.
    answer_kind = mock.content is not None or bool(mock.tool_calls)
    given = [
        name
        for name, present in (
            ("content/tool_calls", answer_kind),
            ("error", mock.error is not None),
            ("response", mock.response is not None),
        )
        if present
    ]
    if not given:
        raise DecisionError(
            f"`{where}` is empty: give one of content (text), tool_calls, error or response.",
            param=where,
        )
    if len(given) > 1:
        raise DecisionError(
            f"`{where}` mixes {' and '.join(given)}: a mock is one of content and/or "
            "tool_calls, error, or response.",
            param=where,
        )
    if mock.error is not None:
        return Injection(error=mock.error)
    if mock.response is not None:
        try:
            return Injection(answer=provider.check_answer(mock.response, model))
        except ValueError as exc:
            field = _FIELD.search(str(exc))
            param = f"{where}.response" + (f".{field.group(1)}" if field else "")
            raise DecisionError(f"`{where}.response` {exc}.", param=param) from None
    calls = tool_calls(mock.tool_calls or (), f"{where}.tool_calls")
    try:
        return Injection(answer=provider.mock_answer(model, mock.content, calls))
    except ValueError as exc:
        raise DecisionError(f"`{where}`: {exc}.", param=where) from None


def tool_calls(calls: Sequence[MockToolCall], where: str) -> list[ToolCall]:
    """The tool calls of a mock with their arguments as JSON text."""
    result = []
    for position, call in enumerate(calls):
        arguments = call.arguments
        if isinstance(arguments, str):
            try:
                # msgspec rather than json.loads, which takes NaN and Infinity: not JSON, and
                # the agent's parser may refuse them.
                msgspec.json.decode(arguments)
            except msgspec.DecodeError as exc:
                raise DecisionError(
                    f"`{where}[{position}].arguments` is a string but not JSON ({exc}); "
                    "give the arguments as a JSON object or a string of JSON.",
                    param=f"{where}[{position}].arguments",
                ) from None
            text = arguments
        else:
            text = msgspec.json.encode(arguments).decode()
        result.append(ToolCall(call.id or "", call.name, text))
    return result
