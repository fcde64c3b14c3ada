"""Settings: the Config value, and how load_config() layers it from four sources.

Lowest first: defaults < the first config file found < ``PLAYINGPACK_*`` variables < command-line
flags. Each value is validated where it enters, so a ConfigError always names the file, variable or
flag it came from, the key, and what is allowed.
"""

from __future__ import annotations

import difflib
import enum
import json
import logging
import math
import os
import re
import runpy
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

from playingpack.errors import ConfigError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.StrEnum)


class RecordMode(enum.StrEnum):
    """When tapes are read and written (SPEC §6)."""

    AUTO = "auto"  # replay a tape if there is one, else forward and record
    OFF = "off"  # always forward; never read or write tapes
    REPLAY_ONLY = "replay-only"  # replay, and fail at once on a miss
    REFRESH = "refresh"  # always call the upstream and overwrite the tape, atomically


class PauseMode(enum.StrEnum):
    """Which answers the interceptor holds for a decision (SPEC §8)."""

    OFF = "off"
    TOOL_CALLS = "tool-calls"
    ALL = "all"


class ReplayTiming(enum.StrEnum):
    """Whether a replay keeps the recorded delays between chunks."""

    ORIGINAL = "original"
    INSTANT = "instant"


DEFAULT_UPSTREAM = "https://api.openai.com"
DEFAULT_ANTHROPIC_UPSTREAM = "https://api.anthropic.com"

# Upper bounds of the numeric settings: past them a value is a mistake, and some would break
# things further on (a hold deadline past year 9999 cannot be shown as a date).
MAX_HOLD_TIMEOUT = 86400.0  # a day
MAX_HISTORY = 100_000
# A longer token could not be sent at all: aiohttp refuses header and request lines over 8 KiB.
MAX_TOKEN_LENGTH = 512
HOLD_TIMEOUT_RULE = (
    f"must be a number of seconds greater than 0 and at most {MAX_HOLD_TIMEOUT:g} (a day), "
    "such as 300 or 2.5"
)


@dataclass(frozen=True)
class Config:
    """The settings one proxy runs with; built by load_config(), which validates every field."""

    upstream: str = DEFAULT_UPSTREAM
    # Where Anthropic Messages calls go; None: see anthropic_upstream_of().
    anthropic_upstream: str | None = None
    tapes_dir: Path = Path(".playingpack/tapes")
    logs_dir: Path = Path(".playingpack/logs")
    record: RecordMode = RecordMode.AUTO
    port: int = 4747
    host: str = "127.0.0.1"
    headless: bool = False
    pause: PauseMode = PauseMode.OFF
    pause_requests: bool = False  # also hold each call before it is sent upstream or looked up
    # Replay repeated identical requests in order: the k-th identical request of a run (or of a
    # test's tape folder) gets the k-th recording.
    sequence: bool = False
    hold_timeout: float = 300.0  # seconds a held call waits for a decision before it is allowed
    replay_timing: ReplayTiming = ReplayTiming.ORIGINAL
    history: int = 500  # recent flows kept in memory; older ones are only in the logs
    # Required by the dashboard, /api and /ws off loopback; None: one is generated at start.
    # Kept out of repr so a logged or printed Config never shows it.
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ConfigFile:
    """The settings one config file gives, already validated; None means the key was not set.

    Paths are kept as written; load_config() resolves relative ones against the file's directory.
    """

    upstream: str | None = None
    anthropic_upstream: str | None = None
    tapes_dir: Path | None = None
    logs_dir: Path | None = None
    record: RecordMode | None = None
    port: int | None = None
    host: str | None = None
    headless: bool | None = None
    pause: PauseMode | None = None
    pause_requests: bool | None = None
    sequence: bool | None = None
    hold_timeout: float | None = None
    replay_timing: ReplayTiming | None = None
    history: int | None = None
    token: str | None = field(default=None, repr=False)

    def given(self) -> frozenset[str]:
        """Names of the keys that were set."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) is not None)


# Discovery order: the first of these found in the working directory is the only file read.
CONFIG_FILE_NAMES: tuple[str, ...] = (
    "playingpack.config.py",
    "playingpack.toml",
    "pyproject.toml",  # only when it has a [tool.playingpack] table
    "playingpack.config.jsonc",
    "playingpack.config.json",
)

_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Config))
_ENV_PREFIX = "PLAYINGPACK_"
# The original tool's JSON configs used camelCase; accepted there so they keep working.
_CAMEL_KEYS: dict[str, str] = {
    "anthropicUpstream": "anthropic_upstream",
    "tapesDir": "tapes_dir",
    "logsDir": "logs_dir",
    "pauseRequests": "pause_requests",
    "holdTimeout": "hold_timeout",
    "replayTiming": "replay_timing",
}
_FLAG_NAMES: dict[str, str] = {key: "--" + key.replace("_", "-") for key in _KEYS} | {
    "headless": "--no-ui"
}
_BOOL_WORDS: dict[str, bool] = {
    "1": True,
    "true": True,
    "yes": True,
    "0": False,
    "false": False,
    "no": False,
}


class _BadValue(Exception):
    """A value failed its check; the text completes '<key> must ...'.

    `found` replaces the value in the message's "(got ...)" where the value must not be shown.
    """

    def __init__(self, expected: str, *, found: str | None = None) -> None:
        super().__init__(expected)
        self.found = found


# --- one parser per kind of value ---------------------------------------------------------------
# `text` is True when the value arrived as a string to interpret (environment, string flags):
# there "8080" is a port and "yes" a bool. Values from files must already have the right type.


def _parse_enum(kind: type[_E]) -> Callable[[object, bool], _E]:
    def parse(value: object, text: bool) -> _E:
        if isinstance(value, str):
            try:
                return kind(value.strip() if text else value)
            except ValueError:
                pass
        raise _BadValue("must be one of " + ", ".join(member.value for member in kind))

    return parse


def _parse_port(value: object, text: bool) -> int:
    # isdecimal, not isdigit: "²" is a digit that int() rejects.
    if text and isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    # bool is an int subclass, and `port = true` is a mistake, not port 1.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    raise _BadValue("must be an integer from 0 to 65535 (0 picks a free port)")


def _parse_history(value: object, text: bool) -> int:
    if text and isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_HISTORY:
        return value
    raise _BadValue(
        f"must be an integer of 1 or more, up to {MAX_HISTORY} "
        "(how many recent calls are kept in memory)"
    )


def _parse_seconds(value: object, text: bool) -> float:
    if text and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _BadValue(HOLD_TIMEOUT_RULE) from None
    # NaN fails every comparison; inf and 1e400 fail the upper bound.
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_HOLD_TIMEOUT
    ):
        return float(value)
    raise _BadValue(HOLD_TIMEOUT_RULE)


_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")


def _parse_token(value: object, text: bool) -> str:
    # The token is a secret: messages say what is wrong with it but never show it.
    expected = (
        f"must be at least 16 characters and at most {MAX_TOKEN_LENGTH}, "
        "each a letter, a digit, '-' or '_'"
    )
    if not isinstance(value, str):
        raise _BadValue(expected, found=f"{type(value).__name__}; value not shown")
    token = value.strip() if text else value
    if not 16 <= len(token) <= MAX_TOKEN_LENGTH:
        raise _BadValue(expected, found=f"{len(token)} characters; value not shown")
    if not _TOKEN.fullmatch(token):
        raise _BadValue(expected, found="a character outside that set; value not shown")
    return token


def _parse_bool(value: object, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise _BadValue(
        "must be one of 1, 0, true, false, yes, no" if text else "must be true or false"
    )


def _parse_host(value: object, text: bool) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _BadValue("must be a non-empty host name or address")


def _parse_upstream(value: object, text: bool) -> str:
    expected = "must be an http:// or https:// URL with a host, such as https://api.openai.com"
    if not isinstance(value, str):
        raise _BadValue(expected)
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise _BadValue(expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _BadValue(expected)
    if parts.query or parts.fragment:
        # Request paths are appended to the upstream URL, so a query or fragment would end up
        # in the middle of every forwarded URL.
        raise _BadValue(expected + ", without a query or fragment")
    # Keep a path such as /v1; drop one trailing slash so joining with "/v1/..." gives no "//".
    return url.removesuffix("/")


def _parse_path(value: object, text: bool) -> Path:
    if isinstance(value, str | os.PathLike):
        raw = os.fspath(value)
        if isinstance(raw, str) and raw.strip():
            return Path(raw).expanduser()
    raise _BadValue("must be a non-empty path")


_PARSE_RECORD = _parse_enum(RecordMode)
_PARSE_PAUSE = _parse_enum(PauseMode)
_PARSE_TIMING = _parse_enum(ReplayTiming)


def _show(value: object) -> str:
    """The offending value as it goes in a one-line message."""
    return repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."


def _layer(
    raw: Mapping[str, object], label: Callable[[str], str], text: Callable[[object], bool]
) -> ConfigFile:
    """Validate the known keys of `raw` (field name -> value); `label(key)` names their source."""

    def get(key: str, parse: Callable[[object, bool], _T]) -> _T | None:
        if key not in raw or raw[key] is None:
            return None
        value = raw[key]
        try:
            return parse(value, text(value))
        except _BadValue as exc:
            got = _show(value) if exc.found is None else exc.found
            raise ConfigError(f"{label(key)}: {key} {exc} (got {got})") from None

    return ConfigFile(
        upstream=get("upstream", _parse_upstream),
        anthropic_upstream=get("anthropic_upstream", _parse_upstream),
        tapes_dir=get("tapes_dir", _parse_path),
        logs_dir=get("logs_dir", _parse_path),
        record=get("record", _PARSE_RECORD),
        port=get("port", _parse_port),
        host=get("host", _parse_host),
        headless=get("headless", _parse_bool),
        pause=get("pause", _PARSE_PAUSE),
        pause_requests=get("pause_requests", _parse_bool),
        sequence=get("sequence", _parse_bool),
        hold_timeout=get("hold_timeout", _parse_seconds),
        replay_timing=get("replay_timing", _PARSE_TIMING),
        history=get("history", _parse_history),
        token=get("token", _parse_token),
    )


def define_config(
    *,
    upstream: str | None = None,
    anthropic_upstream: str | None = None,
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
    history: int | None = None,
    token: str | None = None,
) -> ConfigFile:
    """Settings for a ``playingpack.config.py`` file, which must assign the result to ``config``.

    Each given value is checked now, so a mistake fails at the line that made it (ConfigError).
    Keys left out (or None) are not set: they fall through to the defaults, and the environment
    and flags still override the ones that are set.
    """
    raw: dict[str, object] = {
        "upstream": upstream,
        "anthropic_upstream": anthropic_upstream,
        "tapes_dir": tapes_dir,
        "logs_dir": logs_dir,
        "record": record,
        "port": port,
        "host": host,
        "headless": headless,
        "pause": pause,
        "pause_requests": pause_requests,
        "sequence": sequence,
        "hold_timeout": hold_timeout,
        "replay_timing": replay_timing,
        "history": history,
        "token": token,
    }
    return _layer(raw, lambda key: "define_config()", lambda value: False)


# --- reading config files -----------------------------------------------------------------------


def _check_keys(data: Mapping[str, object], source: str, *, camel: bool) -> dict[str, object]:
    """Map file keys to field names, rejecting unknown and doubled keys."""
    known = [*_KEYS, *(_CAMEL_KEYS if camel else ())]
    result: dict[str, object] = {}
    for key, value in data.items():
        name = _CAMEL_KEYS.get(key, key) if camel else key
        if name not in _KEYS:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown key {key!r}{hint}; known keys: {', '.join(_KEYS)}"
            )
        if name in result:
            raise ConfigError(f"{source}: {name} is given twice (as {name} and as its camelCase)")
        result[name] = value
    return result


def _read_text(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc}") from exc


def _read_toml(path: Path, source: str) -> dict[str, object]:
    try:
        return tomllib.loads(_read_text(path, source))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc


def _pyproject_table(path: Path, source: str) -> Mapping[str, object] | None:
    """The [tool.playingpack] table, or None if the file has none."""
    tool = _read_toml(path, source).get("tool")
    table = tool.get("playingpack") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: tool.playingpack must be a table ([tool.playingpack])")
    return table


# A string (possibly unterminated, so json reports it), a line comment, or a block comment.
_JSONC_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)


def _segments(text: str) -> Iterator[tuple[str, str]]:
    """Split JSON text into ("string", ...), ("comment", ...) and ("code", ...) pieces.

    Strings are found first so that "//" inside one (a URL) never starts a comment.
    """
    end = 0
    for match in _JSONC_TOKEN.finditer(text):
        if match.start() > end:
            yield "code", text[end : match.start()]
        piece = match.group()
        yield ("string" if piece.startswith('"') else "comment"), piece
        end = match.end()
    if end < len(text):
        yield "code", text[end:]


def _strip_jsonc(text: str) -> str:
    """Plain JSON from JSONC: comments and trailing commas become spaces.

    Blanking instead of deleting keeps line and column numbers right in json's error messages.
    """
    blanked = "".join(
        re.sub(r"[^\n]", " ", piece) if kind == "comment" else piece
        for kind, piece in _segments(text)
    )
    return "".join(
        re.sub(r",(?=\s*[}\]])", " ", piece) if kind == "code" else piece
        for kind, piece in _segments(blanked)
    )


def _read_json(path: Path, source: str) -> Mapping[str, object]:
    try:
        data = json.loads(_strip_jsonc(_read_text(path, source)))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: must hold a JSON object of settings, not {type(data).__name__}"
        )
    return data


def _error_line(path: Path, tb: TracebackType | None) -> int | None:
    """The line of the config file where an exception passed through, if it did."""
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _read_python(path: Path, source: str) -> ConfigFile:
    # run_path gives the file fresh globals and puts nothing in sys.modules, so two loads (or
    # two proxies in one process) never share state.
    try:
        namespace = runpy.run_path(str(path), run_name="playingpack_config")
    except SyntaxError as exc:
        raise ConfigError(f"{source}, line {exc.lineno}: invalid Python: {exc.msg}") from exc
    except Exception as exc:
        line = _error_line(path, exc.__traceback__)
        where = f"{source}, line {line}" if line is not None else source
        reason = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{where}: " + " ".join(reason.split())) from exc
    config = namespace.get("config")
    if not isinstance(config, ConfigFile):
        found = "nothing" if "config" not in namespace else type(config).__name__
        raise ConfigError(
            f"{source}: must set a module-level `config = define_config(...)` "
            f"(from playingpack import define_config); found {found}"
        )
    return config


def _read_file(path: Path, source: str) -> ConfigFile | None:
    """Read one config file of the kind its name says; None for a pyproject without our table."""
    name = path.name
    data: Mapping[str, object]
    if name.endswith(".py"):
        return _read_python(path, source)
    if name == "pyproject.toml":
        table = _pyproject_table(path, source)
        if table is None:
            return None
        source = f"{source} [tool.playingpack]"
        data = _check_keys(table, source, camel=False)
    elif name.endswith(".toml"):
        data = _check_keys(_read_toml(path, source), source, camel=False)
    elif name.endswith((".json", ".jsonc")):
        # The same lenient parser for both: old .json configs with a comment keep working.
        data = _check_keys(_read_json(path, source), source, camel=True)
    else:
        raise ConfigError(
            f"--config: {source} is not a config file kind playingpack reads; "
            "use a .py, .toml, .json or .jsonc file"
        )
    return _layer(data, lambda key: source, lambda value: False)


def _find_file(cwd: Path) -> tuple[Path, ConfigFile] | None:
    for name in CONFIG_FILE_NAMES:
        path = cwd / name
        if path.is_file():
            found = _read_file(path, name)
            if found is not None:
                return path, found
    return None


# --- the other sources --------------------------------------------------------------------------


def _env_layer(env: Mapping[str, str]) -> ConfigFile:
    raw: dict[str, object] = {}
    for key in _KEYS:
        value = env.get(_ENV_PREFIX + key.upper(), "")
        # An empty variable counts as unset, so `PLAYINGPACK_RECORD= cmd` clears it for one run.
        if value.strip():
            raw[key] = value
    known = [_ENV_PREFIX + key.upper() for key in _KEYS]
    for name in env:
        # Other PLAYINGPACK_* variables may belong to other tools; only a near miss is worth a word.
        if name.startswith(_ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if close:
                logger.warning("ignoring %s; did you mean %s?", name, close[0])
    return _layer(raw, lambda key: _ENV_PREFIX + key.upper(), lambda value: True)


def _flag_layer(flags: Mapping[str, object]) -> ConfigFile:
    unknown = sorted(set(flags) - set(_KEYS))
    if unknown:
        # The CLI builds this mapping, so a wrong name is a bug there, not a user error.
        raise ValueError(f"unknown flag names {unknown}; expected Config field names {_KEYS}")
    return _layer(flags, _FLAG_NAMES.__getitem__, lambda value: isinstance(value, str))


def _anchor(layer: ConfigFile, base: Path) -> ConfigFile:
    """Resolve the layer's relative paths against `base`."""
    return replace(
        layer,
        tapes_dir=None if layer.tapes_dir is None else base / layer.tapes_dir,
        logs_dir=None if layer.logs_dir is None else base / layer.logs_dir,
    )


def _pick(value: _T | None, fallback: _T) -> _T:
    return fallback if value is None else value


def _apply(config: Config, layer: ConfigFile) -> Config:
    """`config` with every key `layer` sets replaced."""
    return Config(
        upstream=_pick(layer.upstream, config.upstream),
        anthropic_upstream=_pick(layer.anthropic_upstream, config.anthropic_upstream),
        tapes_dir=_pick(layer.tapes_dir, config.tapes_dir),
        logs_dir=_pick(layer.logs_dir, config.logs_dir),
        record=_pick(layer.record, config.record),
        port=_pick(layer.port, config.port),
        host=_pick(layer.host, config.host),
        headless=_pick(layer.headless, config.headless),
        pause=_pick(layer.pause, config.pause),
        pause_requests=_pick(layer.pause_requests, config.pause_requests),
        sequence=_pick(layer.sequence, config.sequence),
        hold_timeout=_pick(layer.hold_timeout, config.hold_timeout),
        replay_timing=_pick(layer.replay_timing, config.replay_timing),
        history=_pick(layer.history, config.history),
        token=_pick(layer.token, config.token),
    )


def load_config(
    *,
    cwd: Path,
    config_path: Path | None = None,
    env: Mapping[str, str],
    flags: Mapping[str, object],
) -> Config:
    """Layer defaults < config file < environment < flags into one validated Config.

    `config_path` (``--config``) names the file to read, relative to `cwd`; without it the first
    of CONFIG_FILE_NAMES in `cwd` is read. `flags` maps Config field names to the values given on
    the command line; None values count as not given. Relative paths from a file are resolved
    against the file's directory, all others against `cwd`.

    Raises ConfigError naming the source, the key and what is allowed; ValueError if `flags` has
    a name that is not a Config field.
    """
    defaults = Config()
    config = replace(defaults, tapes_dir=cwd / defaults.tapes_dir, logs_dir=cwd / defaults.logs_dir)
    if config_path is not None:
        path = cwd / config_path
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"--config: {config_path} {what}")
        layer = _read_file(path, str(config_path))
        if layer is None:
            raise ConfigError(f"--config: {config_path} has no [tool.playingpack] table")
        config = _apply(config, _anchor(layer, path.parent))
    else:
        found = _find_file(cwd)
        if found is not None:
            config = _apply(config, _anchor(found[1], found[0].parent))
    config = _apply(config, _anchor(_env_layer(env), cwd))
    return _apply(config, _anchor(_flag_layer(flags), cwd))


# --- derived settings ---------------------------------------------------------------------------


def anthropic_upstream_of(config: Config) -> str:
    """Where Anthropic Messages calls (those with an ``anthropic-version`` header) go:
    ``anthropic_upstream`` when set; otherwise Anthropic's API while ``upstream`` is OpenAI's
    default, else ``upstream`` itself (a gateway such as LiteLLM that serves both formats)."""
    if config.anthropic_upstream is not None:
        return config.anthropic_upstream
    if _is_default_upstream(config.upstream):
        return DEFAULT_ANTHROPIC_UPSTREAM
    return config.upstream


def _is_default_upstream(upstream: str) -> bool:
    """Whether `upstream` is DEFAULT_UPSTREAM once normalised as _parse_upstream does.

    A trailing /v1 counts as the same (upstreams are accepted with or without it), and so do a
    differently cased scheme or host and an explicit :443.
    """
    try:
        url = _parse_upstream(upstream, True)
        parts, default = urlsplit(url), urlsplit(DEFAULT_UPSTREAM)
        same_port = (parts.port or 443) == (default.port or 443)
    except (_BadValue, ValueError):
        return False  # a Config built by hand with a malformed URL is simply not the default
    return (
        parts.scheme.lower() == default.scheme
        and parts.hostname == default.hostname  # urlsplit lowercases hostname
        and same_port
        and parts.path.removesuffix("/v1") == default.path
    )
