"""TapeStore: where tapes live on disk; load, save atomically, delete."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from playingpack.errors import TapeError
from playingpack.matching import Nearest, RequestIndex
from playingpack.tapes import Tape

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")
_CACHE_SIZE = 512


def file_name(key: str, index: int = 1) -> str:
    """The file name of the ``index``-th recording of ``key``: ``<key>.json`` for the first
    (the only one unless sequence replay is on), ``<key>.<index>.json`` after it."""
    return f"{key}.json" if index == 1 else f"{key}.{index}.json"


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
        self._index: RequestIndex | None = None
        self._index_lock = threading.Lock()

    def nearest(self, body: Any, endpoint: str) -> Nearest | None:
        """The recorded request nearest to ``body`` (see matching). Blocking, and safe to call
        from several threads: run it off the event loop."""
        with self._index_lock:
            if self._index is None:
                self._index = RequestIndex(self.directory)
            return self._index.nearest(body, endpoint)

    def path(self, key: str, index: int = 1) -> Path:
        """The file of ``key`` (of its ``index``-th recording); raises ValueError for anything
        that is not a tape key."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        return self.directory / file_name(key, index)

    def load(self, key: str, index: int = 1) -> Tape | None:
        """The tape for ``key`` (its ``index``-th recording), or None when there is none;
        raises TapeError if it is corrupt."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        # A plain string path: this runs on every recorded request.
        name = file_name(key, index)
        file = f"{self._prefix}{name}"
        try:
            stat = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(name, None)
            return None
        except OSError as exc:
            raise TapeError(Path(file), exc.strerror or str(exc)) from None
        signature = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == signature:
            self._cache.move_to_end(name)
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
        self._remember(name, signature, tape)
        return tape

    def save(self, tape: Tape, index: int = 1) -> Path:
        """Write ``tape`` (as the ``index``-th recording of its request) atomically: a temporary
        file in the same folder, then a rename. An existing file is replaced whole."""
        path = self.path(tape.key, index)
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
        self._remember(path.name, (stat.st_mtime_ns, stat.st_size), tape)
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
        """Remove the tape of ``key`` and its further recordings; False when there was none."""
        found = False
        index = 1
        while True:
            path = self.path(key, index)
            self._cache.pop(path.name, None)
            try:
                path.unlink()
            except FileNotFoundError:
                if index > 1:
                    return found
            else:
                found = True
            if index == 1 and not found:
                return False
            index += 1

    def _remember(self, name: str, signature: tuple[int, int], tape: Tape) -> None:
        self._cache[name] = (signature, tape)
        self._cache.move_to_end(name)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)


class TapeStores:
    """The tapes folder and its per-test subfolders (scopes), one TapeStore each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root = TapeStore(directory)
        self._scoped: dict[str, TapeStore] = {}

    def get(self, scope: str | None) -> TapeStore:
        """The store of ``scope`` (a subfolder name checked by is_scope), or the root."""
        if scope is None:
            return self.root
        store = self._scoped.get(scope)
        if store is None:
            store = self._scoped[scope] = TapeStore(self.directory / scope)
        return store

    def all(self) -> list[tuple[str | None, TapeStore]]:
        """The top folder's store (scope None), then one per per-test subfolder on disk, by
        name."""
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if entry.is_dir() and is_scope(entry.name)
            )
        except FileNotFoundError:
            names = []
        return [(None, self.root), *((name, self.get(name)) for name in names)]

    def name_of(self, store: TapeStore, key: str, index: int = 1) -> str:
        """A tape's name as reports show it: its path under the tapes folder, without .json."""
        name = file_name(key, index)[: -len(".json")]
        if store is self.root:
            return name
        return f"{store.directory.name}/{name}"


_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def is_scope(text: str) -> bool:
    """Whether ``text`` can name a per-test tapes subfolder (no separators, no ``..``)."""
    return _SCOPE.fullmatch(text) is not None and ".." not in text
