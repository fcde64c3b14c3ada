"""Who may use the dashboard, its API and /ws, through real HTTP on loopback.

Every request is sent with the exact headers a browser (or a page attacking through one) would
send: httpx lets a test set ``Host``, aiohttp's WebSocket client sends the handshake's headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from playingpack.access import is_loopback
from tests.conftest import API_KEY, Running, ask
from tests.fakes.openai_upstream import FakeUpstream

TOKEN = "t" * 24
NO_TAPE = "0" * 64


def code(response: httpx.Response) -> str:
    """The ``error.code`` of an OpenAI-style error body."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict) and "error" in body, f"{response.status_code}: {body}"
    return str(body["error"]["code"])


def local_url(proxy: Running) -> str:
    """The server's address on 127.0.0.1 (a server bound to 0.0.0.0 listens there too)."""
    return f"http://127.0.0.1:{proxy.server.port}"


def open_ws(
    url: str, headers: Mapping[str, str] | None = None, query: str = ""
) -> dict[str, Any] | int:
    """The snapshot /ws sends after the handshake, or the status that refused the handshake."""

    async def attempt() -> dict[str, Any] | int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{url}/ws{query}", headers=headers) as ws:
                    snapshot: dict[str, Any] = await ws.receive_json(timeout=10)
                    return snapshot
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    return asyncio.run(asyncio.wait_for(attempt(), 20))


def upgrade(url: str, headers: Mapping[str, str]) -> httpx.Response:
    """A WebSocket handshake request for /ws sent as plain HTTP, to read a refusal's body."""
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    return httpx.get(f"{url}/ws", headers={**handshake, **headers}, timeout=10)


# --- is_loopback ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("x.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.2", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


# --- Host: bound to loopback, only loopback names are answered ---------------------------------


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "app.localhost", "LOCALHOST"])
def test_loopback_host_names_reach_the_api(proxy: Running, name: str) -> None:
    response = httpx.get(
        f"{proxy.url}/api/settings", headers={"Host": f"{name}:{proxy.server.port}"}
    )
    assert response.status_code == 200
    assert response.json()["record"] == "auto"


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "localhost.evil.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "192.168.1.2:{port}",
    ],
)
@pytest.mark.parametrize("path", ["/api/settings", "/api/flows", "/"])
def test_foreign_host_is_refused(proxy: Running, host: str, path: str) -> None:
    # A page on evil.example whose name was re-pointed at 127.0.0.1 (DNS rebinding).
    response = httpx.get(
        f"{proxy.url}{path}", headers={"Host": host.format(port=proxy.server.port)}
    )
    assert response.status_code == 403
    assert code(response) == "foreign_host"
    assert response.json()["error"]["type"] == "forbidden"


def test_foreign_host_cannot_open_the_socket(proxy: Running) -> None:
    foreign = {"Host": f"evil.example:{proxy.server.port}"}
    assert open_ws(proxy.url, foreign) == 403
    refused = upgrade(proxy.url, foreign)
    assert (refused.status_code, code(refused)) == (403, "foreign_host")
    assert isinstance(open_ws(proxy.url, {"Host": f"localhost:{proxy.server.port}"}), dict)


def test_foreign_host_changes_nothing(proxy: Running) -> None:
    response = httpx.patch(
        f"{proxy.url}/api/settings",
        json={"record": "off"},
        headers={"Host": f"evil.example:{proxy.server.port}"},
    )
    assert (response.status_code, code(response)) == (403, "foreign_host")
    assert httpx.get(f"{proxy.url}/api/settings").json()["record"] == "auto"


# --- Origin: changes only from the dashboard's own origin or from programs ---------------------

CROSS_SITE = [
    pytest.param({"Origin": "http://evil.example"}, id="foreign-origin"),
    pytest.param({"Origin": "null"}, id="null-origin"),
    pytest.param({"Origin": "http://127.0.0.1:1"}, id="other-port"),
    pytest.param({"Origin": "http://localhost:{port}"}, id="other-loopback-name"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="sec-fetch-same-site"),
    pytest.param(
        {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"},
        id="same-origin-but-cross-site-fetch",
    ),
]
SAME_ORIGIN = [
    pytest.param({"Origin": "http://127.0.0.1:{port}"}, id="same-origin"),
    pytest.param(
        {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
        id="same-origin-fetch",
    ),
    pytest.param({}, id="no-origin"),
]


def fill(headers: Mapping[str, str], port: int) -> dict[str, str]:
    return {name: value.format(port=port) for name, value in headers.items()}


@pytest.fixture
def tape(proxy: Running, client: openai.OpenAI) -> str:
    """The key of a tape recorded through the proxy."""
    client.chat.completions.create(**ask("record me"))
    (path,) = proxy.tapes()
    return path.stem


@pytest.fixture
def held(start_proxy: Callable[..., Running]) -> Iterator[tuple[Running, str, Any]]:
    """A server holding one chat completion before sending it: (server, flow id, the call's
    future)."""
    proxy = start_proxy(pause_requests=True)
    person = proxy.person()
    with ThreadPoolExecutor(1) as pool:
        client = proxy.client(max_retries=0)
        call = pool.submit(lambda: client.chat.completions.create(**ask("held")))
        flow = person.held()
        yield proxy, flow["id"], call
        if not call.done():  # let the call go, so the thread ends
            httpx.post(f"{proxy.url}/api/flows/{flow['id']}/decision", json={"action": "allow"})
        call.result(timeout=10)


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_settings_change_is_refused(proxy: Running, headers: dict[str, str]) -> None:
    response = httpx.patch(
        f"{proxy.url}/api/settings",
        json={"record": "off"},
        headers=fill(headers, proxy.server.port),
    )
    assert (response.status_code, code(response)) == (403, "cross_origin")
    assert response.json()["error"]["type"] == "forbidden"
    assert httpx.get(f"{proxy.url}/api/settings").json()["record"] == "auto"


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_tape_delete_is_refused(
    proxy: Running, tape: str, headers: dict[str, str]
) -> None:
    response = httpx.delete(
        f"{proxy.url}/api/tapes/{tape}", headers=fill(headers, proxy.server.port)
    )
    assert (response.status_code, code(response)) == (403, "cross_origin")
    assert [path.stem for path in proxy.tapes()] == [tape]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_decision_is_refused(
    held: tuple[Running, str, Any], headers: dict[str, str]
) -> None:
    proxy, flow_id, call = held
    response = httpx.post(
        f"{proxy.url}/api/flows/{flow_id}/decision",
        json={"action": "mock", "mock": {"content": "from evil.example"}},
        headers=fill(headers, proxy.server.port),
    )
    assert (response.status_code, code(response)) == (403, "cross_origin")
    # Still held and undecided: the dashboard's own decision is the one that counts.
    assert httpx.get(f"{proxy.url}/api/flows/{flow_id}").json()["state"] == "INTERCEPT"
    allowed = httpx.post(f"{proxy.url}/api/flows/{flow_id}/decision", json={"action": "allow"})
    assert allowed.status_code == 200
    assert call.result(timeout=10).choices[0].message.content == "Hello from the fake upstream!"


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_or_program_changes_settings(proxy: Running, headers: dict[str, str]) -> None:
    response = httpx.patch(
        f"{proxy.url}/api/settings",
        json={"record": "off"},
        headers=fill(headers, proxy.server.port),
    )
    assert response.status_code == 200
    assert response.json()["record"] == "off"
    assert httpx.get(f"{proxy.url}/health").json()["record"] == "off"


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_or_program_deletes_a_tape(
    proxy: Running, tape: str, headers: dict[str, str]
) -> None:
    response = httpx.delete(
        f"{proxy.url}/api/tapes/{tape}", headers=fill(headers, proxy.server.port)
    )
    assert response.status_code == 204
    assert proxy.tapes() == []


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_or_program_decides(
    held: tuple[Running, str, Any], headers: dict[str, str]
) -> None:
    proxy, flow_id, call = held
    response = httpx.post(
        f"{proxy.url}/api/flows/{flow_id}/decision",
        json={"action": "mock", "mock": {"content": "decided at the dashboard"}},
        headers=fill(headers, proxy.server.port),
    )
    assert response.status_code == 200
    assert call.result(timeout=10).choices[0].message.content == "decided at the dashboard"


def test_cross_site_read_is_answered_without_cors(proxy: Running) -> None:
    # A page elsewhere may send a GET, but without CORS headers its browser keeps the answer
    # from it; nothing changes on a GET.
    response = httpx.get(
        f"{proxy.url}/api/settings",
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_socket_is_refused(proxy: Running, headers: dict[str, str]) -> None:
    headers = fill(headers, proxy.server.port)
    assert open_ws(proxy.url, headers) == 403
    refused = upgrade(proxy.url, headers)
    assert (refused.status_code, code(refused)) == (403, "cross_origin")


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_or_program_socket_gets_the_snapshot(
    proxy: Running, headers: dict[str, str]
) -> None:
    snapshot = open_ws(proxy.url, fill(headers, proxy.server.port))
    assert isinstance(snapshot, dict)
    assert snapshot["type"] == "snapshot"
    assert snapshot["settings"]["record"] == "auto"


# --- /v1 and /health are for agents -----------------------------------------------------------

AGENT_FROM_ANYWHERE = {
    "Host": "evil.example",
    "Origin": "http://evil.example",
    "Sec-Fetch-Site": "cross-site",
}


def test_health_answers_any_host_and_origin(proxy: Running) -> None:
    response = httpx.get(f"{proxy.url}/health", headers=AGENT_FROM_ANYWHERE)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_chat_completion_answers_any_host_and_origin(
    proxy: Running, upstream: FakeUpstream
) -> None:
    response = httpx.post(
        f"{proxy.base_url}/chat/completions",
        json=ask("from anywhere"),
        headers={**AGENT_FROM_ANYWHERE, "Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == upstream.default.content
    assert len(upstream.received) == 1


def test_other_v1_answers_any_host_and_origin(proxy: Running, upstream: FakeUpstream) -> None:
    response = httpx.delete(f"{proxy.base_url}/echo/files/1", headers=AGENT_FROM_ANYWHERE)
    assert response.status_code == 200
    assert response.json()["method"] == "DELETE"


# --- bound to a non-loopback address: a token ---------------------------------------------------


@pytest.fixture
def exposed(start_proxy: Callable[..., Running]) -> Running:
    return start_proxy(host="0.0.0.0", token=TOKEN)


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/settings"), ("GET", "/")])
def test_without_token_is_refused(exposed: Running, method: str, path: str) -> None:
    response = httpx.request(method, f"{local_url(exposed)}{path}")
    assert (response.status_code, code(response)) == (401, "token_required")
    assert response.json()["error"]["type"] == "unauthorized"
    assert TOKEN not in response.text


def test_change_without_token_is_refused(exposed: Running) -> None:
    url = local_url(exposed)
    response = httpx.patch(f"{url}/api/settings", json={"record": "off"})
    assert (response.status_code, code(response)) == (401, "token_required")
    assert httpx.get(f"{url}/health").json()["record"] == "auto"


TOKEN_WAYS = [
    pytest.param({"Authorization": "Bearer {token}"}, "", id="bearer"),
    pytest.param({"Authorization": "bearer {token}"}, "", id="bearer-lowercase"),
    pytest.param({"X-Playingpack-Token": "{token}"}, "", id="header"),
    pytest.param({}, "?token={token}", id="query"),
]


def offer(headers: Mapping[str, str], query: str, token: str) -> tuple[dict[str, str], str]:
    return {name: value.format(token=token) for name, value in headers.items()}, query.format(
        token=token
    )


@pytest.mark.parametrize(("headers", "query"), TOKEN_WAYS)
def test_token_opens_the_api(exposed: Running, headers: dict[str, str], query: str) -> None:
    headers, query = offer(headers, query, TOKEN)
    url = local_url(exposed)
    response = httpx.get(f"{url}/api/settings{query}", headers=headers)
    assert response.status_code == 200
    assert response.json()["record"] == "auto"
    change = httpx.patch(f"{url}/api/settings{query}", headers=headers, json={"record": "off"})
    assert change.status_code == 200
    assert httpx.get(f"{url}/health").json()["record"] == "off"


@pytest.mark.parametrize(("headers", "query"), TOKEN_WAYS)
def test_wrong_token_is_refused(exposed: Running, headers: dict[str, str], query: str) -> None:
    for wrong in ("u" * 24, TOKEN[:-1], TOKEN + "t", TOKEN.upper()):
        sent_headers, sent_query = offer(headers, query, wrong)
        response = httpx.get(f"{local_url(exposed)}/api/settings{sent_query}", headers=sent_headers)
        assert (response.status_code, code(response)) == (401, "token_required"), wrong


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({"X-Playingpack-Token": "caf\u00e9" * 6}, "", id="latin-1-header"),
        pytest.param({}, "?token=%FF%FE", id="undecodable-query"),
        pytest.param({}, "?token=caf%C3%A9", id="utf-8-query"),
    ],
)
def test_token_that_is_not_ascii_is_refused(
    exposed: Running, headers: dict[str, str], query: str
) -> None:
    encoded = {name.encode(): value.encode("latin-1") for name, value in headers.items()}
    response = httpx.get(f"{local_url(exposed)}/api/settings{query}", headers=encoded)
    assert (response.status_code, code(response)) == (401, "token_required")


def test_dashboard_link_sets_a_strict_http_only_cookie(exposed: Running) -> None:
    url = local_url(exposed)
    with httpx.Client(base_url=url, timeout=10) as browser:
        page = browser.get(f"/?token={TOKEN}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"playingpack_token={TOKEN};")
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        # The page's own calls now carry the cookie, and nothing else.
        settings = browser.get("/api/settings")
        assert settings.status_code == 200
        assert browser.patch("/api/settings", json={"pause": "all"}).status_code == 200
    assert httpx.get(f"{url}/health").json()["pause"] == "all"
    snapshot = open_ws(url, {"Cookie": f"playingpack_token={TOKEN}"})
    assert isinstance(snapshot, dict) and snapshot["settings"]["pause"] == "all"


def test_dashboard_without_the_right_token_sets_no_cookie(exposed: Running) -> None:
    url = local_url(exposed)
    wrong = httpx.get(f"{url}/?token={'u' * 24}")
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    # A valid token sent another way opens the page but leaves no cookie behind.
    by_header = httpx.get(f"{url}/", headers={"X-Playingpack-Token": TOKEN})
    assert by_header.status_code == 200 and "set-cookie" not in by_header.headers


def test_wrong_cookie_is_refused(exposed: Running) -> None:
    response = httpx.get(
        f"{local_url(exposed)}/api/settings", headers={"Cookie": f"playingpack_token={'u' * 24}"}
    )
    assert (response.status_code, code(response)) == (401, "token_required")


@pytest.mark.parametrize(("headers", "query"), TOKEN_WAYS)
def test_token_opens_the_socket(exposed: Running, headers: dict[str, str], query: str) -> None:
    headers, query = offer(headers, query, TOKEN)
    url = local_url(exposed)
    assert open_ws(url) == 401
    refused = upgrade(url, {})
    assert (refused.status_code, code(refused)) == (401, "token_required")
    assert open_ws(url, {"X-Playingpack-Token": "u" * 24}) == 401
    snapshot = open_ws(url, headers, query)
    assert isinstance(snapshot, dict) and snapshot["type"] == "snapshot"


def test_any_host_name_with_the_token_is_answered(exposed: Running) -> None:
    # Off loopback the dashboard is opened by the machine's LAN name; the token guards it.
    response = httpx.get(
        f"{local_url(exposed)}/api/settings",
        headers={"Host": f"192.168.1.2:{exposed.server.port}", "Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200


def test_token_does_not_excuse_a_cross_site_change(exposed: Running) -> None:
    url = local_url(exposed)
    response = httpx.patch(
        f"{url}/api/settings",
        json={"record": "off"},
        headers={"Origin": "http://evil.example", "Cookie": f"playingpack_token={TOKEN}"},
    )
    assert (response.status_code, code(response)) == (403, "cross_origin")
    same = httpx.patch(
        f"{url}/api/settings",
        json={"record": "off"},
        headers={"Origin": url, "Cookie": f"playingpack_token={TOKEN}"},
    )
    assert same.status_code == 200


def test_agents_need_no_token(exposed: Running, upstream: FakeUpstream) -> None:
    url = local_url(exposed)
    assert httpx.get(f"{url}/health").status_code == 200
    with openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0) as agent:
        assert agent.models.list().data[0].id == "gpt-4o-mini"
        answer = agent.chat.completions.create(**ask("no token here"))
    assert answer.choices[0].message.content == upstream.default.content


def test_token_never_appears_in_answers(exposed: Running) -> None:
    url = local_url(exposed)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0) as agent:
        agent.chat.completions.create(**ask("anything"))
    flow_id = httpx.get(f"{url}/api/flows", headers=auth).json()[0]["id"]
    texts = [
        httpx.get(f"{url}{path}", headers=auth).text
        for path in (
            "/health",
            "/api/settings",
            "/api/flows",
            f"/api/flows/{flow_id}",
            "/api/tapes",
            "/api/openapi.json",
        )
    ]
    texts.append(httpx.patch(f"{url}/api/settings", headers=auth, json={"pause": "off"}).text)
    snapshot = open_ws(url, auth)
    assert isinstance(snapshot, dict)
    texts.append(repr(snapshot))
    assert all(TOKEN not in text for text in texts)


# --- which token, and the dashboard URL that carries it ------------------------------------------


def test_loopback_bind_needs_no_token(proxy: Running) -> None:
    assert proxy.server.token is None
    assert proxy.server.dashboard_url == f"{proxy.url}/"
    assert "token" not in proxy.server.dashboard_url


def test_configured_token_is_in_the_dashboard_url(exposed: Running) -> None:
    assert exposed.server.token == TOKEN
    assert exposed.server.dashboard_url.endswith(f"/?token={TOKEN}")


def test_token_is_generated_when_none_is_configured(start_proxy: Callable[..., Running]) -> None:
    first, second = start_proxy(host="0.0.0.0"), start_proxy(host="0.0.0.0")
    token = first.server.token
    assert token is not None and len(token) >= 32
    assert second.server.token is not None and second.server.token != token
    assert first.server.dashboard_url == f"http://127.0.0.1:{first.server.port}/?token={token}"
    url = local_url(first)
    assert httpx.get(f"{url}/api/settings").status_code == 401
    assert httpx.get(f"{url}/api/settings?token={token}").status_code == 200
    # One server's token does not open the other.
    assert httpx.get(f"{local_url(second)}/api/settings?token={token}").status_code == 401
    assert token not in httpx.get(f"{url}/health").text
