"""The one rule that merges a stream's deltas into the whole object, on literal deltas (most of
them pieces of real provider traffic, trimmed)."""

from __future__ import annotations

from typing import Any

from playingpack.merging import Merge


def merged(*deltas: dict[str, Any], start: dict[str, Any] | None = None) -> dict[str, Any]:
    merge = Merge(start)
    for delta in deltas:
        merge.add(delta)
    return merge.result()


def test_strings_are_joined_and_names_are_not() -> None:
    assert merged(
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "Hel"},  # OpenRouter and Perplexity repeat the role
        {"role": "", "content": "lo"},  # an empty name says nothing
    ) == {"role": "assistant", "content": "Hello"}
    call = merged(
        {"id": "call_1", "type": "function", "index": 0},
        {"id": "call_1", "type": "function", "index": 0},
    )
    assert call == {"id": "call_1", "type": "function", "index": 0}


def test_text_keeps_equal_pieces_and_a_repeated_label_is_kept_once() -> None:
    # Text fields are always joined: the same token twice is the same token twice.
    assert merged({"content": "\n"}, {"content": "\n"}, {"reasoning": "."}, {"reasoning": "."}) == {
        "content": "\n\n",
        "reasoning": "..",
    }
    # Any other string that comes again whole is a label sent with every piece: Groq's
    # gpt-oss `channel`, the `arguments` of a tool Groq ran, repeated in its second piece.
    groq = merged(
        {"reasoning": "We", "channel": "analysis"},
        {"reasoning": " need", "channel": "analysis"},
        {"executed_tools": [{"index": 0, "type": "search", "arguments": '{"q": "x"}'}]},
        {"executed_tools": [{"index": 0, "arguments": '{"q": "x"}', "output": "Title: ..."}]},
    )
    assert groq == {
        "reasoning": "We need",
        "channel": "analysis",
        "executed_tools": [
            {"index": 0, "type": "search", "arguments": '{"q": "x"}', "output": "Title: ..."}
        ],
    }
    # Once a string has grown, every piece is more of it.
    assert merged({"arguments": "{"}, {"arguments": '"a"'}, {"arguments": '"a"'}) == {
        "arguments": '{"a""a"'
    }


def test_entries_with_an_index_merge_by_index_and_keep_it() -> None:
    # OpenRouter (anthropic/claude-sonnet-4.5 through it): one reasoning entry in pieces of
    # index 0, its `format` repeated in every piece, the signature in a piece of its own.
    piece = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}
    details = merged(
        {"reasoning_details": []},
        {"reasoning_details": [{**piece, "text": "", "signature": ""}]},
        {"reasoning_details": [{**piece, "text": "This"}]},
        {"reasoning_details": [{**piece, "text": " is 4."}]},
        {"reasoning_details": [{**piece, "signature": "Et0BCkgIChACGAIqQA=="}]},
        {"reasoning_details": []},
    )
    assert details == {
        "reasoning_details": [
            {**piece, "text": "This is 4.", "signature": "Et0BCkgIChACGAIqQA=="},
        ]
    }


def test_indexed_pieces_merge_recursively_in_index_order() -> None:
    calls = merged(
        {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "time", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "weather"}}]},
        # Two fragments of one call in one delta (the openai SDK merges these too).
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}, {"index": 0}]},
        {"tool_calls": [{"index": 0, "id": "", "function": {"arguments": 'ty": 1}'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
    )
    assert calls == {
        "tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "weather", "arguments": '{"city": 1}'}},
            {"index": 1, "id": "b", "function": {"name": "time", "arguments": "{}"}},
        ]
    }


def test_entries_without_an_index_are_appended() -> None:
    # OpenRouter's web search: one url_citation per delta, no index.
    first = {"type": "url_citation", "url_citation": {"url": "https://a.example", "title": "A"}}
    second = {"type": "url_citation", "url_citation": {"url": "https://b.example", "title": ""}}
    assert merged(
        {"content": "", "annotations": [first]},
        {"content": "", "annotations": [second]},
        {"content": "The"},
    ) == {"content": "The", "annotations": [first, second]}


def test_content_parts_stay_parts_as_mistral_answers_them() -> None:
    # magistral-medium-latest streams "" first, then thinking parts, then the answer as
    # strings; its JSON answer has one thinking part and one text part.
    def thinking(text: str) -> dict[str, Any]:
        return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}

    message = merged(
        {"role": "assistant", "content": ""},
        {"content": ""},
        {"content": [thinking("Okay")]},
        {"content": [thinking(",")]},
        {"content": [thinking(" the user")]},
        {"content": "To cross"},
        {"content": " safely"},
        {"content": ""},
        start={"role": "assistant", "content": None},
    )
    assert message == {
        "role": "assistant",
        "content": [thinking("Okay, the user"), {"type": "text", "text": "To cross safely"}],
    }
    # The same answer streamed as text parts (and a closing flag on the thinking part).
    assert merged(
        {"content": [thinking("Plan")]},
        {"content": [{**thinking("."), "closed": True}]},
        {"content": [{"type": "text", "text": "Ans"}]},
        {"content": [{"type": "text", "text": "wer"}]},
    ) == {"content": [{**thinking("Plan."), "closed": True}, {"type": "text", "text": "Answer"}]}


def test_a_deltas_first_part_continues_the_last_its_others_are_new() -> None:
    # One delta with a whole array of parts (a JSON answer sent as one delta) keeps them as
    # they are, even two text parts in a row.
    whole = [{"type": "text", "text": "Partie 1. "}, {"type": "text", "text": "Partie 2."}]
    assert merged({"content": None}, {"content": whole}) == {"content": whole}
    assert merged({"content": [{"type": "text", "text": "A"}]}, {"content": whole}) == {
        "content": [{"type": "text", "text": "APartie 1. "}, {"type": "text", "text": "Partie 2."}]
    }
    # Text before the first part becomes a text part.
    assert merged({"content": "Hi"}, {"content": [{"type": "image_url", "image_url": {}}]}) == {
        "content": [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {}}]
    }


def test_objects_merge_and_scalars_take_the_last_value() -> None:
    assert merged(
        {"audio": {"id": "audio_1", "transcript": "Hel"}, "n": 1, "flag": True},
        {"audio": {"transcript": "lo", "data": "AAAA"}, "n": 2, "flag": False},
        {"audio": {"data": "AAAA", "expires_at": 1700}, "n": None},
    ) == {
        "audio": {"id": "audio_1", "transcript": "Hello", "data": "AAAAAAAA", "expires_at": 1700},
        "n": 2,
        "flag": False,
    }


def test_a_null_never_erases_and_a_first_null_stays() -> None:
    assert merged(
        {"content": None, "refusal": None, "reasoning": None},
        {"content": "x", "reasoning": None},
        {"content": None},
    ) == {"content": "x", "refusal": None, "reasoning": None}


def test_the_result_is_fresh_and_the_deltas_are_not_changed() -> None:
    delta = {"annotations": [{"type": "url_citation"}], "content": [{"type": "text", "text": "a"}]}
    merge = Merge()
    merge.add(delta)
    merge.add(delta)
    assert delta == {
        "annotations": [{"type": "url_citation"}],
        "content": [{"type": "text", "text": "a"}],
    }
    result = merge.result()
    assert result == {
        "annotations": [{"type": "url_citation"}, {"type": "url_citation"}],
        "content": [{"type": "text", "text": "aa"}],
    }
    result["content"][0]["text"] = "changed"
    assert merge.result()["content"][0]["text"] == "aa"


def test_a_long_answer_is_joined_whole() -> None:
    pieces = [f"word{n} " for n in range(20_000)]
    merge = Merge()
    for piece in pieces:
        merge.add({"content": piece})
    assert merge.result() == {"content": "".join(pieces)}
