"""Upstream URL joining and the headers that cross each hop."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from playingpack.upstream import Upstream, forwarded_headers, returned_headers


@pytest.mark.parametrize(
    ("base", "path", "query", "url"),
    [
        (
            "https://api.openai.com",
            "/v1/chat/completions",
            "",
            "https://api.openai.com/v1/chat/completions",
        ),
        (
            "https://api.openai.com/v1",
            "/v1/chat/completions",
            "",
            "https://api.openai.com/v1/chat/completions",
        ),
        ("https://api.openai.com/v1/", "/v1/models", "", "https://api.openai.com/v1/models"),
        ("http://localhost:11434/v1", "/v1/models", "a=1", "http://localhost:11434/v1/models?a=1"),
        ("https://gw.example/openai", "/v1/models", "", "https://gw.example/openai/models"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "/v1/chat/completions",
            "",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "/v1/chat/completions",
            "",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        ("https://openrouter.ai/api/v1", "/v1/models", "", "https://openrouter.ai/api/v1/models"),
        (
            "https://api.groq.com/openai/v1",
            "/v1/models",
            "",
            "https://api.groq.com/openai/v1/models",
        ),
        (
            "https://res.openai.azure.com",
            "/openai/deployments/d/chat/completions",
            "api-version=2024-10-21",
            "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
        ),
        (
            "https://res.openai.azure.com/openai/v1",
            "/openai/v1/chat/completions",
            "",
            "https://res.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "http://gw.example/base",
            "/openai/v1/models",
            "",
            "http://gw.example/base/openai/v1/models",
        ),
        (
            "https://gw.example/openai/v1",
            "/v1/x%2Fy",
            "q=a%26b",
            "https://gw.example/openai/v1/x%2Fy?q=a%26b",
        ),
    ],
)
def test_url_for_maps_the_client_v1_onto_the_upstream_path(
    base: str, path: str, query: str, url: str
) -> None:
    assert str(Upstream(base).url_for(path, query)) == url


def test_forwarded_headers_keep_credentials_and_drop_hop_by_hop() -> None:
    headers = CIMultiDict(
        [
            ("Authorization", "Bearer sk-1"),
            ("api-key", "k"),
            ("x-api-key", "a"),
            ("Host", "localhost:4747"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("Content-Length", "10"),
            ("Transfer-Encoding", "chunked"),
            ("Accept-Encoding", "br"),
            ("Keep-Alive", "timeout=5"),
            ("User-Agent", "OpenAI/Python"),
            ("X-Stainless-Lang", "python"),
        ]
    )
    assert list(forwarded_headers(headers).items()) == [
        ("Authorization", "Bearer sk-1"),
        ("api-key", "k"),
        ("x-api-key", "a"),
        ("User-Agent", "OpenAI/Python"),
        ("X-Stainless-Lang", "python"),
    ]


def test_returned_headers_keep_rate_limits_and_drop_encoding() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict(
            [
                ("Content-Type", "text/event-stream"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", "5"),
                ("Retry-After", "2"),
                ("x-ratelimit-remaining-tokens", "9"),
                ("x-request-id", "req_1"),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "close"),
            ]
        )
    )
    assert list(returned_headers(headers).items()) == [
        ("Content-Type", "text/event-stream"),
        ("Retry-After", "2"),
        ("x-ratelimit-remaining-tokens", "9"),
        ("x-request-id", "req_1"),
    ]
