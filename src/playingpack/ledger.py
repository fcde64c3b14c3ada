"""The ledger of one server run: which tapes it recorded and replayed, which requests missed.

It answers ``GET /api/run`` (the pytest plugin's end-of-run report) and, when the server stops,
becomes ``<logs_dir>/usage.json``, which ``playingpack tapes prune`` reads back (read_last_run):
that file is written and read here only.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from playingpack.flows import iso_time
from playingpack.tape_files import find_tapes
from playingpack.tapes import parse_time

logger = logging.getLogger(__name__)

USAGE_FILE = "usage.json"
USAGE_FORMAT = 1  # of usage.json; `playingpack tapes prune` refuses other formats


@dataclass(frozen=True)
class Miss:
    """A request replay-only could not serve, and why."""

    method: str
    path: str
    model: str | None
    key: str
    tape: str  # the key it would have had
    explanation: str  # the nearest recording and how it differs, or that there is none


class TapeLedger:
    """What one run did with the tapes under ``tapes_dir``."""

    def __init__(self, tapes_dir: Path, logs_dir: Path | None) -> None:
        self.tapes_dir = tapes_dir
        self.logs_dir = logs_dir
        self.recorded: dict[str, int] = {}
        self.replayed: dict[str, int] = {}
        self.missing: list[Miss] = []

    def tape_recorded(self, key: str) -> None:
        self.recorded[key] = self.recorded.get(key, 0) + 1

    def tape_replayed(self, key: str) -> None:
        self.replayed[key] = self.replayed.get(key, 0) + 1

    def tape_missing(self, miss: Miss) -> None:
        self.missing.append(miss)

    def used(self) -> set[str]:
        """Every tape this run replayed or recorded."""
        return set(self.recorded) | set(self.replayed)

    def unused(self) -> list[str]:
        """The keys of the tapes in the folder (and its per-test subfolders, every recording
        of a sequence included) this run never used."""
        used = self.used()
        return [tape.key for tape in find_tapes(self.tapes_dir) if tape.key not in used]

    def report(self) -> dict[str, Any]:
        """The run so far, as ``GET /api/run`` gives it."""
        return {
            "tapes_dir": str(self.tapes_dir),
            "recorded": sorted(self.recorded),
            "replayed": sorted(self.replayed),
            "missing": [
                {
                    "method": miss.method,
                    "path": miss.path,
                    "model": miss.model,
                    "key": miss.key,
                    "tape": miss.tape,
                    "explanation": miss.explanation,
                }
                for miss in self.missing
            ],
            "unused": self.unused(),
        }

    def write_usage(self) -> Path | None:
        """Write ``usage.json`` in the logs folder (atomically) when this run used any tape."""
        used = self.used()
        if not used or self.logs_dir is None:
            return None
        document = _UsageFile(
            USAGE_FORMAT, iso_time(time.time()), str(self.tapes_dir.resolve()), sorted(used)
        )
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".usage.", dir=self.logs_dir)
            with os.fdopen(fd, "wb") as file:
                file.write(msgspec.json.format(msgspec.json.encode(document)) + b"\n")
            path = self.logs_dir / USAGE_FILE
            os.replace(temporary, path)
        except OSError as exc:
            logger.warning("could not write %s in %s: %s", USAGE_FILE, self.logs_dir, exc)
            return None
        return path


@dataclass(frozen=True)
class LastRun:
    """What ``<logs_dir>/usage.json`` says of the last run that recorded which tapes it used."""

    finished_at: datetime
    tapes_dir: Path
    used: frozenset[str]  # the keys of the tapes replayed or recorded during the run


def read_last_run(logs_dir: Path, tapes_dir: Path) -> LastRun:
    """Read ``<logs_dir>/usage.json``; raise ValueError saying what is missing or wrong, also
    when it was written for another tapes folder than ``tapes_dir``."""
    path = logs_dir / USAGE_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(
            f"no usage record at {path}: prune deletes the tapes the last run did not use, and "
            "no run has "
            "recorded which tapes it used yet. Run your agent or tests through playingpack "
            "(it writes that file when it stops), then prune again; or give --logs-dir"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = msgspec.json.decode(data, type=_UsageFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(
            f"{path} is not a usage record ({exc}); expected "
            '{"format": 1, "finished_at": ..., "tapes_dir": ..., "used": [...]}'
        ) from None
    if document.format != USAGE_FORMAT:
        raise ValueError(
            f"{path} has format {document.format}; this playingpack reads format "
            f"{USAGE_FORMAT}: run once with this version, then prune again"
        )
    finished = parse_time(document.finished_at)
    if finished is None:
        raise ValueError(
            f"{path}: finished_at must be an ISO-8601 time (got {document.finished_at!r})"
        )
    recorded_for = Path(document.tapes_dir)
    if recorded_for.resolve() != tapes_dir.resolve():
        raise ValueError(
            f"{path} records the tapes used in {recorded_for}, not in {tapes_dir}; prune that "
            "folder (--tapes-dir), or run once with this one"
        )
    return LastRun(finished, recorded_for, frozenset(document.used))


class _UsageFile(msgspec.Struct):
    format: int
    finished_at: str
    tapes_dir: str
    used: list[str]  # tape keys
