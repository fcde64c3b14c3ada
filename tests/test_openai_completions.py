"""Legacy completions: streamed and not, recorded, replayed to both kinds of client, mocked."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from playingpack.config import PauseMode
from playingpack.providers import ToolCall
from playingpack.providers.openai_completions import OpenAICompletions
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream, Reply

PROMPT: dict[str, Any] = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Say hello",
    "max_tokens": 16,
}


def text_of(stream: openai.Stream[openai.types.Completion]) -> str:
    return "".join(choice.text for chunk in stream for choice in chunk.choices)


def test_stream_tape_replays_to_both_kinds_of_client(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Hello there, friend.", piece=3))
    live = list(client.completions.create(stream=True, **PROMPT))
    replay = list(client.completions.create(stream=True, **PROMPT))
    assert [c.model_dump() for c in replay] == [c.model_dump() for c in live]
    assert "".join(c.choices[0].text for c in live if c.choices) == "Hello there, friend."
    whole = client.completions.create(**PROMPT)
    assert whole.choices[0].text == "Hello there, friend."
    assert whole.choices[0].finish_reason == "stop"
    assert whole.id == live[0].id
    assert len(upstream.received) == 1
    assert json.loads(proxy.tapes()[0].read_text())["meta"]["endpoint"] == "/v1/completions"


def test_json_tape_replays_as_a_stream_with_usage(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Once upon a time"))
    # stream_options is part of the key (only `stream` is not), so both requests carry it.
    recorded = client.completions.create(stream_options={"include_usage": True}, **PROMPT)
    chunks = list(
        client.completions.create(stream=True, stream_options={"include_usage": True}, **PROMPT)
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Once upon a time"
    assert chunks[-1].usage is not None and recorded.usage is not None
    assert chunks[-1].usage.total_tokens == recorded.usage.total_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_held_completion_can_be_mocked_with_text_only(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    agent: ThreadPoolExecutor,
    stream: bool,
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client()
    if stream:
        call = agent.submit(lambda: text_of(client.completions.create(stream=True, **PROMPT)))
    else:
        call = agent.submit(lambda: client.completions.create(**PROMPT).choices[0].text)
    held = person.held()
    refused = person.decide(
        held["id"], action="mock", mock={"tool_calls": [{"name": "x", "arguments": {}}]}
    )
    assert refused.status_code == 422 and "no tool calls" in refused.json()["error"]["message"]
    person.decide(held["id"], action="mock", mock={"content": "mocked completion"})
    assert call.result(10) == "mocked completion"


def test_round_trip_of_literal_events() -> None:
    provider = OpenAICompletions()
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    events = [
        "data: "
        + json.dumps(
            {**base, "choices": [{"text": t, "index": 0, "logprobs": None, "finish_reason": f}]}
        )
        + "\n\n"
        for t, f in (("Hel", None), ("lo", "stop"))
    ] + ["data: [DONE]\n\n"]
    assert provider.is_complete(events) and not provider.is_complete(events[:-1])
    answer = provider.assemble(events)
    assert answer["choices"] == [
        {"text": "Hello", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert provider.assemble(provider.to_events(answer, {})) == answer
    assert provider.streamed_text(events) == "Hello"
    with pytest.raises(ValueError, match="no tool calls"):
        provider.mock_answer("m", None, [provider_call()])


def provider_call() -> ToolCall:
    return ToolCall("", "x", "{}")


# From vercel/ai (Apache-2.0) at ed857f50, packages/openai/src/completion/__fixtures__/
# openai-completion-text.chunks.txt (fewer pieces), with the logprobs a request for them adds.
ENVELOPE = (
    '"id":"cmpl-D8ZFN477TMm6AoQohx2jSTOJMh60M","object":"text_completion","created":1770934485'
)
MODEL_FIELD = '"model":"gpt-3.5-turbo-instruct:20230824-v2"'


def completion_piece(text: str, finish: str | None, logprobs: dict[str, Any] | None) -> str:
    choice = {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}
    return f'data: {{{ENVELOPE},"choices":[{json.dumps(choice)}],{MODEL_FIELD},"usage":null}}\n\n'


def logprobs_of(token: str, offset: int) -> dict[str, Any]:
    return {
        "tokens": [token],
        "token_logprobs": [-0.5],
        "top_logprobs": [{token: -0.5}],
        "text_offset": [offset],
    }


REAL = [
    completion_piece("The", None, logprobs_of("The", 0)),
    completion_piece(" holiday", None, logprobs_of(" holiday", 3)),
    completion_piece(" is", "length", logprobs_of(" is", 11)),
    f'data: {{{ENVELOPE},{MODEL_FIELD},"usage":{{"prompt_tokens":14,"completion_tokens":16,'
    '"total_tokens":30},"choices":[]}\n\n',
    "data: [DONE]\n\n",
]


def test_text_and_logprobs_are_pieces_and_other_fields_take_the_last_value() -> None:
    provider = OpenAICompletions()
    answer = provider.assemble(REAL)
    (choice,) = answer["choices"]
    assert choice["text"] == "The holiday is"
    assert choice["finish_reason"] == "length"
    assert choice["logprobs"] == {
        "tokens": ["The", " holiday", " is"],
        "token_logprobs": [-0.5, -0.5, -0.5],
        "top_logprobs": [{"The": -0.5}, {" holiday": -0.5}, {" is": -0.5}],
        "text_offset": [0, 3, 11],
    }
    assert answer["usage"] == {"prompt_tokens": 14, "completion_tokens": 16, "total_tokens": 30}
    openai.types.Completion.model_validate(answer)
    assert provider.assemble(provider.to_events(answer, {})) == {**answer, "usage": None}


def test_completion_and_failure_are_seen_in_any_event_of_a_read() -> None:
    provider = OpenAICompletions()
    assert provider.is_complete(["data: [DONE]\n\n", ": keepalive\n\n"])
    assert provider.is_complete(["data: [DONE]"])
    assert not provider.is_complete(REAL[:-1])
    error = 'data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n'
    assert provider.failure([REAL[0], error, "data: [DONE]\n\n"]) == "The server had an error"
    assert provider.failure(REAL) is None
