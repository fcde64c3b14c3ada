"""The tape key: reproduces the original tool's file names for reference bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playingpack.hashing import InvalidJSON, canonical_json, js_number, parse_body, request_key

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "hash-cases.jsonl"
FIXTURE = Path(__file__).parent / "fixtures" / "hash-cases.jsonl"


def _cases() -> list[dict[str, str]]:
    source = VECTORS if VECTORS.exists() else FIXTURE
    return [json.loads(line) for line in source.read_text("utf-8").splitlines() if line.strip()]


def test_fixture_copy_matches_shared_vectors() -> None:
    if VECTORS.exists():
        assert FIXTURE.read_text("utf-8") == VECTORS.read_text("utf-8")
    assert len(_cases()) >= 23


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case["name"])
def test_key_matches_original_tool(case: dict[str, str]) -> None:
    assert request_key(parse_body(case["raw"].encode("utf-8"))) == case["hash"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.2345e25, "1.2345e+25"),
        (-2.5, "-2.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_numbers_print_as_javascript(value: float, text: str) -> None:
    assert js_number(value) == text


def test_big_integers_lose_precision_like_doubles() -> None:
    assert canonical_json({"seed": 12345678901234567890}) == '{"seed":12345678901234567000}'
    assert canonical_json({"n": 2**53 - 1}) == '{"n":9007199254740991}'


def test_ignored_keys_dropped_at_every_depth_and_keys_sorted() -> None:
    body = {"b": [{"stream": 1, "z": 1, "a": 2}], "a": {"timestamp": 3, "request_id": 4}}
    assert canonical_json(body) == '{"a":{},"b":[{"a":2,"z":1}]}'


def test_index_keys_first_then_utf16_order() -> None:
    body = {"b": 1, "10": 2, "9": 3, "\uff61": 4, "\U0001f600": 5, "01": 6}
    assert canonical_json(body) == '{"9":3,"10":2,"01":6,"b":1,"\U0001f600":5,"\uff61":4}'


def test_strings_escape_only_what_javascript_escapes() -> None:
    text = 'q"b\\s/\x7f\u2028\x00\x08\t\n\x0c\r\x1f é'
    assert canonical_json(text) == '"q\\"b\\\\s/\x7f\u2028\\u0000\\b\\t\\n\\f\\r\\u001f é"'


def test_lone_surrogates_are_escaped_like_well_formed_stringify() -> None:
    body = parse_body(b'{"t": "\\ud800x"}')
    assert canonical_json(body) == '{"t":"\\ud800x"}'


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": NaN}', b"\xff"])
def test_invalid_json_raises(raw: bytes) -> None:
    with pytest.raises(InvalidJSON):
        parse_body(raw)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        # What msgspec's sorted writing already gets right...
        ({"b": 0.5, "a": "x", "c": [0.25, -3]}, '{"a":"x","b":0.5,"c":[0.25,-3]}'),
        ({"n": 2**53 - 1, "t": "1.0, 1e21"}, '{"n":9007199254740991,"t":"1.0, 1e21"}'),
        ({"é": 1, "\uff61": 2, "z": 3}, '{"z":3,"é":1,"\uff61":2}'),
        # ...and each thing it writes otherwise, at the end of a body too.
        ({"t": 1.0, "u": [2.0], "v": {"w": 3.0}}, '{"t":1,"u":[2],"v":{"w":3}}'),
        (4.0, "4"),
        ({"a": 1e21, "b": 1e-7, "c": 1e-5}, '{"a":1e+21,"b":1e-7,"c":0.00001}'),
        ({"seed": -(2**60)}, '{"seed":-1152921504606847000}'),
        ({"a2": 1, "10": 2, "9": 3}, '{"9":3,"10":2,"a2":1}'),
        ({"a": {"stream": True, "b": 1}}, '{"a":{"b":1}}'),
        ({"\U0001f600": 1, "\uff61": 2}, '{"\U0001f600":1,"\uff61":2}'),
    ],
)
def test_bodies_print_as_javascript(body: object, text: str) -> None:
    assert canonical_json(body) == text
