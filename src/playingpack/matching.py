"""Explaining a miss: the recorded request nearest to a new one, and where the two differ.

The index reads only the ``meta`` and ``request`` of each tape (a typed decode skips the
answer), once per file and again only when a file changes, so a miss among 10,000 tapes costs
a set comparison per candidate rather than reading the folder again.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from playingpack.hashing import nests_deeper
from playingpack.tape_files import parse_name
from playingpack.tapes import MAX_DEPTH, decode

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _Entry:
    signature: tuple[int, int]
    endpoint: str
    timestamp: str
    body: Any
    leaves: frozenset[tuple[str, str]]


class RequestIndex:
    """The requests of every tape under one folder (not its subfolders), kept up to date.

    Each (endpoint, path, value) leaf points at the tapes that have it, so finding the nearest
    request counts shared leaves for the tapes that share any, instead of comparing with all.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._entries: dict[str, _Entry] = {}
        self._postings: dict[tuple[str, str, str], set[str]] = {}
        self._counts: dict[str, int] = {}  # tapes per endpoint
        self._folder_signature: tuple[int, int] | None = None
        self._skipped: dict[str, tuple[int, int]] = {}  # unreadable files, reported once

    def nearest(self, body: Any, endpoint: str) -> Nearest | None:
        """The tape whose request shares the most (path, value) leaves with ``body`` among
        those recorded from ``endpoint`` (Jaccard similarity; the newest wins a tie); None
        when there is none. Blocking: run it off the event loop."""
        self._refresh()
        wanted = _leaf_set(body)
        postings = [self._postings.get((endpoint, path, value), ()) for path, value in wanted]
        # Leaves many tapes share (a system prompt, the tools, the model) say little about which
        # tape is nearest: the tapes sharing a rare leaf with the request (one in 50 tapes at
        # most) are compared exactly, and only when there are none is every tape sharing
        # anything counted.
        rare_size = max(64, self._counts.get(endpoint, 0) // 50)
        rare = [names for names in postings if 0 < len(names) <= rare_size]
        shared: Counter[str] = Counter()
        if rare:
            for name in set().union(*rare):
                shared[name] = len(wanted & self._entries[name].leaves)
        else:
            for names in postings:
                shared.update(names)
        best: tuple[float, str, str] | None = None
        if shared:
            for name, count in shared.items():
                entry = self._entries[name]
                score = count / (len(wanted) + len(entry.leaves) - count)
                ranked = (score, entry.timestamp, name)
                if best is None or ranked > best:
                    best = ranked
        else:
            for name, entry in self._entries.items():
                if entry.endpoint == endpoint:
                    ranked = (0.0, entry.timestamp, name)
                    if best is None or ranked > best:
                        best = ranked
        if best is None:
            return None
        entry = self._entries[best[2]]
        return Nearest(best[2], entry.timestamp, differences(entry.body, body))

    def _refresh(self) -> None:
        # Tapes are written by rename, which changes the folder: an unchanged folder needs
        # no scan (a file edited in place is seen once anything else changes).
        try:
            folder = os.stat(self.directory)
            found = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            for name in list(self._entries):
                self._drop(name)
            self._folder_signature = None
            return
        signature = (folder.st_mtime_ns, len(found))
        if signature == self._folder_signature:
            return
        seen: set[str] = set()
        for item in found:
            if parse_name(item.name) is None:  # the files tapes are named as (see tape_files)
                continue
            name = item.name[:-5]
            try:
                # Links and FIFOs are never opened (see store.refusal).
                if not item.is_file(follow_symlinks=False):
                    continue
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue
            seen.add(name)
            file_signature = (stat.st_mtime_ns, stat.st_size)
            entry = self._entries.get(name)
            if entry is not None and entry.signature == file_signature:
                continue
            if self._skipped.get(name) == file_signature:
                continue
            self._drop(name)
            problem = None
            try:
                with open(item.path, "rb", opener=_no_follow) as file:
                    data = file.read()
                head = decode(data, _Head)
                body = head.request.body
                if type(body) in (dict, list) and nests_deeper(body, MAX_DEPTH, data):
                    problem = f"its request nests more than {MAX_DEPTH} arrays and objects deep"
            except OSError as exc:
                problem = exc.strerror or str(exc)
            except ValueError as exc:
                problem = str(exc)
            if problem is not None:
                self._skipped[name] = file_signature
                logger.warning(
                    "tape %s is left out of the nearest-tape search: %s", item.path, problem
                )
                continue
            self._skipped.pop(name, None)
            self._add(name, file_signature, head)
        for name in set(self._entries) - seen:
            self._drop(name)
        for name in set(self._skipped) - seen:
            del self._skipped[name]
        self._folder_signature = signature

    def _add(self, name: str, signature: tuple[int, int], head: _Head) -> None:
        entry = _Entry(
            signature,
            head.meta.endpoint,
            head.meta.timestamp,
            head.request.body,
            _leaf_set(head.request.body),
        )
        self._entries[name] = entry
        self._counts[entry.endpoint] = self._counts.get(entry.endpoint, 0) + 1
        for path, value in entry.leaves:
            self._postings.setdefault((entry.endpoint, path, value), set()).add(name)

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is None:
            return
        self._counts[entry.endpoint] -= 1
        for path, value in entry.leaves:
            names = self._postings.get((entry.endpoint, path, value))
            if names is not None:
                names.discard(name)
                if not names:
                    del self._postings[(entry.endpoint, path, value)]


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


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
