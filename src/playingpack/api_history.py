"""/api/flows and /api/runs: the calls of every run, searched in the history.

The history answers; the calls still in flight come from the live window, on the first page.
With history off, the live window is all there is, filtered in memory the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aiohttp import web

from playingpack.api import LISTED_BODIES, Handler, Invalid, bool_query, int_query, json_response
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, Source, State, iso_time
from playingpack.history_queries import FlowQuery, Found, find_detail, find_flows, run_totals
from playingpack.wire import answer_text, conversation_of, encode, flow_detail_json, flow_json
from playingpack.wire_history import RunJSON

if TYPE_CHECKING:
    from playingpack.history import History, RunStart

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
_FILTERS = ("q", "model", "source", "state", "tool", "scope", "run", "parent")


class HistoryRoutes:
    """The handlers of ``/api/flows`` (listing and one call) and ``/api/runs``."""

    def __init__(self, history: History | None, flows: FlowLog, run: RunStart) -> None:
        self.history = history
        self.flows = flows
        self.run = run
        self.started = time.time()
        self._read_failed = False

    def add_routes(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        """Register the routes, each behind ``guard`` (the API's access checks)."""
        router = app.router
        router.add_get("/api/flows", guard(self.list_flows))
        router.add_get("/api/flows/{id}", guard(self.get_flow))
        router.add_get("/api/runs", guard(self.list_runs))

    async def list_flows(self, request: web.Request) -> web.Response:
        """Calls, newest first (in the order they finished; those in flight first), from the
        history of every run. Filters, all of which must match: ``q`` (words of the messages,
        the answer, tool names and arguments, the model or the path; all must be found, the
        last as a prefix), ``model``, ``source``, ``state``, ``tool`` (a tool the answer
        called), ``scope``, ``run``, ``parent`` (the resends of a flow id or ``tape:<key>``),
        ``since`` and ``until`` (ISO-8601 start times). ``limit`` (default 500, at most 5000)
        calls per page; when more match, the ``Link`` header gives the next page
        (``rel="next"``, with a ``cursor``). ``bodies=false`` leaves out requests and answers."""
        query = _query_of(request)
        bodies = bool_query(request, "bodies", default=True)
        cursor = request.query.get("cursor")
        # In flight, or not written yet: listed from memory on the first page.
        history = self.history
        moving = (
            []
            if cursor or history is None
            else [f for f in self._newest() if not f.is_finished or history.has_pending(f.id)]
        )
        found = await self._found(query, cursor, bodies) if self.history is not None else None
        if found is None:
            return self._listed_from_memory(request, query, cursor, bodies)
        stored = {flow_id for _, flow_id, _ in found.flows}
        live = [
            _listed(flow, bodies)
            for flow in moving
            if flow.id not in stored and _matches(flow, query)
        ][: query.limit]
        kept = found.flows[: query.limit - len(live)]
        items = live + [blob for _, _, blob in kept]
        following: int | None = found.next
        if len(kept) < len(found.flows):
            following = kept[-1][0] if kept else found.flows[0][0] + 1
        response = web.Response(
            body=b"[" + b",".join(items) + b"]", content_type="application/json"
        )
        if following is not None:
            _link_next(request, response, str(following))
        return response

    async def get_flow(self, request: web.Request) -> web.Response:
        """One call in full: request, answer, chunks with timing, headers (masked), from
        memory or, once it has left the live window, from the history."""
        flow_id = request.match_info["id"]
        flow = self.flows.get(flow_id)
        # A flow that let go of its bodies (see BODY_BUDGET) still has them in the history.
        if self.history is not None and (flow is None or flow.trimmed):
            try:
                blob = await self.history.read(lambda db: find_detail(db, flow_id))
            except sqlite3.Error as exc:
                self._warn(exc)
                blob = None
            if blob is not None:
                return web.Response(body=blob, content_type="application/json")
        if flow is not None:
            detail = flow_detail_json(flow)
            if flow.size > LISTED_BODIES:
                return await asyncio.to_thread(json_response, detail)
            return json_response(detail)
        raise Invalid(
            f"No flow {flow_id!r}: it is neither in memory nor in the history "
            "(pruned, or never there). GET /api/flows lists them.",
            status=404,
            code="flow_not_found",
            param="id",
        )

    async def list_runs(self, request: web.Request) -> web.Response:
        """Runs (server starts, pytest sessions), newest first, with their calls, errors,
        tokens, cost, and the tapes recorded, replayed and missed; ``live`` marks this
        server's. With history off, only this run."""
        if self.history is not None:
            try:
                rows = await self.history.read(run_totals)
            except sqlite3.Error as exc:
                self._warn(exc)
            else:
                return json_response([self._run_json(row) for row in rows])
        return json_response([self._this_run()])

    async def _found(self, query: FlowQuery, cursor: str | None, bodies: bool) -> Found | None:
        if cursor is not None and not cursor.isdecimal():
            raise Invalid(
                f"`cursor` must be one from a Link header, got {cursor[:40]!r}.", param="cursor"
            )
        before = int(cursor) if cursor is not None else None
        paged = dataclasses.replace(query, before=before)
        assert self.history is not None
        try:
            return await self.history.read(lambda db: find_flows(db, paged, bodies=bodies))
        except sqlite3.Error as exc:
            self._warn(exc)
            return None

    def _listed_from_memory(
        self, request: web.Request, query: FlowQuery, cursor: str | None, bodies: bool
    ) -> web.Response:
        """The live window, filtered as the history would be; the cursor is the last id."""
        found = [
            flow
            for flow in self._newest()
            if (cursor is None or flow.id < cursor) and _matches(flow, query)
        ]
        page = found[: query.limit]
        items = [_listed(flow, bodies) for flow in page]
        response = web.Response(
            body=b"[" + b",".join(items) + b"]", content_type="application/json"
        )
        if len(found) > len(page):
            _link_next(request, response, page[-1].id)
        return response

    def _newest(self) -> list[Flow]:
        return list(reversed(list(self.flows)))

    def _run_json(self, row: dict[str, object]) -> RunJSON:
        started, ended = row.pop("started"), row.pop("ended")
        assert isinstance(started, float)
        return RunJSON(
            **row,  # type: ignore[arg-type]
            started_at=iso_time(started),
            ended_at=iso_time(ended) if isinstance(ended, float) else None,
            live=row["id"] == self.flows.run,
        )

    def _this_run(self) -> RunJSON:
        spend = self.flows.spend
        uses = [flow.tape_use for flow in self.flows]
        return RunJSON(
            id=self.flows.run,
            kind=self.run.kind,
            label=self.run.label,
            started_at=iso_time(self.started),
            ended_at=None,
            live=True,
            calls=spend.calls,
            errors=sum(flow.state is State.ERROR for flow in self.flows),
            input_tokens=spend.input_tokens,
            output_tokens=spend.output_tokens,
            cost=spend.cost,
            unpriced=spend.unpriced,
            saved=spend.saved,
            recorded=uses.count("recorded"),
            replayed=uses.count("replayed"),
            missed=uses.count("missed"),
        )

    def _warn(self, exc: sqlite3.Error) -> None:
        if not self._read_failed:
            self._read_failed = True
            logger.warning("history cannot be read (%s): calls are listed from memory", exc)


def _query_of(request: web.Request) -> FlowQuery:
    """The filters of ``request``, checked (a bad one is a 422 naming it)."""
    given = {name: request.query.get(name) or None for name in _FILTERS}
    state, source = given["state"], given["source"]
    if state is not None and state not in {member.value for member in State}:
        raise Invalid(f"`state` must be one of {', '.join(State)}, got {state!r}.", param="state")
    if source is not None and source not in {member.value for member in Source}:
        raise Invalid(
            f"`source` must be one of {', '.join(Source)}, got {source!r}.", param="source"
        )
    limit = int_query(request, "limit") or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise Invalid(f"`limit` must be at most {MAX_LIMIT}, got {limit}.", param="limit")
    return FlowQuery(
        q=given["q"],
        model=given["model"],
        source=source,
        state=state,
        tool=given["tool"],
        scope=given["scope"],
        parent=given["parent"],
        run=given["run"],
        since=_time_query(request, "since"),
        until=_time_query(request, "until"),
        limit=limit,
    )


def _time_query(request: web.Request, name: str) -> float | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"`{name}` must be an ISO-8601 time such as 2025-01-31T12:00:00Z, got {text[:40]!r}.",
            param=name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _listed(flow: Flow, bodies: bool) -> bytes:
    # A big call's bodies come only with it alone (GET /api/flows/{id}).
    return encode(flow_json(flow, bodies=bodies and flow.size <= LISTED_BODIES))


def _matches(flow: Flow, query: FlowQuery) -> bool:
    """Whether ``flow`` in memory passes ``query``'s filters (``q``: each word found, ignoring
    case, in its model, path, tool names, messages or answer)."""
    for name in ("model", "scope", "run", "parent"):
        wanted = getattr(query, name)
        if wanted is not None and getattr(flow, name) != wanted:
            return False
    if query.state is not None and flow.state.value != query.state:
        return False
    if query.source is not None and (flow.source is None or flow.source.value != query.source):
        return False
    if query.since is not None and flow.started < query.since:
        return False
    if query.until is not None and flow.started >= query.until:
        return False
    tools = [call.name for call in flow.summary.tool_calls] if flow.summary else []
    if query.tool is not None and query.tool not in tools:
        return False
    if query.q:
        text = "\n".join([flow.model or "", flow.path, *tools, *_texts(flow)]).lower()
        return all(word in text for word in query.q.lower().split())
    return True


def _texts(flow: Flow) -> Iterable[str]:
    conversation = conversation_of(flow)
    if conversation is not None:
        for turn in conversation.turns:
            for part in turn.parts:
                text = getattr(part, "text", None)
                if isinstance(text, str):
                    yield text
    yield answer_text(flow)


def _link_next(request: web.Request, response: web.Response, cursor: str) -> None:
    params = [(k, v) for k, v in request.query.items() if k != "cursor"]
    params.append(("cursor", cursor))
    response.headers["Link"] = f'<{request.path}?{urlencode(params)}>; rel="next"'
