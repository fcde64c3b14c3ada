"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against a
real playingpack while the openai SDK sends calls from background threads.

A failing test leaves a screenshot in test-results/ (see conftest.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from playingpack.config import PauseMode
from playingpack.hashing import request_key
from tests.conftest import API_KEY, FAILED, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_api_tapes import write_tape

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000
UPSTREAM_TEXT = "Hello from the fake upstream!"
WEATHER_ARGS = '{"city": "Paris", "unit": "c"}'
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HOLD_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.is_file(), "install Debian's chromium: scripts/test does"
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_page(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Page]]:
    """Open the dashboard of a server; a failing test saves a screenshot of every page."""
    pages: list[Page] = []

    def open_page(
        running: Running, *, width: int = 1280, height: int = 800, scheme: str = "light"
    ) -> Page:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme=scheme,  # type: ignore[arg-type]
        )
        page = context.new_page()
        pages.append(page)
        page.goto(running.url + "/")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
        return page

    yield open_page
    failed = request.node.stash.get(FAILED, False)
    for number, page in enumerate(pages):
        if failed:
            folder = Path(__file__).resolve().parents[1] / "test-results"
            folder.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            page.screenshot(path=folder / f"{name}-{number}.png", full_page=True)
        page.context.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def row(page: Page, flow_id: str | None = None) -> Locator:
    if flow_id is None:
        return page.get_by_test_id("flow-row")
    return page.locator(f'[data-testid="flow-row"][data-flow-id="{flow_id}"]')


def held_call(page: Page, flow_id: str) -> Locator:
    return page.locator(f'[data-testid="held-call"][data-flow-id="{flow_id}"]')


def api(running: Running, path: str) -> Any:
    response = httpx.get(running.url + path, timeout=10)
    response.raise_for_status()
    return response.json()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class HeldCall:
    """The SDK's weather call, held by a server whose dashboard is open."""

    proxy: Running
    page: Page
    future: Future[Any]
    flow_id: str


@pytest.fixture
def hold_weather(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
    pool: ThreadPoolExecutor,
) -> Callable[[bool], HeldCall]:
    """Open the dashboard of a server that holds tool calls, and have the SDK's weather call
    (streamed or not) held there."""

    def hold(stream: bool) -> HeldCall:
        proxy = start_proxy(pause=PauseMode.TOOL_CALLS, hold_timeout=HOLD_TIMEOUT)
        page = open_page(proxy)
        upstream.queue(Reply(content=None, tool_calls=[("get_weather", WEATHER_ARGS)]))
        future = pool.submit(weather_call, proxy.client(max_retries=0), stream)
        return HeldCall(proxy, page, future, held_flow_id(proxy))

    return hold


def held_flow_id(running: Running) -> str:
    """The id of the one held flow, once the server holds it."""
    found: list[str] = []

    def check() -> bool:
        found[:] = [flow["id"] for flow in api(running, "/api/flows?state=INTERCEPT&bodies=false")]
        return len(found) == 1

    wait_until(check, "a held flow")
    return found[0]


def type_mock(page: Page, text: str) -> None:
    """Replace the mock editor's content with ``text``, as typed."""
    editor = page.get_by_test_id("mock-editor").locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def weather_call(client: openai.OpenAI, stream: bool) -> Any:
    request = ask("weather in Paris?", tools=[WEATHER_TOOL])
    if not stream:
        return client.chat.completions.create(**request)
    return openai_stream_message(client, request)


def openai_stream_message(client: openai.OpenAI, request: dict[str, Any]) -> Any:
    with client.chat.completions.stream(**request) as stream:
        return stream.get_final_completion().choices[0].message


# --- (a) a streamed call appears and its text grows, then completes --------------------------


def test_streamed_call_appears_and_its_text_grows_then_completes(
    proxy: Running,
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
    pool: ThreadPoolExecutor,
) -> None:
    page = open_page(proxy)
    text = "Pack a light jacket, comfortable shoes and an umbrella for Paris."
    parked = threading.Event()
    upstream.queue(Reply(content=text, piece=8, hold_after_first=parked, hold_at=3))
    client = proxy.client(max_retries=0)

    def stream() -> str:
        pieces = client.chat.completions.create(stream=True, **ask("what to pack?"))
        return "".join(chunk.choices[0].delta.content or "" for chunk in pieces if chunk.choices)

    future = pool.submit(stream)
    try:
        expect(row(page)).to_have_count(1)
        row(page).click()
        detail_text = page.get_by_test_id("detail-text")
        # Parked after a few events: the text so far is shown, and it is not all of it.
        expect(detail_text).to_have_text(re.compile(r"^Pack a"))
        partial = detail_text.text_content() or ""
        assert text.startswith(partial) and partial != text
        expect(row(page)).to_have_attribute("data-state", "STREAMING")
    finally:
        parked.set()
    assert future.result(timeout=10) == text
    expect(detail_text).to_have_text(text)
    expect(row(page)).to_have_attribute("data-state", "COMPLETE")
    expect(row(page)).to_have_attribute("data-source", "upstream")
    expect(row(page)).to_contain_text("gpt-4o-mini")
    expect(row(page)).to_contain_text("/v1/chat/completions")


def test_detail_shows_request_tool_calls_chunks_and_masked_headers(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    upstream.queue(Reply(content=None, tool_calls=[("get_weather", WEATHER_ARGS)], piece=5))
    client = proxy.client(max_retries=0)
    message = weather_call(client, stream=True)
    page = open_page(proxy)
    expect(row(page)).to_have_count(1)
    expect(row(page)).to_contain_text("get_weather")
    row(page).click()
    detail = page.get_by_test_id("detail")

    detail.get_by_role("tab", name="Request").click()
    expect(detail).to_contain_text("weather in Paris?")
    detail.get_by_role("tab", name="Answer").click()
    tool_calls = page.get_by_test_id("detail-tool-calls")
    expect(tool_calls).to_contain_text("get_weather")
    expect(tool_calls).to_contain_text('"city": "Paris"')  # pretty-printed
    assert message.tool_calls[0].function.arguments == WEATHER_ARGS

    detail.get_by_role("tab", name="Chunks").click()
    (flow,) = api(proxy, "/api/flows?bodies=false")
    chunks = api(proxy, f"/api/flows/{flow['id']}")["chunks"]
    expect(page.get_by_test_id("chunk-row")).to_have_count(len(chunks))
    expect(page.get_by_test_id("detail-chunks")).to_contain_text("[DONE]")

    detail.get_by_role("tab", name="Headers").click()
    headers = page.get_by_test_id("detail-headers")
    expect(headers).to_contain_text(f"Bearer ***{API_KEY[-4:]}")
    assert API_KEY not in page.content()


def test_calls_are_listed_newest_first_and_filtered_by_text_and_source(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    page = open_page(proxy)
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="one"), Reply(content="two"))
    client.chat.completions.create(**ask("first question"))
    client.chat.completions.create(**{**ask("second question"), "model": "gpt-4o"})
    client.chat.completions.create(**ask("first question"))  # from its tape
    flows = api(proxy, "/api/flows?bodies=false")
    expect(row(page)).to_have_count(3)
    ids = [row(page).nth(n).get_attribute("data-flow-id") for n in range(3)]
    assert ids == [flow["id"] for flow in flows]  # newest first
    assert [row(page).nth(n).get_attribute("data-source") for n in range(3)] == [
        "tape",
        "upstream",
        "upstream",
    ]

    page.get_by_test_id("filter-source").select_option("tape")
    expect(row(page)).to_have_count(1)
    expect(row(page)).to_have_attribute("data-source", "tape")
    page.get_by_test_id("filter-source").select_option("")
    expect(row(page)).to_have_count(3)
    page.get_by_test_id("filter-text").fill("gpt-4o")
    expect(row(page)).to_have_count(3)
    page.get_by_test_id("filter-text").fill("gpt-4o-mini")
    expect(row(page)).to_have_count(2)
    page.get_by_test_id("filter-text").fill("no call matches this")
    expect(row(page)).to_have_count(0)


# --- (b) (c) (d) holding ---------------------------------------------------------------------


def test_held_call_is_shown_and_allow_releases_the_real_tool_call(
    hold_weather: Callable[[bool], HeldCall],
) -> None:
    holding = hold_weather(True)
    proxy, page, future, flow_id = holding.proxy, holding.page, holding.future, holding.flow_id

    held = held_call(page, flow_id)
    expect(held).to_contain_text("get_weather")
    expect(held).to_contain_text('"city": "Paris"')
    expect(row(page, flow_id)).to_have_attribute("data-held", "true")
    assert not future.done()
    held.get_by_test_id("allow-button").click()

    message = future.result(timeout=10)
    (call,) = message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == WEATHER_ARGS
    expect(held).to_have_count(0)
    expect(row(page, flow_id)).to_have_attribute("data-state", "COMPLETE")
    expect(row(page, flow_id)).to_have_attribute("data-held", "false")
    assert api(proxy, f"/api/flows/{flow_id}")["decision"] == "allow"


@pytest.mark.parametrize("stream", [True, False])
def test_mock_with_typed_text_reaches_the_sdk(
    hold_weather: Callable[[bool], HeldCall], stream: bool
) -> None:
    held = hold_weather(stream)
    proxy, page, future, flow_id = held.proxy, held.page, held.future, held.flow_id

    held_call(page, flow_id).get_by_test_id("mock-button").click()
    editor = page.get_by_test_id("mock-editor")
    expect(editor).to_be_visible()
    expect(editor).to_contain_text("get_weather")  # prefilled from the real answer
    type_mock(page, '{"content": "It is sunny in Paris, typed in the browser."}')
    expect(page.get_by_test_id("mock-send")).to_be_enabled()
    page.get_by_test_id("mock-send").click()

    result = future.result(timeout=10)
    message = result if stream else result.choices[0].message
    assert message.content == "It is sunny in Paris, typed in the browser."
    assert not message.tool_calls
    expect(editor).to_have_count(0)
    expect(row(page, flow_id)).to_have_attribute("data-source", "mock")
    assert api(proxy, f"/api/flows/{flow_id}")["decision"] == "mock"


def test_invalid_mock_shows_an_error_and_nothing_is_sent(
    hold_weather: Callable[[bool], HeldCall],
) -> None:
    held = hold_weather(True)
    proxy, page, future, flow_id = held.proxy, held.page, held.future, held.flow_id
    held_call(page, flow_id).get_by_test_id("mock-button").click()
    error = page.get_by_test_id("mock-error")
    send = page.get_by_test_id("mock-send")

    type_mock(page, '{"content": "unfinished')  # not JSON
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(send).to_be_disabled()
    page.keyboard.press("ControlOrMeta+Enter")  # the shortcut does not send it either

    type_mock(page, '{"content": "both", "error": {"status": 500, "message": "boom"}}')
    expect(error).to_contain_text("error")
    expect(send).to_be_disabled()

    # The server's own rules apply as the mock is typed: a full response the SDK could not read
    # is refused before it can be sent.
    type_mock(page, '{"response": {"choices": "not a list"}}')
    expect(error).to_contain_text("response")
    expect(send).to_be_disabled()
    expect(page.get_by_test_id("mock-editor")).to_be_visible()

    detail = api(proxy, f"/api/flows/{flow_id}")
    assert detail["hold"] is not None and detail["state"] == "INTERCEPT"
    assert not future.done()
    page.get_by_test_id("mock-cancel").click()
    held_call(page, flow_id).get_by_test_id("allow-button").click()
    assert future.result(timeout=10).tool_calls[0].function.name == "get_weather"


def test_mock_templates_give_an_error_answer(hold_weather: Callable[[bool], HeldCall]) -> None:
    held = hold_weather(False)
    page, future, flow_id = held.page, held.future, held.flow_id
    held_call(page, flow_id).get_by_test_id("mock-button").click()
    page.get_by_test_id("mock-template").select_option("tool")
    expect(page.get_by_test_id("mock-editor")).to_contain_text("get_weather")
    page.get_by_test_id("mock-template").select_option("error")
    expect(page.get_by_test_id("mock-editor")).to_contain_text('"status"')
    page.get_by_test_id("mock-send").click()
    with pytest.raises(openai.APIStatusError) as raised:
        future.result(timeout=10)
    assert raised.value.status_code >= 400
    expect(row(page, flow_id)).to_have_attribute("data-source", "mock")


def test_several_held_calls_are_resolved_in_any_order_with_the_keyboard(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
    pool: ThreadPoolExecutor,
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL, hold_timeout=HOLD_TIMEOUT)
    page = open_page(proxy)
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="first answer"), Reply(content="second answer"))
    first = pool.submit(lambda: client.chat.completions.create(**ask("first")))
    wait_until(lambda: len(upstream.received) == 1, "the first request upstream")
    second = pool.submit(lambda: client.chat.completions.create(**ask("second")))
    expect(page.get_by_test_id("held-call")).to_have_count(2)
    older, newer = (flow["id"] for flow in reversed(api(proxy, "/api/flows?bodies=false")))

    row(page, newer).click()
    expect(row(page, newer)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("a")
    assert second.result(timeout=10).choices[0].message.content == "second answer"
    assert not first.done()
    expect(page.get_by_test_id("held-call")).to_have_count(1)

    row(page, older).click()
    page.keyboard.press("m")
    expect(page.get_by_test_id("mock-editor")).to_be_visible()
    type_mock(page, '{"content": "mocked with the keyboard"}')
    page.keyboard.press("ControlOrMeta+Enter")
    assert first.result(timeout=10).choices[0].message.content == "mocked with the keyboard"
    expect(page.get_by_test_id("held-call")).to_have_count(0)


# --- (e) settings ----------------------------------------------------------------------------


def test_settings_bar_changes_and_follows_the_server(
    proxy: Running, open_page: Callable[..., Page]
) -> None:
    page = open_page(proxy)
    record = page.get_by_test_id("record-mode")
    pause = page.get_by_test_id("pause-mode")
    expect(record).to_have_value("auto")
    expect(pause).to_have_value("off")

    record.select_option("replay-only")
    wait_until(
        lambda: api(proxy, "/health")["record"] == "replay-only", "/health to say replay-only"
    )
    pause.select_option("tool-calls")
    wait_until(lambda: api(proxy, "/api/settings")["pause"] == "tool-calls", "pause tool-calls")

    # A change made elsewhere (a script, another dashboard) shows up without a reload.
    httpx.patch(f"{proxy.url}/api/settings", json={"record": "off", "pause": "all"}, timeout=10)
    expect(record).to_have_value("off")
    expect(pause).to_have_value("all")


# --- (f) the tape browser --------------------------------------------------------------------


def test_tape_browser_lists_searches_shows_and_deletes(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content="about Lyon"), Reply(content="about Oslo"))
    client.chat.completions.create(**ask("tell me about Lyon"))
    client.chat.completions.create(**{**ask("tell me about Oslo"), "model": "gpt-4o"})
    lyon = request_key(ask("tell me about Lyon"))
    page = open_page(proxy)
    page.get_by_test_id("view-tapes").click()
    tapes = page.get_by_test_id("tape-row")
    expect(tapes).to_have_count(2)

    page.get_by_test_id("tape-search").fill("Lyon")
    expect(tapes).to_have_count(1)
    expect(tapes).to_have_attribute("data-tape-key", lyon)
    tapes.click()
    view = page.get_by_test_id("tape-view")
    expect(view).to_contain_text("tell me about Lyon")
    expect(view).to_contain_text("gpt-4o-mini")

    page.get_by_test_id("tape-delete").click()
    assert (proxy.tapes_dir / f"{lyon}.json").exists(), "deleted before it was confirmed"
    page.get_by_test_id("tape-delete-confirm").click()
    expect(tapes).to_have_count(0)
    wait_until(lambda: not (proxy.tapes_dir / f"{lyon}.json").exists(), "the file to go")
    page.get_by_test_id("tape-search").fill("")
    expect(tapes).to_have_count(1)
    assert [tape["model"] for tape in api(proxy, "/api/tapes")] == ["gpt-4o"]


def test_tape_browser_pages_sorts_and_searches_on_the_server(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    # More tapes than a page holds, copied in as files.
    keys = [
        write_tape(
            proxy.tapes_dir,
            f"question number {n}",
            model=("gpt-4o-mini", "gpt-4o")[n % 2],
            chunks=1 + n % 5,
            timestamp=f"2026-01-02T03:{n // 60:02d}:{n % 60:02d}.000Z",
        )
        for n in range(130)
    ]
    page = open_page(proxy)
    page.get_by_test_id("view-tapes").click()
    tapes = page.get_by_role("listbox", name="Tapes, newest first")
    rows = page.get_by_test_id("tape-row")
    foot = page.get_by_test_id("tape-count")
    expect(rows).to_have_count(100)
    expect(foot).to_have_text("100 of 130 tapes")
    expect(rows.first).to_have_attribute("data-tape-key", keys[-1])

    # The next page: by keyboard (stepping onto the last tape listed), then all are listed.
    rows.nth(98).click()
    page.keyboard.press("j")
    expect(rows).to_have_count(130)
    expect(foot).to_have_text("130 tapes")
    expect(page.get_by_test_id("tape-more")).to_have_count(0)
    expect(rows.nth(99)).to_have_attribute("aria-selected", "true")

    # Sorted by the server: by size, biggest first, then turned round.
    by_size = api(proxy, "/api/tapes?sort=size&limit=1000")
    page.get_by_test_id("tape-sort-size").click()
    expect(page.get_by_role("listbox", name="Tapes, biggest first")).to_be_visible()
    expect(rows.first).to_have_attribute("data-tape-key", by_size[0]["key"])
    expect(foot).to_have_text("100 of 130 tapes")
    page.get_by_test_id("tape-sort-size").click()
    expect(page.get_by_role("listbox", name="Tapes, smallest first")).to_be_visible()
    expect(rows.first).to_have_attribute("data-tape-key", by_size[-1]["key"])
    expect(page.get_by_test_id("tape-sort-size")).to_have_attribute("aria-pressed", "true")

    # The search: each word the start of one of the tape's words, all of them found.
    page.get_by_test_id("tape-search").fill("question 12")
    expect(foot).to_have_text("11 tapes")  # 12 and 120 to 129
    page.get_by_test_id("tape-search").fill("NUMBER 128 gpt-4o-mini")
    expect(foot).to_have_text("1 tape")
    expect(rows).to_have_attribute("data-tape-key", keys[128])
    page.get_by_test_id("tape-search").fill("umber")  # not the start of a word
    expect(page.get_by_text("No tape matches.")).to_be_visible()
    page.get_by_test_id("tape-search").fill("")
    page.get_by_test_id("tape-sort-recorded").click()
    expect(tapes).to_be_visible()

    # A tape recorded now comes in at the top of the newest first.
    upstream.queue(Reply(content="fresh"))
    proxy.client(max_retries=0).chat.completions.create(**ask("a fresh question"))
    expect(rows.first).to_have_attribute("data-tape-key", request_key(ask("a fresh question")))
    expect(foot).to_have_text("100 of 131 tapes")


def test_tape_browser_lists_the_tapes_read_so_far_while_a_fresh_folder_is_indexed(
    start_proxy: Callable[..., Running], tmp_path: Path, open_page: Callable[..., Page]
) -> None:
    # A fresh clone: thousands of tapes and no index yet. The browser lists what is read so far
    # at once, says so, and comes to the whole count on its own.
    tapes = tmp_path / "fresh-tapes"
    for n in range(12_000):
        write_tape(tapes, f"question number {n}", timestamp=f"2026-01-02T03:04:05.{n % 1000:03d}Z")
    proxy = start_proxy(tapes_dir=tapes)
    page = open_page(proxy)
    page.get_by_test_id("view-tapes").click()
    foot = page.get_by_test_id("tape-count")
    expect(foot).to_contain_text("read so far: the tapes folder is being indexed")
    expect(foot).to_have_text("100 of 12,000 tapes", timeout=120_000)
    expect(page.get_by_test_id("tape-row")).to_have_count(100)


# --- live: reconnecting after a restart --------------------------------------------------------


def test_reconnects_after_a_restart_and_resyncs_the_list(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
) -> None:
    first = start_proxy()
    page = open_page(first)
    first.client(max_retries=0).chat.completions.create(**ask("before the restart"))
    expect(row(page)).to_have_count(1)
    port = first.server.port
    first.close()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connecting")

    second = start_proxy(port=port)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    expect(row(page)).to_have_count(0)  # the new server has no flows yet: the list resynced
    upstream.queue(Reply(content="after"))
    second.client(max_retries=0).chat.completions.create(**ask("after the restart"))
    expect(row(page)).to_have_count(1)
    (flow,) = api(second, "/api/flows?bodies=false")
    expect(row(page, flow["id"])).to_have_count(1)


# --- usable: sizes, themes, focus ------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1920, 1080)])
def test_layout_holds_at_common_sizes(
    start_proxy: Callable[..., Running],
    upstream: FakeUpstream,
    open_page: Callable[..., Page],
    pool: ThreadPoolExecutor,
    width: int,
    height: int,
) -> None:
    proxy = start_proxy(pause=PauseMode.TOOL_CALLS, hold_timeout=HOLD_TIMEOUT)
    client = proxy.client(max_retries=0)
    long_model = "a-model-name-" + "x" * 120
    upstream.queue(Reply(content="plain"), Reply(content=None, tool_calls=[("t", "{}")]))
    client.chat.completions.create(**{**ask("long " * 200), "model": long_model})
    future = pool.submit(weather_call, client, True)
    flow_id = held_flow_id(proxy)
    page = open_page(proxy, width=width, height=height)
    row(page, flow_id).click()
    held_call(page, flow_id).get_by_test_id("mock-button").click()
    expect(page.get_by_test_id("mock-editor")).to_be_visible()

    overflow = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert overflow[0] <= overflow[1], f"the page scrolls sideways at {width}x{height}"
    for test_id in ("detail", "held-panel", "mock-editor", "record-mode", "filter-text"):
        box = page.get_by_test_id(test_id).bounding_box()
        assert box is not None, test_id
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, test_id
        assert box["width"] > 0 and box["height"] > 0, test_id
    list_box = row(page).first.bounding_box()
    detail_box = page.get_by_test_id("detail").bounding_box()
    assert list_box is not None and detail_box is not None
    assert list_box["x"] + list_box["width"] <= detail_box["x"] + 1, "list and detail overlap"
    page.get_by_test_id("mock-cancel").click()
    held_call(page, flow_id).get_by_test_id("allow-button").click()
    future.result(timeout=10)


def test_theme_follows_the_system(proxy: Running, open_page: Callable[..., Page]) -> None:
    def background(page: Page) -> tuple[int, ...]:
        color = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        return tuple(int(part) for part in re.findall(r"\d+", color)[:3])

    light = background(open_page(proxy, scheme="light"))
    dark = background(open_page(proxy, scheme="dark"))
    assert sum(light) > 600, light
    assert sum(dark) < 150, dark


def test_keyboard_focus_is_visible(proxy: Running, open_page: Callable[..., Page]) -> None:
    page = open_page(proxy)
    outlines = []
    for _ in range(4):
        page.keyboard.press("Tab")
        outlines.append(
            page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth,"
                " s.boxShadow]; }"
            )
        )
    for tag, style, width, shadow in outlines:
        assert tag != "BODY", outlines
        visible = (style not in ("none", "") and width not in ("0px", "")) or shadow != "none"
        assert visible, outlines


def test_export_har_link_downloads_the_session(
    proxy: Running, upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy.client(max_retries=0).chat.completions.create(**ask("exported"))
    page = open_page(proxy)
    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_test_id("export-har").click()
    har = json.loads(Path(download.value.path()).read_text("utf-8"))
    (entry,) = har["log"]["entries"]
    assert json.loads(entry["request"]["postData"]["text"])["messages"][0]["content"] == "exported"


def test_the_app_asks_nothing_of_the_internet(
    proxy: Running, upstream: FakeUpstream, browser: Browser
) -> None:
    proxy.client(max_retries=0).chat.completions.create(**ask("offline"))
    context = browser.new_context()
    foreign: list[str] = []

    def only_playingpack(route: Route) -> None:
        if route.request.url.startswith(proxy.url + "/"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_playingpack)
    try:
        page = context.new_page()
        page.goto(proxy.url + "/")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
        expect(row(page)).to_have_count(1)
        row(page).click()
        expect(page.get_by_test_id("detail-text")).to_have_text(UPSTREAM_TEXT)
        page.get_by_test_id("view-tapes").click()
        expect(page.get_by_test_id("tape-row")).to_have_count(1)
    finally:
        context.close()
    assert foreign == []
