"""Resending a call or a tape, as it was or edited, to the upstream or the tapes: over HTTP to a
real playingpack, with the official SDKs as the agents."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ANTHROPIC_KEY, API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply


def post(proxy: Running, path: str, body: Any = None, **params: str) -> httpx.Response:
    return httpx.post(f"{proxy.url}{path}", json=body, params=params, timeout=30)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path, with its bytes."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def recorded_call(proxy: Running, upstream: FakeUpstream, text: str = "Hi") -> dict[str, Any]:
    """One chat call recorded (record auto), then the server switched to replay-only."""
    upstream.queue(Reply(content="First answer."))
    proxy.client().chat.completions.create(**ask(text))
    [flow] = proxy.finished_flows(1)
    patched = httpx.patch(f"{proxy.url}/api/settings", json={"record": "replay-only"}, timeout=5)
    assert patched.status_code == 200, patched.text
    return flow


def test_a_resend_goes_upstream_in_replay_only_and_writes_no_tape(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    before = snapshot(proxy.tapes_dir)
    upstream.queue(Reply(content="Second answer."))

    resent = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true")

    assert resent.status_code == 200, resent.text
    flow = resent.json()
    assert flow["state"] == "COMPLETE" and flow["source"] == "upstream"
    assert flow["parent"] == parent["id"] and flow["resend"] == "upstream"
    assert flow["edited"] is False
    assert flow["text"] == "Second answer."
    assert flow["tape"] == parent["tape"]
    # The original call's credentials went with it; playingpack's mark did not.
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert not any(name.lower() == "x-playingpack-resend" for name in sent.headers)
    shown = {name.lower(): value for name, value in flow["request_headers"].items()}
    assert shown["x-playingpack-resend"].startswith("***")
    assert shown["authorization"] == f"Bearer ***{API_KEY[-4:]}"
    assert snapshot(proxy.tapes_dir) == before


def test_a_resend_answers_with_the_new_calls_id_at_once(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    upstream.queue(Reply(content="Slow answer.", first_delay=0.5))

    resent = post(proxy, f"/api/flows/{parent['id']}/resend", {"to": "upstream"})

    assert resent.status_code == 202, resent.text
    new_id = resent.json()["id"]
    assert resent.headers["Location"] == f"/api/flows/{new_id}"
    # It is answered before the upstream's answer came.
    listed = httpx.get(f"{proxy.url}/api/flows/{new_id}", timeout=5).json()
    assert listed["parent"] == parent["id"]
    assert listed["state"] not in ("COMPLETE", "ERROR")
    flows = proxy.finished_flows(2)
    assert {flow["id"] for flow in flows} == {parent["id"], new_id}


def test_an_edited_resend_sends_the_edit_and_is_marked_edited(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    before = snapshot(proxy.tapes_dir)
    upstream.queue(Reply(content="Bonjour !"))
    edited = {**parent["request"], "messages": [{"role": "user", "content": "Salut"}]}

    flow = post(proxy, f"/api/flows/{parent['id']}/resend", {"request": edited}, wait="true")

    body = flow.json()
    assert body["edited"] is True and body["text"] == "Bonjour !"
    assert json.loads(upstream.received[-1].body)["messages"][0]["content"] == "Salut"
    assert body["tape"] != parent["tape"]
    assert snapshot(proxy.tapes_dir) == before
    # Only the stream flag changed: the same request, the same tape.
    streamed = post(
        proxy,
        f"/api/flows/{parent['id']}/resend",
        {"request": {**parent["request"], "stream": True}},
        wait="true",
    )
    assert streamed.json()["edited"] is False


def test_a_resend_to_the_tapes_replays_or_misses_without_calling_the_upstream(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    calls = len(upstream.received)

    same = post(proxy, f"/api/flows/{parent['id']}/resend", {"to": "tape"}, wait="true").json()
    assert same["source"] == "tape" and same["text"] == "First answer."
    assert same["resend"] == "tape"

    other = {**parent["request"], "messages": [{"role": "user", "content": "Never asked"}]}
    miss = post(
        proxy, f"/api/flows/{parent['id']}/resend", {"request": other, "to": "tape"}, wait="true"
    ).json()
    assert miss["state"] == "ERROR" and miss["status"] == 404
    assert "a resend to the tapes never calls the upstream" in miss["error"]
    assert "The nearest recorded request is tape" in miss["error"]
    assert len(upstream.received) == calls
    # A person's resend is no test's miss: the run's report does not count it.
    report = httpx.get(f"{proxy.url}/api/run", timeout=5).json()
    assert report["missing"] == []


def test_a_tape_can_be_resent(start_proxy: Callable[..., Running], upstream: FakeUpstream) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    upstream.queue(Reply(content="From the tape's request."))

    flow = post(
        proxy,
        f"/api/tapes/{parent['tape']}/resend",
        {"headers": {"Authorization": "Bearer sk-given"}},
        wait="true",
    ).json()

    assert flow["parent"] == f"tape:{parent['tape']}"
    assert flow["text"] == "From the tape's request."
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-given"
    assert "sk-given" not in json.dumps(flow["request_headers"]), flow["request_headers"]


def test_resends_are_never_held(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "all"}, timeout=5)
    upstream.queue(Reply(content="Not held."))

    flow = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()

    assert flow["state"] == "COMPLETE" and flow["hold"] is None and flow["decision"] is None


def test_resends_of_a_call_are_listed_by_parent(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    upstream.queue(Reply(content="One."), Reply(content="Two."))
    first = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()
    second = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()

    listed = httpx.get(f"{proxy.url}/api/flows", params={"parent": parent["id"]}, timeout=5)

    assert [flow["id"] for flow in listed.json()] == [second["id"], first["id"]]


def test_a_call_from_an_earlier_run_is_resent_with_the_headers_given(
    tmp_path: Path, start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    first = start_proxy()
    parent = recorded_call(first, upstream)
    first.close()
    again = start_proxy(history=tmp_path / "history.db")
    upstream.queue(Reply(content="After the restart."), Reply(content="With a key."))

    bare = post(again, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()
    assert bare["parent"] == parent["id"] and bare["text"] == "After the restart."
    # Its credentials were never written, so none went.
    assert "Authorization" not in upstream.received[-1].headers

    keyed = post(
        again,
        f"/api/flows/{parent['id']}/resend",
        {"headers": {"Authorization": "Bearer sk-later"}},
        wait="true",
    ).json()
    assert keyed["text"] == "With a key."
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-later"
    assert b"sk-later" not in (tmp_path / "history.db").read_bytes()


def test_an_anthropic_tape_is_resent_to_the_anthropic_upstream(
    start_proxy: Callable[..., Running], fake_claude: Any, upstream: FakeUpstream
) -> None:
    proxy = start_proxy(anthropic_upstream=fake_claude.url)
    client = proxy.anthropic()
    client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello, Claude"}],
    )
    [parent] = proxy.finished_flows(1)

    # A tape holds no credentials: without any, the upstream refuses.
    bare = post(proxy, f"/api/tapes/{parent['tape']}/resend", {}, wait="true").json()
    assert bare["state"] == "ERROR" and bare["status"] == 401

    flow = post(
        proxy,
        f"/api/tapes/{parent['tape']}/resend",
        {"headers": {"x-api-key": ANTHROPIC_KEY}},
        wait="true",
    ).json()

    assert flow["state"] == "COMPLETE", flow["error"]
    assert flow["path"] == "/v1/messages" and flow["text"]
    assert fake_claude.received[-1].headers["anthropic-version"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"request": [1, 2]}, "request"),
        ({"request": {"messages": [{"role": "user", "content": "x"}]}}, "request.model"),
        ({"request": {"model": "m", "messages": []}}, "request.messages"),
        ({"request": {"model": "m", "messages": ["x"]}}, "request.messages[0]"),
        (
            {"request": {"model": "m", "messages": [{"role": "user"}], "temperature": "warm"}},
            "request.temperature",
        ),
        (
            {"request": {"model": "m", "messages": [{"role": "user"}], "stream": 1}},
            "request.stream",
        ),
        ({"to": "somewhere"}, "to"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_resend_is_refused_naming_the_field(
    proxy: Running, client: openai.OpenAI, body: dict[str, Any], param: str
) -> None:
    client.chat.completions.create(**ask())
    [flow] = proxy.finished_flows(1)

    refused = post(proxy, f"/api/flows/{flow['id']}/resend", body)

    assert refused.status_code in (400, 422), refused.text
    assert refused.json()["error"]["param"] == param
    assert len(proxy.finished_flows()) == 1


def test_a_request_is_validated_as_a_resend_would_check_it(proxy: Running) -> None:
    good = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    ok = post(proxy, "/api/requests/validate", {"path": "/v1/chat/completions", "request": good})
    assert ok.status_code == 200 and ok.json() == {"ok": True}

    bad = post(
        proxy,
        "/api/requests/validate",
        {"path": "/v1/messages", "request": {"model": "claude", "messages": []}},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "request.max_tokens"

    unknown = post(proxy, "/api/requests/validate", {"path": "/v1/files", "request": good})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "path"


def test_resending_what_is_not_there_says_so(proxy: Running) -> None:
    missing = post(proxy, "/api/flows/nope-000001/resend", {})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "flow_not_found"

    no_tape = post(proxy, f"/api/tapes/{'0' * 64}/resend", {})
    assert no_tape.status_code == 404 and no_tape.json()["error"]["code"] == "tape_not_found"

    passed = httpx.get(f"{proxy.url}/v1/models", timeout=5)
    assert passed.status_code in (200, 404)
    [through] = proxy.finished_flows(1)
    refused = post(proxy, f"/api/flows/{through['id']}/resend", {})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "request_unknown"


def test_an_azure_call_is_resent_with_its_deployment_query_and_key(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    azure = openai.AzureOpenAI(
        azure_endpoint=proxy.url, api_key="azure-key-0123456789", api_version="2024-10-21"
    )
    azure.chat.completions.create(
        model="deployment-a", messages=[{"role": "user", "content": "Hello Azure"}]
    )
    [parent] = proxy.finished_flows(1)

    flow = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()

    assert flow["state"] == "COMPLETE", flow["error"]
    sent = upstream.received[-1]
    assert (sent.path, sent.query) == (
        "/openai/deployments/deployment-a/chat/completions",
        "api-version=2024-10-21",
    )
    assert sent.headers["api-key"] == "azure-key-0123456789"
