"""Timing figures of the pipelines: `python -m bench.pipelines_bench` prints them (no assertion)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)


def _best(fn: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    started = time.perf_counter()
    import pandas as pd

    from pipelines.features import compute_features
    from pipelines.indicators import compute_indicators
    from pipelines.parsing import parse_envelope, parse_envelopes
    from pipelines.percentiles import compute_percentiles
    from pipelines.sources import SampleSource, envelope_bytes, load_universe

    print(f"imports                                   {time.perf_counter() - started:8.3f} s")
    source = SampleSource(clock=lambda: NOW)
    universe = load_universe()

    start = time.perf_counter()
    cold = sum(len(source.fetch(s, "2024-07-01", "2026-06-30")) for s in universe.symbols)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    sum(len(source.fetch(s, "2024-07-01", "2026-06-30")) for s in universe.symbols)
    warm_s = time.perf_counter() - start
    print(f"sample fetch {len(universe)} tickers x 2 years ({cold} envelopes)")
    print(f"  cold (5 exchange calendars, first use)  {cold_s:8.3f} s")
    print(f"  warm                                    {warm_s:8.3f} s")

    envelopes = source.fetch("NVDA", "2016-07-01", "2026-06-30")
    raw = [envelope_bytes(e) for e in envelopes]
    start = time.perf_counter()
    pd.concat([parse_envelope(r, expected_symbol="NVDA") for r in raw], ignore_index=True)
    print(f"parse_envelope x {len(raw)} (10 years, one ticker) {time.perf_counter() - start:8.3f} s")
    start = time.perf_counter()
    prices = parse_envelopes(raw, expected_symbol="NVDA")
    print(f"parse_envelopes, the same in one call    {time.perf_counter() - start:8.3f} s")

    indicators = compute_indicators(prices)
    rows = len(prices)
    print(f"10-year history of one ticker: {rows} rows (best / median of 7)")
    for name, fn in [
        ("compute_indicators", lambda: compute_indicators(prices)),
        ("compute_percentiles", lambda: compute_percentiles(indicators)),
        ("compute_features", lambda: compute_features(prices, indicators)),
        (
            "all three",
            lambda: compute_features(prices, (i := compute_indicators(prices))) is compute_percentiles(i),
        ),
    ]:
        best, median = _best(fn)
        print(f"  {name:<22} {best * 1000:8.1f} ms  {median * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
