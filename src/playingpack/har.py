"""The session as a HAR 1.2 file: every flow in memory, for browser devtools and HAR viewers.

Headers are masked as everywhere else; a streamed answer is its text as sent (SSE, NDJSON lines,
a JSON array), typed by its ``Content-Type``. Fields HAR has no place for (state, source, tape,
decision) are under ``_playingpack`` on each entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec

from playingpack import __version__
from playingpack.flows import Flow
from playingpack.redaction import mask


def har_document(flows: Iterable[Flow], origin: str) -> dict[str, Any]:
    """A HAR log of ``flows``; ``origin`` (``http://host:port``) completes their URLs."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "playingpack", "version": __version__},
            "entries": [_entry(flow, origin) for flow in flows],
        }
    }


def _entry(flow: Flow, origin: str) -> dict[str, Any]:
    """The entry of a flow in memory: its fields as the history stores them, headers masked."""
    return _detail_entry(
        {
            "started_at": flow.started_at,
            "method": flow.method,
            "path": flow.path,
            "request": flow.request,
            "chunks": [{"c": chunk.c, "d": chunk.d} for chunk in flow.chunks],
            "duration_ms": flow.duration_ms,
            "status": flow.status,
            "request_headers": _masked(flow.request_headers),
            "response_headers": _masked(flow.response_headers),
            "answer_streamed": flow.answer_streamed,
            "id": flow.id,
            "state": flow.state.value,
            "source": flow.source.value if flow.source else None,
            "tape": flow.key,
            "scope": flow.scope,
            "decision": flow.decision,
            "error": flow.error,
        },
        origin,
    )


def har_of_details(details: Iterable[Mapping[str, Any]], origin: str) -> dict[str, Any]:
    """A HAR log of stored calls, each a FlowDetailJSON dict (from the history), whose
    headers are already masked."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "playingpack", "version": __version__},
            "entries": [_detail_entry(detail, origin) for detail in details],
        }
    }


def _detail_entry(detail: Mapping[str, Any], origin: str) -> dict[str, Any]:
    request = detail.get("request")
    request_text = msgspec.json.encode(request).decode() if request is not None else ""
    chunks = detail.get("chunks") or []
    answer = "".join(chunk["c"] for chunk in chunks)
    first = chunks[0]["d"] if chunks else 0
    total = detail.get("duration_ms") or 0.0
    status = detail.get("status") or 0
    shown = ("id", "state", "source", "tape", "scope", "decision", "error")
    return {
        "startedDateTime": detail["started_at"],
        "time": total,
        "request": {
            "method": detail["method"],
            "url": f"{origin}{detail['path']}",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _listed(detail.get("request_headers")),
            "queryString": [],
            "postData": {"mimeType": "application/json", "text": request_text},
            "headersSize": -1,
            "bodySize": len(request_text.encode()),
        },
        "response": {
            "status": status,
            "statusText": _reason(status),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _listed(detail.get("response_headers")),
            "content": {
                "size": len(answer.encode()),
                "mimeType": _mime_type(detail),
                "text": answer,
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": min(first, total), "receive": max(total - first, 0)},
        "_playingpack": {name: detail.get(name) for name in shown},
    }


def _mime_type(detail: Mapping[str, Any]) -> str:
    """The media type of the answer's Content-Type as sent (an Ollama stream is NDJSON, a
    Gemini stream without ``alt=sse`` a JSON array); SSE or JSON by how it was answered when
    it has none."""
    headers = detail.get("response_headers") or {}
    for name, value in headers.items():
        if name.lower() == "content-type" and str(value).strip():
            return str(value).partition(";")[0].strip()
    return "text/event-stream" if detail.get("answer_streamed") else "application/json"


def _listed(headers: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in (headers or {}).items()]


def _masked(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(name): mask(name, value) for name, value in (headers or {}).items()}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
