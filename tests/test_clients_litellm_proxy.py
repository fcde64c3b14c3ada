"""LiteLLM's proxy server as a real upstream (``litellm --config``, a ``mock_response`` model, so
offline): openai-SDK calls, sync and async, streamed and JSON, recorded through playingpack,
then replayed (replay-only) with LiteLLM stopped. Every flow ends COMPLETE with one terminal
line and one log line (tests/clients/harness.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.clients.harness import Playingpack, check_flows, not_listening, wait_finished
from tests.conftest import API_KEY

MODEL = "gpt-4o-mini"
ANSWER = "Hello from LiteLLM's proxy, offline."
CONFIG = f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_key: sk-not-used
      mock_response: "{ANSWER}"
  # LiteLLM's own error answers, as its proxy sends them for a failing provider.
  - model_name: broken
    litellm_params:
      model: openai/broken
      api_key: sk-not-used
      mock_response: "litellm.InternalServerError"
  - model_name: limited
    litellm_params:
      model: openai/limited
      api_key: sk-not-used
      mock_response: "litellm.RateLimitError"
  - model_name: overloaded
    litellm_params:
      model: openai/overloaded
      api_key: sk-not-used
      mock_response: "Exception: mock_streaming_error"
router_settings:
  num_retries: 0  # the errors go straight to the client, whose SDK decides on retrying
"""
CALLS = 8  # of each kind: the issue saw about 1 flow in 4 stuck in STREAMING


class LiteLLMProxy:
    """``litellm --config`` on a free loopback port, started offline: the bundled model prices,
    no telemetry, no database, no admin UI."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(CONFIG, encoding="utf-8")
        self.url = not_listening()  # a free port, handed to LiteLLM
        port = self.url.rpartition(":")[2]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LITELLM_", "DATABASE_", "OPENAI_", "PLAYINGPACK_"))
        }
        env |= {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY_DISABLED": "True",
            "DISABLE_ADMIN_UI": "True",
            # The proxy refuses to start without a key; the clients send it as their API key.
            "LITELLM_MASTER_KEY": API_KEY,
        }
        self.log = (workdir / "litellm.log").open("wb")
        executable = Path(sys.executable).with_name("litellm")
        self.process = subprocess.Popen(
            [str(executable), "--config", "config.yaml", "--host", "127.0.0.1", "--port", port],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy(workdir / "litellm.log", timeout=60)

    def _wait_healthy(self, log: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if http.get(f"{self.url}/health/liveliness").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)  # a poll interval, bounded by the deadline
        self.stop()
        raise AssertionError(
            f"LiteLLM's proxy did not become healthy within {timeout} s:\n"
            + log.read_text(errors="replace")[-3000:]
        )

    def __enter__(self) -> LiteLLMProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


def prompt(kind: str, number: int) -> str:
    return f"{kind} call {number}: say hello"


def run_calls(base_url: str) -> list[tuple[str, str, str]]:
    """``CALLS`` calls of each kind (sync and async, JSON and streamed, half of the streams
    asking for a usage chunk): (kind, prompt, answer text) each, in order."""
    results: list[tuple[str, str, str]] = []

    def ask(kind: str, number: int, **extra: Any) -> dict[str, Any]:
        usage = {"stream_options": {"include_usage": True}} if number % 2 else {}
        stream = {"stream": True, **usage} if kind.endswith("stream") else {}
        messages = [{"role": "user", "content": prompt(kind, number)}]
        return {"model": MODEL, "messages": messages, **stream, **extra}

    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        for number in range(CALLS):
            answer = client.chat.completions.create(**ask("sync-json", number))
            text = str(answer.choices[0].message.content)
            results.append(("sync-json", prompt("sync-json", number), text))
        for number in range(CALLS):
            # The sync Stream stops reading at `data: [DONE]` and closes the response.
            chunks = client.chat.completions.create(**ask("sync-stream", number))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            results.append(("sync-stream", prompt("sync-stream", number), text))

    async def concurrently() -> list[tuple[str, str, str]]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:

            async def one(kind: str, number: int) -> tuple[str, str, str]:
                if kind == "async-json":
                    answer = await client.chat.completions.create(**ask(kind, number))
                    return kind, prompt(kind, number), str(answer.choices[0].message.content)
                stream = await client.chat.completions.create(**ask(kind, number))
                pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                return kind, prompt(kind, number), "".join(pieces)

            calls = [
                one(kind, number)
                for kind in ("async-json", "async-stream")
                for number in range(CALLS)
            ]
            return list(await asyncio.gather(*calls))

    return results + asyncio.run(concurrently())


# LiteLLM's proxy alone takes ~5 s to start on an idle machine (its imports), more under load,
# so one serves the module (one per xdist worker that runs a test of it).
pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def litellm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    with LiteLLMProxy(tmp_path_factory.mktemp("litellm")) as proxy:
        yield proxy


def test_litellm_proxy_as_upstream(tmp_path: Path, litellm: LiteLLMProxy) -> None:
    tapes = tmp_path / "tapes"
    with Playingpack(
        tmp_path / "recording",
        upstream=litellm.url,
        record="auto",
        tapes_dir=tapes,
        logs_dir=tmp_path / "logs-recording",
    ) as recording:
        since = recording.mark()
        recorded = run_calls(recording.root("litellm") + "/v1")
        check_flows(recording, "litellm", since, calls=4 * CALLS, source="upstream", tools=[])
    assert [answer for _, _, answer in recorded] == [ANSWER] * (4 * CALLS)
    assert len(list((tapes / "litellm").glob("*.json"))) == 4 * CALLS

    with Playingpack(
        tmp_path / "replaying",
        upstream=not_listening(),  # so any call that reached for the upstream would fail
        record="replay-only",
        tapes_dir=tapes,
        logs_dir=tmp_path / "logs-replaying",
    ) as replaying:
        since = replaying.mark()
        replayed = run_calls(replaying.root("litellm") + "/v1")
        check_flows(replaying, "litellm", since, calls=4 * CALLS, source="tape", tools=[])
    assert replayed == recorded


def test_litellm_proxy_errors_pass_through_and_leave_no_tape(
    tmp_path: Path, litellm: LiteLLMProxy
) -> None:
    """Real 500, 429 and 529 answers of a real server reach the SDK as sent: same status and
    body, the SDK raises its usual error, the flow ends in ERROR, and nothing is recorded."""
    tapes = tmp_path / "tapes"
    cases = [
        ("broken", False, 500, openai.InternalServerError),
        ("limited", False, 429, openai.RateLimitError),
        ("overloaded", True, 529, openai.APIStatusError),
    ]
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with Playingpack(
        tmp_path / "pp",
        upstream=litellm.url,
        record="auto",
        tapes_dir=tapes,
        logs_dir=tmp_path / "logs",
    ) as pp:
        since = pp.mark()
        for model, stream, status, error in cases:
            request: dict[str, Any] = {
                "model": model,
                "messages": [{"role": "user", "content": f"fail as {model}"}],
                "stream": stream,
            }
            direct = httpx.post(
                f"{litellm.url}/v1/chat/completions", json=request, headers=headers, timeout=60
            )
            through = httpx.post(
                f"{pp.base_url('errors')}/chat/completions",
                json=request,
                headers=headers,
                timeout=60,
            )
            assert direct.status_code == through.status_code == status
            assert through.json() == direct.json()
            assert through.headers["x-litellm-call-id"]  # the upstream's own headers
            with (
                openai.OpenAI(
                    base_url=pp.base_url("errors"), api_key=API_KEY, max_retries=0
                ) as client,
                pytest.raises(error) as raised,
            ):
                client.chat.completions.create(**request)
            assert raised.value.status_code == status
        flows = wait_finished(pp, "errors")
        assert [(flow["state"], flow["status"]) for flow in flows] == [
            ("ERROR", status) for _, _, status, _ in cases for _ in range(2)
        ]
        assert len(pp.wait_flow_lines(since, len(flows))) == len(flows)
        assert pp.stderr_since(since) == []
    assert not list(tapes.rglob("*.json"))
