"""The bad-payload corpus (tests/fixtures/bad_payloads): every file is refused with the exact field and reason
its manifest entry names — by the strict ``parse_envelope``, by ``parse_fetch`` (whole fetch or bar by bar),
and end to end: fed through the ``dir:`` source to ``pipelines.stages.ingest_raw`` and ``build_prices``, each
bad payload is quarantined with its reason (``quarantine/raw`` when it cannot even be stored,
``quarantine/prices`` otherwise), its bytes are kept, and a good ticker in the same runs is unaffected."""

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from lake import Lake
from pipelines.exceptions import PayloadError
from pipelines.parsing import MAX_ENVELOPE_BYTES, parse_envelope, parse_fetch
from pipelines.sources import SampleSource, envelope_bytes, get_source
from pipelines.stages import build_prices, ingest_raw

CORPUS = Path(__file__).parent / "fixtures" / "bad_payloads"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
ENTRIES = {entry["file"]: entry for entry in MANIFEST}
BAD = "D05.SI"
GOOD = "C6L.SI"  # a healthy ticker fetched in the same runs

#: Files the lake cannot store as a raw object (not a JSON object, or for another symbol): quarantined under
#: "raw" by ingest_raw with the bytes as given, and the reason it was refused.
RAW_REFUSALS = {
    "01_truncated.json": "not valid JSON",
    "02_empty_file.json": "not valid JSON",
    "03_top_level_array.json": "not a JSON object",
    "04_latin1_bytes.json": "not UTF-8 text",
    "05_utf8_bom.json": "not valid JSON",
    "33_giant_integer.json": "not valid JSON",
    "35_deeply_nested.json": "not valid JSON",
    "37_other_ticker.json": "raw envelope is for symbol 'U11.SI', not for ticker 'D05.SI'",
    "38_ticker_field_spoof.json": "raw envelope is for symbol 'U11.SI', not for ticker 'D05.SI'",
    "39_lowercase_symbol.json": "raw envelope is for symbol 'd05.si', not for ticker 'D05.SI'",
}
#: Where parse_fetch (one fetch, bar by bar) differs from the strict parse_envelope: (field, reason fragment)
#: of the rejected bars, or None for a fetch whose bars are all good on their own.
FETCH_OUTCOMES = {
    # Both bars of 2025-06-24 are set aside (which one holds is ambiguous), not only the second.
    "15_duplicated_dates.json": ("date", "is a duplicate date (rows 1, 2): the bar is ambiguous"),
    # Bars in any order are sorted: each bar is dated, so its value is not in doubt.
    "16_dates_out_of_order.json": None,
    # as_of is not compared with the bars: the bars, not as_of, are what is stored.
    "42_as_of_not_last_bar.json": None,
}


def _expected(entry: dict) -> tuple[str, str] | None:
    """(field, reason fragment) parse_fetch reports for a corpus file; None when it accepts every bar."""
    if entry["file"] in FETCH_OUTCOMES:
        return FETCH_OUTCOMES[entry["file"]]
    return entry["expected_field"], entry["reason_fragment"]


def _named(field: str, reason: str) -> bool:
    """The message names the field: ``payload.history[0].close: ...`` or ``fetched_at: ...``."""
    return f"{field}: " in reason or f".{field}: " in reason


# -- the corpus itself ---------------------------------------------------------------------------------


def test_corpus_has_at_least_30_files_each_in_the_manifest():
    files = sorted(p.name for p in CORPUS.glob("*.json") if p.name != "manifest.json")
    assert len(files) >= 30
    assert files == sorted(entry["file"] for entry in MANIFEST)


def test_manifest_entries_have_every_field_and_distinct_partitions():
    for entry in MANIFEST:
        assert set(entry) >= {"file", "symbol", "as_of", "expected_field", "reason_fragment"}
    assert len({(e["symbol"], e["as_of"]) for e in MANIFEST}) == len(MANIFEST)
    assert {e["symbol"] for e in MANIFEST} == {BAD}
    assert set(RAW_REFUSALS) <= set(ENTRIES) and set(FETCH_OUTCOMES) <= set(ENTRIES)


# -- parsers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_bad_payload_is_refused_by_the_strict_parser_with_its_field_and_reason(entry):
    raw = (CORPUS / entry["file"]).read_bytes()
    with pytest.raises(PayloadError) as caught:
        parse_envelope(raw, expected_symbol=entry["symbol"])
    assert caught.value.field == entry["expected_field"]
    assert entry["reason_fragment"] in str(caught.value)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_bad_payload_is_refused_by_parse_fetch_whole_or_bar_by_bar(entry):
    raw = (CORPUS / entry["file"]).read_bytes()
    expected = _expected(entry)
    try:
        frame, rejected = parse_fetch(raw, expected_symbol=entry["symbol"])
    except PayloadError as exc:  # the envelope itself is bad: the whole fetch is refused
        assert expected is not None, f"{entry['file']} should parse"
        assert exc.field == expected[0] and exc.row is None
        assert expected[1] in str(exc)
        return
    if expected is None:
        assert rejected == [] and len(frame) >= 1
        return
    assert rejected, f"{entry['file']} was accepted"
    for item in rejected:
        assert _named(expected[0], item.reason) and expected[1] in item.reason, item.reason
        assert "payload.history[" in item.reason  # names the row
        assert item.date in (entry["as_of"], None)
    assert entry["as_of"] not in {d.isoformat() for d in frame["date"]}


def test_huge_payload_is_refused_before_decoding():
    document = {"source": "yfinance", "symbol": "D05.SI", "padding": "x" * (MAX_ENVELOPE_BYTES + 1)}
    for parse in (parse_envelope, parse_fetch):
        with pytest.raises(PayloadError) as caught:
            parse(json.dumps(document).encode(), expected_symbol="D05.SI")
        assert caught.value.field == "<document>"
        assert f"at most {MAX_ENVELOPE_BYTES}" in str(caught.value)


def _long_history(bad_row: int) -> dict:
    day = dt.date(1960, 1, 1)
    rows = []
    for _ in range(20_000):  # ~2.5 MB: large but legal, except one bar
        rows.append({"date": day.isoformat(), "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0,
                     "adj_close": 10.0, "volume": 1})  # fmt: skip
        day += dt.timedelta(days=1)
    rows[bad_row]["close"] = -1.0
    return {"source": "yfinance", "symbol": "D05.SI", "as_of": rows[-1]["date"],
            "fetched_at": "2025-06-10T10:00:00Z", "payload": {"history": rows}}  # fmt: skip


def test_long_history_under_the_size_limit_is_checked_to_its_last_row():
    document = _long_history(19_999)
    with pytest.raises(PayloadError) as caught:
        parse_envelope(json.dumps(document).encode(), expected_symbol="D05.SI")
    assert (caught.value.field, caught.value.row) == ("close", 19_999)


def test_one_bad_bar_in_a_long_fetch_sets_aside_that_bar_only():
    document = _long_history(12_345)
    frame, rejected = parse_fetch(json.dumps(document).encode(), expected_symbol="D05.SI")
    assert len(frame) == 19_999
    [item] = rejected
    assert item.date == document["payload"]["history"][12_345]["date"]
    assert item.reason == "payload.history[12345].close: must be greater than 0 (value: -1.0)"


def test_dr_symbol_still_matches_its_yahoo_symbol():
    document = json.loads((CORPUS / "37_other_ticker.json").read_text())
    document.update(ticker="DBS19", symbol="D05.SI")
    assert len(parse_envelope(document, expected_symbol="DBS19")) == 1
    frame, rejected = parse_fetch(document, expected_symbol="DBS19")
    assert (len(frame), rejected) == (1, [])


# -- end to end: dir: source → ingest_raw → build_prices -----------------------------------------------


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The corpus plus one good fetch of GOOD per corpus day, as files of one folder."""
    path = tmp_path_factory.mktemp("payloads")
    shutil.copytree(CORPUS, path, dirs_exist_ok=True)
    for entry in MANIFEST:
        day = entry["as_of"]
        for envelope in SampleSource(clock=lambda day=day: _at(day)).fetch(GOOD, day, day):
            (path / f"good-{GOOD}-{day}.json").write_bytes(envelope_bytes(envelope))
    return path


def _daily_run(lake: Lake, folder: Path, day: str, start: str):
    """The run of `day`: one fetch of each ticker (the files of that day, fetched at 10:00 UTC), then the
    prices of [start, day]."""
    source = get_source(f"dir:{folder}")
    raw = ingest_raw(lake, source, [BAD, GOOD], day, day, run_id=f"run-{day}", clock=lambda: _at(day))
    prices = build_prices(lake, [BAD, GOOD], start, day, run_id=f"run-{day}")
    return raw, prices


def _kept_payload(lake: Lake, record: dict) -> bytes:
    if "payload_base64" in record:
        return base64.b64decode(record["payload_base64"])
    return lake.store.get(record["payload_key"]).data


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_bad_payload_is_quarantined_with_its_reason_its_bytes_kept_and_the_good_ticker_unaffected(
    tmp_path, folder, entry
):
    lake = Lake.open(str(tmp_path / "lake"))
    lake.init()
    day = entry["as_of"]
    body = (CORPUS / entry["file"]).read_bytes()
    start = (dt.date.fromisoformat(day) - dt.timedelta(days=7)).isoformat()  # bars before as_of too
    raw, prices = _daily_run(lake, folder, day, start)
    stored = lake.raw_fetches(BAD)

    if entry["file"] in RAW_REFUSALS:  # never a raw object: the record keeps the exact bytes
        assert stored == [] and BAD not in raw.raw
        [record] = lake.quarantine_records("raw", BAD, day)
        assert record["reason"].startswith("raw payload not stored: ")
        assert RAW_REFUSALS[entry["file"]] in record["reason"]
        assert _kept_payload(lake, record) == body
        assert raw.quarantined == {(BAD, day): record["reason"]}
        assert lake.quarantine_records("prices", BAD) == []
    else:  # stored verbatim as one raw fetch; the stage sets aside what is bad in it
        [info] = stored
        assert raw.raw[BAD] == [info.key] and info.key.startswith(f"raw/dir/ticker={BAD}/date={day}/")
        assert lake.get_raw(info.key) == body
        assert lake.quarantine_records("raw", BAD) == []
        expected = _expected(entry)
        if expected is None:  # every bar good on its own: stored, nothing set aside
            assert lake.quarantine_records("prices", BAD) == [] and prices.quarantined == {}
            assert BAD in prices.tickers
        else:
            [record] = lake.quarantine_records("prices", BAD, day)
            field, fragment = expected
            assert record["reason"].startswith(("bad raw payload: ", "bad raw bar: "))
            assert _named(field, record["reason"]) and fragment in record["reason"], record["reason"]
            assert (record["source_key"], record["source_version"]) == (info.key, info.version_id)
            assert _kept_payload(lake, record) == body
            assert prices.quarantined[(BAD, day)] == record["reason"]
            assert lake.quarantine_records("prices", BAD) == [record]  # that date only
    bad_rows = lake.read_dataset("prices", BAD, start, day)
    assert day not in {d.isoformat() for d in bad_rows["date"]} or _expected(entry) is None

    good = lake.read_dataset("prices", GOOD, start, day)
    expected_good = SampleSource(clock=lambda: _at(day)).history(GOOD, day, day)
    assert [d.isoformat() for d in good["date"]] == [d.isoformat() for d in expected_good["date"]]
    assert good["close"].tolist() == expected_good["close"].tolist()
    assert (good["run_id"] == f"run-{day}").all()
    assert lake.quarantine_records("prices", GOOD) == lake.quarantine_records("raw", GOOD) == []
    assert GOOD not in prices.skipped and GOOD not in prices.failed and GOOD not in raw.failed


def test_a_bad_bar_is_repaired_by_a_later_good_fetch_and_its_quarantine_record_stays(tmp_path, folder):
    """14 holds a bad close for 2025-06-23; the next day's fetch (15) revises that date with a good bar:
    the newest fetch wins, and the quarantine of the first run stays on record."""
    lake = Lake.open(str(tmp_path / "lake"))
    lake.init()
    _daily_run(lake, folder, "2025-06-23", "2025-06-23")
    assert lake.read_dataset("prices", BAD, "2025-06-23", "2025-06-23").empty
    _, prices = _daily_run(lake, folder, "2025-06-24", "2025-06-23")
    rows = lake.read_dataset("prices", BAD, "2025-06-23", "2025-06-24")
    assert [d.isoformat() for d in rows["date"]] == ["2025-06-23"]  # 06-24 is given twice: set aside
    assert rows["source_raw_key"].iloc[0].startswith(f"raw/dir/ticker={BAD}/date=2025-06-24/")
    [record] = lake.quarantine_records("prices", BAD, "2025-06-23")
    assert "close: must lie within [low, high]" in record["reason"]
    assert list(prices.quarantined) == [(BAD, "2025-06-24")]
