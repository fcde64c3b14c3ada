"""Agent threads of real agent loops, through playingpack as a user runs it.

The OpenAI Agents SDK (Responses and chat completions models), pydantic-ai (OpenAI chat and
Anthropic) and LangChain (``ChatOpenAI.bind_tools`` and ``ChatAnthropic``) each run a weather
agent against fakes that answer like its model (tests/fakes/agent_upstream.py): the question
gets a ``get_weather`` tool call, the tool's result gets the answer. What is right, for each:
one thread whose steps are the agent's calls in order; the first step adds the question, the
second adds the tool's result, which answers the first step's tool call (by id, so named
``get_weather``); the answers are that tool call and then the final text. Two agents run side
by side are two threads, whichever order their calls end in. A call the SDK retried after a
500 is a retry of the failed one, not a step. After a restart the next call continues the
thread the first server began.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.clients.harness import Playingpack, wait_finished
from tests.conftest import API_KEY
from tests.fakes.agent_upstream import ANSWER, WEATHER, AgentAnthropic, AgentOpenAI

MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
INSTRUCTIONS = "Answer with the weather."


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[AgentOpenAI]:
    fake = AgentOpenAI()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[AgentAnthropic]:
    fake = AgentAnthropic()
    yield fake
    fake.close()


def start(workdir: Path, openai_fake: AgentOpenAI, anthropic_fake: AgentAnthropic) -> Playingpack:
    """playingpack with its history in ``workdir`` (the default, .playingpack/history.db)."""
    return Playingpack(
        workdir,
        upstream=openai_fake.url,
        anthropic_upstream=anthropic_fake.url,
        record="off",
        tapes_dir=workdir / "tapes",
        logs_dir=workdir / "logs",
    )


@pytest.fixture(scope="module")
def pp(
    tmp_path_factory: pytest.TempPathFactory,
    openai_upstream: AgentOpenAI,
    anthropic_upstream: AgentAnthropic,
) -> Iterator[Playingpack]:
    server = start(tmp_path_factory.mktemp("threads"), openai_upstream, anthropic_upstream)
    yield server
    server.stop()


def threads_of(pp: Playingpack, scope: str, calls: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The ids of ``scope``'s calls (oldest first, once all ``calls`` have finished), and the
    threads with steps among them, oldest first."""
    flows = wait_finished(pp, scope)
    ids = [flow["id"] for flow in flows]
    assert len(ids) == calls, [(f["path"], f["state"], f["status"]) for f in flows]
    listed = pp.api("/api/threads")
    details = [pp.api(f"/api/threads/{thread['id']}") for thread in listed]
    mine = [d for d in details if {step["flow"] for step in d["step_list"]} & set(ids)]
    return ids, sorted(mine, key=lambda thread: thread["started_at"])


def conversation(thread: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A thread as read: what each step added, then its answer."""
    read: list[tuple[Any, ...]] = []
    for step in thread["step_list"]:
        for turn in step["input"]:
            for part in turn["parts"]:
                if part["kind"] == "text":
                    read.append((turn["role"], part["text"]))
                elif part["kind"] == "tool_result":
                    read.append(("result", step["tool_names"].get(part["id"]), part["content"]))
        answer = step["answer"]
        if answer is None:
            read.append(("failed", step["status"]))
            continue
        read.extend(("call", call["name"], call["arguments"]) for call in answer["tool_calls"])
        if answer["text"]:
            read.append(("answer", answer["text"]))
    return read


def weather_loop(city: str) -> list[tuple[Any, ...]]:
    """What a weather agent's thread reads as."""
    return [
        ("user", f"What is the weather in {city}?"),
        ("call", "get_weather", {"city": city}),
        ("result", "get_weather", WEATHER.format(city=city)),
        ("answer", ANSWER.format(city=city)),
    ]


def check_one_thread(pp: Playingpack, scope: str, city: str) -> dict[str, Any]:
    """The scope's two calls are one thread that reads as the weather loop."""
    ids, threads = threads_of(pp, scope, 2)
    assert len(threads) == 1, [t["step_list"] for t in threads]
    thread = threads[0]
    assert thread["id"] == ids[0]
    assert [step["flow"] for step in thread["step_list"]] == ids
    assert [step["retry_of"] for step in thread["step_list"]] == [None, None]
    assert conversation(thread) == weather_loop(city)
    assert thread["system"] == INSTRUCTIONS
    # The result answers the first step's tool call, by its id.
    first_call = thread["step_list"][0]["answer"]["tool_calls"][0]["id"]
    assert list(thread["step_list"][1]["tool_names"]) == [first_call]
    assert thread["steps"] == 2
    assert thread["tools"] == ["get_weather"]
    assert thread["first_message"] == f"What is the weather in {city}?"
    # A chat stream that did not ask for usage has none.
    usages = [pp.api(f"/api/flows/{flow_id}")["usage"] or {} for flow_id in ids]
    assert thread["input_tokens"] == sum(usage.get("input_tokens", 0) for usage in usages)
    assert thread["output_tokens"] == sum(usage.get("output_tokens", 0) for usage in usages)
    assert thread["step_list"][1]["answer"]["finish_reason"] in ("stop", "end_turn", "completed")
    listed = [t for t in pp.api("/api/threads") if t["id"] == thread["id"]]
    assert listed == [{k: v for k, v in thread.items() if k not in ("system", "step_list")}]
    return thread


# --- the OpenAI Agents SDK ---------------------------------------------------------------------


def agents_run(
    root: str, api: str, prompts: list[Any], *, retries: int = 0, streamed: bool = False
) -> list[Any]:
    """Run the weather agent once per prompt, side by side (``Runner.run``, or
    ``Runner.run_streamed``); the results."""
    import openai
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        RunConfig,
        Runner,
        function_tool,
    )

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return WEATHER.format(city=city)

    async def go() -> list[Any]:
        async with openai.AsyncOpenAI(
            base_url=f"{root}/v1", api_key=API_KEY, max_retries=retries
        ) as client:
            kind = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
            agent = Agent(
                name="Weather",
                instructions=INSTRUCTIONS,
                model=kind(MODEL, client),
                tools=[get_weather],
            )
            config = RunConfig(tracing_disabled=True)  # traces would go to api.openai.com

            async def run(prompt: Any) -> Any:
                if not streamed:
                    return await Runner.run(agent, prompt, run_config=config)
                result = Runner.run_streamed(agent, prompt, run_config=config)
                async for _ in result.stream_events():
                    pass
                return result

            return list(await asyncio.gather(*(run(prompt) for prompt in prompts)))

    return asyncio.run(go())


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_openai_agents_sdk(pp: Playingpack, api: str, streamed: bool) -> None:
    city = {
        ("responses", False): "Turin",
        ("responses", True): "Porto",
        ("chat", False): "Split",
        ("chat", True): "Brno",
    }[api, streamed]
    scope = f"agents-{api}-{'run_streamed' if streamed else 'run'}"
    prompt = f"What is the weather in {city}?"
    (result,) = agents_run(pp.root(scope), api, [prompt], streamed=streamed)
    assert result.final_output == ANSWER.format(city=city)
    check_one_thread(pp, scope, city)


def test_two_agents_side_by_side(pp: Playingpack) -> None:
    scope = "agents-side-by-side"
    prompts = [f"What is the weather in {city}?" for city in ("Paris", "Rome")]
    agents_run(pp.root(scope), "chat", prompts)
    ids, threads = threads_of(pp, scope, 4)
    assert sorted(conversation(thread)[0][1] for thread in threads) == sorted(prompts)
    for thread in threads:
        city = conversation(thread)[0][1].removeprefix("What is the weather in ").rstrip("?")
        assert conversation(thread) == weather_loop(city)
        steps = [step["flow"] for step in thread["step_list"]]
        assert steps[0] == thread["id"] and ids.index(steps[0]) < ids.index(steps[1])
    assert sorted(step["flow"] for t in threads for step in t["step_list"]) == sorted(ids)


def test_one_agent_started_twice_with_the_same_message(pp: Playingpack) -> None:
    # The same question twice at once: two runs of the agent, two threads.
    scope = "agents-twice"
    agents_run(pp.root(scope), "responses", ["What is the weather in Bern?"] * 2)
    ids, threads = threads_of(pp, scope, 4)
    assert len(threads) == 2
    for thread in threads:
        assert conversation(thread) == weather_loop("Bern")
        assert thread["steps"] == 2
    assert sorted(step["flow"] for t in threads for step in t["step_list"]) == sorted(ids)


def test_a_call_retried_after_a_500(pp: Playingpack, openai_upstream: AgentOpenAI) -> None:
    scope = "agents-retried"
    openai_upstream.fail(1)
    (result,) = agents_run(pp.root(scope), "chat", ["What is the weather in Oslo?"], retries=1)
    assert result.final_output == ANSWER.format(city="Oslo")
    ids, threads = threads_of(pp, scope, 3)
    (thread,) = threads
    steps = thread["step_list"]
    assert [step["flow"] for step in steps] == ids
    assert [step["retry_of"] for step in steps] == [None, ids[0], None]
    assert steps[0]["status"] == 500 and steps[0]["answer"] is None
    assert steps[1]["input"] == []  # it repeats the failed call
    assert conversation(thread) == [
        ("user", "What is the weather in Oslo?"),
        ("failed", 500),
        *weather_loop("Oslo")[1:],
    ]
    assert thread["steps"] == 2  # the retry is no step of its own


def test_a_restart_in_the_middle(
    tmp_path: Path, openai_upstream: AgentOpenAI, anthropic_upstream: AgentAnthropic
) -> None:
    scope = "agents-restart"
    with start(tmp_path, openai_upstream, anthropic_upstream) as first:
        (result,) = agents_run(first.root(scope), "responses", ["What is the weather in Riga?"])
        before, _ = threads_of(first, scope, 2)
        first_run = first.api("/api/runs")[0]["id"]
    # The same history; the user asks on in the same conversation.
    follow_up = [*result.to_input_list(), {"role": "user", "content": "And in Vilnius?"}]
    with start(tmp_path, openai_upstream, anthropic_upstream) as second:
        (again,) = agents_run(second.root(scope), "responses", [follow_up])
        assert again.final_output == ANSWER.format(city="Vilnius")
        ids, threads = threads_of(second, scope, 4)
    (thread,) = threads
    assert ids[:2] == before
    assert [step["flow"] for step in thread["step_list"]] == ids
    assert thread["id"] == before[0] and thread["run"] == first_run
    assert thread["steps"] == 4
    assert conversation(thread) == [
        *weather_loop("Riga"),
        ("user", "And in Vilnius?"),
        *weather_loop("Vilnius")[1:],
    ]


# --- pydantic-ai -------------------------------------------------------------------------------


def pydantic_ai_run(model: Any, client: Any, city: str) -> str:
    from pydantic_ai import Agent

    async def go() -> str:
        agent = Agent(model, instructions=INSTRUCTIONS)

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather in a city."""
            return WEATHER.format(city=city)

        async with client:
            return (await agent.run(f"What is the weather in {city}?")).output

    return asyncio.run(go())


def test_pydantic_ai_openai_chat(pp: Playingpack) -> None:
    import openai
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    scope = "pydantic-ai-chat"
    client = openai.AsyncOpenAI(base_url=pp.base_url(scope), api_key=API_KEY, max_retries=0)
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
    assert pydantic_ai_run(model, client, "Doha") == ANSWER.format(city="Doha")
    check_one_thread(pp, scope, "Doha")


def test_pydantic_ai_anthropic(pp: Playingpack) -> None:
    import anthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    scope = "pydantic-ai-anthropic"
    client = anthropic.AsyncAnthropic(base_url=pp.root(scope), api_key=API_KEY, max_retries=0)
    model = AnthropicModel(CLAUDE, provider=AnthropicProvider(anthropic_client=client))
    assert pydantic_ai_run(model, client, "Faro") == ANSWER.format(city="Faro")
    check_one_thread(pp, scope, "Faro")


# --- LangChain ---------------------------------------------------------------------------------


def langchain_loop(chat: Any, city: str) -> str:
    """``chat.bind_tools``: ask, run the tool calls, send the results back."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return WEATHER.format(city=city)

    bound = chat.bind_tools([get_weather])
    messages: list[BaseMessage] = [
        SystemMessage(INSTRUCTIONS),
        HumanMessage(f"What is the weather in {city}?"),
    ]
    first = bound.invoke(messages)
    assert isinstance(first, AIMessage)
    messages.append(first)
    messages.extend(get_weather.invoke(call) for call in first.tool_calls)
    return str(bound.invoke(messages).text)


def test_langchain_chat_openai(pp: Playingpack) -> None:
    from langchain_openai import ChatOpenAI

    scope = "langchain-openai"
    chat = ChatOpenAI(
        model=MODEL, base_url=pp.base_url(scope), api_key=SecretStr(API_KEY), max_retries=0
    )
    assert langchain_loop(chat, "Lima") == ANSWER.format(city="Lima")
    check_one_thread(pp, scope, "Lima")


def test_langchain_chat_anthropic(pp: Playingpack) -> None:
    from langchain_anthropic import ChatAnthropic

    scope = "langchain-anthropic"
    chat = ChatAnthropic(
        model_name=CLAUDE,
        base_url=pp.root(scope),
        api_key=SecretStr(API_KEY),
        max_retries=0,
        timeout=10,
        stop=None,
    )
    assert langchain_loop(chat, "Kyiv") == ANSWER.format(city="Kyiv")
    check_one_thread(pp, scope, "Kyiv")
