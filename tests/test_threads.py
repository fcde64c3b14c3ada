"""Placing calls in agent threads: real recorded conversations, and the rule's cases by hand.

What is right: a call continues the call whose input plus answer its input extends (the longest
such); one that extends none starts a thread named after itself; a call with a failed call's
input, sent after it ended, repeats it (``retry_of``) in its place; equal traffic (two runs of
one agent) stays in as many threads as there were runs; threads never cross scopes.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from playingpack.providers import Provider, builtin
from playingpack.threads import Fingerprint, Placement, ThreadIndex, fingerprint
from tests.fakes.corpus_upstream import Recorded, load_corpus

PROVIDERS = {provider.endpoint: provider for provider in builtin()}
CHAT = PROVIDERS["/v1/chat/completions"]
RESPONSES = PROVIDERS["/v1/responses"]
CORPUS = load_corpus()


def recorded_print(recorded: Recorded, scope: str | None) -> Fingerprint:
    provider = next(p for p in PROVIDERS.values() if p.serves(recorded.endpoint))
    answer: Any = (
        provider.assemble(recorded.events) if recorded.stream else json.loads(recorded.body)
    )
    failed = recorded.status >= 400 or not recorded.tape
    found = fingerprint(provider, recorded.request, answer, failed=failed, scope=scope)
    assert found is not None
    return found


def place_recorded(index: ThreadIndex, *names: str, scope: str | None = None) -> list[Placement]:
    return [index.place(name, recorded_print(CORPUS[name], scope)) for name in names]


def new(name: str) -> Placement:
    return Placement(name, None, None)


def after(thread: str, call: str) -> Placement:
    return Placement(thread, call, None)


# --- real recorded conversations -----------------------------------------------------------


def test_a_chain_of_tool_calls() -> None:
    # simonw/llm: arguments re-serialised with spaces, content null left out.
    names = [f"llm.openai.tool-use-chain-of-two-calls.{n}" for n in range(3)]
    assert place_recorded(ThreadIndex(), *names) == [
        new(names[0]),
        after(names[0], names[0]),
        after(names[0], names[1]),
    ]


def test_parallel_tool_calls_and_their_results() -> None:
    names = ["pai.openai.complex-agent-run.0", "pai.openai.complex-agent-run.1"]
    assert place_recorded(ThreadIndex(), *names) == [new(names[0]), after(names[0], names[0])]


def test_anthropic_thinking_blocks_with_signatures_sent_back() -> None:
    for case in ("anthropic-tool-with-thinking", "multiple-parallel-tool-calls"):
        names = [f"pai.anthropic.{case}.0", f"pai.anthropic.{case}.1"]
        assert place_recorded(ThreadIndex(), *names) == [new(names[0]), after(names[0], names[0])]


def test_responses_reasoning_dropped_when_sent_back() -> None:
    for case in (
        "llm.openai.responses-tool-use-streaming",
        "pai.deepseek.deepseek-responses-function-tool-stream",
    ):
        names = [f"{case}.0", f"{case}.1"]
        assert place_recorded(ThreadIndex(), *names) == [new(names[0]), after(names[0], names[0])]


def test_a_tool_call_without_id_and_the_id_the_client_made_up() -> None:
    # Gemini's OpenAI API answered "id": ""; pydantic-ai sent it back as pyd_ai_<uuid>.
    names = [f"pai.gemini.compatible-api-with-tool-calls-without-id.{n}" for n in range(2)]
    assert place_recorded(ThreadIndex(), *names) == [new(names[0]), after(names[0], names[0])]


def test_a_failed_call_then_an_answer_sent_back_rewritten() -> None:
    # Groq refused the first tool call (an error event); pydantic-ai went on with its own
    # account of it, then sent the second answer back with its reasoning put in the text.
    names = [f"pai.groq.tool-use-failed-error-streaming.{n}" for n in range(3)]
    assert place_recorded(ThreadIndex(), *names) == [
        new(names[0]),
        after(names[0], names[0]),
        after(names[0], names[1]),
    ]


def test_the_same_first_message_answered_four_times_is_four_threads() -> None:
    # One vercel fixture: "Hello" sent four times, each answered; no retries.
    names = [f"vercel.openai.openai-reasoning-encrypted-content-1-stream.{n}" for n in range(4)]
    assert place_recorded(ThreadIndex(), *names) == [new(name) for name in names]


def test_recorded_conversations_side_by_side_stay_apart() -> None:
    first = [f"llm.openai.tool-use-chain-of-two-calls.{n}" for n in range(3)]
    second = ["pai.openai.complex-agent-run.0", "pai.openai.complex-agent-run.1"]
    index = ThreadIndex()
    placed = place_recorded(index, first[0], second[0], first[1], second[1], first[2])
    assert placed == [
        new(first[0]),
        new(second[0]),
        after(first[0], first[0]),
        after(second[0], second[0]),
        after(first[0], first[1]),
    ]


def test_threads_never_cross_scopes() -> None:
    names = [f"llm.openai.tool-use-chain-of-two-calls.{n}" for n in range(2)]
    index = ThreadIndex()
    assert index.place(names[0], recorded_print(CORPUS[names[0]], "test_a")) == new(names[0])
    assert index.place(names[1], recorded_print(CORPUS[names[1]], "test_b")) == new(names[1])


# --- the rule, by hand ---------------------------------------------------------------------


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def calls(*pairs: tuple[str, str]) -> dict[str, Any]:
    """An assistant message calling tools: (id, city) pairs."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
            }
            for call_id, city in pairs
        ],
    }


def result(call_id: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def said(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def chat(
    messages: list[dict[str, Any]],
    answer: dict[str, Any] | None,
    *,
    scope: str | None = None,
    started: float | None = None,
    ended: float | None = None,
    provider: Provider = CHAT,
) -> Fingerprint:
    """The fingerprint of a chat call; ``answer`` None: it failed (a 500)."""
    body = (
        {"choices": [{"index": 0, "message": answer, "finish_reason": "stop"}]}
        if answer is not None
        else {"error": {"message": "boom", "type": "server_error"}}
    )
    found = fingerprint(
        provider,
        {"model": "m", "messages": messages},
        body,
        scope=scope,
        started=started,
        ended=ended,
    )
    assert found is not None
    return found


def test_a_tool_loop() -> None:
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    assert index.place("a1", chat(ask, one)) == new("a1")
    two = [*ask, one, result("call_1", "Sunny")]
    assert index.place("a2", chat(two, said("It is sunny."))) == after("a1", "a1")
    three = [*two, said("It is sunny."), user("And tomorrow?")]
    assert index.place("a3", chat(three, said("Rain."))) == after("a1", "a2")


def test_the_longest_match_wins() -> None:
    index = ThreadIndex()
    ask = [user("Hi")]
    index.place("a1", chat(ask, said("Hello!")))
    # a2 starts from a1's conversation; a3 extends a2's, and so a1's too.
    two = [*ask, said("Hello!"), user("Weather?")]
    index.place("a2", chat(two, said("Where?")))
    three = [*two, said("Where?"), user("Oslo")]
    assert index.place("a3", chat(three, said("Snow."))) == after("a1", "a2")


def test_a_retry_after_a_failure() -> None:
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    index.place("a1", chat(ask, one))
    two = [*ask, one, result("call_1", "Sunny")]
    assert index.place("a2", chat(two, None, started=10.0, ended=10.5)) == after("a1", "a1")
    retried = index.place("a3", chat(two, None, started=11.0, ended=11.5))
    assert retried == Placement("a1", "a1", "a2")
    again = index.place("a4", chat(two, said("Sunny."), started=12.0, ended=12.5))
    assert again == Placement("a1", "a1", "a3")  # each retry repeats the one before
    three = [*two, said("Sunny."), user("Thanks")]
    assert index.place("a5", chat(three, said("Welcome."))) == after("a1", "a4")


def test_a_first_call_retried() -> None:
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    assert index.place("a1", chat(ask, None, started=1.0, ended=1.2)) == new("a1")
    assert index.place("a2", chat(ask, said("Sunny."), started=1.7, ended=2.0)) == Placement(
        "a1", None, "a1"
    )


def test_the_same_input_sent_while_the_failed_call_ran_is_no_retry() -> None:
    # Two agents started at once with the same first message; the first one's call failed.
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    index.place("a1", chat(ask, None, started=1.0, ended=2.0))
    assert index.place("b1", chat(ask, said("Sunny."), started=1.5, ended=2.5)) == new("b1")
    # The first agent's retry is one.
    assert index.place("a2", chat(ask, said("Sunny."), started=2.6, ended=3.0)) == Placement(
        "a1", None, "a1"
    )


def test_the_same_input_after_a_success_is_no_retry() -> None:
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    index.place("a1", chat(ask, said("Sunny."), started=1.0, ended=2.0))
    assert index.place("b1", chat(ask, said("Sunny."), started=3.0, ended=4.0)) == new("b1")


def test_a_retry_stays_in_its_scope() -> None:
    index = ThreadIndex()
    ask = [user("Weather in Paris?")]
    index.place("a1", chat(ask, None, scope="test_a"))
    assert index.place("b1", chat(ask, said("Sunny."), scope="test_b")) == new("b1")


def test_one_agent_run_twice_on_equal_traffic() -> None:
    # Tapes answer both runs alike: the same ids, the same answers.
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    two = [*ask, one, result("call_1", "Sunny")]
    index = ThreadIndex()
    assert index.place("a1", chat(ask, one)) == new("a1")
    assert index.place("a2", chat(two, said("Sunny."))) == after("a1", "a1")
    assert index.place("b1", chat(ask, one)) == new("b1")
    assert index.place("b2", chat(two, said("Sunny."))) == after("b1", "b1")


def test_a_suite_run_again_and_again_on_its_tapes() -> None:
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    two = [*ask, one, result("call_1", "Sunny")]
    index = ThreadIndex()
    for run in range(30):
        assert index.place(f"r{run}-1", chat(ask, one, scope="test_weather")) == new(f"r{run}-1")
        placed = index.place(f"r{run}-2", chat(two, said("Sunny."), scope="test_weather"))
        assert placed == after(f"r{run}-1", f"r{run}-1")


def test_two_equal_agents_in_parallel_are_two_threads() -> None:
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    two = [*ask, one, result("call_1", "Sunny")]
    index = ThreadIndex()
    firsts = [index.place("a1", chat(ask, one)), index.place("b1", chat(ask, one))]
    seconds = [
        index.place("x2", chat(two, said("Sunny."))),
        index.place("y2", chat(two, said("Sunny."))),
    ]
    assert firsts == [new("a1"), new("b1")]
    # Which second step is whose cannot be told; each thread gets one.
    assert sorted((p.thread, p.after) for p in seconds) == [("a1", "a1"), ("b1", "b1")]


def test_a_branch_from_the_same_step() -> None:
    index = ThreadIndex()
    ask = [user("Tell me a joke")]
    index.place("a1", chat(ask, said("Knock knock.")))
    two = [*ask, said("Knock knock."), user("Another")]
    index.place("a2", chat(two, said("Why did...")))
    # Asked again at the same point (the same input as a2, which succeeded).
    assert index.place("a3", chat(two, said("A horse..."))) == after("a1", "a1")


def test_the_system_prompt_is_part_of_the_identity() -> None:
    index = ThreadIndex()
    ask = [user("Hi")]
    index.place("a1", chat([{"role": "system", "content": "Be brief."}, *ask], said("Hi!")))
    other = [{"role": "system", "content": "Be long."}, *ask, said("Hi!"), user("More")]
    assert index.place("b1", chat(other, said("..."))) == new("b1")


def responses(
    input_: Any, output: list[dict[str, Any]], answer_id: str, previous: str | None = None
) -> Fingerprint:
    request: dict[str, Any] = {"model": "m", "input": input_, "instructions": "Be brief."}
    if previous is not None:
        request["previous_response_id"] = previous
    answer = {"id": answer_id, "status": "completed", "output": output}
    found = fingerprint(RESPONSES, request, answer)
    assert found is not None
    return found


def test_previous_response_id_names_the_call_continued() -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "get_weather",
            "arguments": '{"city":"Riga"}'}  # fmt: skip
    output = {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"}
    message = {"type": "message", "role": "assistant",
               "content": [{"type": "output_text", "text": "Sunny."}]}  # fmt: skip
    index = ThreadIndex()
    assert index.place("a1", responses("Weather in Riga?", [call], "resp_1")) == new("a1")
    placed = index.place("a2", responses([output], [message], "resp_2", previous="resp_1"))
    assert placed == after("a1", "a1")
    # A later call that sends it all again, without previous_response_id, still follows a2.
    whole = [{"role": "user", "content": "Weather in Riga?"}, call, output, message,
             {"role": "user", "content": "Thanks"}]  # fmt: skip
    assert index.place("a3", responses(whole, [message], "resp_3")) == after("a1", "a2")
    # A previous_response_id the index never saw: a thread of its own.
    assert index.place("b1", responses([output], [message], "resp_9", previous="resp_x")) == new(
        "b1"
    )


def test_calls_that_are_no_conversation() -> None:
    embeddings = PROVIDERS["/v1/embeddings"]
    assert fingerprint(embeddings, {"input": "x"}, {"data": []}) is None
    assert fingerprint(CHAT, "not an object", None) is None
    index = ThreadIndex()
    empty = chat([], said("?"))
    assert index.place("e1", empty) == new("e1")
    assert len(index) == 0  # nothing to go on from


def test_the_index_is_bounded() -> None:
    index = ThreadIndex(capacity=3)
    for n in range(5):
        index.place(f"c{n}", chat([user(f"question {n}")], said("answer")))
    assert len(index) == 3
    # c0 is forgotten: what continues it starts a thread; c4 is still known.
    go_on = [user("question 0"), said("answer"), user("more")]
    assert index.place("d0", chat(go_on, said("x"))) == new("d0")
    go_on = [user("question 4"), said("answer"), user("more")]
    assert index.place("d4", chat(go_on, said("x"))) == after("c4", "c4")


def test_remembered_calls_are_continued_after_a_restart() -> None:
    ask = [user("Weather in Paris?")]
    one = calls(("call_1", "Paris"))
    two = [*ask, one, result("call_1", "Sunny")]
    before = ThreadIndex()
    stored = [
        ("a1", chat(ask, one), before.place("a1", chat(ask, one))),
        ("a2", chat(two, said("Sunny.")), before.place("a2", chat(two, said("Sunny.")))),
    ]
    # What the history keeps: the encoded fingerprint and the placement.
    rows = [(flow_id, fp.encode(), placement) for flow_id, fp, placement in stored]
    after_restart = ThreadIndex()
    for flow_id, blob, placement in rows:
        after_restart.remember(flow_id, Fingerprint.decode(blob), placement)
    three = [*two, said("Sunny."), user("Tomorrow?")]
    assert after_restart.place("b1", chat(three, said("Rain."))) == after("a1", "a2")


def test_placing_a_call_twice_gives_its_place() -> None:
    index = ThreadIndex()
    fp = chat([user("Hi")], said("Hello"))
    assert index.place("a1", fp) == index.place("a1", fp) == new("a1")


def test_the_fingerprint_round_trips_as_json() -> None:
    fp = chat([user("Hi")], calls(("call_1", "Oslo")), scope="s", started=1.5, ended=2.0)
    blob = fp.encode()
    assert Fingerprint.decode(blob) == fp
    assert json.loads(blob)["kind"] == "chat"
    with pytest.raises(msgspec.ValidationError):
        Fingerprint.decode(b'{"input": "AAAA"}')


def test_a_lone_surrogate_is_written_and_read_back() -> None:
    # JSON allows "\ud800"; UTF-8 cannot carry it, and the stored fingerprint is UTF-8 JSON.
    fp = chat([user("Weather in \ud800 Paris?")], said("Sunny."))
    again = Fingerprint.decode(fp.encode())
    assert again.title == "Weather in \ufffd Paris?"
    assert again.input == fp.input
