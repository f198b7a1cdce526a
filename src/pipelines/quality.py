"""Data quality over the lake: the Great Expectations suites derived from the pandera models, plus the
rules a schema cannot say (completeness against the trading calendar, freshness, duplicate keys, price
continuity, indicator consistency and plausible ranges). See docs/quality.md.

``check_dataset`` reads the latest version of each month object (``Lake.read_dataset``), runs the dataset's
GX suite and the rules, and returns a ``QualityReport``; it writes nothing, so a Dagster ``@asset_check``
can call it directly. ``save_report`` stores a report under ``quality/results/``, ``pipelines.quality_docs.build_docs`` renders
the data docs site into the lake (``quality/docs/``) and ``alert_failures`` raises one alert per
incident (``lake.alerts``).

The GX context, its pandas data source and the suites are built once per process (importing Great
Expectations costs seconds; after that a ticker-year of one dataset validates in about 0.1-0.3 s).

Examples
--------
>>> from lake import Lake
>>> from pipelines.quality import check_dataset
>>> report = check_dataset(Lake.open("/tmp/lake"), "prices", tickers=["D05.SI"], start="2025-01-01")  # doctest: +SKIP
>>> report.passed, [r.name for r in report.failures]  # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lake import layout
from lake.exceptions import InvalidArgumentValue, LakeError, ObjectNotFound

if TYPE_CHECKING:
    from lake.alerts import Alert, AlertSink
    from lake.api import Lake

__all__ = [
    "Example",
    "QualityConfig",
    "QualityReport",
    "RuleResult",
    "alert_failures",
    "check_dataset",
    "load_reports",
    "run_pandera",
    "run_suite",
    "save_report",
]

logger = logging.getLogger("tickerlake.pipelines.quality")

PASS, WARN, FAIL = "pass", "warn", "fail"
_CONTEXT_DAYS = 14  # calendar days read before `start` so the first row's move has a previous close

#: Plausible ranges beyond the schema's hard bounds: a value outside is a computation or data error.
DEFAULT_PLAUSIBLE: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "indicators": {
        "atr_pct": (0.0, 50.0),  # a daily true range averaging half the price
        "price_vwap_pct": (-50.0, 100.0),
        "volume_ratio": (0.0, 100.0),
    },
    "features": {
        "ret_1d": (-1.0, 1.0),  # log return: a day's move beyond -63% / +172%
        "vol_20d": (0.0, 5.0),  # 500% annualised
        "gap_pct": (-60.0, 150.0),
        "range_pct": (0.0, 100.0),
    },
}


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the rules (every one has a default that suits daily equity bars).

    continuity_max_move:
        A close-to-close move larger than this fraction (0.25 = 25%) fails, unless the raw payload of
        that day records a split.
    freshness_lag_sessions:
        How many of the latest sessions may still be missing (1: the last session's bar may not be in yet).
    as_of:
        Freshness reference date (default: ``end`` if given, else today in UTC).
    completeness_max_missing:
        Share of expected sessions that may be missing before completeness fails; fewer missing is a
        warning (feeds skip a day now and then: the sample source drops ~0.5% of sessions on purpose).
    consistency_tolerance:
        Relative tolerance of the indicator identities (macd_hist = macd - macd_signal, ...).
    plausible:
        dataset -> column -> (low, high) ranges checked by the ``plausible_range`` rule.
    max_examples:
        Failing (ticker, date) examples kept per rule.
    """

    continuity_max_move: float = 0.25
    continuity_severity: str = FAIL
    freshness_lag_sessions: int = 1
    as_of: dt.date | None = None
    completeness_max_missing: float = 0.02
    consistency_tolerance: float = 1e-6
    plausible: Mapping[str, Mapping[str, tuple[float | None, float | None]]] = field(
        default_factory=lambda: DEFAULT_PLAUSIBLE
    )
    max_examples: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.continuity_max_move:
            raise InvalidArgumentValue(f"continuity_max_move {self.continuity_max_move!r} must be > 0")
        if self.continuity_severity not in (WARN, FAIL):
            raise InvalidArgumentValue(
                f"continuity_severity {self.continuity_severity!r}: expected warn or fail"
            )
        if not isinstance(self.freshness_lag_sessions, int) or self.freshness_lag_sessions < 0:
            raise InvalidArgumentValue(f"freshness_lag_sessions {self.freshness_lag_sessions!r} must be >= 0")
        if not 0 <= self.completeness_max_missing <= 1:
            raise InvalidArgumentValue(
                f"completeness_max_missing {self.completeness_max_missing!r} must be within [0, 1]"
            )


@dataclass(frozen=True)
class Example:
    """One failing item: the (ticker, date) row and what is wrong with it."""

    ticker: str | None
    date: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ticker": self.ticker, "date": self.date, "detail": self.detail}


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one expectation (``kind="schema"``) or one rule (``kind="rule"``)."""

    name: str
    kind: str
    status: str
    checked: int
    failed: int
    message: str
    examples: tuple[Example, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "kind": self.kind,
            "status": self.status,
            "checked": self.checked,
            "failed": self.failed,
            "message": self.message,
            "examples": [example.to_dict() for example in self.examples],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleResult:
        return cls(
            name=data["rule"],
            kind=data["kind"],
            status=data["status"],
            checked=int(data["checked"]),
            failed=int(data["failed"]),
            message=data["message"],
            examples=tuple(Example(e["ticker"], e["date"], e["detail"]) for e in data.get("examples", ())),
        )


@dataclass(frozen=True)
class QualityReport:
    """Every result of one ``check_dataset`` run; ``passed`` when no result failed (warnings allowed)."""

    dataset: str
    suite: str
    tickers: tuple[str, ...]
    start: str | None
    end: str | None
    rows: int
    checked_at: dt.datetime
    duration_seconds: float
    results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        return [result for result in self.results if result.status == FAIL]

    @property
    def warnings(self) -> list[RuleResult]:
        return [result for result in self.results if result.status == WARN]

    def result(self, name: str) -> RuleResult:
        """The result named ``name`` (``completeness``, ``range[close]``, ...); KeyError if absent."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def counts(self) -> dict[str, int]:
        statuses = [result.status for result in self.results]
        return {
            "rows": self.rows,
            "results": len(statuses),
            "passed": statuses.count(PASS),
            "warned": statuses.count(WARN),
            "failed": statuses.count(FAIL),
        }

    def summary(self) -> str:
        c = self.counts
        verdict = "passed" if self.passed else "FAILED"
        scope = ",".join(self.tickers) if self.tickers else "all tickers"
        span = f"{self.start or '…'}..{self.end or '…'}"
        failing = f": {', '.join(r.name for r in self.failures)}" if self.failures else ""
        return (
            f"{self.dataset} {scope} {span}: {verdict} ({c['rows']} rows, {c['results']} checks, "
            f"{c['failed']} failed, {c['warned']} warned){failing}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "suite": self.suite,
            "tickers": list(self.tickers),
            "start": self.start,
            "end": self.end,
            "passed": self.passed,
            "counts": self.counts,
            "checked_at": self.checked_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 4),
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityReport:
        return cls(
            dataset=data["dataset"],
            suite=data["suite"],
            tickers=tuple(data["tickers"]),
            start=data["start"],
            end=data["end"],
            rows=int(data["counts"]["rows"]),
            checked_at=dt.datetime.fromisoformat(data["checked_at"]),
            duration_seconds=float(data["duration_seconds"]),
            results=tuple(RuleResult.from_dict(r) for r in data["results"]),
        )


# --------------------------------------------------------------------------- the GX suites


class _Gx:
    """One ephemeral GX context per process, with a pandas data source and one suite per dataset."""

    _lock = threading.Lock()
    _instance: _Gx | None = None

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # never phone home
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.enable_analytics(False)
        except Exception:  # noqa: BLE001 - analytics are off by the variable anyway
            pass
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("tickerlake")
        self.batches: dict[str, Any] = {}
        self.suites: dict[str, Any] = {}
        self.labels: dict[str, dict[str, str]] = {}

    @classmethod
    def get(cls) -> _Gx:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def validate(self, dataset: str, frame: pd.DataFrame, max_examples: int) -> Any:
        from schemas.expectations import build_suite

        with self._lock:  # GX's context is not documented as thread-safe
            if dataset not in self.suites:
                asset = self.source.add_dataframe_asset(dataset)
                self.batches[dataset] = asset.add_batch_definition_whole_dataframe(f"{dataset}-frame")
                self.suites[dataset] = build_suite(dataset)
            batch = self.batches[dataset].get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(
                self.suites[dataset],
                result_format={
                    "result_format": "SUMMARY",
                    "unexpected_index_column_names": ["ticker", "date"],
                    "partial_unexpected_count": max_examples,
                },
            )


def _date_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _gx_result(result: Any, rows: int) -> RuleResult:
    config = result.expectation_config
    meta = dict(config.meta or {})
    kwargs = dict(config.kwargs or {})
    column = meta.get("column")
    name = f"{meta.get('rule', config.type)}[{column}]" if column else str(meta.get("rule", config.type))
    details = result.result or {}
    exception = (result.exception_info or {}) if hasattr(result, "exception_info") else {}
    if exception.get("raised_exception"):
        message = f"{config.type} raised: {exception.get('exception_message')}"
        return RuleResult(name, "schema", FAIL, rows, rows, message)
    unexpected = int(details.get("unexpected_count") or 0)
    if not result.success and not unexpected:
        unexpected = 1  # a table-level expectation (columns, type by dtype): one failure
    examples = []
    for item in details.get("partial_unexpected_index_list") or []:
        if isinstance(item, Mapping):
            shown = {k: v for k, v in item.items() if k not in ("ticker", "date")}
            detail = ", ".join(f"{k}={v!r}" for k, v in shown.items()) or config.type
            examples.append(Example(item.get("ticker"), _date_text(item.get("date")), detail))
    if not result.success and not examples:
        observed = details.get("observed_value")
        examples.append(
            Example(None, None, f"observed {observed!r}" if observed is not None else config.type)
        )
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k not in ("column", "batch_id"))
    message = f"{config.type}({args})"
    if not result.success:
        message += f": {unexpected} unexpected"
    return RuleResult(
        name, "schema", PASS if result.success else FAIL, rows, unexpected, message, tuple(examples)
    )


def run_suite(dataset: str, frame: pd.DataFrame, *, max_examples: int = 20) -> list[RuleResult]:
    """The dataset's GX suite (``schemas.expectations``) over ``frame``: one result per expectation."""
    validation = _Gx.get().validate(dataset, frame.reset_index(drop=True), max_examples)
    return [_gx_result(result, len(frame)) for result in validation.results]


def run_pandera(dataset: str, frame: pd.DataFrame, *, max_examples: int = 20) -> list[RuleResult]:
    """The pandera model itself over ``frame`` (what the GX suite is generated from), without importing
    Great Expectations: one result ``pandera`` when clean, else one per failing (check, column)."""
    import pandera.errors

    from schemas import model

    frame = frame.reset_index(drop=True)
    try:
        model(dataset).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return [RuleResult("pandera", "schema", PASS, len(frame), 0, f"pandera model of {dataset}")]
    column_level = cases["schema_context"].astype(str) == "Column"
    columns = cases["column"].where(column_level, None)  # a dataframe check lists every column of a row
    results = []
    for (check, column), group in cases.groupby([cases["check"].astype(str), columns.fillna("")], sort=True):
        examples = []
        for index, value in group.drop_duplicates("index")[["index", "failure_case"]].itertuples(index=False):
            if isinstance(index, int | np.integer) and 0 <= index < len(frame):
                row = frame.iloc[int(index)]
                detail = f"{column}={value!r}" if column else check
                examples.append(Example(row.get("ticker"), _date_text(row.get("date")), detail))
            else:
                examples.append(Example(None, None, f"{column or dataset}: {value!r}"))
        name = f"pandera:{check}[{column}]" if column else f"pandera:{check}"
        results.append(
            RuleResult(name, "schema", FAIL, len(frame), len(examples), check, tuple(examples[:max_examples]))
        )
    return results


# --------------------------------------------------------------------------- the rules


def _result(
    name: str, checked: int, failures: list[Example], message: str, *, severity: str = FAIL, limit: int = 20
) -> RuleResult:
    status = PASS if not failures else severity
    return RuleResult(name, "rule", status, checked, len(failures), message, tuple(failures[:limit]))


#: While `check_dataset` runs: (what, id(frame)) → (frame, value), so that the rules sharing a frame turn its
#: dates into text (and group them by ticker) once. None outside a check: nothing is kept.
_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("quality_memo", default=None)


def _memoized(what: str, frame: pd.DataFrame, compute: Callable[[pd.DataFrame], Any]) -> Any:
    memo = _MEMO.get()
    if memo is None:
        return compute(frame)
    hit = memo.get((what, id(frame)))
    if hit is not None and hit[0] is frame:
        return hit[1]
    value = compute(frame)
    memo[(what, id(frame))] = (frame, value)
    return value


def _dates(frame: pd.DataFrame) -> pd.Series:
    """The `date` column as ISO text (None where missing): vectorised for dates, per value otherwise."""
    return _memoized("dates", frame, _date_texts)


def _date_texts(frame: pd.DataFrame) -> pd.Series:
    column = frame["date"]
    if len(column) and not column.isna().any():
        try:
            days = pd.to_datetime(column).to_numpy().astype("datetime64[D]")
        except (TypeError, ValueError):
            pass
        else:
            return pd.Series(np.datetime_as_string(days, unit="D"), index=column.index, dtype=object)
    return column.map(_date_text)


def _dates_by_ticker(frame: pd.DataFrame) -> dict[str, set[str]]:
    """{ticker: its dates as text}, the frame grouped once (not scanned once per ticker: with hundreds of
    tickers that scan was most of a check's time)."""
    return _memoized("by_ticker", frame, _group_dates)


def _group_dates(frame: pd.DataFrame) -> dict[str, set[str]]:
    if frame.empty:
        return {}
    texts = _dates(frame)
    return {
        str(ticker): {d for d in dates if d is not None}
        for ticker, dates in texts.groupby(frame["ticker"], sort=False)
    }


def _duplicates(frame: pd.DataFrame, config: QualityConfig) -> RuleResult:
    keys = pd.DataFrame({"ticker": frame["ticker"], "date": _dates(frame)})
    dup = keys[keys.duplicated(keep=False)].drop_duplicates()
    counts = keys.value_counts()
    examples = [
        Example(t, d, f"{int(counts[(t, d)])} rows in the latest view")
        for t, d in dup.itertuples(index=False)
    ]
    return _result(
        "unique_latest",
        len(keys),
        examples,
        "one row per (ticker, date) in the latest view"
        if not examples
        else f"{len(examples)} duplicated keys",
        limit=config.max_examples,
    )


def _quarantined(lake: Lake, dataset: str, ticker: str) -> set[str]:
    """Dates of the ticker with a quarantine record (of the dataset itself or of its raw input)."""
    found: set[str] = set()
    for name in ("raw", dataset):
        prefix = layout.partition_prefix("quarantine", name, ticker)
        for info in lake.store.list(prefix):
            try:
                found.add(layout.parse_partition(info.key)[1])
            except ValueError:
                continue
    return found


def _session_texts(ticker: str, lo: str, hi: str) -> frozenset[str]:
    """The ticker's exchange sessions in [lo, hi] as ISO text, made once per exchange and range."""
    from pipelines.sources import trading_days

    sessions = tuple(trading_days(ticker, lo, hi))  # cached per exchange and range: the same tuple
    return _texts_of(sessions)


@functools.lru_cache(maxsize=64)
def _texts_of(sessions: tuple[dt.date, ...]) -> frozenset[str]:
    return frozenset(day.isoformat() for day in sessions)


def _completeness(
    lake: Lake,
    dataset: str,
    frame: pd.DataFrame,
    tickers: Sequence[str],
    start: str | None,
    end: str | None,
    config: QualityConfig,
) -> RuleResult:

    missing_examples: list[Example] = []
    off_calendar: list[Example] = []
    expected_total = missing_total = 0
    worst_share = 0.0
    by_ticker = _dates_by_ticker(frame)
    for ticker in tickers:
        present = by_ticker.get(ticker, set())
        lo = start or (min(present) if present else None)
        hi = end or (max(present) if present else None)
        if lo is None or hi is None:
            missing_examples.append(Example(ticker, None, "no row at all"))
            worst_share = 1.0
            continue
        sessions = _session_texts(ticker, lo, hi)
        missing = sorted(sessions - present)
        expected_total += len(sessions)
        missing_total += len(missing)
        if sessions:
            worst_share = max(worst_share, len(missing) / len(sessions))
        quarantined = _quarantined(lake, dataset, ticker) if missing else set()
        for day in missing:
            why = "quarantined" if day in quarantined else "no row"
            missing_examples.append(Example(ticker, day, f"trading session missing ({why})"))
        for day in sorted(present - sessions):
            off_calendar.append(Example(ticker, day, "row dated on a day that is not a trading session"))
    failed = bool(off_calendar) or worst_share > config.completeness_max_missing
    message = (
        f"{missing_total} of {expected_total} expected sessions missing "
        f"(worst ticker {worst_share:.1%}, allowed {config.completeness_max_missing:.1%})"
    )
    if off_calendar:
        message += f"; {len(off_calendar)} rows dated off the calendar"
    examples = off_calendar + missing_examples
    status = FAIL if failed else (WARN if examples else PASS)
    return RuleResult(
        "completeness",
        "rule",
        status,
        expected_total,
        len(examples),
        message,
        tuple(examples[: config.max_examples]),
    )


def _freshness(
    frame: pd.DataFrame, tickers: Sequence[str], end: str | None, config: QualityConfig
) -> RuleResult:
    from pipelines.sources import trading_days

    reference = config.as_of or (dt.date.fromisoformat(end) if end else dt.datetime.now(dt.UTC).date())
    lag = config.freshness_lag_sessions
    stale: list[Example] = []
    by_ticker = _dates_by_ticker(frame)
    for ticker in tickers:
        sessions = trading_days(ticker, reference - dt.timedelta(days=30 + 3 * lag), reference)
        if len(sessions) <= lag:
            continue
        expected = sessions[-1 - lag].isoformat()
        dates = by_ticker.get(ticker)
        latest = max(dates) if dates else None
        if latest is None or latest < expected:
            stale.append(
                Example(
                    ticker,
                    expected,
                    f"latest row {latest or 'none'}, expected {expected} or later "
                    f"(reference {reference.isoformat()}, lag {lag} session(s))",
                )
            )
    return _result(
        "freshness",
        len(tickers),
        stale,
        f"latest session per ticker vs {reference.isoformat()} minus {lag} session(s): {len(stale)} stale",
        limit=config.max_examples,
    )


def _split_on(lake: Lake, key: Any, version: Any, day: str) -> float | None:
    """The split ratio the raw payload records on ``day`` (None when none or unreadable)."""
    if not isinstance(key, str):
        return None
    try:
        document = json.loads(lake.get_raw(key, version if isinstance(version, str) and version else None))
    except (LakeError, ValueError):
        return None
    history = (document.get("payload") or {}).get("history") if isinstance(document, dict) else None
    for row in history if isinstance(history, list) else []:
        if isinstance(row, Mapping) and row.get("date") == day:
            split = row.get("splits")
            if isinstance(split, int | float) and not isinstance(split, bool) and split not in (0, 1):
                return float(split)
    return None


def _continuity(lake: Lake, context: pd.DataFrame, start: str | None, config: QualityConfig) -> RuleResult:
    ordered = context.assign(_day=_dates(context)).sort_values(["ticker", "_day"], kind="stable")
    previous = ordered.groupby("ticker", sort=False)["close"].shift(1)
    move = ordered["close"] / previous - 1
    from_start = ordered["_day"] >= start if start else pd.Series(True, index=ordered.index)
    flagged = ordered[(move.abs() > config.continuity_max_move) & from_start]
    failures: list[Example] = []
    explained = 0
    for index, row in flagged.iterrows():
        split = _split_on(lake, row.get("source_raw_key"), row.get("source_raw_version"), row["_day"])
        if split is not None:
            explained += 1
            continue
        failures.append(
            Example(
                row["ticker"],
                row["_day"],
                f"close {row['close']!r} moved {move[index]:+.1%} from {previous[index]!r} "
                f"(bound ±{config.continuity_max_move:.0%}), no split in the raw payload",
            )
        )
    message = (
        f"{len(failures)} close-to-close moves beyond ±{config.continuity_max_move:.0%} unexplained, "
        f"{explained} explained by a split"
    )
    return _result(
        "continuity",
        int(from_start.sum()),
        failures,
        message,
        severity=config.continuity_severity,
        limit=config.max_examples,
    )


_IDENTITIES: dict[str, list[tuple[str, Any]]] = {
    "indicators": [
        ("macd_hist = macd - macd_signal", lambda f: (f["macd_hist"], f["macd"] - f["macd_signal"])),
        ("bb_middle = sma_20", lambda f: (f["bb_middle"], f["sma_20"])),
        ("atr_pct = atr_14 / close * 100", lambda f: (f["atr_pct"], f["atr_14"] / f["close"] * 100)),
        (
            "price_vwap_pct = (close / vwap_20 - 1) * 100",
            lambda f: (f["price_vwap_pct"], (f["close"] / f["vwap_20"] - 1) * 100),
        ),
    ],
}
_EXCLUSIVE_PAIRS: dict[str, list[tuple[str, str]]] = {
    "percentiles": [
        ("rsi_freq_above_70", "rsi_freq_below_30"),
        ("uncertainty_freq_low", "uncertainty_freq_high"),
        ("atr_pct_freq_low", "atr_pct_freq_high"),
        ("vwap_freq_above_3", "vwap_freq_below_neg3"),
        ("volume_ratio_freq_high", "volume_ratio_freq_low"),
    ],
}


def _consistency(dataset: str, frame: pd.DataFrame, config: QualityConfig) -> RuleResult:
    failures: list[Example] = []
    days = _dates(frame)
    checked = 0
    for label, sides in _IDENTITIES.get(dataset, []):
        left, right = sides(frame)
        both = left.notna() & right.notna()
        scale = np.maximum(np.maximum(left.abs(), right.abs()), 1.0)
        bad = both & ((left - right).abs() > config.consistency_tolerance * scale)
        checked += int(both.sum())
        for index in frame.index[bad]:
            failures.append(
                Example(
                    frame.at[index, "ticker"], days[index], f"{label}: {left[index]!r} vs {right[index]!r}"
                )
            )
    for a, b in _EXCLUSIVE_PAIRS.get(dataset, []):
        total = frame[a] + frame[b]
        bad = total.notna() & (total > 100 + 1e-9)
        checked += int(total.notna().sum())
        for index in frame.index[bad]:
            failures.append(
                Example(frame.at[index, "ticker"], days[index], f"{a} + {b} = {total[index]!r} > 100")
            )
    return _result(
        "consistency",
        checked,
        failures,
        f"{len(failures)} rows break an identity between columns",
        limit=config.max_examples,
    )


def _plausible(dataset: str, frame: pd.DataFrame, config: QualityConfig) -> RuleResult:
    failures: list[Example] = []
    days = _dates(frame)
    checked = 0
    for column, (low, high) in (config.plausible.get(dataset) or {}).items():
        values = frame[column]
        bad = pd.Series(False, index=frame.index)
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
        checked += int(values.notna().sum())
        for index in frame.index[bad]:
            failures.append(
                Example(
                    frame.at[index, "ticker"],
                    days[index],
                    f"{column}={values[index]!r} outside [{low}, {high}]",
                )
            )
    return _result(
        "plausible_range",
        checked,
        failures,
        f"{len(failures)} values outside their plausible range",
        limit=config.max_examples,
    )


# --------------------------------------------------------------------------- check_dataset


def _shift(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=days)).isoformat()


def in_range(rows: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    """The rows dated `start`..`end` (ISO dates, inclusive; None: unbounded); the frame itself, not a copy,
    when it holds no other row (a copy of a 10-year frame is gigabytes)."""
    if not (start or end) or rows.empty:
        return rows
    try:  # dates (or ISO text) compared as datetime64: 8x faster than as text; a missing date is outside
        days = pd.to_datetime(rows["date"]).to_numpy().astype("datetime64[D]")
        low, high = (np.datetime64(start, "D") if start else None), (np.datetime64(end, "D") if end else None)
    except (TypeError, ValueError):  # values that are not dates: compared as the rules see them
        days, low, high = _dates(rows), start, end
    keep = ((days >= low) if low is not None else True) & ((days <= high) if high is not None else True)
    return rows if np.all(keep) else rows[keep].reset_index(drop=True)


def context_start(start: str | None) -> str | None:
    """The first date the rules read for a check from `start` (continuity compares a row with the one
    before it): what a caller passing its own `rows` to `check_dataset` must have read from."""
    return _shift(start, _CONTEXT_DAYS) if start else None


def check_dataset(
    lake: Lake,
    dataset: str,
    tickers: str | Iterable[str] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    *,
    config: QualityConfig | None = None,
    engine: str = "gx",
    rows: pd.DataFrame | None = None,
) -> QualityReport:
    """Run the dataset's GX suite and the quality rules over the latest version of its month objects.

    Parameters
    ----------
    lake:
        The lake to read (nothing is written).
    dataset:
        ``prices``, ``indicators``, ``percentiles`` or ``features``.
    tickers:
        Yahoo symbols (default: every ticker present in the range).
    start, end:
        Inclusive date range (default: everything present). Completeness counts the sessions of
        [start, end]; without them, of each ticker's first to last date present.
    config:
        Thresholds (``QualityConfig``).
    engine:
        ``gx`` (default): the Great Expectations suite, one result per expectation. ``pandera``: the
        pandera model the suite is generated from, same constraints, without importing Great Expectations
        (which costs 5-10 s per process: worth avoiding in short-lived processes such as one Dagster step
        per partition). ``rules``: the rules only, for a caller that validates the model itself (the
        Dagster `<dataset>_matches_schema` check does: validating 1.26 M rows again cost ~30 s a backfill).
    rows:
        The dataset's stored rows already read by the caller, from ``context_start(start)`` (or earlier) to
        ``end``, for the tickers (the Dagster checks of a dataset share one read); default: read them here.

    Returns
    -------
    QualityReport
        ``passed`` is False when any expectation or rule failed; each ``RuleResult`` lists failing
        (ticker, date) examples.

    Examples
    --------
    >>> report = check_dataset(lake, "prices", ["D05.SI"], "2025-06-02", "2025-06-30")  # doctest: +SKIP
    >>> report.result("completeness").status  # doctest: +SKIP
    'pass'
    """
    from schemas.expectations import suite_name

    began = time.perf_counter()
    config = config or QualityConfig()
    dataset = layout.validate_dataset(dataset)
    if isinstance(tickers, str):
        tickers = [tickers]
    wanted = sorted({layout.validate_ticker(t) for t in tickers}) if tickers is not None else None
    first = layout.validate_date(start) if start is not None else None
    last = layout.validate_date(end) if end is not None else None
    if first and last and first > last:
        raise InvalidArgumentValue(f"start {first} is after end {last}")

    token = _MEMO.set({})
    try:
        if rows is None:
            context = lake.read_dataset(dataset, tickers=wanted, start=context_start(first), end=last)
        else:  # the caller's rows: narrowed only where they hold more (a copy of a 10-year frame is GBs)
            context = rows
            if wanted is not None:
                chosen = context["ticker"].isin(wanted)
                if not chosen.all():
                    context = context[chosen]
            context = in_range(context, context_start(first), last)
        frame = in_range(context, first, None)
        scope = wanted if wanted is not None else sorted(set(frame["ticker"]))

        if engine not in ("gx", "pandera", "rules"):
            raise InvalidArgumentValue(f"engine {engine!r} is not valid: expected gx, pandera or rules")
        results: list[RuleResult] = []
        if engine != "rules":
            schema_check = run_suite if engine == "gx" else run_pandera
            results = schema_check(dataset, frame, max_examples=config.max_examples)
        results.append(_duplicates(frame, config))
        results.append(_completeness(lake, dataset, frame, scope, first, last, config))
        results.append(_freshness(frame, scope, last, config))
        if "close" in frame.columns:
            results.append(_continuity(lake, context, first, config))
        if dataset in _IDENTITIES or dataset in _EXCLUSIVE_PAIRS:
            results.append(_consistency(dataset, frame, config))
        if config.plausible.get(dataset):
            results.append(_plausible(dataset, frame, config))
    finally:
        _MEMO.reset(token)

    report = QualityReport(
        dataset=dataset,
        suite=suite_name(dataset),
        tickers=tuple(scope),
        start=first,
        end=last,
        rows=len(frame),
        checked_at=dt.datetime.now(dt.UTC),
        duration_seconds=time.perf_counter() - began,
        results=tuple(results),
    )
    log = logger.info if report.passed else logger.warning
    log("pipelines.quality %s", report.summary())
    return report


# --------------------------------------------------------------------------- saved results, alerts


def save_report(lake: Lake, report: QualityReport) -> str:
    """Store the report as ``quality/results/<dataset>/<checked_at>.json``; returns the key."""
    key = layout.quality_results_key(report.dataset, report.checked_at)
    body = json.dumps(report.to_dict(), indent=1, ensure_ascii=False).encode()
    lake.store.put(
        key,
        body,
        metadata={
            "data-classification": lake.data_classification,
            "quality-passed": str(report.passed).lower(),
        },
        tags={"source": "quality", "dataset": report.dataset},
        content_type="application/json",
    )
    return key


def load_reports(lake: Lake, dataset: str, *, limit: int = 10) -> list[QualityReport]:
    """The saved reports of a dataset, newest first (at most ``limit``)."""
    keys = [info.key for info in lake.store.list(layout.quality_results_prefix(dataset))]
    reports = []
    for key in sorted(keys, reverse=True)[:limit]:
        try:
            reports.append(QualityReport.from_dict(json.loads(lake.store.get(key).data)))
        except (ObjectNotFound, ValueError, KeyError) as exc:
            logger.warning(
                "pipelines.quality unreadable report",
                extra={"key": key, "error": f"{type(exc).__name__}: {exc}"},
            )
    return reports


def alert_failures(
    lake: Lake, report: QualityReport, *, run_id: str | None = None, sink: AlertSink | None = None
) -> list[Alert]:
    """One alert per failing (rule, ticker): dated by its earliest failing example (or the report's end /
    check day). Incidents already alerted are skipped (``lake.alerts.raise_alert`` deduplicates)."""
    from lake.alerts import raise_alert

    raised = []
    fallback = report.end or report.checked_at.date().isoformat()
    for result in report.failures:
        by_ticker: dict[str | None, list[Example]] = {}
        for example in result.examples or (Example(None, None, result.message),):
            by_ticker.setdefault(example.ticker, []).append(example)
        for ticker, examples in by_ticker.items():
            dates = sorted(e.date for e in examples if e.date)
            day = dates[0] if dates else fallback
            shown = "; ".join(f"{e.date or '-'}: {e.detail}" for e in examples[:5])
            reason = f"{result.name}: {result.message} [{shown}]"
            alert = raise_alert(
                lake,
                "quality",
                report.dataset,
                ticker,
                day,
                reason,
                rule=result.name,
                run_id=run_id,
                sink=sink,
            )
            if alert is not None:
                raised.append(alert)
    return raised
