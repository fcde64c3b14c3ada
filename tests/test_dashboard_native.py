"""The dashboard's views of Gemini and Ollama calls in a real browser (Debian's Chromium, driven
by Playwright), against a real playingpack whose calls come from the google-genai and ollama
clients: the list shows their model and tokens, the detail their conversation and answer, and
the Thread view names a Gemini tool result, which carries no call id, by its tool.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ollama
from google import genai
from google.genai import types
from playwright.sync_api import Page, expect

from tests import test_dashboard_ui as ui
from tests.conftest import Running
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply

KEY = "AIzaSyTEST-dashboard-native-0123456789"
WEATHER = "Sunny, 21 °C in {city}"

# The fixtures of the other browser tests: one Chromium per module.
playwright = ui.playwright
browser = ui.browser
open_page = ui.open_page


def google(proxy: Running) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=proxy.url))


def get_weather(city: str) -> str:
    """The weather in a city."""
    return WEATHER.format(city=city)


def tokens(flow: dict[str, Any]) -> str:
    """A call's total tokens as the list writes them (with thousands separators)."""
    return f"{flow['usage']['total_tokens']:,}"


def test_gemini_and_ollama_calls_are_listed_with_their_model_tokens_and_conversation(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    fake_ollama: FakeOllama,
    open_page: Callable[..., Page],
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url, ollama_upstream=fake_ollama.url)
    gemini.queue(GeminiReply(text="Lisbon is bright and warm."))
    fake_ollama.queue(OllamaReply(content="Bergen is wet."))
    client = google(proxy)
    asked = client.models.generate_content(model=GEMINI_MODEL, contents="Weather in Lisbon?")
    assert asked.text == "Lisbon is bright and warm."
    with ollama.Client(host=proxy.url) as local:
        said = local.chat(
            model=OLLAMA_MODEL, messages=[{"role": "user", "content": "Weather in Bergen?"}]
        )
    assert said.message.content == "Bergen is wet."
    by_model = {flow["model"]: flow for flow in proxy.finished_flows(2)}
    assert set(by_model) == {GEMINI_MODEL, OLLAMA_MODEL}
    assert all(flow["usage"]["total_tokens"] > 0 for flow in by_model.values())

    page = open_page(proxy)
    rows = page.get_by_test_id("flow-row")
    expect(rows).to_have_count(2)
    detail = page.get_by_test_id("detail")
    for model, question, answer in (
        (GEMINI_MODEL, "Weather in Lisbon?", "Lisbon is bright and warm."),
        (OLLAMA_MODEL, "Weather in Bergen?", "Bergen is wet."),
    ):
        flow = by_model[model]
        row = rows.and_(page.locator(f'[data-flow-id="{flow["id"]}"]'))
        expect(row.locator(".model")).to_have_text(model)
        expect(row).to_contain_text(tokens(flow))
        expect(row).to_contain_text(flow["path"])
        row.click()
        expect(detail).to_have_attribute("data-flow-id", flow["id"])
        page.get_by_role("tab", name="Request").click()
        turns = detail.locator(".turns > li")
        expect(turns).to_have_count(1)
        expect(turns.first).to_contain_text("user")
        expect(turns.first).to_contain_text(question)
        page.get_by_role("tab", name="Answer").click()
        expect(page.get_by_test_id("detail-text")).to_have_text(answer)


def test_a_gemini_tool_result_is_named_by_its_tool_in_the_thread_view(
    start_proxy: Callable[..., Running], gemini: FakeGemini, open_page: Callable[..., Page]
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(
        GeminiReply(text=None, function_calls=[("get_weather", {"city": "Lyon"})]),
        GeminiReply(text="It is sunny in Lyon."),
    )
    client = google(proxy)
    chat = client.chats.create(
        model=GEMINI_MODEL, config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert chat.send_message("What is the weather in Lyon?").text == "It is sunny in Lyon."
    second, first = proxy.finished_flows(2)

    page = open_page(proxy)
    page.get_by_test_id("view-threads").click()
    expect(page.get_by_test_id("thread-row")).to_have_count(1)
    items = page.get_by_role("list", name="Conversation").locator(":scope > li")
    # The question, the model's call, the tool's result, the answer.
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text("What is the weather in Lyon?")
    expect(items.nth(1)).to_have_attribute("data-flow-id", first["id"])
    expect(items.nth(1).get_by_test_id("tool-call")).to_contain_text("get_weather")
    result = items.nth(2)
    expect(result).to_have_attribute("data-testid", "tool-result")
    expect(result).to_have_attribute("data-call-id", "")  # Gemini's result names no call id
    expect(result).to_have_accessible_name("Result of get_weather")
    expect(result.locator(".result-head")).to_have_text(re.compile(r"^result\s*of get_weather"))
    expect(result).to_contain_text(WEATHER.format(city="Lyon"))
    expect(items.nth(3)).to_have_attribute("data-flow-id", second["id"])
    expect(items.nth(3)).to_contain_text("It is sunny in Lyon.")
