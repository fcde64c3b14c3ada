"""Ollama's native API as a wire format, on the corpus's real recorded traffic and on the fake's
answers (thinking and tool calls, which no public recording has), checked with the ollama
client's own types and its stream reader. Pure: no server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import ollama
import pytest

from playingpack.conversation import ImagePart, JsonPart, TextPart, ToolCallPart, ToolResultPart
from playingpack.framing import NdjsonSplitter
from playingpack.providers import EventKind, ToolCall, Usage
from playingpack.providers.ollama import OllamaChat, OllamaEmbed, OllamaGenerate
from playingpack.sse import format_event
from tests.fakes.ollama_upstream import Answer, Reply

CORPUS = Path(__file__).parent / "corpus"
chat, generate, embed = OllamaChat(), OllamaGenerate(), OllamaEmbed()
Generation = OllamaChat | OllamaGenerate
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _interactions() -> list[dict[str, Any]]:
    found = []
    for path in sorted(CORPUS.rglob("*.json")):
        document = json.loads(path.read_text("utf-8"))
        if isinstance(document, dict) and str(document.get("endpoint", "")).startswith("/api/"):
            found.append(document)
    return found


INTERACTIONS = _interactions()
STREAMS = [d for d in INTERACTIONS if d["stream"]]
COMPLETE = [d for d in STREAMS if d["expect"]["tape"]]
ANSWERS = [d for d in INTERACTIONS if not d["stream"] and d["endpoint"] != "/api/embed"]
EMBEDDINGS = [d for d in INTERACTIONS if d["endpoint"] == "/api/embed"]


def _ids(documents: list[dict[str, Any]]) -> list[str]:
    return [document["id"] for document in documents]


def provider_of(document: dict[str, Any]) -> Generation:
    return chat if document["endpoint"] == "/api/chat" else generate


def client_type(provider: Generation) -> type[ollama.ChatResponse | ollama.GenerateResponse]:
    return ollama.ChatResponse if provider.chat else ollama.GenerateResponse


def parsed(events: list[str]) -> list[dict[str, Any]]:
    return [json.loads(event) for event in events if event.strip()]


def client_reads(body: bytes, provider: Generation) -> list[Any]:
    """The parts the real ollama client yields for a 200 NDJSON ``body``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})

    with ollama.Client(host="http://ollama.test", transport=httpx.MockTransport(answer)) as sdk:
        if provider.chat:
            messages = [{"role": "user", "content": "hi"}]
            return list(sdk.chat(model="m", messages=messages, stream=True))
        return list(sdk.generate(model="m", prompt="hi", stream=True))


def fake_answer(reply: Reply, *, chat_: bool = True, think: bool = False) -> Answer:
    request: dict[str, Any] = {"model": "qwen3", "think": think}
    if chat_:
        request["messages"] = [{"role": "user", "content": "What is the weather in Paris?"}]
    else:
        request["prompt"] = "What is the weather in Paris?"
    return Answer(request, reply, chat=chat_)


def without_times(value: dict[str, Any]) -> dict[str, Any]:
    return {field: item for field, item in value.items() if field != "created_at"}


# The corpus: real recorded streams and answers.


@pytest.mark.parametrize("document", STREAMS, ids=_ids(STREAMS))
def test_a_recorded_stream_is_complete_only_with_its_done_line(document: dict[str, Any]) -> None:
    provider = provider_of(document)
    events = document["response"]["events"]
    assert provider.is_complete(events) is document["expect"]["tape"]
    assert provider.failure(events) is None
    # As the proxy sees it: the lines the splitter cuts, one read at a time.
    splitter = NdjsonSplitter()
    seen = [provider.is_complete(splitter.feed(event.encode())) for event in events]
    assert any(seen) is document["expect"]["tape"]
    assert seen[:-1] == [False] * (len(seen) - 1)


@pytest.mark.parametrize("document", COMPLETE, ids=_ids(COMPLETE))
def test_a_recorded_stream_assembles_to_the_answer_ollama_would_give(
    document: dict[str, Any],
) -> None:
    provider = provider_of(document)
    events = document["response"]["events"]
    lines = parsed(events)
    answer = provider.assemble(events)
    assert provider.assemble(["".join(events)]) == answer  # a tape replayed in one piece
    field = provider.text_field
    pieces = [line["message"][field] if provider.chat else line[field] for line in lines]
    assert provider.answer_text(answer) == "".join(pieces) == provider.streamed_text(events)
    assert answer["done"] is True
    # The last line's fields are kept as they were: done_reason, counts, durations, context.
    final = lines[-1]
    for name, value in final.items():
        if name not in ("message", field):
            assert answer[name] == value
    assert list(answer) == list(final)
    summary = provider.summarize(answer)
    assert summary.model == final["model"]
    # Go leaves out a zero count: a prompt read from Ollama's cache has no prompt_eval_count.
    assert summary.usage == Usage(final.get("prompt_eval_count", 0), final["eval_count"])
    assert summary.tool_calls == ()
    assert provider.summarize_events(events) == summary
    typed = client_type(provider)(**answer)
    assert typed.done and typed.eval_count == final["eval_count"]


@pytest.mark.parametrize("document", ANSWERS, ids=_ids(ANSWERS))
def test_a_recorded_answer_streams_and_comes_back_the_same(document: dict[str, Any]) -> None:
    provider = provider_of(document)
    answer = json.loads(document["response"]["body"])
    request = document["request"]["body"]
    events = provider.to_events(answer, request)
    assert all(event.endswith("}\n") and event.count("\n") == 1 for event in events)
    assert provider.is_complete(events) and not provider.is_complete(events[:-1])
    assert provider.assemble(events) == answer
    parts = client_reads("".join(events).encode(), provider)
    text = "".join((part.message.content if provider.chat else part.response) for part in parts)
    assert text == provider.answer_text(answer)
    assert [part.done for part in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].eval_count == answer["eval_count"]
    assert (parts[-1].message.content if provider.chat else parts[-1].response) == ""
    summary = provider.summarize(answer)
    assert summary.usage == Usage(answer.get("prompt_eval_count", 0), answer["eval_count"])


@pytest.mark.parametrize("document", COMPLETE, ids=_ids(COMPLETE))
def test_an_assembled_stream_streams_back_to_itself(document: dict[str, Any]) -> None:
    provider = provider_of(document)
    answer = provider.assemble(document["response"]["events"])
    events = provider.to_events(answer, document["request"]["body"])
    assert provider.assemble(events) == answer
    for line in parsed(events):
        client_type(provider)(**line)


def test_a_cut_stream_is_incomplete_and_keeps_what_came() -> None:
    (document,) = [d for d in STREAMS if not d["expect"]["tape"]]
    events = document["response"]["events"]
    assert not chat.is_complete(events)
    answer = chat.assemble(events)
    assert answer["done"] is False and answer["message"]["content"].startswith("Why did")
    assert chat.summarize(answer).usage is None


@pytest.mark.parametrize("document", EMBEDDINGS, ids=_ids(EMBEDDINGS))
def test_embeddings_are_json_only(document: dict[str, Any]) -> None:
    body = document["response"]["body"]
    answer = embed.assemble([body])
    assert embed.serves("/api/embed") and embed.serves("/ollama/api/embed")
    assert not embed.wants_stream(document["request"]["body"])
    assert embed.is_complete([body]) and embed.failure([body]) is None
    size = len(answer["embeddings"][0])
    assert embed.answer_text(answer) == f"[1 embedding of {size} dimensions]"
    assert embed.summarize(answer).usage == Usage(answer["prompt_eval_count"], 0)
    assert embed.summarize(answer).model == "nomic-embed-text"
    ollama.EmbedResponse(**answer)
    turns = embed.turns(document["request"]["body"]).turns
    assert [(turn.role, turn.parts) for turn in turns] == [
        ("input", [TextPart(document["request"]["body"]["input"])])
    ]
    assert embed.failure(['{"error":"model \\"x\\" not found, try pulling it first"}']) == (
        'model "x" not found, try pulling it first'
    )


# Thinking and tool calls: the fake's answers, the stream and the JSON the server joins.


@pytest.mark.parametrize("chat_", [True, False], ids=["chat", "generate"])
@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="Because of scattering.", thinking="The user asks about the sky."),
        Reply(content=None, tool_calls=[("get_weather", {"city": "Paris"})]),
        Reply(
            content="Let me look.",
            thinking="Two cities.",
            tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
        ),
    ],
    ids=["thinking", "tool-call", "everything"],
)
def test_a_fake_stream_assembles_to_what_the_server_joins(reply: Reply, chat_: bool) -> None:
    provider = chat if chat_ else generate
    lines = fake_answer(reply, chat_=chat_, think=True).lines()
    joined = fake_answer(reply, chat_=chat_, think=True).joined()
    events = [json.dumps(line) + "\n" for line in lines]
    answer = provider.assemble(events)
    assert without_times(answer) == without_times(joined)
    assert provider.assemble(provider.to_events(answer, {})) == answer
    summary = provider.summarize(answer)
    expected = [(name, json.dumps(arguments)) for name, arguments in reply.tool_calls]
    assert [(call.name, json.loads(call.arguments)) for call in summary.tool_calls] == [
        (name, json.loads(arguments)) for name, arguments in expected
    ]
    assert all(call.id.startswith("call_") for call in summary.tool_calls)
    typed = client_type(provider)(**answer)
    if chat_:
        assert isinstance(typed, ollama.ChatResponse)
        assert typed.message.thinking == reply.thinking
        assert [c.function.name for c in typed.message.tool_calls or ()] == [
            name for name, _ in reply.tool_calls
        ]
    kinds = [provider.event_kind(event) for event in provider.to_events(answer, {})]
    if reply.tool_calls:
        assert EventKind.TOOL_CALL in kinds
        # The text and thinking go out before the calls, so a hold shows them.
        assert kinds.index(EventKind.TOOL_CALL) == len(kinds) - (2 if chat_ else 1)


def test_what_a_line_carries_for_a_hold() -> None:
    line = {"model": "m", "created_at": "2025-01-01T00:00:00Z", "done": False}
    empty = json.dumps({**line, "message": {"role": "assistant", "content": ""}}) + "\n"
    text = json.dumps({**line, "message": {"role": "assistant", "content": "Hi"}}) + "\n"
    thinking = {"role": "assistant", "content": "", "thinking": "hmm"}
    thought = json.dumps({**line, "message": thinking}) + "\n"
    call = {"function": {"name": "f", "arguments": {}}}
    calls = {"role": "assistant", "content": "", "tool_calls": [call]}
    tool = json.dumps({**line, "message": calls}) + "\n"
    done = json.dumps({**line, "message": {"role": "assistant", "content": ""}, "done": True})
    assert chat.event_kind(empty) is EventKind.OPENING
    assert chat.event_kind("\n") is EventKind.OPENING
    assert chat.event_kind(text) is EventKind.TEXT
    assert chat.event_kind(thought) is EventKind.TEXT
    assert chat.event_kind(done + "\n") is EventKind.TEXT
    assert chat.event_kind(tool) is EventKind.TOOL_CALL
    assert chat.event_kind(text + tool) is EventKind.TOOL_CALL
    assert chat.event_kind('{"error":"boom"}\n') is EventKind.TEXT
    assert generate.event_kind('{"model":"m","response":"","done":false}\n') is EventKind.OPENING
    assert generate.event_kind('{"model":"m","response":"a","done":false}\n') is EventKind.TEXT


# Errors.


def test_an_error_line_is_a_failure_the_client_raises() -> None:
    lines = [json.dumps(line) + "\n" for line in fake_answer(Reply(content="Yes. I can")).lines()]
    error = chat.error_event("playingpack: the upstream went away", "upstream_error", "gone")
    assert error == '{"error":"playingpack: the upstream went away"}\n'
    events = [*lines[:2], error]
    assert chat.failure(events) == "playingpack: the upstream went away"
    assert chat.failure(lines) is None
    assert not chat.is_complete(events)
    assert chat.error_json("nope", "t", "c") == {"error": "nope"}
    with pytest.raises(ollama.ResponseError) as raised:
        client_reads("".join(events).encode(), chat)
    assert raised.value.error == "playingpack: the upstream went away"
    # Text that mentions an error is no error.
    said = json.dumps({"message": {"role": "assistant", "content": '"error"'}, "done": False})
    assert chat.failure([said + "\n"]) is None


# Keys and paths.


def test_keys_share_a_tape_whatever_the_stream_flag_and_prefix() -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    key = chat.key(body, "/api/chat")
    assert chat.key({**body, "stream": True}, "/api/chat") == key
    assert chat.key({**body, "stream": False}, "/api/chat") == key
    assert chat.key(body, "/ollama/api/chat") == key
    assert chat.key({**body, "model": "qwen3"}, "/api/chat") != key
    assert generate.key(body, "/api/generate") != key
    assert embed.key(body, "/api/embed") not in (key, generate.key(body, "/api/generate"))
    assert chat.wants_stream(body) and chat.wants_stream({**body, "stream": None})
    assert chat.wants_stream({**body, "stream": True})
    assert not chat.wants_stream({**body, "stream": False}) and not chat.wants_stream([])
    assert chat.wants_stream_at(body, "/api/chat")
    assert chat.framing("/api/chat", {}) == generate.framing("/ollama/api/generate", {}) == "ndjson"


@pytest.mark.parametrize(
    ("provider", "served", "others"),
    [
        (chat, ["/api/chat", "/ollama/api/chat"], ["/api/generate", "/v1/chat/completions"]),
        (generate, ["/api/generate", "/ollama/api/generate"], ["/api/chat", "/api/embeddings"]),
        (embed, ["/api/embed", "/ollama/api/embed"], ["/api/embeddings", "/v1/embeddings"]),
    ],
)
def test_each_serves_its_paths_only(
    provider: OllamaChat | OllamaGenerate | OllamaEmbed, served: list[str], others: list[str]
) -> None:
    assert all(provider.serves(path) for path in served)
    assert not any(provider.serves(path) for path in [*others, "/api/tags", served[0] + "/x"])
    assert not any(provider.serves("/openai/deployments/x" + path) for path in served)


# Keepalives: what the ollama client takes while a stream is held.


@pytest.mark.parametrize("provider", [chat, generate], ids=["chat", "generate"])
def test_the_keepalive_is_a_line_the_client_takes_as_an_empty_part(provider: Generation) -> None:
    heartbeat = provider.keepalive("ndjson", {"model": "llama3.2"})
    assert heartbeat is not None and heartbeat.endswith(b"}\n") and heartbeat.count(b"\n") == 1
    assert provider.keepalive("sse") is None and provider.keepalive("json-array") is None
    events = provider.to_events(provider.mock_answer("llama3.2", "Held, then sent.", []), {})
    body = heartbeat + heartbeat + events[0].encode() + heartbeat + "".join(events[1:]).encode()
    parts = client_reads(body, provider)
    assert len(parts) == len(events) + 3
    texts = [part.message.content if provider.chat else part.response for part in parts]
    assert "".join(texts) == "Held, then sent." and texts[0] == ""
    assert parts[0].model == "llama3.2" and parts[0].created_at and parts[0].done is False
    assert parts[-1].done
    # It adds nothing to what the proxy sees of the answer.
    assert provider.event_kind(heartbeat.decode()) is EventKind.OPENING
    assert provider.assemble([heartbeat.decode(), *events]) == provider.assemble(events)
    assert provider.streamed_text([heartbeat.decode()]) == ""
    assert not provider.is_complete([heartbeat.decode()])
    without_model = provider.keepalive("ndjson")
    assert without_model is not None and json.loads(without_model)["model"] == ""


@pytest.mark.parametrize(
    "heartbeat",
    [b"\n", format_event("").encode(), b": playingpack: held, waiting for a decision\n\n"],
    ids=["blank-line", "sse-data", "sse-comment"],
)
def test_what_the_client_rejects_mid_stream(heartbeat: bytes) -> None:
    events = chat.to_events(chat.mock_answer("m", "text", []), {})
    with pytest.raises(json.JSONDecodeError):
        client_reads(events[0].encode() + heartbeat + "".join(events[1:]).encode(), chat)


# Mocks, edits and full answers given by a person.


@pytest.mark.parametrize("provider", [chat, generate], ids=["chat", "generate"])
def test_mocks_render_and_read_back(provider: Generation) -> None:
    calls = [ToolCall("", "get_weather", '{"city": "Paris"}'), ToolCall("call_mine", "f", "")]
    for content, tool_calls in [("Sunny.", []), ("Looking.", calls[:1]), (None, calls)]:
        answer = provider.mock_answer("llama3.2", content, tool_calls)
        client_type(provider)(**answer)
        assert provider.answer_text(answer) == (content or "")
        summary = provider.summarize(answer)
        assert summary.model == "llama3.2" and summary.usage is None
        assert [(c.name, c.parsed_arguments()) for c in summary.tool_calls] == [
            (c.name, c.parsed_arguments()) for c in tool_calls
        ]
        assert all(c.id.startswith("call_") for c in summary.tool_calls)
        events = provider.to_events(answer, {})
        assert provider.is_complete(events) and provider.assemble(events) == answer
        parts = client_reads("".join(events).encode(), provider)
        assert parts[-1].done and parts[-1].done_reason == "stop"
    assert summary.tool_calls[0].id != summary.tool_calls[1].id == "call_mine"
    with pytest.raises(ValueError, match="JSON object"):
        provider.mock_answer("m", None, [ToolCall("", "f", "[1, 2]")])
    with pytest.raises(ValueError, match="not JSON"):
        provider.mock_answer("m", None, [ToolCall("", "f", "{")])


def test_edits_replace_the_text_and_the_calls() -> None:
    reply = Reply(content="Let me look.", tool_calls=[("get_weather", {"city": "Paris"})])
    answer = chat.assemble([json.dumps(line) + "\n" for line in fake_answer(reply).lines()])
    edited = chat.edit_answer(answer, "Checking Rome.", [ToolCall("", "get_weather", '{"c":1}')])
    assert edited["message"]["content"] == "Checking Rome."
    (call,) = edited["message"]["tool_calls"]
    assert call["function"]["arguments"] == {"c": 1} and call["id"].startswith("call_")
    assert {k: v for k, v in edited.items() if k != "message"} == {
        k: v for k, v in answer.items() if k != "message"
    }
    cleared = chat.edit_answer(answer, None, [])
    assert "tool_calls" not in cleared["message"]
    assert cleared["message"]["content"] == "Let me look."
    assert answer["message"]["tool_calls"]  # the original is untouched
    prompt = generate.assemble(
        [json.dumps(line) + "\n" for line in fake_answer(reply, chat_=False).lines()]
    )
    assert generate.edit_answer(prompt, "New.", None)["response"] == "New."
    assert generate.edit_answer(prompt, None, [])["context"] == prompt["context"]


@pytest.mark.parametrize("provider", [chat, generate], ids=["chat", "generate"])
def test_a_full_answer_is_completed_and_checked(provider: Generation) -> None:
    holder: Callable[[dict[str, Any]], dict[str, Any]] = (
        (lambda answer: answer["message"]) if provider.chat else (lambda answer: answer)
    )
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    given: dict[str, Any] = (
        {"message": {"content": "Hi", "tool_calls": [call]}, "eval_count": 3}
        if provider.chat
        else {"response": "Hi", "tool_calls": [call], "eval_count": 3}
    )
    completed = provider.check_answer(given, "llama3.2")
    client_type(provider)(**completed)
    assert completed["model"] == "llama3.2" and completed["done"] is True
    assert completed["done_reason"] == "stop" and completed["created_at"].endswith("Z")
    (checked,) = holder(completed)["tool_calls"]
    assert checked["id"].startswith("call_") and checked["function"] == call["function"]
    assert provider.summarize(completed).usage == Usage(0, 3)
    assert provider.assemble(provider.to_events(completed, {})) == completed
    where = "message." if provider.chat else ""
    text = provider.text_field
    wrong: list[tuple[Any, str]] = [
        ([], "JSON object"),
        ({**given, "done": False}, "`done`"),
        ({**given, "eval_count": "3"}, "`eval_count`"),
        ({**given, "model": 1}, "`model`"),
    ]
    if provider.chat:
        wrong += [
            ({"message": "Hi"}, "`message`"),
            ({"message": {"role": "user", "content": "Hi"}}, "`message.role`"),
            ({"message": {"content": 1}}, "`message.content`"),
            ({"message": {"tool_calls": {}}}, "`message.tool_calls`"),
            ({"message": {"tool_calls": [{"function": {}}]}}, r"`message.tool_calls\[0\]"),
        ]
    else:
        wrong += [
            ({text: ["Hi"]}, f"`{where}{text}`"),
            ({"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}, "arguments"),
        ]
    for answer, complaint in wrong:
        with pytest.raises(ValueError, match=complaint):
            provider.check_answer(answer, "llama3.2")


# A held answer delivered after part of the real one went out.


def test_continuing_sends_only_what_the_client_lacks() -> None:
    reply = Reply(content="The weather in Paris: let me check.", thinking="Paris, then.")
    lines = [json.dumps(line) + "\n" for line in fake_answer(reply, think=True).lines()]
    sent = lines[:9]  # the thinking and part of the text
    real = chat.assemble(lines)
    edited = chat.edit_answer(real, None, [ToolCall("", "get_weather", '{"city": "Paris"}')])
    rest = chat.continue_events(edited, {}, sent)
    everything = chat.assemble([*sent, *rest])
    assert everything["message"]["content"] == real["message"]["content"]
    assert everything["message"]["thinking"] == "Paris, then."
    assert chat.summarize(everything).tool_calls == chat.summarize(edited).tool_calls
    parts = client_reads("".join([*sent, *rest]).encode(), chat)
    assert "".join(part.message.content or "" for part in parts) == real["message"]["content"]
    # A mock that says something else goes out whole after what was sent.
    mock = chat.mock_answer("qwen3", "No.", [])
    assert chat.continue_events(mock, {}, sent) == chat.to_events(mock, {})
    assert chat.continue_events(mock, {}, []) == chat.to_events(mock, {})


# Requests read as conversations.


def test_chat_turns() -> None:
    body = {
        "model": "llama3.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?", "images": ["iVBORw0KGgo="]},
            {
                "role": "assistant",
                "content": "",
                "thinking": "Use the tool.",
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"c": "P"}}}],
            },
            {"role": "tool", "content": "Sunny", "tool_name": "get_weather"},
        ],
        "tools": [WEATHER],
        "options": {"temperature": 0},
        "stream": False,
    }
    conversation = chat.turns(body)
    assert [turn.role for turn in conversation.turns] == ["system", "user", "assistant", "tool"]
    user, assistant, tool = conversation.turns[1:]
    assert user.parts == [TextPart("Weather?"), ImagePart("image (base64)")]
    assert assistant.parts == [
        JsonPart({"thinking": "Use the tool."}),
        TextPart(""),
        ToolCallPart("get_weather", {"c": "P"}),
    ]
    assert tool.name == "get_weather"
    assert tool.parts == [ToolResultPart("Sunny", None, "get_weather")]
    assert [t.name for t in conversation.tools] == ["get_weather"]
    assert conversation.params == [
        ("model", "llama3.1"),
        ("options", {"temperature": 0}),
        ("stream", False),
    ]


def test_generate_turns() -> None:
    body = {"model": "llama3", "prompt": "Tell me a joke", "system": "", "context": []}
    conversation = generate.turns(body)
    assert [(t.role, t.parts) for t in conversation.turns] == [
        ("prompt", [TextPart("Tell me a joke")])
    ]
    assert ("context", []) in conversation.params
    with_system = generate.turns({**body, "system": "Be funny."}).turns
    assert [t.role for t in with_system] == ["system", "prompt"]


def test_every_corpus_request_reads_as_a_conversation() -> None:
    for document in INTERACTIONS:
        provider = embed if document["endpoint"] == "/api/embed" else provider_of(document)
        conversation = provider.turns(document["request"]["body"])
        assert conversation.turns, document["id"]
        msgspec.json.encode(conversation)


def test_the_corpus_has_each_kind() -> None:
    for documents in (COMPLETE, ANSWERS):
        assert {d["endpoint"] for d in documents} == {"/api/chat", "/api/generate"}
    assert EMBEDDINGS and len(STREAMS) > len(COMPLETE)


def test_nothing_after_the_done_line_counts() -> None:
    events = chat.to_events(chat.mock_answer("m", "All of it.", []), {})
    after = '{"model":"m","message":{"role":"assistant","content":" More."},"done":false}\n'
    assert chat.assemble([*events, after]) == chat.assemble(events)
