"""OpenAI embeddings (`POST /v1/embeddings`): JSON only, never streamed, never held.

The answer is replayed as the exact bytes recorded, so float and base64 encodings come back
byte-identical (the SDK asks for base64 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.providers import EventKind, Provider, Summary, usage_of


class OpenAIEmbeddings(Provider):
    """Embeddings: a ``list`` of ``embedding`` objects with usage."""

    endpoint = "/v1/embeddings"
    holdable = False  # vectors are not decisions a person reviews

    def wants_stream(self, body: Any) -> bool:
        return False

    def is_complete(self, events: Sequence[str]) -> bool:
        return True

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer = msgspec.json.decode("".join(events))
        return answer if isinstance(answer, dict) else {}

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = usage_of(answer.get("usage"), "prompt_tokens", None)
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, ())

    def event_kind(self, event: str) -> EventKind:
        return EventKind.TEXT

    def streamed_text(self, events: Sequence[str]) -> str:
        return ""
