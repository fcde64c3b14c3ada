"""Holding: which calls and answers the pause settings hold, and the one sequence that holds
an answer (streamed, JSON or replayed) and carries the person's decision out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from playingpack.call import Call
from playingpack.config import PauseMode
from playingpack.delivery import Delivery
from playingpack.interceptor import Interceptor, Resolution, Stage
from playingpack.providers import Holdable, Provider, Summary
from playingpack.settings import Settings


class HoldPolicy:
    """Which calls and answers the pause settings hold, and the holding of an answer."""

    def __init__(self, settings: Settings, interceptor: Interceptor, delivery: Delivery) -> None:
        self.settings = settings
        self.interceptor = interceptor
        self.delivery = delivery

    def holds_requests(self, provider: Provider) -> bool:
        """Whether calls of ``provider`` are held before they are sent (``pause_requests``)."""
        return self.settings.pause_requests and isinstance(provider, Holdable)

    def watches(self, provider: Provider) -> Holdable | None:
        """``provider`` when its streamed answers may be held under the pause mode, so they
        are read event by event as they pass."""
        if self.settings.pause is not PauseMode.OFF and isinstance(provider, Holdable):
            return provider
        return None

    @property
    def holds_everything(self) -> bool:
        """Whether every answer is held (pause mode ``all``): nothing of a watched stream
        reaches the client before the decision."""
        return self.settings.pause is PauseMode.ALL

    def holds(self, provider: Provider, summary: Summary) -> bool:
        """Whether an answer with ``summary`` is held under the pause mode."""
        pause = self.settings.pause
        return isinstance(provider, Holdable) and (
            pause is PauseMode.ALL or (pause is PauseMode.TOOL_CALLS and bool(summary.tool_calls))
        )

    async def hold_request(self, call: Call) -> Resolution:
        """Hold ``call`` before it is sent, until the person decides."""
        return await self.interceptor.hold(
            call.flow, Stage.REQUEST, self.delivery.keepalive_of(call)
        )

    async def hold(
        self, call: Call, answer: dict[str, Any], sent: Sequence[str] = ()
    ) -> web.StreamResponse | None:
        """Hold ``call`` with its whole ``answer`` until the person decides, and carry a mock
        or an edit out: the response then, or None (FLUSH) to send the answer as it was.
        ``sent`` are the answer's events the client has had already."""
        resolution = await self.interceptor.hold(
            call.flow, Stage.ANSWER, self.delivery.keepalive_of(call), answer
        )
        if resolution.injection is not None:
            return await self.delivery.inject(call, resolution, sent)
        call.flow.flush()
        return None
