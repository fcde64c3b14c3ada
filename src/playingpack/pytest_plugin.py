"""The pytest plugin (entry point ``pytest11``): record and replay a test suite's LLM calls.

A test that uses the ``playingpack`` fixture (or carries the ``playingpack`` marker) starts one
playingpack for the session, on a free loopback port in a background thread. For the duration
of each test afterwards, ``OPENAI_BASE_URL`` and ``ANTHROPIC_BASE_URL`` point at that test's own
tapes folder (``/t/<folder>`` on the one server), so the SDKs need no code change and tests run
in parallel (pytest-xdist) never mix tapes. The end of the run prints which tapes were recorded,
replayed, missing (with why) and unused, and what the calls cost and the tapes saved in dollars.

Importing this module costs nothing in a test run that does not use it: the server stack is
imported when the first test asks for it.

Options (command line > ``PLAYINGPACK_*`` variable > playingpack config file):

``--playingpack-record auto|off|replay-only|refresh``
    Defaults to ``replay-only`` when the ``CI`` variable is set (and is not ``0``/``false``),
    so CI never calls the real API; ``PLAYINGPACK_RECORD`` still wins over that default.
``--playingpack-tapes DIR``
    The tapes folder (relative to the directory pytest runs in).
``--playingpack-upstream URL``
    Where calls without a tape go.

The playingpack config file (``playingpack.toml``, ``[tool.playingpack]`` in ``pyproject.toml``,
...) is looked up in pytest's rootdir; its other settings (``sequence``, ``replay_timing``,
``anthropic_upstream``, ...) apply as they do to ``playingpack start``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from playingpack.config import SETTINGS_BY_NAME, RecordMode

if TYPE_CHECKING:
    from playingpack.pricing import Spend
    from playingpack.serving import Serving

MARKER = "playingpack"
# Given as the marker's folder: the tapes folder itself (the one `playingpack start` uses).
ROOT_FOLDER = "."
# Set (when unset) while record mode is replay-only: the SDKs refuse to start without a key,
# and a replayed call needs none.
PLACEHOLDER_KEY = "playingpack-replay-only"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_FOLDER = 200
_LISTED = 10  # recorded and unused tapes listed by name (all of them with -v)
# The settings this plugin's options give, as the settings table names them.
_RECORD, _TAPES, _UPSTREAM = (
    SETTINGS_BY_NAME[name] for name in ("record", "tapes_dir", "upstream")
)


def folder_for(nodeid: str) -> str:
    """The per-test tapes folder of a test: its node id made a safe folder name.

    ``tests/test_agent.py::test_weather[paris]`` becomes
    ``tests_test_agent.py__test_weather-paris``. When the id holds other characters, or is
    longer than 200, the name gets ``-`` and 8 hex digits of the id's hash, so two tests
    never share a folder by accident. The result always satisfies ``store.is_scope``.
    """
    text = nodeid.replace("::", "__").replace("/", "_")
    head, bracket, params = text.partition("[")
    if bracket:
        text = f"{head}-{params.removesuffix(']')}"
    safe = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", text)).lstrip("._-")
    if safe == text and 0 < len(safe) <= _MAX_FOLDER:
        return safe
    digest = hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:8]
    return f"{safe[: _MAX_FOLDER - 9]}-{digest}" if safe else f"test-{digest}"


def is_ci(env: Mapping[str, str]) -> bool:
    """Whether ``CI`` says this is a CI run (GitHub Actions, GitLab, ... set ``CI=true``)."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# --- options and marker -------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("playingpack", "playingpack: record and replay LLM API calls")
    group.addoption(
        "--playingpack-record",
        choices=_RECORD.choices,
        default=None,
        help="auto: replay tapes, record what has none; replay-only: fail a call without a "
        "tape; refresh: call the upstream and re-record every tape; off: no tapes. "
        f"Default: {_RECORD.env}, else replay-only when CI is set, else the config's "
        f"record ({_RECORD.shown_default}).",
    )
    group.addoption(
        "--playingpack-tapes",
        metavar="DIR",
        default=None,
        help="Tapes folder; each test records into its own subfolder. "
        f"Default: the config's tapes_dir ({_TAPES.shown_default}).",
    )
    group.addoption(
        "--playingpack-upstream",
        metavar="URL",
        default=None,
        help="Upstream API for calls without a tape. Default: the config's upstream "
        f"({_UPSTREAM.shown_default}).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(tapes=None): use playingpack in this test; tapes='name' records into "
        f"that subfolder of the tapes folder (tests may share one), tapes='{ROOT_FOLDER}' into "
        "the tapes folder itself; by default each test has its own subfolder.",
    )
    config.stash[_RUN] = _Run(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is not None:
        run.stop()  # if the session was interrupted before its fixtures were torn down


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playingpack(pytestconfig: pytest.Config) -> Iterator[Serving]:
    """The session's playingpack (started by the first test that uses it).

    For the session, ``OPENAI_BASE_URL`` and ``ANTHROPIC_BASE_URL`` point at its tapes folder;
    within each test, at the test's own subfolder.
    """
    run = pytestconfig.stash[_RUN]
    serving = run.start()
    with _environment(run.session_environment()):
        try:
            yield serving
        finally:
            run.stop()


@pytest.fixture
def playingpack_base_url(playingpack: Serving, request: pytest.FixtureRequest) -> str:
    """This test's ``base_url`` for OpenAI's SDKs (the value of ``OPENAI_BASE_URL`` in it)."""
    return _url(playingpack, _folder(request)) + "/v1"


@pytest.fixture
def playingpack_anthropic_url(playingpack: Serving, request: pytest.FixtureRequest) -> str:
    """This test's ``base_url`` for Anthropic's SDKs (the value of ``ANTHROPIC_BASE_URL``)."""
    return _url(playingpack, _folder(request))


@pytest.fixture
def playingpack_tapes(playingpack: Serving, request: pytest.FixtureRequest) -> Path:
    """The folder this test's tapes are read from and written to."""
    folder = _folder(request)
    return playingpack.tapes_dir if folder is None else playingpack.tapes_dir / folder


@pytest.fixture(autouse=True)
def _playingpack_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Points the SDKs at this test's tapes folder, while the session's playingpack runs.

    A test that neither uses the fixture nor carries the marker starts nothing; once another
    test started the server, it gets its own folder too (the session's variables point there).
    """
    run = request.config.stash[_RUN]
    wanted = MARKER in request.fixturenames or _marker(request) is not None
    if wanted:
        serving: Serving | None = request.getfixturevalue(MARKER)
    else:
        serving = run.serving
    if serving is None:
        yield
        return
    with _environment(_sdk_environment(_url(serving, _folder(request)))):
        yield


# --- the report ---------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_RUN, None)
    if run is None:
        return
    run.stop()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and run.outcome is not None:
        workeroutput["playingpack"] = run.outcome  # pytest-xdist hands it to the controller
    elif run.worker_outcomes:
        run.write_merged_usage()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker finished; keep what its playingpack did for the report."""
    outcome = getattr(node, "workeroutput", {}).get("playingpack")
    if outcome is not None:
        node.config.stash[_RUN].worker_outcomes.append(outcome)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    run = config.stash.get(_RUN, None)
    outcome = None if run is None else run.merged_outcome()
    if outcome is None:
        return  # no test used playingpack
    verbose = config.getoption("verbose") > 0
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "playingpack")
    where = _shown(Path(outcome["tapes_dir"]), config.invocation_params.dir)
    because = f", {outcome['why']}" if outcome["why"] else ""
    write(f"tapes in {where} (record mode {outcome['record']}{because})")
    recorded, replayed = outcome["recorded"], outcome["replayed"]
    missing, unused = outcome["missing"], outcome["unused"]
    write(
        f"{len(recorded)} recorded, {len(replayed)} replayed, {len(missing)} missing, "
        f"{len(unused)} unused"
    )
    write(_spend_of(outcome["spend"]).line())
    if recorded:
        write("recorded (commit them):")
        _write_names(write, recorded, verbose)
    if replayed and verbose:
        write("replayed:")
        for name in replayed:
            write(f"  {name}")
    if missing:
        write("missing (replay-only found no tape and did not call the upstream):", red=True)
        for miss in missing:
            model = f" ({miss['model']})" if miss.get("model") else ""
            write(f"  {miss['tape']}: {miss['method']} {miss['path']}{model}", red=True)
            write(f"    {miss['explanation']}")
        write(
            "  To record them: run these tests once with --playingpack-record auto "
            "(and an API key), then commit the new tapes."
        )
    if unused:
        write("unused (in the tapes folder, neither replayed nor recorded by this run):")
        _write_names(write, unused, verbose)
        logs = _shown(Path(outcome["logs_dir"]), config.invocation_params.dir)
        write(
            "  After a run of the whole suite, `playingpack tapes prune "
            f"--tapes-dir {where} --logs-dir {logs}` deletes them (--dry-run lists them)."
        )


# --- the session's server -----------------------------------------------------------------------


@dataclass
class _Run:
    """The session's playingpack, started on first use, and what it did."""

    config: pytest.Config
    serving: Serving | None = None
    # What the server did, kept when it stops (the report is printed after that).
    outcome: dict[str, Any] | None = None
    worker_outcomes: list[dict[str, Any]] = field(default_factory=list)
    why: str = ""

    def start(self) -> Serving:
        if self.serving is not None:
            return self.serving
        from playingpack.errors import PlayingpackError
        from playingpack.history import RunStart
        from playingpack.serving import serve

        settings: dict[str, Any] = {}
        record, self.why = _record_mode(self.config, os.environ)
        if record is not None:
            settings["record"] = record
        tapes = self.config.getoption("playingpack_tapes")
        if tapes is not None:
            settings["tapes_dir"] = self.config.invocation_params.dir / tapes
        upstream = self.config.getoption("playingpack_upstream")
        if upstream is not None:
            settings["upstream"] = upstream
        try:
            # The session is one run in the history, labelled with the command that ran it.
            command = " ".join(["pytest", *self.config.invocation_params.args])
            serving = serve(cwd=self.config.rootpath, run=RunStart("pytest", command), **settings)
            serving.start()
        except (PlayingpackError, OSError) as exc:
            pytest.fail(f"playingpack could not start: {exc}", pytrace=False)
        self.serving = serving
        return serving

    def stop(self) -> None:
        serving, self.serving = self.serving, None
        if serving is None:
            return
        try:
            self.outcome = {
                **serving.report(),
                "record": serving.config.record.value,
                "why": self.why,
                "logs_dir": str(serving.config.logs_dir),
                "spend": serving.spend().to_json(),
            }
        finally:
            serving.stop()

    def session_environment(self) -> dict[str, str]:
        assert self.serving is not None
        values = _sdk_environment(self.serving.url)
        if self.serving.config.record is RecordMode.REPLAY_ONLY:
            for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
                if not os.environ.get(name):
                    values[name] = PLACEHOLDER_KEY
        return values

    def merged_outcome(self) -> dict[str, Any] | None:
        """This process's outcome, or the workers' put together (pytest-xdist)."""
        if not self.worker_outcomes:
            return self.outcome
        outcomes = self.worker_outcomes
        used = {name for one in outcomes for name in (*one["recorded"], *one["replayed"])}
        unused = set.intersection(*(set(one["unused"]) for one in outcomes)) - used
        return {
            **outcomes[0],
            "recorded": sorted({name for one in outcomes for name in one["recorded"]}),
            "replayed": sorted({name for one in outcomes for name in one["replayed"]}),
            "missing": [miss for one in outcomes for miss in one["missing"]],
            "unused": sorted(unused),
            "spend": _spend_of(*(one["spend"] for one in outcomes)).to_json(),
        }

    def write_merged_usage(self) -> None:
        """Write ``usage.json`` for all the workers: each wrote only the tapes it used."""
        from playingpack.ledger import TapeLedger

        outcome = self.merged_outcome()
        if outcome is None:
            return
        ledger = TapeLedger(Path(outcome["tapes_dir"]), Path(outcome["logs_dir"]))
        ledger.recorded = dict.fromkeys(outcome["recorded"], 1)
        ledger.replayed = dict.fromkeys(outcome["replayed"], 1)
        ledger.write_usage()


_RUN = pytest.StashKey[_Run]()


def _record_mode(config: pytest.Config, env: Mapping[str, str]) -> tuple[str | None, str]:
    """The record mode to give serve() (None: leave it to the config), and where it came from."""
    option: str | None = config.getoption("playingpack_record")
    if option is not None:
        return option, "from --playingpack-record"
    if env.get(_RECORD.env, "").strip():
        return None, f"from {_RECORD.env}"
    if is_ci(env):
        return "replay-only", "because CI is set"
    return None, ""


def _marker(request: pytest.FixtureRequest) -> pytest.Mark | None:
    marker: pytest.Mark | None = request.node.get_closest_marker(MARKER)
    return marker


def _folder(request: pytest.FixtureRequest) -> str | None:
    """This test's tapes subfolder; None for the tapes folder itself."""
    marker = _marker(request)
    if marker is not None and (marker.args or set(marker.kwargs) - {"tapes"}):
        pytest.fail(
            f"{MARKER} marker: its only argument is tapes='folder name' (got "
            f"{marker.args or ''}{marker.kwargs or ''})",
            pytrace=False,
        )
    folder = None if marker is None else marker.kwargs.get("tapes")
    if folder is None:
        return folder_for(request.node.nodeid)
    if folder == ROOT_FOLDER:
        return None
    from playingpack.store import is_scope

    if not isinstance(folder, str) or not is_scope(folder):
        pytest.fail(
            f"{MARKER}(tapes={folder!r}): a tapes folder is a name of letters, digits, '.', '-' "
            f"and '_' (at most 200, not starting with '.', without '..'), or {ROOT_FOLDER!r} "
            "for the tapes folder itself",
            pytrace=False,
        )
    return folder


def _url(serving: Serving, folder: str | None) -> str:
    return serving.url if folder is None else serving.scoped_url(folder)


def _sdk_environment(url: str) -> dict[str, str]:
    """The variables that point OpenAI's and Anthropic's SDKs at ``url`` (a server root)."""
    return {"OPENAI_BASE_URL": f"{url}/v1", "ANTHROPIC_BASE_URL": url}


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables, and put back what was there before on the way out."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _spend_of(*totals: Mapping[str, Any]) -> Spend:
    """The Spend of one or more runs' ``Spend.to_json()`` (the workers', under pytest-xdist)."""
    from playingpack.pricing import Spend

    spend = Spend()
    for one in totals:
        spend.merge(one)
    return spend


def _write_names(write: Callable[..., None], names: list[str], verbose: bool) -> None:
    shown = names if verbose else names[:_LISTED]
    for name in shown:
        write(f"  {name}")
    if len(shown) < len(names):
        write(f"  ... and {len(names) - len(shown)} more (-v lists them all)")


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it is inside it."""
    try:
        return str(path.relative_to(base)) or "."
    except ValueError:
        return str(path)
