"""The cache dashboard: one static HTML page with inline SVG charts, built from `CacheStats`.

No JavaScript, no external file, font or CDN (the page must render offline and from a private bucket):
the charts are SVG written here, and a Content-Security-Policy forbids loading anything else.

- summary cards: lookups, hit ratio, share of each tier, miss p95, errors;
- ``#fig-tier-share``: the share of answers by tier (l1 / l2 / miss) per day, stacked bars;
- ``#fig-latency-tier``: latency p50 and p95 per tier (log scale: an L1 hit is ~1 ms, a miss seconds);
- ``#fig-latency-day``: latency p95 per tier per day (log scale);
- the busiest tickers with their hit ratio.

Each bar and point carries ``data-*`` attributes (day, tier, value) and a ``<title>`` tooltip.
`build_dashboard(store, days=14)` renders the page from the event log; `publish_dashboard` writes it to
the lake (``ops/dashboard/index.html``) and/or a file.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

from lake import layout
from report_app.cache_events import TIERS
from report_app.cache_stats import CacheStats, load_cache_stats

__all__ = ["build_dashboard", "publish_dashboard", "render_dashboard"]

COLORS = {"l1": "#2e7d32", "l2": "#1565c0", "miss": "#ef6c00"}
LABELS = {"l1": "L1 (SQLite)", "l2": "L2 (object store)", "miss": "miss (generated)"}
WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 36, 48

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1d1d1f;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.window{color:#555;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 8px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card .value{display:block;font-size:22px;font-weight:600}.card .label{color:#555;font-size:13px}
figure{margin:24px 0;border:1px solid #eee;border-radius:8px;padding:12px}
figcaption{font-weight:600;margin-bottom:8px}
svg{display:block;width:100%;height:auto}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#333}
svg .axis line,svg .grid line{stroke:#ccc}svg .empty{font-size:16px;fill:#888}
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


def _svg_open(svg_id: str, label: str) -> list[str]:
    return [
        f'<svg id="{_e(svg_id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{_e(label)}">'
    ]


def _legend(items: list[tuple[str, str, str]], y: int = 18) -> list[str]:
    parts, x = ['<g class="legend">'], LEFT
    for key, color, text in items:
        parts.append(
            f'<rect class="swatch" data-series="{_e(key)}" x="{x}" y="{y - 10}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="{y}">{_e(text)}</text>'
        )
        x += 28 + 8 * len(text)
    parts.append("</g>")
    return parts


def _empty(parts: list[str]) -> str:
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no lookups in this window</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _log_scale(values: list[float]) -> tuple[float, float]:
    positive = [v for v in values if v is not None and v > 0]
    if not positive:
        return 0.0, 1.0
    low = math.floor(math.log10(min(positive)))
    high = math.ceil(math.log10(max(positive)))
    return float(low), float(high if high > low else low + 1)


def _log_axis(low: float, high: float, plot_h: float) -> tuple[list[str], Any]:
    def y_of(value: float) -> float:
        value = max(value, 10**low)
        return TOP + plot_h - (math.log10(value) - low) / (high - low) * plot_h

    parts = ['<g class="grid">']
    for power in range(int(low), int(high) + 1):
        y = y_of(10.0**power)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(_ms(10.0**power))}</text>')
    parts.append("</g>")
    return parts, y_of


def tier_share_chart(stats: CacheStats) -> str:
    """Stacked bars: the share of each tier per day."""
    parts = _svg_open("chart-tier-share", "Share of answers by cache tier per day")
    parts += _legend([(t, COLORS[t], LABELS[t]) for t in TIERS])
    if not stats.requests:
        return _empty(parts)
    plot_h = HEIGHT - TOP - BOTTOM
    band = (WIDTH - LEFT - RIGHT) / max(1, len(stats.by_day))
    parts.append('<g class="grid">')
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = TOP + plot_h * (1 - share)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{share * 100:.0f}%</text>')
    parts.append("</g>")
    step = max(1, math.ceil(len(stats.by_day) / 14))  # at most ~14 date labels
    for i, row in enumerate(stats.by_day):
        x = LEFT + i * band + band * 0.15
        width = band * 0.7
        if i % step == 0:
            parts.append(
                f'<text class="day" x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                f"{_e(row['day'][5:])}</text>"
            )
        if not row["requests"]:
            continue
        bottom = TOP + plot_h
        for tier in TIERS:
            share = row[f"{tier}_share"] or 0.0
            if share <= 0:
                continue
            h = share * plot_h
            bottom -= h
            parts.append(
                f'<rect class="bar tier-{tier}" data-day="{_e(row["day"])}" data-tier="{tier}" '
                f'data-share="{share}" data-count="{row[tier]}" x="{x:.1f}" y="{bottom:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}" fill="{COLORS[tier]}">'
                f"<title>{_e(row['day'])} {tier}: {_pct(share)} ({row[tier]} of {row['requests']})</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def latency_tier_chart(stats: CacheStats) -> str:
    """Grouped bars: latency p50 and p95 per tier, log scale."""
    parts = _svg_open("chart-latency-tier", "Latency p50 and p95 by cache tier")
    parts += _legend([("p50", "#90a4ae", "p50"), ("p95", "#37474f", "p95")])
    rows = [row for row in stats.by_tier if row["requests"]]
    if not rows:
        return _empty(parts)
    plot_h = HEIGHT - TOP - BOTTOM
    low, high = _log_scale([row["p50_ms"] for row in rows] + [row["p95_ms"] for row in rows])
    grid, y_of = _log_axis(low, high, plot_h)
    parts += grid
    band = (WIDTH - LEFT - RIGHT) / len(TIERS)
    for i, tier in enumerate(TIERS):
        row = next((r for r in rows if r["tier"] == tier), None)
        center = LEFT + i * band + band / 2
        parts.append(
            f'<text class="tier" x="{center:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{_e(LABELS[tier])}</text>'
        )
        if row is None:
            continue
        for j, (name, color) in enumerate((("p50", "#90a4ae"), ("p95", "#37474f"))):
            value = row[f"{name}_ms"]
            if value is None:
                continue
            y = y_of(value)
            x = center - band * 0.3 + j * band * 0.3
            parts.append(
                f'<rect class="bar latency {name} tier-{tier}" data-tier="{tier}" data-stat="{name}" '
                f'data-ms="{value}" x="{x:.1f}" y="{y:.1f}" width="{band * 0.28:.1f}" '
                f'height="{TOP + plot_h - y:.1f}" fill="{color}" stroke="{COLORS[tier]}" stroke-width="2">'
                f"<title>{tier} {name}: {_e(_ms(value))}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def latency_day_chart(stats: CacheStats) -> str:
    """Lines: latency p95 per tier per day, log scale."""
    parts = _svg_open("chart-latency-day", "Latency p95 by cache tier per day")
    parts += _legend([(t, COLORS[t], f"{LABELS[t]} p95") for t in TIERS])
    if not stats.by_day_tier:
        return _empty(parts)
    plot_h = HEIGHT - TOP - BOTTOM
    low, high = _log_scale([row["p95_ms"] for row in stats.by_day_tier])
    grid, y_of = _log_axis(low, high, plot_h)
    parts += grid
    days = [row["day"] for row in stats.by_day]
    band = (WIDTH - LEFT - RIGHT) / max(1, len(days))
    x_of = {day: LEFT + i * band + band / 2 for i, day in enumerate(days)}
    step = max(1, math.ceil(len(days) / 14))
    for i, day in enumerate(days):
        if i % step == 0:
            parts.append(
                f'<text class="day" x="{x_of[day]:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{_e(day[5:])}</text>'
            )
    for tier in TIERS:
        points = [
            (row["day"], row["p95_ms"])
            for row in stats.by_day_tier
            if row["tier"] == tier and row["p95_ms"] is not None
        ]
        if not points:
            continue
        coords = " ".join(f"{x_of[day]:.1f},{y_of(value):.1f}" for day, value in points)
        parts.append(
            f'<polyline class="line tier-{tier}" data-tier="{tier}" points="{coords}" fill="none" stroke="{COLORS[tier]}" stroke-width="2"/>'
        )
        for day, value in points:
            parts.append(
                f'<circle class="point tier-{tier}" data-day="{_e(day)}" data-tier="{tier}" data-ms="{value}" '
                f'cx="{x_of[day]:.1f}" cy="{y_of(value):.1f}" r="4" fill="{COLORS[tier]}">'
                f"<title>{_e(day)} {tier} p95: {_e(_ms(value))}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


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
        ("fig-tier-share", "Answers by cache tier per day (share of lookups)", tier_share_chart(stats)),
        ("fig-latency-tier", "Latency by tier, p50 and p95 (log scale)", latency_tier_chart(stats)),
        ("fig-latency-day", "Latency p95 by tier per day (log scale)", latency_day_chart(stats)),
    ]
    body = "".join(
        f'<figure id="{fid}"><figcaption>{_e(caption)}</figcaption>{svg}</figure>'
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
