"""Conformance: real recorded provider traffic (tests/corpus/) through a real playingpack.

A replaying upstream (tests/fakes/corpus_upstream.py) answers every corpus interaction byte for
byte, event by event, and each one goes through playingpack with raw HTTP and with the official
SDK (openai for chat completions and Responses, anthropic for Messages, google-genai for Gemini,
ollama for Ollama's native API; see ``sdk_speaks`` for the few an SDK cannot make). For every
interaction:

1. pass-through is exact: the status and body bytes a raw client gets equal what the upstream
   sent, and the SDK parses through playingpack what it parses from the upstream directly;
2. a tape is saved only for a complete, successful answer, it holds every byte of the answer,
   and the flow ends COMPLETE (else: no tape, and the flow ends ERROR);
3. replay-only, with the upstream unreachable, gives the same events or the same JSON (and a
   404 ``tape_not_found`` where nothing was recorded);
4. cross-format replay (a stream tape to a JSON client, a JSON tape to a streaming client) gives
   what the SDK parses from the original: content, tool calls, reasoning, citations and
   annotations, finish or stop reason, and usage. A Gemini or Ollama tape is also asked for with
   raw HTTP in every other form (Gemini: JSON, SSE, a streamed JSON array; Ollama: NDJSON,
   JSON), and each adds up to the original answer.

Gemini's and Ollama's requests go to the replaying upstream as their ``gemini_upstream`` and
``ollama_upstream``, which answers only the recorded path and query, so they must arrive as the
client sent them; a raw Gemini request carries its key as ``?key=``, which must reach the
upstream and no tape or flow.

The module shares two servers: one records (``auto``) from the replaying upstream, the other
replays (``replay-only``) with a closed port as its upstream. They share the tapes folder, and
each interaction has its own tapes folders under it: ``/t/raw-<id>/...`` and ``/t/sdk-<id>/...``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials
from openai.lib.streaming.chat import ChatCompletionStreamState

from playingpack.config import Config, RecordMode, ReplayTiming
from tests.conftest import API_KEY, Running
from tests.fakes.corpus_upstream import CORPUS, HEADER, CorpusUpstream, Recorded, load_corpus

ANTHROPIC_KEY = "sk-ant-pptest-Wq4Rz8Tn2Vb6Xc1Ym5Kd9Lf3Hg7Js0"
CHAT, RESPONSES, MESSAGES = "/v1/chat/completions", "/v1/responses", "/v1/messages"
TERMINAL = ("COMPLETE", "ERROR")

# The recorded requests name the models of their day; the anthropic SDK warns about old ones
# (and about their thinking setting) before sending.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Using Claude with .* is deprecated:DeprecationWarning"),
    # responses.stream() copies the final output through pydantic, which warns about values
    # newer than the SDK's types (a web search source of type "api").
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

EVERYTHING = INTERACTIONS = load_corpus()
NATIVE = {name: recorded for name, recorded in EVERYTHING.items() if recorded.native}
IDS = list(INTERACTIONS)


def is_gemini(recorded: Recorded) -> bool:
    return recorded.native and not recorded.endpoint.startswith("/api/")


def streamable(recorded: Recorded) -> bool:
    """Whether the answer has a stream form: embeddings are JSON only."""
    return "mbedContent" not in recorded.endpoint and recorded.endpoint != "/api/embed"


def sdk_speaks(recorded: Recorded) -> bool:
    """Whether the interaction is one its SDK can make. google-genai streams only with
    ``alt=sse`` and takes no numbers for enums, which the Go SDK's answers (``$alt=json``)
    have; those, and the streamed JSON arrays, are checked with raw HTTP alone."""
    if not is_gemini(recorded):
        return True
    go_sdk = "alt=" in recorded.endpoint.replace("alt=sse", "")
    return not go_sdk and (not recorded.stream or recorded.framing == "sse")


SDK_IDS = [name for name in IDS if sdk_speaks(INTERACTIONS[name])]
TAPED = [name for name in SDK_IDS if INTERACTIONS[name].tape and streamable(INTERACTIONS[name])]
# Gemini's and Ollama's answers in every other form, with raw HTTP.
NATIVE_TAPED = [name for name, r in NATIVE.items() if r.tape and streamable(r)]
GEMINI_KEY = "AIzaSyPPTEST-conformance-0123456789abcdef"
VERTEX_TOKEN = "ya29.pptest-conformance-token"


# --- what a client got ------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """What a raw HTTP client got: status, headers (names in lower case) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Failure:
    """An exception the SDK raised, as far as it says anything about the answer."""

    kind: str
    status: int | None
    message: str
    body: Any


@dataclass
class Outcome:
    """What the SDK made of one answer.

    ``items`` are the stream's events (or the one JSON answer) as the SDK typed them, dumped;
    ``final`` is the answer they add up to: the JSON answer itself, or the stream accumulated by
    the SDK (``note`` says when the SDK could not and the issue's rule was used instead).
    """

    items: list[Any] = field(default_factory=list)
    failure: Failure | None = None
    final: dict[str, Any] | None = None
    note: str = ""

    def same(self) -> tuple[list[Any], Failure | None]:
        return self.items, self.failure


@dataclass(frozen=True)
class Recording:
    """One interaction's call through the recording server, and what it left."""

    scope: str
    got: Any  # an Exchange (raw HTTP) or an Outcome (SDK)
    flow: dict[str, Any] | None  # the flow once finished; None when it did not finish in time
    tapes: list[Path]


# --- the servers ------------------------------------------------------------------------------


def _closed_port() -> str:
    """The URL of a loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Lab:
    """The replaying upstream, a recording playingpack, a replaying one, and the clients."""

    def __init__(self, folder: Path) -> None:
        self.upstream = CorpusUpstream(INTERACTIONS)
        self.tapes_dir = folder / "tapes"
        self.recorder = Running(
            Config(
                upstream=self.upstream.url,
                gemini_upstream=self.upstream.url,
                ollama_upstream=self.upstream.url,
                tapes_dir=self.tapes_dir,
                logs_dir=folder / "logs",
                port=0,
                headless=True,
            )
        )
        gone = _closed_port()
        self.player = Running(
            Config(
                upstream=gone,
                anthropic_upstream=gone,
                gemini_upstream=gone,
                ollama_upstream=gone,
                tapes_dir=self.tapes_dir,
                logs_dir=folder / "replay-logs",
                record=RecordMode.REPLAY_ONLY,
                replay_timing=ReplayTiming.INSTANT,
                port=0,
                headless=True,
            )
        )
        self.watcher = self.recorder.person()
        self.http = httpx.Client(timeout=30)
        self.openai = openai.OpenAI(
            api_key=API_KEY, base_url=self.upstream.url + "/v1", max_retries=0, timeout=30
        )
        self.anthropic = anthropic.Anthropic(
            api_key=ANTHROPIC_KEY, base_url=self.upstream.url, max_retries=0, timeout=30
        )
        self._raw: dict[str, Recording] = {}
        self._sdk: dict[str, Recording] = {}
        self._direct: dict[str, Outcome] = {}

    def close(self) -> None:
        self.openai.close()
        self.anthropic.close()
        self.http.close()
        self.recorder.close()
        self.player.close()
        self.upstream.close()

    # raw HTTP

    def post(
        self,
        base: str,
        recorded: Recorded,
        endpoint: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Exchange:
        """POST the interaction's request (or ``body``) to ``base`` + its endpoint (or
        ``endpoint``), read to the end. A Gemini request carries its key as ``?key=``."""
        headers = {"content-type": "application/json", HEADER: recorded.id}
        endpoint = endpoint or recorded.endpoint
        if recorded.endpoint == MESSAGES:
            headers |= {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
        elif is_gemini(recorded):
            endpoint += ("&" if "?" in endpoint else "?") + f"key={GEMINI_KEY}"
        elif not recorded.native:
            headers["authorization"] = f"Bearer {API_KEY}"
        content = json.dumps(recorded.request if body is None else body, ensure_ascii=False)
        url = base + endpoint
        with self.http.stream("POST", url, content=content.encode(), headers=headers) as response:
            data = b"".join(response.iter_raw())  # as sent: not decompressed, not decoded
            return Exchange(
                response.status_code, {k.lower(): v for k, v in response.headers.items()}, data
            )

    def raw(self, name: str) -> Recording:
        """The raw request of interaction ``name`` through the recording server (made once)."""
        if name not in self._raw:
            scope = f"raw-{name}"
            got = self.post(f"{self.recorder.url}/t/{scope}", INTERACTIONS[name])
            self._raw[name] = self._recorded(scope, got)
        return self._raw[name]

    # the SDKs

    def direct(self, name: str) -> Outcome:
        """What the SDK makes of the interaction straight from the upstream (made once)."""
        if name not in self._direct:
            recorded = INTERACTIONS[name]
            openai_style = recorded.endpoint != MESSAGES and not recorded.native
            base = self.upstream.url + ("/v1" if openai_style else "")
            self._direct[name] = self.call(base, recorded, recorded.stream)
        return self._direct[name]

    def sdk(self, name: str) -> Recording:
        """The SDK's request of interaction ``name`` through the recording server (made once)."""
        if name not in self._sdk:
            scope = f"sdk-{name}"
            got = self.call(self.base(self.recorder, scope, name), INTERACTIONS[name])
            self._sdk[name] = self._recorded(scope, got)
        return self._sdk[name]

    def base(self, server: Running, scope: str, name: str) -> str:
        """The SDK's base URL for a tapes folder of ``server``."""
        recorded = INTERACTIONS[name]
        openai_style = recorded.endpoint != MESSAGES and not recorded.native
        return f"{server.url}/t/{scope}" + ("/v1" if openai_style else "")

    def call(
        self, base: str, recorded: Recorded, stream: bool | None = None, *, helper: bool = False
    ) -> Outcome:
        """Send the interaction's request with its SDK, asking for a stream or not (as recorded
        when None). With ``helper`` a Responses stream is read with ``responses.stream()``,
        which checks the events and adds the answer up from them."""
        stream = recorded.stream if stream is None else stream
        rest = {k: v for k, v in recorded.request.items() if k != "stream"}
        headers = {HEADER: recorded.id}
        outcome = Outcome()
        try:
            if is_gemini(recorded):
                _gemini(base, recorded, stream, headers, outcome)
            elif recorded.native:
                _ollama(base, recorded, stream, headers, outcome)
            elif recorded.endpoint == CHAT:
                _chat(self.openai.with_options(base_url=base), rest, stream, headers, outcome)
            elif recorded.endpoint == RESPONSES:
                read = _responses_helper if helper and stream else _responses
                read(self.openai.with_options(base_url=base), rest, stream, headers, outcome)
            else:
                client = self.anthropic.with_options(base_url=base)
                _messages(client, rest, stream, headers, outcome)
        except (openai.APIError, anthropic.APIError) as exc:
            status = getattr(exc, "status_code", None)
            outcome.failure = Failure(type(exc).__name__, status, exc.message, exc.body)
        except genai.errors.APIError as exc:
            outcome.failure = Failure(type(exc).__name__, exc.code, str(exc.message), exc.details)
        except ollama.ResponseError as exc:
            body = {"error": exc.error}
            outcome.failure = Failure(type(exc).__name__, exc.status_code, exc.error, body)
        except Exception as exc:  # the SDK could not parse what it got: that is the outcome
            outcome.failure = Failure(type(exc).__name__, None, str(exc), None)
        return outcome

    # what a recording left

    def _recorded(self, scope: str, got: Any) -> Recording:
        flow = self.finished(scope)
        folder = self.tapes_dir / scope
        tapes = sorted(folder.glob("*.json")) if folder.exists() else []
        return Recording(scope, got, flow, tapes)

    def finished(self, scope: str) -> dict[str, Any] | None:
        """The recording server's flow of ``scope`` once it is COMPLETE or ERROR, as /ws tells."""

        def done(message: dict[str, Any]) -> bool:
            flow = message.get("flow") or {}
            return (
                message.get("type") == "flow"
                and flow.get("scope") == scope
                and flow.get("state") in TERMINAL
            )

        try:
            found: dict[str, Any] = self.watcher.wait(done, timeout=5)["flow"]
        except AssertionError:
            return None
        return found


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", warnings=False)


def _chat(
    client: openai.OpenAI,
    rest: dict[str, Any],
    stream: bool,
    headers: dict[str, str],
    outcome: Outcome,
) -> None:
    model, messages = rest["model"], rest["messages"]
    body = {k: v for k, v in rest.items() if k not in ("model", "messages")}
    if not stream:
        completion = client.chat.completions.create(
            model=model, messages=messages, extra_body=body, extra_headers=headers
        )
        outcome.items.append(_dump(completion))
        outcome.final = _dump(completion)
        return
    chunks = []
    for chunk in client.chat.completions.create(
        model=model, messages=messages, stream=True, extra_body=body, extra_headers=headers
    ):
        chunks.append(chunk)
        outcome.items.append(_dump(chunk))
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    try:
        for chunk in chunks:
            state.handle_chunk(chunk)
        outcome.final = _dump(state.get_final_completion())
        # The SDK takes every chunk's usage, so a later chunk with "usage": null (OpenAI's
        # moderation chunk comes after the usage chunk) erases it; a null erases nothing.
        usages = [item["usage"] for item in outcome.items if item.get("usage") is not None]
        if outcome.final.get("usage") is None and usages:
            outcome.final["usage"] = usages[-1]
    except Exception as exc:
        # The SDK's accumulator takes no list entries without an index (content parts,
        # annotations); the rule says how such a stream adds up.
        outcome.final = assemble_chat(outcome.items)
        outcome.note = f"ChatCompletionStreamState raised {type(exc).__name__}: {exc}"


def _responses(
    client: openai.OpenAI,
    rest: dict[str, Any],
    stream: bool,
    headers: dict[str, str],
    outcome: Outcome,
) -> None:
    if not stream:
        response = client.responses.create(extra_body=rest, extra_headers=headers)
        outcome.items.append(_dump(response))
        outcome.final = _dump(response)
        return
    for event in client.responses.create(stream=True, extra_body=rest, extra_headers=headers):
        outcome.items.append(_dump(event))
    # What responses.stream().get_final_response() returns: the terminal event's response.
    for item in outcome.items:
        if item.get("type") in ("response.completed", "response.incomplete"):
            outcome.final = item["response"]


def _responses_helper(
    client: openai.OpenAI,
    rest: dict[str, Any],
    stream: bool,
    headers: dict[str, str],
    outcome: Outcome,
) -> None:
    body = {k: v for k, v in rest.items() if k not in ("model", "input")}
    with client.responses.stream(
        model=rest["model"], input=rest["input"], extra_body=body, extra_headers=headers
    ) as events:
        for event in events:
            outcome.items.append(_dump(event))
        outcome.final = _dump(events.get_final_response())


def _messages(
    client: anthropic.Anthropic,
    rest: dict[str, Any],
    stream: bool,
    headers: dict[str, str],
    outcome: Outcome,
) -> None:
    required = {k: rest[k] for k in ("model", "max_tokens", "messages")}
    body = {k: v for k, v in rest.items() if k not in required}
    # The beta client: its types and its accumulator know every block and delta of the corpus
    # (server tools, compaction), which the plain one drops.
    if not stream:
        message = client.beta.messages.create(**required, extra_body=body, extra_headers=headers)
        outcome.items.append(_dump(message))
        outcome.final = _dump(message)
        return
    with client.beta.messages.stream(**required, extra_body=body, extra_headers=headers) as events:
        for event in events:
            outcome.items.append(_dump(event))
        outcome.final = _dump(events.get_final_message())


def _gemini_dump(value: Any) -> Any:
    # The wire's field names; the SDK's record of the HTTP answer (its headers) is no answer.
    return value.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"sdk_http_response"}
    )


def _gemini(
    base: str, recorded: Recorded, stream: bool, headers: dict[str, str], outcome: Outcome
) -> None:
    """The interaction with google-genai (Vertex AI's with its project and location). The
    recorded body is sent as it is: the SDK's ``extra_body`` takes the place of its own."""
    path = recorded.endpoint.partition("?")[0]
    version = path.split("/")[1]
    model = path.rpartition("/models/")[2].partition(":")[0]
    where = re.search(r"/projects/([^/]+)/locations/([^/]+)/", path)
    if where is not None:
        client = genai.Client(
            vertexai=True,
            project=where[1],
            location=where[2],
            credentials=cast(Any, Credentials)(token=VERTEX_TOKEN),  # google-auth is untyped
            http_options=types.HttpOptions(base_url=base, api_version=version),
        )
    else:
        client = genai.Client(
            api_key=GEMINI_KEY, http_options=types.HttpOptions(base_url=base, api_version=version)
        )
    options = types.HttpOptions(
        base_url=base, api_version=version, headers=headers, extra_body=recorded.request
    )
    with client:
        if not streamable(recorded):
            vectors = client.models.embed_content(
                model=model, contents="", config=types.EmbedContentConfig(http_options=options)
            )
            outcome.items.append(_gemini_dump(vectors))
        elif stream:
            config = types.GenerateContentConfig(http_options=options)
            for chunk in client.models.generate_content_stream(
                model=model, contents="", config=config
            ):
                outcome.items.append(_gemini_dump(chunk))
            outcome.final = gemini_assemble(outcome.items)
            return
        else:
            config = types.GenerateContentConfig(http_options=options)
            answer = client.models.generate_content(model=model, contents="", config=config)
            outcome.items.append(_gemini_dump(answer))
    outcome.final = outcome.items[0]


def _ollama(
    base: str, recorded: Recorded, stream: bool, headers: dict[str, str], outcome: Outcome
) -> None:
    """The interaction with the ollama client: the recorded body's fields as its arguments."""
    with ollama.Client(host=base, headers=headers) as client:
        method = getattr(client, recorded.endpoint.rpartition("/")[2])
        known = inspect.signature(method).parameters
        arguments = {k: v for k, v in recorded.request.items() if k in known and k != "stream"}
        if not streamable(recorded):
            outcome.items.append(method(**arguments).model_dump(mode="json", exclude_none=True))
        elif stream:
            for part in method(**arguments, stream=True):
                outcome.items.append(part.model_dump(mode="json", exclude_none=True))
            outcome.final = ollama_assemble(outcome.items)
            return
        else:
            answer = method(**arguments, stream=False)
            outcome.items.append(answer.model_dump(mode="json", exclude_none=True))
    outcome.final = outcome.items[0]


# --- how a stream adds up, and what is compared -----------------------------------------------


def merge(into: dict[str, Any], delta: dict[str, Any]) -> None:
    """The issue's rule: strings are joined, objects merged, list entries with an ``index``
    merged by index, entries without one appended, content parts kept as parts."""
    for key, value in delta.items():
        if value is None:
            continue
        old = into.get(key)
        if key in ("index", "type"):
            into[key] = value
        elif old is None:
            if isinstance(value, dict):
                into[key] = {}
                merge(into[key], value)
            elif isinstance(value, list):
                into[key] = []
                _merge_list(into[key], value)
            else:
                into[key] = value
        elif isinstance(old, str) and isinstance(value, str):
            into[key] = old + value
        elif isinstance(old, dict) and isinstance(value, dict):
            merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            _merge_list(old, value)
        elif isinstance(old, list) and isinstance(value, str):
            if value:
                old.append({"type": "text", "text": value})
        elif isinstance(old, str) and isinstance(value, list):
            into[key] = ([{"type": "text", "text": old}] if old else []) + copy.deepcopy(value)
        else:
            into[key] = value


def _merge_list(into: list[Any], entries: list[Any]) -> None:
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int):
            for have in into:
                if isinstance(have, dict) and have.get("index") == entry["index"]:
                    merge(have, entry)
                    break
            else:
                into.append(copy.deepcopy(entry))
        else:
            into.append(copy.deepcopy(entry))


def assemble_chat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A chat completion from its chunks, by the issue's rule."""
    answer: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            if key != "choices" and value is not None:
                answer[key] = value
        for piece in chunk.get("choices") or ():
            index = piece.get("index", 0)
            choice = choices.setdefault(index, {"index": index, "message": {}})
            merge(choice["message"], piece.get("delta") or {})
            for key, value in piece.items():
                if key not in ("delta", "index") and value is not None:
                    choice[key] = value
    answer["choices"] = [choices[index] for index in sorted(choices)]
    return answer


def clean(value: Any) -> Any:
    """``value`` without null fields and empty lists, which the two shapes of one answer may
    leave out or spell differently."""
    if isinstance(value, dict):
        return {
            k: clean(v) for k, v in value.items() if v is not None and v != [] and k != "parsed"
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _parts_text(content: Any, kind: str) -> str:
    """The text of the ``kind`` parts of a content that is a string or a list of parts."""
    if isinstance(content, str):
        return content if kind == "text" else ""
    texts: list[str] = []
    for part in content or ():
        if not isinstance(part, dict) or part.get("type") != kind:
            continue
        inner = part.get(kind)
        if kind == "thinking" and isinstance(inner, list):
            texts.extend(str(p.get("text", "")) for p in inner if isinstance(p, dict))
        elif isinstance(inner, str):
            texts.append(inner)
    return "".join(texts)


def _label(text: Any) -> Any:
    """A name or id the way it was sent once: some providers repeat it in every delta
    (OpenRouter a tool call's id and name, and ``format`` and ``id`` of reasoning details),
    which the SDK's accumulator joins into ``"0000"`` or ``"llm_versionllm_version"``."""
    if not isinstance(text, str) or not text:
        return text
    for period in range(1, len(text) // 2 + 1):
        if len(text) % period == 0 and text[:period] * (len(text) // period) == text:
            return text[:period]
    return text


def _details(entries: Any) -> list[Any]:
    """Reasoning details as a stream can carry them: entries with one index are one entry
    (OpenRouter gives a summary and its encrypted form the same index)."""
    merged: list[Any] = []
    _merge_list(merged, [e for e in entries or () if isinstance(e, dict)])
    return [
        clean({k: _label(v) if k in ("id", "format", "type") else v for k, v in e.items()})
        for e in merged
    ]


def chat_view(completion: dict[str, Any]) -> dict[str, Any]:
    """What the issue names of a chat completion."""
    choices = []
    for choice in sorted(completion.get("choices") or (), key=lambda c: c.get("index", 0)):
        message = choice.get("message") or {}
        content = message.get("content")
        calls = []
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            calls.append(
                {
                    "id": _label(call.get("id") or ""),
                    "name": _label(function.get("name")),
                    "arguments": function.get("arguments") or "",
                }
            )
        choices.append(
            {
                "index": choice.get("index", 0),
                "content": _parts_text(content, "text"),
                "thinking": _parts_text(content, "thinking"),
                "reasoning_content": message.get("reasoning_content") or "",
                "reasoning": message.get("reasoning") or "",
                "reasoning_details": _details(message.get("reasoning_details")),
                "tool_calls": calls,
                "annotations": clean(message.get("annotations") or []),
                "refusal": message.get("refusal") or "",
                # The SDK takes no "" finish reason from a stream (Snowflake answers "").
                "finish_reason": choice.get("finish_reason") or None,
            }
        )
    return {
        "choices": choices,
        "usage": clean(completion.get("usage")),
        "citations": completion.get("citations"),
        "search_results": clean(completion.get("search_results")),
    }


def responses_view(response: dict[str, Any]) -> dict[str, Any]:
    """What the issue names of a Responses answer: its output items whole (text, tool calls,
    reasoning, annotations, server tools), status and usage."""
    return {
        "status": response.get("status"),
        "output": clean(response.get("output") or []),
        "usage": clean(response.get("usage")),
        "error": clean(response.get("error")),
        "incomplete_details": clean(response.get("incomplete_details")),
    }


def messages_view(message: dict[str, Any]) -> dict[str, Any]:
    """What the issue names of a Messages answer: its content blocks whole (text, citations,
    thinking, tool and server-tool use and results), stop reason and usage."""
    return {
        "content": clean(message.get("content") or []),
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
        "usage": clean(message.get("usage")),
    }


VIEWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    CHAT: chat_view,
    RESPONSES: responses_view,
    MESSAGES: messages_view,
}


# --- Gemini and Ollama answers, added up independently of playingpack --------------------------


def _unset(value: Any, have: Any) -> bool:
    """A later value that leaves the one known: a null, or an empty object after one."""
    return value is None or (value == {} and have is not None)


def gemini_assemble(responses: list[Any]) -> dict[str, Any]:
    """A Gemini stream's responses as one: each candidate's parts in order (``gemini_view``
    joins the text), every other field its last value, citation sources added up."""
    answer: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    for response in responses:
        for key, value in response.items():
            if key != "candidates":
                if not _unset(value, answer.get(key)):
                    answer[key] = value
                continue
            for position, candidate in enumerate(value or ()):
                into = candidates.setdefault(candidate.get("index", position), {})
                for name, item in candidate.items():
                    if name == "content":
                        content = into.setdefault("content", {"parts": []})
                        for inner_name, inner in item.items():
                            if inner_name == "parts":
                                content["parts"] += inner or []
                            elif inner is not None:
                                content[inner_name] = inner
                    elif name == "citationMetadata" and "citationMetadata" in into:
                        sources = into[name].setdefault("citationSources", [])
                        sources += [
                            s for s in item.get("citationSources") or () if s not in sources
                        ]
                    elif not _unset(item, into.get(name)):
                        into[name] = item
    if candidates:
        answer["candidates"] = [candidates[index] for index in sorted(candidates)]
    return answer


def _segments(parts: list[Any]) -> list[Any]:
    """Parts with each run of text parts of one kind (thought or not) joined, keeping the last
    signature the run carried; empty texts without a signature carry nothing."""
    found: list[Any] = []
    for part in parts:
        text_part = isinstance(part.get("text"), str) and part.keys() <= {
            "text",
            "thought",
            "thoughtSignature",
        }
        if not text_part:
            found.append(clean(part))
            continue
        if part == {"text": ""}:
            continue
        thought = bool(part.get("thought"))
        last = found[-1] if found else None
        if last is not None and last.get("_text") and last["thought"] == thought:
            last["text"] += part["text"]
            last["thoughtSignature"] = part.get("thoughtSignature") or last["thoughtSignature"]
        else:
            found.append(
                {
                    "_text": True,
                    "text": part["text"],
                    "thought": thought,
                    "thoughtSignature": part.get("thoughtSignature"),
                }
            )
    for segment in found:
        segment.pop("_text", None)
    return found


def gemini_view(answer: dict[str, Any]) -> dict[str, Any]:
    """What the issue names of a Gemini answer: each candidate's parts (text joined) and
    fields (finish reason, grounding, citations, safety ratings, ...), and every other field
    of the answer (usage, model version, response id, prompt feedback)."""
    view: dict[str, Any] = clean({k: v for k, v in answer.items() if k != "candidates"})
    candidates = []
    listed = answer.get("candidates") or []
    for _, candidate in sorted(
        enumerate(listed), key=lambda entry: entry[1].get("index", entry[0])
    ):
        fields = clean({k: v for k, v in candidate.items() if k not in ("index", "content")})
        content = candidate.get("content") or {}
        fields["content"] = clean({k: v for k, v in content.items() if k != "parts"})
        fields["parts"] = _segments(content.get("parts") or [])
        candidates.append(fields)
    view["candidates"] = candidates
    return view


def ollama_assemble(lines: list[Any]) -> dict[str, Any]:
    """An Ollama stream's lines as one answer: ``content``, ``thinking`` and ``response``
    joined, ``tool_calls`` in order, every other field its last value."""
    answer: dict[str, Any] = {}
    for line in lines:
        for key, value in line.items():
            if key == "message":
                message = answer.setdefault("message", {})
                for field, item in value.items():
                    if field in ("content", "thinking"):
                        message[field] = message.get(field, "") + (item or "")
                    elif field == "tool_calls":
                        message[field] = message.get(field, []) + (item or [])
                    elif item is not None:
                        message[field] = item
            elif key in ("response", "thinking"):
                answer[key] = answer.get(key, "") + (value or "")
            elif value is not None:
                answer[key] = value
    return answer


def ollama_view(answer: dict[str, Any]) -> dict[str, Any]:
    """An Ollama answer with empty texts and lists left out (a stream's last line carries an
    empty ``content``, which the JSON answer may leave out)."""
    view: dict[str, Any] = clean({k: v for k, v in answer.items() if v != ""})
    if "message" in view:
        view["message"] = {k: v for k, v in view["message"].items() if v != ""}
    return view


STREAM_TYPES = {"sse": "text/event-stream", "ndjson": "application/x-ndjson"}
STREAM_TYPES["json-array"] = "application/json"


def _media_type(got: Exchange) -> str:
    return got.headers.get("content-type", "").split(";")[0].strip()


def stream_values(body: str, framing: str) -> list[Any]:
    """The JSON values of a Gemini or Ollama stream: each event, line or array element."""
    if framing == "sse":
        return [json.loads(data) for _, data in events_of(body)]
    if framing == "ndjson":
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    return list(json.loads(body))


def recorded_values(recorded: Recorded) -> list[Any]:
    """A recorded stream's events as the replay test compares them."""
    if recorded.native:
        return stream_values(recorded.body, recorded.framing)
    return events_of(recorded.body)


# --- SSE, read independently of playingpack ---------------------------------------------------


def events_of(body: str) -> list[tuple[str | None, str]]:
    """The (event name, data) of each SSE event with data; comments and blank lines skipped."""
    found = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", body):
        name: str | None = None
        data: list[str] = []
        for line in re.split(r"\r\n|\r|\n", block):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if data:
            found.append((name, "\n".join(data)))
    return found


def is_error_event(name: str | None, data: str) -> bool:
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return name == "error" or (isinstance(value, dict) and "error" in value)


def differences(got: Any, expected: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, one line per place (for assertion messages)."""
    if type(got) is not type(expected):
        return [f"{path or '.'}: got {_short(got)}, expected {_short(expected)}"]
    if isinstance(got, dict):
        found = []
        for key in sorted(set(got) | set(expected)):
            if key not in got:
                found.append(f"{path}.{key}: missing, expected {_short(expected[key])}")
            elif key not in expected:
                found.append(f"{path}.{key}: not expected, got {_short(got[key])}")
            else:
                found += differences(got[key], expected[key], f"{path}.{key}")
        return found
    if isinstance(got, list):
        found = (
            []
            if len(got) == len(expected)
            else [f"{path}: {len(got)} entries, expected {len(expected)}"]
        )
        for number, (one, other) in enumerate(zip(got, expected, strict=False)):
            found += differences(one, other, f"{path}[{number}]")
        return found
    return [] if got == expected else [f"{path}: got {_short(got)}, expected {_short(expected)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "..."


def first_difference(got: bytes, expected: bytes) -> str:
    """Where two bodies part, with a little of each from there."""
    at = next(
        (n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
        min(len(got), len(expected)),
    )
    return (
        f"{len(got)} bytes, expected {len(expected)}; they part at byte {at}: "
        f"got {got[at : at + 120]!r}, expected {expected[at : at + 120]!r}"
    )


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    running = Lab(tmp_path_factory.mktemp("conformance"))
    yield running
    running.close()


def _tape_text(path: Path) -> str:
    tape = json.loads(path.read_text("utf-8"))
    return "".join(chunk["c"] for chunk in tape["response"]["chunks"])


def _check_tapes(recording: Recording, recorded: Recorded) -> None:
    flow = recording.flow
    assert flow is not None, (
        f"the flow of {recording.scope} did not reach COMPLETE or ERROR within 5 s"
    )
    assert GEMINI_KEY not in json.dumps(flow), "the flow shows the key= parameter"
    names = [path.name for path in recording.tapes]
    if recorded.tape:
        assert flow["state"] == "COMPLETE", (
            f"{recorded.why}: expected COMPLETE, the flow ended {flow['state']}: {flow['error']}"
        )
        assert len(recording.tapes) == 1, f"{recorded.why}: expected one tape, found {names}"
        text = recording.tapes[0].read_text("utf-8")
        assert API_KEY not in text and ANTHROPIC_KEY not in text and GEMINI_KEY not in text
        held = _tape_text(recording.tapes[0])
        if recorded.stream:
            # SSE events are stored with their line ends normalised to "\n" (Gemini sends
            # "\r\n"); the other framings keep every byte.
            sent = recorded.body
            if recorded.framing == "sse":
                sent = sent.replace("\r\n", "\n")
            missing = sent[len(held) :] if sent.startswith(held) else None
            assert held == sent, "the tape does not hold the whole stream the upstream sent: " + (
                f"missing at the end: {missing[:300]!r}" if missing is not None else "differs"
            )
        else:
            assert json.loads(held) == json.loads(recorded.body)
    else:
        assert names == [], f"{recorded.why}: expected no tape, found {names}"
        assert flow["state"] == "ERROR", (
            f"{recorded.why}: expected ERROR, the flow ended {flow['state']}"
        )


def _check_truncated(got: bytes, recorded: Recorded) -> None:
    """A cut stream goes through as far as it came; playingpack may add one error event (a
    line of its own, or an element that closes the array)."""
    sent = recorded.body.encode()
    assert got.startswith(sent), "the client did not get the bytes the upstream sent"
    rest = got[len(sent) :].decode()
    if not rest:
        return
    if recorded.framing == "sse":
        added = events_of(rest)
        ok = len(added) == 1 and is_error_event(*added[0])
    elif recorded.framing == "ndjson":
        lines = rest.removeprefix("\n").splitlines()
        ok = len(lines) == 1 and "error" in json.loads(lines[0])
    else:
        # Cut inside an element, the rest of the array is not JSON; the error element follows
        # a separator and closes the array.
        element = rest.rpartition("\n,\r\n")[2]
        ok = element.endswith("\n]") and "error" in json.loads(element.removesuffix("\n]"))
    assert ok, f"after the upstream's bytes came more than one error event: {rest[:300]!r}"


# --- the corpus itself ------------------------------------------------------------------------


def test_the_corpus_is_big_and_varied_enough() -> None:
    real = [r for r in INTERACTIONS.values() if not r.derived]
    assert len(real) >= 120
    assert len({r.provenance["repo"] for r in real}) >= 3
    assert len({r.provider for r in real}) >= 10
    kinds = Counter((r.endpoint, r.stream) for r in real)
    assert all(kinds[(e, s)] for e in (CHAT, RESPONSES, MESSAGES) for s in (False, True)), kinds
    features = Counter(f for r in real for f in r.features)
    for feature in (
        "tool_calls",
        "parallel_tool_calls",
        "reasoning",
        "annotations",
        "usage",
        "refusal",
        "server_tools",
        "http_error",
        "error_event",
        "content_parts",
    ):
        assert features[feature], f"no interaction shows {feature}"
    assert any(not r.tape and "truncated" in r.id for r in INTERACTIONS.values())


def test_every_interaction_says_where_it_comes_from() -> None:
    for recorded in EVERYTHING.values():
        provenance = recorded.provenance
        for key in ("repo", "commit", "path", "license", "interaction"):
            assert key in provenance, f"{recorded.id}: provenance has no {key}"
        assert re.fullmatch(r"[0-9a-f]{40}", provenance["commit"]), recorded.id
        assert provenance["license"] in ("MIT", "Apache-2.0"), recorded.id
        assert isinstance(recorded.request, dict), recorded.id


SECRETS = re.compile(
    r"\bsk-(?:proj-|ant-|or-)?[A-Za-z0-9_-]{20,}|\bgsk_[A-Za-z0-9]{20,}|\bxai-[A-Za-z0-9]{20,}"
    r"|\bAIza[0-9A-Za-z_-]{35}|\bhf_[A-Za-z0-9]{30,}|\bAKIA[0-9A-Z]{16}\b"
    r"|(?i:\bbearer\s+[A-Za-z0-9._~+/-]{16,})|\borg-[A-Za-z0-9]{20,}|\bproj_[A-Za-z0-9]{20,}"
)
UNSAFE_HEADERS = re.compile(
    r"authorization|api-key|x-api-key|cookie|set-cookie|openai-organization|openai-project"
    r"|anthropic-organization-id|x-goog-api-key"
)


def test_the_corpus_holds_no_secrets() -> None:
    for path in sorted(CORPUS.glob("*/*.json")):
        text = path.read_text("utf-8")
        assert not SECRETS.findall(text), f"{path.name}: {SECRETS.findall(text)[:3]}"
        assert not re.search(r"[?&]key=", text), f"{path.name} keeps a key= query parameter"
    for recorded in EVERYTHING.values():
        unsafe = [name for name in recorded.headers if UNSAFE_HEADERS.fullmatch(name)]
        assert not unsafe, f"{recorded.id} keeps {unsafe}"


def test_the_readme_counts_match_the_corpus() -> None:
    readme = (CORPUS / "README.md").read_text("utf-8")
    real = [r for r in EVERYTHING.values() if not r.derived]
    assert f"{len(real)} recorded interactions" in readme
    # One table for the formats replayed here, one for Gemini's and Ollama's.
    totals = re.findall(r"^\| \*\*all\*\* \|.*\| \*\*(\d+)\*\* \|$", readme, re.MULTILINE)
    assert len(totals) == 2 and sum(map(int, totals)) == len(real), (
        "the counts in tests/corpus/README.md are stale: rerun scripts/build_corpus.py"
    )
    taped = sum(1 for name in IDS if INTERACTIONS[name].tape)
    every = f"| {len(IDS)} | {len(SDK_IDS)} |"
    for row in (
        f"| 1. pass-through is exact | every interaction {every}",
        f"| 2. tape only for a complete, successful answer | every interaction ({taped} with a "
        f"tape, {len(IDS) - taped} without) {every}",
        f"| 3. replay-only, upstream unreachable | every interaction (no tape: a 404 miss) {every}",
        "| 4. cross-format replay | interactions with a tape and a stream form "
        f"| {len(NATIVE_TAPED)} | {len(TAPED)} |",
    ):
        assert row in readme, f"tests/corpus/README.md should have the row {row!r}"


def _native_values(recorded: Recorded) -> list[Any]:
    """The JSON values of a Gemini or Ollama answer: each event, line or array element."""
    if not recorded.stream:
        return [json.loads(recorded.body)]
    if recorded.endpoint.startswith("/api/"):
        return [json.loads(line) for line in recorded.events]
    if "text/event-stream" in recorded.content_type:
        values = []
        for event in recorded.events:
            assert event.startswith("data: ") and event.endswith(("\n\n", "\r\n\r\n")), event
            values.append(json.loads(event.removeprefix("data: ")))
        return values
    whole = json.loads(recorded.body)
    assert recorded.events[-1].strip() == "]" and isinstance(whole, list), recorded.id
    return list(whole)


def test_the_gemini_and_ollama_interactions_keep_their_wire_formats() -> None:
    assert len([r for r in NATIVE.values() if not r.derived]) >= 40
    seen: Counter[str] = Counter()
    for recorded in NATIVE.values():
        if recorded.derived or recorded.status >= 400:
            continue
        values = _native_values(recorded)
        last = values[-1]
        if recorded.endpoint.startswith("/api/"):
            seen["ollama stream" if recorded.stream else "ollama json"] += 1
            # A stream ends with its counts on a line of its own, done: true.
            assert last.get("done") is not False, recorded.id
            assert all(line.endswith("\n") for line in recorded.events), recorded.id
            assert recorded.tape == (not recorded.stream or last["done"] is True), recorded.id
        else:
            sse = "text/event-stream" in recorded.content_type
            seen["gemini " + ("sse" if sse else "array" if recorded.stream else "json")] += 1
            finished = any(c.get("finishReason") for c in last.get("candidates") or ())
            assert recorded.tape == (not recorded.stream or finished), recorded.id
    # SSE and streamed JSON arrays, JSON answers, NDJSON streams and JSON answers.
    assert len(seen) == 5 and all(seen.values()), seen
    for recorded in NATIVE.values():
        if recorded.derived:
            assert recorded.stream and not recorded.tape, recorded.id


def test_a_json_array_left_open_is_no_tape(lab: Lab) -> None:
    """Gemini's streamed array cut after its last element (finishReason and all) but before its
    "]" is no JSON: no tape, and the client's array is closed with an error element."""
    whole = INTERACTIONS["llmgemini.gemini.prompt"]
    assert whole.events[-1] == "\n]" and whole.tape
    events = whole.events[:-1]
    cut = dataclasses.replace(
        whole, id="probe.array-left-open", events=events, body="".join(events)
    )
    lab.upstream.corpus[cut.id] = cut
    scope = "raw-probe.array-left-open"
    got = lab.post(f"{lab.recorder.url}/t/{scope}", cut)
    assert got.status == 200 and got.body.startswith(cut.body.encode())
    elements = json.loads(got.body)
    assert elements[:-1] == json.loads(whole.body) and "error" in elements[-1], elements[-1]
    recording = lab._recorded(scope, got)
    assert recording.flow is not None and recording.flow["state"] == "ERROR", recording.flow
    assert recording.tapes == []


# --- 1. pass-through is exact -----------------------------------------------------------------


@pytest.mark.parametrize("name", IDS)
def test_passthrough_raw(lab: Lab, name: str) -> None:
    recorded = INTERACTIONS[name]
    got = lab.raw(name).got
    assert got.status == recorded.status
    if recorded.derived:
        _check_truncated(got.body, recorded)
        return
    sent = recorded.body.encode()
    assert got.body == sent, "not what the upstream sent: " + first_difference(got.body, sent)
    mime = recorded.content_type.split(";")[0].strip()
    assert got.headers.get("content-type", "").split(";")[0].strip() == mime
    for header, value in recorded.headers.items():
        if header != "content-type":
            assert got.headers.get(header) == value, f"header {header} was not passed through"
    if is_gemini(recorded):
        # The key reached the upstream as the client sent it.
        targets = [target for served, target in lab.upstream.served if served == name]
        assert any(f"key={GEMINI_KEY}" in target for target in targets), targets


@pytest.mark.parametrize("name", SDK_IDS)
def test_passthrough_sdk(lab: Lab, name: str) -> None:
    recorded = INTERACTIONS[name]
    direct, via = lab.direct(name), lab.sdk(name).got
    if recorded.derived:
        # Cut short, the SDK gets what came; playingpack makes it raise rather than end quietly.
        assert via.items[: len(direct.items)] == direct.items
        assert via.failure is not None or via.same() == direct.same()
        return
    assert via.failure == direct.failure
    assert via.items == direct.items, "; ".join(differences(via.items, direct.items)[:8])


# --- 2. a tape only for a complete, successful answer -----------------------------------------


@pytest.mark.parametrize("name", IDS)
def test_tape_raw(lab: Lab, name: str) -> None:
    _check_tapes(lab.raw(name), INTERACTIONS[name])


@pytest.mark.parametrize("name", SDK_IDS)
def test_tape_sdk(lab: Lab, name: str) -> None:
    _check_tapes(lab.sdk(name), INTERACTIONS[name])


# --- 3. replay-only with the upstream unreachable ---------------------------------------------


@pytest.mark.parametrize("name", IDS)
def test_replay_raw(lab: Lab, name: str) -> None:
    recorded = INTERACTIONS[name]
    scope = lab.raw(name).scope
    # Ollama's paths are served under /ollama too, and share the tapes.
    ollama_path = recorded.endpoint.startswith("/api/")
    endpoint = "/ollama" + recorded.endpoint if ollama_path else None
    got = lab.post(f"{lab.player.url}/t/{scope}", recorded, endpoint=endpoint)
    if not recorded.tape:
        assert got.status == 404, got.body[:300]
        _check_miss(json.loads(got.body), recorded)
        return
    assert got.status == recorded.status
    if recorded.stream:
        assert _media_type(got) == STREAM_TYPES[recorded.framing]
        sent = recorded_values(recorded)
        if recorded.native:
            replayed: list[Any] = stream_values(got.body.decode(), recorded.framing)
        else:
            replayed = events_of(got.body.decode())
        assert replayed == sent, "; ".join(differences(replayed, sent)[:8])
    else:
        replayed, sent = json.loads(got.body), json.loads(recorded.body)
        assert replayed == sent, "; ".join(differences(replayed, sent)[:8])


def _check_miss(body: Any, recorded: Recorded) -> None:
    """A replay-only miss, in the format of the interaction's provider."""
    error = body["error"]
    if recorded.endpoint.startswith("/api/"):
        assert isinstance(error, str) and "No tape" in error, error  # Ollama's: a message
    elif recorded.native:
        # Google's: playingpack's code is an ErrorInfo's reason.
        assert error["code"] == 404 and error["status"] == "NOT_FOUND", error
        assert [d.get("reason") for d in error["details"]] == ["tape_not_found"], error
    else:
        # OpenAI's shape has a code, Anthropic's a type.
        assert "tape_not_found" in (error.get("code"), error.get("type")), error


@pytest.mark.parametrize("name", SDK_IDS)
def test_replay_sdk(lab: Lab, name: str) -> None:
    recorded = INTERACTIONS[name]
    scope = lab.sdk(name).scope
    got = lab.call(lab.base(lab.player, scope, name), recorded)
    if not recorded.tape:
        assert got.failure is not None and got.failure.status == 404, got.failure
        if recorded.native:
            _check_miss(got.failure.body, recorded)
            return
        error = got.failure.body if recorded.endpoint == MESSAGES else {"error": got.failure.body}
        assert "tape_not_found" in json.dumps(error)
        return
    direct = lab.direct(name)
    assert got.failure == direct.failure
    assert got.items == direct.items, "; ".join(differences(got.items, direct.items)[:8])


# --- 4. cross-format replay -------------------------------------------------------------------


@pytest.mark.parametrize("name", TAPED)
def test_cross_format(lab: Lab, name: str) -> None:
    recorded = INTERACTIONS[name]
    lab.sdk(name)  # the tape, recorded in the kind the provider answered
    original = lab.direct(name)
    base = lab.base(lab.player, f"sdk-{name}", name)
    if recorded.stream:
        other = lab.call(base, recorded, stream=False)
    else:
        other = lab.call(base, recorded, stream=True, helper=True)
    assert original.failure is None and original.final is not None, original.failure
    assert other.failure is None, other.failure
    assert other.final is not None, "the replayed stream did not add up to an answer"
    view: Callable[[dict[str, Any]], dict[str, Any]]
    if recorded.native:
        view = gemini_view if is_gemini(recorded) else ollama_view
    else:
        view = VIEWS[recorded.endpoint]
    expected, got = view(original.final), view(other.final)
    options = recorded.request.get("stream_options") or {}
    if recorded.endpoint == CHAT and not recorded.stream and not options.get("include_usage"):
        # A chat stream carries usage only when the request asks for it (stream_options), and
        # asking would make it another request with another tape.
        expected.pop("usage"), got.pop("usage")
    note = original.note or other.note
    note = f" ({note[:200]})" if note else ""
    assert got == expected, f"differs{note}: " + "; ".join(differences(got, expected)[:8])


def _gemini_endpoint(recorded: Recorded, kind: str) -> str:
    """The interaction's model path with the method and query of ``kind`` of answer."""
    model = recorded.endpoint.partition("?")[0].rpartition(":")[0]
    return (
        model
        + {
            "json": ":generateContent",
            "sse": ":streamGenerateContent?alt=sse",
            "json-array": ":streamGenerateContent",
        }[kind]
    )


@pytest.mark.parametrize("name", NATIVE_TAPED)
def test_cross_format_native(lab: Lab, name: str) -> None:
    """A Gemini or Ollama tape served in every other form: a stream as JSON (and for Gemini
    in the other framing), JSON as a stream. What each adds up to is the original answer (a
    stream in another framing is written from the answer, not event by event)."""
    recorded = INTERACTIONS[name]
    scope = lab.raw(name).scope  # the tape, recorded in the kind the provider answered
    base = f"{lab.player.url}/t/{scope}"
    kind = recorded.framing if recorded.stream else "json"
    if recorded.stream:
        values = recorded_values(recorded)
        original = gemini_assemble(values) if is_gemini(recorded) else ollama_assemble(values)
    else:
        original = json.loads(recorded.body)
    view = gemini_view if is_gemini(recorded) else ollama_view
    kinds = ("json", "sse", "json-array") if is_gemini(recorded) else ("json", "ndjson")
    for other in (k for k in kinds if k != kind):
        if is_gemini(recorded):
            got = lab.post(base, recorded, endpoint=_gemini_endpoint(recorded, other))
        else:
            got = lab.post(base, recorded, body={**recorded.request, "stream": other != "json"})
        assert got.status == 200, f"{other}: {got.body[:300]!r}"
        if other == "json":
            assert _media_type(got) == "application/json", other
            answer = json.loads(got.body)
        else:
            assert _media_type(got) == STREAM_TYPES[other], other
            streamed = stream_values(got.body.decode(), other)
            answer = gemini_assemble(streamed) if is_gemini(recorded) else ollama_assemble(streamed)
        expected, seen = view(original), view(answer)
        assert seen == expected, f"{kind} as {other} differs: " + "; ".join(
            differences(seen, expected)[:8]
        )
