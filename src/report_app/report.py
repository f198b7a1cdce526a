"""Report data for one (ticker, date): precomputed indicators, percentiles and features read from the lake.

Nothing here recomputes an indicator from prices: the report is built from the rows the pipeline wrote
(`processed/indicators|percentiles|features/month=M/data.parquet`, read with `Lake.read_dataset`: the
ticker's rows only) and from the company facts of the raw fetch those rows name in their lineage.
The only arithmetic done at request time is on those precomputed values (e.g. the distance of the close
from an SMA, or the day's volume as `volume_ratio x volume_sma_20`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lake import layout
from lake.exceptions import LakeError

log = logging.getLogger(f"tickerlake.{__name__}")

REPORT_DATASETS: tuple[str, ...] = ("indicators", "percentiles", "features")
CHART_SESSIONS = 120
#: The indicator columns the chart draws (`report_app.chart`): what `ReportData.history` keeps.
CHART_COLUMNS: tuple[str, ...] = (
    "close",
    "sma_20",
    "sma_50",
    "sma_200",
    "bb_upper",
    "bb_lower",
    "rsi_14",
    "volume_ratio",
    "volume_sma_20",
)
#: How many of the newest months `has_indicators` looks at (a symbol outside the universe is served when
#: it had indicators within about a year).
RECENT_MONTHS = 13
LINEAGE_COLUMNS = ("source_raw_key", "source_raw_version", "computation_version", "computed_at", "run_id")
_NON_VALUE_COLUMNS = {"ticker", "date", *LINEAGE_COLUMNS}


class ReportDataNotFound(LakeError):
    """The lake has no precomputed data for the ticker (or for that date)."""


@dataclass(frozen=True)
class DataSource:
    """Where one dataset row of the report came from: the lineage printed in the transparency footer."""

    dataset: str
    key: str
    version_id: str | None = None
    computed_at: str | None = None
    computation_version: str | None = None
    source_raw_key: str | None = None
    source_raw_version: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "dataset": self.dataset,
            "key": self.key,
            "version_id": self.version_id,
            "computed_at": self.computed_at,
            "computation_version": self.computation_version,
            "source_raw_key": self.source_raw_key,
            "source_raw_version": self.source_raw_version,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSource:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass
class ReportData:
    """Everything a report is made of, for one ticker and trading date.

    `symbol` is the Yahoo symbol used in the lake (``D05.SI``); `display` is what the user asked for and
    sees (the DR symbol ``DBS19`` when there is one). Values are plain floats (None when null).
    `history` holds the indicator rows of the last sessions up to `date` (ticker, date and the
    `CHART_COLUMNS`), for the chart.
    """

    symbol: str
    date: str
    display: str | None = None
    indicators: dict[str, float | None] = field(default_factory=dict)
    percentiles: dict[str, float | None] = field(default_factory=dict)
    features: dict[str, float | None] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame | None = None
    sources: list[DataSource] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.display:
            self.display = self.symbol

    @property
    def name(self) -> str:
        name = self.facts.get("name") or self.facts.get("long_name") or self.facts.get("short_name")
        return str(name) if name else str(self.display)

    @property
    def currency(self) -> str:
        return str(self.facts.get("currency") or "")

    def values(self) -> dict[str, float | None]:
        """Every number a narrative may cite, by placeholder name (the names of the dataset columns).

        Derived here, from precomputed values only: `sma_<n>_dev_pct` (close vs SMA, %) and `volume`.
        """
        values: dict[str, float | None] = {}
        for source in (self.indicators, self.percentiles, self.features):
            values.update(source)
        for name in ("market_cap", "pe_ratio", "forward_pe", "eps", "dividend_yield", "beta"):
            if name in self.facts:
                values[f"fact_{name}"] = _as_float(self.facts.get(name))
        close = values.get("close")
        for window in (20, 50, 200):
            sma = values.get(f"sma_{window}")
            if f"sma_{window}_dev_pct" not in values or values[f"sma_{window}_dev_pct"] is None:
                values[f"sma_{window}_dev_pct"] = (
                    (close / sma - 1.0) * 100.0 if close is not None and sma not in (None, 0.0) else None
                )
        ratio, average = values.get("volume_ratio"), values.get("volume_sma_20")
        values["volume"] = ratio * average if ratio is not None and average is not None else None
        return values


def _as_float(value: Any) -> float | None:
    """A JSON/pandas scalar as a finite float, or None (NaN, None, text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def row_values(row: Mapping[str, Any]) -> dict[str, float | None]:
    """The numeric value columns of one dataset row (ticker, date and lineage columns left out)."""
    return {name: _as_float(value) for name, value in row.items() if name not in _NON_VALUE_COLUMNS}


def latest_date(lake: Any, symbol: str) -> str:
    """The newest trading date the symbol has indicators for (`Lake.latest_date`); ReportDataNotFound if
    none."""
    date = lake.latest_date("indicators", symbol)
    if date is None:
        raise ReportDataNotFound(f"no precomputed indicators for ticker {symbol!r} in the lake")
    return str(date)[:10]


#: How far back the first look for a session goes (a weekend, a holiday, a long exchange closure).
SESSION_LOOKBACK_DAYS = 31


def session_on_or_before(lake: Any, symbol: str, date: str) -> str:
    """The newest trading session on or before `date` that the symbol has indicators for: `date` itself
    when it was a session, else the session before a weekend or holiday (or the newest one, for a date
    after the lake's last run). ReportDataNotFound when the symbol has none on or before `date`.

    At most two reads of the `date` column of the symbol's rows: the month(s) of the last
    `SESSION_LOOKBACK_DAYS` days, then, only when those hold nothing, everything older in one read.
    """
    symbol, date = layout.validate_ticker(symbol), layout.validate_date(date)
    recent = (dt.date.fromisoformat(date) - dt.timedelta(days=SESSION_LOOKBACK_DAYS)).isoformat()
    frame = lake.read_dataset("indicators", [symbol], recent, date, columns=["date"])
    if frame.empty:
        months = [m for m in lake.months("indicators") if m <= recent[:7]]
        if months:
            before = (dt.date.fromisoformat(recent) - dt.timedelta(days=1)).isoformat()
            first = layout.month_bounds(months[0])[0]
            if first <= before:
                frame = lake.read_dataset("indicators", [symbol], first, before, columns=["date"])
    if frame.empty:
        raise ReportDataNotFound(f"no precomputed indicators for ticker {symbol!r} on or before {date}")
    return str(max(frame["date"].astype(str).str[:10]))


def has_indicators(lake: Any, symbol: str, *, months: int = RECENT_MONTHS) -> bool:
    """Whether the symbol has indicator rows in the newest `months` month objects (cheap: the newest month
    first, then the others in one read, only the `date` column of the symbol's row groups)."""
    recent = lake.months("indicators")[-months:]
    if not recent:
        return False
    newest = lake.read_dataset("indicators", [symbol], *layout.month_bounds(recent[-1]), columns=["date"])
    if not newest.empty or len(recent) == 1:
        return not newest.empty
    first, last = layout.month_bounds(recent[0])[0], layout.month_bounds(recent[-2])[1]
    return not lake.read_dataset("indicators", [symbol], first, last, columns=["date"]).empty


def _row_on(frame: pd.DataFrame | None, date: str) -> dict[str, Any] | None:
    """The row of `frame` dated `date`, or None."""
    if frame is None or frame.empty or "date" not in frame:
        return None
    rows = frame[frame["date"].astype(str).str[:10] == date]
    return None if rows.empty else rows.iloc[-1].to_dict()


def _source(lake: Any, dataset: str, date: str, row: Mapping[str, Any]) -> DataSource:
    """The lineage of one row: its month object (and that object's current version) and the row's own
    lineage columns."""
    key = layout.month_key(dataset, layout.month_of(date))
    version_id = None
    try:
        version_id = lake.store.head(key).version_id
    except (LakeError, OSError) as exc:  # lineage is informative: never fail the report for it
        log.warning("report lineage: could not head %s: %s", key, exc)
    return DataSource(
        dataset=dataset,
        key=key,
        version_id=version_id,
        **{name: _text(row.get(name)) for name in LINEAGE_COLUMNS},
    )


def _read_row(lake: Any, dataset: str, symbol: str, date: str) -> tuple[dict[str, Any], DataSource]:
    row = _row_on(lake.read_dataset(dataset, [symbol], date, date), date)
    if row is None:
        raise ReportDataNotFound(f"no precomputed {dataset} for ticker {symbol!r} on {date}")
    return row, _source(lake, dataset, date, row)


def _lineage_fetches(rows: list[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    """The distinct (raw key, version) the rows name in their lineage, in the rows' order."""
    found: list[tuple[str, str | None]] = []
    for row in rows:
        key, version = _text(row.get("source_raw_key")), _text(row.get("source_raw_version"))
        if key and (key, version or None) not in found:
            found.append((key, version or None))
    return found


def _nearest_fetch(lake: Any, symbol: str, date: str) -> list[tuple[str, str | None]]:
    """The ticker's first fetch made on or after `date` (a day of slack for exchanges ahead of UTC), else
    its newest fetch; [] when it has none."""
    since = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
    try:
        fetches = lake.raw_fetches(symbol, since=since) or lake.raw_fetches(symbol)[-1:]
    except (LakeError, OSError) as exc:
        log.warning("report facts: raw fetches of %s not listed: %s", symbol, exc)
        return []
    return [(info.key, info.version_id) for info in fetches[:1]]


def _facts_of(
    lake: Any, symbol: str, key: str, version: str | None
) -> tuple[dict[str, Any], DataSource] | None:
    try:
        if layout.parse_raw_key(key)[1] != symbol:
            return None
        envelope = json.loads(lake.get_raw(key, version))
    except (LakeError, OSError, ValueError) as exc:
        log.warning("report facts: raw object %s (version %s) unreadable: %s", key, version, exc)
        return None
    if not isinstance(envelope, Mapping):
        return None
    payload = envelope.get("payload")
    facts = payload.get("facts") if isinstance(payload, Mapping) else None
    source = DataSource(
        dataset="raw", key=key, version_id=version, computed_at=_text(envelope.get("fetched_at"))
    )
    return (dict(facts) if isinstance(facts, Mapping) else {}), source


def _read_facts(
    lake: Any, symbol: str, date: str, rows: list[Mapping[str, Any]]
) -> tuple[dict[str, Any], DataSource | None]:
    """`payload.facts` of the raw fetch the report's rows name in their lineage (exact: the fetch they were
    computed from); only when none is readable, of the ticker's fetch nearest after `date`. ({}, None)
    when there is none."""
    for key, version in _lineage_fetches(rows):
        found = _facts_of(lake, symbol, key, version)
        if found is not None:
            return found
    for key, version in _nearest_fetch(lake, symbol, date):
        found = _facts_of(lake, symbol, key, version)
        if found is not None:
            return found
    return {}, None


def load_report_data(
    lake: Any,
    symbol: str,
    date: str | None = None,
    *,
    display: str | None = None,
    chart_sessions: int = CHART_SESSIONS,
) -> ReportData:
    """Read the precomputed report inputs of (symbol, date) from the lake.

    Parameters
    ----------
    lake: a `lake.api.Lake` (read_dataset, latest_date, raw_fetches, get_raw, store.head).
    symbol: the Yahoo symbol as stored in the lake (``D05.SI``).
    date: trading date ``YYYY-MM-DD``; None means the latest date that has indicators.
    display: the symbol shown to the user (``DBS19``); defaults to `symbol`.
    chart_sessions: how many sessions of indicator history (ending at `date`) the chart gets.

    Returns
    -------
    ReportData. Raises ReportDataNotFound when the indicators or percentiles of the date are missing;
    missing features or facts only leave those parts out.

    Examples
    --------
    >>> data = load_report_data(Lake.open("./lake"), "D05.SI", display="DBS19")   # doctest: +SKIP
    """
    symbol = layout.validate_ticker(symbol)
    date = layout.validate_date(date) if date is not None else latest_date(lake, symbol)

    # One read of the indicators: the chart's window, the report's row at its end.
    start = (dt.date.fromisoformat(date) - dt.timedelta(days=int(chart_sessions * 1.6) + 10)).isoformat()
    window = lake.read_dataset("indicators", [symbol], start, date)
    indicators = _row_on(window, date)
    if indicators is None:
        raise ReportDataNotFound(f"no precomputed indicators for ticker {symbol!r} on {date}")
    sources = [_source(lake, "indicators", date, indicators)]
    history = window.sort_values("date").tail(chart_sessions).reset_index(drop=True)
    history = history[["ticker", "date", *CHART_COLUMNS]]

    percentiles, source_pct = _read_row(lake, "percentiles", symbol, date)
    sources.append(source_pct)
    features: dict[str, Any] = {}
    try:
        features, source_feat = _read_row(lake, "features", symbol, date)
        sources.append(source_feat)
    except ReportDataNotFound as exc:
        log.warning("report: %s; the report goes on without features", exc)
    facts, source_raw = _read_facts(lake, symbol, date, [indicators, percentiles, features])
    if source_raw is not None:
        sources.append(source_raw)

    return ReportData(
        symbol=symbol,
        date=date,
        display=display or symbol,
        indicators=row_values(indicators),
        percentiles=row_values(percentiles),
        features=row_values(features),
        facts=facts,
        history=history,
        sources=sources,
    )
