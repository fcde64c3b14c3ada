"""How each kind of setting value is checked: one function per kind, each a Parse.

A Parse takes the value and whether it arrived as text to interpret (environment variables and
string flags: there "8080" is a port and "yes" a bool); values from files must already have the
right type. It returns the value as Config holds it, or raises BadValue saying what is allowed.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

Parse = Callable[[object, bool], Any]

# A longer token could not be sent at all: aiohttp refuses header and request lines over 8 KiB.
MAX_TOKEN_LENGTH = 512


class BadValue(Exception):
    """A value failed its check; the text completes '<key> must ...'.

    `found` replaces the value in the message's "(got ...)" where the value must not be shown.
    """

    def __init__(self, expected: str, *, found: str | None = None) -> None:
        super().__init__(expected)
        self.found = found


_BOOL_WORDS: dict[str, bool] = {
    "1": True,
    "true": True,
    "yes": True,
    "0": False,
    "false": False,
    "no": False,
}


def parse_enum(kind: type[enum.StrEnum]) -> Parse:
    def parse(value: object, text: bool) -> enum.StrEnum:
        if isinstance(value, str):
            try:
                return kind(value.strip() if text else value)
            except ValueError:
                pass
        raise BadValue("must be one of " + ", ".join(member.value for member in kind))

    return parse


def parse_integer(low: int, high: int, rule: str) -> Parse:
    def parse(value: object, text: bool) -> int:
        # isdecimal, not isdigit: "²" is a digit that int() rejects.
        if text and isinstance(value, str) and value.strip().isdecimal():
            value = int(value.strip())
        # bool is an int subclass, and `port = true` is a mistake, not port 1.
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise BadValue(rule)

    return parse


def parse_number(low: float, high: float, open_min: bool, rule: str) -> Parse:
    def parse(value: object, text: bool) -> float:
        if text and isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise BadValue(rule) from None
        # NaN fails every comparison; inf and 1e400 fail the upper bound.
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (low < value if open_min else low <= value)
            and value <= high
        ):
            return float(value)
        raise BadValue(rule)

    return parse


_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")


def parse_token(value: object, text: bool) -> str:
    # The token is a secret: messages say what is wrong with it but never show it.
    expected = (
        f"must be at least 16 characters and at most {MAX_TOKEN_LENGTH}, "
        "each a letter, a digit, '-' or '_'"
    )
    if not isinstance(value, str):
        raise BadValue(expected, found=f"{type(value).__name__}; value not shown")
    token = value.strip() if text else value
    if not 16 <= len(token) <= MAX_TOKEN_LENGTH:
        raise BadValue(expected, found=f"{len(token)} characters; value not shown")
    if not _TOKEN.fullmatch(token):
        raise BadValue(expected, found="a character outside that set; value not shown")
    return token


def parse_bool(value: object, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise BadValue("must be one of 1, 0, true, false, yes, no" if text else "must be true or false")


def parse_host(value: object, text: bool) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise BadValue("must be a non-empty host name or address")


def parse_upstream(value: object, text: bool) -> str:
    expected = "must be an http:// or https:// URL with a host, such as https://api.openai.com"
    if not isinstance(value, str):
        raise BadValue(expected)
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise BadValue(expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue(expected)
    if parts.query or parts.fragment:
        # Request paths are appended to the upstream URL, so a query or fragment would end up
        # in the middle of every forwarded URL.
        raise BadValue(expected + ", without a query or fragment")
    # Keep a path such as /v1; drop one trailing slash so joining with "/v1/..." gives no "//".
    return url.removesuffix("/")


def parse_path(value: object, text: bool) -> Path:
    if isinstance(value, str | os.PathLike):
        raw = os.fspath(value)
        if isinstance(raw, str) and raw.strip():
            return Path(raw).expanduser()
    raise BadValue("must be a non-empty path")


def same_upstream(upstream: str, other: str) -> bool:
    """Whether two upstream URLs are the same once normalised as parse_upstream does.

    A trailing /v1 counts as the same (upstreams are accepted with or without it), and so do a
    differently cased scheme or host and an explicit default port. A malformed URL is the same
    as nothing (a Config built by hand is not checked).
    """
    try:
        first, second = (urlsplit(parse_upstream(url, True)) for url in (upstream, other))
        ports = [
            parts.port or (443 if parts.scheme.lower() == "https" else 80)
            for parts in (first, second)
        ]
    except (BadValue, ValueError):
        return False
    return (
        first.scheme.lower() == second.scheme.lower()
        and first.hostname == second.hostname  # urlsplit lowercases hostname
        and ports[0] == ports[1]
        and first.path.removesuffix("/v1") == second.path.removesuffix("/v1")
    )


class _Off:
    """The value of a setting turned off (``history = "off"``); Config holds None for it."""

    def __repr__(self) -> str:
        return "OFF"


OFF = _Off()
_OFF_WORDS = frozenset({"off", "false", "no", "none"})


def parse_history(value: object, text: bool) -> Path | _Off:
    # The command line gives a Path: `--history off` must not open a database named "off".
    word = str(value) if isinstance(value, (str, PurePath)) else None
    if value is False or (word is not None and word.strip().lower() in _OFF_WORDS):
        return OFF
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdecimal()):
        raise BadValue(
            "must be the history database's path or off; the number of calls kept in memory "
            "is now live_window (--live-window)"
        )
    try:
        return parse_path(value, text)
    except BadValue:
        raise BadValue("must be the history database's path or off") from None


def parse_keep(value: object, text: bool) -> str:
    expected = "must be a number of calls (such as 50000) or of days (such as 30d), at least 1"
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int):
        if value < 1:
            raise BadValue(expected)
        return str(value)
    if isinstance(value, str):
        raw = value.strip().lower()
        digits = raw.removesuffix("d")
        if digits.isdecimal() and int(digits) >= 1:
            return f"{int(digits)}d" if raw.endswith("d") else str(int(digits))
    raise BadValue(expected)


def keep_of(keep: str) -> tuple[int | None, int | None]:
    """A checked ``history_keep`` as (calls, days): one of the two is None."""
    if keep.endswith("d"):
        return None, int(keep[:-1])
    return int(keep), None
