"""Prices of models in dollars, what a call's tokens cost, and a run's totals.

The shipped table (``prices.toml`` in the package) holds the providers' published prices, each
dated and with its source; the ``prices`` setting adds to it or overrides its entries. A model
id is priced by the entry of that id, else by the longest entry it starts with followed by a
``-`` or ``@`` (so ``gpt-4o-2024-08-06`` is priced as ``gpt-4o``, but ``gpt-4o`` does not
price ``gpt-4o-mini``, nor ``o1`` price ``o1x``). A model without an entry has no price, and
its cost is None, never 0.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playingpack.config_checks import BadValue

if TYPE_CHECKING:
    from playingpack.flows import Flow
    from playingpack.providers import Usage

PRICE_FIELDS = ("input", "output", "cached_input", "cache_write")
# Where a dated or versioned id continues a priced one: gpt-4o-2024-08-06, and Vertex AI's
# claude-opus-4-1@20250805.
_BOUNDARIES = "-@"
# Routing prefixes before the provider's own id: Bedrock's (optionally regional) vendor
# prefix, e.g. us.anthropic.claude-sonnet-4-5-20250929-v1:0.
_BEDROCK = re.compile(r"^(?:[a-z-]+\.)?anthropic\.")
_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of each kind; a kind without its own price costs as input."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    date: str | None = None  # when the price was read from its source
    source: str | None = None  # the URL it was read from


@dataclass(frozen=True)
class Prices(Mapping[str, Price]):
    """Prices by model id (or id prefix): a frozen mapping, so a Config can hold it."""

    entries: tuple[tuple[str, Price], ...] = ()

    def __getitem__(self, model: str) -> Price:
        for name, price in self.entries:
            if name == model:
                return price
        raise KeyError(model)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)


NO_PRICES = Prices()


def parse_prices(value: object, text: bool) -> Prices:
    """The ``prices`` setting: a table (or, from the environment, JSON text) of model id ->
    {input, output, cached_input?, cache_write?} in USD per million tokens."""
    if text and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadValue("must be a JSON object of model -> prices") from None
    if not isinstance(value, Mapping):
        raise BadValue(
            "must be a table of model -> {input, output, cached_input, cache_write} "
            "(USD per million tokens)"
        )
    return Prices(tuple(_entry(model, row, PRICE_FIELDS) for model, row in value.items()))


@functools.cache
def shipped_prices() -> Prices:
    """The table shipped in the package (``prices.toml``), every entry dated and sourced."""
    # Imported here: a server reads the table at its first priced call, not at start.
    import tomllib
    from importlib import resources

    text = resources.files("playingpack").joinpath("prices.toml").read_text(encoding="utf-8")
    fields = (*PRICE_FIELDS, "date", "source")
    entries = []
    for model, row in tomllib.loads(text).items():
        entry = _entry(model, row, fields)
        if not entry[1].date or not entry[1].source:
            raise ValueError(f"prices.toml: {model!r} must have a date and a source")
        entries.append(entry)
    return Prices(tuple(entries))


class PriceBook:
    """The shipped prices with the user's ``overrides`` on top: what each model costs."""

    def __init__(self, overrides: Prices = NO_PRICES) -> None:
        self._overrides = overrides
        self._table: dict[str, Price] | None = None  # read at the first price asked for
        self._memo: dict[str, Price | None] = {}

    @property
    def _prices(self) -> dict[str, Price]:
        """The shipped table with the overrides on top, by normalised model id."""
        if self._table is None:
            table: dict[str, Price] = {}
            for prices in (shipped_prices(), self._overrides):
                for model, price in prices.entries:
                    table[_normal(model)] = price
            self._table = table
        return self._table

    def price(self, model: str | None) -> Price | None:
        """The price of ``model``: its own entry, else the longest entry it continues (see the
        module docstring); None when there is none. Provider prefixes (``openai/``,
        ``models/``, Bedrock's ``anthropic.``) are ignored."""
        if not model:
            return None
        if model in self._memo:
            return self._memo[model]
        name = _normal(model)
        prices = self._prices
        found = prices.get(name)
        cut = len(name)
        while found is None and cut > 0:
            cut = max(name.rfind(boundary, 0, cut) for boundary in _BOUNDARIES)
            if cut > 0:
                found = prices.get(name[:cut])
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()  # model ids come from requests: keep the memo bounded
        self._memo[model] = found
        return found

    def cost(self, model: str | None, usage: Usage | None) -> float | None:
        """What ``usage`` of ``model`` cost in USD; None when either is unknown.

        Cached and cache-write tokens are counted within the input tokens: the rest of the
        input costs ``input``, cached ones ``cached_input`` and written ones ``cache_write``
        (each ``input`` when the model has no price of its own for them)."""
        price = self.price(model)
        if price is None or usage is None:
            return None
        cached = usage.cached_input_tokens
        written = usage.cache_write_tokens
        fresh = max(usage.input_tokens - cached - written, 0)
        total = (
            fresh * price.input
            + cached * (price.input if price.cached_input is None else price.cached_input)
            + written * (price.input if price.cache_write is None else price.cache_write)
            + usage.output_tokens * price.output
        )
        return total / 1_000_000


class Spend:
    """One run's calls, tokens and dollars, kept in memory as its calls finish."""

    def __init__(self) -> None:
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.unpriced = 0  # calls with usage whose model has no price
        self.from_tapes = 0  # calls answered from a tape
        self._cost = 0.0
        self._priced = 0
        self._saved = 0.0
        self._saved_priced = 0

    def add(self, flow: Flow) -> None:
        """Count a finished flow, whose ``cost`` and ``saved`` are set."""
        self.calls += 1
        usage = flow.summary.usage if flow.summary is not None else None
        if usage is not None:
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
        if flow.cost is not None:
            self._cost += flow.cost
            self._priced += 1
        elif usage is not None:
            self.unpriced += 1
        if flow.source == "tape":
            self.from_tapes += 1
            if flow.saved is not None:
                self._saved += flow.saved
                self._saved_priced += 1
            elif usage is not None and flow.cost is not None:
                self.unpriced += 1  # a tape costs nothing, but what it saved is unknown

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost(self) -> float | None:
        """USD of the priced calls; None when calls had usage and none could be priced."""
        return None if self._priced == 0 and self.unpriced else self._cost

    @property
    def saved(self) -> float | None:
        """USD the calls answered from tapes would have cost upstream; None when there were
        such calls and none could be priced."""
        return None if self._saved_priced == 0 and self.from_tapes else self._saved

    def line(self) -> str:
        """E.g. ``12 calls, 3,401 tokens, cost $0.0123 (2 calls unpriced), saved $0.0456 by
        tapes``; an unknown amount shows as ``—``."""
        unpriced = f" ({_plural(self.unpriced, 'call')} unpriced)" if self.unpriced else ""
        return (
            f"{_plural(self.calls, 'call')}, {self.tokens:,} tokens, "
            f"cost {dollars(self.cost)}{unpriced}, saved {dollars(self.saved)} by tapes"
        )

    def to_json(self) -> dict[str, Any]:
        """The totals as JSON (what a pytest-xdist worker hands to the controller)."""
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "unpriced": self.unpriced,
            "from_tapes": self.from_tapes,
            "cost": self._cost,
            "priced": self._priced,
            "saved": self._saved,
            "saved_priced": self._saved_priced,
        }

    def merge(self, totals: Mapping[str, Any]) -> None:
        """Add another run's ``to_json()`` to these totals."""
        self.calls += int(totals["calls"])
        self.input_tokens += int(totals["input_tokens"])
        self.output_tokens += int(totals["output_tokens"])
        self.unpriced += int(totals["unpriced"])
        self.from_tapes += int(totals["from_tapes"])
        self._cost += float(totals["cost"])
        self._priced += int(totals["priced"])
        self._saved += float(totals["saved"])
        self._saved_priced += int(totals["saved_priced"])


def dollars(usd: float | None) -> str:
    """``$1.23``; below a cent two significant digits (``$0.0042``); ``—`` when unknown."""
    if usd is None:
        return "—"
    if usd == 0:
        return "$0.00"
    if usd >= 0.01:
        return f"${usd:.2f}"
    digits = 1 - math.floor(math.log10(usd))
    return "$" + f"{usd:.{digits}f}".rstrip("0").rstrip(".")


def _entry(model: object, row: object, fields: tuple[str, ...]) -> tuple[str, Price]:
    if not isinstance(model, str) or not model.strip():
        raise BadValue("must name each model by a non-empty id")
    if not isinstance(row, Mapping):
        raise BadValue(f"must give {model!r} a table of prices, such as {{input = 2.5}}")
    unknown = sorted(str(key) for key in row if key not in fields)
    if unknown:
        raise BadValue(
            f"must price {model!r} by {', '.join(fields)} only, not {', '.join(unknown)}"
        )
    values: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("date", "source"):
            if not isinstance(value, str):
                raise BadValue(f"must give {model}.{key} as text")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadValue(f"must give {model}.{key} as a number of dollars, 0 or more")
        else:
            value = float(value)
        values[key] = value
    if "input" not in values or "output" not in values:
        raise BadValue(f"must give {model!r} both an input and an output price")
    return model.strip(), Price(**values)


def _normal(model: str) -> str:
    """``model`` without its routing prefix, lower case: ``openai/gpt-4o`` (OpenRouter,
    LiteLLM), ``models/gemini-2.5-flash`` (Gemini), ``us.anthropic.claude-...`` (Bedrock)."""
    name = model.strip().lower().rpartition("/")[2]
    return _BEDROCK.sub("", name)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
