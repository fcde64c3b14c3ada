"""Gemini and Ollama clients through a real playingpack: recorded, replayed with the upstream
stopped, and served across formats (a streamed tape to a JSON request and back)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
from google import genai
from google.genai import types

from playingpack.config import RecordMode
from tests.conftest import Running
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply

KEY = "AIzaSyTEST-native-formats-0123456789abcd"


def google(proxy: Running) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=proxy.url))


def tapes_text(folder: Path) -> str:
    return "".join(path.read_text() for path in sorted(folder.rglob("*.json")))


def test_gemini_is_recorded_and_replayed_offline_to_both_kinds_of_client(
    start_proxy: Callable[..., Running], gemini: FakeGemini, tmp_path: Path
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(GeminiReply(text="Pack a raincoat for Lyon in November."))
    client = google(proxy)
    streamed = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model=GEMINI_MODEL, contents="What to pack for Lyon?"
        )
    )
    assert streamed == "Pack a raincoat for Lyon in November."
    [flow] = proxy.finished_flows(1)
    assert flow["tape_use"] == "recorded" and flow["usage"]["input_tokens"]
    assert len(proxy.tapes()) == 1
    proxy.close()
    gemini.close()

    offline = start_proxy(gemini_upstream=gemini.url, record=RecordMode.REPLAY_ONLY)
    again = google(offline)
    answer = again.models.generate_content(model=GEMINI_MODEL, contents="What to pack for Lyon?")
    assert answer.text == "Pack a raincoat for Lyon in November."
    replayed = "".join(
        chunk.text or ""
        for chunk in again.models.generate_content_stream(
            model=GEMINI_MODEL, contents="What to pack for Lyon?"
        )
    )
    assert replayed == streamed
    assert {flow["tape_use"] for flow in offline.finished_flows(2)} == {"replayed"}
    assert KEY not in tapes_text(tmp_path / "tapes")
    assert KEY not in httpx.get(f"{offline.url}/api/flows", timeout=5).text


def test_ollama_is_recorded_and_replayed_offline_to_both_kinds_of_client(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama
) -> None:
    proxy = start_proxy(ollama_upstream=fake_ollama.url)
    fake_ollama.queue(OllamaReply(content="Bring a warm coat."))
    with ollama.Client(host=proxy.url) as client:
        parts = client.chat(
            model=OLLAMA_MODEL,
            messages=[{"role": "user", "content": "What to pack for Oslo?"}],
            stream=True,
        )
        streamed = "".join(part.message.content or "" for part in parts)
    assert streamed == "Bring a warm coat."
    [flow] = proxy.finished_flows(1)
    assert flow["tape_use"] == "recorded"
    sent = {name: value for name, value in flow["request"].items() if name != "stream"}
    [tape] = proxy.tapes()
    lines = [chunk["c"] for chunk in json.loads(tape.read_text())["response"]["chunks"]]
    assert all(line.endswith("\n") and json.loads(line) for line in lines)
    proxy.close()
    fake_ollama.close()

    offline = start_proxy(ollama_upstream=fake_ollama.url, record=RecordMode.REPLAY_ONLY)
    with ollama.Client(host=offline.url) as client:
        whole = client.chat(
            model=OLLAMA_MODEL,
            messages=[{"role": "user", "content": "What to pack for Oslo?"}],
            stream=False,
        )
        assert whole.message.content == "Bring a warm coat."
        assert whole.done
    # A request without "stream" streams, and shares the tape.
    answer = httpx.post(f"{offline.url}/api/chat", json=sent, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == streamed
    assert lines[-1]["done"] is True
