"""The tapes under a tapes folder: named, resolved, deleted, verified and pruned.

The logic of ``playingpack tapes rm|verify|prune`` and of naming tapes on the command line;
cli.py only parses and prints (``tape_views`` writes what list and show print). Nothing here
imports the server stack (aiohttp), so the commands start fast. Tapes are named by their key
(see ``tape_files``).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from playingpack.errors import TapeError
from playingpack.ledger import LastRun
from playingpack.providers import Provider
from playingpack.redaction import find_secrets
from playingpack.replay import InvalidReplay, Replay
from playingpack.store import (
    MAX_TAPE_FILE,
    STALE_TEMPORARY,
    is_temporary,
    read_file,
    refusal,
    too_big,
)
from playingpack.tape_files import TapeFile, find_tapes, parse_name
from playingpack.tapes import Tape

if TYPE_CHECKING:
    from playingpack.tape_index import Signature

MIN_PREFIX = 6  # hex digits a hash prefix needs to name a tape

_REF = re.compile(r"([0-9a-fA-F]+)(?:\.([0-9]+))?")


def read_tape(path: Path) -> bytes:
    """The bytes of a tape file; raises ValueError saying why it cannot be read."""
    try:
        return read_file(path)[0]
    except TapeError as exc:
        raise ValueError(exc.reason) from None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None


def provider_for(endpoint: str, providers: Sequence[Provider]) -> Provider | None:
    """The wire format of tapes recorded at ``endpoint``, or None for an unknown one."""
    return next((provider for provider in providers if provider.serves(endpoint)), None)


# --- resolving what the user typed ---------------------------------------------------------------


def resolve(tapes: list[TapeFile], ref: str) -> list[TapeFile]:
    """The tapes ``ref`` names, all recordings of one request in one folder (first first).

    ``ref`` is a tape key (``test_foo/<hash>``, ``<hash>.2``), a full hash or a prefix of at
    least MIN_PREFIX hex digits, optionally with a folder (``test_foo/3ff33a``) or a recording
    number (``3ff33a.2``). Like a path, a ref without a folder names tapes at the top of the
    tapes folder; only when none matches there is every per-test folder searched. Returns []
    when nothing matches; raises ValueError when ``ref`` is malformed or matches more than one
    request (listing their keys).
    """
    text = ref.strip().replace("\\", "/").removesuffix(".json").removeprefix("./")
    folder, slash, name = text.rpartition("/")
    match = _REF.fullmatch(name)
    if match is None or len(match.group(1)) < MIN_PREFIX:
        raise ValueError(
            f"{ref!r} is not a tape hash or id: expected a hash or at least {MIN_PREFIX} of its "
            "first hex digits, optionally with a folder or a recording number "
            "(3ff33a93, test_foo/3ff33a93, 3ff33a93.2); `playingpack tapes list` shows them"
        )
    prefix, number = match.group(1).lower(), match.group(2)
    candidates = [
        tape
        for tape in tapes
        if tape.hash.startswith(prefix)
        and (not slash or tape.folder == folder)
        and (number is None or tape.index == int(number))
    ]
    if not slash and any(tape.folder == "" for tape in candidates):
        candidates = [tape for tape in candidates if tape.folder == ""]
    groups = sorted({_group(tape) for tape in candidates})
    if len(groups) > 1:
        listed = "\n".join(f"  {group}" for group in groups)
        raise ValueError(
            f"{ref!r} matches {len(groups)} recorded requests; name one of them by its key "
            f"(or more of its hash):\n{listed}"
        )
    return sorted(candidates, key=lambda tape: tape.index)


def _group(tape: TapeFile) -> str:
    """The key of the request's first recording: what all its recordings share."""
    return f"{tape.folder}/{tape.hash}" if tape.folder else tape.hash


# --- rm ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    deleted: list[TapeFile]
    unknown: list[str]  # the references that named no tape


def remove(tapes_dir: Path, refs: list[str]) -> Removal:
    """Delete the tapes ``refs`` name (every recording of each named request), then any folder
    that leaves empty. Every ref is resolved before anything is deleted, so a malformed or
    ambiguous one (ValueError, see resolve()) deletes nothing."""
    tapes = find_tapes(tapes_dir)
    chosen: dict[str, TapeFile] = {}
    unknown: list[str] = []
    for ref in refs:
        found = resolve(tapes, ref)
        if not found:
            unknown.append(ref)
        chosen.update((tape.key, tape) for tape in found)
    deleted = list(chosen.values())
    _delete(tapes_dir, deleted)
    return Removal(deleted, unknown)


def _delete(tapes_dir: Path, tapes: list[TapeFile]) -> None:
    for tape in tapes:
        tape.path.unlink(missing_ok=True)
    root = tapes_dir.resolve()
    for folder in sorted({tape.path.parent for tape in tapes}, key=lambda p: -len(p.parts)):
        # Walk up through the per-test folders this emptied, never past the tapes folder.
        while folder.resolve() != root and folder.resolve().is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone)
                break
            folder = folder.parent


# --- verify --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    path: Path
    what: str


@dataclass(frozen=True)
class Verification:
    checked: int  # .json files read
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # worth a look, not wrong


def verify(
    tapes_dir: Path,
    providers: Sequence[Provider],
    now: float | None = None,
    *,
    full: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Verification:
    """Check every ``*.json`` file under ``tapes_dir``: it parses as a tape whose answer can be
    replayed, its name is a tape name whose hash is ``meta.hash`` and the hash of the request
    as stored, and its text holds nothing that looks like an API key or a secret header. A link
    to a folder (not entered) is a problem too. The temporary files of tape writes are
    warnings: of a write in progress, or of one a killed process left behind (``playingpack
    start`` removes those once they are STALE_TEMPORARY seconds old).

    What was found in a tape file is kept in the tape index and reused while the file's size,
    mtime and inode stay the same (the same file gives the same result), unless ``full``.
    ``progress`` is told (files checked, files to check) as checking goes, once every file is
    found; thousands of files are checked by two processes, from while they are found."""
    from playingpack.tape_index import TapeIndex

    moment = time.time() if now is None else now
    index = TapeIndex(tapes_dir, providers)
    try:
        known = {} if full else index.verdicts()
        checked = 0
        # In walk order: the problems of a file (or link) known, else where in ``paths`` a
        # file to check is (its problems come back in that order).
        slots: list[list[Problem] | int] = []
        paths: list[str] = []
        warnings: list[Problem] = []
        root = os.path.join(tapes_dir, "")  # the start of every path walked
        with _Checker(providers) as checker:
            for path, name in _walk(root):
                if name.endswith(".json"):
                    checked += 1
                    if known:
                        # Only tape names have verdicts: a key found is of a tape name.
                        verdict = known.get(path[len(root) : -5].replace(os.sep, "/"))
                        if verdict is not None and verdict[0] == _signature(path):
                            if verdict[1]:
                                slots.append([Problem(Path(path), what) for what in verdict[1]])
                            continue
                    slots.append(len(paths))
                    paths.append(path)
                    checker.add(path)
                elif is_temporary(name):
                    try:
                        age = moment - os.lstat(path).st_mtime
                    except FileNotFoundError:
                        continue
                    warnings.append(Problem(Path(path), _temporary(Path(path), age)))
                elif os.path.isdir(path):  # a link to a folder: _walk yields no other
                    try:
                        mode = os.lstat(path).st_mode
                    except FileNotFoundError:
                        continue
                    slots.append([Problem(Path(path), refusal(mode, folder=True) or "")])
            found: list[Checked] = []
            for chunk in checker.results(progress):
                # Kept as they come, while the pool checks the next ones.
                index.judged(
                    [
                        (path[len(root) : -5].replace(os.sep, "/"), signature, whats)
                        for path, (signature, whats, named) in zip(
                            paths[len(found) : len(found) + len(chunk)], chunk, strict=True
                        )
                        if named and signature is not None
                    ]
                )
                found += chunk
    finally:
        index.close()
    problems: list[Problem] = []
    for slot in slots:
        if isinstance(slot, list):
            problems += slot
        elif found[slot][1]:
            problems += [Problem(Path(paths[slot]), what) for what in found[slot][1]]
    return Verification(checked, problems, warnings)


_POOLED = 2000  # files to check from which two processes check them
_CHUNK = 1000  # files a worker checks at a time
# The file's signature when read, its problems, and whether it is named like a tape.
Checked = tuple["Signature | None", list[str], bool]


class _Checker:
    """Checks the files it is given: in this process while they are few, then in a pool of two
    that starts once _POOLED are waiting and checks them while more are found."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        self.providers = providers
        self.waiting: list[str] = []
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[list[Checked]]] = []
        self.total = 0

    def __enter__(self) -> _Checker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def add(self, path: str) -> None:
        self.waiting.append(path)
        self.total += 1
        if self.pool is None and len(self.waiting) >= _POOLED and (os.cpu_count() or 1) > 1:
            # spawn, not fork: the caller's threads (and their locks) must not be copied.
            self.pool = ProcessPoolExecutor(
                2,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_providers,
                initargs=(self.providers,),
            )
        if self.pool is not None and len(self.waiting) >= _CHUNK:
            self._submit()

    def _submit(self) -> None:
        assert self.pool is not None
        self.futures.append(self.pool.submit(_check_all, self.waiting))
        self.waiting = []

    def results(self, progress: Callable[[int, int], None] | None) -> Iterator[list[Checked]]:
        """What was found in every file given, in order, a chunk at a time."""
        done = 0
        if self.pool is None:
            chunks: Iterator[list[Checked]] = (
                _check_all(self.waiting[start : start + _CHUNK], self.providers)
                for start in range(0, len(self.waiting), _CHUNK)
            )
        else:
            if self.waiting:
                self._submit()
            chunks = (future.result() for future in self.futures)
        for chunk in chunks:
            done += len(chunk)
            if progress is not None:
                progress(done, self.total)
            yield chunk


_providers: Sequence[Provider] = ()  # a pool worker's, set as it starts


def _worker_providers(providers: Sequence[Provider]) -> None:
    global _providers
    _providers = providers


def _check_all(paths: list[str], providers: Sequence[Provider] = ()) -> list[Checked]:
    chosen = providers or _providers
    endpoints: dict[str, Provider | None] = {}  # provider_for of each endpoint met
    return [_check(path, chosen, endpoints) for path in paths]


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """tape_files.walk as (path, name) strings: 100,000 Paths take a core a second."""
    for folder, subfolders, names in os.walk(root):
        visible = sorted(name for name in subfolders if not name.startswith("."))
        links = [name for name in visible if os.path.islink(os.path.join(folder, name))]
        subfolders[:] = [name for name in visible if name not in links]
        start = os.path.join(folder, "")
        for name in sorted(names + links):
            yield start + name, name


def _signature(path: str) -> Signature | None:
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ino)


def _temporary(path: Path, age: float) -> str:
    remove = f"`rm {shlex.quote(str(path))}`"
    if age < STALE_TEMPORARY:
        return (
            f"temporary file of a tape being written ({age:.0f} s old); if no playingpack is "
            f"running, it was left by an interrupted write: remove it with {remove}"
        )
    return (
        f"temporary file left by an interrupted write ({age / 60:.0f} min old; `playingpack "
        f"start` removes it): remove it with {remove}"
    )


def _check(
    path: str, providers: Sequence[Provider], endpoints: dict[str, Provider | None]
) -> Checked:
    """What is wrong with the file at ``path`` (see verify), with its signature when read."""
    named = parse_name(os.path.basename(path))
    try:
        data, status = read_file(path)
    except (TapeError, OSError) as exc:
        reason = exc.reason if isinstance(exc, TapeError) else exc.strerror or str(exc)
        return None, [f"cannot be read: {reason}"], named is not None
    signature = (status.st_size, status.st_mtime_ns, status.st_ino)
    return signature, _problems(data, named, providers, endpoints), named is not None


def _problems(
    data: bytes,
    named: tuple[str, int] | None,
    providers: Sequence[Provider],
    endpoints: dict[str, Provider | None],
) -> list[str]:
    found = [
        f"{secret.what} at line {secret.line} ({secret.shown}); {_SECRET_ADVICE}"
        for secret in find_secrets(data)
    ]
    try:
        tape = Tape.from_json(data)
    except ValueError as exc:
        return [f"is not a tape: {exc}", *found]
    if named is None:
        return [
            "is not named like a tape (expected <64 hex digits>.json, or <64 hex digits>.<k>"
            f".json with k >= 2 for a repeated request); rename it to {tape.key}.json if it is "
            "one",
            *found,
        ]
    named_hash = named[0]
    if tape.key != named_hash:
        found.insert(
            0,
            f"meta.hash is {tape.key[:12]}…, but the file name says {named_hash[:12]}…; the "
            "file was renamed or its meta edited: make them agree",
        )
    try:
        provider = endpoints[tape.endpoint]
    except KeyError:
        provider = endpoints[tape.endpoint] = provider_for(tape.endpoint, providers)
    if provider is None:
        found.insert(
            0, f"endpoint {tape.endpoint!r} is not one playingpack records; its hash is unchecked"
        )
    else:
        if (computed := provider.key(tape.request, tape.endpoint)) != named_hash:
            found.insert(
                0,
                f"the request hashes to {computed[:12]}…, not to the {named_hash[:12]}… of the "
                "file name: it was edited after recording, so it can never be replayed; "
                "re-record it (--record refresh) or delete it",
            )
        unplayable = too_big(len(data)) if len(data) > MAX_TAPE_FILE else None
        unplayable = unplayable or _unplayable(tape, provider)
        if unplayable is not None:
            found.insert(0, f"cannot be replayed: {unplayable}; re-record it or delete it")
    return found


def _unplayable(tape: Tape, provider: Provider) -> str | None:
    """Why ``tape`` cannot be replayed (its summary, or the JSON answer), or None."""
    try:
        Replay(tape, provider).json_body()
    except InvalidReplay as exc:
        return str(exc)
    return None


_SECRET_ADVICE = "remove it from the tape (and revoke the key if it is real)"


# --- prune ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruning:
    deleted: list[TapeFile]  # (or, on a dry run, to be deleted)
    kept: list[TapeFile]  # used by the last run
    newer: list[TapeFile]  # unused but written after the last run ended: kept


def prune(tapes_dir: Path, last_run: LastRun, *, dry_run: bool = False) -> Pruning:
    """Delete the tapes the last run neither replayed nor recorded, then the folders that
    leaves empty. Tapes written after that run ended are kept: it could not have used them."""
    deleted, kept, newer = [], [], []
    finished = last_run.finished_at.timestamp()
    for tape in find_tapes(tapes_dir):
        if tape.key in last_run.used:
            kept.append(tape)
        elif tape.mtime > finished:
            newer.append(tape)
        else:
            deleted.append(tape)
    if not dry_run:
        _delete(tapes_dir, deleted)
    return Pruning(deleted, kept, newer)
