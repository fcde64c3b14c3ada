"""load_config(): files, discovery, environment, flags, precedence, and every refusal's message."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from playingpack.config import (
    Config,
    PauseMode,
    RecordMode,
    ReplayTiming,
    anthropic_upstream_of,
    define_config,
)
from playingpack.config_loading import CONFIG_FILE_NAMES, load_config
from playingpack.errors import ConfigError
from playingpack.pricing import Price, Prices

TOKEN = "s3cret-Token_0123456789"


@dataclass(frozen=True)
class Given:
    """What one load_config() call is given: files to write first, the environment and flags."""

    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    flags: dict[str, object] = field(default_factory=dict)
    config_path: Path | None = None

    def __str__(self) -> str:
        parts = [f"{name}:{' '.join(text.split())}" for name, text in self.files.items()]
        parts += [f"{name}={value}" for name, value in self.env.items()]
        parts += [f"--{name}={value}" for name, value in self.flags.items()]
        return " ".join(parts + ([f"--config={self.config_path}"] if self.config_path else []))


def _load(
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    config_path: Path | None = None,
) -> Config:
    return load_config(cwd=cwd, config_path=config_path, env=env or {}, flags=flags or {})


def _error(
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    config_path: Path | None = None,
) -> str:
    with pytest.raises(ConfigError) as info:
        _load(cwd, env=env, flags=flags, config_path=config_path)
    message = str(info.value)
    assert "\n" not in message
    return message


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- each file kind -------------------------------------------------------------------------------


def test_no_file_no_env_no_flags_gives_defaults_with_dirs_under_cwd(tmp_path: Path) -> None:
    assert _load(tmp_path) == Config(
        upstream="https://api.openai.com",
        anthropic_upstream=None,
        tapes_dir=tmp_path / ".playingpack" / "tapes",
        logs_dir=tmp_path / ".playingpack" / "logs",
        record=RecordMode.AUTO,
        port=4747,
        host="127.0.0.1",
        headless=False,
        pause=PauseMode.OFF,
        pause_requests=False,
        sequence=False,
        hold_timeout=300.0,
        replay_timing=ReplayTiming.ORIGINAL,
        history=tmp_path / ".playingpack" / "history.db",
        live_window=500,
        token=None,
    )


def test_discovery_order_constant() -> None:
    assert CONFIG_FILE_NAMES == (
        "playingpack.config.py",
        "playingpack.toml",
        "pyproject.toml",
        "playingpack.config.jsonc",
        "playingpack.config.json",
    )


def test_python_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.py",
        "from playingpack import define_config\n"
        "config = define_config(upstream='http://localhost:9000/v1/', record='off', port=0,\n"
        "                       headless=True, pause='tool-calls', replay_timing='instant',\n"
        "                       pause_requests=True, hold_timeout=30, live_window=20,\n"
        "                       sequence=True,\n"
        f"                       token={TOKEN!r},\n"
        "                       anthropic_upstream=' https://anthropic.gw.test/ ')\n",
    )
    config = _load(tmp_path)
    assert config.upstream == "http://localhost:9000/v1"
    assert config.anthropic_upstream == "https://anthropic.gw.test"
    assert config.record is RecordMode.OFF
    assert config.port == 0
    assert config.headless is True
    assert config.pause is PauseMode.TOOL_CALLS
    assert config.replay_timing is ReplayTiming.INSTANT
    assert config.pause_requests is True
    assert config.sequence is True
    assert config.hold_timeout == 30.0 and isinstance(config.hold_timeout, float)
    assert (config.live_window, config.token) == (20, TOKEN)
    assert config.host == "127.0.0.1"  # not set in the file: default


def test_python_file_can_branch_on_os_environ(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.py",
        "import os\n"
        "from playingpack import define_config\n"
        "config = define_config(\n"
        "    record='replay-only' if os.environ.get('CI') else 'auto',\n"
        "    pause='all' if os.environ.get('PLAYINGPACK_TEST_NEVER_SET_9F2C') else 'tool-calls',\n"
        "    host='0.0.0.0' if 'PATH' in os.environ else 'localhost',\n"
        ")\n",
    )
    config = _load(tmp_path)
    assert "playingpack_config" not in sys.modules  # run in isolation, nothing left behind
    assert config.record is (RecordMode.REPLAY_ONLY if os.environ.get("CI") else RecordMode.AUTO)
    assert config.pause is PauseMode.TOOL_CALLS
    assert config.host == "0.0.0.0"


def test_playingpack_toml(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.toml",
        'upstream = "https://example.test"\nrecord = "replay-only"\nport = 8080\n'
        'host = "0.0.0.0"\nheadless = true\npause = "all"\nreplay_timing = "instant"\n'
        f'pause_requests = true\nhold_timeout = 2.5\nlive_window = 10\ntoken = "{TOKEN}"\n'
        'anthropic_upstream = "http://localhost:4000/anthropic/"\nsequence = true\n',
    )
    config = _load(tmp_path)
    assert config.anthropic_upstream == "http://localhost:4000/anthropic"
    assert config.sequence is True
    assert (config.upstream, config.record, config.port, config.host) == (
        "https://example.test",
        RecordMode.REPLAY_ONLY,
        8080,
        "0.0.0.0",
    )
    assert (config.headless, config.pause, config.replay_timing) == (
        True,
        PauseMode.ALL,
        ReplayTiming.INSTANT,
    )
    assert (config.pause_requests, config.hold_timeout, config.live_window, config.token) == (
        True,
        2.5,
        10,
        TOKEN,
    )


def test_pyproject_tool_table(tmp_path: Path) -> None:
    _write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.playingpack]\nrecord = "off"\nport = 5000\n'
        f'pause_requests = true\nhold_timeout = 60\nlive_window = 1\ntoken = "{TOKEN}"\n'
        'anthropic_upstream = "https://api.anthropic.com"\n',
    )
    config = _load(tmp_path)
    assert (config.record, config.port) == (RecordMode.OFF, 5000)
    assert config.anthropic_upstream == "https://api.anthropic.com"
    assert (config.pause_requests, config.hold_timeout, config.live_window, config.token) == (
        True,
        60.0,
        1,
        TOKEN,
    )


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 1\n')
    _write(tmp_path / "playingpack.config.json", '{"port": 6000}')
    assert _load(tmp_path).port == 6000


def test_jsonc_comments_trailing_commas_and_urls(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.jsonc",
        "// settings for the proxy\n"
        "{\n"
        '  "upstream": "https://gateway.test/openai/v1", // a URL keeps its //\n'
        '  /* block\n     comment, with "quotes" */\n'
        '  "host": "a//b/*not a comment*/,}",\n'
        '  "record": "off",\n'
        '  "port": 7000,\n'
        "}\n",
    )
    config = _load(tmp_path)
    assert config.upstream == "https://gateway.test/openai/v1"
    assert config.host == "a//b/*not a comment*/,}"
    assert config.record is RecordMode.OFF
    assert config.port == 7000


def test_json_with_camel_case_keys(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.json",
        '{"tapesDir": "recorded", "logsDir": "/var/pp-logs", "replayTiming": "instant",'
        ' "headless": true, "pauseRequests": true, "holdTimeout": 45.5, "liveWindow": 99,'
        f' "token": "{TOKEN}", "anthropicUpstream": "https://claude.gw.test/v1/"}}',
    )
    config = _load(tmp_path)
    assert config.anthropic_upstream == "https://claude.gw.test/v1"
    assert config.tapes_dir == tmp_path / "recorded"
    assert config.logs_dir == Path("/var/pp-logs")
    assert config.replay_timing is ReplayTiming.INSTANT
    assert config.headless is True
    assert (config.pause_requests, config.hold_timeout, config.live_window, config.token) == (
        True,
        45.5,
        99,
        TOKEN,
    )


def test_json_accepts_snake_case_too(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.json",
        '{"tapes_dir": "t", "replay_timing": "instant", "pause_requests": true, "hold_timeout": 1}',
    )
    config = _load(tmp_path)
    assert (config.tapes_dir, config.replay_timing) == (tmp_path / "t", ReplayTiming.INSTANT)
    assert (config.pause_requests, config.hold_timeout) == (True, 1.0)


def test_json_snake_case_anthropic_upstream(tmp_path: Path) -> None:
    _write(tmp_path / "playingpack.config.jsonc", '{"anthropic_upstream": "http://a.test/",}')
    assert _load(tmp_path).anthropic_upstream == "http://a.test"


# --- discovery ------------------------------------------------------------------------------------


def _write_all_kinds(cwd: Path) -> None:
    _write(
        cwd / "playingpack.config.py",
        "from playingpack import define_config\nconfig = define_config(port=1001)\n",
    )
    _write(cwd / "playingpack.toml", "port = 1002\n")
    _write(cwd / "pyproject.toml", "[tool.playingpack]\nport = 1003\n")
    _write(cwd / "playingpack.config.jsonc", '{"port": 1004, // c\n}')
    _write(cwd / "playingpack.config.json", '{"port": 1005}')


@pytest.mark.parametrize(
    ("removed", "port"),
    [
        ((), 1001),
        (("playingpack.config.py",), 1002),
        (("playingpack.config.py", "playingpack.toml"), 1003),
        (("playingpack.config.py", "playingpack.toml", "pyproject.toml"), 1004),
        (
            (
                "playingpack.config.py",
                "playingpack.toml",
                "pyproject.toml",
                "playingpack.config.jsonc",
            ),
            1005,
        ),
    ],
)
def test_discovery_order(tmp_path: Path, removed: tuple[str, ...], port: int) -> None:
    _write_all_kinds(tmp_path)
    for name in removed:
        (tmp_path / name).unlink()
    assert _load(tmp_path).port == port


def test_only_the_first_file_found_is_read(tmp_path: Path) -> None:
    _write(tmp_path / "playingpack.toml", "record = 'off'\n")
    _write(tmp_path / "playingpack.config.json", '{"port": 1, "recrod": "broken"}')
    config = _load(tmp_path)
    assert (config.record, config.port) == (RecordMode.OFF, 4747)


def test_explicit_config_path_beats_discovery(tmp_path: Path) -> None:
    _write(tmp_path / "playingpack.toml", "port = 1\n")
    _write(tmp_path / "conf" / "ci.json", '{"port": 2, "tapesDir": "tapes"}')
    config = _load(tmp_path, config_path=Path("conf/ci.json"))
    assert config.port == 2
    assert config.tapes_dir == tmp_path / "conf" / "tapes"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("settings.py", "from playingpack import define_config\nconfig = define_config(port=3)\n"),
        ("settings.toml", "port = 3\n"),
        ("pyproject.toml", "[tool.playingpack]\nport = 3\n"),
        ("settings.jsonc", '{"port": 3, /* c */}'),
        ("settings.json", '{"port": 3}'),
    ],
)
def test_explicit_config_path_kind_by_name(tmp_path: Path, name: str, text: str) -> None:
    path = _write(tmp_path / "elsewhere" / name, text)
    assert _load(tmp_path, config_path=path).port == 3


def test_unset_keys_in_a_python_file_do_not_override(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.config.py",
        "from playingpack import define_config\nconfig = define_config(record='off')\n",
    )
    config = _load(tmp_path, env={"PLAYINGPACK_PORT": "9999"})
    assert (config.record, config.port, config.pause) == (RecordMode.OFF, 9999, PauseMode.OFF)


# --- environment ----------------------------------------------------------------------------------


def test_environment_variables(tmp_path: Path) -> None:
    env = {
        "PLAYINGPACK_UPSTREAM": "http://127.0.0.1:1234/",
        "PLAYINGPACK_ANTHROPIC_UPSTREAM": " http://127.0.0.1:5678/ ",
        "PLAYINGPACK_TAPES_DIR": "env-tapes",
        "PLAYINGPACK_LOGS_DIR": "/abs/logs",
        "PLAYINGPACK_RECORD": "replay-only",
        "PLAYINGPACK_PORT": "8181",
        "PLAYINGPACK_HOST": "::1",
        "PLAYINGPACK_HEADLESS": "yes",
        "PLAYINGPACK_PAUSE": "all",
        "PLAYINGPACK_REPLAY_TIMING": "instant",
        "PLAYINGPACK_PAUSE_REQUESTS": "true",
        "PLAYINGPACK_SEQUENCE": "1",
        "PLAYINGPACK_HOLD_TIMEOUT": " 2.5 ",
        "PLAYINGPACK_HISTORY": "off",
        "PLAYINGPACK_HISTORY_KEEP": "30D",
        "PLAYINGPACK_LIVE_WINDOW": "42",
        "PLAYINGPACK_PRICES": '{"acme-1": {"input": 1, "output": 2.5}}',
        "PLAYINGPACK_TOKEN": TOKEN,
        "PLAYINGPACK_OTHER_TOOL_URL": "belongs to some other tool",
        "HOME": "/nowhere",
    }
    assert _load(tmp_path, env=env) == Config(
        upstream="http://127.0.0.1:1234",
        anthropic_upstream="http://127.0.0.1:5678",
        tapes_dir=tmp_path / "env-tapes",
        logs_dir=Path("/abs/logs"),
        record=RecordMode.REPLAY_ONLY,
        port=8181,
        host="::1",
        headless=True,
        pause=PauseMode.ALL,
        pause_requests=True,
        sequence=True,
        hold_timeout=2.5,
        replay_timing=ReplayTiming.INSTANT,
        history=None,
        history_keep="30d",
        live_window=42,
        prices=Prices((("acme-1", Price(1.0, 2.5)),)),
        token=TOKEN,
    )


@pytest.mark.parametrize(
    ("word", "value"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_environment_bool_words(tmp_path: Path, word: str, value: bool) -> None:
    assert _load(tmp_path, env={"PLAYINGPACK_HEADLESS": word}).headless is value
    assert _load(tmp_path, env={"PLAYINGPACK_PAUSE_REQUESTS": word}).pause_requests is value
    assert _load(tmp_path, env={"PLAYINGPACK_SEQUENCE": word}).sequence is value


@pytest.mark.parametrize(("text", "seconds"), [("300", 300.0), ("0.5", 0.5), ("1e3", 1000.0)])
def test_environment_hold_timeout_is_read_as_a_number(
    tmp_path: Path, text: str, seconds: float
) -> None:
    config = _load(tmp_path, env={"PLAYINGPACK_HOLD_TIMEOUT": text})
    assert config.hold_timeout == seconds and isinstance(config.hold_timeout, float)


def test_near_miss_environment_variable_is_logged_others_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "PLAYINGPACK_RECROD": "off",
        "PLAYINGPACK_HOLDTIMEOUT": "5",
        "PLAYINGPACK_OTHER_TOOL_URL": "x",
    }
    with caplog.at_level(logging.WARNING, logger="playingpack.config"):
        config = _load(tmp_path, env=env)
    assert (config.record, config.hold_timeout) == (RecordMode.AUTO, 300.0)
    assert caplog.messages == [
        "ignoring PLAYINGPACK_RECROD; did you mean PLAYINGPACK_RECORD?",
        "ignoring PLAYINGPACK_HOLDTIMEOUT; did you mean PLAYINGPACK_HOLD_TIMEOUT?",
    ]


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    _write(tmp_path / "playingpack.toml", "record = 'off'\n")
    assert _load(tmp_path, env={"PLAYINGPACK_RECORD": ""}).record is RecordMode.OFF


# --- precedence and flags -------------------------------------------------------------------------


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    _write(
        tmp_path / "playingpack.toml",
        'record = "off"\nport = 1111\npause = "all"\nhost = "file-host"\n'
        'tapes_dir = "file-tapes"\nhold_timeout = 10\nlive_window = 10\n'
        'token = "file-token-0123456789"\npause_requests = true\n'
        'anthropic_upstream = "http://file.test"\n',
    )
    env = {
        "PLAYINGPACK_PORT": "2222",
        "PLAYINGPACK_PAUSE": "tool-calls",
        "PLAYINGPACK_TAPES_DIR": "env-tapes",
        "PLAYINGPACK_HOLD_TIMEOUT": "20",
        "PLAYINGPACK_LIVE_WINDOW": "20",
        "PLAYINGPACK_TOKEN": "env-token-0123456789",
        "PLAYINGPACK_ANTHROPIC_UPSTREAM": "http://env.test",
    }
    flags: dict[str, object] = {
        "port": 3333,
        "tapes_dir": "flag-tapes",
        "hold_timeout": "30",
        "token": TOKEN,
        "anthropic_upstream": "http://flag.test/",
    }
    config = _load(tmp_path, env=env, flags=flags)
    assert config.port == 3333  # flag > env > file
    assert config.anthropic_upstream == "http://flag.test"  # flag > env > file
    assert config.tapes_dir == tmp_path / "flag-tapes"  # flag > env > file
    assert config.pause is PauseMode.TOOL_CALLS  # env > file
    assert config.record is RecordMode.OFF  # file > default
    assert config.host == "file-host"  # file > default
    assert config.upstream == "https://api.openai.com"  # default
    assert config.replay_timing is ReplayTiming.ORIGINAL  # default
    assert config.hold_timeout == 30.0  # flag > env > file
    assert config.token == TOKEN  # flag > env > file
    assert config.live_window == 20  # env > file
    assert config.pause_requests is True  # file > default


def test_anthropic_upstream_precedence_env_over_file_over_default(tmp_path: Path) -> None:
    assert _load(tmp_path).anthropic_upstream is None  # default
    _write(tmp_path / "playingpack.toml", 'anthropic_upstream = "http://file.test"\n')
    assert _load(tmp_path).anthropic_upstream == "http://file.test"  # file > default
    env = {"PLAYINGPACK_ANTHROPIC_UPSTREAM": "http://env.test"}
    assert _load(tmp_path, env=env).anthropic_upstream == "http://env.test"  # env > file
    config = _load(tmp_path, env=env, flags={"anthropic_upstream": None})
    assert config.anthropic_upstream == "http://env.test"  # a None flag is not given
    env = {"PLAYINGPACK_ANTHROPIC_UPSTREAM": "  "}
    assert _load(tmp_path, env=env).anthropic_upstream == "http://file.test"  # empty: unset


def test_flags_of_every_kind(tmp_path: Path) -> None:
    flags: dict[str, object] = {
        "upstream": "https://proxy.test/v1",
        "anthropic_upstream": "https://proxy.test/anthropic/",
        "tapes_dir": Path("ft"),
        "logs_dir": "fl",
        "record": RecordMode.OFF,
        "port": 8080,
        "host": "0.0.0.0",
        "headless": True,
        "pause": "tool-calls",
        "pause_requests": True,
        "sequence": True,
        "hold_timeout": "0.25",
        "replay_timing": "instant",
        "history": "calls.db",
        "history_keep": "1000",
        "live_window": "7",
        "token": TOKEN,
    }
    env = {
        "PLAYINGPACK_HEADLESS": "0",
        "PLAYINGPACK_PAUSE_REQUESTS": "no",
        "PLAYINGPACK_SEQUENCE": "no",
    }
    assert _load(tmp_path, env=env, flags=flags) == Config(
        upstream="https://proxy.test/v1",
        anthropic_upstream="https://proxy.test/anthropic",
        tapes_dir=tmp_path / "ft",
        logs_dir=tmp_path / "fl",
        record=RecordMode.OFF,
        port=8080,
        host="0.0.0.0",
        headless=True,
        pause=PauseMode.TOOL_CALLS,
        pause_requests=True,
        sequence=True,
        hold_timeout=0.25,
        replay_timing=ReplayTiming.INSTANT,
        history=tmp_path / "calls.db",
        history_keep="1000",
        live_window=7,
        token=TOKEN,
    )


def test_sequence_precedence(tmp_path: Path) -> None:
    assert _load(tmp_path).sequence is False  # default
    _write(tmp_path / "playingpack.toml", "sequence = true\n")
    assert _load(tmp_path).sequence is True  # file > default
    assert _load(tmp_path, env={"PLAYINGPACK_SEQUENCE": "no"}).sequence is False  # env > file
    config = _load(tmp_path, env={"PLAYINGPACK_SEQUENCE": "no"}, flags={"sequence": True})
    assert config.sequence is True  # flag > env


def test_numbers_from_click_flags_are_taken_as_they_are(tmp_path: Path) -> None:
    config = _load(tmp_path, flags={"live_window": 3, "hold_timeout": 9})
    assert (config.live_window, config.hold_timeout) == (3, 9.0)


def test_none_flags_count_as_not_given(tmp_path: Path) -> None:
    config = _load(tmp_path, env={"PLAYINGPACK_PORT": "2222"}, flags={"port": None})
    assert config.port == 2222


def test_unknown_flag_name_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown flag names"):
        _load(tmp_path, flags={"no_ui": True})


def test_upstream_keeps_path_and_drops_one_trailing_slash(tmp_path: Path) -> None:
    config = _load(tmp_path, env={"PLAYINGPACK_UPSTREAM": "https://gw.test:8443/openai/v1/"})
    assert config.upstream == "https://gw.test:8443/openai/v1"


def test_refresh_is_a_record_mode(tmp_path: Path) -> None:
    assert _load(tmp_path, env={"PLAYINGPACK_RECORD": "refresh"}).record is RecordMode.REFRESH
    assert define_config(record="refresh").record is RecordMode.REFRESH


def test_anthropic_upstream_of_a_loaded_config(tmp_path: Path) -> None:
    assert anthropic_upstream_of(_load(tmp_path)) == "https://api.anthropic.com"
    env = {"PLAYINGPACK_UPSTREAM": "https://api.openai.com/v1/"}
    assert anthropic_upstream_of(_load(tmp_path, env=env)) == "https://api.anthropic.com"
    config = _load(tmp_path, flags={"upstream": "http://localhost:4000/"})
    assert anthropic_upstream_of(config) == "http://localhost:4000"
    flags = {"upstream": "http://localhost:4000", "anthropic_upstream": "http://localhost:5000"}
    assert anthropic_upstream_of(_load(tmp_path, flags=flags)) == "http://localhost:5000"


# --- relative directories -------------------------------------------------------------------------


def test_relative_dirs_in_a_file_are_relative_to_its_directory(tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    _write(tmp_path / "cfg" / "pp.toml", 'tapes_dir = "tapes"\nlogs_dir = "../logs"\n')
    config = _load(cwd, config_path=Path("../cfg/pp.toml"))
    # Joined, not normalised: `..` stays, so symlinked directories keep their meaning.
    assert config.tapes_dir == tmp_path / "work" / ".." / "cfg" / "tapes"
    assert config.logs_dir == tmp_path / "work" / ".." / "cfg" / ".." / "logs"
    assert config.tapes_dir.resolve() == (tmp_path / "cfg" / "tapes").resolve()


def test_relative_dirs_in_a_python_file_are_relative_to_its_directory(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "cfg" / "pp.py",
        "from playingpack import define_config\nconfig = define_config(tapes_dir='t')\n",
    )
    assert _load(tmp_path, config_path=path).tapes_dir == tmp_path / "cfg" / "t"


def test_relative_dirs_from_env_and_flags_are_relative_to_cwd(tmp_path: Path) -> None:
    config = _load(tmp_path, env={"PLAYINGPACK_LOGS_DIR": "el"}, flags={"tapes_dir": "ft"})
    assert (config.tapes_dir, config.logs_dir) == (tmp_path / "ft", tmp_path / "el")


# --- the token ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "found"),
    [
        ("Short-but-Secret", None),  # 16 characters: accepted
        ("ShortSecret7", "12 characters"),
        ("Secret with spaces in it", "a character outside that set"),
        ("Secret.Dotted.Token.0123", "a character outside that set"),
        ("Sécret-0123456789", "a character outside that set"),
    ],
)
def test_token_rule_and_the_token_is_never_shown(
    tmp_path: Path, token: str, found: str | None
) -> None:
    if found is None:
        assert _load(tmp_path, env={"PLAYINGPACK_TOKEN": token}).token == token
        return
    sources: list[tuple[str, dict[str, str], dict[str, object]]] = [
        ("PLAYINGPACK_TOKEN", {"PLAYINGPACK_TOKEN": token}, {}),
        ("--token", {}, {"token": token}),
    ]
    for source, env, flags in sources:
        message = _error(tmp_path, env=env, flags=flags)
        assert message == f"{source}: {_TOKEN_RULE} (got {found}; value not shown)"
        assert token not in message
    _write(tmp_path / "playingpack.toml", f"token = {token!r}\n")
    message = _error(tmp_path)
    assert message == f"playingpack.toml: {_TOKEN_RULE} (got {found}; value not shown)"
    assert token not in message


def test_token_stays_out_of_repr(tmp_path: Path) -> None:
    config = _load(tmp_path, env={"PLAYINGPACK_TOKEN": TOKEN})
    assert config.token == TOKEN
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(define_config(token=TOKEN))


# --- every refusal ------------------------------------------------------------------------------


class Starts(str):
    """An expected message known by its beginning (the rest shows the value or parser's words)."""

    __slots__ = ()


def in_file(name: str, text: str, *, config_path: str | None = None) -> Given:
    return Given(files={name: text}, config_path=None if config_path is None else Path(config_path))


def in_env(name: str, value: str) -> Given:
    return Given(env={name: value})


def as_flag(name: str, value: object) -> Given:
    return Given(flags={name: value})


_KNOWN = (
    "known keys: upstream, anthropic_upstream, gemini_upstream, ollama_upstream, tapes_dir, "
    "logs_dir, record, port, host, headless, pause, pause_requests, sequence, hold_timeout, "
    "replay_timing, history, history_keep, live_window, prices, token"
)
_PORT = "port must be an integer from 0 to 65535 (0 picks a free port)"
_URL = "must be an http:// or https:// URL with a host"
_BOOLS = "must be one of 1, 0, true, false, yes, no"
_WINDOW = (
    "live_window must be an integer of 1 or more, up to 100000 "
    "(how many recent calls are kept in memory)"
)
_SECONDS = (
    "hold_timeout must be a number of seconds greater than 0 and at most 86400 (a day), "
    "such as 300 or 2.5"
)
_TOKEN_RULE = (
    "token must be at least 16 characters and at most 512, each a letter, a digit, '-' or '_'"
)
_BAD_URLS = [
    "api.openai.com",
    "ftp://api.openai.com",
    "https://",
    "http://:80",
    "https://h/v1?x=1",
    "",
]
_BAD_ANTHROPIC_URLS = [
    "api.anthropic.com",
    "ftp://api.anthropic.com",
    "https://",
    "http://:80",
    "https://h/v1#x",
    "",
]
_PY = "from playingpack import define_config\n"

# (what load_config() is given, the one-line ConfigError it raises: the whole of it, or Starts)
REFUSALS: list[tuple[Given, str]] = [
    # unknown and doubled keys
    (
        in_file("playingpack.toml", 'recrod = "off"\n'),
        f"playingpack.toml: unknown key 'recrod' (did you mean 'record'?); {_KNOWN}",
    ),
    (in_file("playingpack.toml", "zzz = 1\n"), f"playingpack.toml: unknown key 'zzz'; {_KNOWN}"),
    (
        in_file("pyproject.toml", "[tool.playingpack]\ntapes-dir = 'x'\n"),
        "pyproject.toml [tool.playingpack]: unknown key 'tapes-dir' (did you mean 'tapes_dir'?); "
        + _KNOWN,
    ),
    (
        in_file("playingpack.config.json", '{"replayTimeing": "x"}'),
        Starts(
            "playingpack.config.json: unknown key 'replayTimeing' (did you mean 'replayTiming'?); "
        ),
    ),
    (
        in_file("playingpack.toml", 'anthropic_upsteam = "http://a.test"\n'),
        Starts(
            "playingpack.toml: unknown key 'anthropic_upsteam' (did you mean 'anthropic_upstream'?)"
        ),
    ),
    (  # camelCase is for the legacy JSON configs only
        in_file("playingpack.toml", 'anthropicUpstream = "http://a.test"\n'),
        Starts(
            "playingpack.toml: unknown key 'anthropicUpstream' (did you mean 'anthropic_upstream'?)"
        ),
    ),
    (
        in_file("playingpack.config.json", '{"tapes_dir": "a", "tapesDir": "b"}'),
        Starts("playingpack.config.json: tapes_dir is given twice"),
    ),
    (
        in_file("playingpack.config.json", '{"holdTimeout": 1, "hold_timeout": 2}'),
        Starts("playingpack.config.json: hold_timeout is given twice"),
    ),
    (
        in_file(
            "playingpack.config.json",
            '{"anthropic_upstream": "http://a.test", "anthropicUpstream": "http://b.test"}',
        ),
        Starts("playingpack.config.json: anthropic_upstream is given twice"),
    ),
    # choices
    (
        in_file("playingpack.toml", 'pause = "sometimes"\n'),
        "playingpack.toml: pause must be one of off, tool-calls, all (got 'sometimes')",
    ),
    (
        in_env("PLAYINGPACK_RECORD", "replay_only"),
        "PLAYINGPACK_RECORD: record must be one of auto, off, replay-only, refresh "
        "(got 'replay_only')",
    ),
    (
        in_file("playingpack.config.py", _PY + "\nconfig = define_config(record='never')\n"),
        "playingpack.config.py, line 3: define_config(): record must be one of auto, off, "
        "replay-only, refresh (got 'never')",
    ),
    # numbers
    *[
        (
            in_file("playingpack.toml", f"port = {port}\n"),
            Starts(f"playingpack.toml: {_PORT} (got "),
        )
        for port in ["-1", "65536", '"8080"', "80.5", "true"]
    ],
    *[
        (in_env("PLAYINGPACK_PORT", value), f"PLAYINGPACK_PORT: {_PORT} (got {value!r})")
        for value in ["8o8o", "-5", "99999"]
    ],
    (as_flag("port", 70000), Starts(f"--port: {_PORT}")),
    *[
        (
            in_file("playingpack.toml", f"live_window = {n}\n"),
            Starts(f"playingpack.toml: {_WINDOW} (got "),
        )
        for n in ["0", "-3", "2.5", '"10"', "true"]
    ],
    *[
        (
            in_env("PLAYINGPACK_LIVE_WINDOW", value),
            f"PLAYINGPACK_LIVE_WINDOW: {_WINDOW} (got {value!r})",
        )
        for value in ["ten", "0", "1.5", "-1", "²"]
    ],
    (as_flag("live_window", "0"), f"--live-window: {_WINDOW} (got '0')"),
    *[
        (
            in_file("playingpack.toml", f"hold_timeout = {seconds}\n"),
            Starts(f"playingpack.toml: {_SECONDS} (got "),
        )
        for seconds in ["0", "-1.5", "true", '"2.5"', "inf", "nan"]
    ],
    (
        in_file("playingpack.config.json", '{"holdTimeout": "5 minutes"}'),
        f"playingpack.config.json: {_SECONDS} (got '5 minutes')",
    ),
    *[
        (
            in_env("PLAYINGPACK_HOLD_TIMEOUT", value),
            f"PLAYINGPACK_HOLD_TIMEOUT: {_SECONDS} (got {value!r})",
        )
        for value in ["soon", "0", "-2", "inf", "nan", "5s"]
    ],
    (as_flag("hold_timeout", "0"), f"--hold-timeout: {_SECONDS} (got '0')"),
    # URLs
    *[
        (
            in_file("playingpack.config.json", f'{{"upstream": "{url}"}}'),
            Starts(f"playingpack.config.json: upstream {_URL}"),
        )
        for url in _BAD_URLS
    ],
    (
        as_flag("upstream", "localhost:8000"),
        f"--upstream: upstream {_URL}, such as https://api.openai.com (got 'localhost:8000')",
    ),
    *[
        (
            in_file("playingpack.config.json", f'{{"anthropicUpstream": "{url}"}}'),
            Starts(f"playingpack.config.json: anthropic_upstream {_URL}"),
        )
        for url in _BAD_ANTHROPIC_URLS
    ],
    *[
        (
            in_file("playingpack.toml", f'anthropic_upstream = "{url}"\n'),
            Starts(f"playingpack.toml: anthropic_upstream {_URL}"),
        )
        for url in _BAD_ANTHROPIC_URLS
    ],
    (
        in_file("playingpack.toml", "anthropic_upstream = 443\n"),
        f"playingpack.toml: anthropic_upstream {_URL}, such as https://api.openai.com (got 443)",
    ),
    (
        in_env("PLAYINGPACK_ANTHROPIC_UPSTREAM", "https://h/?k=1"),
        f"PLAYINGPACK_ANTHROPIC_UPSTREAM: anthropic_upstream {_URL}, such as "
        "https://api.openai.com, without a query or fragment (got 'https://h/?k=1')",
    ),
    (
        as_flag("anthropic_upstream", "localhost:8000"),
        f"--anthropic-upstream: anthropic_upstream {_URL}, such as https://api.openai.com "
        "(got 'localhost:8000')",
    ),
    # bools: words in the environment and flags, real bools in files
    (
        in_env("PLAYINGPACK_HEADLESS", "maybe"),
        f"PLAYINGPACK_HEADLESS: headless {_BOOLS} (got 'maybe')",
    ),
    (
        in_file("playingpack.config.json", '{"headless": "true"}'),
        "playingpack.config.json: headless must be true or false (got 'true')",
    ),
    (as_flag("headless", "perhaps"), Starts("--no-ui: headless must be one of")),
    (
        in_env("PLAYINGPACK_PAUSE_REQUESTS", "sometimes"),
        f"PLAYINGPACK_PAUSE_REQUESTS: pause_requests {_BOOLS} (got 'sometimes')",
    ),
    (
        as_flag("pause_requests", "perhaps"),
        Starts("--pause-requests: pause_requests must be one of"),
    ),
    (
        in_file("playingpack.config.json", '{"pauseRequests": "yes"}'),
        "playingpack.config.json: pause_requests must be true or false (got 'yes')",
    ),
    (
        in_env("PLAYINGPACK_SEQUENCE", "always"),
        f"PLAYINGPACK_SEQUENCE: sequence {_BOOLS} (got 'always')",
    ),
    (as_flag("sequence", "perhaps"), Starts("--sequence: sequence must be one of")),
    (
        in_file("playingpack.config.json", '{"sequence": 1}'),
        "playingpack.config.json: sequence must be true or false (got 1)",
    ),
    # text
    (
        in_file("playingpack.toml", 'host = "  "\n'),
        "playingpack.toml: host must be a non-empty host name or address (got '  ')",
    ),
    (
        in_file("playingpack.config.jsonc", '{"host": ["a", "b",],}'),
        "playingpack.config.jsonc: host must be a non-empty host name or address (got ['a', 'b'])",
    ),
    # the token: what is wrong with it, never the token
    (
        in_file("playingpack.config.json", '{"token": 12345678901234567890}'),
        f"playingpack.config.json: {_TOKEN_RULE} (got int; value not shown)",
    ),
    (
        in_file("playingpack.config.json", '{"token": ""}'),
        f"playingpack.config.json: {_TOKEN_RULE} (got 0 characters; value not shown)",
    ),
    (
        in_file("playingpack.config.py", _PY + "config = define_config(token='hunter2')\n"),
        "playingpack.config.py, line 2: define_config(): "
        f"{_TOKEN_RULE} (got 7 characters; value not shown)",
    ),
    # the files themselves
    (Given(config_path=Path("nope.toml")), "--config: nope.toml does not exist"),
    (
        in_file("pp.yaml", "port: 1\n", config_path="pp.yaml"),
        Starts("--config: pp.yaml is not a config file kind playingpack reads"),
    ),
    (
        in_file("pyproject.toml", '[project]\nname = "x"\n', config_path="pyproject.toml"),
        "--config: pyproject.toml has no [tool.playingpack] table",
    ),
    (
        in_file("playingpack.config.py", "settings = 1\n"),
        Starts("playingpack.config.py: must set a module-level `config = define_config(...)`"),
    ),
    (
        in_file("playingpack.config.py", "config = {'port': 1}\n"),
        "playingpack.config.py: must set a module-level `config = define_config(...)` "
        "(from playingpack import define_config); found dict",
    ),
    (
        in_file("playingpack.config.py", "config = define_config(\n"),
        Starts("playingpack.config.py, line 1: invalid Python: "),
    ),
    (
        in_file("playingpack.config.py", "x = 1\nconfig = undefined_name\n"),
        "playingpack.config.py, line 2: NameError: name 'undefined_name' is not defined",
    ),
    (in_file("playingpack.toml", "port = = 1\n"), Starts("playingpack.toml: invalid TOML: ")),
    (in_file("pyproject.toml", "[project\n"), Starts("pyproject.toml: invalid TOML: ")),
    (
        in_file("playingpack.config.json", '{\n  "port": 1\n  "host": "h"\n}'),
        "playingpack.config.json: invalid JSON: Expecting ',' delimiter (line 3, column 3)",
    ),
    (  # the position survives the removal of comments
        in_file("playingpack.config.jsonc", '/* one\ntwo */ {"port": 1 "host": "h"}'),
        "playingpack.config.jsonc: invalid JSON: Expecting ',' delimiter (line 2, column 19)",
    ),
    (
        in_file("playingpack.config.json", "[1, 2]"),
        "playingpack.config.json: must hold a JSON object of settings, not list",
    ),
]


@pytest.mark.parametrize(
    ("given", "expected"), [pytest.param(*refusal, id=str(refusal[0])) for refusal in REFUSALS]
)
def test_a_refusal_is_one_line_naming_the_source_the_key_and_what_is_allowed(
    tmp_path: Path, given: Given, expected: str
) -> None:
    for name, text in given.files.items():
        _write(tmp_path / name, text)
    message = _error(tmp_path, env=given.env, flags=given.flags, config_path=given.config_path)
    if isinstance(expected, Starts):
        assert message.startswith(expected)
    else:
        assert message == expected
