"""The tape key: a SHA-256 of the request body, normalised exactly as JavaScript would.

Tapes written by the original tool are named by
``sha256(JSON.stringify(sortKeys(omit(body, "stream", "request_id", "timestamp"))))``. Matching it
means following JavaScript's JSON rules: numbers are IEEE doubles printed the ECMAScript way, keys
that are array indices sort first in numeric order, other keys sort by UTF-16 code units, and
strings escape only quotes, backslashes and control characters.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import msgspec

IGNORED_KEYS = frozenset({"stream", "request_id", "timestamp"})
# How deep a request body may nest arrays and objects. Real requests (JSON schemas of tools
# included) stay far below it; every part of playingpack that walks a body handles it.
MAX_DEPTH = 256

_MAX_ARRAY_INDEX = 2**32 - 2
_SAFE_INTEGER = 2**53
_encoder = msgspec.json.Encoder()
_sorted_encoder = msgspec.json.Encoder(order="sorted")  # keys in code point order
_IGNORED_WRITTEN = tuple(f'"{key}":'.encode() for key in ("stream", "request_id", "timestamp"))
# Every digit as 0, and every first byte of a character beyond U+FFFF as F0.
_SHAPES = bytes.maketrans(b"0123456789\xf1\xf2\xf3\xf4", b"0" * 10 + b"\xf0" * 4)


class InvalidJSON(ValueError):
    """The request body is not valid JSON."""


class UnsupportedJSON(ValueError):
    """The request body is JSON that playingpack cannot keep exactly: a number out of a
    double's range, or nesting deeper than MAX_DEPTH. The message says which."""


def parse_body(raw: bytes) -> Any:
    """Parse a request body as JSON; raise InvalidJSON with the parser's reason, or
    UnsupportedJSON, otherwise."""
    try:
        value = msgspec.json.decode(raw)
    except RecursionError:
        raise _too_deep() from None
    except msgspec.DecodeError as exc:
        # msgspec rejects lone surrogates, which JSON.parse accepts; the stdlib accepts them too.
        # It also rejects numbers beyond 64 bits, which only the fallback tells apart.
        try:
            value = json.loads(raw, parse_constant=reject_constant, parse_float=_float)
        except UnsupportedJSON:
            raise
        except RecursionError:
            raise _too_deep() from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidJSON(str(exc)) from None
    if nests_deeper(value, MAX_DEPTH, raw):
        raise _too_deep()
    return value


def nests_deeper(value: Any, limit: int, raw: bytes | None = None) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` deep, without recursion;
    ``raw``, the JSON it was parsed from, spares the walk when it has too few brackets."""
    if raw is not None and raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    level = [value] if type(value) in (dict, list) else []
    for _ in range(limit):
        if not level:
            return False
        inner: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            inner.extend([child for child in children if type(child) in (dict, list)])
        level = inner
    return bool(level)


def _too_deep() -> UnsupportedJSON:
    return UnsupportedJSON(
        f"the request body nests arrays or objects deeper than {MAX_DEPTH} levels"
    )


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UnsupportedJSON(_out_of_range(text))
    return value


def _out_of_range(text: str) -> str:
    shown = text if len(text) <= 40 else text[:20] + "..." + text[-8:]
    return (
        f"the number {shown} is out of the range of a 64-bit float, which JSON numbers are "
        "read as by the providers' APIs"
    )


def request_key(body: Any, *, extra: str = "") -> str:
    """Return the tape key (hex SHA-256) of a parsed request body.

    ``extra`` is prepended to the hashed text; it stays empty for chat completions so keys match
    the original tool's.
    """
    digest = hashlib.sha256(extra.encode("utf-8"))
    digest.update(_canonical_bytes(body))
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """Serialise like ``JSON.stringify`` after sorting keys and dropping IGNORED_KEYS everywhere."""
    return _canonical_bytes(value).decode("utf-8", "surrogatepass")


def _canonical_bytes(value: Any) -> bytes:
    try:
        written = _sorted_encoder.encode(value)
    except Exception:  # the rebuild below writes it, or says what is wrong
        written = None
    if written is not None and _already_canonical(written):
        return written
    # Rebuild the value with keys in JavaScript order and numbers pre-printed, then let msgspec
    # (which escapes strings exactly as JSON.stringify does) write it in one C call.
    try:
        return _encoder.encode(_normalise(value))
    except UnicodeEncodeError:
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts).encode("utf-8", "surrogatepass")


def _already_canonical(written: bytes) -> bool:
    """Whether msgspec's sorted writing of a parsed body is its canonical text: none of the
    few things it writes otherwise is in it (checked in C, the body's bytes being far quicker
    to search than its values to walk). Each check may also catch text inside a string, which
    only sends the body the long way round.

    - an ignored key (``"stream":``);
    - an integral float (msgspec writes ``1.0``, JavaScript ``1``) or one with an exponent
      (``1e21``, ``1e-7``: JavaScript writes ``1e+21``, and fixed digits down to 1e-7);
      other floats are the same shortest digits either way;
    - a run of 16 digits, as every integer beyond 2**53 has (JavaScript rounds it to a double);
    - a key ending in a digit (array-index keys sort first in JavaScript, by number);
    - a character beyond U+FFFF (UTF-16 order, by surrogates, differs from msgspec's code
      point order), which UTF-8 writes after a byte F0..F4.
    """
    stream, request_id, timestamp = _IGNORED_WRITTEN
    if stream in written or request_id in written or timestamp in written:
        return False
    if b".0," in written or b".0]" in written or b".0}" in written or written.endswith(b".0"):
        return False
    shapes = written.translate(_SHAPES)
    return not (b"0e" in shapes or b"0" * 16 in shapes or b'0":' in shapes or b"\xf0" in shapes)


def _normalise(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        keys = [key for key in value if key not in IGNORED_KEYS]
        if "".join(keys).isascii() and not any(map(str.isdigit, keys)):
            keys.sort()  # for ASCII keys code point order is UTF-16 order
        else:
            keys.sort(key=_js_key_order)
        return {key: _normalise(value[key]) for key in keys}
    if kind is list:
        return [_normalise(item) for item in value]
    if kind is float:
        return msgspec.Raw(js_number(value).encode())
    if kind is int and not -_SAFE_INTEGER < value < _SAFE_INTEGER:
        return msgspec.Raw(_js_integer(value).encode())
    return value


def _write(value: Any, out: list[str]) -> None:
    """The same serialisation in pure Python, for the rare strings msgspec cannot encode
    (lone surrogates, which well-formed JSON.stringify escapes as ``\\udXXX``)."""
    if isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, dict):
        out.append("{")
        keys = sorted((k for k in value if k not in IGNORED_KEYS), key=_js_key_order)
        for i, key in enumerate(keys):
            out.append("," if i else "")
            out.append(_js_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _write(item, out)
        out.append("]")
    else:
        out.append(_encoder.encode(_normalise(value)).decode())


def _js_integer(value: int) -> str:
    """An integer as JavaScript prints it: beyond a double's range it is Infinity, which
    JSON.stringify writes as null."""
    try:
        return js_number(float(value))
    except OverflowError:
        return "null"


def js_number(x: float) -> str:
    """Format a double as ECMAScript's Number::toString does (shortest round-trip digits)."""
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"


def _js_key_order(key: str) -> tuple[int, int, bytes]:
    if _is_array_index(key):
        return (0, int(key), b"")
    return (1, 0, key.encode("utf-16-be", "surrogatepass"))


def _is_array_index(key: str) -> bool:
    if not key.isdigit() or not key.isascii():
        return False
    if len(key) > 1 and key[0] == "0":
        return False
    return int(key) <= _MAX_ARRAY_INDEX


def _js_string(text: str) -> str:
    """Escape like JSON.stringify for strings holding lone surrogates (well-formed stringify)."""
    escapes = {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\t": "\\t",
        "\n": "\\n",
        "\f": "\\f",
        "\r": "\\r",
    }
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def reject_constant(name: str) -> Any:
    """A ``parse_constant`` for json.loads: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")
