"""The dashboard as a new user tries it, in Chromium (Playwright) against a real playingpack
with the openai SDK as the agent: held cards with their context, a readable tape view, the time
spent in each state, model and tool names that fit, a layout that stacks on a narrow window, a
list that stays smooth with thousands of calls, and the cost of each call.

Set PLAYINGPACK_SCREENSHOTS to a folder to keep a screenshot of each view there.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect

from playingpack.config import PauseMode
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_dashboard_ui import (  # noqa: F401  (fixtures)
    HOLD_TIMEOUT,
    WEATHER_ARGS,
    WEATHER_TOOL,
    api,
    browser,
    open_page,
    playwright,
    pool,
    row,
    wait_until,
    weather_call,
)

CLAUDE = "claude-sonnet-4-5-20250929"
LONG_TOOL = "lookup_customer_order_history"
ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": LONG_TOOL,
        "parameters": {"type": "object", "properties": {"customer": {"type": "string"}}},
    },
}
TRIP = (
    "Plan a three-day trip to Lisbon for two people in late May with a budget of 900 euros: "
    "where to stay near Alfama, which museums need a booking, and a day trip to Sintra."
)


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot of the page when PLAYINGPACK_SCREENSHOTS names a folder."""
    folder = os.environ.get("PLAYINGPACK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(folder) / f"{name}.png", full_page=full_page)


def calls_list(page: Page) -> Locator:
    return page.get_by_role("listbox", name="Calls, newest first")


def assert_whole(element: Locator, what: str) -> None:
    """``element``'s text is shown whole: nothing cut off by an ellipsis."""
    needed, shown = element.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert needed <= shown, f"{what} is cut: {needed} px wide in {shown} px"


# --- held cards --------------------------------------------------------------------------------


def test_held_cards_show_the_user_message_the_time_and_the_id_newest_first(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
    pool: ThreadPoolExecutor,  # noqa: F811
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL, hold_timeout=HOLD_TIMEOUT)
    page = open_page(proxy)
    client = proxy.client(max_retries=0)
    upstream.queue(
        Reply(content="Day one: Alfama and the castle. Day two: Belém. Day three: Sintra."),
        Reply(content="Oslo."),
    )
    trip = pool.submit(lambda: client.chat.completions.create(**ask(TRIP)))
    wait_until(lambda: len(upstream.received) == 1, "the first request upstream")
    capital = pool.submit(
        lambda: client.chat.completions.create(**ask("What is the capital of Norway?"))
    )
    cards = page.get_by_test_id("held-call")
    expect(cards).to_have_count(2)
    newer, older = (flow["id"] for flow in api(proxy, "/api/flows?bodies=false"))

    # In the list's order: the latest call first, in the cards as in the rows.
    assert [cards.nth(n).get_attribute("data-flow-id") for n in range(2)] == [newer, older]
    assert [row(page).nth(n).get_attribute("data-flow-id") for n in range(2)] == [newer, older]
    first = page.get_by_role("listitem", name=f"Held call {newer}")
    expect(first).to_contain_text("What is the capital of Norway?")
    expect(first).to_contain_text(newer)
    expect(first).to_contain_text(re.compile(r"held at \d\d:\d\d:\d\d"))
    second = page.get_by_role("listitem", name=f"Held call {older}")
    expect(second).to_contain_text(older)
    message = second.locator("q")
    expect(message).to_contain_text("Plan a three-day trip to Lisbon")
    expect(message).to_have_attribute("title", TRIP)  # shortened on the card, whole on hover
    assert (message.text_content() or "").endswith("…")
    shoot(page, "h4-held")

    second.get_by_role("button", name="Allow").click()
    assert "Sintra" in (trip.result(timeout=10).choices[0].message.content or "")
    first.get_by_role("button", name="Allow").click()
    assert capital.result(timeout=10).choices[0].message.content == "Oslo."
    expect(cards).to_have_count(0)


# --- the tape view -----------------------------------------------------------------------------


def test_tape_detail_reads_as_the_conversation_and_its_answer_beside_the_raw_json(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content=None, tool_calls=[("get_weather", WEATHER_ARGS)]))
    weather_call(client, stream=True)
    upstream.queue(Reply(content="Lyon sits where the Rhône meets the Saône."))
    client.chat.completions.create(**ask("tell me about Lyon"))
    page = open_page(proxy)
    page.get_by_role("button", name="Tapes", exact=True).click()
    tapes = page.get_by_role("listbox", name="Tapes, newest first")
    expect(tapes.get_by_role("option")).to_have_count(2)

    tapes.get_by_role("option").filter(has_text="get_weather").click()
    tape = page.get_by_role("region", name="Tape", exact=True)
    expect(tape.get_by_role("button", name="Readable")).to_have_attribute("aria-pressed", "true")
    request = tape.get_by_role("region", name="Request", exact=True)
    expect(request).to_contain_text("user")
    expect(request).to_contain_text("weather in Paris?")
    answer = tape.get_by_role("region", name="Answer", exact=True)
    expect(answer).to_contain_text("get_weather")
    expect(answer).to_contain_text('"city": "Paris"')  # the arguments, pretty-printed
    expect(answer).to_contain_text("the answer is tool calls")
    expect(tape).to_contain_text("gpt-4o-mini")
    expect(tape).to_contain_text("stream")
    shoot(page, "h4-tape")

    tape.get_by_role("button", name="Raw JSON").click()
    raw = tape.get_by_label("Tape JSON")
    expect(raw).to_contain_text('"meta"')
    expect(raw).to_contain_text('"chunks"')
    expect(tape.get_by_role("region", name="Answer", exact=True)).to_have_count(0)

    tapes.get_by_role("option").filter(has_text="json").click()
    answer = page.get_by_role("region", name="Tape", exact=True).get_by_role(
        "region", name="Answer", exact=True
    )
    expect(answer).to_contain_text("Lyon sits where the Rhône meets the Saône.")


# --- state chips -------------------------------------------------------------------------------


def chip_ms(text: str) -> float:
    """The time a state chip shows, in ms ("12.5 ms", "340 ms", "1.25 s")."""
    found = re.search(r"([\d.]+) (ms|s)\b", text)
    assert found, text
    value = float(found.group(1))
    return value * 1000 if found.group(2) == "s" else value


def test_state_chips_show_the_time_spent_in_each_state(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    # The model thinks for 400 ms, then streams for about 300 ms.
    upstream.queue(Reply(content="Pack light, it is warm in Lisbon.", first_delay=0.4, delay=0.03))
    client = proxy.client(max_retries=0)
    "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(stream=True, **ask("what to pack?"))
        if chunk.choices
    )
    (flow,) = api(proxy, "/api/flows?bodies=false")
    detail = api(proxy, f"/api/flows/{flow['id']}")
    history = detail["history"]
    page = open_page(proxy)
    row(page).click()
    chips = page.get_by_role("list", name="Time in each state").get_by_role("listitem")
    expect(chips).to_have_count(len(history))

    spans = [after["ms"] - entry["ms"] for entry, after in itertools.pairwise(history)]
    for index, span in enumerate(spans):
        text = chips.nth(index).inner_text()
        assert text.startswith(history[index]["state"]), text
        assert abs(chip_ms(text) - span) <= max(1.0, span * 0.01), (text, span)
    # Streaming began early on and took the model's 400 ms and more: its chip says so.
    streaming = next(n for n, entry in enumerate(history) if entry["state"] == "STREAMING")
    assert history[streaming]["ms"] < 400 <= chip_ms(chips.nth(streaming).inner_text())
    final = chips.nth(len(history) - 1)
    expect(final).to_contain_text("COMPLETE")
    expect(final).to_contain_text("total")
    assert abs(chip_ms(final.inner_text()) - detail["duration_ms"]) <= 1
    shoot(page, "h4-states")


# --- names at 1280 px, stacking at 800 px ------------------------------------------------------


def some_calls(proxy: Running, upstream: FakeUpstream) -> str:
    """A few calls like an agent's, one of them by a Claude model calling a long-named tool;
    that one's id."""
    client = proxy.client(max_retries=0)
    upstream.queue(
        Reply(content="Your order ships on Monday."),
        Reply(content=None, tool_calls=[(LONG_TOOL, '{"customer": "c-1042"}')]),
        Reply(content=None, tool_calls=[("get_weather", WEATHER_ARGS)]),
    )
    client.chat.completions.create(**ask("When does my order ship?"))
    client.chat.completions.create(
        **{**ask("What did customer c-1042 order?", tools=[ORDER_TOOL]), "model": CLAUDE}
    )
    claude = api(proxy, "/api/flows?bodies=false")[0]["id"]
    weather_call(client, stream=True)
    client.chat.completions.create(**ask("When does my order ship?"))  # from its tape
    return str(claude)


def test_model_and_tool_names_are_not_clipped_at_1280(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    claude = some_calls(proxy, upstream)
    page = open_page(proxy, width=1280, height=800)
    line = row(page, claude)
    line.click()
    model = line.get_by_text(CLAUDE, exact=True)
    tool = line.get_by_text(LONG_TOOL, exact=True)
    expect(model).to_be_visible()
    expect(tool).to_be_visible()
    assert_whole(model, "the model id")
    assert_whole(tool, "the tool name")
    box, detail = line.bounding_box(), page.get_by_test_id("detail").bounding_box()
    assert box is not None and detail is not None
    assert box["x"] + box["width"] <= detail["x"] + 1, "the list runs under the detail"
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    shoot(page, "h4-list-1280")


def test_at_800_px_the_layout_stacks_and_nothing_is_cut_off(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    claude = some_calls(proxy, upstream)
    page = open_page(proxy, width=800, height=900)
    row(page, claude).click()
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "sideways scroll"

    # The header and the settings wrap within the window.
    controls = page.get_by_role("banner").get_by_role("button").all()
    controls += [page.get_by_test_id("record-mode"), page.get_by_test_id("pause-mode")]
    for control in controls:
        box = control.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["x"] >= 0 and box["x"] + box["width"] <= 800 + 0.5, control

    # The list above the detail, each as wide as the window.
    listed, detail = calls_list(page).bounding_box(), page.get_by_test_id("detail").bounding_box()
    assert listed is not None and detail is not None
    assert detail["y"] >= listed["y"] + listed["height"] - 1, "the detail is not below the list"
    assert listed["width"] > 700 and detail["width"] > 700
    model = row(page, claude).get_by_text(CLAUDE, exact=True)
    assert_whole(model, "the model id")

    # Everything is reachable: the detail's tabs and their content, down the page.
    page.get_by_role("tab", name="Request").click()
    expect(page.get_by_test_id("detail")).to_contain_text("What did customer c-1042 order?")
    page.get_by_role("tab", name="Answer").click()
    expect(page.get_by_test_id("detail-tool-calls")).to_be_in_viewport()
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    shoot(page, "h4-800", full_page=True)

    page.get_by_role("button", name="Tapes", exact=True).click()
    expect(
        page.get_by_role("listbox", name="Tapes, newest first").get_by_role("option")
    ).to_have_count(3)
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")


# --- thousands of calls ------------------------------------------------------------------------


def test_the_list_of_thousands_of_calls_renders_a_screenful_and_reaches_the_last(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    calls = 1500
    proxy = start_proxy(live_window=calls)
    body = ask("Summarise the ticket in one line.")
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=proxy.base_url, headers=headers, timeout=10) as client:
        for _ in range(calls):  # the first from the upstream, the rest from its tape
            client.post("/chat/completions", json=body).raise_for_status()
    flows = api(proxy, f"/api/flows?bodies=false&limit={calls}")
    assert len(flows) == calls
    page = open_page(proxy, width=1280, height=800)
    listbox = calls_list(page)
    expect(listbox.get_by_role("option").first).to_have_attribute("data-flow-id", flows[0]["id"])
    # The page keeps every call of the server's live window.
    expect(page.get_by_text(re.compile(r"^[\d,]+ calls$"))).to_have_text(f"{calls:,} calls")
    shown = calls
    rendered = listbox.get_by_role("option").count()
    assert 20 <= rendered <= 100, f"{rendered} rows in the page for {shown} calls"

    listbox.evaluate("element => { element.scrollTop = element.scrollHeight; }")
    last = listbox.get_by_role("option").last
    expect(last).to_have_attribute("aria-posinset", str(shown))
    oldest = flows[shown - 1]["id"]
    expect(last).to_have_attribute("data-flow-id", oldest)
    last.click()
    expect(last).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("detail")).to_have_attribute("data-flow-id", oldest)
    assert listbox.get_by_role("option").count() <= 100

    page.keyboard.press("k")
    expect(page.get_by_test_id("detail")).to_have_attribute("data-flow-id", flows[shown - 2]["id"])

    # Back at the top, j walks down past the first screen and the selection stays in view.
    listbox.evaluate("element => { element.scrollTop = 0; }")
    listbox.get_by_role("option").first.click()
    for _ in range(45):
        page.keyboard.press("j")
    selected = listbox.get_by_role("option", selected=True)
    expect(selected).to_have_attribute("data-flow-id", flows[45]["id"])
    expect(selected).to_be_in_viewport()
    shoot(page, "h4-many")


# --- cost --------------------------------------------------------------------------------------


def test_each_call_shows_its_cost_and_a_tape_what_it_saved(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],  # noqa: F811
) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="Priced."), Reply(content="Not priced."))
    client.chat.completions.create(**ask("a priced model"))
    client.chat.completions.create(**{**ask("a model of our own"), "model": "acme-local-7b"})
    client.chat.completions.create(**ask("a priced model"))  # from its tape
    tape, unknown, priced = (flow["id"] for flow in api(proxy, "/api/flows?bodies=false"))
    page = open_page(proxy)

    dollars = re.compile(r"^\$\d+\.\d*[1-9]\d*$")  # not $0.00
    expect(row(page, priced).get_by_text(dollars)).to_be_visible()
    expect(row(page, unknown).get_by_text("—", exact=True)).to_be_visible()
    expect(row(page, unknown)).not_to_contain_text("$")
    expect(row(page, tape).get_by_text("$0.00", exact=True)).to_be_visible()

    row(page, priced).click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_contain_text(re.compile(r"cost \$\d+\.\d+"))
    row(page, tape).click()
    expect(detail).to_contain_text("cost $0.00")
    expect(detail).to_contain_text(re.compile(r"saved \$\d+\.\d+"))
    row(page, unknown).click()
    expect(detail).to_contain_text("cost —")
    shoot(page, "h4-cost")
