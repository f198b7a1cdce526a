"""The cache dashboard: one static HTML page with matplotlib charts inlined as SVG, built from `CacheStats`.

No JavaScript, no external file, font or CDN (the page must render offline and from a private bucket), and
a Content-Security-Policy forbids loading anything else. The charts are matplotlib figures saved as SVG
with text kept as text (``svg.fonttype = none``: small, selectable, escaped by matplotlib's XML writer, drawn
in the browser's sans-serif) and inlined in the page:

- summary cards: lookups, hit ratio, share of each tier, miss p95, errors;
- ``#fig-tier-share``: the share of answers by tier (l1 / l2 / miss) per day, stacked bars;
- ``#fig-latency-tier``: latency p50 and p95 per tier (log scale: an L1 hit is ~1 ms, a miss seconds);
- ``#fig-latency-day``: latency p95 per tier per day (log scale);
- the busiest tickers with their hit ratio.

Every bar and point is a matplotlib artist with a ``gid`` (its SVG ``id``) and a ``<title>`` tooltip with
its value: ``share-<tier>-<day>``, ``latency-<p50|p95>-<tier>``, ``p95-<tier>-<day>`` (the line of a tier:
``p95-<tier>``). Every other id matplotlib writes is prefixed with the chart's id (``chart-tier-share-…``),
so ids are unique in the page and each chart's references (clip paths, markers) stay inside it. A window
without lookups draws a titled "no lookups in this window" figure instead. The SVG is deterministic (a
fixed hash salt per chart, no date), so the same stats give the same bytes.

`build_dashboard(store, days=14)` renders the page from the event log; `publish_dashboard` writes it to
the lake (``ops/dashboard/index.html``) and/or a file.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

from lake import layout
from report_app.cache_events import TIERS
from report_app.cache_stats import CacheStats, load_cache_stats

__all__ = ["build_dashboard", "publish_dashboard", "render_dashboard"]

COLORS = {"l1": "#2e7d32", "l2": "#1565c0", "miss": "#ef6c00"}
LABELS = {"l1": "L1 (SQLite)", "l2": "L2 (object store)", "miss": "miss (generated)"}
STAT_COLORS = {"p50": "#90a4ae", "p95": "#37474f"}
EMPTY = "no lookups in this window"
FIGSIZE = (9.6, 3.2)  # inches; the page scales the SVG to its width
MAX_DAY_LABELS = 14

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# Re-serialised SVG keeps the default namespace and the xlink prefix (not ElementTree's ns0/ns1).
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)
_URL_REF = re.compile(r"url\(#([^)]+)\)")
# rcParams are process-wide: the svg.* keys are set only around our own savefig, one chart at a time.
# (Fonts and sizes go on the artists, never in rcParams, so a concurrent PNG chart is never affected.)
_SAVE_LOCK = threading.Lock()

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1d1d1f;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.window{color:#555;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 8px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card .value{display:block;font-size:22px;font-weight:600}.card .label{color:#555;font-size:13px}
figure{margin:24px 0;border:1px solid #eee;border-radius:8px;padding:12px}
figcaption{color:#555;font-size:13px;margin-top:6px}
svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #eee;padding:6px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _figure(chart_id: str, title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """A blank chart: an Agg canvas of its own (no pyplot), one axes with title and axis labels; the plot
    area's background is ``<chart_id>-plot`` (what the bars' heights are measured against)."""
    figure = Figure(figsize=FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.patch.set_gid(f"{chart_id}-plot")
    axes.set_title(title, loc="left", fontsize=12, fontweight="bold")
    axes.set_xlabel(xlabel, fontsize=10)
    axes.set_ylabel(ylabel, fontsize=10)
    axes.tick_params(labelsize=9)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _legend(axes: Axes, handles: list[Any]) -> None:
    """The legend above the plot, right-aligned (the title is left-aligned), so it never hides a bar."""
    axes.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(handles),
        frameon=False,
        fontsize=9,
    )


def _no_data(axes: Axes, chart_id: str) -> None:
    axes.text(
        0.5, 0.5, EMPTY, transform=axes.transAxes, ha="center", va="center", fontsize=14, color="#888888",
        gid=f"{chart_id}-no-data",
    )  # fmt: skip
    axes.set_xticks([])
    axes.set_yticks([])


def _day_axis(axes: Axes, days: list[str]) -> None:
    """One slot per day of the window; at most MAX_DAY_LABELS labels (MM-DD), evenly spaced."""
    step = max(1, math.ceil(len(days) / MAX_DAY_LABELS))
    axes.set_xlim(-0.5, len(days) - 0.5)
    axes.set_xticks(range(0, len(days), step), [day[5:] for day in days[::step]])


def _log_axis(axes: Axes, values: Iterable[float]) -> float:
    """A log latency axis spanning whole decades around `values`; returns its floor (the bottom of bars,
    and where a non-positive value is drawn: a 0 ms lookup has no logarithm)."""
    positive = [v for v in values if v > 0]
    low = math.floor(math.log10(min(positive))) if positive else 0
    high = math.ceil(math.log10(max(positive))) if positive else 1
    high = high if high > low else low + 1
    axes.set_yscale("log")
    axes.set_ylim(10.0**low, 10.0**high)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: _ms(value)))
    axes.yaxis.set_minor_formatter(NullFormatter())
    return 10.0**low


def _to_svg(figure: Figure, chart_id: str, label: str, tooltips: dict[str, str]) -> str:
    """The figure as an inline SVG element with the id `chart_id`: no XML prolog or metadata, a ``<title>``,
    chart-local ids prefixed with `chart_id`, and each tooltip as a ``<title>`` of the element it names."""
    buffer = io.BytesIO()
    with _SAVE_LOCK, rc_context({"svg.fonttype": "none", "svg.hashsalt": chart_id, "svg.id": chart_id}):
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Title": label, "Date": None, "Creator": None, "Format": None, "Type": None},
        )
    root = ET.fromstring(buffer.getvalue())  # drops the prolog and DOCTYPE; our own output, no entities
    for metadata in root.findall(f"{{{SVG_NS}}}metadata"):
        root.remove(metadata)
    ours = {artist.get_gid() for artist in figure.findobj() if artist.get_gid()}
    renamed = {}
    for element in root.iter():
        old = element.get("id")
        if old and old != chart_id and old not in ours:
            renamed[old] = f"{chart_id}-{old}"
            element.set("id", renamed[old])
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in ("href", f"{{{XLINK_NS}}}href") and value.startswith("#"):
                element.set(name, "#" + renamed.get(value[1:], value[1:]))
            elif "url(#" in value:
                element.set(name, _URL_REF.sub(lambda m: f"url(#{renamed.get(m[1], m[1])})", value))
    by_id = {element.get("id"): element for element in root.iter() if element.get("id") in tooltips}
    for gid, text in tooltips.items():
        title = ET.Element(f"{{{SVG_NS}}}title")
        title.text = text
        by_id[gid].insert(0, title)
    root.set("role", "img")
    root.set("aria-label", label)
    return ET.tostring(root, encoding="unicode")


def tier_share_figure(stats: CacheStats) -> tuple[Figure, dict[str, str]]:
    """Stacked bars: the share of each tier per day (gid ``share-<tier>-<day>``); the figure and tooltips."""
    figure, axes = _figure(
        "chart-tier-share", "Answers by cache tier per day", "day (UTC)", "share of lookups"
    )
    _legend(axes, [Patch(color=COLORS[tier], label=LABELS[tier]) for tier in TIERS])
    tooltips: dict[str, str] = {}
    if not stats.requests:
        _no_data(axes, "chart-tier-share")
        return figure, tooltips
    days = [row["day"] for row in stats.by_day]
    bottom = [0.0] * len(days)
    for tier in TIERS:
        drawn = [(i, row) for i, row in enumerate(stats.by_day) if row["requests"] and row[f"{tier}_share"]]
        if not drawn:
            continue
        bars = axes.bar(
            [i for i, _ in drawn],
            [row[f"{tier}_share"] for _, row in drawn],
            bottom=[bottom[i] for i, _ in drawn],
            width=0.7,
            color=COLORS[tier],
        )
        for (i, row), bar in zip(drawn, bars, strict=True):
            gid = f"share-{tier}-{row['day']}"
            bar.set_gid(gid)
            tooltips[gid] = (
                f"{row['day']} {LABELS[tier]}: {_pct(row[f'{tier}_share'])} ({row[tier]} of {row['requests']})"
            )
            bottom[i] += row[f"{tier}_share"]
    _day_axis(axes, days)
    axes.set_ylim(0, 1)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return figure, tooltips


def latency_tier_figure(stats: CacheStats) -> tuple[Figure, dict[str, str]]:
    """Grouped bars: latency p50 and p95 per tier, log scale (gid ``latency-<stat>-<tier>``)."""
    figure, axes = _figure(
        "chart-latency-tier", "Latency by cache tier: p50 and p95", "cache tier", "latency (log scale)"
    )
    _legend(axes, [Patch(facecolor=color, label=stat) for stat, color in STAT_COLORS.items()])
    tooltips: dict[str, str] = {}
    rows = {row["tier"]: row for row in stats.by_tier if row["requests"]}
    values = [
        row[f"{stat}_ms"] for row in rows.values() for stat in STAT_COLORS if row[f"{stat}_ms"] is not None
    ]
    if not values:
        _no_data(axes, "chart-latency-tier")
        return figure, tooltips
    floor = _log_axis(axes, values)
    width = 0.36
    for i, tier in enumerate(TIERS):
        row = rows.get(tier)
        if row is None:
            axes.text(i, floor, "no lookups", ha="center", va="bottom", fontsize=9, color="#888888")
            continue
        for j, (stat, color) in enumerate(STAT_COLORS.items()):
            value = row[f"{stat}_ms"]
            if value is None:
                continue
            x = i + (j - 0.5) * width
            top = max(value, floor)
            (bar,) = axes.bar(x, top - floor, bottom=floor, width=width * 0.94, color=color,
                              edgecolor=COLORS[tier], linewidth=2)  # fmt: skip
            gid = f"latency-{stat}-{tier}"
            bar.set_gid(gid)
            tooltips[gid] = f"{LABELS[tier]} {stat}: {_ms(value)}"
            axes.annotate(_ms(value), (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                          va="bottom", fontsize=8)  # fmt: skip
    axes.set_xlim(-0.5, len(TIERS) - 0.5)
    axes.set_xticks(range(len(TIERS)), [LABELS[tier] for tier in TIERS])
    return figure, tooltips


def latency_day_figure(stats: CacheStats) -> tuple[Figure, dict[str, str]]:
    """Lines: latency p95 per tier per day, log scale (gid ``p95-<tier>-<day>`` per point, ``p95-<tier>``
    per line; a day without lookups of a tier is a gap, not an interpolation)."""
    figure, axes = _figure(
        "chart-latency-day", "Latency p95 by cache tier per day", "day (UTC)", "latency p95 (log scale)"
    )
    _legend(axes, [Line2D([], [], color=COLORS[t], marker="o", label=f"{LABELS[t]} p95") for t in TIERS])
    tooltips: dict[str, str] = {}
    points = [row for row in stats.by_day_tier if row["p95_ms"] is not None]
    if not points:
        _no_data(axes, "chart-latency-day")
        return figure, tooltips
    days = [row["day"] for row in stats.by_day]
    slot = {day: i for i, day in enumerate(days)}
    floor = _log_axis(axes, [row["p95_ms"] for row in points])
    for tier in TIERS:
        mine = [row for row in points if row["tier"] == tier and row["day"] in slot]
        if not mine:
            continue
        line = [math.nan] * len(days)
        for row in mine:
            line[slot[row["day"]]] = max(row["p95_ms"], floor)
        axes.plot(range(len(days)), line, color=COLORS[tier], linewidth=2, gid=f"p95-{tier}")
        for row in mine:
            gid = f"p95-{tier}-{row['day']}"
            axes.plot([slot[row["day"]]], [max(row["p95_ms"], floor)], marker="o", markersize=6,
                      linestyle="none", color=COLORS[tier], gid=gid)  # fmt: skip
            tooltips[gid] = (
                f"{row['day']} {LABELS[tier]} p95: {_ms(row['p95_ms'])} ({row['requests']} lookups)"
            )
    _day_axis(axes, days)
    return figure, tooltips


def tier_share_chart(stats: CacheStats) -> str:
    """The tier-share chart as an inline SVG element (``#chart-tier-share``)."""
    figure, tooltips = tier_share_figure(stats)
    return _to_svg(figure, "chart-tier-share", "Share of answers by cache tier per day", tooltips)


def latency_tier_chart(stats: CacheStats) -> str:
    """The latency-per-tier chart as an inline SVG element (``#chart-latency-tier``)."""
    figure, tooltips = latency_tier_figure(stats)
    return _to_svg(figure, "chart-latency-tier", "Latency p50 and p95 by cache tier", tooltips)


def latency_day_chart(stats: CacheStats) -> str:
    """The latency-per-day chart as an inline SVG element (``#chart-latency-day``)."""
    figure, tooltips = latency_day_figure(stats)
    return _to_svg(figure, "chart-latency-day", "Latency p95 by cache tier per day", tooltips)


def _cards(stats: CacheStats) -> str:
    shares = {row["tier"]: row["share"] for row in stats.by_tier}
    miss = next((row for row in stats.by_tier if row["tier"] == "miss"), {})
    cards = [
        ("requests", str(stats.requests), "lookups"),
        ("hit_ratio", _pct(stats.hit_ratio), "hit ratio"),
        ("l1_share", _pct(shares.get("l1")), "answered by L1"),
        ("l2_share", _pct(shares.get("l2")), "answered by L2"),
        ("miss_share", _pct(shares.get("miss")), "generated (miss)"),
        ("miss_p95", _ms(miss.get("p95_ms")), "miss latency p95"),
        ("errors", str(stats.errors), "generation errors"),
    ]
    return "".join(
        f'<div class="card" data-metric="{name}"><span class="value">{_e(value)}</span>'
        f'<span class="label">{_e(label)}</span></div>'
        for name, value, label in cards
    )


def _ticker_table(stats: CacheStats, top: int) -> str:
    head = "<tr><th>ticker</th><th>lookups</th><th>L1</th><th>L2</th><th>miss</th><th>hit ratio</th><th>p95</th></tr>"
    rows = [
        f'<tr data-ticker="{_e(r["ticker"])}"><td>{_e(r["ticker"])}</td><td>{r["requests"]}</td><td>{r["l1"]}</td>'
        f"<td>{r['l2']}</td><td>{r['miss']}</td><td>{_pct(r['hit_ratio'])}</td><td>{_e(_ms(r['p95_ms']))}</td></tr>"
        for r in stats.by_ticker[:top]
    ]
    body = "".join(rows) or '<tr><td colspan="7">no lookups in this window</td></tr>'
    return f'<table id="table-tickers"><thead>{head}</thead><tbody>{body}</tbody></table>'


def render_dashboard(
    stats: CacheStats,
    *,
    title: str = "tickerlake report cache",
    generated_at: dt.datetime | None = None,
    top: int = 15,
) -> str:
    """The dashboard page for `stats` (a complete HTML document)."""
    generated = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    figures = [
        (
            "fig-tier-share",
            "The share of user lookups each tier answered, per UTC day; a day without lookups has no bar.",
            tier_share_chart(stats),
        ),
        (
            "fig-latency-tier",
            "What a request waited for its report (the lookup, plus the generation on a miss), "
            "p50 and p95 over the window.",
            latency_tier_chart(stats),
        ),
        (
            "fig-latency-day",
            "The p95 latency of each tier per UTC day; a gap is a day without lookups of that tier.",
            latency_day_chart(stats),
        ),
    ]
    body = "".join(
        f'<figure id="{fid}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'
        for fid, caption, svg in figures
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)} · {_e(stats.start)} to {_e(stats.end)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="window" data-start="{_e(stats.start)}" data-end="{_e(stats.end)}">'
        f"{_e(stats.start)} to {_e(stats.end)} (UTC days) · user lookups only · generated {_e(generated)}</p></header>"
        f'<section id="summary" class="cards">{_cards(stats)}</section>'
        f"{body}"
        f'<section id="tickers"><h2>Busiest tickers</h2>{_ticker_table(stats, top)}</section>'
        "</body></html>\n"
    )


def build_dashboard(
    store: Any, *, days: int = 14, today: str | dt.date | None = None, include_prewarm: bool = False
) -> str:
    """The dashboard of the last `days` UTC days of the event log in `store`."""
    stats = load_cache_stats(store, days=days, today=today, include_prewarm=include_prewarm)
    return render_dashboard(stats)


def publish_dashboard(page: str, *, store: Any | None = None, out: str | Path | None = None) -> list[str]:
    """Write the page to the lake (``ops/dashboard/index.html``) and/or the file `out`; where it went."""
    written = []
    data = page.encode("utf-8")
    if store is not None:
        key = layout.dashboard_key()
        store.put(key, data, content_type="text/html; charset=utf-8")
        written.append(f"{store.uri.rstrip('/')}/{key}")
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        written.append(str(path))
    return written
