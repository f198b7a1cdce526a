"""Fault injection end to end: S3 outages mid-backfill, processes killed while writing, concurrent runs,
and the bad-payload corpus through the whole graph. The lake loses nothing and shows nothing half-done.

Every test compares the lake's latest view with a clean run's over the same range (the sample source is
deterministic per (ticker, date), so the values must be identical; lineage columns naturally differ).
"""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dagster_project.definitions import build_defs
from dagster_project.runner import run_lake
from lake import Lake
from pipelines.sources import SampleSource, envelope_bytes
from tests.fault_tools import TcpProxy
from tests.moto_server import MotoServer, free_port

pytestmark = pytest.mark.slow

DATASETS = ("prices", "indicators", "percentiles", "features")
LINEAGE = ["source_raw_key", "source_raw_version", "computation_version", "computed_at", "run_id"]
CORPUS = Path(__file__).parent / "fixtures" / "bad_payloads"


def _values(lake: Lake, dataset: str, tickers) -> pd.DataFrame:
    frame = lake.read_dataset(dataset, tickers)
    return frame.drop(columns=LINEAGE).sort_values(["ticker", "date"], ignore_index=True)


def _assert_same_latest_view(lake: Lake, clean: Lake, tickers) -> None:
    for dataset in DATASETS:
        got, want = _values(lake, dataset, tickers), _values(clean, dataset, tickers)
        assert not got.duplicated(["ticker", "date"]).any(), f"duplicate rows in {dataset}"
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def _assert_every_visible_object_whole(lake: Lake) -> int:
    """Every processed key is a complete Parquet file of exactly one row; returns how many there are."""
    count = 0
    for info in lake.store.list("processed/"):
        assert info.key.endswith("/data.parquet"), f"stray object visible: {info.key}"
        table = pq.read_table(io.BytesIO(lake.store.get(info.key).data))
        assert table.num_rows == 1
        count += 1
    return count


def _clean_lake(tmp_path: Path, tickers, start, end) -> Lake:
    uri = str(tmp_path / "clean")
    Lake.open(uri).init()
    with dg.instance_for_test() as instance:
        summary = run_lake(
            build_defs(lake_uri=uri), tickers, start, end, instance=instance, with_reports=False
        )
    assert summary.ok
    return Lake.open(uri)


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
    tickers, start, end = ["C6L.SI", "S63.SI", "V03.SI"], "2025-05-19", "2025-06-13"
    uri = "s3://fault-outage/lake"
    lake = Lake.open(uri)
    lake.init()
    defs = build_defs(lake_uri=uri)
    cut = []

    def cut_after_first_chunk(chunk, _count):
        if not cut:
            s3_proxy.stop()  # S3 becomes unreachable in the middle of the backfill
            cut.append(chunk)

    with dg.instance_for_test() as instance:
        broken = run_lake(
            defs,
            tickers,
            start,
            end,
            chunk_size=1,
            instance=instance,
            on_chunk=cut_after_first_chunk,
            with_reports=False,
        )
        assert not broken.ok and len(broken.failed) == 2  # the two chunks after the outage failed, reported
        assert broken.done > 0
        s3_proxy.start()
        repaired = run_lake(defs, tickers, start, end, chunk_size=1, instance=instance, with_reports=False)
    assert repaired.ok
    visible = _assert_every_visible_object_whole(lake)
    assert visible == 4 * repaired.done
    _assert_same_latest_view(lake, _clean_lake(tmp_path, tickers, start, end), tickers)


def _run_cli(uri: str, tickers: str, start: str, end: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tickerlake_cli.main",
            "run",
            "--lake",
            uri,
            "--tickers",
            tickers,
            "--start",
            start,
            "--end",
            end,
            "--no-record",
            "--no-reports",
            "--workers",
            "1",
            "--chunk",
            "1",
        ],
        env=env or dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_process_killed_while_writing_leaves_nothing_half_done(backend, tmp_path, request):
    tickers, start, end = ["C6L.SI", "S63.SI"], "2025-03-03", "2025-06-13"
    if backend == "s3":
        request.getfixturevalue("moto_server")
        uri = f"s3://fault-kill-{os.getpid()}/lake"
    else:
        uri = str(tmp_path / "lake")
    lake = Lake.open(uri)
    lake.init()
    process = _run_cli(uri, ",".join(tickers), start, end)
    deadline = time.monotonic() + 240
    while sum(1 for _ in lake.store.list("processed/prices/")) < 20:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run wrote nothing in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # mid-backfill, while partitions are being written
    process.wait()
    _assert_every_visible_object_whole(lake)
    if backend == "local":
        root = Path(uri)
        strays = [p for p in (root / "processed").rglob("*") if p.is_file() and p.name != "data.parquet"]
        assert strays == []
    rerun = _run_cli(uri, ",".join(tickers), start, end)
    assert rerun.wait(600) == 0, rerun.stderr.read().decode()[-2000:]
    _assert_every_visible_object_whole(lake)
    _assert_same_latest_view(lake, _clean_lake(tmp_path, tickers, start, end), tickers)


def test_two_runs_writing_the_same_partitions_keep_both_versions(tmp_path):
    tickers, start, end = ["C6L.SI"], "2025-05-05", "2025-06-13"
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    first, second = _run_cli(uri, tickers[0], start, end), _run_cli(uri, tickers[0], start, end)
    assert first.wait(600) == 0, first.stderr.read().decode()[-2000:]
    assert second.wait(600) == 0, second.stderr.read().decode()[-2000:]
    lake = Lake.open(uri)
    for dataset in DATASETS:
        for ticker, date in lake.partitions(dataset, tickers[0])[:5]:
            versions = lake.list_versions(dataset, ticker, date)
            assert len(versions) == 2 and sum(v.is_latest for v in versions) == 1
    _assert_every_visible_object_whole(lake)
    _assert_same_latest_view(lake, _clean_lake(tmp_path, tickers, start, end), tickers)


def test_the_bad_payload_corpus_is_quarantined_and_the_other_tickers_are_unaffected(tmp_path):
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    assert len(manifest) >= 30
    folder = tmp_path / "payloads"
    shutil.copytree(CORPUS, folder)
    dates = sorted(entry["as_of"] for entry in manifest)
    start, end = dates[0], dates[-1]
    for envelope in SampleSource().fetch("C6L.SI", start, end):  # a healthy ticker in the same run
        (folder / f"good-C6L.SI-{envelope['as_of']}.json").write_bytes(envelope_bytes(envelope))
    uri = str(tmp_path / "lake")
    Lake.open(uri).init()
    with dg.instance_for_test() as instance:
        summary = run_lake(
            build_defs(lake_uri=uri, source=f"dir:{folder}"),
            ["D05.SI", "C6L.SI"],
            start,
            end,
            chunk_size=1,
            instance=instance,
            with_reports=False,
        )
    assert summary.ok  # every bad partition was explicitly quarantined: the run succeeds
    lake = Lake.open(uri)
    assert {d for _, d in lake.partitions("prices", "D05.SI")} == set()
    assert len(lake.partitions("features", "C6L.SI")) == len(SampleSource().fetch("C6L.SI", start, end))
    for entry in manifest:
        body = (CORPUS / entry["file"]).read_bytes()
        date = entry["as_of"]
        records = lake.quarantine_records("prices", "D05.SI", date) + lake.quarantine_records(
            "raw", "D05.SI", date
        )
        assert records, f"{entry['file']} was not quarantined"
        assert records[-1]["reason"]
        assert ("D05.SI", date) in summary.quarantined
        raw = lake.latest_raw("D05.SI", date)
        if raw is not None:  # stored as a raw object: kept verbatim
            assert lake.get_raw(raw.key) == body, (entry["file"], raw.key)
        else:  # refused before it could be a raw object: the quarantine record keeps the exact bytes
            record = records[-1]
            if "payload_base64" in record:
                kept = base64.b64decode(record["payload_base64"])
            else:
                kept = lake.store.get(record["payload_key"]).data
            assert kept == body
