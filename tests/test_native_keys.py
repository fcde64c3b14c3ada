"""Gemini's and Ollama's keys through a real playingpack: ``?key=`` is forwarded upstream and is
in nothing stored or shown (tapes, history, logs, terminal lines, the API, the HAR exports), and
it is no part of the tape key; ``x-goog-api-key`` and Ollama's ``Authorization`` are masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from google import genai
from google.genai import types

from tests.conftest import Running, run_cli, started
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply

# Distinctive, so every file and answer can be searched for them.
QUERY_KEY = "AIzaSyQK-pptest-query-key-Zx81Wq05Lm"
HEADER_KEY = "AIzaSyHK-pptest-header-key-Jv27Tn46"
OLLAMA_KEY = "ollama-pptest-cloud-key-Rb93Yc52Ds"
KEYS = (QUERY_KEY, HEADER_KEY, OLLAMA_KEY)
DASHBOARD_TOKEN = "pptest-dashboard-token-81Fq"
CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]}


def leaks(text: str | bytes) -> list[str]:
    """The keys found in ``text``, and the last eight characters of each (a mask shows
    four)."""
    data = text if isinstance(text, bytes) else text.encode()
    return [key for key in KEYS if key.encode() in data or key[-8:].encode() in data]


def files_leaking(folder: Path) -> dict[str, list[str]]:
    """Every file under ``folder`` (tapes, logs, history database and its journal) that holds
    a key, with the keys it holds."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (keys := leaks(path.read_bytes())):
            found[str(path.relative_to(folder))] = keys
    return found


def gemini_calls(url: str) -> None:
    """A JSON call, an SSE stream and a streamed array with ``?key=``, and a google-genai call
    with ``x-goog-api-key``."""
    base = f"{url}/v1beta/models/{GEMINI_MODEL}"
    with httpx.Client(timeout=10) as http:
        for city, target in (
            ("Paris", f"{base}:generateContent?key={QUERY_KEY}"),
            ("Rome", f"{base}:streamGenerateContent?alt=sse&key={QUERY_KEY}"),
            ("Oslo", f"{base}:streamGenerateContent?key={QUERY_KEY}"),
        ):
            question = {"contents": [{"role": "user", "parts": [{"text": f"Weather in {city}?"}]}]}
            answer = http.post(target, json=question)
            assert answer.status_code == 200, answer.text
    client = genai.Client(api_key=HEADER_KEY, http_options=types.HttpOptions(base_url=url))
    generated = client.models.generate_content(model=GEMINI_MODEL, contents="Weather in Lyon?")
    assert generated.text


def ollama_call(url: str) -> None:
    with ollama.Client(host=url, headers={"Authorization": f"Bearer {OLLAMA_KEY}"}) as client:
        answer = client.chat(
            model=OLLAMA_MODEL, messages=[{"role": "user", "content": "Hi"}], stream=False
        )
        assert answer.message.content


def test_keys_are_forwarded_and_in_nothing_stored_or_shown(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    fake_ollama: FakeOllama,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    proxy = start_proxy(gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url)
    gemini.queue(*(GeminiReply(text="Sunny.") for _ in range(4)))
    fake_ollama.queue(OllamaReply(content="Hello."))
    gemini_calls(proxy.url)
    ollama_call(proxy.url)

    # Forwarded as the client sent them.
    assert [f"key={QUERY_KEY}" in seen.query for seen in gemini.received] == [
        True,
        True,
        True,
        False,
    ]
    assert gemini.received[-1].headers["x-goog-api-key"] == HEADER_KEY
    assert fake_ollama.received[-1].headers["authorization"] == f"Bearer {OLLAMA_KEY}"

    flows = proxy.finished_flows(5)
    assert {flow["tape_use"] for flow in flows} == {"recorded"}
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        shown = {"/api/flows": http.get("/api/flows").text, "/api/har": http.get("/api/har").text}
        for flow in flows:
            detail = http.get(f"/api/flows/{flow['id']}")
            assert detail.status_code == 200
            shown[f"/api/flows/{flow['id']}"] = detail.text
        details = [json.loads(shown[f"/api/flows/{flow['id']}"]) for flow in flows]
    assert {where: leaks(text) for where, text in shown.items() if leaks(text)} == {}
    headers = [{k.lower(): v for k, v in detail["request_headers"].items()} for detail in details]
    assert any(h.get("x-goog-api-key") == f"***{HEADER_KEY[-4:]}" for h in headers)
    assert any(h.get("authorization") == f"Bearer ***{OLLAMA_KEY[-4:]}" for h in headers)
    # The HAR's URLs have no query: Gemini's method and model are in the path.
    har = json.loads(shown["/api/har"])
    urls = [entry["request"]["url"] for entry in har["log"]["entries"]]
    assert all("key=" not in url for url in urls) and len(urls) == 5
    proxy.close()

    # playingpack's own log lines (the terminal line of each call among them); the clients'
    # lines show the URLs they asked for.
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in ("playingpack", "aiohttp")
    )
    assert leaks(logged) == []
    assert logged.count(":generateContent") >= 2  # the terminal lines were there to search
    assert files_leaking(tmp_path) == {}


def test_the_key_parameter_is_no_part_of_the_tape_key(
    start_proxy: Callable[..., Running], gemini: FakeGemini
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(GeminiReply(text="Recorded once."))
    base = f"{proxy.url}/v1beta/models/{GEMINI_MODEL}"
    first = httpx.post(f"{base}:generateContent?key={QUERY_KEY}", json=CONTENTS, timeout=10)
    again = httpx.post(f"{base}:generateContent?key={HEADER_KEY}", json=CONTENTS, timeout=10)
    header = httpx.post(
        f"{base}:generateContent", json=CONTENTS, headers={"x-goog-api-key": HEADER_KEY}
    )
    assert [first.status_code, again.status_code, header.status_code] == [200, 200, 200]
    assert [r.headers.get("x-playingpack-source") for r in (again, header)] == ["tape", "tape"]
    assert again.json() == first.json() == header.json()
    assert len(gemini.received) == 1 and len(proxy.tapes()) == 1


def test_a_started_playingpack_prints_and_exports_no_key(
    gemini: FakeGemini, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    gemini.queue(*(GeminiReply(text="Sunny.") for _ in range(4)))
    fake_ollama.queue(OllamaReply(content="Hello."))
    upstreams = ("--gemini-upstream", gemini.url, "--ollama-upstream", fake_ollama.url)
    with started(*upstreams, cwd=tmp_path) as process:
        gemini_calls(process.url)
        ollama_call(process.url)
        lines = process.lines_matching("POST", 5)
    assert len(lines) == 5 and any(":generateContent" in line for line in lines)
    assert leaks("\n".join(process.lines)) == []
    exported: dict[str, Any] = {}
    for kind in ("har", "jsonl"):
        result = run_cli("history", "export", "--format", kind, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        exported[kind] = result.stdout
    assert len(json.loads(exported["har"])["log"]["entries"]) == 5
    assert leaks(exported["har"]) == [] and leaks(exported["jsonl"]) == []
    assert files_leaking(tmp_path) == {}


def test_failed_calls_show_no_key(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The messages of an upstream error, a stream broken off and an unreachable upstream
    name no key."""
    caplog.set_level(logging.INFO)
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(
        GeminiReply(status=400, error_message="API key not valid. Please pass a valid API key."),
        GeminiReply(text="Cut short, piece by piece.", piece=4, drop_after=2),
    )
    base = f"{proxy.url}/v1beta/models/{GEMINI_MODEL}"
    with httpx.Client(timeout=10) as http:
        refused = http.post(f"{base}:generateContent?key={QUERY_KEY}", json=CONTENTS)
        broken = http.post(f"{base}:streamGenerateContent?alt=sse&key={QUERY_KEY}", json=CONTENTS)
    assert refused.status_code == 400 and "error" in broken.text
    gemini.close()
    unreachable = httpx.post(f"{base}:generateContent?key={QUERY_KEY}", json=CONTENTS, timeout=10)
    assert unreachable.status_code >= 500
    flows = proxy.finished_flows(3)
    assert {flow["state"] for flow in flows} == {"ERROR"}
    shown = [httpx.get(f"{proxy.url}/api/flows/{flow['id']}", timeout=5).text for flow in flows]
    shown.append(httpx.get(f"{proxy.url}/api/har", timeout=5).text)
    assert [leaks(text) for text in shown] == [[]] * 4
    assert leaks(unreachable.text + broken.text) == []
    proxy.close()
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in ("playingpack", "aiohttp")
    )
    assert leaks(logged) == []
    assert files_leaking(tmp_path) == {}


def test_the_dashboard_token_guards_the_api_and_not_ollamas_paths(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama
) -> None:
    """Ollama's /api/<name> paths are for agents, as /v1 is: bound to every address, the
    dashboard's /api routes ask for the token and Ollama's do not."""
    proxy = start_proxy(ollama_upstream=fake_ollama.url, host="0.0.0.0", token=DASHBOARD_TOKEN)
    url = f"http://127.0.0.1:{proxy.server.port}"
    fake_ollama.queue(OllamaReply(content="Hello."), OllamaReply(content="Hello again."))
    ollama_call(url)
    with ollama.Client(host=f"{url}/ollama") as client:
        assert client.generate(model=OLLAMA_MODEL, prompt="Hi", stream=False).response
        assert client.list().models
    assert httpx.get(f"{url}/api/flows", timeout=5).status_code == 401
    listed = httpx.get(
        f"{url}/api/flows", headers={"X-Playingpack-Token": DASHBOARD_TOKEN}, timeout=5
    )
    assert listed.status_code == 200 and len(listed.json()) == 3


def test_har_entries_type_each_answer_as_it_was_sent(
    start_proxy: Callable[..., Running], gemini: FakeGemini, fake_ollama: FakeOllama
) -> None:
    """The HAR export, checked above for keys, also says what each answer is: a Gemini SSE
    stream, a streamed JSON array, an Ollama stream's NDJSON."""
    proxy = start_proxy(gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url)
    base = f"{proxy.url}/v1beta/models/{GEMINI_MODEL}"
    with httpx.Client(timeout=10, headers={"x-goog-api-key": HEADER_KEY}) as http:
        for method, city in (
            ("streamGenerateContent?alt=sse", "Rome"),
            (
                "streamGenerateContent",
                "Oslo",
            ),
        ):
            question = {"contents": [{"role": "user", "parts": [{"text": f"Weather in {city}?"}]}]}
            http.post(f"{base}:{method}", json=question).raise_for_status()
    with ollama.Client(host=proxy.url) as client:
        asked = [{"role": "user", "content": "Hi"}]
        assert list(client.chat(model=OLLAMA_MODEL, messages=asked, stream=True))
    proxy.finished_flows(3)
    entries = httpx.get(f"{proxy.url}/api/har", timeout=5).json()["log"]["entries"]
    mime_types = sorted(entry["response"]["content"]["mimeType"] for entry in entries)
    assert mime_types == [
        "application/json",
        "application/x-ndjson",
        "text/event-stream",
    ]
