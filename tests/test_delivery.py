"""Delivery: whole answers and errors as the client asked for them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from playingpack.delivery import fail
from playingpack.flow_log import FlowLog
from playingpack.flows import State
from playingpack.providers import Provider
from playingpack.providers.anthropic import AnthropicMessages
from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.test_relay import data_of, decide, kept_waiting


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        (None, {"error": {"message": "no", "type": "t", "code": "c", "param": None}}),
        (AnthropicMessages(), {"type": "error", "error": {"type": "t", "message": "no"}}),
    ],
    ids=["openai", "anthropic"],
)
def test_a_refusal_ends_the_flow_with_an_error_in_the_clients_format(
    provider: Provider | None, body: dict[str, object]
) -> None:
    flow = FlowLog(None).open("POST", "/v1/messages")
    response = fail(flow, 418, "no", "t", "c", retry=False, provider=provider)
    assert (flow.state, flow.status, flow.error) == (State.ERROR, 418, "no")
    assert response.status == 418 and response.headers["x-should-retry"] == "false"
    assert isinstance(response.body, bytes) and json.loads(response.body) == body


def test_a_tape_replayed_to_a_client_kept_waiting_follows_its_heartbeats(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="Recorded in pieces.", piece=4))
    proxy = start_proxy(pause_requests=True)
    body = ask("Tell me.", stream=True)
    for source in ("upstream", "tape"):
        with kept_waiting(proxy, body) as (person, flow_id, lines):
            decide(proxy, flow_id, {"action": "allow"})
            data = data_of(lines)
        text = "".join(
            choice["delta"].get("content") or ""
            for chunk in data[:-1]
            for choice in chunk["choices"]
        )
        assert text == "Recorded in pieces." and data[-1] == "[DONE]"
        finished = person.finished(flow_id)
        assert (finished["state"], finished["source"]) == ("COMPLETE", source)
    assert len(upstream.received) == 1
