"""Rebuild tests/corpus/ from recorded LLM provider traffic in public repositories.

The corpus is data copied from other projects' recorded test traffic (VCR cassettes and
fixtures), one JSON file per interaction, each with its provenance. This script is how it was
made and how it is remade; the tests never run it (CI has no network) and read the committed
files instead.

    .venv/bin/python scripts/build_corpus.py MIRRORS            write tests/corpus/
    .venv/bin/python scripts/build_corpus.py MIRRORS --check    fail if it would change

MIRRORS is a folder of git repositories, one per source, found as ``MIRRORS/<owner>+<name>/repo``
(a mirror), ``MIRRORS/<owner>+<name>``,
``MIRRORS/<owner>/<name>`` or ``MIRRORS/<name>``; bare repositories and clones both work. Files
are read with ``git show <commit>:<path>`` at the commits pinned in SOURCES, so the result does not
depend on what is checked out. It needs PyYAML (installed with the test extras). To add an
interaction, add a line to PICKS (see tests/corpus/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
# Ollama's native endpoints; Gemini's are per model (``/v1beta/models/<model>:<method>``).
OLLAMA_CHAT, OLLAMA_GENERATE, OLLAMA_EMBED = "/api/chat", "/api/generate", "/api/embed"


@dataclass(frozen=True)
class Source:
    """A repository the corpus copies data from, at one pinned commit."""

    key: str  # the folder under tests/corpus/ and the prefix of interaction ids
    repo: str
    commit: str
    license: str
    kind: str  # "vcr" (VCR cassettes), "httprr" (Go httprr traces) or "fixtures" (data lines)


SOURCES = {
    source.key: source
    for source in (
        Source(
            "pydantic-ai",
            "pydantic/pydantic-ai",
            "4fda38988f2939fa6ea9cdefcf120693e10ef491",
            "MIT",
            "vcr",
        ),
        Source(
            "vercel-ai",
            "vercel/ai",
            "ed857f50f112e23930b0c2dd8d532cc8bebbc911",
            "Apache-2.0",
            "fixtures",
        ),
        Source(
            "simonw-llm",
            "simonw/llm",
            "f3f4f29c6e5e623c3776cbf6455dda2345638214",
            "Apache-2.0",
            "vcr",
        ),
        Source(
            "simonw-llm-gemini",
            "simonw/llm-gemini",
            "2a8c855abf701766555b866efe7c80f9a7e27bcf",
            "Apache-2.0",
            "vcr",
        ),
        Source(
            "crewai",
            "crewAIInc/crewAI",
            "f4731f5025f861c78e3af0487cc80bf5e7c64782",
            "MIT",
            "vcr",
        ),
        Source(
            "openllmetry",
            "traceloop/openllmetry",
            "93429cfb9767e6b51db6cb35f6b70f758117669a",
            "Apache-2.0",
            "vcr",
        ),
        Source(
            "langchaingo",
            "tmc/langchaingo",
            "8fea3de63675b901cf7a2cdc435c204cb7a93643",
            "MIT",
            "httprr",
        ),
    )
}
SHORT = {
    "pydantic-ai": "pai",
    "vercel-ai": "vercel",
    "simonw-llm": "llm",
    "simonw-llm-gemini": "llmgemini",
    "crewai": "crewai",
    "openllmetry": "openllmetry",
    "langchaingo": "lcgo",
}


@dataclass(frozen=True)
class Pick:
    """One file of a source, and which of its interactions to take (all when None).

    ``provider`` overrides the provider inferred from the recorded host; for fixtures it and
    ``endpoint`` are required (a fixture records no URL).
    """

    source: str
    path: str
    indices: tuple[int, ...] | None = None
    provider: str | None = None
    endpoint: str | None = None
    note: str | None = None
    prefix: str = ""  # put before the file's name in the id, when two files share a name


def _vcr(path: str, *indices: int, provider: str | None = None, note: str | None = None) -> Pick:
    return Pick("pydantic-ai", "tests/" + path, indices or None, provider, None, note)


def _llm(path: str, *indices: int, provider: str | None = None, note: str | None = None) -> Pick:
    return Pick("simonw-llm", "tests/cassettes/" + path, indices or None, provider, None, note)


def _fx(
    path: str,
    provider: str,
    endpoint: str,
    *indices: int,
    note: str | None = None,
    name: str = "",
) -> Pick:
    """A fixture; ``indices`` choose among the answers of a multi-step one (all when none)."""
    return Pick("vercel-ai", "packages/" + path, indices or None, provider, endpoint, note, name)


def _gemini(path: str, *indices: int, note: str | None = None) -> Pick:
    return Pick(
        "simonw-llm-gemini", "tests/cassettes/test_gemini/" + path, indices or None, note=note
    )


def _crew(path: str, *indices: int, note: str | None = None, prefix: str = "") -> Pick:
    return Pick(
        "crewai", "lib/crewai/tests/cassettes/" + path, indices or None, note=note, prefix=prefix
    )


def _otel(path: str, *indices: int) -> Pick:
    folder = "packages/opentelemetry-instrumentation-ollama/tests/cassettes/"
    return Pick("openllmetry", folder + path, indices or None)


def _go(path: str, *indices: int, note: str | None = None) -> Pick:
    return Pick("langchaingo", "llms/" + path, indices or None, note=note)


_ENUMS = (
    "the Go SDK asked for $alt=json;enum-encoding=int: enums (finishReason, safety ratings, "
    "modalities) are numbers on the wire"
)
_ROUTED = "recorded through OpenRouter although the cassette's URI says api.openai.com"

# What the corpus holds. Grouped by provider; each line names a file and, for a cassette of
# several calls, which interactions (0-based) to take.
PICKS: tuple[Pick, ...] = (
    # --- OpenAI chat completions ------------------------------------------------------------
    _vcr("models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml"),
    _vcr("models/cassettes/test_openai/test_openai_moderation_stream.yaml"),
    _vcr("cassettes/test_temporal/test_complex_agent_run.yaml", 0, 1),
    _vcr("models/cassettes/test_openai/test_openai_tool_output.yaml"),
    _vcr("models/cassettes/test_openai/test_openai_native_output.yaml", 0),
    _vcr("models/cassettes/test_openai/test_openai_moderation_flagged.yaml"),
    _vcr("models/cassettes/test_openai/test_openai_web_search_tool_with_user_location.yaml"),
    _vcr("models/cassettes/test_openai/test_openai_model_thinking_part.yaml", 1),
    _vcr("models/cassettes/test_openai/test_openai_o1_mini_system_role[developer].yaml"),
    _vcr("models/cassettes/test_openai/test_openai_web_search_tool_model_not_supported.yaml"),
    _vcr("cassettes/test_model_name_suggestions/test_model_name_suggestion[openai-chat].yaml"),
    _vcr("cassettes/test_tool_search/test_tool_search_eval[openai-chat].yaml", 0),
    _llm("test_tools/test_tool_use_basic.yaml"),
    _llm("test_tools/test_tool_use_chain_of_two_calls.yaml"),
    _fx("openai/src/chat/__fixtures__/openai-text.chunks.txt", "openai", CHAT),
    _fx("openai/src/chat/__fixtures__/openai-text.json", "openai", CHAT),
    # --- OpenAI Responses ---------------------------------------------------------------------
    _vcr("models/cassettes/test_openai_responses/test_openai_responses_stream.yaml"),
    _vcr("models/cassettes/test_openai_responses/test_openai_responses_streaming_usage.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_include_raw_annotations_streaming.yaml",
        0,
        1,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_include_raw_annotations_non_streaming.yaml",
        0,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_model_web_search_tool_stream.yaml"
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_model_mcp_server_tool_stream.yaml"
    ),
    _vcr("models/cassettes/test_openai_responses/test_openai_responses_model_mcp_server_tool.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_model_file_search_tool_stream.yaml",
        3,
    ),
    _vcr("models/cassettes/test_openai_responses/test_openai_responses_moderation_stream.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_phase_streamed_on_part_start.yaml",
        0,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_conversation_id_streaming_provider_details.yaml",
        1,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_thinking_with_tool_calls.yaml",
        0,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_thinking_with_code_execution_tool.yaml",
        0,
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_reasoning_generate_summary.yaml"
    ),
    _vcr("models/cassettes/test_openai_responses/test_openai_responses_model_http_error.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_thinking_with_modified_history.yaml",
        1,
    ),
    _vcr("cassettes/test_model_name_suggestions/test_model_name_suggestion[openai-responses].yaml"),
    _vcr(
        "models/cassettes/test_openai/test_openai_instructions_with_responses_logprobs_streaming.yaml"
    ),
    _vcr("cassettes/test_tool_search/test_openai_native_tool_search_streaming.yaml", 0),
    _vcr("cassettes/test_tool_search/test_openai_client_tool_search_streaming.yaml", 1),
    _vcr("models/cassettes/test_openai_responses/test_tool_output.yaml", 0),
    _llm("test_openai_responses/test_responses_basic_streaming.yaml"),
    _llm("test_openai_responses/test_responses_basic_non_streaming.yaml"),
    _llm("test_openai_responses/test_responses_tool_use_streaming.yaml"),
    _llm("test_openai_responses/test_responses_tool_use.yaml", 0),
    _llm("test_openai_responses/test_responses_interleaved_reasoning_between_tool_calls.yaml", 0),
    _llm("test_openai_responses/test_responses_round_trips_encrypted_reasoning.yaml", 0),
    _fx("openai/src/responses/__fixtures__/openai-error.1.chunks.txt", "openai", RESPONSES),
    _fx(
        "openai/src/responses/__fixtures__/openai-web-search-tool.1.chunks.txt", "openai", RESPONSES
    ),
    _fx("openai/src/responses/__fixtures__/openai-web-search-tool.1.json", "openai", RESPONSES),
    _fx(
        "openai/src/responses/__fixtures__/openai-code-interpreter-tool.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    _fx(
        "openai/src/responses/__fixtures__/openai-reasoning-encrypted-content.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    _fx(
        "openai/src/responses/__fixtures__/openai-reasoning-encrypted-content.1.json",
        "openai",
        RESPONSES,
    ),
    _fx("openai/src/responses/__fixtures__/openai-custom-tool.1.chunks.txt", "openai", RESPONSES),
    _fx("openai/src/responses/__fixtures__/openai-custom-tool.1.json", "openai", RESPONSES),
    _fx(
        "openai/src/responses/__fixtures__/openai-image-generation-tool.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    _fx(
        "openai/src/responses/__fixtures__/openai-local-shell-tool.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    _fx(
        "openai/src/responses/__fixtures__/openai-file-search-tool.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    _fx("openai/src/responses/__fixtures__/openai-file-search-tool.2.json", "openai", RESPONSES),
    _fx("openai/src/responses/__fixtures__/openai-phase.1.chunks.txt", "openai", RESPONSES),
    _fx(
        "openai/src/responses/__fixtures__/openai-apply-patch-tool.1.chunks.txt",
        "openai",
        RESPONSES,
    ),
    # --- Azure OpenAI -------------------------------------------------------------------------
    _vcr("providers/cassettes/test_azure/test_azure_provider_call.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_azure_responses_reasoning_context_default_wire_contract[gpt-5.4].yaml"
    ),
    _vcr(
        "models/cassettes/test_openai_responses/test_azure_responses_reasoning_context_default_wire_contract[gpt-5.5].yaml"
    ),
    _fx("openai/src/chat/__fixtures__/azure-model-router.1.chunks.txt", "azure", CHAT),
    _fx("azure/src/__fixtures__/azure-text.1.chunks.txt", "azure", RESPONSES),
    _fx("azure/src/__fixtures__/azure-text.1.json", "azure", RESPONSES),
    _fx("azure/src/__fixtures__/azure-tool-call.1.chunks.txt", "azure", RESPONSES),
    _fx("azure/src/__fixtures__/azure-tool-call.1.json", "azure", RESPONSES),
    _fx("azure/src/__fixtures__/azure-web-search-preview-tool.1.chunks.txt", "azure", RESPONSES),
    _fx(
        "azure/src/__fixtures__/azure-reasoning-encrypted-content.1.chunks.txt", "azure", RESPONSES
    ),
    _fx("azure/src/__fixtures__/azure-code-interpreter-tool.1.chunks.txt", "azure", RESPONSES),
    _fx("azure/src/__fixtures__/azure-image-generation-tool.1.json", "azure", RESPONSES),
    # --- Anthropic Messages -------------------------------------------------------------------
    _vcr("models/cassettes/test_anthropic/test_anthropic_model_thinking_part_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_model_thinking_part_redacted_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_model_thinking_part.yaml", 0),
    _vcr("models/cassettes/test_anthropic/test_anthropic_model_thinking_part_redacted.yaml", 0),
    _vcr("models/cassettes/test_anthropic/test_anthropic_model_web_search_tool_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_web_search_tool.yaml", 0),
    _vcr("models/cassettes/test_anthropic/test_anthropic_web_fetch_tool_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_code_execution_tool_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_code_execution_tool.yaml", 0),
    _vcr(
        "models/cassettes/test_anthropic/test_anthropic_text_editor_code_execution_tool_stream.yaml"
    ),
    _vcr("models/cassettes/test_anthropic/test_anthropic_mcp_servers_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_mcp_servers.yaml", 0),
    _vcr("models/cassettes/test_anthropic/test_anthropic_advisor_tool_stream.yaml"),
    _vcr("models/cassettes/test_anthropic/test_anthropic_advisor_tool.yaml"),
    _vcr(
        "models/cassettes/test_anthropic/test_anthropic_text_parts_ahead_of_built_in_tool_call.yaml",
        1,
    ),
    _vcr("models/cassettes/test_anthropic/test_anthropic_tool_with_thinking.yaml"),
    _vcr("models/cassettes/test_anthropic/test_multiple_parallel_tool_calls.yaml"),
    _vcr("models/cassettes/test_anthropic/test_request_stream_fallback_for_high_max_tokens.yaml"),
    _vcr(
        "models/cassettes/test_anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml"
    ),
    _vcr("cassettes/test_model_name_suggestions/test_model_name_suggestion[anthropic].yaml"),
    _vcr("cassettes/test_tool_search/test_anthropic_native_tool_search_streaming.yaml", 0),
    _vcr("models/anthropic/cassettes/test_output/test_mixed_tools_no_output.yaml"),
    _vcr(
        "cassettes/test_thinking_native_tools/test_thinking_with_native_tool_wire_contract[anthropic].yaml"
    ),
    _fx("anthropic/src/__fixtures__/anthropic-text.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-text.json", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-refusal.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-refusal.json", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-refusal-no-details.json", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-tool-no-args.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-tool-no-args.json", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-json-tool.1.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-compaction.1.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-compaction.1.json", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-web-fetch-tool.1.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-web-search-tool.1.chunks.txt", "anthropic", MESSAGES),
    _fx("anthropic/src/__fixtures__/anthropic-web-search-tool.1.json", "anthropic", MESSAGES),
    _fx(
        "anthropic/src/__fixtures__/anthropic-tool-search-regex.1.chunks.txt", "anthropic", MESSAGES
    ),
    _fx(
        "anthropic/src/__fixtures__/anthropic-programmatic-tool-calling.1.chunks.txt",
        "anthropic",
        MESSAGES,
        0,
        1,
    ),
    _fx(
        "anthropic/src/__fixtures__/anthropic-json-output-format.1.chunks.txt",
        "anthropic",
        MESSAGES,
    ),
    _fx("anthropic/src/__fixtures__/anthropic-clear-thinking.1.chunks.txt", "anthropic", MESSAGES),
    _fx(
        "anthropic/src/__fixtures__/anthropic-code-execution-20250825.1.chunks.txt",
        "anthropic",
        MESSAGES,
    ),
    # --- Groq ---------------------------------------------------------------------------------
    _vcr("models/cassettes/test_groq/test_tool_use_failed_error_streaming.yaml"),
    _vcr("models/cassettes/test_groq/test_tool_use_failed_error_streaming_with_text.yaml", 0),
    _vcr("models/cassettes/test_groq/test_groq_model_web_search_tool_stream.yaml"),
    _vcr("models/cassettes/test_groq/test_groq_model_web_search_tool.yaml"),
    _vcr("models/cassettes/test_groq/test_groq_model_thinking_part.yaml", 1),
    _vcr("models/cassettes/test_groq/test_tool_use_failed_error.yaml", 0, 1),
    _vcr("models/cassettes/test_groq/test_tool_regular_error.yaml"),
    _vcr(
        "models/cassettes/test_tool_choice_matrix/test_tool_choice_matrix[tools_plus_output-groq].yaml"
    ),
    _vcr(
        "cassettes/test_thinking_wire_contract/test_reasoning_wire_contract[groq-gpt-oss-thinking-high].yaml"
    ),
    _fx("groq/src/__fixtures__/groq-tool-call.chunks.txt", "groq", CHAT),
    _fx("groq/src/__fixtures__/groq-tool-call.json", "groq", CHAT),
    _fx("groq/src/__fixtures__/groq-reasoning.json", "groq", CHAT),
    _fx("groq/src/__fixtures__/groq-text.json", "groq", CHAT),
    # --- DeepSeek -----------------------------------------------------------------------------
    _vcr("models/cassettes/test_deepseek/test_deepseek_model_thinking_stream.yaml"),
    _vcr("models/cassettes/test_deepseek/test_deepseek_model_thinking_part.yaml"),
    _vcr("models/cassettes/test_deepseek/test_deepseek_deferred_capability_with_thinking.yaml", 1),
    _vcr(
        "models/cassettes/test_deepseek_responses/test_deepseek_responses[function_tool_stream].yaml"
    ),
    _vcr("models/cassettes/test_deepseek_responses/test_deepseek_responses[text_stream].yaml"),
    _vcr("models/cassettes/test_deepseek_responses/test_deepseek_responses[function_tool].yaml", 0),
    _vcr("models/cassettes/test_deepseek_responses/test_deepseek_responses[reasoning_effort].yaml"),
    _vcr(
        "models/cassettes/test_deepseek_responses/test_deepseek_responses_rejects_interleaved_function_calls.yaml"
    ),
    _fx("deepseek/src/chat/__fixtures__/deepseek-reasoning.chunks.txt", "deepseek", CHAT),
    _fx("deepseek/src/chat/__fixtures__/deepseek-reasoning.json", "deepseek", CHAT),
    _fx("deepseek/src/chat/__fixtures__/deepseek-tool-call.chunks.txt", "deepseek", CHAT),
    _fx("deepseek/src/chat/__fixtures__/deepseek-tool-call.json", "deepseek", CHAT),
    _fx("deepseek/src/chat/__fixtures__/deepseek-json.json", "deepseek", CHAT),
    # --- Mistral ------------------------------------------------------------------------------
    _vcr("models/cassettes/test_mistral/test_mistral_model_thinking_part.yaml", 1),
    _vcr(
        "cassettes/test_thinking_wire_contract/test_reasoning_wire_contract[mistral-small-thinking-high].yaml"
    ),
    _vcr(
        "models/cassettes/test_tool_choice_matrix/test_tool_choice_matrix[tools_plus_output-mistral].yaml"
    ),
    _vcr("models/cassettes/test_mistral/test_mistral_forwards_penalties.yaml"),
    _fx("mistral/src/__fixtures__/mistral-reasoning.chunks.txt", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-reasoning.json", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-text.chunks.txt", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-text.json", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-tool-call.chunks.txt", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-tool-call.json", "mistral", CHAT),
    _fx("mistral/src/__fixtures__/mistral-incremental-tool-call.chunks.txt", "mistral", CHAT),
    # --- OpenRouter ---------------------------------------------------------------------------
    _vcr("models/cassettes/test_openrouter/test_openrouter_stream_error.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_stream_with_reasoning.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_streaming_reasoning.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_stream_with_native_options.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_web_search_annotations_stream.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_web_search_annotations.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_web_search_tool_usage_stream.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_advisor_tool_stream.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_file_annotation.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_with_reasoning.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_map_messages_reasoning.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_tool_calling.yaml"),
    _vcr("models/cassettes/test_openrouter/test_openrouter_errors_raised.yaml", 0),
    _vcr("models/openrouter/cassettes/test_cache/test_openrouter_cache_streaming_e2e.yaml"),
    _vcr(
        "models/cassettes/test_openai_responses/test_openai_responses_raw_cot_stream_openrouter.yaml"
    ),
    _vcr(
        "models/cassettes/test_openai_prompt_cache/test_openrouter_responses_prompt_cache_e2e.yaml",
        0,
    ),
    _llm(
        "test_tools_streaming/test_tools_streaming_variant_a.yaml",
        provider="openrouter",
        note=_ROUTED,
    ),
    _llm(
        "test_tools_streaming/test_tools_streaming_variant_b.yaml",
        0,
        provider="openrouter",
        note=_ROUTED,
    ),
    _llm(
        "test_tools_streaming/test_tools_streaming_variant_c.yaml",
        0,
        provider="openrouter",
        note=_ROUTED,
    ),
    _llm(
        "test_tools_streaming/test_tools_streaming_variant_d.yaml",
        provider="openrouter",
        note=_ROUTED,
    ),
    # --- Gemini's OpenAI-compatible API, Ollama's /v1 -----------------------------------------
    _vcr("models/cassettes/test_openai/test_compatible_api_with_tool_calls_without_id.yaml"),
    _vcr("models/cassettes/test_ollama/test_ollama_local_native_output_uses_json_schema.yaml"),
    _vcr("models/cassettes/test_ollama/test_ollama_cloud_tool_output.yaml"),
    _vcr("models/cassettes/test_ollama/test_ollama_cloud_prompted_output.yaml"),
    # --- xAI ----------------------------------------------------------------------------------
    _fx("xai/src/__fixtures__/xai-text.chunks.txt", "xai", CHAT),
    _fx("xai/src/__fixtures__/xai-text.json", "xai", CHAT),
    _fx("xai/src/__fixtures__/xai-tool-call.chunks.txt", "xai", CHAT),
    _fx("xai/src/__fixtures__/xai-tool-call.json", "xai", CHAT),
    _fx(
        "openai-compatible/src/chat/__fixtures__/xai-tool-call.chunks.txt",
        "xai",
        CHAT,
        name="openai-compatible-",
    ),
    _fx(
        "openai-compatible/src/chat/__fixtures__/xai-text.json",
        "xai",
        CHAT,
        name="openai-compatible-",
    ),
    _fx("xai/src/responses/__fixtures__/xai-web-search-tool.1.chunks.txt", "xai", RESPONSES),
    _fx("xai/src/responses/__fixtures__/xai-web-search-tool.1.json", "xai", RESPONSES),
    _fx("xai/src/responses/__fixtures__/xai-code-execution-tool.1.json", "xai", RESPONSES),
    _fx("xai/src/responses/__fixtures__/xai-image-generation-tool.1.chunks.txt", "xai", RESPONSES),
    # --- Perplexity ---------------------------------------------------------------------------
    _fx("perplexity/src/__fixtures__/perplexity-citations.chunks.txt", "perplexity", CHAT),
    _fx("perplexity/src/__fixtures__/perplexity-citations.json", "perplexity", CHAT),
    _fx("perplexity/src/__fixtures__/perplexity-text.chunks.txt", "perplexity", CHAT),
    _fx("perplexity/src/__fixtures__/perplexity-text.json", "perplexity", CHAT),
    # --- LM Studio's Responses API (open-responses) -------------------------------------------
    _fx(
        "open-responses/src/responses/__fixtures__/lmstudio-basic.1.chunks.txt",
        "lmstudio",
        RESPONSES,
    ),
    _fx("open-responses/src/responses/__fixtures__/lmstudio-basic.1.json", "lmstudio", RESPONSES),
    _fx(
        "open-responses/src/responses/__fixtures__/lmstudio-tool-call.1.chunks.txt",
        "lmstudio",
        RESPONSES,
    ),
    _fx(
        "open-responses/src/responses/__fixtures__/lmstudio-tool-call.1.json", "lmstudio", RESPONSES
    ),
    # --- Other OpenAI-compatible servers ------------------------------------------------------
    _vcr("models/cassettes/test_cerebras/test_cerebras_thinking_part_survives_multiturn.yaml", 0),
    _vcr("models/cassettes/test_openai/test_openai_model_cerebras_provider_qwen_3_coder.yaml", 1),
    _vcr("models/cassettes/test_cerebras/test_cerebras_model_simple.yaml"),
    _vcr("models/cassettes/test_huggingface/test_hf_model_thinking_part.yaml", 0),
    _vcr(
        "models/cassettes/test_stream_close/test_cancel_recorded_provider_stream[huggingface].yaml",
        1,
    ),
    _vcr(
        "models/cassettes/test_tool_choice_matrix/test_tool_choice_matrix[tools_plus_output-huggingface].yaml"
    ),
    _vcr("models/cassettes/test_zai/test_zai_thinking_stream.yaml"),
    _vcr("models/cassettes/test_zai/test_zai_thinking_mode.yaml"),
    _vcr("models/cassettes/test_crusoe/test_crusoe_model_streaming.yaml"),
    _vcr("models/cassettes/test_crusoe/test_crusoe_tool_calling.yaml", 0),
    _vcr("models/cassettes/test_snowflake/test_snowflake_thinking_streaming.yaml"),
    _vcr("models/cassettes/test_snowflake/test_snowflake_tool_calling.yaml", 0),
    _vcr("providers/cassettes/test_heroku/test_heroku_model_provider_claude_3_7_sonnet.yaml"),
    _vcr("models/cassettes/test_bedrock_mantle/test_reused_tool_call_ids[stream].yaml", 0),
    _vcr("models/cassettes/test_bedrock_mantle/test_safeguard_chat_routing.yaml"),
    _vcr("providers/cassettes/test_gateway/test_gateway_provider_with_openai_responses.yaml"),
    _vcr("providers/cassettes/test_gateway/test_gateway_provider_with_anthropic.yaml"),
    _vcr("providers/cassettes/test_gateway/test_gateway_provider_with_groq.yaml"),
    # --- Gemini API (Google AI) in its own format -----------------------------------------------
    _vcr("models/cassettes/test_google/test_google_model_stream.yaml"),
    _vcr("models/cassettes/test_google/test_google_model_iter_stream.yaml", 0, 2),
    _vcr("models/cassettes/test_google/test_google_model_thinking_part_iter.yaml"),
    _vcr("models/cassettes/test_google/test_google_streaming_tool_call_thought_signature.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_model_web_search_tool_stream.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_model_web_fetch_tool_stream.yaml"),
    _vcr("models/cassettes/test_google/test_google_model_file_search_tool_stream.yaml", 3),
    _vcr("models/cassettes/test_google/test_google_stream_usage_is_live_mid_stream.yaml"),
    _vcr("models/cassettes/test_google/test_google_model.yaml"),
    _vcr("models/cassettes/test_google/test_google_model_web_fetch_tool.yaml"),
    _vcr("models/cassettes/test_google/test_google_model_thinking_part.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_tool_output.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_model_retry.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_model_web_search_tool.yaml", 0),
    _vcr("models/cassettes/test_google/test_google_model_safety_settings.yaml"),
    _vcr("cassettes/test_model_name_suggestions/test_model_name_suggestion[google].yaml"),
    _vcr("cassettes/test_embeddings/TestGoogle.test_query_with_dimensions.yaml"),
    _vcr("cassettes/test_embeddings/TestGoogle.test_embed_error.yaml"),
    _gemini("test_prompt.yaml"),
    _gemini("test_tools_with_gemini_3_thought_signatures.yaml"),
    _gemini("test_embedding_batch.yaml"),
    _crew("llms/google/test_google_streaming_returns_usage_metrics.yaml", 0),
    _crew("TestAgentMultimodalGemini.test_video_file[gemini-gemini-2.0-flash].yaml", 0),
    _crew("TestCrewMultimodalGemini.test_image_file[gemini-gemini-1.5-flash].yaml", 0),
    _crew(
        "llms/TestGeminiToolCallStreaming.test_gemini_streaming_multiple_tool_calls_unique_ids.yaml"
    ),
    _crew("llms/google/test_gemini_agent_kickoff_structured_output_with_tools.yaml", 0),
    _go("googleai/testdata/TestGoogleAIErrorHandling.httprr"),
    _go("googleai/testdata/TestGoogleAIWithStreaming.httprr", note=_ENUMS),
    _go("googleai/testdata/TestGoogleAIToolCallResponse.httprr", 0, note=_ENUMS),
    # --- Gemini on Vertex AI ----------------------------------------------------------------------
    _vcr("models/cassettes/test_google/test_google_vertex_service_tier_flex_stream.yaml"),
    _vcr("models/cassettes/test_google/test_google_model_vertex_provider.yaml"),
    _vcr("models/cassettes/test_google/test_google_vertex_logprobs.yaml"),
    _vcr("cassettes/test_embeddings/test_google_task_prefix_vertex.yaml"),
    # --- Ollama's native API ----------------------------------------------------------------------
    _otel("test_chat/test_ollama_chat_legacy.yaml"),
    _otel("test_chat/test_ollama_chat_tool_calls_legacy.yaml"),
    _otel("test_chat/test_ollama_streaming_chat_legacy.yaml"),
    _otel("test_chat/test_ollama_async_streaming_chat_legacy.yaml"),
    _otel("test_ollama_metrics/test_ollama_operation_duration_includes_model_attribute.yaml"),
    _otel("test_generation/test_ollama_generation_legacy.yaml"),
    _otel("test_generation/test_ollama_async_generation_legacy.yaml"),
    _otel("test_generation/test_ollama_streaming_generation_legacy.yaml"),
    _otel("test_generation/test_ollama_async_streaming_generation_legacy.yaml"),
    _go("ollama/internal/ollamaclient/testdata/TestClient_GenerateChat.httprr"),
    _go("ollama/internal/ollamaclient/testdata/TestClient_GenerateChatStream.httprr"),
    _go("ollama/internal/ollamaclient/testdata/TestClient_Generate.httprr"),
    _go("ollama/internal/ollamaclient/testdata/TestClient_GenerateStream.httprr"),
    _go("ollama/internal/ollamaclient/testdata/TestClient_CreateEmbedding.httprr"),
    _go("ollama/testdata/TestCreateEmbedding.httprr", 1),
    _go("ollama/testdata/TestWithFormat.httprr"),
    _go("ollama/testdata/TestWithThink.httprr"),
    _crew("utilities/test_converter_with_llama3_1_model.yaml", 1),
)


@dataclass(frozen=True)
class Derived:
    """An interaction made from a real one by cutting its stream short (a dropped connection):
    the bytes up to the cut are the real ones."""

    of: str  # the id of the real interaction
    keep: int  # how many of its events are kept
    partial: int = 0  # how many bytes of the next event follow them (a cut mid-event)


DERIVED: tuple[Derived, ...] = (
    Derived("pai.openai.openai-responses-stream.0", keep=8),
    Derived("pai.anthropic.anthropic-model-thinking-part-stream", keep=20),
    Derived("vercel.mistral.mistral-text-stream", keep=5, partial=40),
    Derived("pai.gemini.google-model-thinking-part-iter", keep=10, partial=60),
    Derived("llmgemini.gemini.prompt", keep=2),
    Derived("openllmetry.ollama.ollama-streaming-chat-legacy", keep=20, partial=30),
)

# Upstream hosts recorded in cassettes, and what the corpus calls them.
HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral",
    "openrouter.ai": "openrouter",
    "generativelanguage.googleapis.com": "gemini",
    "localhost:11434": "ollama",
    "127.0.0.1:11434": "ollama",
    "aiplatform.googleapis.com": "vertex",
    "europe-west4-aiplatform.googleapis.com": "vertex",
    "ollama.com": "ollama",
    "api.cerebras.ai": "cerebras",
    "router.huggingface.co": "huggingface",
    "api.z.ai": "zai",
    "api.inference.crusoecloud.com": "crusoe",
    "us.inference.heroku.com": "heroku",
    "bedrock-mantle.us-east-1.api.aws": "bedrock-mantle",
    "localhost:8787": "pydantic-ai-gateway",
    "myorg-myaccount.snowflakecomputing.com": "snowflake",
}

# Response headers that may be kept: they say nothing about who made the call. Anything else,
# cookies, organisation and project ids included, is dropped.
SAFE_HEADERS = frozenset(
    {"content-type", "retry-after", "x-request-id", "request-id", "openai-version"}
)
SAFE_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")

# What a leaked credential looks like. The scan covers every written file.
SECRET_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"\bsk-(?:proj-|ant-|or-)?[A-Za-z0-9_-]{20,}",
        r"\bgsk_[A-Za-z0-9]{20,}",
        r"\bxai-[A-Za-z0-9]{20,}",
        r"\bAIza[0-9A-Za-z_-]{35}",
        r"\bhf_[A-Za-z0-9]{30,}",
        r"\bpplx-[A-Za-z0-9]{20,}",
        r"\bgh[pousr]_[A-Za-z0-9]{30,}",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}",
        r"(?i)\"(?:api[-_]?key|x-api-key|authorization|cookie|set-cookie)\"\s*:",
        r"\borg-[A-Za-z0-9]{20,}",
        r"\bproj_[A-Za-z0-9]{20,}",
    )
)


# --- reading sources ------------------------------------------------------------------------


def find_mirror(mirrors: Path, repo: str) -> Path:
    """The git directory or work tree of ``repo`` under ``mirrors``."""
    owner, name = repo.split("/")
    for candidate in (
        mirrors / f"{owner}+{name}" / "repo",
        mirrors / f"{owner}+{name}",
        mirrors / owner / name,
        mirrors / name,
    ):
        if candidate.is_dir():
            return candidate
    raise SystemExit(
        f"no repository for {repo} under {mirrors}: expected {owner}+{name}/repo, "
        f"{owner}+{name}, {owner}/{name} or {name} (clone or mirror it there)"
    )


def git_show(repository: Path, commit: str, path: str) -> bytes:
    """The bytes of ``path`` at ``commit``; exits with git's message when it is not there."""
    done = subprocess.run(
        ["git", "-C", str(repository), "show", f"{commit}:{path}"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"git show {commit}:{path} in {repository}: {done.stderr.decode()}")
    return done.stdout


# --- SSE ------------------------------------------------------------------------------------

_EVENT_END = re.compile(r"(?:\r\n|\r|\n)(?:\r\n|\r|\n)")


def split_events(body: str) -> list[str]:
    """``body`` cut after each blank line; joined back, the pieces are ``body`` exactly."""
    pieces: list[str] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        pieces.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        pieces.append(body[start:])
    return pieces


def split_body(framing: str, body: str) -> list[str]:
    """A stream's body cut into its events: SSE events (``sse``), NDJSON lines (``ndjson``) or
    the elements of a streamed JSON array, each with the separator before it and the closing
    bracket, with what precedes it, on its own (``json-array``: each element is an event as
    soon as its last byte arrives). Joined back, the pieces are ``body`` exactly."""
    if framing == "ndjson":
        return body.splitlines(keepends=True)
    if framing == "json-array":
        return _split_array(body)
    return split_events(body)


_SEPARATOR = re.compile(r"\s*,?\s*")


def _split_array(body: str) -> list[str]:
    decoder = json.JSONDecoder()
    pieces: list[str] = []
    start = 0
    position = _SEPARATOR.match(body, body.find("[") + 1).end()  # type: ignore[union-attr]
    while position < len(body) and body[position] != "]":
        try:
            _, end = decoder.raw_decode(body, position)
        except ValueError:
            break  # cut in the middle of an element: the rest is one piece
        pieces.append(body[start:end])
        start = end
        position = _SEPARATOR.match(body, end).end()  # type: ignore[union-attr]
    if start < len(body):
        pieces.append(body[start:])
    return pieces


@dataclass
class Event:
    name: str | None
    data: str | None  # None for a comment or an event without data lines
    comment: bool


def parse_event(text: str) -> Event:
    name: str | None = None
    data: list[str] = []
    comment = False
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            continue
        if line.startswith(":"):
            comment = True
            continue
        field_name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_name == "event":
            name = value
        elif field_name == "data":
            data.append(value)
    return Event(name, "\n".join(data) if data else None, comment and not data and name is None)


def _decoded(data: str | None) -> Any:
    if data is None or data == "[DONE]":
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


# --- one interaction ------------------------------------------------------------------------


@dataclass
class Interaction:
    """An interaction on its way to a corpus file."""

    id: str
    provider: str
    endpoint: str
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: str
    stream: bool
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    framing: str = "sse"  # how a stream's body is cut into events (see split_body)

    def to_json(self) -> dict[str, Any]:
        features = detect_features(self)
        tape, why = expected_tape(self, features)
        response: dict[str, Any] = {"status": self.status, "headers": self.headers}
        if self.stream:
            response["events"] = split_body(self.framing, self.body)
        else:
            response["body"] = self.body
        provenance = dict(self.provenance)
        if self.notes:
            provenance["notes"] = self.notes
        return {
            "id": self.id,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "stream": self.stream,
            "features": features,
            "expect": {"tape": tape, "why": why},
            "provenance": provenance,
            "request": {"body": self.request},
            "response": response,
        }


def _slug(text: str) -> str:
    text = re.sub(r"\.(yaml|yml|json|txt|sse|httprr)$", "", text)
    text = re.sub(r"\.(chunks|xai)$", "", text)
    text = text.removeprefix("test_")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:70].strip("-")


def _endpoint_of(uri: str) -> str | None:
    path = uri.split("?", 1)[0]
    for suffix, endpoint in (
        ("/chat/completions", CHAT),
        ("/responses", RESPONSES),
        ("/messages", MESSAGES),
    ):
        if path.endswith(suffix):
            return endpoint
    return None


def safe_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    """The recorded response headers that may be kept (see SAFE_HEADERS), names in lower case."""
    kept: dict[str, str] = {}
    for name, value in (headers or {}).items():
        lower = name.lower()
        if lower in SAFE_HEADERS or lower.startswith(SAFE_PREFIXES):
            kept[lower] = value[0] if isinstance(value, list) else str(value)
    return dict(sorted(kept.items()))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _vcr_interactions(source: Source, pick: Pick, raw: bytes) -> Iterator[Interaction]:
    document = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    recorded = document.get("interactions") or []
    indices = pick.indices if pick.indices is not None else tuple(range(len(recorded)))
    stem = _slug(pick.path.rsplit("/", 1)[-1])
    for index in indices:
        item = recorded[index]
        request, response = item["request"], item["response"]
        uri: str = request["uri"]
        endpoint = _endpoint_of(uri) or _native_endpoint(uri)
        if endpoint is None:
            raise SystemExit(f"{pick.path} #{index}: {uri} is not a recorded endpoint")
        host = uri.split("//", 1)[1].split("/", 1)[0]
        provider = pick.provider or HOSTS.get(host)
        if provider is None and host.endswith(".openai.azure.com"):
            provider = "azure"
        if provider is None:
            raise SystemExit(f"{pick.path} #{index}: unknown host {host}; add it to HOSTS")
        notes: list[str] = []
        if pick.note:
            notes.append(pick.note)
        headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
        kept = safe_headers(headers)
        content_type = kept.get("content-type", "")
        stream = "text/event-stream" in content_type
        if "parsed_body" in response:
            body = _compact(response["parsed_body"])
            notes.append(
                "response body re-serialised as compact JSON from the cassette's parsed_body"
            )
        else:
            payload: Any = (response.get("body") or {}).get("string", "")
            if isinstance(payload, bytes):
                encoding = headers.get("content-encoding") or [""]
                if payload[:2] == b"\x1f\x8b" or "gzip" in str(encoding):
                    payload = gzip.decompress(payload)
                    notes.append("response body gunzipped (the cassette kept the gzip bytes)")
                payload = payload.decode("utf-8")
            body = payload
            notes.append("response body as recorded (the cassette's body string)")
        if _native_format(endpoint):
            yield _native_interaction(
                f"{SHORT[source.key]}.{provider}.{pick.prefix}{stem}"
                + ("" if len(recorded) == 1 else f".{index}"),
                source,
                pick,
                index,
                uri,
                endpoint,
                provider,
                int(response["status"]["code"]),
                kept,
                body,
                _request_body(request, notes),
                notes,
            )
            continue
        if not content_type:
            kept["content-type"] = "text/event-stream" if stream else "application/json"
            notes.append("content-type was not recorded; set from the body")
        if stream:
            notes.append("SSE framing as recorded")
        body_request = _request_body(request, notes)
        number = "" if len(recorded) == 1 else f".{index}"
        yield Interaction(
            id=f"{SHORT[source.key]}.{provider}.{stem}{number}",
            provider=provider,
            endpoint=endpoint,
            request=_with_stream(body_request, stream, notes),
            status=int(response["status"]["code"]),
            headers=kept,
            body=body,
            stream=stream,
            provenance={
                "repo": source.repo,
                "commit": source.commit,
                "path": pick.path,
                "license": source.license,
                "interaction": index,
                "uri": uri.split("?", 1)[0],
            },
            notes=notes,
        )


def _request_body(request: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    if "parsed_body" in request and isinstance(request["parsed_body"], dict):
        return dict(request["parsed_body"])
    raw = request.get("body")
    if isinstance(raw, dict):
        if set(raw) != {"string"}:
            return dict(raw)  # the cassette keeps the body already parsed
        raw = raw["string"]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if isinstance(raw, str):
        value = json.loads(raw)
        if isinstance(value, dict):
            return value
    raise SystemExit(f"{request.get('uri')}: the recorded request body is not a JSON object")


def _with_stream(body: dict[str, Any], stream: bool, notes: list[str]) -> dict[str, Any]:
    """``body`` with ``stream`` saying what the response is, so clients ask for that kind."""
    if bool(body.get("stream")) != stream:
        notes.append(f"request's stream flag set to {stream} to match the recorded response")
        body = {**body, "stream": stream}
    return body


def _fixture_interactions(source: Source, pick: Pick, raw: bytes) -> Iterator[Interaction]:
    assert pick.provider is not None and pick.endpoint is not None
    name = pick.path.rsplit("/", 1)[-1]
    stream = name.endswith(".chunks.txt")
    text = raw.decode("utf-8")
    notes: list[str] = [pick.note] if pick.note else []
    if not stream:
        bodies = [(text, _model_of(json.loads(text)))]
        notes.append("response body is the fixture file as committed")
    else:
        answers = _answers([line for line in text.split("\n") if line.strip()], pick.endpoint)
        bodies = [
            (_framed(lines, pick.endpoint), _model_of(json.loads(lines[0]))) for lines in answers
        ]
        if pick.endpoint == CHAT:
            notes.append(
                "SSE framing reconstructed from the fixture's data lines: 'data: <line>' per "
                "event and a final 'data: [DONE]', as the source's own tests frame them"
            )
        else:
            notes.append(
                "SSE framing reconstructed from the fixture's data lines: 'event: <type>' and "
                "'data: <line>' per event, the provider's wire format (the source's tests "
                "frame them as data lines only)"
            )
        if len(answers) > 1:
            notes.append(
                f"the fixture holds {len(answers)} answers in a row (the calls of a multi-step "
                "run); each is an interaction of its own"
            )
    notes.append(
        "the fixture records no request: a minimal valid request for the endpoint was made, "
        "with the response's model"
    )
    suffix = "-stream" if stream else "-json"
    for number, (body, model) in enumerate(bodies):
        if pick.indices is not None and number not in pick.indices:
            continue
        part = f".{number}" if len(bodies) > 1 else ""
        yield Interaction(
            id=f"{SHORT[source.key]}.{pick.provider}.{pick.prefix}{_slug(name)}{suffix}{part}",
            provider=pick.provider,
            endpoint=pick.endpoint,
            request=_minimal_request(pick.endpoint, model or "unknown", stream),
            status=200,
            headers={"content-type": "text/event-stream" if stream else "application/json"},
            body=body,
            stream=stream,
            provenance={
                "repo": source.repo,
                "commit": source.commit,
                "path": pick.path,
                "license": source.license,
                "interaction": number,
                "status": "not recorded by the fixture; 200 (the source's tests serve it as 200)",
            },
            notes=list(notes),
        )


def _answers(lines: list[str], endpoint: str) -> list[list[str]]:
    """The data lines of a fixture cut into answers: a new one starts at each opening event
    (``message_start``, ``response.created``) after the first."""
    opening = {MESSAGES: "message_start", RESPONSES: "response.created"}.get(endpoint)
    answers: list[list[str]] = []
    for line in lines:
        if not answers or (opening and json.loads(line).get("type") == opening):
            answers.append([])
        answers[-1].append(line)
    return answers


def _framed(lines: list[str], endpoint: str) -> str:
    if endpoint == CHAT:
        return "".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n"
    return "".join(f"event: {json.loads(line)['type']}\ndata: {line}\n\n" for line in lines)


def _model_of(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for holder in (value, value.get("response"), value.get("message")):
        if isinstance(holder, dict) and isinstance(holder.get("model"), str) and holder["model"]:
            return str(holder["model"])
    return None


def _minimal_request(endpoint: str, model: str, stream: bool) -> dict[str, Any]:
    if endpoint == CHAT:
        return {
            "model": model,
            "messages": [{"role": "user", "content": "Hello"}],
            "stream": stream,
        }
    if endpoint == RESPONSES:
        return {"model": model, "input": "Hello", "stream": stream}
    return {
        "model": model,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": stream,
    }


# --- Gemini and Ollama in their own formats --------------------------------------------------

_GEMINI_PATH = re.compile(
    r"/models/[^/:]+:(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$"
)


def _native_endpoint(uri: str) -> str | None:
    """The path a Gemini or Ollama call went to, with its query but never a ``key``."""
    rest = uri.split("//", 1)[-1]
    path, _, query = ("/" + rest.split("/", 1)[1] if "/" in rest else "/").partition("?")
    if path in (OLLAMA_CHAT, OLLAMA_GENERATE, OLLAMA_EMBED):
        return path
    if _GEMINI_PATH.search(path):
        kept = [part for part in query.split("&") if part and not part.startswith("key=")]
        return path + ("?" + "&".join(kept) if kept else "")
    return None


def _native_format(endpoint: str) -> str | None:
    """``"gemini"`` or ``"ollama"`` for their native endpoints, None for the others."""
    if endpoint in (OLLAMA_CHAT, OLLAMA_GENERATE, OLLAMA_EMBED):
        return "ollama"
    if _GEMINI_PATH.search(endpoint.split("?", 1)[0]):
        return "gemini"
    return None


def _native_interaction(
    interaction_id: str,
    source: Source,
    pick: Pick,
    index: int,
    uri: str,
    endpoint: str,
    provider: str,
    status: int,
    headers: dict[str, str],
    body: str,
    request: dict[str, Any],
    notes: list[str],
) -> Interaction:
    """A Gemini or Ollama answer: an Ollama stream is NDJSON; a Gemini stream is SSE
    (``alt=sse``) or, without it, a streamed JSON array."""
    content_type = headers.get("content-type", "")
    if _native_format(endpoint) == "ollama":
        stream, framing = "application/x-ndjson" in content_type, "ndjson"
        if stream:
            notes.append("NDJSON lines as recorded")
        # Ollama streams unless told not to: an absent flag means true.
        if request.get("stream", True) != stream:
            notes.append(f"request's stream flag set to {stream} to match the recorded response")
            request = {**request, "stream": stream}
    else:
        sse = "text/event-stream" in content_type
        array = not sse and ":streamGenerateContent" in endpoint and 200 <= status < 300
        stream, framing = sse or array, "json-array" if array else "sse"
        if sse:
            notes.append("SSE framing as recorded")
        if array:
            notes.append(
                "a streamed JSON array as recorded (no alt=sse); its events are the array's "
                "elements, each with the separator before it, and the closing bracket"
            )
    if not content_type:
        headers = {**headers, "content-type": "application/json"}
        notes.append("content-type was not recorded; set from the body")
    return Interaction(
        id=interaction_id,
        provider=provider,
        endpoint=endpoint,
        request=request,
        status=status,
        headers=headers,
        body=body,
        stream=stream,
        provenance={
            "repo": source.repo,
            "commit": source.commit,
            "path": pick.path,
            "license": source.license,
            "interaction": index,
            "uri": uri.split("?", 1)[0],
        },
        notes=notes,
        framing=framing,
    )


def _native_objects(interaction: Interaction) -> list[Any]:
    """The JSON values of an answer: the body, or each event, line or array element."""
    if not interaction.stream:
        return [_decoded(interaction.body)]
    if interaction.framing == "sse":
        data = [parse_event(text).data for text in split_events(interaction.body)]
        return [_decoded(piece) for piece in data if piece is not None]
    pieces = split_body(interaction.framing, interaction.body)
    return [
        _decoded(piece.strip().strip("[],").strip()) for piece in pieces if piece.strip("[], \r\n")
    ]


_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}


def _native_features(interaction: Interaction) -> list[str]:
    found: set[str] = {"stream" if interaction.stream else "json"}
    if interaction.status >= 400:
        found.add("http_error")
    if interaction.framing == "json-array" and interaction.stream:
        found.add("json_array")
    objects = [value for value in _native_objects(interaction) if isinstance(value, dict)]
    calls: Counter[int] = Counter()
    for value in objects:
        if value.get("error"):
            found.add("error_event" if interaction.stream else "http_error")
        if value.get("embedding") or value.get("embeddings"):
            found.add("embedding")
        if _native_format(interaction.endpoint) == "ollama":
            message = value.get("message") or {}
            calls[0] += len(message.get("tool_calls") or ())
            if message.get("thinking") or value.get("thinking"):
                found.add("reasoning")
            if value.get("eval_count") is not None or value.get("prompt_eval_count") is not None:
                found.add("usage")
            continue
        if value.get("usageMetadata"):
            found.add("usage")
        if (value.get("promptFeedback") or {}).get("blockReason"):
            found.add("refusal")
        for number, candidate in enumerate(value.get("candidates") or ()):
            if candidate.get("finishReason") in _BLOCKED:
                found.add("refusal")
            grounding = candidate.get("groundingMetadata") or {}
            if grounding or candidate.get("citationMetadata"):
                found.add("annotations")
            if (
                grounding.get("webSearchQueries")
                or grounding.get("retrievalQueries")
                or candidate.get("urlContextMetadata")
            ):
                found.add("server_tools")
            for part in (candidate.get("content") or {}).get("parts") or ():
                if "functionCall" in part:
                    calls[candidate.get("index", number)] += 1
                if part.get("thought"):
                    found.add("reasoning")
                if part.get("thoughtSignature"):
                    found.add("thought_signature")
                if any(key in part for key in _SERVER_PARTS):
                    found.add("server_tools")
    if any(calls.values()):
        found.add("tool_calls")
    if any(count > 1 for count in calls.values()):
        found.add("parallel_tool_calls")
    return sorted(found)


_SERVER_PARTS = ("executableCode", "codeExecutionResult", "toolCall", "toolResponse")


def _native_complete(interaction: Interaction) -> bool:
    """An Ollama stream ends with ``done: true``; a Gemini stream's last event (and a JSON
    array, closed) carries a ``finishReason``."""
    objects = _native_objects(interaction)
    last = objects[-1] if objects else None
    if not isinstance(last, dict):
        return False
    if _native_format(interaction.endpoint) == "ollama":
        return last.get("done") is True
    if interaction.framing == "json-array" and not interaction.body.rstrip().endswith("]"):
        return False
    return any(candidate.get("finishReason") for candidate in last.get("candidates") or ())


# --- httprr traces (Go's net/http recordings) -----------------------------------------------


def _httprr_interactions(source: Source, pick: Pick, raw: bytes) -> Iterator[Interaction]:
    """The calls of an httprr trace: ``httprr trace v1``, then per call a line with the sizes
    of the request and the response, and both as raw HTTP/1.1 messages."""
    magic = b"httprr trace v1\n"
    if not raw.startswith(magic):
        raise SystemExit(f"{pick.path}: not an httprr trace")
    calls: list[tuple[bytes, bytes]] = []
    position = len(magic)
    while position < len(raw):
        line_end = raw.index(b"\n", position)
        request_size, response_size = map(int, raw[position:line_end].split())
        position = line_end + 1
        request = raw[position : position + request_size]
        response = raw[position + request_size : position + request_size + response_size]
        calls.append((request, response))
        position += request_size + response_size
    indices = pick.indices if pick.indices is not None else tuple(range(len(calls)))
    stem = _slug(pick.path.rsplit("/", 1)[-1])
    for index in indices:
        request_line, _, request_body = _http_message(calls[index][0])
        status_line, headers, body = _http_message(calls[index][1])
        uri = request_line.split(" ")[1]
        endpoint = _native_endpoint(uri)
        if endpoint is None:
            raise SystemExit(f"{pick.path} #{index}: {uri} is not a recorded endpoint")
        host = uri.split("//", 1)[1].split("/", 1)[0]
        provider = pick.provider or HOSTS.get(host)
        if provider is None:
            raise SystemExit(f"{pick.path} #{index}: unknown host {host}; add it to HOSTS")
        notes = [pick.note] if pick.note else []
        if headers.get("transfer-encoding") == "chunked":
            body = _unchunked(body)
            notes.append("response body as recorded (the trace's bytes, chunked coding removed)")
        else:
            notes.append("response body as recorded (the trace's bytes)")
        if "gzip" in headers.get("content-encoding", ""):
            body = gzip.decompress(body)
            notes.append("response body gunzipped (the trace kept the gzip bytes)")
        value = json.loads(request_body)
        if not isinstance(value, dict):
            raise SystemExit(f"{pick.path} #{index}: the recorded request body is not an object")
        yield _native_interaction(
            f"{SHORT[source.key]}.{provider}.{pick.prefix}{stem}"
            + ("" if len(calls) == 1 else f".{index}"),
            source,
            pick,
            index,
            uri,
            endpoint,
            provider,
            int(status_line.split(" ")[1]),
            safe_headers(headers),
            body.decode("utf-8"),
            value,
            notes,
        )


def _http_message(message: bytes) -> tuple[str, dict[str, str], bytes]:
    """The start line, the headers (names in lower case) and the body of an HTTP message."""
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.decode("utf-8").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


def _unchunked(body: bytes) -> bytes:
    out = bytearray()
    position = 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            return bytes(out)
        out += body[position : position + size]
        position += size + 2


def _derive(real: Interaction, spec: Derived) -> Interaction:
    events = split_body(real.framing, real.body)
    if not real.stream or spec.keep >= len(events):
        raise SystemExit(f"cannot cut {real.id} after {spec.keep} events")
    body = "".join(events[: spec.keep]) + events[spec.keep][: spec.partial]
    cut = f"after {spec.keep} of its {len(events)} events"
    if spec.partial:
        cut += f" and {spec.partial} bytes into the next one"
    provenance = {**real.provenance, "derived": f"the stream of {real.id}, cut {cut}"}
    return Interaction(
        id=f"{real.id}.truncated",
        provider=real.provider,
        endpoint=real.endpoint,
        request=real.request,
        status=real.status,
        headers=real.headers,
        body=body,
        stream=True,
        provenance=provenance,
        notes=[*real.notes, f"derived: cut {cut}, as a dropped connection would leave it"],
        framing=real.framing,
    )


# --- what an interaction shows --------------------------------------------------------------

_SERVER_ITEMS = ("_call", "mcp_list_tools", "mcp_approval_request")


def detect_features(interaction: Interaction) -> list[str]:
    """Which of the corpus's feature names (see tests/corpus/README.md) the response shows."""
    if _native_format(interaction.endpoint):
        return _native_features(interaction)
    found: set[str] = set()
    if interaction.status >= 400:
        found.add("http_error")
    if interaction.stream:
        found.add("stream")
        events = [parse_event(text) for text in split_events(interaction.body)]
        if any(event.comment for event in events):
            found.add("comments")
        values = [(event.name, _decoded(event.data)) for event in events]
        ended = False
        for event, (name, value) in zip(events, values, strict=True):
            if ended and (event.data is not None or event.name):
                found.add("after_end")
            kind = value.get("type") if isinstance(value, dict) else None
            if event.data == "[DONE]" or kind in _TERMINAL or name in _TERMINAL:
                ended = True
        objects = [value for _, value in values if isinstance(value, dict)]
        for name, value in values:
            if name == "error" or (isinstance(value, dict) and value.get("type") == "error"):
                found.add("error_event")
    else:
        found.add("json")
        value = _decoded(interaction.body)
        objects = [value] if isinstance(value, dict) else []
    if interaction.endpoint == CHAT:
        _chat_features(objects, found)
    elif interaction.endpoint == RESPONSES:
        _responses_features(objects, found)
    else:
        _messages_features(objects, found)
    return sorted(found)


_TERMINAL = {"response.completed", "response.incomplete", "response.failed", "message_stop"}


def _chat_features(objects: list[dict[str, Any]], found: set[str]) -> None:
    calls: dict[int, set[Any]] = {}
    for value in objects:
        if value.get("error"):
            found.add("error_event" if "stream" in found else "http_error")
        if value.get("usage"):
            found.add("usage")
        if value.get("citations") or value.get("search_results"):
            found.add("annotations")
        for choice in value.get("choices") or ():
            message = choice.get("delta") or choice.get("message") or {}
            for number, call in enumerate(message.get("tool_calls") or ()):
                calls.setdefault(choice.get("index", 0), set()).add(
                    call.get("index", number) if "stream" in found else number
                )
            if any(
                message.get(key) for key in ("reasoning_content", "reasoning", "reasoning_details")
            ):
                found.add("reasoning")
            content = message.get("content")
            if isinstance(content, list):
                found.add("content_parts")
                if any(
                    isinstance(part, dict) and part.get("type") == "thinking" for part in content
                ):
                    found.add("reasoning")
            if message.get("annotations"):
                found.add("annotations")
            if message.get("refusal") or choice.get("finish_reason") == "content_filter":
                found.add("refusal")
            if message.get("executed_tools"):
                found.add("server_tools")
        usage = value.get("usage")
        if isinstance(usage, dict) and usage.get("server_tool_use"):
            found.add("server_tools")
    if calls:
        found.add("tool_calls")
        if any(len(indexes) > 1 for indexes in calls.values()):
            found.add("parallel_tool_calls")


def _responses_features(objects: list[dict[str, Any]], found: set[str]) -> None:
    final: list[dict[str, Any]] | None = None  # the output of the whole response
    added: list[dict[str, Any]] = []  # items announced one by one in a stream
    for value in objects:
        kind = value.get("type")
        if kind in ("error", "response.failed"):
            found.add("error_event")
        if kind == "response.output_text.annotation.added":
            found.add("annotations")
        response = value.get("response") if kind else value
        if isinstance(response, dict):
            if response.get("usage"):
                found.add("usage")
            if kind in (None, "response.completed", "response.incomplete"):
                final = list(response.get("output") or ())
        if kind == "response.output_item.added" and isinstance(value.get("item"), dict):
            added.append(value["item"])
    items = final if final else added
    calls = 0
    for item in items:
        kind = item.get("type", "")
        if kind in ("function_call", "custom_tool_call"):
            calls += 1
        elif kind == "reasoning":
            found.add("reasoning")
        elif kind.endswith(_SERVER_ITEMS):
            found.add("server_tools")
        for part in item.get("content") or ():
            if isinstance(part, dict):
                if part.get("annotations"):
                    found.add("annotations")
                if part.get("type") == "refusal":
                    found.add("refusal")
    if calls:
        found.add("tool_calls")
    if calls > 1:
        found.add("parallel_tool_calls")


def _messages_features(objects: list[dict[str, Any]], found: set[str]) -> None:
    blocks: list[dict[str, Any]] = []
    for value in objects:
        kind = value.get("type")
        if kind == "error":
            found.add("error_event" if "stream" in found else "http_error")
        if kind == "content_block_start" and isinstance(value.get("content_block"), dict):
            blocks.append(value["content_block"])
        if kind == "content_block_delta" and isinstance(value.get("delta"), dict):
            delta_kind = value["delta"].get("type")
            if delta_kind == "citations_delta":
                found.add("annotations")
            if delta_kind == "compaction_delta":
                found.add("compaction")
        if kind == "message" or kind is None:
            blocks.extend(block for block in value.get("content") or () if isinstance(block, dict))
        if kind in ("message", "message_start", "message_delta") or kind is None:
            holder = value.get("message") if kind == "message_start" else value
            if isinstance(holder, dict) and holder.get("usage"):
                found.add("usage")
            stop = (holder or {}).get("stop_reason") or (value.get("delta") or {}).get(
                "stop_reason"
            )
            if stop == "refusal":
                found.add("refusal")
    tools = 0
    for block in blocks:
        kind = block.get("type", "")
        if kind == "tool_use":
            tools += 1
        elif kind in ("thinking", "redacted_thinking"):
            found.add("reasoning")
        elif kind == "server_tool_use" or kind.endswith("_tool_result") or kind == "mcp_tool_use":
            found.add("server_tools")
        elif kind == "compaction":
            found.add("compaction")
        if block.get("citations"):
            found.add("annotations")
    if tools:
        found.add("tool_calls")
    if tools > 1:
        found.add("parallel_tool_calls")


def expected_tape(interaction: Interaction, features: Sequence[str]) -> tuple[bool, str]:
    """Whether playingpack must save a tape for this answer, and why."""
    if interaction.status >= 300 or interaction.status < 200:
        return False, f"the upstream answered {interaction.status}"
    if "error_event" in features:
        return False, "the stream carries an error event"
    if not interaction.stream:
        return True, "a complete JSON answer"
    if _native_format(interaction.endpoint):
        if not _native_complete(interaction):
            return False, "the stream ends before the answer is complete"
        return True, "a complete stream"
    events = [parse_event(text) for text in split_events(interaction.body)]
    if interaction.endpoint == CHAT:
        complete = any(event.data == "[DONE]" for event in events)
    elif interaction.endpoint == RESPONSES:
        complete = any(
            (_decoded(event.data) or {}).get("type")
            in ("response.completed", "response.incomplete")
            for event in events
        )
    else:
        complete = any(
            event.name == "message_stop"
            or (_decoded(event.data) or {}).get("type") == "message_stop"
            for event in events
        )
    if not complete:
        return False, "the stream ends before the answer is complete"
    return True, "a complete stream"


def secrets_in(text: str) -> list[str]:
    """Substrings of ``text`` that look like credentials."""
    return [match.group(0) for pattern in SECRET_PATTERNS for match in pattern.finditer(text)]


# --- the whole build ------------------------------------------------------------------------


def licenses(mirrors: Path) -> dict[str, str]:
    """Each source's licence text (it goes next to the data copied from it), by source key."""
    texts = {}
    for key, source in SOURCES.items():
        raw = git_show(find_mirror(mirrors, source.repo), source.commit, "LICENSE")
        texts[key] = raw.decode("utf-8")
    return texts


def build(mirrors: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every corpus file: id -> (source key, JSON)."""
    repositories = {key: find_mirror(mirrors, source.repo) for key, source in SOURCES.items()}
    made: dict[str, Interaction] = {}
    for pick in PICKS:
        source = SOURCES[pick.source]
        raw = git_show(repositories[pick.source], source.commit, pick.path)
        if source.kind == "vcr":
            found = list(_vcr_interactions(source, pick, raw))
        elif source.kind == "httprr":
            found = list(_httprr_interactions(source, pick, raw))
        else:
            found = list(_fixture_interactions(source, pick, raw))
        for interaction in found:
            if interaction.id in made:
                raise SystemExit(f"two interactions are called {interaction.id}")
            made[interaction.id] = interaction
    for spec in DERIVED:
        if spec.of not in made:
            raise SystemExit(f"DERIVED names {spec.of}, which is not in PICKS")
        derived = _derive(made[spec.of], spec)
        made[derived.id] = derived
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    for interaction in made.values():
        source_key = next(
            key for key, source in SOURCES.items() if source.repo == interaction.provenance["repo"]
        )
        files[interaction.id] = (source_key, interaction.to_json())
    return files


def write(
    files: dict[str, tuple[str, dict[str, Any]]],
    texts: dict[str, str],
    out: Path,
    check: bool,
) -> int:
    """Write (or, with ``check``, compare) the corpus and the sources' licences; returns the
    number of differences."""
    wanted: dict[Path, str] = {out / key / "LICENSE": text for key, text in texts.items()}
    for interaction_id, (source_key, document) in sorted(files.items()):
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        leaked = secrets_in(text)
        if leaked:
            raise SystemExit(f"{interaction_id}: looks like a credential: {leaked[:3]}")
        wanted[out / source_key / f"{interaction_id}.json"] = text
    existing = {path for path in out.glob("*/*.json")}
    differences = 0
    for path in sorted(existing - set(wanted)):
        differences += 1
        print(f"stale: {path.relative_to(ROOT)}")
        if not check:
            path.unlink()
    for path, text in wanted.items():
        if path.exists() and path.read_text("utf-8") == text:
            continue
        differences += 1
        if check:
            print(f"differs: {path.relative_to(ROOT)}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    return differences


# The columns of the counts table of Gemini and Ollama interactions.
_NATIVE_COLUMNS = (
    "Gemini JSON",
    "Gemini SSE",
    "Gemini JSON array",
    "Gemini embeddings",
    "`/api/chat` JSON",
    "`/api/chat` NDJSON",
    "`/api/generate` JSON",
    "`/api/generate` NDJSON",
    "`/api/embed`",
)


def _native_column(document: dict[str, Any]) -> str:
    endpoint, stream = document["endpoint"], document["stream"]
    if _native_format(endpoint) == "ollama":
        if endpoint == OLLAMA_EMBED:
            return "`/api/embed`"
        return f"`{endpoint}` " + ("NDJSON" if stream else "JSON")
    if "mbedContent" in endpoint:
        return "Gemini embeddings"
    if not stream:
        return "Gemini JSON"
    sse = "text/event-stream" in document["response"]["headers"].get("content-type", "")
    return "Gemini SSE" if sse else "Gemini JSON array"


def summary(files: dict[str, tuple[str, dict[str, Any]]]) -> str:
    """The counts tables of tests/corpus/README.md."""
    everything = [document for _, document in files.values()]
    real = [d for d in everything if "derived" not in d["provenance"]]
    lines = [
        f"{len(real)} recorded interactions from {len({d['provenance']['repo'] for d in real})} "
        f"projects and {len({d['provider'] for d in real})} providers, plus "
        f"{len(everything) - len(real)} derived (truncated) streams.",
        "",
        "| provider | chat JSON | chat stream | responses JSON | responses stream "
        "| messages JSON | messages stream | total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    replayed = [d for d in real if not _native_format(d["endpoint"])]
    cells: Counter[tuple[str, str, bool]] = Counter(
        (d["provider"], d["endpoint"], d["stream"]) for d in replayed
    )
    columns = [(e, s) for e in (CHAT, RESPONSES, MESSAGES) for s in (False, True)]
    for provider in sorted({d["provider"] for d in replayed}):
        counts = [cells[(provider, e, s)] for e, s in columns]
        lines.append(
            f"| {provider} | " + " | ".join(str(c or "") for c in counts) + f" | {sum(counts)} |"
        )
    totals = [sum(cells[(p, e, s)] for p in {d["provider"] for d in real}) for e, s in columns]
    lines.append("| **all** | " + " | ".join(map(str, totals)) + f" | **{sum(totals)}** |")
    recorded_native = [d for d in real if _native_format(d["endpoint"])]
    kinds: Counter[tuple[str, str]] = Counter(
        (d["provider"], _native_column(d)) for d in recorded_native
    )
    lines += [
        "",
        "| provider | " + " | ".join(_NATIVE_COLUMNS) + " | total |",
        "|---" * (len(_NATIVE_COLUMNS) + 2) + "|",
    ]
    for provider in sorted({d["provider"] for d in recorded_native}):
        counts = [kinds[(provider, column)] for column in _NATIVE_COLUMNS]
        lines.append(
            f"| {provider} | " + " | ".join(str(c or "") for c in counts) + f" | {sum(counts)} |"
        )
    native_totals = [
        sum(kinds[(p, column)] for p in {d["provider"] for d in recorded_native})
        for column in _NATIVE_COLUMNS
    ]
    lines.append(
        "| **all** | " + " | ".join(map(str, native_totals)) + f" | **{sum(native_totals)}** |"
    )
    features: Counter[str] = Counter(f for d in real for f in d["features"])
    lines += ["", "| feature | interactions |", "|---|---|"]
    lines += [f"| `{name}` | {count} |" for name, count in sorted(features.items())]
    return "\n".join(lines)


def update_readme(text: str, out: Path, check: bool) -> int:
    readme = out / "README.md"
    if not readme.exists():
        return 0
    current = readme.read_text("utf-8")
    start, end = "<!-- counts: written by scripts/build_corpus.py -->", "<!-- end of counts -->"
    if start not in current or end not in current:
        return 0
    head, _, rest = current.partition(start)
    _, _, tail = rest.partition(end)
    new = f"{head}{start}\n{text}\n{end}{tail}"
    if new == current:
        return 0
    if check:
        print("differs: tests/corpus/README.md (counts)")
    else:
        readme.write_text(new, "utf-8")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirrors", type=Path, help="folder of the source repositories")
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus folder")
    parser.add_argument("--check", action="store_true", help="only report differences")
    options = parser.parse_args(argv)
    files = build(options.mirrors)
    differences = write(files, licenses(options.mirrors), options.out, options.check)
    text = summary(files)
    differences += update_readme(text, options.out, options.check)
    print(text)
    if options.check and differences:
        print(f"{differences} difference(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
