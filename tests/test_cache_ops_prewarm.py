"""Pre-warm: which tickers (event log, PREWARM_TICKERS, universe) and generating + caching their reports."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from lake import layout
from lake.api import Lake
from lake.store import LocalStore
from report_app.cache import ReportCache
from report_app.cache_events import CacheEvent, CacheEventLog, read_cache_events
from report_app.prewarm import popular_tickers, prewarm_reports
from report_app.service import ReportService
from tests.cache_ops_fixtures import sample_lake
from tickerlake_cli.main import app as cli

TODAY = "2025-11-12"


def log_requests(store, counts: dict[str, int], origin: str = "request") -> None:
    log = CacheEventLog(store, background=False)
    t = dt.datetime(2025, 11, 12, 3, tzinfo=dt.UTC)
    for ticker, count in counts.items():
        for i in range(count):
            log.record(
                CacheEvent(t + dt.timedelta(seconds=i), ticker, "2025-11-11", "th", "l1", 1.0, origin=origin)
            )
    log.flush()


def test_popular_tickers_come_from_user_requests_busiest_first(tmp_path):
    store = LocalStore(tmp_path / "lake")
    log_requests(store, {"O39.SI": 3, "D05.SI": 5, "U11.SI": 3})
    log_requests(store, {"C6L.SI": 50}, origin="prewarm")  # the warm-up's own lookups do not count
    assert popular_tickers(store, 3, today=TODAY) == ["D05.SI", "O39.SI", "U11.SI"]


def test_popular_tickers_top_up_from_prewarm_tickers_then_the_universe(tmp_path, monkeypatch):
    from pipelines.sources.universe import load_universe

    store = LocalStore(tmp_path / "lake")
    log_requests(store, {"D05.SI": 2})
    monkeypatch.setenv("PREWARM_TICKERS", "SIA19, D05.SI")
    rest = [
        listing.yahoo_symbol
        for listing in load_universe()
        if listing.yahoo_symbol not in ("D05.SI", "C6L.SI")
    ]
    # the log's D05.SI, then PREWARM_TICKERS (SIA19 is C6L.SI; D05.SI only once), then the universe in order
    assert popular_tickers(store, 4, today=TODAY) == ["D05.SI", "C6L.SI", *rest[:2]]


def test_popular_tickers_without_any_log_is_the_universe_order(tmp_path):
    from pipelines.sources.universe import load_universe

    expected = [listing.yahoo_symbol for listing in load_universe()][:3]
    assert popular_tickers(LocalStore(tmp_path / "empty"), 3, today=TODAY) == expected


def test_an_unknown_prewarm_ticker_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PREWARM_TICKERS", "DBS91")
    with pytest.raises(ValueError, match="PREWARM_TICKERS names 'DBS91'.*DBS19"):
        popular_tickers(LocalStore(tmp_path / "empty"), 3, today=TODAY)


# ------------------------------------------------------------------------------------------ prewarm


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    sample_lake(root, report_days=1)
    return root


@pytest.fixture
def service(lake_dir, tmp_path):
    lake = Lake(LocalStore(lake_dir))
    store = LocalStore(tmp_path / "bucket")
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=store)
    events = CacheEventLog(LocalStore(tmp_path / "events"), background=False)
    return ReportService(lake, cache, store, events=events)


def test_prewarm_generates_and_caches_the_report_and_pdf(service):
    [result] = prewarm_reports(service, ["DBS19"], publish_activity=False)
    assert (result["ticker"], result["display"], result["date"]) == ("D05.SI", "DBS19", "2025-11-11")
    assert result["status"] == "generated" and result["langs"] == ["th", "en"]
    for lang in ("th", "en"):  # one PDF per language
        assert service.pdf_store.exists(layout.report_pdf_key("D05.SI", "2025-11-11", lang))
    assert result["pdf_keys"] == {
        "th": "reports/D05.SI/2025-11-11/th.pdf",
        "en": "reports/D05.SI/2025-11-11/en.pdf",
    }
    assert service.cache.get("D05.SI", "2025-11-11").tier == "l1"


def test_a_second_prewarm_finds_it_cached(service):
    prewarm_reports(service, ["DBS19"], publish_activity=False)
    [again] = prewarm_reports(service, ["DBS19"], publish_activity=False)
    assert again["status"] == "cached" and again["cache"] == "l1"


def test_refresh_regenerates_the_entry_and_the_pdf(service):
    prewarm_reports(service, ["DBS19"], publish_activity=False)
    key = layout.report_pdf_key("D05.SI", "2025-11-11", "en")
    versions = len(service.pdf_store.list_versions(key))
    [again] = prewarm_reports(service, ["DBS19"], refresh=True, publish_activity=False)
    assert again["status"] == "generated"
    assert len(service.pdf_store.list_versions(key)) == versions + 1


def test_one_failing_ticker_does_not_stop_the_others(service):
    results = prewarm_reports(service, ["O39.SI", "DBS19", "NOPE"], with_pdf=False, publish_activity=False)
    assert [r["status"] for r in results] == ["error", "generated", "error"]
    assert "O39.SI" in results[0]["error"] and "NOPE" in results[2]["error"]


def test_prewarm_lookups_are_recorded_as_prewarm(service):
    prewarm_reports(service, ["DBS19"], with_pdf=False, publish_activity=False)
    frame = read_cache_events(service.events.store)
    assert list(frame["origin"]) == ["prewarm"] and service.events.pending == 0


def test_prewarm_publishes_the_activity_for_the_adaptive_ttl(service):
    prewarm_reports(service, ["DBS19"], with_pdf=False)
    assert service.lake.store.exists(layout.cache_activity_key())


def test_prewarm_in_parallel_keeps_the_order(service):
    results = prewarm_reports(
        service, ["NOPE", "DBS19"], with_pdf=False, max_workers=2, publish_activity=False
    )
    assert [r["status"] for r in results] == ["error", "generated"]


def test_prewarm_refuses_an_unknown_language(service):
    with pytest.raises(ValueError, match="langs"):
        prewarm_reports(service, ["DBS19"], langs=("fr",))


def test_prewarm_from_a_lake_uri_builds_and_closes_its_service(lake_dir, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(lake_dir, root)
    [result] = prewarm_reports(str(root), ["DBS19"], with_pdf=False, publish_activity=False)
    assert result["status"] == "generated"
    assert list(read_cache_events(LocalStore(root))["origin"]) == ["prewarm"]


def test_cli_prewarm_json_and_exit_code(lake_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(lake_dir, root)
    result = CliRunner().invoke(
        cli,
        ["cache", "prewarm", "--lake", str(root), "--tickers", "DBS19,NOPE", "--no-pdf", "--format", "json"],
    )
    assert result.exit_code == 1  # one ticker failed
    assert [row["status"] for row in json.loads(result.stdout)] == ["generated", "error"]
