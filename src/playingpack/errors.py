"""The exceptions callers catch.

PlayingpackError
 ├── ConfigError     a config file, environment variable or flag is invalid
 ├── TapeError       a tape file exists but cannot be read or parsed
 ├── UpstreamError   the upstream could not be reached or broke off mid-answer
 └── DecisionError   a decision for a held flow cannot be carried out (the flow stays held)
"""

from __future__ import annotations

from pathlib import Path


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
