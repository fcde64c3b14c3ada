"""Mocks checked and rendered as chat completions, and the decisions that carry them."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import msgspec
import pytest
from openai.types.chat import ChatCompletion

from playingpack.errors import DecisionError
from playingpack.interceptor import Allow, Decision, Edit, MockDecision, UseTape
from playingpack.mock import Mock, MockError, MockToolCall, render
from playingpack.providers.openai_chat import OpenAIChat

chat = OpenAIChat()
decode_decision = msgspec.json.Decoder(Decision).decode


def answer_of(mock: Mock, model: str = "gpt-4o") -> dict[str, Any]:
    """The JSON answer ``mock`` stands for, checked to parse as the SDK parses a real one."""
    reply = render(mock, chat, model)
    assert reply.error is None and reply.answer is not None
    ChatCompletion.model_validate(reply.answer)
    return reply.answer


def refusal(mock: Mock) -> DecisionError:
    with pytest.raises(DecisionError) as raised:
        render(mock, chat, "gpt-4o")
    assert raised.value.status == 422
    return raised.value


# --- text and tool calls ------------------------------------------------------------------


def test_text_mock_is_a_whole_answer_with_the_request_model_and_fresh_id() -> None:
    before = int(time.time())
    first = answer_of(Mock(content="Made up."), model="gpt-4o-2024-08-06")
    second = answer_of(Mock(content="Made up."))
    assert first["object"] == "chat.completion"
    assert first["model"] == "gpt-4o-2024-08-06"
    assert first["id"].startswith("chatcmpl-") and first["id"] != second["id"]
    assert before <= first["created"] <= int(time.time())
    (choice,) = first["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Made up."
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"


def test_empty_text_is_still_a_text_answer() -> None:
    assert answer_of(Mock(content=""))["choices"][0]["message"]["content"] == ""


def test_tool_call_arguments_given_as_object_become_json_text() -> None:
    arguments = {"city": "Zürich", "days": [1, 2], "metric": True}
    answer = answer_of(Mock(tool_calls=[MockToolCall("get_weather", arguments)]))
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == arguments


def test_tool_call_arguments_given_as_json_string_are_kept_byte_for_byte() -> None:
    text = '{ "b": 1,\n  "a": "x" }'
    answer = answer_of(Mock(tool_calls=[MockToolCall("lookup", text)]))
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == text


def test_tool_call_arguments_default_to_an_empty_object() -> None:
    answer = answer_of(Mock(tool_calls=[MockToolCall("now")]))
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_tool_call_ids_are_fresh_unless_given() -> None:
    calls = [MockToolCall("a"), MockToolCall("b", id="call_mine"), MockToolCall("c")]
    first = answer_of(Mock(tool_calls=calls))["choices"][0]["message"]["tool_calls"]
    second = answer_of(Mock(tool_calls=calls))["choices"][0]["message"]["tool_calls"]
    ids = [call["id"] for call in first]
    assert ids[1] == "call_mine"
    assert ids[0].startswith("call_") and ids[2].startswith("call_")
    assert len(set(ids)) == 3
    assert {ids[0], ids[2]}.isdisjoint({second[0]["id"], second[2]["id"]})
    assert [call["function"]["name"] for call in first] == ["a", "b", "c"]


def test_text_and_tool_calls_together() -> None:
    answer = answer_of(Mock(content="Let me look.", tool_calls=[MockToolCall("search", {})]))
    message = answer["choices"][0]["message"]
    assert message["content"] == "Let me look."
    assert [call["function"]["name"] for call in message["tool_calls"]] == ["search"]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("text", ["{not json", "", "NaN", '{"a": Infinity}', "{} {}"])
def test_tool_call_arguments_string_that_is_not_json_is_refused(text: str) -> None:
    calls = [MockToolCall("fine", {}), MockToolCall("broken", text)]
    error = refusal(Mock(tool_calls=calls))
    assert error.param == "mock.tool_calls[1].arguments"
    assert "not JSON" in str(error)


def test_where_names_the_mock_inside_the_decision() -> None:
    with pytest.raises(DecisionError) as raised:
        render(Mock(tool_calls=[MockToolCall("x", "{")]), chat, "m", where="edit.mock")
    assert raised.value.param == "edit.mock.tool_calls[0].arguments"


# --- errors -------------------------------------------------------------------------------


def test_error_mock_is_returned_as_given() -> None:
    error = MockError(429, "slow down", type="rate_limit_error", code="rate_limited", retry=True)
    reply = render(Mock(error=error), chat, "gpt-4o")
    assert reply.answer is None
    assert reply.error == error


def test_error_mock_defaults() -> None:
    (mock,) = msgspec.json.decode(
        b'[{"error": {"status": 500, "message": "boom"}}]', type=list[Mock]
    )
    reply = render(mock, chat, "gpt-4o")
    assert reply.error == MockError(500, "boom", "mock_error", "mock_error", False)


# --- full responses -----------------------------------------------------------------------


def test_full_response_gets_missing_id_model_and_created_filled() -> None:
    response = {"choices": [{"message": {"content": "All mine."}}]}
    answer = answer_of(Mock(response=response), model="gpt-4o-mini")
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "gpt-4o-mini"
    assert isinstance(answer["created"], int) and answer["created"] > 0
    assert answer["object"] == "chat.completion"
    (choice,) = answer["choices"]
    assert choice == {
        "index": 0,
        "logprobs": None,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "All mine."},
    }


def test_full_response_keeps_what_it_gives() -> None:
    response = {
        "id": "chatcmpl-given",
        "created": 1700000000,
        "model": "other-model",
        "system_fingerprint": "fp_given",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_given",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x": 1}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    answer = answer_of(Mock(response=response), model="gpt-4o")
    assert {k: answer[k] for k in ("id", "created", "model", "system_fingerprint", "usage")} == {
        k: response[k] for k in ("id", "created", "model", "system_fingerprint", "usage")
    }
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["choices"][0]["message"]["tool_calls"][0]["id"] == "call_given"


@pytest.mark.parametrize(
    ("response", "param", "words"),
    [
        ({}, "mock.response.choices", "non-empty"),
        ({"choices": []}, "mock.response.choices", "non-empty"),
        ({"choices": ["text"]}, "mock.response.choices[0]", "must be an object"),
        ({"choices": [{"text": "hi"}]}, "mock.response.choices[0].message", "must be an object"),
        (
            {"choices": [{"message": {"content": 5}}]},
            "mock.response.choices[0].message.content",
            "string or null",
        ),
        (
            {"choices": [{"message": {"tool_calls": {"name": "f"}}}]},
            "mock.response.choices[0].message.tool_calls",
            "must be an array",
        ),
        (
            {"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]},
            "mock.response.choices[0].message.tool_calls[0].function.name",
            "must be a string",
        ),
        (
            {
                "choices": [
                    {"message": {"tool_calls": [{"function": {"name": "f", "arguments": {}}}]}}
                ]
            },
            "mock.response.choices[0].message.tool_calls[0].function.arguments",
            "string of JSON",
        ),
    ],
)
def test_invalid_full_response_names_the_field(
    response: dict[str, Any], param: str, words: str
) -> None:
    error = refusal(Mock(response=response))
    assert error.param == param
    assert param.removeprefix("mock.response.") in str(error)
    assert words in str(error)


# --- what is not a mock -------------------------------------------------------------------


@pytest.mark.parametrize("mock", [Mock(), Mock(tool_calls=[])], ids=["nothing", "no-tool-calls"])
def test_empty_mock_is_refused(mock: Mock) -> None:
    error = refusal(mock)
    assert error.param == "mock"
    assert "empty" in str(error)
    assert "content" in str(error) and "error" in str(error) and "response" in str(error)


@pytest.mark.parametrize(
    ("mock", "kinds"),
    [
        (Mock(content="x", error=MockError(500, "boom")), ["content/tool_calls", "error"]),
        (
            Mock(tool_calls=[MockToolCall("f")], response={"choices": []}),
            ["content/tool_calls", "response"],
        ),
        (Mock(error=MockError(500, "boom"), response={"choices": []}), ["error", "response"]),
    ],
)
def test_mixed_mock_is_refused(mock: Mock, kinds: list[str]) -> None:
    error = refusal(mock)
    assert error.param == "mock"
    assert f"mixes {' and '.join(kinds)}" in str(error)


# --- decisions as they arrive over the API ------------------------------------------------


def test_decision_allow() -> None:
    assert decode_decision(b'{"action": "allow"}') == Allow()


def test_decision_mock_with_each_kind_of_mock() -> None:
    decision = decode_decision(
        b'{"action": "mock", "save": true, "mock": {"content": "hi", "tool_calls": ['
        b'{"name": "f", "arguments": {"a": 1}, "id": "call_1"}, '
        b'{"name": "g", "arguments": "{}"}]}}'
    )
    assert decision == MockDecision(
        Mock(
            content="hi",
            tool_calls=[MockToolCall("f", {"a": 1}, "call_1"), MockToolCall("g", "{}")],
        ),
        save=True,
    )
    error = decode_decision(
        b'{"action": "mock", "mock": {"error": {"status": 503, "message": "down", "retry": true}}}'
    )
    assert error == MockDecision(Mock(error=MockError(503, "down", retry=True)))
    whole = decode_decision(b'{"action": "mock", "mock": {"response": {"choices": []}}}')
    assert whole == MockDecision(Mock(response={"choices": []}))
    assert isinstance(whole, MockDecision) and whole.save is False


def test_decision_edit_of_a_request_or_an_answer() -> None:
    request = decode_decision(b'{"action": "edit", "request": {"model": "gpt-4o"}}')
    assert request == Edit(request={"model": "gpt-4o"})
    answer = decode_decision(
        b'{"action": "edit", "content": "new", "tool_calls": [{"name": "f"}], "save": true}'
    )
    assert answer == Edit(content="new", tool_calls=[MockToolCall("f")], save=True)
    whole = decode_decision(b'{"action": "edit", "response": {"choices": []}}')
    assert whole == Edit(response={"choices": []})


def test_decision_tape_with_or_without_a_hash() -> None:
    assert decode_decision(b'{"action": "tape"}') == UseTape()
    key = "ab" * 32
    assert decode_decision(f'{{"action": "tape", "tape": "{key}"}}'.encode()) == UseTape(key)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"action": "approve"}', "Invalid value 'approve' - at `$.action`"),
        (b'{"mock": {"content": "x"}}', "missing required field `action`"),
        (b'{"action": "mock"}', "missing required field `mock`"),
        (b'{"action": "allow", "mock": {"content": "x"}}', "unknown field `mock`"),
        (b'{"action": "mock", "mock": {"text": "x"}}', "unknown field `text` - at `$.mock`"),
        (b'{"action": "mock", "mock": {"content": 5}}', "at `$.mock.content`"),
        (
            b'{"action": "mock", "mock": {"error": {"status": 200, "message": "ok"}}}',
            "at `$.mock.error.status`",
        ),
        (
            b'{"action": "mock", "mock": {"error": {"status": 500, "message": ""}}}',
            "at `$.mock.error.message`",
        ),
        (
            b'{"action": "mock", "mock": {"tool_calls": [{"name": ""}]}}',
            "at `$.mock.tool_calls[0].name`",
        ),
        (b'{"action": "tape", "tape": 5}', "at `$.tape`"),
    ],
)
def test_decision_that_does_not_fit_its_shape_is_refused(raw: bytes, words: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(words)):
        decode_decision(raw)
