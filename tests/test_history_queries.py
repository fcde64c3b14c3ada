"""Search, run totals and pruning, on a history file written by a real server."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest

from playingpack.history import connect
from playingpack.history_queries import (
    FlowQuery,
    Prune,
    find_detail,
    find_flows,
    match_of,
    prune,
    run_totals,
    with_bodies,
)
from tests.conftest import Running, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply


@pytest.mark.parametrize(
    ("words", "match"),
    [
        ("otter", '"otter" *'),
        ("sea otter", '"sea" "otter" *'),
        ('say "hi"', '"say" """hi""" *'),
        ("AND OR NOT", '"AND" "OR" "NOT" *'),
        ("  get_weather  ", '"get_weather" *'),
        ("--- * ()", None),
        ("", None),
    ],
)
def test_the_users_words_are_quoted(words: str, match: str | None) -> None:
    assert match_of(words) == match


def test_bodies_are_spliced_into_the_listed_json() -> None:
    listed = b'{"id":"a","request":null,"response":null}'
    detail = b'{"id":"a","request":{"m":[1]},"response":{"x":"y"},"chunks":[]}'
    assert with_bodies(listed, detail) == b'{"id":"a","request":{"m":[1]},"response":{"x":"y"}}'
    assert with_bodies(b'{"id":"a"}', detail) == b'{"id":"a"}'


@pytest.fixture
def db(
    start_proxy: Callable[..., Running], upstream: FakeUpstream, tmp_path: Path
) -> Iterator[sqlite3.Connection]:
    """The history a real server wrote: three calls about otters (one of them calls a tool),
    their two repeats answered from tapes, one error; newest first in ``db.ids``."""
    proxy = start_proxy()
    client = proxy.client(max_retries=0)
    for number in range(3):
        if number == 2:
            upstream.queue(Reply(tool_calls=[("find_otter", '{"river": "Thames"}')]))
        client.chat.completions.create(**ask(f"otter {number}"))
    for number in range(2):
        client.chat.completions.create(**ask(f"otter {number}"))
    upstream.queue(Reply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask("beaver"))
    proxy.finished_flows(6)
    proxy.close()
    connection = connect(tmp_path / "history.db", read_only=True)
    yield connection
    connection.close()


def ids(db: sqlite3.Connection, **query: Any) -> list[str]:
    return [flow_id for _, flow_id, _ in find_flows(db, FlowQuery(**query), bodies=False).flows]


def test_find_flows_newest_first_with_filters(db: sqlite3.Connection) -> None:
    every = ids(db)
    error, tape2, tape1, tool, second, first = every
    assert ids(db, q="otter") == [tape2, tape1, tool, second, first]
    assert ids(db, q="otter 1") == [tape2, second]
    assert ids(db, q="thames") == [tool]
    assert ids(db, tool="find_otter") == [tool]
    assert ids(db, state="ERROR") == [error]
    assert ids(db, source="tape", q="otter") == [tape2, tape1]
    page = find_flows(db, FlowQuery(limit=4), bodies=True)
    assert [flow_id for _, flow_id, _ in page.flows] == every[:4] and page.next is not None
    rest = find_flows(db, FlowQuery(limit=4, before=page.next), bodies=True)
    assert [flow_id for _, flow_id, _ in rest.flows] == every[4:] and rest.next is None
    listed = msgspec.json.decode(page.flows[-1][2])
    assert listed["id"] == tool and listed["request"] == ask("otter 2")
    assert listed["tool_calls"][0]["arguments"] == {"river": "Thames"}
    detail = find_detail(db, second)
    assert detail is not None and msgspec.json.decode(detail)["chunks"]
    assert find_detail(db, "nope") is None


def test_run_totals(db: sqlite3.Connection) -> None:
    (run,) = run_totals(db)
    assert (run["calls"], run["errors"], run["kind"]) == (6, 1, "server")
    assert (run["recorded"], run["replayed"], run["missed"]) == (3, 2, 0)
    assert run["ended"] is not None and run["ended"] >= run["started"]
    assert run["cost"] > 0 and run["saved"] > 0 and run["unpriced"] == 0
    assert run["input_tokens"] > 0 and run["output_tokens"] > 0


def test_prune(tmp_path: Path, db: sqlite3.Connection) -> None:
    writable = connect(tmp_path / "history.db")
    newest = ids(db)
    assert prune(writable, Prune(keep_calls=4), dry_run=True) == 2
    assert prune(writable, Prune(keep_calls=4)) == 2 and ids(db) == newest[:4]
    (run,) = run_totals(db)  # the totals kept for the ended run follow the pruning
    assert (run["calls"], run["errors"], run["recorded"], run["replayed"]) == (4, 1, 1, 2)
    assert prune(writable, Prune(keep_days=1)) == 0
    assert prune(writable, Prune(keep_calls=10)) == 0
    assert prune(writable, Prune(everything=True)) == 4 and ids(db) == []
    assert run_totals(db) == []  # the ended run, left without calls, went too
    count = writable.execute("SELECT count(*) FROM flows_text").fetchone()[0]
    writable.close()
    assert count == 0
