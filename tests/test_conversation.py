"""conversation: requests of every wire format read as turns, tools and parameters, in the
shape the dashboard shows (as its own reader did)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from playingpack.providers import builtin


def turns_of(endpoint: str, body: Any) -> Any:
    """The conversation ``endpoint``'s provider reads from ``body``, as the API sends it."""
    provider = next(p for p in builtin() if p.serves(endpoint))
    return msgspec.json.decode(msgspec.json.encode(provider.turns(body)))


def text(value: str) -> dict[str, Any]:
    return {"kind": "text", "text": value}


def test_chat_messages_tool_calls_results_and_params_in_order() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                    {"type": "input_audio", "input_audio": {"data": "AA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    },
                    "odd",
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [
                    {"type": "text", "text": "rain"},
                    {"type": "text", "text": "cold"},
                ],
            },
            {"role": "assistant", "function_call": {"name": "legacy", "arguments": "{}"}},
            "not a message",
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Look it up",
                    "parameters": {"type": "object"},
                },
            }
        ],
        "temperature": 0,
        "stream": True,
    }
    assert turns_of("/v1/chat/completions", body) == {
        "turns": [
            {"role": "system", "parts": [text("Be brief.")]},
            {
                "role": "user",
                "name": "ann",
                "parts": [
                    text("Look:"),
                    {"kind": "image", "source": "data:image/png;base64,AA"},
                    {
                        "kind": "json",
                        "value": {"type": "input_audio", "input_audio": {"data": "AA"}},
                    },
                ],
            },
            {
                "role": "assistant",
                "parts": [
                    {
                        "kind": "tool_call",
                        "name": "weather",
                        "arguments": '{"city":"Oslo"}',
                        "id": "call_1",
                    },
                    {"kind": "json", "value": "odd"},
                ],
            },
            {
                "role": "tool",
                "parts": [
                    {"kind": "tool_result", "id": "call_1", "content": "rain\ncold"},
                ],
            },
            {
                "role": "assistant",
                "parts": [
                    {"kind": "tool_call", "name": "legacy", "arguments": "{}"},
                ],
            },
            {"role": "?", "parts": [{"kind": "json", "value": "not a message"}]},
        ],
        "tools": [
            {"name": "weather", "description": "Look it up", "parameters": {"type": "object"}}
        ],
        "params": [["model", "gpt-4o"], ["temperature", 0], ["stream", True]],
    }


RESULT_BLOCKS = [{"type": "text", "text": "a cat"}, {"type": "image", "source": {"type": "base64"}}]


def test_anthropic_system_blocks_thinking_tool_use_results_and_images() -> None:
    body = {
        "model": "claude",
        "system": [{"type": "text", "text": "Answer in French."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Hmm."},
                    {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": RESULT_BLOCKS,
                    },
                ],
            },
        ],
        "tools": [{"name": "look", "input_schema": {"type": "object"}}, {"type": "web_search"}],
        "max_tokens": 10,
    }
    result = turns_of("/v1/messages", body)
    assert result["turns"] == [
        {"role": "system", "parts": [text("Answer in French.")]},
        {
            "role": "user",
            "parts": [
                {"kind": "image", "source": "image/png (base64)"},
                {"kind": "image", "source": "https://x/cat.png"},
                text("What is this?"),
            ],
        },
        {
            "role": "assistant",
            "parts": [
                text("Hmm."),
                {"kind": "tool_call", "name": "look", "arguments": {"q": 1}, "id": "toolu_1"},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "kind": "tool_result",
                    "id": "toolu_1",
                    "content": RESULT_BLOCKS,  # not all text: as given
                }
            ],
        },
    ]
    assert result["tools"] == [
        {"name": "look", "parameters": {"type": "object"}},
        {"name": "web_search"},
    ]
    assert result["params"] == [["model", "claude"], ["max_tokens", 10]]


def test_responses_instructions_and_input_items() -> None:
    body = {
        "model": "gpt-4.1",
        "instructions": "Be a bot.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Hi"},
                    {"type": "input_image", "image_url": "https://x/a.png"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Hello"},
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
            {"type": "reasoning", "summary": []},
            {"type": "message"},
            7,
        ],
    }
    assert turns_of("/v1/responses", body)["turns"] == [
        {"role": "system", "parts": [text("Be a bot.")]},
        {"role": "user", "parts": [text("Hi"), {"kind": "image", "source": "https://x/a.png"}]},
        {"role": "assistant", "parts": [text("Hello")]},
        {
            "role": "assistant",
            "parts": [
                {"kind": "tool_call", "name": "f", "arguments": "{}", "id": "c1"},
            ],
        },
        {"role": "tool", "parts": [{"kind": "tool_result", "id": "c1", "content": "done"}]},
        {
            "role": "reasoning",
            "parts": [{"kind": "json", "value": {"type": "reasoning", "summary": []}}],
        },
        {"role": "message", "parts": [{"kind": "json", "value": {"type": "message"}}]},
        {"role": "input", "parts": [{"kind": "json", "value": 7}]},
    ]
    assert turns_of("/v1/responses", {"input": "Tell me"})["turns"] == [
        {"role": "user", "parts": [text("Tell me")]}
    ]


@pytest.mark.parametrize(
    ("value", "turns"),
    [
        ("one", [{"role": "input", "parts": [text("one")]}]),
        (
            ["a", "b"],
            [{"role": "input", "parts": [text("a")]}, {"role": "input", "parts": [text("b")]}],
        ),
        ([1, 2], [{"role": "input", "parts": [{"kind": "json", "value": [1, 2]}]}]),
        ([[1], [2, 3]], [{"role": "input", "parts": [{"kind": "json", "value": [[1], [2, 3]]}]}]),
        ([], []),
    ],
)
def test_embeddings_input_is_texts_to_embed(value: Any, turns: list[dict[str, Any]]) -> None:
    for path in ("/v1/embeddings", "/openai/deployments/prod/embeddings"):
        assert turns_of(path, {"model": "e", "input": value})["turns"] == turns


def test_completions_prompts() -> None:
    assert turns_of("/v1/completions", {"prompt": ["a", "b"], "n": 2}) == {
        "turns": [
            {"role": "prompt", "parts": [text("a")]},
            {"role": "prompt", "parts": [text("b")]},
        ],
        "tools": [],
        "params": [["n", 2]],
    }


@pytest.mark.parametrize(
    ("body", "turns"),
    [
        (None, []),
        (["a"], [{"role": "body", "parts": [{"kind": "json", "value": ["a"]}]}]),
        ("text", [{"role": "body", "parts": [{"kind": "json", "value": "text"}]}]),
    ],
)
def test_a_body_that_is_no_object(body: Any, turns: list[dict[str, Any]]) -> None:
    for provider in builtin():
        assert msgspec.to_builtins(provider.turns(body)) == {
            "turns": turns,
            "tools": [],
            "params": [],
        }


def test_tools_that_are_no_objects_are_named_as_javascript_would() -> None:
    tools = turns_of("/v1/chat/completions", {"tools": ["web", 1, 2.0, None, True, [1, None]]})
    assert [tool["name"] for tool in tools["tools"]] == ["web", "1", "2", "null", "true", "1,"]
