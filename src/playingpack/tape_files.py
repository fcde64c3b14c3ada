"""The tape files under a tapes folder, found by one rule for the CLI, the API, the ledger and
prune.

Tapes sit at the top of the folder and in per-test subfolders, and a request repeated with
sequence replay on is recorded more than once, so a tape is named by its *key*: its path
relative to the tapes folder without ``.json``, with ``/`` separators. ``<hash>`` is a tape at
the top, ``test_foo/<hash>`` one in a per-test folder, ``<hash>.<k>`` the k-th recording
(k ≥ 2) of a request whose first is ``<hash>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# <hash>.json, or <hash>.<k>.json for the k-th recording with k >= 2.
_TAPE_NAME = re.compile(r"([0-9a-f]{64})(?:\.([2-9]|[1-9][0-9]+))?\.json")


@dataclass(frozen=True)
class TapeFile:
    """One tape file found under the tapes folder."""

    key: str  # its path relative to the tapes folder, without .json
    path: Path
    hash: str  # of its request: meta.hash, and the start of its file name
    index: int  # 1 for <hash>.json, k for <hash>.<k>.json
    size: int  # bytes
    mtime: float

    @property
    def folder(self) -> str:
        """The per-test folder it is in, relative to the tapes folder ("" at the top)."""
        return self.key.rpartition("/")[0]

    @property
    def short_key(self) -> str:
        """The key with the hash cut to 12 digits (still accepted where a key is)."""
        folder = self.folder + "/" if self.folder else ""
        return folder + self.hash[:12] + (f".{self.index}" if self.index > 1 else "")


def parse_name(name: str) -> tuple[str, int] | None:
    """The hash and recording number a tape file name says, or None for another name."""
    match = _TAPE_NAME.fullmatch(name)
    return None if match is None else (match.group(1), int(match.group(2) or 1))


def find_tapes(tapes_dir: Path) -> list[TapeFile]:
    """Every tape file under ``tapes_dir``, every recording of a sequence included, sorted by
    key; [] when the folder does not exist.

    Files whose name is not a tape's are left out (``playingpack tapes verify`` reports them).
    Entries named like tapes that are not regular files (links, FIFOs) are in, to be reported
    as unreadable; nothing is read through them (see store.refusal).
    """
    found = []
    for path in walk(tapes_dir):
        named = parse_name(path.name)
        if named is None:
            continue
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        found.append(
            TapeFile(
                key=path.relative_to(tapes_dir).as_posix().removesuffix(".json"),
                path=path,
                hash=named[0],
                index=named[1],
                size=status.st_size,
                mtime=status.st_mtime,
            )
        )
    return sorted(found, key=lambda tape: tape.key)


def walk(tapes_dir: Path) -> Iterator[Path]:
    """Every file under ``tapes_dir``, and every link to a folder (which is not entered)."""
    for folder, subfolders, names in os.walk(tapes_dir):
        # Hidden folders (.git, editors' state) hold no tapes; hidden files may be .tmp ones.
        visible = sorted(name for name in subfolders if not name.startswith("."))
        links = [name for name in visible if os.path.islink(os.path.join(folder, name))]
        subfolders[:] = [name for name in visible if name not in links]
        for name in sorted(names + links):
            yield Path(folder, name)
