"""The `playingpack` command, run as a real process."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from playingpack import __version__
from tests.conftest import API_KEY, ask
from tests.fakes.openai_upstream import FakeUpstream, Reply

PLAYINGPACK = [sys.executable, "-m", "playingpack"]


class Process:
    """A `playingpack start` process whose output lines are collected as they come."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """The first line (seen so far or coming) matching ``pattern``, within ``timeout``."""
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    @property
    def url(self) -> str:
        return self.wait_for(r"listening on (http://\S+)").group(1)


@contextmanager
def started(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Iterator[Process]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")}
    environment.update(env or {})
    popen = subprocess.Popen(
        [*PLAYINGPACK, "start", "--port", "0", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process = Process(popen)
    try:
        yield process
    finally:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        assert popen.stdout is not None
        popen.stdout.close()


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLAYINGPACK_")}
    environment.update(env or {})
    return subprocess.run(
        [*PLAYINGPACK, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=30
    )


def test_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"playingpack, version {__version__}"


def test_console_script_and_module_are_the_same_cli(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "playingpack"
    result = subprocess.run(
        [str(script), "start", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for option in (
        "--port",
        "--host",
        "--no-ui",
        "--upstream",
        "--anthropic-upstream URL",
        "--tapes-dir",
        "--logs-dir",
        "--record",
        "--pause",
        "--pause-requests",
        "--hold-timeout SECONDS",
        "--replay-timing",
        "--history N",
        "--token TOKEN",
        "--config",
    ):
        assert option in result.stdout
    assert result.stdout == run("start", "--help", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--record", "sometimes"], ["--record", "auto", "off", "replay-only"]),
        (["--pause", "maybe"], ["--pause", "off", "tool-calls", "all"]),
        (["--replay-timing", "slow"], ["--replay-timing", "original", "instant"]),
        (["--port", "99999"], ["--port"]),
        (["--upstream", "ftp://x"], ["--upstream"]),
        (["--anthropic-upstream", "api.anthropic.com"], ["--anthropic-upstream", "http://"]),
        (["--history", "0"], ["--history", "integer of 1 or more"]),
        (["--history", "many"], ["--history", "integer of 1 or more"]),
        (["--hold-timeout", "0"], ["--hold-timeout", "greater than 0"]),
        (["--hold-timeout", "5m"], ["--hold-timeout", "greater than 0"]),
        (["--token", "too-short"], ["--token", "at least 16 characters"]),
    ],
)
def test_invalid_option_is_one_line_and_status_2(
    tmp_path: Path, args: list[str], named: list[str]
) -> None:
    result = run("start", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in named:
        assert word in lines[0]


def test_invalid_token_is_not_echoed(tmp_path: Path) -> None:
    token = "Secret token with spaces"
    for args, env in [(["--token", token], {}), ([], {"PLAYINGPACK_TOKEN": token})]:
        result = run("start", *args, cwd=tmp_path, env=env)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert "token must be at least 16 characters" in line
        assert token not in line and "Secret" not in line


def test_bad_config_file_stops_start_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "playingpack.toml").write_text('recrod = "auto"\n')
    result = run("start", cwd=tmp_path)
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


def _banner_lines(process: Process) -> list[str]:
    """The banner, from its first line through the record line that ends it."""
    process.wait_for(r"^\s+record\s")
    start = next(i for i, line in enumerate(process.lines) if "listening on" in line)
    end = next(i for i, line in enumerate(process.lines) if re.match(r"\s+record\s", line))
    return process.lines[start : end + 1]


def test_banner_shows_the_anthropic_upstream_by_default(tmp_path: Path) -> None:
    with started("--no-ui", cwd=tmp_path) as process:
        banner = _banner_lines(process)
    names = [line.split()[0] for line in banner[1:]]
    assert names == ["base_url", "dashboard", "upstream", "anthropic", "tapes", "logs", "record"]
    assert re.fullmatch(r"\s+upstream\s+https://api\.openai\.com", banner[3])
    assert re.fullmatch(r"\s+anthropic\s+https://api\.anthropic\.com", banner[4])


def test_banner_shows_an_explicit_anthropic_upstream(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    args = ["--upstream", upstream.url, "--anthropic-upstream", "http://127.0.0.1:9/anthropic/"]
    with started(*args, cwd=tmp_path) as process:
        process.wait_for(r"^\s+anthropic\s+http://127\.0\.0\.1:9/anthropic$")
    env = {"PLAYINGPACK_ANTHROPIC_UPSTREAM": "http://127.0.0.1:9"}
    with started("--upstream", upstream.url, cwd=tmp_path, env=env) as process:
        process.wait_for(r"^\s+anthropic\s+http://127\.0\.0\.1:9$")


def test_banner_has_no_anthropic_line_for_a_custom_upstream(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with started("--upstream", upstream.url, cwd=tmp_path) as process:
        banner = _banner_lines(process)
    assert any(re.fullmatch(rf"\s+upstream\s+{re.escape(upstream.url)}", x) for x in banner)
    assert not any("anthropic" in line for line in banner)


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


def test_banner_shows_what_is_held_and_for_how_long(tmp_path: Path, upstream: FakeUpstream) -> None:
    args = ["--pause", "tool-calls", "--pause-requests", "--hold-timeout", "2.5"]
    with started(*args, "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(
            r"record\s+auto\s+pause tool-calls \+ requests "
            r"\(held calls released after 2\.5 s\)\s+replay timing original"
        )
    env = {"PLAYINGPACK_PAUSE_REQUESTS": "1"}
    with started("--upstream", upstream.url, cwd=tmp_path, env=env) as process:
        process.wait_for(r"pause requests \(held calls released after 300 s\)")


def test_python_config_file_with_define_config(tmp_path: Path, upstream: FakeUpstream) -> None:
    (tmp_path / "playingpack.config.py").write_text(
        "import os\nfrom playingpack import define_config\n"
        f"config = define_config(upstream={upstream.url!r}, tapes_dir='recorded',\n"
        "    record='replay-only' if os.environ.get('CI') else 'auto')\n"
    )
    with started(cwd=tmp_path, env={"CI": "true"}) as process:
        process.wait_for(r"tapes\s+recorded")
        assert httpx.get(f"{process.url}/health").json()["record"] == "replay-only"


def test_no_ui_serves_no_dashboard(tmp_path: Path, upstream: FakeUpstream) -> None:
    with started("--no-ui", "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(r"dashboard\s+off")
        assert httpx.get(f"{process.url}/").status_code == 404
        assert httpx.get(f"{process.url}/health").json()["dashboard"] is False


def test_non_loopback_host_warns(tmp_path: Path, upstream: FakeUpstream) -> None:
    with started("--host", "0.0.0.0", "--upstream", upstream.url, cwd=tmp_path) as process:
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
        result = run("start", "--port", str(port), cwd=tmp_path)
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
