"""Settings that can change while the server runs (modes, replay timing, hold timeout)."""

from __future__ import annotations

from dataclasses import dataclass

from playingpack.config import Config, PauseMode, RecordMode, ReplayTiming


@dataclass
class Settings:
    """The live settings; starts from the Config and is changed by the API."""

    record: RecordMode
    pause: PauseMode
    replay_timing: ReplayTiming
    pause_requests: bool = False
    hold_timeout: float = 300.0
    sequence: bool = False

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            config.record,
            config.pause,
            config.replay_timing,
            config.pause_requests,
            config.hold_timeout,
            config.sequence,
        )
