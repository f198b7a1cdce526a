"""Month compaction on both backends: the compacted copy answers reads while its partitions are unchanged,
is never used for a partition rewritten since (during or after the copy), and is invisible to Athena's
view of `processed/`."""

import datetime as dt

import pandas as pd
import pytest

from glue.local_sql import run_local
from lake import compaction, layout
from lake.api import Lake, Lineage

T = "D05.SI"
JAN = ["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"]
FEB = ["2025-02-03", "2025-02-04"]
AT = dt.datetime(2025, 3, 1, 10, 30, tzinfo=dt.UTC)


def _prices(dates, close=10.0) -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame(
        {
            "date": dates,
            "open": [close] * n,
            "high": [close + 1] * n,
            "low": [close - 1] * n,
            "close": [close + i for i in range(n)],
            "adj_close": [close + i for i in range(n)],
            "volume": [1000] * n,
        }
    )


def _write(lake: Lake, dates, close=10.0, ticker=T):
    lineages = {
        d: Lineage(f"raw/yfinance/ticker={ticker}/date={d}/x.json", "rv", "1.0.0", AT, "run-1", "prices")
        for d in dates
    }
    return lake.write_partitions("prices", ticker, _prices(dates, close), lineages)


def _read(lake: Lake):
    """(closes by date, the objects the read opened)."""
    current = compaction.fingerprints(lake.store, layout.dataset_prefix("prices", T))
    wanted = [(key, *layout.parse_partition(key)) for key in sorted(current)]
    rows = compaction.read_rows(lake.store, "prices", wanted, current, None)
    frame = lake.read_dataset("prices", [T])
    closes = dict(zip(frame["date"].astype(str), frame["close"], strict=True))
    return closes, rows


def test_compacted_months_answer_reads_with_the_same_rows(lake):
    _write(lake, JAN + FEB)
    before, rows = _read(lake)
    assert rows.copies_read == [] and len(rows.partitions) == 6

    assert lake.compact("prices", T) == {"2025-01": "written", "2025-02": "written"}
    after, rows = _read(lake)
    assert after == before
    assert rows.partitions == []
    assert rows.copies_read == [
        layout.compacted_key("prices", T, "2025-01"),
        layout.compacted_key("prices", T, "2025-02"),
    ]
    assert lake.compact("prices", T) == {"2025-01": "fresh", "2025-02": "fresh"}
    assert lake.compact("prices", T, ["2024-12"]) == {"2024-12": "empty"}


def test_a_partition_rewritten_after_compaction_is_read_from_its_own_object(lake):
    _write(lake, JAN)
    lake.compact("prices", T)
    _write(lake, ["2025-01-06"], close=99.0)  # a new version of one partition
    _write(lake, ["2025-01-08"], close=50.0)  # a new partition in the compacted month
    closes, rows = _read(lake)
    assert closes["2025-01-06"] == 99.0 and closes["2025-01-08"] == 50.0
    assert closes["2025-01-02"] == 10.0 and len(closes) == 5
    assert rows.copies_read == [layout.compacted_key("prices", T, "2025-01")]
    assert rows.partitions == [
        layout.dataset_key("prices", T, "2025-01-06"),
        layout.dataset_key("prices", T, "2025-01-08"),
    ]
    assert lake.compact("prices", T, ["2025-01"]) == {"2025-01": "written"}
    assert _read(lake)[1].partitions == []


def test_a_partition_rewritten_while_the_copy_is_made_is_never_read_stale(lake, monkeypatch):
    """A writer between the copy's listing and its read: the copy holds the new rows under the old
    fingerprint, so readers (whose listing shows the new fingerprint) read the partition itself."""
    _write(lake, JAN)
    real = compaction._read_objects
    calls = []

    def racing(store, keys, schema, what):
        if not calls:
            calls.append(1)
            _write(lake, ["2025-01-03"], close=77.0)
        return real(store, keys, schema, what)

    monkeypatch.setattr(compaction, "_read_objects", racing)
    lake.compact("prices", T)
    monkeypatch.setattr(compaction, "_read_objects", real)
    _write(lake, ["2025-01-03"], close=88.0)  # and once more after the copy
    closes, rows = _read(lake)
    assert closes["2025-01-03"] == 88.0
    assert layout.dataset_key("prices", T, "2025-01-03") in rows.partitions


def test_a_damaged_copy_costs_speed_not_answers(lake, caplog):
    _write(lake, JAN)
    lake.compact("prices", T)
    lake.store.put(layout.compacted_key("prices", T, "2025-01"), b"not parquet")
    closes, rows = _read(lake)
    assert len(closes) == 4 and rows.copies_read == []
    assert "compaction.unreadable" in caplog.text
    assert lake.compact("prices", T) == {"2025-01": "written"}


def test_sql_reads_the_copy_and_counts_each_row_once(lake):
    _write(lake, JAN + FEB)
    _write(lake, JAN, ticker="AAPL")
    lake.compact("prices", T)
    result = run_local(
        "SELECT count(*) AS n, sum(close) AS s FROM prices WHERE ticker = 'D05.SI' AND date < '2025-02-04'",
        store=lake.store,
    )
    assert result.table.to_pylist() == [{"n": 5, "s": 10 + 11 + 12 + 13 + 14.0}]
    assert layout.compacted_key("prices", T, "2025-01") in result.files_read
    everything = run_local("SELECT ticker, count(*) AS n FROM prices GROUP BY 1 ORDER BY 1", store=lake.store)
    assert everything.table.to_pylist() == [{"ticker": "AAPL", "n": 4}, {"ticker": T, "n": 6}]
    # Athena's view: the copies live outside processed/, where its tables point.
    assert not [k for k in lake.list_keys("processed/") if "month=" in k]


def test_sql_reads_only_the_columns_it_names_from_a_copy_and_answers_alike(lake):
    """A column named only in WHERE, ORDER BY, a join or a subquery is read too: were it left unread (null),
    these answers would change."""
    _write(lake, JAN + FEB)
    queries = [
        "SELECT date, close FROM prices WHERE ticker = 'D05.SI' AND adj_close >= 12 ORDER BY volume, date",
        "SELECT p.date, q.low FROM prices p JOIN prices q ON p.date = q.date AND p.ticker = q.ticker "
        "WHERE p.ticker = 'D05.SI' AND q.ticker = 'D05.SI' AND p.adj_close > 11 ORDER BY 1",
        "SELECT * FROM prices WHERE ticker = 'D05.SI' ORDER BY date",
        "SELECT count(*) AS n FROM prices WHERE ticker = 'D05.SI' AND date BETWEEN '2025-01-01' AND '2025-01-31'",
        "SELECT max(open) AS o FROM (SELECT open, date FROM prices WHERE ticker = 'D05.SI') WHERE date > '2025-01-03'",
    ]
    before = [run_local(sql, store=lake.store).table.to_pylist() for sql in queries]
    lake.compact("prices", T)
    for sql, expected in zip(queries, before, strict=True):
        result = run_local(sql, store=lake.store)
        assert layout.compacted_key("prices", T, "2025-01") in result.files_read, sql
        assert result.table.to_pylist() == expected, sql
    assert before[0] and before[1] and before[3] == [{"n": 4}]


def test_read_rows_leaves_unnamed_columns_unread_and_null(lake):
    _write(lake, JAN)
    lake.compact("prices", T)
    current = compaction.fingerprints(lake.store, layout.dataset_prefix("prices", T))
    wanted = [(key, *layout.parse_partition(key)) for key in sorted(current)]
    schema = lake_schema_of("prices")
    rows = compaction.read_rows(lake.store, "prices", wanted, current, schema, columns={"close"})
    assert rows.partitions == [] and rows.copies.schema.names == schema.names
    assert rows.copies["close"].to_pylist() == [10.0, 11.0, 12.0, 13.0]
    assert rows.copies["date"].null_count == 0
    assert rows.copies["open"].null_count == 4  # not read


def lake_schema_of(dataset):
    import schemas

    return schemas.arrow_schema(dataset)


def test_months_to_compact_skips_the_open_month_and_closes_the_previous_one():
    assert compaction.months_to_compact(["2025-03-31", "2025-04-01"], "2025-04-01") == ["2025-02", "2025-03"]
    assert compaction.months_to_compact(["2025-01-02"], "2026-12-01") == ["2024-12", "2025-01"]
    assert compaction.months_to_compact(["2026-12-01"], "2026-12-01") == ["2026-11"]
    assert compaction.months_to_compact([], "2026-12-01") == []


def test_compaction_refuses_a_bad_month(lake):
    with pytest.raises(Exception, match="month '2025-13' is not valid"):
        lake.compact("prices", T, ["2025-13"])


def test_a_writer_compacts_from_the_rows_in_hand_without_reading_them_back(lake, monkeypatch):
    _write(lake, ["2024-12-31"])  # the previous month, not written by the call below: read back

    def no_read_back(store, keys, schema, what):
        assert keys == [layout.dataset_key("prices", T, "2024-12-31")], keys
        return real(store, keys, schema, what)

    real = compaction._read_objects
    monkeypatch.setattr(compaction, "_read_objects", no_read_back)
    lineages = {
        d: Lineage(f"raw/yfinance/ticker={T}/date={d}/x.json", "rv", "1.0.0", AT, "run-1", "prices")
        for d in JAN + FEB
    }
    lake.write_partitions("prices", T, _prices(JAN + FEB), lineages, compact_months=["2024-12", "2025-01"])
    monkeypatch.setattr(compaction, "_read_objects", real)
    closes, rows = _read(lake)
    assert closes == {"2024-12-31": 10.0, **{d: 10.0 + i for i, d in enumerate(JAN + FEB)}}
    assert lake.list_keys("compacted/") == [
        layout.compacted_key("prices", T, "2024-12"),
        layout.compacted_key("prices", T, "2025-01"),
    ]
    # One date of December is read from its own file (a copy pays off from MIN_DATES_FOR_COPY dates on);
    # February was not asked to be compacted.
    assert rows.copies_read == [layout.compacted_key("prices", T, "2025-01")]
    assert rows.partitions == [layout.dataset_key("prices", T, d) for d in ["2024-12-31", *FEB]]
