"""The ledger of one server run: which tapes it recorded and replayed, which requests missed.

It answers ``GET /api/run`` (the pytest plugin's end-of-run report) and, when the server stops,
becomes ``<logs_dir>/usage.json``, which ``playingpack tapes prune`` reads.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from playingpack.flows import iso_time

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
    tape: str  # the name it would have had
    explanation: str  # the nearest recording and how it differs, or that there is none


class TapeLedger:
    """What one run did with the tapes under ``tapes_dir``."""

    def __init__(self, tapes_dir: Path, logs_dir: Path | None) -> None:
        self.tapes_dir = tapes_dir
        self.logs_dir = logs_dir
        self.recorded: dict[str, int] = {}
        self.replayed: dict[str, int] = {}
        self.missing: list[Miss] = []

    def tape_recorded(self, name: str) -> None:
        self.recorded[name] = self.recorded.get(name, 0) + 1

    def tape_replayed(self, name: str) -> None:
        self.replayed[name] = self.replayed.get(name, 0) + 1

    def tape_missing(self, miss: Miss) -> None:
        self.missing.append(miss)

    def used(self) -> set[str]:
        """Every tape this run replayed or recorded."""
        return set(self.recorded) | set(self.replayed)

    def unused(self) -> list[str]:
        """Tapes in the folder (and its per-test subfolders) this run never used."""
        used = self.used()
        return sorted(name for name in tape_names(self.tapes_dir) if name not in used)

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
        document = {
            "format": USAGE_FORMAT,
            "finished_at": iso_time(time.time()),
            "tapes_dir": str(self.tapes_dir.resolve()),
            "used": sorted(used),
        }
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


def tape_names(tapes_dir: Path) -> list[str]:
    """The names (paths under ``tapes_dir`` without .json) of every tape file there and one
    level of subfolders down."""
    names: list[str] = []
    try:
        entries = list(os.scandir(tapes_dir))
    except (FileNotFoundError, NotADirectoryError):
        return names
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):  # links are not followed (see store.refusal)
            names.extend(
                f"{entry.name}/{inner.name[:-5]}"
                for inner in os.scandir(entry.path)
                if inner.name.endswith(".json") and not inner.name.startswith(".")
            )
        elif entry.name.endswith(".json"):
            names.append(entry.name[:-5])
    return names
