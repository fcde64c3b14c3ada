"""The interceptor: the holds waiting for a decision, and resolving them.

A call can be held twice: before it is sent (``pause_requests``) and once its answer is known
(pause mode ``tool-calls`` or ``all``); holding.HoldPolicy says which. A hold is an asyncio
future the flow carries while it waits; the API resolves it with a decision, and the proxy
carries the decision out. A hold nobody resolves is released (allowed) after the hold timeout.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from playingpack.errors import DecisionError, TapeError
from playingpack.flow_log import FlowLog
from playingpack.flows import Flow, State
from playingpack.mock import Injection, Mock, MockToolCall, render, tool_calls
from playingpack.providers import Holdable
from playingpack.settings import Settings
from playingpack.store import TapeStores, is_key
from playingpack.tapes import Tape

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 1.0


class Stage(enum.StrEnum):
    """Where a call is held: before it is sent, or with its answer."""

    REQUEST = "request"
    ANSWER = "response"


class _Action(msgspec.Struct, tag_field="action", forbid_unknown_fields=True):
    pass


class Allow(_Action, tag="allow"):
    """Let the call go on: send the request, or deliver the answer as received."""


class MockDecision(_Action, tag="mock"):
    """Answer with ``mock``; ``save`` also records it as the tape of the request."""

    mock: Mock
    save: bool = False


class Edit(_Action, tag="edit"):
    """Change the held request (``request``) or the held answer (``content``, ``tool_calls``,
    or a whole ``response``) and go on with it."""

    request: dict[str, Any] | None = None
    content: str | None = None
    tool_calls: list[MockToolCall] | None = None
    response: dict[str, Any] | None = None
    save: bool = False


class UseTape(_Action, tag="tape"):
    """Answer a call held before it is sent from a tape (its own when ``tape`` is omitted)."""

    tape: str | None = None


Decision = Allow | MockDecision | Edit | UseTape


@dataclass(frozen=True)
class Resolution:
    """A checked decision, ready for the proxy: ``injection`` to deliver instead of the
    answer, ``request`` to send instead, or ``tape`` to replay; none of them means go on as
    before."""

    action: str
    injection: Injection | None = None
    request: dict[str, Any] | None = None
    tape: Tape | None = None
    save: bool = False


@dataclass(eq=False)
class Hold:
    """A flow waiting for a decision."""

    flow: Flow
    stage: Stage
    timeout: float
    answer: dict[str, Any] | None  # the real answer, when held with it
    future: asyncio.Future[Resolution]
    since: float = field(default_factory=time.time)

    @property
    def deadline(self) -> float:
        """When the hold is released on its own (seconds since the epoch)."""
        return self.since + self.timeout


class Interceptor:
    """Decides which calls to hold and keeps the holds until they are resolved."""

    def __init__(
        self,
        settings: Settings,
        flows: FlowLog,
        stores: TapeStores,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.settings = settings
        self.flows = flows
        self.stores = stores
        self.keepalive_seconds = keepalive_seconds
        self._holds: dict[str, Hold] = {}

    def pending(self) -> list[Hold]:
        """The holds waiting for a decision, oldest first."""
        return list(self._holds.values())

    def hold_of(self, flow_id: str) -> Hold | None:
        """The hold of flow ``flow_id``, while it waits for a decision."""
        return self._holds.get(flow_id)

    async def hold(
        self,
        flow: Flow,
        stage: Stage,
        keepalive: Callable[[], Awaitable[None]] | None,
        answer: dict[str, Any] | None = None,
    ) -> Resolution:
        """Hold ``flow`` (HELD) until it is resolved or the hold timeout passes; the flow
        notes the decision.

        ``keepalive`` is called every ``keepalive_seconds`` meanwhile. A cancelled wait (the
        client left) frees the hold; the caller ends the flow.
        """
        loop = asyncio.get_running_loop()
        timeout = self.settings.hold_timeout
        hold = Hold(flow, stage, timeout, answer, loop.create_future())
        self._holds[flow.id] = hold
        try:
            flow.begin_hold(hold)
            end = loop.time() + timeout
            while not hold.future.done():
                left = end - loop.time()
                if left <= 0:
                    logger.warning(
                        "flow %s (%s %s) was held for %g s without a decision: released as if "
                        "allowed (hold timeout; change it with --hold-timeout)",
                        flow.id,
                        flow.method,
                        flow.path,
                        timeout,
                    )
                    flow.decide("timeout")
                    return Resolution("timeout")
                step = min(left, self.keepalive_seconds) if keepalive else left
                await asyncio.wait((hold.future,), timeout=step)
                if keepalive is not None and not hold.future.done() and loop.time() < end:
                    await keepalive()
            return hold.future.result()
        finally:
            del self._holds[flow.id]
            flow.end_hold()

    def resolve(self, flow_id: str, decision: Decision) -> Flow:
        """Carry ``decision`` to the held flow ``flow_id``.

        Raises DecisionError for an unknown flow (404), a flow that is not held (409) or a
        decision that does not fit it (422); the flow then stays as it was.
        """
        hold = self._holds.get(flow_id)
        if hold is None:
            flow = self.flows.get(flow_id)
            if flow is None:
                raise DecisionError(
                    f"No flow {flow_id!r}: it never existed or has been dropped from memory "
                    "(the server keeps the most recent flows; see --live-window). GET /api/flows "
                    "lists them.",
                    param="id",
                    status=404,
                )
            raise DecisionError(
                f"flow {flow_id} is not held (its state is {flow.state}); only a flow in "
                f"{State.HELD} takes a decision.",
                status=409,
            )
        if hold.future.done():
            raise DecisionError(f"flow {flow_id} has already been decided.", status=409)
        resolution = self._check(hold, decision)
        hold.flow.decide(resolution.action)
        hold.future.set_result(resolution)
        return hold.flow

    def _check(self, hold: Hold, decision: Decision) -> Resolution:
        flow = hold.flow
        provider = flow.provider
        assert isinstance(provider, Holdable)  # only their calls are held
        model = flow.model or ""
        if isinstance(decision, Allow):
            return Resolution("allow")
        if isinstance(decision, MockDecision):
            return Resolution("mock", render(decision.mock, provider, model), save=decision.save)
        if isinstance(decision, UseTape):
            return Resolution("tape", tape=self._tape(hold, decision))
        if hold.stage is Stage.REQUEST:
            if decision.request is None:
                raise DecisionError(
                    "This call is held before it is sent: an edit gives the new `request` "
                    "body (to change the answer, decide `mock`).",
                    param="request",
                )
            if any(
                v is not None for v in (decision.content, decision.tool_calls, decision.response)
            ):
                raise DecisionError(
                    "This call is held before it is sent, so it has no answer to edit yet: "
                    "give only `request`.",
                    param="request",
                )
            return Resolution("edit", request=decision.request)
        if decision.request is not None:
            raise DecisionError(
                "This call is held with its answer: the request has been sent already, so "
                "only content, tool_calls or response can be edited.",
                param="request",
            )
        if decision.response is not None:
            if decision.content is not None or decision.tool_calls is not None:
                raise DecisionError(
                    "An edit gives either a whole `response` or `content`/`tool_calls`.",
                    param="response",
                )
            try:
                answer = provider.check_answer(decision.response, model)
            except ValueError as exc:
                raise DecisionError(f"`response` {exc}.", param="response") from None
        elif decision.content is None and decision.tool_calls is None:
            raise DecisionError(
                "An edit needs at least one of content, tool_calls or response.",
                param="content",
            )
        else:
            calls = (
                tool_calls(decision.tool_calls, "tool_calls")
                if decision.tool_calls is not None
                else None
            )
            try:
                answer = provider.edit_answer(hold.answer or {}, decision.content, calls)
            except ValueError as exc:
                raise DecisionError(f"{exc}.", param="tool_calls") from None
        return Resolution("edit", Injection(answer=answer), save=decision.save)

    def _tape(self, hold: Hold, decision: UseTape) -> Tape:
        if hold.stage is not Stage.REQUEST:
            raise DecisionError(
                "Answering from a tape is for calls held before they are sent; this one holds "
                "its answer already (allow it, or mock).",
                param="action",
            )
        flow = hold.flow
        assert flow.provider is not None
        key = (
            decision.tape
            if decision.tape is not None
            else flow.provider.key(flow.request, flow.path)
        )
        if not is_key(key):
            raise DecisionError(
                f"`tape` must be a tape hash (64 hex digits), got {key[:80]!r}.", param="tape"
            )
        try:
            store = self.stores.get(flow.scope)
            tape = store.load(key)
        except TapeError as exc:
            raise DecisionError(f"{exc}.", param="tape") from None
        if tape is None:
            raise DecisionError(f"There is no tape {key} in {store.directory}.", param="tape")
        return tape
