"""Settings that can change while the server runs (record and pause modes, replay timing)."""

from __future__ import annotations

from dataclasses import dataclass

from playingpack.config import Config, PauseMode, RecordMode, ReplayTiming


@dataclass
class Settings:
    """The live modes; starts from the Config and is changed by the API."""

    record: RecordMode
    pause: PauseMode
    replay_timing: ReplayTiming

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(config.record, config.pause, config.replay_timing)
