"""OpenAI embeddings (`POST /v1/embeddings`): JSON only, never streamed, never held.

The answer is replayed as the exact bytes recorded, so float and base64 encodings come back
byte-identical (the SDK asks for base64 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from playingpack.conversation import Conversation, input_turns, read_conversation
from playingpack.providers.base import Provider, Summary, usage_of


class OpenAIEmbeddings(Provider):
    """Embeddings: a ``list`` of ``embedding`` objects with usage. Not Holdable: vectors are
    not decisions a person reviews."""

    endpoint = "/v1/embeddings"

    def wants_stream(self, body: Any) -> bool:
        return False

    def turns(self, body: Any) -> Conversation:
        return read_conversation(
            body,
            lambda request: (
                input_turns(request["input"], conversational=False) if "input" in request else []
            ),
        )

    def is_complete(self, events: Sequence[str]) -> bool:
        return True

    def assemble(self, events: Sequence[str]) -> dict[str, Any]:
        answer = msgspec.json.decode("".join(events))
        return answer if isinstance(answer, dict) else {}

    def summarize(self, answer: dict[str, Any]) -> Summary:
        tokens = usage_of(answer.get("usage"), "prompt_tokens", None, "prompt_tokens_details")
        model = answer.get("model")
        return Summary(model if isinstance(model, str) else None, tokens, ())

    def answer_text(self, answer: dict[str, Any]) -> str:
        """How many vectors of how many dimensions: the numbers themselves are no text."""
        data = answer.get("data")
        vectors = (
            [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        )
        if not vectors:
            return ""
        embedding = vectors[0].get("embedding")
        if isinstance(embedding, str):  # base64 of 4 bytes per float32
            size = len(embedding.rstrip("=")) * 3 // 4 // 4
        else:
            size = len(embedding) if isinstance(embedding, list) else 0
        noun = "embedding" if len(vectors) == 1 else "embeddings"
        return f"[{len(vectors)} {noun} of {size} dimensions]"

    def streamed_text(self, events: Sequence[str]) -> str:
        # Its answer is one JSON body, not a stream of text.
        return ""
