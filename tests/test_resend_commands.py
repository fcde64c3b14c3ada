"""`playingpack tapes resend`: run as a person runs it, against the fake upstream."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Running, ask, run_cli
from tests.fakes.openai_upstream import FakeUpstream, Reply


def recorded_tape(proxy: Running, upstream: FakeUpstream) -> str:
    upstream.queue(Reply(content="The tape's answer."))
    proxy.client().chat.completions.create(**ask("Tell me something"))
    [flow] = proxy.finished_flows(1)
    key: str = flow["tape"]
    return key


def test_resend_compares_the_new_answer_and_leaves_the_tape(
    tmp_path: Path, start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    key = recorded_tape(start_proxy(), upstream)
    path = tmp_path / "tapes" / f"{key}.json"
    before = path.read_bytes()
    upstream.queue(Reply(content="Another answer."))

    done = run_cli(
        "tapes",
        "resend",
        key[:12],
        "--tapes-dir",
        str(tmp_path / "tapes"),
        cwd=tmp_path,
        env={"PLAYINGPACK_UPSTREAM": upstream.url, "OPENAI_API_KEY": "sk-from-env"},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "text: [-The tape's -]{+Another +}answer." in done.stdout, done.stdout
    assert f"a  tape {key}" in done.stdout
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-from-env"
    assert path.read_bytes() == before


def test_resend_keep_replaces_the_tapes_answer(
    tmp_path: Path, start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    key = recorded_tape(start_proxy(), upstream)
    upstream.queue(Reply(content="A fresher answer."))

    done = run_cli(
        "tapes",
        "resend",
        key,
        "--keep",
        "-H",
        "Authorization: Bearer sk-given",
        "--tapes-dir",
        str(tmp_path / "tapes"),
        cwd=tmp_path,
        env={"PLAYINGPACK_UPSTREAM": upstream.url},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"kept as tape {key} (origin resent)" in done.stdout
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-given"
    document = json.loads((tmp_path / "tapes" / f"{key}.json").read_text())
    assert document["meta"]["origin"] == "resent"
    assert "A fresher answer." in "".join(chunk["c"] for chunk in document["response"]["chunks"])


def test_resend_to_the_tape_is_the_same_and_exits_0(
    tmp_path: Path, start_proxy: Callable[..., Running], upstream: FakeUpstream
) -> None:
    key = recorded_tape(start_proxy(), upstream)
    calls = len(upstream.received)

    done = run_cli(
        "tapes",
        "resend",
        key,
        "--to",
        "tape",
        "--tapes-dir",
        str(tmp_path / "tapes"),
        cwd=tmp_path,
        env={"PLAYINGPACK_UPSTREAM": upstream.url},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert len(upstream.received) == calls


def test_resend_errors_exit_2(tmp_path: Path, upstream: FakeUpstream) -> None:
    missing = run_cli("tapes", "resend", "abcdef", "--tapes-dir", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 2 and "no tape matches 'abcdef'" in missing.stderr

    both = run_cli("tapes", "resend", "abcdef", "--to", "tape", "--keep", cwd=tmp_path)
    assert both.returncode == 2 and "--keep keeps an upstream answer" in both.stderr
