"""The history database's tables, its schema version and the migrations that bring an older
file up to date.

``meta.schema`` holds the version. Each migration is one step from version n to n + 1 and runs
in the transaction that records the new version, so a file is never left half migrated. A file
written by a newer playingpack is refused: its tables may mean something this one does not know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

# Version 1: runs, flows and their full-text index.
_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- totals: an ended run's totals (history_queries.store_totals), NULL while they are unknown.
CREATE TABLE runs(
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL, started REAL NOT NULL,
  ended REAL, version TEXT, totals TEXT
);
CREATE TABLE flows(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE, run TEXT NOT NULL, started REAL NOT NULL,
  duration_ms REAL, method TEXT, path TEXT, scope TEXT, model TEXT, state TEXT NOT NULL,
  source TEXT, status INTEGER, streamed INTEGER, tape TEXT, tape_use TEXT,
  input_tokens INTEGER, output_tokens INTEGER, cached_input_tokens INTEGER,
  cache_write_tokens INTEGER, cost REAL, saved REAL, tools TEXT, decision TEXT, error TEXT,
  thread TEXT, after TEXT, retry_of TEXT, fingerprint BLOB,
  listed BLOB NOT NULL, detail BLOB NOT NULL
);
CREATE INDEX flows_started ON flows(started);
CREATE INDEX flows_model ON flows(model);
CREATE INDEX flows_state ON flows(state);
CREATE INDEX flows_source ON flows(source);
CREATE INDEX flows_scope ON flows(scope);
CREATE INDEX flows_thread ON flows(thread);
CREATE INDEX flows_run ON flows(run);
-- Covers what a run's totals add up, so they never read the rows' bodies.
CREATE INDEX flows_totals ON flows(
  run, state, source, tape_use, input_tokens, output_tokens, cost, saved
);
-- rowid = flows.seq. `text`: message text, answer text, tool arguments, model and path;
-- `tools`: the names of the tools the answer called.
CREATE VIRTUAL TABLE flows_text USING fts5(text, tools, tokenize = 'unicode61 remove_diacritics 2');
"""

Migration = Callable[[sqlite3.Connection], None]


def _create_v1(db: sqlite3.Connection) -> None:
    for statement in _V1.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _add_parents(db: sqlite3.Connection) -> None:
    """Version 2: what each call was resent from (a flow id or tape:<key>), found by it."""
    db.execute("ALTER TABLE flows ADD COLUMN parent TEXT")
    db.execute("CREATE INDEX flows_parent ON flows(parent)")


# MIGRATIONS[n] brings version n to n + 1; version 0 is an empty file.
MIGRATIONS: Sequence[Migration] = (_create_v1, _add_parents)
SCHEMA = len(MIGRATIONS)


class SchemaError(Exception):
    """The file holds a history this playingpack cannot use (a newer schema)."""


def schema_of(db: sqlite3.Connection) -> int:
    """The file's schema version: 0 for an empty file."""
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return int(row[0]) if row is not None else 0


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the file to the newest schema, one step per transaction; returns the version it
    had. Raises SchemaError for a file written by a newer playingpack."""
    found = schema_of(db)
    if found > len(migrations):
        raise SchemaError(
            f"it has history schema {found}, newer than this playingpack's {len(migrations)}: "
            "upgrade playingpack, or point --history at another file"
        )
    for version in range(found, len(migrations)):
        with transaction(db):
            migrations[version](db)
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(version + 1),),
            )
    return found


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on a connection opened in autocommit mode (``isolation_level``
    None): sqlite3's implicit transactions leave out CREATE statements, so a migration would
    not be one step."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
