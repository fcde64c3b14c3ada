"""Prices, costs and a run's totals: the shipped table, matching dated ids by prefix, the
user's overrides, the arithmetic of cached and cache-write tokens, and the line a run ends
with (printed by `playingpack start` at exit and in the pytest plugin's report)."""

from __future__ import annotations

import datetime
import signal
import tomllib
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import openai
import pytest
from openai.types.chat import ChatCompletion

from playingpack.flows import Flow, Source, State
from playingpack.pricing import (
    PRICE_FIELDS,
    Price,
    PriceBook,
    Spend,
    dollars,
    parse_prices,
    shipped_prices,
)
from playingpack.providers import Summary, Usage
from tests.conftest import API_KEY, started
from tests.fakes.openai_upstream import FakeUpstream

pytest_plugins = ["pytester"]

book = PriceBook()
PROVIDER_SITES = {"developers.openai.com", "platform.claude.com", "ai.google.dev"}


# --- the shipped table --------------------------------------------------------------------


def test_the_table_ships_in_the_package_and_every_entry_is_dated_and_sourced() -> None:
    shipped = resources.files("playingpack").joinpath("prices.toml")
    assert shipped.is_file()
    table = tomllib.loads(shipped.read_text(encoding="utf-8"))
    assert len(table) == len(shipped_prices()) >= 50
    for model, row in table.items():
        assert set(row) <= {*PRICE_FIELDS, "date", "source"}, model
        datetime.date.fromisoformat(row["date"])
        source = urlparse(row["source"])
        assert source.scheme == "https" and source.hostname in PROVIDER_SITES, model
        assert row["input"] > 0, model
        # Embedding models produce no tokens; every other model's output is priced.
        assert row["output"] > 0 or "embedding" in model, model
        assert 0 < row.get("cached_input", row["input"]) <= row["input"], model
        assert row.get("cache_write", row["input"]) >= row["input"], model
    for family in ("gpt-5", "gpt-4.1", "gpt-4o", "o3", "claude-sonnet-4-5", "gemini-2.5-pro"):
        assert family in table


def test_the_wheel_config_packs_the_whole_package_folder() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/playingpack"
    ]


# --- matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own, older price
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5.1-codex-max", "gpt-5.1"),
        ("o1-2024-12-17", "o1"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("text-embedding-3-small", "text-embedding-3-small"),
        # Provider prefixes are not part of the id.
        ("openai/gpt-4.1", "gpt-4.1"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("claude-opus-4-1@20250805", "claude-opus-4-1"),  # Vertex AI's versions
        ("GPT-4o", "gpt-4o"),
    ],
)
def test_a_dated_id_is_priced_by_the_longest_entry_it_continues(model: str, entry: str) -> None:
    assert book.price(model) == shipped_prices()[entry]


@pytest.mark.parametrize(
    "model",
    [
        "o1x",  # continues o1, but not at a "-"
        "gpt-4omni",
        "gpt-5.7",  # another version, not a dated gpt-5
        "claude-opus-4-9",  # a later 4.x: not priced as Opus 4
        "claude-sonnet-4",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",  # fine-tuned models cost more
        "llama-3.1-70b",
        "-",
        "",
        None,
    ],
)
def test_an_id_that_continues_no_entry_at_a_boundary_has_no_price(model: str | None) -> None:
    assert book.price(model) is None
    assert book.cost(model, Usage(1000, 1000)) is None


def test_the_users_prices_add_to_and_override_the_shipped_ones() -> None:
    overrides = parse_prices(
        {
            "gpt-4o": {"input": 1, "output": 2},  # a negotiated price
            "house-model": {"input": 0.5, "output": 1.5, "cached_input": 0.05},
            "openai/gpt-5-nano": {"input": 9, "output": 9},  # prefixes go, as for models
        },
        text=False,
    )
    own = PriceBook(overrides)
    assert own.price("gpt-4o-2024-11-20") == Price(1.0, 2.0)
    assert own.price("house-model-2026-01-01") == Price(0.5, 1.5, cached_input=0.05)
    assert own.price("gpt-5-nano") == Price(9.0, 9.0)
    # The longest entry still wins: the shipped gpt-4o-mini is longer than the user's gpt-4o.
    assert own.price("gpt-4o-mini") == shipped_prices()["gpt-4o-mini"]
    assert book.price("house-model") is None  # each book has its own overrides


# --- cost ---------------------------------------------------------------------------------


def test_cost_prices_each_kind_of_token_per_million() -> None:
    prices = parse_prices(
        {
            "full": {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75},
            "plain": {"input": 2, "output": 8},
        },
        text=False,
    )
    own = PriceBook(prices)
    usage = Usage(1_000_000, 100_000, cached_input_tokens=600_000, cache_write_tokens=200_000)
    # 200k fresh x $3 + 600k cached x $0.30 + 200k written x $3.75 + 100k out x $15
    assert own.cost("full", usage) == pytest.approx(0.6 + 0.18 + 0.75 + 1.5)
    # Without their own prices, cached and written tokens cost as input.
    assert own.cost("plain", usage) == pytest.approx(2.0 + 0.8)
    assert own.cost("full", Usage(2_000, 0)) == pytest.approx(0.006)
    assert own.cost("full", Usage(0, 0)) == 0.0
    # Counts that do not add up never make the fresh input negative.
    assert own.cost("plain", Usage(10, 0, cached_input_tokens=50)) == pytest.approx(50 * 2e-6)
    assert own.cost("full", None) is None


def test_a_shipped_price_costs_a_real_call() -> None:
    usage = Usage(12_000, 800, cached_input_tokens=10_000)
    # gpt-4.1-mini: $0.40 input, $0.10 cached, $1.60 output.
    assert book.cost("gpt-4.1-mini-2025-04-14", usage) == pytest.approx(
        (2_000 * 0.4 + 10_000 * 0.1 + 800 * 1.6) / 1e6
    )


def test_dollars_as_the_dashboard_shows_them() -> None:
    assert [dollars(usd) for usd in (1.234, 0.0042, 0.00001234, 0.0, 0.00999, None)] == [
        "$1.23",
        "$0.0042",
        "$0.000012",
        "$0.00",
        "$0.01",
        "—",
    ]


# --- a run's totals -----------------------------------------------------------------------


def finished(
    source: Source | None, usage: Usage | None, cost: float | None, saved: float | None = None
) -> Flow:
    """A finished flow as FlowLog leaves it: priced, or not."""
    return Flow(
        "run1-000001",
        "POST",
        "/v1/chat/completions",
        state=State.COMPLETE,
        source=source,
        summary=Summary("m", usage, ()),
        cost=cost,
        saved=saved,
    )


def test_spend_totals_calls_tokens_cost_and_savings() -> None:
    spend = Spend()
    assert spend.line() == "0 calls, 0 tokens, cost $0.00, saved $0.00 by tapes"
    spend.add(finished(Source.UPSTREAM, Usage(1000, 200), 0.0123))
    spend.add(finished(Source.UPSTREAM, Usage(2000, 201), None))  # a model without a price
    spend.add(finished(Source.TAPE, Usage(1000, 200), 0.0, saved=0.0123))
    spend.add(finished(Source.TAPE, Usage(5, 5), 0.0, saved=None))  # saved, by how much unknown
    spend.add(finished(Source.MOCK, None, 0.0))
    spend.add(finished(Source.UPSTREAM, None, None))  # failed before any usage
    assert (spend.calls, spend.input_tokens, spend.output_tokens) == (6, 4005, 606)
    assert spend.cost == pytest.approx(0.0123)
    assert spend.saved == pytest.approx(0.0123)
    assert spend.unpriced == 2
    assert spend.line() == (
        "6 calls, 4,611 tokens, cost $0.01 (2 calls unpriced), saved $0.01 by tapes"
    )


def test_spend_without_any_price_is_unknown_not_zero() -> None:
    spend = Spend()
    spend.add(finished(Source.UPSTREAM, Usage(10, 1), None))
    assert spend.cost is None
    spend.add(finished(Source.TAPE, Usage(10, 1), 0.0, saved=None))
    assert spend.saved is None
    assert spend.line() == "2 calls, 22 tokens, cost $0.00 (2 calls unpriced), saved — by tapes"
    one = Spend()
    one.add(finished(Source.UPSTREAM, Usage(10, 1), None))
    assert one.line() == "1 call, 11 tokens, cost — (1 call unpriced), saved $0.00 by tapes"


def test_spends_merge_as_one_run() -> None:
    first, second = Spend(), Spend()
    first.add(finished(Source.UPSTREAM, Usage(100, 10), 0.5))
    second.add(finished(Source.TAPE, Usage(100, 10), 0.0, saved=0.25))
    second.add(finished(Source.UPSTREAM, Usage(1, 1), None))
    merged = Spend()
    merged.merge(first.to_json())
    merged.merge(second.to_json())
    assert (
        merged.line() == "3 calls, 222 tokens, cost $0.50 (1 call unpriced), saved $0.25 by tapes"
    )


# --- the run's line, from outside ---------------------------------------------------------


def test_playingpack_start_prints_the_runs_cost_when_stopped(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with started("--upstream", upstream.url, cwd=tmp_path) as process:
        base_url = f"{process.url}/v1"
        recorded, replayed = ask(base_url, "gpt-4o-mini"), ask(base_url, "gpt-4o-mini")
        unknown = ask(base_url, "house-model-7")
        assert len(upstream.received) == 2  # the second call came from the tape
        process.popen.send_signal(signal.SIGINT)
        assert process.popen.wait(10) == 0
        line = process.wait_for(r"^playingpack: run [0-9a-f]{8}: (.*)$")
        process.wait_for(r"^playingpack: stopped$")
    assert recorded.usage and replayed.usage and unknown.usage
    usage = Usage(recorded.usage.prompt_tokens, recorded.usage.completion_tokens)
    price = book.cost("gpt-4o-mini", usage)
    assert price is not None and price > 0
    tokens = sum(usage.total_tokens for usage in (recorded.usage, replayed.usage, unknown.usage))
    assert line.group(1) == (
        f"3 calls, {tokens:,} tokens, cost {dollars(price)} (1 call unpriced), "
        f"saved {dollars(price)} by tapes"
    )
    assert process.lines.index(line.string) < process.lines.index("playingpack: stopped")


PLUGIN_SUITE = """
import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion


def ask(model):
    with openai.OpenAI(max_retries=0) as client:  # base URL and key from the environment
        return client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What does it cost?"}]
        )


@pytest.mark.playingpack(tapes="shared")
def test_records():
    ask("gpt-4o-mini")


@pytest.mark.playingpack(tapes="shared")
def test_replays():
    ask("gpt-4o-mini")


@pytest.mark.playingpack(tapes="shared")
def test_unknown_model():
    ask("house-model-7")


def test_the_session_is_a_pytest_run(playingpack):
    (run,) = [run for run in httpx.get(f"{playingpack.url}/api/runs").json() if run["live"]]
    assert run["kind"] == "pytest"
    assert run["label"].startswith("pytest ") and " -W error " in run["label"]
"""


def test_the_pytest_report_says_what_the_run_cost_and_saved_across_workers(
    pytester: pytest.Pytester, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CI", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    pytester.makepyfile(test_cost=PLUGIN_SUITE)
    base = ("-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-W", "error")

    first = pytester.runpytest_subprocess(
        *base, "-p", "no:xdist", "--playingpack-upstream", upstream.url, timeout=60
    )
    first.assert_outcomes(passed=4)
    assert len(upstream.received) == 2
    usage = ask(f"{upstream.url}/v1", "gpt-4o-mini").usage  # what the fake counts for it
    assert usage is not None
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    price = book.cost("gpt-4o-mini", Usage(prompt, completion))
    assert price is not None
    tokens = 3 * (prompt + completion)
    first.stdout.fnmatch_lines(
        [
            "*= playingpack =*",
            f"3 calls, {tokens:,} tokens, cost {dollars(price)} (1 call unpriced), "
            f"saved {dollars(price)} by tapes",
        ]
    )

    # Two workers replay the three tapes: their totals are added up in the one report.
    second = pytester.runpytest_subprocess(
        *base, "-n", "2", "--playingpack-record", "replay-only", timeout=60
    )
    second.assert_outcomes(passed=4)
    second.stdout.fnmatch_lines(
        [
            "*= playingpack =*",
            f"3 calls, {tokens:,} tokens, cost $0.00 (1 call unpriced), "
            f"saved {dollars(2 * price)} by tapes",
        ]
    )


def ask(base_url: str, model: str) -> ChatCompletion:
    """The question every call of these tests asks, to ``model`` at ``base_url``."""
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as sdk:
        return sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What does it cost?"}]
        )
