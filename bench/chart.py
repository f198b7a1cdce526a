"""The chart of docs/benchmarks.md: each goal's figure over its goal, and the backfill's scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: (family, key, goal, label): the figure must be ≤ goal.
GOALS = [
    ("backfill", "ratio", 3.0, "backfill / floor"),
    ("increment", "ratio", 1.3, "increment 10y / 2y"),
    ("query", "point_ms_p50", 50.0, "query point ms"),
    ("query", "series_2y_ms_p50", 150.0, "query series ms"),
    ("query", "cross_section_ms_p50", 150.0, "query cross-section ms"),
    ("cache", "l1_hit_ms_p50", 1.0, "cache L1 hit ms"),
    ("cache", "l2_over_raw", 2.0, "cache L2 / bare GET"),
    ("cache", "miss_report_s", 3.0, "cache miss s"),
    ("cold_start", "ratio", 1.5, "cold start / floor"),
    ("cold_start", "warm_ms", 1.0, "warm load ms"),
]


def goal_table(results: dict[str, Any]) -> list[tuple[str, float, float, bool]]:
    rows = []
    for family, key, goal, label in GOALS:
        value = results.get(family, {}).get(key)
        if isinstance(value, int | float):
            rows.append((label, float(value), goal, value <= goal))
    return rows


def draw(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = goal_table(results)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    labels = [row[0] for row in rows]
    shares = [row[1] / row[2] for row in rows]
    colours = ["#2e7d32" if row[3] else "#c62828" for row in rows]
    left.barh(labels, shares, color=colours)
    left.axvline(1.0, color="black", linewidth=1)
    left.set_xscale("log")
    left.invert_yaxis()
    left.set_xlabel("figure / goal (≤ 1 meets the goal; log scale)")
    left.set_title("Goals: green met, red missed")
    for index, row in enumerate(rows):
        left.text(shares[index], index, f"  {row[1]:g}", va="center", fontsize=8)

    backfill = results.get("backfill", {})
    measured = backfill.get("measured", [])
    if measured:
        xs = [run["tickers"] for run in measured]
        right.plot(xs, [run["seconds"] for run in measured], "o", label="run_lake (measured)")
        floors = backfill.get("floor_measured", [])
        stages = backfill.get("stages_measured", [])
        right.plot([r["tickers"] for r in stages], [r["seconds"] for r in stages], "s", label="stages only")
        right.plot([r["tickers"] for r in floors], [r["seconds"] for r in floors], "^", label="floor")
        target = backfill.get("scale", {}).get("tickers", max(xs))
        span = [1 + (target - 1) * step / 50 for step in range(51)]
        for name, style in (("run_lake", "-"), ("stages", "--"), ("floor", ":")):
            fit = backfill.get("fit", {}).get(name)
            if fit:
                line = [(x, fit["intercept_s"] + fit["per_ticker_s"] * x) for x in span]
                line = [(x, y) for x, y in line if y > 0]
                right.plot([x for x, _ in line], [y for _, y in line], style, color="grey", linewidth=1)
        if backfill.get("extrapolated"):
            right.plot(
                [target], [backfill["seconds"]], "o", mfc="none", color="C0", label="run_lake (fitted)"
            )
            right.plot(
                [target], [backfill["floor_seconds"]], "^", mfc="none", color="C2", label="floor (fitted)"
            )
        right.set_xlabel(f"tickers ({backfill.get('scale', {}).get('years')} years each)")
        right.set_ylabel("seconds")
        right.set_yscale("log")
        right.set_xscale("log")
        right.set_title("Backfill: measured points, linear fits to the universe")
        right.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
