"""OpenAI legacy completions (`POST /v1/completions`): ``text_completion`` JSON, or its
chunks ending in ``data: [DONE]``. No tool calls."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.conversation import Conversation, prompt_turns, read_conversation
from playingpack.merging import Merge
from playingpack.providers.base import (
    EventKind,
    Holdable,
    Summary,
    ToolCall,
    has_done,
    parsed_events,
    usage_of,
)
from playingpack.sse import DONE, format_event

_encode = msgspec.json.encode
_DONE_EVENT = f"data: {DONE}\n\n"
_NOT_COPIED = frozenset({"choices", "usage"})
_PIECES = ("text", "logprobs")


class OpenAICompletions(Holdable):
    """Legacy completions: one ``text`` per choice, streamed as text pieces."""

    endpoint = "/v1/completions"

    def turns(self, body: Any) -> Conversation:
        return read_conversation(
            body, lambda request: prompt_turns(request["prompt"]) if "prompt" in request else []
        )

    def is_complete(self, events: Sequence[str]) -> bool:
        return has_done(events)

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": "", "object": "text_completion", "created": 0, "model": ""}
        choices: dict[int, dict[str, Any]] = {}
        # The text and the logprobs' lists are pieces (the one rule); any other field of a
        # choice keeps its last value.
        pieces: dict[int, Merge] = {}
        usage: Any = None
        for event in parsed_events(events):
            if event.data == DONE:
                break
            try:
                chunk = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue  # a stream cut inside an event (what came before still counts)
            if not isinstance(chunk, dict):
                continue
            for field, value in chunk.items():
                if field not in _NOT_COPIED:
                    answer[field] = value
            if chunk.get("usage") is not None:
                usage = chunk["usage"]
            for piece in chunk.get("choices") or ():
                index = piece.get("index", 0)
                choice = choices.setdefault(
                    index, {"text": "", "index": index, "logprobs": None, "finish_reason": None}
                )
                pieces.setdefault(index, Merge({"text": ""})).add(
                    {f: v for f, v in piece.items() if f in _PIECES}
                )
                for field, value in piece.items():
                    if field not in _PIECES and field != "index" and value is not None:
                        choice[field] = value
        for index, choice in choices.items():
            choice.update(pieces[index].result())
        answer["choices"] = [choices[i] for i in sorted(choices)]
        answer["usage"] = usage
        return answer

    def to_events(self, answer: dict[str, Any], request: Any) -> list[str]:
        include_usage = (
            isinstance(request, dict)
            and isinstance(request.get("stream_options"), dict)
            and request["stream_options"].get("include_usage") is True
        )
        base = {f: v for f, v in answer.items() if f not in _NOT_COPIED}
        events = [
            format_event(_encode({**base, "choices": [choice]}).decode())
            for choice in answer.get("choices") or ()
        ]
        if include_usage and answer.get("usage") is not None:
            events.append(
                format_event(_encode({**base, "choices": [], "usage": answer["usage"]}).decode())
            )
        events.append(_DONE_EVENT)
        return events

    def answer_text(self, answer: dict[str, Any]) -> str:
        choices = answer.get("choices")
        return "".join(
            choice["text"]
            for choice in (choices if isinstance(choices, list) else ())
            if isinstance(choice, dict) and isinstance(choice.get("text"), str)
        )

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = usage_of(
            answer.get("usage"), "prompt_tokens", "completion_tokens", "prompt_tokens_details"
        )
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, ())

    def event_kind(self, event: str) -> EventKind:
        return EventKind.TEXT

    def streamed_text(self, events: Sequence[str]) -> str:
        parts: list[str] = []
        for event in parsed_events(events):
            if event.data == DONE:
                continue
            try:
                chunk = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue
            if isinstance(chunk, dict):
                parts.extend(c.get("text") or "" for c in chunk.get("choices") or ())
        return "".join(parts)

    def mock_answer(
        self, model: str, content: str | None, tool_calls: Sequence[ToolCall]
    ) -> dict[str, Any]:
        if tool_calls:
            raise ValueError("legacy completions have no tool calls: give `content` only")
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:29]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"text": content or "", "index": 0, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def edit_answer(
        self,
        answer: dict[str, Any],
        content: str | None,
        tool_calls: Sequence[ToolCall] | None,
    ) -> dict[str, Any]:
        if tool_calls:
            raise ValueError("legacy completions have no tool calls: edit `content` only")
        edited: dict[str, Any] = msgspec.json.decode(_encode(answer))
        choices = edited.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            choices = edited["choices"] = [
                {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
            ]
        if content is not None:
            choices[0]["text"] = content
        return edited

    def check_answer(self, answer: Any, model: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ValueError("must be a text_completion JSON object")
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError("must have a non-empty `choices` array")
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
                raise ValueError(f"`choices[{position}].text` must be a string")
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:29]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            **answer,
            "choices": [
                {"index": position, "logprobs": None, "finish_reason": "stop", **choice}
                for position, choice in enumerate(choices)
            ],
        }

    def continue_events(
        self, answer: dict[str, Any], request: Any, sent: Sequence[str]
    ) -> list[str]:
        opened = self.assemble(sent)
        ids = {field: opened[field] for field in ("id", "created", "model") if opened.get(field)}
        return self.to_events({**answer, **ids}, request)
