"""A call's turns as atoms: what a client sends back of an answer has the atoms of the answer,
however it writes them; different conversations have different atoms."""

from __future__ import annotations

from typing import Any

from playingpack.conversation import Turn
from playingpack.providers import builtin
from playingpack.thread_atoms import (
    DIGEST,
    Kind,
    answer_turns,
    digests,
    kind_of,
    request_turns,
    title,
    turn_atoms,
)

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}


def atoms_of(turns: list[Turn]) -> list[tuple[str, ...]]:
    return [strict for turn in turns for strict, _ in turn_atoms(turn)]


def answered(kind: Kind, answer: dict[str, Any]) -> list[tuple[str, ...]]:
    turns = answer_turns(kind, answer)
    assert turns is not None
    return atoms_of(turns)


def sent_back(kind: Kind, request: dict[str, Any]) -> list[tuple[str, ...]]:
    system, turns = request_turns(kind, request)
    return atoms_of(system + turns)


def test_kinds() -> None:
    kinds = {provider.endpoint: kind_of(provider) for provider in builtin()}
    assert kinds == {
        "/v1/chat/completions": "chat",
        "/v1/messages": "messages",
        "/v1/responses": "responses",
        "/v1/embeddings": None,
        "/v1/completions": None,
        "/v1beta/models/{model}:generateContent": "gemini",
        "/v1beta/models/{model}:batchEmbedContents": None,
        "/api/chat": "ollama",
        "/api/generate": None,
        "/api/embed": None,
    }
    assert kind_of(None) is None


def test_a_chat_answer_sent_back_as_clients_write_it() -> None:
    arguments = '{"city":"Paris","units":{"c":true,"b":1}}'
    answer = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": [
                        {**CALL, "function": {"name": "get_weather", "arguments": arguments}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    # The LangChain way: content "", the arguments parsed and written again with spaces.
    rewritten = '{"units": {"b": 1, "c": true}, "city": "Paris"}'
    again = {
        "messages": [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {**CALL, "function": {"name": "get_weather", "arguments": rewritten}}
                ],
            }
        ]
    }
    expected = [("c", "call_1", "get_weather", '{"city":"Paris","units":{"b":1,"c":true}}')]
    assert answered("chat", answer) == sent_back("chat", again) == expected


def test_text_split_into_blocks_is_one_text() -> None:
    answer = {"choices": [{"message": {"role": "assistant", "content": "It is sunny. "}}]}
    again = {
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "It is "}, {"type": "text", "text": "sunny."}],
            }
        ]
    }
    assert answered("chat", answer) == sent_back("chat", again) == [("t", "a", "It is sunny.")]


def test_no_arguments_are_an_empty_object() -> None:
    answer = {"choices": [{"message": {"role": "assistant", "tool_calls": [CALL]}}]}
    again = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "get_weather", "arguments": "{}"}}],
            }
        ]
    }
    assert answered("chat", answer) == sent_back("chat", again)


def test_anthropic_thinking_is_no_atom() -> None:
    thinking = {"type": "thinking", "thinking": "The user wants...", "signature": "EqEECkYICx"}
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Lima"}}
    answer = {"type": "message", "role": "assistant", "content": [thinking, use]}
    kept = {"messages": [{"role": "assistant", "content": [thinking, use]}]}
    dropped = {"messages": [{"role": "assistant", "content": [use]}]}
    redacted = {
        "messages": [
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}, use]}
        ]
    }
    expected = [("c", "toolu_1", "get_weather", '{"city":"Lima"}')]
    assert answered("messages", answer) == expected
    assert sent_back("messages", kept) == sent_back("messages", dropped) == expected
    assert sent_back("messages", redacted) == expected


def test_anthropic_system_comes_first() -> None:
    request = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    system, turns = request_turns("messages", request)
    assert atoms_of(system) == [("t", "s", "Be brief.")]
    assert atoms_of(turns) == [("t", "u", "Hi")]


def test_anthropic_tool_results_are_answers_to_their_call() -> None:
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "Rain"}],
                    },
                    {"type": "text", "text": "And tomorrow?"},
                ],
            }
        ]
    }
    assert sent_back("messages", request) == [
        ("r", "toolu_1", "Sunny"),
        ("r", "toolu_2", "Rain"),
        ("t", "u", "And tomorrow?"),
    ]


def test_responses_reasoning_items_are_no_atoms() -> None:
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAA"}
    call = {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_9",
        "name": "multiply",
        "arguments": '{"a":2,"b":3}',
    }
    answer = {"id": "resp_1", "status": "completed", "output": [reasoning, call]}
    dropped = {"input": [{"type": "function_call", "call_id": "call_9", "name": "multiply",
                          "arguments": '{"a": 2, "b": 3}'}]}  # fmt: skip
    kept = {"input": [reasoning, call]}
    expected = [("c", "call_9", "multiply", '{"a":2,"b":3}')]
    assert answered("responses", answer) == sent_back("responses", dropped) == expected
    assert sent_back("responses", kept) == expected


def test_responses_instructions_and_a_string_input() -> None:
    system, turns = request_turns("responses", {"instructions": "Be brief.", "input": "Hi"})
    assert atoms_of(system) == [("t", "s", "Be brief.")]
    assert atoms_of(turns) == [("t", "u", "Hi")]


def test_failed_answers_are_none() -> None:
    assert answer_turns("chat", {"error": {"message": "boom"}}) is None
    assert answer_turns("chat", None) is None
    assert answer_turns("responses", {"status": "failed", "output": []}) is None
    assert answer_turns("messages", {"type": "error", "error": {"type": "api_error"}}) is None
    assert answer_turns("responses", {"status": "completed", "output": []}) == []
    assert answer_turns("gemini", {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}) is None
    assert answer_turns("gemini", {"promptFeedback": {"blockReason": "SAFETY"}}) is None
    assert answer_turns("gemini", {"candidates": [{"finishReason": "SAFETY"}]}) == []
    assert answer_turns("ollama", {"error": "model 'x' not found"}) is None
    assert answer_turns("ollama", {"model": "llama3.2", "done": True}) is None


def test_a_gemini_answer_sent_back_without_its_thoughts() -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"units": "c", "city": "Lyon"}}}
    thought = {"text": "Look it up.", "thought": True}
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [thought, {**call, "thoughtSignature": "CtI"}],
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-2.5-flash",
    }
    expected = [("c", "", "get_weather", '{"city":"Lyon","units":"c"}')]
    assert answered("gemini", answer) == expected
    # The SDKs send the content back as it came, thoughts and signatures with it; others
    # drop them.
    kept = {"contents": [answer["candidates"][0]["content"]]}  # type: ignore[index]
    dropped = {"contents": [{"role": "model", "parts": [call]}]}
    assert sent_back("gemini", kept) == sent_back("gemini", dropped) == expected


def test_gemini_system_instruction_comes_first_and_results_answer_calls() -> None:
    request = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Lyon?"}]},
            {"role": "model", "parts": [{"functionCall": {"id": "f1", "name": "get_weather"}}]},
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "f1", "name": "get_weather",
                                          "response": {"result": "Sunny"}}}
                ],
            },
        ],
    }  # fmt: skip
    system, turns = request_turns("gemini", request)
    assert atoms_of(system) == [("t", "s", "Be brief.")]
    assert atoms_of(turns) == [
        ("t", "u", "Weather in Lyon?"),
        ("c", "f1", "get_weather", "{}"),
        ("r", "f1", '{"result":"Sunny"}'),
    ]
    # The SDK's snake_case spelling is the same conversation.
    snake = {"system_instruction": request["systemInstruction"], "contents": request["contents"]}
    assert request_turns("gemini", snake) == (system, turns)
    assert request_turns("gemini", {"contents": request["contents"]}) == ([], turns)
    assert title(turns) == "Weather in Lyon?"


def test_an_ollama_answer_sent_back_and_its_tool_result() -> None:
    call = {"id": "call_k2m4x9qa", "function": {"index": 0, "name": "get_weather",
                                                "arguments": {"city": "Oslo"}}}  # fmt: skip
    answer = {
        "model": "llama3.2",
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "Oslo...",
            "tool_calls": [call],
        },
        "done": True,
        "done_reason": "stop",
    }
    assert answered("ollama", answer) == [("c", "call_k2m4x9qa", "get_weather", '{"city":"Oslo"}')]
    # The ollama client sends the call back without its id, and the result names the tool.
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": call["function"]}]},
            {"role": "tool", "content": "Cold", "tool_name": "get_weather"},
        ]
    }
    system, turns = request_turns("ollama", request)
    assert system == []
    assert [loose for turn in turns for _, loose in turn_atoms(turn)] == [
        ("t", "s", "Be brief."),
        ("t", "u", "Weather in Oslo?"),
        ("c", "get_weather", '{"city":"Oslo"}'),
        ("r", "Cold"),
    ]
    assert turns[-1].name == "get_weather"


def test_loose_atoms_have_no_ids() -> None:
    request = {
        "messages": [
            {"role": "assistant", "tool_calls": [{**CALL, "id": "pyd_ai_made_up"}]},
            {"role": "tool", "tool_call_id": "pyd_ai_made_up", "content": "Noon"},
        ]
    }
    _, turns = request_turns("chat", request)
    assert [loose for turn in turns for _, loose in turn_atoms(turn)] == [
        ("c", "get_weather", "{}"),
        ("r", "Noon"),
    ]
    strict, loose = digests(turns)
    assert len(strict) == len(loose) == 2 * DIGEST
    assert strict != loose


def test_different_conversations_differ() -> None:
    def one(text: str) -> bytes:
        return digests(request_turns("chat", {"messages": [{"role": "user", "content": text}]})[1])[
            0
        ]

    assert one("Weather in Paris?") != one("Weather in Rome?")
    assert one("Weather in Paris?") == one("  Weather in Paris?\n")


def test_user_blocks_and_images_count() -> None:
    def atoms(content: Any) -> list[tuple[str, ...]]:
        return sent_back("chat", {"messages": [{"role": "user", "content": content}]})

    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    document = {"type": "file", "file": {"file_id": "file-1"}}
    assert atoms([{"type": "text", "text": "What is it?"}, image]) == [
        ("t", "u", "What is it?"),
        ("i", "u", "https://example.com/a.png"),
    ]
    assert atoms([document]) == [("j", "u", '{"file":{"file_id":"file-1"},"type":"file"}')]


def test_title_is_the_first_user_text_shortened() -> None:
    _, turns = request_turns(
        "chat",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "word " * 100},
            ]
        },
    )
    shortened = title(turns)
    assert len(shortened) == 200
    assert shortened.startswith("word word") and shortened.endswith("…")
    assert title([]) == ""
