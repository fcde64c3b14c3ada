"""The tape index: what the tapes list, ``/api/tapes`` and a miss's nearest tape need of every
tape file under a tapes folder, kept in a SQLite file so that no process reads every tape again.

The file is ``<tapes folder>/.playingpack/index.sqlite3`` (that folder holds a ``.gitignore`` of
``*``, so it is never committed with the tapes); when the tapes folder is not writable it is
``$XDG_CACHE_HOME/playingpack/index/``, and failing that the index lives in memory. It is a
cache: a file that cannot be read, of another schema or written by another playingpack version,
is rebuilt from the tapes.

It is kept in step with the folder, not watched: before answering, every folder's ``(mtime,
inode)`` is compared with the one it had when last scanned. Tapes are written by rename, which
changes their folder, so an unchanged folder needs no listing; a changed one is listed, and only
its files whose ``(size, mtime, inode)`` changed are read again. A folder changed within
``_RACY_NS`` of its scan is scanned again next time (file times are coarse, as git's "racy"
entries). A tape edited in place, without a rename, is seen once its folder changes or by a
``thorough`` refresh (``tapes list`` and ``tapes verify`` do one). Several processes may share
the file (WAL, a busy timeout, short write transactions; files are read outside them).

The first refresh of a folder never indexed reads every tape, which takes seconds for 100,000 of
them; ``playingpack start`` does it in the background after the server answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import msgspec

from playingpack import __version__
from playingpack.matching import (
    Nearest,
    content_words,
    differences,
    leaf_set,
    leaf_share,
    text_of,
    word_share,
    words_of,
)
from playingpack.providers import Provider
from playingpack.tape_files import parse_name
from playingpack.tape_rows import COLUMNS, provider_of, read_file, row_of, rows_of
from playingpack.tapes import Tape, decode

logger = logging.getLogger(__name__)

SCHEMA = 3  # PRAGMA user_version of the index file; another one is rebuilt
SORTS = ("recorded", "model", "endpoint", "size", "key", "chunks")  # "recorded" = timestamp
_SORT_COLUMNS = {"recorded": "timestamp", **{name: name for name in SORTS[1:]}}
_RACY_NS = 50_000_000  # a folder changed this close to its scan may change again unseen
_BATCH = 2000  # files read, then written in one transaction
_CANDIDATES = 200  # tapes compared exactly with a missed request
_RARE = 256  # tapes a word may be in and still say which tapes are near a request
_TERMS = 200  # words of a request looked up
_TIED = 20  # tapes equally near by their text whose requests are compared leaf by leaf
_POOLED = 4000  # files to read from which two processes read them
_BUILD_CACHE_KIB = 65536  # SQLite's page cache while thousands of rows are written
_SORTED = 2000  # tapes matching a page's filters that are sorted, not read in order
_ANALYSED = 2000  # rows written after which the query planner's statistics are gathered again
_MISS_WAIT = 0.005  # s a miss waits for a refresh in progress before reading what it wrote
_FEW = 120  # files in a folder never indexed that a miss reads rather than wait for its build
_PENDING = 256  # tapes noted by this process and not yet written to the index
_LISTED = COLUMNS.removesuffix(", words, names")  # what an IndexedTape holds
# A page of readable tapes is read in its sort's order from one of these, not sorted whole: each
# way of each sort has its index, ties being by key ascending both ways.
_SORT_INDEXES = "".join(
    f"CREATE INDEX tapes_{name}_{way} ON tapes ({column}{suffix}, key) WHERE error IS NULL;\n"
    for name, column in _SORT_COLUMNS.items()
    if name != "key"
    for way, suffix in (("up", ""), ("down", " DESC"))
)
_SORT_INDEXES += "CREATE INDEX tapes_key ON tapes (key) WHERE error IS NULL;\n"
_SCHEMA_SQL = f"""
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE folders (folder TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, scanned_ns INTEGER NOT NULL);
CREATE TABLE tapes (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, folder TEXT NOT NULL,
    hash TEXT NOT NULL, recording INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, model TEXT, endpoint TEXT,
    timestamp TEXT, status INTEGER, streamed INTEGER, chunks INTEGER, tool_calls TEXT NOT NULL,
    origin TEXT, parent TEXT, kept TEXT, first_user_message TEXT, error TEXT,
    words TEXT NOT NULL, names TEXT NOT NULL);
CREATE INDEX tapes_by_folder ON tapes (folder, endpoint, error, timestamp);
CREATE INDEX tapes_readable ON tapes (error, folder);
{_SORT_INDEXES}
CREATE VIRTUAL TABLE search USING fts5 (names, words, content='tapes', content_rowid='id',
    detail='column');
CREATE TRIGGER tapes_added AFTER INSERT ON tapes BEGIN
    INSERT INTO search (rowid, names, words) VALUES (new.id, new.names, new.words);
END;
CREATE TRIGGER tapes_removed AFTER DELETE ON tapes BEGIN
    INSERT INTO search (search, rowid, names, words)
        VALUES ('delete', old.id, old.names, old.words);
END;
CREATE TRIGGER tapes_changed AFTER UPDATE ON tapes BEGIN
    INSERT INTO search (search, rowid, names, words)
        VALUES ('delete', old.id, old.names, old.words);
    INSERT INTO search (rowid, names, words) VALUES (new.id, new.names, new.words);
END;
CREATE TABLE verdicts (key TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, problems TEXT NOT NULL);
PRAGMA user_version = {SCHEMA};
"""


@dataclass(frozen=True)
class IndexedTape:
    """One tape file as the index knows it (what the tapes list and /api/tapes show)."""

    key: str  # tape_files key: "<hash>", "<scope>/<hash>", "<hash>.<k>"
    folder: str  # "" for the top folder, else the per-test folder (scope)
    hash: str
    recording: int  # k; 1 for the first recording
    path: Path
    size: int
    mtime: float
    # None / defaults when the file does not parse as a tape (error says why):
    model: str | None
    endpoint: str | None
    timestamp: str | None  # meta.timestamp (ISO-8601)
    status: int | None
    streamed: bool | None
    chunks: int | None
    tool_calls: list[str]  # names of the tool calls in the answer
    origin: str | None  # recorded | resent | edited | mock
    parent: str | None
    kept: str | None
    first_user_message: str | None
    error: str | None  # why the file is not a readable tape, else None


class Page(NamedTuple):
    """One page of tapes, how many match in all, and whether that is all the tapes, or the
    ones indexed so far while a folder is indexed for the first time."""

    tapes: list[IndexedTape]
    total: int
    complete: bool = True


Signature = tuple[int, int, int]  # size, mtime_ns, inode
_T = TypeVar("_T")
_Found = tuple[list[tuple[str, str, str | None]], int | None]  # candidates, tapes searched


class _Stopped(Exception):
    """close() was called during a refresh."""


class _Meta(msgspec.Struct):
    timestamp: str = ""


class _Request(msgspec.Struct):
    body: Any = None


class _Head(msgspec.Struct):
    meta: _Meta = msgspec.field(default_factory=_Meta)
    request: _Request = msgspec.field(default_factory=_Request)


class TapeIndex:
    """The index of the tape files under ``tapes_dir``. Blocking, and safe to use from several
    threads at once (run it off the event loop)."""

    def __init__(
        self, tapes_dir: Path, providers: Sequence[Provider], *, processes: int = 1
    ) -> None:
        """``processes``: how many processes read tape files when thousands need reading (the
        commands use two; a server, whose main module may not be safe to import again in a
        worker process, reads them in its own)."""
        self.tapes_dir = tapes_dir
        self.providers = providers
        self.processes = processes
        self.location: str | None = None  # the index file, ":memory:" once opened in memory
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._pending: dict[str, tuple[Path, Tape | None] | None] = {}
        self._pending_lock = threading.Lock()
        self._stopping = False
        self._builder: threading.Thread | None = None  # a refresh a miss started
        self._opened = threading.Event()  # set once ``location`` is known
        self._stop: threading.Event | None = None
        self._written = 0  # rows written by scans since the statistics were last gathered

    # --- reading -------------------------------------------------------------------------------

    def page(
        self,
        *,
        scope: str | None = None,
        q: str = "",
        sort: str = "recorded",
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
        readable_only: bool = True,
    ) -> Page:
        """Refreshes what changed on disk, then one page of tapes and the total count matching.
        ``scope`` None = every folder; "" = top folder only; a name = that per-test folder.
        ``q`` = words, each a case-insensitive prefix of a word of the tape's hash, key, model,
        endpoint, message text or tool names (all words must match). Ties in the sort are broken
        by key. Raises ValueError for an unknown sort.

        While the folder is indexed for the first time, the page is of the tapes indexed so far
        (``complete`` False), at once."""
        where, parameters = _filters(scope, q, readable_only)
        order = _order(sort, descending)

        def read(db: sqlite3.Connection, complete: bool) -> Page:
            count = _count(db, where, parameters)
            # Chosen here, the count known: the planner's estimates may be far out either way.
            # Many tapes are read in order from their sort's index until the page is full; a
            # few are found (in their folder, by their words) and sorted. A first build makes
            # those indexes last.
            if not complete:
                chosen = ""
            elif readable_only and count > _SORTED:
                chosen = f"INDEXED BY {_index_of(sort, descending)}"
            elif readable_only and scope is not None and not q.strip():
                chosen = "INDEXED BY tapes_readable"
            else:
                chosen = ""
            found = db.execute(
                f"SELECT {_LISTED} FROM tapes {chosen} WHERE {where} ORDER BY {order} "
                "LIMIT ? OFFSET ?",
                [*parameters, max(0, limit), max(0, offset)],
            ).fetchall()
            return Page([self._tape(row) for row in found], count, complete)

        page = self._now(scope, read)
        return Page([], 0) if page is None else page

    def rows(
        self,
        *,
        scope: str | None = None,
        q: str = "",
        sort: str = "key",
        descending: bool = False,
        readable_only: bool = False,
        thorough: bool = False,
    ) -> list[IndexedTape]:
        """Every tape matching (as ``page``); ``thorough`` compares every file's size, mtime and
        inode with the index's, to see tapes edited in place too."""
        where, parameters = _filters(scope, q, readable_only)
        with self._lock:
            db = self._fresh(thorough=thorough)
            if db is None:
                return []
            found = db.execute(
                f"SELECT {_LISTED} FROM tapes WHERE {where} ORDER BY {_order(sort, descending)}",
                parameters,
            ).fetchall()
        return [self._tape(row) for row in found]

    def values(self, names: Sequence[str], *, thorough: bool = False) -> list[tuple[Any, ...]]:
        """Every tape's values of the columns ``names`` (of tape_rows.COLUMNS), in no order:
        what a listing of thousands reads, as SQLite gives it (see ``rows`` for ``thorough``)."""
        unknown = set(names) - set(COLUMNS.split(", "))
        if unknown:
            raise ValueError(f"no such columns: {', '.join(sorted(unknown))}")
        with self._lock:
            db = self._fresh(thorough=thorough)
            if db is None:
                return []
            return db.execute(f"SELECT {', '.join(names)} FROM tapes").fetchall()

    def nearest(self, body: Any, endpoint: str, folder: str = "") -> Nearest | None:
        """The tape of ``folder`` recorded from ``endpoint`` whose request is nearest to
        ``body``, or None when there is none. Nearest: the most similar message text (see
        matching.word_share), then the most similar request (matching.leaf_share), then the
        newest."""
        wanted = content_words(words_of(text_of(body, provider_of(self.providers, endpoint))))

        def read(db: sqlite3.Connection, complete: bool) -> _Found:
            searched = None if complete else _count(db, "folder = ?", [folder])
            return self._candidates(db, wanted, endpoint, folder), searched

        found = self._now(folder, read)
        if found is None:
            return None
        candidates, searched = found
        ranked = sorted(
            (
                (word_share(wanted, content_words(set(words.split()))), timestamp or "", key)
                for key, words, timestamp in candidates
            ),
            reverse=True,
        )
        # The tapes as near by their text as the nearest are told apart by their requests'
        # leaves, read from their files (few: their words matched).
        tied = [entry for entry in ranked if entry[0] == ranked[0][0]][:_TIED]
        leaves = leaf_set(body)
        best: tuple[float, str, str, _Head] | None = None
        for _, timestamp, key in tied:
            head = self._head(key)
            if head is not None:
                near = (leaf_share(leaves, leaf_set(head.request.body)), timestamp, key, head)
                best = near if best is None or near[:3] > best[:3] else best
        for _, timestamp, key in ranked[len(tied) :] if best is None else ():
            head = self._head(key)  # the tied ones are gone since they were indexed
            if head is not None:
                best = (0.0, timestamp, key, head)
                break
        if best is None:
            return None if searched is None else Nearest("", "", [], searched)
        _, timestamp, key, head = best
        name = key.removeprefix(f"{folder}/") if folder else key
        return Nearest(name, timestamp, differences(head.request.body, body), searched)

    def _indexed(self, db: sqlite3.Connection, folder: str | None) -> bool:
        """Whether ``folder`` (None: the top folder, which a refresh scans first) has been
        scanned whole at least once."""
        found = db.execute("SELECT 1 FROM folders WHERE folder = ?", (folder or "",)).fetchone()
        return found is not None

    def _few(self, folder: str | None) -> bool:
        """Whether ``folder`` (None: the top folder) holds so few tape files that reading them
        all takes no longer than a miss may wait."""
        count = 0
        try:
            with os.scandir(self.tapes_dir / folder if folder else self.tapes_dir) as entries:
                for entry in entries:
                    count += parse_name(entry.name) is not None
                    if count > _FEW:
                        return False
        except OSError:
            pass
        return True

    def _fresh_folder(self, db: sqlite3.Connection, folder: str) -> None:
        """The index brought up to date with one folder (as a refresh would, the others left)."""
        self._apply_pending(db)
        path = self.tapes_dir / folder if folder else self.tapes_dir
        try:
            status = os.lstat(path) if folder else os.stat(path)
        except OSError:
            status = None
        if status is None or not stat.S_ISDIR(status.st_mode):
            with _transaction(db):
                db.execute("DELETE FROM folders WHERE folder = ?", (folder,))
                db.execute("DELETE FROM tapes WHERE folder = ?", (folder,))
            return
        before = db.execute(
            "SELECT mtime_ns, inode, scanned_ns FROM folders WHERE folder = ?", (folder,)
        ).fetchone()
        if (
            before is None
            or tuple(before[:2]) != (status.st_mtime_ns, status.st_ino)
            or before[2] - status.st_mtime_ns <= _RACY_NS
        ):
            self._scan_folder(db, folder, path, status)

    def _refresh_soon(self) -> None:
        """A refresh in a background thread, unless one is running."""
        with self._pending_lock:
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(
                target=self.refresh, name="playingpack-tape-index", daemon=True
            )
            self._builder.start()

    def _now(self, folder: str | None, read: Callable[[sqlite3.Connection, bool], _T]) -> _T | None:
        """``read(db, complete)`` of the index brought up to date with ``folder`` (None: every
        folder); None when the tapes folder does not exist. While it is indexed for the first
        time (by a refresh in progress, or started here: thousands of tapes take seconds),
        ``read`` is given what that refresh has written so far, at once, ``complete`` False."""
        if self._lock.acquire(timeout=_MISS_WAIT):
            try:
                db = self._connection()
                if db is None:
                    return None
                try:
                    ready = self._indexed(db, folder) or self._few(folder)
                except sqlite3.Error:
                    ready = True  # a broken index: the refresh drops it and builds it again
                if ready:
                    return self._read_fresh(db, folder, read)
                found = read(db, False)
            finally:
                self._lock.release()
            self._refresh_soon()  # after the read: the refresh holds the interpreter for long
            return found
        # A refresh opening the index (creating it, say) says where it is in a moment.
        self._opened.wait(_MISS_WAIT * 10)
        location = self.location
        if location is not None and location != ":memory:":
            try:
                uri = Path(location).as_uri() + "?mode=ro"
                with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                    return read(db, self._indexed(db, folder))
            except sqlite3.Error as exc:
                logger.debug("the tape index %s cannot be read meanwhile: %s", location, exc)
        with self._lock:  # an index in memory: nothing else can read it meanwhile
            db = self._connection()
            return None if db is None else self._read_fresh(db, folder, read)

    def _read_fresh(
        self,
        db: sqlite3.Connection,
        folder: str | None,
        read: Callable[[sqlite3.Connection, bool], _T],
    ) -> _T | None:
        if folder is None:
            fresh = self._fresh(thorough=False)
            return None if fresh is None else read(fresh, True)
        try:
            with contextlib.suppress(_Stopped):  # closing: what is indexed is read
                self._fresh_folder(db, folder)
            return read(db, True)
        except sqlite3.Error:
            fresh = self._fresh(thorough=False)  # drops a broken index and builds it again
            return None if fresh is None else read(fresh, True)

    def _head(self, key: str) -> _Head | None:
        try:
            return decode(read_file(self.tapes_dir / f"{key}.json")[0], _Head)
        except (OSError, ValueError):
            return None

    def verdicts(self) -> dict[str, tuple[Signature, list[str]]]:
        """The problems ``tapes verify`` found in each tape file, by key, with the file's
        signature when it was checked (by this playingpack version)."""
        with self._lock:
            db = self._connection()
            if db is None:
                return {}
            found = db.execute("SELECT key, size, mtime_ns, inode, problems FROM verdicts")
            return {
                key: ((size, mtime, inode), msgspec.json.decode(problems))
                for key, size, mtime, inode, problems in found
            }

    # --- writing -------------------------------------------------------------------------------

    def judged(self, verdicts: Sequence[tuple[str, Signature, list[str]]]) -> None:
        """Keep what ``tapes verify`` found in these tape files (key, signature, problems)."""
        with self._lock:
            db = self._connection()
            if db is None:
                return
            for start in range(0, len(verdicts), _BATCH * 10):
                with _transaction(db):
                    db.executemany(
                        "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                        [
                            (key, *signature, _problems_text(problems))
                            for key, signature, problems in verdicts[start : start + _BATCH * 10]
                        ],
                    )

    def noted(self, path: Path, tape: Tape | None = None) -> None:
        """A tape file was written by us (``tape``, when given, is what it holds): its row is
        updated before the index is next read. Never waits."""
        self._note(path, (path, tape))

    def forgot(self, path: Path) -> None:
        """A tape file was deleted by us: its row goes before the index is next read."""
        self._note(path, None)

    def refresh(self, *, thorough: bool = False, stop: threading.Event | None = None) -> None:
        """Bring the index up to date with the folder (see the module docstring); ``stop``,
        once set, ends it early (what it wrote is kept)."""
        if stop is not None and stop.is_set():
            return
        with self._lock:
            self._stop = stop
            try:
                self._fresh(thorough=thorough)
            finally:
                self._stop = None

    def close(self) -> None:
        """Stop a refresh in progress (what it wrote is kept) and close the file; a later use
        opens it again."""
        self._stopping = True
        with self._lock:
            self._stopping = False
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- the database --------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection | None:
        """The open database; None while the tapes folder does not exist (it has no tapes)."""
        if self._db is not None:
            return self._db
        if not self.tapes_dir.is_dir():
            return None
        for location in self._locations():
            try:
                self._db = _open(location)
            except (OSError, sqlite3.Error) as exc:
                logger.debug("tape index %s cannot be used: %s", location, exc)
                continue
            self.location = location
            self._opened.set()
            return self._db
        raise RuntimeError("an in-memory SQLite database could not be opened")

    def _locations(self) -> Iterator[str]:
        folder = self.tapes_dir / ".playingpack"
        try:
            folder.mkdir(exist_ok=True)
            ignore = folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# playingpack's index of these tapes, rebuilt when gone\n*\n")
            yield str(folder / "index.sqlite3")
        except OSError:
            pass
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(str(self.tapes_dir.resolve()).encode()).hexdigest()[:16]
        try:
            (cache / "playingpack" / "index").mkdir(parents=True, exist_ok=True)
            yield str(cache / "playingpack" / "index" / f"{digest}.sqlite3")
        except OSError:
            pass
        yield ":memory:"

    def _fresh(self, *, thorough: bool) -> sqlite3.Connection | None:
        """The database after a refresh; one that fails is dropped and built again."""
        for attempt in (1, 2):
            db = self._connection()
            if db is None:
                return None
            try:
                self._apply_pending(db)
                self._scan(db, thorough=thorough)
                return db
            except _Stopped:
                return db
            except sqlite3.Error as exc:
                if attempt == 2:
                    raise
                logger.warning("the tape index %s is rebuilt: %s", self.location, exc)
                self._drop()
        return None

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self.location and self.location != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(self.location + suffix).unlink(missing_ok=True)

    def _note(self, path: Path, change: tuple[Path, Tape | None] | None) -> None:
        try:
            key = path.relative_to(self.tapes_dir).as_posix().removesuffix(".json")
        except ValueError:
            return
        with self._pending_lock:
            if len(self._pending) < _PENDING or key in self._pending:
                self._pending[key] = change
            # Beyond that, the next scan sees the change: the write changed the folder.

    def _apply_pending(self, db: sqlite3.Connection) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        rows = []
        for change in pending.values():
            if change is not None:
                row = row_of(self.tapes_dir, self.providers, *change)
                if row is not None:
                    rows.append(row)
        with _transaction(db):
            db.executemany(
                "DELETE FROM tapes WHERE key = ?",
                [(key,) for key, change in pending.items() if change is None],
            )
            _write(db, rows)

    def _scan(self, db: sqlite3.Connection, *, thorough: bool) -> None:
        known = {
            folder: (mtime, inode, scanned)
            for folder, mtime, inode, scanned in db.execute("SELECT * FROM folders")
        }
        seen: set[str] = set()
        stack = [""]
        while stack:
            folder = stack.pop()
            path = self.tapes_dir / folder if folder else self.tapes_dir
            try:
                # The tapes folder may be a link; a folder below it is not entered through one.
                status = os.lstat(path) if folder else os.stat(path)
            except OSError:
                continue
            if not stat.S_ISDIR(status.st_mode):
                continue
            seen.add(folder)
            before = known.get(folder)
            if (
                not thorough
                and before is not None
                and before[:2] == (status.st_mtime_ns, status.st_ino)
                and before[2] - status.st_mtime_ns > _RACY_NS
            ):
                stack += [name for name in known if name and _parent(name) == folder]
                continue
            stack += self._scan_folder(db, folder, path, status)
        gone = [folder for folder in known if folder not in seen]
        if gone:
            with _transaction(db):
                for folder in gone:
                    db.execute("DELETE FROM folders WHERE folder = ?", (folder,))
                    db.execute("DELETE FROM tapes WHERE folder = ?", (folder,))
        if self._written >= _ANALYSED:
            # The planner's statistics, without which it takes a folder's or a search's tapes
            # by tapes_readable and sorts them, rather than reading a sort's index.
            db.execute("ANALYZE")
            self._written = 0

    def _scan_folder(
        self, db: sqlite3.Connection, folder: str, path: Path, status: os.stat_result
    ) -> list[str]:
        """List one folder, read its changed tape files; returns its subfolders."""
        started = time.time_ns()
        subfolders: list[str] = []
        found: dict[str, tuple[Path, Signature]] = {}
        prefix = f"{folder}/" if folder else ""
        try:
            entries = list(os.scandir(path))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    # Hidden folders (.git, editors' state, this index) hold no tapes.
                    if not entry.name.startswith("."):
                        subfolders.append(prefix + entry.name)
                    continue
                if parse_name(entry.name) is None:
                    continue
                entry_status = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            found[prefix + entry.name[:-5]] = (
                Path(entry.path),
                (entry_status.st_size, entry_status.st_mtime_ns, entry_status.st_ino),
            )
        indexed = {
            key: (size, mtime, inode)
            for key, size, mtime, inode in db.execute(
                "SELECT key, size, mtime_ns, inode FROM tapes WHERE folder = ?", (folder,)
            )
        }
        changed = [key for key, (_, signature) in found.items() if indexed.get(key) != signature]
        gone = [(key,) for key in indexed if key not in found]
        if gone:
            with _transaction(db):
                db.executemany("DELETE FROM tapes WHERE key = ?", gone)
        many = len(changed) > _BATCH
        if many:
            # Thousands of rows go into a dozen indexes in key order, which is no order: a page
            # cache of the index's size rather than SQLite's 2 MiB makes that a third faster.
            db.execute(f"PRAGMA cache_size = {-_BUILD_CACHE_KIB}")
        try:
            for rows in self._rows_of([found[key][0] for key in changed]):
                with _transaction(db):
                    _write(db, rows)
                self._written += len(rows)
        finally:
            if many:  # the memory given back, a server's included
                db.execute("PRAGMA cache_size = -2000")
                db.execute("PRAGMA shrink_memory")
        with _transaction(db):
            db.execute(
                "INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?)",
                (folder, status.st_mtime_ns, status.st_ino, started),
            )
        return subfolders

    # --- rows ----------------------------------------------------------------------------------

    def _rows_of(self, paths: list[Path]) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of these tape files, _BATCH at a time; many are read by several processes
        (reading is CPU-bound: parsing, and each provider's reading of the request)."""
        batches = [paths[start : start + _BATCH] for start in range(0, len(paths), _BATCH)]
        workers = min(self.processes, os.cpu_count() or 1)
        if len(paths) < _POOLED or workers < 2:
            for batch in batches:
                self._check_stop()
                yield rows_of(self.tapes_dir, self.providers, batch)
            return
        # spawn, not fork: the caller's threads (and their locks) must not be copied.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            try:
                for rows in pool.map(
                    rows_of,
                    *zip(*((self.tapes_dir, self.providers, b) for b in batches), strict=True),
                ):
                    self._check_stop()
                    yield rows
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _check_stop(self) -> None:
        if self._stopping or (self._stop is not None and self._stop.is_set()):
            raise _Stopped

    def _tape(self, row: tuple[Any, ...]) -> IndexedTape:
        key, folder, hash_, recording, size, mtime_ns = row[:6]
        streamed = row[11]
        return IndexedTape(
            key=key,
            folder=folder,
            hash=hash_,
            recording=recording,
            path=self.tapes_dir / f"{key}.json",
            size=size,
            mtime=mtime_ns / 1e9,
            model=row[7],
            endpoint=row[8],
            timestamp=row[9],
            status=row[10],
            streamed=None if streamed is None else bool(streamed),
            chunks=row[12],
            tool_calls=[] if row[13] == "[]" else msgspec.json.decode(row[13]),
            origin=row[14],
            parent=row[15],
            kept=row[16],
            first_user_message=row[17],
            error=row[18],
        )

    def _tapes_with(self, db: sqlite3.Connection, term: str) -> int:
        """How many tapes have ``term`` among their words, counted up to _RARE + 1."""
        found = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM search WHERE search MATCH ? LIMIT ?)",
            (f"words : {_quoted(term)}", _RARE + 1),
        )
        return int(found.fetchone()[0])

    def _candidates(
        self, db: sqlite3.Connection, wanted: set[str], endpoint: str, folder: str
    ) -> list[tuple[str, str, str | None]]:
        """The tapes worth comparing with a request of ``wanted`` words: those sharing its
        rare words, best first (bm25), else the newest."""
        scope = "folder = ? AND endpoint = ? AND error IS NULL"
        # Words many tapes share (a system prompt's) say little about which one is meant, and
        # would bring in every tape: the rare ones (counted up to _RARE) find the candidates.
        counted = sorted((self._tapes_with(db, term), term) for term in sorted(wanted)[:_TERMS])
        rare = [term for count, term in counted if 0 < count <= _RARE]
        select = "SELECT key, words, timestamp FROM tapes"
        if rare:
            match = "words : (" + " OR ".join(_quoted(term) for term in rare) + ")"
            found = db.execute(
                f"{select} JOIN (SELECT rowid, rank FROM search WHERE search MATCH ?) AS hit "
                f"ON hit.rowid = tapes.id WHERE {scope} ORDER BY hit.rank LIMIT ?",
                (match, folder, endpoint, _CANDIDATES),
            ).fetchall()
            if found:
                return found
        return db.execute(
            f"{select} WHERE {scope} ORDER BY timestamp DESC LIMIT ?",
            (folder, endpoint, _CANDIDATES),
        ).fetchall()


# --- helpers -------------------------------------------------------------------------------------


def _count(db: sqlite3.Connection, where: str, parameters: Sequence[Any]) -> int:
    return int(db.execute(f"SELECT count(*) FROM tapes WHERE {where}", parameters).fetchone()[0])


def _open(location: str) -> sqlite3.Connection:
    """The index database at ``location``, created (or rebuilt, when of another schema or
    version, or not a database) as needed."""
    for attempt in (1, 2):
        db = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if location != ":memory:":
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            with _transaction(db):
                # Checked again inside the transaction: another process may have just made it.
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _statements(_SCHEMA_SQL):
                        db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('playingpack', ?)", (__version__,))
            version = db.execute("PRAGMA user_version").fetchone()[0]
            written = db.execute("SELECT value FROM meta WHERE name = 'playingpack'").fetchone()
            if version == SCHEMA and written == (__version__,):
                return db
        except sqlite3.Error:
            db.close()
            if attempt == 2 or location == ":memory:":
                raise
        else:
            db.close()
        # Another schema, another version, or not a database: build it again.
        for suffix in ("", "-wal", "-shm"):
            Path(location + suffix).unlink(missing_ok=True)
    raise sqlite3.DatabaseError(f"{location} could not be rebuilt")


def _statements(script: str) -> Iterator[str]:
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""


class _transaction:
    """BEGIN IMMEDIATE .. COMMIT (ROLLBACK on an error), for a connection in autocommit mode."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if not self.db.in_transaction:
            return
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _write(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    # An upsert keeps the row's id, so the search table's trigger replaces its entry.
    updates = ", ".join(
        f"{name} = excluded.{name}" for name in COLUMNS.split(", ") if name != "key"
    )
    db.executemany(
        f"INSERT INTO tapes ({COLUMNS}) VALUES ({', '.join('?' * 21)}) "
        f"ON CONFLICT (key) DO UPDATE SET {updates}",
        rows,
    )


def _problems_text(problems: list[str]) -> str:
    # Most files have none: a constant spares 100,000 encodings.
    return msgspec.json.encode(problems).decode() if problems else "[]"


def _filters(scope: str | None, q: str, readable_only: bool) -> tuple[str, list[Any]]:
    where = ["1"]
    parameters: list[Any] = []
    if scope is not None:
        where.append("folder = ?")
        parameters.append(scope)
    if readable_only:
        where.append("error IS NULL")
    # Each run of letters and digits, as the index keeps words ("gpt-4o" is "gpt" and "4o").
    terms = sorted(words_of(q))
    if terms:
        where.append("id IN (SELECT rowid FROM search WHERE search MATCH ?)")
        parameters.append(" AND ".join(_quoted(term) + "*" for term in terms))
    elif q.strip():
        where.append("0")  # no word the index could hold
    return " AND ".join(where), parameters


def _index_of(sort: str, descending: bool) -> str:
    """The index giving readable tapes in this order (see _SORT_INDEXES)."""
    return "tapes_key" if sort == "key" else f"tapes_{sort}_{'down' if descending else 'up'}"


def _order(sort: str, descending: bool) -> str:
    column = _SORT_COLUMNS.get(sort)
    if column is None:
        raise ValueError(f"unknown sort {sort!r}: expected one of {', '.join(SORTS)}")
    if column == "key":
        return f"key {'DESC' if descending else 'ASC'}"
    return f"{column} {'DESC' if descending else 'ASC'}, key ASC"


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _parent(folder: str) -> str:
    return folder.rpartition("/")[0]
