"""The checks of setting values, called directly: bounds, text from the environment, URLs."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from playingpack.config import SETTINGS, PauseMode, Setting
from playingpack.config_checks import (
    BadValue,
    parse_bool,
    parse_enum,
    parse_path,
    parse_token,
    parse_upstream,
    same_upstream,
)

NUMBERS = [row for row in SETTINGS if row.bounds is not None and row.choices is None]


def test_the_numbers_are_port_hold_timeout_and_live_window() -> None:
    assert [row.name for row in NUMBERS] == ["port", "hold_timeout", "live_window"]


@pytest.mark.parametrize("row", NUMBERS, ids=lambda row: row.name)
def test_each_number_takes_its_bounds_and_refuses_past_them(row: Setting) -> None:
    assert row.rule is not None
    low, high = typing.cast(tuple[float, float], row.bounds)
    assert row.parse(high, False) == high
    assert row.parse(str(high), True) == high
    if row.open_min:
        assert row.parse(low + 0.5, False) == low + 0.5
        refused: list[object] = [low, high + 1]
    else:
        assert row.parse(low, False) == low
        refused = [low - 1, high + 1]
    for value in [*refused, True, "1", None]:
        with pytest.raises(BadValue) as info:
            row.parse(value, False)
        assert str(info.value) == row.rule


def test_integers_from_text_take_only_decimal_digits() -> None:
    port = next(row for row in NUMBERS if row.name == "port")
    assert port.parse(" 8080 ", True) == 8080
    for text in ["8o8o", "²", "80.0", "-1"]:
        with pytest.raises(BadValue):
            port.parse(text, True)


@pytest.mark.parametrize("text", ["inf", "nan", "1e400", "5s"])
def test_seconds_must_be_finite(text: str) -> None:
    hold = next(row for row in NUMBERS if row.name == "hold_timeout")
    with pytest.raises(BadValue):
        hold.parse(text, True)
    assert hold.parse("1e3", True) == 1000.0 and isinstance(hold.parse(2, False), float)


def test_bools_are_words_in_text_and_real_bools_elsewhere() -> None:
    assert [parse_bool(word, True) for word in ["1", "YES", " true ", "0", "No", "false"]] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(BadValue, match=r"^must be true or false$"):
        parse_bool("true", False)
    with pytest.raises(BadValue, match=r"^must be one of 1, 0, true, false, yes, no$"):
        parse_bool("maybe", True)


def test_choices_are_matched_exactly_and_listed_when_not() -> None:
    parse = parse_enum(PauseMode)
    assert parse(" all ", True) is PauseMode.ALL
    with pytest.raises(BadValue, match=r"^must be one of off, tool-calls, all$"):
        parse(" all ", False)  # a file's value is taken as it is written


def test_upstream_keeps_its_path_and_drops_one_trailing_slash() -> None:
    assert parse_upstream(" https://gw.test:8443/openai/v1/ ", True) == (
        "https://gw.test:8443/openai/v1"
    )
    with pytest.raises(BadValue, match=r"without a query or fragment$"):
        parse_upstream("https://h/?k=1", False)
    with pytest.raises(BadValue, match=r"^must be an http:// or https:// URL with a host"):
        parse_upstream("http://h:port", False)


def test_paths_expand_the_home_directory() -> None:
    assert parse_path("~/tapes", False) == Path.home() / "tapes"
    with pytest.raises(BadValue, match=r"^must be a non-empty path$"):
        parse_path(" ", False)


def test_a_bad_token_is_described_never_shown() -> None:
    assert parse_token("Short-but-Secret", False) == "Short-but-Secret"
    with pytest.raises(BadValue) as info:
        parse_token("Secret with spaces in it", False)
    assert info.value.found == "a character outside that set; value not shown"
    with pytest.raises(BadValue) as info:
        parse_token("x" * 513, False)
    assert info.value.found == "513 characters; value not shown"


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1/", True),
        (" HTTPS://API.OpenAI.com:443 ", "https://api.openai.com", True),
        ("http://localhost:80", "http://localhost", True),
        ("http://api.openai.com", "https://api.openai.com", False),
        ("https://api.openai.com:8443", "https://api.openai.com", False),
        ("https://api.openai.com/openai", "https://api.openai.com", False),
        ("not a url", "https://api.openai.com", False),
    ],
)
def test_same_upstream(first: str, second: str, same: bool) -> None:
    assert same_upstream(first, second) is same
