"""The route table: health, JSON errors on machine paths, the dashboard page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import PauseMode
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream

AZURE_KEY = "azure-pptest-7f3k9q2m5v8x1z4c6b0n"


@pytest.mark.parametrize("path", ["/api/nothing", "/ws/x", "/nothing.json", "/health/x"])
def test_unknown_machine_paths_get_json_404(proxy: Running, path: str) -> None:
    response = httpx.get(f"{proxy.url}{path}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert path in response.json()["error"]["message"]


def test_other_methods_on_chat_go_to_the_upstream(proxy: Running, upstream: FakeUpstream) -> None:
    # Only POST is recorded; any other method is the upstream's business.
    response = httpx.get(f"{proxy.base_url}/chat/completions")
    assert response.status_code == 405
    assert (upstream.received[-1].method, upstream.received[-1].path) == (
        "GET",
        "/v1/chat/completions",
    )
    assert proxy.tapes() == []


def test_health_reports_modes(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS)
    health = httpx.get(f"{proxy.url}/health")
    assert health.headers["content-type"].startswith("application/json")
    body = health.json()
    assert body["pause"] == "tool-calls" and body["record"] == "auto"
    assert body["dashboard"] is True


def test_two_servers_in_one_process_share_nothing(start_proxy: Callable[..., Running]) -> None:
    first = start_proxy(pause=PauseMode.ALL)
    second = start_proxy()
    assert httpx.get(f"{first.url}/health").json()["pause"] == "all"
    assert httpx.get(f"{second.url}/health").json()["pause"] == "off"


def test_azure_deployments_are_recorded_apart_and_forwarded_as_sent(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    azure = openai.AzureOpenAI(
        azure_endpoint=proxy.url, api_key=AZURE_KEY, api_version="2024-10-21"
    )
    messages: list[Any] = [{"role": "user", "content": "Hello Azure"}]
    first = azure.chat.completions.create(model="deployment-a", messages=messages)
    second = azure.chat.completions.create(model="deployment-b", messages=messages)
    again = azure.chat.completions.create(model="deployment-a", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in again if c.choices) == (
        first.choices[0].message.content
    )
    assert second.id != first.id  # equal bodies, other deployment: its own tape
    sent = upstream.received
    assert [(r.path, r.query) for r in sent] == [
        ("/openai/deployments/deployment-a/chat/completions", "api-version=2024-10-21"),
        ("/openai/deployments/deployment-b/chat/completions", "api-version=2024-10-21"),
    ]
    assert all(r.headers["api-key"] == AZURE_KEY for r in sent)
    tapes = [json.loads(path.read_text()) for path in proxy.tapes()]
    assert sorted(t["meta"]["endpoint"] for t in tapes) == [
        "/openai/deployments/deployment-a/chat/completions",
        "/openai/deployments/deployment-b/chat/completions",
    ]
    embedded = azure.embeddings.create(model="embedder", input="vector please")
    assert len(embedded.data[0].embedding) == 8
    assert upstream.received[-1].path == "/openai/deployments/embedder/embeddings"
    proxy.close()
    written = [p.read_text() for p in proxy.tapes_dir.glob("*")]
    written += [p.read_text() for p in proxy.config.logs_dir.glob("*")]
    assert not any(AZURE_KEY in text for text in written)


def test_azure_responses_api_paths_are_recorded(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    v1 = openai.OpenAI(base_url=f"{proxy.url}/openai/v1", api_key=AZURE_KEY)
    first = v1.responses.create(model="my-deployment", input="Hello Azure v1")
    assert v1.responses.create(model="my-deployment", input="Hello Azure v1").id == first.id
    versioned = openai.AzureOpenAI(
        azure_endpoint=proxy.url, api_key=AZURE_KEY, api_version="2025-03-01-preview"
    )
    other = versioned.responses.create(model="my-deployment", input="Hello Azure v1")
    assert other.id != first.id  # another path: its own tape
    assert [(r.path, r.query) for r in upstream.received] == [
        ("/openai/v1/responses", ""),
        ("/openai/responses", "api-version=2025-03-01-preview"),
    ]
    endpoints = sorted(json.loads(p.read_text())["meta"]["endpoint"] for p in proxy.tapes())
    assert endpoints == ["/openai/responses", "/openai/v1/responses"]


def test_azure_routes_that_are_not_recorded_pass_through(
    proxy: Running, upstream: FakeUpstream
) -> None:
    response = httpx.get(f"{proxy.url}/openai/deployments?api-version=2024-10-21")
    # The fake upstream has no such route: its own plain 404 came back, not playingpack's.
    assert response.status_code == 404
    assert response.text == "404: Not Found"


def test_ollama_style_upstream_under_v1(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    # Ollama's OpenAI-compatible API lives under /v1: --upstream http://localhost:11434/v1
    proxy = start_proxy(upstream=f"{upstream.url}/v1")
    client = proxy.client()
    live = client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}]
    )
    replay = client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}]
    )
    assert replay.model_dump() == live.model_dump()
    assert [r.path for r in upstream.received] == ["/v1/chat/completions"]
    assert client.models.list().data[0].id == "gpt-4o-mini"
    assert upstream.received[-1].path == "/v1/models"
