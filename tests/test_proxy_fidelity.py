"""What real servers and real clients do that tidy fakes do not, through a real playingpack.

Sync clients that hang up at ``[DONE]``, events cut at every byte and CRLF line ends, error
objects inside 200 answers, events after the completion event, and an upstream whose base URL
has a path of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
import pytest

from playingpack.config import RecordMode, ReplayTiming
from playingpack.hashing import request_key
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.untidy import Untidy

WEATHER = ("get_weather", '{"city": "Paris", "unit": "celsius"}')
TEXT = "Voilà : ça marche ✓ — 日本語 too"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def raw_stream(proxy: Running, request: dict[str, object]) -> bytes:
    """The whole body a client reading to the end gets for a streamed request."""
    with httpx.stream(
        "POST",
        f"{proxy.base_url}/chat/completions",
        json={**request, "stream": True},
        headers=HEADERS,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        return response.read()


def test_sync_streams_closing_at_done_complete_with_usage_and_tool_calls(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.default = Reply(content=None, tool_calls=[WEATHER], piece=5, delay=0.002)
    for number in range(5):
        # openai-python's sync Stream closes the response as soon as it has read [DONE].
        chunks = list(
            client.chat.completions.create(
                stream=True, stream_options={"include_usage": True}, **ask(f"weather {number}")
            )
        )
        assert chunks[-1].usage is not None
    flows = proxy.finished_flows(5)
    assert [flow["state"] for flow in flows] == ["COMPLETE"] * 5
    for flow in flows:
        assert flow["error"] is None
        assert flow["usage"] is not None and flow["usage"]["input_tokens"] > 0
        assert [call["name"] for call in flow["tool_calls"]] == ["get_weather"]
    proxy.close()
    (log,) = (proxy.config.logs_dir).glob("*.jsonl")
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert [line["state"] for line in lines] == ["COMPLETE"] * 5
    assert all(line["tool_calls"] == ["get_weather"] and line["usage"] for line in lines)
    for path in proxy.tapes():
        chunks = [c["c"] for c in json.loads(path.read_text("utf-8"))["response"]["chunks"]]
        assert chunks[-2:] == ["data: [DONE]\n\n", ": end of stream\n\n"]


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_events_cut_at_every_byte_pass_through_exactly_and_replay(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, crlf: bool
) -> None:
    proxy = start_proxy()
    upstream.queue(Reply(content=TEXT, piece=2, untidy=Untidy(bytewise=True, crlf=crlf)))
    request = ask("every byte")
    body = raw_stream(proxy, request)
    # Pass-through is byte for byte, multi-byte characters cut in two included.
    assert body == upstream.streamed[-1]
    assert (b"\r\n" in body) is crlf
    proxy.finished_flows(1)

    replayer = start_proxy(record=RecordMode.REPLAY_ONLY, replay_timing=ReplayTiming.INSTANT)
    upstream.close()
    streamed = replayer.client().chat.completions.create(stream=True, **request)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == TEXT
    answer = replayer.client().chat.completions.create(**request)
    assert answer.choices[0].message.content == TEXT
    # The tape holds the events as sent, line ends normalised; replayed, they are the same.
    replayed = raw_stream(replayer, request)
    assert replayed == body.replace(b"\r\n", b"\n")


def test_error_event_in_a_200_stream_is_passed_on_and_never_recorded(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    error = {"error": {"message": "Provider overloaded", "type": "server_error", "code": 529}}
    upstream.default = Reply(content=TEXT, error_after=3, error_body=error, delay=0.002)
    # A client reading to the end gets every byte the upstream sent, [DONE] included...
    body = raw_stream(proxy, ask("error event"))
    assert body == upstream.streamed[-1]
    assert b'"Provider overloaded"' in body and b"data: [DONE]" in body
    # ...and the SDK raises at the error event, stopping there.
    with pytest.raises(openai.APIError, match="Provider overloaded"):
        list(proxy.client(max_retries=0).chat.completions.create(stream=True, **ask("sdk")))
    flows = proxy.finished_flows(2)
    assert [flow["state"] for flow in flows] == ["ERROR", "ERROR"]
    assert all("Provider overloaded" in flow["error"] for flow in flows)
    assert proxy.tapes() == []


def test_json_answer_carrying_an_error_object_is_passed_on_and_not_recorded(
    proxy: Running, upstream: FakeUpstream
) -> None:
    error = {"error": {"message": "No endpoints found for this model", "code": 404}}
    upstream.queue(Reply(body=error))
    response = httpx.post(
        f"{proxy.base_url}/chat/completions", json=ask("json error"), headers=HEADERS
    )
    assert response.status_code == 200 and response.json() == error
    (flow,) = proxy.finished_flows(1)
    assert flow["state"] == "ERROR" and "No endpoints found" in flow["error"]
    assert proxy.tapes() == []


def test_events_after_the_completion_event_are_on_the_tape_and_replayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    # Some servers end a Responses stream with a [DONE] after response.completed.
    upstream.queue(Reply(content="All done.", trailing=("data: [DONE]\n\n",)))
    request = {"model": "gpt-4o-mini", "input": "finish", "stream": True}
    with httpx.stream(
        "POST", f"{proxy.base_url}/responses", json=request, headers=HEADERS, timeout=10
    ) as response:
        body = response.read()
    assert body == upstream.streamed[-1]
    proxy.finished_flows(1)
    (path,) = proxy.tapes()
    chunks = [c["c"] for c in json.loads(path.read_text("utf-8"))["response"]["chunks"]]
    assert chunks[-2:] == ["data: [DONE]\n\n", ": end of stream\n\n"]
    assert any('"type":"response.completed"' in chunk for chunk in chunks[:-2])

    replayer = start_proxy(record=RecordMode.REPLAY_ONLY, replay_timing=ReplayTiming.INSTANT)
    upstream.close()
    with httpx.stream(
        "POST", f"{replayer.base_url}/responses", json=request, headers=HEADERS, timeout=10
    ) as response:
        assert response.read() == "".join(chunks).encode()
    final = replayer.client().responses.create(model="gpt-4o-mini", input="finish")
    assert final.output_text == "All done."


def test_upstream_base_url_with_a_path_takes_the_place_of_v1(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(upstream=f"{upstream.url}/v1beta/openai/")
    answer = proxy.client().chat.completions.create(**ask("gemini style"))
    assert answer.choices[0].message.content == "Hello from the fake upstream!"
    assert upstream.received[-1].path == "/v1beta/openai/chat/completions"
    assert proxy.tapes()[0].stem == request_key(ask("gemini style"))
