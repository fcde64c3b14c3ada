"""The dashboard's views of the history in a real browser (Debian's Chromium, driven by
Playwright): the Thread view, the Timeline, the run picker, search and cost, against a real
playingpack whose calls come from the openai SDK running a tool-calling agent loop.

A failing test leaves a screenshot in test-results/ (see conftest.py). Set
PLAYINGPACK_SCREENSHOTS to a folder to keep a screenshot of the Thread view and the Timeline there.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import (
    ChatCompletionMessage,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)
from playwright.sync_api import Locator, Page, expect

from playingpack.config import RecordMode
from tests import test_dashboard_ui as ui
from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

# The dashboard's search reads this many calls a page.
PAGE_SIZE = 200
SYSTEM = "You are a concise travel assistant. Use the tools for facts; never guess the weather."
WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The forecast for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "day": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FORECAST = {"city": "Paris", "day": "tomorrow", "temp_c": 14, "conditions": "light rain"}
PRICED = "gpt-4o-mini"
UNPRICED = "acme-local-7b"

# The fixtures and helpers of the other browser tests: one Chromium per module.
playwright = ui.playwright
browser = ui.browser
open_page = ui.open_page
pool = ui.pool
api = ui.api


@dataclass
class Loop:
    """What an agent loop did: the calls' answers' texts and the tool call ids, in order."""

    answer: str
    tool_call_ids: list[str]


def run_agent(
    client: openai.OpenAI,
    question: str,
    *,
    model: str = PRICED,
    stream: bool = False,
    max_steps: int = 4,
) -> Loop:
    """A tool-calling agent loop as people write it with the SDK: ask, run each tool the model
    calls, send the results back, until the model answers without tools."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": question},
    ]
    ids: list[str] = []
    for _ in range(max_steps):
        message: ChatCompletionMessage
        if stream:
            with client.chat.completions.stream(
                model=model,
                messages=messages,
                tools=[WEATHER_TOOL],
                stream_options={"include_usage": True},
            ) as events:
                message = events.get_final_completion().choices[0].message
        else:
            answer = client.chat.completions.create(
                model=model, messages=messages, tools=[WEATHER_TOOL]
            )
            message = answer.choices[0].message
        if not message.tool_calls:
            return Loop(message.content or "", ids)
        messages.append(message.model_dump(exclude_none=True))  # type: ignore[arg-type]
        for call in message.tool_calls:
            ids.append(call.id)
            arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
            result = {**FORECAST, "city": arguments.get("city", "?")}
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    raise AssertionError(f"the agent did not answer within {max_steps} steps")


def weather_round_trip(upstream: FakeUpstream, city: str = "Paris", **reply: Any) -> None:
    """Queue the fake model's answers for one tool round trip: a tool call, then the answer."""
    upstream.queue(
        Reply(
            content=None,
            tool_calls=[("get_weather", json.dumps({"city": city, "day": "tomorrow"}))],
            **reply,
        ),
        Reply(
            content=f"Tomorrow in {city}: 14 °C with light rain. Yes, pack an umbrella.",
            **reply,
        ),
    )


def settled_flows(running: Running, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The server's own run's calls, newest first, once there are ``count`` and all ended."""
    (run,) = [run["id"] for run in api(running, "/api/runs") if run["live"]]
    deadline = time.monotonic() + timeout
    while True:
        flows: list[dict[str, Any]] = api(running, f"/api/flows?run={run}&bodies=false")
        if len(flows) == count and all(flow["state"] in ("COMPLETE", "ERROR") for flow in flows):
            return flows
        if time.monotonic() > deadline:
            states = [flow["state"] for flow in flows]
            raise AssertionError(f"not {count} ended calls within {timeout} s: {states}")
        time.sleep(0.02)


def shoot(page: Page, name: str) -> None:
    """Keep a screenshot of the page when PLAYINGPACK_SCREENSHOTS names a folder."""
    folder = os.environ.get("PLAYINGPACK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(folder) / f"{name}.png")


def conversation(page: Page) -> Locator:
    return page.get_by_role("list", name="Conversation").locator(":scope > li")


def thread_step(page: Page, flow_id: str) -> Locator:
    return page.locator(f'[data-testid="thread-step"][data-flow-id="{flow_id}"]')


# --- the Thread view ---------------------------------------------------------------------------


def test_thread_view_reads_an_agent_loop_as_the_conversation(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    # The live window keeps only the last call: the first step is only in the history.
    proxy = start_proxy(live_window=1)
    question = "What is the weather in Paris tomorrow, and do I need an umbrella?"
    weather_round_trip(upstream)
    loop = run_agent(proxy.client(max_retries=0), question)
    second, first = settled_flows(proxy, 2)
    page = open_page(proxy)
    # The list shows both: the first comes from the history, past the end of the live window.
    expect(page.get_by_test_id("flow-row")).to_have_count(2)
    expect(page.get_by_test_id("flow-row").last).to_have_attribute("data-flow-id", first["id"])
    page.get_by_test_id("view-threads").click()

    thread_row = page.get_by_test_id("thread-row")
    expect(thread_row).to_have_count(1)
    expect(thread_row).to_contain_text(question)
    expect(thread_row).to_contain_text("get_weather")

    items = conversation(page)
    expect(items).to_have_count(5)
    # In order: the system prompt (collapsed), the question, the model's tool call, the tool's
    # result naming that call, the model's answer.
    expect(items.nth(0)).to_contain_text("System prompt")
    expect(items.nth(0).get_by_text(SYSTEM)).to_be_hidden()
    expect(items.nth(1)).to_have_text(re.compile(re.escape(question)))
    step_one = thread_step(page, first["id"])
    expect(items.nth(2)).to_have_attribute("data-flow-id", first["id"])
    expect(step_one.get_by_test_id("tool-call")).to_contain_text("get_weather")
    expect(step_one.get_by_test_id("tool-call")).to_contain_text('"city": "Paris"')  # pretty
    result = items.nth(3)
    expect(result).to_have_attribute("data-testid", "tool-result")
    expect(result).to_have_accessible_name("Result of get_weather")
    expect(result).to_contain_text(loop.tool_call_ids[0])
    expect(result).to_contain_text('"conditions": "light rain"')
    expect(items.nth(4)).to_have_attribute("data-flow-id", second["id"])
    expect(items.nth(4)).to_contain_text(loop.answer)

    # Each step shows its model, tokens, cost, latency and source.
    for step in (step_one, thread_step(page, second["id"])):
        expect(step).to_contain_text(PRICED)
        expect(step).to_contain_text("tokens")
        expect(step.locator(".step-cost")).to_have_text(re.compile(r"^\$\d"))
        expect(step).to_contain_text(re.compile(r"\d+ ms"))
        expect(step.locator(".badge")).to_have_text("upstream")

    shoot(page, "thread-view")
    items.nth(0).get_by_text("System prompt").click()
    expect(items.nth(0).get_by_text(SYSTEM)).to_be_visible()

    # A step links to its call: the Calls view with it selected and its detail loaded, though
    # the live window no longer has it.
    step_one.get_by_role("button", name="Open call").click()
    expect(page.get_by_test_id("view-calls")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("detail")).to_have_attribute("data-flow-id", first["id"])
    expect(page.get_by_test_id("detail-tool-calls")).to_contain_text("get_weather")


def test_cost_shows_in_dollars_and_as_a_dash_for_a_model_without_a_price(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="Lisbon is sunny."), Reply(content="Oslo is cold."))
    run_agent(client, "Weather in Lisbon?", model=PRICED)
    run_agent(client, "Weather in Oslo?", model=UNPRICED)
    settled_flows(proxy, 2)
    page = open_page(proxy)
    page.get_by_test_id("view-threads").click()

    rows = page.get_by_test_id("thread-row")
    expect(rows).to_have_count(2)
    priced = rows.filter(has_text="Lisbon")
    unpriced = rows.filter(has_text="Oslo")
    expect(priced).to_contain_text(re.compile(r"\$\d"))
    expect(unpriced).to_contain_text("—")
    expect(unpriced).not_to_contain_text("$")

    unpriced.click()
    expect(page.get_by_test_id("thread-step").locator(".step-cost")).to_have_text("—")
    priced.click()
    expect(page.get_by_test_id("thread-step").locator(".step-cost")).to_have_text(
        re.compile(r"^\$\d")
    )

    # The run's cost counts the priced call and says one call had no price.
    run_cost = page.get_by_test_id("run-cost").locator("dd")
    expect(run_cost).to_have_text(re.compile(r"^\$\d[\d.]* \+1 unpriced$"))
    expect(page.get_by_test_id("run-saved")).to_contain_text("saved by tapes")


# --- search ------------------------------------------------------------------------------------


def test_search_finds_the_words_of_a_user_message(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="Bring a blanket."), Reply(content="Take the metro."))
    run_agent(client, "Plan a picnic by the Saône in Lyon")
    run_agent(client, "How do I get to the Louvre?")
    louvre, picnic = settled_flows(proxy, 2)
    page = open_page(proxy)
    rows = page.get_by_test_id("flow-row")
    expect(rows).to_have_count(2)
    # The word is in no column of the list: only the request's message has it.
    expect(page.get_by_role("listbox", name="Calls, newest first")).not_to_contain_text("picnic")

    page.get_by_label("Filter calls").fill("picnic")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-flow-id", picnic["id"])
    page.get_by_label("Filter calls").fill("louvre metro")  # all words, in the request or answer
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-flow-id", louvre["id"])
    page.get_by_label("Filter calls").fill("")
    expect(rows).to_have_count(2)


def test_search_results_load_page_after_page_as_the_list_scrolls(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy(record=RecordMode.OFF)
    client = proxy.client(max_retries=0)
    calls = PAGE_SIZE + 30
    for number in range(calls):
        client.chat.completions.create(**ask(f"haystack question {number}"))
    settled_flows(proxy, calls)
    page = open_page(proxy)
    foot = page.locator(".flow-list .list-foot")
    expect(foot).to_have_text(f"{calls} calls")

    page.get_by_label("Filter calls").fill("haystack")
    expect(foot).to_have_text(f"{PAGE_SIZE} of {calls} calls")  # the first page
    listbox = page.get_by_role("listbox", name="Calls, newest first")
    listbox.evaluate("list => list.scrollTo(0, list.scrollHeight)")
    expect(foot).to_have_text(f"{calls} calls")
    expect(page.get_by_test_id("flow-row").last).to_contain_text("POST")


def test_the_live_list_goes_on_with_older_calls_from_the_history_at_its_end(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy(record=RecordMode.OFF, live_window=20)
    client = proxy.client(max_retries=0)
    calls = 90
    for number in range(calls):
        client.chat.completions.create(**ask(f"question number {number}"))
    listed = settled_flows(proxy, calls)
    page = open_page(proxy)
    listbox = page.get_by_role("listbox", name="Calls, newest first")
    rows = page.get_by_test_id("flow-row")
    # The server keeps 20 in memory; the end of the list brings the other 70 from the history.
    expect(rows.first).to_have_attribute("data-flow-id", listed[0]["id"])
    listbox.evaluate("list => list.scrollTo(0, list.scrollHeight)")
    expect(page.locator(".flow-list .list-foot")).to_have_text(f"{calls} calls")
    listbox.evaluate("list => list.scrollTo(0, list.scrollHeight)")
    expect(rows.last).to_have_attribute("data-flow-id", listed[-1]["id"])
    rows.last.click()
    page.get_by_role("tab", name="Request").click()
    expect(page.get_by_test_id("detail")).to_contain_text("question number 0")


# --- runs --------------------------------------------------------------------------------------


def test_a_past_run_is_in_the_picker_after_a_restart_with_its_calls_and_thread(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    first = start_proxy()
    weather_round_trip(upstream, "Kyoto")
    run_agent(first.client(max_retries=0), "Will it rain in Kyoto tomorrow?")
    past_calls = {flow["id"] for flow in settled_flows(first, 2)}
    first.close()

    second = start_proxy(history=first.config.history)
    upstream.queue(Reply(content="Hello again."))
    run_agent(second.client(max_retries=0), "Hello?")
    settled_flows(second, 1)
    page = open_page(second)
    rows = page.get_by_test_id("flow-row")
    expect(rows).to_have_count(1)

    picker = page.get_by_label("Run", exact=True)
    options = picker.locator("option")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("Live")  # the live run first, and picked
    expect(picker).to_have_value("")
    past = options.nth(1)
    expect(past).to_contain_text("2 calls")
    picker.select_option(past.get_attribute("value"))

    expect(page.get_by_text("past run · read-only")).to_be_visible()
    expect(rows).to_have_count(2)
    assert {rows.nth(n).get_attribute("data-flow-id") for n in range(2)} == past_calls
    rows.first.click()
    expect(page.get_by_test_id("detail")).to_contain_text("Kyoto")

    page.get_by_test_id("view-threads").click()
    expect(page.get_by_test_id("thread-row")).to_have_count(1)
    expect(page.get_by_test_id("thread-row")).to_contain_text("Will it rain in Kyoto tomorrow?")
    expect(page.get_by_test_id("tool-result")).to_have_accessible_name("Result of get_weather")

    page.get_by_test_id("view-timeline").click()
    expect(page.get_by_test_id("timeline-bar")).to_have_count(2)

    page.get_by_role("button", name="Back to live").click()
    expect(picker).to_have_value("")
    expect(page.get_by_test_id("timeline-bar")).to_have_count(1)
    page.get_by_test_id("view-threads").click()
    expect(page.get_by_test_id("thread-row")).to_have_count(1)
    expect(page.get_by_test_id("thread-row")).to_contain_text("Hello?")
    page.get_by_test_id("view-calls").click()
    expect(rows).to_have_count(1)


# --- the Timeline ------------------------------------------------------------------------------


def test_timeline_has_a_bar_per_call_side_by_side_when_parallel_and_a_click_opens_it(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
    pool: ThreadPoolExecutor,
) -> None:
    # Two agents at once: both first calls wait on the model together.
    upstream.queue(
        *[Reply(content=None, tool_calls=[("get_weather", '{"city": "Rome"}')], first_delay=0.4)]
        * 2,
        *[Reply(content="Rome: 20 °C and sunny.", delay=0.01)] * 2,
    )
    agents = [
        pool.submit(run_agent, proxy.client(max_retries=0), f"Rome, day {day}?", stream=True)
        for day in (1, 2)
    ]
    for agent in agents:
        agent.result(timeout=10)
    flows = settled_flows(proxy, 4)
    page = open_page(proxy)
    page.get_by_test_id("view-timeline").click()

    bars = page.get_by_test_id("timeline-bar")
    expect(bars).to_have_count(4)
    oldest_first = sorted(flows, key=lambda flow: (flow["started_at"], flow["id"]))
    assert [bars.nth(n).get_attribute("data-flow-id") for n in range(4)] == [
        flow["id"] for flow in oldest_first
    ]
    for flow in flows:
        assert flow["phases"] is not None
    # The two first calls ran at once: their bars overlap in time, one row apart.
    one, two = (bars.nth(n).bounding_box() for n in range(2))
    assert one is not None and two is not None
    assert one["x"] < two["x"] + two["width"] and two["x"] < one["x"] + one["width"]
    assert two["y"] > one["y"]
    expect(page.get_by_role("list", name="Legend")).to_contain_text("first byte")

    bars.nth(0).hover()
    tip = page.get_by_role("tooltip")
    expect(tip).to_contain_text(PRICED)
    expect(tip).to_contain_text(oldest_first[0]["id"])
    expect(tip).to_contain_text("first byte")
    expect(tip).to_contain_text(re.compile(r"cost\s*\$\d"))
    shoot(page, "timeline")

    bars.nth(3).click()
    expect(page.get_by_test_id("view-calls")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("detail")).to_have_attribute("data-flow-id", oldest_first[3]["id"])
