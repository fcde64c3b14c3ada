"""/api/diff: two calls or tapes compared (see ``diff``), each named by a ref.

A ref is a flow's id (live, or read back from the history), ``tape:<key>`` for a tape, or, for
the second side only, ``nearest``: the recorded tape nearest to the first side's request in its
tapes folder, as a replay-only miss finds it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from playingpack.api import Handler, Invalid, json_response
from playingpack.call import OFF_LOOP
from playingpack.errors import TapeError
from playingpack.flow_log import FlowLog
from playingpack.history import decode_detail
from playingpack.history_queries import find_detail
from playingpack.pricing import PriceBook
from playingpack.providers import Provider
from playingpack.store import TapeStore, TapeStores, is_scope
from playingpack.tape_files import parse_name
from playingpack.wire import FlowDetailJSON

if TYPE_CHECKING:
    from playingpack.diff import Side
    from playingpack.history import History

logger = logging.getLogger(__name__)

NEAREST = "nearest"
_TAPE = "tape:"


class DiffRoutes:
    """The handler of ``GET /api/diff``."""

    def __init__(
        self,
        flows: FlowLog,
        history: History | None,
        stores: TapeStores,
        providers: Sequence[Provider],
    ) -> None:
        self.flows = flows
        self.history = history
        self.stores = stores
        self.providers = providers
        self.prices = flows.prices if flows.prices is not None else PriceBook()

    def add_routes(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        """Register the route behind ``guard`` (the API's access checks)."""
        app.router.add_get("/api/diff", guard(self.get_diff))

    async def get_diff(self, request: web.Request) -> web.Response:
        """``a`` and ``b`` compared: requests as JSON paths, answers' text word by word, tool
        calls argument by argument, finish reason, status, usage, cost and latency."""
        # Imported at the first diff: the comparison pulls in the thread views and word diffs,
        # which the server need not load to answer its first call.
        from playingpack.diff import diff

        a = await self._side(_ref(request, "a"), "a")
        text = _ref(request, "b")
        b = await self._nearest(a) if text == NEAREST else await self._side(text, "b")
        if max(a.size, b.size) > OFF_LOOP:
            compared = await asyncio.to_thread(diff, a, b)
            return await asyncio.to_thread(json_response, compared)
        return json_response(diff(a, b))

    async def _side(self, ref: str, param: str) -> Side:
        if ref == NEAREST:
            raise Invalid(
                "`a` cannot be `nearest`: the nearest tape is found for the request of `a`; "
                "name a call or a tape as `a` and give `b=nearest`.",
                status=400,
                code="invalid_ref",
                param=param,
            )
        if ref.startswith(_TAPE):
            return await self._tape(ref.removeprefix(_TAPE), param)
        if ":" in ref or not ref:
            raise _invalid_ref(ref, param)
        return _known(await self._flow(ref, param), param)

    async def _flow(self, flow_id: str, param: str) -> Side:
        from playingpack.diff import side_of_detail, side_of_flow

        flow = self.flows.get(flow_id)
        if flow is not None and not flow.trimmed:
            return side_of_flow(flow)
        # A flow that let go of its bodies (see BODY_BUDGET) still has them in the history.
        blob = await self._stored(flow_id) if self.history is not None else None
        if blob is not None:
            detail = await asyncio.to_thread(_detail, blob, flow_id, param)
            return side_of_detail(detail, self.providers, size=len(blob))
        if flow is not None:
            raise _unknown_request(flow_id, param)
        raise Invalid(
            f"No flow {flow_id!r}: it is neither in memory nor in the history (pruned, or "
            "never there). GET /api/flows lists them.",
            status=404,
            code="flow_not_found",
            param=param,
        )

    async def _stored(self, flow_id: str) -> bytes | None:
        history = self.history
        assert history is not None
        try:
            return await history.read(lambda db: find_detail(db, flow_id))
        except sqlite3.Error as exc:
            logger.warning("history %s cannot be read: %s", history.path, exc)
            return None

    async def _tape(self, key: str, param: str) -> Side:
        from playingpack.diff import side_of_tape

        folder, slash, name = key.rpartition("/")
        named = parse_name(f"{name}.json")
        if named is None or (slash and not is_scope(folder)):
            raise _invalid_ref(f"{_TAPE}{key}", param)
        store = self.stores.get(folder or None)
        try:
            tape = await store.fetch(*named)
        except TapeError as exc:
            raise Invalid(str(exc), status=500, code="tape_corrupt", param=param) from None
        if tape is None:
            raise _no_tape(key, store, param)
        try:
            size = store.path(*named).stat().st_size
        except OSError:
            size = tape.size  # deleted in between: its answer is what is known of its size
        if size > OFF_LOOP:
            return await asyncio.to_thread(
                side_of_tape, key, tape, self.providers, self.prices, size=size
            )
        return side_of_tape(key, tape, self.providers, self.prices, size=size)

    async def _nearest(self, a: Side) -> Side:
        store = self.stores.get(a.scope)
        found = await asyncio.to_thread(store.nearest, a.request, a.path)
        if found is None or not found.name:
            raise Invalid(
                f"No request to {a.path} has been recorded in {store.directory}: there is no "
                "tape to compare it with."
                if found is None
                else f"No request to {a.path} is among the {found.searched:,} tapes of "
                f"{store.directory} indexed so far: it is being indexed for the first time; "
                "ask again in a few seconds.",
                status=404,
                code="no_nearest_tape",
                param="b",
            )
        # The store names its tapes relative to its own folder.
        key = found.name if a.scope is None else f"{a.scope}/{found.name}"
        return await self._tape(key, "b")


def _ref(request: web.Request, param: str) -> str:
    ref = request.query.get(param)
    if ref is None:
        raise Invalid(
            f"`{param}` is required: a flow's id, or tape:<key> for a tape"
            + (", or nearest." if param == "b" else "."),
            status=400,
            code="invalid_ref",
            param=param,
        )
    return ref


def _known(side: Side, param: str) -> Side:
    """``side``, when its request is known (a call passed through unrecorded has none)."""
    if side.request is None:
        raise _unknown_request(side.ref, param)
    return side


def _detail(blob: bytes, flow_id: str, param: str) -> FlowDetailJSON:
    try:
        return msgspec.convert(decode_detail(blob), FlowDetailJSON)
    except msgspec.ValidationError as exc:
        raise Invalid(
            f"The history's record of flow {flow_id!r} cannot be read ({exc}): it cannot be "
            "compared.",
            status=409,
            code="request_unknown",
            param=param,
        ) from None


def _invalid_ref(ref: str, param: str) -> Invalid:
    return Invalid(
        f"`{param}` must be a flow's id (GET /api/flows) or tape:<key> for a tape (<hash>, "
        f"<scope>/<hash>, <hash>.<k>; GET /api/tapes), got {ref[:100]!r}.",
        status=400,
        code="invalid_ref",
        param=param,
    )


def _unknown_request(flow_id: str, param: str) -> Invalid:
    return Invalid(
        f"The request of flow {flow_id!r} is not known any more (its bodies were let go of, "
        "or it was passed through unrecorded): it cannot be compared.",
        status=409,
        code="request_unknown",
        param=param,
    )


def _no_tape(key: str, store: TapeStore, param: str) -> Invalid:
    return Invalid(
        f"No tape {key} in {store.directory}. GET /api/tapes lists them.",
        status=404,
        code="tape_not_found",
        param=param,
    )
