"""The cache dashboard: static HTML with matplotlib charts inlined as SVG, written to the lake / a file.

The charts are read back from the page (each ``<svg>`` parsed as XML) and measured: a bar's height over the
plot area's height is the share it draws, and on the log charts every bar top and point lies on one
log-linear scale of whole decades. Elements are found by the matplotlib ``gid`` the dashboard gives them.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from typer.testing import CliRunner

from lake import layout
from lake.store import LocalStore
from report_app import dashboard
from report_app.cache_events import CacheEvent, CacheEventLog, events_frame
from report_app.cache_stats import CacheStats, compute_cache_stats
from report_app.dashboard import publish_dashboard, render_dashboard
from tests.browser import dump_dom, png_is_blank, screenshot
from tickerlake_cli.main import app as cli

START = dt.datetime(2025, 11, 10, 3, tzinfo=dt.UTC)
SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
CHARTS = ("chart-tier-share", "chart-latency-tier", "chart-latency-day")


def traffic() -> list[CacheEvent]:
    """Three days: day 1 all misses, then warmer; one ticker busier than the other."""
    events = []
    plan = {0: ["miss", "miss", "l2"], 1: ["miss", "l2", "l1", "l1"], 2: ["l2", "l1", "l1", "l1", "l1"]}
    for day, tiers in plan.items():
        for i, tier in enumerate(tiers):
            events.append(
                CacheEvent(
                    ts=START + dt.timedelta(days=day, minutes=i),
                    ticker="D05.SI" if i % 3 else "O39.SI",
                    date="2025-11-10",
                    lang="th",
                    tier=tier,
                    lookup_ms={"l1": 0.8, "l2": 45.0, "miss": 30.0}[tier] + i,
                    generate_ms=1200.0 + i if tier == "miss" else None,
                )
            )
    return events


def day_row(day: str, l1: int = 0, l2: int = 0, miss: int = 0) -> dict:
    total = l1 + l2 + miss
    counts = {"l1": l1, "l2": l2, "miss": miss}
    shares = {f"{t}_share": (n / total if total else None) for t, n in counts.items()}
    return {"day": day, "requests": total, **counts, **shares, "hit_ratio": None, "p95_ms": None}


def tier_row(tier: str, requests: int, p50: float | None, p95: float | None) -> dict:
    return {"tier": tier, "requests": requests, "share": None, "p50_ms": p50, "p95_ms": p95}


def handmade(**changes) -> CacheStats:
    """Round numbers: two days (8 and 4 lookups), latencies on and between decades, l2 p95 of 100 ms."""
    values = {
        "start": "2025-11-10",
        "end": "2025-11-11",
        "requests": 12,
        "hits": 9,
        "by_day": [day_row("2025-11-10", l1=4, l2=2, miss=2), day_row("2025-11-11", l1=1, l2=2, miss=1)],
        "by_tier": [tier_row("l1", 5, 1.0, 2.0), tier_row("l2", 4, 50.0, 100.0), tier_row("miss", 3, 1000.0, 3000.0)],
        "by_day_tier": [
            {"day": "2025-11-10", "tier": "l1", "requests": 4, "p95_ms": 2.0},
            {"day": "2025-11-10", "tier": "miss", "requests": 2, "p95_ms": 3000.0},
            {"day": "2025-11-11", "tier": "l1", "requests": 1, "p95_ms": 1.0},
            {"day": "2025-11-11", "tier": "l2", "requests": 2, "p95_ms": 100.0},
        ],
    }  # fmt: skip
    return CacheStats(**{**values, **changes})


def charts(page: str) -> dict[str, ET.Element]:
    """Every inline chart of the page, parsed as XML (so also proof that each is well-formed)."""
    found = {}
    for svg in re.findall(r"<svg\b.*?</svg>", page, re.S):
        root = ET.fromstring(svg)
        found[root.get("id")] = root
    return found


def by_id(root: ET.Element, gid: str) -> ET.Element:
    matches = [element for element in root.iter() if element.get("id") == gid]
    assert len(matches) == 1, f"{gid}: {len(matches)} elements"
    return matches[0]


def ids(root: ET.Element, pattern: str) -> set[str]:
    return {element.get("id") for element in root.iter() if re.fullmatch(pattern, element.get("id") or "")}


def y_extent(group: ET.Element) -> tuple[float, float]:
    """(top, bottom) in SVG units of the first path in `group` (SVG y grows downwards)."""
    path = next(group.iter(f"{SVG}path"))
    ys = [float(y) for y in re.findall(r"[-\d.]+ ([-\d.]+)", path.get("d"))]
    return min(ys), max(ys)


def marker_y(group: ET.Element) -> float:
    return float(next(group.iter(f"{SVG}use")).get("y"))


def tooltip(group: ET.Element) -> str:
    return group.find(f"{SVG}title").text


def assert_log_scale(plot: tuple[float, float], drawn: dict[str, tuple[float, float]]) -> None:
    """Every (y, value) lies on one scale y = bottom - k·(log10 value - low), with `low` and the plot's
    height whole decades."""
    top, bottom = plot
    (y_a, v_a), (y_b, v_b) = max(drawn.values(), key=lambda p: p[1]), min(drawn.values(), key=lambda p: p[1])
    k = (y_b - y_a) / (math.log10(v_a) - math.log10(v_b))  # SVG units per decade
    low = math.log10(v_b) - (bottom - y_b) / k
    assert low == pytest.approx(round(low), abs=1e-3)
    assert (bottom - top) / k == pytest.approx(round((bottom - top) / k), abs=1e-3)
    for name, (y, value) in drawn.items():
        assert y == pytest.approx(bottom - k * (math.log10(value) - low), abs=0.05), name


@pytest.fixture
def stats():
    return compute_cache_stats(events_frame(traffic()), start="2025-11-10", end="2025-11-12")


@pytest.fixture
def page(stats) -> str:
    return render_dashboard(stats, generated_at=dt.datetime(2025, 11, 12, 12, tzinfo=dt.UTC))


def test_the_page_has_the_three_figures_each_with_its_chart_title_and_caption(page):
    found = charts(page)
    titles = {
        "chart-tier-share": "Answers by cache tier per day",
        "chart-latency-tier": "Latency by cache tier: p50 and p95",
        "chart-latency-day": "Latency p95 by cache tier per day",
    }
    for figure, chart in zip(("fig-tier-share", "fig-latency-tier", "fig-latency-day"), CHARTS, strict=True):
        assert re.search(rf'<figure id="{figure}"><svg [^>]*id="{chart}"', page)
        texts = {text.text for text in found[chart].iter(f"{SVG}text")}
        assert titles[chart] in texts
    assert page.count("<figcaption>") == 3


def test_charts_have_axis_labels_and_a_legend_of_every_tier(page):
    texts = {chart: {text.text for text in root.iter(f"{SVG}text")} for chart, root in charts(page).items()}
    assert {"day (UTC)", "share of lookups", "L1 (SQLite)", "L2 (object store)", "miss (generated)"} <= texts[
        "chart-tier-share"
    ]
    assert {"cache tier", "latency (log scale)", "p50", "p95"} <= texts["chart-latency-tier"]
    assert {"day (UTC)", "latency p95 (log scale)", "L1 (SQLite) p95", "miss (generated) p95"} <= texts[
        "chart-latency-day"
    ]


def test_one_stacked_bar_per_day_and_tier_with_lookups(page):
    assert ids(charts(page)["chart-tier-share"], r"share-.*") == {
        "share-miss-2025-11-10", "share-l2-2025-11-10",
        "share-miss-2025-11-11", "share-l2-2025-11-11", "share-l1-2025-11-11",
        "share-l2-2025-11-12", "share-l1-2025-11-12",
    }  # fmt: skip


def test_bar_heights_are_the_shares_and_stack_to_the_full_plot():
    chart = charts(render_dashboard(handmade()))["chart-tier-share"]
    top, bottom = y_extent(by_id(chart, "chart-tier-share-plot"))
    expected = {("l1", "2025-11-10"): 0.5, ("l2", "2025-11-10"): 0.25, ("miss", "2025-11-10"): 0.25,
                ("l1", "2025-11-11"): 0.25, ("l2", "2025-11-11"): 0.5, ("miss", "2025-11-11"): 0.25}  # fmt: skip
    for day in ("2025-11-10", "2025-11-11"):
        stack = bottom
        for tier in ("l1", "l2", "miss"):  # stacked from the axis up in this order
            bar_top, bar_bottom = y_extent(by_id(chart, f"share-{tier}-{day}"))
            assert bar_bottom == pytest.approx(stack, abs=0.01)
            assert (bar_bottom - bar_top) / (bottom - top) == pytest.approx(expected[tier, day], abs=1e-4)
            stack = bar_top
        assert stack == pytest.approx(top, abs=0.01)


def test_each_bar_has_a_tooltip_with_its_share_and_counts(page):
    chart = charts(page)["chart-tier-share"]
    assert tooltip(by_id(chart, "share-l1-2025-11-11")) == "2025-11-11 L1 (SQLite): 50.0% (2 of 4)"
    assert tooltip(by_id(chart, "share-miss-2025-11-10")) == "2025-11-10 miss (generated): 66.7% (2 of 3)"


def test_latency_bars_sit_on_one_log_scale_at_their_p50_and_p95():
    chart = charts(render_dashboard(handmade()))["chart-latency-tier"]
    values = {"l1": (1.0, 2.0), "l2": (50.0, 100.0), "miss": (1000.0, 3000.0)}
    drawn = {}
    for tier, (p50, p95) in values.items():
        for stat, value in (("p50", p50), ("p95", p95)):
            group = by_id(chart, f"latency-{stat}-{tier}")
            drawn[f"{stat}-{tier}"] = (y_extent(group)[0], value)
            assert tooltip(group).endswith({1.0: "1.0 ms", 2.0: "2.0 ms", 50.0: "50.0 ms", 100.0: "100.0 ms",
                                            1000.0: "1.00 s", 3000.0: "3.00 s"}[value])  # fmt: skip
    assert_log_scale(y_extent(by_id(chart, "chart-latency-tier-plot")), drawn)


def test_latency_bars_of_the_event_log_match_its_stats(page, stats):
    chart = charts(page)["chart-latency-tier"]
    drawn = {}
    for row in stats.by_tier:
        for stat in ("p50", "p95"):
            drawn[f"{stat}-{row['tier']}"] = (
                y_extent(by_id(chart, f"latency-{stat}-{row['tier']}"))[0],
                row[f"{stat}_ms"],
            )
    assert len(drawn) == 6
    assert_log_scale(y_extent(by_id(chart, "chart-latency-tier-plot")), drawn)


def test_p95_points_per_tier_and_day_sit_on_the_log_scale_and_days_without_lookups_have_none():
    chart = charts(render_dashboard(handmade()))["chart-latency-day"]
    expected = {"p95-l1-2025-11-10": 2.0, "p95-miss-2025-11-10": 3000.0, "p95-l1-2025-11-11": 1.0,
                "p95-l2-2025-11-11": 100.0}  # fmt: skip
    assert ids(chart, r"p95-\w+-[\d-]+") == set(expected)
    assert ids(chart, r"p95-\w+") == {"p95-l1", "p95-l2", "p95-miss"}  # one line per tier
    drawn = {gid: (marker_y(by_id(chart, gid)), value) for gid, value in expected.items()}
    assert_log_scale(y_extent(by_id(chart, "chart-latency-day-plot")), drawn)
    assert (
        tooltip(by_id(chart, "p95-miss-2025-11-10")) == "2025-11-10 miss (generated) p95: 3.00 s (2 lookups)"
    )


def test_a_tier_without_lookups_is_named_and_a_zero_latency_does_not_break_the_log_scale():
    stats = handmade(
        by_tier=[
            tier_row("l1", 5, 0.0, 0.0),
            tier_row("l2", 0, None, None),
            tier_row("miss", 3, 800.0, 900.0),
        ]
    )
    chart = charts(render_dashboard(stats))["chart-latency-tier"]
    assert ids(chart, r"latency-.*") == {
        "latency-p50-l1",
        "latency-p95-l1",
        "latency-p50-miss",
        "latency-p95-miss",
    }
    assert "no lookups" in {text.text for text in chart.iter(f"{SVG}text")}
    plot_top, plot_bottom = y_extent(by_id(chart, "chart-latency-tier-plot"))
    zero_top, zero_bottom = y_extent(by_id(chart, "latency-p50-l1"))
    assert zero_top == pytest.approx(plot_bottom, abs=0.01)  # drawn at the floor, not below it
    assert tooltip(by_id(chart, "latency-p50-l1")).endswith("0.0 ms")


def test_the_summary_shows_the_hit_ratio(page):
    assert '<div class="card" data-metric="hit_ratio"><span class="value">75.0%</span>' in page  # 9 of 12


def test_an_empty_window_renders_a_titled_no_data_figure_per_chart():
    page = render_dashboard(compute_cache_stats(events_frame([]), start="2025-11-10", end="2025-11-12"))
    assert page.count("no lookups in this window") == 4  # three charts and the ticker table
    found = charts(page)
    assert set(found) == set(CHARTS)
    for chart, root in found.items():
        assert by_id(root, f"{chart}-no-data").find(f".//{SVG}text").text == "no lookups in this window"
        assert ids(root, r"(share|latency|p95)-.*") == set()
        assert root.find(f"{SVG}title").text  # still a titled, labelled figure


def test_a_long_window_labels_at_most_fourteen_days():
    days = [(dt.date(2025, 9, 1) + dt.timedelta(days=i)).isoformat() for i in range(60)]
    stats = handmade(start=days[0], end=days[-1], by_day=[day_row(day, l1=1) for day in days], by_day_tier=[])
    chart = charts(render_dashboard(stats))["chart-tier-share"]
    labels = [text.text for text in chart.iter(f"{SVG}text") if re.fullmatch(r"\d\d-\d\d", text.text or "")]
    assert 4 <= len(labels) <= 14 and labels[0] == "09-01"
    assert len(ids(chart, r"share-l1-.*")) == 60


def test_names_are_html_escaped_and_the_charts_stay_well_formed():
    hostile = "<img src=x onerror=alert(1)>&"
    stats = handmade(by_ticker=[{"ticker": hostile, "requests": 3, "l1": 1, "l2": 1, "miss": 1,
                                 "hit_ratio": 2 / 3, "p95_ms": 5.0}])  # fmt: skip
    page = render_dashboard(stats, title='Ops <b>"cache"</b> & co')
    assert "<img" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;" in page
    assert "<h1>Ops &lt;b&gt;&quot;cache&quot;&lt;/b&gt; &amp; co</h1>" in page
    assert set(charts(page)) == set(CHARTS)


def test_ids_are_unique_in_the_page_and_references_stay_inside_their_chart(page):
    all_ids = re.findall(r'\bid="([^"]+)"', page)
    assert [name for name, n in Counter(all_ids).items() if n > 1] == []
    for root in charts(page).values():
        own = {element.get("id") for element in root.iter() if element.get("id")}
        for element in root.iter():
            for name, value in element.attrib.items():
                targets = re.findall(r"url\(#([^)]+)\)", value)
                if name in ("href", XLINK_HREF):
                    targets.append(value.removeprefix("#"))
                assert set(targets) <= own, (name, value)


def test_the_page_loads_nothing_from_outside(page):
    assert "default-src 'none'" in page and "<script" not in page and "<?xml" not in page
    assert "<!DOCTYPE svg" not in page and "<metadata" not in page
    assert re.findall(r'\b(?:src|href)="(?!#)', page) == []  # every link is a fragment of the page
    assert re.findall(r"url\((?!#)", page) == []


def test_the_same_stats_give_the_same_charts(stats):
    assert dashboard.tier_share_chart(stats) == dashboard.tier_share_chart(stats)
    assert dashboard.latency_day_chart(stats) == dashboard.latency_day_chart(stats)


def test_no_hand_written_svg_shapes_remain():
    source = inspect.getsource(dashboard)
    for tag in ("<rect", "<polyline", "<circle", "<line", "<path", "<text", "<svg "):
        assert tag not in source, tag


def test_publish_writes_the_lake_copy_and_the_file(tmp_path, page):
    store = LocalStore(tmp_path / "lake")
    written = publish_dashboard(page, store=store, out=tmp_path / "out" / "cache.html")
    assert store.get(layout.dashboard_key()).data.decode() == page
    assert (tmp_path / "out" / "cache.html").read_text() == page
    assert len(written) == 2


def test_cli_dashboard_builds_from_the_event_log(tmp_path):
    store = LocalStore(tmp_path / "lake")
    log = CacheEventLog(store, background=False)
    for event in traffic():
        log.record(event)
    log.flush()
    out = tmp_path / "dash.html"
    result = CliRunner().invoke(
        cli,
        ["cache", "dashboard", "--lake", str(tmp_path / "lake"), "--days", "3", "--today", "2025-11-12",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ops/dashboard/index.html" in result.output
    chart = charts(out.read_text())["chart-tier-share"]
    assert tooltip(by_id(chart, "share-l1-2025-11-12")) == "2025-11-12 L1 (SQLite): 80.0% (4 of 5)"


def test_cli_dashboard_needs_somewhere_to_write(tmp_path):
    result = CliRunner().invoke(cli, ["cache", "dashboard", "--lake", str(tmp_path), "--no-lake-copy"])
    assert result.exit_code == 2 and "--out" in result.output


@pytest.mark.slow
def test_chromium_renders_the_charts(tmp_path, page):
    path = tmp_path / "index.html"
    path.write_text(page)
    dom = dump_dom(path.as_uri())
    assert len(re.findall(r"<figure id=\"fig-", dom)) == 3
    assert len(re.findall(r'<svg [^>]*id="chart-', dom)) == 3
    assert len(re.findall(r'<g id="share-\w+-[\d-]+"', dom)) == 7
    assert len(re.findall(r'<g id="p95-\w+-[\d-]+"', dom)) == 7  # p95 per tier per day present
    assert "<figcaption>" in dom and "Busiest tickers" in dom
    png = screenshot(path.as_uri(), tmp_path / "dashboard.png")
    assert not png_is_blank(png)
