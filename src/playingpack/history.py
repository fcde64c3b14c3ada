"""The history: every finished call kept in a SQLite file, across runs.

The event loop only hands a finished flow over (``History.add``: a shallow copy and a queue
put). One writer thread turns flows into rows (their JSON, their search text, their place in an
agent thread) and commits whatever has arrived in one transaction, then prunes what
``history_keep`` no longer keeps. Reads run on read-only connections in worker threads.

A file that cannot be used (corrupt, locked, written by a newer playingpack, in a folder that
cannot be written) is a warning: the proxy serves without history. A write that fails while the
server runs is a warning too; the rows wait and are written once the file takes them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

import msgspec

from playingpack import __version__
from playingpack.config_checks import keep_of
from playingpack.history_queries import Prune, prune, store_totals
from playingpack.history_rows import Row, row_of
from playingpack.history_schema import SchemaError, migrate, transaction
from playingpack.threads import Fingerprint, Placement, ThreadIndex

if TYPE_CHECKING:
    from playingpack.flows import Flow

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a statement waits for another connection's lock before it counts as failed. The
# writer retries a failed batch, so this stays short: a locked file must not hold up start-up.
BUSY_TIMEOUT = 1.0
# Calls handed over and not written yet, at most: past this, while the file refuses rows or
# the writer cannot keep up with the calls, the newest are not kept (and counted, in a warning).
# It bounds the memory they take (a streamed call's row is tens of KB).
MAX_BEHIND = 500
# How often a writer that is behind says how many calls it has not kept.
BEHIND_WARNING_SECONDS = 10.0
# Rows per transaction at most; more wait for the next one.
BATCH = 500
# Rows built at once from the calls that have arrived, at most (a streamed call's row is tens
# of KB); each slice is written before the next is built.
SLICE = 32
# How long the first of the rows waits for others to share its transaction, unless a read
# wants them now. One commit per call, and the writer waking per call, cost more than the rest
# of a replay.
WINDOW = 0.1
# Rows built between two moments the writer lets the event loop run.
YIELD_ROWS = 8
# Pruning runs after this many new rows, or this many seconds.
PRUNE_ROWS = 20_000
PRUNE_SECONDS = 5.0
# A read waits at most this long for this process's writes (a healthy writer takes ms).
READ_WAIT = 5.0
# The calls whose fingerprints warm the thread index at open, so threads continue after a
# restart.
WARM_CALLS = 20_000

_INSERT = (
    "INSERT INTO flows(id, run, started, duration_ms, method, path, scope, model, state, "
    "source, status, streamed, tape, tape_use, input_tokens, output_tokens, "
    "cached_input_tokens, cache_write_tokens, cost, saved, tools, decision, error, thread, "
    "after, retry_of, fingerprint, parent, listed, detail) "
    "VALUES (" + ", ".join("?" * 30) + ")"
)


class _Finished(NamedTuple):
    flow: Flow  # a copy, read by the writer
    original: Flow  # the live one, told its thread on its own loop
    loop: asyncio.AbstractEventLoop | None


# Put on the queue by a read: write what is pending now.
_FLUSH = object()


@dataclass(frozen=True)
class RunStart:
    """What started a run: a server (``playingpack start``, serve()) or a pytest session."""

    kind: Literal["server", "pytest"] = "server"
    label: str = "playingpack start"


def open_history(path: Path | None, *, keep: str, run: RunStart, run_id: str) -> History | None:
    """The history in ``path``, with run ``run_id`` begun in it.

    None when history is off, or when the database cannot be used (corrupt, locked, newer
    schema, unwritable): a warning says why, and the proxy serves without history.
    """
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(path)
    except (OSError, sqlite3.Error) as exc:
        _warn_off(path, str(exc))
        return None
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # The writer's page cache (SQLite's default is 2 MB): a write appends to the log, so a
        # small cache costs it little, and its pages would otherwise stay in memory for good.
        db.execute("PRAGMA cache_size = -256")
        migrate(db)
        with transaction(db):
            db.execute(
                "INSERT INTO runs(id, kind, label, started, version) VALUES (?, ?, ?, ?, ?)",
                (run_id, run.kind, run.label, time.time(), __version__),
            )
    except SchemaError as exc:
        db.close()
        _warn_off(path, str(exc))
        return None
    except sqlite3.Error as exc:
        db.close()
        _warn_off(path, _explain(exc))
        return None
    return History(path, db, keep=keep, run_id=run_id)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) that waits BUSY_TIMEOUT for
    locks; ``read_only`` opens the file only if it exists, and never writes it."""
    if read_only:
        target, uri = path.resolve().as_uri() + "?mode=ro", True
    else:
        target, uri = str(path), False
    return sqlite3.connect(
        target, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False, uri=uri
    )


def decode_detail(blob: bytes) -> dict[str, Any]:
    """A stored ``detail`` column as a FlowDetailJSON dict."""
    value: dict[str, Any] = decode_json(blob)
    return value


def decode_listed(blob: bytes) -> dict[str, Any]:
    """A stored ``listed`` column as a FlowJSON dict (no request nor response)."""
    value: dict[str, Any] = decode_json(blob)
    return value


def decode_json(blob: bytes) -> Any:
    """Stored JSON; a request may hold lone surrogates (``\\ud800``, which JSON allows),
    which only the standard library reads."""
    try:
        return msgspec.json.decode(blob)
    except msgspec.DecodeError:
        return json.loads(blob)


class History:
    """An open history file: one writer thread, read-only connections for reads."""

    def __init__(self, path: Path, db: sqlite3.Connection, *, keep: str, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.keep_calls, self.keep_days = keep_of(keep)
        self._db = db
        # Flows to write, in finish order; None asks the writer to stop.
        self._queue: queue.SimpleQueue[_Finished | object | None] = queue.SimpleQueue()
        self._wake = threading.Event()  # set by a read or close: write what has arrived now
        self._added = 0  # flows handed over (counted on the loop)
        self._unwritten: set[str] = set()  # their ids, until committed
        self._done = 0  # of those, written or given up on (counted by the writer)
        self._failing = False
        self._not_kept = 0  # calls dropped because the writer was MAX_BEHIND
        self._warned_at = -BEHIND_WARNING_SECONDS
        self._progress = threading.Condition()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._index = ThreadIndex()
        # A daemon: an app that is never cleaned up must not keep the process alive (close()
        # is what writes the last calls).
        self._writer = threading.Thread(
            target=self._write_all, name="playingpack-history", daemon=True
        )
        self._writer.start()

    def add(self, flow: Flow) -> None:
        """Hand finished ``flow`` over to the writer; called on the loop, so it only copies."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._added - self._done >= MAX_BEHIND:
            self._not_kept += 1
            now = time.monotonic()
            if now - self._warned_at >= BEHIND_WARNING_SECONDS:
                self._warned_at = now
                logger.warning(
                    "history %s: calls not kept so far: %d; %d wait to be written (the file "
                    "refuses them, or calls come faster than they can be written)",
                    self.path,
                    self._not_kept,
                    MAX_BEHIND,
                )
            return
        self._added += 1
        self._unwritten.add(flow.id)
        self._queue.put(_Finished(copy.copy(flow), flow, loop))

    def has_pending(self, flow_id: str) -> bool:
        """Whether call ``flow_id`` has finished but is not in the file yet (the API lists it
        from memory meanwhile)."""
        return flow_id in self._unwritten

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on a read-only connection in a worker thread, once this process's pending
        writes are committed (so a client that just got its answer finds its call)."""
        return await asyncio.to_thread(self._read, fn, self._added)

    def close(self) -> None:
        """Write what is pending, end the run and stop the writer."""
        # Readers first: the writer's connection, closed last, then folds the write-ahead log
        # into the file and removes it.
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break
        self._queue.put(None)
        self._wake.set()
        self._writer.join(30)

    def _read(self, fn: Callable[[sqlite3.Connection], T], added: int) -> T:
        if self._done < added:
            self._queue.put(_FLUSH)
            self._wake.set()
        with self._progress:
            self._progress.wait_for(
                lambda: self._done >= added or self._failing or not self._writer.is_alive(),
                READ_WAIT,
            )
        try:
            db = self._readers.get_nowait()
        except queue.Empty:
            db = connect(self.path, read_only=True)
        try:
            return fn(db)
        finally:
            self._readers.put(db)

    # --- the writer thread ------------------------------------------------------------------

    def _write_all(self) -> None:
        try:
            self._warm()
        except sqlite3.Error as exc:
            logger.warning("history %s: threads of earlier runs not loaded: %s", self.path, exc)
        pending: list[Row] = []
        since_prune, pruned_at = 0, -PRUNE_SECONDS  # pruned at once: the file may be old
        stopping = False
        while not stopping:
            if self._failing:
                wait = 1.0  # before trying the file again
            elif pending:
                wait = 0.0
            else:
                wait = max(pruned_at + PRUNE_SECONDS - time.monotonic(), 0.0)
            arrived: list[_Finished] = []
            stopping, flush = self._take(arrived, wait)
            if arrived and not (stopping or flush or self._failing):
                # The others that finish meanwhile share the transaction: the writer wakes
                # once per window, not once per call, unless a read or close wants it now.
                self._wake.wait(WINDOW)
                stopping, flush = self._take(arrived, 0.0)
            self._wake.clear()
            while True:
                # A slice at a time, each written before the next is built: the rows of calls
                # that finish together are not all held at once.
                self._add_rows(pending, arrived[:SLICE])
                del arrived[:SLICE]
                if pending:
                    written = self._write(pending[:BATCH])
                    if written:
                        since_prune += written
                        self._tell_threads(pending[:written])
                        del pending[:written]
                if not arrived or self._failing:
                    break
            self._add_rows(pending, arrived)  # while the file refuses rows, they wait as rows
            if pending and not stopping and not self._failing:
                continue
            if since_prune >= PRUNE_ROWS or time.monotonic() - pruned_at >= PRUNE_SECONDS:
                self._prune()
                since_prune, pruned_at = 0, time.monotonic()
        self._finish(pending)

    def _take(self, arrived: list[_Finished], wait: float) -> tuple[bool, bool]:
        """Add the flows that have arrived (waiting up to ``wait`` s for the first) to
        ``arrived``; (asked to stop, a read wants them now)."""
        stopping = flush = False
        try:
            item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            return stopping, flush
        while True:
            if item is None:
                stopping = True
            elif item is _FLUSH:
                flush = True
            else:
                assert isinstance(item, _Finished)
                arrived.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return stopping, flush

    def _add_rows(self, pending: list[Row], arrived: list[_Finished]) -> None:
        for done, finished in enumerate(arrived, 1):
            self._add_row(pending, finished)
            if done % YIELD_ROWS == 0:
                # Building rows holds the interpreter: let the event loop have it now and
                # then, or it may wait a whole switch interval (5 ms) for it.
                time.sleep(0)

    def _add_row(self, pending: list[Row], finished: _Finished) -> None:
        try:
            row = row_of(finished.flow, self._index)
        except Exception:
            logger.exception("history %s: call %s not kept", self.path, finished.flow.id)
            self._count_done((finished.flow.id,))
            return
        pending.append(row._replace(live=(finished.original, finished.loop)))

    def _tell_threads(self, rows: list[Row]) -> None:
        """The live flows of ``rows`` learn their threads, on their own loop, once per batch."""
        by_loop: dict[asyncio.AbstractEventLoop | None, list[tuple[Flow, str]]] = {}
        for row in rows:
            if row.thread is not None and row.live is not None:
                original, loop = row.live
                by_loop.setdefault(loop, []).append((original, row.thread))
        for loop, joined in by_loop.items():
            if loop is None:
                _join_all(joined)
            else:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody asks
                    loop.call_soon_threadsafe(_join_all, joined)

    def _write(self, rows: list[Row]) -> int:
        """Commit ``rows`` in one transaction; how many were written (0 when it failed)."""
        db = self._db
        try:
            with transaction(db):
                for row in rows:
                    seq = db.execute(_INSERT, row.values).lastrowid
                    db.execute(
                        "INSERT INTO flows_text(rowid, text, tools) VALUES (?, ?, ?)",
                        (seq, row.text, row.tools),
                    )
        except (sqlite3.InterfaceError, sqlite3.DataError, sqlite3.IntegrityError):
            # The rows, not the file: the batch is dropped, and the next one goes on.
            logger.exception("history %s: %d calls not kept", self.path, len(rows))
            self._count_done(row.values[0] for row in rows)
            return len(rows)
        except sqlite3.Error as exc:
            if not self._failing:
                logger.warning(
                    "history %s: cannot write (%s); calls wait in memory and are written when "
                    "it can be written again",
                    self.path,
                    _explain(exc),
                )
                self._set_failing(True)
            return 0
        if self._failing:
            logger.warning("history %s: written again", self.path)
            self._set_failing(False)
        self._count_done(row.values[0] for row in rows)
        return len(rows)

    def _finish(self, pending: list[Row]) -> None:
        while pending and self._write(pending[:BATCH]):
            del pending[:BATCH]
        if pending:
            logger.warning("history %s: %d calls not written", self.path, len(pending))
        self._prune()
        try:
            with transaction(self._db):
                self._db.execute(
                    "UPDATE runs SET ended = ?, totals = NULL WHERE id = ?",
                    (time.time(), self.run_id),
                )
                store_totals(self._db)
        except sqlite3.Error as exc:
            logger.warning("history %s: the run's end not written: %s", self.path, _explain(exc))
        self._db.close()
        with self._progress:
            self._progress.notify_all()

    def _prune(self) -> None:
        try:
            prune(self._db, Prune(keep_calls=self.keep_calls, keep_days=self.keep_days))
        except sqlite3.Error as exc:
            logger.warning("history %s: old calls not pruned: %s", self.path, _explain(exc))

    def _warm(self) -> None:
        """Teach the thread index the most recent calls, oldest first."""
        rows = self._db.execute(
            "SELECT id, fingerprint, thread, after, retry_of FROM flows "
            "WHERE fingerprint IS NOT NULL ORDER BY seq DESC LIMIT ?",
            (WARM_CALLS,),
        ).fetchall()
        unread = 0
        for flow_id, blob, thread, after, retry_of in reversed(rows):
            try:
                found = Fingerprint.decode(blob)
            except (msgspec.DecodeError, msgspec.ValidationError):
                unread += 1  # written by another version, say: that call starts no thread
                continue
            self._index.remember(flow_id, found, Placement(thread, after, retry_of))
        if unread:
            logger.warning("history %s: %d earlier calls not placed in threads", self.path, unread)

    def _count_done(self, flow_ids: Iterable[str]) -> None:
        """Those calls are written, or given up on."""
        with self._progress:
            for flow_id in flow_ids:
                self._unwritten.discard(flow_id)
                self._done += 1
            self._progress.notify_all()

    def _set_failing(self, failing: bool) -> None:
        with self._progress:
            self._failing = failing
            self._progress.notify_all()


def _join_all(joined: list[tuple[Flow, str]]) -> None:
    for flow, thread in joined:
        flow.join_thread(thread)


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is corrupt: move it away and a new history starts)"
    if "locked" in text or "busy" in text:
        return f"{text} (another program holds it)"
    return text


def _warn_off(path: Path, reason: str) -> None:
    logger.warning(
        "history off for this run: cannot use %s: %s. The proxy serves without history "
        "(--history off silences this).",
        path,
        reason,
    )
