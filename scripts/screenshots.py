"""Take the README's screenshots of the real dashboard (docs/*.png).

A fake upstream, a real playingpack and the openai SDK make a session: streamed answers, tool
calls, replays from tapes and a held call; headless Debian Chromium then photographs the call
list with a detail, the held call with the mock editor open (dark theme), and the tape browser.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import httpx
import openai
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.demo import send
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.threaded import LoopThread

from playingpack.app import start_server
from playingpack.config import Config, PauseMode

DOCS = Path(__file__).resolve().parent.parent / "docs"
SIZE: ViewportSize = {"width": 1440, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def wait_for(page: Page, test_id: str, count: int) -> None:
    expect(page.get_by_test_id(test_id)).to_have_count(count, timeout=15_000)


def main() -> None:
    upstream = FakeUpstream()
    folder = Path(tempfile.mkdtemp(prefix="playingpack-screenshots-"))
    config = Config(
        upstream=f"{upstream.url}/v1",
        tapes_dir=folder / "tapes",
        logs_dir=folder / "logs",
        port=0,
        pause=PauseMode.OFF,
    )
    thread = LoopThread("playingpack")
    server = thread.run(start_server(config))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-demo", max_retries=0)
    for turn in range(9):
        send(client, upstream, turn)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        light = browser.new_page(viewport=SIZE, color_scheme="light")
        light.goto(server.url + "/")
        wait_for(light, "flow-row", 9)
        light.get_by_test_id("flow-row").nth(4).click()
        light.get_by_role("tab", name="Answer").click()
        expect(light.get_by_test_id("detail-text")).not_to_be_empty()
        light.screenshot(path=DOCS / "dashboard-calls.png")

        light.get_by_test_id("view-tapes").click()
        light.get_by_test_id("tape-row").first.click()
        expect(light.get_by_test_id("tape-view")).not_to_be_empty()
        light.screenshot(path=DOCS / "dashboard-tapes.png")

        httpx.patch(f"{server.url}/api/settings", json={"pause": "tool-calls"}).raise_for_status()
        held = threading.Thread(target=send, args=(client, upstream, 1), daemon=True)
        held.start()
        dark = browser.new_page(viewport=SIZE, color_scheme="dark")
        dark.goto(server.url + "/")
        wait_for(dark, "held-call", 1)
        dark.get_by_test_id("flow-row").first.click()
        dark.get_by_test_id("held-call").get_by_test_id("mock-button").click()
        expect(dark.get_by_test_id("mock-editor")).to_contain_text("get_weather")
        dark.screenshot(path=DOCS / "dashboard-held.png")
        dark.get_by_test_id("mock-cancel").click()
        dark.get_by_test_id("held-call").get_by_test_id("allow-button").click()
        held.join(10)
        browser.close()
    thread.close(server.runner.cleanup)
    upstream.close()
    for name in ("dashboard-calls", "dashboard-tapes", "dashboard-held"):
        print(DOCS / f"{name}.png")


if __name__ == "__main__":
    main()
