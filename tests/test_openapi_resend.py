"""The OpenAPI description of resends, keeps and recordings: what real answers of a running
playingpack are, it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from playingpack.openapi import openapi_document
from tests.conftest import Running
from tests.fakes.openai_upstream import FakeUpstream
from tests.test_resend import post, recorded_call


def schema_of(document: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    answer = document["paths"][path]["post"]["responses"][status]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    if "$ref" in schema:
        found: dict[str, Any] = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
        return found
    return schema


def test_the_described_shapes_are_what_the_server_answers(
    start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    document = openapi_document()
    proxy = start_proxy()
    parent = recorded_call(proxy, upstream)

    started = post(proxy, f"/api/flows/{parent['id']}/resend", {})
    assert started.status_code == 202
    resent = schema_of(document, "/api/flows/{id}/resend", "202")
    assert set(started.json()) == set(resent["properties"]) == set(resent["required"])

    proxy.finished_flows(2)
    kept = post(proxy, f"/api/flows/{started.json()['id']}/keep", {"for": "parent"})
    tape = schema_of(document, "/api/flows/{id}/keep", "200")
    assert set(kept.json()) == set(tape["properties"])

    body = document["paths"]["/api/flows/{id}/resend"]["post"]["requestBody"]
    request = document["components"]["schemas"][
        body["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    assert set(request["properties"]) == {"request", "to", "headers"}
    assert set(request["properties"]["to"]["enum"]) == {"upstream", "tape"}
    keep = document["components"]["schemas"]["KeepBody"]
    assert keep["required"] == ["for"] and set(keep["properties"]["for"]["enum"]) == {
        "own",
        "parent",
    }
    refused = httpx.post(f"{proxy.url}/api/flows/{parent['id']}/keep", json={}, timeout=5)
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "for"
