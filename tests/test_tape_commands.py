"""`playingpack tapes`, run as a real process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from playingpack.providers.openai_chat import OpenAIChat
from playingpack.store import TapeStore
from playingpack.tapes import Chunk, Tape
from tests.conftest import run_cli

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
    result = run_cli("tapes", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("list", "show", "rm", "verify", "prune"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    for args, options in [
        (["list"], ["--json", "--tapes-dir", "--logs-dir", "--config"]),
        (["show"], ["--raw", "--tapes-dir"]),
        (["prune"], ["--dry-run", "--logs-dir"]),
    ]:
        result = run_cli("tapes", *args, "--help", cwd=tmp_path)
        assert result.returncode == 0
        for option in options:
            assert option in result.stdout


def test_tapes_list_table_and_json(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    old = save_tape(tapes_dir, "Weather\nin Oslo?", timestamp="2026-01-01T00:00:00.000Z")
    new = save_tape(tapes_dir, "And in Rome?", folder="test_rome", index=2)
    result = run_cli("tapes", "list", cwd=tmp_path)
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

    result = run_cli("tapes", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert [row["key"] for row in rows] == [f"test_rome/{new.name[:-5]}", old.name[:-5]]
    assert rows[1] | {"path": "", "size": 0} == {
        "key": old.name[:-5],
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
        "origin": "recorded",
        "error": None,
    }
    assert Path(rows[1]["path"]) == old and rows[1]["size"] == old.stat().st_size


def test_tapes_list_takes_the_folder_from_option_env_and_config(tmp_path: Path) -> None:
    save_tape(tmp_path / "from-file", "file?")
    save_tape(tmp_path / "from-env", "env?")
    save_tape(tmp_path / "from-flag", "flag?")
    (tmp_path / "playingpack.toml").write_text('tapes_dir = "from-file"\n')
    assert run_cli("tapes", "list", cwd=tmp_path).stdout.splitlines()[1].endswith("file?")
    env = {"PLAYINGPACK_TAPES_DIR": "from-env"}
    assert run_cli("tapes", "list", cwd=tmp_path, env=env).stdout.splitlines()[1].endswith("env?")
    for args in (
        ["tapes", "--tapes-dir", "from-flag", "list"],
        ["tapes", "list", "--tapes-dir", "from-flag"],
        ["tapes", "--tapes-dir", "from-env", "list", "--tapes-dir", "from-flag"],
    ):
        result = run_cli(*args, cwd=tmp_path, env=env)
        assert result.stdout.splitlines()[1].endswith("flag?"), args
    (tmp_path / "other.toml").write_text('tapes_dir = "from-flag"\n')
    result = run_cli("tapes", "--config", "other.toml", "list", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)[0]["first_user_message"] == "flag?"


def test_tapes_list_without_tapes_and_with_a_bad_config(tmp_path: Path) -> None:
    result = run_cli("tapes", "list", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0,
        "no tapes in .playingpack/tapes (the folder does not exist)\n",
    )
    assert run_cli("tapes", "list", "--json", cwd=tmp_path).stdout == "[]\n"
    (tmp_path / "playingpack.toml").write_text('tapes_dri = "x"\n')
    result = run_cli("tapes", "list", cwd=tmp_path)
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
    result = run_cli("tapes", "show", key[:8], cwd=tmp_path)
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
    result = run_cli("tapes", "show", f"test_oslo/{key}", cwd=tmp_path)
    assert result.stdout.splitlines()[0] == f"tape      test_oslo/{key}"
    result = run_cli("tapes", "show", "--raw", f"{key[:6]}.json", cwd=tmp_path)
    assert result.stdout == path.read_text()


def test_tapes_show_ambiguous_unknown_and_malformed(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    save_tape(tapes_dir, "one", folder="test_a")
    save_tape(tapes_dir, "one", folder="test_b")
    key = tapes_of(tmp_path)[0].split("/")[1]
    result = run_cli("tapes", "show", key[:6], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"playingpack: error: '{key[:6]}' matches 2 recorded requests; name one of them by its "
        "key (or more of its hash):",
        f"  test_a/{key}",
        f"  test_b/{key}",
    ]
    result = run_cli("tapes", "show", "0123456789", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "playingpack: error: no tape matches '0123456789' in .playingpack/tapes; "
        "`playingpack tapes list` shows them\n"
    )
    result = run_cli("tapes", "show", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "'abc' is not a tape hash or id" in result.stderr


def test_tapes_rm(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    first = save_tape(tapes_dir, "one").name[:-5]
    save_tape(tapes_dir, "one", index=2)
    second = save_tape(tapes_dir, "two", folder="test_two").name[:-5]
    third = save_tape(tapes_dir, "three").name[:-5]
    result = run_cli("tapes", "rm", first[:7], f"test_two/{second}", "fedcba98", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == f"deleted {first}\ndeleted {first}.2\ndeleted test_two/{second}\n"
    assert result.stderr == "playingpack: no tape matches 'fedcba98' in .playingpack/tapes\n"
    assert tapes_of(tmp_path) == [third]
    assert not (tapes_dir / "test_two").exists()
    result = run_cli("tapes", "rm", third, "zz", cwd=tmp_path)
    assert result.returncode == 2 and "nothing was deleted" in result.stderr
    assert tapes_of(tmp_path) == [third]
    assert run_cli("tapes", "rm", third, cwd=tmp_path).returncode == 0
    assert tapes_of(tmp_path) == []


def test_tapes_verify_clean_and_with_problems(tmp_path: Path) -> None:
    tapes_dir = tmp_path / ".playingpack" / "tapes"
    save_tape(tapes_dir, "fine")
    save_tape(tapes_dir, "fine", folder="test_fine", index=2)
    result = run_cli("tapes", "verify", cwd=tmp_path)
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
    result = run_cli("tapes", "verify", cwd=tmp_path)
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
    result = run_cli("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage.json: prune deletes the tapes the last run did not use" in result.stderr
    kept = save_tape(tapes_dir, "used").name[:-5]
    gone = save_tape(tapes_dir, "unused").name[:-5]
    save_tape(tapes_dir, "unused", index=2)
    save_tape(tapes_dir, "used", folder="test_old")
    write_usage_file(tmp_path, [kept, "test_other/" + "1" * 64])
    expected = [f"{gone}", f"{gone}.2", f"test_old/{kept}"]

    result = run_cli("tapes", "prune", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        *(f"would delete {tape_id}" for tape_id in expected),
        "would delete 3, kept 1 used by the run that finished 2099-01-01 00:00:00 UTC",
    ]
    assert len(tapes_of(tmp_path)) == 4

    result = run_cli("tapes", "prune", cwd=tmp_path)
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
    result = run_cli("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 2
    assert "records the tapes used in" in result.stderr and "elsewhere" in result.stderr
    assert len(tapes_of(tmp_path)) == 1
    result = run_cli("tapes", "prune", "--tapes-dir", "elsewhere", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("deleted 0, kept 0 used by the run")


def test_tapes_prune_keeps_tapes_written_after_the_run(tmp_path: Path) -> None:
    fresh = save_tape(tmp_path / ".playingpack" / "tapes", "recorded later").name[:-5]
    write_usage_file(tmp_path, [], finished_at="2001-01-01T00:00:00Z")
    result = run_cli("tapes", "prune", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"kept {fresh} (written after that run ended)",
        "deleted 0, kept 0 used by the run that finished 2001-01-01 00:00:00 UTC, "
        "and 1 written after it ended",
    ]
    assert tapes_of(tmp_path) == [fresh]


def test_tapes_verify_without_tapes(tmp_path: Path) -> None:
    result = run_cli("tapes", "verify", "--tapes-dir", "none", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "no tape files in none\n")
