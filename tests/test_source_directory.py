"""The dir:PATH source: envelope files of a folder, routed to partitions, bytes kept verbatim."""

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lake.api import Lake
from pipelines.exceptions import PayloadError
from pipelines.parsing import parse_fetch
from pipelines.sources import DirectorySource, FileEnvelope, get_source, raw_body, unreadable_reason
from pipelines.sources.sample import SampleSource

CORPUS = Path(__file__).parent / "fixtures" / "bad_payloads"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
DEEP = next(m["file"] for m in MANIFEST if m["file"].endswith("deeply_nested.json"))


def _envelope(day: str, symbol: str = "D05.SI", ticker: str | None = None, first: str | None = None) -> dict:
    """A sample fetch of [first or day, day] (one envelope, as_of = day when day has a bar)."""
    [envelope] = SampleSource().fetch(symbol, first or day, day)
    if ticker:
        envelope["ticker"] = ticker
    return envelope


def test_get_source_understands_dir_prefix(tmp_path):
    source = get_source(f"dir:{tmp_path}")
    assert isinstance(source, DirectorySource)
    assert source.root == tmp_path


def test_dir_source_refuses_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        get_source(f"dir:{tmp_path / 'nope'}")


def test_files_with_any_name_in_subfolders_are_found_and_sorted_by_as_of(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "zzz.json").write_text(json.dumps(_envelope("2025-06-02")))
    (tmp_path / "first-day-is-later.json").write_text(json.dumps(_envelope("2025-06-03")))
    found = DirectorySource(tmp_path).fetch("D05.SI", "2025-06-01", "2025-06-30")
    assert [e["as_of"] for e in found] == ["2025-06-02", "2025-06-03"]


def test_only_the_asked_symbol_and_range_are_returned(tmp_path):
    (tmp_path / "1.json").write_text(json.dumps(_envelope("2025-06-02")))
    (tmp_path / "2.json").write_text(json.dumps(_envelope("2025-06-03", symbol="U11.SI")))
    (tmp_path / "3.json").write_text(json.dumps(_envelope("2025-06-10")))
    found = DirectorySource(tmp_path).fetch("D05.SI", "2025-06-01", "2025-06-05")
    assert [(e["symbol"], e["as_of"]) for e in found] == [("D05.SI", "2025-06-02")]


def test_a_file_holding_a_fetch_of_many_bars_is_one_envelope_routed_by_its_as_of(tmp_path):
    fetch = _envelope("2025-06-13", first="2025-06-02")
    bars = len(fetch["payload"]["history"])
    assert bars > 5
    (tmp_path / "two-weeks.json").write_text(json.dumps(fetch))
    [envelope] = DirectorySource(tmp_path).fetch("D05.SI", fetch["as_of"], "2025-06-30")
    assert (envelope.symbol, envelope.as_of) == ("D05.SI", fetch["as_of"])
    assert envelope["payload"]["history"] == fetch["payload"]["history"]
    prices, rejected = parse_fetch(raw_body(envelope), expected_symbol="D05.SI")
    assert (len(prices), rejected) == (bars, [])


def test_dr_symbol_finds_the_yahoo_symbols_files(tmp_path):
    (tmp_path / "1.json").write_text(json.dumps(_envelope("2025-06-02")))
    assert len(DirectorySource(tmp_path).fetch("DBS19", "2025-06-02", "2025-06-02")) == 1


def test_raw_body_is_the_file_verbatim(tmp_path):
    text = json.dumps(_envelope("2025-06-02"), indent=3) + "\n\n"
    (tmp_path / "pretty.json").write_text(text)
    [envelope] = DirectorySource(tmp_path).fetch("D05.SI", "2025-06-02", "2025-06-02")
    assert isinstance(envelope, FileEnvelope)
    assert raw_body(envelope) == text.encode()
    assert unreadable_reason(envelope) is None


def test_raw_body_of_another_sources_envelope_is_strict_json():
    envelope = _envelope("2025-06-02")
    assert json.loads(raw_body(envelope)) == envelope


def test_unreadable_file_is_routed_by_its_path_and_keeps_its_bytes(tmp_path):
    folder = tmp_path / "ticker=D05.SI" / "date=2025-06-02"
    folder.mkdir(parents=True)
    (folder / "x.json").write_bytes(b'{"symbol": "D05.SI", "as_of": "2025-')
    [envelope] = DirectorySource(tmp_path).fetch("D05.SI", "2025-06-02", "2025-06-02")
    assert envelope["as_of"] == "2025-06-02" and envelope["symbol"] == "D05.SI"
    assert "not valid JSON" in unreadable_reason(envelope)
    assert raw_body(envelope) == b'{"symbol": "D05.SI", "as_of": "2025-'


def test_unroutable_file_is_skipped_and_listed(tmp_path):
    (tmp_path / "mystery.json").write_bytes(b"not json at all")
    source = DirectorySource(tmp_path)
    assert source.fetch("D05.SI", "2025-06-01", "2025-06-30") == []
    assert source.unroutable == [tmp_path / "mystery.json"]


def test_manifest_routes_every_corpus_file_to_its_own_partition():
    days = sorted(entry["as_of"] for entry in MANIFEST)
    found = DirectorySource(CORPUS).fetch("D05.SI", days[0], days[-1])
    assert [(e.symbol, e.as_of) for e in found] == sorted((m["symbol"], m["as_of"]) for m in MANIFEST)
    assert not any(e.path.name == "manifest.json" for e in found)


def test_manifest_wins_over_a_payload_claiming_another_ticker():
    entry = next(m for m in MANIFEST if m["file"].endswith("other_ticker.json"))
    [envelope] = DirectorySource(CORPUS).fetch("D05.SI", entry["as_of"], entry["as_of"])
    assert envelope["symbol"] == "U11.SI"  # the document as written
    with pytest.raises(PayloadError, match="differs from the expected symbol"):
        parse_fetch(raw_body(envelope), expected_symbol=envelope.symbol)


def _fetched(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


def test_every_corpus_file_is_either_refused_by_put_raw_or_stored_byte_for_byte(tmp_path):
    lake = Lake.open(str(tmp_path / "lake"))
    days = sorted(entry["as_of"] for entry in MANIFEST)
    stored = refused = 0
    for envelope in DirectorySource(CORPUS).fetch("D05.SI", days[0], days[-1]):
        if envelope.path.name == DEEP:
            continue  # see test_put_raw_refuses_deeply_nested_json_with_a_lake_error
        body = raw_body(envelope)
        try:
            put = lake.put_raw(
                body, ticker=envelope.symbol, source="dir", fetched_at=_fetched(envelope.as_of)
            )
        except ValueError:
            refused += 1
            lake.quarantine("raw", envelope.symbol, envelope.as_of, "refused", payload=body)
            record = lake.quarantine_records("raw", envelope.symbol, envelope.as_of)[-1]
            assert record["payload_sha256"] == hashlib.sha256(body).hexdigest()
            continue
        stored += 1
        assert put.key.startswith(f"raw/dir/ticker=D05.SI/date={envelope.as_of}/")
        assert lake.get_raw(put.key) == body
    assert stored and refused and stored + refused == len(MANIFEST) - 1


def test_put_raw_refuses_deeply_nested_json_with_a_lake_error(tmp_path):
    entry = next(m for m in MANIFEST if m["file"] == DEEP)
    with pytest.raises(ValueError):
        Lake.open(str(tmp_path)).put_raw(
            (CORPUS / DEEP).read_bytes(), ticker="D05.SI", source="dir", fetched_at=_fetched(entry["as_of"])
        )


def test_corpus_copy_keeps_working_when_files_are_renamed(tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    first = MANIFEST[0]
    assert len(DirectorySource(tmp_path / "corpus").fetch("D05.SI", first["as_of"], first["as_of"])) == 1
