"""Gemini and Ollama answers held and mocked through a real playingpack, with the google-genai
and ollama clients: a tool call is held under pause ``tool-calls`` (streamed and JSON), allow
lets the real answer through, each kind of mock (text, tool call, error, full response) reaches
the client in its own format, and a stream held past the keepalive interval still ends cleanly.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import ollama
import pytest
from google import genai
from google.genai import errors, types

from playingpack.config import PauseMode
from tests.conftest import Running
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import SIGNATURE, FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply

KEY = "AIzaSyTEST-native-holds-0123456789abcdef"
WEATHER = ("get_weather", {"city": "Paris", "unit": "celsius"})
# A mock of each kind, and what the client makes of it.
MOCKS: dict[str, dict[str, Any]] = {
    "text": {"content": "Made up: sunny."},
    "tool call": {"tool_calls": [{"name": "get_time", "arguments": {"zone": "CET"}}]},
    "error": {"error": {"status": 503, "message": "made-up overload"}},
}
GEMINI_RESPONSE = {
    "candidates": [
        {"content": {"parts": [{"text": "A whole made-up response."}], "role": "model"}}
    ],
    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 5, "totalTokenCount": 9},
}
OLLAMA_RESPONSE = {
    "message": {"role": "assistant", "content": "A whole made-up response."},
    "prompt_eval_count": 4,
    "eval_count": 5,
}


def google(proxy: Running) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=proxy.url))


class Reader:
    """A streamed call in the background: every piece the client yields, and an event set once
    the first has come (while the answer is held, that is a keepalive)."""

    def __init__(self, pieces: Callable[[], Iterator[Any]]) -> None:
        self.pieces: list[Any] = []
        self.first = threading.Event()
        self._pieces = pieces

    def __call__(self) -> list[Any]:
        for piece in self._pieces():
            self.pieces.append(piece)
            self.first.set()
        return self.pieces


def gemini_text(chunks: list[types.GenerateContentResponse]) -> str:
    return "".join(
        part.text or ""
        for chunk in chunks
        for candidate in chunk.candidates or ()
        for part in (candidate.content.parts if candidate.content else None) or ()
    )


def gemini_calls(chunks: list[types.GenerateContentResponse]) -> list[tuple[str | None, Any]]:
    return [(call.name, call.args) for chunk in chunks for call in chunk.function_calls or ()]


def finish_of(chunk: types.GenerateContentResponse) -> types.FinishReason | None:
    return chunk.candidates[0].finish_reason if chunk.candidates else None


def ollama_calls(parts: list[Any]) -> list[tuple[str | None, Any]]:
    return [
        (call.function.name, dict(call.function.arguments))
        for part in parts
        for call in part.message.tool_calls or ()
    ]


# --- Gemini ----------------------------------------------------------------------------------


def gemini_stream(proxy: Running, question: str) -> Reader:
    client = google(proxy)
    return Reader(
        lambda: iter(client.models.generate_content_stream(model=GEMINI_MODEL, contents=question))
    )


def test_gemini_streamed_function_call_is_held_past_keepalives_and_allowed(
    start_proxy: Callable[..., Running], gemini: FakeGemini, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    gemini.queue(GeminiReply(text=None, function_calls=[WEATHER]))
    reader = gemini_stream(proxy, "Weather in Paris?")
    done = agent.submit(reader)
    held = person.held()
    assert [(call["name"], call["arguments"]) for call in held["tool_calls"]] == [WEATHER]
    # The client is kept waiting by keepalives it parses as responses with no text.
    assert reader.first.wait(10)
    assert gemini_text(reader.pieces) == "" and not gemini_calls(reader.pieces)
    assert person.decide(held["id"], action="allow").status_code == 200
    chunks = done.result(10)
    assert gemini_calls(chunks) == [WEATHER]
    assert finish_of(chunks[-1]) == types.FinishReason.STOP
    assert person.finished(held["id"])["state"] == "COMPLETE"


def test_gemini_json_function_call_is_held_and_allowed(
    start_proxy: Callable[..., Running], gemini: FakeGemini, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    gemini.queue(GeminiReply(text=None, function_calls=[WEATHER]), GeminiReply(text="Plain."))
    client = google(proxy)
    done = agent.submit(
        lambda: client.models.generate_content(model=GEMINI_MODEL, contents="Weather in Paris?")
    )
    held = person.held()
    assert held["hold"]["stage"] == "response"
    person.decide(held["id"], action="allow")
    answer = done.result(10)
    assert [(call.name, call.args) for call in answer.function_calls or ()] == [WEATHER]
    # An answer without a function call is not held.
    plain = client.models.generate_content(model=GEMINI_MODEL, contents="Say something.")
    assert plain.text == "Plain."


@pytest.mark.parametrize("kind", [*MOCKS, "response"])
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_gemini_mocks_reach_the_sdk(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    agent: ThreadPoolExecutor,
    kind: str,
    streamed: bool,
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    gemini.queue(GeminiReply(text="Let me look.", function_calls=[WEATHER]))
    mock = {"response": GEMINI_RESPONSE} if kind == "response" else MOCKS[kind]
    client = google(proxy)
    reader = gemini_stream(proxy, "Weather in Paris?")

    def run() -> list[types.GenerateContentResponse]:
        if streamed:
            return reader()
        return [client.models.generate_content(model=GEMINI_MODEL, contents="Weather?")]

    done = agent.submit(run)
    held = person.held()
    if streamed:
        # The text ahead of the call reached the client; keepalives follow it.
        assert reader.first.wait(10)
    response = person.decide(held["id"], action="mock", mock=mock)
    assert response.status_code == 200, response.text
    if kind == "error":
        with pytest.raises(errors.APIError) as raised:
            done.result(10)
        assert "made-up overload" in str(raised.value)
        assert person.finished(held["id"])["source"] == "mock"
        return
    chunks = done.result(10)
    said = "Let me look." if streamed else ""
    if kind == "text":
        assert gemini_text(chunks) == said + "Made up: sunny." and not gemini_calls(chunks)
    elif kind == "tool call":
        assert gemini_calls(chunks) == [("get_time", {"zone": "CET"})]
        assert gemini_text(chunks) == said
    else:
        assert gemini_text(chunks) == said + "A whole made-up response."
    assert finish_of(chunks[-1]) == types.FinishReason.STOP
    assert person.finished(held["id"])["source"] == "mock"


@pytest.mark.parametrize("kind", [*MOCKS, "allow"])
def test_gemini_streamed_json_array_stays_one_json_array(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    agent: ThreadPoolExecutor,
    kind: str,
) -> None:
    """Without ``alt=sse`` the answer is a streamed JSON array: its keepalives, the text
    before the held call and a mock make one array still."""
    proxy = start_proxy(gemini_upstream=gemini.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    gemini.queue(GeminiReply(text="Let me look.", function_calls=[WEATHER]))
    received: list[bytes] = []
    keepalive = threading.Event()

    def raw() -> bytes:
        with httpx.stream(
            "POST",
            f"{proxy.url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}]},
            headers={"x-goog-api-key": KEY},
            timeout=20,
        ) as response:
            assert response.status_code == 200
            for data in response.iter_raw():
                received.append(data)
                if data.strip() == b"":
                    keepalive.set()
        return b"".join(received)

    done = agent.submit(raw)
    held = person.held()
    assert keepalive.wait(10)
    if kind == "allow":
        person.decide(held["id"], action="allow")
    else:
        person.decide(held["id"], action="mock", mock=MOCKS[kind])
    events = json.loads(done.result(10))
    parts = [
        part
        for event in events
        for candidate in event.get("candidates", ())
        for part in candidate["content"]["parts"]
    ]
    text = "".join(part.get("text", "") for part in parts)
    calls = [part["functionCall"] for part in parts if "functionCall" in part]
    if kind == "text":
        assert text == "Let me look.Made up: sunny." and not calls
    elif kind == "tool call":
        assert text == "Let me look."
        assert calls == [{"name": "get_time", "args": {"zone": "CET"}}]
    elif kind == "error":
        assert text == "Let me look." and not calls
        assert events[-1]["error"]["message"] == "made-up overload"
        return
    else:
        assert text == "Let me look."
        assert calls == [{"name": WEATHER[0], "args": WEATHER[1]}]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


# --- Ollama ----------------------------------------------------------------------------------


def ask_ollama(proxy: Running, stream: bool, **extra: Any) -> Any:
    with ollama.Client(host=proxy.url) as client:
        answer = client.chat(
            model=OLLAMA_MODEL,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            stream=stream,
            **extra,
        )
        return list(answer) if stream else answer


def ollama_stream(proxy: Running) -> Reader:
    def pieces() -> Iterator[Any]:
        with ollama.Client(host=proxy.url) as client:
            yield from client.chat(
                model=OLLAMA_MODEL,
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                stream=True,
            )

    return Reader(pieces)


def test_ollama_streamed_tool_call_is_held_past_keepalives_and_allowed(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(ollama_upstream=fake_ollama.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    fake_ollama.queue(OllamaReply(content=None, tool_calls=[WEATHER]))
    reader = ollama_stream(proxy)
    done = agent.submit(reader)
    held = person.held()
    assert [(call["name"], call["arguments"]) for call in held["tool_calls"]] == [WEATHER]
    # The keepalive is a line the client hands on as a part with no text.
    assert reader.first.wait(10)
    first = reader.pieces[0]
    assert first.message.content == "" and not first.message.tool_calls and not first.done
    assert first.model == OLLAMA_MODEL
    assert person.decide(held["id"], action="allow").status_code == 200
    parts = done.result(10)
    assert ollama_calls(parts) == [WEATHER]
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert person.finished(held["id"])["state"] == "COMPLETE"


def test_ollama_json_tool_call_is_held_and_allowed(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama, agent: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(ollama_upstream=fake_ollama.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    fake_ollama.queue(OllamaReply(content=None, tool_calls=[WEATHER]))
    done = agent.submit(ask_ollama, proxy, False)
    held = person.held()
    person.decide(held["id"], action="allow")
    answer = done.result(10)
    assert ollama_calls([answer]) == [WEATHER]
    assert answer.done


@pytest.mark.parametrize("kind", [*MOCKS, "response"])
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_ollama_mocks_reach_the_client(
    start_proxy: Callable[..., Running],
    fake_ollama: FakeOllama,
    agent: ThreadPoolExecutor,
    kind: str,
    streamed: bool,
) -> None:
    proxy = start_proxy(ollama_upstream=fake_ollama.url, pause=PauseMode.TOOL_CALLS)
    person = proxy.person()
    fake_ollama.queue(OllamaReply(content="Let me look.", tool_calls=[WEATHER]))
    mock = {"response": OLLAMA_RESPONSE} if kind == "response" else MOCKS[kind]
    reader = ollama_stream(proxy)
    done = agent.submit(reader if streamed else lambda: [ask_ollama(proxy, False)])
    held = person.held()
    if streamed:
        assert reader.first.wait(10)
    response = person.decide(held["id"], action="mock", mock=mock)
    assert response.status_code == 200, response.text
    if kind == "error":
        with pytest.raises(ollama.ResponseError) as raised:
            done.result(10)
        assert "made-up overload" in str(raised.value)
        if not streamed:
            assert raised.value.status_code == 503
        return
    parts = done.result(10)
    text = "".join(part.message.content or "" for part in parts)
    said = "Let me look." if streamed else ""
    if kind == "text":
        assert text == said + "Made up: sunny." and not ollama_calls(parts)
    elif kind == "tool call":
        assert ollama_calls(parts) == [("get_time", {"zone": "CET"})] and text == said
    else:
        assert text == said + "A whole made-up response."
    assert parts[-1].done
    assert person.finished(held["id"])["source"] == "mock"


def test_gemini_streamed_json_array_broken_off_ends_as_one_json_array(
    start_proxy: Callable[..., Running], gemini: FakeGemini
) -> None:
    """An upstream that breaks off a streamed array after some elements: the error playingpack
    adds goes on the array the client has open."""
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(GeminiReply(text="Let me look it up for you.", piece=5, drop_after=2))
    answer = httpx.post(
        f"{proxy.url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}]},
        headers={"x-goog-api-key": KEY},
        timeout=20,
    )
    events = json.loads(answer.text)
    assert events[0]["candidates"][0]["content"]["parts"] == [{"text": "Let m"}]
    assert "not recorded" in events[-1]["error"]["message"]
    assert not proxy.tapes()


# --- before the request is sent, and edits --------------------------------------------------


def test_requests_held_before_they_are_sent_are_kept_alive_and_go_on(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    fake_ollama: FakeOllama,
    agent: ThreadPoolExecutor,
) -> None:
    """With ``pause_requests`` a streamed call waits, kept alive, before anything is sent: the
    Gemini call goes on to the upstream, the Ollama call gets a mock."""
    proxy = start_proxy(
        gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url, pause_requests=True
    )
    person = proxy.person()
    gemini.queue(GeminiReply(text="Sunny in Paris."))
    reader = gemini_stream(proxy, "Weather in Paris?")
    done = agent.submit(reader)
    held = person.held()
    assert held["hold"]["stage"] == "request" and not gemini.received
    assert reader.first.wait(10)
    person.decide(held["id"], action="allow")
    assert gemini_text(done.result(10)) == "Sunny in Paris."

    talk = ollama_stream(proxy)
    said = agent.submit(talk)
    held = person.held()
    assert talk.first.wait(10)
    person.decide(held["id"], action="mock", mock=MOCKS["text"])
    parts = said.result(10)
    assert "".join(part.message.content or "" for part in parts) == "Made up: sunny."
    assert parts[-1].done and len(fake_ollama.received) == 0


def test_edited_answers_reach_the_clients(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    fake_ollama: FakeOllama,
    agent: ThreadPoolExecutor,
) -> None:
    """An edit of a held answer's tool call: the client has the text it had, then the edited
    call (a Gemini call in the place of the model's keeps its signature)."""
    proxy = start_proxy(
        gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url, pause=PauseMode.TOOL_CALLS
    )
    person = proxy.person()
    gemini.queue(GeminiReply(text="Let me look.", function_calls=[WEATHER], signature=SIGNATURE))
    fake_ollama.queue(OllamaReply(content="Let me look.", tool_calls=[WEATHER]))
    edited = [{"name": "get_weather", "arguments": {"city": "Lyon"}}]

    reader = gemini_stream(proxy, "Weather in Paris?")
    done = agent.submit(reader)
    held = person.held()
    assert person.decide(held["id"], action="edit", tool_calls=edited).status_code == 200
    chunks = done.result(10)
    assert gemini_text(chunks) == "Let me look."
    assert gemini_calls(chunks) == [("get_weather", {"city": "Lyon"})]
    signed = [
        part.thought_signature
        for chunk in chunks
        for candidate in chunk.candidates or ()
        for part in (candidate.content.parts if candidate.content else None) or ()
        if part.function_call
    ]
    assert signed == [base64.b64decode(SIGNATURE)]

    talk = ollama_stream(proxy)
    said = agent.submit(talk)
    held = person.held()
    assert person.decide(held["id"], action="edit", tool_calls=edited).status_code == 200
    parts = said.result(10)
    assert "".join(part.message.content or "" for part in parts) == "Let me look."
    assert ollama_calls(parts) == [("get_weather", {"city": "Lyon"})]
