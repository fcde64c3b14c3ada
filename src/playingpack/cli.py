"""The `playingpack` command and `start`; the only module that sets up log handlers.

The server stack (aiohttp, uvloop) is imported inside the command so `--help` and `--version`
stay fast.
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from playingpack import __version__
from playingpack.config import (
    SETTINGS,
    Config,
    PauseMode,
    Setting,
    anthropic_upstream_of,
    gemini_upstream_of,
)
from playingpack.config_loading import load_config
from playingpack.diff_commands import tapes_diff
from playingpack.errors import ConfigError
from playingpack.history_commands import history
from playingpack.resend_commands import tapes_resend
from playingpack.tape_commands import shown_path, tapes

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop


_F = TypeVar("_F", bound=Callable[..., Any])


def _option(row: Setting) -> Callable[[_F], _F]:
    """The option of `start` that gives one setting, as the settings table declares it."""
    names = [name for name in (row.short, row.flag) if name is not None]
    if row.type is bool:
        return click.option(*names, row.name, is_flag=True, default=None, help=row.help)
    kind: click.ParamType[Any] | None = None
    if row.choices:
        kind = click.Choice(row.choices)
    elif row.type is Path:
        kind = click.Path(path_type=Path)
    # Numbers stay text: the config's checks say what is allowed, as for the environment.
    return click.option(
        *names,
        row.name,
        type=kind,
        metavar=row.metavar,
        help=f"{row.help}  [default: {row.shown_default}]",
    )


def _setting_options(command: _F) -> _F:
    for row in reversed([row for row in SETTINGS if row.option]):
        command = _option(row)(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="playingpack")
def cli() -> None:
    """Record, replay and debug LLM API calls through a local proxy."""


class _StartCommand(click.Command):
    """`start`, where `-h` means help except before a value, as the old `-h HOST` did."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _old_host_flag(args))


def _old_host_flag(args: list[str]) -> list[str]:
    """`-h HOST` becomes `--host HOST`, with a deprecation warning, for one more version."""
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            out.append(arg)
            out.extend(rest)
            break
        value = next(rest, None) if arg == "-h" else None
        if value is None or value.startswith("-"):
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        click.echo(
            "playingpack: warning: `-h HOST` is deprecated and will mean --help in the next "
            "version: use `-H HOST` or `--host HOST`",
            err=True,
        )
        out.extend(["--host", value])
    return out


@cli.command(cls=_StartCommand)
@_setting_options
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file to use instead of discovering one.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
def start(config_path: Path | None, open_browser: bool, **flags: Any) -> None:
    """Start the proxy (and the dashboard)."""
    # Start-up (the server stack's import above all) makes many objects and frees few: the
    # collector's passes over them were ~5% of the time to the first answer. It runs again once
    # the server listens (see _serve).
    gc.disable()
    try:
        config = load_config(cwd=Path.cwd(), config_path=config_path, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    _setup_logging()
    _serve(config, open_browser)


tapes.add_command(tapes_diff)
tapes.add_command(tapes_resend)
cli.add_command(tapes)
cli.add_command(history)


def main() -> None:
    """Entry point: usage errors are one line and exit status 2."""
    try:
        code = cli.main(prog_name="playingpack", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"playingpack: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"playingpack: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


class _Lines:
    """Terminal lines of finished calls, written together once the loop has run what is ready.

    A write per line was the largest cost of a replay under load (stdout is often unbuffered,
    e.g. with PYTHONUNBUFFERED, or flushed per line).
    """

    def __init__(self, loop: AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[str] = []

    def add(self, line: str) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        if self._pending:
            text = "\n".join(self._pending) + "\n"
            self._pending.clear()
            sys.stdout.write(text)
            sys.stdout.flush()


def _setup_logging() -> None:
    """Flow lines to stdout as they finish; warnings and errors to stderr, prefixed. aiohttp's
    and asyncio's warnings go the same way; every record has its secrets masked."""
    from playingpack.logs import SECRET_FILTER, guard_loggers

    lines = logging.StreamHandler(sys.stdout)
    lines.addFilter(lambda record: record.levelno < logging.WARNING)
    lines.setFormatter(logging.Formatter("%(message)s"))
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    problems.setFormatter(_LevelFormatter())
    # On the handlers too, for loggers created after guard_loggers() ran.
    for handler in (lines, problems):
        handler.addFilter(SECRET_FILTER)
    root = logging.getLogger("playingpack")
    root.handlers[:] = [lines, problems]
    root.setLevel(logging.INFO)
    root.propagate = False
    for name in ("aiohttp", "asyncio"):
        other = logging.getLogger(name)
        other.handlers[:] = [problems]
        other.propagate = False
    guard_loggers()


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().format(record)}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def banner(config: Config, url: str, dashboard_url: str) -> str:
    """What `start` prints once it listens on `url`: where to point the agent, and the modes."""
    dashboard = "off (--no-ui)" if config.headless else dashboard_url
    lines = [
        f"playingpack {__version__} listening on {url}",
        f"  base_url   {url}/v1",
        f"  dashboard  {dashboard}",
        f"  upstream   {config.upstream}",
    ]
    anthropic = anthropic_upstream_of(config)
    if anthropic != config.upstream:
        lines.append(f"  anthropic  {anthropic}")
    gemini = gemini_upstream_of(config)
    if gemini != config.upstream:
        lines.append(f"  gemini     {gemini}")
    lines.append(f"  ollama     {config.ollama_upstream}")
    lines += [
        f"  tapes      {shown_path(config.tapes_dir)}",
        f"  logs       {shown_path(config.logs_dir)}",
        f"  record     {config.record.value}{'   sequence' if config.sequence else ''}   "
        f"pause {_held(config)}   "
        f"replay timing {config.replay_timing.value}",
    ]
    return "\n".join(lines)


def _held(config: Config) -> str:
    """What is held, e.g. "tool-calls + requests (held calls released after 300 s)", or "off"."""
    held = [config.pause.value] if config.pause is not PauseMode.OFF else []
    if config.pause_requests:
        held.append("requests")
    if not held:
        return "off"
    seconds = config.hold_timeout
    shown = str(int(seconds)) if seconds.is_integer() else str(seconds)
    return f"{' + '.join(held)} (held calls released after {shown} s)"


def _serve(config: Config, open_browser: bool) -> None:
    import asyncio
    import signal

    from playingpack.app import FLOWS, start_server
    from playingpack.connections import raise_fd_limit
    from playingpack.serving import run_loop

    raise_fd_limit()

    async def run() -> None:
        lines = _Lines(asyncio.get_running_loop())
        try:
            server = await start_server(config, echo=lines.add)
            # What start-up made lives as long as the process: out of the collector's sight,
            # a full collection walks only what calls make (it took tens of ms, the p99).
            gc.freeze()
            gc.enable()
            # The history writer's thread holds the interpreter while it builds rows: past
            # 0.5 ms (not the default 5) it hands it back to the calls' event loop.
            sys.setswitchinterval(0.0005)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"{config.host}:{config.port} is already in use; pick another port with "
                    "--port (or stop the other process)."
                ) from None
            raise click.ClickException(
                f"cannot listen on {config.host}:{config.port}: {exc}"
            ) from None
        click.echo(banner(config, server.url, server.dashboard_url))
        if not _is_loopback(config.host):
            click.echo(
                f"warning: bound to {config.host}, a non-loopback address: anyone who can reach "
                "this machine can use the proxy and the API keys sent through it.",
                err=True,
            )
        if open_browser and not config.headless:
            import webbrowser

            webbrowser.open(server.dashboard_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            await server.stop()
            lines.flush()
            flows = server.runner.app[FLOWS]
            # Once stopped, no call can still finish and change the totals.
            click.echo(f"playingpack: run {flows.run}: {flows.spend.line()}")
            click.echo("playingpack: stopped")

    run_loop(run())
