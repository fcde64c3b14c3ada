"""The pytest plugin, run on small test suites with ``pytester`` (each in its own process, where
the plugin loads from its pytest11 entry point as in a user's project)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from playingpack.pytest_plugin import folder_for
from playingpack.store import is_scope
from tests.conftest import API_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeUpstream, Reply

pytest_plugins = ["pytester"]

AGENT = """
import openai
import pytest


def ask(text):
    with openai.OpenAI(max_retries=0) as client:  # base URL and key from the environment
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
    return reply.choices[0].message.content


def test_paris(playingpack):
    assert ask("Weather in Paris?") == "Hello from the fake upstream!"


@pytest.mark.parametrize("city", ["Lyon", "Nice"])
def test_city(playingpack, city):
    assert ask(f"Weather in {city}?") == "Hello from the fake upstream!"
"""
FOLDERS = [
    "test_agent.py__test_city-Lyon",
    "test_agent.py__test_city-Nice",
    "test_agent.py__test_paris",
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs see a developer's shell: an API key, not CI, no playingpack variables."""
    for name in ("CI", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in __import__("os").environ if name.startswith("PLAYINGPACK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # langsmith's plugin (installed with langchain) costs each pytest process about a second.
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:langsmith_plugin",
        "--strict-markers",
        "-W",
        "error",
        *args,
        timeout=60,
    )


def tapes(folder: Path) -> dict[str, list[str]]:
    """The tape files under ``folder``, by subfolder ("." for the folder itself)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.json")):
        found.setdefault(path.parent.relative_to(folder).as_posix(), []).append(path.name)
    return found


def summary(result: pytest.RunResult) -> str:
    """The playingpack section of the run's output."""
    text = result.stdout.str()
    start = text.find("= playingpack =")
    assert start >= 0, text
    end = text.find("\n=", start + 1)
    return text[start : end if end >= 0 else None]


def test_folder_names_are_readable_and_safe() -> None:
    assert folder_for("tests/test_agent.py::test_weather[paris]") == (
        "tests_test_agent.py__test_weather-paris"
    )
    assert folder_for("test_x.py::TestAgent::test_plan") == "test_x.py__TestAgent__test_plan"
    spaced, underscored = folder_for("t.py::test[a b]"), folder_for("t.py::test[a_b]")
    assert spaced.startswith("t.py__test-a_b-")
    assert underscored == "t.py__test-a_b"  # the first keeps a hash: they never share
    long = folder_for("tests/test_x.py::test_long[" + "x" * 300 + "]")
    assert len(long) == 200
    assert long != folder_for("tests/test_x.py::test_long[" + "x" * 301 + "]")
    for nodeid in (
        "tests/test_x.py::test[café]",
        "tests/test_x.py::test[a..b]",
        "tests/test_x.py::test[../../etc]",
        "_private/test_x.py::test",
        "[]",
        "tests/test_x.py::test[" + "é" * 300 + "]",
    ):
        assert is_scope(folder_for(nodeid)), nodeid
        assert folder_for(nodeid) == folder_for(nodeid)


def test_importing_the_plugin_imports_no_server_code() -> None:
    code = (
        "import sys, playingpack.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in "
        "('aiohttp', 'msgspec', 'uvloop') or m in ('playingpack.app', 'playingpack.proxy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_records_into_a_folder_per_test_then_replays_offline(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(test_agent=AGENT)

    first = run(pytester, "--playingpack-upstream", fake.url)
    first.assert_outcomes(passed=3)
    folder = pytester.path / ".playingpack" / "tapes"
    recorded = tapes(folder)
    assert sorted(recorded) == FOLDERS
    assert all(len(files) == 1 for files in recorded.values())
    assert len(fake.received) == 3
    report = summary(first)
    assert "tapes in .playingpack/tapes (record mode auto)" in report
    assert "3 recorded, 0 replayed, 0 missing, 0 unused" in report
    for name, (file,) in recorded.items():
        assert f"  {name}/{file.removesuffix('.json')}" in report

    fake.close()  # replay-only never calls it
    second = run(
        pytester, "--playingpack-record", "replay-only", "--playingpack-upstream", fake.url
    )
    second.assert_outcomes(passed=3)
    assert "0 recorded, 3 replayed, 0 missing, 0 unused" in summary(second)
    assert "(record mode replay-only, from --playingpack-record)" in summary(second)
    assert tapes(folder) == recorded
    usage = json.loads((pytester.path / ".playingpack" / "logs" / "usage.json").read_text())
    assert len(usage["used"]) == 3


def test_a_changed_prompt_fails_with_the_nearest_tape_and_what_differs(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(test_agent=AGENT)
    run(pytester, "--playingpack-upstream", fake.url).assert_outcomes(passed=3)
    (old,) = (pytester.path / ".playingpack/tapes/test_agent.py__test_paris").glob("*.json")
    pytester.makepyfile(test_agent=AGENT.replace("Weather in Paris?", "Weather in Paris today?"))

    result = run(
        pytester, "--playingpack-record", "replay-only", "--playingpack-upstream", fake.url
    )

    result.assert_outcomes(passed=2, failed=1)
    assert len(fake.received) == 3  # nothing more reached the upstream
    difference = 'messages[0].content: "Weather in Paris?" ≠ "Weather in Paris today?"'
    # The test's own error: the SDK raised NotFoundError with the explanation.
    failure = result.stdout.str().partition("= FAILURES =")[2]
    assert "NotFoundError" in failure
    assert "The nearest recorded request is tape " in failure
    assert old.stem in failure
    assert difference in failure
    report = summary(result)
    assert "0 recorded, 2 replayed, 1 missing, 1 unused" in report
    missing = report.partition("missing (")[2]
    assert "  test_agent.py__test_paris/" in missing
    assert ": POST /v1/chat/completions (gpt-4o-mini)" in missing
    assert difference in missing
    assert "--playingpack-record auto" in missing
    unused = report.partition("unused (")[2]
    assert f"  test_agent.py__test_paris/{old.stem}" in unused
    assert (
        "playingpack tapes prune --tapes-dir .playingpack/tapes --logs-dir .playingpack/logs"
        in (" ".join(unused.split()))
    )


def test_ci_makes_replay_only_the_default(
    pytester: pytest.Pytester, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_agent=AGENT)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("OPENAI_API_KEY")  # CI has no key: replaying needs none

    result = run(pytester, "--playingpack-upstream", fake.url)
    result.assert_outcomes(failed=3)
    assert fake.received == []
    assert "(record mode replay-only, because CI is set)" in summary(result)
    assert "0 recorded, 0 replayed, 3 missing, 0 unused" in summary(result)
    assert "No request to /v1/chat/completions has been recorded in that folder." in (
        summary(result)
    )

    monkeypatch.setenv("PLAYINGPACK_RECORD", "auto")  # the variable wins over CI
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    recording = run(pytester, "--playingpack-upstream", fake.url)
    recording.assert_outcomes(passed=3)
    assert "(record mode auto, from PLAYINGPACK_RECORD)" in summary(recording)
    assert len(fake.received) == 3

    monkeypatch.delenv("PLAYINGPACK_RECORD")
    monkeypatch.delenv("OPENAI_API_KEY")
    replaying = run(pytester, "--playingpack-upstream", fake.url)
    replaying.assert_outcomes(passed=3)
    assert "0 recorded, 3 replayed, 0 missing, 0 unused" in summary(replaying)

    monkeypatch.setenv("CI", "false")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    not_ci = run(pytester, "--playingpack-upstream", fake.url)
    assert "(record mode auto)" in summary(not_ci)


def test_the_marker_picks_a_shared_folder_or_the_tapes_folder_itself(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(
        test_shared="""
        import openai
        import pytest

        def ask(text):
            with openai.OpenAI() as client:
                return client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
                )

        @pytest.mark.playingpack(tapes="greetings")
        def test_one():
            ask("Hello!")

        @pytest.mark.playingpack(tapes="greetings")
        def test_two():
            ask("Hello!")

        @pytest.mark.playingpack(tapes=".")
        def test_root(playingpack_base_url, playingpack_tapes, playingpack):
            assert playingpack_base_url == playingpack.base_url
            assert playingpack_tapes == playingpack.tapes_dir
            ask("Hello from the root!")

        @pytest.mark.playingpack(tapes="../elsewhere")
        def test_bad_folder():
            pass
        """,
        test_module_marked="""
        import os
        import pytest

        pytestmark = pytest.mark.playingpack

        def test_marked():
            folder = "test_module_marked.py__test_marked"
            assert os.environ["OPENAI_BASE_URL"].endswith(f"/t/{folder}/v1")
        """,
    )

    result = run(pytester, "--playingpack-upstream", fake.url)

    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*playingpack(tapes='../elsewhere'): a tapes folder is a name*"])
    found = tapes(pytester.path / ".playingpack" / "tapes")
    assert sorted(found) == [".", "greetings"]
    assert len(found["greetings"]) == 1
    assert len(fake.received) == 2
    assert "2 recorded, 1 replayed, 0 missing, 0 unused" in summary(result)


def test_refresh_records_each_tape_again_in_place(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(test_agent=AGENT.replace(' == "Hello from the fake upstream!"', ""))
    run(pytester, "--playingpack-upstream", fake.url).assert_outcomes(passed=3)
    folder = pytester.path / ".playingpack" / "tapes"
    before = {path: path.read_text() for path in folder.rglob("*.json")}
    fake.default = Reply(content="A fresher answer")

    result = run(pytester, "--playingpack-record", "refresh", "--playingpack-upstream", fake.url)

    result.assert_outcomes(passed=3)
    after = {path: path.read_text() for path in folder.rglob("*.json")}
    assert sorted(after) == sorted(before)  # still one tape per request, at the same place
    assert all("A fresher answer" in text for text in after.values())
    assert all("A fresher answer" not in text for text in before.values())
    assert len(fake.received) == 6
    assert "3 recorded, 0 replayed, 0 missing, 0 unused" in summary(result)


def test_sequence_replays_repeated_requests_in_order(
    pytester: pytest.Pytester, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "playingpack.toml").write_text("sequence = true\n")
    pytester.makepyfile(
        test_poll="""
        import os

        import openai

        def ask():
            with openai.OpenAI() as client:
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Done yet?"}]
                )
            return reply.choices[0].message.content

        def test_poll(playingpack):
            print("answers:", [ask() for _ in range(int(os.environ["POLLS"]))])
        """
    )
    fake.queue(Reply(content="not yet"), Reply(content="done"))
    monkeypatch.setenv("POLLS", "2")
    recording = run(pytester, "--playingpack-upstream", fake.url, "-s")
    assert "answers: ['not yet', 'done']\n" in recording.stdout.str()
    fake.close()
    monkeypatch.setenv("POLLS", "3")

    replayed = run(pytester, "--playingpack-record", "replay-only", "-s")

    # The k-th identical request gets the k-th recording; beyond them, the last one again.
    assert "answers: ['not yet', 'done', 'done']\n" in replayed.stdout.str()
    assert "0 recorded, 2 replayed, 0 missing, 0 unused" in summary(replayed)
    assert len(tapes(pytester.path / ".playingpack" / "tapes")["test_poll.py__test_poll"]) == 2


def test_the_tapes_option_and_the_config_file(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(test_agent=AGENT)
    (pytester.path / "pyproject.toml").write_text(
        f'[tool.playingpack]\nupstream = "{fake.url}"\ntapes_dir = "tests/tapes"\n'
    )

    run(pytester).assert_outcomes(passed=3)
    assert sorted(tapes(pytester.path / "tests" / "tapes")) == FOLDERS

    run(pytester, "--playingpack-tapes", "other").assert_outcomes(passed=3)
    assert sorted(tapes(pytester.path / "other")) == FOLDERS


def test_the_environment_points_each_test_at_its_folder_and_is_restored(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_unconfigure(config):
            with open("after.txt", "w") as file:
                file.write(repr(os.environ.get("OPENAI_BASE_URL")))
        """
    )
    pytester.makepyfile(
        test_env="""
        import os
        import sys

        def test_before_any_server():
            assert "OPENAI_BASE_URL" not in os.environ
            assert "aiohttp" not in sys.modules  # nothing started, nothing imported

        def test_fixtures(playingpack, playingpack_base_url, playingpack_anthropic_url,
                          playingpack_tapes):
            folder = "test_env.py__test_fixtures"
            assert playingpack_base_url == f"{playingpack.url}/t/{folder}/v1"
            assert playingpack_anthropic_url == f"{playingpack.url}/t/{folder}"
            assert playingpack_tapes == playingpack.tapes_dir / folder
            assert os.environ["OPENAI_BASE_URL"] == playingpack_base_url
            assert os.environ["ANTHROPIC_BASE_URL"] == playingpack_anthropic_url
            assert os.environ["OPENAI_API_KEY"] != "playingpack-replay-only"

        def test_after_without_the_fixture():
            # The server runs now: this test gets its own folder too.
            assert os.environ["OPENAI_BASE_URL"].endswith(
                "/t/test_env.py__test_after_without_the_fixture/v1"
            )
        """
    )

    result = run(pytester, "--playingpack-upstream", fake.url)

    result.assert_outcomes(passed=3)
    assert (pytester.path / "after.txt").read_text() == "None"


def test_nothing_is_printed_when_no_test_uses_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "= playingpack =" not in result.stdout.str()
    assert not (pytester.path / ".playingpack").exists()


def test_a_config_error_fails_the_tests_that_use_it_with_its_message(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "playingpack.toml").write_text('record = "sometimes"\n')
    pytester.makepyfile("def test_one(playingpack):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*playingpack could not start: playingpack.toml*record*"])


def test_anthropic_calls_get_a_folder_per_test_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude = FakeAnthropic()
    try:
        monkeypatch.setenv("PLAYINGPACK_ANTHROPIC_UPSTREAM", claude.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-pptest")
        pytester.makepyfile(
            test_claude="""
            import anthropic

            def test_claude(playingpack):
                with anthropic.Anthropic() as client:
                    message = client.messages.create(
                        model="claude-haiku-4-5", max_tokens=64,
                        messages=[{"role": "user", "content": "Hi"}],
                    )
                assert message.content[0].text == "Hello from the fake Claude!"
            """
        )
        run(pytester).assert_outcomes(passed=1)
        monkeypatch.delenv("ANTHROPIC_API_KEY")
        run(pytester, "--playingpack-record", "replay-only").assert_outcomes(passed=1)
    finally:
        claude.close()
    assert len(claude.received) == 1
    assert sorted(tapes(pytester.path / ".playingpack" / "tapes")) == [
        "test_claude.py__test_claude"
    ]


def test_xdist_workers_never_mix_tapes_and_report_together(
    pytester: pytest.Pytester, fake: FakeUpstream
) -> None:
    pytester.makepyfile(
        test_agent=AGENT,
        test_more=AGENT.replace("Paris", "Rome").replace('["Lyon", "Nice"]', '["Oslo"]'),
    )

    first = run(pytester, "-n", "2", "--playingpack-upstream", fake.url)

    first.assert_outcomes(passed=5)
    folder = pytester.path / ".playingpack" / "tapes"
    assert len(tapes(folder)) == 5
    assert "5 recorded, 0 replayed, 0 missing, 0 unused" in summary(first)
    fake.close()
    second = run(pytester, "-n", "2", "--playingpack-record", "replay-only")
    second.assert_outcomes(passed=5)
    assert "0 recorded, 5 replayed, 0 missing, 0 unused" in summary(second)
    # Each worker wrote the tapes it used; the controller wrote them all.
    usage = json.loads((pytester.path / ".playingpack" / "logs" / "usage.json").read_text())
    assert len(usage["used"]) == 5


def test_long_lists_are_cut_unless_verbose(pytester: pytest.Pytester, fake: FakeUpstream) -> None:
    pytester.makepyfile(
        test_many="""
        import openai
        import pytest

        @pytest.mark.parametrize("n", range(12))
        def test_n(playingpack, n):
            with openai.OpenAI() as client:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"Count {n}"}]
                )
        """
    )

    short = summary(run(pytester, "--playingpack-upstream", fake.url))
    assert "12 recorded" in short
    assert short.count("\n  test_many.py__test_n-") == 10
    assert "  ... and 2 more (-v lists them all)" in short

    verbose = summary(run(pytester, "--playingpack-upstream", fake.url, "-v"))
    assert "0 recorded, 12 replayed" in verbose
    assert "replayed:" in verbose
    assert verbose.count("\n  test_many.py__test_n-") == 12
