"""The scale-out simulation (`bench.scale_out`): its sharding and request accounting, and one run at a tiny
scale whose shard lakes are read back and compared with the sample source's bars (no timing asserted)."""

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench import scale_out, universe
from tests.moto_server import free_port

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("prices", "indicators", "percentiles", "features")


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )


# ---------------------------------------------------------------------------------------------- sharding


def test_a_ticker_always_lands_in_the_same_shard_within_range():
    symbols = universe.symbols(50)
    first = [scale_out.shard_of(s, 4) for s in symbols]
    assert first == [scale_out.shard_of(s, 4) for s in symbols]
    assert set(first) == {0, 1, 2, 3}
    assert all(scale_out.shard_of(s, 1) == 0 for s in symbols)


def test_the_shard_hash_spreads_counter_like_symbols_evenly():
    sizes = Counter(scale_out.shard_of(s, 4) for s in universe.symbols(200))
    assert sorted(sizes) == [0, 1, 2, 3]
    assert max(sizes.values()) <= 60 and min(sizes.values()) >= 40, sizes  # CRC32 gives 72/72/28/28


def test_split_puts_every_ticker_in_exactly_its_own_shard():
    symbols = universe.symbols(30)
    shards = scale_out.split(symbols, 3)
    assert sorted(s for shard in shards for s in shard) == sorted(symbols)
    assert all(scale_out.shard_of(s, 3) == index for index, shard in enumerate(shards) for s in shard)


@pytest.mark.parametrize("shards", [0, -1, 1.5, True])
def test_a_bad_shard_count_is_refused_naming_it(shards):
    with pytest.raises(ValueError, match=r"shards .* is not valid"):
        scale_out.shard_of("BX0001", shards)


def test_history_range_is_whole_months_up_to_the_end_date():
    assert scale_out.history_range(60, "2026-11-20") == ("2021-12-01", "2026-11-20")
    assert scale_out.history_range(1, "2026-11-20") == ("2026-11-01", "2026-11-20")


# ---------------------------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("method", "target", "price", "area", "shard"),
    [
        ("PUT", "/b/lake/shard=03/raw/sample/ticker=X/date=2026-11-20/t.json", "a", "raw", "3"),
        ("GET", "/b?list-type=2&prefix=lake%2Fshard%3D01%2Fprocessed%2Fprices%2F", "a", "processed", "1"),
        ("GET", "/b/?versions&prefix=lake%2Fprocessed%2Fprices%2Fmonth%3D2026-11%2F", "a", "processed", "-"),
        ("GET", "/b/lake/shard=00/processed/prices/month=2026-11/data.parquet", "b", "processed", "0"),
        ("HEAD", "/b/lake/shard=00/lineage/prices/month=2026-11/x.json", "b", "lineage", "0"),
        ("GET", "/b/lake/shard=02/raw/sample/ticker=X/date=2026-11-20/t.json?tagging", "b", "raw", "2"),
        ("GET", "/b?versioning", "b", "bucket", "-"),
        ("DELETE", "/b/lake/shard=00/processed/prices/month=2026-11/data.parquet", "free", "processed", "0"),
    ],
)
def test_a_logged_request_is_priced_and_attributed_by_its_key(method, target, price, area, shard):
    assert scale_out.price_class(method, target) == price
    assert scale_out.request_area(target) == area
    assert scale_out.request_shard(target) == shard


def test_tally_counts_lost_compare_and_swaps_from_412_answers():
    requests = [
        ("PUT", "/b/lake/processed/prices/month=2026-11/data.parquet", 200),
        ("PUT", "/b/lake/processed/prices/month=2026-11/data.parquet", 412),
        ("GET", "/b/lake/processed/prices/month=2026-11/data.parquet", 200),
    ]
    found = scale_out.tally(requests)
    assert (found["total"], found["class_a"], found["class_b"], found["precondition_failed"]) == (3, 2, 1, 1)
    assert found["by_area"] == {"processed": {"a": 2, "b": 1}}


# ---------------------------------------------------------------------------------------------- end to end


def _lake_rows(uri: str, dataset: str) -> list[tuple[str, str]]:
    from lake import Lake

    frame = Lake.open(uri).read_dataset(dataset, columns=["date"])
    return [(t, d.isoformat()) for t, d in zip(frame["ticker"], frame["date"], strict=True)]


def _source_rows(symbols: list[str], ranges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    from pipelines.sources.sample import SampleSource

    source = SampleSource()
    return {
        (symbol, day.isoformat())
        for symbol in symbols
        for start, end in ranges
        for day in source.history(symbol, start, end)["date"]
    }


@pytest.mark.slow
def test_the_smoke_run_writes_every_figure_and_its_lakes_hold_exactly_the_source_bars(tmp_path, monkeypatch):
    server = scale_out.LoggedMotoServer(free_port(), log_path=tmp_path / "access.log").start()
    try:
        out, work = tmp_path / "scale_out.json", tmp_path / "work"
        command = [sys.executable, "-m", "bench.scale_out", "--smoke", "--out", str(out), "--work", str(work)]
        command += ["--keep", "--endpoint", server.endpoint, "--server-log", str(server.log_path)]
        completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500)
        assert completed.returncode == 0, completed.stderr[-3000:]
        results = json.loads(out.read_text())

        # The figures: throughput against N for both backends and modes, costs, memory, projection.
        assert results["run"]["scale"] == "smoke" and results["all_exact"] is True
        for backend in ("local", "s3"):
            table = results["throughput"][backend]
            assert set(table["sharded"]) == {"1", "2"} and set(table["shared"]) == {"2"}
            for entry in [*table["sharded"].values(), *table["shared"].values()]:
                for key in ("wall_s", "ticker_months_per_s", "rows_per_s", "speedup", "cpu_s", "cas_retries"):
                    assert _number(entry[key]), (backend, key, entry)
            assert _number(results["cost"][backend]["cpu_s_per_ticker_month"])
            assert all(_number(s["peak_rss_mb"]) for s in results["cost"][backend]["per_shard"])
        assert results["cost"]["s3"]["requests_per_ticker"]["raw.a"] >= 1  # at least the raw PUT
        assert results["cost"]["s3"]["requests_per_shard_month"]["processed.a"] >= 4  # a PUT per dataset
        assert _number(results["throughput"]["s3"]["shared"]["2"]["precondition_failed"])
        projection = results["projection"]
        for key in ("tasks", "task_memory_gb", "s3_request_usd"):
            assert _number(projection["backfill"][key]), key
        assert _number(projection["backfill"]["measured_wall"]["fargate_usd"])
        assert _number(projection["increment"]["measured_wall"]["usd_per_year"])

        # The lakes, read back here: every dataset holds exactly the source's bars, once, each ticker only in
        # its own shard's lake (sharded), and nothing lost when two workers shared the month objects.
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TICKERLAKE_UNIVERSE", str(next((work / "session").rglob("universe-6.csv"))))
        symbols = universe.symbols(6)
        checked = 0
        for run in results["runs"]:
            if run["kind"] == "backfill" and run["mode"] == "sharded":
                continue  # its lakes got the increment afterwards: checked with the increment's run
            ranges = [(run["start"], run["end"])] if run["kind"] == "backfill" else []
            if run["kind"] == "increment":
                backfill = next(
                    r for r in results["runs"] if r["lakes"] == run["lakes"] and r["kind"] == "backfill"
                )
                ranges = [(backfill["start"], backfill["end"]), (run["start"], run["end"])]
            wanted = _source_rows(symbols, ranges)
            for dataset in DATASETS:
                seen: Counter[tuple[str, str]] = Counter()
                for index, uri in enumerate(run["lakes"]):
                    rows = _lake_rows(uri, dataset)
                    seen.update(rows)
                    if run["mode"] == "sharded":
                        assert {scale_out.shard_of(t, run["workers"]) for t, _ in rows} <= {index}, uri
                assert set(seen) == wanted, (run["backend"], run["mode"], run["kind"], dataset)
                assert max(seen.values()) == 1, (run["backend"], run["mode"], dataset)
            checked += 1
        assert checked == 6  # per backend: the increments of N=1 and N=2, the shared N=2 backfill
    finally:
        server.stop()


def test_an_error_answer_in_the_servers_coloured_log_is_counted(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        b'127.0.0.1 - - [02/Dec/2026 12:05:42] "PUT /bkt/lake/a.json HTTP/1.1" 200 -\n'
        b'127.0.0.1 - - [02/Dec/2026 12:05:42] "\x1b[31m\x1b[1mPUT /bkt/lake/a.json HTTP/1.1\x1b[0m" 412 -\n'
        b'127.0.0.1 - - [02/Dec/2026 12:05:42] "GET /other/lake/a.json HTTP/1.1" 200 -\n'
    )
    server = scale_out.LoggedMotoServer(0, log_path=log)
    found = server.requests_since(0, "bkt")
    assert found == [("PUT", "/bkt/lake/a.json", 200), ("PUT", "/bkt/lake/a.json", 412)]
    assert scale_out.tally(found)["precondition_failed"] == 1
