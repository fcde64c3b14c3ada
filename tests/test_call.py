"""A call's end when its client leaves, and where the work for a big call runs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp.test_utils import make_mocked_request

from playingpack.call import CLIENT_GONE, OFF_LOOP, Call, run
from playingpack.flow_log import FlowLog
from playingpack.flows import State
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.recording import Capture
from playingpack.store import TapeStores

chat = OpenAIChat()
USAGE = (
    'data: {"id":"c1","model":"gpt-4o","choices":[],'
    '"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
)


def streaming_call(tmp_path: Path, *, size: int = 10) -> Call:
    """A call whose flow is relaying its upstream's stream."""
    flow = FlowLog(None).open("POST", "/v1/chat/completions", provider=chat)
    request = make_mocked_request("POST", "/v1/chat/completions")
    body = {"model": "gpt-4o", "stream": True, "messages": []}
    call = Call(request, flow, chat, body, TapeStores(tmp_path).get(None), size)
    flow.connect()
    flow.stream(200, {})
    return call


def capture_of(call: Call, *events: str) -> Capture:
    async def run_capture() -> Capture:
        capture = Capture(chat, 0.0, False, None, lambda _: None)
        for text in events:
            await capture.feed(text.encode())
        return capture

    call.capture = asyncio.run(run_capture())
    return call.capture


def test_the_call_describes_its_request_to_the_flow(tmp_path: Path) -> None:
    call = streaming_call(tmp_path)
    assert call.stream and call.flow.streamed and call.flow.model == "gpt-4o"
    assert call.flow.size == 10 and not call.big
    call.describe({"model": "gpt-4o-mini"}, OFF_LOOP + 1)
    assert not call.stream and call.flow.model == "gpt-4o-mini" and call.big


def test_a_client_that_leaves_with_the_whole_answer_completes_its_flow(tmp_path: Path) -> None:
    call = streaming_call(tmp_path)
    capture_of(call, USAGE, "data: [DONE]\n\n")
    call.delivered = True
    call.client_left()
    assert call.flow.state is State.COMPLETE
    assert call.flow.summary is not None and call.flow.summary.usage is not None


def test_a_client_that_leaves_before_the_end_fails_its_flow(tmp_path: Path) -> None:
    call = streaming_call(tmp_path)
    capture_of(call, USAGE)
    call.client_left()
    assert (call.flow.state, call.flow.error) == (State.ERROR, CLIENT_GONE)


def test_a_client_that_leaves_an_answer_the_upstream_broke_fails_with_its_error(
    tmp_path: Path,
) -> None:
    call = streaming_call(tmp_path)
    capture_of(call, 'data: {"error": {"message": "overloaded"}}\n\n')
    call.client_left()
    assert call.flow.error == "the upstream reported an error mid-stream: overloaded"


def test_a_call_whose_answer_is_still_recorded_is_left_to_its_drain(tmp_path: Path) -> None:
    call = streaming_call(tmp_path)
    call.draining = True
    call.client_left()
    assert call.flow.state is State.STREAMING


def test_a_finished_call_stays_as_it_ended(tmp_path: Path) -> None:
    call = streaming_call(tmp_path)
    call.flow.complete()
    call.client_left()
    assert call.flow.state is State.COMPLETE and call.flow.error is None


def test_work_for_a_big_call_runs_in_a_worker_thread() -> None:
    async def where(big: bool) -> str:
        return await run(big, lambda: threading.current_thread().name)

    here = threading.current_thread().name
    assert asyncio.run(where(False)) == here
    assert asyncio.run(where(True)) != here
