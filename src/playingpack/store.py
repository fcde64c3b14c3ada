"""TapeStore: where tapes live on disk; load, save atomically, delete."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path

from playingpack.errors import TapeError
from playingpack.tapes import Tape

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")
_CACHE_SIZE = 512


def is_key(text: str) -> bool:
    """Whether ``text`` has the form of a tape key (64 lowercase hex digits)."""
    return _KEY.fullmatch(text) is not None


class TapeStore:
    """Tapes under one folder, named ``<key>.json``.

    Parsed tapes are cached and revalidated with one ``stat`` per lookup, so a tape edited or
    deleted on disk is seen at once while replays of an unchanged tape skip reading and parsing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._prefix = os.path.join(directory, "")
        self._cache: OrderedDict[str, tuple[tuple[int, int], Tape]] = OrderedDict()

    def path(self, key: str) -> Path:
        """The file of ``key``; raises ValueError for anything that is not a tape key."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        return self.directory / f"{key}.json"

    def load(self, key: str) -> Tape | None:
        """The tape for ``key``, or None when there is none; raises TapeError if it is corrupt."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        # A plain string path: this runs on every recorded request.
        file = f"{self._prefix}{key}.json"
        try:
            stat = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(key, None)
            return None
        except OSError as exc:
            raise TapeError(Path(file), exc.strerror or str(exc)) from None
        signature = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == signature:
            self._cache.move_to_end(key)
            return cached[1]
        try:
            with open(file, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TapeError(Path(file), exc.strerror or str(exc)) from None
        try:
            tape = Tape.from_json(data)
        except ValueError as exc:
            raise TapeError(Path(file), str(exc)) from None
        self._remember(key, signature, tape)
        return tape

    def save(self, tape: Tape) -> Path:
        """Write ``tape`` atomically: a temporary file in the same folder, then a rename."""
        path = self.path(tape.key)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            prefix=f".{tape.key[:16]}.", suffix=".tmp", dir=self.directory
        )
        try:
            with os.fdopen(fd, "wb") as file:
                # mkstemp creates 0600; tapes are meant to be shared and committed.
                os.fchmod(file.fileno(), 0o644)
                file.write(tape.to_json())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        stat = os.stat(path)
        self._remember(tape.key, (stat.st_mtime_ns, stat.st_size), tape)
        return path

    def files(self) -> list[tuple[str, int]]:
        """The key and size in bytes of every tape file in the folder."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            key, dot, extension = entry.name.partition(".")
            if dot and extension == "json" and is_key(key) and entry.is_file():
                found.append((key, entry.stat().st_size))
        return found

    def delete(self, key: str) -> bool:
        """Remove the tape of ``key``; False when there was none."""
        self._cache.pop(key, None)
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def _remember(self, key: str, signature: tuple[int, int], tape: Tape) -> None:
        self._cache[key] = (signature, tape)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
