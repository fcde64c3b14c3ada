"""The fake Ollama server answers as ``ollama serve`` does, as far as the ollama client can tell.

These tests check the fake, not playingpack: the client talks to it directly, and raw reads check
the framing the client would forgive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import ollama
import pytest

from tests.fakes.ollama_upstream import MODEL, VERSION, FakeOllama, Reply
from tests.fakes.untidy import Untidy

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a given city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    server = FakeOllama()
    yield server
    server.close()


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=fake.url) as sdk:
        yield sdk


def _hi() -> list[dict[str, str]]:
    return [{"role": "user", "content": "why is the sky blue?"}]


def test_chat_streams_lines_and_ends_with_the_counts(
    fake: FakeOllama, client: ollama.Client
) -> None:
    text = "Rayleigh scattering, mostly. <b>&</b> ünïcödé 🙂"
    fake.queue(Reply(content=text, untidy=Untidy(bytewise=True)))
    parts = list(client.chat(model=MODEL, messages=_hi(), stream=True))
    assert "".join(part.message.content or "" for part in parts) == text
    assert len(parts) == len(range(0, len(text), 3)) + 1
    assert not any(part.done for part in parts[:-1])
    last = parts[-1]
    assert last.done and last.done_reason == "stop" and last.message.content == ""
    assert last.prompt_eval_count and last.eval_count == len(parts)
    assert last.total_duration and last.load_duration and last.eval_duration
    assert last.total_duration > last.load_duration + last.eval_duration
    received = fake.received[-1]
    assert (received.method, received.path) == ("POST", "/api/chat")
    assert json.loads(received.body)["stream"] is True


def test_chat_without_streaming_is_the_lines_joined(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.queue(Reply(content="The sky is blue."))
    answer = client.chat(model=MODEL, messages=_hi())
    assert answer.message.role == "assistant" and answer.message.content == "The sky is blue."
    assert answer.done and answer.done_reason == "stop"
    assert answer.prompt_eval_count and answer.eval_count == len(range(0, 16, 3)) + 1
    assert json.loads(fake.received[-1].body)["stream"] is False


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_carry_arguments_as_an_object(
    fake: FakeOllama, client: ollama.Client, stream: bool
) -> None:
    calls = [("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})]
    fake.queue(Reply(content=None, tool_calls=calls))
    if stream:
        parts = list(client.chat(model=MODEL, messages=_hi(), tools=[WEATHER], stream=True))
        found = [call for part in parts for call in part.message.tool_calls or []]
        assert parts[-1].done and not parts[-1].message.tool_calls
    else:
        found = list(
            client.chat(model=MODEL, messages=_hi(), tools=[WEATHER]).message.tool_calls or []
        )
    assert [(call.function.name, dict(call.function.arguments)) for call in found] == calls


def test_thinking_comes_when_asked(fake: FakeOllama, client: ollama.Client) -> None:
    reply = Reply(content="Because of scattering.", thinking="The user asks about the sky.")
    fake.queue(reply, reply, reply)
    parts = list(client.chat(model="qwen3", messages=_hi(), think=True, stream=True))
    assert "".join(part.message.thinking or "" for part in parts) == "The user asks about the sky."
    assert "".join(part.message.content or "" for part in parts) == "Because of scattering."
    thinking_first = [bool(part.message.thinking) for part in parts]
    assert thinking_first == sorted(thinking_first, reverse=True)
    joined = client.chat(model="qwen3", messages=_hi(), think=True)
    assert joined.message.thinking == "The user asks about the sky."
    assert joined.message.content == "Because of scattering."
    plain = client.chat(model="qwen3", messages=_hi())
    assert plain.message.thinking is None and plain.message.content == "Because of scattering."


@pytest.mark.parametrize("stream", [False, True])
def test_generate_answers_in_response_with_a_context(
    fake: FakeOllama, client: ollama.Client, stream: bool
) -> None:
    fake.queue(Reply(content="The sky is blue because of Rayleigh scattering."))
    if stream:
        parts = list(client.generate(model=MODEL, prompt="Why is the sky blue?", stream=True))
        text = "".join(part.response or "" for part in parts)
        last = parts[-1]
        assert all(part.context is None for part in parts[:-1])
    else:
        last = client.generate(model=MODEL, prompt="Why is the sky blue?")
        text = last.response or ""
    assert text == "The sky is blue because of Rayleigh scattering."
    assert last.done and last.done_reason == "stop" and last.context and last.eval_count
    assert fake.received[-1].path == "/api/generate"


def test_embeddings_new_and_legacy(fake: FakeOllama, client: ollama.Client) -> None:
    many = client.embed(model="all-minilm", input=["Why is the sky blue?", "Why is grass green?"])
    assert len(many.embeddings) == 2 and all(len(vector) == 8 for vector in many.embeddings)
    assert many.model == "all-minilm" and many.prompt_eval_count
    one = client.embed(model="all-minilm", input="Why is the sky blue?")
    assert len(one.embeddings) == 1
    legacy = client.embeddings(model="all-minilm", prompt="Here is an article about llamas...")
    assert len(legacy.embedding) == 8
    assert [r.path for r in fake.received] == ["/api/embed", "/api/embed", "/api/embeddings"]


def test_an_unknown_model_is_a_404(fake: FakeOllama, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="nope", messages=_hi())
    assert raised.value.status_code == 404 and raised.value.error == "model 'nope' not found"
    with pytest.raises(ollama.ResponseError) as streamed:
        list(client.chat(model="nope", messages=_hi(), stream=True))
    assert streamed.value.status_code == 404


def test_an_error_line_mid_stream_raises(fake: FakeOllama, client: ollama.Client) -> None:
    fake.queue(Reply(content="Yes. I can", error_after=2))
    seen = []
    with pytest.raises(ollama.ResponseError) as raised:
        for part in client.generate(model=MODEL, prompt="Can you?", stream=True):
            seen.append(part.response)
    assert seen == ["Yes", ". I"]
    assert raised.value.error == "an error was encountered while running the model"


def test_a_scripted_http_error(fake: FakeOllama, client: ollama.Client) -> None:
    fake.queue(
        Reply(status=503, error="server busy, please try again.  maximum pending requests exceeded")
    )
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model=MODEL, messages=_hi())
    assert raised.value.status_code == 503 and raised.value.error.startswith("server busy")


def test_a_dropped_connection_breaks_the_stream(fake: FakeOllama, client: ollama.Client) -> None:
    fake.queue(Reply(content="one two three four", drop_after=3))
    with pytest.raises(httpx.HTTPError):
        list(client.chat(model=MODEL, messages=_hi(), stream=True))


def test_list_show_ps_and_version(fake: FakeOllama, client: ollama.Client) -> None:
    names = [model.model for model in client.list().models]
    assert names == ["llama3.2:latest", "qwen3:latest", "all-minilm:latest"]
    shown = client.show("qwen3")
    assert shown.capabilities and "thinking" in shown.capabilities
    assert shown.details and shown.details.family == "qwen3" and shown.modelinfo
    running = client.ps().models
    assert running[0].model == "llama3.2:latest" and running[0].size_vram
    with httpx.Client(base_url=fake.url) as http:
        assert http.get("/api/version").json() == {"version": VERSION}
        assert http.get("/").text == "Ollama is running"
        missing = http.get("/api/nothing")
    assert missing.status_code == 404 and missing.text == "404 page not found"


def _raw_chat(fake: FakeOllama, body: dict[str, object]) -> tuple[httpx.Response, list[bytes]]:
    with (
        httpx.Client(base_url=fake.url) as http,
        http.stream("POST", "/api/chat", json=body) as response,
    ):
        return response, list(response.iter_raw())


def test_lines_are_cut_mid_line_on_the_wire(fake: FakeOllama) -> None:
    fake.queue(
        Reply(content="a fairly long answer, in many little lines", untidy=Untidy(bytewise=True))
    )
    response, reads = _raw_chat(fake, {"model": MODEL, "messages": _hi()})
    assert response.headers["content-type"] == "application/x-ndjson"
    assert any(not read.endswith(b"\n") for read in reads[:-1])
    body = b"".join(reads).decode()
    assert body.endswith("}\n") and "\r" not in body
    lines = [json.loads(line) for line in body.splitlines()]
    assert list(lines[0]) == ["model", "created_at", "message", "done"]
    assert lines[0]["message"] == {"role": "assistant", "content": "a f"}
    assert list(lines[-1]) == [
        "model",
        "created_at",
        "message",
        "done",
        "done_reason",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ]


def test_two_lines_can_come_in_one_read(fake: FakeOllama) -> None:
    # Writes a tenth of a second apart, so each read holds one write of two whole lines.
    fake.queue(Reply(content="abcdefghijkl", delay=0.1, untidy=Untidy(split=False)))
    _, reads = _raw_chat(fake, {"model": MODEL, "messages": _hi()})
    assert any(read.count(b"\n") == 2 for read in reads)
    assert b"".join(reads).count(b"\n") == 5


def test_go_escapes_and_timestamps(fake: FakeOllama) -> None:
    fake.queue(Reply(content="<&>", piece=10))
    with httpx.Client(base_url=fake.url) as http:
        answer = http.post("/api/chat", json={"model": MODEL, "messages": _hi(), "stream": False})
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert '"content":"\\u003c\\u0026\\u003e"' in answer.text
    assert not answer.text.endswith("\n")
    stamp = answer.json()["created_at"]
    assert stamp.endswith("Z") and "." in stamp and not stamp.removesuffix("Z").endswith("0")
