"""/api/flows and /api/runs served from the history, over real HTTP with the openai SDK.

Each test's history is a file in its tmp folder; a "restart" is a second server on that file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

ANSWER = "Hello from the fake upstream!"


def listed(running: Running, **query: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{running.url}/api/flows", params=query, timeout=10)
    assert response.status_code == 200, response.text
    flows: list[dict[str, Any]] = response.json()
    return flows


def ids(running: Running, **query: Any) -> list[str]:
    return [flow["id"] for flow in listed(running, **query)]


def runs(running: Running) -> list[dict[str, Any]]:
    response = httpx.get(f"{running.url}/api/runs", timeout=10)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_history_survives_a_restart(
    start_proxy: Callable[..., Running], tmp_path: Path, upstream: FakeUpstream
) -> None:
    first = start_proxy()
    client = first.client()
    client.chat.completions.create(**ask("Where do flamingos sleep?"))
    client.chat.completions.create(**ask("Where do flamingos sleep?"))  # from the tape
    upstream.queue(Reply(tool_calls=[("lookup_bird", '{"name": "flamingo"}')]))
    client.chat.completions.create(**ask("Look up the heron"))
    before = first.finished_flows(3)
    first_run = before[0]["run"]
    first.close()

    second = start_proxy(logs_dir=tmp_path / "logs2", history=tmp_path / "history.db")
    assert second.config.history == first.config.history
    second.client().chat.completions.create(**ask("A new question"))
    second.finished_flows(4)
    after = listed(second)
    assert [flow["id"] for flow in after[1:]] == [flow["id"] for flow in before]
    assert after[0]["run"] != first_run
    assert [flow["request"] for flow in after[1:]] == [flow["request"] for flow in before]

    # A word of a user message, of an answer, a prefix and a tool name, all from run 1.
    flamingo = [flow["id"] for flow in before if "flamingos" in str(flow["request"])]
    assert ids(second, q="flamingos") == flamingo
    assert ids(second, q="flamingos sle") == flamingo
    assert ids(second, q="flamin") == [before[0]["id"], *flamingo]  # and the tool's arguments
    answered = [f["id"] for f in after if f["response"]["choices"][0]["message"]["content"]]
    assert len(answered) == 3 and ids(second, q="fake upstream") == answered
    assert ids(second, q="lookup_bird") == [before[0]["id"]]
    assert ids(second, q="heron flamingo") == [before[0]["id"]]
    assert ids(second, q="heron sleep") == []
    detail = httpx.get(f"{second.url}/api/flows/{before[-1]['id']}", timeout=10).json()
    assert detail["request"] == ask("Where do flamingos sleep?") and detail["text"] == ANSWER

    (now, then) = runs(second)
    assert now["live"] and not then["live"] and then["id"] == first_run
    assert then["ended_at"] is not None and now["ended_at"] is None
    assert then["started_at"] < then["ended_at"] <= now["started_at"]
    assert (then["calls"], then["errors"], now["calls"]) == (3, 0, 1)
    assert (then["recorded"], then["replayed"], then["missed"]) == (2, 1, 0)
    assert then["input_tokens"] == sum(f["usage"]["input_tokens"] for f in before)
    assert then["cost"] is not None and then["cost"] > 0 and then["saved"] > 0


def test_each_filter(start_proxy: Callable[..., Running], upstream: FakeUpstream) -> None:
    proxy = start_proxy()
    client = proxy.client(max_retries=0)
    client.chat.completions.create(**ask("plain"))  # 1 upstream
    client.chat.completions.create(**ask("plain"))  # 2 tape
    upstream.queue(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    client.chat.completions.create(**ask("weather"))  # 3 tool call
    upstream.queue(Reply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask("fails"))  # 4 error
    client.chat.completions.create(**ask("other model", model="gpt-4.1"))  # 5
    scoped = openai.OpenAI(base_url=f"{proxy.url}/t/suite/v1", api_key="sk-x")
    scoped.chat.completions.create(**ask("scoped"))  # 6
    scoped.close()
    flows = proxy.finished_flows(6)
    one, two, three, four, five, six = reversed([flow["id"] for flow in flows])

    assert ids(proxy) == [six, five, four, three, two, one]
    assert ids(proxy, model="gpt-4.1") == [five]
    assert ids(proxy, source="tape") == [two]
    assert ids(proxy, state="ERROR") == [four]
    assert ids(proxy, tool="get_weather") == [three]
    assert ids(proxy, tool="get") == []
    assert ids(proxy, scope="suite") == [six]
    assert ids(proxy, run=flows[0]["run"]) == ids(proxy)
    assert ids(proxy, run="00000000") == []
    assert ids(proxy, q="weather", tool="get_weather") == [three]
    assert ids(proxy, model="gpt-4o-mini", source="upstream") == [six, four, three, one]
    started = {flow["id"]: flow["started_at"] for flow in flows}
    assert ids(proxy, since=started[three], until=started[five]) == [four, three]
    assert ids(proxy, since="2999-01-01T00:00:00Z") == []
    assert ids(proxy, q="oslo") == [three]  # the tool call's arguments
    assert ids(proxy, limit=2) == [six, five]
    bare = listed(proxy, bodies="false")
    assert all(flow["request"] is None and flow["response"] is None for flow in bare)
    assert [flow["cost"] for flow in bare if flow["source"] == "tape"] == [0.0]


def test_cursor_reaches_every_call_once(start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy()
    client = proxy.client()
    for number in range(23):
        client.chat.completions.create(**ask(f"question {number}"))
    every = ids(proxy, limit=500)
    assert len(every) == 23

    seen: list[str] = []
    url: str | None = "/api/flows?limit=5&bodies=false"
    pages = 0
    while url is not None:
        response = httpx.get(proxy.url + url, timeout=10)
        assert response.status_code == 200, response.text
        seen += [flow["id"] for flow in response.json()]
        link = response.links.get("next")
        url = link["url"] if link else None
        pages += 1
        assert pages <= 5
    assert seen == every and pages == 5

    # Filters carry over to the next page.
    response = httpx.get(f"{proxy.url}/api/flows", params={"q": "question", "limit": 20})
    assert "q=question" in response.links["next"]["url"]


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ({"limit": "5001"}, "limit", "at most 5000"),
        ({"cursor": "abc"}, "cursor", "Link header"),
        ({"since": "yesterday"}, "since", "ISO-8601"),
        ({"until": "12/31/2024"}, "until", "ISO-8601"),
        ({"source": "cache"}, "source", "tape, upstream, mock"),
    ],
)
def test_bad_query_is_422_naming_it(
    proxy: Running, query: dict[str, str], param: str, words: str
) -> None:
    response = httpx.get(f"{proxy.url}/api/flows", params=query, timeout=10)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"]


@pytest.mark.parametrize("q", ['"', "AND", "a OR (", "NEAR(x y)", "*", "col:umn", "-x", "''"])
def test_search_words_are_never_fts_syntax(proxy: Running, q: str) -> None:
    proxy.client().chat.completions.create(**ask("AND OR NEAR col:umn -x"))
    proxy.finished_flows(1)
    response = httpx.get(f"{proxy.url}/api/flows", params={"q": q}, timeout=10)
    assert response.status_code == 200, response.text


def test_calls_outlive_the_live_window_and_its_clearing(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(live_window=2)
    client = proxy.client()
    for number in range(4):
        client.chat.completions.create(**ask(f"kept {number}"))
    flows = proxy.finished_flows(4)
    oldest = flows[-1]["id"]
    detail = httpx.get(f"{proxy.url}/api/flows/{oldest}", timeout=10)
    assert detail.status_code == 200 and detail.json()["request"] == ask("kept 0")
    assert detail.json()["chunks"] and detail.json()["history"]

    person = proxy.person()
    assert httpx.delete(f"{proxy.url}/api/flows", timeout=10).json() == {"dropped": 2}
    snapshot = person.wait(lambda message: message["type"] == "snapshot" and not message["flows"])
    assert snapshot["flows"] == []
    assert ids(proxy) == [flow["id"] for flow in flows]
    missing = httpx.get(f"{proxy.url}/api/flows/{flows[0]['run']}-999999", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "flow_not_found"


def test_history_off_lists_and_searches_the_live_window(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(history=None)
    client = proxy.client()
    client.chat.completions.create(**ask("Penguins huddle"))
    upstream.queue(Reply(tool_calls=[("count_birds", "{}")]))
    client.chat.completions.create(**ask("Count them"))
    newest, oldest = (flow["id"] for flow in proxy.finished_flows(2))
    assert ids(proxy, q="penguins") == [oldest]
    assert ids(proxy, q="fake upstream") == [oldest]
    assert ids(proxy, tool="count_birds") == [newest]
    first = httpx.get(f"{proxy.url}/api/flows", params={"limit": 1}, timeout=10)
    assert [flow["id"] for flow in first.json()] == [newest]
    second = httpx.get(proxy.url + first.links["next"]["url"], timeout=10)
    assert [flow["id"] for flow in second.json()] == [oldest] and "next" not in second.links
    (run,) = runs(proxy)
    assert run["live"] and run["calls"] == 2 and run["recorded"] == 2
    assert run["kind"] == "server" and run["ended_at"] is None


def test_a_call_in_flight_is_listed_first_then_from_the_history(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    client = proxy.client()
    client.chat.completions.create(**ask("done"))
    upstream.queue(Reply(delay=0.2, piece=2))
    stream = client.chat.completions.create(stream=True, **ask("streaming slowly"))
    next(iter(stream))
    deadline = time.monotonic() + 10
    while (flows := listed(proxy))[0]["state"] != "STREAMING":
        assert time.monotonic() < deadline, flows
    assert [flow["state"] for flow in flows] == ["STREAMING", "COMPLETE"]
    assert listed(proxy, state="STREAMING")[0]["id"] == flows[0]["id"]
    assert listed(proxy, q="slowly")[0]["id"] == flows[0]["id"]
    for _ in stream:
        pass
    done = proxy.finished_flows(2)
    assert [flow["id"] for flow in done] == [flow["id"] for flow in flows]
