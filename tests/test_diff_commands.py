"""`playingpack tapes diff A B`, run as a real process on tapes saved as the proxy saves them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playingpack.providers.openai_chat import OpenAIChat
from playingpack.store import TapeStore
from playingpack.tapes import Chunk, Tape
from tests.conftest import run_cli

CHAT = "/v1/chat/completions"


def answer_of(text: str, city: str, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": json.dumps({"city": city}),
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": completion},
    }


def save(
    tapes_dir: Path,
    city: str,
    *,
    text: str = "Let me check.",
    stream: bool = False,
    completion: int = 5,
    delay: int = 100,
    folder: str = "",
) -> str:
    """A JSON tape of a weather question about ``city``; its key."""
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"What is the weather in {city}?"}],
    }
    if stream:
        body["stream"] = True
    key = OpenAIChat().key(body, CHAT)
    tape = Tape(
        key=key,
        endpoint=CHAT,
        request=body,
        status=200,
        chunks=(Chunk(json.dumps(answer_of(text, city, completion)), delay),),
        streamed=False,
        model="gpt-4o-mini",
        timestamp="2026-01-02T03:04:05.000Z",
    )
    TapeStore(tapes_dir / folder).save(tape)
    return f"{folder}/{key}" if folder else key


def test_two_tapes_that_differ(tmp_path: Path) -> None:
    tapes = tmp_path / ".playingpack" / "tapes"
    oslo = save(tapes, "Oslo", delay=100)
    bergen = save(tapes, "Bergen", text="Let me check now.", completion=9, delay=300)

    result = run_cli("tapes", "diff", oslo[:12], bergen, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert f"a  tape {oslo}  gpt-4o-mini  {CHAT}  2026-01-02T03:04:05.000Z" in out
    assert f"b  tape {bergen}" in out
    assert "Request\n  $.messages[0].content: What is the weather in [-Oslo?-]{+Bergen?+}\n" in out
    assert "  text: Let me [-check.-]{+check now.+}\n" in out
    assert "  tool call 0 get_weather: $.city: [-Oslo-]{+Bergen+}\n" in out
    assert "  finish reason: tool_calls\n" in out
    assert "  status: 200\n" in out
    assert "Usage    input 12, output 5 → 9, total 17 → 21\n" in out
    assert "Cost     $0.0000048 → $0.0000072\n" in out
    assert "Latency  duration 100 ms → 300 ms, first byte 100 ms → 300 ms" in out
    assert "\x1b[" not in out  # no colour when not printing to a terminal


def test_the_same_request_and_answer_exit_0_whatever_the_stream(tmp_path: Path) -> None:
    tapes = tmp_path / ".playingpack" / "tapes"
    plain = save(tapes, "Rome")
    # Keyed alike (the key leaves the stream out): a per-test folder's tape.
    streamed = save(tapes, "Rome", stream=True, delay=50, folder="test_rome")
    assert streamed == f"test_rome/{plain}"

    result = run_cli("tapes", "diff", str(tapes / f"{plain}.json"), streamed, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Request\n  same\n" in result.stdout
    assert "  text: same\n" in result.stdout
    assert "  tool call 0 get_weather: same\n" in result.stdout
    # A file under the tapes folder is named by its key.
    assert f"a  tape {plain}  " in result.stdout
    assert f"b  tape {streamed}  " in result.stdout
    assert "Latency  duration 100 ms → 50 ms" in result.stdout


def test_json(tmp_path: Path) -> None:
    tapes = tmp_path / "elsewhere"
    oslo, bergen = save(tapes, "Oslo"), save(tapes, "Bergen")
    result = run_cli(
        "tapes", "diff", "--tapes-dir", str(tapes), "--json", oslo, bergen, cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    diff = json.loads(result.stdout)
    assert set(diff) == {"a", "b", "request", "answer", "usage", "cost", "latency"}
    assert diff["a"]["ref"] == f"tape:{oslo}" and diff["b"]["kind"] == "tape"
    assert [c["path"] for c in diff["answer"]["tool_calls"][0]["changes"]] == ["$.city"]
    assert diff["request"]["changes"][0]["words"][-1] == {"op": "added", "text": "Bergen?"}


def test_a_file_outside_the_tapes_folder_is_named_by_its_path(tmp_path: Path) -> None:
    save(tmp_path / "mine", "Oslo")
    (path,) = (tmp_path / "mine").glob("*.json")
    result = run_cli("tapes", "diff", "mine/" + path.name, "mine/" + path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"a  tape mine/{path.name}  " in result.stdout


def test_trouble_exits_2(tmp_path: Path) -> None:
    tapes = tmp_path / ".playingpack" / "tapes"
    oslo = save(tapes, "Oslo")
    (tmp_path / "junk.json").write_text('{"meta": {}}')

    missing = run_cli("tapes", "diff", oslo, "abcdef123456", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no tape matches 'abcdef123456'" in missing.stderr

    malformed = run_cli("tapes", "diff", "zz", oslo, cwd=tmp_path)
    assert malformed.returncode == 2
    assert "'zz' is not a tape hash" in malformed.stderr

    junk = run_cli("tapes", "diff", oslo, "junk.json", cwd=tmp_path)
    assert junk.returncode == 2
    assert "junk.json is not a readable tape" in junk.stderr
    assert junk.stdout == ""


def test_long_shared_runs_are_cut_and_a_terminal_gets_colour(tmp_path: Path) -> None:
    from playingpack.diff import diff, side_of_tape
    from playingpack.diff_commands import format_diff
    from playingpack.pricing import PriceBook
    from playingpack.providers import builtin
    from playingpack.tape_files import find_tapes

    words = " ".join(f"w{i}" for i in range(40))
    save(tmp_path, "Oslo", text=f"{words} Oslo {words}")
    save(tmp_path, "Bergen", text=f"{words} Bergen {words}")
    oslo, bergen = sorted(find_tapes(tmp_path), key=lambda f: "Bergen" in f.path.read_text())
    sides = [
        side_of_tape(f.key, Tape.from_json(f.path.read_bytes()), builtin(), PriceBook())
        for f in (oslo, bergen)
    ]
    compared = diff(*sides)
    plain = format_diff(compared)
    assert (
        "  text: … w32 w33 w34 w35 w36 w37 w38 w39 [-Oslo -]{+Bergen +}w0 w1 w2 w3 w4 w5 w6 w7 …\n"
        in plain
    )
    coloured = format_diff(compared, color=True)
    assert "\x1b[31mOslo \x1b[0m\x1b[32mBergen \x1b[0m" in coloured
    assert "[-" not in coloured
