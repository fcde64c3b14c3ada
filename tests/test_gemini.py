"""The Gemini API wire format, pure: the recorded Gemini traffic of the corpus assembled,
converted both ways and summarised, keys, completeness, errors, holds and mocks, checked
with the google-genai SDK's own types and stream reader (and ijson, which llm-gemini reads
streamed arrays with)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ijson  # type: ignore[import-untyped]  # it ships no type hints
import pytest
from google.genai import chats, errors
from google.genai._api_client import HttpResponse
from google.genai.types import GenerateContentResponse

from playingpack.conversation import ImagePart, TextPart, ToolCallPart, ToolResultPart
from playingpack.hashing import request_key
from playingpack.providers import EventKind, ToolCall, Usage
from playingpack.providers.gemini import GeminiEmbeddings, GeminiGenerateContent
from tests.fakes.gemini_upstream import SIGNATURE

CORPUS = Path(__file__).parent / "corpus"
# The event pattern of Google's JS SDKs (`responseLineRE`).
JS_SDK_EVENT = re.compile(r"data: (.*)(?:\n\n|\r\r|\r\n\r\n)")

gemini = GeminiGenerateContent()
embeddings = GeminiEmbeddings()


def _corpus() -> list[dict[str, Any]]:
    found = []
    for path in sorted(CORPUS.glob("*/*.json")):
        interaction = json.loads(path.read_text())
        if ":" in interaction["endpoint"]:
            found.append(interaction)
    return found


INTERACTIONS = _corpus()
GENERATE = [i for i in INTERACTIONS if gemini.serves(i["endpoint"])]
STREAMS = [i for i in GENERATE if i["stream"] and i["response"]["status"] == 200]
COMPLETE = [i for i in STREAMS if i["expect"]["tape"]]
ANSWERS = [i for i in GENERATE if not i["stream"] and i["expect"]["tape"]]
# The Go SDK's answers have numeric enums, which the Python SDK's types do not take.
TYPED = [i for i in COMPLETE if not i["id"].startswith("lcgo.")]


def ids(interactions: list[dict[str, Any]]) -> list[str]:
    return [interaction["id"] for interaction in interactions]


def events_of(interaction: dict[str, Any]) -> list[str]:
    events: list[str] = interaction["response"]["events"]
    return events


def body_of(interaction: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(interaction["response"]["body"])
    return body


def framing_of(interaction: dict[str, Any]) -> str:
    path, _, query = interaction["endpoint"].partition("?")
    return gemini.framing(path, dict(httpx.QueryParams(query)))


def sdk_chunks(body: bytes) -> list[GenerateContentResponse]:
    """What google-genai reads from an SSE body, with its own line reader."""
    stream = HttpResponse({}, httpx.Response(200, content=body))
    return [typed(chunk) for chunk in stream.segments()]


def typed(response: dict[str, Any]) -> GenerateContentResponse:
    """``response`` as the SDK types it (dropping fields newer than it, as it does)."""
    return GenerateContentResponse._from_response(response=response, kwargs={})


def ijson_elements(body: bytes) -> list[Any]:
    """What llm-gemini reads from a streamed array (ijson's items coroutine, fed in pieces)."""
    found: list[Any] = ijson.sendable_list()
    coroutine = ijson.items_coro(found, "item")
    for start in range(0, len(body), 7):
        coroutine.send(body[start : start + 7])
    coroutine.close()
    return [json.loads(json.dumps(item, default=float)) for item in found]


def js_sdk_events(body: bytes) -> list[Any]:
    """The events the JS SDKs (@google/genai, @google/generative-ai) take from an SSE body:
    what their one pattern matches at the start of the text read, again and again."""
    text, found = body.decode(), []
    while match := JS_SDK_EVENT.match(text):
        found.append(json.loads(match[1]))
        text = text[match.end() :]
    return found


def texts(stream: Iterator[GenerateContentResponse] | list[GenerateContentResponse]) -> str:
    return "".join(chunk.text or "" for chunk in stream)


# --- paths, keys, framings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "/v1/models/gemini-2.5-flash:generateContent",
        "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
        "/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.0-flash:generateContent",
    ],
)
def test_generate_paths_are_served(path: str) -> None:
    assert gemini.serves(path) and not embeddings.serves(path)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/models/gpt-4o",
        "/v1/chat/completions",
        "/v1beta/models/gemini-2.5-flash:countTokens",
        "/v1beta/models/gemini-2.5-flash",
        "/v1beta/files/abc",
        "/v1beta/cachedContents",
        "/api/chat",
    ],
)
def test_other_paths_are_not(path: str) -> None:
    assert not gemini.serves(path) and not embeddings.serves(path)


def test_embedding_paths_are_served_by_the_embeddings_provider() -> None:
    for path in (
        "/v1beta/models/gemini-embedding-001:embedContent",
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        "/v1/projects/p/locations/l/publishers/google/models/text-embedding-005:embedContent",
    ):
        assert embeddings.serves(path) and not gemini.serves(path)


def test_both_methods_and_both_versions_of_a_model_share_one_tape() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    key = gemini.key(body, "/v1beta/models/gemini-2.5-flash:generateContent")
    assert key == request_key(body, extra="/models/gemini-2.5-flash:generateContent\n")
    for path in (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "/v1/models/gemini-2.5-flash:streamGenerateContent",
        "/v1/models/gemini-2.5-flash:generateContent",
        # the query is never part of it, should a caller pass it with the path
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaSy-secret",
    ):
        assert gemini.key(body, path) == key, path
    assert gemini.key(body, "/v1beta/models/gemini-2.5-pro:generateContent") != key
    assert gemini.key({**body, "generationConfig": {}}, "/v1/models/gemini-2.5-flash:x") != key
    vertex = "/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash"
    vertex_key = gemini.key(body, vertex + ":generateContent")
    assert vertex_key != key  # another project's tapes are its own
    assert gemini.key(body, vertex.replace("/v1/", "/v1beta1/") + ":streamGenerateContent") == (
        vertex_key
    )


def test_embedding_keys_keep_their_method_and_share_versions() -> None:
    body = {"content": {"parts": [{"text": "Hi"}]}}
    key = embeddings.key(body, "/v1beta/models/gemini-embedding-001:embedContent")
    assert key == request_key(body, extra="/models/gemini-embedding-001:embedContent\n")
    assert embeddings.key(body, "/v1/models/gemini-embedding-001:embedContent") == key
    assert embeddings.key(body, "/v1/models/gemini-embedding-001:batchEmbedContents") != key


def test_the_path_asks_for_a_stream_and_alt_for_its_framing() -> None:
    stream = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    single = "/v1beta/models/gemini-2.5-flash:generateContent"
    assert gemini.wants_stream_at({}, stream) and not gemini.wants_stream_at(
        {"stream": True}, single
    )
    assert not embeddings.wants_stream_at({"stream": True}, "/v1/models/e:embedContent")
    assert gemini.framing(stream, {"alt": "sse"}) == "sse"
    assert gemini.framing(stream, {}) == "json-array"
    assert gemini.framing(stream, {"$alt": "json;enum-encoding=int"}) == "json-array"
    assert gemini.framing(single, {}) == "sse"
    assert {framing_of(i) for i in STREAMS} == {"sse", "json-array"}
    for interaction in STREAMS:
        arrays = events_of(interaction)[0].startswith("[")
        assert framing_of(interaction) == ("json-array" if arrays else "sse"), interaction["id"]


# --- the recorded streams -------------------------------------------------------------------


@pytest.mark.parametrize("interaction", STREAMS, ids=ids(STREAMS))
def test_completeness_is_the_recorded_expectation(interaction: dict[str, Any]) -> None:
    events = events_of(interaction)
    assert gemini.is_complete(events) is interaction["expect"]["tape"]
    # Called with each event alone, one of them ends the answer exactly when the whole does.
    assert any(gemini.is_complete((event,)) for event in events) is interaction["expect"]["tape"]
    assert gemini.failure(events) is None


def test_completeness_needs_a_finish_reason() -> None:
    assert len(COMPLETE) >= 15
    truncated = [i for i in STREAMS if not i["expect"]["tape"]]
    assert {i["id"].rsplit(".", 1)[-1] for i in truncated} == {"truncated"}
    for interaction in truncated:
        assert not gemini.is_complete(events_of(interaction))


@pytest.mark.parametrize("interaction", COMPLETE, ids=ids(COMPLETE))
def test_a_recorded_stream_assembles_to_what_its_events_carry(
    interaction: dict[str, Any],
) -> None:
    events = events_of(interaction)
    responses = [json.loads(text) for text in _elements(events)]
    assembled = gemini.assemble(events)
    summary = gemini.summarize(assembled)
    # Text: the non-thought text of every event, in order.
    assert gemini.answer_text(assembled) == gemini.streamed_text(events)
    assert gemini.streamed_text(events) == "".join(
        part.get("text", "")
        for response in responses
        for candidate in response.get("candidates", [])
        for part in candidate.get("content", {}).get("parts", [])
        if not part.get("thought")
    )
    # Tool calls: every functionCall part, signature and all.
    calls = [
        part
        for response in responses
        for candidate in response.get("candidates", [])
        for part in candidate.get("content", {}).get("parts", [])
        if "functionCall" in part
    ]
    parts = assembled["candidates"][0]["content"]["parts"]
    assert [part for part in parts if "functionCall" in part] == calls
    assert [call.name for call in summary.tool_calls] == [c["functionCall"]["name"] for c in calls]
    assert [json.loads(call.arguments) for call in summary.tool_calls] == [
        c["functionCall"].get("args", {}) for c in calls
    ]
    # Usage, model and finish from the last event.
    last = responses[-1]
    assert assembled["usageMetadata"] == last["usageMetadata"]
    usage = last["usageMetadata"]
    assert summary.usage == Usage(
        usage["promptTokenCount"] + usage.get("toolUsePromptTokenCount", 0),
        usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
    )
    assert summary.model == last["modelVersion"]
    assert assembled["candidates"][0]["finishReason"] == last["candidates"][0]["finishReason"]
    # The last signature of the stream survives, and no signature is lost or made up.
    signatures = [
        part["thoughtSignature"]
        for response in responses
        for part in response["candidates"][0].get("content", {}).get("parts", [])
        if "thoughtSignature" in part
    ]
    kept = [part["thoughtSignature"] for part in parts if "thoughtSignature" in part]
    assert set(kept) <= set(signatures)
    if signatures:
        assert signatures[-1] in kept
    # Grounding and URL context metadata: the last non-empty one given.
    for field in ("groundingMetadata", "urlContextMetadata"):
        given = [c[field] for r in responses for c in r["candidates"] if c.get(field)]
        if given:
            assert assembled["candidates"][0][field] == given[-1]


def _elements(events: list[str]) -> list[str]:
    """The JSON text of each response of a recorded stream, read without the provider."""
    body = "".join(events)
    if body.startswith("["):
        return [json.dumps(item) for item in json.loads(body)]
    return [text.removeprefix("data: ").strip() for text in events]


@pytest.mark.parametrize("interaction", TYPED, ids=ids(TYPED))
def test_the_sdk_reads_the_assembled_answer_as_it_reads_the_stream(
    interaction: dict[str, Any],
) -> None:
    assembled = typed(gemini.assemble(events_of(interaction)))
    chunks = [typed(json.loads(t)) for t in _elements(events_of(interaction))]
    assert assembled.text == (texts(chunks) or None)
    assert assembled.function_calls == (
        [call for chunk in chunks for call in chunk.function_calls or ()] or None
    )
    assert assembled.usage_metadata == chunks[-1].usage_metadata
    assert assembled.model_version == chunks[-1].model_version
    assert assembled.response_id == chunks[-1].response_id


@pytest.mark.parametrize("framing", ["sse", "json-array"])
@pytest.mark.parametrize("interaction", COMPLETE, ids=ids(COMPLETE))
def test_a_stream_converted_to_json_and_back_assembles_the_same(
    interaction: dict[str, Any], framing: str
) -> None:
    assembled = gemini.assemble(events_of(interaction))
    events = gemini.to_events(assembled, interaction["request"]["body"], framing=framing)
    assert gemini.assemble(events) == assembled
    assert gemini.is_complete(events) and gemini.failure(events) is None
    assert sum(gemini.is_complete((event,)) for event in events) >= 1
    body = "".join(events).encode()
    if framing == "json-array":
        assert gemini.assemble([json.dumps(e) for e in ijson_elements(body)]) == assembled
    elif interaction in TYPED:
        chunks = sdk_chunks(body)
        assert texts(chunks) == gemini.answer_text(assembled)
        assert b"[DONE]" not in body and b"event:" not in body


@pytest.mark.parametrize("interaction", ANSWERS, ids=ids(ANSWERS))
def test_a_json_answer_streams_as_events_that_assemble_to_it(interaction: dict[str, Any]) -> None:
    answer = body_of(interaction)
    for framing in ("sse", "json-array"):
        events = gemini.to_events(answer, interaction["request"]["body"], framing=framing)
        assert gemini.assemble(events) == answer, framing
        assert gemini.is_complete(events)
    if not interaction["id"].startswith("lcgo."):
        chunks = sdk_chunks("".join(gemini.to_events(answer, None)).encode())
        assert texts(chunks) == (typed(answer).text or "")


@pytest.mark.parametrize("interaction", ANSWERS, ids=ids(ANSWERS))
def test_json_answers_are_summarised(interaction: dict[str, Any]) -> None:
    answer = body_of(interaction)
    summary = gemini.summarize(answer)
    usage = answer["usageMetadata"]
    assert summary.model == answer["modelVersion"]
    assert summary.usage is not None
    assert summary.usage.input_tokens >= usage["promptTokenCount"]
    assert summary.usage.output_tokens == usage.get("candidatesTokenCount", 0) + usage.get(
        "thoughtsTokenCount", 0
    )
    parts = answer["candidates"][0].get("content", {}).get("parts", [])
    assert len(summary.tool_calls) == sum("functionCall" in part for part in parts)


def test_cached_input_is_counted_apart() -> None:
    answer = {
        "usageMetadata": {
            "promptTokenCount": 100,
            "cachedContentTokenCount": 60,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "toolUsePromptTokenCount": 3,
        }
    }
    assert gemini.summarize(answer).usage == Usage(103, 12, cached_input_tokens=60)
    assert gemini.summarize({}).usage is None


# --- errors ---------------------------------------------------------------------------------


def test_recorded_error_bodies_are_failures() -> None:
    errors_ = [i for i in GENERATE if i["response"]["status"] >= 400]
    assert len(errors_) >= 4
    for interaction in errors_:
        events = interaction["response"].get("events") or [interaction["response"]["body"]]
        message = gemini.failure(events)
        assert message and message == json.loads("".join(events))["error"]["message"]
        assert not gemini.is_complete(events)


@pytest.mark.parametrize("framing", ["sse", "json-array"])
def test_an_error_event_ends_a_stream_as_googles_error(framing: str) -> None:
    answer = body_of(ANSWERS[0])
    sent = gemini.to_events(answer, None, framing=framing)[:1]
    event = gemini.error_event(
        "Quota exceeded", "rate_limit_error", "mock_error", status=429, framing=framing, opened=True
    )
    assert gemini.failure([*sent, event]) == "Quota exceeded"
    assert gemini.failure(sent) is None
    body = "".join([*sent, event])
    if framing == "json-array":
        elements = json.loads(body)
        error = elements[-1]
    else:
        error = json.loads(event.removeprefix("data: "))
        assert sdk_chunks(body.encode())  # the SDK reads it; the client raises on it:
    assert error["error"]["code"] == 429 and error["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ClientError) as raised:
        errors.APIError.raise_error(error["error"]["code"], error, None)
    assert raised.value.code == 429 and raised.value.message == "Quota exceeded"
    alone = gemini.error_event("Boom", "server_error", "internal", framing="json-array")
    assert json.loads(alone)[0]["error"]["code"] == 500


def test_the_error_body_is_googles_shape() -> None:
    body = gemini.error_json("No tape", "invalid_request_error", "tape_not_found")
    assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["details"][0]["reason"] == "tape_not_found"
    with pytest.raises(errors.ClientError):
        errors.APIError.raise_error(body["error"]["code"], body, None)
    assert gemini.error_json("x", "y", "z", status=404)["error"]["status"] == "NOT_FOUND"


# --- holds ----------------------------------------------------------------------------------


def test_keepalives_are_what_the_clients_tolerate() -> None:
    answer = body_of(ANSWERS[0])
    events = gemini.to_events(answer, None)
    keepalive = gemini.keepalive("sse")
    assert keepalive is not None
    held = keepalive + keepalive + "".join(events).encode()
    chunks = sdk_chunks(held)
    assert texts(chunks) == texts(sdk_chunks("".join(events).encode()))
    # A chat keeps the turn: every chunk it sees, the keepalives too, is a valid response.
    assert all(chats._validate_response(chunk) for chunk in chunks)
    # An SSE comment, the keepalive of the other formats, breaks the SDK's stream.
    with pytest.raises(errors.UnknownApiResponseError):
        sdk_chunks(b": held\n\n" + "".join(events).encode())
    # The JS SDKs match `data: ...` and a blank line at the start of what they have read, so
    # a keepalive must be such an event: anything else (a bare blank line too) jams the rest.
    sent = [keepalive.decode(), keepalive.decode(), *events]
    assert js_sdk_events(held) == [json.loads(text.removeprefix("data: ")) for text in sent]
    assert js_sdk_events(b"\r\n" + "".join(events).encode()) == []
    array = gemini.to_events(answer, None, framing="json-array")
    pause = gemini.keepalive("json-array")
    assert pause is not None
    body = pause + pause.join(text.encode() for text in array) + pause
    assert ijson_elements(body) == json.loads("".join(array))
    assert json.loads(body) == json.loads("".join(array))


def test_a_function_call_event_holds_and_text_events_pass() -> None:
    tools = next(
        i
        for i in COMPLETE
        if i["id"].startswith("llmgemini.gemini.tools") and i["id"].endswith(".0")
    )
    kinds = [gemini.event_kind(event) for event in events_of(tools)]
    assert EventKind.TOOL_CALL in kinds
    answer = gemini.mock_answer("gemini-2.5-flash", "Let me look.", [ToolCall("", "f", "{}")])
    events = gemini.to_events(answer, None, framing="json-array")
    assert [gemini.event_kind(event) for event in events] == [
        EventKind.TEXT,
        EventKind.TOOL_CALL,
        EventKind.TEXT,  # the closing bracket
    ]
    keepalive = gemini.keepalive("sse")
    assert keepalive is not None and gemini.event_kind(keepalive.decode()) is EventKind.OPENING
    assert gemini.event_kind("\n") is EventKind.OPENING


@pytest.mark.parametrize("framing", ["sse", "json-array"])
def test_continue_events_go_on_from_what_the_client_has(framing: str) -> None:
    stream = next(i for i in COMPLETE if i["id"] == "pai.gemini.google-model-thinking-part-iter")
    full = gemini.assemble(events_of(stream))
    events = gemini.to_events(full, None, framing=framing)
    sent = events[:1]  # the thoughts went out; the rest was held
    have = gemini.assemble(sent)
    rest = gemini.continue_events(full, None, sent, framing=framing)
    assert gemini.assemble([*sent, *rest]) == full
    # An edit keeps the response id the client saw, and does not send the thoughts again.
    edited = gemini.edit_answer({**full, "responseId": "other"}, "Just look both ways.", None)
    rest = gemini.continue_events(edited, None, sent, framing=framing)
    joined = gemini.assemble([*sent, *rest])
    assert joined["responseId"] == have["responseId"]
    assert gemini.answer_text(joined) == "Just look both ways."
    assert (
        joined["candidates"][0]["content"]["parts"][0]
        == full["candidates"][0]["content"]["parts"][0]
    )
    if framing == "json-array":
        assert len(json.loads("".join([*sent, *rest]))) == len(sent) + len(rest) - 1
    # Nothing sent yet: the whole answer.
    assert gemini.continue_events(full, None, [], framing=framing) == events


def test_a_partly_sent_text_goes_on_where_it_stopped() -> None:
    answer = gemini.mock_answer("m", "Hello there", [])
    sent = gemini.to_events(gemini.mock_answer("m", "Hello", []), None)[:1]
    rest = gemini.continue_events(answer, None, sent)
    assert gemini.streamed_text(rest) == " there"
    assert gemini.answer_text(gemini.assemble([*sent, *rest])) == "Hello there"


# --- mocks ----------------------------------------------------------------------------------


def test_a_mock_is_a_response_the_sdk_parses_in_both_shapes() -> None:
    answer = gemini.mock_answer(
        "gemini-2.5-flash", "Checking.", [ToolCall("", "get_weather", '{"city": "Paris"}')]
    )
    parsed = typed(answer)
    assert parsed.text == "Checking."
    assert parsed.function_calls is not None
    assert parsed.function_calls[0].name == "get_weather"
    assert parsed.function_calls[0].args == {"city": "Paris"}
    assert "thoughtSignature" not in json.dumps(answer)  # none unless the person gives one
    assert parsed.model_version == "gemini-2.5-flash" and parsed.response_id
    assert answer["responseId"] != gemini.mock_answer("m", "x", [])["responseId"]
    chunks = sdk_chunks("".join(gemini.to_events(answer, None)).encode())
    assert texts(chunks) == "Checking."
    assert gemini.assemble(gemini.to_events(answer, None)) == answer
    summary = gemini.summarize(answer)
    assert summary.tool_calls == (ToolCall("", "get_weather", '{"city":"Paris"}'),)
    with pytest.raises(ValueError, match="JSON object"):
        gemini.mock_answer("m", None, [ToolCall("", "f", "[1, 2]")])
    assert gemini.mock_answer("m", None, [ToolCall("call_1", "f", "{}")])["candidates"][0][
        "content"
    ]["parts"] == [{"functionCall": {"name": "f", "args": {}, "id": "call_1"}}]


def test_an_edit_replaces_text_and_calls_and_keeps_the_signatures() -> None:
    signed = next(i for i in ANSWERS if i["id"] == "pai.gemini.google-model-retry.0")
    answer = body_of(signed)
    old_calls = [p for p in answer["candidates"][0]["content"]["parts"] if "functionCall" in p]
    assert old_calls[0].get("thoughtSignature")
    edited = gemini.edit_answer(answer, None, [ToolCall("", "get_capital", '{"country": "Spain"}')])
    calls = [p for p in edited["candidates"][0]["content"]["parts"] if "functionCall" in p]
    assert calls == [
        {
            "functionCall": {"name": "get_capital", "args": {"country": "Spain"}},
            "thoughtSignature": old_calls[0]["thoughtSignature"],
        }
    ]
    added = gemini.edit_answer(
        answer, None, [*gemini.summarize(answer).tool_calls, ToolCall("", "g", "{}")]
    )
    assert "thoughtSignature" not in added["candidates"][0]["content"]["parts"][-1]
    texted = gemini.edit_answer(answer, "No call needed.", [])
    assert gemini.answer_text(texted) == "No call needed."
    assert gemini.summarize(texted).tool_calls == ()
    assert answer == body_of(signed)  # the original is untouched
    typed(texted)


def test_a_full_response_is_completed_or_its_fault_named() -> None:
    given = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIGNATURE}
                    ]
                }
            }
        ]
    }
    checked = gemini.check_answer(given, "gemini-3-pro-preview")
    candidate = checked["candidates"][0]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"][0]["thoughtSignature"] == SIGNATURE  # the person's
    assert checked["modelVersion"] == "gemini-3-pro-preview" and checked["responseId"]
    assert checked["usageMetadata"]["promptTokenCount"] == 0
    typed(checked)
    for wrong, field in [
        ([], "must be a GenerateContentResponse"),
        ({"candidates": "x"}, "`candidates`"),
        (
            {"candidates": [{"content": {"parts": [{"text": 1}]}}]},
            "`candidates[0].content.parts[0].text`",
        ),
        (
            {"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]},
            "functionCall",
        ),
        (
            {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": []}}]}}]},
            "functionCall.args",
        ),
        ({"candidates": [], "promptFeedback": {}, "usageMetadata": []}, "`usageMetadata`"),
        ({"candidates": [{"content": {"parts": []}}], "modelVersion": 3}, "`modelVersion`"),
        (
            {"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "Ab"}]}}]},
            "thoughtSignature` must be a base64",
        ),
    ]:
        with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
            gemini.check_answer(wrong, "m")


# --- requests -------------------------------------------------------------------------------


def test_a_request_reads_as_turns_tools_and_parameters() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "s",
                    }
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": {"type": "OBJECT"},
                    }
                ]
            },
            {"googleSearch": {}},
        ],
        "generationConfig": {"temperature": 0},
    }
    conversation = gemini.turns(body)
    assert [turn.role for turn in conversation.turns] == ["system", "user", "model", "user"]
    assert conversation.turns[0].parts == [TextPart("Be brief.")]
    assert conversation.turns[1].parts == [
        TextPart("Weather?"),
        ImagePart("image/png (inline data)"),
    ]
    assert conversation.turns[2].parts == [ToolCallPart("get_weather", {"city": "Paris"})]
    assert conversation.turns[3].parts == [ToolResultPart({"temp": 20}, None, "get_weather")]
    assert [tool.name for tool in conversation.tools] == ["get_weather", "googleSearch"]
    assert conversation.tools[0].parameters == {"type": "OBJECT"}
    assert conversation.params == [("generationConfig", {"temperature": 0})]
    for interaction in GENERATE:
        turns = gemini.turns(interaction["request"]["body"]).turns
        assert turns and all(turn.parts for turn in turns), interaction["id"]


# --- embeddings -----------------------------------------------------------------------------

EMBEDDED = [i for i in INTERACTIONS if embeddings.serves(i["endpoint"]) and i["expect"]["tape"]]


@pytest.mark.parametrize("interaction", EMBEDDED, ids=ids(EMBEDDED))
def test_embeddings_are_json_described_by_their_size(interaction: dict[str, Any]) -> None:
    answer = embeddings.assemble([interaction["response"]["body"]])
    assert answer == body_of(interaction)
    assert embeddings.is_complete([interaction["response"]["body"]])
    vectors = answer.get("embeddings") or [answer["embedding"]]
    noun = "embedding" if len(vectors) == 1 else "embeddings"
    assert embeddings.answer_text(answer) == (
        f"[{len(vectors)} {noun} of {len(vectors[0]['values'])} dimensions]"
    )
    usage = answer.get("usageMetadata")
    summary = embeddings.summarize(answer)
    assert summary.usage == (Usage(usage["promptTokenCount"], 0) if usage else None)
    inputs = embeddings.turns(interaction["request"]["body"]).turns
    assert inputs and {turn.role for turn in inputs} == {"input"}
    assert all(isinstance(part, TextPart) for turn in inputs for part in turn.parts)


def test_the_ids_clients_give_function_calls_are_no_part_of_the_key() -> None:
    provider = GeminiGenerateContent()
    path = "/v1beta/models/gemini-2.5-flash:generateContent"

    def request(call_id: str) -> dict[str, Any]:
        return {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Bari?"}]},
                {
                    "role": "model",
                    "parts": [{"functionCall": {"id": call_id, "name": "w", "args": {}}}],
                },
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"id": call_id, "name": "w", "response": {}}}],
                },
            ]
        }

    assert provider.key(request("pyd_ai_1"), path) == provider.key(request("pyd_ai_2"), path)
    other = request("pyd_ai_1")
    other["contents"][0]["parts"][0]["text"] = "Weather in Lodz?"
    assert provider.key(other, path) != provider.key(request("pyd_ai_1"), path)
