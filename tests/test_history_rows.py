"""What a finished call becomes in the history: its search text (pure, on literal inputs)."""

from __future__ import annotations

from typing import Any

from playingpack.conversation import Conversation, TextPart, ToolCallPart, ToolResultPart, Turn
from playingpack.flows import Source, State
from playingpack.history_rows import MAX_TEXT, search_text
from playingpack.wire import FlowDetailJSON, ToolCallJSON


def detail(conversation: Conversation | None, text: str, calls: list[ToolCallJSON]) -> Any:
    return FlowDetailJSON(
        id="r-000001",
        run="r",
        thread=None,
        state=State.COMPLETE,
        source=Source.UPSTREAM,
        method="POST",
        path="/v1/chat/completions",
        scope=None,
        model="gpt-4o",
        status=200,
        streamed=False,
        tape=None,
        started_at="2025-01-01T00:00:00.000Z",
        duration_ms=1.0,
        usage=None,
        tool_calls=calls,
        hold=None,
        decision=None,
        error=None,
        cost=None,
        saved=None,
        phases=None,
        history=[],
        chunks=[],
        answer_streamed=False,
        request_headers={},
        response_headers={},
        text=text,
        conversation=conversation,
    )


def test_search_text_has_messages_answer_tools_model_and_path() -> None:
    conversation = Conversation(
        [
            Turn("system", [TextPart("Be brief")]),
            Turn("user", [TextPart("Where is the otter?")]),
            Turn("assistant", [ToolCallPart("find_otter", '{"river": "Thames"}', "c1")]),
            Turn("tool", [ToolResultPart({"seen": "Kew"}, "c1")]),
        ],
        [],
        [],
    )
    calls = [ToolCallJSON("c2", "book_boat", {"seats": 2})]
    text = search_text(detail(conversation, "By the bridge", calls))
    for words in ("Be brief", "Where is the otter?", "find_otter", "Thames", '"seen":"Kew"'):
        assert words in text
    for words in ("By the bridge", "book_boat", '"seats":2', "gpt-4o", "/v1/chat/completions"):
        assert words in text


def test_search_text_is_cut_at_its_limit() -> None:
    huge = Conversation([Turn("user", [TextPart("word " * MAX_TEXT)])], [], [])
    assert len(search_text(detail(huge, "", []))) == MAX_TEXT
    assert search_text(detail(None, "", [])) == "gpt-4o\n/v1/chat/completions"
