"""Recording a streamed answer as it passes (Capture): when a tape is saved, and when not."""

from __future__ import annotations

import asyncio
import json

from playingpack.call import MAX_ANSWER
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.recording import Capture
from playingpack.tapes import Chunk

chat = OpenAIChat()


def event(data: object) -> str:
    return f"data: {json.dumps(data)}\n\n"


def delta(text: str) -> str:
    return event(
        {"id": "c1", "object": "chat.completion.chunk", "choices": [{"delta": {"content": text}}]}
    )


DONE = "data: [DONE]\n\n"
ERROR = event({"error": {"message": "overloaded", "type": "server_error"}})


class Taped:
    """What a Capture saved and told, call by call."""

    def __init__(self) -> None:
        self.saves: list[tuple[list[str], bool]] = []
        self.told: list[list[str]] = []

    async def save(self, chunks: tuple[Chunk, ...], again: bool) -> None:
        self.saves.append(([chunk.c for chunk in chunks], again))

    def tell(self, events: list[str]) -> None:
        self.told.append(events)


def captured(*reads: str | bytes, record: bool = True) -> tuple[Capture, Taped]:
    """A Capture fed ``reads`` as network chunks, then ended."""
    taped = Taped()

    async def run() -> Capture:
        loop = asyncio.get_running_loop()
        capture = Capture(chat, loop.time(), False, taped.save if record else None, taped.tell)
        for data in reads:
            await capture.feed(data.encode() if isinstance(data, str) else data)
        await capture.end()
        return capture

    return asyncio.run(run()), taped


def test_the_tape_is_saved_when_the_answer_is_whole_and_again_when_more_follows() -> None:
    capture, taped = captured(delta("Hel") + delta("lo"), DONE, ": a comment\n\n")
    assert capture.answered and capture.answer_end == 3
    assert taped.saves == [
        ([delta("Hel"), delta("lo"), DONE], False),
        ([delta("Hel"), delta("lo"), DONE, ": a comment\n\n"], True),
    ]
    assert taped.told == [[delta("Hel"), delta("lo")], [DONE], [": a comment\n\n"]]


def test_events_cut_anywhere_are_joined_and_bytes_after_the_last_blank_line_kept() -> None:
    text = delta("Hi") + DONE + "data: tail"
    capture, taped = captured(*(text[i : i + 7] for i in range(0, len(text), 7)))
    assert capture.texts() == [delta("Hi"), DONE, "data: tail"]
    assert taped.saves[-1] == ([delta("Hi"), DONE, "data: tail"], True)


def test_an_answer_that_never_completes_is_never_saved() -> None:
    capture, taped = captured(delta("cut sho"))
    assert not capture.complete
    assert taped.saves == []


def test_an_answer_that_reports_an_error_is_never_saved() -> None:
    capture, taped = captured(delta("Hel"), ERROR, DONE)
    assert capture.failure == "overloaded" and capture.complete and not capture.answered
    assert taped.saves == []


def test_without_recording_nothing_is_saved_but_the_answer_is_read() -> None:
    capture, taped = captured(delta("Hi"), DONE, record=False)
    assert capture.answered and taped.saves == []


def test_an_answer_over_the_limit_stops_being_read_and_keeps_its_unfinished_bytes() -> None:
    unfinished = "data: " + "x" * 100
    capture, taped = captured(delta("Hi"), unfinished, b"y" * MAX_ANSWER, DONE)
    assert capture.oversized and not capture.complete
    assert capture.spill == unfinished.encode()
    assert capture.texts() == [delta("Hi")]
    assert taped.saves == []
