"""Explaining a miss: the recorded request nearest to a new one, and where the two differ.

The tape index (``tape_index``) finds the nearest tape; this module says how they differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

_SHOWN = 40  # characters of each value shown around the first difference


@dataclass(frozen=True)
class Nearest:
    """The recorded tape nearest to a request, and the first differences between them."""

    name: str  # the file's path relative to the tapes folder, without .json
    timestamp: str
    differences: list[str]

    def describe(self) -> str:
        """One sentence for an error message."""
        where = "; ".join(self.differences) if self.differences else "no difference in the body"
        return f"The nearest recorded request is tape {self.name} ({self.timestamp}): {where}."


def differences(recorded: Any, wanted: Any, limit: int = 3) -> list[str]:
    """The first ``limit`` places where ``wanted`` differs from ``recorded``, each as
    ``path: recorded-value ≠ wanted-value`` with long values shortened around the change."""
    found: list[str] = []
    _compare(recorded, wanted, "", found, limit)
    return found


def _compare(old: Any, new: Any, path: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                found.append(f"{where}: {_shown(old[key])} ≠ (absent)")
            elif key not in old:
                found.append(f"{where}: (absent) ≠ {_shown(new[key])}")
            else:
                _compare(old[key], new[key], where, found, limit)
            if len(found) >= limit:
                return
        return
    if isinstance(old, list) and isinstance(new, list):
        for position in range(max(len(old), len(new))):
            where = f"{path}[{position}]"
            if position >= len(new):
                found.append(f"{where}: {_shown(old[position])} ≠ (absent)")
            elif position >= len(old):
                found.append(f"{where}: (absent) ≠ {_shown(new[position])}")
            else:
                _compare(old[position], new[position], where, found, limit)
            if len(found) >= limit:
                return
        return
    if old != new or type(old) is not type(new):
        if isinstance(old, str) and isinstance(new, str):
            shown_old, shown_new = _around_change(old, new)
        else:
            shown_old, shown_new = _shown(old), _shown(new)
        found.append(f"{path or '(body)'}: {shown_old} ≠ {shown_new}")


def _around_change(old: str, new: str) -> tuple[str, str]:
    """Both strings cut to a window around their first differing character."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    begin = max(0, start - _SHOWN // 2)

    def cut(text: str) -> str:
        part = text[begin : begin + _SHOWN]
        head = "…" if begin > 0 else ""
        tail = "…" if begin + _SHOWN < len(text) else ""
        return _json(head + part + tail)

    return cut(old), cut(new)


def _shown(value: Any) -> str:
    text = _json(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def leaf_set(value: Any) -> frozenset[tuple[str, str]]:
    """The (path, JSON value) pairs of every leaf of ``value``, ``stream`` left out."""
    leaves: list[tuple[str, str]] = []
    _walk(value, "", leaves)
    return frozenset(leaves)


def _walk(value: Any, path: str, leaves: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "stream":
                _walk(item, f"{path}.{key}", leaves)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _walk(item, f"{path}[{position}]", leaves)
    else:
        leaves.append((path, _json(value)))


def _json(value: Any) -> str:
    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON writes as an escape
        return json.dumps(value)
