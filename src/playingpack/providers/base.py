"""The seam between the proxy and the wire formats: Provider and Holdable, and the values they
give (ToolCall, Usage, Summary, EventKind).

The proxy core, the API and the tape commands never look inside a body themselves: they ask the
flow's Provider whether a request wants a stream, whether a recorded stream is complete, how to
turn a stream into the JSON answer, what model, usage, tool calls and text an answer carries,
and what the turns of a request are. Only a Holdable's answers are held, edited or mocked, and
only a Holdable's JSON answers are turned into streams.
"""

from __future__ import annotations

import abc
import enum
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from playingpack.conversation import Conversation
from playingpack.hashing import request_key
from playingpack.sse import DONE, Event, format_event, parse_event, parse_events, split_text


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
    """Token counts, mapped from each provider's own field names.

    ``input_tokens`` are all the prompt's tokens, whatever each provider calls them; of those,
    ``cached_input_tokens`` were read from the provider's prompt cache and
    ``cache_write_tokens`` written to it, which are priced differently.
    """

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_of(
    usage: Any, input_field: str, output_field: str | None, details_field: str | None = None
) -> Usage | None:
    """The Usage of an OpenAI-style usage object (None when there is none): its input and
    output counts, and the ``cached_tokens`` and ``cache_write_tokens`` of its
    ``details_field`` object."""
    if not isinstance(usage, dict):
        return None
    output = _count(usage.get(output_field)) if output_field else 0
    details = usage.get(details_field) if details_field else None
    details = details if isinstance(details, dict) else {}
    return Usage(
        _count(usage.get(input_field)),
        output,
        cached_input_tokens=_count(details.get("cached_tokens")),
        cache_write_tokens=_count(details.get("cache_write_tokens")),
    )


def _count(value: Any) -> int:
    """A token count of a usage object: a non-negative int, else 0 (null, absent, junk)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(int(value), 0)


@dataclass(frozen=True, slots=True)
class Summary:
    """What the terminal line, the logs and the dashboard show of an answer."""

    model: str | None
    usage: Usage | None
    tool_calls: tuple[ToolCall, ...]


# How a streamed answer is framed on the wire: server-sent events, one JSON object per line
# (Ollama), or the elements of a JSON array sent as they come (Gemini without ``alt=sse``).
Framing = Literal["sse", "ndjson", "json-array"]
# An SSE comment: every SSE client skips it, so it keeps a held stream's client waiting.
SSE_KEEPALIVE = b": playingpack: held, waiting for a decision\n\n"


class EventKind(enum.Enum):
    """What one streamed event carries, as far as holding an answer is concerned."""

    OPENING = "opening"  # nothing the person would hold for yet (role, empty delta)
    TEXT = "text"  # anything else that is not a tool call: text, reasoning, finish, usage
    TOOL_CALL = "tool_call"  # part of a tool call


class Provider(abc.ABC):
    """A wire format: what the proxy needs of every endpoint it records and replays.

    ``endpoint`` is the OpenAI-style path (``/v1/...``); the same format is also served under
    Azure OpenAI's deployment paths (``/openai/deployments/<name>/...``). A format whose
    answers a person may hold (review, edit, mock) is a Holdable.
    """

    endpoint: str
    # Whether Azure OpenAI serves it: under /openai/deployments/<name>/..., its v1 API
    # /openai/v1/..., or /openai/... with an api-version query (the Responses API).
    azure: bool = True
    # Whether its endpoint is a route of its own; a format whose paths vary (a model in the
    # path) or share a prefix with other paths is found by serves() behind the catch-all routes.
    routed: bool = True

    def serves(self, path: str) -> bool:
        """Whether a request to ``path`` speaks this format."""
        if path == self.endpoint:
            return True
        return self.azure and _served_path(self.endpoint).fullmatch(path) is not None

    def key(self, body: Any, path: str) -> str:
        """The tape key of a parsed request body sent to ``path``: the path is part of the
        hashed text, so equal bodies on different endpoints (or deployments) never collide."""
        return request_key(body, extra=path + "\n")

    def wants_stream(self, body: Any) -> bool:
        """Whether the client asked for a streamed answer."""
        return isinstance(body, dict) and body.get("stream") is True

    def wants_stream_at(self, body: Any, path: str) -> bool:
        """Whether the client asked for a streamed answer, where the path may say so (a
        ``:streamGenerateContent`` method); the body alone unless overridden."""
        return self.wants_stream(body)

    def framing(self, path: str, query: Mapping[str, str]) -> Framing:
        """How a streamed answer to a request for ``path`` with ``query`` is framed: SSE
        unless overridden."""
        return "sse"

    def keepalive(self, framing: Framing, request: Any = None) -> bytes | None:
        """What a held client of a ``framing`` stream may be sent to keep it waiting, or None
        when its format has nothing its clients skip: an SSE comment unless overridden.
        ``request`` is the held call's body, for a heartbeat in the shape of its answer."""
        return SSE_KEEPALIVE if framing == "sse" else None

    @abc.abstractmethod
    def turns(self, body: Any) -> Conversation:
        """The request ``body`` as a conversation: turns, tools offered, other parameters."""

    @abc.abstractmethod
    def is_complete(self, events: Sequence[str]) -> bool:
        """Whether any of ``events`` is the one that ends a whole answer in this format.

        Called with each network read's newly completed events, so the ending event may be
        followed by others in the same read (comments, blank events, ``[DONE]``); also called
        with a whole recorded stream."""

    @abc.abstractmethod
    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        """The JSON answer a non-streaming client would have got for this stream."""

    @abc.abstractmethod
    def summarize(self, answer: dict[str, Any]) -> Summary:
        """Model, usage and tool calls of a JSON answer."""

    def summarize_events(self, events: Sequence[str]) -> Summary:
        """Model, usage and tool calls of a streamed answer (overridden where a faster read
        than assembling the whole answer exists)."""
        return self.summarize(self.assemble(events))

    @abc.abstractmethod
    def answer_text(self, answer: dict[str, Any]) -> str:
        """The text of a JSON answer: what its stream would show as text (tool calls are in
        its summary)."""

    @abc.abstractmethod
    def streamed_text(self, events: Sequence[str]) -> str:
        """The answer text these events add (for the live view)."""

    def failure(self, events: Sequence[str]) -> str | None:
        """The message of an error the upstream reported in any of ``events``, or None.

        Called on every batch of events as a stream passes, so an event without an error
        costs one substring search. OpenAI's shape unless overridden: a data object with an
        ``error`` key (``data: {"error": {...}}``, whatever follows it)."""
        for text in events:
            if '"error"' in text:
                for event in parsed_events((text,)):
                    message = _error_message(event.data)
                    if message is not None:
                        return message
        return None

    def error_json(self, message: str, type_: str, code: str) -> dict[str, Any]:
        """The provider's JSON error body (OpenAI's shape unless overridden)."""
        return {"error": {"message": message, "type": type_, "code": code, "param": None}}

    def error_event(self, message: str, type_: str, code: str) -> str:
        """An SSE event that makes the provider's SDK raise an error mid-stream (OpenAI's
        shape unless overridden)."""
        return format_event(msgspec.json.encode(self.error_json(message, type_, code)).decode())

    def framed_error_event(
        self, message: str, type_: str, code: str, framing: Framing, *, opened: bool = False
    ) -> str:
        """error_event in ``framing``, for a client that has had some of the answer when
        ``opened`` (a format with one framing has error_event alone)."""
        return self.error_event(message, type_, code)


class Holdable(Provider):
    """A wire format of model answers: streamed or not, held for a person, edited or mocked."""

    @abc.abstractmethod
    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        """The SSE events a streaming client would have got for this JSON answer."""

    def framed_events(self, answer: dict[str, Any], request: Any, framing: Framing) -> list[str]:
        """to_events in ``framing`` (a format with one framing has to_events alone)."""
        return self.to_events(answer, request)

    @abc.abstractmethod
    def event_kind(self, event: str) -> EventKind:
        """Whether ``event`` opens the answer, carries text, or is part of a tool call."""

    @abc.abstractmethod
    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        """A complete JSON answer with fresh ids, as the provider would have sent it."""

    @abc.abstractmethod
    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        """A copy of ``answer`` with its text and/or tool calls replaced (None keeps them)."""

    @abc.abstractmethod
    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        """A full JSON answer given by a person, completed where it may be (ids, model);
        raises ValueError saying what is wrong when the SDK could not parse it."""

    @abc.abstractmethod
    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        """The events that deliver ``answer`` to a client that already got ``sent`` (the
        opening of another answer): same ids, no second opening."""

    def framed_continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str], framing: Framing
    ) -> list[str]:
        """continue_events in ``framing`` (a format with one framing has continue_events
        alone)."""
        return self.continue_events(answer, request, sent)


def parsed_events(texts: Iterable[str]) -> Iterator[Event]:
    """The events of ``texts`` (as ``parse_events``), where one text may also hold several
    events: a replayed tape is written, and so told, in one piece."""
    for text in texts:
        if text.endswith("\n\n"):
            # The two common shapes, read without splitting lines: they run on every event.
            lines = text.count("\n")
            if lines == 2 and text.startswith("data: "):
                data = text[6:-2]
                if data:
                    yield Event(None, data)
                continue
            if lines == 3 and text.startswith("event: "):
                cut = text.find("\ndata: ")
                if cut > 0:
                    yield Event(text[7:cut], text[cut + 7 : -2])
                    continue
        end = text.find("\n\n")
        if 0 <= end < len(text) - 2:
            yield from parse_events(split_text(text))
            continue
        event = parse_event(text)
        if event.data or event.event:
            yield event


def has_done(events: Sequence[str]) -> bool:
    """Whether any of ``events`` is ``data: [DONE]``, the end of an OpenAI chat or completions
    stream."""
    for text in events:
        if DONE in text:
            for event in parsed_events((text,)):
                if event.data == DONE:
                    return True
    return False


@functools.cache
def _served_path(endpoint: str) -> re.Pattern[str]:
    suffix = re.escape(endpoint.removeprefix("/v1"))
    return re.compile(rf"/openai(?:/deployments/[^/]+|/v1)?{suffix}")


def _error_message(data: str) -> str | None:
    """``error.message`` (or the error text) of an event's JSON data, if it carries one."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "error")
    if isinstance(error, str):
        return error
    return None
