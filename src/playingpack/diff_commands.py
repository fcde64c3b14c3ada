"""`playingpack tapes diff A B`: two tapes compared, as ``GET /api/diff`` compares two calls.

The diff is printed for reading (words removed and added marked, in colour on a terminal) or,
with ``--json``, as the API's DiffJSON. The exit status is diff(1)'s: 0 when both are the same,
1 when they differ, 2 when a tape cannot be found or read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playingpack.tape_commands import location_options, shown_path, tapes_config

if TYPE_CHECKING:
    from playingpack.diff import Side
    from playingpack.pricing import PriceBook
    from playingpack.providers import Provider
    from playingpack.wire_diff import (
        ChangeJSON,
        DiffJSON,
        DiffSideJSON,
        FloatPairJSON,
        IntPairJSON,
        ToolCallDiffJSON,
        WordJSON,
    )

_CONTEXT = 8  # words kept on each side of a change in a long run the two texts share
_VALUE = 200  # characters of a JSON value shown


class _Trouble(click.ClickException):
    """A tape that cannot be found or read: exit status 2, as diff(1) has for trouble."""

    exit_code = 2


@click.command("diff")
@location_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.argument("a")
@click.argument("b")
def tapes_diff(a: str, b: str, as_json: bool, **given: Path | None) -> None:
    """Compare two tapes: their requests and their answers.

    A and B are tapes as `tapes show` takes them (a hash, a prefix of it, a key) or paths to
    tape files. Shown: where the requests differ (JSON paths, texts word by word), the answers'
    text, tool calls (names, arguments by path), finish reason, status, token usage, cost and
    latency. Exit status 0 when both asked and answered the same, 1 when they differ, 2 when a
    tape cannot be found or read.
    """
    from playingpack.diff import diff, is_same
    from playingpack.pricing import PriceBook
    from playingpack.providers import builtin

    config = tapes_config(**given)
    providers = builtin()
    prices = PriceBook(config.prices)
    compared = diff(*(_side(ref, config.tapes_dir, providers, prices) for ref in (a, b)))
    if as_json:
        import msgspec

        click.echo(msgspec.json.format(msgspec.json.encode(compared), indent=2).decode())
    else:
        click.echo(format_diff(compared, color=_is_terminal()))
    if not is_same(compared):
        raise click.exceptions.Exit(1)


def _side(ref: str, tapes_dir: Path, providers: Sequence[Provider], prices: PriceBook) -> Side:
    """The tape ``ref`` names: a file, else a tape of the folder."""
    from playingpack import catalog
    from playingpack.diff import side_of_tape
    from playingpack.tape_files import find_tapes
    from playingpack.tapes import Tape

    path = Path(ref)
    if path.is_file():
        key = _key_of(path, tapes_dir)
    else:
        try:
            found = catalog.resolve(find_tapes(tapes_dir), ref)
        except ValueError as exc:
            raise _Trouble(str(exc)) from None
        if not found:
            raise _Trouble(
                f"no tape matches {ref!r} in {shown_path(tapes_dir)} and there is no such "
                "file; `playingpack tapes list` shows them"
            )
        path, key = found[0].path, found[0].key
    try:
        data = catalog.read_tape(path)
        tape = Tape.from_json(data)
    except ValueError as exc:
        raise _Trouble(f"{shown_path(path)} is not a readable tape: {exc}") from None
    return side_of_tape(key, tape, providers, prices, size=len(data))


def _key_of(path: Path, tapes_dir: Path) -> str:
    """A tape file's key when it is under the tapes folder, else its path as given."""
    try:
        inside = path.resolve().relative_to(tapes_dir.resolve())
    except (ValueError, OSError):
        return shown_path(path)
    return inside.with_suffix("").as_posix()


def _is_terminal() -> bool:
    return sys.stdout.isatty()


def format_diff(compared: DiffJSON, *, color: bool = False) -> str:
    """``compared`` for reading: a header naming both, then what differs."""
    lines = [_head("a", compared.a), _head("b", compared.b), "", "Request"]
    request = compared.request
    lines += [f"  {_change(change, color)}" for change in request.changes] or ["  same"]
    answer = compared.answer
    lines += ["", "Answer"]
    text = answer.text
    lines.append("  text: same" if text.same else f"  text: {_words(text.words, color)}")
    lines += [f"  {line}" for call in answer.tool_calls for line in _tool_call(call, color)]
    lines.append(f"  finish reason: {_pair(answer.finish_reason.a, answer.finish_reason.b)}")
    lines.append(f"  status: {_pair(answer.status.a, answer.status.b)}")
    usage = compared.usage
    lines += [
        "",
        f"Usage    input {_ints(usage.input_tokens)}, output {_ints(usage.output_tokens)}, "
        f"total {_ints(usage.total_tokens)}",
        f"Cost     {_cost(compared.cost)}",
        f"Latency  duration {_ms(compared.latency.duration_ms)}, "
        f"first byte {_ms(compared.latency.first_byte_ms)}",
    ]
    return "\n".join(lines)


def _head(name: str, side: DiffSideJSON) -> str:
    parts = [side.label, side.model or "-", side.path]
    if side.time:
        parts.append(side.time)
    if side.origin and side.origin != "recorded":
        parts.append(f"kept ({side.origin})")
    return f"{name}  " + "  ".join(parts)


def _change(change: ChangeJSON, color: bool) -> str:
    if change.op == "added":
        return f"{change.path}: added {_value(change.b)}"
    if change.op == "removed":
        return f"{change.path}: removed {_value(change.a)}"
    if change.words is not None:
        return f"{change.path}: {_words(change.words, color)}"
    return f"{change.path}: {_value(change.a)} → {_value(change.b)}"


def _tool_call(call: ToolCallDiffJSON, color: bool) -> list[str]:
    where = f"tool call {call.index}"
    if call.a is None or call.b is None:
        only, side = ("b", call.b) if call.a is None else ("a", call.a)
        assert side is not None
        return [f"{where}: only in {only}: {side.name} {_value(side.arguments)}"]
    if call.same:
        return [f"{where} {call.a.name}: same"]
    lines = [f"{where}: name {call.a.name} → {call.b.name}"] if call.name_changed else []
    name = call.b.name
    lines += [f"{where} {name}: {_change(change, color)}" for change in call.changes]
    return lines


def _words(runs: Sequence[WordJSON], color: bool) -> str:
    """Word runs, removed and added ones marked; long shared runs cut to their ends."""
    shown = []
    for index, run in enumerate(runs):
        if run.op == "same":
            shown.append(_shortened(run.text, first=index == 0, last=index == len(runs) - 1))
        elif color:
            shown.append(click.style(run.text, fg="red" if run.op == "removed" else "green"))
        else:
            shown.append(f"[-{run.text}-]" if run.op == "removed" else f"{{+{run.text}+}}")
    return "".join(shown).replace("\n", "\n    ")


def _shortened(text: str, *, first: bool, last: bool) -> str:
    from playingpack.words import words_of

    if first and last:
        return text
    words = words_of(text)
    head = [] if first else words[:_CONTEXT]
    tail = [] if last else words[-_CONTEXT:]
    if len(words) <= len(head) + len(tail) + 1:
        return text
    return "".join(head) + ("…" if last else "… ") + "".join(tail)


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE else text[: _VALUE - 1] + "…"


def _pair(a: Any, b: Any) -> str:
    shown_a, shown_b = ("-" if v is None else str(v) for v in (a, b))
    return shown_a if a == b else f"{shown_a} → {shown_b}"


def _ints(pair: IntPairJSON) -> str:
    return _pair(pair.a, pair.b)


def _cost(pair: FloatPairJSON) -> str:
    from playingpack.pricing import dollars

    return dollars(pair.a) if pair.same else f"{dollars(pair.a)} → {dollars(pair.b)}"


def _ms(pair: FloatPairJSON) -> str:
    shown_a, shown_b = ("-" if v is None else f"{v:.0f} ms" for v in (pair.a, pair.b))
    return shown_a if pair.same else f"{shown_a} → {shown_b}"
