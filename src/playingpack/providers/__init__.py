"""Wire formats, one module each, behind one seam.

The proxy core never looks inside a body itself: it asks the flow's Provider whether a request
wants a stream, whether a recorded stream is complete, how to turn a stream into the JSON answer
and back, and what model, usage and tool calls an answer carries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from playingpack.hashing import request_key


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call of an answer; ``arguments`` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        """The arguments as JSON, or the raw text when the model produced invalid JSON."""
        try:
            return json.loads(self.arguments) if self.arguments else {}
        except ValueError:
            return self.arguments


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts, mapped from each provider's own field names."""

    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Summary:
    """What the terminal line, the logs and the dashboard show of an answer."""

    model: str | None
    usage: Usage | None
    tool_calls: tuple[ToolCall, ...]


class Provider:
    """One wire format. Subclasses implement every method."""

    endpoint: str

    def key(self, body: Any) -> str:
        """The tape key of a parsed request body."""
        return request_key(body, extra=self.endpoint + "\n")

    def wants_stream(self, body: Any) -> bool:
        """Whether the client asked for a streamed answer."""
        return isinstance(body, dict) and body.get("stream") is True

    def is_complete(self, events: Sequence[str]) -> bool:
        """Whether a recorded stream ended the way the provider ends a whole answer."""
        raise NotImplementedError

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        """The JSON answer a non-streaming client would have got for this stream."""
        raise NotImplementedError

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        """The SSE events a streaming client would have got for this JSON answer."""
        raise NotImplementedError

    def summarize(self, answer: dict[str, Any]) -> Summary:
        """Model, usage and tool calls of a JSON answer."""
        raise NotImplementedError

    def summarize_events(self, events: Sequence[str]) -> Summary:
        """Model, usage and tool calls of a streamed answer (overridden where a faster read
        than assembling the whole answer exists)."""
        return self.summarize(self.assemble(events))

    def error_event(self, message: str, type_: str, code: str) -> str:
        """An SSE event that makes the provider's SDK raise an error mid-stream."""
        raise NotImplementedError
