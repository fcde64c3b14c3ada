"""An upstream that replays recorded provider traffic (tests/corpus/) byte for byte.

Every request names the interaction to replay in the ``X-Corpus-Interaction`` header (playingpack
forwards unknown headers unchanged); the body does not matter. The path must be the recorded
endpoint's, and for Gemini's and Ollama's the query too, but for a ``key`` parameter (Gemini's
API key, which the client may add): anything else is answered 421, so a path or query that
playingpack changed on the way fails the call. ``served`` records each call's interaction and
target as it came, the key included. The answer goes out
with the recorded status and safe headers. A JSON body is one write. A stream is one write per
recorded event with a small gap after each, and the end of the body comes in a write of its own
after a last gap, as a real server's last event, ``[DONE]`` and end of body come in separate
network reads.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.threaded import AppServer

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
HEADER = "X-Corpus-Interaction"
# Gaps are small so the suite stays fast, and a long stream's gaps add up to at most BUDGET; the
# events before the last one, the last one and the end of the body are always apart.
GAP = 0.002
BUDGET = 0.05
# The endpoints whose query is not the provider's wire format but the SDK's (anthropic's beta
# client adds ``?beta=true``): only their path is checked.
_PATH_ONLY = ("/v1/chat/completions", "/v1/responses", "/v1/messages")


@dataclass(frozen=True)
class Recorded:
    """One corpus interaction: what was asked and what the provider answered."""

    id: str
    provider: str
    endpoint: str
    stream: bool
    features: tuple[str, ...]
    tape: bool  # whether playingpack must record it (a complete, successful answer)
    why: str
    provenance: dict[str, Any]
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    events: tuple[str, ...]  # a stream's events; joined, they are the body
    body: str  # the whole body

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Recorded:
        response = document["response"]
        events = tuple(response["events"]) if document["stream"] else ()
        return cls(
            id=document["id"],
            provider=document["provider"],
            endpoint=document["endpoint"],
            stream=document["stream"],
            features=tuple(document["features"]),
            tape=document["expect"]["tape"],
            why=document["expect"]["why"],
            provenance=document["provenance"],
            request=document["request"]["body"],
            status=response["status"],
            headers=response["headers"],
            events=events,
            body="".join(events) if document["stream"] else response["body"],
        )

    @property
    def derived(self) -> bool:
        """Made from a real interaction by cutting it short (see provenance.derived)."""
        return "derived" in self.provenance

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def native(self) -> bool:
        """Gemini's or Ollama's own format (not chat completions, Responses or Messages)."""
        return self.endpoint not in _PATH_ONLY

    @property
    def framing(self) -> str:
        """How a stream of this answer is framed: ``sse``, ``ndjson`` or ``json-array``."""
        if self.endpoint.startswith("/api/"):
            return "ndjson"
        return "sse" if "text/event-stream" in self.content_type else "json-array"


def without_key(query: str) -> list[tuple[str, str]]:
    """The parameters of a query but for a ``key``, in order."""
    return [(name, value) for name, value in parse_qsl(query, True) if name != "key"]


def mismatch(recorded: Recorded, path: str, query: str) -> str | None:
    """Why a request for ``path`` and ``query`` is not the recorded one's, or None."""
    want, _, want_query = recorded.endpoint.partition("?")
    if path != want:
        return f"the path is {path!r}, recorded {want!r}"
    if recorded.native and without_key(query) != without_key(want_query):
        return f"the query is {query!r}, recorded {want_query!r}"
    return None


def load_corpus(folder: Path = CORPUS) -> dict[str, Recorded]:
    """Every interaction of the corpus, by id, in id order."""
    found = [
        Recorded.from_json(json.loads(path.read_text("utf-8")))
        for path in sorted(folder.glob("*/*.json"))
    ]
    return {recorded.id: recorded for recorded in sorted(found, key=lambda r: r.id)}


class CorpusUpstream(AppServer):
    """The replaying upstream on 127.0.0.1 (a free port), served from a background thread."""

    def __init__(self, corpus: dict[str, Recorded]) -> None:
        self.corpus = corpus
        self.served: list[tuple[str, str]] = []  # (interaction id, target) in order
        self.start("corpus-upstream", client_max_size=64 * 1024**2)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        name = request.headers.get(HEADER, "")
        recorded = self.corpus.get(name)
        if recorded is None:
            return web.json_response(
                {"error": {"message": f"no corpus interaction {name!r} (header {HEADER})"}},
                status=421,
            )
        wrong = mismatch(recorded, request.path, request.query_string)
        if wrong is not None:
            return web.json_response(
                {"error": {"message": f"not the request of {name}: {wrong}"}}, status=421
            )
        self.served.append((name, request.path_qs))
        if not recorded.stream:
            return web.Response(
                body=recorded.body.encode("utf-8"),
                status=recorded.status,
                headers=recorded.headers,
            )
        response = web.StreamResponse(status=recorded.status, headers=recorded.headers)
        await response.prepare(request)
        gap = min(GAP, BUDGET / max(len(recorded.events), 1))
        last = len(recorded.events) - 1
        for number, event in enumerate(recorded.events):
            await response.write(event.encode("utf-8"))
            # The last events always come apart, whatever the budget.
            await asyncio.sleep(GAP if number >= last - 1 else gap)
        await response.write_eof()
        return response
