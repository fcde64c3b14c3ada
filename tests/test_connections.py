"""Clients that hold connections without using them: silent ones, slowloris, idle keep-alive
connections and floods past the file-descriptor limit, against real servers from raw sockets;
and what must outlive the timeouts (held calls, slow streams and uploads)."""

from __future__ import annotations

import functools
import json
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.conftest
from playingpack.app import start_server
from playingpack.config import PauseMode
from tests.conftest import Running, ask, started
from tests.fakes.openai_upstream import FakeUpstream, Reply

# Short limits for the servers these tests start, so a bound is seen in about a second.
HEADER_TIMEOUT = 0.5
KEEPALIVE_TIMEOUT = 1.0
# A connection the server closes is seen closed within this, after its bound.
MARGIN = 3.0


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Start the next servers of ``start_proxy`` with these keyword arguments of
    ``start_server`` (its production defaults otherwise)."""

    def use(**options: Any) -> None:
        monkeypatch.setattr(
            tests.conftest, "start_server", functools.partial(start_server, **options)
        )

    return use


@pytest.fixture
def quick(limits: Callable[..., None], start_proxy: Callable[..., Running]) -> Running:
    """A proxy with short header and keep-alive timeouts."""
    limits(header_timeout=HEADER_TIMEOUT, keepalive_timeout=KEEPALIVE_TIMEOUT)
    return start_proxy()


@pytest.fixture
def raw() -> Iterator[Callable[[str], socket.socket]]:
    """Raw TCP connections to a server's URL, all closed at the end."""
    opened: list[socket.socket] = []

    def connect(url: str) -> socket.socket:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=5)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ended the connection (EOF or reset); reads what is waiting."""
    try:
        while sock.recv(65536, socket.MSG_DONTWAIT):
            pass
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    return True


def wait_closed(socks: list[socket.socket], within: float) -> float:
    """Seconds until the server closed every one of ``socks``; fails after ``within``."""
    start = time.monotonic()
    left = set(socks)
    while left:
        left = {sock for sock in left if not closed_by_server(sock)}
        if time.monotonic() - start > within:
            raise AssertionError(f"{len(left)} of {len(socks)} connections open after {within} s")
        time.sleep(0.02)
    return time.monotonic() - start


def answer(sock: socket.socket, request: bytes) -> bytes:
    """Send ``request`` and read one whole answer (its head and Content-Length body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or _eof()
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.split(":", 1) for line in head.decode("latin-1").lower().split("\r\n")[1:])
    length = int(fields["content-length"])
    while len(body) < length:
        body += sock.recv(65536) or _eof()
    return head + b"\r\n\r\n" + body


def _eof() -> bytes:
    raise AssertionError("the server closed the connection before answering")


HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# --- header and idle timeouts -----------------------------------------------------------------


def test_connections_that_send_nothing_are_closed(
    quick: Running, raw: Callable[[str], socket.socket]
) -> None:
    silent = [raw(quick.url) for _ in range(200)]
    took = wait_closed(silent, HEADER_TIMEOUT + MARGIN)
    assert took >= HEADER_TIMEOUT * 0.9
    # The server goes on as before.
    assert httpx.get(f"{quick.url}/health", timeout=5).json()["status"] == "ok"


def test_slowloris_is_closed_though_it_keeps_sending(
    quick: Running, raw: Callable[[str], socket.socket]
) -> None:
    slow = [raw(quick.url) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    start = time.monotonic()
    left = set(slow)
    # One header byte every 50 ms from each: the bound counts from the connection's start.
    while left and time.monotonic() - start < HEADER_TIMEOUT + MARGIN:
        for sock in list(left):
            if closed_by_server(sock):
                left.discard(sock)
                continue
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                left.discard(sock)
        time.sleep(0.05)
    assert not left, f"{len(left)} slowloris connections still open"


def test_slowloris_after_a_first_request_is_closed(
    quick: Running, raw: Callable[[str], socket.socket]
) -> None:
    sock = raw(quick.url)
    assert answer(sock, HEALTH).startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /health HTTP/1.1\r\n")
    start = time.monotonic()
    while not closed_by_server(sock):
        assert time.monotonic() - start < KEEPALIVE_TIMEOUT + MARGIN, "still open"
        try:
            sock.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.05)


def test_idle_keep_alive_connection_is_closed(
    quick: Running, raw: Callable[[str], socket.socket]
) -> None:
    sock = raw(quick.url)
    assert answer(sock, HEALTH).startswith(b"HTTP/1.1 200")
    took = wait_closed([sock], KEEPALIVE_TIMEOUT + MARGIN)
    assert took >= KEEPALIVE_TIMEOUT * 0.9


# --- what must keep working past those timeouts -----------------------------------------------


def test_held_calls_outlive_the_timeouts(
    limits: Callable[..., None], start_proxy: Callable[..., Running]
) -> None:
    limits(header_timeout=HEADER_TIMEOUT, keepalive_timeout=KEEPALIVE_TIMEOUT)
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()
    client = proxy.client(max_retries=0)
    with ThreadPoolExecutor(2) as agent:
        plain = agent.submit(lambda: client.chat.completions.create(**ask("plain")))
        streamed = agent.submit(
            lambda: "".join(
                chunk.choices[0].delta.content or ""
                for chunk in client.chat.completions.create(stream=True, **ask("streamed"))
                if chunk.choices
            )
        )
        held = [person.held(), person.held()]
        # Held past both timeouts (a deliberate wait: the time itself is what is tested).
        time.sleep(HEADER_TIMEOUT + KEEPALIVE_TIMEOUT + 0.5)
        for flow in held:
            assert person.decide(flow["id"], action="allow").status_code == 200
        assert plain.result(10).choices[0].message.content == "Hello from the fake upstream!"
        assert streamed.result(10) == "Hello from the fake upstream!"
    # The dashboard socket was quiet meanwhile and is still told.
    person.http.patch("/api/settings", json={"pause": "off"}).raise_for_status()
    person.wait(lambda m: m["type"] == "settings" and m["settings"]["pause"] == "off")


def test_slow_stream_and_slow_upload_outlive_the_timeouts(
    quick: Running, upstream: FakeUpstream, raw: Callable[[str], socket.socket]
) -> None:
    gap = KEEPALIVE_TIMEOUT + 0.2  # longer than either timeout
    upstream.queue(Reply(content="slow", piece=8, delay=gap))
    client = quick.client(max_retries=0)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(stream=True, **ask("slow"))
        if chunk.choices
    )
    assert text == "slow"
    # A body sent in pieces over longer than both timeouts.
    body = json.dumps(ask("uploaded slowly")).encode()
    sock = raw(quick.url)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    pieces = [body[i : i + len(body) // 4 + 1] for i in range(0, len(body), len(body) // 4 + 1)]
    for piece in pieces[:-1]:
        sock.sendall(piece)
        time.sleep(gap / len(pieces))  # the slowness is what is tested
    reply = answer(sock, pieces[-1])
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert b"Hello from the fake upstream!" in reply


# --- the connection limit ---------------------------------------------------------------------


def test_at_the_limit_new_connections_replace_silent_ones(
    limits: Callable[..., None],
    start_proxy: Callable[..., Running],
    raw: Callable[[str], socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "playingpack")
    limits(max_connections=20)
    proxy = start_proxy()
    # A keep-alive client that had asked before the flood keeps its connection.
    regular = raw(proxy.url)
    assert answer(regular, HEALTH).startswith(b"HTTP/1.1 200")
    silent = [raw(proxy.url) for _ in range(200)]
    for _ in range(5):
        assert httpx.get(f"{proxy.url}/health", timeout=5).status_code == 200
    assert answer(regular, HEALTH).startswith(b"HTTP/1.1 200")
    # All but the newest silent ones were closed to make room.
    wait_closed(silent[:150], MARGIN)
    warnings = [
        r for r in caplog.records if r.name == "playingpack.connections" and r.levelno >= 30
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "reached the limit of 20" in warnings[0].getMessage()


def test_at_the_limit_with_every_connection_busy_new_ones_get_503(
    limits: Callable[..., None], start_proxy: Callable[..., Running]
) -> None:
    limits(max_connections=7)
    proxy = start_proxy(pause=PauseMode.ALL)
    person = proxy.person()  # its socket, and its HTTP client's connection:
    person.http.get("/api/flows").raise_for_status()
    agents = [proxy.client(max_retries=0) for _ in range(5)]  # and five held calls
    with ThreadPoolExecutor(5) as pool:
        calls = [
            pool.submit(functools.partial(agent.chat.completions.create, **ask("held")))
            for agent in agents
        ]
        held = [person.held() for _ in agents]
        response = httpx.get(f"{proxy.url}/health", timeout=5)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "too_many_connections"
        assert error["type"] == "server_error"
        assert response.headers["retry-after"] == "1"
        # The connections in use go on.
        for flow in held:
            assert person.decide(flow["id"], action="allow").status_code == 200
        for call in calls:
            assert call.result(10).choices[0].message.content == "Hello from the fake upstream!"
    agents[0].close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{proxy.url}/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "still refused after a connection closed"
        time.sleep(0.01)


def test_health_answers_under_a_flood_past_the_fd_limit(tmp_path: Path) -> None:
    """2000 silent connections against a CLI server limited to 256 file descriptors."""

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    flood: list[socket.socket] = []
    with started("--no-ui", cwd=tmp_path, preexec=few_descriptors) as process:
        try:
            url = process.url
            host, port = url.removeprefix("http://").rsplit(":", 1)
            with httpx.Client(base_url=url, timeout=5) as regular:
                assert regular.get("/health").status_code == 200
                for _ in range(2000):
                    sock = socket.socket()
                    sock.setblocking(False)
                    sock.connect_ex((host, int(port)))
                    flood.append(sock)
                for _ in range(5):
                    assert httpx.get(f"{url}/health", timeout=5).status_code == 200
                assert regular.get("/health").status_code == 200
            # Those left open are closed after the production header timeout.
            from playingpack.connections import HEADER_TIMEOUT as production

            wait_closed(flood, production + MARGIN)
            assert len(process.lines_matching("back under the limit", 1)) == 1
            assert len([line for line in process.lines if "reached the limit of" in line]) == 1
        finally:
            for sock in flood:
                sock.close()


def test_the_cli_lifts_a_low_soft_descriptor_limit_within_the_hard_one(tmp_path: Path) -> None:
    from playingpack.connections import FD_RESERVE, FDS_PER_CONNECTION, MAX_CONNECTIONS

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS * FDS_PER_CONNECTION + FD_RESERVE
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.fail(f"this machine's hard descriptor limit ({hard}) leaves nothing to lift")
    expected = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))

    with started("--no-ui", cwd=tmp_path, preexec=low_soft_limit) as process:
        assert httpx.get(f"{process.url}/health").status_code == 200
        limits = Path(f"/proc/{process.popen.pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert int(line.split()[3]) == expected
