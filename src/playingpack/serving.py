"""serve(): playingpack inside the current process, for test suites.

::

    with playingpack.serve(record="replay-only") as pp:
        client = OpenAI(base_url=pp.base_url)

The server runs on its own event loop in a background thread, on a free loopback port, with
the settings of the project (config file, ``PLAYINGPACK_*`` variables) under the ones given.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from playingpack.config import SETTINGS_BY_NAME, Config
from playingpack.config_loading import load_config

if TYPE_CHECKING:
    from playingpack.history import RunStart
    from playingpack.pricing import Spend

_T = TypeVar("_T")


def run_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """Run `main` to its end on a new event loop: uvloop's, or asyncio's own where uvloop is
    not installed (it does not support Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class Serving:
    """A playingpack running in this process; use it as a context manager (sync or async)."""

    def __init__(self, config: Config, run: RunStart | None = None) -> None:
        """``run`` says what started it (a server, by default) in the history's runs."""
        self.config = config
        self.run = run
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._app: Any = None

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:53211`` (Anthropic's SDKs take this)."""
        url: str = self._running().url
        return url

    @property
    def base_url(self) -> str:
        """The ``base_url`` for OpenAI's SDKs."""
        return f"{self.url}/v1"

    @property
    def tapes_dir(self) -> Path:
        return self.config.tapes_dir

    def scoped_url(self, scope: str) -> str:
        """The root under which requests use the ``scope`` subfolder of the tapes folder."""
        return f"{self.url}/t/{scope}"

    @property
    def flows(self) -> list[dict[str, Any]]:
        """The flows of this server's live window (shaped as ``GET /api/flows`` lists them),
        oldest first."""
        from playingpack.app import FLOWS
        from playingpack.wire import flow_json

        def collect() -> list[dict[str, Any]]:
            import msgspec

            log = self._app[FLOWS]
            return [msgspec.to_builtins(flow_json(flow)) for flow in log]

        return self._call(collect)

    def report(self) -> dict[str, Any]:
        """The run so far: tapes recorded, replayed, missing (with why) and unused."""
        from playingpack.app import LEDGER

        return self._call(lambda: self._app[LEDGER].report())

    def spend(self) -> Spend:
        """The run's calls, tokens and dollars so far: a copy, which later calls leave as is."""
        from playingpack.app import FLOWS
        from playingpack.pricing import Spend

        def copy() -> Spend:
            spend = Spend()
            spend.merge(self._app[FLOWS].spend.to_json())
            return spend

        return self._call(copy)

    def start(self) -> Serving:
        """Start the server; returns when it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("this playingpack is already running")
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="playingpack", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout=30)
        except BaseException:
            self._thread.join(10)
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop the server (open requests are cancelled) and join its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(30)
        if thread.is_alive():
            raise RuntimeError("playingpack did not stop within 30 s")
        self._thread = None

    def _run(self, started: Future[None]) -> None:
        from playingpack.app import create_app, start_server

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            try:
                self._app = create_app(self.config, run=self.run)
                self._server = await start_server(self.config, app=self._app)
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            try:
                await self._stopping.wait()
            finally:
                await self._server.stop()

        run_loop(main())

    def _running(self) -> Any:
        if self._server is None or self._thread is None:
            raise RuntimeError("this playingpack is not running: use it in a `with` block")
        return self._server

    def _call(self, function: Callable[[], _T]) -> _T:
        """Run ``function`` on the server's loop (its state belongs to that thread)."""
        self._running()
        assert self._loop is not None

        async def run() -> _T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def __enter__(self) -> Serving:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Serving:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def serve(
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    run: RunStart | None = None,
    **settings: Any,
) -> Serving:
    """A playingpack for this process: ``with serve(...) as pp`` or ``async with``.

    ``settings`` are named as in the config file (``upstream``, ``tapes_dir``, ``record``,
    ``pause``, ...). They override the project's config file (found in ``cwd``, the working
    directory by default) and ``PLAYINGPACK_*`` variables (from ``env``, ``os.environ`` by
    default). It listens on ``127.0.0.1`` and a free port unless told otherwise. ``run``
    says what started it, as the history's runs show (a pytest session, say).

    Raises TypeError for an unknown setting and ConfigError for an invalid value.
    """
    unknown = sorted(set(settings) - set(SETTINGS_BY_NAME))
    if unknown:
        raise TypeError(
            f"serve() got unknown settings {', '.join(unknown)}; "
            f"the settings are: {', '.join(sorted(SETTINGS_BY_NAME))}"
        )
    flags = {"host": "127.0.0.1", "port": 0, **settings}
    config = load_config(cwd=cwd or Path.cwd(), env=os.environ if env is None else env, flags=flags)
    return Serving(config, run)
