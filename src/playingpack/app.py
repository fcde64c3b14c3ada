"""create_app(config): builds the shared state, wires the modules and holds the route table."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from playingpack import __version__, dashboard, logs
from playingpack.access import Access
from playingpack.api import Api
from playingpack.api_diff import DiffRoutes
from playingpack.api_history import HistoryRoutes
from playingpack.api_resend import ResendRoutes
from playingpack.api_tapes import TapeRoutes
from playingpack.api_threads import ThreadRoutes
from playingpack.call import MAX_RECORDED_BODY
from playingpack.config import Config, anthropic_upstream_of, gemini_upstream_of
from playingpack.connections import (
    HEADER_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    Connections,
    connection_limit,
)
from playingpack.destinations import GEMINI_VERSIONS, OLLAMA_NAMES, OLLAMA_PREFIX, Upstreams
from playingpack.errors import error_response
from playingpack.flow_log import FlowLog
from playingpack.history import History, RunStart, open_history
from playingpack.interceptor import Interceptor
from playingpack.ledger import TapeLedger
from playingpack.pricing import PriceBook
from playingpack.providers import Provider, builtin
from playingpack.proxy import Proxy
from playingpack.resend import Resends
from playingpack.settings import Settings
from playingpack.store import TapeStores
from playingpack.upstream import Upstream
from playingpack.websocket import LiveEvents

logger = logging.getLogger(__name__)

PROXY: web.AppKey[Proxy] = web.AppKey("proxy", Proxy)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
ACCESS: web.AppKey[Access] = web.AppKey("access", Access)
FLOWS: web.AppKey[FlowLog] = web.AppKey("flows", FlowLog)
LEDGER: web.AppKey[TapeLedger] = web.AppKey("ledger", TapeLedger)
HISTORY: web.AppKey[History] = web.AppKey("history", History)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_OLLAMA_NAMES = "|".join(sorted(OLLAMA_NAMES))


def create_app(
    config: Config,
    *,
    echo: Callable[[str], object] | None = None,
    run: RunStart | None = None,
) -> web.Application:
    """The whole server for one Config; nothing is shared with other apps in the process.

    ``echo`` receives one terminal line per finished call (otherwise they are logged at INFO).
    ``run`` says what started this run (by default ``playingpack start``). A relative
    ``config.history`` is taken from the working directory, as load_config() does.
    """
    logs.guard_loggers()
    run = run or RunStart()
    settings = Settings.from_config(config)
    upstream = Upstream(config.upstream)
    anthropic_url = anthropic_upstream_of(config)
    gemini_url = gemini_upstream_of(config)
    upstreams = Upstreams(
        upstream,
        anthropic=Upstream(anthropic_url) if anthropic_url != config.upstream else None,
        gemini=Upstream(gemini_url) if gemini_url != config.upstream else None,
        ollama=Upstream(config.ollama_upstream),
    )
    run_id = uuid.uuid4().hex[:8]
    history = open_history(
        None if config.history is None else Path.cwd() / config.history,
        keep=config.history_keep,
        run=run,
        run_id=run_id,
    )
    flows = FlowLog(
        config.logs_dir,
        window=config.live_window,
        echo=echo,
        run=run_id,
        prices=PriceBook(config.prices),
        history=history,
    )
    stores = TapeStores(config.tapes_dir)
    ledger = TapeLedger(config.tapes_dir, config.logs_dir)
    interceptor = Interceptor(settings, flows, stores)
    resends = Resends(flows)
    providers = builtin()
    proxy = Proxy(
        settings,
        stores,
        upstreams,
        flows,
        interceptor,
        ledger,
        resends=resends,
        found=[provider for provider in providers if not provider.routed],
    )
    access = Access(config.host, config.token)
    live = LiveEvents(flows, settings, access)
    api = Api(
        flows=flows,
        interceptor=interceptor,
        settings=settings,
        stores=stores,
        ledger=ledger,
        providers=providers,
        access=access,
        live=live,
    )

    app = web.Application(client_max_size=MAX_RECORDED_BODY)
    app[CONFIG] = config
    app[PROXY] = proxy
    app[ACCESS] = access
    app[FLOWS] = flows
    app[LEDGER] = ledger
    if history is not None:
        app[HISTORY] = history

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": __version__,
                "record": settings.record.value,
                "pause": settings.pause.value,
                "replay_timing": settings.replay_timing.value,
                "upstream": config.upstream,
                "anthropic_upstream": anthropic_url,
                "gemini_upstream": gemini_url,
                "ollama_upstream": config.ollama_upstream,
                "dashboard": not config.headless,
            }
        )

    # Every path is also served under /t/<scope>: a per-test tapes folder (see Proxy.recorded).
    for scope in ("", "/t/{scope}"):
        for provider in (p for p in providers if p.routed):
            handler = _guarded(_recorded(proxy, provider))
            app.router.add_post(scope + provider.endpoint, handler)
            if provider.azure:
                # Azure OpenAI's paths for the same format (see Provider.azure).
                suffix = provider.endpoint.removeprefix("/v1")
                for prefix in ("/openai/deployments/{deployment}", "/openai/v1", "/openai"):
                    app.router.add_post(scope + prefix + suffix, handler)
        # Gemini's paths outside /v1, and Ollama's native ones (see destinations).
        for version in GEMINI_VERSIONS:
            app.router.add_route("*", f"{scope}/{version}/{{tail:.*}}", _guarded(proxy.forward))
        # The Gemini API's file uploads (the SDK's files.upload).
        app.router.add_route("*", scope + "/upload/v1beta/{tail:.*}", _guarded(proxy.forward))
        for prefix in ("", OLLAMA_PREFIX):
            if scope or prefix:
                # One route for all the names, not two per name: each is a regular expression
                # compiled at start, and these were most of them.
                ollama = f"{scope}{prefix}/api/{{name:{_OLLAMA_NAMES}}}{{tail:(?:/.*)?}}"
                app.router.add_route("*", ollama, _guarded(proxy.forward))
                continue
            # Under /api, which the dashboard's API shares, each of Ollama's paths is its own.
            for name in sorted(OLLAMA_NAMES):
                app.router.add_route("*", f"/api/{name}", _guarded(proxy.forward))
                app.router.add_route("*", f"/api/{name}/{{tail:.*}}", _guarded(proxy.forward))
        app.router.add_route("*", scope + "/v1/{tail:.*}", _guarded(proxy.forward))
        app.router.add_route("*", scope + "/openai/{tail:.*}", _guarded(proxy.forward))
    app.router.add_get("/health", health)
    api.add_routes(app)
    HistoryRoutes(history, flows, run).add_routes(app, api.guarded)
    ThreadRoutes(history, flows).add_routes(app, api.guarded)
    DiffRoutes(flows, history, stores, providers).add_routes(app, api.guarded)
    TapeRoutes(stores, providers).add_routes(app, api.guarded)
    ResendRoutes(flows, history, stores, providers, resends).add_routes(app, api.guarded)
    app.router.add_get("/ws", live.handle)
    if not config.headless:
        dashboard.add_routes(app, access)
    app.router.add_route("*", "/{tail:.*}", _not_found)

    indexing: list[asyncio.Handle] = []

    async def open_upstream(_: web.Application) -> None:
        for each in upstreams.all():
            await each.start()
        # In the background, once the server listens, so it answers at once: the temporary
        # files of killed writes, then the tape index (its thread would otherwise hold the
        # interpreter while the server is still starting).
        indexing.append(asyncio.get_running_loop().call_soon(stores.start))

    async def close_sockets(_: web.Application) -> None:
        await live.close()

    async def close_all(_: web.Application) -> None:
        for handle in indexing:
            handle.cancel()
        await resends.close()
        await proxy.close()
        ledger.write_usage()
        for each in upstreams.all():
            await each.close()
        flows.close()
        await asyncio.to_thread(stores.close)
        if history is not None:
            # Waits for the writer's last batch and the run's end.
            await asyncio.to_thread(history.close)

    app.on_startup.append(open_upstream)
    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(close_all)
    return app


def _recorded(proxy: Proxy, provider: Provider) -> Handler:
    async def recorded(request: web.Request) -> web.StreamResponse:
        return await proxy.recorded(request, provider)

    return recorded


def _guarded(handler: Handler) -> Handler:
    """Errors escaping ``handler`` become OpenAI-style JSON bodies.

    A wrapper per route rather than a middleware: aiohttp rebuilds the middleware chain on every
    request, which cost more than a whole replay's bookkeeping.
    """

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(
                exc.status,
                f"{exc.reason}: {request.method} {request.path}",
                "invalid_request_error",
                "bad_request",
            )
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            logger.exception("internal error while serving %s %s", request.method, request.path)
            if request.writer.output_size > 0:
                raise  # part of an answer is out: aiohttp can only close the connection
            return error_response(
                500,
                "playingpack hit an internal error; details are in its terminal output.",
                "server_error",
                "internal_error",
            )

    return guarded


async def _not_found(request: web.Request) -> web.StreamResponse:
    """Unknown paths: a JSON error where a program is asking, a plain 404 for a browser."""
    if not _is_machine_path(request.path):
        raise web.HTTPNotFound()
    return error_response(
        404,
        f"{request.method} {request.path} is not a playingpack route.",
        "invalid_request_error",
        "not_found",
    )


def _is_machine_path(path: str) -> bool:
    return path.startswith(("/v1", "/openai", "/api", "/ws", "/health")) or path.endswith(".json")


@dataclass
class Server:
    """A running server: its address, what listens and the runner that stops it."""

    runner: web.AppRunner
    host: str
    port: int
    listener: asyncio.AbstractServer

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str | None:
        """The token the dashboard and API require; None when bound to loopback."""
        return self.runner.app[ACCESS].token

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address, with the token when one is required."""
        token = self.token
        url = self.url
        if self.host in ("0.0.0.0", "::"):
            # Browsers refuse the wildcard address; on this machine loopback reaches it.
            url = f"http://127.0.0.1:{self.port}"
        return f"{url}/" + (f"?token={token}" if token else "")

    async def stop(self) -> None:
        """Stop accepting, cancel open requests and close the upstream pool."""
        self.listener.close()
        await self.runner.cleanup()


async def start_server(
    config: Config,
    *,
    app: web.Application | None = None,
    echo: Callable[[str], object] | None = None,
    header_timeout: float = HEADER_TIMEOUT,
    keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    max_connections: int | None = None,
) -> Server:
    """Serve ``config`` (port 0 picks a free port); raises OSError if the address is taken.

    A connection must send its first request's headers within ``header_timeout`` seconds; an
    idle keep-alive connection is closed after ``keepalive_timeout``; at most
    ``max_connections`` (by default ``connection_limit()``) are open at once (see
    playingpack.connections).
    """
    runner = web.AppRunner(
        app or create_app(config, echo=echo),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=1.0,
        keepalive_timeout=keepalive_timeout,
    )
    await runner.setup()
    assert runner.server is not None
    connections = Connections(
        runner.server,
        limit=max_connections if max_connections is not None else connection_limit(),
        header_timeout=header_timeout,
    )
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(1024)
        sock.setblocking(False)
        listener = await asyncio.get_running_loop().create_server(
            connections, sock=sock, backlog=1024
        )
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    return Server(runner, config.host, sock.getsockname()[1], listener)
