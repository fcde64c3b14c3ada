"""providers.base: the seam every wire format implements, and the Holdable ones."""

from __future__ import annotations

from typing import Any

import pytest

from playingpack.providers import Holdable, Provider, builtin
from playingpack.providers.openai_embeddings import OpenAIEmbeddings
from tests.conftest import COMPLETION
from tests.test_catalog import (
    ANTHROPIC_ANSWER,
    COMPLETIONS_ANSWER,
    EMBEDDINGS_ANSWER,
    RESPONSES_ANSWER,
)

ANSWERS: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": COMPLETION,
    "/v1/messages": ANTHROPIC_ANSWER,
    "/v1/responses": RESPONSES_ANSWER,
    "/v1/completions": COMPLETIONS_ANSWER,
}


def test_an_incomplete_wire_format_cannot_be_made() -> None:
    class Partial(Provider):
        endpoint = "/v1/partial"

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_every_endpoint_but_embeddings_is_holdable() -> None:
    holdable = {p.endpoint: isinstance(p, Holdable) for p in builtin()}
    assert holdable == {
        "/v1/chat/completions": True,
        "/v1/messages": True,
        "/v1/responses": True,
        "/v1/embeddings": False,
        "/v1/completions": True,
        "/v1beta/models/{model}:generateContent": True,
        "/v1beta/models/{model}:batchEmbedContents": False,
        "/api/chat": True,
        "/api/generate": True,
        "/api/embed": False,
    }


@pytest.mark.parametrize("endpoint", ANSWERS)
def test_the_text_of_an_answer_is_what_its_stream_shows(endpoint: str) -> None:
    provider = next(p for p in builtin() if p.endpoint == endpoint)
    assert isinstance(provider, Holdable)
    answer = ANSWERS[endpoint]
    text = provider.answer_text(answer)
    assert text and text == provider.streamed_text(provider.to_events(answer, {}))


def test_the_text_of_embeddings_says_how_many_of_what_size() -> None:
    embeddings = OpenAIEmbeddings()
    assert embeddings.answer_text(EMBEDDINGS_ANSWER) == "[2 embeddings of 3 dimensions]"
    base64 = {"data": [{"embedding": "AAAAAAAAAAAAAAAAAAAAAA=="}]}  # 16 bytes: 4 floats
    assert embeddings.answer_text(base64) == "[1 embedding of 4 dimensions]"
    assert embeddings.answer_text({"data": "odd"}) == ""


@pytest.mark.parametrize("provider", builtin(), ids=lambda p: p.endpoint)
def test_answers_of_any_shape_have_a_text(provider: Provider) -> None:
    for odd in ({}, {"choices": "x", "content": 1, "output": [1], "data": [1]}):
        assert provider.answer_text(odd) == ""
