"""The docs site: its generated pages are in step with what they are made from, its settings
table is the settings table, its layout names the modules there are, and every Python and shell
example in it (and in README.md) runs against a real playingpack and a fake upstream.

An example that cannot run here is marked on the line before its fence with
``<!-- docs-test: skip: <why> -->`` and is not run (a test checks each says why); other
markers say how an example runs:

- ``starts``: each line is a `playingpack start` command; it must start (on a free port);
- ``held``: a call is held while the example runs, and the example's ``3f2a9c1e-000004`` is
  that call's id; an example that posts a decision must be what lets the call go on;
- ``pytest``: the example is a test file, run with pytest in a fresh project.

Everything else runs as it is, with ``localhost:4747`` meaning the playingpack under test.
"""

from __future__ import annotations

import dataclasses
import os
import re
import runpy
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playingpack.config import SETTINGS, Config, PauseMode
from playingpack.config_loading import load_config
from tests.conftest import API_KEY, Running, started
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import Reply as GeminiReply
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.ollama_upstream import Reply as OllamaReply
from tests.fakes.openai_upstream import FakeUpstream, Reply

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
EXAMPLE_ID = "3f2a9c1e-000004"  # the flow id the held-call examples show
GEMINI_KEY = "AIzaSy-pptest-docs-gemini-key-0123456"  # the examples' GEMINI_API_KEY
SHELL = ("bash", "sh", "shell", "console")
RUN = ("python", *SHELL)
MARKERS = ("skip", "starts", "held", "pytest")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!-- docs-test: (?P<marker>[\w-]+)(?::\s*(?P<reason>.*?))? -->\s*$")


@dataclasses.dataclass(frozen=True)
class Example:
    """One fenced block of a page."""

    page: Path
    line: int
    language: str
    code: str
    marker: str | None = None
    reason: str | None = None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def examples(page: Path) -> Iterator[Example]:
    """The fenced blocks of ``page``, each with the marker on the line before its fence."""
    lines = page.read_text("utf-8").splitlines()
    number = 0
    while number < len(lines):
        fence = _FENCE.match(lines[number])
        if fence is None:
            number += 1
            continue
        indent = len(fence["indent"])
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
        code = "\n".join(line[indent:] for line in lines[number + 1 : end]) + "\n"
        marker = _MARKER.match(lines[number - 1]) if number else None
        yield Example(
            page,
            number + 1,
            fence["language"],
            code,
            marker["marker"] if marker else None,
            marker["reason"] if marker else None,
        )
        number = end + 1


EVERY = [example for page in PAGES for example in examples(page)]
RUNNABLE = [example for example in EVERY if example.language in RUN]


def test_the_docs_have_examples_and_their_markers_are_known() -> None:
    assert len(RUNNABLE) > 20
    for example in EVERY:
        where = example.name
        assert example.language, f"{where}: say the fence's language (text for output)"
        if example.marker is None:
            continue
        assert example.marker in MARKERS, f"{where}: unknown marker {example.marker!r}"
        assert example.language in RUN, f"{where}: a marker on a block that never runs"
        assert (example.marker == "skip") == bool(example.reason), (
            f"{where}: skip, and only skip, says why (<!-- docs-test: skip: why -->)"
        )


# --- generated pages and the settings table -------------------------------------------------


@pytest.mark.parametrize("script", ["gen_cli_docs.py", "gen_settings_docs.py"])
def test_generated_page_is_up_to_date(script: str) -> None:
    generator = runpy.run_path(str(ROOT / "scripts" / script))
    page: Path = generator["PAGE"]
    assert page.read_text("utf-8") == generator["render"](), (
        f"{page.relative_to(ROOT)} differs from what it is made from: run "
        "`.venv/bin/python scripts/gen_docs.py --write`"
    )


def test_gen_docs_makes_every_generated_page() -> None:
    made = {page for page, _ in runpy.run_path(str(ROOT / "scripts" / "gen_docs.py"))["pages"]()}
    marked = {
        page for page in DOCS.rglob("*.md") if "do not edit by hand" in page.read_text("utf-8")
    }
    assert made == marked and len(made) == 3


def test_the_settings_page_lists_the_settings_table() -> None:
    text = (DOCS / "reference" / "settings.md").read_text("utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| `(\w+)` \| ([^|]+) \| (yes|no) \|$", text, re.M)
    expected = [
        (
            row.name,
            row.default_text or f"`{row.shown_default}`",
            row.env,
            (f"`{row.short}, {row.flag}`" if row.short else f"`{row.flag}`")
            if row.option
            else "none (a table: in a config file, or as JSON in the environment)",
            "yes" if row.live else "no",
        )
        for row in SETTINGS
    ]
    assert rows == expected
    for row in SETTINGS:
        assert f"## `{row.name}`\n\n{row.help}\n" in text, row.name


def test_the_layout_names_every_module_and_no_other() -> None:
    text = (DOCS / "development.md").read_text("utf-8")
    layout = text[text.index("## Layout") : text.index("## Generated files")]
    package = ROOT / "src" / "playingpack"
    modules = {path.name for path in package.rglob("*.py")}
    named = set(re.findall(r"`(\w+\.py)`", layout))
    assert modules - named == set(), "modules the layout does not name"
    assert named - modules == set(), "modules the layout names that do not exist"


@pytest.mark.parametrize(
    "example", [e for e in EVERY if e.language == "toml"], ids=lambda e: e.name
)
def test_toml_example_is_a_valid_config(example: Example, tmp_path: Path) -> None:
    (tmp_path / "playingpack.toml").write_text(example.code, "utf-8")
    load_config(cwd=tmp_path, env={}, flags={})


# --- running the examples -------------------------------------------------------------------


class Site:
    """A project folder, a playingpack serving it on a free port, and the fakes behind it."""

    def __init__(
        self,
        root: Path,
        upstream: FakeUpstream,
        anthropic: FakeAnthropic,
        gemini: FakeGemini,
        ollama: FakeOllama,
    ) -> None:
        self.project = root / "project"
        self.project.mkdir()
        self.upstream = upstream
        self.anthropic = anthropic
        self.gemini = gemini
        self.ollama = ollama
        # What the model says, so that the examples' own assertions hold.
        weather = "Sunny in Paris, 22 C. Lyon and Nice too."
        upstream.default = Reply(content=weather)
        gemini.default = GeminiReply(text=weather)
        ollama.default = OllamaReply(content=weather)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                (
                    "PLAYINGPACK_",
                    "OPENAI_",
                    "ANTHROPIC_",
                    "AZURE_OPENAI_",
                    "GOOGLE_",
                    "GEMINI_",
                    "OLLAMA_",
                )
            )
            and key not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
        }
        self.env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            OPENAI_API_KEY=API_KEY,
            ANTHROPIC_API_KEY=API_KEY,
            AZURE_OPENAI_API_KEY=API_KEY,
            GEMINI_API_KEY=GEMINI_KEY,
            OPENAI_AGENTS_DISABLE_TRACING="1",
            PLAYINGPACK_UPSTREAM=upstream.url,
            PLAYINGPACK_ANTHROPIC_UPSTREAM=anthropic.url,
            PLAYINGPACK_GEMINI_UPSTREAM=gemini.url,
            PLAYINGPACK_OLLAMA_UPSTREAM=ollama.url,
        )
        self.running: Running | None = None

    def start(self, **settings: Any) -> Running:
        self.running = Running(
            Config(
                upstream=self.upstream.url,
                anthropic_upstream=self.anthropic.url,
                gemini_upstream=self.gemini.url,
                ollama_upstream=self.ollama.url,
                tapes_dir=self.project / ".playingpack" / "tapes",
                logs_dir=self.project / ".playingpack" / "logs",
                history=self.project / ".playingpack" / "history.db",
                port=0,
                **settings,
            )
        )
        return self.running

    def run(self, argv: list[str], code: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` on the standard input of ``argv`` in the project, with
        ``localhost:4747`` meaning the playingpack started last."""
        assert self.running is not None
        address = self.running.url.removeprefix("http://")
        for local in ("localhost:4747", "127.0.0.1:4747"):
            code = code.replace(local, address)
        return subprocess.run(
            argv,
            input=code,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
        )


@pytest.fixture
def site(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Site]:
    anthropic, gemini, ollama = FakeAnthropic(), FakeGemini(), FakeOllama()
    made = Site(tmp_path, upstream, anthropic, gemini, ollama)
    yield made
    if made.running is not None:
        made.running.close()
    for fake in (anthropic, gemini, ollama):
        fake.close()


def _shell(example: Example) -> str:
    """The example as a script; its `curl` commands fail on an error status, so an example
    that gets one fails (those that say `-f` themselves already do)."""
    code = example.code
    if example.language == "console":
        code = "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("$ "))
    return re.sub(r"\bcurl(?![^\n]*\s-s?f\b) ", "curl --fail-with-body ", code)


def _check(result: subprocess.CompletedProcess[str], example: Example) -> None:
    assert result.returncode == 0, (
        f"{example.name} exited with {result.returncode}:\n{example.code}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def _run(site: Site, example: Example, code: str | None = None) -> None:
    if example.language == "python":
        result = site.run([sys.executable, "-"], code or example.code)
    else:
        result = site.run(["bash", "-euo", "pipefail", "-s"], code or _shell(example))
    _check(result, example)


def _starts(site: Site, example: Example) -> None:
    for line in example.code.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        env = {}
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words[:2] == ["playingpack", "start"], f"{example.name}: {line}"
        with started(*words[2:], cwd=site.project, env={**site.env, **env}) as process:
            assert process.url.startswith("http://127.0.0.1:"), process.lines


def _held(site: Site, example: Example) -> None:
    running = site.start(pause=PauseMode.TOOL_CALLS)
    site.upstream.queue(Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]))
    answers: list[Any] = []
    client = running.client()
    agent = threading.Thread(
        target=lambda: answers.append(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}]
            )
        ),
        daemon=True,
    )
    agent.start()
    deadline = time.monotonic() + 10
    while not (held := httpx.get(f"{running.url}/api/flows", params={"state": "INTERCEPT"})).json():
        assert time.monotonic() < deadline, "no call was held within 10 s"
        time.sleep(0.01)
    flow_id = held.json()[0]["id"]
    _run(site, example, _shell(example).replace(EXAMPLE_ID, flow_id))
    if "/decision" not in example.code:
        decision = httpx.post(
            f"{running.url}/api/flows/{flow_id}/decision", json={"action": "allow"}
        )
        assert decision.status_code == 200, decision.text
    agent.join(10)
    assert answers, f"{example.name}: the held call did not go on"


def _pytest(site: Site, example: Example) -> None:
    tests = site.project / "tests"
    tests.mkdir()
    (tests / "test_example.py").write_text(example.code, "utf-8")
    result = site.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], "")
    _check(result, example)


@pytest.mark.parametrize(
    "example",
    [pytest.param(example, id=example.name) for example in RUNNABLE if example.marker != "skip"],
)
def test_example_runs(example: Example, site: Site) -> None:
    if example.marker == "held":
        _held(site, example)
        return
    site.start()
    if example.marker == "starts":
        _starts(site, example)
    elif example.marker == "pytest":
        _pytest(site, example)
    else:
        _run(site, example)
