"""The OpenAPI description of resends, keeps and recordings on the spot (see api_resend)."""

from __future__ import annotations

from typing import Any

import msgspec

from playingpack.wire import KeepBody, RequestCheckBody, ResendBody, ResentJSON

_REF = "#/components/schemas/{name}"


def resend_paths(error: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths, and the schemas they add to the components; ``error`` is the error body's."""
    (resend, keep, check, resent), components = msgspec.json.schema_components(
        [ResendBody, KeepBody, RequestCheckBody, ResentJSON], ref_template=_REF
    )
    detail = {"$ref": _REF.format(name="FlowDetailJSON")}
    tape = {"$ref": _REF.format(name="TapeJSON")}

    def content(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, **content(schema)}

    def refused(**meanings: str) -> dict[str, Any]:
        return {status: answer(meaning, error) for status, meaning in meanings.items()}

    def path(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }

    wait = {
        "name": "wait",
        "in": "query",
        "required": False,
        "description": "Answer once the new call has finished, with it in full",
        "schema": {"type": "boolean", "default": False},
    }
    started = {
        "202": answer("The new call started (its id; Location: /api/flows/{id})", resent),
        "200": answer("With wait=true: the new call, finished", detail),
    }
    resend_refusals = refused(
        **{
            "400": "The edited request is not one the endpoint takes; `param` names the field",
            "404": "No such call or tape",
            "409": "The call was passed through unrecorded, or its request is gone",
            "422": "A field of the body is invalid; `param` names it",
        }
    )
    flow = path("id", "The call's id")

    def resend_operation(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "parameters": [*parameters, wait],
                "requestBody": content(resend),
                "responses": {**started, **resend_refusals},
            }
        }

    tape_key = path("hash", "The tape's hash, and .<k> for the k-th recording")
    scope = path("scope", "The per-test tapes folder")
    paths = {
        "/api/flows/{id}/resend": resend_operation(
            "Send a call again, as it was or edited, to the upstream (even in replay-only; no "
            "tape is written) or to the tapes (never the upstream); never held",
            [flow],
        ),
        "/api/tapes/{hash}/resend": resend_operation(
            "Send a tape's request again, as a call's", [tape_key]
        ),
        "/api/tapes/{scope}/{hash}/resend": resend_operation(
            "Send a per-test folder's tape's request again", [scope, tape_key]
        ),
        "/api/flows/{id}/keep": {
            "post": {
                "summary": "Save a call's answer as the tape of its own request or of its "
                "parent's (the call it was resent from); the tape's meta.origin says how the "
                "answer came to be",
                "parameters": [flow],
                "requestBody": content(keep),
                "responses": {
                    "200": answer("The tape written", tape),
                    **refused(
                        **{
                            "404": "No such call",
                            "409": "Not finished, no answer to keep, no parent, or the "
                            "parent is gone",
                            "422": "`for` is neither own nor parent",
                        }
                    ),
                },
            }
        },
        "/api/flows/{id}/record": {
            "post": {
                "summary": "Forward a call's request to the upstream once, in any record mode, "
                "and save its tape when the answer completes (a replay-only miss recorded on "
                "the spot)",
                "parameters": [flow, wait],
                "responses": {**started, **refused(**{"404": "No such call"})},
            }
        },
        "/api/requests/validate": {
            "post": {
                "summary": "Check an edited request as a resend would, sending nothing",
                "requestBody": content(check),
                "responses": {
                    "200": answer("It would do", {"type": "object"}),
                    **refused(**{"400": "It would not; `param` names the field"}),
                },
            }
        },
    }
    return paths, components
