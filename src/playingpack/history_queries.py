"""Reads and deletes over the history file, shared by the API and ``playingpack history``.

Calls are listed newest first by ``seq`` (the order they were written in, which is the order
they finished in): the full-text index walks its rowids (= ``seq``) backwards and every filter
has an index in that order, so the first page reads only what it returns.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from playingpack.history_schema import transaction

# A stored ``listed`` column ends with its empty bodies (FlowJSON's last two fields).
_NO_BODIES = b'"request":null,"response":null}'


class _Bodies(msgspec.Struct):
    request: msgspec.Raw = msgspec.Raw(b"null")
    response: msgspec.Raw = msgspec.Raw(b"null")


_decode_bodies = msgspec.json.Decoder(_Bodies).decode


@dataclass(frozen=True)
class FlowQuery:
    """Which calls to list: every filter given must match. ``before`` is a cursor: only calls
    written before the call with that ``seq``."""

    q: str | None = None  # the user's words: all must be found, the last one as a prefix
    model: str | None = None
    source: str | None = None
    state: str | None = None
    tool: str | None = None  # a tool the answer called, by its exact name
    scope: str | None = None
    parent: str | None = None  # resends of this flow id or tape:<key>
    run: str | None = None
    since: float | None = None  # started at or after (epoch seconds)
    until: float | None = None  # started before
    before: int | None = None
    limit: int = 500


@dataclass(frozen=True)
class Found:
    """One page of calls: their JSON (FlowJSON, with bodies when asked) and the cursor of the
    next page (None when this is the last)."""

    flows: list[tuple[int, str, bytes]]  # (seq, id, JSON)
    next: int | None


def match_of(words: str) -> str | None:
    """The FTS5 query for the user's ``words``: each one quoted (so nothing they type is FTS5
    syntax), all required, the last one a prefix; None when no word has a letter or digit."""
    kept = [word for word in words.split() if any(char.isalnum() for char in word)]
    if not kept:
        return None
    quoted = ['"' + word.replace('"', '""') + '"' for word in kept]
    quoted[-1] += " *"
    return " ".join(quoted)


def _tool_match(name: str) -> str:
    return 'tools : "' + name.replace('"', '""') + '"'


def find_flows(db: sqlite3.Connection, query: FlowQuery, *, bodies: bool) -> Found:
    """The calls ``query`` asks for, newest first; ``bodies`` adds their request and answer
    (but to a call over MAX_LISTED_BODIES bytes, as the API lists a big call in memory)."""
    where: list[str] = []
    args: list[Any] = []
    for column in ("model", "source", "state", "scope", "run", "parent"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"f.{column} = ?")
            args.append(value)
    if query.since is not None:
        where.append("f.started >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append("f.started < ?")
        args.append(query.until)
    if query.tool is not None:
        where.append("instr(' ' || f.tools || ' ', ' ' || ? || ' ') > 0")
        args.append(query.tool)
    matches = [m for m in (match_of(query.q or ""),) if m is not None]
    if query.tool is not None:
        matches.append(_tool_match(query.tool))
    columns = "f.seq, f.id, f.listed" + (", f.detail" if bodies else "")
    if matches:
        source, order = "flows_text t JOIN flows f ON f.seq = t.rowid", "t.rowid"
        where.insert(0, "flows_text MATCH ?")
        args.insert(0, " AND ".join(f"({m})" for m in matches))
    else:
        source, order = "flows f", "f.seq"
    if query.before is not None:
        where.append(f"{order} < ?")
        args.append(query.before)
    sql = f"SELECT {columns} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} DESC LIMIT ?"
    args.append(query.limit + 1)
    rows = db.execute(sql, args).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    flows = [(row[0], row[1], with_bodies(row[2], row[3]) if bodies else row[2]) for row in rows]
    return Found(flows, rows[-1][0] if more else None)


# Calls whose stored detail is bigger than this are listed without their bodies (as the API
# lists a big call in memory): they come with the call alone.
MAX_LISTED_BODIES = 1024**2


def with_bodies(listed: bytes, detail: bytes) -> bytes:
    """A stored ``listed`` JSON with the request and answer of its ``detail`` spliced in."""
    if len(detail) > MAX_LISTED_BODIES or not listed.endswith(_NO_BODIES):
        return listed
    try:
        found = _decode_bodies(detail)
        request, response = bytes(found.request), bytes(found.response)
    except msgspec.DecodeError:  # lone surrogates, which only the standard library reads
        bodies = json.loads(detail)
        request = json.dumps(bodies.get("request")).encode()
        response = json.dumps(bodies.get("response")).encode()
    return b"".join(
        (listed[: -len(_NO_BODIES)], b'"request":', request, b',"response":', response, b"}")
    )


def find_detail(db: sqlite3.Connection, flow_id: str) -> bytes | None:
    """The stored FlowDetailJSON of call ``flow_id``, if the history has it."""
    row = db.execute("SELECT detail FROM flows WHERE id = ?", (flow_id,)).fetchone()
    return None if row is None else bytes(row[0])


# A run's totals, in this order: what RunJSON adds up, and the counts that say whether its
# cost and savings are known.
_TOTALS = """
SELECT count(run), coalesce(sum(state = 'ERROR'), 0),
  coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
  coalesce(sum(cost), 0.0), count(cost),
  coalesce(sum(input_tokens IS NOT NULL AND (cost IS NULL
    OR (source = 'tape' AND saved IS NULL))), 0),
  coalesce(sum(saved), 0.0), count(saved), coalesce(sum(source = 'tape'), 0),
  coalesce(sum(tape_use = 'recorded'), 0), coalesce(sum(tape_use = 'replayed'), 0),
  coalesce(sum(tape_use = 'missed'), 0)
FROM flows WHERE run = ?
"""


def totals_of(db: sqlite3.Connection, run: str) -> list[Any]:
    """Run ``run``'s totals, added up from its calls (the covering index ``flows_run``)."""
    return list(db.execute(_TOTALS, (run,)).fetchone())


def store_totals(db: sqlite3.Connection) -> None:
    """Keep the totals of the ended runs that have none, so that listing the runs adds up
    only those still running: an ended run's calls change only when some are pruned."""
    stale = db.execute("SELECT id FROM runs WHERE ended IS NOT NULL AND totals IS NULL")
    for (run,) in stale.fetchall():
        db.execute("UPDATE runs SET totals = ? WHERE id = ?", (json.dumps(totals_of(db, run)), run))


def run_totals(db: sqlite3.Connection, run: str | None = None) -> list[dict[str, Any]]:
    """Each run (or only ``run``), newest first, with its calls' totals: the fields of
    RunJSON but ``live``, with times in epoch seconds (``started``, ``ended``)."""
    sql = "SELECT id, kind, label, started, ended, totals FROM runs"
    sql += (" WHERE id = ?" if run is not None else "") + " ORDER BY started DESC"
    found = []
    for id_, kind, label, started, ended, stored in db.execute(
        sql, (run,) if run is not None else ()
    ).fetchall():
        totals = json.loads(stored) if stored is not None else totals_of(db, id_)
        calls, errors, tokens_in, tokens_out, cost, priced, unpriced = totals[:7]
        saved, saved_priced, from_tapes, recorded, replayed, missed = totals[7:]
        found.append(
            {
                "id": id_,
                "kind": kind,
                "label": label,
                "started": started,
                "ended": ended,
                "calls": calls,
                "errors": errors,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                # Unknown only when calls had usage and none could be priced (see Spend).
                "cost": None if priced == 0 and unpriced else cost,
                "unpriced": unpriced,
                "saved": None if saved_priced == 0 and from_tapes else saved,
                "recorded": recorded,
                "replayed": replayed,
                "missed": missed,
            }
        )
    return found


@dataclass(frozen=True)
class Prune:
    """What to delete: calls past the newest ``keep_calls``, calls older than ``keep_days``,
    the calls of ``run`` (and the run), or ``everything``."""

    keep_calls: int | None = None
    keep_days: float | None = None
    run: str | None = None
    everything: bool = False


_CHUNK = 2000  # rows per transaction: the writer is never held up for long


def prune(db: sqlite3.Connection, rule: Prune, *, dry_run: bool = False) -> int:
    """Delete the calls ``rule`` names with their search text, then the ended runs left
    without calls; returns how many calls go (or would go, with ``dry_run``)."""
    where, args = _prune_where(db, rule)
    if where is None:
        return 0
    if dry_run:
        counted: int = db.execute(f"SELECT count(*) FROM flows WHERE {where}", args).fetchone()[0]
        return counted
    deleted = 0
    while True:
        found = db.execute(
            f"SELECT seq, run FROM flows WHERE {where} ORDER BY seq LIMIT {_CHUNK}", args
        ).fetchall()
        if not found:
            break
        _delete(db, [(seq,) for seq, _ in found], {run for _, run in found})
        deleted += len(found)
    with transaction(db):
        db.execute(
            "DELETE FROM runs WHERE ended IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM flows WHERE flows.run = runs.id)"
        )
        store_totals(db)
    return deleted


def _prune_where(db: sqlite3.Connection, rule: Prune) -> tuple[str | None, tuple[Any, ...]]:
    if rule.everything:
        return "1", ()
    if rule.run is not None:
        return "run = ?", (rule.run,)
    if rule.keep_days is not None:
        return "started < ?", (time.time() - rule.keep_days * 86400,)
    if rule.keep_calls is not None:
        row = db.execute(
            "SELECT seq FROM flows ORDER BY seq DESC LIMIT 1 OFFSET ?", (rule.keep_calls - 1,)
        ).fetchone()
        return ("seq < ?", (row[0],)) if row is not None else (None, ())
    return None, ()


def _delete(db: sqlite3.Connection, seqs: list[tuple[int]], runs: Iterable[str]) -> None:
    """Delete the calls ``seqs``; the totals kept for their ``runs`` are out of date."""
    with transaction(db):
        db.executemany("DELETE FROM flows WHERE seq = ?", seqs)
        db.executemany("DELETE FROM flows_text WHERE rowid = ?", seqs)
        db.executemany("UPDATE runs SET totals = NULL WHERE id = ?", [(run,) for run in runs])
