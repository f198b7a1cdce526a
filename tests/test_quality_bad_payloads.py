"""The bad-payload corpus (tests/fixtures/bad_payloads): every file is refused by parse_envelope with the
exact field and reason its manifest entry names."""

import datetime as dt
import json
from pathlib import Path

import pytest

from pipelines.exceptions import PayloadError
from pipelines.parsing import MAX_ENVELOPE_BYTES, parse_envelope

CORPUS = Path(__file__).parent / "fixtures" / "bad_payloads"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


def test_corpus_has_at_least_30_files_each_in_the_manifest():
    files = sorted(p.name for p in CORPUS.glob("*.json") if p.name != "manifest.json")
    assert len(files) >= 30
    assert files == sorted(entry["file"] for entry in MANIFEST)


def test_manifest_entries_have_every_field_and_distinct_partitions():
    for entry in MANIFEST:
        assert set(entry) >= {"file", "symbol", "as_of", "expected_field", "reason_fragment"}
    assert len({(e["symbol"], e["as_of"]) for e in MANIFEST}) == len(MANIFEST)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_bad_payload_is_refused_with_its_field_and_reason(entry):
    raw = (CORPUS / entry["file"]).read_bytes()
    with pytest.raises(PayloadError) as caught:
        parse_envelope(raw, expected_symbol=entry["symbol"])
    assert caught.value.field == entry["expected_field"]
    assert entry["reason_fragment"] in str(caught.value)


def test_huge_payload_is_refused_before_decoding():
    document = {"source": "yfinance", "symbol": "D05.SI", "padding": "x" * (MAX_ENVELOPE_BYTES + 1)}
    with pytest.raises(PayloadError) as caught:
        parse_envelope(json.dumps(document).encode(), expected_symbol="D05.SI")
    assert caught.value.field == "<document>"
    assert f"at most {MAX_ENVELOPE_BYTES}" in str(caught.value)


def test_long_history_under_the_size_limit_is_checked_to_its_last_row():
    day = dt.date(1960, 1, 1)
    rows = []
    for _ in range(20_000):  # ~2.5 MB: large but legal, except the last bar
        rows.append({"date": day.isoformat(), "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0,
                     "adj_close": 10.0, "volume": 1})  # fmt: skip
        day += dt.timedelta(days=1)
    rows[-1]["close"] = -1.0
    document = {"source": "yfinance", "symbol": "D05.SI", "as_of": rows[-1]["date"],
                "fetched_at": "2025-06-10T10:00:00Z", "payload": {"history": rows}}  # fmt: skip
    with pytest.raises(PayloadError) as caught:
        parse_envelope(json.dumps(document).encode(), expected_symbol="D05.SI")
    assert (caught.value.field, caught.value.row) == ("close", 19_999)


def test_dr_symbol_still_matches_its_yahoo_symbol():
    document = json.loads((CORPUS / "37_other_ticker.json").read_text())
    document.update(ticker="DBS19", symbol="D05.SI")
    assert len(parse_envelope(document, expected_symbol="DBS19")) == 1
