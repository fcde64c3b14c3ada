"""GET /api/har: the session's flows as a HAR 1.2 file, from a real server and the openai SDK."""

from __future__ import annotations

import json

import httpx
import openai

from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply


def test_har_has_every_flow_with_masked_headers_and_bodies(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="streamed text", piece=4), Reply(content="plain text"))
    list(client.chat.completions.create(stream=True, **ask("first")))
    client.chat.completions.create(**ask("second"))
    client.chat.completions.create(**ask("first"))  # from the tape

    response = httpx.get(f"{proxy.url}/api/har", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="playingpack.har"'
    assert API_KEY not in response.text
    log = response.json()["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "playingpack"
    first, second, replay = log["entries"]

    for entry in (first, second, replay):
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["url"] == f"{proxy.url}/v1/chat/completions"
        assert entry["response"]["status"] == 200
        assert entry["response"]["statusText"] == "OK"
        assert entry["time"] >= 0 and entry["timings"]["wait"] >= 0
        assert entry["startedDateTime"].endswith("Z")
        headers = {h["name"].lower(): h["value"] for h in entry["request"]["headers"]}
        assert headers["authorization"] == f"Bearer ***{API_KEY[-4:]}"
    assert json.loads(first["request"]["postData"]["text"]) == {**ask("first"), "stream": True}
    assert first["response"]["content"]["mimeType"] == "text/event-stream"
    events = first["response"]["content"]["text"].split("\n\n")
    # Every event the upstream sent, its comments included.
    assert events[-3:] == ["data: [DONE]", ": end of stream", ""]
    data = [event for event in events if event.startswith("data: ")]
    chunks = [json.loads(event.removeprefix("data: ")) for event in data[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "streamed text"
    body = json.loads(second["response"]["content"]["text"])
    assert body["choices"][0]["message"]["content"] == "plain text"
    assert [e["_playingpack"]["source"] for e in log["entries"]] == ["upstream", "upstream", "tape"]
    assert replay["_playingpack"]["tape"] == first["_playingpack"]["tape"]


def test_har_of_an_empty_session_has_no_entries(proxy: Running) -> None:
    response = httpx.get(f"{proxy.url}/api/har", timeout=10)
    assert response.json()["log"]["entries"] == []
