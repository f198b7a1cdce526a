"""Cache: the report cache against a moto server (a real S3 API over HTTP).

L1 hit (SQLite), L2 hit (S3, L1 emptied before each lookup), a bare boto3 GET of the same objects an L2
hit reads (`report.json` and `chart.b64`), and a full miss (report data from the lake, narrative without
an LLM, chart, PDF rendered and uploaded). L2 and bare GETs are interleaved so noise hits both alike.

The lake a miss reads is the session's history lake of the universe (`lake: [tickers, years]`: month
objects holding every ticker, as a deployment's lake is) and the report is for its first ticker; without
`lake`, a lake of the bundled universe's first listing over `years` is seeded through the stages.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _lakes
from bench._common import END_DATE, REPO, child_main, log, p50, run_child

MODULE = "bench.cache"
BUCKET = "tickerlake-bench-cache"


def task_cache(args: dict[str, Any]) -> dict[str, Any]:
    import os

    import boto3

    sys.path.insert(0, str(REPO))
    from tests.moto_server import MotoServer, free_port

    server = MotoServer(free_port()).start()
    try:
        os.environ.update(server.env())
        from lake import Lake, layout
        from lake.store import open_store
        from pipelines.sources import load_universe
        from report_app.cache import CHART_FILE, REPORT_FILE, ReportCache
        from report_app.service import ReportService

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="tickerlake-bench-cache-") as root:
            if args.get("lake"):
                count, years = args["lake"]
                symbol = _lakes.use_universe(count)[0]
                lake = Lake.open(str(_lakes.history_lake(count, years)))  # read only
            else:
                symbol = load_universe().symbols[0]  # the bundled universe's first listing
                lake = _lakes.open_lake(Path(root) / "lake")
                _lakes.seed_with_stages(
                    lake, [symbol], _lakes.years_before(END_DATE, args["years"]), END_DATE
                )
            store = open_store(f"s3://{BUCKET}")
            cache = ReportCache.create("hybrid", sqlite_path=Path(root) / "cache.db", store=store)
            service = ReportService(lake, cache, store, llm_client=None)
            date = lake.latest_date("indicators", symbol)
            keys = [layout.cache_key(symbol, date, name) for name in (REPORT_FILE, CHART_FILE)]
            try:  # one PDF per language (the report below is in Thai)
                pdf_key = layout.report_pdf_key(symbol, date, "th")
            except TypeError:  # a layout from before languages had their own PDF
                pdf_key = layout.report_pdf_key(symbol, date)

            def forget_everything() -> None:
                assert cache.l1 is not None
                cache.l1.clear()
                for key in [*keys, pdf_key]:
                    client.delete_object(Bucket=BUCKET, Key=key)

            misses = []
            for _ in range(args["miss_reps"] + 1):
                forget_everything()
                started = time.perf_counter()
                result = service.report(symbol, date, lang="th", with_pdf=True)
                misses.append(time.perf_counter() - started)
                assert result.cache == "miss" and result.pdf_url, result
            misses = misses[1:]  # the first one imports reportlab and matplotlib

            hits_l1 = []
            for _ in range(args["reps"] * 10):
                started = time.perf_counter()
                lookup = cache.get(symbol, date)
                hits_l1.append(time.perf_counter() - started)
                assert lookup.tier == "l1"

            hits_l2, raw_both, raw_one = [], [], []
            for _ in range(args["reps"]):
                cache.l1.clear()
                started = time.perf_counter()
                lookup = cache.get(symbol, date)
                hits_l2.append(time.perf_counter() - started)
                assert lookup.tier == "l2"
                started = time.perf_counter()
                for key in keys:
                    client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                raw_both.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
                raw_one.append(time.perf_counter() - started)
            sizes = {key: client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] for key in keys}
    finally:
        server.stop()
    l2, raw = p50(hits_l2) * 1000, p50(raw_both) * 1000
    return {
        "l1_hit_ms_p50": round(p50(hits_l1) * 1000, 3),
        "l2_hit_ms_p50": round(l2, 2),
        "raw_get_ms_p50": round(raw, 2),
        "raw_get_one_object_ms_p50": round(p50(raw_one) * 1000, 2),
        "l2_over_raw": round(l2 / raw, 2),
        "miss_report_s": round(p50(misses), 3),
        "miss_samples_s": [round(s, 3) for s in misses],
        "object_bytes": sizes,
        "reps": args["reps"],
        "symbol": symbol,
        "lake": args.get("lake") or f"{symbol} × {args['years']} years",
    }


def measure(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("lake"):
        _lakes.ensure("history", *config["lake"])
    log("cache: moto server, L1/L2/raw GET/miss")
    found = run_child(MODULE, "cache", config)
    log(
        f"cache: l1 {found['l1_hit_ms_p50']} ms, l2 {found['l2_hit_ms_p50']} ms, raw {found['raw_get_ms_p50']} ms, "
        f"miss {found['miss_report_s']} s"
    )
    return found


if __name__ == "__main__":
    child_main({"cache": task_cache})
