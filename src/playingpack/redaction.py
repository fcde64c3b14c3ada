"""What counts as a secret, and how one is shown. Tapes and logs never hold secrets; the API,
the HAR export, the live events, the dashboard and log lines show them masked, all by this one
rule: ``***`` and the last four characters of a long secret, after its auth scheme if any.

A header is secret when it is one of SECRET_HEADERS, or when its name has one of the words
key, apikey, token, auth, authorization, password, credential(s) or signature (split at ``-``
and ``_``), or holds "secret" or "cookie": ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``,
``Set-Cookie``, ``X-Playingpack-Token``. Counting headers such as
``x-ratelimit-remaining-tokens`` are not secret (``tokens`` is another word), nor is
``Idempotency-Key``.

``find_secrets`` scans a file (a tape) for secrets that should never have been written.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

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
        "x-playingpack-resend",
    }
)

TOKEN_HEADER = "x-playingpack-token"
TOKEN_COOKIE = "playingpack_token"
# Marks the request a resend makes to the proxy itself (see resend.Resends).
RESEND_HEADER = "x-playingpack-resend"
# Headers that are playingpack's own (its dashboard token, a resend's mark): never forwarded.
OWN_HEADERS = frozenset({TOKEN_HEADER, RESEND_HEADER})

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


@functools.lru_cache(maxsize=1024)
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


class Secret(NamedTuple):
    """Something in a file that looks like a secret, shown masked."""

    what: str  # "an API key", "a 'x-api-key' field", ...
    line: int
    shown: str  # its last four characters, or "value not shown" when it is short


# Each with the text every match holds, lowercased: a file without it is not searched (the
# patterns' look-behinds make a search of every position slow).
_KEY_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", "sk-ant-", re.compile(r"(?<![\w-])sk-ant-[\w-]{20,}")),
    ("an OpenAI project API key", "sk-proj-", re.compile(r"(?<![\w-])sk-proj-[\w-]{20,}")),
    ("an API key", "sk-", re.compile(r"(?<![\w-])sk-[\w-]{20,}")),
    ("a bearer token", "bearer", re.compile(r"\bBearer\s+[\w.~+/=-]{20,}", re.IGNORECASE)),
    ("an AWS access key id", "akia", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)
# A JSON key named like a secret header (or with underscores), holding a string; the quotes
# may be escaped, as in a chunk's text.
_SECRET_NAMES = sorted({name for h in SECRET_HEADERS for name in (h, h.replace("-", "_"))})
_SECRET_FIELD = re.compile(
    r'\\*"(' + "|".join(re.escape(name) for name in _SECRET_NAMES) + r')\\*"\s*:\s*\\*"([^"\\]*)',
    re.IGNORECASE,
)


# What every secret found holds, in the bytes: the case-sensitive patterns' start (sk-, AKIA)
# as it is; lowercased, "bearer" or a word of each secret name (key, authorization, cookie,
# playingpack). The only characters whose str.lower() has ASCII letters are İ (U+0130, an i and
# a dot) and the Kelvin sign (U+212A, a k): a file with either is searched as text.


def _may_hold_secrets(data: bytes) -> bool:
    """False when ``data`` holds none of what find_secrets looks for first: 4,000 bytes are
    searched a few times in C rather than decoded, lowered and searched 27 times."""
    if b"sk-" in data or b"AKIA" in data:
        return True
    if not data.isascii() and (b"\xc4\xb0" in data or b"\xe2\x84\xaa" in data):
        return True
    # Without İ and K, an ASCII word is in the lowered text exactly when in the lowered bytes.
    lowered = data.lower()
    return (
        b"bearer" in lowered
        or b"key" in lowered
        or b"authorization" in lowered
        or b"cookie" in lowered
        or b"playingpack" in lowered
    )


def find_secrets(data: bytes) -> list[Secret]:
    """Everything in ``data`` (a file's bytes) that looks like an API key, a bearer token or
    the value of a secret header, in order; a value already masked (``***abcd``) is not."""
    if not _may_hold_secrets(data):
        return []
    text = data.decode("utf-8", "replace")
    # (start, rank, end, what): where two patterns match at one place, the first listed wins.
    spans: list[tuple[int, int, int, str]] = []
    lowered = text.lower()
    for rank, (kind, held, pattern) in enumerate(_KEY_PATTERNS):
        if held in lowered:
            spans += [(m.start(), rank, m.end(), kind) for m in pattern.finditer(text)]
    named = any(name in lowered for name in _SECRET_NAMES)
    for m in _SECRET_FIELD.finditer(text) if named else ():
        value = m.group(2)
        if value.strip() and "***" not in value:
            spans.append(
                (m.start(2), len(_KEY_PATTERNS), m.end(2), f"a {m.group(1).lower()!r} field")
            )
    found = []
    end = -1
    for start, _, stop, kind in sorted(spans):
        if start < end:
            continue  # inside one already reported (a key after "Bearer", in an api-key field)
        end = stop
        value = text[start:stop]
        shown = f"…{value[-4:]}" if len(value) > 12 else "value not shown"
        found.append(Secret(kind, text.count("\n", 0, start) + 1, shown))
    return found
