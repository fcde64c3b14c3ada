"""`playingpack tapes`: list, show, delete, check and prune the tapes of a folder.

Each command reads its folder as `start` would (flags, environment, config file); the bodies of
tapes are read only through the providers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from playingpack.config import SETTINGS_BY_NAME, Config
from playingpack.config_loading import load_config
from playingpack.errors import ConfigError

if TYPE_CHECKING:
    from playingpack.tape_files import TapeFile

_F = TypeVar("_F", bound=Callable[..., Any])


def location_options(command: _F) -> _F:
    """--tapes-dir, --logs-dir and --config, taken by `tapes` and by each of its commands."""
    tapes, logs = SETTINGS_BY_NAME["tapes_dir"], SETTINGS_BY_NAME["logs_dir"]
    options = [
        click.option(
            tapes.flag,
            tapes.name,
            type=click.Path(path_type=Path),
            help=f"{tapes.help}  [default: from the config, else {tapes.shown_default}]",
        ),
        click.option(
            logs.flag,
            logs.name,
            type=click.Path(path_type=Path),
            help="Where the logs and usage.json of the last run are.  "
            f"[default: from the config, else {logs.shown_default}]",
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


def tapes_config(**given: Path | None) -> Config:
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


@click.group()
@location_options
@click.pass_context
def tapes(ctx: click.Context, /, **given: Path | None) -> None:
    """List, show, compare, resend, delete, check and prune recorded tapes.

    A tape is named by its hash, a unique prefix of it (6+ hex digits) or its key: its path under
    the tapes folder without .json (test_foo/3ff33a93..., 3ff33a93....2 for the 2nd recording
    of a repeated request).
    """
    ctx.obj = {key: value for key, value in given.items() if value is not None}


@tapes.command("list")
@location_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array with every field.")
def tapes_list(as_json: bool, **given: Path | None) -> None:
    """List tapes, the most recently recorded first."""
    from playingpack import tape_views
    from playingpack.providers import builtin

    config = tapes_config(**given)
    rows = tape_views.list_tapes(config.tapes_dir, builtin())
    if as_json:
        click.echo(tape_views.format_json(rows))
    elif not rows:
        missing = "" if config.tapes_dir.is_dir() else " (the folder does not exist)"
        click.echo(f"no tapes in {shown_path(config.tapes_dir)}{missing}")
    else:
        click.echo(tape_views.format_list(rows))


@tapes.command("show")
@location_options
@click.option("--raw", is_flag=True, help="Print the tape file as it is.")
@click.argument("tape")
def tapes_show(tape: str, raw: bool, **given: Path | None) -> None:
    """Show a tape's request and answer.

    The request: its messages, tools offered and settings. The answer: its text, tool calls with
    their arguments, and token usage.
    """
    from playingpack import tape_views
    from playingpack.providers import builtin

    config = tapes_config(**given)
    found = resolved(config.tapes_dir, tape)
    if raw:
        from playingpack.errors import TapeError
        from playingpack.store import read_file

        try:
            sys.stdout.buffer.write(read_file(found[0].path)[0])
        except (TapeError, OSError) as exc:
            raise click.ClickException(f"cannot read {shown_path(found[0].path)}: {exc}") from None
        return
    try:
        click.echo(tape_views.format_tape(found[0], builtin(), found[1:]))
    except ValueError as exc:
        raise click.ClickException(
            f"{shown_path(found[0].path)} is not a readable tape: {exc}; --raw prints it as it is"
        ) from None


@tapes.command("rm")
@location_options
@click.argument("tape", nargs=-1, required=True)
def tapes_rm(tape: tuple[str, ...], **given: Path | None) -> None:
    """Delete tapes (every recording of each request named)."""
    from playingpack import catalog

    config = tapes_config(**given)
    try:
        removal = catalog.remove(config.tapes_dir, list(tape))
    except ValueError as exc:
        raise click.UsageError(f"{exc}\nnothing was deleted") from None
    for deleted in removal.deleted:
        click.echo(f"deleted {deleted.key}")
    for ref in removal.unknown:
        click.echo(
            f"playingpack: no tape matches {ref!r} in {shown_path(config.tapes_dir)}", err=True
        )
    if removal.unknown:
        raise click.exceptions.Exit(1)


@tapes.command("verify")
@location_options
@click.option(
    "--full",
    is_flag=True,
    help="Check every file again, not only those changed since the last verify.",
)
def tapes_verify(full: bool, **given: Path | None) -> None:
    """Check every tape's format, hash and secrets.

    Every *.json file must parse as a tape whose answer can be replayed, be named by the hash of
    its request as stored, and hold nothing that looks like an API key or a secret header. Exit
    status 1, with one line per problem, when any is found. Temporary files of tape writes are
    warnings (exit status 0). What was found in a file is remembered (in the tape index) and
    reused while the file is unchanged; --full checks every file again.
    """
    from playingpack import catalog
    from playingpack.providers import builtin

    config = tapes_config(**given)
    with _progress("checking tapes") as progress:
        result = catalog.verify(config.tapes_dir, builtin(), full=full, progress=progress)
    for warning in result.warnings:
        click.echo(f"warning: {shown_path(warning.path)}: {warning.what}", err=True)
    for problem in result.problems:
        click.echo(f"{shown_path(problem.path)}: {problem.what}")
    checked = f"{result.checked} tape file{'' if result.checked == 1 else 's'}"
    if result.problems:
        files = len({problem.path for problem in result.problems})
        click.echo(
            f"{len(result.problems)} problem{'' if len(result.problems) == 1 else 's'} in "
            f"{files} file{'' if files == 1 else 's'} ({checked} checked in "
            f"{shown_path(config.tapes_dir)})",
            err=True,
        )
        raise click.exceptions.Exit(1)
    if not result.checked:
        click.echo(f"no tape files in {shown_path(config.tapes_dir)}")
        return
    click.echo(
        f"{checked} in {shown_path(config.tapes_dir)}: all parse, match their hash, no secrets"
    )


@tapes.command("prune")
@location_options
@click.option("--dry-run", is_flag=True, help="Only list the tapes that would be deleted.")
def tapes_prune(dry_run: bool, **given: Path | None) -> None:
    """Delete the tapes the last run did not use.

    Which tapes a run used is read from <logs-dir>/usage.json, written when playingpack stops.
    """
    from playingpack import catalog
    from playingpack.ledger import read_last_run

    config = tapes_config(**given)
    try:
        last_run = read_last_run(config.logs_dir, config.tapes_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = catalog.prune(config.tapes_dir, last_run, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for tape in result.deleted:
        click.echo(f"{verb} {tape.key}")
    for tape in result.newer:
        click.echo(f"kept {tape.key} (written after that run ended)")
    finished = last_run.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    summary = (
        f"{verb} {len(result.deleted)}, kept {len(result.kept)} used by the run that "
        f"finished {finished}"
    )
    if result.newer:
        summary += f", and {len(result.newer)} written after it ended"
    click.echo(summary)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr, when it is a terminal (a CI log gets none); yields the
    callback that moves it, told (done, total)."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None

    def moved(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr).__enter__()
        bar.update(done - bar.pos)

    try:
        yield moved
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def resolved(tapes_dir: Path, tape: str) -> list[TapeFile]:
    """The recordings ``tape`` names in ``tapes_dir`` (see catalog.resolve), the first one
    named; raises a click error saying what matched nothing or too much."""
    from playingpack import catalog
    from playingpack.tape_files import find_tapes

    try:
        found = catalog.resolve(find_tapes(tapes_dir), tape)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not found:
        raise click.ClickException(
            f"no tape matches {tape!r} in {shown_path(tapes_dir)}; "
            "`playingpack tapes list` shows them"
        )
    return found


def shown_path(path: Path) -> str:
    """``path`` as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
