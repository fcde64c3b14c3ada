"""Take the history guide's screenshots of the real dashboard: the Threads view and the
Timeline (docs/dashboard-threads.png, docs/dashboard-timeline.png).

A fake upstream, a real playingpack with a history and the openai SDK make a run: a travel
agent calling two tools at once, three agents streaming in parallel (one on a model without a
price), a call held for a decision, and an agent answered from its tapes; headless Debian
Chromium then photographs the travel agent's thread and the run's timeline at 1280 by 800 pixels.

    .venv/bin/python scripts/screenshots_history.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.screenshots import CHROMIUM_ARGS
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_dashboard_history import SYSTEM, WEATHER_TOOL, run_agent

from playingpack.config import Config

DOCS = Path(__file__).resolve().parent.parent / "docs"
HOTELS: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "search_hotels",
        "description": "Hotels in a city within a nightly budget",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "max_eur": {"type": "number"}},
        },
    },
}
QUESTION = (
    "I'm in Lisbon next weekend with 150 € a night. Will it rain, and where should I stay near "
    "Alfama?"
)
ANSWER = (
    "Saturday in Lisbon looks dry: 22 °C and sunny, with a light breeze in the evening, so no "
    "umbrella needed.\n\nNear Alfama within your budget:\n• Memmo Alfama: 142 € a night, "
    "rooftop terrace over the river\n• Casa Amora: 118 € a night, quiet street, breakfast "
    "included\n\nBoth are a five-minute walk from the 28 tram."
)
RESULTS: dict[str, Any] = {
    "get_weather": {"city": "Lisbon", "day": "Saturday", "temp_c": 22, "rain_mm": 0},
    "search_hotels": [
        {"name": "Memmo Alfama", "eur": 142, "rating": 4.6},
        {"name": "Casa Amora", "eur": 118, "rating": 4.8},
    ],
}


def chat_answer(
    content: str | None,
    calls: tuple[tuple[str, str, dict[str, Any]], ...] = (),
    reasoning: str | None = None,
    usage: tuple[int, int] = (412, 96),
) -> dict[str, Any]:
    """A Chat Completions answer from gpt-4.1-mini."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(a)}}
            for id_, name, a in calls
        ]
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "gpt-4.1-mini",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
    }


def travel_agent(running: Running, upstream: FakeUpstream) -> None:
    upstream.queue(
        Reply(
            body=chat_answer(
                None,
                (
                    ("call_wx81", "get_weather", {"city": "Lisbon", "day": "Saturday"}),
                    ("call_ht22", "search_hotels", {"city": "Lisbon", "max_eur": 150}),
                ),
                reasoning="Two questions: the weekend's weather and a hotel near Alfama under "
                "150 € a night. Both need tools; I can call them at once.",
                usage=(388, 74),
            ),
            first_delay=0.35,
        ),
        Reply(body=chat_answer(ANSWER, usage=(612, 118)), first_delay=0.5),
    )
    client = running.client(max_retries=0)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    tools = [WEATHER_TOOL, HOTELS]
    first = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=tools)
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))  # type: ignore[arg-type]
    for call in message.tool_calls or []:
        name = call.function.name  # type: ignore[union-attr]
        messages.append(
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(RESULTS[name])}
        )
    client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=tools)


def parallel_agents(running: Running, upstream: FakeUpstream) -> None:
    """Three agents at once, streamed; one on a model without a price."""
    tool_call = Reply(
        content=None, tool_calls=[("get_weather", '{"city": "Rome"}')], first_delay=0.25
    )
    answer = Reply(
        content="Sunny and 24 °C all weekend; light clothes and sunscreen.",
        first_delay=0.3,
        delay=0.04,
        piece=3,
    )
    upstream.queue(*[tool_call] * 3, *[answer] * 3)
    agents = [
        threading.Thread(
            target=run_agent,
            args=(running.client(max_retries=0), f"Weather in {city} this weekend?"),
            kwargs={"model": model, "stream": True},
        )
        for city, model in (
            ("Rome", "gpt-4o-mini"),
            ("Naples", "gpt-4o"),
            ("Florence", "acme-local-7b"),
        )
    ]
    for number, agent in enumerate(agents):
        agent.start()
        time.sleep(0.12 * number)  # staggered starts, as agents start in real runs
    for agent in agents:
        agent.join(20)


def held_agent(running: Running, upstream: FakeUpstream) -> None:
    """An agent whose tool call is held for most of a second, then allowed."""
    httpx.patch(running.url + "/api/settings", json={"pause": "tool-calls"}).raise_for_status()
    upstream.queue(
        Reply(content=None, tool_calls=[("get_weather", '{"city": "Porto"}')], first_delay=0.2),
        Reply(content="Porto: 19 °C, cloudy.", first_delay=0.2, delay=0.02),
    )
    agent = threading.Thread(
        target=run_agent,
        args=(running.client(max_retries=0), "Weather in Porto on Sunday?"),
        kwargs={"stream": True},
    )
    agent.start()
    deadline = time.monotonic() + 10
    held: list[dict[str, Any]] = []
    while not held and time.monotonic() < deadline:
        held = httpx.get(running.url + "/api/flows", params={"state": "INTERCEPT"}).json()
    time.sleep(0.7)  # the held phase the timeline shows
    httpx.patch(running.url + "/api/settings", json={"pause": "off"}).raise_for_status()
    httpx.post(
        running.url + f"/api/flows/{held[0]['id']}/decision",
        json={"action": "allow"},
        headers={"Origin": running.url},
    ).raise_for_status()
    agent.join(10)


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
        travel_agent(running, upstream)
        parallel_agents(running, upstream)
        held_agent(running, upstream)
        run_agent(running.client(max_retries=0), "Weather in Rome this weekend?", stream=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(running.url + "/")
            expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
            page.get_by_test_id("view-threads").click()
            page.get_by_test_id("thread-row").filter(has_text="Lisbon").click()
            expect(page.get_by_test_id("thread-step")).to_have_count(2)
            page.screenshot(path=DOCS / "dashboard-threads.png")
            page.get_by_test_id("view-timeline").click()
            bars = page.get_by_test_id("timeline-bar")
            expect(bars).to_have_count(12)
            bars.nth(8).hover()
            page.screenshot(path=DOCS / "dashboard-timeline.png")
            browser.close()
    finally:
        running.close()
        upstream.close()
    for name in ("dashboard-threads", "dashboard-timeline"):
        print(DOCS / f"{name}.png")


if __name__ == "__main__":
    main()
