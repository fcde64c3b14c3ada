"""tape_views: what `playingpack tapes list` and `playingpack tapes show` print."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from playingpack import tape_views
from playingpack.providers import builtin
from playingpack.tape_files import find_tapes
from playingpack.tapes import Chunk, Tape, parse_time
from tests.test_catalog import (
    ANTHROPIC,
    ANTHROPIC_ANSWER,
    ANTHROPIC_REQUEST,
    CHAT,
    CHAT_EVENTS,
    CHAT_REQUEST,
    COMPLETIONS,
    COMPLETIONS_ANSWER,
    COMPLETIONS_REQUEST,
    EMBEDDINGS,
    EMBEDDINGS_ANSWER,
    EMBEDDINGS_REQUEST,
    RESPONSES,
    RESPONSES_ANSWER,
    RESPONSES_REQUEST,
    A,
    chat_tape,
    key_of,
    make_tape,
    save,
)

# --- list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        (CHAT, CHAT_REQUEST, "What is the weather\n  in Paris?"),
        (
            CHAT,
            {
                "messages": [
                    {"role": "developer", "content": "x"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Look:"},
                            {"type": "image_url", "image_url": {"url": "data:..."}},
                        ],
                    },
                ]
            },
            "Look:\n[image]",
        ),
        (ANTHROPIC, ANTHROPIC_REQUEST, "[image]\nWhat is in Rome today?"),
        (RESPONSES, RESPONSES_REQUEST, "Weather in Oslo?"),
        (RESPONSES, {"model": "gpt-4.1", "input": "Tell me a joke"}, "Tell me a joke"),
        (
            RESPONSES,
            {"input": [{"type": "message", "role": "user", "content": "Hi"}]},
            "Hi",
        ),
        (EMBEDDINGS, EMBEDDINGS_REQUEST, "first text (+1 more)"),
        (EMBEDDINGS, {"input": "one text"}, "one text"),
        (EMBEDDINGS, {"input": [1, 2, 3]}, "[3 token ids]"),
        (EMBEDDINGS, {"input": [[1, 2], [3]]}, "[2 token ids] (+1 more)"),
        (COMPLETIONS, COMPLETIONS_REQUEST, "The quick brown fox"),
        (COMPLETIONS, {"prompt": ["a", "b", "c"]}, "a (+2 more)"),
        (CHAT, {"messages": [{"role": "system", "content": "only a system prompt"}]}, None),
        (CHAT, {"model": "m"}, None),
        (CHAT, ["not", "an", "object"], None),
    ],
)
def test_first_user_message(endpoint: str, body: Any, expected: str | None) -> None:
    provider = next(p for p in builtin() if p.serves(endpoint))
    assert tape_views.first_user_message(provider.turns(body)) == expected


def test_list_tapes_newest_first_with_every_field(tmp_path: Path) -> None:
    old = save(tmp_path, chat_tape(timestamp="2025-05-01T10:00:00.000Z"))
    new = save(
        tmp_path,
        make_tape(RESPONSES, RESPONSES_REQUEST, RESPONSES_ANSWER, timestamp="2026-02-01T00:00:00Z"),
        folder="test_weather",
    )
    middle = save(
        tmp_path,
        make_tape(EMBEDDINGS, EMBEDDINGS_REQUEST, EMBEDDINGS_ANSWER, timestamp="2025-09-01"),
    )
    broken = tmp_path / ("f" * 64 + ".json")
    broken.write_text("{not json")
    rows = tape_views.list_tapes(tmp_path, builtin())
    assert [row.file.key for row in rows] == [new.key, middle.key, old.key, "f" * 64]
    assert rows[0].to_json() == {
        "key": new.key,
        "id": new.key,
        "hash": new.hash,
        "recording": 1,
        "folder": "test_weather",
        "path": str(new.path),
        "size": new.size,
        "model": "gpt-4.1-mini",
        "endpoint": "/v1/responses",
        "recorded_at": "2026-02-01T00:00:00Z",
        "streamed": False,
        "first_user_message": "Weather in Oslo?",
        "origin": "recorded",
        "error": None,
    }
    assert rows[2].streamed is True
    last = rows[3].to_json()
    assert last["model"] is None and last["error"].startswith("not valid JSON")


def test_format_list_is_a_table_with_a_total(tmp_path: Path) -> None:
    long_request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "word " * 40}]}
    first = save(tmp_path, chat_tape(timestamp="2026-01-02T03:04:05.678Z"))
    second = save(
        tmp_path,
        make_tape(CHAT, long_request, CHAT_EVENTS, timestamp="2026-01-01T00:00:00Z"),
        folder="test_long",
        index=2,
    )
    (tmp_path / ("e" * 64 + ".json")).write_text("[]")
    lines = tape_views.format_list(tape_views.list_tapes(tmp_path, builtin())).splitlines()
    assert lines[0].split() == [
        "tape", "model", "endpoint", "recorded", "(UTC)", "size", "first", "user", "message"
    ]  # fmt: skip
    assert lines[1].split() == [
        first.hash[:12],
        "gpt-4o-mini",
        CHAT,
        "2026-01-02",
        "03:04:05",
        *tape_views.format_size(first.size).split(),
        *["What", "is", "the", "weather", "in", "Paris?"],
    ]
    assert lines[2].startswith(f"test_long/{second.hash[:12]}.2  gpt-4o ")
    assert lines[2].endswith("word word…") and len(lines[2].split("  ")[-1]) <= 60
    assert lines[3].startswith("e" * 12) and "(unreadable: unexpected content" in lines[3]
    total = tape_views.format_size(sum(t.size for t in find_tapes(tmp_path)))
    assert lines[4] == f"3 tapes, {total} (1 unreadable: run `playingpack tapes verify`)"


def test_format_size() -> None:
    assert [tape_views.format_size(n) for n in (0, 1023, 1024, 2150, 3 * 1024 * 1024)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "2.1 KB",
        "3.0 MB",
    ]


# --- show -----------------------------------------------------------------------------------------


def test_show_chat_stream(tmp_path: Path) -> None:
    file = save(tmp_path, chat_tape())
    second = save(tmp_path, chat_tape(), index=2)
    text = tape_views.format_tape(file, builtin(), [second])
    assert text.splitlines()[:8] == [
        f"tape      {file.hash}",
        f"file      {file.path}",
        "endpoint  /v1/chat/completions",
        "model     gpt-4o-mini",
        "recorded  2026-01-02T03:04:05.678Z",
        "origin    recorded",
        "answer    200, streamed, 3 chunks over 0.02 s",
        f"also      {file.hash}.2",
    ]
    assert text.split("\nRequest\n")[1] == (
        "  system: Be brief.\n"
        "  user: What is the weather\n"
        "          in Paris?\n"
        "  tools offered: get_weather\n"
        "  settings: stream=true, temperature=0\n"
        "\n"
        "Answer\n"
        "  text: Checking.\n"
        "  tool call get_weather (call_0)\n"
        "    {\n"
        '      "city": "Paris"\n'
        "    }\n"
        "  usage: 12 in + 8 out = 20 tokens"
    )
    assert "(recording 2)" in tape_views.format_tape(second, builtin()).splitlines()[0]


def test_show_responses(tmp_path: Path) -> None:
    file = save(tmp_path, make_tape(RESPONSES, RESPONSES_REQUEST, RESPONSES_ANSWER))
    text = tape_views.format_tape(file, builtin())
    assert "answer    200, JSON, answered after 0.25 s" in text
    assert text.split("\nRequest\n")[1] == (
        "  system: You are a weather bot.\n"
        "  user: Weather in Oslo?\n"
        "  assistant: → get_weather({})\n"
        "  tool (call_1): rainy\n"
        "  tools offered: get_weather, web_search\n"
        "\n"
        "Answer\n"
        "  text: Oslo is rainy.\n"
        "  tool call book_umbrella (call_9)\n"
        "    {\n"
        '      "size": "large"\n'
        "    }\n"
        "  usage: 20 in + 9 out = 29 tokens"
    )


def test_show_anthropic(tmp_path: Path) -> None:
    file = save(tmp_path, make_tape(ANTHROPIC, ANTHROPIC_REQUEST, ANTHROPIC_ANSWER))
    assert tape_views.format_tape(file, builtin()).split("\nRequest\n")[1] == (
        "  system: Answer in French.\n"
        "  user: [image]\n"
        "        What is in Rome today?\n"
        "  assistant: → events({})\n"
        "  user: ← toolu_1: a concert\n"
        "  tools offered: events\n"
        "  settings: max_tokens=1024\n"
        "\n"
        "Answer\n"
        "  text: Un concert.\n"
        "  tool call book (toolu_2)\n"
        "    {\n"
        '      "seats": 2\n'
        "    }\n"
        "  usage: 30 in + 15 out = 45 tokens"
    )


def test_show_embeddings_and_completions(tmp_path: Path) -> None:
    file = save(tmp_path, make_tape(EMBEDDINGS, EMBEDDINGS_REQUEST, EMBEDDINGS_ANSWER))
    assert tape_views.format_tape(file, builtin()).split("\nRequest\n")[1] == (
        "  input 0: first text\n"
        "  input 1: second\n"
        "\n"
        "Answer\n"
        "  text: [2 embeddings of 3 dimensions]\n"
        "  usage: 4 in + 0 out = 4 tokens"
    )
    file = save(tmp_path, make_tape(COMPLETIONS, COMPLETIONS_REQUEST, COMPLETIONS_ANSWER))
    assert tape_views.format_tape(file, builtin()).split("\nRequest\n")[1] == (
        "  prompt: The quick brown fox\n\nAnswer\n  text:  jumps.\n  usage: 5 in + 3 out = 8 tokens"
    )


def test_show_azure_path_and_unknown_endpoint(tmp_path: Path) -> None:
    azure = "/openai/deployments/prod/chat/completions"
    file = save(tmp_path, make_tape(azure, CHAT_REQUEST, CHAT_EVENTS))
    assert "  usage: 12 in + 8 out = 20 tokens" in tape_views.format_tape(file, builtin())
    odd = Tape(
        key="c" * 64,
        endpoint="/v1/audio/speech",
        request={"model": "tts-1", "input": "Hello"},
        status=200,
        chunks=(Chunk("RIFF", 1),),
        streamed=False,
    )
    text = tape_views.format_tape(save(tmp_path, odd), builtin())
    assert "\nmodel     -\n" in text  # no provider reads the request of an unknown endpoint
    assert text.endswith(
        'answer    200, JSON, answered after 0.00 s\n\nRequest\n  {"input": "Hello", "model": '
        '"tts-1"}\n\nAnswer\n  (no wire format known for /v1/audio/speech; --raw shows the file)'
    )


def test_show_an_unreadable_answer_says_so(tmp_path: Path) -> None:
    tape = Tape(
        key=key_of(COMPLETIONS_REQUEST, COMPLETIONS),
        endpoint=COMPLETIONS,
        request=COMPLETIONS_REQUEST,
        status=200,
        chunks=(Chunk("<html>oops</html>", 1),),
        streamed=False,
    )
    text = tape_views.format_tape(save(tmp_path, tape), builtin())
    assert text.splitlines()[-1].startswith("  (cannot read the answer: ")
    assert text.endswith("; --raw shows the file)")


def test_show_a_broken_file_raises_value_error(tmp_path: Path) -> None:
    (tmp_path / f"{A}.json").write_text('{"meta": {}}')
    (file,) = find_tapes(tmp_path)
    with pytest.raises(ValueError, match="unexpected content"):
        tape_views.format_tape(file, builtin())


def test_show_says_who_kept_a_tape_and_from_where(tmp_path: Path) -> None:
    kept = dataclasses.replace(
        chat_tape(), origin="edited", parent="abc123", kept="2026-12-01T10:00:00.000Z"
    )
    text = tape_views.format_tape(save(tmp_path, kept), builtin())
    assert (
        "origin    edited: from an edited request, kept by a person at "
        "2026-12-01T10:00:00.000Z (resent from tape abc123)"
    ) in text.splitlines()
    rows = tape_views.list_tapes(tmp_path, builtin())
    assert rows[0].origin == "edited"
    assert "[edited] What is the weather" in tape_views.format_list(rows)


def test_show_names_the_tool_a_result_answers_without_a_call_id(tmp_path: Path) -> None:
    request = {
        "model": "llama3.2",
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "tool", "content": "Cold", "tool_name": "get_weather"},
        ],
        "stream": False,
    }
    answer = {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": "Oslo is cold."},
        "done": True,
        "done_reason": "stop",
    }
    file = save(tmp_path, make_tape("/api/chat", request, answer))
    shown = tape_views.format_tape(file, builtin()).split("\nRequest\n")[1]
    assert shown.startswith("  user: Weather in Oslo?\n  tool (get_weather): Cold\n")


def test_format_list_cuts_pads_and_flattens_each_cell(tmp_path: Path) -> None:
    def row(key: str, size: int, message: str | None, **given: Any) -> tape_views.TapeRow:
        fields: dict[str, Any] = {
            "model": "m", "endpoint": CHAT, "recorded_at": "2026-01-02T03:04:05Z",
            "streamed": False, "error": None, "origin": "recorded", **given,
        }  # fmt: skip
        recorded = parse_time(fields["recorded_at"])
        return tape_views.TapeRow(
            tmp_path, key, size, 0, first_user_message=message, recorded=recorded, **fields
        )

    rows = [
        row("a" * 64, 1023, "  two  spaces\tand a tab  "),
        row("test_x/" + "b" * 64 + ".2", 1024, "w" * 61, model=None, recorded_at="soon"),
        row("c" * 64, 5 * 1024 * 1024, ""),
        row("d" * 64, 0, None, error="not valid JSON", recorded_at="2026-01-02 03:04:05+02:00"),
    ]
    assert tape_views.format_list(rows).splitlines() == [
        "tape                   model  endpoint              recorded (UTC)         size  "
        "first user message",
        "aaaaaaaaaaaa           m      /v1/chat/completions  2026-01-02 03:04:05  1023 B  "
        "two spaces and a tab",
        "test_x/bbbbbbbbbbbb.2  -      /v1/chat/completions  soon                 1.0 KB  "
        + "w" * 59
        + "…",
        "cccccccccccc           m      /v1/chat/completions  2026-01-02 03:04:05  5.0 MB",
        "dddddddddddd           m      /v1/chat/completions  2026-01-02 01:04:05     0 B  "
        "(unreadable: not valid JSON)",
        "4 tapes, 5.0 MB (1 unreadable: run `playingpack tapes verify`)",
    ]
