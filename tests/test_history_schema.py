"""The history's schema version and its migrations, on files in tmp folders."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from playingpack.history_schema import MIGRATIONS, SCHEMA, SchemaError, migrate, schema_of


def test_migrations_run_in_order_each_in_one_transaction(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "h.db", isolation_level=None)) as db:
        assert schema_of(db) == 0
        assert migrate(db) == 0 and schema_of(db) == SCHEMA == 2

        def add_label(db: sqlite3.Connection) -> None:
            db.execute("ALTER TABLE flows ADD COLUMN label TEXT")

        def broken(db: sqlite3.Connection) -> None:
            db.execute("CREATE TABLE half(x)")
            raise sqlite3.OperationalError("step 3 failed")

        assert migrate(db, [*MIGRATIONS, add_label]) == 2 and schema_of(db) == 3
        assert "label" in {row[1] for row in db.execute("PRAGMA table_info(flows)")}
        with pytest.raises(sqlite3.OperationalError):
            migrate(db, [*MIGRATIONS, add_label, broken])
        assert schema_of(db) == 3
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'").fetchone() is None
        with pytest.raises(SchemaError, match="schema 3, newer than this playingpack's 2"):
            migrate(db)


def test_version_2_adds_the_resends_parent_to_a_version_1_file(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "h.db", isolation_level=None)) as db:
        assert migrate(db, MIGRATIONS[:1]) == 0 and schema_of(db) == 1
        db.execute(
            "INSERT INTO flows(id, run, started, state, listed, detail) "
            "VALUES ('r-000001', 'r', 0, 'COMPLETE', x'', x'')"
        )
        assert migrate(db) == 1 and schema_of(db) == 2
        rows = db.execute("SELECT id, parent FROM flows").fetchall()
        assert rows == [("r-000001", None)]
        indexes = {row[1] for row in db.execute("PRAGMA index_list(flows)")}
        assert "flows_parent" in indexes


def test_version_1_has_the_tables_and_columns_others_read(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "h.db", isolation_level=None)) as db:
        migrate(db)
        columns = {row[1] for row in db.execute("PRAGMA table_info(flows)")}
        assert {"seq", "id", "run", "thread", "after", "retry_of", "fingerprint"} <= columns
        assert {"listed", "detail", "tape_use", "cost", "saved", "tools"} <= columns
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"meta", "runs", "flows", "flows_text"} <= tables
        assert migrate(db) == SCHEMA  # nothing left to do
