"""The chart of docs/benchmarks.md: each goal's figure over its goal, and how the backfill's cost grows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: (family, key, goal, label): the figure must be ≤ goal, or inside (low, high) for a range.
GOALS: list[tuple[str, str, float | tuple[float, float], str]] = [
    ("backfill", "ratio", 2.0, "backfill / floor"),
    ("backfill", "seconds_per_ticker_year_spread", 0.2, "backfill s/ticker-year spread"),
    ("backfill", "peak_rss_mb", 3000.0, "backfill peak RSS MB"),
    ("backfill", "dagster_events_per_month", 50.0, "Dagster events / month"),
    ("increment", "ratio", 1.5, "increment / floor"),
    ("increment", "history_ratio", (0.8, 1.25), "increment 2y / 10y lake"),
    ("query", "point_ms_p50", 50.0, "query point ms"),
    ("query", "series_10y_ms_p50", 150.0, "query series 10y ms"),
    ("query", "cross_section_ms_p50", 100.0, "query cross-section ms"),
    ("query", "full_scan_ms_p50", 1500.0, "query full scan ms"),
    ("query", "point_over_duckdb", 1.5, "point / DuckDB"),
    ("query", "series_10y_over_duckdb", 1.5, "series / DuckDB"),
    ("query", "cross_section_over_duckdb", 1.5, "cross-section / DuckDB"),
    ("query", "full_scan_over_duckdb", 1.5, "full scan / DuckDB"),
    ("athena", "series_10y_objects", 121.0, "Athena objects, 10y series"),
    ("cache", "l1_hit_ms_p50", 1.0, "cache L1 hit ms"),
    ("cache", "l2_over_raw", 2.0, "cache L2 / bare GET"),
    ("cache", "miss_report_s", 3.0, "cache miss s"),
    ("cold_start", "ratio", 1.5, "cold start / floor"),
    ("cold_start", "warm_ms", 1.0, "warm load ms"),
]


def goal_text(goal: float | tuple[float, float]) -> str:
    return f"{goal[0]:g}–{goal[1]:g}" if isinstance(goal, tuple) else f"≤ {goal:g}"


def share(value: float, goal: float | tuple[float, float]) -> float:
    """How far a figure is from its goal: ≤ 1 meets it."""
    if isinstance(goal, tuple):
        low, high = goal
        return max(value / high, low / value if value else float("inf"))
    return value / goal


def goal_table(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(label, figure, goal as text, met) of every goal the results hold a figure for."""
    rows = []
    for family, key, goal, label in GOALS:
        value = results.get(family, {}).get(key)
        if isinstance(value, int | float):
            rows.append((label, float(value), goal_text(goal), share(float(value), goal) <= 1.0))
    return rows


def draw(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5), gridspec_kw={"width_ratios": [3, 2]})
    rows = []
    for family, key, goal, label in GOALS:
        value = results.get(family, {}).get(key)
        if isinstance(value, int | float):
            rows.append((label, float(value), goal, share(float(value), goal)))
    labels = [f"{row[0]} ({goal_text(row[2])})" for row in rows]
    shares = [max(row[3], 1e-3) for row in rows]
    colours = ["#2e7d32" if s <= 1.0 else "#c62828" for s in shares]
    left.barh(labels, shares, color=colours)
    left.axvline(1.0, color="black", linewidth=1)
    left.set_xscale("log")
    left.invert_yaxis()
    left.tick_params(axis="y", labelsize=8)
    left.set_xlabel("figure / goal (≤ 1 meets the goal; log scale)")
    left.set_title("Goals on the month grain: green met, red missed")
    for index, row in enumerate(rows):
        left.text(shares[index], index, f"  {row[1]:g}", va="center", fontsize=7)

    backfill = results.get("backfill", {})
    sizes = backfill.get("by_size", {})
    if sizes:
        counts = sorted(int(c) for c in sizes)
        years = backfill.get("scale", {}).get("years")
        run = [sizes[str(c)]["run_s"] for c in counts]
        floor = [sizes[str(c)]["floor_s"] for c in counts]
        right.plot(counts, run, "o-", label="tickerlake run (recorded)")
        right.plot(counts, floor, "^--", label="floor")
        for c, r, f in zip(counts, run, floor, strict=True):
            right.annotate(f"{r / f:.1f}×", (c, r), textcoords="offset points", xytext=(4, 6), fontsize=8)
        stages = backfill.get("stages_only")
        if stages:
            right.plot([stages["tickers"]], [stages["seconds"]], "s", label="stages alone (no Dagster)")
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xticks(counts)
        right.set_xticklabels([str(c) for c in counts])
        right.minorticks_off()
        right.set_xlabel(f"tickers ({years:g} years each)" if isinstance(years, int | float) else "tickers")
        right.set_ylabel("seconds (wall)")
        right.set_title("Backfill: cost against universe size (× = ratio to the floor)")
        right.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
