"""Wire formats, one module each, behind one seam (see ``base``)."""

from __future__ import annotations

from playingpack.providers.base import (
    EventKind,
    Framing,
    Holdable,
    Provider,
    Summary,
    ToolCall,
    Usage,
    has_done,
    parsed_events,
    usage_of,
)

__all__ = [
    "EventKind",
    "Framing",
    "Holdable",
    "Provider",
    "Summary",
    "ToolCall",
    "Usage",
    "builtin",
    "has_done",
    "parsed_events",
    "usage_of",
]


def builtin() -> list[Provider]:
    """One instance of every wire format playingpack records, in routing order."""
    from playingpack.providers.anthropic import AnthropicMessages
    from playingpack.providers.gemini import GeminiEmbeddings, GeminiGenerateContent
    from playingpack.providers.ollama import OllamaChat, OllamaEmbed, OllamaGenerate
    from playingpack.providers.openai_chat import OpenAIChat
    from playingpack.providers.openai_completions import OpenAICompletions
    from playingpack.providers.openai_embeddings import OpenAIEmbeddings
    from playingpack.providers.openai_responses import OpenAIResponses

    return [
        OpenAIChat(),
        AnthropicMessages(),
        OpenAIResponses(),
        OpenAIEmbeddings(),
        OpenAICompletions(),
        GeminiGenerateContent(),
        GeminiEmbeddings(),
        OllamaChat(),
        OllamaGenerate(),
        OllamaEmbed(),
    ]
