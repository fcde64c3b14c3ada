"""The exceptions callers catch, and the OpenAI-style error body a client gets.

PlayingpackError
 ├── ConfigError     a config file, environment variable or flag is invalid
 ├── TapeError       a tape file exists but cannot be read or parsed
 ├── UpstreamError   the upstream could not be reached or broke off mid-answer
 └── DecisionError   a decision for a held flow cannot be carried out (the flow stays held)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web


class PlayingpackError(Exception):
    """Base of every error playingpack raises on purpose."""


class ConfigError(PlayingpackError):
    """A setting is unknown or has an invalid value; the message names its source."""


class TapeError(PlayingpackError):
    """A tape file is unreadable or corrupt."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"tape {path} is corrupt: {reason}")
        self.path = path
        self.reason = reason


class UpstreamError(PlayingpackError):
    """The upstream could not be reached, or its answer broke off."""


class DecisionError(PlayingpackError):
    """A decision was refused; ``param`` is the JSON path of the field at fault, if one is."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str,
    *,
    retry: bool | None = None,
    param: str | None = None,
) -> web.Response:
    """An OpenAI-style error. ``retry=False`` tells the SDKs not to retry (``x-should-retry``)."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return json_error(body, status, retry=retry)


def json_error(body: dict[str, Any], status: int, *, retry: bool | None = None) -> web.Response:
    """``body``, an error in some wire format, as a response with ``status``; ``retry`` sets
    ``x-should-retry`` when given."""
    # Imported here: the CLI and the pytest plugin import this module without the server stack.
    import msgspec
    from aiohttp import web

    headers = {"x-should-retry": "true" if retry else "false"} if retry is not None else None
    return web.json_response(
        body,
        status=status,
        headers=headers,
        dumps=lambda value: msgspec.json.encode(value).decode(),
    )
