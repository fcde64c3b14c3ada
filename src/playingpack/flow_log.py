"""The FlowLog: the live window of recent flows, their events, their log lines, their cost,
and their hand-over to the history.

A finished flow is priced, becomes one INFO log line and one JSON line in the logs folder, and
goes to the history database when there is one.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from playingpack.flows import BODY_BUDGET, Flow, Listener, Source, State
from playingpack.pricing import PriceBook, Spend
from playingpack.request_log import RequestLog, format_line

if TYPE_CHECKING:
    from collections.abc import Mapping

    from playingpack.history import History
    from playingpack.providers import Provider

logger = logging.getLogger(__name__)


class FlowLog:
    """Recent flows (at most ``window`` kept in memory), their events and their log lines."""

    def __init__(
        self,
        logs_dir: Path | None,
        window: int = 500,
        echo: Callable[[str], object] | None = None,
        *,
        body_budget: int = BODY_BUDGET,
        run: str | None = None,
        prices: PriceBook | None = None,
        history: History | None = None,
    ) -> None:
        """``echo`` receives each finished flow's terminal line; without it the line is logged
        at INFO on this module's logger. ``run`` is the run's id (8 hex digits, made up when
        not given), the prefix of every flow id. A finished flow is priced by ``prices``
        (left unpriced without them), counted in ``spend`` and written to ``history``."""
        self._log = RequestLog(logs_dir) if logs_dir is not None else None
        self._echo = echo
        self.window = window
        self._flows: deque[Flow] = deque()
        self._by_id: dict[str, Flow] = {}
        # Finished flows still holding bodies, oldest first, and their bytes in all.
        self._bodies: dict[str, Flow] = {}
        self._body_bytes = 0
        self.body_budget = body_budget
        self._listeners: list[Listener] = []
        # Ids are unique per server run and sort in arrival order; cheaper than a uuid4 each.
        self.run = run or uuid.uuid4().hex[:8]
        self._count = itertools.count(1)
        self.prices = prices
        self.history = history
        self.spend = Spend()

    def __iter__(self) -> Iterator[Flow]:
        """The flows kept in memory, oldest first."""
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    def get(self, flow_id: str) -> Flow | None:
        """The flow with ``flow_id``, if it is still kept in memory."""
        return self._by_id.get(flow_id)

    @property
    def has_listeners(self) -> bool:
        """Whether anyone listens; streamed text is only extracted for listeners."""
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change of any flow; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def open(
        self,
        method: str,
        path: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        provider: Provider | None = None,
        query: str = "",
    ) -> Flow:
        """Start a flow in LOOKUP; the oldest flow is dropped from memory past ``window``.
        ``headers`` and ``query`` are the request's; ``provider`` the wire format of a
        recorded endpoint."""
        flow = Flow(
            f"{self.run}-{next(self._count):06d}",
            method,
            path,
            run=self.run,
            scope=scope,
            request_headers=headers,
            provider=provider,
            query=query,
            _on_move=self._moved,
        )
        flow.history.append((State.LOOKUP, 0.0))
        if len(self._flows) >= self.window:
            dropped = self._flows.popleft()
            del self._by_id[dropped.id]
            if self._bodies.pop(dropped.id, None) is not None:
                self._body_bytes -= dropped.size
        self._flows.append(flow)
        self._by_id[flow.id] = flow
        self._notify(flow)
        return flow

    def streamed_text(self, flow: Flow, text: str) -> None:
        """Tell listeners the text that just streamed in for ``flow``."""
        for listener in list(self._listeners):
            listener(flow, text)

    def clear(self) -> int:
        """Forget the finished flows (the logs keep them); returns how many were dropped."""
        kept = [flow for flow in self._flows if not flow.is_finished]
        dropped = len(self._flows) - len(kept)
        self._flows = deque(kept)
        self._by_id = {flow.id: flow for flow in kept}
        self._bodies.clear()
        self._body_bytes = 0
        return dropped

    def close(self) -> None:
        """Write the pending JSON lines and close the log file (reopened if another flow
        finishes)."""
        if self._log is not None:
            self._log.close()

    def _moved(self, flow: Flow) -> None:
        if flow.is_finished:
            self._finish(flow)
        self._notify(flow)

    def _notify(self, flow: Flow) -> None:
        for listener in list(self._listeners):
            listener(flow, None)

    @staticmethod
    def _price(flow: Flow, prices: PriceBook) -> None:
        """An upstream call costs its price; a tape or a mock costs nothing, and a tape saved
        what the call would have cost upstream."""
        usage = flow.summary.usage if flow.summary is not None else None
        if flow.source is Source.TAPE:
            flow.set_cost(0.0, prices.cost(flow.model, usage))
        elif flow.source is Source.MOCK:
            flow.set_cost(0.0, None)
        else:
            flow.set_cost(prices.cost(flow.model, usage), None)

    def _keep_bodies(self, flow: Flow) -> None:
        """Count ``flow``'s bodies against the budget; let go of the oldest ones past it."""
        self._bodies[flow.id] = flow
        self._body_bytes += flow.size
        while self._body_bytes > self.body_budget and len(self._bodies) > 1:
            oldest = self._bodies.pop(next(iter(self._bodies)))
            self._body_bytes -= oldest.size
            oldest.trim()

    def _finish(self, flow: Flow) -> None:
        if self.prices is not None:
            self._price(flow, self.prices)
        self.spend.add(flow)
        if self.history is not None:
            self.history.add(flow)
        self._keep_bodies(flow)
        if self._echo is not None:
            self._echo(format_line(flow))
        elif logger.isEnabledFor(logging.INFO):
            logger.info("%s", format_line(flow))
        if self._log is not None:
            self._log.add(flow)
