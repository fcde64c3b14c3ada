"""The outbound client to the real API: URL joining, forwarded headers, secret masking."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from playingpack.redaction import OWN_HEADERS, without_own_cookie

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
# ``Expect`` is answered by playingpack, which has read the whole body before forwarding it: an
# upstream that never sends ``100 Continue`` would otherwise keep our client waiting.
# The dashboard token is playingpack's own and never leaves it (nor does its cookie).
_NOT_FORWARDED = _HOP_BY_HOP | {"accept-encoding", "expect"} | OWN_HEADERS
# Bodies aiohttp decodes reach the client decoded, so their encoding header no longer holds.
DECODED_ENCODINGS = frozenset({"gzip", "deflate", "br", "zstd"})
_NOT_RETURNED = _HOP_BY_HOP
# Request bodies up to this size are written in one go.
_WHOLE_WRITE = 1024**2
# What a request to the upstream, or the reading of its answer, raises when the upstream
# cannot be reached, times out or breaks off.
FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

# One path segment as a client may send it: unreserved and sub-delimiter characters, ':' and
# '@', and percent escapes of anything but '/', '\', '%' and control characters.
_SEGMENT = re.compile(
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%(?![01][0-9A-Fa-f]|2[Ff]|5[Cc]|25|7[Ff])[0-9A-Fa-f]{2})*"
)
_DOTS = re.compile(r"(?:\.|%2[Ee])(?:\.|%2[Ee])?")


class BadTarget(ValueError):
    """A request target that cannot be forwarded safely; the message says why."""


# The same few targets come again and again: checking each segment was a few percent of a replay.
@functools.lru_cache(maxsize=256)
def client_path(target: str, scope: str | None = None) -> tuple[str, str]:
    """The path and query to forward for a request target exactly as the client sent it.

    Only origin-form targets (``/v1/...``) are taken, and their path must not be able to mean
    anything but itself further on: no dot segments, no empty segments, no encoded slash,
    backslash or percent sign and no control characters, so the upstream sees the path
    playingpack matched.
    ``scope`` is the ``/t/<scope>`` prefix to drop. Raises BadTarget.
    """
    if not target.startswith("/"):
        raise BadTarget(
            f"the request target {_shown(target)} is not a path: playingpack is a reverse proxy, "
            "not a forward proxy. Set the SDK's base_url to playingpack's address "
            "(http://localhost:4747/v1) instead of using it as HTTP_PROXY."
        )
    path, _, query = target.partition("?")
    segments = path.split("/")[1:]
    if scope is not None:
        segments = segments[2:]
    for position, segment in enumerate(segments):
        if not segment:
            if position == len(segments) - 1 and position > 0:
                continue  # a trailing slash
            raise BadTarget(f"the path {_shown(path)} has an empty segment ('//').")
        if _DOTS.fullmatch(segment):
            raise BadTarget(f"the path {_shown(path)} has a dot segment ('.' or '..').")
        if not _SEGMENT.fullmatch(segment):
            raise BadTarget(
                f"the path {_shown(path)} holds a character or escape that is not forwarded "
                "(an encoded '/', '\\' or '%', a control character, or an invalid escape)."
            )
    return "/" + "/".join(segments), query


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "...")


def failure_text(exc: BaseException, url: object) -> str:
    """What went wrong reaching the upstream at ``url``, in plain words, with what to do."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"could not find the host of {url} (DNS lookup failed). Check the host name."
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
        return (
            f"the TLS certificate of {url} was not accepted ({reason}). Check the address, or "
            "install the certificate authority it uses (SSL_CERT_FILE)."
        )
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"the TLS handshake with {url} failed. Check that the address uses the right scheme."
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (
            f"could not connect to {url} ({_os_reason(exc.os_error)}). "
            "Check that it is running there."
        )
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return f"{url} did not answer in time. Check that it is running and reachable."
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{url} closed the connection before sending an answer."
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{url} sent an answer that is not valid HTTP ({exc.message})."
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"{url} broke off while sending its answer's body."
    if isinstance(exc, OSError):
        return f"the connection to {url} failed ({_os_reason(exc)})."
    return f"the request to {url} failed ({type(exc).__name__})."


def reason(exc: BaseException) -> str:
    """An exception in a few words."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _os_reason(error: OSError) -> str:
    """An OS error in words, without the addresses and codes asyncio adds."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, TimeoutError):
        return "timed out"
    if error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__


class Upstream:
    """One shared connection pool to the upstream API."""

    def __init__(self, base_url: str, *, connect_timeout: float = 30, read_timeout: float = 600):
        self.base_url = base_url.rstrip("/")
        self._base = URL(self.base_url)
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
        """The upstream URL of a client path such as ``/v1/models`` (checked by client_path).

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
        # Built from parts: nothing in the path or query can reach the scheme, host or port.
        base = self._base
        return URL.build(
            scheme=base.scheme,
            host=base.raw_host or "",
            port=base.explicit_port,
            path=path,
            query_string=query_string,
            encoded=True,
        )

    async def send(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], data: Any
    ) -> aiohttp.ClientResponse:
        """Send a request; the caller must ``close()`` the response when done."""
        if self._session is None:
            raise RuntimeError("Upstream.send() called before start()")
        if isinstance(data, bytes) and len(data) > _WHOLE_WRITE:
            # Sent in pieces, yielding to the loop between them, with its Content-Length.
            data = io.BytesIO(data)
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
    forwarded: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _NOT_FORWARDED or lowered in connection_tokens:
            continue
        if lowered == "cookie":
            value = without_own_cookie(value)
            if not value:
                continue
        forwarded.add(name, value)
    return forwarded


def returned_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's headers as sent to the client: ``Retry-After``, rate limits, ids kept.

    ``Content-Encoding`` goes only when aiohttp decoded the body; an encoding it does not know
    reaches the client with the body still encoded, so the header stays to say so.
    """
    connection_tokens = _connection_tokens(headers)
    dropped = _NOT_RETURNED | connection_tokens
    if is_decoded(headers):
        dropped = dropped | {"content-encoding"}
    return CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in dropped
    )


def is_decoded(headers: Mapping[str, str]) -> bool:
    """Whether aiohttp hands us the body decoded (no encoding, or one it undoes)."""
    encoding = headers.get("Content-Encoding", "")
    return not encoding or encoding.strip().lower() in DECODED_ENCODINGS | {"identity"}


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    value = headers.get("Connection") or headers.get("connection") or ""
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())
