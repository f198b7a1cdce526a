"""Issue 16, report bot: one PDF per language, and dates without a session — on both lake backends.

The lake is built the way the daily pipeline fills it (`build_sample_lake`, sample source on the SGX
calendar) up to 2025-04-02: the sessions around the end of March are 2025-03-27, 03-28 (Friday), then
04-01 — 2025-03-29/30 are a weekend and 2025-03-31 (Hari Raya Puasa) an SGX holiday.
"""

from __future__ import annotations

import io
import json

import pypdf
import pytest
from typer.testing import CliRunner

from lake import layout
from lake.exceptions import InvalidArgumentValue
from report_app.cache import ReportCache
from report_app.prewarm import prewarm_reports
from report_app.report import ReportDataNotFound, session_on_or_before
from report_app.service import ReportService
from tests.report_factory import build_sample_lake
from tickerlake_cli.main import app as cli

END = "2025-04-02"
HOLIDAY, SATURDAY, FRIDAY = "2025-03-31", "2025-03-29", "2025-03-28"


@pytest.fixture
def filled(lake):
    """`lake` (local folder, then S3 on the moto server) with DBS19's precomputed rows up to END."""
    build_sample_lake(lake, end=END, sessions=260, chart_sessions=60, report_days=3)
    return lake


@pytest.fixture
def service(filled, tmp_path):
    cache = ReportCache.create("hybrid", sqlite_path=tmp_path / "l1.db", store=filled.store)
    return ReportService(filled, cache, filled.store, url_expiration_hours=1)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _has_thai(text: str) -> bool:
    return any("\u0e00" <= ch <= "\u0e7f" for ch in text)


# ------------------------------------------------------------------------------------------ sessions


def test_session_on_or_before_steps_back_over_weekends_and_holidays(filled):
    assert session_on_or_before(filled, "D05.SI", HOLIDAY) == FRIDAY
    assert session_on_or_before(filled, "D05.SI", SATURDAY) == FRIDAY
    assert session_on_or_before(filled, "D05.SI", FRIDAY) == FRIDAY
    assert session_on_or_before(filled, "D05.SI", "2030-01-01") == END  # after the last run: the newest
    with pytest.raises(ReportDataNotFound, match="on or before 2020-01-01"):
        session_on_or_before(filled, "D05.SI", "2020-01-01")


def test_a_holiday_is_answered_with_the_last_session_and_says_so(service):
    result = service.report("DBS19", HOLIDAY, "en")
    assert (result.date, result.session, result.requested_date) == (FRIDAY, FRIDAY, HOLIDAY)
    first_line = result.text.splitlines()[0]
    assert HOLIDAY in first_line and FRIDAY in first_line and "No trading session" in first_line
    body = result.to_json()
    assert (body["date"], body["session"], body["requested_date"]) == (FRIDAY, FRIDAY, HOLIDAY)
    thai = service.report("DBS19", SATURDAY, "th")
    assert thai.cache == "l1"  # the session's cache entry: one entry per session, not per date asked
    assert SATURDAY in thai.text.splitlines()[0] and FRIDAY in thai.text.splitlines()[0]


def test_a_session_date_has_no_note(service):
    result = service.report("DBS19", FRIDAY, "en")
    assert result.requested_date == FRIDAY and not result.moved
    assert result.text.startswith("📊") and "requested_date" not in result.to_json()
    assert result.to_json()["session"] == FRIDAY


def test_cli_holiday_json_and_text_name_the_session(filled):
    uri = filled.uri
    done = run("report", "DBS19", "--date", HOLIDAY, "--json", "--lake", uri, "--lang", "en")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert (body["date"], body["session"], body["requested_date"]) == (FRIDAY, FRIDAY, HOLIDAY)
    assert "no precomputed indicators" not in done.output
    text = run("report", "DBS19", "--date", SATURDAY, "--lake", uri, "--lang", "en")
    assert text.exit_code == 0, text.output
    assert (
        f"No trading session on {SATURDAY}" in text.stdout
        and f"last session before it, {FRIDAY}" in text.stdout
    )


def test_cli_date_before_any_data_exits_2_naming_it(filled):
    done = run("report", "DBS19", "--date", "2020-01-01", "--lake", filled.uri)
    assert done.exit_code == 2 and "2020-01-01" in done.stderr and "Traceback" not in done.output


# ------------------------------------------------------------------------------------------ languages


def test_pdf_key_has_the_language():
    assert layout.report_pdf_key("D05.SI", "2025-11-11", "en") == "reports/D05.SI/2025-11-11/en.pdf"
    with pytest.raises(InvalidArgumentValue, match="th or en"):
        layout.report_pdf_key("D05.SI", "2025-11-11", "../x")


def test_after_a_thai_prewarm_the_english_pdf_is_english(filled, tmp_path):
    [warm] = prewarm_reports(filled.uri, ["DBS19"], END, langs=("th",), publish_activity=False)
    assert warm["status"] == "generated" and warm["pdf_keys"] == {"th": f"reports/D05.SI/{END}/th.pdf"}
    thai = _pdf_text(filled.store.get(f"reports/D05.SI/{END}/th.pdf").data)
    assert _has_thai(thai) and "What to do now" not in thai
    assert not filled.store.exists(f"reports/D05.SI/{END}/en.pdf")

    out = tmp_path / "r.pdf"
    done = run("report", "DBS19", "--lang", "en", "--out", str(out), "--json", "--lake", filled.uri)
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["cache"] in ("l1", "l2")  # the pre-warmed entry serves both languages
    english = _pdf_text(out.read_bytes())
    assert "Stock report DBS19" in english and "What to do now" in english
    assert not _has_thai(english)
    assert out.read_bytes() == filled.store.get(f"reports/D05.SI/{END}/en.pdf").data
    assert f"reports/D05.SI/{END}/en.pdf" in body["pdf_url"]


def test_service_without_a_store_renders_the_asked_language(filled, tmp_path):
    cache = ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db")
    service = ReportService(filled, cache, None)
    result = service.report("DBS19", lang="en")
    assert result.pdf_key is None and not _has_thai(_pdf_text(service.pdf_bytes(result)))
