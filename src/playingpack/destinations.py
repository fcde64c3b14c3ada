"""Which upstream a request goes to: OpenAI's (``upstream``), Anthropic's, Gemini's or Ollama's,
told by its path and headers, so one playingpack serves every kind of client at once.

- Gemini: every ``/v1beta/...`` path, and ``/v1beta1/...`` and ``/v1alpha/...`` (Vertex AI's
  and the SDKs' preview versions); under ``/v1/`` a path whose last segment has a
  ``:method`` suffix (``/v1/models/gemini-2.5-flash:generateContent``) and Vertex AI's
  ``/v1/projects/...``. ``GET /v1/models`` stays OpenAI's.
- Ollama: its native paths, ``/api/<name>`` for the names Ollama serves, and any of them under
  ``/ollama`` (forwarded without that prefix). None is one of the dashboard's ``/api`` routes.
- Anthropic: a request with an ``anthropic-version`` header (what Anthropic's SDKs send).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from playingpack.upstream import Upstream

# Ollama's native API (docs/api.md): the paths that are Ollama's and never the dashboard's.
OLLAMA_NAMES = frozenset(
    {
        "chat",
        "generate",
        "embed",
        "embeddings",
        "tags",
        "show",
        "ps",
        "version",
        "pull",
        "push",
        "create",
        "copy",
        "delete",
        "blobs",
    }
)
OLLAMA_PREFIX = "/ollama"
# The API versions that are Gemini's alone (google-genai asks Vertex AI for v1beta1).
GEMINI_VERSIONS = ("v1beta", "v1beta1", "v1alpha")
_VERSIONS = tuple(f"/{version}/" for version in GEMINI_VERSIONS)
_METHOD = re.compile(r"/v1/(?:[^/]+/)*[^/:]+:[A-Za-z]+")


def is_gemini(path: str) -> bool:
    """Whether ``path`` (without a ``/t/<scope>`` prefix) is a Gemini API path."""
    if path.startswith(_VERSIONS) or path.startswith("/upload/v1beta/"):
        return True
    return path.startswith("/v1/projects/") or _METHOD.fullmatch(path) is not None


def is_ollama(path: str) -> bool:
    """Whether ``path`` (without a ``/t/<scope>`` prefix) is one of Ollama's native paths."""
    path = path.removeprefix(OLLAMA_PREFIX)
    if not path.startswith("/api/"):
        return False
    return path[len("/api/") :].partition("/")[0] in OLLAMA_NAMES


@dataclass(frozen=True)
class Upstreams:
    """The upstreams of one server; None where a kind of client goes to ``openai``."""

    openai: Upstream
    anthropic: Upstream | None = None
    gemini: Upstream | None = None
    ollama: Upstream | None = None

    def of(self, path: str, headers: Mapping[str, str]) -> tuple[Upstream, str]:
        """The upstream a request for ``path`` with ``headers`` goes to, and the setting that
        names it (for error messages)."""
        if self.ollama is not None and is_ollama(path):
            return self.ollama, "ollama_upstream"
        if self.gemini is not None and is_gemini(path):
            return self.gemini, "gemini_upstream"
        if self.anthropic is not None and "anthropic-version" in headers:
            return self.anthropic, "anthropic_upstream"
        return self.openai, "upstream"

    def all(self) -> list[Upstream]:
        """Each upstream once."""
        found: list[Upstream] = []
        for upstream in (self.openai, self.anthropic, self.gemini, self.ollama):
            if upstream is not None and upstream not in found:
                found.append(upstream)
        return found
