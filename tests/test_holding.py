"""Which calls and answers the pause settings hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from playingpack.config import Config, PauseMode
from playingpack.delivery import Delivery
from playingpack.flow_log import FlowLog
from playingpack.holding import HoldPolicy
from playingpack.interceptor import Interceptor
from playingpack.ledger import TapeLedger
from playingpack.providers import Provider, Summary, ToolCall
from playingpack.providers.openai_chat import OpenAIChat
from playingpack.providers.openai_embeddings import OpenAIEmbeddings
from playingpack.recording import Recorder
from playingpack.settings import Settings
from playingpack.store import TapeStores

chat, embeddings = OpenAIChat(), OpenAIEmbeddings()
TEXT = Summary("gpt-4o", None, ())
TOOLS = Summary("gpt-4o", None, (ToolCall("c1", "get_weather", "{}"),))


def policy(tmp_path: Path, **settings: object) -> HoldPolicy:
    config = Config(upstream="http://127.0.0.1:9", tapes_dir=tmp_path, logs_dir=tmp_path / "logs")
    live = Settings.from_config(config)
    live.update(settings)
    flows, stores = FlowLog(None), TapeStores(tmp_path)
    recorder = Recorder(live, stores, TapeLedger(tmp_path, None))
    return HoldPolicy(live, Interceptor(live, flows, stores), Delivery(live, flows, recorder))


@pytest.mark.parametrize(
    ("pause", "provider", "summary", "held"),
    [
        (PauseMode.OFF, chat, TOOLS, False),
        (PauseMode.TOOL_CALLS, chat, TEXT, False),
        (PauseMode.TOOL_CALLS, chat, TOOLS, True),
        (PauseMode.ALL, chat, TEXT, True),
        (PauseMode.ALL, embeddings, TEXT, False),
    ],
)
def test_answers_held_under_each_pause_mode(
    tmp_path: Path, pause: PauseMode, provider: Provider, summary: Summary, held: bool
) -> None:
    assert policy(tmp_path, pause=pause).holds(provider, summary) is held


@pytest.mark.parametrize(
    ("pause", "provider", "watched"),
    [
        (PauseMode.OFF, chat, False),
        (PauseMode.TOOL_CALLS, chat, True),
        (PauseMode.ALL, chat, True),
        (PauseMode.ALL, embeddings, False),
    ],
)
def test_streams_read_event_by_event_only_where_they_may_be_held(
    tmp_path: Path, pause: PauseMode, provider: Provider, watched: bool
) -> None:
    assert (policy(tmp_path, pause=pause).watches(provider) is not None) is watched


@pytest.mark.parametrize(
    ("pause_requests", "provider", "held"),
    [(False, chat, False), (True, chat, True), (True, embeddings, False)],
)
def test_calls_held_before_they_are_sent(
    tmp_path: Path, pause_requests: bool, provider: Provider, held: bool
) -> None:
    assert policy(tmp_path, pause_requests=pause_requests).holds_requests(provider) is held
