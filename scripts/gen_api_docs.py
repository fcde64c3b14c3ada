"""The HTTP API page of the docs, from ``playingpack.openapi.openapi_document()``.

``PAGE`` is the page and ``render()`` its text; `scripts/gen_docs.py` prints or writes it.
tests/test_openapi.py fails when the page is out of step with the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playingpack.openapi import openapi_document

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "api.md"
_REF = "#/components/schemas/"
_CONSTRAINTS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length >= {}"),
    ("pattern", "matching `{}`"),
)

Schema = dict[str, Any]


class _Reference:
    """Renders one OpenAPI document; remembers which named shapes it mentioned."""

    def __init__(self, document: Schema) -> None:
        self.document = document
        self.components: dict[str, Schema] = document.get("components", {}).get("schemas", {})

    def render(self) -> str:
        operations = [
            (path, method, operation)
            for path, item in self.document["paths"].items()
            for method, operation in item.items()
        ]
        common = _common_responses(operation for _, _, operation in operations)
        lines = [
            "# HTTP API",
            "",
            "The JSON API under `/api` is what the dashboard uses; a script can do everything "
            "the dashboard does with it. The routes, the endpoints for agents and the errors "
            "they answer are in [HTTP surface](http.md).",
            "",
            "Generated from `/api/openapi.json` by `scripts/gen_api_docs.py`; do not edit by "
            "hand. Bodies are JSON. Errors are OpenAI-shaped (`ErrorJSON`), and `param` names "
            "the field at fault.",
        ]
        if common:
            lines += ["", "Every route may also answer:", ""]
            lines += [f"- `{code}`: {description}" for code, description in common.items()]
        shapes: list[str] = []
        error_shapes: list[str] = []
        for path, method, operation in operations:
            lines += ["", *self._operation(path, method, operation, common, shapes, error_shapes)]
        lines += ["", "## Shapes", ""]
        lines += self._shapes([*shapes, *(name for name in error_shapes if name not in shapes)])
        return "\n".join(lines) + "\n"

    def _operation(
        self,
        path: str,
        method: str,
        operation: Schema,
        common: dict[str, str],
        shapes: list[str],
        error_shapes: list[str],
    ) -> list[str]:
        lines = [f"## `{method.upper()} {path}`", "", _sentence(operation["summary"])]
        parameters = operation.get("parameters", [])
        if parameters:
            lines += ["", "Parameters:", ""]
            for parameter in parameters:
                place = parameter["in"] + (", required" if parameter.get("required") else "")
                line = f"- `{parameter['name']}` ({place}): {self.type_of(parameter['schema'])}"
                if parameter.get("description"):
                    line += f". {_sentence(parameter['description'])}"
                lines.append(line)
        body = operation.get("requestBody")
        if body is not None:
            schema = body["content"]["application/json"]["schema"]
            lines += ["", *self._body(schema, shapes)]
        lines += ["", "Responses:", ""]
        for code, response in operation["responses"].items():
            if common.get(code) == response["description"]:
                continue
            line = f"- `{code}`: {response['description']}"
            content = response.get("content", {}).get("application/json")
            if content is not None:
                mentioned = error_shapes if int(code) >= 400 else shapes
                line += f" ({self.type_of(content['schema'], mentioned)})"
            lines.append(line)
        return lines

    def _body(self, schema: Schema, shapes: list[str]) -> list[str]:
        discriminator = schema.get("discriminator")
        if discriminator is None:
            lines = ["Request body:", ""]
            lines += self._fields(self._resolve(schema), shapes)
            return lines
        tag = discriminator["propertyName"]
        lines = [f"Request body, one of (by `{tag}`):", ""]
        for value, ref in discriminator["mapping"].items():
            variant = self.components[ref.removeprefix(_REF)]
            line = f"- `{{{json.dumps(tag)}: {json.dumps(value)}}}`"
            if variant.get("description"):
                line += f": {_sentence(variant['description'])}"
            lines.append(line)
            lines += ["  " + field for field in self._fields(variant, shapes, skip=tag)]
        return lines

    def _fields(self, schema: Schema, shapes: list[str], skip: str | None = None) -> list[str]:
        required = set(schema.get("required", ()))
        lines = []
        for name, field in schema.get("properties", {}).items():
            if name == skip:
                continue
            line = f"- `{name}`: {self.type_of(field, shapes)}"
            if name in required:
                line += " (required)"
            elif "default" in field:
                line += f" (default `{json.dumps(field['default'])}`)"
            lines.append(line)
        return lines

    def _shapes(self, names: list[str]) -> list[str]:
        names = list(names)
        lines: list[str] = []
        done: list[str] = []
        position = 0
        while position < len(names):  # grows as shapes mention further shapes
            name = names[position]
            position += 1
            mentioned: list[str] = []
            schema = self.components[name]
            lines += [f"### `{name}`", ""]
            if "description" in schema:
                lines += [_sentence(schema["description"]), ""]
            properties = schema.get("properties", {})
            base = next((b for b in done if _extends(properties, self.components[b])), None)
            if base is not None:
                lines.append(f"Every field of `{base}`, plus:")
                lines.append("")
                inherited = self.components[base]["properties"]
                schema = {
                    **schema,
                    "properties": {k: v for k, v in properties.items() if k not in inherited},
                }
            lines += self._fields(schema, mentioned)
            lines.append("")
            done.append(name)
            # Shapes a shape mentions come right after it.
            names[position:position] = [m for m in mentioned if m not in names]
        return lines[:-1]

    def type_of(self, schema: Schema, shapes: list[str] | None = None) -> str:
        """A short type expression for ``schema``; named objects are added to ``shapes``."""
        if "$ref" in schema:
            name = schema["$ref"].removeprefix(_REF)
            target = self.components[name]
            if "enum" in target:
                return self.type_of(target, shapes)
            if shapes is not None and name not in shapes:
                shapes.append(name)
            return f"`{name}`"
        if "anyOf" in schema:
            text = " or ".join(self.type_of(option, shapes) for option in schema["anyOf"])
        elif "enum" in schema:
            text = " or ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
        elif "type" not in schema:
            text = "any JSON"
        elif schema["type"] == "array" and "prefixItems" in schema:  # a tuple
            items = ", ".join(self.type_of(item, shapes) for item in schema["prefixItems"])
            text = f"array of exactly [{items}]"
        elif schema["type"] == "array":
            text = f"array of {self.type_of(schema.get('items', {}), shapes)}"
        elif schema["type"] == "object" and "additionalProperties" in schema:
            text = f"object of {self.type_of(schema['additionalProperties'], shapes)}"
        elif schema["type"] == "object" and "properties" in schema:
            fields = (
                f"`{name}`: {self.type_of(field, shapes)}"
                for name, field in schema["properties"].items()
            )
            text = "object with " + "; ".join(fields)
        elif schema["type"] == "object":
            text = "JSON object"
        else:
            text = str(schema["type"])
        limits = [form.format(schema[key]) for key, form in _CONSTRAINTS if key in schema]
        return text + (f" ({', '.join(limits)})" if limits else "")

    def _resolve(self, schema: Schema) -> Schema:
        if "$ref" in schema:
            return self.components[schema["$ref"].removeprefix(_REF)]
        return schema


def _common_responses(operations: Iterable[Schema]) -> dict[str, str]:
    """The responses (code: description) every operation has in the same words."""
    common: dict[str, str] | None = None
    for operation in operations:
        responses = {code: r["description"] for code, r in operation["responses"].items()}
        if common is None:
            common = responses
        else:
            common = {c: d for c, d in common.items() if responses.get(c) == d}
    return common or {}


def _extends(properties: Schema, base: Schema) -> bool:
    inherited = base.get("properties", {})
    return (
        bool(inherited)
        and len(properties) > len(inherited)
        and all(properties.get(name) == field for name, field in inherited.items())
    )


def _sentence(text: str) -> str:
    text = " ".join(text.replace("``", "`").split())
    return text if text.endswith(".") else text + "."


def render(document: Schema | None = None) -> str:
    """The Markdown page of ``document`` (the API's own by default)."""
    return _Reference(document if document is not None else openapi_document()).render()
