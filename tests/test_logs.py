"""Log records through SecretFilter: secrets masked in the message, its arguments and the
traceback, on every guarded logger, in-process and in the CLI."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from playingpack.logs import SecretFilter, guard_loggers
from tests.conftest import API_KEY, PLAYINGPACK, serving
from tests.fakes.openai_upstream import FakeUpstream

HIDDEN = API_KEY[3:-4]


@pytest.fixture
def in_process(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Any]:
    """An in-process playingpack: its create_app() guards the loggers."""
    with serving(tmp_path, upstream) as pp:
        yield pp


@pytest.mark.parametrize(
    "name", ["aiohttp.server", "aiohttp.web", "aiohttp.client", "asyncio", "playingpack.proxy"]
)
def test_records_of_guarded_loggers_are_masked_in_message_args_and_traceback(
    in_process: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Only our filter: other libraries in the test process (LiteLLM) add redacting filters
    # of their own to the same loggers.
    logger = logging.getLogger(name)
    ours = [f for f in logger.filters if isinstance(f, SecretFilter)]
    monkeypatch.setattr(logger, "filters", ours)
    try:
        raise ValueError(f"upstream refused Authorization: Bearer {API_KEY}")
    except ValueError:
        logging.getLogger(name).exception(
            "failed with headers %s", {"x-goog-api-key": API_KEY, "Content-Type": "text/plain"}
        )
    record = caplog.records[-1]
    shown = logging.Formatter().format(record)
    assert HIDDEN not in shown and HIDDEN not in caplog.text
    assert f"'x-goog-api-key': '***{API_KEY[-4:]}'" in shown
    assert "'Content-Type': 'text/plain'" in shown
    assert f"ValueError: upstream refused Authorization: Bearer ***{API_KEY[-4:]}" in shown


def test_asyncio_exception_in_a_callback_is_masked(tmp_path: Path) -> None:
    # The CLI's own handlers: asyncio's "Exception in callback" goes to stderr masked.
    script = (
        "import asyncio, logging\n"
        "from playingpack.cli import _setup_logging\n"
        "_setup_logging()\n"
        "async def main():\n"
        "    def fail(): raise RuntimeError('Authorization: Bearer ' + KEY)\n"
        "    asyncio.get_running_loop().call_soon(fail)\n"
        "    await asyncio.sleep(0)\n"
        "    await asyncio.sleep(0)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [PLAYINGPACK[0], "-c", f"KEY = {API_KEY!r}\n" + script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "error: Exception in callback" in result.stderr
    assert f"RuntimeError: Authorization: Bearer ***{API_KEY[-4:]}" in result.stderr
    assert HIDDEN not in result.stderr + result.stdout


def test_guarding_twice_attaches_one_filter() -> None:
    guard_loggers()
    guard_loggers()
    assert len(logging.getLogger("aiohttp.server").filters) == 1
