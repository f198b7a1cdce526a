"""Data docs in the lake and the `tickerlake quality` commands."""

import datetime as dt
import json
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from lake import layout
from lake.api import Lake
from pipelines.quality import QualityConfig, check_dataset, load_reports
from pipelines.quality_docs import build_docs
from tests.fixtures.lake_data import fill_lake
from tickerlake_cli.main import app
from tickerlake_cli.quality_cmds import serve_docs

T, START, END = "D05.SI", "2025-03-03", "2025-03-31"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    lake = Lake.open(str(root))
    fill_lake(lake, T, START, END, datasets=("prices",))
    return lake


@pytest.fixture(scope="module")
def site(filled):
    report = check_dataset(
        filled, "prices", [T], START, END, config=QualityConfig(as_of=dt.date(2025, 3, 31))
    )
    return build_docs(filled, [report])


def test_docs_site_is_written_into_the_lake(filled, site):
    assert site.index_key == "quality/docs/index.html"
    for name in ("index.html", "prices.html", "results.json", "static/style.css"):
        assert filled.store.exists(layout.quality_docs_key(name))


def test_index_lists_each_suite_with_its_verdict(filled, site):
    index = filled.store.get(site.index_key).data.decode()
    assert "tickerlake.prices" in index
    assert '<a href="prices.html">prices</a>' in index
    assert '<span class="pass">PASS</span>' in index


def test_dataset_page_shows_results_and_the_suite(filled, site):
    page = filled.store.get(layout.quality_docs_key("prices.html")).data.decode()
    for text in ("range[close]", "completeness", "continuity", "expect_column_values_to_be_between"):
        assert text in page


def test_docs_reference_nothing_outside_the_site(filled, site):
    for key in site.keys:
        text = filled.store.get(key).data.decode()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), key
        assert "<script" not in text


def test_local_docs_location_is_a_file_path(filled, site):
    assert site.location == f"{filled.uri.removeprefix('file://')}/quality/docs/index.html"


def test_docs_without_reports_check_and_save_each_dataset(tmp_path):
    lake = Lake.open(str(tmp_path / "lake"))
    fill_lake(lake, T, START, "2025-03-07", datasets=("prices",), store_raw=False)
    build_docs(lake)
    assert len(load_reports(lake, "prices")) == 1
    assert load_reports(lake, "indicators") == []  # no month objects: nothing to check


@pytest.mark.s3
def test_docs_are_written_to_an_s3_lake(moto_server, s3_bucket, filled):
    lake = Lake.open(f"s3://{s3_bucket}/lake")
    lake.init()
    report = load_reports(filled, "prices")[:1] or [check_dataset(filled, "prices", [T], START, END)]
    site = build_docs(lake, report)
    assert site.location == f"s3://{s3_bucket}/lake/quality/docs/index.html"
    assert b"tickerlake.prices" in lake.store.get(site.index_key).data


def test_served_docs_answer_from_the_store_and_refuse_other_paths(filled, site):
    server = serve_docs(filled.store, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/") as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"tickerlake.prices" in response.read()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + "/../../.tickerlake/store.json")
        assert caught.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


runner = CliRunner()


def test_cli_check_prints_json_rows_and_exits_1_on_failure(filled):
    result = runner.invoke(app, ["quality", "check", "prices", "--lake", filled.uri, "--tickers", T,
                                 "--start", START, "--end", "2025-04-30", "--format", "json", "--no-save"])  # fmt: skip
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    completeness = next(row for row in rows if row["rule"] == "completeness")
    assert (completeness["dataset"], completeness["status"]) == ("prices", "fail")


def test_cli_check_exits_0_when_everything_passes(filled):
    result = runner.invoke(app, ["quality", "check", "prices", "--lake", filled.uri, "--start", START,
                                 "--end", END, "--no-save"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "prices D05.SI" in result.stdout


def test_cli_check_without_a_dataset_checks_every_dataset_with_data(filled):
    result = runner.invoke(app, ["quality", "check", "--lake", filled.uri, "--start", START, "--end", END,
                                 "--format", "json", "--no-save"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {row["dataset"] for row in json.loads(result.stdout)} == {"prices"}  # the only one written


def test_cli_check_of_a_lake_that_does_not_exist_names_it(tmp_path):
    result = runner.invoke(app, ["quality", "check", "--lake", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert str(tmp_path / "nowhere") in result.stderr and "does not exist" in result.stderr


def test_cli_check_refuses_an_unknown_dataset(filled):
    result = runner.invoke(app, ["quality", "check", "volumes", "--lake", filled.uri])
    assert result.exit_code == 2
    assert "dataset 'volumes' is not valid" in result.stderr


def test_cli_docs_prints_the_index_path(filled, site):
    result = runner.invoke(app, ["quality", "docs", "--lake", filled.uri])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("quality/docs/index.html")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_docs_render_in_headless_chromium(filled, site, tmp_path):
    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", f"file://{site.location.replace('index.html', 'prices.html')}"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "tickerlake.prices" in dom
    assert "Validation results" in dom and "range[close]" in dom
    assert '<span class="pass">PASS</span>' in dom
