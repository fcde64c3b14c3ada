"""The JSON shapes of a diff: what a script reads from GET /api/diff."""

from __future__ import annotations

from typing import Any

import msgspec

from playingpack.wire import ToolCallJSON
from playingpack.wire_diff import ChangeJSON, DiffJSON, ToolCallDiffJSON, WordJSON


def test_a_change_and_a_tool_call_diff_as_json() -> None:
    change = ChangeJSON(
        path="$.city",
        op="changed",
        a="Paris",
        b="Lyon",
        words=[WordJSON("removed", "Paris"), WordJSON("added", "Lyon")],
    )
    call = ToolCallDiffJSON(
        index=0,
        a=ToolCallJSON("call_1", "get_weather", {"city": "Paris"}),
        b=None,
        same=False,
        name_changed=False,
        changes=[change],
    )
    assert msgspec.json.decode(msgspec.json.encode(call)) == {
        "index": 0,
        "a": {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        "b": None,
        "same": False,
        "name_changed": False,
        "changes": [
            {
                "path": "$.city",
                "op": "changed",
                "a": "Paris",
                "b": "Lyon",
                "words": [{"op": "removed", "text": "Paris"}, {"op": "added", "text": "Lyon"}],
            }
        ],
    }


def test_the_diff_schema_has_the_contracts_fields() -> None:
    (ref,), components = msgspec.json.schema_components([DiffJSON])
    schema: dict[str, Any] = components["DiffJSON"]
    assert ref == {"$ref": "#/$defs/DiffJSON"}
    assert set(schema["properties"]) == {"a", "b", "request", "answer", "usage", "cost", "latency"}
    side = components["DiffSideJSON"]["properties"]
    assert set(side) == {
        "ref",
        "kind",
        "label",
        "path",
        "model",
        "status",
        "source",
        "streamed",
        "time",
        "origin",
        "parent",
        "text",
        "tool_calls",
        "request",
        "answer",
    }
    answer = components["AnswerDiffJSON"]["properties"]
    assert set(answer) == {"same", "text", "tool_calls", "finish_reason", "status"}
    assert components["WordJSON"]["properties"]["op"]["enum"] == ["added", "removed", "same"]
