"""The report end to end: a lake filled from the sample source, the service, the cache, PDFs, the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import urllib.parse

import pypdf
import pytest
from typer.testing import CliRunner

from lake.api import Lake
from lake.store import LocalStore, S3Store
from pipelines import COMPUTATION_VERSION
from pipelines.exceptions import UnknownTicker
from report_app.cache import ReportCache
from report_app.formatting import format_value
from report_app.report import ReportDataNotFound, has_indicators, load_report_data
from report_app.service import ReportService
from tests.fixtures.lake_data import fill_lake, sample_envelopes
from tests.moto_server import free_port
from tests.report_factory import build_sample_lake
from tests.test_report_narrative import FakeLLM, llm_answer
from tickerlake_cli.main import app as cli

DATE = "2025-11-11"


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    info = build_sample_lake(Lake(LocalStore(root)))
    return root, info


@pytest.fixture
def lake(lake_dir):
    return Lake(LocalStore(lake_dir[0]))


@pytest.fixture
def info(lake_dir):
    return lake_dir[1]


@pytest.fixture
def service(lake, tmp_path):
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=lake.store)
    return ReportService(lake, cache, lake.store, url_expiration_hours=1)


def test_report_data_comes_from_the_precomputed_rows_without_prices(lake, info):
    assert lake.months("prices") == []  # no prices in this lake at all
    data = load_report_data(lake, "D05.SI", display="DBS19")
    assert data.date == DATE  # the latest date with indicators
    last = info["indicators"].iloc[-1]
    assert data.indicators["rsi_14"] == pytest.approx(last["rsi_14"])
    assert data.percentiles["rsi_14_percentile"] == pytest.approx(
        info["percentiles"].iloc[-1]["rsi_14_percentile"]
    )
    assert data.features["ret_20d"] == pytest.approx(info["features"].iloc[-1]["ret_20d"])
    assert data.facts["name"] == "DBS Group Holdings Ltd"
    assert len(data.history) == 120
    datasets = {s.dataset: s for s in data.sources}
    assert set(datasets) == {"indicators", "percentiles", "features", "raw"}
    assert (
        datasets["indicators"].version_id
        and datasets["indicators"].computation_version == COMPUTATION_VERSION["indicators"]
    )
    assert datasets["raw"].key == info["raw"][DATE].key


def test_report_for_an_earlier_date_uses_that_dates_rows(lake, info):
    data = load_report_data(lake, "D05.SI", info["dates"][-2])
    assert data.indicators["close"] == pytest.approx(info["indicators"].iloc[-2]["close"])


def test_missing_percentiles_is_a_clear_error(lake, info):
    with pytest.raises(ReportDataNotFound, match="percentiles"):
        load_report_data(lake, "D05.SI", info["dates"][-10])


def test_facts_come_from_the_raw_fetch_named_in_the_rows_lineage(lake, info):
    day = info["dates"][-2]
    data = load_report_data(lake, "D05.SI", day)
    raw = {s.dataset: s for s in data.sources}["raw"]
    assert (raw.key, raw.version_id) == (info["raw"][day].key, info["raw"][day].version_id)
    assert raw.key != info["raw"][DATE].key  # not simply the newest fetch
    assert data.facts["currency"] == "SGD"


def test_sources_name_the_month_objects_and_the_rows_lineage(lake, info):
    data = load_report_data(lake, "D05.SI")
    indicators = {s.dataset: s for s in data.sources}["indicators"]
    assert indicators.key == "processed/indicators/month=2025-11/data.parquet"
    assert indicators.version_id == lake.month_versions("indicators", "2025-11")[0].version_id
    assert (indicators.source_raw_key, indicators.run_id) == (info["raw"][DATE].key, "test-run")


def _small_lake(root, ticker="D05.SI", start="2025-03-03", end="2025-04-30", **kwargs):
    lake = Lake(LocalStore(root))
    fill_lake(lake, ticker, start, end, datasets=("indicators", "percentiles"), **kwargs)
    return lake


def test_facts_fall_back_to_the_tickers_fetch_when_the_lineage_raw_is_gone(tmp_path):
    lake = _small_lake(tmp_path / "lake", store_raw=False)  # rows name a raw key that was never stored
    later = dt.datetime(2025, 5, 2, 12, tzinfo=dt.UTC)
    (envelope,) = sample_envelopes("D05.SI", "2025-04-01", "2025-04-30", fetched_at=later)
    stored = lake.put_raw(envelope, ticker="D05.SI", source="sample")
    data = load_report_data(lake, "D05.SI")
    assert data.facts["name"] == "DBS Group Holdings Ltd"
    assert {s.dataset: s for s in data.sources}["raw"].key == stored.key


def test_report_without_any_raw_fetch_goes_on_without_facts(tmp_path):
    data = load_report_data(_small_lake(tmp_path / "lake", store_raw=False), "D05.SI")
    assert data.facts == {} and "raw" not in {s.dataset for s in data.sources}
    assert data.name == "D05.SI"


def test_a_symbol_outside_the_universe_is_served_when_it_has_recent_indicators(tmp_path):
    lake = _small_lake(tmp_path / "lake", "ZZZ.SI", store_raw=False)
    service = ReportService(lake, ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db"))
    assert service.resolve("zzz.si") == ("ZZZ.SI", "ZZZ.SI")
    with pytest.raises(UnknownTicker):
        service.resolve("ZZY.SI")
    fill_lake(lake, "D05.SI", "2025-06-02", "2025-06-30", datasets=("indicators",), store_raw=False)
    assert has_indicators(lake, "ZZZ.SI") and not has_indicators(lake, "ZZZ.SI", months=1)
    assert has_indicators(lake, "D05.SI", months=1)


def test_service_answers_dr_and_yahoo_symbols_through_the_cache(service, info):
    first = service.report("dbs19", lang="en")
    assert (first.symbol, first.display, first.date, first.cache) == ("D05.SI", "DBS19", DATE, "miss")
    assert format_value("rsi_14", float(info["indicators"].iloc[-1]["rsi_14"])) in first.text
    again = service.report("D05.SI", lang="th")
    assert again.cache == "l1"
    assert "เรื่องราวของหุ้น" in again.text  # both languages were built on the miss


def test_service_suggests_for_an_unknown_ticker(service):
    with pytest.raises(UnknownTicker) as raised:
        service.report("DBS91")
    assert raised.value.suggestion == "DBS19"


def test_pdf_is_generated_once_and_linked(service, lake):
    first = service.report("DBS19")
    key = f"reports/D05.SI/{DATE}/th.pdf"
    assert first.pdf_key == key and first.pdf_url
    service.cache.l1.clear()
    service.report("DBS19")
    assert len(lake.store.list_versions(key)) == 1  # head before generating: not written twice
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(lake.store.get(key).data)).pages)
    assert "DBS19" in text and "D05.SI" in text


def test_llm_narrative_through_the_service(lake, tmp_path):
    cache = ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db")
    result = ReportService(lake, cache, None, llm_client=FakeLLM(llm_answer())).report("DBS19", lang="en")
    assert "llm" == result.document.narrative("en").source
    assert "{{" not in result.text and result.pdf_url is None


def test_pdf_bucket_on_s3_gets_cache_and_pdfs_with_expiring_urls(lake, s3_bucket, monkeypatch, tmp_path):
    S3Store(f"s3://{s3_bucket}").client.create_bucket(Bucket=s3_bucket)
    monkeypatch.setenv("PDF_BUCKET_NAME", s3_bucket)
    monkeypatch.setenv("PDF_URL_EXPIRATION_HOURS", "2")
    lake_cache_key = f"cache/reports/D05.SI/{DATE}/report.json"
    before = len(lake.store.list_versions(lake_cache_key)) if lake.store.exists(lake_cache_key) else 0
    service = ReportService.from_settings(lake=lake, llm_client=None)
    result = service.report("DBS19")
    bucket = S3Store(f"s3://{s3_bucket}")
    assert bucket.exists(f"cache/reports/D05.SI/{DATE}/report.json")
    assert bucket.exists(f"cache/reports/D05.SI/{DATE}/chart.b64")
    assert bucket.exists(f"reports/D05.SI/{DATE}/th.pdf")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(result.pdf_url).query)
    assert query["X-Amz-Expires"] == ["7200"]
    after = len(lake.store.list_versions(lake_cache_key)) if lake.store.exists(lake_cache_key) else 0
    assert after == before  # nothing went to the lake's own store


def test_s3_down_the_report_still_answers_and_warns(lake, tmp_path, caplog):
    dead = S3Store("s3://gone", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=dead)
    service = ReportService(lake, cache, dead)
    caplog.set_level(logging.WARNING)
    result = service.report("DBS19")
    assert result.cache == "miss" and result.text and result.pdf_url is None
    assert service.report("DBS19").cache == "l1"
    assert "S3 is unreachable" in caplog.text and "pdf unavailable" in caplog.text


# ------------------------------------------------------------------------------------------- CLI


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_report_json_shows_the_cache_tier(lake_dir, tmp_path, monkeypatch):
    root = str(lake_dir[0])
    first = run("report", "DBS19", "--json", "--lake", root, "--lang", "en")
    assert first.exit_code == 0, first.output
    body = json.loads(first.stdout)
    assert body["ticker"] == "DBS19" and body["date"] == DATE and body["cache"] in ("miss", "l2")
    assert "Recommendation:" in body["text"] and body["pdf_url"].startswith("file://")
    assert json.loads(run("report", "DBS19", "--json", "--lake", root).stdout)["cache"] == "l1"
    monkeypatch.setenv("CACHE_SQLITE_PATH", str(tmp_path / "fresh" / "cache.db"))  # a new instance
    assert json.loads(run("report", "D05.SI", "--json", "--lake", root).stdout)["cache"] == "l2"


def test_cli_report_writes_the_pdf(lake_dir, tmp_path):
    out = tmp_path / "r.pdf"
    result = run("report", "DBS19", "--out", str(out), "--lake", str(lake_dir[0]))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_cli_report_out_a_folder_or_below_a_file_is_one_line_and_writes_nothing(lake_dir, tmp_path):
    a_file = tmp_path / "taken.pdf"
    a_file.write_bytes(b"keep me")
    for out, fragment in ((tmp_path, "is a folder"), (a_file / "x.pdf", "is a file")):
        result = run("report", "DBS19", "--out", str(out), "--lake", str(lake_dir[0]))
        assert result.exit_code == 2, result.output
        assert fragment in result.stderr and str(out) in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert a_file.read_bytes() == b"keep me" and not list(tmp_path.glob("*.pdf.*"))


def test_cli_unknown_ticker_exits_2_with_a_suggestion(lake_dir):
    result = run("report", "DBS91", "--lake", str(lake_dir[0]))
    assert result.exit_code == 2
    assert "did you mean DBS19?" in result.stderr


def test_cli_ticker_without_data_exits_2(lake_dir):
    result = run("report", "UOB19", "--lake", str(lake_dir[0]))
    assert result.exit_code == 2
    assert "U11.SI" in result.stderr and "Traceback" not in result.output


def test_cli_bad_date_exits_2(lake_dir):
    result = run("report", "DBS19", "--date", "2025-13-40", "--lake", str(lake_dir[0]))
    assert result.exit_code == 2 and "2025-13-40" in result.stderr


def test_cli_bot_serve_refuses_without_line_credentials():
    result = run("bot", "serve", "--port", "0")
    assert result.exit_code == 2
    assert "LINE_CHANNEL_SECRET" in result.stderr and "LINE_CHANNEL_ACCESS_TOKEN" in result.stderr


def test_webhook_to_fake_line_server_with_the_real_service(service, tmp_path):
    from report_app.line_bot import LineWebhookApp, SeenEvents, event_body
    from tests.test_line_webhook import SECRET, TOKEN, FakeLineApi, post, text_event

    api = FakeLineApi()
    try:
        app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=api.url, seen=SeenEvents(tmp_path / "s.db"))
        assert post(app, event_body([text_event("DBS19 en", event_id="01HREAL")])).status == 200
        assert post(app, event_body([text_event("DBS19 en", event_id="01HREAL")])).status == 200  # duplicate
        assert post(app, event_body([text_event("DBS91", event_id="01HTYPO")])).status == 200
    finally:
        api.close()
    assert len(api.replies) == 2
    report, typo = ([m["text"] for m in r["body"]["messages"]] for r in api.replies)
    assert report[0].startswith("📊 Stock report DBS19 (D05.SI)")
    assert f"reports/D05.SI/{DATE}/en.pdf" in report[-1]
    assert all(len(t) <= 5000 for t in report) and len(report) <= 5
    assert "DBS19" in typo[0] and "did you mean" in typo[0]
