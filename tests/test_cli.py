"""The `playingpack` command, run as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from playingpack import __version__
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.store import TapeStore
from playingpack.tapes import Chunk, Tape
from tests.conftest import API_KEY, PLAYINGPACK, Process, ask, started
from tests.fakes.openai_upstream import FakeUpstream, Reply


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
        "--sequence",
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
        (["--record", "sometimes"], ["--record", "auto", "off", "replay-only", "refresh"]),
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


def test_banner_shows_sequence_after_the_record_mode(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with started("--sequence", "--upstream", upstream.url, cwd=tmp_path) as process:
        process.wait_for(r"record\s+auto\s+sequence\s+pause off\s+replay timing original")
    env = {"PLAYINGPACK_SEQUENCE": "yes", "PLAYINGPACK_RECORD": "refresh"}
    with started("--upstream", upstream.url, cwd=tmp_path, env=env) as process:
        process.wait_for(r"record\s+refresh\s+sequence\s+pause off")
    with started("--upstream", upstream.url, cwd=tmp_path) as process:
        line = process.wait_for(r"^\s+record\s").string
    assert "sequence" not in line


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


# --- playingpack tapes ----------------------------------------------------------------------------

CHAT_EVENTS = [
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Sunny."}}]}\n\n',
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","type":"function",'
    '"function":{"name":"get_weather","arguments":"{\\"city\\":\\"Oslo\\"}"}}]},'
    '"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n',
    "data: [DONE]\n\n",
]


def save_tape(
    tapes_dir: Path,
    question: str,
    *,
    folder: str = "",
    index: int = 1,
    timestamp: str = "2026-01-02T03:04:05.000Z",
) -> Path:
    """A streamed chat tape asking ``question``, saved as the proxy saves it."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
    tape = Tape(
        key=OpenAIChat().key(body, "/v1/chat/completions"),
        endpoint="/v1/chat/completions",
        request=body,
        status=200,
        chunks=tuple(Chunk(event, 5) for event in CHAT_EVENTS),
        streamed=True,
        model="gpt-4o-mini",
        timestamp=timestamp,
    )
    return TapeStore(tapes_dir / folder if folder else tapes_dir).save(tape, index)


def tapes_of(cwd: Path) -> list[str]:
    """The ids of the tapes under cwd's default tapes folder."""
    root = cwd / ".playingpack" / "tapes"
    return sorted(p.relative_to(root).as_posix()[:-5] for p in root.rglob("*.json"))


def test_tapes_help_names_the_commands_and_options(tmp_path: Path) -> None:
    result = run("tapes", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("list", "show", "rm", "verify", "prune"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    for args, options in [
        (["list"], ["--json", "--tapes-dir", "--logs-dir", "--config"]),
        (["show"], ["--raw", "--tapes-dir"]),
        (["prune"], ["--dry-run", "--logs-dir"]),
    ]:
        result = run("tapes", *args, "--help", cwd=tmp_path)
        assert result.returncode == 0
        for option in options:
            assert option in result.stdout


def test_tapes_list_table_and_json(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    old = save_tape(tapes_dir, "Weather\nin Oslo?", timestamp="2026-01-01T00:00:00.000Z")
    new = save_tape(tapes_dir, "And in Rome?", folder="test_rome", index=2)
    result = run("tapes", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["tape", "model", "endpoint", "recorded"]
    assert lines[1].split()[:5] == [
        f"test_rome/{new.name[:12]}.2",
        "gpt-4o-mini",
        "/v1/chat/completions",
        "2026-01-02",
        "03:04:05",
    ]
    assert re.search(r"\s\d\.\d KB  And in Rome\?$", lines[1])
    assert lines[2].startswith(old.name[:12]) and lines[2].endswith("Weather in Oslo?")
    assert re.fullmatch(r"2 tapes, \d\.\d KB", lines[3])

    result = run("tapes", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == [f"test_rome/{new.name[:-5]}", old.name[:-5]]
    assert rows[1] | {"path": "", "size": 0} == {
        "id": old.name[:-5],
        "hash": old.name[:-5],
        "recording": 1,
        "folder": "",
        "path": "",
        "size": 0,
        "model": "gpt-4o-mini",
        "endpoint": "/v1/chat/completions",
        "recorded_at": "2026-01-01T00:00:00.000Z",
        "streamed": True,
        "first_user_message": "Weather\nin Oslo?",
        "error": None,
    }
    assert Path(rows[1]["path"]) == old and rows[1]["size"] == old.stat().st_size


def test_tapes_list_takes_the_folder_from_option_env_and_config(tmp_path: Path) -> None:
    save_tape(tmp_path / "from-file", "file?")
    save_tape(tmp_path / "from-env", "env?")
    save_tape(tmp_path / "from-flag", "flag?")
    (tmp_path / "playingpack.toml").write_text('tapes_dir = "from-file"\n')
    assert run("tapes", "list", cwd=tmp_path).stdout.splitlines()[1].endswith("file?")
    env = {"PLAYINGPACK_TAPES_DIR": "from-env"}
    assert run("tapes", "list", cwd=tmp_path, env=env).stdout.splitlines()[1].endswith("env?")
    for args in (
        ["tapes", "--tapes-dir", "from-flag", "list"],
        ["tapes", "list", "--tapes-dir", "from-flag"],
        ["tapes", "--tapes-dir", "from-env", "list", "--tapes-dir", "from-flag"],
    ):
        result = run(*args, cwd=tmp_path, env=env)
        assert result.stdout.splitlines()[1].endswith("flag?"), args
    (tmp_path / "other.toml").write_text('tapes_dir = "from-flag"\n')
    result = run("tapes", "--config", "other.toml", "list", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)[0]["first_user_message"] == "flag?"


def test_tapes_list_without_tapes_and_with_a_bad_config(tmp_path: Path) -> None:
    result = run("tapes", "list", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0,
        "no tapes in .playingpack/tapes (the folder does not exist)\n",
    )
    assert run("tapes", "list", "--json", cwd=tmp_path).stdout == "[]\n"
    (tmp_path / "playingpack.toml").write_text('tapes_dri = "x"\n')
    result = run("tapes", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "playingpack.toml: unknown key 'tapes_dri' (did you mean 'tapes_dir'?)" in result.stderr


def run_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=30
    )


def test_tapes_list_does_not_import_the_server_stack(tmp_path: Path) -> None:
    save_tape(tmp_path / ".playingpack" / "tapes", "fast?")
    result = run_python("-X", "importtime", "-m", "playingpack", "tapes", "list", cwd=tmp_path)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "playingpack.catalog" in imported
    assert not {name for name in imported if name.startswith(("aiohttp", "uvloop"))}


def test_tapes_show_by_prefix_id_and_raw(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    path = save_tape(tapes_dir, "Weather in Oslo?")
    key = path.name[:-5]
    save_tape(tapes_dir, "Weather in Oslo?", folder="test_oslo")
    result = run("tapes", "show", key[:8], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"tape      {key}"
    assert result.stdout.split("\nRequest\n")[1] == (
        "  user: Weather in Oslo?\n"
        "\n"
        "Answer\n"
        "  text: Sunny.\n"
        "  tool call get_weather (call_0)\n"
        "    {\n"
        '      "city": "Oslo"\n'
        "    }\n"
        "  usage: 9 in + 4 out = 13 tokens\n"
    )
    result = run("tapes", "show", f"test_oslo/{key}", cwd=tmp_path)
    assert result.stdout.splitlines()[0] == f"tape      test_oslo/{key}"
    result = run("tapes", "show", "--raw", f"{key[:6]}.json", cwd=tmp_path)
    assert result.stdout == path.read_text()


def test_tapes_show_ambiguous_unknown_and_malformed(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    save_tape(tapes_dir, "one", folder="test_a")
    save_tape(tapes_dir, "one", folder="test_b")
    key = tapes_of(tmp_path)[0].split("/")[1]
    result = run("tapes", "show", key[:6], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"playingpack: error: '{key[:6]}' matches 2 recorded requests; name one of them by its "
        "id (or more of its hash):",
        f"  test_a/{key}",
        f"  test_b/{key}",
    ]
    result = run("tapes", "show", "0123456789", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "playingpack: error: no tape matches '0123456789' in .playingpack/tapes; "
        "`playingpack tapes list` shows them\n"
    )
    result = run("tapes", "show", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "'abc' is not a tape hash or id" in result.stderr


def test_tapes_rm(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    first = save_tape(tapes_dir, "one").name[:-5]
    save_tape(tapes_dir, "one", index=2)
    second = save_tape(tapes_dir, "two", folder="test_two").name[:-5]
    third = save_tape(tapes_dir, "three").name[:-5]
    result = run("tapes", "rm", first[:7], f"test_two/{second}", "fedcba98", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == f"deleted {first}\ndeleted {first}.2\ndeleted test_two/{second}\n"
    assert result.stderr == "playingpack: no tape matches 'fedcba98' in .playingpack/tapes\n"
    assert tapes_of(tmp_path) == [third]
    assert not (tapes_dir / "test_two").exists()
    result = run("tapes", "rm", third, "zz", cwd=tmp_path)
    assert result.returncode == 2 and "nothing was deleted" in result.stderr
    assert tapes_of(tmp_path) == [third]
    assert run("tapes", "rm", third, cwd=tmp_path).returncode == 0
    assert tapes_of(tmp_path) == []


def test_tapes_verify_clean_and_with_problems(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    save_tape(tapes_dir, "fine")
    save_tape(tapes_dir, "fine", folder="test_fine", index=2)
    result = run("tapes", "verify", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0,
        "2 tape files in .playingpack/tapes: all parse, match their hash, no secrets\n",
    )
    tampered = save_tape(tapes_dir, "original question", folder="test_x")
    tampered.write_text(tampered.read_text().replace("original question", "edited question"))
    secret = "sk-proj-" + "Ab3" * 10
    leaky = save_tape(tapes_dir, f"my key is {secret}")
    broken = tapes_dir / ("0" * 64 + ".json")
    broken.write_text('{"meta": ')
    result = run("tapes", "verify", cwd=tmp_path)
    assert result.returncode == 1
    lines = sorted(result.stdout.splitlines())
    assert [line.split(": ")[0] for line in lines] == sorted(
        f".playingpack/tapes/{path.relative_to(tapes_dir)}" for path in (tampered, leaky, broken)
    )
    joined = "\n".join(lines)
    assert "is not a tape: not valid JSON" in joined
    assert "an OpenAI project API key at line" in joined and "(…3Ab3)" in joined
    assert "the request hashes to" in joined and "edited after recording" in joined
    assert secret not in result.stdout + result.stderr
    assert result.stderr == "3 problems in 3 files (5 tape files checked in .playingpack/tapes)\n"


def write_usage_file(
    cwd: Path,
    used: list[str],
    tapes_dir: Path | None = None,
    finished_at: str = "2099-01-01T00:00:00.000Z",
) -> None:
    logs_dir = cwd / ".playingpack" / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    (logs_dir / "usage.json").write_text(
        json.dumps(
            {
                "format": 1,
                "finished_at": finished_at,
                "tapes_dir": str((tapes_dir or cwd / ".playingpack" / "tapes").resolve()),
                "used": used,
            }
        )
    )


def test_tapes_prune(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    result = run("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage.json: prune deletes the tapes the last run did not use" in result.stderr
    kept = save_tape(tapes_dir, "used").name[:-5]
    gone = save_tape(tapes_dir, "unused").name[:-5]
    save_tape(tapes_dir, "unused", index=2)
    save_tape(tapes_dir, "used", folder="test_old")
    write_usage_file(tmp_path, [kept, "test_other/" + "1" * 64])
    expected = [f"{gone}", f"{gone}.2", f"test_old/{kept}"]

    result = run("tapes", "prune", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        *(f"would delete {tape_id}" for tape_id in expected),
        "would delete 3, kept 1 used by the run that finished 2099-01-01 00:00:00 UTC",
    ]
    assert len(tapes_of(tmp_path)) == 4

    result = run("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        *(f"deleted {tape_id}" for tape_id in expected),
        "deleted 3, kept 1 used by the run that finished 2099-01-01 00:00:00 UTC",
    ]
    assert tapes_of(tmp_path) == [kept]
    assert not (tapes_dir / "test_old").exists()


def test_tapes_prune_refuses_usage_of_another_folder(tmp_path: Path) -> None:
    save_tape(tmp_path / ".playingpack" / "tapes", "keep me")
    write_usage_file(tmp_path, [], tapes_dir=tmp_path / "elsewhere")
    result = run("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 2
    assert "records the tapes used in" in result.stderr and "elsewhere" in result.stderr
    assert len(tapes_of(tmp_path)) == 1
    result = run("tapes", "prune", "--tapes-dir", "elsewhere", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("deleted 0, kept 0 used by the run")


def test_tapes_prune_keeps_tapes_written_after_the_run(tmp_path: Path) -> None:
    fresh = save_tape(tmp_path / ".playingpack" / "tapes", "recorded later").name[:-5]
    write_usage_file(tmp_path, [], finished_at="2001-01-01T00:00:00Z")
    result = run("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"kept {fresh} (written after that run ended)",
        "deleted 0, kept 0 used by the run that finished 2001-01-01 00:00:00 UTC, "
        "and 1 written after it ended",
    ]
    assert tapes_of(tmp_path) == [fresh]


def test_tapes_verify_without_tapes(tmp_path: Path) -> None:
    result = run("tapes", "verify", "--tapes-dir", "none", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "no tape files in none\n")
