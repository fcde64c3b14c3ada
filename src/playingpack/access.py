"""Who may use the dashboard, its API and the WebSocket.

- The ``Host`` header must name the loopback address the server is bound to (``localhost``,
  ``127.0.0.1``, ``[::1]``, ``*.localhost``): a page on another domain that re-resolved its name
  to 127.0.0.1 (DNS rebinding) is refused.
- Changes (any method but GET, HEAD and OPTIONS) and WebSocket upgrades are refused when a
  browser says they come from another origin (``Origin``, ``Sec-Fetch-Site``). Programs such as
  curl send neither header and are let through.
- Bound to a non-loopback address, every such request needs the token printed at start: as
  ``?token=``, an ``Authorization: Bearer`` or ``X-Playingpack-Token`` header, or the cookie the
  dashboard page sets. The ``Host`` check is then left to the token.

``/v1/*`` and ``/health`` are for agents and stay open.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from playingpack.errors import error_response
from playingpack.redaction import TOKEN_COOKIE, TOKEN_HEADER

COOKIE = TOKEN_COOKIE
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Access:
    """The checks for one server. ``token`` is None when bound to loopback (no token needed)."""

    def __init__(self, host: str, token: str | None) -> None:
        self.host = host
        self.token = None if is_loopback(host) else token or secrets.token_urlsafe(24)

    def refusal(self, request: web.Request, *, upgrade: bool = False) -> web.Response | None:
        """The error response for a request that may not pass, or None when it may."""
        host = request.headers.get("Host", "")
        if self.token is None and not _names_loopback(host):
            return error_response(
                403,
                f"Host {host!r} is not this machine's loopback name: playingpack's dashboard and "
                "API answer only to localhost, 127.0.0.1 or [::1] (this protects them from DNS "
                "rebinding). Open it as http://localhost:<port>/.",
                "forbidden",
                "foreign_host",
            )
        if upgrade or request.method not in _SAFE_METHODS:
            problem = _cross_site(request, host)
            if problem:
                return error_response(
                    403,
                    f"Refused a cross-site request ({problem}): changes to playingpack and its "
                    "live events are accepted only from its own dashboard or from programs.",
                    "forbidden",
                    "cross_origin",
                )
        if self.token is not None and not self._has_token(request):
            return error_response(
                401,
                "playingpack is bound to a non-loopback address, so its dashboard and API need "
                "the token printed at start: open the dashboard URL shown there, or send "
                "`Authorization: Bearer <token>` (or `X-Playingpack-Token`).",
                "unauthorized",
                "token_required",
            )
        return None

    def remember(self, request: web.Request, response: web.StreamResponse) -> None:
        """After the dashboard page was opened with ``?token=``, keep the token in a cookie so
        the page's own API calls and WebSocket carry it."""
        if self.token is not None and request.query.get("token") == self.token:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")

    def _has_token(self, request: web.Request) -> bool:
        assert self.token is not None
        authorization = request.headers.get("Authorization", "")
        offered = (
            request.query.get("token")
            or request.headers.get(TOKEN_HEADER)
            or (authorization[7:] if authorization[:7].lower() == "bearer " else None)
            or request.cookies.get(COOKIE)
            or ""
        )
        # aiohttp keeps undecodable header bytes as lone surrogates; they must not raise here.
        return secrets.compare_digest(offered.encode("utf-8", "surrogatepass"), self.token.encode())


def _names_loopback(host: str) -> bool:
    if host.startswith("["):
        name = host[1 : host.find("]")]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return bool(name) and is_loopback(name.lower())


def _cross_site(request: web.Request, host: str) -> str | None:
    if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {request.headers['Sec-Fetch-Site']}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
        return f"Origin {origin!r} is not {'http://' + host!r}"
    return None
