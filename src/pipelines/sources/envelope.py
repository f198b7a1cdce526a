"""The raw envelope: one source fetch of one ticker - every daily bar the source returned for the range
asked - stored verbatim in the lake as one raw object.

.. code-block:: text

    {"envelope_version": 1,
     "source": "yfinance" | "sample",
     "ticker": "DBS19",                 # as asked (DR or Yahoo symbol)
     "symbol": "D05.SI",                # the Yahoo symbol
     "as_of": "2025-06-10",             # the trading date (exchange-local) of the last bar
     "fetched_at": "2025-06-10T10:01:02.123456Z",
     "request": {"start": "...", "end": "...", "interval": "1d", "auto_adjust": false, "actions": true},
     "payload": {"history": [{"date", "open", "high", "low", "close", "adj_close", "volume",
                              "dividends", "splits"}],
                 "facts": {"name", "currency", "exchange", "market_cap", ...}}}  # as of the last bar

Numbers that are not finite are stored as ``null`` (strict JSON); parsing then refuses them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

ENVELOPE_VERSION = 1
HISTORY_FIELDS = ("date", "open", "high", "low", "close", "adj_close", "volume", "dividends", "splits")
FACT_FIELDS = (
    "name",
    "currency",
    "exchange",
    "exchange_name",
    "quote_type",
    "sector",
    "industry",
    "market_cap",
    "shares_outstanding",
    "pe_ratio",
    "forward_pe",
    "eps",
    "dividend_yield",
    "beta",
    "fifty_two_week_high",
    "fifty_two_week_low",
    "timezone",
)


class HistoryRow(TypedDict):
    date: str
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    adj_close: float | None
    volume: int | None
    dividends: float
    splits: float


class Payload(TypedDict):
    history: list[HistoryRow]
    facts: dict[str, Any]
    facts_error: NotRequired[str]


class RawEnvelope(TypedDict):
    envelope_version: int
    source: Literal["yfinance", "sample"]
    ticker: str
    symbol: str
    as_of: str
    fetched_at: str
    request: dict[str, Any]
    payload: Payload


def utc_iso(when: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and a Z: 2025-06-10T10:01:02.123456Z."""
    if when.tzinfo is None:
        raise ValueError(f"timestamp {when!r} must be timezone-aware")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_number(value: Any) -> float | int | None:
    """A JSON-safe number: None for missing, NaN or infinite values; ints stay ints."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return int(value)
    return number


def make_envelope(
    *,
    source: Literal["yfinance", "sample"],
    ticker: str,
    symbol: str,
    as_of: dt.date,
    fetched_at: dt.datetime | str,
    request: Mapping[str, Any],
    history: list[HistoryRow],
    facts: Mapping[str, Any],
    facts_error: str | None = None,
) -> RawEnvelope:
    payload: Payload = {"history": list(history), "facts": dict(facts)}
    if facts_error:
        payload["facts_error"] = facts_error
    return {
        "envelope_version": ENVELOPE_VERSION,
        "source": source,
        "ticker": ticker,
        "symbol": symbol,
        "as_of": as_of.isoformat(),
        "fetched_at": fetched_at if isinstance(fetched_at, str) else utc_iso(fetched_at),
        "request": dict(request),
        "payload": payload,
    }


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as strict JSON (UTF-8): refuses NaN/inf rather than writing non-standard JSON."""
    return json.dumps(envelope, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
