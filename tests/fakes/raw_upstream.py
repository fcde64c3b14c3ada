"""An upstream written on bare sockets, for what an HTTP framework would tidy away.

It answers each connection with bytes given by the test: no ``100 Continue`` unless told, any
``Content-Encoding``, bytes that are not UTF-8, a close before any answer, or no HTTP at all.
It keeps the head and body of every request it read.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Seen:
    """One request as the raw upstream read it."""

    head: str
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name``, if it was sent."""
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


# Given the request read, the bytes to send back (b"" closes without an answer).
Answer = Callable[[Seen], bytes]


class RawUpstream:
    """A listening socket on 127.0.0.1 that answers every request with ``answer(seen)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-upstream", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    piece = connection.recv(65536)
                    if not piece:
                        return
                    data += piece
                head, _, start = data.partition(b"\r\n\r\n")
                seen = Seen(head.decode("latin-1"), b"")
                length = int(seen.header("content-length") or 0)
                body = bytearray(start)
                while len(body) < length:
                    piece = connection.recv(1024**2)
                    if not piece:
                        break
                    body += piece
                seen.body = bytes(body)
                self.seen.append(seen)
                connection.sendall(self.answer(seen))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(5)


def http_answer(
    body: bytes, *, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 answer that closes its connection."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
