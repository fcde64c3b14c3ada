"""Draws the benchmarks' JSON results as PNG figures in bench/figures/ (matplotlib, Agg).

    .venv/bin/pip install -e '.[bench]'     # matplotlib
    .venv/bin/python bench/plots.py         # reads bench/results/{run,scale,streams}.json

A figure is drawn for each results file found. When ``before-<name>.json`` is there too (an
earlier commit's figures, kept for comparison), its playingpack line is drawn dotted and grey.
Every figure names, at its foot, the command, commit and date its figures came from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

BENCH = Path(__file__).resolve().parent
OURS = "tab:blue"
REFERENCE = "tab:orange"
TARGET = "tab:red"
BEFORE = "0.55"


def load(folder: Path, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The results ``name`` and, when kept and from another commit, the earlier ones."""
    path, before_path = folder / f"{name}.json", folder / f"before-{name}.json"
    now = json.loads(path.read_text()) if path.exists() else None
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    if now is None:
        return before, None
    if before is not None and before.get("commit") == now.get("commit"):
        before = None
    return now, before


def origin(results: dict[str, Any]) -> str:
    path = results.get("pythonpath")
    return (
        f"made by {f'PYTHONPATH={path} ' if path else ''}.venv/bin/python "
        f"{results.get('command', '?')} at commit "
        f"{results['commit'][:7]}, {results['date'][:10]}, on {results['cpus']} shared cores"
    )


def finish(fig: Figure, results: dict[str, Any], before: dict[str, Any] | None, path: Path) -> None:
    foot = origin(results)
    if before is not None:
        foot += f"\ndotted grey: before, commit {before['commit'][:7]}"
    fig.text(0.5, 0.01, foot, ha="center", va="bottom", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.06 if before is None else 0.09, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def target_line(ax: Axes, y: float, label: str) -> None:
    ax.axhline(y, color=TARGET, linestyle="--", linewidth=1.2, label=label)


def replay_figure(run: dict[str, Any], before: dict[str, Any] | None, out: Path) -> None:
    b = run["figures"].get("b")
    if not b:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, kind, title, floor in (
        (axes[0], "json", "Replay of a JSON tape", 0.5),
        (axes[1], "stream", "Replay of a 50-event stream", 0.75),
    ):
        levels = sorted(b[kind], key=lambda c: int(c.split("=")[1]))
        x = [int(c.split("=")[1]) for c in levels]
        ceiling = [b[kind][c]["ceiling_rps"] for c in levels]
        ax.plot(x, ceiling, "s-", color=REFERENCE, label="ceiling (minimal aiohttp replay)")
        ax.plot(x, [b[kind][c]["proxy_rps"] for c in levels], "o-", color=OURS, label="playingpack")
        targeted = [(c, v) for c, v in zip(x, ceiling, strict=True) if c >= 16]
        ax.plot(
            [c for c, _ in targeted],
            [v * floor for _, v in targeted],
            linestyle="--",
            color=TARGET,
            label=f"target: {floor} x ceiling (c ≥ 16)",
        )
        old = (before or {}).get("figures", {}).get("b", {}).get(kind)
        if old:
            known = sorted(old, key=lambda c: int(c.split("=")[1]))
            ax.plot(
                [int(c.split("=")[1]) for c in known],
                [old[c]["proxy_rps"] for c in known],
                "o:",
                color=BEFORE,
                label="playingpack, before",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(c) for c in x])
        ax.set_xlabel("concurrent clients (closed loops)")
        ax.set_ylabel("requests per second")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    finish(fig, run, before, out / "replay_throughput.png")


def latency_figure(run: dict[str, Any], before: dict[str, Any] | None, out: Path) -> None:
    a = run["figures"].get("a")
    if not a:
        return
    targets = {("ttfb", "p50"): 1.0, ("total", "p50"): 1.0, ("total", "p99"): 3.58}
    bars = [(part, q) for part in ("ttfb", "total") for q in ("p50", "p90", "p99")]
    fig, axes = plt.subplots(1, len(a), figsize=(6 * len(a), 4.5), squeeze=False)
    for ax, shape in zip(axes[0], a, strict=True):
        c1 = a[shape]["c=1"]
        series = [
            ("playingpack", OURS, c1["playingpack"]),
            ("minimal relay", REFERENCE, c1["relay"]),
        ]
        old = (before or {}).get("figures", {}).get("a", {}).get(shape, {}).get("c=1")
        if old:
            series.append(("playingpack, before", BEFORE, old["playingpack"]))
        width = 0.8 / len(series)
        for n, (label, color, figures) in enumerate(series):
            ax.bar(
                [i + (n - (len(series) - 1) / 2) * width for i in range(len(bars))],
                [figures["added"][part][q] for part, q in bars],
                width,
                label=label,
                color=color,
                hatch="//" if label.endswith("before") else None,
                edgecolor="white",
            )
        for i, key in enumerate(bars):
            if key in targets:
                ax.hlines(targets[key], i - 0.45, i + 0.45, colors=TARGET, linestyles="--")
        ax.plot([], [], "--", color=TARGET, label="target (c=1)")
        ax.axhline(0, color="0.2", linewidth=0.8)
        ax.set_xticks(
            range(len(bars)), [f"{'TTFB' if p == 'ttfb' else 'total'}\n{q}" for p, q in bars]
        )
        ax.set_ylabel("added time over a direct call (ms)")
        ax.set_title(f"Streamed pass-through, {shape}, concurrency 1")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    finish(fig, run, before, out / "passthrough_latency.png")


def scale_figure(scale: dict[str, Any], before: dict[str, Any] | None, out: Path) -> None:
    rows = scale["figures"].get("counts")
    if not rows:
        return
    old_rows = (before or {}).get("figures", {}).get("counts") or []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))

    def line(
        ax: Axes, data: list[dict[str, Any]], pick: Any, style: str, color: Any, label: str
    ) -> None:
        ax.plot(
            [r["count"] for r in data], [pick(r) for r in data], style, color=color, label=label
        )

    ax = axes[0]
    for pick, style, color, label in (
        (lambda r: r["fresh"]["first_miss_ms"], "v-", "tab:purple", "first miss, fresh folder"),
        (lambda r: r["later"]["first_miss_ms"], "o-", OURS, "first miss, later start"),
        (lambda r: r["later"]["later_miss_p50_ms"], "o--", "tab:cyan", "later misses p50"),
        (lambda r: r["api_tapes"]["p50_ms"], "s-", "tab:green", "GET /api/tapes page p50"),
        (lambda r: r["later"]["hit_p50_ms"], "^-", "0.3", "hit (replay) p50"),
    ):
        line(ax, rows, pick, style, color, label)
    if old_rows:
        line(
            ax, old_rows, lambda r: r["later"]["first_miss_ms"], "o:", BEFORE, "first miss, before"
        )
        line(ax, old_rows, lambda r: r["api_tapes"]["p50_ms"], "s:", BEFORE, "/api/tapes, before")
    target_line(ax, 50, "target 50 ms")
    ax.set_yscale("log")
    ax.set_ylabel("time (ms, log)")
    ax.set_title("Miss explanation and /api/tapes")

    ax = axes[1]
    for key, style, color, label in (
        ("tapes_list", "o-", OURS, "tapes list"),
        ("tapes_verify", "s-", "tab:green", "tapes verify (first run)"),
    ):
        line(ax, rows, lambda r, k=key: r[k]["first_s"], style, color, label)
        if old_rows:
            line(
                ax,
                old_rows,
                lambda r, k=key: r[k]["first_s"],
                style[0] + ":",
                BEFORE,
                label + ", before",
            )
    ax.axhline(1, color=TARGET, linestyle="--", label="target: list 1 s")
    ax.axhline(5, color=TARGET, linestyle="-.", label="target: verify 5 s")
    ax.set_yscale("log")
    ax.set_ylabel("wall time (s, log)")
    ax.set_title("playingpack tapes list / verify")

    ax = axes[2]
    line(
        ax, rows, lambda r: r["fresh"]["start_ms"], "v-", "tab:purple", "first start, fresh folder"
    )
    line(ax, rows, lambda r: r["later"]["start_ms"], "o-", OURS, "later start (median of 3)")
    if old_rows:
        line(ax, old_rows, lambda r: r["later"]["start_ms"], "o:", BEFORE, "later start, before")
    target_line(ax, 250, "target 250 ms")
    ax.set_ylabel("spawn → first 200 of /health (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("Start-up")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("tapes in the folder (log)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    finish(fig, scale, before, out / "tapes_scaling.png")


def streams_figures(streams: dict[str, Any], before: dict[str, Any] | None, out: Path) -> None:
    figures = streams["figures"]
    old = (before or {}).get("figures", {})
    if "rss" in figures:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for who, color, label in (
            ("playingpack", OURS, "playingpack"),
            ("relay", REFERENCE, "minimal relay"),
        ):
            data = figures["rss"][who]
            x = sorted(int(n) for n in data)
            ax.plot(x, [data[str(n)]["hwm"] for n in x], "o-", color=color, label=f"{label}, peak")
            ax.plot(x, [data[str(n)]["idle"] for n in x], ":", color=color, label=f"{label}, idle")
        if "rss" in old:
            data = old["rss"]["playingpack"]
            x = sorted(int(n) for n in data)
            ax.plot(
                x,
                [data[str(n)]["hwm"] for n in x],
                "o:",
                color=BEFORE,
                label="playingpack peak, before",
            )
        if "many" in figures:
            many = figures["many"]
            ax.plot(
                [many["streams"]],
                [many["hwm"]],
                "D",
                color="tab:purple",
                label="playingpack, 1000 streams of 20 events 100 ms apart, dashboard socket open",
            )
        ax.plot([200], [50], "x", color=TARGET, markersize=10, mew=2)
        ax.axhline(50, color=TARGET, linestyle="--", label="target: 50 MiB at 200 streams")
        ax.set_xlabel("concurrent slow streams (40 events 50 ms apart)")
        ax.set_ylabel("RSS (MiB, 2²⁰ bytes; peak = VmHWM)")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room for the legend above the lines
        ax.set_title("Proxy memory versus concurrent streams")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        finish(fig, streams, before, out / "rss_streams.png")
    if "long" in figures:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        data = figures["long"]
        modes = (
            ("relayed", OURS, "relayed (--record off)"),
            ("recorded", "tab:green", "recorded (--record auto)"),
            ("replayed", "tab:purple", "replayed (replay-only, instant)"),
        )
        for mode, color, label in modes:
            x = sorted(int(n) for n in data if mode in data[n])
            axes[0].plot(
                x, [data[str(n)][mode]["us_per_event"] for n in x], "o-", color=color, label=label
            )
            axes[1].plot(
                x, [data[str(n)][mode]["peak_mib"] for n in x], "o-", color=color, label=label
            )
        x = sorted(int(n) for n in data)
        axes[0].plot(
            x,
            [data[str(n)]["direct_s"] / n * 1e6 for n in x],
            "s--",
            color=REFERENCE,
            label="direct from the fake upstream",
        )
        taped = [n for n in x if data[str(n)].get("tape_mib") is not None]
        axes[1].plot(
            taped,
            [data[str(n)]["tape_mib"] for n in taped],
            "s--",
            color="0.4",
            label="tape file size",
        )
        axes[0].set_ylabel("wall time per event (µs); flat = linear")
        axes[0].set_ylim(0, axes[0].get_ylim()[1] * 1.4)
        axes[0].set_title("Time per event of one long stream")
        axes[1].set_ylabel("MiB (proxy peak RSS = VmHWM)")
        axes[1].set_ylim(0, axes[1].get_ylim()[1] * 1.3)
        axes[1].set_title("Proxy peak RSS for one long stream")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("events in the stream (log)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        finish(fig, streams, None, out / "long_streams.png")  # no earlier lines drawn


def _dig(results: dict[str, Any] | None, *path: Any) -> Any:
    node: Any = (results or {}).get("figures")
    for key in path:
        if isinstance(node, list):
            node = next((r for r in node if r.get("count") == key), None)
        elif isinstance(node, dict):
            node = node.get(key)
        if node is None:
            return None
    return node


def _median(values: list[float] | None) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# (label, target, results file, unit format, the figure's path in that file's "figures")
ROWS: list[tuple[str, str, str, str, tuple[Any, ...]]] = [
    *[
        (
            f"replay {kind} c={c}: proxy / ceiling req/s",
            target,
            "run",
            "{:.2f}",
            ("b", kind, f"c={c}", "ratio"),
        )
        for kind, target in (("json", "≥ 0.5"), ("stream", "≥ 0.75"))
        for c in (16, 64)
    ],
    *[
        (
            f"pass-through {shape} c=1: added {part} {q}",
            target,
            "run",
            "{:.2f} ms",
            ("a", shape, "c=1", "playingpack", "added", part, q),
        )
        for shape in ("burst", "paced 1 ms")
        for part, q, target in (
            ("ttfb", "p50", "≤ 1.0 ms"),
            ("total", "p50", "≤ 1.0 ms"),
            ("total", "p99", "≤ 3.58 ms"),
        )
    ],
    ("peak RSS, 200 slow streams (MiB)", "≤ 50", "run", "{:.1f}", ("c", "playingpack", "hwm")),
    ("start → /health, median (ms)", "≤ 250", "run", "{:.0f}", ("d", "start_ms")),
    *[
        row
        for n in (1000, 10000, 100000)
        for row in (
            (
                f"{n:,} tapes: start → /health, first start (ms)",
                "≤ 250",
                "scale",
                "{:.0f}",
                ("counts", n, "fresh", "start_ms"),
            ),
            (
                f"{n:,} tapes: start → /health, later starts (ms)",
                "≤ 250",
                "scale",
                "{:.0f}",
                ("counts", n, "later", "start_ms"),
            ),
            (
                f"{n:,} tapes: hit p50 (ms)",
                "—",
                "scale",
                "{:.2f}",
                ("counts", n, "later", "hit_p50_ms"),
            ),
            (
                f"{n:,} tapes: first miss, fresh folder (ms)",
                "—",
                "scale",
                "{:.0f}",
                ("counts", n, "fresh", "first_miss_ms"),
            ),
            (
                f"{n:,} tapes: first miss, later start (ms)",
                "≤ 50",
                "scale",
                "{:.0f}",
                ("counts", n, "later", "first_miss_ms"),
            ),
            (
                f"{n:,} tapes: later misses p50 (ms)",
                "≤ 50",
                "scale",
                "{:.1f}",
                ("counts", n, "later", "later_miss_p50_ms"),
            ),
            (
                f"{n:,} tapes: GET /api/tapes?limit=100 p50 (ms)",
                "≤ 50",
                "scale",
                "{:.1f}",
                ("counts", n, "api_tapes", "p50_ms"),
            ),
            (
                f"{n:,} tapes: GET /api/tapes, no parameters (MiB)",
                "—",
                "scale",
                "{:.2f}",
                ("counts", n, "api_tapes", "no_limit_bytes"),
            ),
            (
                f"{n:,} tapes: tapes list (s)",
                "≤ 1",
                "scale",
                "{:.2f}",
                ("counts", n, "tapes_list", "first_s"),
            ),
            (
                f"{n:,} tapes: tapes verify, first / cold (s)",
                "≤ 5",
                "scale",
                "{:.2f}",
                ("counts", n, "tapes_verify", "first_s"),
            ),
            (
                f"{n:,} tapes: tapes verify, second / warm (s)",
                "—",
                "scale",
                "{:.2f}",
                ("counts", n, "tapes_verify", "second_s"),
            ),
        )
    ],
    *[
        (
            f"100,000-event stream {mode}: µs per event",
            "flat",
            "streams",
            "{:.1f}",
            ("long", "100000", mode, "us_per_event"),
        )
        for mode in ("relayed", "recorded", "replayed")
    ],
    *[
        (
            f"100,000-event stream {mode}: proxy peak RSS (MiB)",
            "bounded by the tape",
            "streams",
            "{:.0f}",
            ("long", "100000", mode, "peak_mib"),
        )
        for mode in ("relayed", "recorded", "replayed")
    ],
    ("1,000 streams + /ws: failed streams", "0", "streams", "{}", ("many", "errors")),
    (
        "1,000 streams + /ws: longest gap on the socket (ms)",
        "≤ 1000",
        "streams",
        "{:.0f}",
        ("many", "ws", "max_gap_ms"),
    ),
    (
        "1,000 streams + /ws: slowest ping (ms)",
        "≤ 1000",
        "streams",
        "{:.0f}",
        ("many", "ws", "ping_max_ms"),
    ),
    ("1,000 streams + /ws: proxy peak fds", "—", "streams", "{}", ("many", "peak_fds")),
    ("1,000 streams + /ws: proxy peak RSS (MiB)", "—", "streams", "{:.0f}", ("many", "hwm")),
    *[
        (
            f"{n} slow streams: proxy peak RSS (MiB)",
            "≤ 50" if n == 200 else "—",
            "streams",
            "{:.1f}",
            ("rss", "playingpack", str(n), "hwm"),
        )
        for n in (50, 200, 1000)
    ],
]


def table(folder: Path) -> str:
    """The targets' figures, before and now, as a markdown table."""
    files = {name: load(folder, name) for name in ("run", "scale", "streams")}
    commits = {}
    for side, i in (("now", 0), ("before", 1)):
        found = [side_results for pair in files.values() if (side_results := pair[i])]
        commits[side] = str(found[0]["commit"])[:7] if found else "—"
    out = [
        f"| metric | target | before ({commits['before']}) | now ({commits['now']}) |",
        "|---|---|---|---|",
    ]
    for label, target, name, fmt, path in ROWS:
        now, before = files[name]
        cells = []
        for results in (before, now):
            value = _dig(results, *path)
            if path == ("d", "start_ms"):
                value = _median(value)
            if path[-1] == "no_limit_bytes" and value is not None:
                value = value / 2**20
            cells.append("—" if value is None else fmt.format(value))
        out.append(f"| {label} | {target} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--out", type=Path, default=BENCH / "figures")
    parser.add_argument(
        "--table", action="store_true", help="print the targets' figures, before and now"
    )
    args = parser.parse_args()
    if args.table:
        print(table(args.results))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    run, run_before = load(args.results, "run")
    if run:
        replay_figure(run, run_before, args.out)
        latency_figure(run, run_before, args.out)
    scale, scale_before = load(args.results, "scale")
    if scale:
        scale_figure(scale, scale_before, args.out)
    streams, streams_before = load(args.results, "streams")
    if streams:
        streams_figures(streams, streams_before, args.out)


if __name__ == "__main__":
    main()
