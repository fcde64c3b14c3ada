"""TapeStore: where tapes live on disk; load, save atomically, delete.

What playingpack reads or writes below a tapes folder follows one rule, shared by the server
and the ``playingpack tapes`` commands (see ``refusal``): only regular files and folders are
used, and no symbolic link below the tapes folder is followed, wherever it points (the tapes
folder itself may be a link). A link, a FIFO or a device named like a tape is reported by
name as unreadable; nothing is read, listed, written or deleted through it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playingpack.errors import TapeError
from playingpack.tapes import Tape

if TYPE_CHECKING:
    from playingpack.matching import Nearest
    from playingpack.providers import Provider
    from playingpack.tape_index import TapeIndex

logger = logging.getLogger(__name__)

CACHE_ENTRIES = 512  # parsed tapes kept per store
CACHE_BUDGET = 64 * 1024**2  # bytes of tape files whose parsed tapes a store keeps
CACHE_TAPE_LIMIT = 8 * 1024**2  # a tape file bigger than this is parsed on every use, not kept
READ_INLINE = 1024**2  # bigger files are read and parsed in a worker thread by TapeStore.fetch
# The biggest tape file replayed: bigger than any recording (see proxy.MAX_RECORDED_BODY and
# MAX_ANSWER), and reading one that big would hold up every other request.
MAX_TAPE_FILE = 64 * 1024**2
STALE_TEMPORARY = 300.0  # seconds after which a temporary file no write is using is removed

_KEY = re.compile(r"[0-9a-f]{64}")
# TapeStore.save's temporary files: "." + the key's first 16 digits + "." + mkstemp's + ".tmp".
_TEMPORARY = re.compile(r"\.[0-9a-f]{16}\.[A-Za-z0-9_]+\.tmp")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def file_name(key: str, index: int = 1) -> str:
    """The file name of the ``index``-th recording of ``key``: ``<key>.json`` for the first
    (the only one unless sequence replay is on), ``<key>.<index>.json`` after it."""
    return f"{key}.json" if index == 1 else f"{key}.{index}.json"


def is_key(text: str) -> bool:
    """Whether ``text`` has the form of a tape key (64 lowercase hex digits)."""
    return _KEY.fullmatch(text) is not None


def is_temporary(name: str) -> bool:
    """Whether ``name`` is that of a temporary file TapeStore.save writes a tape into."""
    return _TEMPORARY.fullmatch(name) is not None


def refusal(mode: int, *, folder: bool = False) -> str | None:
    """Why an entry below a tapes folder, of ``lstat`` mode ``mode``, is neither read nor
    written through; None for a regular file (a folder when ``folder``)."""
    if stat.S_ISLNK(mode):
        return (
            "is a symbolic link; playingpack follows no link inside the tapes folder (it could "
            f"lead outside it): put the {'folder' if folder else 'file'} itself there"
        )
    if folder:
        return None if stat.S_ISDIR(mode) else "is not a folder"
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a device")
    return f"is not a regular file ({kind})"


def read_file(path: str | os.PathLike[str]) -> tuple[bytes, os.stat_result]:
    """The bytes of the tape file at ``path`` and its ``stat``, opened only when it is a regular
    file (never through a link, never waiting on a FIFO). Raises FileNotFoundError when there is
    none, TapeError naming it when it is refused or cannot be read."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TapeError(Path(path), refusal(stat.S_IFLNK) or "") from None
        raise TapeError(Path(path), exc.strerror or str(exc)) from None
    try:
        status = os.fstat(fd)
        reason = refusal(status.st_mode)
        if reason is not None:
            raise TapeError(Path(path), reason)
        # One read of the size fstat gave and a byte more, to see the end, not a buffered file's
        # reads; a file that changed meanwhile (or of more than a read gives) is read to its end.
        data = os.read(fd, status.st_size + 1)
        if len(data) != status.st_size:
            data += b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
    except OSError as exc:
        raise TapeError(Path(path), exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    return data, status


def too_big(size: int) -> str:
    """Why a tape file of ``size`` bytes is not replayed."""
    return (
        f"is {size / 1024**2:.0f} MiB, more than the {MAX_TAPE_FILE // 1024**2} MiB playingpack "
        "replays (it records nothing that big)"
    )


class TapeStore:
    """Tapes under one folder, named ``<key>.json``.

    Parsed tapes are cached and revalidated with one ``lstat`` per lookup, so a tape edited or
    deleted on disk is seen at once while replays of an unchanged tape skip reading and parsing.
    The cache is bounded twice: at most CACHE_ENTRIES tapes, and at most CACHE_BUDGET bytes of
    tape files (a parsed tape takes about as much memory as its file, a few times more for
    streams of many small events); a file over CACHE_TAPE_LIMIT bytes is never kept. The least
    recently used tapes go first. Safe to use from the event loop and worker threads at once.
    """

    def __init__(
        self,
        directory: Path,
        *,
        scoped: bool = False,
        index: Callable[[], TapeIndex] | None = None,
    ) -> None:
        """``index`` gives the index of the tapes folder this store is part of (TapeStores
        passes its own); a store on its own indexes its folder itself, when first asked for
        the nearest tape."""
        self.directory = directory
        self._prefix = os.path.join(directory, "")
        # A per-test subfolder must not be a link; the tapes folder itself may be.
        self._scoped = scoped
        self._folder = directory.name if scoped else ""
        self._cache: OrderedDict[str, tuple[tuple[int, int], Tape]] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        self._index = index
        self._own_index: TapeIndex | None = None
        self._index_lock = threading.Lock()

    def nearest(self, body: Any, endpoint: str) -> Nearest | None:
        """The recorded request in this folder nearest to ``body`` (see tape_index), named
        relative to this folder. Blocking, and safe to call from several threads: run it off
        the event loop."""
        if self._folder_refusal() is not None:
            return None
        return self._tape_index().nearest(body, endpoint, self._folder)

    def _tape_index(self) -> TapeIndex:
        if self._index is not None:
            return self._index()
        with self._index_lock:
            if self._own_index is None:
                # Imported here: tape_index reads tape files through this module.
                from playingpack.providers import builtin
                from playingpack.tape_index import TapeIndex

                self._own_index = TapeIndex(self.directory, builtin())
            return self._own_index

    def _noted(self, path: Path, tape: Tape | None) -> None:
        index = self._index() if self._index is not None else self._own_index
        if index is not None:
            if tape is None:
                index.forgot(path)
            else:
                index.noted(path, tape)

    def path(self, key: str, index: int = 1) -> Path:
        """The file of ``key`` (of its ``index``-th recording); raises ValueError for anything
        that is not a tape key."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        return self.directory / file_name(key, index)

    def load(self, key: str, index: int = 1) -> Tape | None:
        """The tape for ``key`` (its ``index``-th recording), or None when there is none;
        raises TapeError naming the file if it is corrupt, unreadable, or not a regular file.

        Never waits on a FIFO; a big file is read here all the same (``fetch`` reads it in a
        worker thread)."""
        found = self._find(key, index)
        if found is None or isinstance(found, Tape):
            return found
        return self._read(*found)

    async def fetch(self, key: str, index: int = 1) -> Tape | None:
        """``load`` for the event loop: a file over READ_INLINE bytes that is not cached is read
        and parsed in a worker thread."""
        found = self._find(key, index)
        if found is None or isinstance(found, Tape):
            return found
        if found[2] > READ_INLINE:
            return await asyncio.to_thread(self._read, *found)
        return self._read(*found)

    def _find(self, key: str, index: int) -> Tape | tuple[str, str, int] | None:
        """The cached tape, or (name, file, size) of the file to read, or None for no file."""
        if not is_key(key):
            raise ValueError(f"not a tape key: {key!r} (expected 64 hex digits)")
        if self._scoped:
            reason = self._folder_refusal()
            if reason is not None:
                raise TapeError(self.directory, reason)
        # A plain string path: this runs on every recorded request.
        name = file_name(key, index)
        file = f"{self._prefix}{name}"
        try:
            status = os.lstat(file)
        except (FileNotFoundError, NotADirectoryError):
            self._forget(name)
            return None
        except OSError as exc:
            raise TapeError(Path(file), exc.strerror or str(exc)) from None
        reason = refusal(status.st_mode)
        if reason is not None:
            self._forget(name)
            raise TapeError(Path(file), reason)
        if status.st_size > MAX_TAPE_FILE:
            raise TapeError(Path(file), too_big(status.st_size))
        signature = (status.st_mtime_ns, status.st_size)
        with self._cache_lock:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == signature:
                self._cache.move_to_end(name)
                return cached[1]
        return name, file, status.st_size

    def _read(self, name: str, file: str, size: int) -> Tape | None:
        try:
            data, status = read_file(file)
        except FileNotFoundError:
            self._forget(name)
            return None
        try:
            tape = Tape.from_json(data)
        except ValueError as exc:
            raise TapeError(Path(file), str(exc)) from None
        self._remember(name, (status.st_mtime_ns, status.st_size), tape)
        return tape

    def save(self, tape: Tape, index: int = 1) -> Path:
        """Write ``tape`` (as the ``index``-th recording of its request) atomically: a temporary
        file in the same folder, then a rename. An existing file is replaced whole (a link in
        its place is replaced, not written through). Raises TapeError when the folder is a
        link, OSError when the disk refuses."""
        path = self.path(tape.key, index)
        if self._scoped:
            reason = self._folder_refusal()
            if reason is not None:
                raise TapeError(self.directory, reason)
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
        status = os.stat(path)
        self._remember(path.name, (status.st_mtime_ns, status.st_size), tape)
        self._noted(path, tape)
        return path

    def raw(self, key: str, index: int = 1) -> bytes | None:
        """The bytes of the file of ``key`` (its ``index``-th recording) as stored, or None
        when there is none; raises TapeError as load does."""
        if self._scoped:
            reason = self._folder_refusal()
            if reason is not None:
                raise TapeError(self.directory, reason)
        try:
            return read_file(self.path(key, index))[0]
        except FileNotFoundError:
            return None

    def delete(self, key: str, index: int | None = None) -> bool:
        """Remove the tape of ``key`` and its further recordings, or only its ``index``-th
        recording; False when there was none. A link named like a tape is removed itself,
        its target left alone. Raises TapeError when this folder is a link, OSError when the
        disk refuses."""
        if self._scoped:
            reason = self._folder_refusal()
            if reason is not None:
                raise TapeError(self.directory, reason)
        if index is not None:
            path = self.path(key, index)
            self._forget(path.name)
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            self._noted(path, None)
            return True
        found = False
        index = 1
        while True:
            path = self.path(key, index)
            self._forget(path.name)
            try:
                path.unlink()
            except FileNotFoundError:
                if index > 1:
                    return found
            else:
                found = True
                self._noted(path, None)
            if index == 1 and not found:
                return False
            index += 1

    def sweep(self, now: float | None = None) -> list[Path]:
        """Remove the temporary files of writes that a killed process left (those untouched for
        STALE_TEMPORARY seconds: a write in progress, in any process, is younger); returns
        them. Files it cannot remove are left, with a warning."""
        moment = time.time() if now is None else now
        removed: list[Path] = []
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return removed
        for entry in entries:
            # The cheap test first: a folder of 100,000 tapes is swept as the server starts.
            if not entry.name.startswith(".") or not is_temporary(entry.name):
                continue
            try:
                status = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(status.st_mode) or moment - status.st_mtime < STALE_TEMPORARY:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("could not remove %s: %s", entry.path, exc.strerror or exc)
                continue
            removed.append(Path(entry.path))
        return removed

    def _folder_refusal(self) -> str | None:
        try:
            return refusal(os.lstat(self.directory).st_mode, folder=True)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _remember(self, name: str, signature: tuple[int, int], tape: Tape) -> None:
        size = signature[1]
        with self._cache_lock:
            self._drop(name)
            if size > CACHE_TAPE_LIMIT:
                return
            self._cache[name] = (signature, tape)
            self._cached_bytes += size
            while len(self._cache) > CACHE_ENTRIES or self._cached_bytes > CACHE_BUDGET:
                (_, size), _ = self._cache.popitem(last=False)[1]
                self._cached_bytes -= size

    def _forget(self, name: str) -> None:
        with self._cache_lock:
            self._drop(name)

    def _drop(self, name: str) -> None:
        cached = self._cache.pop(name, None)
        if cached is not None:
            self._cached_bytes -= cached[0][1]


class TapeStores:
    """The tapes folder and its per-test subfolders (scopes), one TapeStore each, and the
    index of all their tapes (``index``)."""

    def __init__(self, directory: Path, providers: Sequence[Provider] | None = None) -> None:
        """``providers``: the wire formats the index reads tapes with (the built-in ones
        unless given)."""
        self.directory = directory
        self._providers = providers
        self._index: TapeIndex | None = None
        self._index_lock = threading.Lock()
        self._started: threading.Thread | None = None
        self._stop = threading.Event()
        self.root = TapeStore(directory, index=lambda: self.index)
        self._scoped: dict[str, TapeStore] = {}

    @property
    def index(self) -> TapeIndex:
        """The index of every tape under the tapes folder, made on first use."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    # Imported here: tape_index reads tape files through this module.
                    from playingpack.providers import builtin
                    from playingpack.tape_index import TapeIndex

                    providers = self._providers if self._providers is not None else builtin()
                    self._index = TapeIndex(self.directory, providers)
        return self._index

    def start(self) -> None:
        """In a background thread: sweep the temporary files of killed writes, then bring the
        index up to date (reading every tape of a folder never indexed), so the server answers
        at once and the first miss or listing finds the index ready (or waits for it)."""

        def run() -> None:
            self.sweep()
            try:
                self.index.refresh(stop=self._stop)
            except Exception as exc:  # the index is read again, and the error raised, on use
                logger.warning("could not index the tapes in %s: %s", self.directory, exc)

        self._started = threading.Thread(target=run, name="playingpack-tape-index", daemon=True)
        self._started.start()

    def close(self) -> None:
        """Stop the background refresh (what it did is kept) and close the index."""
        self._stop.set()
        if self._index is not None:
            self._index.close()
        if self._started is not None:
            self._started.join()
            self._started = None

    def get(self, scope: str | None) -> TapeStore:
        """The store of ``scope`` (a subfolder name checked by is_scope), or the root."""
        if scope is None:
            return self.root
        store = self._scoped.get(scope)
        if store is None:
            # setdefault: the API lists tapes in a worker thread while the loop serves calls.
            store = self._scoped.setdefault(
                scope, TapeStore(self.directory / scope, scoped=True, index=lambda: self.index)
            )
        return store

    def all(self) -> list[tuple[str | None, TapeStore]]:
        """The top folder's store (scope None), then one per per-test subfolder on disk, by
        name (a link to a folder is none: see ``refusal``)."""
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if entry.is_dir(follow_symlinks=False) and is_scope(entry.name)
            )
        except (FileNotFoundError, NotADirectoryError):
            names = []
        return [(None, self.root), *((name, self.get(name)) for name in names)]

    def sweep(self) -> list[Path]:
        """Remove the stale temporary files of killed writes in every store (TapeStore.sweep),
        logging what went. Blocking; it lists each folder once, so it is quick for a folder of
        thousands of tapes: call it once at start, in a worker thread."""
        removed = [path for _, store in self.all() for path in store.sweep()]
        if removed:
            logger.info(
                "removed %d temporary file%s left by interrupted tape writes in %s",
                len(removed),
                "" if len(removed) == 1 else "s",
                self.directory,
            )
        return removed

    def name_of(self, store: TapeStore, key: str, index: int = 1) -> str:
        """A tape's key (see tape_files): its path under the tapes folder, without .json."""
        name = file_name(key, index)[: -len(".json")]
        if store is self.root:
            return name
        return f"{store.directory.name}/{name}"


_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def is_scope(text: str) -> bool:
    """Whether ``text`` can name a per-test tapes subfolder (no separators, no ``..``)."""
    return _SCOPE.fullmatch(text) is not None and ".." not in text
