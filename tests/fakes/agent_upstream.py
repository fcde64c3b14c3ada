"""Fake OpenAI and Anthropic APIs that play a weather agent's model, reading each request.

A queue of replies cannot serve agents that run side by side: whichever asks first would take
the other's answer. These answer from the conversation itself, as a model would: a request
whose last turn is the user's question about a city ("... in Paris?") gets a ``get_weather``
tool call for that city; one whose last turn is the tool's result ("Sunny in Paris, 22 C")
gets the final answer, "It is sunny in Paris.". ``fail(n)`` makes the next ``n`` requests
fail with a 500, for the client to retry. The wire formats are the fakes' own
(``openai_upstream``, ``anthropic_upstream``), except that each OpenAI answer's tool call ids
are its own, as the real API's are (SDKs that keep a conversation tell items apart by them).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes import anthropic_upstream as anthropic_fake
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

WEATHER = "Sunny in {city}, 22 C"
ANSWER = "It is sunny in {city}."
_CITY = re.compile(r"\bin ([A-Z][a-z]+)")
# How a tool's result comes back in each format.
_RESULT_MARKS = ('"tool_call_id"', '"function_call_output"', '"tool_result"')
# The fake's tool call ids, "call_<i>_<name>", as JSON strings.
_CALL_ID = re.compile(r'"call_(\d+)_')


def _last_turn(body: bytes) -> tuple[bool, str]:
    """Whether the request's last turn is a tool result, and the city it speaks of."""
    request = json.loads(body)
    turns = request.get("messages") or request.get("input")
    last = turns[-1] if isinstance(turns, list) and turns else turns
    text = json.dumps(last)
    found = _CITY.findall(text)
    return any(mark in text for mark in _RESULT_MARKS), found[-1] if found else "Nowhere"


class AgentOpenAI(FakeUpstream):
    """The fake OpenAI API (chat completions and Responses) as a weather agent's model."""

    def __init__(self) -> None:
        super().__init__()
        self._failures = 0
        self._answers = itertools.count(1)
        self._renames: dict[int, str] = {}  # by id(reply): its answer's id prefix

    def fail(self, times: int) -> None:
        """Answer the next ``times`` requests with a 500."""
        self._failures = times

    def next_reply(self) -> Reply:
        # The handlers take their reply right after recording the request, with no await in
        # between, so the last request received is the one being answered.
        if self._failures:
            self._failures -= 1
            return Reply(status=500)
        answered, city = _last_turn(self.received[-1].body)
        if answered:
            return Reply(content=ANSWER.format(city=city), piece=5)
        reply = Reply(content=None, tool_calls=[("get_weather", json.dumps({"city": city}))])
        self._renames[id(reply)] = f'"call_a{next(self._answers)}_'
        return reply

    def _renamed(self, reply: Reply, text: str) -> str:
        prefix = self._renames.get(id(reply))
        return text if prefix is None else _CALL_ID.sub(lambda m: f"{prefix}{m[1]}_", text)

    async def _whole(self, reply: Reply, answer: dict[str, Any]) -> web.Response:
        renamed = json.loads(self._renamed(reply, json.dumps(answer)))
        self._renames.pop(id(reply), None)
        return await super()._whole(reply, renamed)

    async def _stream(
        self, request: web.Request, reply: Reply, events: list[str]
    ) -> web.StreamResponse:
        renamed = [self._renamed(reply, event) for event in events]
        self._renames.pop(id(reply), None)
        return await super()._stream(request, reply, renamed)


class AgentAnthropic(FakeAnthropic):
    """The fake Anthropic Messages API as a weather agent's model."""

    def next_reply(self) -> anthropic_fake.Reply:
        answered, city = _last_turn(self.received[-1].body)
        if answered:
            return anthropic_fake.Reply(text=ANSWER.format(city=city), piece=5)
        arguments = json.dumps({"city": city})
        return anthropic_fake.Reply(text=None, tool_uses=[("get_weather", arguments)])
