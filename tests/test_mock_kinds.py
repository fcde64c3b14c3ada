"""Every kind of mock (text, tool calls, a full answer, an error, a malformed full answer),
decided on a held call and parsed by each provider's own SDK, as JSON and as a stream."""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import anthropic
import openai
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseFunctionToolCall

from playingpack.config import PauseMode
from tests.conftest import Running, ask
from tests.fakes import anthropic_upstream
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

WEATHER = ("get_weather", '{"city": "Paris", "unit": "celsius"}')
TEXT = {"content": "mocked text"}
ERROR = {"error": {"status": 429, "message": "Slow down (mock)."}}
MADE_UP = ("mocked text", "Two calls.", "Oslo", "from a full response", "Slow down")


def tool_calls(own_id: str) -> dict[str, Any]:
    """A mock of text and two tool calls, the second with an id of its own."""
    return {
        "content": "Two calls.",
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "Oslo"}},
            {"name": "get_time", "arguments": '{"tz": "CET"}', "id": own_id},
        ],
    }


class Dialect(abc.ABC):
    """One provider's side of the test: what its upstream really answers, how its SDK asks
    (JSON or a stream the SDK assembles), and what the SDK must have parsed."""

    pause: ClassVar[PauseMode] = PauseMode.ALL
    error_type: ClassVar[type[Exception]] = openai.APIError  # what the SDK raises for a mock error
    own_id: ClassVar[str]  # a tool call id the tools mock gives
    full: ClassVar[dict[str, Any]]  # a full answer
    bad: ClassVar[dict[str, Any]]  # a full answer with a field missing or wrong
    bad_param: ClassVar[str]  # where the refusal of ``bad`` points
    real: ClassVar[str]  # in every tape: the tapes hold the real answers, never a mock

    def __init__(
        self,
        start_proxy: Callable[..., Running],
        upstream: FakeUpstream,
        fake_claude: FakeAnthropic,
        stream: bool,
    ) -> None:
        self.upstream = upstream
        self.fake_claude = fake_claude
        self.stream = stream
        self.proxy = self.start(start_proxy)

    def start(self, start_proxy: Callable[..., Running]) -> Running:
        return start_proxy(pause=self.pause)

    @abc.abstractmethod
    def held_call(self, question: str) -> Callable[[], Any]:
        """Queue the real answer; the call whose answer will be held."""

    @abc.abstractmethod
    def check_text(self, answer: Any) -> None:
        """The answer of the text mock."""

    @abc.abstractmethod
    def check_tools(self, answer: Any) -> None:
        """The answer of the tools mock."""

    @abc.abstractmethod
    def check_full(self, answer: Any) -> None:
        """The answer of the ``full`` mock."""

    @abc.abstractmethod
    def check_error(self, error: Exception) -> None:
        """What the SDK raised for the error mock."""

    @abc.abstractmethod
    def check_real(self, answer: Any) -> None:
        """The real answer, allowed after a mock was refused."""


class OpenAIDialect(Dialect):
    """A format of the openai SDK, whose fake upstream is the conftest ``upstream``."""

    def start(self, start_proxy: Callable[..., Running]) -> Running:
        proxy = super().start(start_proxy)
        self.client = proxy.client(max_retries=0)
        return proxy


class Chat(OpenAIDialect):
    own_id = "call_mine"
    full: ClassVar[dict[str, Any]] = {
        "choices": [{"message": {"role": "assistant", "content": "from a full response"}}]
    }
    bad: ClassVar[dict[str, Any]] = {"choices": [{"message": {"content": 5}}]}
    bad_param = "mock.response.choices[0].message.content"
    real = "real"

    def held_call(self, question: str) -> Callable[[], ChatCompletion]:
        self.upstream.queue(Reply(content="the real answer"))
        if not self.stream:
            return lambda: self.client.chat.completions.create(**ask(question))

        def streamed() -> ChatCompletion:
            with self.client.chat.completions.stream(**ask(question)) as stream:
                return stream.get_final_completion()

        return streamed

    def check_text(self, answer: ChatCompletion) -> None:
        assert answer.choices[0].message.content == "mocked text"
        assert not answer.choices[0].message.tool_calls
        assert answer.model == "gpt-4o-mini" and answer.id.startswith("chatcmpl-")

    def check_tools(self, answer: ChatCompletion) -> None:
        message = answer.choices[0].message
        assert message.content == "Two calls."
        calls = [c for c in message.tool_calls or () if c.type == "function"]
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}
        assert json.loads(calls[1].function.arguments) == {"tz": "CET"}
        assert calls[0].id.startswith("call_") and calls[1].id == "call_mine"
        assert answer.choices[0].finish_reason == "tool_calls"

    def check_full(self, answer: ChatCompletion) -> None:
        assert answer.choices[0].message.content == "from a full response"
        assert not answer.choices[0].message.tool_calls
        assert answer.model == "gpt-4o-mini"

    def check_error(self, error: Exception) -> None:
        assert isinstance(error, openai.RateLimitError) and error.status_code == 429

    def check_real(self, answer: ChatCompletion) -> None:
        assert answer.choices[0].message.content == "the real answer"


class Responses(OpenAIDialect):
    own_id = "call_mine"
    full: ClassVar[dict[str, Any]] = {
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "from a full response"}],
            },
            {"type": "function_call", "name": "get_time", "arguments": "{}", "call_id": "call_x"},
        ]
    }
    bad: ClassVar[dict[str, Any]] = {
        "output": [{"type": "message", "content": [{"type": "output_text"}]}]
    }
    bad_param = "mock.response.output[0].content[0].text"
    real = "real"

    def held_call(self, question: str) -> Callable[[], Response]:
        self.upstream.queue(Reply(content="the real answer"))
        request: dict[str, Any] = {"model": "gpt-4o-mini", "input": question}
        if not self.stream:
            return lambda: self.client.responses.create(**request)

        def streamed() -> Response:
            with self.client.responses.stream(**request) as stream:
                return stream.get_final_response()

        return streamed

    @staticmethod
    def calls(answer: Response) -> list[ResponseFunctionToolCall]:
        return [item for item in answer.output if isinstance(item, ResponseFunctionToolCall)]

    def check_text(self, answer: Response) -> None:
        assert answer.output_text == "mocked text" and not self.calls(answer)
        assert answer.model == "gpt-4o-mini" and answer.id.startswith("resp_")
        assert answer.status == "completed"
        assert answer.output[0].id is not None and answer.output[0].id.startswith("msg_")

    def check_tools(self, answer: Response) -> None:
        assert answer.output_text == "Two calls."
        calls = self.calls(answer)
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Oslo"}),
            ("get_time", {"tz": "CET"}),
        ]
        assert calls[0].call_id.startswith("call_") and calls[1].call_id == "call_mine"
        assert all(c.id is not None and c.id.startswith("fc_") for c in calls)

    def check_full(self, answer: Response) -> None:
        assert answer.output_text == "from a full response" and answer.model == "gpt-4o-mini"
        assert [(c.name, json.loads(c.arguments)) for c in self.calls(answer)] == [("get_time", {})]

    def check_error(self, error: Exception) -> None:
        assert isinstance(error, openai.APIError)
        if not self.stream:  # a stream may have been kept alive already: then it is an error event
            assert isinstance(error, openai.RateLimitError)

    def check_real(self, answer: Response) -> None:
        assert answer.output_text == "the real answer"


class Messages(Dialect):
    """Anthropic: the held answer is a tool use, so pause on tool calls."""

    pause = PauseMode.TOOL_CALLS
    error_type = anthropic.APIStatusError
    own_id = "toolu_mine"
    full: ClassVar[dict[str, Any]] = {
        "content": [
            {"type": "text", "text": "from a full response"},
            {"type": "tool_use", "name": "get_weather", "input": {"city": "Rome"}},
        ]
    }
    bad: ClassVar[dict[str, Any]] = {"content": [{"type": "tool_use", "name": "get_weather"}]}
    bad_param = "mock.response.content[0].input"
    real = "toolu_fake0_get_weather"
    tools: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]

    def start(self, start_proxy: Callable[..., Running]) -> Running:
        proxy = start_proxy(upstream=self.fake_claude.url, pause=self.pause)
        self.client = proxy.anthropic(max_retries=0)
        return proxy

    def held_call(self, question: str) -> Callable[[], Message]:
        self.fake_claude.queue(anthropic_upstream.Reply(text=None, tool_uses=[WEATHER]))
        request: dict[str, Any] = {
            "model": anthropic_upstream.MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": question}],
            "tools": self.tools,
        }
        if not self.stream:
            return lambda: self.client.messages.create(**request)

        def streamed() -> Message:
            with self.client.messages.stream(**request) as stream:
                return stream.get_final_message()

        return streamed

    def check_text(self, answer: Message) -> None:
        assert [(b.type, getattr(b, "text", None)) for b in answer.content] == [
            ("text", "mocked text")
        ]
        assert answer.stop_reason == "end_turn" and answer.model == anthropic_upstream.MODEL
        assert answer.id.startswith("msg_") and answer.usage.output_tokens == 0

    def check_tools(self, answer: Message) -> None:
        texts = [b.text for b in answer.content if isinstance(b, TextBlock)]
        assert texts == ["Two calls."]
        uses = [b for b in answer.content if isinstance(b, ToolUseBlock)]
        assert [(u.name, u.input) for u in uses] == [
            ("get_weather", {"city": "Oslo"}),
            ("get_time", {"tz": "CET"}),
        ]
        assert uses[0].id.startswith("toolu_") and uses[1].id == "toolu_mine"
        assert answer.stop_reason == "tool_use"

    def check_full(self, answer: Message) -> None:
        assert [b.type for b in answer.content] == ["text", "tool_use"]
        assert isinstance(answer.content[1], ToolUseBlock)
        assert answer.content[1].input == {"city": "Rome"}
        assert answer.model == anthropic_upstream.MODEL and answer.stop_reason == "tool_use"

    def check_error(self, error: Exception) -> None:
        assert isinstance(error, anthropic.APIStatusError)
        assert error.api_message == "Slow down (mock)."
        if not self.stream:
            assert isinstance(error, anthropic.RateLimitError)

    def check_real(self, answer: Message) -> None:
        assert isinstance(answer.content[0], ToolUseBlock)
        assert answer.content[0].input == json.loads(WEATHER[1])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("dialect", [Chat, Responses, Messages], ids=lambda d: d.__name__)
def test_every_kind_of_mock_is_parsed_by_the_sdk(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    fake_claude: FakeAnthropic,
    agent: ThreadPoolExecutor,
    dialect: type[Dialect],
    stream: bool,
) -> None:
    sdk = dialect(start_proxy, upstream, fake_claude, stream)
    person = sdk.proxy.person()

    def mocked(question: str, mock: dict[str, Any]) -> Any:
        call = agent.submit(sdk.held_call(question))
        held = person.held()
        response = person.decide(held["id"], action="mock", mock=mock)
        assert response.status_code == 200, response.text
        return call.result(10)

    sdk.check_text(mocked("text", TEXT))
    sdk.check_tools(mocked("tools", tool_calls(sdk.own_id)))
    sdk.check_full(mocked("full", {"response": sdk.full}))
    with pytest.raises(sdk.error_type, match=r"Slow down \(mock\)") as raised:
        mocked("error", ERROR)
    sdk.check_error(raised.value)

    # A malformed full answer is refused before anything reaches the client; still held.
    call = agent.submit(sdk.held_call("bad mock"))
    held = person.held()
    refused = person.decide(held["id"], action="mock", mock={"response": sdk.bad})
    assert refused.status_code == 422
    assert refused.json()["error"]["param"] == sdk.bad_param
    person.decide(held["id"], action="allow")
    sdk.check_real(call.result(10))

    assert len(sdk.proxy.tapes()) == 5
    for path in sdk.proxy.tapes():
        written = path.read_text()
        assert sdk.real in written
        for made_up in MADE_UP:
            assert made_up not in written
