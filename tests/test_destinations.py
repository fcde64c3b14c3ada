"""One playingpack, every kind of client: Gemini and Ollama requests go to their own upstreams
(passed through until those formats are recorded), OpenAI's and Anthropic's to theirs."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import ollama
import pytest
from google import genai
from google.genai import types

from playingpack.destinations import is_gemini, is_ollama
from tests.conftest import Running
from tests.fakes.gemini_upstream import MODEL, FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import FakeUpstream

KEY = "AIzaSyTEST-destinations-0123456789abcdef"


@pytest.mark.parametrize(
    ("path", "gemini", "ollama_path"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", True, False),
        ("/v1/models/gemini-2.5-flash:streamGenerateContent", True, False),
        ("/v1beta/models", True, False),
        ("/v1/projects/p/locations/l/publishers/google/models/m:generateContent", True, False),
        ("/v1beta1/projects/p/locations/l/publishers/google/models/m:generateContent", True, False),
        ("/v1alpha/models/gemini-2.5-flash:generateContent", True, False),
        ("/v1/models", False, False),
        ("/v1/models/gpt-4o", False, False),
        ("/v1/chat/completions", False, False),
        ("/api/chat", False, True),
        ("/ollama/api/tags", False, True),
        ("/api/blobs/sha256:abc", False, True),
        ("/api/flows", False, False),
        ("/api/tapes", False, False),
    ],
)
def test_paths_say_which_upstream(path: str, gemini: bool, ollama_path: bool) -> None:
    assert is_gemini(path) is gemini
    assert is_ollama(path) is ollama_path


def test_each_kind_of_client_reaches_its_own_upstream(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    gemini: FakeGemini,
    fake_ollama: FakeOllama,
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url)
    health = httpx.get(f"{proxy.url}/health", timeout=5).json()
    assert health["gemini_upstream"] == gemini.url
    assert health["ollama_upstream"] == fake_ollama.url

    google = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=proxy.url))
    counted = google.models.count_tokens(model=MODEL, contents="How many tokens?")
    google.close()
    assert counted.total_tokens
    assert [request.path for request in gemini.received] == [f"/v1/models/{MODEL}:countTokens"]
    assert gemini.received[-1].headers["x-goog-api-key"] == KEY

    with ollama.Client(host=proxy.url) as client:
        assert client.list().models
        assert client.ps() is not None
    assert httpx.get(f"{proxy.url}/ollama/api/tags", timeout=5).status_code == 200
    assert [request.path for request in fake_ollama.received] == [
        "/api/tags",
        "/api/ps",
        "/api/tags",
    ]

    # A file upload goes to Gemini too, with its query and key.
    upload = httpx.post(
        f"{proxy.url}/upload/v1beta/files?uploadType=multipart&key={KEY}",
        content=b"hello",
        timeout=5,
    )
    assert upload.status_code != 502
    assert (gemini.received[-1].path, gemini.received[-1].query.startswith("uploadType")) == (
        "/upload/v1beta/files",
        True,
    )

    # OpenAI's model listing stays OpenAI's; the dashboard's /api is the dashboard's.
    assert httpx.get(f"{proxy.url}/v1/models", timeout=5).status_code == 200
    assert upstream.received[-1].path == "/v1/models"
    assert httpx.get(f"{proxy.url}/api/settings", timeout=5).status_code == 200

    shown = httpx.get(f"{proxy.url}/api/flows", timeout=5).text
    assert KEY not in shown
