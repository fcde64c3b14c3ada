"""Third-party clients of Gemini and Ollama through a real playingpack, unmodified but for their
base URL: pydantic-ai's and LangChain's Google models and langchain-ollama, each recorded, then
replayed by a second server whose upstream is stopped, with the same answer (but for
pydantic-ai's Gemini tool round, whose second request carries random call ids, so its replay
misses); and the OpenAI SDK at Ollama's ``/v1``, which stays OpenAI's route."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from google import genai
from google.genai import types
from pydantic_ai import Agent
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.providers.google import GoogleProvider

from playingpack.config import RecordMode
from tests.conftest import API_KEY, Running
from tests.fakes.gemini_upstream import MODEL as GEMINI_MODEL
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import MODEL as OLLAMA_MODEL
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply
from tests.fakes.openai_upstream import FakeUpstream, Reply

KEY = "AIzaSyTEST-clients-native-0123456789abcd"
WEATHER = "Sunny in {city}, 22 C"


def record_then_replay(
    start_proxy: Callable[..., Running],
    fake: FakeGemini | FakeOllama,
    run: Callable[[str], Any],
    calls: int,
) -> Any:
    """``run(proxy.url)`` against a recording server, then again against a replay-only server
    whose upstream is stopped; both give the same result, which is returned."""
    upstream = (
        {"gemini_upstream": fake.url}
        if isinstance(fake, FakeGemini)
        else {"ollama_upstream": fake.url}
    )
    proxy = start_proxy(**upstream)
    recorded = run(proxy.url)
    flows = proxy.finished_flows(calls)
    assert [flow["tape_use"] for flow in flows] == ["recorded"] * calls
    assert len(proxy.tapes()) == calls
    proxy.close()
    fake.close()

    offline = start_proxy(**upstream, record=RecordMode.REPLAY_ONLY)
    replayed = run(offline.url)
    assert [flow["tape_use"] for flow in offline.finished_flows(calls)] == ["replayed"] * calls
    assert replayed == recorded
    return recorded


# --- pydantic-ai -------------------------------------------------------------------------------


def _pydantic_ai_weather(root: str, city: str, streamed: bool) -> tuple[str, list[str]]:
    """An agent on pydantic-ai's GoogleModel with one tool, by ``run`` or ``run_stream``."""
    looked_up: list[str] = []

    async def go() -> str:
        # pydantic-ai takes httpx2's client; ours, so that its connections are closed.
        async with httpx2.AsyncClient(timeout=30) as http:
            provider = GoogleProvider(api_key=KEY, base_url=root, http_client=http)
            model = GoogleModel(GEMINI_MODEL, provider=provider)
            return await ask(Agent(model, instructions="Be brief."))

    async def ask(agent: Agent[None, str]) -> str:

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather in a city."""
            looked_up.append(city)
            return WEATHER.format(city=city)

        prompt = f"What is the weather in {city}?"
        if streamed:
            async with agent.run_stream(prompt) as result:
                pieces = [text async for text in result.stream_text(delta=True)]
                output = await result.get_output()
                assert "".join(pieces) == output
                return output
        return (await agent.run(prompt)).output

    return asyncio.run(go()), looked_up


def _weather_loop(gemini: FakeGemini, city: str) -> str:
    """Queue a functionCall for ``city``'s weather, then the answer, which is returned."""
    answer = f"It is sunny in {city}."
    gemini.queue(
        GeminiReply(text=None, function_calls=[("get_weather", {"city": city})]),
        GeminiReply(text=answer, piece=5),
    )
    return answer


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_pydantic_ai_google_model_tool_round_is_recorded(
    start_proxy: Callable[..., Running], gemini: FakeGemini, streamed: bool
) -> None:
    city = "Cork" if streamed else "Faro"
    answer = _weather_loop(gemini, city)
    proxy = start_proxy(gemini_upstream=gemini.url)
    assert _pydantic_ai_weather(proxy.url, city, streamed) == (answer, [city])
    flows = proxy.finished_flows(2)
    assert [flow["tape_use"] for flow in flows] == ["recorded", "recorded"]
    method = "streamGenerateContent" if streamed else "generateContent"
    assert all(method in sent.path for sent in gemini.received)
    assert WEATHER.format(city=city) in gemini.received[-1].body.decode()
    assert len(proxy.tapes()) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_pydantic_ai_google_model_tool_round_is_replayed(
    start_proxy: Callable[..., Running], gemini: FakeGemini, streamed: bool
) -> None:
    city = "Lodz" if streamed else "Bari"
    answer = _weather_loop(gemini, city)
    result = record_then_replay(
        start_proxy, gemini, lambda root: _pydantic_ai_weather(root, city, streamed), calls=2
    )
    assert result == (answer, [city])


def test_pydantic_ai_google_model_on_a_genai_client(
    start_proxy: Callable[..., Running], gemini: FakeGemini
) -> None:
    gemini.queue(GeminiReply(text="Pack a scarf for Turin."))

    async def go(root: str) -> str:
        async with httpx.AsyncClient() as http:
            options = types.HttpOptions(base_url=root, httpx_async_client=http)
            client = genai.Client(api_key=KEY, http_options=options)
            model = GoogleModel(GEMINI_MODEL, provider=GoogleProvider(client=client))
            return (await Agent(model).run("What to pack for Turin?")).output

    def run(root: str) -> str:
        return asyncio.run(go(root))

    assert record_then_replay(start_proxy, gemini, run, calls=1) == "Pack a scarf for Turin."


# --- LangChain ---------------------------------------------------------------------------------


def _langchain_weather(chat: Any, how: str, city: str) -> tuple[str, list[str]]:
    """A tool round with ``chat.bind_tools``: ask, run the tool calls, send the results back,
    by ``invoke`` or ``stream``."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    from langchain_core.tools import tool

    looked_up: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return WEATHER.format(city=city)

    bound = chat.bind_tools([get_weather])

    def call(messages: list[BaseMessage]) -> Any:
        if how == "invoke":
            return bound.invoke(messages)
        chunks = list(bound.stream(messages))
        whole = chunks[0]
        for chunk in chunks[1:]:
            whole += chunk
        return whole

    messages: list[BaseMessage] = [HumanMessage(f"What is the weather in {city}?")]
    first = call(messages)
    assert isinstance(first, AIMessage)
    assert [c["name"] for c in first.tool_calls] == ["get_weather"]
    messages.append(first)
    messages.extend(get_weather.invoke(c) for c in first.tool_calls)
    return str(call(messages).text), looked_up


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_google_genai(
    start_proxy: Callable[..., Running], gemini: FakeGemini, how: str
) -> None:
    from langchain_google_genai import ChatGoogleGenerativeAI
    from pydantic import SecretStr

    gemini.queue(GeminiReply(text="Bring boots to Graz, it rains all week.", piece=6))

    def run(root: str) -> str:
        chat = ChatGoogleGenerativeAI(
            model=GEMINI_MODEL, google_api_key=SecretStr(KEY), base_url=root, max_retries=0
        )
        if how == "stream":
            return "".join(str(chunk.content) for chunk in chat.stream("What to pack for Graz?"))
        return chat.invoke("What to pack for Graz?").text

    answer = record_then_replay(start_proxy, gemini, run, calls=1)
    assert answer == "Bring boots to Graz, it rains all week."
    method = "streamGenerateContent" if how == "stream" else "generateContent"
    assert method in gemini.received[-1].path


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_google_genai_tool_round(
    start_proxy: Callable[..., Running], gemini: FakeGemini, how: str
) -> None:
    from langchain_google_genai import ChatGoogleGenerativeAI
    from pydantic import SecretStr

    city = "Pula" if how == "stream" else "Split"
    answer = _weather_loop(gemini, city)

    def run(root: str) -> tuple[str, list[str]]:
        chat = ChatGoogleGenerativeAI(
            model=GEMINI_MODEL, google_api_key=SecretStr(KEY), base_url=root, max_retries=0
        )
        return _langchain_weather(chat, how, city)

    assert record_then_replay(start_proxy, gemini, run, calls=2) == (answer, [city])
    assert WEATHER.format(city=city) in gemini.received[-1].body.decode()


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_ollama(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama, how: str
) -> None:
    from langchain_ollama import ChatOllama

    fake_ollama.queue(OllamaReply(content="Take a warm hat to Tromso."))

    def run(root: str) -> str:
        # The transport is ours so that its connections are closed; ChatOllama makes the client.
        with httpx.HTTPTransport() as transport:
            chat = ChatOllama(
                model=OLLAMA_MODEL, base_url=root, sync_client_kwargs={"transport": transport}
            )
            if how == "stream":
                return "".join(
                    str(part.content) for part in chat.stream("What to pack for Tromso?")
                )
            return chat.invoke("What to pack for Tromso?").text

    assert record_then_replay(start_proxy, fake_ollama, run, calls=1) == (
        "Take a warm hat to Tromso."
    )
    assert fake_ollama.received[-1].path == "/api/chat"


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_ollama_tool_round(
    start_proxy: Callable[..., Running], fake_ollama: FakeOllama, how: str
) -> None:
    from langchain_ollama import ChatOllama

    city = "Bodo" if how == "stream" else "Alta"
    answer = f"It is sunny in {city}."
    fake_ollama.queue(
        OllamaReply(content=None, tool_calls=[("get_weather", {"city": city})]),
        OllamaReply(content=answer),
    )

    def run(root: str) -> tuple[str, list[str]]:
        with httpx.HTTPTransport() as transport:
            chat = ChatOllama(
                model=OLLAMA_MODEL, base_url=root, sync_client_kwargs={"transport": transport}
            )
            return _langchain_weather(chat, how, city)

    assert record_then_replay(start_proxy, fake_ollama, run, calls=2) == (answer, [city])
    assert WEATHER.format(city=city) in fake_ollama.received[-1].body.decode()


def test_openai_sdk_at_ollamas_v1_stays_openais_route(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, fake_ollama: FakeOllama
) -> None:
    import openai

    proxy = start_proxy(ollama_upstream=fake_ollama.url)
    upstream.queue(Reply(content="Hello from the OpenAI route."))
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=API_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(
            model=OLLAMA_MODEL, messages=[{"role": "user", "content": "Hi"}]
        )
    assert (reply.choices[0].message.content, fake_ollama.received) == (
        "Hello from the OpenAI route.",
        [],
    )
