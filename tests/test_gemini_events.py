"""Gemini's stream framings and the joining rule, on literal inputs: event texts read in every
framing and cut, written as Google writes them, parts joined and split by the issue's rules."""

from __future__ import annotations

import json
from typing import Any

from playingpack.providers.gemini_events import (
    assemble,
    frame,
    keepalive,
    objects,
    rest_of_parts,
    split_answer,
)

SIGNATURE = "Ct8DAXLI2nzyZB3noFDSNOb6UxXhwYEZNwj0eyNt8xD"


def response(*parts: dict[str, Any], **candidate: Any) -> dict[str, Any]:
    """One streamed response with one candidate holding ``parts``."""
    return {"candidates": [{"content": {"parts": list(parts), "role": "model"}, **candidate}]}


def answer_parts(answer: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = answer["candidates"][0]["content"]["parts"]
    return parts


# --- reading --------------------------------------------------------------------------------


def test_sse_events_are_read_with_crlf_or_lf_and_in_one_piece() -> None:
    one, two = response({"text": "Hel"}), response({"text": "lo"}, finishReason="STOP")
    crlf = [f"data: {json.dumps(value)}\r\n\r\n" for value in (one, two)]
    lf = [text.replace("\r\n", "\n") for text in crlf]
    assert list(objects(crlf)) == [one, two]
    assert list(objects(lf)) == [one, two]
    assert list(objects(["".join(crlf)])) == [one, two]  # a tape told in one piece


def test_array_elements_are_read_however_the_array_was_cut() -> None:
    values = [response({"text": "a"}), response({"text": "b"}), response({"text": "c"})]
    pretty = [json.dumps(value, indent=2) for value in values]
    body = "[" + "\n,\r\n".join(pretty) + "\n]"
    before = ["[" + pretty[0], "\n,\r\n" + pretty[1], "\n,\r\n" + pretty[2], "\n]"]
    after = ["[" + pretty[0] + "\n,\r\n", pretty[1] + "\n,\r\n", pretty[2] + "\n", "]"]
    assert "".join(before) == "".join(after) == body
    for cut in (before, after, [body]):
        assert list(objects(cut)) == values, cut
    assert list(objects(["\n", *after])) == values  # a keepalive before the array


def test_a_cut_short_element_and_no_json_are_skipped() -> None:
    whole = "[" + json.dumps(response({"text": "a"}))
    assert list(objects([whole, '\n,\r\n{"candidates": [{"content'])) == [response({"text": "a"})]
    assert list(objects(["data: not json\n\n", ": comment\n\n", "\n"])) == []


def test_a_json_error_body_sent_as_a_stream_is_read() -> None:
    error = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}
    assert list(objects([json.dumps(error, indent=2) + "\n"])) == [error]


# --- writing --------------------------------------------------------------------------------


def test_sse_is_data_lines_with_crlf_and_nothing_else() -> None:
    events = frame([response({"text": "a"}), response({"text": "b"})], "sse")
    assert all(text.startswith("data: {") and text.endswith("}\r\n\r\n") for text in events)
    assert all(text.count("\n") == 2 for text in events)
    assert "[DONE]" not in "".join(events) and "event:" not in "".join(events)


def test_an_array_is_cut_with_the_separator_before_each_element() -> None:
    values = [response({"text": "a"}), response({"text": "b"})]
    events = frame(values, "json-array")
    assert events[0].startswith("[{") and events[1].startswith("\n,\r\n{") and events[2] == "\n]"
    assert json.loads("".join(events)) == values
    went_on = frame(values[1:], "json-array", opened=True)
    assert json.loads("".join(events[:1] + went_on)) == values
    assert json.loads("".join(frame([], "json-array"))) == []


def test_keepalives_are_what_each_framing_tolerates() -> None:
    sse = keepalive("sse")
    assert sse is not None and sse.startswith(b"data: {") and sse.endswith(b"\r\n\r\n")
    # It is a response with no text: nothing joins from it.
    assert answer_parts(assemble(objects([sse.decode()]))) == [{"text": ""}]
    assert keepalive("json-array") == b"\n"
    assert keepalive("ndjson") is None


# --- joining --------------------------------------------------------------------------------


def test_text_joins_per_candidate_and_thoughts_stay_apart() -> None:
    joined = assemble(
        [
            response({"text": "Let me ", "thought": True}),
            response({"text": "think.", "thought": True}),
            response({"text": "The answer", "thoughtSignature": "first"}),
            response({"text": " is 4", "thoughtSignature": SIGNATURE}),
            response({"text": "."}, finishReason="STOP"),
        ]
    )
    assert answer_parts(joined) == [
        {"text": "Let me think.", "thought": True},
        {"text": "The answer is 4.", "thoughtSignature": SIGNATURE},  # the last signature
    ]
    assert joined["candidates"][0]["finishReason"] == "STOP"


def test_text_never_joins_across_another_part() -> None:
    call = {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIGNATURE}
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    joined = assemble(
        [
            response({"text": "a"}),
            response(code),
            response({"text": "b"}),
            response(call),
            response({"text": ""}, finishReason="STOP"),  # Gemini 3's empty closing piece
        ]
    )
    assert answer_parts(joined) == [{"text": "a"}, code, {"text": "b"}, call]


def test_only_the_first_part_of_an_event_continues_the_last_part() -> None:
    joined = assemble([response({"text": "a"}), response({"text": "b"}, {"text": "c"})])
    assert answer_parts(joined) == [{"text": "ab"}, {"text": "c"}]


def test_candidates_join_by_index_and_other_fields_take_their_last_value() -> None:
    first = {
        "candidates": [
            {"content": {"parts": [{"text": "x"}], "role": "model"}, "index": 0},
            {"content": {"parts": [{"text": "y"}], "role": "model"}, "index": 1},
        ],
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    }
    grounding = {"groundingChunks": [{"web": {"uri": "https://example.com"}}]}
    last = {
        "candidates": [
            {
                "content": {"parts": [{"text": "2"}], "role": "model"},
                "index": 1,
                "finishReason": "STOP",
                "groundingMetadata": {},
                "avgLogprobs": -0.5,
            },
            {
                "content": {"parts": [{"text": "1"}], "role": "model"},
                "index": 0,
                "finishReason": "MAX_TOKENS",
                "groundingMetadata": grounding,
                "citationMetadata": {"citationSources": [{"uri": "https://b.example"}]},
            },
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    }
    middle = response(
        {"text": ""},
        index=0,
        groundingMetadata={"webSearchQueries": ["q"]},
        citationMetadata={"citationSources": [{"uri": "https://a.example"}]},
    )
    joined = assemble([first, middle, last])
    zero, one = joined["candidates"]
    assert zero["content"]["parts"] == [{"text": "x1"}] and one["content"]["parts"] == [
        {"text": "y2"}
    ]
    assert zero["finishReason"] == "MAX_TOKENS" and one["finishReason"] == "STOP"
    assert zero["groundingMetadata"] == grounding  # the last one given
    assert one["groundingMetadata"] == {} and one["avgLogprobs"] == -0.5
    assert zero["citationMetadata"]["citationSources"] == [
        {"uri": "https://a.example"},
        {"uri": "https://b.example"},
    ]
    assert joined["usageMetadata"] == last["usageMetadata"]  # from the last event
    assert list(joined) == ["candidates", "usageMetadata", "modelVersion", "responseId"]


# --- splitting ------------------------------------------------------------------------------


def test_an_answer_splits_into_responses_that_join_back_to_it() -> None:
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "thinking", "thought": True},
                        {"text": "one", "thoughtSignature": SIGNATURE},
                        {"text": "two"},  # apart from "one" in the JSON answer: it stays apart
                        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "s"},
                        {"functionCall": {"name": "g", "args": {}}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW"}],
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9, "totalTokenCount": 12},
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "r1",
        "createTime": "2026-01-01T00:00:00Z",
    }
    pieces = split_answer(answer)
    assert len(pieces) == 4  # thought, the two texts, each call
    assert [piece["responseId"] for piece in pieces] == ["r1"] * 4
    assert all("finishReason" not in piece["candidates"][0] for piece in pieces[:-1])
    assert "usageMetadata" in pieces[-1] and "usageMetadata" not in pieces[0]
    assert assemble(pieces) == answer


def test_a_blocked_prompt_and_an_empty_candidate_split_into_one_response() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "m"}
    assert split_answer(blocked) == [blocked]
    empty = {"candidates": [{"content": {"role": "model"}, "finishReason": "SAFETY"}]}
    assert split_answer(empty) == [empty]
    assert assemble(split_answer(empty)) == empty


def test_the_rest_of_parts_goes_on_from_the_text_a_client_has() -> None:
    call = {"functionCall": {"name": "f", "args": {}}}
    assert rest_of_parts([{"text": "Hel"}], [{"text": "Hello"}, call]) == [{"text": "lo"}, call]
    assert rest_of_parts([{"text": "Hello"}], [{"text": "Hello"}, call]) == [call]
    signed = {"text": "Hello", "thoughtSignature": SIGNATURE}
    assert rest_of_parts([{"text": "Hel"}], [signed]) == [
        {"text": "lo", "thoughtSignature": SIGNATURE}
    ]
    # An edit that does not go on from what was sent is sent whole.
    assert rest_of_parts([{"text": "Hel"}], [{"text": "Bye"}]) == [{"text": "Bye"}]
