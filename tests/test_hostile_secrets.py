"""Hostile inputs against secrets and settings (issue 12, items 3, 8 and 14).

- A request aiohttp cannot parse (a bare CR after the key, a NUL or control character in a
  header, a header or request line over 8 KiB) is told in one line that quotes none of it, in
  the CLI and in-process; every other log record has its secrets masked.
- Every header that carries a secret is masked in /api/flows/{id}, the HAR export and the live
  events, request and response headers alike.
- Every setting is bounded, from every source, and the error says the bounds.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from playingpack import serve
from playingpack.config import PauseMode
from playingpack.errors import ConfigError
from tests.conftest import API_KEY, PLAYINGPACK, Running, ask, clean_env, serving, started
from tests.fakes.openai_upstream import FakeUpstream, Reply

# What must never be printed: the key's middle (its last four characters may be, masked).
HIDDEN = API_KEY[3:-4]
BODY = json.dumps(ask()).encode()


def _request(*header_lines: bytes, target: bytes = b"/v1/chat/completions") -> bytes:
    head = [b"POST " + target + b" HTTP/1.1", b"Host: localhost", *header_lines]
    head.append(b"Content-Type: application/json")
    head.append(b"Content-Length: %d" % len(BODY))
    return b"\r\n".join(head) + b"\r\n\r\n" + BODY


KEY = API_KEY.encode()
MALFORMED: dict[str, tuple[bytes, str]] = {
    # A key read from a CRLF .env file keeps its CR: a bare CR inside the header value.
    "trailing CR": (
        _request(b"Authorization: Bearer " + KEY + b"\r"),
        "missing expected LF after header value",
    ),
    "NUL": (_request(b"Authorization: Bearer " + KEY + b"\x00"), "invalid header value char"),
    "control character": (_request(b"X-Api-Key: " + KEY + b"\x01"), "invalid header value char"),
    "long header after the key": (
        _request(b"Authorization: Bearer " + KEY, b"X-Pad: " + b"a" * 9000),
        "a header is longer than 8190 bytes",
    ),
    "long key header": (
        _request(b"Authorization: Bearer " + KEY + b"a" * 9000),
        "a header is longer than 8190 bytes",
    ),
    "key in a chunk size": (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz" + KEY + b"\r\n",
        "invalid character in chunk size",
    ),
    "long request line with the key": (
        _request(target=b"/v1/chat/completions?key=" + KEY + b"a" * 9000),
        "the request line is longer than 8190 bytes",
    ),
}


def _exchange(url: str, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection and read until the server closes it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# --- item 3: keys on the terminal -----------------------------------------------------------


def test_a_malformed_request_is_one_line_without_the_key(tmp_path: Path) -> None:
    """Each of MALFORMED in turn, on one server (each on a connection of its own)."""
    with started("--upstream", "http://127.0.0.1:9", cwd=tmp_path) as process:
        for case, (raw, _) in MALFORMED.items():
            answer = _exchange(process.url, raw)
            assert b" 400 " in answer.split(b"\r\n", 1)[0], case
            assert httpx.get(f"{process.url}/health", timeout=10).status_code == 200, case
        # Stopped, so every line it printed has been read.
        process.popen.send_signal(signal.SIGTERM)
        process.wait_for(r"^playingpack: stopped$")
    output = "\n".join(process.lines)
    assert HIDDEN not in output
    assert "Traceback" not in output and "Error handling request" not in output
    notices = [line for line in process.lines if "malformed" in line]
    assert notices == [
        f"warning: rejected a malformed request from 127.0.0.1: {reason} (400)"
        for _, reason in MALFORMED.values()
    ]


def test_the_pure_python_parser_is_told_without_the_key_too(tmp_path: Path) -> None:
    env = {"AIOHTTP_NO_EXTENSIONS": "1"}
    with started("--upstream", "http://127.0.0.1:9", cwd=tmp_path, env=env) as process:
        for raw, _ in MALFORMED.values():
            assert b" 400 " in _exchange(process.url, raw).split(b"\r\n", 1)[0]
        process.popen.send_signal(signal.SIGTERM)
        process.wait_for(r"^playingpack: stopped$")
    output = "\n".join(process.lines)
    assert HIDDEN not in output and "Traceback" not in output
    notices = [line for line in process.lines if "rejected a malformed request" in line]
    assert len(notices) == len(MALFORMED)


@pytest.fixture
def in_process(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Any]:
    with serving(tmp_path, upstream) as pp:
        yield pp


def test_in_process_the_malformed_request_notice_has_no_key(
    in_process: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for raw, reason in MALFORMED.values():
        # aiohttp logs before it answers, so the record is there once the answer is read.
        assert b" 400 " in _exchange(in_process.url, raw)
        record = [record for record in caplog.records if record.name == "aiohttp.server"][-1]
        assert record.getMessage() == f"rejected a malformed request from 127.0.0.1: {reason} (400)"
        assert record.levelno == logging.WARNING
    assert HIDDEN not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"b'Authorization: Bearer {API_KEY}\\r'",
            f"b'Authorization: Bearer ***{API_KEY[-4:]}\\r'",
        ),
        ("x-goog-api-key: AIzaSyA1234567890abcdefghijk", "x-goog-api-key: ***hijk"),
        ("GET /v1/models?key=AIzaSyA1234567890abcdefghijk&x=1", "GET /v1/models?key=***hijk&x=1"),
        ("Cookie: a=1; playingpack_token=abcdefghijklmnopqrst", "Cookie: ***qrst"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "***wxyz"),
        ("Ocp-Apim-Subscription-Key: 0123456789abcdef", "Ocp-Apim-Subscription-Key: ***cdef"),
        ("x-ratelimit-remaining-tokens: 1000", "x-ratelimit-remaining-tokens: 1000"),
        ("messages, upgraded, tail = self._parser.feed_data(data)", None),
    ],
)
def test_mask_text(text: str, shown: str | None) -> None:
    from playingpack.redaction import mask_text

    assert mask_text(text) == (text if shown is None else shown)


# --- item 8: masking gaps -------------------------------------------------------------------

# Each value holds "HIDDEN", which no output may show.
SECRET_REQUEST_HEADERS = {
    "Authorization": f"Bearer sk-HIDDEN-{API_KEY}",
    "x-goog-api-key": "AIzaSyA-HIDDEN-1234567890abcdefLMNO",
    "Ocp-Apim-Subscription-Key": "0123456789HIDDEN0123456789abcdef",
    "X-Playingpack-Token": "dashboard-token-HIDDEN-abcdefghijk",
    "Cookie": "session=session-HIDDEN-value-1234; theme=dark",
    "X-Client-Secret": "client-secret-HIDDEN-abcdefgh",
    "X-Auth-Token": "auth-token-HIDDEN-abcdefghij",
}
SECRET_RESPONSE_HEADERS = {
    "Set-Cookie": "__cf_bm=upstream-cookie-HIDDEN-9876; path=/; HttpOnly",
    "X-Session-Token": "upstream-session-HIDDEN-5432",
}
PLAIN_RESPONSE_HEADERS = {"x-ratelimit-remaining-tokens": "149000", "x-request-id": "req_123"}


def _assert_masked(headers: dict[str, str], secret: dict[str, str]) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, value in secret.items():
        shown = lowered[name.lower()]
        assert shown.endswith(value[-4:]) and "***" in shown, (name, shown)


def test_secret_headers_are_masked_in_the_flow_the_har_and_live_events(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    proxy = start_proxy()
    person = proxy.person()
    upstream.queue(Reply(headers={**SECRET_RESPONSE_HEADERS, **PLAIN_RESPONSE_HEADERS}))
    answer = httpx.post(
        f"{proxy.base_url}/chat/completions", json=ask(), headers=SECRET_REQUEST_HEADERS, timeout=10
    )
    assert answer.status_code == 200
    (flow,) = proxy.finished_flows(1)
    person.finished(flow["id"])

    detail = httpx.get(f"{proxy.url}/api/flows/{flow['id']}", timeout=10)
    _assert_masked(detail.json()["request_headers"], SECRET_REQUEST_HEADERS)
    _assert_masked(detail.json()["response_headers"], SECRET_RESPONSE_HEADERS)
    response_headers = {k.lower(): v for k, v in detail.json()["response_headers"].items()}
    assert response_headers["x-ratelimit-remaining-tokens"] == "149000"
    request_headers = {k.lower(): v for k, v in detail.json()["request_headers"].items()}
    assert request_headers["authorization"] == f"Bearer ***{API_KEY[-4:]}"

    har = httpx.get(f"{proxy.url}/api/har", timeout=10)
    (entry,) = har.json()["log"]["entries"]
    for side, secret in (
        ("request", SECRET_REQUEST_HEADERS),
        ("response", SECRET_RESPONSE_HEADERS),
    ):
        _assert_masked({h["name"]: h["value"] for h in entry[side]["headers"]}, secret)

    outputs = [detail.text, har.text, httpx.get(f"{proxy.url}/api/flows", timeout=10).text]
    outputs += [json.dumps(message) for message in person.seen]
    for output in outputs:
        assert "HIDDEN" not in output


@pytest.mark.parametrize(
    "name",
    [
        "x-goog-api-key",
        "Ocp-Apim-Subscription-Key",
        "Set-Cookie",
        "X-Playingpack-Token",
        "x-amz-security-token",
        "X-Client-Secret",
        "apikey",
        "X-Auth-Token",
        "Proxy-Authorization",
        "cf-aig-authorization",
    ],
)
def test_secret_header_names(name: str) -> None:
    from playingpack.redaction import is_secret_header

    assert is_secret_header(name)


@pytest.mark.parametrize(
    "name",
    [
        "x-ratelimit-remaining-tokens",
        "anthropic-ratelimit-output-tokens-remaining",
        "Idempotency-Key",
        "keep-alive",
        "Content-Type",
        "openai-organization",
        "x-stainless-retry-count",
    ],
)
def test_plain_header_names(name: str) -> None:
    from playingpack.redaction import is_secret_header

    assert not is_secret_header(name)


def test_own_header_and_cookie() -> None:
    from playingpack.redaction import is_own_header, without_own_cookie

    assert is_own_header("X-Playingpack-Token") and not is_own_header("Authorization")
    assert without_own_cookie("a=1; playingpack_token=abc; b=2") == "a=1; b=2"
    assert without_own_cookie("playingpack_token=abc") == ""


# --- item 14: bounded settings --------------------------------------------------------------

SECONDS = (
    "hold_timeout must be a number of seconds greater than 0 and at most 86400 (a day), "
    "such as 300 or 2.5"
)
WINDOW = (
    "live_window must be an integer of 1 or more, up to 100000 "
    "(how many recent calls are kept in memory)"
)


def _start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """The one-line error of a `playingpack start` that must refuse its settings."""
    environment = clean_env(env)
    result = subprocess.run(
        [*PLAYINGPACK, "start", "--port", "0", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("hold_timeout = 1e20", f"playingpack.toml: {SECONDS} (got 1e+20)"),
        ("hold_timeout = nan", f"playingpack.toml: {SECONDS} (got nan)"),
        ("hold_timeout = inf", f"playingpack.toml: {SECONDS} (got inf)"),
        ("live_window = 1000000000", f"playingpack.toml: {WINDOW} (got 1000000000)"),
    ],
)
def test_a_config_file_setting_out_of_bounds_is_refused(
    tmp_path: Path, toml: str, error: str
) -> None:
    (tmp_path / "playingpack.toml").write_text(toml + "\n")
    assert _start(tmp_path) == f"playingpack: error: {error}"


def test_a_json_config_with_1e400_is_refused(tmp_path: Path) -> None:
    (tmp_path / "playingpack.config.json").write_text('{"holdTimeout": 1e400}')
    assert _start(tmp_path) == f"playingpack: error: playingpack.config.json: {SECONDS} (got inf)"


@pytest.mark.parametrize("value", ["1e20", "NaN", "-inf", "86400.5"])
def test_an_environment_setting_out_of_bounds_is_refused(tmp_path: Path, value: str) -> None:
    line = _start(tmp_path, env={"PLAYINGPACK_HOLD_TIMEOUT": value})
    assert line == f"playingpack: error: PLAYINGPACK_HOLD_TIMEOUT: {SECONDS} (got {value!r})"


def test_flags_out_of_bounds_are_refused(tmp_path: Path) -> None:
    assert _start(tmp_path, "--hold-timeout", "1e20") == (
        f"playingpack: error: --hold-timeout: {SECONDS} (got '1e20')"
    )
    assert _start(tmp_path, "--live-window", "100001") == (
        f"playingpack: error: --live-window: {WINDOW} (got '100001')"
    )
    assert _start(tmp_path, "--token", "t" * 513) == (
        "playingpack: error: --token: token must be at least 16 characters and at most 512, "
        "each a letter, a digit, '-' or '_' (got 513 characters; value not shown)"
    )


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("hold_timeout", 1e20, SECONDS),
        ("hold_timeout", float("nan"), SECONDS),
        ("hold_timeout", float("inf"), SECONDS),
        ("live_window", 10**12, WINDOW),
    ],
)
def test_serve_refuses_settings_out_of_bounds(
    tmp_path: Path, setting: str, value: object, rule: str
) -> None:
    settings: dict[str, Any] = {setting: value}
    with pytest.raises(ConfigError) as refused:
        serve(cwd=tmp_path, env={}, **settings)
    assert str(refused.value).startswith(f"--{setting.replace('_', '-')}: {rule} (got ")


def test_the_largest_bounds_are_accepted(tmp_path: Path, upstream: FakeUpstream) -> None:
    with serve(
        cwd=tmp_path, env={}, upstream=upstream.url, hold_timeout=86400, live_window=100_000
    ) as pp:
        assert pp.config.hold_timeout == 86400.0 and pp.config.live_window == 100_000


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.mark.parametrize("value", ["1e20", "1e400", "0", "-5", "86400.001"])
def test_the_settings_api_refuses_a_hold_timeout_out_of_bounds(proxy: Running, value: str) -> None:
    answer = httpx.patch(
        f"{proxy.url}/api/settings",
        content=f'{{"hold_timeout": {value}}}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["param"] == "hold_timeout"
    assert error["message"].endswith(f"`hold_timeout` {SECONDS.removeprefix('hold_timeout ')}.")
    assert httpx.get(f"{proxy.url}/api/settings", timeout=10).json()["hold_timeout"] == 300.0


def test_a_held_call_with_the_longest_hold_keeps_the_flow_list_working(
    start_proxy: Callable[..., Running], pool: ThreadPoolExecutor
) -> None:
    proxy = start_proxy(pause=PauseMode.ALL)
    refused = httpx.patch(f"{proxy.url}/api/settings", json={"hold_timeout": 1e20}, timeout=10)
    assert refused.status_code == 422
    longest = httpx.patch(f"{proxy.url}/api/settings", json={"hold_timeout": 86400}, timeout=10)
    assert longest.status_code == 200
    person = proxy.person()
    call = pool.submit(
        httpx.post,
        f"{proxy.base_url}/chat/completions",
        json=ask(),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=20,
    )
    held = person.held()
    listed = httpx.get(f"{proxy.url}/api/flows", timeout=10)
    assert listed.status_code == 200
    (flow,) = listed.json()
    assert flow["hold"]["timeout_s"] == 86400.0 and flow["hold"]["deadline"] > flow["started_at"]
    person.decide(held["id"], action="allow").raise_for_status()
    assert call.result(20).status_code == 200
