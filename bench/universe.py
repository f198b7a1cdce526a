"""The bench's synthetic universe: `TICKERS` Yahoo-style symbols spread over the sample source's markets.

`python -m bench.universe 500 PATH` writes the CSV (`yahoo_symbol,name,exchange,currency`); the first N rows
of the 500 are the N-ticker universe, so a run at 50 tickers is a prefix of the run at 500. Plain symbols
are US listings; the suffixed ones follow their exchange's calendar (holidays differ, as in the bundled
universe). The sample source serves any valid symbol deterministically.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

TICKERS = 500
#: (suffix, exchange, currency), cycled: 2 of 5 US, then SGX, TSE, HKEX.
MARKETS = (
    ("", "NASDAQ", "USD"),
    (".SI", "SGX", "SGD"),
    ("", "NYSE", "USD"),
    (".T", "TSE", "JPY"),
    (".HK", "HKEX", "HKD"),
)


def symbols(count: int = TICKERS) -> list[str]:
    return [row[0] for row in rows(count)]


def rows(count: int = TICKERS) -> list[tuple[str, str, str, str]]:
    found = []
    for index in range(count):
        suffix, exchange, currency = MARKETS[index % len(MARKETS)]
        symbol = f"BX{index:04d}{suffix}"
        found.append((symbol, f"Bench synthetic {index:04d}", exchange, currency))
    return found


def write(count: int, path: Path) -> Path:
    """The universe CSV of the first `count` synthetic tickers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["yahoo_symbol", "name", "exchange", "currency"])
        writer.writerows(rows(count))
    return path


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else TICKERS
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"universe-{count}.csv")
    print(write(count, target))
