"""The `playingpack` command; the only module that prints or sets up log handlers.

The server stack (aiohttp, uvloop) is imported inside the command so `--help` and `--version`
stay fast.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
@click.option(
    "--record",
    type=_choices(RecordMode),
    help="Record mode: auto replays a tape or records one, off never touches tapes, replay-only "
    "fails on a miss, refresh always calls the upstream and overwrites the tape.  "
    "[default: auto]",
)
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
    "--sequence",
    "sequence",
    is_flag=True,
    default=None,
    help="Replay repeated identical requests in order: the k-th identical request of a run (or "
    "of a test's tape folder) gets the k-th recording.",
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


# --- playingpack tapes ---------------------------------------------------------------------------

_F = TypeVar("_F", bound=Callable[..., Any])


def _location_options(command: _F) -> _F:
    """--tapes-dir, --logs-dir and --config, taken by `tapes` and by each of its commands."""
    options = [
        click.option(
            "--tapes-dir",
            type=click.Path(path_type=Path),
            help="Where tapes are stored.  [default: from the config, else .playingpack/tapes]",
        ),
        click.option(
            "--logs-dir",
            type=click.Path(path_type=Path),
            help="Where the logs and usage.json of the last run are.  "
            "[default: from the config, else .playingpack/logs]",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            help="Config file to use instead of discovering one.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _tapes_config(**given: Path | None) -> Config:
    """The Config as `start` would load it, with the locations given to `tapes` or to the
    command (the command's win)."""
    ctx = click.get_current_context()
    chosen = {**(ctx.obj or {}), **{k: v for k, v in given.items() if v is not None}}
    flags = {key: chosen.get(key) for key in ("tapes_dir", "logs_dir")}
    try:
        return load_config(
            cwd=Path.cwd(), config_path=chosen.get("config_path"), env=os.environ, flags=flags
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@cli.group()
@_location_options
@click.pass_context
def tapes(ctx: click.Context, /, **given: Path | None) -> None:
    """List, show, delete, check and prune recorded tapes.

    A tape is named by its hash, a unique prefix of it (6+ hex digits) or its id: its path under
    the tapes folder without .json (test_foo/3ff33a93..., 3ff33a93....2 for the 2nd recording
    of a repeated request).
    """
    ctx.obj = {key: value for key, value in given.items() if value is not None}


@tapes.command("list")
@_location_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array with every field.")
def tapes_list(as_json: bool, **given: Path | None) -> None:
    """List tapes, the most recently recorded first."""
    from playingpack import catalog

    config = _tapes_config(**given)
    rows = catalog.list_tapes(config.tapes_dir)
    if as_json:
        click.echo(json.dumps([row.to_json() for row in rows], indent=2, ensure_ascii=False))
    elif not rows:
        missing = "" if config.tapes_dir.is_dir() else " (the folder does not exist)"
        click.echo(f"no tapes in {_shown(config.tapes_dir)}{missing}")
    else:
        click.echo(catalog.format_list(rows))


@tapes.command("show")
@_location_options
@click.option("--raw", is_flag=True, help="Print the tape file as it is.")
@click.argument("tape")
def tapes_show(tape: str, raw: bool, **given: Path | None) -> None:
    """Show a tape's request and answer.

    The request: its messages, tools offered and settings. The answer: its text, tool calls with
    their arguments, and token usage.
    """
    from playingpack import catalog

    config = _tapes_config(**given)
    try:
        found = catalog.resolve(catalog.find_tapes(config.tapes_dir), tape)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not found:
        raise click.ClickException(
            f"no tape matches {tape!r} in {_shown(config.tapes_dir)}; "
            "`playingpack tapes list` shows them"
        )
    if raw:
        from playingpack.errors import TapeError
        from playingpack.store import read_file

        try:
            sys.stdout.buffer.write(read_file(found[0].path)[0])
        except (TapeError, OSError) as exc:
            raise click.ClickException(f"cannot read {_shown(found[0].path)}: {exc}") from None
        return
    try:
        click.echo(catalog.format_tape(found[0], found[1:]))
    except ValueError as exc:
        raise click.ClickException(
            f"{_shown(found[0].path)} is not a readable tape: {exc}; --raw prints it as it is"
        ) from None


@tapes.command("rm")
@_location_options
@click.argument("tape", nargs=-1, required=True)
def tapes_rm(tape: tuple[str, ...], **given: Path | None) -> None:
    """Delete tapes (every recording of each request named)."""
    from playingpack import catalog

    config = _tapes_config(**given)
    try:
        removal = catalog.remove(config.tapes_dir, list(tape))
    except ValueError as exc:
        raise click.UsageError(f"{exc}\nnothing was deleted") from None
    for deleted in removal.deleted:
        click.echo(f"deleted {deleted.id}")
    for ref in removal.unknown:
        click.echo(f"playingpack: no tape matches {ref!r} in {_shown(config.tapes_dir)}", err=True)
    if removal.unknown:
        raise click.exceptions.Exit(1)


@tapes.command("verify")
@_location_options
def tapes_verify(**given: Path | None) -> None:
    """Check every tape's format, hash and secrets.

    Every *.json file must parse as a tape whose answer can be replayed, be named by the hash of
    its request as stored, and hold nothing that looks like an API key or a secret header. Exit
    status 1, with one line per problem, when any is found. Temporary files of tape writes are
    warnings (exit status 0).
    """
    from playingpack import catalog

    config = _tapes_config(**given)
    result = catalog.verify(config.tapes_dir)
    for warning in result.warnings:
        click.echo(f"warning: {_shown(warning.path)}: {warning.what}", err=True)
    for problem in result.problems:
        click.echo(f"{_shown(problem.path)}: {problem.what}")
    checked = f"{result.checked} tape file{'' if result.checked == 1 else 's'}"
    if result.problems:
        files = len({problem.path for problem in result.problems})
        click.echo(
            f"{len(result.problems)} problem{'' if len(result.problems) == 1 else 's'} in "
            f"{files} file{'' if files == 1 else 's'} ({checked} checked in "
            f"{_shown(config.tapes_dir)})",
            err=True,
        )
        raise click.exceptions.Exit(1)
    if not result.checked:
        click.echo(f"no tape files in {_shown(config.tapes_dir)}")
        return
    click.echo(f"{checked} in {_shown(config.tapes_dir)}: all parse, match their hash, no secrets")


@tapes.command("prune")
@_location_options
@click.option("--dry-run", is_flag=True, help="Only list the tapes that would be deleted.")
def tapes_prune(dry_run: bool, **given: Path | None) -> None:
    """Delete the tapes the last run did not use.

    Which tapes a run used is read from <logs-dir>/usage.json, written when playingpack stops.
    """
    from playingpack import catalog

    config = _tapes_config(**given)
    try:
        last_run = catalog.read_last_run(config.logs_dir, config.tapes_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = catalog.prune(config.tapes_dir, last_run, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for tape in result.deleted:
        click.echo(f"{verb} {tape.id}")
    for tape in result.newer:
        click.echo(f"kept {tape.id} (written after that run ended)")
    finished = last_run.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    summary = (
        f"{verb} {len(result.deleted)}, kept {len(result.kept)} used by the run that "
        f"finished {finished}"
    )
    if result.newer:
        summary += f", and {len(result.newer)} written after it ended"
    click.echo(summary)


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
        f"  record     {config.record.value}{'   sequence' if config.sequence else ''}   "
        f"pause {_pause_shown(config)}   "
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
