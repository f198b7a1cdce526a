"""Fault injection end to end, on the month grain: an S3 outage mid-backfill, a run killed with kill -9 while
it writes month objects, two runs writing the same month objects at once, and the bad-payload corpus through
the whole graph. The lake loses nothing and shows nothing half done.

The sample source is deterministic per (ticker, date), so a repaired lake's values must equal a clean run's
over the same range; only the lineage columns (run, time, raw key) differ.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dagster_project.definitions import build_defs
from dagster_project.runner import run_lake
from lake import Lake, layout
from pipelines import stages
from pipelines.exceptions import PayloadError
from pipelines.parsing import parse_fetch
from pipelines.sources import SampleSource, envelope_bytes
from tests.fault_tools import TcpProxy
from tests.moto_server import MotoServer, free_port

pytestmark = pytest.mark.slow

DATASETS = ("prices", "indicators", "percentiles", "features")
LINEAGE = ["source_raw_key", "source_raw_version", "computation_version", "computed_at", "run_id"]
CORPUS = Path(__file__).parent / "fixtures" / "bad_payloads"


# -- what every test checks ------------------------------------------------------------------------------


def _values(lake: Lake, dataset: str, tickers) -> pd.DataFrame:
    frame = lake.read_dataset(dataset, tickers)
    return frame.drop(columns=LINEAGE).sort_values(["ticker", "date"], ignore_index=True)


def _assert_same_latest_view(lake: Lake, clean: Lake, tickers) -> None:
    for dataset in DATASETS:
        got, want = _values(lake, dataset, tickers), _values(clean, dataset, tickers)
        assert not got.duplicated(["ticker", "date"]).any(), f"duplicate rows in {dataset}"
        assert len(want) > 0 and set(want["ticker"]) == set(tickers), dataset
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def _assert_every_visible_object_whole(lake: Lake) -> int:
    """Every key under processed/ is a month object, a complete Parquet file holding as many rows as its
    metadata says, sorted by (ticker, date), unique, all of its month; returns how many there are."""
    count = 0
    for info in lake.store.list("processed/"):
        dataset, month = layout.parse_month_key(info.key)  # ValueError: a stray object is visible
        stored = lake.store.get(info.key)
        metadata = lake.store.head(info.key, stored.info.version_id).metadata
        table = pq.read_table(pa.BufferReader(stored.data))
        assert table.num_rows == int(metadata["row-count"]) > 0, info.key
        assert metadata["computation-type"] == dataset
        keys = pc.binary_join_element_wise(
            table.column("ticker"), pc.cast(table.column("date"), pa.string()), "|"
        ).to_pylist()
        assert keys == sorted(keys) and len(set(keys)) == len(keys), f"{info.key}: unsorted or repeated rows"
        assert {key.split("|")[1][:7] for key in keys} == {month}, info.key
        count += 1
    return count


def _month_objects(lake: Lake) -> dict[tuple[str, str], pd.DataFrame]:
    """(dataset, month) → the latest rows of every month object."""
    return {(d, m): lake.read_month(d, m) for d in DATASETS for m in lake.months(d)}


def _clean_lake(tmp_path: Path, tickers, start, end) -> Lake:
    uri = str(tmp_path / "clean")
    Lake.open(uri).init()
    with dg.instance_for_test() as instance:
        summary = run_lake(
            build_defs(lake_uri=uri), tickers, start, end, instance=instance, with_reports=False
        )
    assert summary.ok, summary.to_dict()
    return Lake.open(uri)


def _run_cli(uri: str, tickers, start: str, end: str, log: Path) -> subprocess.Popen:
    """`tickerlake run` in its own session (recorded in the test's DAGSTER_HOME), the JSON summary on stdout."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tickerlake_cli.main",
            "run",
            "--lake",
            uri,
            "--tickers",
            ",".join(tickers),
            "--start",
            start,
            "--end",
            end,
            "--source",
            "sample",
            "--no-reports",
            "--format",
            "json",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child holds it; closed when the test's files go
        start_new_session=True,
    )


def _finish(process: subprocess.Popen, log: Path, timeout: float = 600) -> dict:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, log.read_text()[-3000:]
    return json.loads(out)


# -- an S3 outage in the middle of a backfill ------------------------------------------------------------


@pytest.fixture
def s3_proxy(monkeypatch):
    """A moto server behind a TCP proxy: the tests cut and restore the network to S3 with the proxy."""
    server = MotoServer(free_port()).start()
    proxy = TcpProxy(server.port, free_port()).start()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    yield proxy
    proxy.stop()
    server.stop()


def test_s3_outage_mid_backfill_fails_cleanly_and_a_rerun_completes(s3_proxy, tmp_path):
    tickers, start, end = ["C6L.SI", "S63.SI", "V03.SI"], "2025-03-03", "2025-06-13"
    months = layout.months_between(start, end)
    uri = "s3://fault-outage/lake"
    lake = Lake.open(uri)
    lake.init()
    defs = build_defs(lake_uri=uri)
    written = []

    def cut_after_the_first_month(dataset, write):
        written.append((dataset, write.month))
        if len(written) == 1:
            s3_proxy.stop()  # S3 becomes unreachable once the first month object of the backfill is reported

    with dg.instance_for_test() as instance:
        broken = run_lake(
            defs,
            tickers,
            start,
            end,
            instance=instance,
            with_reports=False,
            on_write=cut_after_the_first_month,
        )
        assert not broken.ok and broken.error, broken.to_dict()  # the run failed and says why
        # The prices stage writes a chunk's months concurrently and reports them once they are all written:
        # what it reported is every object the run wrote; no later stage wrote anything.
        assert written[0] == ("prices", months[0]) and {d for d, _ in written} == {"prices"}, written
        failures = [  # the run's record names the cause: S3 unreachable
            record.dagster_event.event_specific_data.error
            for record in instance.all_logs(broken.run_id)
            if record.dagster_event and record.dagster_event.event_type_value == "STEP_FAILURE"
        ]
        assert len(failures) == 1 and "StoreUnavailable" in failures[0].cause.message
        assert "unreachable" in failures[0].cause.message
        s3_proxy.start()
        assert _assert_every_visible_object_whole(lake) == len(written)  # each reported month, whole
        repaired = run_lake(defs, tickers, start, end, instance=instance, with_reports=False)
    assert repaired.ok, repaired.to_dict()
    assert _assert_every_visible_object_whole(lake) == len(DATASETS) * len(months)
    first = lake.month_versions("prices", months[0])
    assert [v.run_id for v in first] == [repaired.run_id, broken.run_id]  # both kept, the rerun's latest
    _assert_same_latest_view(lake, _clean_lake(tmp_path, tickers, start, end), tickers)


# -- kill -9 while month objects are being written -------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_process_killed_while_writing_leaves_nothing_half_done(backend, tmp_path, request):
    tickers = ["C6L.SI", "S63.SI", "V03.SI", "D05.SI", "NVDA", "0700.HK"]
    start, end = "2025-01-02", "2025-06-13"
    if backend == "s3":
        request.getfixturevalue("moto_server")
        bucket = f"fault-kill-{os.getpid()}"
        uri = f"s3://{bucket}/lake"
    else:
        uri = str(tmp_path / "lake")
    lake = Lake.open(uri)
    lake.init()
    with dg.instance_for_test() as instance:  # the versions a killed run must leave readable
        first = run_lake(build_defs(lake_uri=uri), tickers, start, end, instance=instance, with_reports=False)
    assert first.ok, first.to_dict()
    before = _month_objects(lake)
    old_versions = {(d, m): frame.attrs["version_id"] for (d, m), frame in before.items()}
    manifests = len(lake.list_keys("lineage/indicators/"))

    log = tmp_path / "killed.log"
    process = _run_cli(uri, tickers, start, end, log)
    deadline = time.monotonic() + 300
    while len(lake.list_keys("lineage/indicators/")) == manifests:  # the next write of a month is starting
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the run wrote nothing in time"
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)  # the indicators stage is writing its month objects
    process.wait()

    assert _assert_every_visible_object_whole(lake) == len(before)
    after = _month_objects(lake)
    killed_run = {frame["run_id"].iloc[0] for frame in after.values()} - {first.run_id}
    assert len(killed_run) == 1, "the killed run wrote no month object before it died"
    assert all(
        after[("features", m)].attrs["version_id"] == old_versions[("features", m)]
        for m in lake.months("features")
    )
    for (dataset, month), frame in after.items():
        assert frame["run_id"].nunique() == 1  # one run's version, never a mix of two
        pd.testing.assert_frame_equal(  # the latest version: the old one, or the new one whole
            frame.drop(columns=LINEAGE), before[(dataset, month)].drop(columns=LINEAGE)
        )
        old = lake.read_month(dataset, month, version_id=old_versions[(dataset, month)])
        pd.testing.assert_frame_equal(old, before[(dataset, month)])  # the old version still readable
        versions = lake.month_versions(dataset, month)  # no version listed that was not written whole
        assert len(versions) in (1, 2) and versions[0].version_id == frame.attrs["version_id"]
        for version in versions:
            assert len(lake.read_month(dataset, month, version.version_id)) == version.row_count
    if backend == "local":
        strays = [p for p in (Path(uri) / "processed").rglob("*") if p.is_file() and p.name != "data.parquet"]
        assert strays == []
    else:
        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    rerun = _finish(_run_cli(uri, tickers, start, end, tmp_path / "rerun.log"), tmp_path / "rerun.log")
    assert rerun["success"] and rerun["run_id"] not in killed_run
    assert _assert_every_visible_object_whole(lake) == len(before)
    for (dataset, month), frame in _month_objects(lake).items():
        assert set(frame["run_id"]) == {rerun["run_id"]}
        pd.testing.assert_frame_equal(
            frame.drop(columns=LINEAGE), before[(dataset, month)].drop(columns=LINEAGE)
        )


# -- two runs writing the same month objects at once -----------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_runs_writing_the_same_months_at_once_keep_both_runs_rows(backend, tmp_path, request):
    first_tickers, second_tickers = ["C6L.SI", "S63.SI"], ["V03.SI", "D05.SI"]
    start, end = "2025-04-01", "2025-06-13"
    months = layout.months_between(start, end)
    if backend == "s3":
        request.getfixturevalue("moto_server")
        uri = f"s3://fault-race-{os.getpid()}/lake"
    else:
        uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    logs = tmp_path / "first.log", tmp_path / "second.log"
    processes = [  # on one brand-new DAGSTER_HOME, as two users would
        _run_cli(uri, first_tickers, start, end, logs[0]),
        _run_cli(uri, second_tickers, start, end, logs[1]),
    ]
    runs = [_finish(process, log)["run_id"] for process, log in zip(processes, logs, strict=True)]
    lake = Lake.open(uri)
    assert _assert_every_visible_object_whole(lake) == len(DATASETS) * len(months)
    for dataset in DATASETS:
        for month in months:
            versions = lake.month_versions(dataset, month)
            assert sorted(v.run_id for v in versions) == sorted(runs), (dataset, month)
            latest = lake.read_month(dataset, month)
            assert latest.attrs["version_id"] == versions[0].version_id
            for tickers, run_id in zip((first_tickers, second_tickers), runs, strict=True):
                rows = latest[latest["ticker"].isin(tickers)]  # no writer lost the other's rows
                assert set(rows["ticker"]) == set(tickers) and set(rows["run_id"]) == {run_id}, (
                    dataset,
                    month,
                )
    both = first_tickers + second_tickers
    _assert_same_latest_view(lake, _clean_lake(tmp_path, both, start, end), both)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_reader_never_sees_a_month_object_being_replaced(backend, tmp_path, request):
    """`read_dataset` while another process's run replaces the same month object, again and again: every
    read is one whole version (what a check or a report reads while a backfill writes the month)."""
    if backend == "s3":
        request.getfixturevalue("moto_server")
        uri = f"s3://fault-read-{os.getpid()}/lake"
    else:
        uri = str(tmp_path / "lake")
    lake = Lake.open(uri)
    lake.init()
    tickers, month = ["C6L.SI", "S63.SI", "V03.SI", "D05.SI", "NVDA", "AAPL", "MSFT", "SPY"], "2025-04"
    first, last = layout.month_bounds(month)
    stages.ingest_raw(lake, SampleSource(), tickers, first, last, "seed")
    stages.build_prices(lake, tickers, first, last, "seed")
    rows = lake.read_month("prices", month).drop(columns=LINEAGE[2:])
    stop, failures, reads, writes = threading.Event(), [], [0], [0]

    def writer() -> None:
        while not stop.is_set():
            writes[0] += 1
            run_id = f"writer-{writes[0]}-" + "x" * (writes[0] % 97)  # each version of another size
            lake.write_month("prices", month, rows, run_id=run_id, computation_version="1")

    def reader() -> None:
        while not stop.is_set() and not failures:
            try:
                frame = Lake.open(uri).read_dataset("prices", start=first, end=last)
                assert len(frame) == len(rows) and frame["run_id"].nunique() == 1
                reads[0] += 1  # (a lost increment between threads does not matter)
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader) for _ in range(3))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not failures and reads[0] < 300:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, f"read {reads[0] + 1} of {month} during {writes[0]} writes: {failures[0]!r}"
    assert reads[0] > 0 and writes[0] > 1


# -- the bad-payload corpus through the whole graph ------------------------------------------------------


def test_the_bad_payload_corpus_is_quarantined_and_the_other_tickers_are_unaffected(tmp_path):
    """The corpus (every file a fetch of D05.SI, routed by its manifest entry) and one good fetch of C6L.SI,
    through `run_lake` with the `dir:` source: each file is stored verbatim and its bad bars or whole fetch
    quarantined, or refused as raw with its bytes kept; C6L.SI is computed as from a clean source."""
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    assert len(manifest) >= 30
    folder = tmp_path / "payloads"
    shutil.copytree(CORPUS, folder)
    dates = sorted(entry["as_of"] for entry in manifest)
    start, end = dates[0], dates[-1]
    [good] = SampleSource().fetch("C6L.SI", start, end)  # one fetch: every bar of the range
    (folder / "good-C6L.SI.json").write_bytes(envelope_bytes(good))
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    with dg.instance_for_test() as instance:
        summary = run_lake(
            build_defs(lake_uri=uri, source=f"dir:{folder}"),
            ["D05.SI", "C6L.SI"],
            start,
            end,
            instance=instance,
            with_reports=False,
        )
    assert summary.ok, summary.to_dict()  # bad input is quarantined, not a failed run
    assert "prices_not_quarantined" in summary.checks_failed  # and shows as a failed check
    lake = Lake.open(uri)
    _assert_every_visible_object_whole(lake)

    fetches = {lake.get_raw(info.key): info for info in lake.raw_fetches("D05.SI")}
    records = lake.quarantine_records("prices", "D05.SI") + lake.quarantine_records("raw", "D05.SI")
    assert {r["ticker"] for r in records} == {"D05.SI"}
    for entry in manifest:
        body, day = (CORPUS / entry["file"]).read_bytes(), entry["as_of"]
        info = fetches.get(body)
        if info is None:  # refused before it could be a raw object: its record keeps the exact bytes
            [record] = [r for r in lake.quarantine_records("raw", "D05.SI", day) if _kept(lake, r) == body]
            assert record["reason"].startswith("raw payload not stored: ")
            assert f"raw_prices D05.SI {day}" in summary.quarantined
            continue
        assert info.key.startswith("raw/dir/ticker=D05.SI/")  # stored verbatim, one fetch per file
        try:
            _, rejected = parse_fetch(body, expected_symbol="D05.SI")
        except PayloadError:  # the whole fetch is bad
            rejected = True
        if not rejected:  # every bar good on its own (bars out of order, as_of not the last bar)
            continue
        mine = [r for r in records if r.get("source_key") == info.key]
        assert mine, f"{entry['file']} was not quarantined"
        # Under its routed date; a whole fetch whose own as_of is unusable, under its fetch date brought
        # into the run's range (every fetch of this run is made today: the range's last date).
        assert {r["date"] for r in mine} <= {day, end}, (entry["file"], [r["date"] for r in mine])
        assert all(r["reason"].startswith(("bad raw payload: ", "bad raw bar: ")) for r in mine)
        assert all(_kept(lake, r) == body for r in mine)
    quarantined_dates = {key.split()[2] for key in summary.quarantined if key.split()[1] == "D05.SI"}
    assert quarantined_dates and quarantined_dates <= set(dates)

    # Every D05.SI row that was stored is a good bar of the fetch its lineage names.
    stored = lake.read_dataset("prices", "D05.SI", start, end)
    for row in stored.itertuples(index=False):
        body = lake.get_raw(row.source_raw_key, row.source_raw_version)
        frame, _ = parse_fetch(body, expected_symbol="D05.SI")
        bar = frame[frame["date"] == row.date]
        assert len(bar) == 1 and bar["close"].iloc[0] == row.close, (row.date, row.source_raw_key)

    # The good ticker in the same run: as from a clean source, nothing quarantined.
    assert not [key for key in summary.quarantined if " C6L.SI " in key]
    assert lake.quarantine_records("prices", "C6L.SI") == lake.quarantine_records("raw", "C6L.SI") == []
    _assert_same_latest_view(lake, _clean_lake(tmp_path, ["C6L.SI"], start, end), ["C6L.SI"])


def _kept(lake: Lake, record: dict) -> bytes:
    if "payload_base64" in record:
        return base64.b64decode(record["payload_base64"])
    return lake.store.get(record["payload_key"]).data
