"""load_config(): the Config of one run, layered from defaults, a file, the environment, flags.

Lowest first: defaults < the first config file found < ``PLAYINGPACK_*`` variables < command-line
flags. Every source gives plain values that ConfigFile.checked() checks against SETTINGS, so a
ConfigError always names the file, variable or flag a value came from, the key, and what is
allowed, in the same words whatever the source.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from playingpack.config import ENV_PREFIX, SETTINGS, SETTINGS_BY_NAME, Config, ConfigFile
from playingpack.config_checks import OFF
from playingpack.errors import ConfigError

logger = logging.getLogger(__name__)

_NAMES: tuple[str, ...] = tuple(SETTINGS_BY_NAME)
# The original tool's JSON configs used camelCase; accepted there so they keep working.
_CAMEL: dict[str, str] = {row.camel: row.name for row in SETTINGS if row.camel != row.name}

# Discovery order: the first of these found in the working directory is the only file read.
CONFIG_FILE_NAMES: tuple[str, ...] = (
    "playingpack.config.py",
    "playingpack.toml",
    "pyproject.toml",  # only when it has a [tool.playingpack] table
    "playingpack.config.jsonc",
    "playingpack.config.json",
)


def _read_text(path: Path, source: str) -> str:
    """The file's text; ConfigError when it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc}") from exc


def _read_toml(path: Path, source: str) -> dict[str, object]:
    """The TOML file as a dict; ConfigError naming `source` when it is not valid TOML."""
    import tomllib  # only when there is a file to read: `start` without one skips the parser

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
    """A JSON or JSONC file's top-level object.

    The same lenient parser reads both, so old .json configs with a comment keep working.
    """
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


def _run_python(path: Path, source: str) -> dict[str, object]:
    """The module globals of a Python config file once it has run.

    Any exception it raises becomes a ConfigError naming the file and the line it came from.
    """
    import runpy

    # run_path gives the file fresh globals and puts nothing in sys.modules, so two loads (or
    # two proxies in one process) never share state.
    try:
        return runpy.run_path(str(path), run_name="playingpack_config")
    except SyntaxError as exc:
        raise ConfigError(f"{source}, line {exc.lineno}: invalid Python: {exc.msg}") from exc
    except Exception as exc:
        line = _error_line(path, exc.__traceback__)
        where = f"{source}, line {line}" if line is not None else source
        reason = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{where}: " + " ".join(reason.split())) from exc


# --- the sources and their layers -----------------------------------------------------------------


def _check_keys(data: Mapping[str, object], source: str, *, camel: bool) -> dict[str, object]:
    """Map file keys to setting names, rejecting unknown and doubled keys."""
    known = [*_NAMES, *(_CAMEL if camel else ())]
    result: dict[str, object] = {}
    for key, value in data.items():
        name = _CAMEL.get(key, key) if camel else key
        if name not in SETTINGS_BY_NAME:
            import difflib

            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown key {key!r}{hint}; known keys: {', '.join(_NAMES)}"
            )
        if name in result:
            raise ConfigError(f"{source}: {name} is given twice (as {name} and as its camelCase)")
        result[name] = value
    return result


def _read_python(path: Path, source: str) -> ConfigFile:
    namespace = _run_python(path, source)
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
        data = _check_keys(_read_json(path, source), source, camel=True)
    else:
        raise ConfigError(
            f"--config: {source} is not a config file kind playingpack reads; "
            "use a .py, .toml, .json or .jsonc file"
        )
    return ConfigFile.checked(data, label=lambda row: source, text=lambda value: False)


def _find_file(cwd: Path) -> tuple[Path, ConfigFile] | None:
    for name in CONFIG_FILE_NAMES:
        path = cwd / name
        if path.is_file():
            found = _read_file(path, name)
            if found is not None:
                return path, found
    return None


def _env_layer(env: Mapping[str, str]) -> ConfigFile:
    # An empty variable counts as unset, so `PLAYINGPACK_RECORD= cmd` clears it for one run.
    raw = {row.name: env[row.env] for row in SETTINGS if env.get(row.env, "").strip()}
    known = [row.env for row in SETTINGS]
    for name in env:
        # Other PLAYINGPACK_* variables may belong to other tools; only a near miss is worth a word.
        if name.startswith(ENV_PREFIX) and name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if close:
                logger.warning("ignoring %s; did you mean %s?", name, close[0])
    return ConfigFile.checked(raw, label=lambda row: row.env, text=lambda value: True)


def _flag_layer(flags: Mapping[str, object]) -> ConfigFile:
    unknown = sorted(set(flags) - set(_NAMES))
    if unknown:
        # The CLI builds this mapping, so a wrong name is a bug there, not a user error.
        raise ValueError(f"unknown flag names {unknown}; expected setting names {_NAMES}")
    return ConfigFile.checked(
        flags, label=lambda row: row.flag, text=lambda value: isinstance(value, str)
    )


def _apply(config: Config, layer: ConfigFile, base: Path) -> Config:
    """`config` with every key `layer` sets replaced; its relative paths are joined to `base`."""
    values: dict[str, Any] = {
        name: None if value is OFF else base / value if isinstance(value, Path) else value
        for name, value in layer.values.items()
    }
    return replace(config, **values)


def load_config(
    *,
    cwd: Path,
    config_path: Path | None = None,
    env: Mapping[str, str],
    flags: Mapping[str, object],
) -> Config:
    """Layer defaults < config file < environment < flags into one checked Config.

    `config_path` (``--config``) names the file to read, relative to `cwd`; without it the first
    of CONFIG_FILE_NAMES in `cwd` is read. `flags` maps setting names to the values given on the
    command line; None values count as not given. Relative paths from a file are resolved
    against the file's directory, all others against `cwd`.

    Raises ConfigError naming the source, the key and what is allowed; ValueError if `flags` has
    a name that is not a setting.
    """
    config = replace(
        Config(), **{row.name: cwd / row.default for row in SETTINGS if row.type is Path}
    )
    if config_path is not None:
        path = cwd / config_path
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"--config: {config_path} {what}")
        layer = _read_file(path, str(config_path))
        if layer is None:
            raise ConfigError(f"--config: {config_path} has no [tool.playingpack] table")
        config = _apply(config, layer, path.parent)
    else:
        found = _find_file(cwd)
        if found is not None:
            config = _apply(config, found[1], found[0].parent)
    config = _apply(config, _env_layer(env), cwd)
    return _apply(config, _flag_layer(flags), cwd)
