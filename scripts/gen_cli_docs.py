"""The CLI page of the docs, from the click commands of ``playingpack.cli``.

``PAGE`` is the page and ``render()`` its text; `scripts/gen_docs.py` prints or writes it.
Each command's text is what its ``--help`` prints; tests/test_docs.py fails when the page is out
of step with the commands.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import click

from playingpack.cli import cli

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"

INTRO = """\
# CLI

Generated from the click commands by `scripts/gen_cli_docs.py`; do not edit by hand. Each
command's options are what its `--help` (or `-h`) prints.

`python -m playingpack` is the same command as `playingpack`. Settings given as options win over
the environment and the config file (see [Configuration](configuration.md)). An invalid value
exits with status 2 and one line naming the option and the allowed values. The record modes are
described in [Tapes and record modes](../guides/tapes.md#record-modes), the pause setting in
[The dashboard and holding](../guides/dashboard.md#which-calls-are-held), and the `tapes`
commands, with examples, in [Managing tapes](../guides/tapes.md#managing-tapes).
"""


def _commands(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """``command`` and every command under it, depth first, in the order they were added."""
    yield command, ctx
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section(command: click.Command, ctx: click.Context) -> list[str]:
    lines = [f"## `{ctx.command_path}`", ""]
    if command.help:
        lines += [inspect.cleandoc(command.help), ""]
    usage = command.collect_usage_pieces(ctx)
    lines += ["```text", " ".join([ctx.command_path, *usage]), "```", ""]
    records = [param.get_help_record(ctx) for param in command.get_params(ctx)]
    lines += ["| option | meaning |", "|---|---|"]
    for record in records:
        if record is not None:
            name, help_text = record
            lines.append(f"| `{_cell(name)}` | {_cell(help_text)} |")
    return [*lines, ""]


def render() -> str:
    """The Markdown page of every `playingpack` command."""
    root = click.Context(cli, info_name="playingpack")
    lines = [INTRO]
    for command, ctx in _commands(cli, root):
        lines += _section(command, ctx)
    return "\n".join(lines).rstrip("\n") + "\n"
