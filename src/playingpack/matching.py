"""Explaining a miss: the recorded request nearest to a new one, and where the two differ.

The index reads only the ``meta`` and ``request`` of each tape (a typed decode skips the
answer), once per file and again only when a file changes, so a miss among 10,000 tapes costs
a set comparison per candidate rather than reading the folder again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
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


class _Meta(msgspec.Struct):
    hash: str = ""
    timestamp: str = ""
    endpoint: str = "/v1/chat/completions"


class _Request(msgspec.Struct):
    body: Any = None


class _Head(msgspec.Struct):
    meta: _Meta = msgspec.field(default_factory=_Meta)
    request: _Request = msgspec.field(default_factory=_Request)


_decode_head = msgspec.json.Decoder(_Head).decode


@dataclass(frozen=True)
class _Entry:
    signature: tuple[int, int]
    endpoint: str
    timestamp: str
    body: Any
    leaves: frozenset[tuple[str, str]]


class RequestIndex:
    """The requests of every tape under one folder (not its subfolders), kept up to date."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._entries: dict[str, _Entry] = {}

    def nearest(self, body: Any, endpoint: str) -> Nearest | None:
        """The tape whose request shares the most (path, value) leaves with ``body`` among
        those recorded from ``endpoint``; None when there is none. Blocking: run it off the
        event loop."""
        self._refresh()
        wanted = _leaf_set(body)
        best: tuple[float, str, str] | None = None
        for name, entry in self._entries.items():
            if entry.endpoint != endpoint:
                continue
            shared = len(wanted & entry.leaves)
            score = shared / (len(wanted | entry.leaves) or 1)
            ranked = (score, entry.timestamp, name)
            if best is None or ranked > best:
                best = ranked
        if best is None:
            return None
        entry = self._entries[best[2]]
        return Nearest(best[2], entry.timestamp, differences(entry.body, body))

    def _refresh(self) -> None:
        try:
            found = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            self._entries.clear()
            return
        seen: set[str] = set()
        for item in found:
            if not item.name.endswith(".json") or item.name.startswith("."):
                continue
            name = item.name[:-5]
            try:
                stat = item.stat()
            except OSError:
                continue
            if not item.is_file():
                continue
            seen.add(name)
            signature = (stat.st_mtime_ns, stat.st_size)
            entry = self._entries.get(name)
            if entry is not None and entry.signature == signature:
                continue
            try:
                with open(item.path, "rb") as file:
                    head = _decode_head(file.read())
            except (OSError, msgspec.DecodeError):
                self._entries.pop(name, None)
                continue
            self._entries[name] = _Entry(
                signature,
                head.meta.endpoint,
                head.meta.timestamp,
                head.request.body,
                _leaf_set(head.request.body),
            )
        for name in set(self._entries) - seen:
            del self._entries[name]


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
        return msgspec.json.encode(head + part + tail).decode()

    return cut(old), cut(new)


def _shown(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _leaf_set(value: Any) -> frozenset[tuple[str, str]]:
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
        leaves.append((path, msgspec.json.encode(value).decode()))
