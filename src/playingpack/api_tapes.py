"""/api/tapes: the tapes of the folder and its per-test folders, listed, read and deleted."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from playingpack.api import Handler, Invalid, bool_query, int_query, json_response
from playingpack.errors import TapeError
from playingpack.providers import Provider
from playingpack.replay import Replay
from playingpack.store import TapeStore, TapeStores, is_scope
from playingpack.tape_files import TapeFile, parse_name
from playingpack.tape_index import SORTS, IndexedTape
from playingpack.tapes import Origin, Tape, decode
from playingpack.wire import TapeAnswerJSON, TapeJSON, ToolCallJSON

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class TapeRoutes:
    """The handlers of ``/api/tapes`` over the tapes folder."""

    def __init__(self, stores: TapeStores, providers: Sequence[Provider]) -> None:
        self.stores = stores
        self.providers = providers

    def add_routes(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        """Register the routes, each behind ``guard`` (the API's access checks)."""
        router = app.router
        router.add_get("/api/tapes", guard(self.list_tapes))
        for path in ("/api/tapes/{hash}", "/api/tapes/{scope}/{hash}"):
            router.add_get(path, guard(self.get_tape))
            router.add_delete(path, guard(self.delete_tape))

    async def list_tapes(self, request: web.Request) -> web.Response:
        """One page of the tapes of the top folder and every per-test folder (``scope`` keeps
        one: a folder name, or empty for the top folder), from the tape index, newest first
        (``sort``: one of SORTS; ``order``: desc or asc; ties by key). ``q``: words, each the
        start of a word of the tape's hash, key, model, endpoint, message text or tool names,
        all of which must be found. ``limit`` (default 100, at most 1000) per page; when more
        match, the ``Link`` header gives the next page (``rel="next"``, with a ``cursor``), and
        ``X-Total-Count`` says how many match in all. While the tapes folder is indexed for the
        first time, the page is of the tapes read so far, with ``X-Playingpack-Indexing: true``."""
        query = request.query
        scope = query.get("scope")
        if scope and not is_scope(scope):
            raise Invalid(
                f"`scope` must name a per-test tapes folder, got {scope[:100]!r}.",
                param="scope",
            )
        sort = query.get("sort") or "recorded"
        if sort not in SORTS:
            raise Invalid(
                f"`sort` must be one of {', '.join(SORTS)}, got {sort[:40]!r}.", param="sort"
            )
        order = query.get("order") or "desc"
        if order not in ("desc", "asc"):
            raise Invalid(f"`order` must be desc or asc, got {order[:40]!r}.", param="order")
        limit = int_query(request, "limit") or DEFAULT_LIMIT
        if limit > MAX_LIMIT:
            raise Invalid(f"`limit` must be at most {MAX_LIMIT}, got {limit}.", param="limit")
        cursor = query.get("cursor")
        if cursor is not None and not cursor.isdecimal():
            raise Invalid(
                f"`cursor` must be one from a Link header, got {cursor[:40]!r}.", param="cursor"
            )
        offset = int(cursor) if cursor is not None else 0
        # The index reads the files that changed on disk, and SQLite blocks.
        tapes, total, complete = await asyncio.to_thread(
            self.stores.index.page,
            scope=scope,
            q=query.get("q", ""),
            sort=sort,
            descending=order == "desc",
            offset=offset,
            limit=limit,
        )
        response = json_response([listed_json(tape) for tape in tapes])
        response.headers["X-Total-Count"] = str(total)
        if not complete:
            # The folder is being indexed for the first time: these are the tapes read so far.
            response.headers["X-Playingpack-Indexing"] = "true"
        following = offset + len(tapes)
        if tapes and following < total:
            params = [(k, v) for k, v in query.items() if k != "cursor"]
            params.append(("cursor", str(following)))
            response.headers["Link"] = f'<{request.path}?{urlencode(params)}>; rel="next"'
        return response

    async def get_tape(self, request: web.Request) -> web.Response:
        """The tape file's JSON, as stored (fields this version does not know included);
        with ``conversation=true``, plus a ``conversation`` field: its request as turns, tools
        and parameters (null for an endpoint playingpack does not record); with
        ``answer=true``, plus an ``answer`` field: its text and tool calls (null when the
        endpoint is not one playingpack records or the answer cannot be read)."""
        store, key, index = self._tape(request)
        conversation = bool_query(request, "conversation", default=False)
        answer = bool_query(request, "answer", default=False)
        try:
            tape = await store.fetch(key, index)
            # The file itself rather than the parsed Tape re-serialised: a tape written by the
            # original tool or a newer version would otherwise show fields it does not have
            # and hide those it does.
            data = await asyncio.to_thread(store.raw, key, index) if tape is not None else None
        except TapeError as exc:
            raise Invalid(str(exc), status=500, code="tape_corrupt", param="hash") from None
        if data is None or tape is None:  # none, or deleted in between
            raise _no_tape(key, store)
        if not conversation and not answer:
            return web.Response(body=data, content_type="application/json")
        provider = next((p for p in self.providers if p.serves(tape.endpoint)), None)
        document = await asyncio.to_thread(decode, data, dict[str, Any])
        if conversation:
            document["conversation"] = None if provider is None else provider.turns(tape.request)
        if answer:
            document["answer"] = (
                None if provider is None else await asyncio.to_thread(_answer, tape, provider)
            )
        return await asyncio.to_thread(json_response, document)

    async def delete_tape(self, request: web.Request) -> web.Response:
        """Delete a tape: ``<hash>`` with every further recording of its request, ``<hash>.<k>``
        that recording alone."""
        store, key, index = self._tape(request)
        try:
            deleted = store.delete(key, index if index > 1 else None)
        except TapeError as exc:
            raise Invalid(str(exc), status=409, code="tape_refused", param="scope") from None
        except OSError as exc:
            raise _cannot_delete(store, key, exc) from None
        if not deleted:
            raise _no_tape(key, store)
        return web.Response(status=204)

    def _tape(self, request: web.Request) -> tuple[TapeStore, str, int]:
        """The store, hash and recording number a ``/api/tapes/[<scope>/]<hash>[.<k>]`` path
        names."""
        return named_tape(self.stores, request.match_info["hash"], request.match_info.get("scope"))


def named_tape(stores: TapeStores, given: str, scope: str | None) -> tuple[TapeStore, str, int]:
    """The store, hash and recording number of the tape ``[<scope>/]<given>`` (``given``:
    ``<hash>`` or ``<hash>.<k>``); raises Invalid for a name that is no tape's."""
    named = parse_name(f"{given}.json")
    if named is None:
        raise Invalid(
            f"{given[:100]!r} is not a tape hash: a tape is named by 64 lowercase hex "
            "digits, and .<k> for the k-th recording of a repeated request "
            "(see GET /api/tapes).",
            status=400,
            code="invalid_tape_hash",
            param="hash",
        )
    if scope is not None and not is_scope(scope):
        raise Invalid(
            f"{scope[:100]!r} is not a per-test tapes folder name.",
            status=400,
            code="invalid_tape_scope",
            param="scope",
        )
    return stores.get(scope), *named


def listed_json(tape: IndexedTape) -> TapeJSON:
    """A readable tape of the index as listed."""
    return TapeJSON(
        key=tape.key,
        id=tape.key,
        scope=tape.folder or None,
        hash=tape.hash,
        recording=tape.recording,
        # A readable tape's row has every field; the defaults only satisfy the types.
        model=tape.model or "",
        endpoint=tape.endpoint or "",
        timestamp=tape.timestamp or "",
        status=tape.status or 0,
        streamed=bool(tape.streamed),
        size=tape.size,
        chunks=tape.chunks or 0,
        tool_calls=tape.tool_calls,
        origin=cast(Origin, tape.origin or "recorded"),
        parent=tape.parent,
        kept=tape.kept,
    )


def tape_json(file: TapeFile, tape: Tape, providers: Sequence[Provider]) -> TapeJSON:
    """``tape`` (in ``file``) as listed."""
    provider = next((p for p in providers if p.serves(tape.endpoint)), None)
    names: list[str] = []
    if provider is not None:
        try:
            texts = [chunk.c for chunk in tape.chunks]
            summary = (
                provider.summarize_events(texts)
                if tape.streamed
                else provider.summarize(msgspec.json.decode(tape.body))
            )
            names = [call.name for call in summary.tool_calls]
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
            names = []  # the file is listed all the same; replaying it will say why
    return TapeJSON(
        key=file.key,
        id=file.key,
        scope=file.folder or None,
        hash=file.hash,
        recording=file.index,
        model=tape.model,
        endpoint=tape.endpoint,
        timestamp=tape.timestamp,
        status=tape.status,
        streamed=tape.streamed,
        size=file.size,
        chunks=len(tape.chunks),
        tool_calls=names,
        origin=tape.origin,
        parent=tape.parent,
        kept=tape.kept,
    )


def _no_tape(key: str, store: TapeStore) -> Invalid:
    return Invalid(
        f"No tape {key} in {store.directory}.", status=404, code="tape_not_found", param="hash"
    )


def _cannot_delete(store: TapeStore, key: str, exc: OSError) -> Invalid:
    where = exc.filename or store.path(key)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Invalid(
            f"Cannot delete tape {where}: {reason}. playingpack may not change {store.directory} "
            "(read-only, or protected); make it writable, or delete the file yourself.",
            status=409,
            code="tapes_read_only",
            param="hash",
        )
    return Invalid(
        f"Cannot delete tape {where}: {reason}.", status=500, code="tape_io_error", param="hash"
    )


def _answer(tape: Tape, provider: Provider) -> TapeAnswerJSON | None:
    """A tape's answer as the dashboard reads it; None when it cannot be read."""
    try:
        replay = Replay(tape, provider)
        text = provider.answer_text(replay.answer)
    # A tape that cannot be replayed raises InvalidReplay, a ValueError.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    calls = [
        ToolCallJSON(call.id, call.name, call.parsed_arguments())
        for call in replay.summary.tool_calls
    ]
    return TapeAnswerJSON(text=text, tool_calls=calls)
