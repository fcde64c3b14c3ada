"""A dashboard socket (/ws) whose reader stops reading while many flows happen: it is cut off
within a bound, and the other sockets go on being told."""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
from pathlib import Path

import httpx
import openai
import pytest

from playingpack.websocket import CLOSE_TIMEOUT, QUEUE_SIZE
from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

# The socket is seen cut off within this, after CLOSE_TIMEOUT.
MARGIN = 3.0
TCP_ESTABLISHED = 1


def _tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def _sender_buffer_limit() -> int:
    """The most a TCP socket on this machine may hold unsent (tcp_wmem's maximum), in bytes."""
    path = Path("/proc/sys/net/ipv4/tcp_wmem")
    if not path.exists() or not hasattr(socket, "TCP_INFO"):
        pytest.skip("needs Linux's tcp_wmem and TCP_INFO")
    return int(path.read_text().split()[2])


def stalled_socket(url: str, receive_buffer: int) -> socket.socket:
    """A /ws connection that takes the upgrade answer, then never reads again."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
        assert head, "the server closed the connection"
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_socket_that_stops_reading_is_cut_off(
    proxy: Running,
    client: openai.OpenAI,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    piece, pieces = 2048, 500
    upstream.queue(Reply(content="0123456789abcdef" * (piece // 16) * pieces, piece=piece))

    def replay() -> None:
        for _ in client.chat.completions.create(stream=True, **ask("a long answer")):
            pass

    replay()  # recorded: a replay tells one message per chunk
    reader = proxy.person()
    receive_buffer = 64 * 1024
    stalled = stalled_socket(proxy.url, receive_buffer)
    try:
        # Enough text messages to fill every buffer between us (see test_websocket) and the
        # queue.
        absorbed = _sender_buffer_limit() + 2 * receive_buffer + 2 * 1024**2
        replays = (absorbed // piece + QUEUE_SIZE) // pieces + 2
        for _ in range(replays):
            replay()
        assert any("fell" in r.getMessage() and "behind" in r.getMessage() for r in caplog.records)
        # Cut off within the close frame's bound, without it ever reading.
        deadline = time.monotonic() + CLOSE_TIMEOUT + MARGIN
        while _tcp_state(stalled) == TCP_ESTABLISHED:
            assert time.monotonic() < deadline, "the stalled socket is still connected"
            time.sleep(0.05)
    finally:
        stalled.close()
    # The reading socket was told everything, and still is.
    replay()
    httpx.patch(f"{proxy.url}/api/settings", json={"pause": "all"}).raise_for_status()
    reader.wait(lambda m: m["type"] == "settings" and m["settings"]["pause"] == "all")
    assert sum(m["type"] == "text" for m in reader.seen) == (replays + 1) * pieces
