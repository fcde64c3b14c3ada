"""GET /api/flows/{id} for every endpoint playingpack records, live and replayed: the answer's
text and the request read as a conversation, through a real running playingpack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY, Running
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
ANSWER = "Hello from the fake upstream!"
AZURE = "/openai/deployments/prod"


def post(proxy: Running, path: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{proxy.url}{path}", json=body, headers=HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    return response


def detail(proxy: Running) -> dict[str, Any]:
    """The newest flow in full, once it has ended."""
    newest = proxy.finished_flows()[0]
    response = httpx.get(f"{proxy.url}/api/flows/{newest['id']}", timeout=10)
    assert response.status_code == 200, response.text
    flow: dict[str, Any] = response.json()
    return flow


CHAT_BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
    ],
    "temperature": 0,
}
CHAT_TURNS = [
    {"role": "system", "parts": [{"kind": "text", "text": "Be brief."}]},
    {"role": "user", "parts": [{"kind": "text", "text": "Hi?"}]},
]

CASES: dict[str, tuple[str, dict[str, Any], str, list[dict[str, Any]]]] = {
    # name: (path, body, the flow's text, its conversation's turns)
    "chat": ("/v1/chat/completions", CHAT_BODY, ANSWER, CHAT_TURNS),
    "chat stream": (
        "/v1/chat/completions",
        {**CHAT_BODY, "stream": True},
        ANSWER,
        CHAT_TURNS,
    ),
    "azure chat": (
        f"{AZURE}/chat/completions?api-version=2024-10-21",
        CHAT_BODY,
        ANSWER,
        CHAT_TURNS,
    ),
    "responses": (
        "/v1/responses",
        {"model": "gpt-4.1-mini", "instructions": "Be brief.", "input": "Hi?"},
        ANSWER,
        CHAT_TURNS,
    ),
    "responses stream": (
        "/v1/responses",
        {"model": "gpt-4.1-mini", "instructions": "Be brief.", "input": "Hi?", "stream": True},
        ANSWER,
        CHAT_TURNS,
    ),
    "embeddings": (
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": ["alpha", "beta"]},
        "[2 embeddings of 8 dimensions]",
        [
            {"role": "input", "parts": [{"kind": "text", "text": "alpha"}]},
            {"role": "input", "parts": [{"kind": "text", "text": "beta"}]},
        ],
    ),
    "azure embeddings": (
        f"{AZURE}/embeddings?api-version=2024-10-21",
        {"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64"},
        "[1 embedding of 8 dimensions]",
        [{"role": "input", "parts": [{"kind": "text", "text": "alpha"}]}],
    ),
    "completions": (
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"},
        ANSWER,
        [{"role": "prompt", "parts": [{"kind": "text", "text": "Say hi"}]}],
    ),
    "completions stream": (
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": True},
        ANSWER,
        [{"role": "prompt", "parts": [{"kind": "text", "text": "Say hi"}]}],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_a_recorded_call_and_its_replay_are_shown_in_full(
    proxy: Running, upstream: FakeUpstream, name: str
) -> None:
    path, body, text, turns = CASES[name]
    upstream.default = Reply(content=ANSWER)
    for source in ("upstream", "tape"):
        post(proxy, path, body)
        flow = detail(proxy)
        assert (flow["source"], flow["state"]) == (source, "COMPLETE")
        assert flow["text"] == text
        conversation = flow["conversation"]
        assert conversation["turns"] == turns
        assert ["model", body["model"]] in conversation["params"]
        assert (
            not {"messages", "input", "prompt", "instructions"}
            & dict(conversation["params"]).keys()
        )


def test_an_anthropic_call_is_shown_in_full(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, fake_claude: FakeAnthropic
) -> None:
    proxy = start_proxy(upstream=upstream.url, anthropic_upstream=fake_claude.url)
    client = proxy.anthropic(max_retries=0)
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi?"}]}],
        "tools": [
            {"name": "weather", "description": "Look it up", "input_schema": {"type": "object"}}
        ],
    }
    client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        stream.get_final_message()  # the JSON answer's tape, replayed as a stream
    flows = proxy.finished_flows(2)
    assert [flow["source"] for flow in flows] == ["tape", "upstream"]
    for listed in flows:
        flow = httpx.get(f"{proxy.url}/api/flows/{listed['id']}", timeout=10).json()
        assert flow["text"] == "Hello from the fake Claude!"
        assert flow["conversation"]["turns"] == CHAT_TURNS
        assert flow["conversation"]["tools"] == [
            {"name": "weather", "description": "Look it up", "parameters": {"type": "object"}}
        ]


def test_a_call_passed_through_has_no_conversation(proxy: Running) -> None:
    response = httpx.get(f"{proxy.base_url}/models", headers=HEADERS, timeout=10)
    assert response.status_code == 200
    flow = detail(proxy)
    assert flow["conversation"] is None and flow["text"] == ""
