"""The settings table, Config, define_config() and the live Settings of a running server."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

from playingpack.config import (
    DEFAULT_ANTHROPIC_UPSTREAM,
    DEFAULT_UPSTREAM,
    LIVE_SETTINGS,
    SETTINGS,
    SETTINGS_BY_NAME,
    Config,
    ConfigFile,
    PauseMode,
    RecordMode,
    ReplayTiming,
    anthropic_upstream_of,
    define_config,
)
from playingpack.errors import ConfigError
from playingpack.pricing import Prices
from playingpack.settings import Settings

TOKEN = "s3cret-Token_0123456789"


# --- the table ----------------------------------------------------------------------------------


def test_the_table_has_every_config_field_in_order_with_its_default() -> None:
    assert [row.name for row in SETTINGS] == [item.name for item in dataclasses.fields(Config)]
    defaults = Config()
    for row in SETTINGS:
        assert row.default == getattr(defaults, row.name)
        assert row.help.endswith(".") and "\n" not in row.help


def test_each_setting_has_its_variable_and_flag() -> None:
    assert [(row.env, row.flag, row.short) for row in SETTINGS] == [
        ("PLAYINGPACK_UPSTREAM", "--upstream", None),
        ("PLAYINGPACK_ANTHROPIC_UPSTREAM", "--anthropic-upstream", None),
        ("PLAYINGPACK_GEMINI_UPSTREAM", "--gemini-upstream", None),
        ("PLAYINGPACK_OLLAMA_UPSTREAM", "--ollama-upstream", None),
        ("PLAYINGPACK_TAPES_DIR", "--tapes-dir", None),
        ("PLAYINGPACK_LOGS_DIR", "--logs-dir", None),
        ("PLAYINGPACK_RECORD", "--record", None),
        ("PLAYINGPACK_PORT", "--port", "-p"),
        ("PLAYINGPACK_HOST", "--host", "-H"),
        ("PLAYINGPACK_HEADLESS", "--no-ui", None),
        ("PLAYINGPACK_PAUSE", "--pause", None),
        ("PLAYINGPACK_PAUSE_REQUESTS", "--pause-requests", None),
        ("PLAYINGPACK_SEQUENCE", "--sequence", None),
        ("PLAYINGPACK_HOLD_TIMEOUT", "--hold-timeout", None),
        ("PLAYINGPACK_REPLAY_TIMING", "--replay-timing", None),
        ("PLAYINGPACK_HISTORY", "--history", None),
        ("PLAYINGPACK_HISTORY_KEEP", "--history-keep", None),
        ("PLAYINGPACK_LIVE_WINDOW", "--live-window", None),
        ("PLAYINGPACK_PRICES", "--prices", None),
        ("PLAYINGPACK_TOKEN", "--token", None),
    ]
    # A table has no option of `playingpack start`: it is given in a file or, as JSON, by its
    # variable.
    assert [row.name for row in SETTINGS if not row.option] == ["prices"]


def test_types_bounds_and_choices() -> None:
    kinds = {row.name: row.type for row in SETTINGS}
    assert (kinds["anthropic_upstream"], kinds["tapes_dir"], kinds["port"]) == (str, Path, int)
    assert (kinds["record"], kinds["hold_timeout"], kinds["sequence"]) == (RecordMode, float, bool)
    assert SETTINGS_BY_NAME["record"].choices == ("auto", "off", "replay-only", "refresh")
    assert SETTINGS_BY_NAME["pause"].choices == ("off", "tool-calls", "all")
    assert SETTINGS_BY_NAME["replay_timing"].choices == ("original", "instant")
    assert SETTINGS_BY_NAME["port"].bounds == (0, 65535)
    assert SETTINGS_BY_NAME["live_window"].bounds == (1, 100_000)
    hold = SETTINGS_BY_NAME["hold_timeout"]
    assert (hold.bounds, hold.open_min) == ((0, 86400), True)
    assert SETTINGS_BY_NAME["port"].choices is None


def test_only_the_modes_and_the_hold_settings_are_live() -> None:
    assert [row.name for row in LIVE_SETTINGS] == [
        "record",
        "pause",
        "pause_requests",
        "sequence",
        "hold_timeout",
        "replay_timing",
    ]


def test_defaults_as_shown_and_legacy_keys() -> None:
    shown = {row.name: row.shown_default for row in SETTINGS}
    assert shown["hold_timeout"] == "300" and shown["tapes_dir"] == ".playingpack/tapes"
    assert shown["headless"] == "false" and shown["record"] == "auto"
    assert shown["token"] == "generated at start"
    assert SETTINGS_BY_NAME["anthropic_upstream"].camel == "anthropicUpstream"
    assert SETTINGS_BY_NAME["record"].camel == "record"


def test_only_the_token_is_secret() -> None:
    assert [row.name for row in SETTINGS if row.secret] == ["token"]
    config = Config(token=TOKEN)
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(define_config(token=TOKEN))


# --- define_config ------------------------------------------------------------------------------


def test_define_config_takes_every_setting_by_keyword() -> None:
    parameters = inspect.signature(define_config).parameters.values()
    assert [p.name for p in parameters] == [row.name for row in SETTINGS]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None for p in parameters)
    hints = typing.get_type_hints(define_config)
    for row in SETTINGS:
        assert row.type in typing.get_args(hints[row.name]) or row.type in (Path, Prices)


def test_define_config_keeps_only_given_keys() -> None:
    given = define_config(record="off", tapes_dir=Path("t"), port=0)
    assert given == ConfigFile(record=RecordMode.OFF, tapes_dir=Path("t"), port=0)
    assert given.given() == frozenset({"record", "tapes_dir", "port"})
    assert define_config().given() == frozenset()
    given = define_config(pause_requests=False, hold_timeout=5, live_window=3, token=TOKEN)
    assert given == ConfigFile(pause_requests=False, hold_timeout=5.0, live_window=3, token=TOKEN)
    assert given.given() == frozenset({"pause_requests", "hold_timeout", "live_window", "token"})
    given = define_config(sequence=True)
    assert given == ConfigFile(sequence=True)
    assert given.given() == frozenset({"sequence"})
    given = define_config(anthropic_upstream="https://api.anthropic.com/")
    assert given == ConfigFile(anthropic_upstream="https://api.anthropic.com")
    assert given.given() == frozenset({"anthropic_upstream"})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"record": "sometimes"},
            "define_config(): record must be one of auto, off, replay-only, refresh "
            "(got 'sometimes')",
        ),
        ({"port": 70000}, "define_config(): port must be an integer"),
        ({"headless": "yes"}, "define_config(): headless must be true or false"),
        ({"live_window": 0}, "define_config(): live_window must be an integer"),
        ({"hold_timeout": -1}, "define_config(): hold_timeout must be a number"),
        ({"pause_requests": 1}, "define_config(): pause_requests must be true"),
        ({"sequence": "yes"}, "define_config(): sequence must be true or false"),
        ({"token": "short"}, "define_config(): token must be at least 16"),
        (
            {"anthropic_upstream": "api.anthropic.com"},
            "define_config(): anthropic_upstream must be an http:// or https:// URL with a host, "
            "such as https://api.openai.com (got 'api.anthropic.com')",
        ),
    ],
)
def test_define_config_checks_each_value_at_once(given: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        define_config(**given)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_a_config_file_of_unknown_settings_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown settings recrod"):
        ConfigFile(recrod="auto")
    assert ConfigFile(port=None) == ConfigFile()
    assert define_config(record="off").record is RecordMode.OFF
    assert define_config().record is None


# --- anthropic_upstream_of ----------------------------------------------------------------------


def test_default_upstream_constants() -> None:
    assert Config().upstream == DEFAULT_UPSTREAM == "https://api.openai.com"
    assert DEFAULT_ANTHROPIC_UPSTREAM == "https://api.anthropic.com"
    assert Config().anthropic_upstream is None


def test_anthropic_upstream_of_an_explicit_setting_wins() -> None:
    config = Config(anthropic_upstream="http://localhost:4000")
    assert anthropic_upstream_of(config) == "http://localhost:4000"
    config = Config(upstream="http://gw.test", anthropic_upstream="http://other.test")
    assert anthropic_upstream_of(config) == "http://other.test"


@pytest.mark.parametrize(
    "upstream",
    [
        "https://api.openai.com",
        "https://api.openai.com/",
        "https://api.openai.com/v1",
        "https://api.openai.com/v1/",
        " HTTPS://API.OpenAI.com:443 ",
    ],
)
def test_anthropic_upstream_of_the_openai_default_is_anthropic(upstream: str) -> None:
    assert anthropic_upstream_of(Config(upstream=upstream)) == "https://api.anthropic.com"


@pytest.mark.parametrize(
    "upstream",
    [
        "http://localhost:4000",  # a gateway such as LiteLLM serving both formats
        "https://gateway.test/v1",
        "http://api.openai.com",  # not the default: plain http
        "https://api.openai.com:8443",
        "https://api.openai.com/openai",
        "https://api.openai.com.evil.test",
        "not a url",  # a Config built by hand is not validated; it is simply not the default
    ],
)
def test_anthropic_upstream_of_any_other_upstream_is_that_upstream(upstream: str) -> None:
    assert anthropic_upstream_of(Config(upstream=upstream)) == upstream


# --- the live settings of a running server -------------------------------------------------------


def test_live_settings_start_from_the_config_and_change_only_through_update() -> None:
    config = Config(pause=PauseMode.TOOL_CALLS, hold_timeout=7.5, port=5000)
    settings = Settings.from_config(config)
    assert (settings.pause, settings.hold_timeout, settings.port) == (
        PauseMode.TOOL_CALLS,
        7.5,
        5000,
    )
    settings.update({"record": RecordMode.OFF, "replay_timing": ReplayTiming.INSTANT})
    assert (settings.record, settings.replay_timing) == (RecordMode.OFF, ReplayTiming.INSTANT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.pause = PauseMode.ALL  # type: ignore[misc]
    with pytest.raises(ValueError, match="port cannot change while the server runs"):
        settings.update({"port": 1, "pause": PauseMode.ALL})
    assert (settings.port, settings.pause) == (5000, PauseMode.TOOL_CALLS)  # nothing changed
    assert config.record is RecordMode.AUTO  # the Config it started from stays as it was
