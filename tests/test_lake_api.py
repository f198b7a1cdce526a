"""The lake API over both backends: raw envelopes, processed partitions with lineage, reads, quarantine,
latest-version visibility, and hostile tickers/dates refused by every public method."""

import base64
import datetime as dt
import json

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from lake import layout
from lake.api import Lake, Lineage, open_lake
from lake.exceptions import InvalidArgumentValue, LakeError, ObjectNotFound, PartialWriteError
from lake.store import LocalStore, S3Store

SCHEMA = pa.schema(
    [("ticker", pa.string()), ("date", pa.date32()), ("close", pa.float64()), ("volume", pa.int64())]
)
T, D = "D05.SI", "2025-01-02"
RAW_KEY = f"raw/yfinance/ticker={T}/date={D}/20250102T100000000000Z.json"
AT = dt.datetime(2025, 1, 2, 10, 30, tzinfo=dt.UTC)


def lineage(
    version: str = "1", run: str = "run-1", raw_version: str = "rv1", at: dt.datetime = AT
) -> Lineage:
    return Lineage(RAW_KEY, raw_version, version, at, run, "prices")


_NO_DATE = object()


def rows(close: float = 10.0, date: object = _NO_DATE) -> pd.DataFrame:
    frame = pd.DataFrame({"close": [close], "volume": [100]})
    return frame if date is _NO_DATE else frame.assign(date=[date])


def write(lake: Lake, ticker=T, date=D, close=10.0, **kwargs):
    return lake.write_partition("prices", ticker, date, rows(close), lineage(**kwargs), schema=SCHEMA)


# ---------------------------------------------------------------------------------------------- raw


def test_put_raw_keeps_bytes_verbatim_with_tags_and_metadata(lake):
    body = b'{"symbol": "D05.SI",  "fetched_at": "2025-01-02T10:00:00Z", "z": 1, "a": [1.50]}\n'
    result = lake.put_raw(body, ticker=T, date=D)
    assert result.key == RAW_KEY
    assert lake.get_raw(result.key) == body
    assert lake.store.get_tags(result.key) == {
        "source": "yfinance",
        "ticker": T,
        "fetched_at": "2025-01-02T10:00:00+00:00",
    }
    assert lake.store.head(result.key).metadata["fetched-at"] == "2025-01-02T10:00:00+00:00"


def test_put_raw_serialises_a_dict_as_given_and_latest_raw_is_the_newest_fetch(lake):
    older = lake.put_raw({"b": 1, "a": "é", "fetched_at": "2025-01-02T09:00:00+00:00"}, ticker=T, date=D)
    newer = lake.put_raw({"fetched_at": "2025-01-02T11:00:00+00:00"}, ticker=T, date=D)
    assert json.loads(lake.get_raw(older.key)) == {
        "b": 1,
        "a": "é",
        "fetched_at": "2025-01-02T09:00:00+00:00",
    }
    assert list(json.loads(lake.get_raw(older.key))) == ["b", "a", "fetched_at"]
    latest = lake.latest_raw(T, D)
    assert (latest.key, latest.version_id) == (newer.key, newer.version_id)
    assert lake.latest_raw(T, "2025-01-03") is None


@pytest.mark.parametrize(
    "envelope, message",
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        ({"symbol": "NVDA"}, "symbol 'NVDA'"),
        ({"as_of": "2025-01-03"}, "as of"),
    ],
)
def test_put_raw_refuses_envelopes_that_do_not_match(lake, envelope, message):
    with pytest.raises(InvalidArgumentValue, match=message):
        lake.put_raw(envelope, ticker=T, date=D)
    assert lake.latest_raw(T, D) is None


def test_put_raw_many_stores_each_envelope_and_returns_each_refusal_in_place(lake):
    """The batch form (one group commit on a LocalStore) answers per entry, as put_raw would."""
    entries = [
        (b'{"symbol": "D05.SI", "fetched_at": "2025-01-02T10:00:00Z"}', T, D),
        (b"not json", T, "2025-01-03"),
        ({"symbol": "NVDA"}, T, "2025-01-06"),
        ({"fetched_at": "2025-01-07T10:00:00Z", "x": 1}, T, "2025-01-07"),
        (b"{}", "../x", D),
    ]
    results = lake.put_raw_many(entries)
    refused = [isinstance(r, InvalidArgumentValue) for r in results]
    assert refused == [False, True, True, False, True]
    assert "not JSON" in str(results[1]) and "'NVDA'" in str(results[2]) and "../x" in str(results[4])
    assert results[0].key == RAW_KEY and lake.get_raw(RAW_KEY) == entries[0][0]
    assert json.loads(lake.get_raw(results[3].key)) == {"fetched_at": "2025-01-07T10:00:00Z", "x": 1}
    assert lake.store.get_tags(results[3].key)["ticker"] == T
    assert lake.latest_raw(T, "2025-01-03") is None and lake.latest_raw(T, "2025-01-06") is None


# ---------------------------------------------------------------------------------------------- processed


def test_write_partition_adds_ticker_date_and_lineage_columns(lake):
    result = write(lake)
    frame = lake.read_partition("prices", T, D)
    assert frame.attrs == {"key": result.key, "version_id": result.version_id}
    row = frame.iloc[0]
    assert (row["ticker"], row["date"], row["close"], row["volume"]) == (T, dt.date(2025, 1, 2), 10.0, 100)
    assert (row["source_raw_key"], row["source_raw_version"], row["computation_version"], row["run_id"]) == (
        RAW_KEY,
        "rv1",
        "1",
        "run-1",
    )
    assert row["computed_at"] == pd.Timestamp(AT)
    assert result.key == "processed/prices/ticker=D05.SI/date=2025-01-02/data.parquet"


def test_write_partition_tags_and_metadata_carry_the_lineage(lake):
    result = write(lake)
    tags = lake.store.get_tags(result.key)
    assert tags == {
        "source": "computed",
        "ticker": T,
        "computed_at": "2025-01-02T10:30:00.000000+00:00",
        "computation_type": "prices",
        "computation_version": "1",
        "source_raw_data": RAW_KEY,
    }
    metadata = lake.store.head(result.key).metadata
    assert {
        k: metadata[k] for k in ("source-raw-data-key", "source-raw-version-id", "computation-version")
    } == {
        "source-raw-data-key": RAW_KEY,
        "source-raw-version-id": "rv1",
        "computation-version": "1",
    }
    assert metadata["data-classification"] == "internal" and metadata["row-count"] == "1"
    assert metadata["run-id"] == "run-1" and metadata["computed-at"] == "2025-01-02T10:30:00.000000+00:00"


def test_lineage_round_trips_through_list_versions_newest_first(lake):
    first = write(lake, close=1.0, version="1", run="run-1", raw_version="rv1")
    second = write(
        lake, close=2.0, version="2", run="run-2", raw_version="rv2", at=AT + dt.timedelta(hours=1)
    )
    versions = lake.list_versions("prices", T, D)
    assert [v.version_id for v in versions] == [second.version_id, first.version_id]
    assert [v.is_latest for v in versions] == [True, False]
    assert versions[0].lineage == lineage("2", "run-2", "rv2", AT + dt.timedelta(hours=1))
    assert versions[1].lineage == lineage("1", "run-1", "rv1")
    assert versions[1].to_dict()["source_raw_version"] == "rv1" and versions[1].row_count == 1
    assert lake.read_partition("prices", T, D)["close"].tolist() == [2.0]
    assert lake.read_partition("prices", T, D, first.version_id)["close"].tolist() == [1.0]


def test_write_partition_refuses_rows_that_do_not_belong(lake):
    cases = [
        (rows().assign(ticker="NVDA"), "ticker"),
        (rows(date="2025-01-03"), "dated 2025-01-03"),
        (rows().assign(extra=1), "extra"),
        (rows().drop(columns="volume"), "volume"),
        (rows().iloc[0:0], "no rows"),
        (rows().assign(volume="many"), "do not fit"),
    ]
    for frame, message in cases:
        with pytest.raises(InvalidArgumentValue, match=message):
            lake.write_partition("prices", T, D, frame, lineage(), schema=SCHEMA)
    assert lake.partitions("prices") == []


def test_write_partition_without_schema_uses_schemas_arrow_schema(lake, monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "schemas", types.SimpleNamespace(arrow_schema=lambda dataset: SCHEMA))
    lake.write_partition("prices", T, D, rows(), lineage())
    assert lake.read_partition("prices", T, D)["close"].tolist() == [10.0]


def test_write_partitions_writes_one_object_per_date(lake):
    dates = ["2025-01-02", "2025-01-03", "2025-01-06"]
    frame = pd.DataFrame({"date": pd.to_datetime(dates), "close": [1.0, 2.0, 3.0], "volume": [1, 2, 3]})
    results = lake.write_partitions(
        "prices", T, frame, {d: lineage(run=f"run-{d}") for d in dates}, schema=SCHEMA
    )
    assert list(results) == dates
    assert lake.partitions("prices") == [(T, d) for d in dates]
    assert lake.read_partition("prices", T, "2025-01-03")["run_id"].tolist() == ["run-2025-01-03"]


def test_write_partitions_needs_a_lineage_for_every_date_before_writing_any(lake):
    frame = pd.DataFrame({"date": ["2025-01-02", "2025-01-03"], "close": [1.0, 2.0], "volume": [1, 2]})
    with pytest.raises(InvalidArgumentValue, match="2025-01-03"):
        lake.write_partitions("prices", T, frame, {"2025-01-02": lineage()}, schema=SCHEMA)
    assert lake.partitions("prices") == []


def test_write_partitions_reports_which_dates_failed(lake):
    real_put = lake.store.put

    class FlakyStore:
        put_many = None  # the one-put-per-object path, whatever the backend

        def __getattr__(self, name):
            return getattr(lake.store, name)

        def put(self, key, data, **kwargs):
            if "2025-01-03" in key:
                raise LakeError("disk full")
            return real_put(key, data, **kwargs)

    flaky = Lake(FlakyStore())
    frame = pd.DataFrame({"date": ["2025-01-02", "2025-01-03"], "close": [1.0, 2.0], "volume": [1, 2]})
    with pytest.raises(PartialWriteError, match="2025-01-03") as error:
        flaky.write_partitions(
            "prices", T, frame, {"2025-01-02": lineage(), "2025-01-03": lineage()}, schema=SCHEMA
        )
    assert list(error.value.written) == ["2025-01-02"] and list(error.value.failed) == ["2025-01-03"]


def test_write_partitions_reports_a_date_the_group_commit_could_not_write(tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    blocked = tmp_path / "lake" / layout.dataset_prefix("prices", T, "2025-01-03").rstrip("/")
    blocked.parent.mkdir(parents=True)
    blocked.write_bytes(b"a file where the partition folder goes")
    frame = pd.DataFrame({"date": ["2025-01-02", "2025-01-03"], "close": [1.0, 2.0], "volume": [1, 2]})
    with pytest.raises(PartialWriteError, match="2025-01-03") as error:
        lake.write_partitions(
            "prices", T, frame, {"2025-01-02": lineage(), "2025-01-03": lineage()}, schema=SCHEMA
        )
    assert list(error.value.written) == ["2025-01-02"] and list(error.value.failed) == ["2025-01-03"]
    assert lake.read_partition("prices", T, "2025-01-02")["close"].tolist() == [1.0]


def test_read_dataset_returns_the_latest_version_of_each_partition_sorted(lake):
    write(lake, ticker="Z74.SI", date="2025-01-02", close=5.0)
    write(lake, date="2025-01-03", close=1.0)
    write(lake, date="2025-01-02", close=2.0)
    write(lake, date="2025-01-02", close=3.0)  # a new version of the same partition
    frame = lake.read_dataset("prices", schema=SCHEMA)
    assert frame[["ticker", "close"]].values.tolist() == [[T, 3.0], [T, 1.0], ["Z74.SI", 5.0]]
    assert frame["date"].tolist() == [dt.date(2025, 1, 2), dt.date(2025, 1, 3), dt.date(2025, 1, 2)]


def test_read_dataset_prunes_partitions_by_key_before_reading(lake):
    for date in ("2025-01-02", "2025-01-03", "2025-01-06"):
        write(lake, date=date)
    # Corrupt partitions outside the request: reading them would fail, so success proves they were pruned.
    lake.store.put(layout.dataset_key("prices", "NVDA", "2025-01-03"), b"not parquet")
    lake.store.put(layout.dataset_key("prices", T, "2025-01-07"), b"not parquet")
    frame = lake.read_dataset("prices", [T], start="2025-01-03", end="2025-01-06", schema=SCHEMA)
    assert frame["date"].astype(str).tolist() == ["2025-01-03", "2025-01-06"]
    with pytest.raises(LakeError):
        lake.read_dataset("prices", [T], start="2025-01-06", schema=SCHEMA)


def test_read_dataset_warmup_adds_the_last_partitions_before_start_and_no_more(lake):
    for date in ("2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08"):
        write(lake, date=date)
    write(lake, ticker="Z74.SI", date="2025-01-03")
    # Older than the warm-up: reading it would fail, so success proves the read stopped before it.
    lake.store.put(layout.dataset_key("prices", T, "2024-12-31"), b"not parquet")
    frame = lake.read_dataset("prices", [T, "Z74.SI"], start="2025-01-07", end="2025-01-07", warmup=2,
                              schema=SCHEMA)  # fmt: skip
    assert frame[["ticker", "date"]].astype(str).values.tolist() == [
        [T, "2025-01-03"],
        [T, "2025-01-06"],
        [T, "2025-01-07"],
        ["Z74.SI", "2025-01-03"],
    ]
    with pytest.raises(LakeError):
        lake.read_dataset("prices", [T], start="2025-01-07", warmup=5, schema=SCHEMA)
    with pytest.raises(InvalidArgumentValue, match="warmup.*-1"):
        lake.read_dataset("prices", [T], start="2025-01-07", warmup=-1, schema=SCHEMA)


def test_read_dataset_warmup_reaches_back_over_a_long_gap(lake):
    for date in ("2020-01-08", "2020-01-09", "2020-01-10", "2025-01-02", "2025-01-03"):
        write(lake, date=date)
    frame = lake.read_dataset("prices", [T], start="2025-01-03", warmup=3, schema=SCHEMA)
    assert frame["date"].astype(str).tolist() == ["2020-01-09", "2020-01-10", "2025-01-02", "2025-01-03"]


def test_bounded_reads_do_not_walk_the_date_folders_they_cannot_need(tmp_path, monkeypatch):
    import lake.store._local as local

    lake = Lake(LocalStore(tmp_path / "lake"))
    dates = [d.date().isoformat() for d in pd.bdate_range("2021-01-04", "2025-01-31")]
    frame = pd.DataFrame({"date": dates, "close": 1.0, "volume": 1})
    lake.write_partitions("prices", T, frame, dict.fromkeys(dates, lineage()), schema=SCHEMA)
    entered: list[str] = []
    real = local.os.scandir

    def scandir(path):
        entered.append(str(path))
        return real(path)

    monkeypatch.setattr(local.os, "scandir", scandir)
    assert lake.partitions("prices", T, "2025-01-20", "2025-01-24") == [
        (T, d) for d in ("2025-01-20", "2025-01-21", "2025-01-22", "2025-01-23", "2025-01-24")
    ]
    assert len([p for p in entered if "/date=" in p]) == 5
    entered.clear()
    got = lake.read_dataset("prices", [T], start="2025-01-31", warmup=10, schema=SCHEMA)
    assert got["date"].astype(str).tolist() == dates[-11:]
    walked = sorted(p.rpartition("date=")[2] for p in entered if "/date=" in p)
    assert walked and walked[0] >= "2024-12-01" and len(walked) < 60  # not the 1,067 folders of 4 years


def test_read_dataset_with_nothing_to_read_is_empty_with_the_columns(lake):
    frame = lake.read_dataset("prices", ["NVDA"], schema=SCHEMA)
    assert frame.empty
    assert list(frame.columns) == [
        "ticker",
        "date",
        "close",
        "volume",
        *["source_raw_key", "source_raw_version", "computation_version", "computed_at", "run_id"],
    ]
    assert lake.read_dataset("prices", [], schema=SCHEMA).empty


def test_read_partition_of_a_missing_partition_raises_object_not_found(lake):
    with pytest.raises(ObjectNotFound, match="ticker=D05.SI"):
        lake.read_partition("prices", T, D)


# ---------------------------------------------------------------------------------------------- visibility


def test_local_glob_and_duckdb_see_one_file_per_partition(tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    write(lake, close=1.0)
    write(lake, close=2.0)
    assert len(list((tmp_path / "lake").glob("processed/**/*.parquet"))) == 1
    closes = duckdb.sql(
        f"SELECT close FROM read_parquet('{tmp_path}/lake/processed/prices/*/*/*.parquet')"
    ).fetchall()
    assert closes == [(2.0,)]
    assert len(lake.list_versions("prices", T, D)) == 2


def test_s3_listing_sees_one_key_while_versions_are_two(s3_bucket):
    lake = Lake(S3Store(f"s3://{s3_bucket}/tl", max_attempts=3))
    lake.init()
    write(lake, close=1.0)
    write(lake, close=2.0)
    client = lake.store.client
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="tl/processed/")["Contents"]
    versions = client.list_object_versions(Bucket=s3_bucket, Prefix="tl/processed/")["Versions"]
    assert [o["Key"] for o in listed] == [f"tl/{layout.dataset_key('prices', T, D)}"]
    assert len(versions) == 2


# ---------------------------------------------------------------------------------------------- quarantine


def test_quarantine_records_reason_source_and_inline_payload_and_keeps_the_raw(lake):
    raw = lake.put_raw(b'{"payload": {}}', ticker=T, date=D)
    result = lake.quarantine(
        "prices",
        T,
        D,
        "close is negative",
        source_key=raw.key,
        source_version=raw.version_id,
        payload=b"\x00bad",
    )
    assert result.key.startswith(f"quarantine/prices/ticker={T}/date={D}/")
    record = json.loads(lake.store.get(result.key).data)
    assert {
        k: record[k] for k in ("reason", "dataset", "ticker", "date", "source_key", "source_version")
    } == {
        "reason": "close is negative",
        "dataset": "prices",
        "ticker": T,
        "date": D,
        "source_key": raw.key,
        "source_version": raw.version_id,
    }
    assert base64.b64decode(record["payload_base64"]) == b"\x00bad"
    assert dt.datetime.fromisoformat(record["quarantined_at"]).tzinfo is not None
    assert lake.get_raw(raw.key) == b'{"payload": {}}'
    assert [r["key"] for r in lake.quarantine_records("prices", T)] == [result.key]


def test_quarantine_of_a_large_payload_stores_it_as_a_sibling_object(lake):
    payload = b"x" * 300_000
    result = lake.quarantine(
        "raw", T, D, "not JSON", source_key=RAW_KEY, source_version=None, payload=payload
    )
    record = json.loads(lake.store.get(result.key).data)
    assert "payload_base64" not in record
    assert record["payload_key"] == result.key.removesuffix(".json") + ".payload"
    assert lake.store.get(record["payload_key"], record["payload_version"]).data == payload


# ---------------------------------------------------------------------------------------------- hostile input

HOSTILE_TICKERS = ["../x", "A/B", "A'B", 'A"B', "", "A" * 300, "d05.si", None]
HOSTILE_DATES = ["2025-13-40", "../x", "", "2025-1-2", "2" * 300, None]


def _ticker_calls(lake, ticker):
    frame = rows()
    yield lambda: lake.put_raw(b"{}", ticker=ticker, date=D)
    yield lambda: lake.latest_raw(ticker, D)
    yield lambda: lake.get_raw(f"raw/yfinance/ticker={ticker}/date={D}/x.json")
    yield lambda: lake.write_partition("prices", ticker, D, frame, lineage(), schema=SCHEMA)
    yield lambda: lake.write_partitions("prices", ticker, rows(date=D), {D: lineage()}, schema=SCHEMA)
    yield lambda: lake.read_partition("prices", ticker, D)
    yield lambda: lake.read_dataset("prices", [ticker], schema=SCHEMA)
    yield lambda: lake.list_versions("prices", ticker, D)
    yield lambda: lake.quarantine("prices", ticker, D, "bad", source_key=None, source_version=None)
    yield lambda: lake.quarantine_records("prices", ticker)
    if ticker is not None:  # None means every ticker here
        yield lambda: lake.partitions("prices", ticker)


def _date_calls(lake, date):
    yield lambda: lake.put_raw(b"{}", ticker=T, date=date)
    yield lambda: lake.latest_raw(T, date)
    yield lambda: lake.get_raw(f"raw/yfinance/ticker={T}/date={date}/x.json")
    yield lambda: lake.write_partition("prices", T, date, rows(), lineage(), schema=SCHEMA)
    yield lambda: lake.write_partitions("prices", T, rows(date=D), {date: lineage()}, schema=SCHEMA)
    yield lambda: lake.write_partitions("prices", T, rows(date=date), {D: lineage()}, schema=SCHEMA)
    yield lambda: lake.read_partition("prices", T, date)
    yield lambda: lake.list_versions("prices", T, date)
    yield lambda: lake.quarantine("prices", T, date, "bad", source_key=None, source_version=None)
    if date is not None:  # None means no bound / every date here
        yield lambda: lake.read_dataset("prices", [T], start=date, schema=SCHEMA)
        yield lambda: lake.read_dataset("prices", [T], end=date, schema=SCHEMA)
        yield lambda: lake.quarantine_records("prices", T, date)


def _assert_refused(call, value):
    with pytest.raises(InvalidArgumentValue) as error:
        call()
    text = str(error.value)
    assert repr(value)[:20] in text or (isinstance(value, str) and value[:20] in text), text


@pytest.fixture
def local_lake(tmp_path) -> Lake:
    """Validation happens before any store call, so one backend is enough here."""
    return Lake(LocalStore(tmp_path / "lake"))


@pytest.mark.parametrize("ticker", HOSTILE_TICKERS, ids=repr)
def test_hostile_tickers_are_refused_by_every_method_naming_the_value(local_lake, ticker):
    for call in _ticker_calls(local_lake, ticker):
        _assert_refused(call, ticker)
    assert list(local_lake.store.list("")) == []


@pytest.mark.parametrize("date", HOSTILE_DATES, ids=repr)
def test_hostile_dates_are_refused_by_every_method_naming_the_value(local_lake, date):
    for call in _date_calls(local_lake, date):
        _assert_refused(call, date)
    assert list(local_lake.store.list("")) == []


def test_hostile_dataset_and_raw_keys_are_refused(lake):
    for call in (
        lambda: lake.read_partition("../prices", T, D),
        lambda: lake.write_partition("Prices", T, D, rows(), lineage(), schema=SCHEMA),
        lambda: lake.read_dataset("prices'--", schema=SCHEMA),
        lambda: lake.get_raw("../../etc/passwd"),
        lambda: lake.get_raw(layout.dataset_key("prices", T, D)),
    ):
        with pytest.raises(InvalidArgumentValue):
            call()


def test_lineage_refuses_naive_times_and_non_ascii(lake):
    with pytest.raises(InvalidArgumentValue, match="timezone-aware"):
        Lineage(RAW_KEY, "rv", "1", dt.datetime(2025, 1, 2), "run", "prices")
    with pytest.raises(InvalidArgumentValue, match="run_id"):
        Lineage(RAW_KEY, "rv", "1", AT, "rün", "prices")


def test_open_lake_uses_the_configured_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_LAKE_URI", str(tmp_path / "configured"))
    assert open_lake().uri == (tmp_path / "configured").as_uri()
