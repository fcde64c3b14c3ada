"""A thread read from the history as the conversation: each step adds only what is new, each
tool result names the tool call it answers, and the thread's numbers add up its calls.

The calls are made with the official SDKs through a real playingpack, whose history is then
read the way the API reads it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from playingpack.app import HISTORY
from playingpack.thread_views import list_threads, thread_detail
from playingpack.wire_history import ThreadDetailJSON
from tests.conftest import Running
from tests.fakes import anthropic_upstream as claude
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

T = TypeVar("T")
WEATHER_CALL = ("get_weather", '{"city": "Oslo"}')
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def read(proxy: Running, calls: int, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` on the history once ``calls`` calls have ended."""
    proxy.finished_flows(calls)
    return asyncio.run(proxy.app[HISTORY].read(fn))


def only_thread(proxy: Running, calls: int) -> dict[str, Any]:
    (listed,) = read(proxy, calls, lambda db: list_threads(db, None))
    detail = read(proxy, calls, lambda db: thread_detail(db, listed.id))
    assert isinstance(detail, ThreadDetailJSON)
    as_json: dict[str, Any] = msgspec.to_builtins(detail)
    assert msgspec.to_builtins(listed) == {
        k: v for k, v in as_json.items() if k not in ("system", "step_list")
    }
    return as_json


def parts(step: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (turn["role"], part.get("text", part.get("content")))
        for turn in step["input"]
        for part in turn["parts"]
    ]


def test_a_chat_tool_loop_with_a_retry(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(
        Reply(content=None, tool_calls=[WEATHER_CALL]),
        Reply(status=500),
        Reply(content="Sunny in Oslo."),
    )
    proxy = start_proxy()
    client = proxy.client(max_retries=1)
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
    ]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    message = first.choices[0].message
    (call,) = message.tool_calls or []
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 22 C"},
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)

    thread = only_thread(proxy, 3)
    flows = sorted(proxy.finished_flows(3), key=lambda flow: flow["id"])
    ids = [flow["id"] for flow in flows]
    assert thread["id"] == ids[0] and thread["system"] == "Be brief."
    steps = thread["step_list"]
    assert [step["flow"] for step in steps] == ids
    assert [step["retry_of"] for step in steps] == [None, None, ids[1]]
    assert [parts(step) for step in steps] == [
        [("user", "Weather in Oslo?")],
        [("tool", "Sunny, 22 C")],
        [],  # a retry adds nothing
    ]
    assert steps[1]["tool_names"] == {call.id: "get_weather"}
    first_answer = steps[0]["answer"]
    assert first_answer["tool_calls"] == [
        {"id": call.id, "name": "get_weather", "arguments": {"city": "Oslo"}}
    ]
    assert first_answer["finish_reason"] == "tool_calls"
    assert steps[1]["answer"] is None and steps[1]["status"] == 500
    assert steps[1]["error"]
    assert steps[2]["answer"] == {
        "text": "Sunny in Oslo.",
        "reasoning": "",
        "tool_calls": [],
        "finish_reason": "stop",
    }
    assert [step["model"] for step in steps] == ["gpt-4o-mini"] * 3
    assert [step["source"] for step in steps] == ["upstream"] * 3
    assert thread["steps"] == 2
    assert thread["tools"] == ["get_weather"] and thread["models"] == ["gpt-4o-mini"]
    with_usage = [flow for flow in flows if flow["usage"]]
    assert thread["input_tokens"] == sum(flow["usage"]["input_tokens"] for flow in with_usage)
    assert thread["output_tokens"] == sum(flow["usage"]["output_tokens"] for flow in with_usage)
    costs = [flow["cost"] for flow in with_usage]
    if None in costs:
        assert thread["cost"] is None
    else:
        assert thread["cost"] == sum(costs)
    assert thread["first_message"] == "Weather in Oslo?"
    assert thread["duration_ms"] >= max(flow["duration_ms"] for flow in flows)


def test_responses_with_previous_response_id(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(
        Reply(content=None, tool_calls=[WEATHER_CALL]),
        Reply(content="Sunny.", reasoning="The tool says sunny."),
    )
    proxy = start_proxy()
    client = proxy.client()
    first = client.responses.create(
        model="gpt-4o-mini", instructions="Be brief.", input="Weather in Oslo?"
    )
    call = next(item for item in first.output if item.type == "function_call")
    client.responses.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}],
    )
    thread = only_thread(proxy, 2)
    steps = thread["step_list"]
    assert thread["system"] == "Be brief."
    assert [parts(step) for step in steps] == [[("user", "Weather in Oslo?")], [("tool", "Sunny")]]
    # The call is in the first step's answer, not in the second request.
    assert steps[1]["tool_names"] == {call.call_id: "get_weather"}
    assert steps[1]["answer"]["reasoning"] == "The tool says sunny."
    assert steps[1]["answer"]["text"] == "Sunny."
    assert steps[1]["answer"]["finish_reason"] == "completed"


def test_anthropic_with_thinking(
    start_proxy: Callable[..., Running], fake_claude: FakeAnthropic
) -> None:
    fake_claude.queue(
        claude.Reply(text=None, thinking="Oslo, then.", tool_uses=[WEATHER_CALL]),
        claude.Reply(text="Sunny in Oslo."),
    )
    proxy = start_proxy(anthropic_upstream=fake_claude.url)
    client = proxy.anthropic()
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=messages
    )
    use = next(block for block in first.content if block.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"},
                {"type": "text", "text": "Thanks."},
            ],
        },
    ]
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=messages
    )
    thread = only_thread(proxy, 2)
    steps = thread["step_list"]
    assert thread["system"] == "Be brief."
    assert steps[0]["answer"]["reasoning"] == "Oslo, then."
    assert steps[0]["answer"]["tool_calls"][0]["arguments"] == {"city": "Oslo"}
    assert steps[0]["answer"]["finish_reason"] == "tool_use"
    assert [parts(step) for step in steps] == [
        [("user", "Weather in Oslo?")],
        [("user", "Sunny"), ("user", "Thanks.")],
    ]
    assert steps[1]["tool_names"] == {use.id: "get_weather"}
    assert steps[1]["answer"]["finish_reason"] == "end_turn"


def test_unknown_threads_and_other_runs(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    (listed,) = read(proxy, 1, lambda db: list_threads(db, None))
    assert listed.steps == 1 and listed.first_message == "Hi"
    assert read(proxy, 1, lambda db: list_threads(db, listed.run)) == [listed]
    assert read(proxy, 1, lambda db: list_threads(db, "00000000")) == []
    assert read(proxy, 1, lambda db: thread_detail(db, "nope")) is None
    embedded = proxy.client().embeddings.create(model="text-embedding-3-small", input="x")
    assert embedded.data
    # An embedding is no conversation: still one thread.
    assert len(read(proxy, 2, lambda db: list_threads(db, None))) == 1


def test_a_call_stored_without_its_fingerprint(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Hello."), Reply(content="Fine."))
    proxy = start_proxy()
    client = proxy.client()
    hello: list[Any] = [{"role": "user", "content": "Hi"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=hello)
    more = [*hello, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "How?"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=more)
    (listed,) = read(proxy, 2, lambda db: list_threads(db, None))
    assert proxy.config.history is not None
    with sqlite3.connect(proxy.config.history) as db:
        db.execute("UPDATE flows SET fingerprint = NULL")
    thread = only_thread(proxy, 2)
    assert [parts(step) for step in thread["step_list"]] == [[("user", "Hi")], [("user", "How?")]]
    assert listed.first_message == "Hi"
