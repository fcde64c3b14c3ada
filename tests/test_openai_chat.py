"""Chat completions wire format: streams assembled into JSON and JSON turned into streams."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from playingpack.providers.openai_chat import OpenAIChat
from playingpack.sse import parse_events
from tests.fakes.openai_upstream import Reply, _Answer

chat = OpenAIChat()
ARGS = '{"city": "Paris", "days": [1, 2]}'


def recorded(reply: Reply, **request: Any) -> tuple[_Answer, list[str]]:
    answer = _Answer({"model": "gpt-4o", "messages": [], **request}, reply)
    return answer, answer.events()


def test_assemble_text_matches_the_json_answer() -> None:
    answer, events = recorded(
        Reply(content="Hello there, friend.", piece=3), stream_options={"include_usage": True}
    )
    assembled = chat.assemble(events)
    expected = answer.completion()
    expected["choices"][0]["message"].pop("annotations")
    assert assembled == expected
    ChatCompletion.model_validate(assembled)


def test_assemble_merges_split_parallel_tool_calls_by_index() -> None:
    _, events = recorded(Reply(tool_calls=[("weather", ARGS), ("time", "{}")], piece=2))
    message = chat.assemble(events)["choices"][0]["message"]
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]
    ] == [("call_0_weather", "weather", ARGS), ("call_1_time", "time", "{}")]
    assert message["content"] is None


def test_to_events_is_a_stream_the_sdk_parses() -> None:
    answer, _ = recorded(Reply(tool_calls=[("weather", ARGS), ("time", "{}")]))
    completion = answer.completion()
    request = {"stream_options": {"include_usage": True}}
    events = chat.to_events(completion, request)
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [
        ChatCompletionChunk.model_validate(json.loads(e.data)) for e in parse_events(events[:-1])
    ]
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chat.assemble(events)["choices"] == [
        {
            **completion["choices"][0],
            "message": {
                k: v for k, v in completion["choices"][0]["message"].items() if k != "annotations"
            },
        }
    ]


def test_to_events_without_usage_request_sends_no_usage_chunk() -> None:
    answer, _ = recorded(Reply(content="hi"))
    events = chat.to_events(answer.completion(), {})
    assert all('"usage"' not in event for event in events)


def test_summary_maps_usage_and_tool_calls() -> None:
    answer, _ = recorded(Reply(tool_calls=[("weather", ARGS)]))
    summary = chat.summarize(answer.completion())
    assert summary.model == "gpt-4o"
    assert summary.usage is not None
    assert summary.usage.output_tokens == answer.usage["completion_tokens"]
    assert [(c.name, c.parsed_arguments()) for c in summary.tool_calls] == [
        ("weather", {"city": "Paris", "days": [1, 2]})
    ]


def test_completeness_needs_done() -> None:
    _, events = recorded(Reply(content="x"))
    assert chat.is_complete(events)
    assert not chat.is_complete(events[:-1])
    assert not chat.is_complete([])


def test_error_event_has_the_shape_the_sdk_raises_on() -> None:
    # The openai SDK raises APIError for any data event whose JSON has an "error" object; the
    # proxy tests show it end to end.
    event = chat.error_event("cut off", "upstream_error", "upstream_disconnected")
    (parsed,) = parse_events([event])
    assert parsed.event is None
    assert json.loads(parsed.data) == {
        "error": {
            "message": "cut off",
            "type": "upstream_error",
            "code": "upstream_disconnected",
            "param": None,
        }
    }


def test_key_is_the_original_tools_key() -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
    assert (
        chat.key(body, "/v1/chat/completions")
        == "3ff33a93d528feaaa859078c68af6a379567b262ed5600b5bd91300673f5cf76"
    )


def test_fast_stream_summary_equals_summary_of_assembled_answer() -> None:
    for reply in (
        Reply(tool_calls=[("weather", ARGS), ("time", "{}")], piece=2),
        Reply(content="plain text", piece=3),
    ):
        _, events = recorded(reply, stream_options={"include_usage": True})
        assert chat.summarize_events(events) == chat.summarize(chat.assemble(events))


REASONING_EVENTS = [
    'data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1",'
    '"citations":["https://a.example"],"choices":[{"index":0,"delta":{"role":"assistant",'
    '"content":"","reasoning_content":"Think"},"logprobs":null,"finish_reason":null}]}\n\n',
    'data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1",'
    '"choices":[{"index":0,"delta":{"reasoning_content":"ing..."},"logprobs":null,'
    '"finish_reason":null}]}\n\n',
    'data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1",'
    '"choices":[{"index":0,"delta":{"content":"42"},"logprobs":null,"finish_reason":null}]}\n\n',
    'data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1",'
    '"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop",'
    '"stop_reason":null}]}\n\n',
    "data: [DONE]\n\n",
]


def test_fields_other_servers_add_survive_both_conversions() -> None:
    answer = chat.assemble(REASONING_EVENTS)
    assert answer["citations"] == ["https://a.example"]
    message = answer["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("42", "Thinking...")
    completion = ChatCompletion.model_validate(answer)
    assert completion.choices[0].message.model_extra == {"reasoning_content": "Thinking..."}

    again = chat.assemble(chat.to_events(answer, {}))
    assert again == answer
