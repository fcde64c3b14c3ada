"""The settings page of the docs, from the settings table, ``playingpack.config.SETTINGS``.

``PAGE`` is the page and ``render()`` its text; `scripts/gen_docs.py` prints or writes it.
tests/test_docs.py fails when the page is out of step with the table.
"""

from __future__ import annotations

from pathlib import Path

from playingpack.config import SETTINGS, Setting

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "settings.md"

INTRO = """\
# Settings

Generated from the settings table (`playingpack.config.SETTINGS`) by
`scripts/gen_settings_docs.py`; do not edit by hand. Where each setting can be given, and which
source wins, is in [Configuration](configuration.md).

Each setting has one name, used in config files, by `define_config()` and by
`playingpack.serve()`; JSON config files also take it in camelCase (`holdTimeout`). *Live*
settings can also be changed while playingpack runs, from the dashboard or with
`PATCH /api/settings`.
"""


def flag(row: Setting) -> str:
    """The option of `playingpack start`, with its short form: ``-p, --port``."""
    if not row.option:
        return "none (a table: in a config file, or as JSON in the environment)"
    return f"{row.short}, {row.flag}" if row.short else row.flag


def default(row: Setting) -> str:
    """The default as a value in code, or in words where it is worked out at start."""
    return row.default_text if row.default_text is not None else f"`{row.shown_default}`"


def values(row: Setting) -> str | None:
    """What a setting accepts, in words; None where its help says it."""
    if row.choices is not None:
        return " or ".join(f"`{choice}`" for choice in row.choices)
    if row.type is bool:
        return "`true` or `false` (in the environment also `1`/`0`, `yes`/`no`)"
    if row.type in (int, float) and isinstance(row.bounds, tuple):
        low, high = row.bounds
        kind = "an integer" if row.type is int else "a number"
        if row.open_min:
            return f"{kind} greater than {low:g} and at most {high:g}"
        return f"{kind} from {low:g} to {high:g}"
    if row.type is Path:
        what = "a file" if row.name == "history" else "a folder"
        return f"{what} (relative paths in a config file are relative to the file)"
    return None


def _code(text: str) -> str:
    return f"`{text}`" if text.startswith("-") else text


def _summary() -> list[str]:
    lines = ["| setting | default | environment | flag | live |", "|---|---|---|---|---|"]
    for row in SETTINGS:
        live = "yes" if row.live else "no"
        cells = [f"`{row.name}`", default(row), f"`{row.env}`", _code(flag(row))]
        lines.append("| " + " | ".join([*cells, live]) + " |")
    return lines


def _section(row: Setting) -> list[str]:
    accepted = values(row)
    return [
        f"## `{row.name}`",
        "",
        row.help,
        "",
        *([f"- values: {accepted}"] if accepted else []),
        f"- default: {default(row)}",
        f"- environment: `{row.env}`",
        f"- flag: {_code(flag(row))}",
        f"- changes live: {'yes' if row.live else 'no'}",
        "",
    ]


def render() -> str:
    """The Markdown page of the settings table."""
    lines = [INTRO, *_summary(), ""]
    for row in SETTINGS:
        lines += _section(row)
    return "\n".join(lines).rstrip("\n") + "\n"
