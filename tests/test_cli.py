"""The `playingpack` command, run as a real process."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from playingpack import __version__, cli
from playingpack.cli import banner
from playingpack.config import Config, PauseMode, RecordMode
from tests.conftest import API_KEY, ask, run_cli, started
from tests.fakes.openai_upstream import FakeUpstream, Reply


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"playingpack, version {__version__}"


def test_console_script_and_module_are_the_same_cli(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "playingpack"
    result = subprocess.run(
        [str(script), "start", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for option in (
        "-p, --port PORT",
        "-H, --host HOST",
        "--no-ui",
        "--upstream",
        "--anthropic-upstream URL",
        "--tapes-dir",
        "--logs-dir",
        "--record",
        "--pause",
        "--pause-requests",
        "--sequence",
        "--hold-timeout SECONDS",
        "--replay-timing",
        "--live-window N",
        "--token TOKEN",
        "--config",
        "-h, --help",
    ):
        assert option in result.stdout
    assert result.stdout == run_cli("start", "--help", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--record", "sometimes"], ["--record", "auto", "off", "replay-only", "refresh"]),
        (["--pause", "maybe"], ["--pause", "off", "tool-calls", "all"]),
        (["--replay-timing", "slow"], ["--replay-timing", "original", "instant"]),
        (["--port", "99999"], ["--port"]),
        (["--upstream", "ftp://x"], ["--upstream"]),
        (["--anthropic-upstream", "api.anthropic.com"], ["--anthropic-upstream", "http://"]),
        (["--live-window", "0"], ["--live-window", "integer of 1 or more"]),
        (["--live-window", "many"], ["--live-window", "integer of 1 or more"]),
        (["--hold-timeout", "0"], ["--hold-timeout", "greater than 0"]),
        (["--hold-timeout", "5m"], ["--hold-timeout", "greater than 0"]),
        (["--token", "too-short"], ["--token", "at least 16 characters"]),
    ],
)
def test_invalid_option_is_one_line_and_status_2(
    tmp_path: Path, args: list[str], named: list[str]
) -> None:
    result = run_cli("start", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in named:
        assert word in lines[0]


def test_invalid_token_is_not_echoed(tmp_path: Path) -> None:
    token = "Secret token with spaces"
    for args, env in [(["--token", token], {}), ([], {"PLAYINGPACK_TOKEN": token})]:
        result = run_cli("start", *args, cwd=tmp_path, env=env)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert "token must be at least 16 characters" in line
        assert token not in line and "Secret" not in line


def test_bad_config_file_stops_start_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "playingpack.toml").write_text('recrod = "auto"\n')
    result = run_cli("start", cwd=tmp_path)
    assert result.returncode == 2
    assert "playingpack.toml" in result.stderr and "recrod" in result.stderr
    assert "record" in result.stderr


def test_banner_call_lines_and_logs_without_secrets(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    with started("--upstream", upstream.url, cwd=tmp_path) as process:
        url = process.url
        process.wait_for(rf"base_url\s+{re.escape(url)}/v1")
        process.wait_for(rf"dashboard\s+{re.escape(url)}/")
        process.wait_for(r"record\s+auto\s+pause off\s+replay timing original")
        with openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY) as client:
            client.chat.completions.create(**ask("weather?"))
            line = process.wait_for(r"200\s+upstream .*gpt-4o-mini").string
            list(client.chat.completions.create(stream=True, **ask("weather?")))
            replay = process.wait_for(r"200\s+tape .*gpt-4o-mini").string
    for text in (line, replay):
        assert re.search(r"\d+ ms", text) and re.search(r"\d+\+\d+ tok", text)
        assert "tools: get_weather" in text
    (tape,) = (tmp_path / ".playingpack" / "tapes").glob("*.json")
    assert f"tape {tape.stem[:8]}" in line
    (log,) = (tmp_path / ".playingpack" / "logs").glob("*.jsonl")
    records = [json.loads(entry) for entry in log.read_text().splitlines()]
    assert [r["source"] for r in records] == ["upstream", "tape"]
    output = "\n".join(process.lines)
    assert API_KEY not in output
    for path in (tmp_path / ".playingpack").rglob("*"):
        if path.is_file():
            assert API_KEY not in path.read_text("utf-8", "replace")


URL = "http://127.0.0.1:4747"
DASHBOARD = f"{URL}/"


def banner_of(**settings: Any) -> list[str]:
    """The banner of a server on URL with these settings, cut into lines."""
    return banner(Config(**settings), URL, DASHBOARD).splitlines()


def test_banner_names_where_to_point_the_agent_and_the_modes() -> None:
    lines = banner_of(upstream="http://gw.test", tapes_dir=Path.cwd() / "recorded")
    assert lines[0] == f"playingpack {__version__} listening on {URL}"
    assert [line.split()[0] for line in lines[1:]] == [
        "base_url",
        "dashboard",
        "upstream",
        "ollama",
        "tapes",
        "logs",
        "record",
    ]
    assert re.fullmatch(rf"\s+base_url\s+{URL}/v1", lines[1])
    assert re.fullmatch(rf"\s+dashboard\s+{DASHBOARD}", lines[2])
    assert re.fullmatch(r"\s+ollama\s+http://localhost:11434", lines[4])
    assert re.fullmatch(r"\s+tapes\s+recorded", lines[5])  # relative to the working directory
    assert re.fullmatch(r"\s+record\s+auto\s+pause off\s+replay timing original", lines[7])
    assert re.fullmatch(r"\s+dashboard\s+off \(--no-ui\)", banner_of(headless=True)[2])


def test_banner_shows_the_anthropic_upstream_unless_it_is_the_upstream() -> None:
    lines = banner_of()
    assert re.fullmatch(r"\s+upstream\s+https://api\.openai\.com", lines[3])
    assert re.fullmatch(r"\s+anthropic\s+https://api\.anthropic\.com", lines[4])
    explicit = banner_of(upstream="http://gw.test", anthropic_upstream="http://127.0.0.1:9")
    assert re.fullmatch(r"\s+anthropic\s+http://127\.0\.0\.1:9", explicit[4])
    assert not any("anthropic" in line for line in banner_of(upstream="http://gw.test"))


def test_banner_shows_the_gemini_upstream_unless_it_is_the_upstream() -> None:
    lines = banner_of()
    assert re.fullmatch(r"\s+gemini\s+https://generativelanguage\.googleapis\.com", lines[5])
    explicit = banner_of(upstream="http://gw.test", gemini_upstream="http://127.0.0.1:8")
    assert any(re.fullmatch(r"\s+gemini\s+http://127\.0\.0\.1:8", line) for line in explicit)
    assert not any("gemini" in line for line in banner_of(upstream="http://gw.test"))


@pytest.mark.parametrize(
    ("settings", "record_line"),
    [
        (
            {"pause": PauseMode.TOOL_CALLS, "pause_requests": True, "hold_timeout": 2.5},
            r"record\s+auto\s+pause tool-calls \+ requests "
            r"\(held calls released after 2\.5 s\)\s+replay timing original",
        ),
        (
            {"pause_requests": True},
            r"record\s+auto\s+pause requests \(held calls released after 300 s\)",
        ),
        ({"sequence": True}, r"record\s+auto\s+sequence\s+pause off\s+replay timing original"),
        (
            {"sequence": True, "record": RecordMode.REFRESH},
            r"record\s+refresh\s+sequence\s+pause off",
        ),
    ],
)
def test_banner_shows_what_is_held_for_how_long_and_sequence(
    settings: dict[str, Any], record_line: str
) -> None:
    assert re.match(rf"\s+{record_line}", banner_of(**settings)[-1])


@pytest.mark.parametrize("command", [[], ["start"], ["tapes"], ["tapes", "list"]])
def test_minus_h_is_help_everywhere(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, "-h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: playingpack") and "-h, --help" in result.stdout


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["-h"], ["-h"]),
        (["-p", "1", "-h"], ["-p", "1", "-h"]),
        (["-h", "--no-ui"], ["-h", "--no-ui"]),
        (["-h", "0.0.0.0", "-p", "1"], ["--host", "0.0.0.0", "-p", "1"]),
        (["--", "-h", "x"], ["--", "-h", "x"]),
    ],
)
def test_minus_h_before_a_value_is_the_old_host_flag(args: list[str], parsed: list[str]) -> None:
    assert cli._old_host_flag(args) == parsed


def test_minus_h_host_still_starts_with_a_deprecation_warning(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with started("-h", "127.0.0.1", "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(r"`-h HOST` is deprecated.*-H HOST")
        assert httpx.get(f"{process.url}/health").json()["status"] == "ok"


def test_precedence_flags_over_env_over_file(tmp_path: Path, upstream: FakeUpstream) -> None:
    (tmp_path / "playingpack.toml").write_text(
        f'record = "off"\npause = "all"\nupstream = "{upstream.url}"\n'
    )
    env = {"PLAYINGPACK_RECORD": "replay-only", "PLAYINGPACK_REPLAY_TIMING": "instant"}
    with started(cwd=tmp_path, env=env) as process:
        health = httpx.get(f"{process.url}/health").json()
    assert (health["record"], health["pause"], health["replay_timing"]) == (
        "replay-only",
        "all",
        "instant",
    )
    assert health["upstream"] == upstream.url
    with started("--record", "auto", "--pause", "tool-calls", cwd=tmp_path, env=env) as process:
        health = httpx.get(f"{process.url}/health").json()
    assert (health["record"], health["pause"], health["replay_timing"]) == (
        "auto",
        "tool-calls",
        "instant",
    )


def test_python_config_file_with_define_config(tmp_path: Path, upstream: FakeUpstream) -> None:
    (tmp_path / "playingpack.config.py").write_text(
        "import os\nfrom playingpack import define_config\n"
        f"config = define_config(upstream={upstream.url!r}, tapes_dir='recorded',\n"
        "    record='replay-only' if os.environ.get('CI') else 'auto')\n"
    )
    with started(cwd=tmp_path, env={"CI": "true"}) as process:
        process.wait_for(r"tapes\s+recorded")
        assert httpx.get(f"{process.url}/health").json()["record"] == "replay-only"


@pytest.mark.parametrize("word", ["off", "OFF", "false"])
def test_history_off_on_the_command_line_writes_no_database(
    tmp_path: Path, upstream: FakeUpstream, word: str
) -> None:
    with started("--history", word, "--upstream", upstream.url, cwd=tmp_path) as process:
        with openai.OpenAI(base_url=f"{process.url}/v1", api_key=API_KEY) as client:
            client.chat.completions.create(**ask())
        process.wait_for(r"200\s+upstream")
        flows = httpx.get(f"{process.url}/api/flows").json()
    assert len(flows) == 1  # the live window still shows the call
    assert not (tmp_path / word).exists()
    assert not (tmp_path / ".playingpack" / "history.db").exists()


def test_no_ui_serves_no_dashboard(tmp_path: Path, upstream: FakeUpstream) -> None:
    with started("--no-ui", "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(r"dashboard\s+off")
        assert httpx.get(f"{process.url}/").status_code == 404
        assert httpx.get(f"{process.url}/health").json()["dashboard"] is False


def test_non_loopback_host_warns(tmp_path: Path, upstream: FakeUpstream) -> None:
    with started("-H", "0.0.0.0", "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(r"warning: .*0\.0\.0\.0.*non-loopback")


def test_non_loopback_dashboard_url_carries_the_token(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    token = "cli-test-token-0123456789"
    args = ["--host", "0.0.0.0", "--upstream", upstream.url]
    with started(*args, cwd=tmp_path, env={"PLAYINGPACK_TOKEN": token}) as process:
        process.wait_for(rf"dashboard\s+http://\S+/\?token={token}$")


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("start", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_on_signal(tmp_path: Path, upstream: FakeUpstream, signum: int) -> None:
    with started("--upstream", upstream.url, cwd=tmp_path) as process:
        httpx.get(f"{process.url}/health").raise_for_status()
        process.popen.send_signal(signum)
        assert process.popen.wait(10) == 0
        process.wait_for(r"playingpack: stopped")
    assert "Traceback" not in "\n".join(process.lines)
