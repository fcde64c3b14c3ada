"""/api/threads: the agent threads rebuilt from the traffic, read from the history."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from playingpack.api import Handler, Invalid, json_response
from playingpack.flow_log import FlowLog

if TYPE_CHECKING:
    from playingpack.history import History

logger = logging.getLogger(__name__)

T = TypeVar("T")

HISTORY_OFF = (
    "History is off, and threads are rebuilt from the calls it keeps: start playingpack "
    "with --history PATH (or without --history off; the default is .playingpack/history.db), "
    "or set `history` in the config file."
)


class ThreadRoutes:
    """The handlers of ``/api/threads`` (a run's threads) and ``/api/threads/{id}`` (one)."""

    def __init__(self, history: History | None, flows: FlowLog) -> None:
        self.history = history
        self.flows = flows

    def add_routes(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        """Register the routes, each behind ``guard`` (the API's access checks)."""
        router = app.router
        router.add_get("/api/threads", guard(self.list_threads))
        router.add_get("/api/threads/{id}", guard(self.get_thread))

    async def list_threads(self, request: web.Request) -> web.Response:
        """The threads with a call in ``run`` (default: this server's run), newest first."""
        # The views are imported at the first use: the server need not load them to start.
        from playingpack.thread_views import list_threads

        history = self._history()
        run = request.query.get("run") or self.flows.run
        return json_response(await self._read(history, lambda db: list_threads(db, run)))

    async def get_thread(self, request: web.Request) -> web.Response:
        """One thread with its steps, in order."""
        from playingpack.thread_views import thread_detail

        history = self._history()
        thread_id = request.match_info["id"]
        thread = await self._read(history, lambda db: thread_detail(db, thread_id))
        if thread is None:
            raise Invalid(
                f"No thread {thread_id!r} in the history: a thread's id is the id of its first "
                "call (pruned, or never there). GET /api/threads lists them.",
                status=404,
                code="thread_not_found",
                param="id",
            )
        return json_response(thread)

    def _history(self) -> History:
        if self.history is None:
            raise Invalid(HISTORY_OFF, status=409, code="history_off", param=None)
        return self.history

    async def _read(self, history: History, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await history.read(fn)
        except sqlite3.Error as exc:
            logger.warning("history %s cannot be read: %s", history.path, exc)
            raise Invalid(
                f"The history cannot be read ({exc}); see playingpack's terminal output.",
                status=503,
                code="history_unreadable",
                param=None,
            ) from None
