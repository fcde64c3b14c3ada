"""The diff engine, by direct calls on literal tapes: requests as JSON paths, answers' text,
tool calls, finish reason, usage, cost and latency, for each wire format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from playingpack.diff import Side, diff, is_same, json_changes, side_of_tape
from playingpack.pricing import PriceBook
from playingpack.providers import builtin
from playingpack.tapes import Chunk, Tape
from playingpack.wire_diff import WordJSON

PROVIDERS = builtin()
PRICES = PriceBook()
CHAT = "/v1/chat/completions"


def tape_of(
    request: dict[str, Any], answer: dict[str, Any], endpoint: str = CHAT, *, delay: int = 100
) -> Tape:
    """A JSON (not streamed) tape of ``answer``, answered after ``delay`` ms."""
    return Tape(
        key="0" * 64,
        endpoint=endpoint,
        request=request,
        status=200,
        chunks=(Chunk(json.dumps(answer), delay),),
        streamed=False,
        model=str(request.get("model", "")),
    )


def side(request: dict[str, Any], answer: dict[str, Any], endpoint: str = CHAT, **kw: Any) -> Side:
    return side_of_tape("0" * 64, tape_of(request, answer, endpoint, **kw), PROVIDERS, PRICES)


def chat_answer(
    content: str | None, calls: Sequence[tuple[str, dict[str, Any]]] = (), **usage: int
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for i, (name, arguments) in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": usage.get("prompt", 10),
            "completion_tokens": usage.get("completion", 5),
        },
    }


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def test_request_changes_are_leaf_paths_and_strings_are_diffed_word_by_word() -> None:
    a = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        "x-trace": "1",
    }
    b: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "temperature": 0.7,
        "messages": [
            {"role": "user", "content": "What is the weather in Lyon?"},
            {"role": "assistant", "content": "Let me look."},
        ],
        "tools": [{"type": "function", "function": {"name": "get_forecast"}}],
        "top_p": 1,
    }
    changes = {change.path: change for change in json_changes(a, b)}
    assert list(changes) == [
        "$.temperature",
        "$.messages[0].content",
        "$.messages[1]",
        "$.tools[0].function.name",
        '$["x-trace"]',
        "$.top_p",
    ]
    assert (changes["$.temperature"].op, changes["$.temperature"].a) == ("changed", 0.2)
    assert changes["$.temperature"].b == 0.7
    assert changes["$.temperature"].words is None
    assert changes["$.messages[0].content"].words == [
        WordJSON("same", "What is the weather in "),
        WordJSON("removed", "Paris?"),
        WordJSON("added", "Lyon?"),
    ]
    added = changes["$.messages[1]"]
    assert (added.op, added.a, added.b) == ("added", None, b["messages"][1])
    assert (changes['$["x-trace"]'].op, changes["$.top_p"].op) == ("removed", "added")


def test_json_equality_is_jsons() -> None:
    assert json_changes({"n": 1, "f": 2.0}, {"n": 1.0, "f": 2}) == []
    # true is not 1, and a number is not its string.
    assert [c.path for c in json_changes({"t": True, "s": 1}, {"t": 1, "s": "1"})] == ["$.t", "$.s"]
    removed = json_changes({"messages": [1, 2, 3]}, {"messages": [1]})
    assert [(c.path, c.op, c.a) for c in removed] == [
        ("$.messages[1]", "removed", 2),
        ("$.messages[2]", "removed", 3),
    ]
    assert [c.path for c in json_changes({"a": {"b": 1}}, {"a": [1]})] == ["$.a"]
    assert [c.path for c in json_changes("x", 1)] == ["$"]


def test_stream_is_not_a_difference_and_same_calls_are_same() -> None:
    answer = chat_answer("Hi there")
    a = side(ask("Hello", stream=True), answer)
    b = side(ask("Hello"), answer)
    compared = diff(a, b)
    assert compared.request.same and compared.request.changes == []
    assert compared.answer.same
    assert is_same(compared)
    assert compared.a.ref == "tape:" + "0" * 64 and compared.a.kind == "tape"
    # A nested stream is a field like any other: only the request's own is left out.
    nested = diff(side(ask("Hello", extra={"stream": 1}), answer), side(ask("Hello"), answer))
    assert [c.path for c in nested.request.changes] == ["$.extra"]


def test_chat_answers_text_tool_arguments_finish_usage_cost_and_latency() -> None:
    a = side(ask("Weather?"), chat_answer("Looking it up.", prompt=10, completion=5), delay=100)
    b = side(
        ask("Weather?"),
        chat_answer(
            "Looking it up now.",
            [("get_weather", {"city": "Lyon", "days": [1, 2]})],
            prompt=10,
            completion=9,
        ),
        delay=250,
    )
    c = side(
        ask("Weather?"),
        chat_answer("x", [("get_weather", {"city": "Paris", "days": [1, 3]})]),
    )
    compared = diff(a, b)
    assert compared.request.same
    assert not compared.answer.same and not is_same(compared)
    assert compared.answer.text.words == [
        WordJSON("same", "Looking it "),
        WordJSON("removed", "up."),
        WordJSON("added", "up now."),
    ]
    assert (compared.answer.finish_reason.a, compared.answer.finish_reason.b) == (
        "stop",
        "tool_calls",
    )
    assert compared.answer.status.same and compared.answer.status.a == 200
    (only_b,) = compared.answer.tool_calls
    assert (only_b.a, only_b.b is not None, only_b.same, only_b.changes) == (None, True, False, [])
    usage = compared.usage
    assert (usage.input_tokens.a, usage.input_tokens.b, usage.input_tokens.same) == (10, 10, True)
    assert (usage.output_tokens.a, usage.output_tokens.b, usage.output_tokens.same) == (5, 9, False)
    assert (usage.total_tokens.a, usage.total_tokens.b) == (15, 19)
    # gpt-4o-mini: $0.15 in and $0.60 out per million tokens.
    assert (
        compared.cost.a is not None and abs(compared.cost.a - (10 * 0.15 + 5 * 0.6) / 1e6) < 1e-15
    )
    assert compared.cost.b is not None and compared.cost.b > compared.cost.a
    assert not compared.cost.same
    latency = compared.latency
    assert (latency.duration_ms.a, latency.duration_ms.b, latency.duration_ms.same) == (
        100.0,
        250.0,
        False,
    )
    assert (latency.first_byte_ms.a, latency.first_byte_ms.b) == (100.0, 250.0)

    arguments = diff(b, c).answer.tool_calls[0]
    assert (arguments.same, arguments.name_changed) == (False, False)
    assert [(x.path, x.a, x.b) for x in arguments.changes] == [
        ("$.city", "Lyon", "Paris"),
        ("$.days[1]", 2, 3),
    ]
    assert arguments.changes[0].words == [WordJSON("removed", "Lyon"), WordJSON("added", "Paris")]
    assert arguments.a is not None and arguments.a.arguments == {"city": "Lyon", "days": [1, 2]}


def test_a_renamed_tool_call_and_unpriced_models() -> None:
    a = side(ask("Go", model="no-such-model"), chat_answer(None, [("search", {"q": "x"})]))
    b = side(ask("Go", model="no-such-model"), chat_answer(None, [("lookup", {"q": "x"})]))
    (call,) = diff(a, b).answer.tool_calls
    assert (call.name_changed, call.same, call.changes) == (True, False, [])
    # An unknown price is unknown on both sides, not $0.
    cost = diff(a, b).cost
    assert (cost.a, cost.b, cost.same) == (None, None, True)


def anthropic_answer(text: str, stop: str, units: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": text},
            {"type": "tool_use", "id": "toolu_1", "name": "convert", "input": {"units": units}},
        ],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 7},
    }


def test_anthropic_messages() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Convert"}],
    }
    a = side(request, anthropic_answer("In metric units:", "tool_use", "metric"), "/v1/messages")
    b = side(
        {**request, "max_tokens": 50},
        anthropic_answer("In imperial units:", "max_tokens", "imperial"),
        "/v1/messages",
    )
    compared = diff(a, b)
    assert [c.path for c in compared.request.changes] == ["$.max_tokens"]
    assert WordJSON("removed", "metric ") in compared.answer.text.words
    assert (compared.answer.finish_reason.a, compared.answer.finish_reason.b) == (
        "tool_use",
        "max_tokens",
    )
    (call,) = compared.answer.tool_calls
    assert [(c.path, c.a, c.b) for c in call.changes] == [("$.units", "metric", "imperial")]
    assert compared.usage.input_tokens.a == 20


def responses_answer(status: str, city: str) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o-mini",
        "status": status,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": f"About {city}", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": json.dumps({"city": city}),
                "status": "completed",
            },
        ],
        "usage": {"input_tokens": 8, "output_tokens": 4, "total_tokens": 12},
    }


def test_openai_responses() -> None:
    request = {"model": "gpt-4o-mini", "input": "Weather in Oslo?"}
    a = side(request, responses_answer("completed", "Oslo"), "/v1/responses")
    b = side(
        {**request, "input": "Weather in Bergen?"},
        responses_answer("incomplete", "Bergen"),
        "/v1/responses",
    )
    compared = diff(a, b)
    (change,) = compared.request.changes
    assert change.path == "$.input"
    assert change.words == [
        WordJSON("same", "Weather in "),
        WordJSON("removed", "Oslo?"),
        WordJSON("added", "Bergen?"),
    ]
    assert (compared.answer.finish_reason.a, compared.answer.finish_reason.b) == (
        "completed",
        "max_output_tokens",
    )
    assert compared.answer.text.words[-2:] == [
        WordJSON("removed", "Oslo"),
        WordJSON("added", "Bergen"),
    ]
    (call,) = compared.answer.tool_calls
    assert [(c.path, c.a, c.b) for c in call.changes] == [("$.city", "Oslo", "Bergen")]


def test_a_streamed_tape_is_compared_as_its_assembled_answer() -> None:
    events = [
        'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi there"}}]}\n\n',
        'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":10,"completion_tokens":5}}\n\n',
        "data: [DONE]\n\n",
    ]
    streamed = Tape(
        key="1" * 64,
        endpoint=CHAT,
        request=ask("Hello", stream=True),
        status=200,
        chunks=(Chunk(events[0], 40), Chunk(events[1], 30), Chunk(events[2], 1)),
        streamed=True,
        model="gpt-4o-mini",
    )
    a = side_of_tape("1" * 64, streamed, PROVIDERS, PRICES)
    b = side(ask("Hello"), chat_answer("Hi there"))
    assert a.text == "Hi there" and a.streamed
    compared = diff(a, b)
    assert compared.answer.same and compared.request.same
    assert compared.usage.total_tokens.same
    assert (compared.latency.duration_ms.a, compared.latency.first_byte_ms.a) == (71.0, 40.0)
    assert compared.a.answer["choices"][0]["message"]["content"] == "Hi there"


def test_a_tape_whose_answer_cannot_be_read_compares_its_request() -> None:
    broken = Tape(
        key="2" * 64,
        endpoint=CHAT,
        request=ask("Hello"),
        status=200,
        chunks=(Chunk("[1, 2]", 5),),
        streamed=False,
    )
    a = side_of_tape("test_x/" + "2" * 64, broken, PROVIDERS, PRICES)
    assert (a.answer, a.text, a.tool_calls, a.scope) == (None, "", [], "test_x")
    compared = diff(a, side(ask("Hello"), chat_answer("Hi")))
    assert compared.request.same and not compared.answer.same
