"""Node clients through playingpack: the ``openai`` npm package and the Vercel AI SDK (``ai`` +
``@ai-sdk/openai``), run by ``node`` from tests/clients/node (``npm ci`` there, as
scripts/test does), each recorded, then replayed (replay-only, upstream not running), with a
tool loop that round-trips; the user sees every flow COMPLETE, one terminal line and one log
line each (tests/clients/harness.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.harness import Pair
from tests.conftest import API_KEY
from tests.fakes.openai_upstream import FakeUpstream, Reply

NODE_DIR = Path(__file__).parent / "clients" / "node"
WEATHER = "Sunny in {city}, 22 C"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Pair]:
    both = Pair(tmp_path_factory.mktemp("node-clients"), upstream)
    yield both
    both.close()


def node(script: str, base_url: str, city: str, mode: str) -> dict[str, Any]:
    """Run ``script`` from tests/clients/node; its last stdout line is its JSON result."""
    executable = shutil.which("node")
    assert executable is not None, "node (Node.js 20 or newer) is needed for these tests"
    assert (NODE_DIR / "node_modules").is_dir(), f"run `npm ci` in {NODE_DIR} (scripts/test does)"
    done = subprocess.run(
        [executable, script, base_url, city, mode],
        cwd=NODE_DIR,
        env={**os.environ, "OPENAI_API_KEY": API_KEY},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


CASES = [
    ("openai.mjs", "chat", "Lyon"),
    ("openai.mjs", "chat-stream", "Graz"),
    ("openai.mjs", "responses", "Bonn"),
    ("openai.mjs", "responses-stream", "Linz"),
    ("ai_sdk.mjs", "generateText-chat", "Metz"),
    ("ai_sdk.mjs", "streamText-chat", "Caen"),
    ("ai_sdk.mjs", "generateText-responses", "Pau"),
    ("ai_sdk.mjs", "streamText-responses", "Oulu"),
]


@pytest.mark.parametrize(
    ("script", "mode", "city"), CASES, ids=[f"{s.partition('.')[0]}-{m}" for s, m, _ in CASES]
)
def test_node_client(pair: Pair, upstream: FakeUpstream, script: str, mode: str, city: str) -> None:
    answer = f"It is sunny in {city}."
    upstream.queue(
        Reply(content=None, tool_calls=[("get_weather", f'{{"city": "{city}"}}')], piece=3),
        Reply(content=answer, piece=5),
    )

    def run(root: str) -> dict[str, Any]:
        return node(script, f"{root}/v1", city, mode)

    scope = f"{script.partition('.')[0]}-{mode}"
    result = pair.record_then_replay(scope, run, calls=2, tools=["get_weather"])
    assert result["answer"] == answer
    assert result["lookedUp"] == [city]
    if "steps" in result:
        assert result["steps"] == 2
    assert WEATHER.format(city=city) in upstream.received[-1].body.decode()
