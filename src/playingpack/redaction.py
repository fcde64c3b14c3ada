"""What counts as a secret header, and how one is shown (tapes and logs never hold them; the
API and dashboard show them masked)."""

from __future__ import annotations

SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie", "openai-api-key"}
)

# Headers whose value starts with an auth scheme ("Bearer ...") worth showing.
_SCHEMED = frozenset({"authorization", "proxy-authorization"})


def mask(name: str, value: str) -> str:
    """A header value safe to show: secrets keep their scheme and last four characters."""
    lowered = name.lower()
    if lowered not in SECRET_HEADERS:
        return value
    if lowered in _SCHEMED and " " in value:
        scheme, _, token = value.partition(" ")
    else:
        scheme, token = "", value
    tail = token[-4:] if len(token) > 12 else ""
    return f"{scheme + ' ' if scheme else ''}***{tail}"
