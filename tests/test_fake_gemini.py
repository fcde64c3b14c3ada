"""The fake Gemini API answers as the real one does, as far as the google-genai SDK can tell.

These tests check the fake, not playingpack: the SDK talks to it directly, and raw reads check
the framing the SDK would forgive.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import INVALID_KEY, MODEL, SIGNATURE, FakeGemini, Reply
from tests.fakes.untidy import Untidy

KEY = "AIzaSy-pptest-Qz7XwV3kLm9Np2Rt5Ys8Ub4Hc6"


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    yield fake
    fake.close()


def _client(fake: FakeGemini, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=fake.url))


@pytest.fixture
def client(gemini: FakeGemini) -> Iterator[genai.Client]:
    # Held for the whole test: the SDK closes its HTTP client when the Client is collected.
    sdk = _client(gemini)
    yield sdk
    sdk.close()


def _thinking() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))


def test_generate_content_answers_the_sdk(gemini: FakeGemini, client: genai.Client) -> None:
    gemini.queue(Reply(text="Bonjour <tout> le monde & 你好", response_id="resp-1", safety=True))
    response = client.models.generate_content(model=MODEL, contents="Hello!")
    assert response.text == "Bonjour <tout> le monde & 你好"
    assert response.response_id == "resp-1"
    assert response.model_version == MODEL
    candidate = response.candidates[0] if response.candidates else None
    assert candidate is not None and candidate.finish_reason == types.FinishReason.STOP
    assert candidate.safety_ratings and len(candidate.safety_ratings) == 4
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    received = gemini.received[-1]
    assert (received.method, received.path) == ("POST", f"/v1/models/{MODEL}:generateContent")
    assert received.headers["x-goog-api-key"] == KEY
    assert json.loads(received.body)["contents"][0]["parts"][0]["text"] == "Hello!"


def test_the_stream_arrives_in_pieces_and_ends_with_the_usage(
    gemini: FakeGemini, client: genai.Client
) -> None:
    text = "Streaming answers arrive a few words at a time, é and 🙂 included."
    gemini.queue(Reply(text=text, piece=7, untidy=Untidy(bytewise=True)))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Hi"))
    assert "".join(chunk.text or "" for chunk in chunks) == text
    assert len(chunks) == len(range(0, len(text), 7)) + 1  # the last carries only the finish
    assert all(chunk.usage_metadata is not None for chunk in chunks)
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert gemini.received[-1].path == f"/v1/models/{MODEL}:streamGenerateContent"
    assert gemini.received[-1].query == "alt=sse"


def test_the_finish_can_ride_on_the_last_piece(gemini: FakeGemini, client: genai.Client) -> None:
    gemini.queue(Reply(text="abcdef", piece=3, separate_finish=False))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Hi"))
    assert [chunk.text for chunk in chunks] == ["abc", "def"]
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == "STOP"


@pytest.mark.parametrize("stream", [False, True])
def test_function_calls_keep_their_signature(
    gemini: FakeGemini, client: genai.Client, stream: bool
) -> None:
    calls = [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    gemini.queue(Reply(text=None, function_calls=calls, signature=SIGNATURE))
    if stream:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="Weather?"))
        parts = [
            part
            for chunk in chunks
            for candidate in chunk.candidates or []
            for part in (candidate.content.parts if candidate.content else None) or []
            if part.function_call
        ]
    else:
        response = client.models.generate_content(model=MODEL, contents="Weather?")
        assert response.function_calls is not None
        assert [(call.name, call.args) for call in response.function_calls] == calls
        assert response.candidates and response.candidates[0].content
        parts = response.candidates[0].content.parts or []
    assert [(p.function_call.name, p.function_call.args) for p in parts if p.function_call] == calls
    assert parts[0].thought_signature == base64.b64decode(SIGNATURE)
    assert parts[1].thought_signature is None


@pytest.mark.parametrize("stream", [False, True])
def test_thoughts_come_when_asked_and_stay_out_of_the_text(
    gemini: FakeGemini, client: genai.Client, stream: bool
) -> None:
    reply = Reply(text="The answer is 4.", thoughts="Two and two make four.", signature=SIGNATURE)
    gemini.queue(reply, reply)

    def parts(config: types.GenerateContentConfig | None) -> list[types.Part]:
        if stream:
            chunks = list(
                client.models.generate_content_stream(model=MODEL, contents="2+2?", config=config)
            )
        else:
            chunks = [client.models.generate_content(model=MODEL, contents="2+2?", config=config)]
        assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.thoughts_token_count
        return [
            part
            for chunk in chunks
            for candidate in chunk.candidates or []
            for part in (candidate.content.parts if candidate.content else None) or []
        ]

    shown = parts(_thinking())
    assert "".join(p.text or "" for p in shown if p.thought) == "Two and two make four."
    assert "".join(p.text or "" for p in shown if not p.thought) == "The answer is 4."
    signed = [p for p in shown if p.thought_signature]
    assert len(signed) == 1 and not signed[0].thought and signed[0].text
    assert signed[0].thought_signature == base64.b64decode(SIGNATURE)
    hidden = parts(None)
    assert not any(p.thought for p in hidden)


def test_grounding_and_citations_are_on_the_candidate(
    gemini: FakeGemini, client: genai.Client
) -> None:
    grounding = {"webSearchQueries": ["paris weather"], "groundingChunks": []}
    # The Gemini API names them citationSources (Vertex AI: citations); the SDK reads both.
    citations = {
        "citationSources": [{"startIndex": 0, "endIndex": 5, "uri": "https://example.com"}]
    }
    gemini.queue(Reply(grounding_metadata=grounding, citation_metadata=citations))
    response = client.models.generate_content(model=MODEL, contents="Weather?")
    candidate = response.candidates[0] if response.candidates else None
    assert candidate is not None and candidate.grounding_metadata is not None
    assert candidate.grounding_metadata.web_search_queries == ["paris weather"]
    assert candidate.citation_metadata and candidate.citation_metadata.citations
    assert candidate.citation_metadata.citations[0].uri == "https://example.com"


def test_an_error_event_mid_stream_raises_after_the_first_chunks(
    gemini: FakeGemini, client: genai.Client
) -> None:
    gemini.queue(Reply(text="one two three four", piece=4, error_after=2, error_code=503))
    stream = client.models.generate_content_stream(model=MODEL, contents="Hi")
    seen = []
    with pytest.raises(errors.ServerError) as raised:
        for chunk in stream:
            seen.append(chunk.text)
    assert seen == ["one ", "two "]
    assert raised.value.code == 503 and raised.value.status == "UNAVAILABLE"


def test_a_quota_error_is_googles_429(gemini: FakeGemini, client: genai.Client) -> None:
    gemini.queue(Reply(status=429))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="Hi")
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    details = raised.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"} in details


def test_a_dropped_connection_breaks_the_stream(gemini: FakeGemini, client: genai.Client) -> None:
    gemini.queue(Reply(text="one two three four", piece=4, drop_after=2))
    stream = client.models.generate_content_stream(model=MODEL, contents="Hi")
    with pytest.raises((httpx.HTTPError, httpx2.HTTPError)):
        for _ in stream:
            pass


# The async SDK reads through aiohttp when it is installed, and warns about how it subclasses it.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_the_async_client_reads_the_stream(gemini: FakeGemini, client: genai.Client) -> None:
    text = "Async readers split lines their own way: ünïcödé too."
    gemini.queue(Reply(text=text, piece=5, untidy=Untidy(bytewise=True)))

    async def read() -> str:
        try:
            stream = await client.aio.models.generate_content_stream(model=MODEL, contents="Hi")
            return "".join([chunk.text or "" async for chunk in stream])
        finally:
            await client.aio.aclose()

    assert asyncio.run(asyncio.wait_for(read(), 10)) == text


def test_embeddings_token_counts_and_the_model_list(
    gemini: FakeGemini, client: genai.Client
) -> None:
    texts: list[types.PartUnion] = ["first text", "second text"]
    embedded = client.models.embed_content(model="gemini-embedding-001", contents=texts)
    assert embedded.embeddings and len(embedded.embeddings) == 2
    assert all(e.values and len(e.values) == 8 for e in embedded.embeddings)
    assert gemini.received[-1].path == "/v1/models/gemini-embedding-001:batchEmbedContents"
    counted = client.models.count_tokens(model=MODEL, contents="How many tokens is this?")
    assert counted.total_tokens and counted.total_tokens > 0
    names = [model.name for model in client.models.list(config={"page_size": 2})]
    assert names == [
        "models/gemini-2.5-flash",
        "models/gemini-2.5-pro",
        "models/gemini-3-pro-preview",
        "models/gemini-embedding-001",
    ]
    assert [r.query for r in gemini.received[-2:]] == ["pageSize=2", "pageSize=2&pageToken=2"]


def test_the_sdk_can_ask_for_v1beta(gemini: FakeGemini) -> None:
    beta = genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=gemini.url, api_version="v1beta")
    )
    assert beta.models.generate_content(model=MODEL, contents="Hi").text
    assert [chunk.text for chunk in beta.models.generate_content_stream(model=MODEL, contents="Hi")]
    assert [r.path for r in gemini.received] == [
        f"/v1beta/models/{MODEL}:generateContent",
        f"/v1beta/models/{MODEL}:streamGenerateContent",
    ]
    beta.close()


def test_single_embed_content_and_the_v1_paths(gemini: FakeGemini) -> None:
    with httpx.Client(base_url=gemini.url, headers={"x-goog-api-key": KEY}) as http:
        one = http.post(
            "/v1/models/gemini-embedding-001:embedContent",
            json={"content": {"parts": [{"text": "hi"}]}},
        )
        answer = http.post(
            f"/v1/models/{MODEL}:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
        )
    assert one.status_code == 200 and len(one.json()["embedding"]["values"]) == 8
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_keys_come_in_the_header_or_the_query(gemini: FakeGemini) -> None:
    path = f"/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=gemini.url) as http:
        missing = http.post(path, json=body)
        by_query = http.post(path, params={"key": KEY}, json=body)
    assert missing.status_code == 403
    error = missing.json()["error"]
    assert error["code"] == 403 and error["status"] == "PERMISSION_DENIED"
    assert set(error) == {"code", "message", "status"}
    assert by_query.status_code == 200
    assert gemini.received[-1].query == f"key={KEY}"
    rejected = _client(gemini, INVALID_KEY)
    with pytest.raises(errors.ClientError) as raised:
        rejected.models.generate_content(model=MODEL, contents="Hi")
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
    assert "API key not valid" in str(raised.value.message)


def test_the_json_answer_is_pretty_printed_as_google_does(gemini: FakeGemini) -> None:
    gemini.queue(Reply(text="a <b>"))
    with httpx.Client(base_url=gemini.url, headers={"x-goog-api-key": KEY}) as http:
        answer = http.post(
            f"/v1beta/models/{MODEL}:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    assert answer.headers.get_list("vary") == ["Origin", "X-Origin", "Referer"]
    assert answer.text.startswith('{\n  "candidates": [\n    {\n      "content": {\n')
    assert '"text": "a \\u003cb\\u003e"' in answer.text and answer.text.endswith("}\n")


def test_the_sse_framing_is_googles(gemini: FakeGemini) -> None:
    gemini.queue(Reply(text="Sixteen chars!!! and more of them.", piece=8, signature=SIGNATURE))
    reads: list[bytes] = []
    with (
        httpx.Client(base_url=gemini.url, headers={"x-goog-api-key": KEY}) as http,
        http.stream(
            "POST",
            f"/v1beta/models/{MODEL}:streamGenerateContent",
            params={"alt": "sse"},
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        ) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["content-disposition"] == "attachment"
        reads.extend(response.iter_raw())
    body = b"".join(reads).decode()
    assert len(reads) > 1
    assert body.endswith("\r\n\r\n") and "event:" not in body and "[DONE]" not in body
    blocks = body.split("\r\n\r\n")[:-1]
    assert all(block.startswith("data: {") and "\n" not in block for block in blocks)
    assert blocks[0].startswith('data: {"candidates": [{"content": {"parts": [{"text": ')
    assert '"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": ' in blocks[0]
    events = [json.loads(block.removeprefix("data: ")) for block in blocks]
    assert all(len(e["candidates"]) == 1 and "usageMetadata" in e for e in events)
    assert [("finishReason" in e["candidates"][0]) for e in events] == [False] * 5 + [True]
    assert events[-1]["candidates"][0]["content"]["parts"] == [{"text": ""}]
    assert events[4]["candidates"][0]["content"]["parts"][0]["thoughtSignature"] == SIGNATURE
    text = "".join(
        p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"]
    )
    assert text == "Sixteen chars!!! and more of them."


def test_without_alt_sse_the_stream_is_a_json_array(gemini: FakeGemini) -> None:
    gemini.queue(Reply(text="abcdefgh", piece=4, error_after=2, error_code=500))
    gemini.queue(Reply(text="abcdefgh", piece=4))
    path = f"/v1beta/models/{MODEL}:streamGenerateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=gemini.url, headers={"x-goog-api-key": KEY}) as http:
        failed = http.post(path, json=body)
        answer = http.post(path, json=body)
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    text = answer.text
    assert text.startswith('[{\n  "candidates": [\n') and text.endswith("}\n]")
    assert text.count("\n,\r\n{\n") == 2
    events = json.loads(text)
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == [
        "abcd",
        "efgh",
        "",
    ]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert failed.status_code == 200
    broken = json.loads(failed.text)
    assert broken[-1] == {
        "error": {"code": 500, "message": broken[-1]["error"]["message"], "status": "INTERNAL"}
    }


def test_vertex_paths_take_a_bearer_token(gemini: FakeGemini) -> None:
    path = f"/v1/projects/p-1/locations/us-central1/publishers/google/models/{MODEL}"
    with httpx.Client(base_url=gemini.url, headers={"authorization": "Bearer ya29.x"}) as http:
        answer = http.post(
            f"{path}:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
        )
    assert answer.status_code == 200
    data = answer.json()
    assert data["usageMetadata"]["trafficType"] == "ON_DEMAND" and "createTime" in data
