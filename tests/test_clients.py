"""Third-party Python clients through playingpack: LangChain, pydantic-ai, the LiteLLM SDK and
the OpenAI Agents SDK, each recorded, then replayed (replay-only, upstream not running), with a
tool loop that round-trips; the user sees every flow COMPLETE, one terminal line and one log
line each (tests/clients/harness.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.clients.harness import Pair
from tests.conftest import API_KEY
from tests.fakes import anthropic_upstream as anthropic_fake
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

pytestmark = [
    # litellm's types declare ReadOnly TypedDict items, which pydantic warns it cannot enforce.
    pytest.mark.filterwarnings(
        r"ignore:Item '\w+' on TypedDict class '\w+' is using the `ReadOnly` qualifier:UserWarning"
    ),
]

MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
WEATHER = "Sunny in {city}, 22 C"


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    openai_upstream: FakeUpstream,
    anthropic_upstream: FakeAnthropic,
) -> Iterator[Pair]:
    both = Pair(tmp_path_factory.mktemp("clients"), openai_upstream, anthropic_upstream)
    yield both
    both.close()


def weather_loop(fake: FakeUpstream, city: str, answer: str) -> None:
    """Queue a tool call for ``city``'s weather, then ``answer``."""
    fake.queue(
        Reply(content=None, tool_calls=[("get_weather", f'{{"city": "{city}"}}')], piece=3),
        Reply(content=answer, piece=5),
    )


def claude_weather_loop(fake: FakeAnthropic, city: str, answer: str) -> None:
    fake.queue(
        anthropic_fake.Reply(text=None, tool_uses=[("get_weather", f'{{"city": "{city}"}}')]),
        anthropic_fake.Reply(text=answer, piece=5),
    )


def sent_back(fake: FakeUpstream | FakeAnthropic) -> str:
    """The body of the last request the fake received (where the tool's result went back)."""
    return fake.received[-1].body.decode()


# --- LangChain ---------------------------------------------------------------------------------


def _langchain_loop(chat: Any, how: str, city: str) -> tuple[str, list[str]]:
    """A tool loop with ``chat.bind_tools``: ask, run the tool calls, send the results back.
    ``how`` is invoke, stream or astream (one event loop for the whole loop: LangChain keeps
    its async client, which belongs to the loop that first used it)."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    from langchain_core.tools import tool

    looked_up: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return WEATHER.format(city=city)

    bound = chat.bind_tools([get_weather])

    async def call(messages: list[BaseMessage]) -> Any:
        if how == "invoke":
            return bound.invoke(messages)
        if how == "stream":
            chunks = list(bound.stream(messages))
        else:
            chunks = [chunk async for chunk in bound.astream(messages)]
        whole = chunks[0]
        for chunk in chunks[1:]:
            whole += chunk
        return whole

    async def loop() -> str:
        messages: list[BaseMessage] = [HumanMessage(f"What is the weather in {city}?")]
        first = await call(messages)
        assert isinstance(first, AIMessage)
        assert [c["name"] for c in first.tool_calls] == ["get_weather"]
        messages.append(first)
        messages.extend(get_weather.invoke(c) for c in first.tool_calls)
        final = await call(messages)
        if how == "astream":
            # LangChain caches the async HTTP client per base URL; close it on its own loop.
            await chat.root_async_client.close()
        return str(final.text)

    return asyncio.run(loop()), looked_up


@pytest.mark.parametrize("how", ["invoke", "stream", "astream"])
def test_langchain_chat_openai(pair: Pair, openai_upstream: FakeUpstream, how: str) -> None:
    from langchain_openai import ChatOpenAI

    city = {"invoke": "Paris", "stream": "Rome", "astream": "Oslo"}[how]
    answer = f"It is sunny in {city}."
    weather_loop(openai_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        chat = ChatOpenAI(
            model=MODEL, base_url=f"{root}/v1", api_key=SecretStr(API_KEY), max_retries=0
        )
        return _langchain_loop(chat, how, city)

    result = pair.record_then_replay(f"langchain-openai-{how}", run, calls=2, tools=["get_weather"])
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(openai_upstream)


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_chat_anthropic(pair: Pair, anthropic_upstream: FakeAnthropic, how: str) -> None:
    from langchain_anthropic import ChatAnthropic

    city = {"invoke": "Lima", "stream": "Kyiv"}[how]
    answer = f"It is sunny in {city}."
    claude_weather_loop(anthropic_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        chat = ChatAnthropic(
            model_name=CLAUDE,
            base_url=root,
            api_key=SecretStr(API_KEY),
            max_retries=0,
            timeout=10,
            stop=None,  # its default, which mypy's view of the pydantic model asks for
        )
        return _langchain_loop(chat, how, city)

    result = pair.record_then_replay(
        f"langchain-anthropic-{how}", run, calls=2, tools=["get_weather"]
    )
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(anthropic_upstream)


# --- pydantic-ai -------------------------------------------------------------------------------


def _pydantic_ai_loop(
    connect: Callable[[], tuple[Any, Any]], streamed: bool, city: str
) -> tuple[str, list[str]]:
    """An agent with one tool, by ``agent.run`` or ``agent.run_stream``. ``connect()`` gives
    the model and its SDK client, made and closed on the loop that uses them."""
    from pydantic_ai import Agent

    looked_up: list[str] = []

    async def go() -> str:
        model, client = connect()
        agent = Agent(model, instructions="Answer with the weather.")

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather in a city."""
            looked_up.append(city)
            return WEATHER.format(city=city)

        prompt = f"What is the weather in {city}?"
        async with client:
            if streamed:
                async with agent.run_stream(prompt) as result:
                    pieces = [text async for text in result.stream_text(delta=True)]
                    output = await result.get_output()
                    assert "".join(pieces) == output
                    return output
            return (await agent.run(prompt)).output

    return asyncio.run(go()), looked_up


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_pydantic_ai_openai(
    pair: Pair, openai_upstream: FakeUpstream, api: str, streamed: bool
) -> None:
    import openai
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    city = {
        ("chat", False): "Bern",
        ("chat", True): "Doha",
        ("responses", False): "Riga",
        ("responses", True): "Baku",
    }[api, streamed]
    answer = f"It is sunny in {city}."
    weather_loop(openai_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        def connect() -> tuple[Any, Any]:
            client = openai.AsyncOpenAI(base_url=f"{root}/v1", api_key=API_KEY, max_retries=0)
            kind = OpenAIChatModel if api == "chat" else OpenAIResponsesModel
            return kind(MODEL, provider=OpenAIProvider(openai_client=client)), client

        return _pydantic_ai_loop(connect, streamed, city)

    scope = f"pydantic-ai-{api}-{'run_stream' if streamed else 'run'}"
    result = pair.record_then_replay(scope, run, calls=2, tools=["get_weather"])
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(openai_upstream)


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_pydantic_ai_anthropic(
    pair: Pair, anthropic_upstream: FakeAnthropic, streamed: bool
) -> None:
    import anthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    city = "Cork" if streamed else "Faro"
    answer = f"It is sunny in {city}."
    claude_weather_loop(anthropic_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        def connect() -> tuple[Any, Any]:
            client = anthropic.AsyncAnthropic(base_url=root, api_key=API_KEY, max_retries=0)
            provider = AnthropicProvider(anthropic_client=client)
            return AnthropicModel(CLAUDE, provider=provider), client

        return _pydantic_ai_loop(connect, streamed, city)

    scope = f"pydantic-ai-anthropic-{'run_stream' if streamed else 'run'}"
    result = pair.record_then_replay(scope, run, calls=2, tools=["get_weather"])
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(anthropic_upstream)


# --- the LiteLLM SDK ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def litellm() -> Iterator[Any]:
    """The litellm module, imported offline (its bundled model prices, no fetch)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        yield litellm


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.mark.parametrize("how", ["completion", "stream", "acompletion-stream"])
def test_litellm_sdk(pair: Pair, openai_upstream: FakeUpstream, litellm: Any, how: str) -> None:
    city = {"completion": "Nice", "stream": "Pisa", "acompletion-stream": "Gent"}[how]
    answer = f"It is sunny in {city}."
    weather_loop(openai_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        options = {
            "model": f"openai/{MODEL}",
            "api_base": f"{root}/v1",
            "api_key": API_KEY,
            "tools": TOOLS,
            "num_retries": 0,
        }

        async def call(messages: list[dict[str, Any]]) -> Any:
            if how == "completion":
                return litellm.completion(messages=messages, **options)
            if how == "stream":
                chunks = list(litellm.completion(messages=messages, stream=True, **options))
            else:
                stream = await litellm.acompletion(messages=messages, stream=True, **options)
                chunks = [chunk async for chunk in stream]
            return litellm.stream_chunk_builder(chunks, messages=messages)

        async def loop() -> tuple[str, list[str]]:
            messages: list[dict[str, Any]] = [
                {"role": "user", "content": f"What is the weather in {city}?"}
            ]
            first = (await call(messages)).choices[0].message
            looked_up = [json.loads(c.function.arguments)["city"] for c in first.tool_calls]
            messages.append(first.model_dump(exclude_none=True))
            messages.extend(
                {
                    "role": "tool",
                    "tool_call_id": c.id,
                    "content": WEATHER.format(city=json.loads(c.function.arguments)["city"]),
                }
                for c in first.tool_calls
            )
            final = (await call(messages)).choices[0].message
            return str(final.content), looked_up

        return asyncio.run(loop())

    result = pair.record_then_replay(f"litellm-{how}", run, calls=2, tools=["get_weather"])
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(openai_upstream)


# --- the OpenAI Agents SDK ---------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_openai_agents_sdk(
    pair: Pair, openai_upstream: FakeUpstream, api: str, streamed: bool
) -> None:
    import openai
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        RunConfig,
        Runner,
        function_tool,
    )

    city = {
        ("responses", False): "Turin",
        ("responses", True): "Porto",
        ("chat", False): "Split",
        ("chat", True): "Brno",
    }[api, streamed]
    answer = f"It is sunny in {city}."
    weather_loop(openai_upstream, city, answer)

    def run(root: str) -> tuple[str, list[str]]:
        looked_up: list[str] = []

        @function_tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            looked_up.append(city)
            return WEATHER.format(city=city)

        async def go() -> str:
            async with openai.AsyncOpenAI(
                base_url=f"{root}/v1", api_key=API_KEY, max_retries=0
            ) as client:
                kind = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
                agent = Agent(
                    name="Weather",
                    instructions="Answer with the weather.",
                    model=kind(MODEL, client),
                    tools=[get_weather],
                )
                # Traces would go to api.openai.com.
                config = RunConfig(tracing_disabled=True)
                prompt = f"What is the weather in {city}?"
                if streamed:
                    result = Runner.run_streamed(agent, prompt, run_config=config)
                    async for _ in result.stream_events():
                        pass
                    return str(result.final_output)
                return str((await Runner.run(agent, prompt, run_config=config)).final_output)

        return asyncio.run(go()), looked_up

    scope = f"agents-{api}-{'run_streamed' if streamed else 'run'}"
    result = pair.record_then_replay(scope, run, calls=2, tools=["get_weather"])
    assert result == (answer, [city])
    assert WEATHER.format(city=city) in sent_back(openai_upstream)
