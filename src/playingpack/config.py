"""Settings: the table of them (SETTINGS), the Config value, and define_config().

Each setting is declared once, as a field of Config with its help and checks; SETTINGS is read
off those fields and everything else follows from it: config files, ``PLAYINGPACK_*`` variables
and load_config() (``config_loading``), the options of ``playingpack start``, the live settings
of the API and the docs' settings table. Adding a setting is adding a field (and using it).
"""

from __future__ import annotations

import enum
import functools
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from playingpack.config_checks import (
    BadValue,
    Parse,
    parse_bool,
    parse_enum,
    parse_history,
    parse_host,
    parse_integer,
    parse_keep,
    parse_number,
    parse_path,
    parse_token,
    parse_upstream,
    same_upstream,
)
from playingpack.errors import ConfigError
from playingpack.pricing import NO_PRICES, Prices, parse_prices


class RecordMode(enum.StrEnum):
    """When tapes are read and written."""

    AUTO = "auto"  # replay a tape if there is one, else forward and record
    OFF = "off"  # always forward; never read or write tapes
    REPLAY_ONLY = "replay-only"  # replay, and fail at once on a miss
    REFRESH = "refresh"  # always call the upstream and overwrite the tape, atomically


class PauseMode(enum.StrEnum):
    """Which answers the interceptor holds for a decision."""

    OFF = "off"
    TOOL_CALLS = "tool-calls"
    ALL = "all"


class ReplayTiming(enum.StrEnum):
    """Whether a replay keeps the recorded delays between chunks."""

    ORIGINAL = "original"
    INSTANT = "instant"


DEFAULT_UPSTREAM = "https://api.openai.com"
DEFAULT_ANTHROPIC_UPSTREAM = "https://api.anthropic.com"
DEFAULT_GEMINI_UPSTREAM = "https://generativelanguage.googleapis.com"
DEFAULT_OLLAMA_UPSTREAM = "http://localhost:11434"

# Upper bounds of the numeric settings: past them a value is a mistake, and some would break
# things further on (a hold deadline past year 9999 cannot be shown as a date).
MAX_HOLD_TIMEOUT = 86400.0  # a day
MAX_LIVE_WINDOW = 100_000
ENV_PREFIX = "PLAYINGPACK_"  # of every setting's environment variable


@dataclass(frozen=True)
class Setting:
    """One setting: how each source names it, how its values are checked, how it is documented."""

    name: str  # as in config files, define_config() and serve(), e.g. "hold_timeout"
    type: type[Any]  # of its value: str, int, float, bool, Path, or the StrEnum of its choices
    default: Any  # None where it is worked out at start (see default_text)
    help: str  # one sentence for --help, the docs and the API schema
    env: str  # the environment variable, e.g. "PLAYINGPACK_HOLD_TIMEOUT"
    flag: str  # the option of `playingpack start`, e.g. "--hold-timeout"
    parse: Parse = field(repr=False, compare=False)
    short: str | None = None  # the option's short form, e.g. "-p"
    # Numbers: the lowest and highest value allowed. Choices: the values, as users type them.
    bounds: tuple[float, float] | tuple[str, ...] | None = None
    open_min: bool = False  # the lowest bound itself is not allowed (hold_timeout > 0)
    rule: str | None = None  # for numbers: what is allowed, as "<name> must ..." goes on
    live: bool = False  # PATCH /api/settings can change it while the server runs
    metavar: str | None = None  # how --help names the option's value
    secret: bool = False  # never shown: not in a repr, not in an error message
    default_text: str | None = None  # the default in words, where it is not one value
    option: bool = True  # `playingpack start` has an option for it (a table has none)

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values of a setting with choices (record, pause, ...), else None."""
        if issubclass(self.type, enum.Enum):
            return typing.cast(tuple[str, ...], self.bounds)
        return None

    @property
    def camel(self) -> str:
        """Its key in the original tool's camelCase JSON configs, e.g. "holdTimeout"."""
        head, *rest = self.name.split("_")
        return head + "".join(word.title() for word in rest)

    @property
    def shown_default(self) -> str:
        """The default as --help and the docs show it, e.g. "300" or ".playingpack/tapes"."""
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


# --- the table ----------------------------------------------------------------------------------


def _row(
    help: str,
    *,
    parse: Parse | None = None,
    flag: str | None = None,
    short: str | None = None,
    bounds: tuple[float, float] | None = None,
    open_min: bool = False,
    rule: str | None = None,
    live: bool = False,
    metavar: str | None = None,
    default_text: str | None = None,
    option: bool = True,
) -> dict[str, functools.partial[Setting]]:
    """The metadata that makes a Config field one row of SETTINGS; what the field itself says
    (its name, type, default and whether it is shown in a repr) is filled in by _table()."""
    given: dict[str, Any] = {"flag": flag, "parse": parse, "bounds": bounds}
    row = functools.partial(
        Setting,
        help=help,
        short=short,
        open_min=open_min,
        rule=rule,
        live=live,
        metavar=metavar,
        default_text=default_text,
        option=option,
        **{key: value for key, value in given.items() if value is not None},
    )
    return {"setting": row}


@dataclass(frozen=True)
class Config:
    """The settings one proxy runs with; built by load_config(), which checks every field.

    Each field is one setting: its name, type and default, then its help and how it is given
    and checked (see Setting). A field kept out of the repr is a secret.
    """

    upstream: str = field(
        default=DEFAULT_UPSTREAM,
        metadata=_row(
            "Upstream API base URL, the base_url you would give the SDK, with or without /v1.",
            parse=parse_upstream,
            metavar="URL",
        ),
    )
    anthropic_upstream: str | None = field(
        default=None,
        metadata=_row(
            "Upstream for Anthropic Messages calls (those with an anthropic-version header).",
            parse=parse_upstream,
            metavar="URL",
            default_text="https://api.anthropic.com while upstream is OpenAI's, else upstream",
        ),
    )
    gemini_upstream: str | None = field(
        default=None,
        metadata=_row(
            "Upstream for Gemini API calls (/v1beta/models/<model>:<method>, and Vertex AI's "
            "paths).",
            parse=parse_upstream,
            metavar="URL",
            default_text=f"{DEFAULT_GEMINI_UPSTREAM} while upstream is OpenAI's, else upstream",
        ),
    )
    ollama_upstream: str = field(
        default=DEFAULT_OLLAMA_UPSTREAM,
        metadata=_row(
            "Upstream for Ollama's native API calls (/api/chat, /api/generate, /api/tags ...).",
            parse=parse_upstream,
            metavar="URL",
        ),
    )
    tapes_dir: Path = field(
        default=Path(".playingpack/tapes"), metadata=_row("Where tapes are stored.")
    )
    logs_dir: Path = field(
        default=Path(".playingpack/logs"), metadata=_row("Where request logs are written.")
    )
    record: RecordMode = field(
        default=RecordMode.AUTO,
        metadata=_row(
            "Record mode: auto replays a tape or records one, off never touches tapes, "
            "replay-only fails on a miss, refresh always calls the upstream and overwrites "
            "the tape.",
            live=True,
        ),
    )
    port: int = field(
        default=4747,
        metadata=_row(
            "Port to listen on (0: any free port).",
            short="-p",
            bounds=(0, 65535),
            rule="must be an integer from 0 to 65535 (0 picks a free port)",
            metavar="PORT",
        ),
    )
    host: str = field(
        default="127.0.0.1",
        metadata=_row("Address to bind.", parse=parse_host, short="-H", metavar="HOST"),
    )
    headless: bool = field(
        default=False,
        metadata=_row("Headless: API and proxy only, no dashboard.", flag="--no-ui"),
    )
    pause: PauseMode = field(
        default=PauseMode.OFF,
        metadata=_row(
            "Which answers to hold for a decision (requests: see pause_requests).", live=True
        ),
    )
    pause_requests: bool = field(
        default=False,
        metadata=_row(
            "Also hold each call before it is sent upstream or looked up, to inspect or edit it.",
            live=True,
        ),
    )
    sequence: bool = field(
        default=False,
        metadata=_row(
            "Replay repeated identical requests in order: the k-th identical request of a run "
            "(or of a test's tape folder) gets the k-th recording.",
            live=True,
        ),
    )
    hold_timeout: float = field(
        default=300.0,
        metadata=_row(
            "Seconds a held call waits for a decision before it is allowed.",
            bounds=(0, MAX_HOLD_TIMEOUT),
            open_min=True,
            rule=f"must be a number of seconds greater than 0 and at most {MAX_HOLD_TIMEOUT:g} "
            "(a day), such as 300 or 2.5",
            live=True,
            metavar="SECONDS",
        ),
    )
    replay_timing: ReplayTiming = field(
        default=ReplayTiming.ORIGINAL,
        metadata=_row("Replay with the recorded delays, or at once.", live=True),
    )
    history: Path | None = field(
        default=Path(".playingpack/history.db"),
        metadata=_row(
            "The history database every call is kept in (SQLite), or off.",
            parse=parse_history,
            metavar="PATH|off",
        ),
    )
    history_keep: str = field(
        default="50000",
        metadata=_row(
            "How much history to keep: a number of calls (50000) or of days (30d); older "
            "calls are pruned in the background.",
            parse=parse_keep,
            metavar="N|Nd",
        ),
    )
    live_window: int = field(
        default=500,
        metadata=_row(
            "Recent calls kept in memory for the live dashboard; all stay in the history.",
            bounds=(1, MAX_LIVE_WINDOW),
            rule=f"must be an integer of 1 or more, up to {MAX_LIVE_WINDOW} "
            "(how many recent calls are kept in memory)",
            metavar="N",
        ),
    )
    prices: Prices = field(
        default=NO_PRICES,
        metadata=_row(
            "Model prices that add to or override the shipped table: per model id (or id "
            "prefix), USD per million input, output, cached_input and cache_write tokens.",
            parse=parse_prices,
            option=False,
            metavar="TABLE",
            default_text="none (the shipped table)",
        ),
    )
    token: str | None = field(
        default=None,
        repr=False,
        metadata=_row(
            "Token the dashboard and its API require off loopback: 16+ characters of "
            "A-Z a-z 0-9 - _ (PLAYINGPACK_TOKEN keeps it out of the process list).",
            parse=parse_token,
            metavar="TOKEN",
            default_text="generated at start",
        ),
    )


def _value_type(hint: Any) -> type[Any]:
    """The type of a field's values: `str | None` gives str."""
    if isinstance(hint, types.UnionType):
        (kind,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return typing.cast(type[Any], kind)
    return typing.cast(type[Any], hint)


def _default_parse(row: functools.partial[Setting], kind: type[Any]) -> Parse:
    """The check a row gets from its type and bounds, where it names none of its own."""
    if issubclass(kind, enum.StrEnum):
        return parse_enum(kind)
    if kind is bool:
        return parse_bool
    if kind is Path:
        return parse_path
    low, high = row.keywords["bounds"]
    if kind is int:
        return parse_integer(low, high, row.keywords["rule"])
    return parse_number(low, high, row.keywords["open_min"], row.keywords["rule"])


def _table() -> tuple[Setting, ...]:
    hints = typing.get_type_hints(Config)
    rows = []
    for item in fields(Config):
        row: functools.partial[Setting] = item.metadata["setting"]
        kind = _value_type(hints[item.name])
        rows.append(
            row(
                name=item.name,
                type=kind,
                default=item.default,
                secret=not item.repr,
                env=ENV_PREFIX + item.name.upper(),
                flag=row.keywords.get("flag", "--" + item.name.replace("_", "-")),
                parse=row.keywords.get("parse") or _default_parse(row, kind),
                bounds=(
                    tuple(member.value for member in kind)
                    if issubclass(kind, enum.StrEnum)
                    else row.keywords.get("bounds")
                ),
            )
        )
    return tuple(rows)


SETTINGS: tuple[Setting, ...] = _table()
"""Every setting, in the order of Config's fields."""
SETTINGS_BY_NAME: Mapping[str, Setting] = {row.name: row for row in SETTINGS}
LIVE_SETTINGS: tuple[Setting, ...] = tuple(row for row in SETTINGS if row.live)
"""The settings PATCH /api/settings can change while the server runs."""


class ConfigFile:
    """The settings one source gives, already checked: only the keys it sets.

    Paths are kept as written; load_config() resolves relative ones against the file's directory.
    Read a setting as an attribute (None when not set), or all of them from ``values``.
    """

    def __init__(self, **values: object) -> None:
        unknown = sorted(set(values) - set(SETTINGS_BY_NAME))
        if unknown:
            raise TypeError(f"unknown settings {', '.join(unknown)}")
        self.values: dict[str, Any] = {k: v for k, v in values.items() if v is not None}

    def given(self) -> frozenset[str]:
        """Names of the keys that were set."""
        return frozenset(self.values)

    def __getattr__(self, name: str) -> object:
        if name in SETTINGS_BY_NAME:
            return self.values.get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigFile) and self.values == other.values

    @classmethod
    def checked(
        cls,
        raw: Mapping[str, object],
        *,
        label: Callable[[Setting], str],
        text: Callable[[object], bool],
    ) -> ConfigFile:
        """The settings of `raw` (name -> value; None is not set), each checked.

        `label(setting)` names where the value came from, `text(value)` whether it arrived as
        text to interpret. Raises ConfigError naming the source, the key and what is allowed.
        """
        values: dict[str, object] = {}
        for row in SETTINGS:
            value = raw.get(row.name)
            if value is None:
                continue
            try:
                values[row.name] = row.parse(value, text(value))
            except BadValue as exc:
                got = _show(value) if exc.found is None else exc.found
                raise ConfigError(f"{label(row)}: {row.name} {exc} (got {got})") from None
        return cls(**values)

    def __repr__(self) -> str:
        shown = (f"{k}={v!r}" for k, v in self.values.items() if not SETTINGS_BY_NAME[k].secret)
        return f"ConfigFile({', '.join(shown)})"


def _show(value: object) -> str:
    """The offending value as it goes in a one-line message."""
    return repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."


def define_config(
    *,
    upstream: str | None = None,
    anthropic_upstream: str | None = None,
    gemini_upstream: str | None = None,
    ollama_upstream: str | None = None,
    tapes_dir: str | os.PathLike[str] | None = None,
    logs_dir: str | os.PathLike[str] | None = None,
    record: str | RecordMode | None = None,
    port: int | None = None,
    host: str | None = None,
    headless: bool | None = None,
    pause: str | PauseMode | None = None,
    pause_requests: bool | None = None,
    sequence: bool | None = None,
    hold_timeout: float | None = None,
    replay_timing: str | ReplayTiming | None = None,
    history: str | os.PathLike[str] | None = None,
    history_keep: str | int | None = None,
    live_window: int | None = None,
    prices: Mapping[str, Mapping[str, float]] | None = None,
    token: str | None = None,
) -> ConfigFile:
    """Settings for a ``playingpack.config.py`` file, which must assign the result to ``config``.

    Each given value is checked now, so a mistake fails at the line that made it (ConfigError).
    Keys left out (or None) are not set: they fall through to the defaults, and the environment
    and flags still override the ones that are set.
    """
    # Spelled out, not **settings, so editors complete and type-check them; a test keeps the
    # parameters equal to SETTINGS. Nothing else is local yet, so locals() holds just them.
    return ConfigFile.checked(
        dict(locals()), label=lambda row: "define_config()", text=lambda value: False
    )


# --- derived settings ---------------------------------------------------------------------------


def gemini_upstream_of(config: Config) -> str:
    """Where Gemini API calls go: ``gemini_upstream`` when set; otherwise Google's API while
    ``upstream`` is OpenAI's default, else ``upstream`` itself (a gateway serving both)."""
    if config.gemini_upstream is not None:
        return config.gemini_upstream
    if same_upstream(config.upstream, DEFAULT_UPSTREAM):
        return DEFAULT_GEMINI_UPSTREAM
    return config.upstream


def anthropic_upstream_of(config: Config) -> str:
    """Where Anthropic Messages calls (those with an ``anthropic-version`` header) go:
    ``anthropic_upstream`` when set; otherwise Anthropic's API while ``upstream`` is OpenAI's
    default, else ``upstream`` itself (a gateway such as LiteLLM that serves both formats)."""
    if config.anthropic_upstream is not None:
        return config.anthropic_upstream
    if same_upstream(config.upstream, DEFAULT_UPSTREAM):
        return DEFAULT_ANTHROPIC_UPSTREAM
    return config.upstream
