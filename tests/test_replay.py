"""A tape as each kind of client gets it, on literal tapes."""

from __future__ import annotations

import asyncio
import gc
import json

from playingpack.providers.openai_chat import OpenAIChat
from playingpack.replay import Replays, decode_object
from playingpack.tapes import Chunk, Tape
from tests.conftest import COMPLETION


def json_tape() -> Tape:
    body = json.dumps(COMPLETION)
    return Tape("a" * 64, "/v1/chat/completions", {}, 200, (Chunk(body, 120),), False)


def test_json_tape_is_served_as_recorded_and_as_a_stream() -> None:
    tape = json_tape()
    replay = asyncio.run(Replays().prepared(tape, OpenAIChat(), {}, False))
    assert replay.json_body() == tape.body  # the recorded bytes, untouched
    assert replay.summary.usage is not None and replay.summary.usage.output_tokens == 2
    chunks = replay.stream_chunks({"stream": True})
    assert chunks[0].d == 120 and all(chunk.d == 0 for chunk in chunks[1:])
    assert chunks[-1].c == "data: [DONE]\n\n"
    assert replay.stream_body({}) == "".join(c.c for c in chunks).encode()
    assert OpenAIChat().assemble([c.c for c in chunks])["choices"] == COMPLETION["choices"]


def test_streamed_tape_is_served_as_the_assembled_answer() -> None:
    provider = OpenAIChat()
    events = provider.to_events(COMPLETION, {})
    tape = Tape("b" * 64, "/v1/chat/completions", {}, 200, tuple(Chunk(e, 5) for e in events), True)
    replay = asyncio.run(Replays().prepared(tape, provider, {}, True))
    assert replay.stream_chunks({}) is tape.chunks
    assert json.loads(replay.json_body())["choices"] == COMPLETION["choices"]


def test_one_replay_per_tape_while_the_tape_lives() -> None:
    replays, provider = Replays(), OpenAIChat()

    def of(tape: Tape, stream: bool = False) -> object:
        return asyncio.run(replays.prepared(tape, provider, {}, stream))

    tape = json_tape()
    assert of(tape) is of(tape) is of(tape, True)
    other = json_tape()
    assert of(other) is not of(tape)
    del tape, other
    gc.collect()
    assert len(replays._replays) == 0


def test_decode_object() -> None:
    assert decode_object(b'{"a": 1}') == {"a": 1}
    assert decode_object(b"[1]") is None
    assert decode_object(b"{broken") is None
