"""catalog: resolving, deleting, verifying and pruning tapes on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from playingpack import catalog
from playingpack.ledger import read_last_run
from playingpack.providers import builtin
from playingpack.store import TapeStore
from playingpack.tape_files import TapeFile, find_tapes
from playingpack.tapes import Chunk, Tape

# --- tapes as the proxy writes them ---------------------------------------------------------------

CHAT = "/v1/chat/completions"
CHAT_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather\n  in Paris?"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
    "stream": True,
    "temperature": 0,
}
CHAT_EVENTS = [
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Checking."}}]}\n\n',
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","type":"function",'
    '"function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}}]},'
    '"finish_reason":"tool_calls"}],'
    '"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}\n\n',
    "data: [DONE]\n\n",
]

RESPONSES = "/v1/responses"
RESPONSES_REQUEST = {
    "model": "gpt-4.1-mini",
    "instructions": "You are a weather bot.",
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "rainy"},
    ],
    "tools": [{"type": "function", "name": "get_weather"}, {"type": "web_search"}],
}
RESPONSES_ANSWER = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4.1-mini",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Oslo is rainy.", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_9",
            "name": "book_umbrella",
            "arguments": '{"size":"large"}',
            "status": "completed",
        },
    ],
    "usage": {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29},
}

ANTHROPIC = "/v1/messages"
ANTHROPIC_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "Answer in French."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                {"type": "text", "text": "What is in Rome today?"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "events", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a concert"}],
        },
    ],
    "tools": [{"name": "events", "input_schema": {"type": "object"}}],
}
ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "text", "text": "Un concert."},
        {"type": "tool_use", "id": "toolu_2", "name": "book", "input": {"seats": 2}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 30, "output_tokens": 15},
}

EMBEDDINGS = "/v1/embeddings"
EMBEDDINGS_REQUEST = {"model": "text-embedding-3-small", "input": ["first text", "second"]}
EMBEDDINGS_ANSWER = {
    "object": "list",
    "data": [
        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]},
        {"object": "embedding", "index": 1, "embedding": [0.4, 0.5, 0.6]},
    ],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}

COMPLETIONS = "/v1/completions"
COMPLETIONS_REQUEST = {"model": "gpt-3.5-turbo-instruct", "prompt": "The quick brown fox"}
COMPLETIONS_ANSWER = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": " jumps.", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}


def key_of(request: Any, endpoint: str) -> str:
    provider = next(p for p in builtin() if p.serves(endpoint))
    return provider.key(request, endpoint)


def make_tape(
    endpoint: str,
    request: Any,
    answer: dict[str, Any] | list[str],
    *,
    timestamp: str = "2026-01-02T03:04:05.678Z",
) -> Tape:
    """A tape of a JSON answer, or of a stream when ``answer`` is a list of events."""
    streamed = isinstance(answer, list)
    chunks = (
        tuple(Chunk(event, 7) for event in answer)
        if isinstance(answer, list)
        else (Chunk(json.dumps(answer), 250),)
    )
    return Tape(
        key=key_of(request, endpoint),
        endpoint=endpoint,
        request=request,
        status=200,
        chunks=chunks,
        streamed=streamed,
        model=str(request.get("model") or ""),
        timestamp=timestamp,
    )


def save(tapes_dir: Path, tape: Tape, *, folder: str = "", index: int = 1) -> TapeFile:
    path = TapeStore(tapes_dir / folder if folder else tapes_dir).save(tape, index)
    (found,) = [t for t in find_tapes(tapes_dir) if t.path == path]
    return found


def chat_tape(**kwargs: Any) -> Tape:
    return make_tape(CHAT, CHAT_REQUEST, CHAT_EVENTS, **kwargs)


# --- resolving references -------------------------------------------------------------------------

A = "aaaaaa" + "0" * 58
A2 = "aaaaaa" + "1" * 58
B = "bbbbbb" + "0" * 58


def files(*ids: str) -> list[TapeFile]:
    result = []
    for tape_id in ids:
        name = tape_id.rpartition("/")[2]
        hash_, _, index = name.partition(".")
        path = Path("/tapes", f"{tape_id}.json")
        result.append(TapeFile(tape_id, path, hash_, int(index or 1), 10, 0.0))
    return result


def ids(found: list[TapeFile]) -> list[str]:
    return [tape.key for tape in found]


def test_resolve_full_hash_prefix_and_recordings() -> None:
    tapes = files(A, f"{A}.2", f"{A}.3", B)
    assert ids(catalog.resolve(tapes, A)) == [A, f"{A}.2", f"{A}.3"]
    assert ids(catalog.resolve(tapes, "bbbbbb")) == [B]
    assert ids(catalog.resolve(tapes, "BBBBBB00")) == [B]
    assert ids(catalog.resolve(tapes, f"{A}.json")) == [A, f"{A}.2", f"{A}.3"]
    assert ids(catalog.resolve(tapes, "aaaaaa0.3")) == [f"{A}.3"]
    assert ids(catalog.resolve(tapes, f"{A}.2.json")) == [f"{A}.2"]
    assert catalog.resolve(tapes, "cccccc") == []
    assert catalog.resolve(tapes, "aaaaaa0.9") == []


def test_resolve_prefers_the_top_folder_and_takes_folders() -> None:
    tapes = files(A, f"test_x/{A}", f"test_y/{A}", f"test_y/{A}.2", f"test_z/{B}")
    assert ids(catalog.resolve(tapes, "aaaaaa")) == [A]
    assert ids(catalog.resolve(tapes, f"test_y/{A[:8]}")) == [f"test_y/{A}", f"test_y/{A}.2"]
    assert ids(catalog.resolve(tapes, f"test_y/{A}.2")) == [f"test_y/{A}.2"]
    assert ids(catalog.resolve(tapes, "bbbbbb")) == [f"test_z/{B}"]  # not at the top: anywhere
    assert catalog.resolve(tapes, f"test_q/{A}") == []


@pytest.mark.parametrize(
    ("tapes", "ref", "listed"),
    [
        (files(A, A2), "aaaaaa", [A, A2]),
        (files(f"test_x/{A}", f"test_y/{A}"), A[:10], [f"test_x/{A}", f"test_y/{A}"]),
    ],
)
def test_resolve_ambiguous_lists_the_candidates(
    tapes: list[TapeFile], ref: str, listed: list[str]
) -> None:
    with pytest.raises(ValueError, match="recorded requests; name one of them") as info:
        catalog.resolve(tapes, ref)
    assert str(info.value).splitlines()[1:] == [f"  {tape_id}" for tape_id in listed]


@pytest.mark.parametrize("ref", ["aaaaa", "zzzzzzzz", "", "aaaaaa/", "aaaaaa.x", "../aaaaaa-1"])
def test_resolve_rejects_what_is_not_a_hash(ref: str) -> None:
    with pytest.raises(ValueError, match="is not a tape hash or id: expected a hash or at least 6"):
        catalog.resolve(files(A), ref)


# --- rm -------------------------------------------------------------------------------------------


def test_remove_deletes_every_recording_and_empty_folders(tmp_path: Path) -> None:
    tape = chat_tape()
    other = make_tape(COMPLETIONS, COMPLETIONS_REQUEST, COMPLETIONS_ANSWER)
    save(tmp_path, tape, folder="test_a")
    save(tmp_path, tape, folder="test_a", index=2)
    save(tmp_path, other, folder="test_b/deep")
    save(tmp_path, other)
    removal = catalog.remove(
        tmp_path, [f"test_a/{tape.key[:8]}", f"test_b/deep/{other.key}", "abcdef"]
    )
    assert ids(removal.deleted) == [
        f"test_a/{tape.key}",
        f"test_a/{tape.key}.2",
        f"test_b/deep/{other.key}",
    ]
    assert removal.unknown == ["abcdef"]
    assert ids(find_tapes(tmp_path)) == [other.key]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{other.key}.json"]


def test_remove_with_a_bad_reference_deletes_nothing(tmp_path: Path) -> None:
    tape = chat_tape()
    save(tmp_path, tape)
    with pytest.raises(ValueError, match="not a tape hash"):
        catalog.remove(tmp_path, [tape.key, "xyz"])
    assert ids(find_tapes(tmp_path)) == [tape.key]


# --- verify ---------------------------------------------------------------------------------------


def problems(tapes_dir: Path) -> list[tuple[str, str]]:
    result = catalog.verify(tapes_dir, builtin())
    return [(p.path.relative_to(tapes_dir).as_posix(), p.what) for p in result.problems]


def test_verify_clean_tapes_of_every_kind(tmp_path: Path) -> None:
    save(tmp_path, chat_tape())
    save(tmp_path, chat_tape(), index=2)
    save(tmp_path, chat_tape(), folder="test_x")
    save(tmp_path, make_tape(RESPONSES, RESPONSES_REQUEST, RESPONSES_ANSWER))
    save(tmp_path, make_tape(ANTHROPIC, ANTHROPIC_REQUEST, ANTHROPIC_ANSWER))
    save(tmp_path, make_tape(EMBEDDINGS, EMBEDDINGS_REQUEST, EMBEDDINGS_ANSWER))
    save(tmp_path, make_tape(COMPLETIONS, COMPLETIONS_REQUEST, COMPLETIONS_ANSWER))
    azure = "/openai/deployments/prod/chat/completions"
    save(tmp_path, make_tape(azure, CHAT_REQUEST, CHAT_EVENTS))
    (tmp_path / "README.md").write_text("sk-" + "x" * 30)  # not a .json file: not read
    assert catalog.verify(tmp_path, builtin()) == catalog.Verification(8, [])


def test_verify_a_missing_folder_checks_nothing(tmp_path: Path) -> None:
    assert catalog.verify(tmp_path / "none", builtin()) == catalog.Verification(0, [])


def test_verify_a_request_edited_after_recording(tmp_path: Path) -> None:
    file = save(tmp_path, chat_tape(), folder="test_x")
    document = json.loads(file.path.read_text())
    document["request"]["body"]["temperature"] = 1
    file.path.write_text(json.dumps(document))
    edited = dict(CHAT_REQUEST, temperature=1)
    ((where, what),) = problems(tmp_path)
    assert where == f"test_x/{file.hash}.json"
    assert what == (
        f"the request hashes to {key_of(edited, CHAT)[:12]}…, not to the {file.hash[:12]}… of the "
        "file name: it was edited after recording, so it can never be replayed; re-record it "
        "(--record refresh) or delete it"
    )


def test_verify_reuses_what_it_found_in_an_unchanged_file_unless_full(tmp_path: Path) -> None:
    good = save(tmp_path, chat_tape())
    told: list[tuple[int, int]] = []
    assert catalog.verify(tmp_path, builtin(), progress=lambda *n: told.append(n)).problems == []
    assert told == [(1, 1)]
    # Broken in place at the same size and mtime: to the index, the file it checked.
    status = good.path.stat()
    text = good.path.read_text()
    good.path.write_text(text.replace("Paris", "Lyon!"))
    os.utime(good.path, ns=(status.st_atime_ns, status.st_mtime_ns))
    told.clear()
    assert catalog.verify(tmp_path, builtin(), progress=lambda *n: told.append(n)).problems == []
    assert told == []
    (problem,) = catalog.verify(tmp_path, builtin(), full=True).problems
    assert "the request hashes to" in problem.what
    # Once checked again, the file's problem is what is remembered.
    assert catalog.verify(tmp_path, builtin()).problems == [problem]
    # Any change to the file (here its mtime) has it checked again.
    good.path.write_text(text)
    assert catalog.verify(tmp_path, builtin()).problems == []


def test_verify_renamed_file_and_edited_meta(tmp_path: Path) -> None:
    file = save(tmp_path, chat_tape())
    renamed = file.path.with_name(f"{B}.json")
    file.path.rename(renamed)
    assert [what.split(":")[0] for _, what in problems(tmp_path)] == [
        f"the request hashes to {file.hash[:12]}…, not to the {B[:12]}… of the file name",
        f"meta.hash is {file.hash[:12]}…, but the file name says {B[:12]}…; the file was "
        "renamed or its meta edited",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "is not a tape: not valid JSON: "),
        ('{"meta": {"hash": "x"}}', "is not a tape: unexpected content: "),
        ("", "is not a tape: not valid JSON: "),
    ],
)
def test_verify_a_file_that_is_not_a_tape(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / f"{A}.json").write_text(text)
    ((where, what),) = problems(tmp_path)
    assert where == f"{A}.json" and what.startswith(expected)


def test_verify_misnamed_tape_and_temporary_file(tmp_path: Path) -> None:
    tape = chat_tape()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "copy of tape.json").write_bytes(tape.to_json())
    (tmp_path / f"{tape.key}.1.json").write_bytes(tape.to_json())
    (tmp_path / f".{tape.key[:16]}.x1y2.tmp").write_text('{"meta"')
    found = problems(tmp_path)
    assert found == [
        (
            f"{tape.key}.1.json",
            "is not named like a tape (expected <64 hex digits>.json, or <64 hex digits>.<k>.json "
            f"with k >= 2 for a repeated request); rename it to {tape.key}.json if it is one",
        ),
        ("sub/copy of tape.json", found[1][1]),
    ]
    assert found[1][1].startswith("is not named like a tape")
    (warning,) = catalog.verify(tmp_path, builtin()).warnings
    temporary, what = warning.path, warning.what
    assert temporary.name == f".{tape.key[:16]}.x1y2.tmp"
    assert what.startswith("temporary file of a tape being written")
    assert f"remove it with `rm {temporary}`" in what


def test_verify_an_unknown_endpoint(tmp_path: Path) -> None:
    tape = Tape("c" * 64, "/v1/audio/speech", {"input": "hi"}, 200, (Chunk("x", 1),), False)
    save(tmp_path, tape)
    assert problems(tmp_path) == [
        (
            f"{'c' * 64}.json",
            "endpoint '/v1/audio/speech' is not one playingpack records; its hash is unchecked",
        )
    ]


SECRETS = [
    ("sk-" + "a1B2" * 6, "an API key", "…a1B2"),
    ("sk-proj-" + "Zz9_-" * 8, "an OpenAI project API key", "…z9_-"),
    ("sk-ant-api03-" + "q" * 40, "an Anthropic API key", "…qqqq"),
    ("Bearer " + "tok." * 8, "a bearer token", "…tok."),
    ("AKIAABCDEFGHIJKLMNOP", "an AWS access key id", "…MNOP"),
]


@pytest.mark.parametrize(("secret", "kind", "shown"), SECRETS)
def test_verify_finds_a_planted_secret_without_printing_it(
    tmp_path: Path, secret: str, kind: str, shown: str
) -> None:
    request = dict(CHAT_REQUEST, messages=[{"role": "user", "content": f"my key is {secret}"}])
    save(tmp_path, make_tape(CHAT, request, CHAT_EVENTS))
    ((_, what),) = problems(tmp_path)
    assert what.startswith(f"{kind} at line ")
    assert what.endswith(f"({shown}); remove it from the tape (and revoke the key if it is real)")
    assert secret not in what and secret[:-4] not in what


def test_verify_finds_secret_header_fields_also_inside_chunks(tmp_path: Path) -> None:
    request = dict(CHAT_REQUEST, metadata={"Authorization": "token-xyz", "api_key": "abc"})
    answer = {"choices": [], "echo": {"x-api-key": "hunter2hunter2"}}
    save(
        tmp_path, make_tape(CHAT, request, [f"data: {json.dumps(answer)}\n\n", "data: [DONE]\n\n"])
    )
    whats = [what for _, what in problems(tmp_path)]
    assert [what.split(" at line")[0] for what in whats] == [
        "a 'authorization' field",
        "a 'api_key' field",
        "a 'x-api-key' field",  # in the chunk, whose quotes are escaped
    ]
    assert "(value not shown)" in whats[0] and "(…ter2)" in whats[2]
    assert all("hunter2" not in what and "token-xyz" not in what for what in whats)


def test_verify_ignores_masked_empty_and_short_look_alikes(tmp_path: Path) -> None:
    request = dict(
        CHAT_REQUEST,
        messages=[{"role": "user", "content": "use sk-short and task-" + "x" * 30}],
        metadata={"authorization": "Bearer ***abcd", "api-key": "", "cookie": {"a": 1}},
    )
    save(tmp_path, make_tape(CHAT, request, CHAT_EVENTS))
    assert problems(tmp_path) == []


# --- prune ----------------------------------------------------------------------------------------


def write_usage(
    logs_dir: Path, tapes_dir: Path, used: list[str], changes: dict[str, Any] | None = None
) -> Path:
    document = {
        "format": 1,
        "finished_at": "2026-03-01T12:00:00.000Z",
        "tapes_dir": str(tapes_dir.resolve()),
        "used": used,
    } | (changes or {})
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / "usage.json"
    path.write_text(json.dumps(document))
    return path


def age(*tapes: TapeFile) -> None:
    """Make the files older than the usage record's finished_at."""
    for tape in tapes:
        os.utime(tape.path, (1_700_000_000, 1_700_000_000))


def test_prune_deletes_unused_tapes_and_empty_folders(tmp_path: Path) -> None:
    tapes_dir = tmp_path / "tapes"
    chat, other = chat_tape(), make_tape(EMBEDDINGS, EMBEDDINGS_REQUEST, EMBEDDINGS_ANSWER)
    used = [save(tapes_dir, chat), save(tapes_dir, other, folder="test_a")]
    unused = [
        save(tapes_dir, chat, index=2),
        save(tapes_dir, chat, folder="test_b"),
        save(tapes_dir, other, folder="test_a/case"),
    ]
    fresh = save(tapes_dir, other)  # written after the run: kept
    age(*used, *unused)
    write_usage(tmp_path / "logs", tapes_dir, [*ids(used), "test_gone/" + A])
    last_run = read_last_run(tmp_path / "logs", tapes_dir)

    dry = catalog.prune(tapes_dir, last_run, dry_run=True)
    assert (ids(dry.deleted), ids(dry.kept), ids(dry.newer)) == (
        sorted(ids(unused)),
        sorted(ids(used)),
        [fresh.key],
    )
    assert len(find_tapes(tapes_dir)) == 6  # nothing deleted

    result = catalog.prune(tapes_dir, last_run)
    assert ids(result.deleted) == sorted(ids(unused))
    assert ids(find_tapes(tapes_dir)) == sorted([*ids(used), fresh.key])
    assert not (tapes_dir / "test_b").exists()
    assert not (tapes_dir / "test_a" / "case").exists() and (tapes_dir / "test_a").is_dir()
    assert catalog.prune(tapes_dir, last_run).deleted == []


def test_prune_keeps_the_tapes_folder_itself(tmp_path: Path) -> None:
    tape = save(tmp_path / "tapes", chat_tape())
    age(tape)
    write_usage(tmp_path, tmp_path / "tapes", [])
    result = catalog.prune(tmp_path / "tapes", read_last_run(tmp_path, tmp_path / "tapes"))
    assert ids(result.deleted) == [tape.key]
    assert (tmp_path / "tapes").is_dir() and not any((tmp_path / "tapes").iterdir())
