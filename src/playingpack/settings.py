"""Settings: the Config a server runs with, whose live settings can change while it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from playingpack.config import LIVE_SETTINGS, Config

_LIVE = frozenset(row.name for row in LIVE_SETTINGS)


class Settings(Config):
    """The running server's settings: read like a Config, changed only through update().

    Everyone holding it sees a change on the next read. Only the settings SETTINGS marks live
    (record, pause, ...) can change; the others stay as the server started.
    """

    # Unlike a Config it changes, so it cannot be hashed by its values.
    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(**{item.name: getattr(config, item.name) for item in fields(config)})

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set the given live settings to values already checked.

        Raises ValueError, changing nothing, when a name is not a live setting.
        """
        fixed = sorted(set(changes) - _LIVE)
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while the server runs; "
                f"the live settings are {', '.join(sorted(_LIVE))}"
            )
        for name, value in changes.items():
            # Config's fields are frozen for everyone else; this is the one place they change.
            object.__setattr__(self, name, value)
