"""Resends: a call (or a tape's request) sent again because a person asked, as it was or edited.

A resend is a real HTTP request from playingpack to its own ``/v1`` route, so it takes the path
every call takes (events, the dashboard, the terminal line, the history). A one-time mark in the
``x-playingpack-resend`` header tells the proxy which resend it is, and so where its answer comes
from: the upstream (even in replay-only; nothing is recorded), the tapes (never the upstream), or
the upstream to record it (a miss recorded on the spot). The mark is never forwarded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, Resend
from playingpack.providers import Provider
from playingpack.redaction import RESEND_HEADER, is_secret_header
from playingpack.upstream import forwarded_headers

logger = logging.getLogger(__name__)

# How long the proxy may take to open the resend's flow once the request is sent.
_OPEN_SECONDS = 10.0
# Anthropic's SDKs send this; the proxy routes on it (see Proxy._send).
_ANTHROPIC_VERSION = "2023-06-01"
# What a resend never takes from the call it repeats: its body's framing and its own address.
_NOT_RESENT = frozenset({"content-length", "content-type", "content-encoding", "host"})
# The fields each format's request needs, and their JSON type.
_REQUIRED: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "/v1/chat/completions": (("model", str), ("messages", list)),
    "/v1/responses": (("model", str), ("input", (str, list))),
    "/v1/messages": (("model", str), ("max_tokens", int), ("messages", list)),
    "/v1/completions": (("model", str), ("prompt", (str, list))),
    "/v1/embeddings": (("model", str), ("input", (str, list))),
}
# Fields that, when given, have one JSON type whatever the format.
_OPTIONAL: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("temperature", (int, float)),
    ("top_p", (int, float)),
    ("max_tokens", int),
    ("max_completion_tokens", int),
    ("max_output_tokens", int),
    ("tools", list),
    ("stream", bool),
)
_TYPE_NAMES = {
    str: "a string",
    list: "an array",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


class RequestProblem(ValueError):
    """What is wrong with an edited request, and the field at fault (``request.<field>``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def check_request(provider: Provider, body: Any) -> None:
    """Raise RequestProblem when ``body`` is no request ``provider``'s endpoint takes."""
    if not isinstance(body, dict):
        raise RequestProblem("The request must be a JSON object.", "request")
    required = _REQUIRED.get(provider.endpoint, ())
    for name, _ in required:
        if name not in body:
            raise RequestProblem(
                f"The request has no `{name}`: {provider.endpoint} needs one.", f"request.{name}"
            )
    for name, kind in (*required, *_OPTIONAL):
        if name not in body:
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        value = body[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(_TYPE_NAMES[one] for one in kinds)
            raise RequestProblem(f"`{name}` must be {wanted}.", f"request.{name}")
    messages = body.get("messages")
    if isinstance(messages, list):
        if not messages:
            raise RequestProblem("`messages` is empty: send at least one.", "request.messages")
        for position, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise RequestProblem(
                    f"`messages[{position}]` must be an object with a `role`.",
                    f"request.messages[{position}]",
                )


@dataclass
class _Ticket:
    """One resend on its way: what the proxy makes of it, and the flow once it is open."""

    parent: str
    resend: Resend
    edited: bool
    opened: asyncio.Future[Flow] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True)
class Claim:
    """What the proxy does with a resend's request: its parent and where its answer comes from."""

    parent: str
    resend: Resend
    edited: bool
    ticket: _Ticket

    def opened(self, flow: Flow) -> None:
        """The proxy opened the resend's flow: mark it, and give it to the one who asked."""
        flow.resent_from(self.parent, self.resend, edited=self.edited)
        if not self.ticket.opened.done():
            self.ticket.opened.set_result(flow)


class Resends:
    """Sends resends to the proxy's own address and tells the proxy which is which."""

    def __init__(self, flows: FlowLog) -> None:
        self.flows = flows
        self._tickets: dict[str, _Ticket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def claim(self, request: web.Request) -> Claim | None:
        """The resend ``request`` is, when it carries a live mark (each mark is used once)."""
        mark = request.headers.get(RESEND_HEADER)
        ticket = self._tickets.pop(mark, None) if mark else None
        if ticket is None:
            return None
        return Claim(ticket.parent, ticket.resend, ticket.edited, ticket)

    async def send(
        self,
        address: str,
        path: str,
        body: Any,
        headers: Mapping[str, str],
        *,
        parent: str,
        resend: Resend,
        edited: bool,
    ) -> Flow:
        """Send ``body`` to ``path`` (scope prefix included) of the server at ``address``
        (``http://host:port``) as a resend of ``parent``; returns its flow once the proxy has
        opened it. Its answer is read to the end in a task of its own."""
        mark = secrets.token_urlsafe(18)
        ticket = self._tickets[mark] = _Ticket(parent, resend, edited)
        sent = {**headers, RESEND_HEADER: mark, "Content-Type": "application/json"}
        task = asyncio.create_task(self._send(f"{address}{path}", body, sent, ticket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(ticket.opened), _OPEN_SECONDS)
        finally:
            self._tickets.pop(mark, None)

    async def finished(self, flow: Flow, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``flow`` ends; whether it did."""
        if flow.is_finished:
            return True
        ended = asyncio.Event()

        def listen(moved: Flow, text: str | None) -> None:
            if moved is flow and flow.is_finished:
                ended.set()

        stop = self.flows.subscribe(listen)
        try:
            if flow.is_finished:
                return True
            await asyncio.wait_for(ended.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            stop()

    async def close(self) -> None:
        """Stop the resends still reading their answers (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _send(self, url: str, body: Any, headers: Mapping[str, str], ticket: _Ticket) -> None:
        if self._session is None:
            # No total timeout: a resend may stream for as long as the upstream takes.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=_OPEN_SECONDS)
            )
        try:
            async with self._session.post(
                url, data=msgspec.json.encode(body), headers=headers, auto_decompress=False
            ) as answer:
                async for _ in answer.content.iter_any():
                    pass
        except (aiohttp.ClientError, OSError) as exc:
            if not ticket.opened.done():
                ticket.opened.set_exception(exc)
            logger.debug("resend to %s: %s", url, exc)


def resent_headers(
    headers: Mapping[str, str] | None,
    given: Mapping[str, str],
    provider: Provider,
    *,
    masked: bool,
) -> dict[str, str]:
    """The headers a resend goes with: those of the call it repeats (its credentials too; from
    the history, whose copies are ``masked``, only the headers that are no secret), then those
    given. An Anthropic request gets the version header the proxy routes it by."""
    sent: dict[str, str] = {}
    if headers is not None:
        for name, value in forwarded_headers(headers).items():
            lowered = name.lower()
            if lowered in _NOT_RESENT or (masked and is_secret_header(lowered)):
                continue
            sent[lowered] = value
    sent.update({name.lower(): value for name, value in given.items()})
    if provider.endpoint == "/v1/messages":
        sent.setdefault("anthropic-version", _ANTHROPIC_VERSION)
    return sent


def own_address(request: web.Request) -> str:
    """``http://host:port`` of the socket ``request`` came in on: where this server listens."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        raise RuntimeError("resends need a TCP listening socket")
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def scoped(path: str, scope: str | None) -> str:
    """``path`` under ``/t/<scope>`` when the call had a per-test tapes folder."""
    return f"/t/{scope}{path}" if scope else path
