"""Take the resend guide's screenshots of the real dashboard: the edit dialog
(docs/dashboard-resend.png) and the side-by-side view of a call and its edited resend, whose
tool call has a changed argument (docs/dashboard-compare.png).

A fake upstream, a real playingpack and the openai SDK make a travel agent's first call (two
tool calls); headless Debian Chromium then opens "Edit and resend" on it, changes the last user
message, sends it, and photographs both at 1280 by 800 pixels.

    .venv/bin/python scripts/screenshots_resend.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from openai.types.chat import ChatCompletionMessageParam
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.screenshots import CHROMIUM_ARGS
from scripts.screenshots_history import HOTELS, chat_answer
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_dashboard_history import SYSTEM, WEATHER_TOOL

from playingpack.config import Config

DOCS = Path(__file__).resolve().parent.parent / "docs"
QUESTION = "I'm in Lisbon next weekend with 150 € a night. Will it rain, and where should I stay?"
EDITED = "I'm in Porto next weekend with 120 € a night. Will it rain, and where should I stay?"


def planned(city: str, budget: int, usage: tuple[int, int]) -> Reply:
    """The model's first step: it says what it will look up, and calls both tools."""
    return Reply(
        body=chat_answer(
            f"Let me check Saturday's forecast for {city} and hotels under {budget} € a night.",
            (
                ("call_wx81", "get_weather", {"city": city, "day": "Saturday"}),
                ("call_ht22", "search_hotels", {"city": city, "max_eur": budget}),
            ),
            usage=usage,
        ),
        first_delay=0.3,
    )


def main() -> None:
    upstream = FakeUpstream()
    folder = Path(tempfile.mkdtemp(prefix="playingpack-screenshots-"))
    running = Running(
        Config(
            upstream=upstream.url,
            tapes_dir=folder / "tapes",
            logs_dir=folder / "logs",
            history=folder / "history.db",
            port=0,
        )
    )
    try:
        upstream.queue(planned("Lisbon", 150, (388, 74)))
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION},
        ]
        running.client(max_retries=0).chat.completions.create(
            model="gpt-4.1-mini", messages=messages, tools=[WEATHER_TOOL, HOTELS]
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(running.url + "/")
            expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
            page.get_by_test_id("flow-row").first.click()
            page.get_by_role("button", name="Edit and resend").click()
            dialog = page.get_by_role("dialog", name="Edit and resend")
            message = dialog.get_by_label("Last user message")
            expect(message).to_have_value(QUESTION)
            expect(dialog.get_by_role("textbox", name="Request JSON")).to_contain_text("Lisbon")
            message.fill(EDITED)
            send = dialog.get_by_role("button", name="Send", exact=True)
            expect(send).to_be_enabled()
            page.screenshot(path=DOCS / "dashboard-resend.png")
            upstream.queue(planned("Porto", 120, (391, 71)))
            send.click()
            compare = page.get_by_role("region", name="Compare")
            expect(compare.get_by_role("group", name="Answer B")).to_contain_text("Porto")
            expect(compare.get_by_text("Arguments differ at").first).to_be_visible()
            page.screenshot(path=DOCS / "dashboard-compare.png")
            browser.close()
    finally:
        running.close()
        upstream.close()
    for name in ("dashboard-resend", "dashboard-compare"):
        print(DOCS / f"{name}.png")


if __name__ == "__main__":
    main()
