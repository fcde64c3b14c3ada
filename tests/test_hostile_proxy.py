"""Hostile requests and untidy upstreams against the proxy: where a key can go, what is
forwarded, and what bodies are taken.

Each test sends what an attacker, a broken client or a broken upstream sends, over real
sockets to a real playingpack, and checks the caller gets a clear answer while nothing reaches
a host it should not.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from playingpack.config import PauseMode, RecordMode
from playingpack.flow_log import FlowLog
from playingpack.tapes import Chunk, Tape
from playingpack.upstream import Upstream
from tests.conftest import API_KEY, COMPLETION, Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply
from tests.fakes.raw_upstream import RawUpstream, http_answer


class Answer:
    """An HTTP answer as read off the socket."""

    def __init__(self, raw: bytes) -> None:
        while raw.startswith(b"HTTP/1.1 100 "):
            raw = raw.partition(b"\r\n\r\n")[2]
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if self.headers.get("transfer-encoding") == "chunked":
            self.body = _unchunked(self.body)

    def json(self) -> Any:
        return json.loads(self.body)


def _unchunked(data: bytes) -> bytes:
    out = bytearray()
    at = 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        length = int(data[at:end], 16)
        if not length:
            break
        out += data[end + 2 : end + 2 + length]
        at = end + 4 + length
    return bytes(out)


def send(
    url: str,
    target: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request with ``target`` written exactly as given, on its own connection."""
    host, _, port = url.removeprefix("http://").partition(":")
    fields = {
        "Host": f"{host}:{port}",
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **(headers or {}),
    }
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        connection.sendall(head.encode("latin-1") + b"\r\n" + body)
        data = bytearray()
        while piece := connection.recv(1024**2):
            data += piece
    return Answer(bytes(data))


@pytest.fixture
def thief() -> Iterator[tuple[socket.socket, int]]:
    """A listener on a port 4NNNN, where a scope of ``aaNNNN`` glued after ``:4`` would go."""
    for port in range(42299, 49999, 7):
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen(16)
        listener.setblocking(False)
        yield listener, port
        listener.close()
        return
    pytest.fail("no free port 4NNNN for the listener")


def connections_to(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def chat_body(**extra: Any) -> bytes:
    return json.dumps(ask(**extra)).encode()


# --- 1. the upstream URL is built from parsed parts ---------------------------------------


# Every recorded endpoint and the Azure paths.
ENDPOINTS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
    "/openai/deployments/gpt-4o/chat/completions",
    "/openai/v1/responses",
    "/openai/responses",
]


@pytest.mark.parametrize("endpoint", [*ENDPOINTS, "/v1/models"])
@pytest.mark.parametrize("scope", ["%61%61{port}", "%2561%2561{port}", "aa{port}"])
def test_an_encoded_scope_cannot_move_the_upstream_host(
    start_proxy: Callable[..., Running],
    thief: tuple[socket.socket, int],
    endpoint: str,
    scope: str,
) -> None:
    listener, port = thief
    proxy = start_proxy(upstream="http://127.0.0.1:4")
    method = "GET" if endpoint.endswith("/models") else "POST"
    body = b"" if method == "GET" else chat_body()
    target = f"/t/{scope.format(port=str(port)[1:])}{endpoint}"
    answer = send(proxy.url, target, body, method=method, headers={"anthropic-version": "1"})
    # Port 4 has nobody listening: a request that went anywhere went there, and only there.
    assert answer.status in (400, 502), answer.body
    if answer.status == 502:
        assert "127.0.0.1:4/" in answer.json()["error"]["message"]
    assert connections_to(listener) == 0


def test_the_default_upstream_keeps_its_host_whatever_the_scope() -> None:
    from playingpack.upstream import client_path

    target = "/t/%61%61%61%61%61x.evil.com/v1/chat/completions"
    path, query = client_path(target, "aaaaax.evil.com")
    url = Upstream("https://api.openai.com").url_for(path, query)
    assert (url.scheme, url.host, url.port) == ("https", "api.openai.com", 443)
    assert url.path == "/v1/chat/completions"


# Each recorded endpoint with encoded, double-encoded and dot-segment tricks in the scope and the
# path. None may reach the upstream.
TRICKS = [
    "/t/x/{first}/../{rest}",
    "/t/x/{first}/%2e%2e/{first}/{rest}",
    "/t/x/{first}/%252e%252e/{first}/{rest}",
    "/t/x/{first}/./{rest}",
    "/t/x%2F..%2F..%2Fetc/{first}/{rest}",
    "/t/%2e%2e/{first}/{rest}",
    "/t/x/{first}/{rest}%2F..%2Fmodels",
    "/t/x/{first}/{rest}%252F..",
    "/t/x/{first}//{rest}",
    "/{first}/../{first}/{rest}",
    "/{first}/%2e/{rest}",
    "/{first}/{rest}/%2e%2e",
    "/{first}\\..\\{rest}",
    "/{first}/%5c../{rest}",
    "/{first}/%00/{rest}",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("trick", TRICKS)
def test_dot_segments_and_encoded_separators_never_reach_the_upstream(
    proxy: Running, upstream: FakeUpstream, endpoint: str, trick: str
) -> None:
    first, _, rest = endpoint.strip("/").partition("/")
    target = trick.format(first=first, rest=rest)
    answer = send(proxy.url, target, chat_body())
    assert 400 <= answer.status < 500, (target, answer.status, answer.body)
    error = answer.json()["error"]
    assert error["message"], target
    assert upstream.received == []
    assert proxy.tapes() == []


def test_a_refused_path_is_named_in_plain_words(proxy: Running, upstream: FakeUpstream) -> None:
    answer = send(proxy.url, "/v1/files/../models", method="GET")
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_path"
    assert "dot segment" in error["message"] and "/v1/files/../models" in error["message"]
    assert upstream.received == []


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        ("/t/%61bc/v1/chat/completions", "/v1/chat/completions"),
        ("/t/abc/v1/%63hat/completions", "/v1/%63hat/completions"),
        (
            "/openai/deployments/gpt%2D4o/chat/completions",
            "/openai/deployments/gpt%2D4o/chat/completions",
        ),
    ],
)
def test_a_harmless_escape_is_forwarded_as_sent(
    proxy: Running, upstream: FakeUpstream, target: str, forwarded: str
) -> None:
    answer = send(proxy.url, target + "?api-version=2024-10-21", chat_body())
    assert answer.status == 200, answer.body
    [seen] = upstream.received
    assert seen.path == forwarded.replace("%63", "c").replace("%2D", "-")
    assert seen.query == "api-version=2024-10-21"


# --- 18. absolute-form targets and bad URLs ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "http://127.0.0.1:9/v1/chat/completions"),
        ("GET", "http://evil.example/v1/models"),
        ("GET", "https://api.openai.com/v1/models"),
        ("GET", "/v1/models%zz"),
        ("GET", "/v1/%"),
    ],
)
def test_an_absolute_or_malformed_target_gets_a_400(
    proxy: Running, upstream: FakeUpstream, method: str, target: str
) -> None:
    answer = send(proxy.url, target, chat_body() if method == "POST" else b"", method=method)
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    assert error["code"] == "invalid_path"
    if target.startswith("http"):
        assert "not a forward proxy" in error["message"]
    assert upstream.received == []
    assert httpx.get(f"{proxy.url}/health", timeout=5).status_code == 200


# --- 2. Expect is answered here, never forwarded --------------------------------------------


def test_expect_100_continue_is_not_forwarded(start_proxy: Callable[..., Running]) -> None:
    # This upstream, like many, never sends "100 Continue": forwarding Expect would leave our
    # client waiting for it until the read timeout.
    raw = RawUpstream(lambda seen: http_answer(json.dumps(COMPLETION).encode()))
    try:
        proxy = start_proxy(upstream=raw.url)
        big = chat_body(padding="x" * 1_100_000)
        answer = send(proxy.url, "/v1/chat/completions", big, headers={"Expect": "100-continue"})
        assert answer.status == 200, answer.body
        assert answer.json()["choices"][0]["message"]["content"] == "Hi there"
        [seen] = raw.seen
        assert seen.header("expect") is None
        assert len(seen.body) == len(big)
    finally:
        raw.close()


# --- 8. playingpack's own token never leaves it -----------------------------------------------


def test_the_dashboard_token_is_not_forwarded(proxy: Running, upstream: FakeUpstream) -> None:
    headers = {
        "X-Playingpack-Token": "pp-token-123456",
        "Cookie": "session=abc; playingpack_token=pp-token-123456",
    }
    answer = send(proxy.url, "/v1/models", method="GET", headers=headers)
    assert answer.status == 200
    [seen] = upstream.received
    assert not any(name.lower() == "x-playingpack-token" for name in seen.headers)
    assert seen.headers["Cookie"] == "session=abc"
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"


# --- 6, 7. numbers out of range and deep nesting -------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e999"])
def test_a_number_out_of_range_gets_a_400_and_no_tape(
    proxy: Running, upstream: FakeUpstream, number: str
) -> None:
    body = chat_body()[:-1] + f', "temperature": {number}}}'.encode()
    answer = send(proxy.url, "/v1/chat/completions", body)
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    assert error["code"] == "unsupported_json"
    assert number in error["message"]
    assert upstream.received == [] and proxy.tapes() == []


def test_a_huge_integer_is_kept_exactly_and_replays_in_a_fresh_process(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    huge = "1" + "0" * 400
    body = chat_body()[:-1] + f', "seed": {huge}}}'.encode()
    first = start_proxy()
    assert send(first.url, "/v1/chat/completions", body).status == 200
    [tape] = first.tapes()
    text = tape.read_text()

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a tape")

    assert json.loads(text, parse_constant=refuse)["request"]["body"]["seed"] == int(huge)
    first.close()
    again = start_proxy(record="replay-only")
    answer = send(again.url, "/v1/chat/completions", body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-playingpack-source"] == "tape"


@pytest.mark.parametrize("depth", [257, 490, 1000, 100_000])
def test_a_deeply_nested_request_gets_a_400_naming_the_limit(
    proxy: Running, upstream: FakeUpstream, depth: int
) -> None:
    nested = b"[" * depth + b"]" * depth
    body = chat_body()[:-1] + b', "metadata": ' + nested + b"}"
    answer = send(proxy.url, "/v1/chat/completions", body)
    assert answer.status == 400, answer.body[:300]
    error = answer.json()["error"]
    assert error["code"] == "unsupported_json"
    assert "256 levels" in error["message"]
    assert upstream.received == []


def test_nesting_up_to_the_limit_is_recorded_and_replayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    inner = 256 - 2  # the body and the "metadata" list count as levels
    nested = b"[" * inner + b"]" * inner
    body = chat_body()[:-1] + b', "metadata": [' + nested + b"]}"
    first = start_proxy()
    assert send(first.url, "/v1/chat/completions", body).status == 200
    assert len(first.tapes()) == 1
    first.close()
    again = start_proxy(record="replay-only")
    answer = send(again.url, "/v1/chat/completions", body)
    assert answer.status == 200, answer.body[:500]
    assert answer.headers["x-playingpack-source"] == "tape"


# --- 4. lone surrogates ---------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_streamed_request_gets_the_whole_stream_and_a_tape(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    # JSON.stringify and json.dumps write a lone surrogate as an escape; the SDKs cannot send one.
    body = json.dumps(ask("broken \ud800 text", stream=True)).encode()
    assert b"\\ud800" in body
    proxy = start_proxy()
    answer = send(proxy.url, "/v1/chat/completions", body)
    assert answer.status == 200
    assert b"data: [DONE]\n\n" in answer.body
    [flow] = proxy.finished_flows(1)
    assert flow["state"] == "COMPLETE", flow
    [tape] = proxy.tapes()
    recorded = Tape.from_json(tape.read_bytes()).request
    assert recorded["messages"][0]["content"] == "broken \ud800 text"
    proxy.close()
    replayed = send(start_proxy(record="replay-only").url, "/v1/chat/completions", body)
    assert replayed.headers["x-playingpack-source"] == "tape"
    assert replayed.body == answer.body


def test_a_json_answer_holding_a_lone_surrogate_is_recorded_and_replayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(content="odd \ud800 answer"))
    proxy = start_proxy()
    first = proxy.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert first.choices[0].message.content == "odd \ud800 answer"
    assert len(proxy.tapes()) == 1
    proxy.close()
    replayed = (
        start_proxy(record="replay-only")
        .client()
        .chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    )
    assert replayed.choices[0].message.content == "odd \ud800 answer"


# --- 12. bytes are relayed as bytes ---------------------------------------------------------

STREAM = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":"caf\xe9 \xff"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def test_bytes_that_are_not_utf8_in_a_stream_reach_the_client_unchanged(
    start_proxy: Callable[..., Running],
) -> None:
    raw = RawUpstream(
        lambda seen: http_answer(STREAM, headers={"Content-Type": "text/event-stream"})
    )
    try:
        proxy = start_proxy(upstream=raw.url)
        answer = send(proxy.url, "/v1/chat/completions", chat_body(stream=True))
        assert answer.status == 200
        assert answer.body == STREAM
        [flow] = proxy.finished_flows(1)
        assert flow["state"] == "COMPLETE", flow
        [tape] = proxy.tapes()
        chunks = Tape.from_json(tape.read_bytes()).chunks
        assert "caf\ufffd \ufffd" in chunks[0].c
    finally:
        raw.close()


@pytest.mark.parametrize("streamed", [False, True])
def test_an_unknown_content_encoding_is_passed_on_with_its_header(
    start_proxy: Callable[..., Running], streamed: bool
) -> None:
    encoded = b"\x00\x01 not decodable by anyone but the client \xfe"
    kind = "text/event-stream" if streamed else "application/json"
    raw = RawUpstream(
        lambda seen: http_answer(
            encoded, headers={"Content-Type": kind, "Content-Encoding": "x-custom"}
        )
    )
    try:
        proxy = start_proxy(upstream=raw.url)
        answer = send(proxy.url, "/v1/chat/completions", chat_body(stream=streamed))
        assert answer.status == 200
        assert answer.headers["content-encoding"] == "x-custom"
        assert answer.body == encoded
        assert proxy.tapes() == []
        [flow] = proxy.finished_flows(1)
        assert flow["state"] == "COMPLETE", flow
    finally:
        raw.close()


def test_a_gzip_answer_still_reaches_the_client_decoded(
    proxy: Running, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(headers={"X-Kept": "yes"}))
    answer = httpx.post(
        f"{proxy.base_url}/chat/completions",
        json=ask(),
        headers={"Authorization": f"Bearer {API_KEY}", "Accept-Encoding": "gzip"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["object"] == "chat.completion"
    assert "content-encoding" not in answer.headers


# --- 20. upstream failures in plain words -------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unknown_upstream_host_is_described_in_plain_words(
    start_proxy: Callable[..., Running],
) -> None:
    proxy = start_proxy(upstream="http://no-such-host.invalid")
    result = send(proxy.url, "/v1/models", method="GET")
    assert result.status == 502
    message = result.json()["error"]["message"]
    assert "could not find the host of http://no-such-host.invalid/v1/models" in message
    assert "Errno" not in message and "ClientConnector" not in message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            None,
            "could not connect to http://127.0.0.1:{port}/v1/chat/completions "
            "(connection refused).",
        ),
        (lambda seen: b"", "closed the connection before sending an answer"),
        (lambda seen: b"SMTP ready\r\n\r\n", "sent an answer that is not valid HTTP"),
    ],
)
def test_an_unreachable_upstream_is_described_in_plain_words(
    start_proxy: Callable[..., Running], answer: Any, words: str
) -> None:
    raw = RawUpstream(answer) if answer is not None else None
    port = raw.port if raw is not None else closed_port()
    try:
        proxy = start_proxy(upstream=f"http://127.0.0.1:{port}")
        result = send(proxy.url, "/v1/chat/completions", chat_body())
        assert result.status == 502
        message = result.json()["error"]["message"]
        assert words.format(port=port) in message
        assert "--upstream" in message
        for internal in ("ClientConnector", "Errno", "ConnectionKey", "<", "ssl:"):
            assert internal not in message, message
    finally:
        if raw is not None:
            raw.close()


# --- 15. big bodies -------------------------------------------------------------------------------


def test_a_big_request_is_recorded_and_replayed(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    text = "word " * 600_000  # 3 MB: parsed, hashed and written off the event loop
    messages: Any = [{"role": "user", "content": text}]
    proxy = start_proxy()
    first = proxy.client().chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert len(proxy.tapes()) == 1
    # Listed without its bodies (encoding them would hold up the server); whole on its own.
    [listed] = proxy.finished_flows(1)
    assert listed["request"] is None
    detail = httpx.get(f"{proxy.url}/api/flows/{listed['id']}", timeout=10).json()
    assert detail["request"]["messages"][0]["content"] == text
    proxy.close()
    again = start_proxy(record="replay-only").client()
    replayed = again.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert replayed.choices[0].message.content == first.choices[0].message.content


def test_a_request_over_the_limit_is_passed_through_unrecorded(
    start_proxy: Callable[..., Running],
) -> None:
    raw = RawUpstream(lambda seen: http_answer(json.dumps(COMPLETION).encode()))
    try:
        proxy = start_proxy(upstream=raw.url)
        body = chat_body(padding="x" * (33 * 1024**2))
        answer = send(proxy.url, "/v1/chat/completions", body)
        assert answer.status == 200
        assert answer.json() == COMPLETION
        [seen] = raw.seen
        assert seen.header("content-length") == str(len(body))
        assert seen.header("transfer-encoding") is None
        assert seen.body == body
        assert proxy.tapes() == []
        [flow] = proxy.finished_flows(1)
        assert flow["state"] == "COMPLETE"
    finally:
        raw.close()


def test_a_request_over_the_limit_gets_a_413_in_replay_only(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    client = start_proxy(record=RecordMode.REPLAY_ONLY).client(max_retries=0)
    messages: Any = [{"role": "user", "content": "x" * (33 * 1024**2)}]
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert caught.value.status_code == 413
    assert "32 MiB" in caught.value.message and "replay-only" in caught.value.message
    assert upstream.received == []


def test_a_chunked_request_over_the_limit_gets_a_413(
    proxy: Running, upstream: FakeUpstream
) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "m", "messages": [], "padding": "'
        for _ in range(33):
            yield b"x" * 1024**2
        yield b'"}'

    answer = httpx.post(
        f"{proxy.base_url}/chat/completions",
        content=pieces(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert upstream.received == []


def test_a_big_event_is_relayed_whole_and_recorded(start_proxy: Callable[..., Running]) -> None:
    content = "é" * 2_500_000  # one 5 MB event, split across many reads
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "stop"}],
    }
    stream = f"data: {json.dumps(event, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode()
    raw = RawUpstream(
        lambda seen: http_answer(stream, headers={"Content-Type": "text/event-stream"})
    )
    try:
        proxy = start_proxy(upstream=raw.url)
        client = proxy.client()
        chunks = list(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        )
        assert chunks[0].choices[0].delta.content == content
        [tape] = proxy.tapes()
        assert Tape.from_json(tape.read_bytes()).chunks[0].c.startswith("data: {")
    finally:
        raw.close()


def test_finished_flows_let_go_of_their_bodies_past_the_budget() -> None:
    flows = FlowLog(None, window=100, body_budget=1000)
    kept = []
    for number in range(5):
        flow = flows.open("POST", "/v1/chat/completions")
        flow.set_request({"n": number}, streamed=False, size=300)
        flow.take_answer((Chunk("x" * 100, 0),), streamed=False)
        flow.fail("done")
        kept.append(flow)
    # 400 bytes each: the two newest fit in 1000.
    assert [flow.trimmed for flow in kept] == [True, True, True, False, False]
    assert kept[0].request is None and kept[0].chunks == ()
    assert kept[4].request == {"n": 4}


@pytest.mark.parametrize("pause", ["off", "all"])
def test_an_event_over_the_limit_is_passed_on_unchanged_and_not_recorded(
    start_proxy: Callable[..., Running], pause: str
) -> None:
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": "z" * (17 * 1024**2)}, "finish_reason": "stop"}
        ],
    }
    stream = f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode()
    raw = RawUpstream(
        lambda seen: http_answer(stream, headers={"Content-Type": "text/event-stream"})
    )
    try:
        proxy = start_proxy(upstream=raw.url, pause=PauseMode(pause))
        answer = send(proxy.url, "/v1/chat/completions", chat_body(stream=True))
        assert answer.status == 200
        assert answer.body == stream
        [flow] = proxy.finished_flows(1)
        assert flow["state"] == "COMPLETE", flow
        assert proxy.tapes() == []
    finally:
        raw.close()


def test_an_answer_over_the_limit_is_passed_on_unchanged_and_not_recorded(
    start_proxy: Callable[..., Running],
) -> None:
    def event(n: int) -> str:
        delta = {"index": 0, "delta": {"content": str(n) * (4 * 1024**2)}, "finish_reason": None}
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return f"data: {json.dumps({**body, 'choices': [delta]})}\n\n"

    stream = ("".join(event(n) for n in range(9)) + "data: [DONE]\n\n").encode()
    big_json = json.dumps({**COMPLETION, "padding": "p" * (33 * 1024**2)}).encode()
    answers = {True: stream, False: big_json}
    raw = RawUpstream(
        lambda seen: http_answer(
            answers[b'"stream": true' in seen.body],
            headers={
                "Content-Type": "text/event-stream"
                if b'"stream": true' in seen.body
                else "application/json"
            },
        )
    )
    try:
        proxy = start_proxy(upstream=raw.url)
        for streamed in (True, False):
            answer = send(proxy.url, "/v1/chat/completions", chat_body(stream=streamed))
            assert answer.status == 200
            assert answer.body == answers[streamed]
        assert [flow["state"] for flow in proxy.finished_flows(2)] == ["COMPLETE", "COMPLETE"]
        assert proxy.tapes() == []
    finally:
        raw.close()
