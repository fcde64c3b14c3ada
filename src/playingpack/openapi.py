"""The OpenAPI 3.1 description of ``/api/*``, generated from ``wire``'s Structs."""

from __future__ import annotations

from typing import Any

import msgspec

from playingpack import __version__
from playingpack.flows import State
from playingpack.interceptor import Decision
from playingpack.openapi_resend import resend_paths
from playingpack.tape_index import SORTS
from playingpack.wire import (
    ErrorJSON,
    FlowDetailJSON,
    FlowJSON,
    MockValidJSON,
    SettingsJSON,
    SettingsPatch,
    TapeJSON,
)
from playingpack.wire_diff import DiffJSON
from playingpack.wire_history import RunJSON, ThreadDetailJSON, ThreadJSON


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``/api/*``."""
    shapes: list[Any] = [
        FlowJSON,
        FlowDetailJSON,
        Decision,
        SettingsJSON,
        SettingsPatch,
        TapeJSON,
        ErrorJSON,
        MockValidJSON,
        RunJSON,
    ]
    (flow, detail, decision, settings, patch, tape, error, mock_valid, run), components = (
        msgspec.json.schema_components(shapes, ref_template="#/components/schemas/{name}")
    )

    (thread, thread_detail), thread_components = msgspec.json.schema_components(
        [ThreadJSON, ThreadDetailJSON], ref_template="#/components/schemas/{name}"
    )
    components.update(thread_components)
    (compared,), diff_components = msgspec.json.schema_components(
        [DiffJSON], ref_template="#/components/schemas/{name}"
    )
    components.update(diff_components)
    resends, resend_components = resend_paths(error)
    components.update(resend_components)

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, **body(schema)}

    def fails(*codes: int) -> dict[str, Any]:
        meaning = {
            400: "Not JSON, or a malformed path value",
            401: "Token required (non-loopback bind)",
            403: "Foreign Host or cross-site Origin",
            404: "Unknown id or hash",
            409: "The flow is not held",
            422: "A field is invalid; `param` names it",
            500: "The tape file is corrupt (the message names it)",
        }
        return {str(code): ok(meaning[code], error) for code in (401, 403, *codes)}

    string = {"type": "string"}
    moment = {"type": "string", "format": "date-time"}
    flow_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    tape_hash = {
        "name": "hash",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }
    tape_scope = {
        "name": "scope",
        "in": "path",
        "required": True,
        "description": "The per-test tapes folder",
        "schema": {"type": "string"},
    }

    def tape_operations(parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "get": {
                "summary": "A tape file's JSON (meta, request, response with chunks)",
                "parameters": parameters,
                "responses": {
                    "200": ok("The tape", {"type": "object"}),
                    **fails(400, 404, 500),
                },
            },
            "delete": {
                "summary": "Delete a tape (and its further recordings)",
                "parameters": parameters,
                "responses": {"204": {"description": "Deleted"}, **fails(400, 404)},
            },
        }

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "playingpack API",
            "version": __version__,
            "description": (
                "The dashboard's JSON API: flows (calls) live and held, decisions, settings and "
                "tapes. Live events are on the WebSocket at /ws."
            ),
        },
        "paths": {
            "/api/flows": {
                "get": {
                    "summary": "Search the history of every run: flows newest first (in the "
                    "order they finished; those in flight first), a page at a time",
                    "parameters": [
                        query(
                            "q",
                            "Words of the messages, the answer, tool names and arguments, the "
                            "model or the path: all must be found, the last one as a prefix",
                            {"type": "string"},
                        ),
                        query("model", "Only flows for this model", {"type": "string"}),
                        query(
                            "state",
                            "Only flows in this state (e.g. INTERCEPT: held)",
                            {"type": "string", "enum": [s.value for s in State]},
                        ),
                        query(
                            "source",
                            "Only flows answered from this source",
                            {"type": "string", "enum": ["tape", "upstream", "mock"]},
                        ),
                        query("tool", "Only flows whose answer called this tool", string),
                        query(
                            "parent",
                            "Only the resends of this flow id, or of tape:<key>",
                            string,
                        ),
                        query("scope", "Only flows of this per-test tapes folder", string),
                        query("run", "Only flows of this run (GET /api/runs)", string),
                        query("since", "Only flows started at or after (ISO-8601)", moment),
                        query("until", "Only flows started before (ISO-8601)", moment),
                        query(
                            "limit",
                            "At most this many (default 500)",
                            {"type": "integer", "minimum": 1, "maximum": 5000},
                        ),
                        query(
                            "cursor",
                            'The next page: as given by the `Link` header (`rel="next"`)',
                            string,
                        ),
                        query(
                            "bodies",
                            "Include request and response bodies (default true)",
                            {"type": "boolean"},
                        ),
                    ],
                    "responses": {
                        "200": {
                            **ok("Flows", {"type": "array", "items": flow}),
                            "headers": {
                                "Link": {
                                    "description": "The next page, when more match: "
                                    '`</api/flows?...&cursor=C>; rel="next"`',
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        **fails(422),
                    },
                },
                "delete": {
                    "summary": "Empty the live window of its finished flows (the history "
                    "keeps them)",
                    "responses": {
                        "200": ok(
                            "How many were dropped",
                            {"type": "object", "properties": {"dropped": {"type": "integer"}}},
                        ),
                        **fails(),
                    },
                },
            },
            "/api/flows/{id}": {
                "get": {
                    "summary": "One flow: request, response, chunks with timing, headers; from "
                    "memory, or from the history once it has left the live window",
                    "parameters": [flow_id],
                    "responses": {"200": ok("The flow", detail), **fails(404)},
                }
            },
            "/api/flows/{id}/decision": {
                "post": {
                    "summary": "Decide on a held flow: allow, mock, edit, or answer from a tape",
                    "parameters": [flow_id],
                    "requestBody": {"required": True, **body(decision)},
                    "responses": {
                        "200": ok("Accepted; the flow goes on", flow),
                        **fails(400, 404, 409, 422),
                    },
                }
            },
            "/api/mocks/validate": {
                "post": {
                    "summary": "Check a mock as a mock decision would, deciding nothing: the "
                    "same refusal, message and `param` (`mock.<field>`)",
                    "parameters": [
                        query(
                            "flow",
                            "The flow the mock is for: a full `response` must fit its format "
                            "and model (default: checked as a Chat Completions answer)",
                            {"type": "string"},
                        )
                    ],
                    "requestBody": {
                        "required": True,
                        **body({"$ref": "#/components/schemas/Mock"}),
                    },
                    "responses": {
                        "200": ok("The decision would take this mock", mock_valid),
                        **fails(400, 404, 409, 422),
                    },
                }
            },
            "/api/run": {
                "get": {
                    "summary": "What this run did with the tapes: for test-suite reports",
                    "responses": {
                        "200": ok(
                            "Tapes recorded, replayed, missing (with the nearest recording and "
                            "how it differs) and unused, by name (path under the tapes folder)",
                            {
                                "type": "object",
                                "properties": {
                                    "tapes_dir": {"type": "string"},
                                    "recorded": {"type": "array", "items": {"type": "string"}},
                                    "replayed": {"type": "array", "items": {"type": "string"}},
                                    "missing": {"type": "array", "items": {"type": "object"}},
                                    "unused": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        ),
                        **fails(),
                    },
                }
            },
            "/api/runs": {
                "get": {
                    "summary": "Runs (server starts, pytest sessions), newest first, with "
                    "their calls, tokens, cost and tapes; `live` marks this server's",
                    "responses": {
                        "200": ok("Runs", {"type": "array", "items": run}),
                        **fails(),
                    },
                }
            },
            "/api/threads": {
                "get": {
                    "summary": "The agent threads rebuilt from the traffic (calls whose input "
                    "extends an earlier call's input and answer), newest first",
                    "parameters": [
                        query("run", "The run (default: this server's; GET /api/runs)", string)
                    ],
                    "responses": {
                        "200": ok("Threads", {"type": "array", "items": thread}),
                        **fails(),
                        "409": ok("History is off: threads are read from it", error),
                        "503": ok("The history cannot be read", error),
                    },
                }
            },
            "/api/threads/{id}": {
                "get": {
                    "summary": "One thread: its steps in order, each with what its input added "
                    "(user message, tool results) and its answer",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "description": "The thread's id: the id of its first call",
                            "schema": string,
                        }
                    ],
                    "responses": {
                        "200": ok("The thread", thread_detail),
                        **fails(),
                        "404": ok("No such thread in the history", error),
                        "409": ok("History is off: threads are read from it", error),
                        "503": ok("The history cannot be read", error),
                    },
                }
            },
            "/api/diff": {
                "get": {
                    "summary": "Two calls or tapes compared: requests as JSON paths, answers' "
                    "text word by word, tool calls argument by argument, finish reason, status, "
                    "usage, cost and latency",
                    "parameters": [
                        {
                            "name": "a",
                            "in": "query",
                            "required": True,
                            "description": "A flow's id, or tape:<key> for a tape",
                            "schema": string,
                        },
                        {
                            "name": "b",
                            "in": "query",
                            "required": True,
                            "description": "A flow's id, tape:<key>, or nearest: the recorded "
                            "tape nearest to a's request (in a's tapes folder)",
                            "schema": string,
                        },
                    ],
                    "responses": {
                        "200": ok("The comparison", compared),
                        **fails(),
                        "400": ok("A malformed ref; `param` names it", error),
                        "404": ok("No such flow or tape, or no nearest tape", error),
                        "409": ok("A side's request is not known any more", error),
                    },
                }
            },
            "/api/settings": {
                "get": {
                    "summary": "The live settings",
                    "responses": {"200": ok("Settings", settings), **fails()},
                },
                "patch": {
                    "summary": "Change settings (record and pause modes, ...) at runtime",
                    "requestBody": {"required": True, **body(patch)},
                    "responses": {"200": ok("The new settings", settings), **fails(400, 422)},
                },
            },
            "/api/tapes": {
                "get": {
                    "summary": "List tapes, the top folder's and every per-test folder's, "
                    "newest first (or as `sort` and `order` say), a page at a time",
                    "parameters": [
                        query(
                            "q",
                            "Words, each the start of a word of the tape's hash, key, model, "
                            "endpoint, message text or tool names: all must be found "
                            "(case-insensitive)",
                            {"type": "string"},
                        ),
                        query(
                            "scope",
                            "Only this per-test folder's tapes (empty: only the top folder's)",
                            {"type": "string"},
                        ),
                        query(
                            "sort",
                            "What the tapes are ordered by (default recorded: the time "
                            "recorded); ties are ordered by key",
                            {"type": "string", "enum": list(SORTS)},
                        ),
                        query(
                            "order",
                            "desc (default) or asc",
                            {"type": "string", "enum": ["desc", "asc"]},
                        ),
                        query(
                            "limit",
                            "At most this many (default 100)",
                            {"type": "integer", "minimum": 1, "maximum": 1000},
                        ),
                        query(
                            "cursor",
                            'The next page: as given by the `Link` header (`rel="next"`)',
                            string,
                        ),
                    ],
                    "responses": {
                        "200": {
                            **ok(
                                "Tapes: one page (`X-Total-Count` says how many match, `Link` "
                                "gives the next page)",
                                {"type": "array", "items": tape},
                            ),
                            "headers": {
                                "Link": {
                                    "description": "The next page, when more match: "
                                    '`</api/tapes?...&cursor=C>; rel="next"`',
                                    "schema": {"type": "string"},
                                },
                                "X-Total-Count": {
                                    "description": "How many tapes match, on every page",
                                    "schema": {"type": "integer"},
                                },
                                "X-Playingpack-Indexing": {
                                    "description": "`true` while the tapes folder is indexed "
                                    "for the first time: the page and the count are of the "
                                    "tapes read so far",
                                    "schema": {"type": "string", "enum": ["true"]},
                                },
                            },
                        },
                        **fails(422),
                    },
                }
            },
            "/api/tapes/{hash}": tape_operations([tape_hash]),
            "/api/tapes/{scope}/{hash}": tape_operations([tape_scope, tape_hash]),
            "/api/har": {
                "get": {
                    "summary": "The flows in memory as a HAR 1.2 file (headers masked)",
                    "responses": {"200": ok("HAR", {"type": "object"}), **fails()},
                }
            },
            **resends,
            "/api/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {"200": ok("OpenAPI 3.1", {"type": "object"}), **fails()},
                }
            },
        },
        "components": {"schemas": components},
    }
