"""Keeping a resend's answer as a tape, and recording a replay-only miss on the spot: over HTTP
to a real playingpack, replayed through the official SDK, read back with the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from playingpack.config import PauseMode, RecordMode
from tests.conftest import Running, ask, run_cli
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_resend import post, recorded_call, snapshot


def tape_file(proxy: Running, key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((proxy.tapes_dir / f"{key}.json").read_text())
    return document


def edited_resend(proxy: Running, parent: dict[str, Any], text: str) -> dict[str, Any]:
    request = {**parent["request"], "messages": [{"role": "user", "content": text}]}
    flow: dict[str, Any] = post(
        proxy, f"/api/flows/{parent['id']}/resend", {"request": request}, wait="true"
    ).json()
    assert flow["state"] == "COMPLETE", flow["error"]
    return flow


def test_keep_for_the_parent_makes_its_replay_return_the_kept_answer(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream, "What is the capital of France?")
    upstream.queue(Reply(content="Paris, of course."))
    resend = edited_resend(proxy, parent, "What is the capital of France? Be brief.")
    before = snapshot(proxy.tapes_dir)

    kept = post(proxy, f"/api/flows/{resend['id']}/keep", {"for": "parent"})

    assert kept.status_code == 200, kept.text
    row = kept.json()
    assert row["key"] == parent["tape"] and row["origin"] == "edited"
    assert row["parent"] == parent["tape"] and row["kept"]
    after = snapshot(proxy.tapes_dir)
    assert set(after) == set(before) and after != before
    document = tape_file(proxy, parent["tape"])
    assert document["meta"]["origin"] == "edited"
    assert document["meta"]["parent"] == parent["tape"]
    assert document["meta"]["kept"] == row["kept"]
    # The tape is still the parent's request: the original call replays the kept answer.
    assert document["request"]["body"] == parent["request"]
    calls = len(upstream.received)
    answer = proxy.client().chat.completions.create(**ask("What is the capital of France?"))
    assert answer.choices[0].message.content == "Paris, of course."
    assert len(upstream.received) == calls
    # A reviewer sees it was hand-picked.
    shown = run_cli(
        "tapes", "show", parent["tape"], "--tapes-dir", str(proxy.tapes_dir), cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "origin    edited: from an edited request, kept by a person at" in shown.stdout
    listed = run_cli("tapes", "list", "--tapes-dir", str(proxy.tapes_dir), cwd=tmp_path)
    assert "[edited] What is the capital of France?" in listed.stdout


def test_keep_for_its_own_request_adds_the_edited_requests_tape(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    upstream.queue(Reply(content="Edited answer."))
    resend = edited_resend(proxy, parent, "Hi there")

    kept = post(proxy, f"/api/flows/{resend['id']}/keep", {"for": "own"}).json()

    assert kept["key"] == resend["tape"] != parent["tape"]
    assert kept["origin"] == "edited" and kept["parent"] == parent["tape"]
    listed = httpx.get(f"{proxy.url}/api/tapes", timeout=5).json()
    origins = {tape["key"]: tape["origin"] for tape in listed}
    assert origins == {parent["tape"]: "recorded", resend["tape"]: "edited"}
    answer = proxy.client().chat.completions.create(**ask("Hi there"))
    assert answer.choices[0].message.content == "Edited answer."


def test_an_unedited_resend_kept_is_resent(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    upstream.queue(Reply(content="A better answer."))
    resend = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()

    kept = post(proxy, f"/api/flows/{resend['id']}/keep", {"for": "parent"}).json()

    assert kept["origin"] == "resent"
    streamed = proxy.client().chat.completions.create(**ask("Hi"), stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text == "A better answer."


def test_a_mock_kept_is_a_mock(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, agent: Any
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    call = agent.submit(proxy.client().chat.completions.create, **ask("Mock me"))
    held = person.held()
    person.decide(held["id"], action="mock", mock={"content": "Mocked."})
    assert call.result(timeout=10).choices[0].message.content == "Mocked."
    proxy.finished_flows(1)

    kept = post(proxy, f"/api/flows/{held['id']}/keep", {"for": "own"}).json()

    assert kept["origin"] == "mock" and kept["parent"] is None
    assert tape_file(proxy, kept["key"])["meta"]["origin"] == "mock"


def test_a_replay_only_miss_is_recorded_on_the_spot(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(record=RecordMode.REPLAY_ONLY)
    client = proxy.client(max_retries=0)
    with pytest.raises(Exception, match="No tape"):
        client.chat.completions.create(**ask("Record me"))
    [miss] = proxy.finished_flows(1)
    assert miss["status"] == 404 and not proxy.tapes()
    upstream.queue(Reply(content="Recorded now."))

    recorded = post(proxy, f"/api/flows/{miss['id']}/record", wait="true").json()

    assert recorded["state"] == "COMPLETE" and recorded["resend"] == "record"
    assert recorded["parent"] == miss["id"]
    [path] = proxy.tapes()
    assert path.name == f"{miss['tape']}.json"
    assert json.loads(path.read_text())["meta"]["origin"] == "recorded"
    answer = client.chat.completions.create(**ask("Record me"))
    assert answer.choices[0].message.content == "Recorded now."


def test_what_cannot_be_kept_says_why(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)
    no_parent = post(proxy, f"/api/flows/{parent['id']}/keep", {"for": "parent"})
    assert no_parent.status_code == 409 and no_parent.json()["error"]["code"] == "no_parent"

    upstream.queue(Reply(status=500, error_body={"error": {"message": "boom"}}))
    failed = post(proxy, f"/api/flows/{parent['id']}/resend", {}, wait="true").json()
    assert failed["state"] == "ERROR"
    refused = post(proxy, f"/api/flows/{failed['id']}/keep", {"for": "parent"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "answer_unusable"

    bad = post(proxy, f"/api/flows/{parent['id']}/keep", {"for": "everyone"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "for"

    upstream.queue(Reply(content="Slow.", first_delay=0.5))
    pending = post(proxy, f"/api/flows/{parent['id']}/resend", {}).json()
    early = post(proxy, f"/api/flows/{pending['id']}/keep", {"for": "parent"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "flow_not_finished"


def test_a_resend_from_an_earlier_run_is_kept_from_the_history(
    tmp_path: Path, start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    first = start_proxy()
    parent = recorded_call(first, upstream)
    upstream.queue(Reply(content="Kept after a restart."))
    resend = edited_resend(first, parent, "Again")
    first.close()
    again = start_proxy(history=tmp_path / "history.db", record=RecordMode.REPLAY_ONLY)

    kept = post(again, f"/api/flows/{resend['id']}/keep", {"for": "parent"})

    assert kept.status_code == 200, kept.text
    answer = again.client().chat.completions.create(**ask("Hi"))
    assert answer.choices[0].message.content == "Kept after a restart."
