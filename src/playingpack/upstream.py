"""The outbound client to the real API: URL joining, forwarded headers, secret masking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# Hop-by-hop headers (RFC 9110 §7.6.1) plus those the two hops set for themselves.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
# The client's accepted encodings are dropped: our client decodes what it asked for itself.
_NOT_FORWARDED = _HOP_BY_HOP | {"accept-encoding"}
# Bodies reach the client decoded, so their length and encoding headers no longer hold.
_NOT_RETURNED = _HOP_BY_HOP | {"content-encoding"}


class Upstream:
    """One shared connection pool to the upstream API."""

    def __init__(self, base_url: str, *, connect_timeout: float = 30, read_timeout: float = 600):
        self.base_url = base_url.rstrip("/")
        self._base = URL(self.base_url)
        self._origin = str(self._base.origin())
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool; call from the server's event loop."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, ttl_dns_cache=300),
            timeout=self._timeout,
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close the pool and every connection in it."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url_for(self, path: str, query_string: str = "") -> URL:
        """The upstream URL of a client path such as ``/v1/models``.

        The upstream is the base URL one would give the SDK: a bare origin keeps the client's
        path; a base URL with a path takes the place of the client's ``/v1``
        (``.../v1beta/openai`` + ``/v1/chat/completions`` → ``.../v1beta/openai/chat/completions``).
        A client path already under the base path (a base ending in ``/v1``, Azure's
        ``/openai/...``) is kept as it is, so ``/v1`` is never doubled.
        """
        base_path = self._base.path.rstrip("/")
        if base_path and not (path == base_path or path.startswith(base_path + "/")):
            if path == "/v1" or path.startswith("/v1/"):
                path = path[3:]
            path = base_path + path
        query = "?" + query_string if query_string else ""
        return URL(f"{self._origin}{path}{query}", encoded=True)

    async def send(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], data: Any
    ) -> aiohttp.ClientResponse:
        """Send a request; the caller must ``close()`` the response when done."""
        if self._session is None:
            raise RuntimeError("Upstream.send() called before start()")
        return await self._session.request(
            method,
            self.url_for(path, query_string),
            headers=headers,
            data=data,
            allow_redirects=False,
            skip_auto_headers=("Content-Type",),
        )


def forwarded_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """The client's headers as sent upstream: hop-by-hop ones dropped, credentials kept."""
    connection_tokens = _connection_tokens(headers)
    return CIMultiDict(
        (name, value)
        for name, value in headers.items()
        if name.lower() not in _NOT_FORWARDED and name.lower() not in connection_tokens
    )


def returned_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's headers as sent to the client: ``Retry-After``, rate limits, ids kept."""
    connection_tokens = _connection_tokens(headers)
    return CIMultiDict(
        (name, value)
        for name, value in headers.items()
        if name.lower() not in _NOT_RETURNED and name.lower() not in connection_tokens
    )


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    value = headers.get("Connection") or headers.get("connection") or ""
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())
