"""Chat completions wire format: streams assembled into JSON and JSON turned into streams."""

from __future__ import annotations

import json
import warnings
from typing import Any, cast

import pytest
from openai._models import construct_type
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from playingpack.providers import Usage, parsed_events
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
    assert chat.assemble(events) == completion  # its empty annotations too


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


# --- real traffic ------------------------------------------------------------------------------
# Streams recorded from real providers, trimmed (long texts cut, fewer pieces): vercel/ai
# (Apache-2.0) at ed857f50, packages/*/src/__fixtures__/*.chunks.txt, and pydantic/pydantic-ai
# (MIT) at 4fda3898, tests/models/cassettes/*.yaml. Each chunk is written as its fields less the
# ones every chunk of its stream repeats, and sent as the compact JSON it came as.

DONE_EVENT = "data: [DONE]\n\n"


def stream(envelope: dict[str, Any], *chunks: dict[str, Any]) -> list[str]:
    """The data events of ``chunks`` (each with the stream's ``envelope``), then [DONE]."""
    return [
        f"data: {json.dumps({**envelope, **chunk}, separators=(',', ':'))}\n\n" for chunk in chunks
    ] + [DONE_EVENT]


def piece(delta: dict[str, Any], finish: str | None = None, **fields: Any) -> dict[str, Any]:
    """A chunk with one choice (index 0)."""
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, **fields}]}


def sdk_accumulates(events: list[str]) -> dict[str, Any]:
    """What the openai SDK's stream accumulation makes of the events (each chunk built the way
    its Stream builds one: without validation)."""
    state = ChatCompletionStreamState()
    with warnings.catch_warnings():
        # Its snapshots are pydantic models typed for string content: array content warns.
        warnings.simplefilter("ignore", UserWarning)
        for event in parse_events(events):
            if event.data == "[DONE]":
                break
            chunk = construct_type(type_=ChatCompletionChunk, value=json.loads(event.data))
            state.handle_chunk(cast(ChatCompletionChunk, chunk))  # construct_type returns object
    snapshot: dict[str, Any] = state.current_completion_snapshot.model_dump(
        exclude_none=True, warnings=False
    )
    return snapshot


def sdk_parses(answer: dict[str, Any]) -> dict[str, Any]:
    """What the openai SDK makes of a JSON answer (built without validation, as it does)."""
    completion = construct_type(type_=ChatCompletion, value=answer)
    assert isinstance(completion, ChatCompletion)
    parsed: dict[str, Any] = completion.model_dump(exclude_none=True, warnings=False)
    return parsed


def thinking(text: str) -> dict[str, Any]:
    """A content part of Mistral's thinking models."""
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


# vercel/ai mistral-reasoning.chunks.txt, and its .json: the same model's JSON answer.
MAGISTRAL = {
    "id": "a4e29c5b82f94d67b23e108a7c9df6e1",
    "object": "chat.completion.chunk",
    "created": 1769088912,
    "model": "magistral-medium-2507",
}
MAGISTRAL_STREAM = stream(
    MAGISTRAL,
    piece({"role": "assistant", "content": [thinking("The user is asking")]}),
    piece({"content": [thinking(" for 2+2. This is basic arithmetic. 2+2=4.")]}),
    piece({"content": [{"type": "text", "text": "2 + 2 = 4"}]}),
    {
        **piece({"content": ""}, "stop"),
        "usage": {"prompt_tokens": 10, "total_tokens": 56, "completion_tokens": 46},
    },
)
MAGISTRAL_CONTENT = [
    thinking("The user is asking for 2+2. This is basic arithmetic. 2+2=4."),
    {"type": "text", "text": "2 + 2 = 4"},
]
MAGISTRAL_JSON = {
    **MAGISTRAL,
    "usage": {"prompt_tokens": 10, "total_tokens": 56, "completion_tokens": 46},
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": MAGISTRAL_CONTENT},
        }
    ],
}
# pydantic-ai test_mistral/test_mistral_model_thinking_part_iter.yaml: opening with "", then
# thinking parts, then the answer as plain strings.
MAGISTRAL_MIXED = stream(
    {
        "id": "1474ffaa42904bf3b040345bc85c775b",
        "object": "chat.completion.chunk",
        "created": 1766420335,
        "model": "magistral-medium-latest",
    },
    piece({"role": "assistant", "content": ""}),
    piece({"content": ""}),
    piece({"content": [thinking("Okay")]}),
    piece({"content": [thinking(",")]}),
    piece({"content": [thinking(" the")]}),
    piece({"content": "Always"}),
    piece({"content": " be"}),
    {
        **piece({"content": ""}, "stop"),
        "usage": {"prompt_tokens": 10, "total_tokens": 285, "completion_tokens": 275},
    },
)


def test_a_thinking_models_array_content_assembles_into_its_json_answers_parts() -> None:
    # Was a 500: TypeError in _Choice.to_json, joining lists as strings.
    answer = chat.assemble(MAGISTRAL_STREAM)
    assert answer["choices"][0]["message"]["content"] == MAGISTRAL_CONTENT
    # The same as what the SDK makes of the model's JSON answer.
    assert sdk_parses(answer) == sdk_parses(MAGISTRAL_JSON)
    assert chat.assemble(MAGISTRAL_MIXED)["choices"][0]["message"]["content"] == [
        thinking("Okay, the"),
        {"type": "text", "text": "Always be"},
    ]
    # The openai SDK's own accumulation keeps only the answer's text of the second stream (it
    # drops a list that follows a string) and raises on the first (two lists without index).
    assert sdk_accumulates(MAGISTRAL_MIXED)["choices"][0]["message"]["content"] == "Always be"


def test_array_content_goes_out_whole_so_the_sdk_accumulates_the_same_parts() -> None:
    events = chat.to_events(MAGISTRAL_JSON, {})
    deltas = [json.loads(e.data)["choices"][0]["delta"] for e in parse_events(events[:-1])]
    assert deltas[:2] == [{"role": "assistant", "content": None}, {"content": MAGISTRAL_CONTENT}]
    assert sdk_accumulates(events)["choices"][0]["message"]["content"] == MAGISTRAL_CONTENT
    assert chat.assemble(events)["choices"][0]["message"]["content"] == MAGISTRAL_CONTENT


def test_live_text_of_array_content_is_the_answers_text_only() -> None:
    assert chat.streamed_text(MAGISTRAL_STREAM) == "2 + 2 = 4"
    assert chat.streamed_text(MAGISTRAL_MIXED) == "Always be"
    assert chat.streamed_text(["".join(MAGISTRAL_MIXED)]) == "Always be"  # a replayed write


# pydantic-ai test_openrouter/test_openrouter_web_search_annotations_stream.yaml (the pages'
# contents cut short).
OPENROUTER_SEARCH = {
    "id": "gen-1786680764-gY2YTdjLLLQA6Cd1Wa6J",
    "object": "chat.completion.chunk",
    "created": 1786680764,
    "model": "deepseek/deepseek-chat",
    "provider": "OpenAI",
}
CITATIONS = [
    {
        "type": "url_citation",
        "url_citation": {
            "url": "https://github.com/pydantic/pydantic-ai",
            "title": "AI Agent Framework, the Pydantic way - GitHub",
            "start_index": 0,
            "end_index": 0,
            "content": "# pydantic/pydantic-ai\n\n...",
        },
    },
    {
        "type": "url_citation",
        "url_citation": {
            "url": "https://pydantic.dev/pydantic-ai",
            "title": "",
            "start_index": 0,
            "end_index": 0,
            "content": "Get started: ...",
        },
    },
]
OPENROUTER_ANNOTATIONS = [
    ": OPENROUTER PROCESSING\n\n",
    *stream(
        OPENROUTER_SEARCH,
        piece(
            {"content": "", "role": "assistant", "annotations": CITATIONS[:1]},
            native_finish_reason=None,
        ),
        piece(
            {"content": "", "role": "assistant", "annotations": CITATIONS[1:]},
            native_finish_reason=None,
        ),
        piece({"content": "The", "role": "assistant"}, native_finish_reason=None),
        piece({"content": " URL", "role": "assistant"}, native_finish_reason=None),
        piece({"content": "", "role": "assistant"}, "stop", native_finish_reason="stop"),
        {
            "service_tier": None,
            **piece({"content": "", "role": "assistant"}, "stop", native_finish_reason="stop"),
            "usage": {"prompt_tokens": 2317, "completion_tokens": 53, "total_tokens": 2370},
        },
    ),
]


def test_annotations_streamed_one_per_delta_are_all_kept() -> None:
    # Was: only the last one (and the openai SDK's own accumulation raises on the second).
    answer = chat.assemble(OPENROUTER_ANNOTATIONS)
    choice = answer["choices"][0]
    assert choice["message"]["annotations"] == CITATIONS
    assert (choice["message"]["role"], choice["message"]["content"]) == ("assistant", "The URL")
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("stop", "stop")
    completion = ChatCompletion.model_validate(answer)
    annotations = completion.choices[0].message.annotations or []
    assert [a.url_citation.url for a in annotations] == [
        "https://github.com/pydantic/pydantic-ai",
        "https://pydantic.dev/pydantic-ai",
    ]
    # Back as a stream, the SDK accumulates the same annotations.
    events = chat.to_events(answer, {})
    assert sdk_accumulates(events)["choices"][0]["message"]["annotations"] == CITATIONS


# pydantic-ai test_openrouter/test_openrouter_streaming_reasoning.yaml (signature cut short)
OPENROUTER_CLAUDE = {
    "id": "gen-1765226419-AGrwjunAftQIAgweibL8",
    "provider": "Google",
    "model": "anthropic/claude-sonnet-4.5",
    "object": "chat.completion.chunk",
    "created": 1765226419,
}
SIGNATURE = "Et0BCkgIChACGAIqQA2s7h7tA7IG35fbwVkou9PM2hANVJNUwcEM4q12fTRDK6y3v6Yo"
REASONING = "This is a simple arithmetic question. 2+2 equals 4."


def reasoning(said: str | None, **entry: Any) -> dict[str, Any]:
    """A delta of OpenRouter's: the reasoning text, and the same as a reasoning_details piece."""
    details = [{"type": "reasoning.text", **entry, "format": "anthropic-claude-v1", "index": 0}]
    return {"role": "assistant", "content": "", "reasoning": said, "reasoning_details": details}


OPENROUTER_REASONING = stream(
    OPENROUTER_CLAUDE,
    *(
        piece(delta, native_finish_reason=None, logprobs=None)
        for delta in [
            {"role": "assistant", "content": "", "reasoning": None, "reasoning_details": []},
            reasoning(None, text="", signature=""),
            reasoning("This", text="This"),
            reasoning(
                " is a simple arithmetic question. ", text=" is a simple arithmetic question. "
            ),
            reasoning("2+2 equals 4.", text="2+2 equals 4."),
            reasoning(None, signature=SIGNATURE),
            {"role": "assistant", "content": "2 ", "reasoning": None, "reasoning_details": []},
            {"role": "assistant", "content": "+ 2 = 4", "reasoning": None, "reasoning_details": []},
        ]
    ),
    piece(
        {"role": "assistant", "content": "", "reasoning": None, "reasoning_details": []},
        "stop",
        native_finish_reason="stop",
        logprobs=None,
    ),
    {
        **piece({"role": "assistant", "content": ""}, native_finish_reason=None, logprobs=None),
        "usage": {"prompt_tokens": 43, "completion_tokens": 36, "total_tokens": 79, "cost": 6e-4},
    },
)


def test_reasoning_details_pieces_merge_by_index_into_one_entry() -> None:
    # Was: only the last piece (here the one with nothing but the signature).
    message = chat.assemble(OPENROUTER_REASONING)["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "2 + 2 = 4")
    assert message["reasoning"] == REASONING
    # One entry, as in OpenRouter's JSON answers, which keep its index.
    assert message["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": REASONING,
            "signature": SIGNATURE,
            "format": "anthropic-claude-v1",
            "index": 0,
        }
    ]
    # The SDK's accumulation agrees on the text, but joins the names sent with every piece
    # (the role, the format), which no JSON answer has.
    sdk = sdk_accumulates(OPENROUTER_REASONING)["choices"][0]["message"]
    assert sdk["reasoning"] == REASONING and sdk["reasoning_details"][0]["text"] == REASONING
    assert sdk["reasoning_details"][0]["format"] == "anthropic-claude-v1" * 5
    assert sdk["role"] == "assistant" * sum('"role"' in event for event in OPENROUTER_REASONING)


# vercel/ai deepseek-tool-call, groq-tool-call, mistral-tool-call and openai-text .chunks.txt
DEEPSEEK_DELTAS: list[dict[str, Any]] = [
    {"role": "assistant", "content": None, "reasoning_content": ""},
    {"content": None, "reasoning_content": "The"},
    {"content": None, "reasoning_content": " user"},
    {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_00_ioIn7yN9p1ZOMNpDLwd4MgAF",
                "type": "function",
                "function": {"name": "weather", "arguments": ""},
            }
        ]
    },
    *(
        {"tool_calls": [{"index": 0, "function": {"arguments": text}}]}
        for text in ("{", '"', "location", '"', ": ", '"', "San", " Francisco", '"', "}")
    ),
]
DEEPSEEK_TOOL_CALL = stream(
    {
        "id": "cca85624-4056-401f-b220-d77601d1f70d",
        "object": "chat.completion.chunk",
        "created": 1764664568,
        "model": "deepseek-reasoner",
        "system_fingerprint": "fp_eaab8d114b_prod0820_fp8_kvcache",
    },
    *({**piece(delta, logprobs=None), "usage": None} for delta in DEEPSEEK_DELTAS),
    {
        **piece({"content": "", "reasoning_content": None}, "tool_calls", logprobs=None),
        "usage": {
            "prompt_tokens": 339,
            "completion_tokens": 83,
            "total_tokens": 422,
            "prompt_tokens_details": {"cached_tokens": 320},
            "completion_tokens_details": {"reasoning_tokens": 39},
            "prompt_cache_hit_tokens": 320,
            "prompt_cache_miss_tokens": 19,
        },
    },
)
GROQ = {
    "id": "chatcmpl-b610d559-f156-4aca-8827-24b4fe6af54f",
    "object": "chat.completion.chunk",
    "created": 1770770843,
    "model": "llama-3.3-70b-versatile",
    "system_fingerprint": "fp_f8b414701e",
}
GROQ_USAGE = {
    "queue_time": 0.041520249,
    "prompt_tokens": 210,
    "prompt_time": 0.010407901,
    "completion_tokens": 15,
    "completion_time": 0.046601227,
    "total_tokens": 225,
    "total_time": 0.057009128,
}
GROQ_TOOL_CALL = stream(
    GROQ,
    {
        **piece({"role": "assistant", "content": None}, logprobs=None),
        "x_groq": {"id": "req_01kh52nj5yfcat8hrmvrk2j2hj", "seed": 689520654},
    },
    piece(
        {
            "tool_calls": [
                {
                    "id": "tk85n1k4m",
                    "type": "function",
                    "function": {"name": "weather", "arguments": "{}"},
                    "index": 0,
                }
            ]
        },
        logprobs=None,
    ),
    {
        **piece({}, "tool_calls", logprobs=None),
        "x_groq": {"id": "req_01kh52nj5yfcat8hrmvrk2j2hj", "usage": GROQ_USAGE},
        "usage": GROQ_USAGE,
    },
)
# Mistral sends a whole tool call in one delta, with no index and no type.
MISTRAL_TOOL_CALL = stream(
    {
        "id": "b3999b8c93e04e11bcbff7bcab829667",
        "object": "chat.completion.chunk",
        "created": 1769088854,
        "model": "mistral-small-latest",
    },
    piece({"role": "assistant", "content": ""}, logprobs=None),
    {
        **piece(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "gSIMJiOkT",
                        "function": {
                            "name": "weather",
                            "arguments": '{"location": "San Francisco"}',
                        },
                    }
                ],
            },
            "tool_calls",
            logprobs=None,
        ),
        "usage": {"prompt_tokens": 124, "total_tokens": 146, "completion_tokens": 22},
    },
)
OPENAI = {
    "id": "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0",
    "object": "chat.completion.chunk",
    "created": 1770933892,
    "model": "gpt-4.1-nano-2025-04-14",
    "service_tier": "default",
    "system_fingerprint": "fp_de604bd877",
}
OPENAI_TEXT = stream(
    OPENAI,
    {**piece({"role": "assistant", "content": "", "refusal": None}, logprobs=None), "usage": None},
    *(
        {**piece({"content": text}, logprobs=None), "usage": None, "obfuscation": "yhjoJbEF"}
        for text in ("**", "Holiday", "**")
    ),
    {**piece({}, "stop", logprobs=None), "usage": None, "obfuscation": "zap0"},
    {
        "choices": [],
        "usage": {
            "prompt_tokens": 16,
            "completion_tokens": 300,
            "total_tokens": 316,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "obfuscation": "h9RiQLL",
    },
)
REAL_STREAMS = {
    "openai-text": OPENAI_TEXT,
    "deepseek-reasoning-tool-call": DEEPSEEK_TOOL_CALL,
    "groq-tool-call": GROQ_TOOL_CALL,
    "openrouter-reasoning": OPENROUTER_REASONING,
}


@pytest.mark.parametrize("events", REAL_STREAMS.values(), ids=REAL_STREAMS.keys())
def test_real_streams_assemble_to_what_the_sdk_accumulates(events: list[str]) -> None:
    answer = chat.assemble(events)
    ours = ChatCompletion.model_validate(answer).model_dump(exclude_none=True)  # strictly valid
    sdk = sdk_accumulates(events)
    for mine, theirs in zip(ours["choices"], sdk["choices"], strict=True):
        message, accumulated = mine["message"], theirs["message"]
        for field in ("content", "reasoning_content", "reasoning"):
            assert (message.get(field) or None) == (accumulated.get(field) or None), field
        assert [
            (c["id"], c["type"], c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        ] == [
            (c["id"], c.get("type", "function"), c["function"]["name"], c["function"]["arguments"])
            for c in accumulated.get("tool_calls") or ()
        ]
        assert mine["finish_reason"] == theirs["finish_reason"]
    assert ours["usage"] == sdk["usage"]
    assert chat.summarize_events(events) == chat.summarize(answer)


def test_a_whole_tool_call_without_index_is_one_call_as_in_its_json_answer() -> None:
    # The SDK's accumulation fails on it (it looks calls up by index); vercel/ai's
    # mistral-tool-call.json is Mistral's JSON answer: the call, with no index and no type.
    answer = chat.assemble(MISTRAL_TOOL_CALL)
    (call,) = answer["choices"][0]["message"]["tool_calls"]
    assert call == {
        "id": "gSIMJiOkT",
        "function": {"name": "weather", "arguments": '{"location": "San Francisco"}'},
        "type": "function",  # the openai SDK's type needs it
    }
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    ChatCompletion.model_validate(answer)
    assert chat.summarize_events(MISTRAL_TOOL_CALL) == chat.summarize(answer)


def test_json_answer_streams_back_so_the_sdk_accumulates_every_field() -> None:
    weather = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
        # Gemini's OpenAI-compatible API adds its thought signature to a tool call.
        "extra_content": {"google": {"thought_signature": "sig"}},
    }
    message = {
        "role": "assistant",
        "content": "It is sunny.",
        "refusal": None,
        "reasoning_content": "Look it up.",
        "reasoning": "Look it up.",
        "reasoning_details": [
            {"type": "reasoning.text", "text": "Look", "format": "unknown", "index": 0},
            {"type": "reasoning.encrypted", "data": "gAAA", "index": 1},
        ],
        "annotations": CITATIONS,
        "tool_calls": [
            weather,
            {"id": "call_2", "type": "function", "function": {"name": "t", "arguments": "{}"}},
        ],
    }
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "deepseek-reasoner",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    events = chat.to_events(answer, {"stream_options": {"include_usage": True}})
    sdk = sdk_accumulates(events)
    accumulated = sdk["choices"][0]["message"]
    for field in ("content", "reasoning_content", "reasoning", "reasoning_details", "annotations"):
        assert accumulated[field] == message[field], field
    assert [
        {k: v for k, v in call.items() if k != "index"} for call in accumulated["tool_calls"]
    ] == message["tool_calls"]
    assert sdk["choices"][0]["finish_reason"] == "tool_calls"
    assert sdk["usage"] == answer["usage"]
    assert chat.assemble(events) == answer

    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    refused = {**answer, "choices": [{"index": 0, "message": refusal, "finish_reason": "stop"}]}
    accumulated = sdk_accumulates(chat.to_events(refused, {}))["choices"][0]["message"]
    assert accumulated["refusal"] == "I can't help with that."


def test_failure_is_an_error_object_in_any_event() -> None:
    error = 'data: {"error":{"message":"Rate limit","type":"rate_limit","code":"429"}}\n\n'
    assert chat.failure([error, DONE_EVENT]) == "Rate limit"
    assert chat.failure([*OPENAI_TEXT[:3], error]) == "Rate limit"
    # pydantic-ai test_openrouter/test_openrouter_stream_error.yaml: the error rides on a
    # chunk after the finish, and [DONE] follows.
    openrouter = stream(
        {"id": "gen-1762179802-UN8pkJI4AGZvryk0kFnb", "provider": "Minimax"},
        piece({"role": "assistant", "content": "", "reasoning": "We need"}, "length"),
        {
            "error": {"code": 400, "message": "Token limit reached"},
            **piece({"role": "assistant", "content": ""}),
            "usage": {"prompt_tokens": 43, "completion_tokens": 10, "total_tokens": 53},
        },
    )
    assert chat.failure(openrouter) == "Token limit reached"
    assert chat.failure(openrouter[:1]) is None
    # pydantic-ai test_groq/test_tool_use_failed_error_streaming.yaml: an `event: error`.
    groq = (
        'event: error\ndata: {"error":{"message":"Tool call validation failed: parameters for '
        'tool get_something_by_name did not match schema","type":"invalid_request_error",'
        '"code":"tool_use_failed","status_code":400}}\n\n'
    )
    assert str(chat.failure([GROQ_TOOL_CALL[0], groq])).startswith("Tool call validation failed")
    # Text about errors, a null error, an error in a tool's arguments: no error.
    talk = stream(
        {},
        piece({"content": 'the "error" key'}),
        piece({"tool_calls": [{"index": 0, "function": {"arguments": '{"error": 1}'}}]}),
        {"error": None, "choices": []},
    )
    assert chat.failure(talk) is None
    assert chat.failure([*OPENROUTER_REASONING, *MAGISTRAL_STREAM, *DEEPSEEK_TOOL_CALL]) is None


def test_completion_is_the_done_event_wherever_it_is_in_a_read() -> None:
    assert chat.is_complete([DONE_EVENT, ": keepalive\n\n"])
    assert chat.is_complete([OPENAI_TEXT[-2], DONE_EVENT, "\n\n", ": OPENROUTER PROCESSING\n\n"])
    assert chat.is_complete(["data: [DONE]"])  # the body's tail, without its blank line
    assert chat.is_complete(["data:[DONE]\n\n"])
    assert chat.is_complete(["".join(OPENAI_TEXT)])  # one replayed write
    assert not chat.is_complete(OPENAI_TEXT[:-1])
    assert not chat.is_complete(stream({}, piece({"content": "[DONE]"}))[:1])
    assert not chat.is_complete([": [DONE]\n\n"])


def test_events_are_read_as_sse_reads_them_and_a_text_may_hold_several() -> None:
    texts = [
        'data: {"a":1}\n\n',
        "data: \n\n",
        'event: ping\ndata: {"type": "ping"}\n\n',
        ": OPENROUTER PROCESSING\n\n",
        "event: x\ndata: a\ndata: b\n\n",
        "data:[DONE]\n\n",
        "id: 1\ndata: y\n\n",
        "event: e\ndata:z\n\n",
        ": c\ndata: after a comment\n\n",
    ]
    assert list(parsed_events([*texts, "data: tail"])) == list(parse_events([*texts, "data: tail"]))
    assert list(parsed_events(["".join(texts)])) == list(parse_events(texts))


def test_a_stream_cut_inside_an_event_assembles_what_came_before() -> None:
    cut = [*OPENAI_TEXT[:3], OPENAI_TEXT[3][:40]]
    assert chat.assemble(cut)["choices"][0]["message"]["content"] == "**Holiday"
    assert not chat.is_complete(cut)


def test_usage_counts_cached_and_cache_write_tokens_within_the_prompt() -> None:
    usage = {
        "prompt_tokens": 2048,
        "completion_tokens": 30,
        "total_tokens": 2078,
        "prompt_tokens_details": {"cached_tokens": 1536, "cache_write_tokens": 256},
    }
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    expected = Usage(2048, 30, cached_input_tokens=1536, cache_write_tokens=256)
    assert chat.summarize(answer).usage == expected
    # Streamed, the usage comes in the last chunk before [DONE].
    events = chat.to_events(answer, {"stream": True, "stream_options": {"include_usage": True}})
    assert '"cached_tokens":1536' in events[-2]
    assert chat.summarize_events(events).usage == expected
    assert chat.summarize(chat.assemble(events)).usage == expected
    # Older answers have no details, or null ones: nothing was cached.
    for details in ({}, {"prompt_tokens_details": None}):
        plain = {**answer, "usage": {"prompt_tokens": 5, "completion_tokens": 2, **details}}
        assert chat.summarize(plain).usage == Usage(5, 2)
        events = chat.to_events(plain, {"stream": True, "stream_options": {"include_usage": True}})
        assert chat.summarize_events(events).usage == Usage(5, 2)
