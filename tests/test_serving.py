"""serve(): playingpack in a background thread of the test process, sync and async."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from pathlib import Path

import openai
import pytest

from playingpack import serve
from playingpack.config import RecordMode
from playingpack.errors import ConfigError
from playingpack.serving import run_loop
from tests.conftest import API_KEY, ask, serving
from tests.fakes.openai_upstream import FakeUpstream, Reply


def is_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def port_of(url: str) -> int:
    return int(url.rpartition(":")[2].partition("/")[0])


def test_the_openai_sdk_records_then_replays_through_base_url(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with (
        serving(tmp_path, upstream) as pp,
        openai.OpenAI(base_url=pp.base_url, api_key=API_KEY) as client,
    ):
        assert pp.base_url == f"{pp.url}/v1"
        assert pp.url.startswith("http://127.0.0.1:")
        assert pp.tapes_dir == tmp_path / "tapes"
        first = client.chat.completions.create(**ask("Hello!"))
        again = client.chat.completions.create(**ask("Hello!"))
        flows = pp.flows
        report = pp.report()

    assert first.choices[0].message.content == "Hello from the fake upstream!"
    assert again.choices[0].message.content == first.choices[0].message.content
    assert len(upstream.received) == 1
    (tape,) = (tmp_path / "tapes").glob("*.json")
    assert [(flow["path"], flow["source"]) for flow in flows] == [
        ("/v1/chat/completions", "upstream"),
        ("/v1/chat/completions", "tape"),
    ]
    assert report["recorded"] == [tape.stem]
    assert report["replayed"] == [tape.stem]
    assert report["missing"] == []
    assert report["unused"] == []
    assert report["tapes_dir"] == str(tmp_path / "tapes")


def test_a_scoped_url_records_into_that_subfolder(tmp_path: Path, upstream: FakeUpstream) -> None:
    with serving(tmp_path, upstream) as pp:
        assert pp.scoped_url("test_weather") == f"{pp.url}/t/test_weather"
        with openai.OpenAI(base_url=pp.scoped_url("test_weather") + "/v1", api_key=API_KEY) as c:
            c.chat.completions.create(**ask("Weather?"))
        report = pp.report()

    (tape,) = (tmp_path / "tapes" / "test_weather").glob("*.json")
    assert report["recorded"] == [f"test_weather/{tape.stem}"]
    assert upstream.received[0].path == "/v1/chat/completions"  # the prefix stays ours


def test_a_miss_in_replay_only_is_reported_with_its_explanation(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with (
        serving(tmp_path, upstream) as pp,
        openai.OpenAI(base_url=pp.base_url, api_key=API_KEY) as client,
    ):
        client.chat.completions.create(**ask("Weather in Paris?"))
    with (
        serving(tmp_path, upstream, record="replay-only") as pp,
        openai.OpenAI(base_url=pp.base_url, api_key=API_KEY, max_retries=0) as client,
    ):
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(**ask("Weather in Lyon?"))
        report = pp.report()

    assert len(upstream.received) == 1
    (recorded,) = (tmp_path / "tapes").glob("*.json")
    (miss,) = report["missing"]
    assert miss["method"] == "POST"
    assert miss["path"] == "/v1/chat/completions"
    assert miss["model"] == "gpt-4o-mini"
    assert recorded.stem in miss["explanation"]
    assert 'messages[0].content: "Weather in Paris?" ≠ "Weather in Lyon?"' in miss["explanation"]
    assert miss["explanation"] in str(raised.value)
    assert report["unused"] == [recorded.stem]


def test_it_exits_cleanly_leaving_no_thread_and_no_port(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    before = set(threading.enumerate())
    with serving(tmp_path, upstream) as pp:
        port = port_of(pp.url)
        assert is_listening(port)
        assert any(thread.name == "playingpack" for thread in threading.enumerate())

    assert set(threading.enumerate()) == before
    assert not is_listening(port)
    with pytest.raises(RuntimeError, match="not running"):
        pp.report()


def test_it_exits_cleanly_when_the_body_raises(tmp_path: Path, upstream: FakeUpstream) -> None:
    before = set(threading.enumerate())
    upstream.queue(Reply(hang=True))  # a call still open when the body fails
    port = 0

    def call(url: str) -> None:
        with (
            openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0) as client,
            contextlib.suppress(openai.APIError),  # the server stopped under it
        ):
            client.chat.completions.create(**ask("Hang"))

    with pytest.raises(KeyError, match="from the body"), serving(tmp_path, upstream) as pp:
        port = port_of(pp.url)
        caller = threading.Thread(target=call, args=(pp.base_url,))
        caller.start()
        while not upstream.received:
            caller.join(0.01)
        raise KeyError("from the body")

    caller.join(10)
    assert not caller.is_alive()
    assert set(threading.enumerate()) == before
    assert not is_listening(port)
    assert upstream.cancelled.wait(10)  # the open call was cancelled, not left running


def test_async_with_serves_the_async_sdk(tmp_path: Path, upstream: FakeUpstream) -> None:
    before = set(threading.enumerate())

    async def run() -> tuple[str, str | None, int, list[str]]:
        async with serving(tmp_path, upstream) as pp:
            client = openai.AsyncOpenAI(base_url=pp.base_url, api_key=API_KEY)
            async with client:
                stream = await client.chat.completions.create(**ask("Hi"), stream=True)
                text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
                replayed = await client.chat.completions.create(**ask("Hi"))
            report = pp.report()
            content = replayed.choices[0].message.content
            return text, content, port_of(pp.url), report["replayed"]

    text, content, port, replayed = asyncio.run(run())
    assert text == content == "Hello from the fake upstream!"
    assert len(replayed) == 1
    assert set(threading.enumerate()) == before
    assert not is_listening(port)


def test_async_with_exits_cleanly_when_the_body_raises(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    before = set(threading.enumerate())

    async def run() -> int:
        port = 0
        with pytest.raises(ValueError, match="async body"):
            async with serving(tmp_path, upstream) as pp:
                port = port_of(pp.url)
                raise ValueError("async body")
        return port

    port = asyncio.run(run())
    assert port
    assert set(threading.enumerate()) == before
    assert not is_listening(port)


def test_two_can_run_at_once_on_their_own_ports(tmp_path: Path, upstream: FakeUpstream) -> None:
    with serving(tmp_path / "a", upstream) as first, serving(tmp_path / "b", upstream) as second:
        assert first.url != second.url
        assert is_listening(port_of(first.url))
        assert is_listening(port_of(second.url))


def test_an_unknown_setting_is_a_type_error_listing_the_settings(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"unknown settings recrod; .*\brecord\b"):
        serve(cwd=tmp_path, env={}, recrod="auto")


def test_an_invalid_value_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"record.*auto, off, replay-only, refresh"):
        serve(cwd=tmp_path, env={}, record="sometimes")


def test_settings_override_the_environment_and_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "playingpack.toml").write_text(
        'record = "off"\ntapes_dir = "file-tapes"\nsequence = true\n', encoding="utf-8"
    )
    env = {"PLAYINGPACK_RECORD": "auto", "PLAYINGPACK_REPLAY_TIMING": "instant"}

    from_sources = serve(cwd=tmp_path, env=env).config
    assert from_sources.record is RecordMode.AUTO  # the environment over the file
    assert from_sources.tapes_dir == tmp_path / "file-tapes"
    assert from_sources.sequence is True
    assert from_sources.replay_timing.value == "instant"
    assert (from_sources.host, from_sources.port) == ("127.0.0.1", 0)  # not 4747

    given = serve(cwd=tmp_path, env=env, record="replay-only", tapes_dir="mine", port=0).config
    assert given.record is RecordMode.REPLAY_ONLY
    assert given.tapes_dir == tmp_path / "mine"  # relative to cwd
    assert given.sequence is True  # what is not given still comes from the file


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_loop_is_uvloop_where_installed_else_asyncios_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run_loop(_loop_module()).startswith("uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows: the import fails
    assert run_loop(_loop_module()).startswith("asyncio")


def test_it_serves_without_uvloop(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with (
        serving(tmp_path, upstream) as pp,
        openai.OpenAI(base_url=pp.base_url, api_key=API_KEY) as client,
    ):
        first = client.chat.completions.create(**ask("Hello!"))
        again = client.chat.completions.create(**ask("Hello!"))
    assert again.choices[0].message.content == first.choices[0].message.content
    assert len(upstream.received) == 1
