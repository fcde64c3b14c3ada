"""The JSON shapes of runs and threads: what a script reads from /api/runs and /api/threads."""

from __future__ import annotations

import msgspec

from playingpack.conversation import TextPart, ToolResultPart, Turn
from playingpack.flows import Source, State
from playingpack.wire import ToolCallJSON, UsageJSON
from playingpack.wire_history import AnswerJSON, ThreadDetailJSON, ThreadStepJSON


def step(**fields: object) -> ThreadStepJSON:
    given: dict[str, object] = {
        "flow": "r-000002",
        "model": "gpt-4o-mini",
        "source": Source.UPSTREAM,
        "state": State.COMPLETE,
        "status": 200,
        "started_at": "2026-12-01T10:00:00.000Z",
        "duration_ms": 12.5,
        "usage": UsageJSON(input_tokens=10, output_tokens=5, total_tokens=15),
        "cost": None,
        "retry_of": None,
        "input": [Turn("tool", [ToolResultPart("22 C", "call_1")])],
        "tool_names": {"call_1": "get_weather"},
        "answer": AnswerJSON(text="Sunny.", reasoning="", tool_calls=[], finish_reason="stop"),
        "error": None,
    }
    given.update(fields)
    return msgspec.convert(given, ThreadStepJSON, from_attributes=True)


def test_a_step_says_which_tool_call_each_result_answers_and_an_unknown_cost_is_null() -> None:
    encoded = msgspec.json.decode(msgspec.json.encode(step()))
    assert encoded["input"] == [
        {"role": "tool", "parts": [{"kind": "tool_result", "content": "22 C", "id": "call_1"}]}
    ]
    assert encoded["tool_names"] == {"call_1": "get_weather"}
    assert encoded["cost"] is None and encoded["source"] == "upstream"


def test_a_thread_lists_its_steps_in_order_under_step_list() -> None:
    first = step(
        flow="r-000001",
        input=[Turn("user", [TextPart("Weather in Paris?")])],
        tool_names={},
        answer=AnswerJSON(
            text="",
            reasoning="",
            tool_calls=[ToolCallJSON("call_1", "get_weather", {"city": "Paris"})],
            finish_reason="tool_calls",
        ),
    )
    thread = ThreadDetailJSON(
        id="r-000001",
        run="r",
        first_message="Weather in Paris?",
        steps=2,
        tools=["get_weather"],
        models=["gpt-4o-mini"],
        input_tokens=20,
        output_tokens=10,
        cost=0.0001,
        started_at="2026-12-01T10:00:00.000Z",
        duration_ms=40.0,
        system=None,
        step_list=[first, step()],
    )
    encoded = msgspec.json.decode(msgspec.json.encode(thread))
    assert [s["flow"] for s in encoded["step_list"]] == ["r-000001", "r-000002"]
    assert encoded["step_list"][0]["answer"]["tool_calls"][0]["arguments"] == {"city": "Paris"}
