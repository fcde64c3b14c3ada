"""What counts as a secret, and how one is shown. Tapes and logs never hold secrets; the API,
the HAR export, the live events, the dashboard and log lines show them masked, all by this one
rule: ``***`` and the last four characters of a long secret, after its auth scheme if any.

A header is secret when it is one of SECRET_HEADERS, or when its name has one of the words
key, apikey, token, auth, authorization, password, credential(s) or signature (split at ``-``
and ``_``), or holds "secret" or "cookie": ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``,
``Set-Cookie``, ``X-Playingpack-Token``. Counting headers such as
``x-ratelimit-remaining-tokens`` are not secret (``tokens`` is another word), nor is
``Idempotency-Key``.
"""

from __future__ import annotations

import re

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "openai-api-key",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
        "cookie",
        "set-cookie",
        "x-playingpack-token",
    }
)

TOKEN_HEADER = "x-playingpack-token"
TOKEN_COOKIE = "playingpack_token"
# Headers that are playingpack's own (its dashboard token): never forwarded upstream.
OWN_HEADERS = frozenset({TOKEN_HEADER})

_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "auth",
        "authorization",
        "password",
        "passwd",
        "credential",
        "credentials",
        "signature",
    }
)
_WORD_BREAK = re.compile(r"[-_.\s]+")
# Named like a key, but an SDK's retry id: worth seeing when calls repeat.
_NOT_SECRET = frozenset({"idempotency-key"})


def is_secret_header(name: str) -> bool:
    """Whether a header (or query parameter) named ``name`` carries a secret."""
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return True
    if lowered in _NOT_SECRET:
        return False
    if "secret" in lowered or "cookie" in lowered:
        return True
    return not _SECRET_WORDS.isdisjoint(_WORD_BREAK.split(lowered))


def is_own_header(name: str) -> bool:
    """Whether ``name`` is one of playingpack's own headers, which never leave it."""
    return name.lower() in OWN_HEADERS


def without_own_cookie(cookie: str) -> str:
    """A ``Cookie`` header value without playingpack's token cookie (empty when nothing is left):
    a browser sends it with every request to the server, ``/v1`` ones included."""
    kept = [
        part
        for part in cookie.split(";")
        if part.strip() and part.split("=", 1)[0].strip() != TOKEN_COOKIE
    ]
    return ";".join(kept).strip()


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,30}) +(\S.*)", re.DOTALL)


def mask(name: str, value: str) -> str:
    """A header value safe to show: secrets keep their scheme and last four characters."""
    if not is_secret_header(name):
        return value
    if "authorization" in name.lower() and (schemed := _SCHEME.fullmatch(value)):
        return f"{schemed.group(1)} {masked(schemed.group(2))}"
    return masked(value)


def masked(secret: str) -> str:
    """``***`` and the last four characters of ``secret`` when it is long enough to spare them."""
    return "***" + (secret[-4:] if len(secret) > 12 else "")


# Secrets inside free text (log messages, exception text, tracebacks), where a value may be in
# a header line (``Authorization: Bearer ...``), a repr (``'x-api-key': '...'``), a query
# (``?key=...``) or bare. A value ends at whitespace, a quote, a backslash (``\r`` in a repr)
# or a separator.
_SCHEMES = r"(?i:Bearer|Basic|Token|Digest|Negotiate)"
_NAMED = re.compile(
    r"(?P<name>[A-Za-z][\w-]*)"
    r"(?P<sep>['\"]?(?::[ \t]*|=)['\"]?|['\"],[ \t]*['\"])"
    rf"(?P<scheme>{_SCHEMES}[ \t]+)?"
    r"(?P<value>[^\s'\"\\&,;<>()\[\]{}]+)"
)
_COOKIE = re.compile(
    r"(?P<name>(?:set-)?cookie)(?P<sep>['\"]?(?::[ \t]*|=)['\"]?|['\"],[ \t]*['\"])"
    r"(?P<value>[^\r\n'\"\\]+)",
    re.IGNORECASE,
)
_SHAPED = re.compile(
    r"(?<![\w-])(?:sk-[\w-]{8,}|AIza[\w-]{16,}|AKIA[0-9A-Z]{16}|eyJ[\w-]+\.[\w-]+\.[\w-]+)"
    rf"|(?P<scheme>\b{_SCHEMES}[ \t]+)(?P<token>[\w.~+/=-]{{8,}})"
)


def mask_text(text: str) -> str:
    """``text`` with every secret in it masked: values of secret-named headers and parameters,
    and anything shaped like an API key or a bearer token."""
    text = _COOKIE.sub(_mask_named, text)
    text = _NAMED.sub(_mask_named, text)
    return _SHAPED.sub(_mask_shaped, text)


def _mask_named(match: re.Match[str]) -> str:
    value = match.group("value")
    if not is_secret_header(match.group("name")) or value.startswith("***"):
        return match.group()
    scheme = match.groupdict().get("scheme") or ""
    return f"{match.group('name')}{match.group('sep')}{scheme}{masked(value)}"


def _mask_shaped(match: re.Match[str]) -> str:
    if match.group("scheme"):
        return match.group("scheme") + masked(match.group("token"))
    return masked(match.group())
