"""The `playingpack` command; the only module that prints or sets up log handlers.

The server stack (aiohttp, uvloop) is imported inside the command so `--help` and `--version`
stay fast.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playingpack import __version__
from playingpack.config import (
    Config,
    PauseMode,
    RecordMode,
    ReplayTiming,
    anthropic_upstream_of,
    load_config,
)
from playingpack.errors import ConfigError

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from playingpack.app import Server


def _choices(kind: type[RecordMode] | type[PauseMode] | type[ReplayTiming]) -> click.Choice[str]:
    return click.Choice([member.value for member in kind])


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, "--version", prog_name="playingpack")
def cli() -> None:
    """Record, replay and debug LLM API calls through a local proxy."""


@cli.command()
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).  [default: 4747]",
)
@click.option("-h", "--host", help="Address to bind.  [default: 127.0.0.1]")
@click.option(
    "--no-ui",
    "headless",
    is_flag=True,
    default=None,
    help="Headless: API and proxy only, no dashboard.",
)
@click.option(
    "--upstream",
    help="Upstream API base URL, with or without /v1.  [default: https://api.openai.com]",
)
@click.option(
    "--anthropic-upstream",
    metavar="URL",
    help="Upstream for Anthropic Messages calls (those with an anthropic-version header).  "
    "[default: https://api.anthropic.com while --upstream is OpenAI's, else --upstream]",
)
@click.option(
    "--tapes-dir",
    type=click.Path(path_type=Path),
    help="Where tapes are stored.  [default: .playingpack/tapes]",
)
@click.option(
    "--logs-dir",
    type=click.Path(path_type=Path),
    help="Where request logs are written.  [default: .playingpack/logs]",
)
@click.option("--record", type=_choices(RecordMode), help="Record mode.  [default: auto]")
@click.option(
    "--pause",
    type=_choices(PauseMode),
    help="Which answers to hold for a decision (requests: see --pause-requests).  [default: off]",
)
@click.option(
    "--pause-requests",
    "pause_requests",
    is_flag=True,
    default=None,
    help="Also hold each call before it is sent upstream or looked up, to inspect or edit it.",
)
@click.option(
    "--hold-timeout",
    metavar="SECONDS",
    help="Seconds a held call waits for a decision before it is allowed.  [default: 300]",
)
@click.option(
    "--replay-timing",
    type=_choices(ReplayTiming),
    help="Replay with the recorded delays, or at once.  [default: original]",
)
@click.option(
    "--history",
    metavar="N",
    help="Recent calls kept in memory for the dashboard; all stay in the logs.  [default: 500]",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="Token the dashboard and its API require off loopback: 16+ characters of A-Z a-z 0-9 - _ "
    "(PLAYINGPACK_TOKEN keeps it out of the process list).  [default: generated at start]",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file to use instead of discovering one.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
def start(config_path: Path | None, open_browser: bool, **flags: Any) -> None:
    """Start the proxy (and the dashboard)."""
    try:
        config = load_config(cwd=Path.cwd(), config_path=config_path, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    _setup_logging()
    _serve(config, open_browser)


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
    """Flow lines to stdout as they finish; warnings and errors to stderr, prefixed."""
    lines = logging.StreamHandler(sys.stdout)
    lines.addFilter(lambda record: record.levelno < logging.WARNING)
    lines.setFormatter(logging.Formatter("%(message)s"))
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    problems.setFormatter(_LevelFormatter())
    root = logging.getLogger("playingpack")
    root.handlers[:] = [lines, problems]
    root.setLevel(logging.INFO)
    root.propagate = False


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


def _banner(config: Config, server: Server) -> str:
    url = server.url
    dashboard = "off (--no-ui)" if config.headless else server.dashboard_url
    lines = [
        f"playingpack {__version__} listening on {url}",
        f"  base_url   {url}/v1",
        f"  dashboard  {dashboard}",
        f"  upstream   {config.upstream}",
    ]
    anthropic = anthropic_upstream_of(config)
    if anthropic != config.upstream:
        lines.append(f"  anthropic  {anthropic}")
    lines += [
        f"  tapes      {_shown(config.tapes_dir)}",
        f"  logs       {_shown(config.logs_dir)}",
        f"  record     {config.record.value}   pause {_pause_shown(config)}   "
        f"replay timing {config.replay_timing.value}",
    ]
    return "\n".join(lines)


def _pause_shown(config: Config) -> str:
    """What is held, e.g. "tool-calls + requests (held calls released after 300 s)", or "off"."""
    held = [config.pause.value] if config.pause is not PauseMode.OFF else []
    if config.pause_requests:
        held.append("requests")
    if not held:
        return "off"
    seconds = config.hold_timeout
    shown = str(int(seconds)) if seconds.is_integer() else str(seconds)
    return f"{' + '.join(held)} (held calls released after {shown} s)"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _serve(config: Config, open_browser: bool) -> None:
    import asyncio
    import signal
    import webbrowser

    from playingpack.app import start_server

    async def run() -> None:
        lines = _Lines(asyncio.get_running_loop())
        try:
            server = await start_server(config, echo=lines.add)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"{config.host}:{config.port} is already in use; pick another port with "
                    "--port (or stop the other process)."
                ) from None
            raise click.ClickException(
                f"cannot listen on {config.host}:{config.port}: {exc}"
            ) from None
        click.echo(_banner(config, server))
        if not _is_loopback(config.host):
            click.echo(
                f"warning: bound to {config.host}, a non-loopback address: anyone who can reach "
                "this machine can use the proxy and the API keys sent through it.",
                err=True,
            )
        if open_browser and not config.headless:
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
            click.echo("playingpack: stopped")

    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())
