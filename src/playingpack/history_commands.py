"""`playingpack history`: list, show, export and prune the calls kept in the history database.

The commands open the file directly (list, show and export read only), so they work with or
without a server running on it. The file is found as `start` finds it: --history, else the
config, else `.playingpack/history.db` under the working folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from playingpack.config_loading import load_config
from playingpack.errors import ConfigError
from playingpack.flows import Source, State
from playingpack.tape_commands import shown_path

_F = TypeVar("_F", bound=Callable[..., Any])


def _location(command: _F) -> _F:
    command = click.option(
        "--config", "config_path", type=click.Path(path_type=Path), help="Config file to use."
    )(command)
    return click.option(
        "--history",
        "history_path",
        type=click.Path(path_type=Path),
        help="The history database.  [default: from the config, else .playingpack/history.db]",
    )(command)


def _filters(command: _F) -> _F:
    options = [
        click.option("-s", "--search", help="Words of the messages, answer, tools, model or path."),
        click.option("--run", help="Only this run's calls (see `history list --runs`)."),
        click.option("--model", help="Only calls for this model."),
        click.option(
            "--state",
            type=click.Choice([State.COMPLETE.value, State.ERROR.value]),
            help="Only calls that ended so.",
        ),
        click.option(
            "--source",
            type=click.Choice([s.value for s in Source]),
            help="Only calls answered from it.",
        ),
        click.option("--tool", help="Only calls whose answer called this tool."),
        click.option("--scope", help="Only calls of this per-test tapes folder."),
        click.option("--since", help="Only calls started at or after (ISO-8601)."),
        click.option("--until", help="Only calls started before (ISO-8601)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def history() -> None:
    """List, show, export and prune the calls kept in the history database."""


@history.command("list")
@_location
@_filters
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per call, per line.")
@click.option("--runs", is_flag=True, help="List the runs instead of their calls.")
def history_list(limit: int, as_json: bool, runs: bool, **given: Any) -> None:
    """List calls, newest first (or runs, with --runs)."""
    from playingpack.history_queries import run_totals

    with closing(_open(given)) as db:
        if runs:
            found = run_totals(db)
            if as_json:
                for run in found:
                    click.echo(json.dumps(run))
                return
            click.echo(_run_table(found))
            return
        flows = [json.loads(blob) for blob in _listed(db, given, limit=limit)]
    if as_json:
        for flow in flows:
            click.echo(json.dumps(flow))
        return
    click.echo(_flow_table(flows) if flows else "no calls match")


@history.command("show")
@_location
@click.argument("flow_id", metavar="ID")
def history_show(flow_id: str, **given: Any) -> None:
    """Show one call: its request, answer text, tool calls, usage, cost and timing."""
    from playingpack.history import decode_detail
    from playingpack.history_queries import find_detail

    with closing(_open(given)) as db:
        blob = find_detail(db, flow_id)
    if blob is None:
        raise click.ClickException(f"no call {flow_id!r} in the history; `history list` shows them")
    click.echo(_format_call(decode_detail(blob)))


@history.command("export")
@_location
@_filters
@click.option("--format", "kind", type=click.Choice(["jsonl", "har"]), default="jsonl")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (default: stdout).")
def history_export(kind: str, output: Path | None, **given: Any) -> None:
    """Export calls in full (oldest first), as JSON lines or as a HAR file."""
    from playingpack.har import har_of_details
    from playingpack.history import decode_detail

    with closing(_open(given)) as db:
        details = [decode_detail(blob) for blob in reversed(_details(db, given))]
    if kind == "har":
        text = json.dumps(har_of_details(details, "http://playingpack"), indent=1) + "\n"
    else:
        text = "".join(json.dumps(detail) + "\n" for detail in details)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        click.echo(f"wrote {len(details)} calls to {shown_path(output)}", err=True)


@history.command("prune")
@_location
@click.option("--keep", help="Keep the newest N calls, or the last N days (Nd).")
@click.option("--run", help="Delete this run's calls.")
@click.option("--all", "everything", is_flag=True, help="Delete every call.")
@click.option("--dry-run", is_flag=True, help="Say how many calls would go; delete nothing.")
def history_prune(
    keep: str | None, run: str | None, everything: bool, dry_run: bool, **given: Any
) -> None:
    """Delete calls from the history (exactly one of --keep, --run, --all)."""
    from playingpack.config_checks import BadValue, keep_of, parse_keep
    from playingpack.history_queries import Prune, prune

    if sum(choice is not None and choice is not False for choice in (keep, run, everything)) != 1:
        raise click.UsageError("give exactly one of --keep N|Nd, --run ID or --all")
    rule = Prune(run=run, everything=everything)
    if keep is not None:
        try:
            calls, days = keep_of(parse_keep(keep, True))
        except BadValue as exc:
            raise click.BadParameter(f"--keep {exc}") from None
        rule = Prune(keep_calls=calls, keep_days=days)
    with closing(_open(given, write=True)) as db:
        count = prune(db, rule, dry_run=dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {count} call{'s' * (count != 1)}")


# --- helpers --------------------------------------------------------------------------------


def _open(given: dict[str, Any], *, write: bool = False) -> sqlite3.Connection:
    """The history file named by --history or the config; a clear error when it is missing,
    corrupt or newer than this playingpack."""
    from playingpack.history import connect
    from playingpack.history_schema import SCHEMA, schema_of

    path = given.get("history_path")
    try:
        config = load_config(
            cwd=Path.cwd(),
            config_path=given.get("config_path"),
            env=os.environ,
            flags={"history": path},
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if config.history is None:
        raise click.UsageError("history is off in the config; give --history PATH")
    path = config.history
    if not path.is_file():
        raise click.ClickException(
            f"no history at {shown_path(path)}: playingpack writes it as it serves calls "
            "(see --history)"
        )
    try:
        db = connect(path, read_only=not write)
        found = schema_of(db)
    except sqlite3.Error as exc:
        raise click.ClickException(
            f"{shown_path(path)} is not a readable history database ({exc}); move it away "
            "and playingpack starts a new one"
        ) from None
    if found == 0 or found > SCHEMA:
        db.close()
        why = "is not a playingpack history" if found == 0 else f"has schema {found}, newer"
        raise click.ClickException(f"{shown_path(path)} {why}; upgrade playingpack or move it")
    return db


def _query(given: dict[str, Any], limit: int) -> Any:
    from playingpack.history_queries import FlowQuery

    return FlowQuery(
        q=given.get("search"),
        model=given.get("model"),
        source=given.get("source"),
        state=given.get("state"),
        tool=given.get("tool"),
        scope=given.get("scope"),
        run=given.get("run"),
        since=_moment(given.get("since"), "--since"),
        until=_moment(given.get("until"), "--until"),
        limit=limit,
    )


def _listed(db: sqlite3.Connection, given: dict[str, Any], *, limit: int) -> list[bytes]:
    from playingpack.history_queries import find_flows

    return [blob for _, _, blob in find_flows(db, _query(given, limit), bodies=False).flows]


def _details(db: sqlite3.Connection, given: dict[str, Any]) -> list[bytes]:
    """Every matching call's stored detail, newest first, a page at a time."""
    import dataclasses

    from playingpack.history_queries import find_detail, find_flows

    query = _query(given, 5000)
    found: list[bytes] = []
    while True:
        page = find_flows(db, query, bodies=False)
        found += [blob for _, flow_id, _ in page.flows if (blob := find_detail(db, flow_id))]
        if page.next is None:
            return found
        query = dataclasses.replace(query, before=page.next)


def _moment(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{option} must be an ISO-8601 time, got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _flow_table(flows: list[dict[str, Any]]) -> str:
    rows = [("ID", "STARTED", "MODEL", "SOURCE", "STATE", "MS", "TOKENS", "COST", "TOOLS")]
    for flow in flows:
        usage = flow.get("usage")
        rows.append(
            (
                flow["id"],
                flow["started_at"][:19].replace("T", " "),
                flow.get("model") or "-",
                flow.get("source") or "-",
                flow["state"],
                f"{flow['duration_ms']:.0f}" if flow.get("duration_ms") is not None else "-",
                str(usage["total_tokens"]) if usage else "-",
                _dollars(flow.get("cost")),
                " ".join(call["name"] for call in flow.get("tool_calls") or []) or "-",
            )
        )
    return "\n".join(_aligned(rows))


def _run_table(runs: list[dict[str, Any]]) -> str:
    from playingpack.flows import iso_time

    rows = [("RUN", "STARTED", "KIND", "CALLS", "ERRORS", "TOKENS", "COST", "LABEL")]
    for run in runs:
        rows.append(
            (
                run["id"],
                iso_time(run["started"])[:19].replace("T", " "),
                run["kind"],
                str(run["calls"]),
                str(run["errors"]),
                str(run["input_tokens"] + run["output_tokens"]),
                _dollars(run["cost"]),
                run["label"],
            )
        )
    return "\n".join(_aligned(rows)) if runs else "no runs"


def _aligned(rows: Sequence[tuple[str, ...]]) -> Iterator[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def _dollars(amount: float | None) -> str:
    from playingpack.pricing import dollars

    return dollars(amount)


def _format_call(detail: dict[str, Any]) -> str:
    usage = detail.get("usage")
    phases = detail.get("phases")
    lines = [
        f"call      {detail['id']} (run {detail['run']})",
        f"endpoint  {detail['method']} {detail['path']}",
        f"model     {detail.get('model') or '-'}",
        f"answered  {detail.get('source') or '-'}, {detail['state']}, status "
        f"{detail.get('status') or '-'}",
        f"started   {detail['started_at']}, took {detail.get('duration_ms') or 0:.0f} ms",
    ]
    if phases:
        lines.append(
            "timing    "
            + ", ".join(f"{name.removesuffix('_ms')} {ms:.0f} ms" for name, ms in phases.items())
        )
    if usage:
        lines.append(
            f"usage     {usage['input_tokens']} in + {usage['output_tokens']} out = "
            f"{usage['total_tokens']} tokens (cached {usage.get('cached_input_tokens', 0)})"
        )
    lines.append(f"cost      {_dollars(detail.get('cost'))}")
    if detail.get("saved") is not None:
        lines.append(f"saved     {_dollars(detail['saved'])} (from a tape)")
    if detail.get("error"):
        lines.append(f"error     {detail['error']}")
    lines += ["", "Request"]
    conversation = detail.get("conversation")
    turns = conversation["turns"] if conversation else []
    for turn in turns:
        lines += _said(turn["role"], "\n".join(_part_text(part) for part in turn["parts"]))
    if not turns:
        lines.append(f"  {json.dumps(detail.get('request'))[:2000]}")
    lines += ["", "Answer"]
    if detail.get("text"):
        lines += _said("text", detail["text"])
    for call in detail.get("tool_calls") or []:
        arguments = call["arguments"]
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments, indent=2)
        lines.append(f"  tool call {call['name']} ({call['id']})")
        lines += ["    " + line for line in shown.splitlines()]
    if not detail.get("text") and not detail.get("tool_calls"):
        lines.append("  (no text and no tool calls)")
    return "\n".join(lines)


def _part_text(part: dict[str, Any]) -> str:
    kind = part.get("kind")
    if kind == "text":
        return str(part["text"])
    if kind == "tool_call":
        arguments = part.get("arguments")
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return f"→ {part['name']}({shown})"
    if kind == "tool_result":
        content = part.get("content")
        return f"← {part.get('id')}: {content if isinstance(content, str) else json.dumps(content)}"
    if kind == "image":
        return "[image]"
    return json.dumps(part.get("value"))[:500]


def _said(who: str, text: str) -> list[str]:
    head = f"  {who}: "
    lines = text.splitlines() or [""]
    return [head + lines[0], *(" " * len(head) + line for line in lines[1:])]
