"""Gemini and Ollama agent loops as threads, through a real playingpack.

A weather agent asks its question, gets a ``get_weather`` call, runs the tool and sends its
result back, then gets the answer: with google-genai's chat and its automatic function calling
(JSON, thoughts and a thought signature sent back as they came), with a loop written by hand
over google-genai's streams (SSE, the parts rebuilt), and with the ollama client (an NDJSON
stream, then ``"stream": false``, the result a ``tool`` message naming the tool). What is right,
for each: one thread of two steps, the first adding the question and answering with the call
(its reasoning and finish reason read from the format's own fields), the second adding the
tool's result and answering with the text. Each call also reads as the others' do: the model,
the tokens and the tools in the terminal line, the log line and ``GET /api/flows/{id}``, and a
word of its message finds it in ``history list --search``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from google import genai
from google.genai import types

from tests.conftest import Running, run_cli
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import SIGNATURE, FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply

KEY = "AIzaSyTEST-threads-native-0123456789ab"
INSTRUCTIONS = "Answer with the weather."
WEATHER = "Sunny, 21 °C in {city}"
ANSWER = "It is sunny in {city}, 21 °C."


def get_weather(city: str) -> str:
    """The weather in a city."""
    return WEATHER.format(city=city)


def google(proxy: Running) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=proxy.url))


def thread_of(proxy: Running, calls: int) -> tuple[list[str], dict[str, Any]]:
    """The ids of the server's ``calls`` calls (oldest first), and the one thread they are
    in once the history lists it with all of them (bounded wait: a call's row is written a
    moment after its client has the answer)."""
    ids = [flow["id"] for flow in proxy.finished_flows(calls)][::-1]
    deadline = time.monotonic() + 10
    while True:
        threads = httpx.get(f"{proxy.url}/api/threads", timeout=5).json()
        details = [
            httpx.get(f"{proxy.url}/api/threads/{thread['id']}", timeout=5).json()
            for thread in threads
        ]
        steps = [[step["flow"] for step in detail["step_list"]] for detail in details]
        if sum(map(len, steps)) >= calls or time.monotonic() > deadline:
            assert steps == [ids], steps
            return ids, details[0]
        time.sleep(0.02)  # a poll interval, bounded by the deadline


def read(step: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a step added, then its answer."""
    said: list[tuple[Any, ...]] = []
    for turn in step["input"]:
        for part in turn["parts"]:
            if part["kind"] == "text":
                said.append((turn["role"], turn.get("name"), part["text"]))
            elif part["kind"] == "tool_result":
                said.append(("result", part.get("name"), part["content"]))
    answer = step["answer"]
    said.extend(("call", call["name"], call["arguments"]) for call in answer["tool_calls"])
    if answer["text"]:
        said.append(("answer", answer["text"]))
    return said


def check_thread(proxy: Running, thread: dict[str, Any], ids: list[str], model: str) -> None:
    """The thread's totals are its two calls', and its title is the question."""
    flows = [httpx.get(f"{proxy.url}/api/flows/{flow_id}", timeout=5).json() for flow_id in ids]
    assert thread["id"] == ids[0]
    assert thread["steps"] == 2
    assert thread["system"] == INSTRUCTIONS
    assert thread["tools"] == ["get_weather"]
    assert thread["models"] == [model]
    assert thread["input_tokens"] == sum(flow["usage"]["input_tokens"] for flow in flows) > 0
    assert thread["output_tokens"] == sum(flow["usage"]["output_tokens"] for flow in flows) > 0
    assert [step["retry_of"] for step in thread["step_list"]] == [None, None]
    assert [flow["thread"] for flow in flows] == [ids[0], ids[0]]


def check_shown(
    proxy: Running, flow_id: str, model: str, words: str, lines: list[str], tmp_path: Path
) -> None:
    """Call ``flow_id`` (its model's first call, a ``get_weather`` call) reads as other
    providers' calls do: model, usage, tool calls, text and conversation in its detail, the
    model, tokens and tool in its terminal line, and ``words`` of its message find it."""
    flow = httpx.get(f"{proxy.url}/api/flows/{flow_id}", timeout=5).json()
    assert flow["model"] == model
    usage = flow["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert [call["name"] for call in flow["tool_calls"]] == ["get_weather"]
    roles = [turn["role"] for turn in flow["conversation"]["turns"]]
    assert roles == ["system", "user"]
    assert [tool["name"] for tool in flow["conversation"]["tools"]] == ["get_weather"]
    tape = flow["tape"][:8]
    [line] = [line for line in lines if f"tape {tape}" in line]
    assert f"  {model}  " in line
    assert f"  {usage['input_tokens']}+{usage['output_tokens']} tok" in line
    assert "tools: get_weather" in line
    found = run_cli(
        "history", "list", "--json", "--search", words, "--history", str(proxy.config.history),
        cwd=tmp_path,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert flow_id in [json.loads(row)["id"] for row in found.stdout.splitlines()]


def check_logged(tmp_path: Path, model: str) -> None:
    """The log lines of a stopped server's two calls: the model, the tokens, the tool."""
    logged = [
        json.loads(line)
        for path in sorted((tmp_path / "logs").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert [(r["model"], r["tool_calls"]) for r in logged] == [
        (model, ["get_weather"]),
        (model, []),
    ]
    assert all(r["usage"]["input_tokens"] > 0 for r in logged)


def terminal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "playingpack.flow_log"]


def test_a_gemini_chat_with_automatic_function_calling_is_one_thread(
    start_proxy: Callable[..., Running],
    gemini: FakeGemini,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="playingpack.flow_log")
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(
        GeminiReply(
            text=None,
            thoughts="The user wants Lyon's weather: call the tool.",
            signature=SIGNATURE,
            function_calls=[("get_weather", {"city": "Lyon"})],
        ),
        GeminiReply(text=ANSWER.format(city="Lyon")),
    )
    client = google(proxy)  # kept: a client closes its connections when it is collected
    chat = client.chats.create(
        model=GEMINI_MODEL,
        config=types.GenerateContentConfig(
            system_instruction=INSTRUCTIONS,
            tools=[get_weather],
            thinking_config=types.ThinkingConfig(include_thoughts=True),
        ),
    )
    assert chat.send_message("What is the weather in Lyon?").text == ANSWER.format(city="Lyon")
    # The SDK sent the model's turn back as it came: its thought and signature with it.
    again = json.loads(gemini.received[-1].body)
    assert [part.get("thought") for part in again["contents"][1]["parts"]] == [True, None]
    assert "thoughtSignature" in again["contents"][1]["parts"][1]  # as bytes, written again

    ids, thread = thread_of(proxy, 2)
    first, second = thread["step_list"]
    assert read(first) == [
        ("user", None, "What is the weather in Lyon?"),
        ("call", "get_weather", {"city": "Lyon"}),
    ]
    assert first["answer"]["reasoning"] == "The user wants Lyon's weather: call the tool."
    assert first["answer"]["finish_reason"] == "STOP"
    assert read(second) == [
        ("result", "get_weather", {"result": WEATHER.format(city="Lyon")}),
        ("answer", ANSWER.format(city="Lyon")),
    ]
    assert second["answer"]["reasoning"] == ""
    assert thread["first_message"] == "What is the weather in Lyon?"
    check_thread(proxy, thread, ids, GEMINI_MODEL)
    check_shown(proxy, ids[0], GEMINI_MODEL, "Lyon", terminal_lines(caplog), tmp_path)
    proxy.close()
    check_logged(tmp_path, GEMINI_MODEL)


def test_a_gemini_loop_over_streams_is_one_thread(
    start_proxy: Callable[..., Running], gemini: FakeGemini
) -> None:
    proxy = start_proxy(gemini_upstream=gemini.url)
    gemini.queue(
        GeminiReply(text=None, function_calls=[("get_weather", {"city": "Porto"})]),
        GeminiReply(text=ANSWER.format(city="Porto"), piece=5),
    )
    client = google(proxy)
    declared = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city.",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    config = types.GenerateContentConfig(
        system_instruction=INSTRUCTIONS, tools=[types.Tool(function_declarations=[declared])]
    )
    contents: list[types.Content] = [
        types.Content(role="user", parts=[types.Part(text="What is the weather in Porto?")])
    ]
    chunks = list(
        client.models.generate_content_stream(model=GEMINI_MODEL, contents=contents, config=config)
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or ()]
    assert [(call.name, call.args) for call in calls] == [("get_weather", {"city": "Porto"})]
    contents.append(
        types.Content(role="model", parts=[types.Part(function_call=call) for call in calls])
    )
    results = [
        types.Part.from_function_response(
            name="get_weather", response={"output": get_weather(**(call.args or {}))}
        )
        for call in calls
    ]
    contents.append(types.Content(role="user", parts=results))
    text = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model=GEMINI_MODEL, contents=contents, config=config
        )
    )
    assert text == ANSWER.format(city="Porto")

    ids, thread = thread_of(proxy, 2)
    first, second = thread["step_list"]
    assert read(first) == [
        ("user", None, "What is the weather in Porto?"),
        ("call", "get_weather", {"city": "Porto"}),
    ]
    assert read(second) == [
        ("result", "get_weather", {"output": WEATHER.format(city="Porto")}),
        ("answer", ANSWER.format(city="Porto")),
    ]
    assert second["answer"]["finish_reason"] == "STOP"
    check_thread(proxy, thread, ids, GEMINI_MODEL)


def test_an_ollama_agent_is_one_thread(
    start_proxy: Callable[..., Running],
    fake_ollama: FakeOllama,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="playingpack.flow_log")
    proxy = start_proxy(ollama_upstream=fake_ollama.url)
    fake_ollama.queue(
        OllamaReply(
            content="",
            thinking="Oslo: ask the tool.",
            tool_calls=[("get_weather", {"city": "Oslo"})],
        ),
        OllamaReply(content=ANSWER.format(city="Oslo")),
    )
    messages: list[Any] = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "What is the weather in Oslo?"},
    ]
    with ollama.Client(host=proxy.url) as client:
        parts = list(
            client.chat(
                model=OLLAMA_MODEL, messages=messages, tools=[get_weather], think=True, stream=True
            )
        )
        calls = [call for part in parts for call in part.message.tool_calls or ()]
        assert [(call.function.name, call.function.arguments) for call in calls] == [
            ("get_weather", {"city": "Oslo"})
        ]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        for call in calls:
            result = get_weather(**call.function.arguments)
            messages.append({"role": "tool", "content": result, "tool_name": call.function.name})
        answer = client.chat(model=OLLAMA_MODEL, messages=messages, tools=[get_weather])
    assert answer.message.content == ANSWER.format(city="Oslo")

    ids, thread = thread_of(proxy, 2)
    first, second = thread["step_list"]
    assert read(first) == [
        ("user", None, "What is the weather in Oslo?"),
        ("call", "get_weather", {"city": "Oslo"}),
    ]
    assert first["answer"]["tool_calls"][0]["id"].startswith("call_")
    assert first["answer"]["reasoning"] == "Oslo: ask the tool."
    assert first["answer"]["finish_reason"] == "stop"
    assert read(second) == [
        ("result", "get_weather", WEATHER.format(city="Oslo")),
        ("answer", ANSWER.format(city="Oslo")),
    ]
    assert thread["first_message"] == "What is the weather in Oslo?"
    check_thread(proxy, thread, ids, OLLAMA_MODEL)
    check_shown(proxy, ids[0], OLLAMA_MODEL, "Oslo", terminal_lines(caplog), tmp_path)
    proxy.close()
    check_logged(tmp_path, OLLAMA_MODEL)
