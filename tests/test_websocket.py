"""/ws through a real server: the snapshot on connect, then one message per change.

The agent is the real openai SDK; the dashboard is a Person (tests/fakes/person.py) reading every
message as it comes, or a Socket below that reads only when told to.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import openai
import pytest

from playingpack import __version__
from playingpack.websocket import QUEUE_SIZE
from playingpack.wire import LiveMessage
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.person import Message, Person
from tests.fakes.threaded import LoopThread

WEATHER_ARGS = '{"location": "Paris, France", "unit": "celsius"}'
# Long, and sent in 3-character pieces: many content chunks, so many text messages.
LONG = " ".join(f"word{number}" for number in range(120))


class Socket:
    """A /ws connection on its own loop that reads only when asked to, unlike a Person.

    ``receive_buffer`` locks the kernel's receive buffer (SO_RCVBUF) at that size, so what a
    socket that stops reading can hold is known.
    """

    def __init__(self, url: str, receive_buffer: int | None = None) -> None:
        self._thread = LoopThread("socket")
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closed = False
        self._thread.run(self._connect(url, receive_buffer))

    async def _connect(self, url: str, receive_buffer: int | None) -> None:
        def open_socket(info: Any) -> socket.socket:
            family, type_, proto, _, _ = info
            sock = socket.socket(family, type_, proto)
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            return sock

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=open_socket)
        )
        self._ws = await self._session.ws_connect(f"{url}/ws")

    def receive(self, timeout: float = 10) -> aiohttp.WSMessage:
        assert self._ws is not None
        return self._thread.run(self._ws.receive(timeout), timeout + 1)

    def read_to_close(self, timeout: float = 30) -> tuple[list[Message], aiohttp.WSMessage]:
        """Every text message until the server's close frame, and that frame."""

        async def read() -> tuple[list[Message], aiohttp.WSMessage]:
            assert self._ws is not None
            texts: list[Message] = []
            async with asyncio.timeout(timeout):
                while True:
                    message = await self._ws.receive()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        return texts, message
                    texts.append(json.loads(message.data))

        return self._thread.run(read(), timeout + 1)

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            if self._ws is not None:
                await self._ws.close()
            await self._session.close()

        self._thread.close(stop)


@pytest.fixture
def sockets() -> Iterator[Callable[..., Socket]]:
    opened: list[Socket] = []

    def open_socket(url: str, receive_buffer: int | None = None) -> Socket:
        opened.append(Socket(url, receive_buffer))
        return opened[-1]

    yield open_socket
    for sock in opened:
        sock.close()


def flows_of(person: Person, flow_id: str) -> list[dict[str, Any]]:
    """The flow messages for ``flow_id`` that ``person`` has seen, in order."""
    return [m["flow"] for m in person.seen if m["type"] == "flow" and m["flow"]["id"] == flow_id]


def text_of(person: Person, flow_id: str) -> list[str]:
    """The text messages for ``flow_id`` that ``person`` has seen, in order."""
    return [m["text"] for m in person.seen if m["type"] == "text" and m["id"] == flow_id]


def finished_flows(person: Person, count: int) -> list[dict[str, Any]]:
    """The first ``count`` flows ``person`` is told have finished (COMPLETE or ERROR), in the
    order they finished; waits for them (bounded) when needed."""

    def finished() -> list[dict[str, Any]]:
        return [
            m["flow"]
            for m in person.seen
            if m["type"] == "flow" and m["flow"]["state"] in ("COMPLETE", "ERROR")
        ]

    if len(finished()) < count:
        person.wait(lambda _: len(finished()) >= count)
    return finished()[:count]


def next_flow(person: Person) -> str:
    """The id of the next flow ``person`` is told about (its LOOKUP)."""
    flow = person.wait(lambda m: m["type"] == "flow")["flow"]
    assert flow["state"] == "LOOKUP"
    return str(flow["id"])


def stream(client: openai.OpenAI, **request: Any) -> tuple[str, Any]:
    """The text and the usage of a streamed chat completion."""
    text: list[str] = []
    usage = None
    for chunk in client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **request
    ):
        usage = chunk.usage or usage
        text.extend(choice.delta.content or "" for choice in chunk.choices)
    return "".join(text), usage


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server (or aiohttp under it) logged at WARNING or above."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name.startswith(("playingpack", "aiohttp"))
    ]


def weather_reply() -> Reply:
    return Reply(
        content=LONG, piece=3, tool_calls=[("get_weather", WEATHER_ARGS)], text_before_tools=True
    )


# --- the snapshot -----------------------------------------------------------------------------


def test_snapshot_has_version_settings_and_flows_newest_first(
    proxy: Running, client: openai.OpenAI
) -> None:
    client.chat.completions.create(**ask("first", model="gpt-4o-mini"))
    stream(client, **ask("second", model="gpt-4o"))
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "tool-calls"})
    snapshot = proxy.person().snapshot
    assert snapshot["type"] == "snapshot"
    assert snapshot["version"] == __version__
    assert snapshot["settings"] == {
        "record": "auto",
        "pause": "tool-calls",
        "replay_timing": "original",
        "pause_requests": False,
        "hold_timeout": 300.0,
        "sequence": False,
    }
    flows = snapshot["flows"]
    assert [(f["model"], f["streamed"]) for f in flows] == [
        ("gpt-4o", True),
        ("gpt-4o-mini", False),
    ]
    assert all(f["request"] is None and f["response"] is None for f in flows)
    assert all(f["source"] == "upstream" and f["path"] == "/v1/chat/completions" for f in flows)
    # The bodies are there for the asking.
    detail = httpx.get(f"{proxy.url}/api/flows/{flows[0]['id']}").json()
    assert detail["request"]["messages"][0]["content"] == "second"


def test_snapshot_of_a_fresh_server_is_empty(proxy: Running) -> None:
    snapshot = proxy.person().snapshot
    assert snapshot["flows"] == []
    assert snapshot["settings"]["record"] == "auto"


# --- one message per change -------------------------------------------------------------------


def test_recorded_stream_is_told_state_by_state_with_its_text(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    person = proxy.person()
    upstream.queue(weather_reply())
    content, usage = stream(client, **ask("Weather in Paris?"))
    assert content == LONG
    flow_id = next_flow(person)
    final = person.finished(flow_id)
    assert [f["state"] for f in flows_of(person, flow_id)] == [
        "LOOKUP",
        "CONNECT",
        "STREAMING",
        "COMPLETE",
    ]
    assert final["source"] == "upstream"
    assert final["status"] == 200
    assert final["streamed"] is True
    assert isinstance(final["duration_ms"], float) and final["duration_ms"] > 0
    assert final["usage"] == {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert final["tool_calls"] == [
        {"id": "call_0_get_weather", "name": "get_weather", "arguments": json.loads(WEATHER_ARGS)}
    ]
    assert final["tape"] == proxy.tapes()[0].stem
    assert final["request"] is None and final["response"] is None
    texts = text_of(person, flow_id)
    assert "".join(texts) == LONG
    assert all(texts)
    # The text arrives while the flow streams: after STREAMING, before COMPLETE.
    kinds = [
        m["type"] if m["type"] == "text" else m["flow"]["state"]
        for m in person.seen
        if m.get("id") == flow_id or m.get("flow", {}).get("id") == flow_id
    ]
    assert kinds.index("STREAMING") < kinds.index("text")
    assert len(kinds) - 1 - kinds[::-1].index("text") < kinds.index("COMPLETE")


def test_replayed_stream_is_told_from_the_tape(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.queue(weather_reply())
    stream(client, **ask("Weather in Paris?"))
    person = proxy.person()
    content, _ = stream(client, **ask("Weather in Paris?"))
    assert content == LONG
    assert len(upstream.received) == 1
    flow_id = next_flow(person)
    final = person.finished(flow_id)
    assert [f["state"] for f in flows_of(person, flow_id)] == ["LOOKUP", "REPLAY", "COMPLETE"]
    assert final["source"] == "tape"
    assert final["status"] == 200
    assert final["tape"] == proxy.tapes()[0].stem
    assert [call["name"] for call in final["tool_calls"]] == ["get_weather"]
    assert "".join(text_of(person, flow_id)) == LONG


def test_plain_answer_is_told_without_text(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    person = proxy.person()
    answer = client.chat.completions.create(**ask("not streamed"))
    flow_id = next_flow(person)
    final = person.finished(flow_id)
    assert final["streamed"] is False
    assert answer.usage is not None
    assert final["usage"]["output_tokens"] == answer.usage.completion_tokens
    assert text_of(person, flow_id) == []


def test_settings_change_is_told(proxy: Running) -> None:
    person = proxy.person()
    changed = httpx.patch(
        f"{proxy.url}/api/settings", json={"record": "replay-only", "hold_timeout": 12.5}
    )
    assert changed.status_code == 200
    message = person.wait(lambda m: m["type"] == "settings")
    assert message["settings"] == changed.json()
    assert message["settings"]["record"] == "replay-only"
    assert message["settings"]["hold_timeout"] == 12.5


def test_refused_settings_change_is_not_told(proxy: Running) -> None:
    person = proxy.person()
    refused = httpx.patch(f"{proxy.url}/api/settings", json={"record": "sometimes"})
    assert refused.status_code == 422
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "all"})
    # The first settings message is the accepted change, not the refused one.
    told = person.wait(lambda m: m["type"] == "settings")["settings"]
    assert (told["pause"], told["record"]) == ("all", "auto")


def test_every_message_is_one_of_the_wire_envelopes_field_for_field(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    person = proxy.person()
    upstream.queue(weather_reply())
    stream(client, **ask("Weather in Paris?"))
    person.finished(next_flow(person))
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "all"}).raise_for_status()
    person.wait(lambda m: m["type"] == "settings")
    httpx.delete(f"{proxy.url}/api/flows").raise_for_status()
    person.wait(lambda m: m["type"] == "snapshot")
    told = [person.snapshot, *person.seen]
    assert {m["type"] for m in told} == {"snapshot", "flow", "text", "settings"}
    for message in told:
        typed = msgspec.convert(message, LiveMessage)
        # Nothing left out of the Structs, nothing added: the generated types say it all.
        assert msgspec.to_builtins(typed) == message


# --- several sockets --------------------------------------------------------------------------


def test_every_socket_is_told_the_same(
    proxy: Running, client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    people = [proxy.person() for _ in range(3)]
    upstream.queue(weather_reply())
    stream(client, **ask("Weather in Paris?"))
    flow_ids = {next_flow(person) for person in people}
    assert len(flow_ids) == 1
    (flow_id,) = flow_ids
    finals = [person.finished(flow_id) for person in people]
    assert finals[0] == finals[1] == finals[2]
    told = [
        [m for m in person.seen if m.get("id") == flow_id or m.get("flow", {}).get("id") == flow_id]
        for person in people
    ]
    assert told[0] == told[1] == told[2]


def test_closed_socket_is_dropped_and_the_others_go_on(
    proxy: Running,
    client: openai.OpenAI,
    upstream: FakeUpstream,
    sockets: Callable[..., Socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    staying, leaving = proxy.person(), sockets(proxy.url)
    assert json.loads(leaving.receive().data)["type"] == "snapshot"
    client.chat.completions.create(**ask("before"))
    while json.loads(leaving.receive().data)["flow"]["state"] != "COMPLETE":
        pass
    leaving.close()
    upstream.queue(weather_reply())
    assert stream(client, **ask("after"))[0] == LONG
    flow_id = finished_flows(staying, 2)[1]["id"]
    assert "".join(text_of(staying, flow_id)) == LONG
    # A socket left registered would fill its queue and be reported as falling behind.
    with httpx.Client(base_url=proxy.url) as api:
        for number in range(QUEUE_SIZE + 1):
            api.patch("/api/settings", json={"hold_timeout": number + 1})
    staying.wait(
        lambda m: m["type"] == "settings" and m["settings"]["hold_timeout"] == QUEUE_SIZE + 1
    )
    # A new dashboard still connects and is told.
    late = proxy.person()
    assert late.snapshot["settings"]["hold_timeout"] == QUEUE_SIZE + 1
    assert problems(caplog) == []


# --- secrets ----------------------------------------------------------------------------------


def test_messages_never_carry_the_api_key(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    person = proxy.person()
    client = proxy.client(max_retries=0)
    upstream.queue(weather_reply())
    stream(client, **ask("streamed"))
    stream(client, **ask("streamed"))  # replayed
    client.chat.completions.create(**ask("plain"))
    client.models.list()
    upstream.queue(Reply(status=401, error_body={"error": {"message": "bad key", "code": None}}))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask("refused"))
    assert [f["status"] for f in finished_flows(person, 5)] == [200, 200, 200, 200, 401]
    later = proxy.person()
    told = json.dumps([person.snapshot, *person.seen, later.snapshot])
    assert len(later.snapshot["flows"]) == 5
    assert API_KEY not in told
    assert API_KEY[3:] not in told  # not even without its prefix


# --- a socket that does not read --------------------------------------------------------------


def _sender_buffer_limit() -> int:
    """The most a TCP socket on this machine may hold unsent (tcp_wmem's maximum), in bytes."""
    path = Path("/proc/sys/net/ipv4/tcp_wmem")
    if not path.exists():
        pytest.skip("needs Linux's tcp_wmem to know how much a socket buffers")
    return int(path.read_text().split()[2])


def test_socket_that_falls_behind_is_closed_and_the_others_go_on(
    proxy: Running,
    client: openai.OpenAI,
    upstream: FakeUpstream,
    sockets: Callable[..., Socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    piece, pieces = 2048, 500
    upstream.queue(Reply(content="0123456789abcdef" * (piece // 16) * pieces, piece=piece))
    stream(client, **ask("a long answer"))  # recorded: a replay tells one message per chunk
    receive_buffer = 64 * 1024
    slow = sockets(proxy.url, receive_buffer)
    assert json.loads(slow.receive().data)["type"] == "snapshot"
    reader = proxy.person()
    # What a socket that stops reading can absorb: the server's send buffer, ours (the kernel
    # doubles SO_RCVBUF), aiohttp's buffers on both sides, generously. Past that every message
    # stays in the server's queue, which holds QUEUE_SIZE.
    absorbed = _sender_buffer_limit() + 2 * receive_buffer + 2 * 1024**2
    needed = absorbed // piece + QUEUE_SIZE
    replays = needed // pieces + 2
    for _ in range(replays):
        assert len(stream(client, **ask("a long answer"))[0]) == piece * pieces
    assert len(upstream.received) == 1
    # The server still serves and tells the reading socket.
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "all"})
    reader.wait(lambda m: m["type"] == "settings")
    assert sum(m["type"] == "text" for m in reader.seen) == replays * pieces
    # The slow socket was told what fitted, then closed with "try again later".
    told, end = slow.read_to_close()
    assert end.type is aiohttp.WSMsgType.CLOSE
    assert end.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert 0 < len(told) < replays * pieces
    assert all(m["type"] in ("flow", "text") for m in told)
    assert any("fell" in r.getMessage() and "behind" in r.getMessage() for r in caplog.records)
    # A new dashboard connects and gets the current state.
    assert proxy.person().snapshot["settings"]["pause"] == "all"


# --- stopping ---------------------------------------------------------------------------------


def test_server_stops_with_a_socket_open(
    proxy: Running, sockets: Callable[..., Socket], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    watcher = sockets(proxy.url)
    assert json.loads(watcher.receive().data)["type"] == "snapshot"
    proxy.close()  # bounded: raises if the server does not stop within 10 s
    end = watcher.receive()
    assert end.type is aiohttp.WSMsgType.CLOSE
    assert end.data == aiohttp.WSCloseCode.GOING_AWAY
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proxy.url}/health")
    assert problems(caplog) == []


def test_server_stops_with_a_socket_that_does_not_read(
    proxy: Running,
    client: openai.OpenAI,
    upstream: FakeUpstream,
    sockets: Callable[..., Socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    piece, pieces = 8192, 250
    upstream.queue(Reply(content="0123456789abcdef" * (piece // 16) * pieces, piece=piece))
    stream(client, **ask("a long answer"))
    slow = sockets(proxy.url, 64 * 1024)
    assert json.loads(slow.receive().data)["type"] == "snapshot"
    # More than the buffers between us can hold (see the test above), fewer messages than the
    # queue holds: the socket is stuck behind unsent messages but not closed for falling behind.
    replays = (_sender_buffer_limit() + 3 * 1024**2) // (piece * pieces) + 1
    assert replays * (pieces + 3) < QUEUE_SIZE
    for _ in range(replays):
        stream(client, **ask("a long answer"))
    proxy.close()  # bounded: raises if the server does not stop within 10 s
    told, end = slow.read_to_close()
    assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert len(told) < replays * pieces
    assert problems(caplog) == []
