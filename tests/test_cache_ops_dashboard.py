"""The cache dashboard: static HTML with inline SVG charts, written to the lake / a file, seen by Chromium."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from typer.testing import CliRunner

from lake import layout
from lake.store import LocalStore
from report_app.cache_events import CacheEvent, CacheEventLog, events_frame
from report_app.cache_stats import compute_cache_stats
from report_app.dashboard import publish_dashboard, render_dashboard
from tests.browser import dump_dom, png_is_blank, screenshot
from tickerlake_cli.main import app as cli

START = dt.datetime(2025, 11, 10, 3, tzinfo=dt.UTC)


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


@pytest.fixture
def stats():
    return compute_cache_stats(events_frame(traffic()), start="2025-11-10", end="2025-11-12")


@pytest.fixture
def page(stats) -> str:
    return render_dashboard(stats, generated_at=dt.datetime(2025, 11, 12, 12, tzinfo=dt.UTC))


def test_the_page_has_the_three_figures_with_captions(page):
    for figure in ("fig-tier-share", "fig-latency-tier", "fig-latency-day"):
        assert f'<figure id="{figure}"><figcaption>' in page


def test_one_stacked_bar_per_day_and_tier_present(page):
    bars = re.findall(r'<rect class="bar tier-(\w+)" data-day="([\d-]+)"', page)
    assert sorted(bars) == sorted(
        [("miss", "2025-11-10"), ("l2", "2025-11-10"), ("miss", "2025-11-11"), ("l2", "2025-11-11"),
         ("l1", "2025-11-11"), ("l2", "2025-11-12"), ("l1", "2025-11-12")]
    )  # fmt: skip


def test_bar_shares_of_a_day_add_up_to_one(page):
    shares = re.findall(r'data-day="2025-11-11" data-tier="\w+" data-share="([\d.]+)"', page)
    assert sum(float(s) for s in shares) == pytest.approx(1.0, abs=1e-3)


def test_latency_bars_for_p50_and_p95_of_each_tier(page):
    bars = re.findall(r'class="bar latency (p50|p95) tier-(\w+)"', page)
    assert len(bars) == 6 and {tier for _, tier in bars} == {"l1", "l2", "miss"}


def test_the_summary_shows_the_hit_ratio(page):
    assert '<div class="card" data-metric="hit_ratio"><span class="value">75.0%</span>' in page  # 9 of 12


def test_the_page_loads_nothing_from_outside(page):
    assert "default-src 'none'" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_an_empty_window_renders_placeholders_not_errors():
    page = render_dashboard(compute_cache_stats(events_frame([]), start="2025-11-10", end="2025-11-12"))
    assert page.count("no lookups in this window") == 4  # three charts and the ticker table


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
        [
            "cache",
            "dashboard",
            "--lake",
            str(tmp_path / "lake"),
            "--days",
            "3",
            "--today",
            "2025-11-12",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ops/dashboard/index.html" in result.output
    assert 'data-day="2025-11-12"' in out.read_text()


def test_cli_dashboard_needs_somewhere_to_write(tmp_path):
    result = CliRunner().invoke(cli, ["cache", "dashboard", "--lake", str(tmp_path), "--no-lake-copy"])
    assert result.exit_code == 2 and "--out" in result.output


@pytest.mark.slow
def test_chromium_renders_the_charts(tmp_path, page):
    path = tmp_path / "index.html"
    path.write_text(page)
    dom = dump_dom(path.as_uri())
    assert len(re.findall(r"<figure id=\"fig-", dom)) == 3
    assert len(re.findall(r'<rect class="bar tier-', dom)) == 7
    assert len(re.findall(r'<circle class="point tier-', dom)) == 7  # p95 per tier per day present
    assert "<figcaption>" in dom and "Busiest tickers" in dom
    png = screenshot(path.as_uri(), tmp_path / "dashboard.png")
    assert not png_is_blank(png)
