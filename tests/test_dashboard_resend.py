"""Edit and resend, compare and keep in a real browser (Debian's Chromium, driven by
Playwright), against a real playingpack whose calls come from the openai SDK: found by visible
text and role, as a person finds them.

A failing test leaves a screenshot in test-results/ (see conftest.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect

from tests import test_dashboard_ui as ui
from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

# The fixtures and helpers of the other browser tests: one Chromium per module.
playwright = ui.playwright
browser = ui.browser
open_page = ui.open_page
pool = ui.pool
row = ui.row
wait_until = ui.wait_until

QUESTION = "Will it rain in Paris tomorrow?"
EDITED = "Will it rain in Lyon tomorrow?"
PARIS = "Paris: light rain tomorrow, take an umbrella."
LYON = "Lyon: sunny tomorrow, no umbrella needed."


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content, but for the tape index's hidden folder."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and not path.relative_to(folder).parts[0].startswith(".")
    }


def set_record(running: Running, mode: str) -> None:
    httpx.patch(
        running.url + "/api/settings",
        json={"record": mode},
        headers={"Origin": running.url},
        timeout=10,
    ).raise_for_status()


def compare_view(page: Page) -> Locator:
    return page.get_by_role("region", name="Compare")


def ask_paris(running: Running, upstream: FakeUpstream) -> str:
    """The SDK asks about Paris (recorded in auto mode); the answer's text."""
    upstream.queue(Reply(content=PARIS))
    answer = running.client(max_retries=0).chat.completions.create(**ask(QUESTION))
    running.finished_flows(1)
    return answer.choices[0].message.content or ""


def edit_and_resend(page: Page, upstream: FakeUpstream) -> Locator:
    """Select the one call, press e, ask about Lyon instead and send; the compare view, once
    the resend's answer is in."""
    row(page).first.click()
    page.keyboard.press("e")
    dialog = page.get_by_role("dialog", name="Edit and resend")
    message = dialog.get_by_label("Last user message")
    expect(message).to_have_value(QUESTION)
    expect(dialog.get_by_role("textbox", name="Request JSON")).to_contain_text(QUESTION)
    message.fill(EDITED)
    # The controls and the JSON are one request: the editor shows the new message.
    expect(dialog.get_by_test_id("resend-editor")).to_contain_text(EDITED)
    upstream.queue(Reply(content=LYON))
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog).to_be_hidden()
    compare = compare_view(page)
    expect(compare.get_by_role("group", name="Answer B")).to_contain_text("Lyon: sunny")
    return compare


def test_an_edited_resend_is_compared_with_its_call_and_changes_nothing_on_disk(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    assert ask_paris(proxy, upstream) == PARIS
    before = files(proxy.tapes_dir)
    assert len(before) == 1
    page = open_page(proxy)
    compare = edit_and_resend(page, upstream)

    # The request's change is named by its path, with the changed word marked on each side.
    changes = compare.get_by_role("list", name="Request changes")
    expect(changes).to_contain_text("$.messages[0].content")
    expect(changes.locator("del", has_text="Paris")).to_be_visible()
    expect(changes.locator("ins", has_text="Lyon")).to_be_visible()
    expect(compare.get_by_role("group", name="Answer A")).to_contain_text(PARIS)
    expect(compare.get_by_role("group", name="Answer A").locator("del").first).to_be_visible()
    expect(compare.get_by_role("group", name="Answer B").locator("ins").first).to_be_visible()
    figures = compare.get_by_role("table", name="Figures")
    expect(figures.get_by_role("row", name="status")).to_contain_text("200")
    keep = compare.get_by_role("button", name="Use this answer for the original call")
    expect(keep).to_be_enabled()

    # The resend went to the upstream and wrote nothing: the tapes are as they were.
    assert upstream.received[-1].path == "/v1/chat/completions"
    assert json.loads(upstream.received[-1].body)["messages"][0]["content"] == EDITED
    assert files(proxy.tapes_dir) == before

    # Back in the list, the resend is marked and its detail names the call it came from.
    compare.get_by_role("button", name="Close").click()
    resent = page.locator('[data-testid="flow-row"][data-parent]')
    expect(resent).to_have_count(1)
    expect(resent.get_by_label("resend")).to_be_visible()
    resent.click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_contain_text("Edited and resent to the upstream from")
    expect(detail.get_by_role("button", name="Keep as tape for this request")).to_be_visible()
    # The original call lists its resend, which opens the comparison again.
    resend, original = proxy.finished_flows(2)
    assert resend["parent"] == original["id"] and resend["edited"]
    detail.get_by_role("button", name=original["id"]).click()
    expect(page.get_by_test_id("detail")).to_have_attribute("data-flow-id", original["id"])
    resends = page.get_by_test_id("detail").get_by_role("group", name="Resends")
    expect(resends).to_contain_text("(edited)")
    resends.get_by_role("button").click()
    expect(compare.get_by_role("list", name="Request changes")).to_contain_text(
        "$.messages[0].content"
    )


def test_using_the_resends_answer_for_the_original_call_makes_its_replay_return_it(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    ask_paris(proxy, upstream)
    page = open_page(proxy)
    compare = edit_and_resend(page, upstream)
    compare.get_by_role("button", name="Use this answer for the original call").click()
    kept = compare.get_by_role("status").filter(has_text="Kept for the original call")
    expect(kept).to_contain_text("origin edited")

    # The original request, replayed in replay-only, gets the kept answer, not the upstream's.
    set_record(proxy, "replay-only")
    asked = len(upstream.received)
    answer = proxy.client(max_retries=0).chat.completions.create(**ask(QUESTION))
    assert answer.choices[0].message.content == LYON
    assert len(upstream.received) == asked

    # The tape browser shows that a person picked it, and from which call.
    page.get_by_test_id("view-tapes").click()
    tape_row = page.get_by_test_id("tape-row")
    expect(tape_row).to_have_count(1)
    expect(tape_row).to_contain_text("edited")
    tape_row.click()
    expect(page.get_by_role("region", name="Tape", exact=True)).to_contain_text("kept")


def test_r_resends_the_selected_call_unchanged_and_opens_the_comparison(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    ask_paris(proxy, upstream)
    page = open_page(proxy)
    row(page).first.click()
    upstream.queue(Reply(content=PARIS))
    page.keyboard.press("r")
    compare = compare_view(page)
    expect(compare.get_by_text("The requests are the same.")).to_be_visible()
    expect(compare.get_by_role("group", name="Answer B")).to_contain_text(PARIS)
    expect(compare.get_by_role("heading", name="Answer")).to_contain_text("the same")
    page.keyboard.press("Escape")
    expect(compare).to_be_hidden()
    expect(row(page)).to_have_count(2)


def test_two_calls_picked_from_the_list_are_compared(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    client = proxy.client(max_retries=0)
    upstream.queue(Reply(content=PARIS), Reply(content=LYON))
    client.chat.completions.create(**ask(QUESTION))
    client.chat.completions.create(**ask(EDITED))
    lyon, paris = proxy.finished_flows(2)
    page = open_page(proxy)
    row(page, paris["id"]).click()
    row(page, lyon["id"]).click(modifiers=["ControlOrMeta"])
    compare = compare_view(page)
    expect(compare.get_by_role("group", name="Side A")).to_contain_text(paris["id"])
    expect(compare.get_by_role("group", name="Side B")).to_contain_text(lyon["id"])
    expect(compare.get_by_role("list", name="Request changes").locator("ins")).to_have_text("Lyon ")


def test_a_replay_only_miss_shows_its_nearest_tape_and_records_on_the_spot(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    ask_paris(proxy, upstream)
    set_record(proxy, "replay-only")
    try:
        proxy.client(max_retries=0).chat.completions.create(**ask(EDITED))
        raise AssertionError("replay-only answered a request it has no tape for")
    except Exception as error:  # the SDK's NotFoundError
        assert "tape_not_found" in str(error) or "No tape" in str(error)
    miss, _ = proxy.finished_flows(2)
    assert len(files(proxy.tapes_dir)) == 1
    page = open_page(proxy)
    row(page, miss["id"]).click()
    panel = page.get_by_role("region", name="No tape for this request (replay-only)")
    # This call (A) against the nearest tape (B): Lyon is this call's word, Paris the tape's.
    changes = panel.get_by_role("list", name="Request changes")
    expect(changes.locator("del", has_text="Lyon")).to_be_visible()
    expect(changes.locator("ins", has_text="Paris")).to_be_visible()

    upstream.queue(Reply(content=LYON))
    panel.get_by_role("button", name="Record this call").click()
    expect(panel.get_by_role("status")).to_contain_text(f"the tape {miss['tape']} was recorded")
    wait_until(lambda: len(files(proxy.tapes_dir)) == 2, "the recorded tape file")
    assert f"{miss['tape']}.json" in files(proxy.tapes_dir)

    # The same request now replays, still in replay-only.
    asked = len(upstream.received)
    answer = proxy.client(max_retries=0).chat.completions.create(**ask(EDITED))
    assert answer.choices[0].message.content == LYON
    assert len(upstream.received) == asked


def test_a_tape_is_resent_from_the_tape_browser_and_compared(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    ask_paris(proxy, upstream)
    before = files(proxy.tapes_dir)
    page = open_page(proxy)
    page.get_by_test_id("view-tapes").click()
    page.get_by_test_id("tape-row").click()
    upstream.queue(Reply(content=LYON))
    page.get_by_role("region", name="Tape", exact=True).get_by_role(
        "button", name="Resend", exact=True
    ).click()
    compare = compare_view(page)
    expect(compare.get_by_role("group", name="Side A")).to_contain_text("tape")
    expect(compare.get_by_role("group", name="Answer B")).to_contain_text("Lyon")
    expect(compare.get_by_role("group", name="Answer A").locator("del").first).to_be_visible()
    assert files(proxy.tapes_dir) == before


def type_request(page: Page, text: str) -> None:
    """Replace the resend editor's JSON with ``text``, as typed."""
    page.get_by_test_id("resend-editor").locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_the_resend_editor_checks_the_request_and_keeps_the_controls_in_step(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy()
    ask_paris(proxy, upstream)
    page = open_page(proxy)
    row(page).first.click()
    page.get_by_test_id("detail").get_by_role("button", name="Edit and resend").click()
    dialog = page.get_by_role("dialog", name="Edit and resend")
    editor = dialog.get_by_role("textbox", name="Request JSON")
    expect(editor).to_contain_text(QUESTION)
    send = dialog.get_by_role("button", name="Send", exact=True)
    expect(send).to_be_enabled()

    # The controls write the JSON: a temperature appears, then goes when emptied.
    temperature = dialog.get_by_label("Temperature")
    temperature.fill("0.7")
    expect(editor).to_contain_text('"temperature": 0.7')
    temperature.fill("")
    expect(editor).not_to_contain_text("temperature")

    # The server's refusal is shown by the field it names, and the request cannot be sent.
    type_request(page, json.dumps({"messages": [{"role": "user", "content": "Hi"}]}))
    expect(dialog.get_by_label("Model")).to_have_accessible_description(
        re.compile("has no `model`")
    )
    expect(send).to_be_disabled()
    # The JSON writes the controls.
    expect(dialog.get_by_label("Last user message")).to_have_value("Hi")
    type_request(page, '{"model": "gpt-4o-mini", "messages": [')
    expect(dialog.get_by_role("alert")).to_contain_text("Not valid JSON")
    expect(send).to_be_disabled()
    type_request(page, json.dumps(ask("Hi")))
    expect(send).to_be_enabled()
    expect(dialog.get_by_label("Model")).to_have_value("gpt-4o-mini")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert len(upstream.received) == 1
