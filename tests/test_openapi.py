"""The OpenAPI description of /api: every route, its parameters and shapes, and the docs' HTTP
API page generated from it. That real answers fit it is checked in test_api.py."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playingpack import __version__
from playingpack.app import create_app
from playingpack.config import Config
from playingpack.destinations import is_ollama
from playingpack.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[1]


def refs_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def test_openapi_describes_every_api_route(tmp_path: Path) -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"] == __version__

    registered: dict[str, set[str]] = {}
    app = create_app(Config(tapes_dir=tmp_path / "tapes", logs_dir=tmp_path / "logs", history=None))
    for route in app.router.routes():
        resource = route.resource
        # Ollama's native /api paths are proxied, not the dashboard's API.
        if resource is None or not resource.canonical.startswith("/api"):
            continue
        if is_ollama(resource.canonical):
            continue
        if route.method != "HEAD":  # added by aiohttp for each GET
            registered.setdefault(resource.canonical, set()).add(route.method.lower())
    described = {path: set(item) for path, item in document["paths"].items()}
    assert described == registered

    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"], where
            assert operation["responses"], where
            assert any(code.startswith("2") for code in operation["responses"]), where
            for code, answer in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and answer["description"], where
            parameters = operation.get("parameters", [])
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == in_path, where
            assert all(p["required"] for p in parameters if p["in"] == "path"), where
            assert all(p["in"] in ("path", "query") and "schema" in p for p in parameters)
    for ref in refs_in(document):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref


def test_openapi_components_have_the_decision_union_and_flow_shapes() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    decision = document["paths"]["/api/flows/{id}/decision"]["post"]["requestBody"]
    union = decision["content"]["application/json"]["schema"]
    variants = {"allow": "Allow", "mock": "MockDecision", "edit": "Edit", "tape": "UseTape"}
    assert union["discriminator"]["propertyName"] == "action"
    assert union["discriminator"]["mapping"] == {
        action: f"#/components/schemas/{name}" for action, name in variants.items()
    }
    assert [option["$ref"].split("/")[-1] for option in union["anyOf"]] == list(variants.values())
    for action, name in variants.items():
        assert schemas[name]["properties"]["action"] == {"enum": [action]}
        assert schemas[name]["additionalProperties"] is False
    assert schemas["MockDecision"]["required"] == ["action", "mock"]
    assert set(schemas["Mock"]["properties"]) == {"content", "tool_calls", "error", "response"}

    flow = schemas["FlowJSON"]["properties"]
    for field in ("id", "state", "source", "method", "path", "model", "request", "response"):
        assert field in flow, field
    for field in ("tool_calls", "started_at", "duration_ms", "usage", "hold"):
        assert field in flow, field
    detail = schemas["FlowDetailJSON"]["properties"]
    assert set(flow) < set(detail)
    assert {"chunks", "history", "request_headers", "response_headers"} <= set(detail)
    assert set(schemas["ChunkJSON"]["properties"]) == {"c", "d", "t"}
    flow_get = document["paths"]["/api/flows/{id}"]["get"]["responses"]["200"]
    assert flow_get["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlowDetailJSON"
    }


# --- the HTTP API page of the docs ----------------------------------------------------------


def test_api_docs_page_is_up_to_date() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "gen_api_docs.py"))
    page = script["render"]()
    assert "## `POST /api/flows/{id}/decision`" in page
    assert (ROOT / "docs" / "reference" / "api.md").read_text("utf-8") == page, (
        "docs/reference/api.md differs from the API: run "
        "`.venv/bin/python scripts/gen_docs.py --write`"
    )
