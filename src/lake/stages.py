"""The stages of the lake, one per dataset: what a Dagster asset (or any caller) runs for a set of partitions.

Each stage reads its inputs from the lake, computes with the pure functions of `pipelines`, validates the
rows with the dataset's pandera model, and writes one versioned, lineage-tagged object per (ticker, date).
Bad input never stops the other partitions: it is quarantined with its reason and the raw object is kept.

    ingest_raw      source.fetch → raw/yfinance/ticker=T/date=D/<fetched_at>.json (verbatim)
    build_prices    latest raw object of (T, D) → parse_envelope → processed/prices
    build_derived   a ticker's requested dates + warm-up sessions before them → compute_indicators /
                    compute_percentiles / compute_features → processed/<dataset> rows of the requested dates

Derived datasets are computed in one vectorised pass per ticker over the requested dates plus the
warm-up sessions stored before the first of them (a row uses only rows dated on or before it): a backfill
of many dates costs one read per ticker, and adding one day reads a bounded window however long the
history is (docs/computations.md, "Warm-up").
"""

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lake import layout
from lake.api import Lake, Lineage
from lake.compaction import months_to_compact
from lake.exceptions import InvalidArgumentValue, LakeError, ObjectNotFound

log = logging.getLogger("tickerlake.stages")

DERIVED = ("indicators", "percentiles", "features")
Partition = tuple[str, str]  # (ticker, date)


@dataclass
class StageResult:
    """What one stage did to each requested partition."""

    dataset: str
    written: dict[Partition, dict[str, Any]] = field(default_factory=dict)  # key, version_id, rows, source
    quarantined: dict[Partition, str] = field(default_factory=dict)  # reason
    skipped: dict[Partition, str] = field(default_factory=dict)  # why nothing was written (no session, ...)
    failed: dict[Partition, str] = field(default_factory=dict)  # infrastructure errors

    @property
    def rows(self) -> int:
        return sum(int(item["rows"]) for item in self.written.values())

    def counts(self) -> dict[str, int]:
        return {
            "written": len(self.written),
            "quarantined": len(self.quarantined),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "rows": self.rows,
        }

    def preview(self, limit: int = 10) -> list[dict[str, Any]]:
        """A few rows of the outcome, for the Dagster UI: one line per partition."""
        lines: list[dict[str, Any]] = []
        for (ticker, date), item in list(self.written.items())[:limit]:
            lines.append({"ticker": ticker, "date": date, "status": "written", **item})
        for (ticker, date), reason in list(self.quarantined.items())[:limit]:
            lines.append({"ticker": ticker, "date": date, "status": "quarantined", "reason": reason})
        for (ticker, date), reason in list(self.failed.items())[:limit]:
            lines.append({"ticker": ticker, "date": date, "status": "failed", "reason": reason})
        return lines


def group_by_ticker(partitions: Iterable[Partition]) -> dict[str, list[str]]:
    """{ticker: sorted dates}, every ticker and date validated."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for ticker, date in partitions:
        grouped[layout.validate_ticker(ticker)].add(layout.validate_date(date))
    return {ticker: sorted(dates) for ticker, dates in grouped.items()}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _schema_errors(dataset: str, frame: pd.DataFrame) -> dict[int, str]:
    """Row position → first failure message of the dataset's pandera model; {} when the frame is valid."""
    import pandera.errors

    import schemas

    try:
        schemas.validate(dataset, frame)
        return {}
    except pandera.errors.SchemaErrors as exc:
        failures: dict[int, str] = {}
        cases = exc.failure_cases
        for _, case in cases.iterrows():
            index = case.get("index")
            check = case.get("check")
            column = case.get("column")
            value = case.get("failure_case")
            message = f"{dataset} schema: column {column!r} failed {check} with value {value!r}"
            if index is None or pd.isna(index):
                # A frame-level failure (missing column, wrong type): every row is affected.
                return {position: message for position in range(len(frame))}
            position = frame.index.get_loc(index)
            if isinstance(position, int):
                failures.setdefault(position, message)
        return failures or {position: str(exc).splitlines()[0] for position in range(len(frame))}


def _with_lineage(frame: pd.DataFrame, lineages: Mapping[str, Lineage], ticker: str) -> pd.DataFrame:
    """The rows as they will be stored (ticker, date as date, lineage columns), for validation."""
    full = frame.copy()
    full["ticker"] = ticker
    dates = full["date"].astype(str)
    full["date"] = pd.to_datetime(dates).dt.date
    full["source_raw_key"] = [lineages[d].source_raw_key for d in dates]
    full["source_raw_version"] = [lineages[d].source_raw_version for d in dates]
    full["computation_version"] = [lineages[d].computation_version for d in dates]
    full["computed_at"] = pd.to_datetime([lineages[d].computed_at for d in dates], utc=True)
    full["run_id"] = [lineages[d].run_id for d in dates]
    return full


def _quarantine(
    lake: Lake,
    result: StageResult,
    dataset: str,
    ticker: str,
    date: str,
    reason: str,
    *,
    source_key: str | None,
    source_version: str | None,
    payload: bytes | None,
    run_id: str | None,
) -> None:
    """Set a partition aside with its reason (the raw object is never touched) and raise one alert."""
    lake.quarantine(
        dataset, ticker, date, reason, source_key=source_key, source_version=source_version, payload=payload
    )
    result.quarantined[(ticker, date)] = reason
    log.warning(
        "quarantine dataset=%s ticker=%s date=%s source=%s reason=%s",
        dataset,
        ticker,
        date,
        source_key,
        reason,
    )
    try:
        from lake.alerts import raise_alert

        raise_alert(lake, "quarantine", dataset, ticker, date, reason, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - an alert sink failing must not lose the quarantine
        log.warning("alert not raised for %s %s %s: %s", dataset, ticker, date, exc)


def _write_valid(
    lake: Lake,
    dataset: str,
    ticker: str,
    frame: pd.DataFrame,
    lineages: dict[str, Lineage],
    payloads: Mapping[str, bytes],
    result: StageResult,
) -> None:
    """Validate the rows with the dataset's model, quarantine the failing dates, write the others."""
    if frame.empty:
        return
    frame = frame.reset_index(drop=True)
    failures = _schema_errors(dataset, _with_lineage(frame, lineages, ticker))
    bad_dates = {str(frame["date"].iloc[position]) for position in failures}
    for position, reason in failures.items():
        date = str(frame["date"].iloc[position])
        if (ticker, date) in result.quarantined:
            continue
        lineage = lineages[date]
        row = frame.iloc[[position]].to_json(orient="records", date_format="iso").encode()
        _quarantine(
            lake,
            result,
            dataset,
            ticker,
            date,
            reason,
            source_key=lineage.source_raw_key,
            source_version=lineage.source_raw_version,
            payload=payloads.get(date, row),
            run_id=lineage.run_id,
        )
    good = frame[~frame["date"].astype(str).isin(bad_dates)]
    if good.empty:
        return
    good_lineages = {d: lineages[d] for d in good["date"].astype(str)}
    try:
        # The closed months this write touched get their compacted read copy (lake.compaction).
        months = months_to_compact(list(good_lineages), _now().date().isoformat())
        written = lake.write_partitions(dataset, ticker, good, good_lineages, compact_months=months)
    except LakeError as exc:
        for date in good_lineages:
            result.failed[(ticker, date)] = f"write failed: {exc}"
        raise
    for date, put in written.items():
        result.written[(ticker, date)] = {
            "key": put.key,
            "version_id": put.version_id,
            "rows": 1,
            "source_raw_key": good_lineages[date].source_raw_key,
        }


def ingest_raw(
    lake: Lake, source: Any, partitions: Iterable[Partition], run_id: str | None = None
) -> StageResult:
    """Fetch each ticker's requested range once and store one verbatim envelope per trading day.

    Requested dates the source has no bar for (an exchange holiday, a missing day) are `skipped`. A payload
    the lake cannot store as a raw object (not JSON, for another symbol or date) is quarantined as `raw`
    with its exact bytes. Source and store errors propagate (the orchestrator retries with backoff);
    nothing is half-written: each envelope is one PUT (on a LocalStore, a ticker's envelopes share one
    group commit).
    """
    from pipelines.sources import raw_body, unreadable_reason

    result = StageResult("raw")
    for ticker, dates in group_by_ticker(partitions).items():
        wanted = set(dates)
        envelopes = source.fetch(ticker, dates[0], dates[-1])
        seen: set[str] = set()
        refused: list[tuple[str, bytes, str]] = []  # (date, payload, why)
        storable: list[tuple[bytes, str, str]] = []  # (payload, ticker, date)
        for envelope in envelopes:
            # A file's envelope is routed to a partition (its `.as_of`) which its content may contradict.
            as_of = getattr(envelope, "as_of", None) or (
                envelope.get("as_of") if isinstance(envelope, Mapping) else None
            )
            if as_of not in wanted:
                continue
            seen.add(as_of)
            data = raw_body(envelope)
            problem = unreadable_reason(envelope)
            if problem is None:
                storable.append((data, ticker, as_of))
            else:
                refused.append((as_of, data, problem))
        # One group commit for the ticker's envelopes (LocalStore), not durable writes one by one.
        failure: Exception | None = None
        for (data, _, as_of), put in zip(storable, lake.put_raw_many(storable), strict=True):
            if isinstance(put, InvalidArgumentValue):
                refused.append((as_of, data, str(put)))
            elif isinstance(put, Exception):
                failure = failure or put
            else:
                result.written[(ticker, as_of)] = {"key": put.key, "version_id": put.version_id, "rows": 1}
        for as_of, data, problem in sorted(refused, key=lambda item: item[0]):
            _quarantine(
                lake,
                result,
                "raw",
                ticker,
                as_of,
                f"raw payload not stored: {problem}",
                source_key=None,
                source_version=None,
                payload=data,
                run_id=run_id,
            )
        if failure is not None:  # the store failed (not the payload): the orchestrator retries the stage
            raise failure
        for date in wanted - seen:
            result.skipped[(ticker, date)] = "no bar from the source (not a trading day, or a missing day)"
    return result


def _latest_raw_by_date(lake: Lake, ticker: str, dates: Iterable[str]) -> dict[str, Any]:
    """{date: ObjectInfo of the newest raw object}, from one listing of the ticker's raw prefix."""
    wanted = set(dates)
    newest: dict[str, str] = {}
    for key in lake.list_keys(layout.raw_prefix(ticker), layout.date_folders(dates=wanted)):
        try:
            _, date = layout.parse_partition(key)
        except ValueError:
            continue
        if date in wanted and (date not in newest or key > newest[date]):
            newest[date] = key
    # Versions are resolved for the chosen keys only: an increment of one day on a 10-year history looks
    # up one object, not the ~2,600 the listing holds.
    latest: dict[str, Any] = {}
    for date, key in newest.items():
        with contextlib.suppress(ObjectNotFound):  # deleted since the listing: as if never listed
            latest[date] = lake.store.head(key)
    return latest


def build_prices(lake: Lake, partitions: Iterable[Partition], run_id: str) -> StageResult:
    """Parse the newest raw object of each partition into its `prices` row; bad payloads are quarantined."""
    from pipelines import COMPUTATION_VERSION
    from pipelines.exceptions import PayloadError
    from pipelines.parsing import bars_frame, parse_bar

    result = StageResult("prices")
    computed_at = _now()
    for ticker, dates in group_by_ticker(partitions).items():
        raws = _latest_raw_by_date(lake, ticker, dates)
        rows: list[dict[str, Any]] = []
        lineages: dict[str, Lineage] = {}
        payloads: dict[str, bytes] = {}
        for date in dates:
            info = raws.get(date)
            if info is None:
                result.skipped[(ticker, date)] = "no raw object (not a trading day, or not ingested)"
                continue
            body = lake.get_raw(info.key, info.version_id)
            try:
                row = parse_bar(body, date, expected_symbol=ticker)
            except PayloadError as exc:
                reason = f"bad raw payload: {exc}"
                lake.quarantine(
                    "prices",
                    ticker,
                    date,
                    reason,
                    source_key=info.key,
                    source_version=info.version_id,
                    payload=body,
                )
                result.quarantined[(ticker, date)] = reason
                log.warning(
                    "quarantine dataset=prices ticker=%s date=%s key=%s reason=%s",
                    ticker,
                    date,
                    info.key,
                    reason,
                )
                continue
            rows.append(row)
            payloads[date] = body
            lineages[date] = Lineage(
                source_raw_key=info.key,
                source_raw_version=info.version_id,
                computation_version=COMPUTATION_VERSION["prices"],
                computed_at=computed_at,
                run_id=run_id,
                computation_type="prices",
            )
        if rows:
            frame = bars_frame(rows)
            frame["date"] = frame["date"].astype(str)
            _write_valid(lake, "prices", ticker, frame, lineages, payloads, result)
    return result


def _history(lake: Lake, dataset: str, ticker: str, start: str, end: str, warmup: int) -> pd.DataFrame:
    """The ticker's rows dated start..end plus the `warmup` sessions stored before `start`."""
    frame = lake.read_dataset(dataset, [ticker], start=start, end=end, warmup=warmup)
    if not frame.empty:
        frame = frame.assign(date=frame["date"].astype(str)).sort_values("date", ignore_index=True)
    return frame


def build_derived(lake: Lake, dataset: str, partitions: Iterable[Partition], run_id: str) -> StageResult:
    """Compute `indicators`, `percentiles` or `features` for the requested partitions.

    Reads the ticker's stored rows of the requested dates plus the warm-up sessions before them (each
    dataset's `WARMUP_SESSIONS`: what its windows and recursions need), computes over them in one
    vectorised pass, and writes the rows of the requested dates. So adding a day costs the same with 2 or
    with 20 years in the lake. A requested date with no upstream row is `skipped`.
    Lineage: the raw object (and version) behind the prices row of the same date.
    """
    from pipelines import COMPUTATION_VERSION, features, indicators, percentiles
    from pipelines.features import compute_features
    from pipelines.indicators import compute_indicators
    from pipelines.percentiles import compute_percentiles

    if dataset not in DERIVED:
        raise ValueError(f"dataset {dataset!r} is not derived: expected one of {', '.join(DERIVED)}")
    result = StageResult(dataset)
    computed_at = _now()
    for ticker, dates in group_by_ticker(partitions).items():
        # Each dataset reads only what it is computed from: percentiles need no prices.
        needs = {
            "indicators": ("prices",),
            "percentiles": ("indicators",),
            "features": ("prices", "indicators"),
        }
        warmup = {
            "indicators": indicators.WARMUP_SESSIONS,
            "percentiles": percentiles.WARMUP_SESSIONS,
            "features": features.WARMUP_SESSIONS,
        }[dataset]
        inputs = {name: _history(lake, name, ticker, dates[0], dates[-1], warmup) for name in needs[dataset]}
        empty = [name for name, frame in inputs.items() if frame.empty]
        if empty:
            for date in dates:
                result.skipped[(ticker, date)] = f"no {empty[0]} rows"
            continue
        if dataset == "indicators":
            upstream = inputs["prices"]
            values = compute_indicators(upstream)
        elif dataset == "percentiles":
            upstream = inputs["indicators"]
            values = compute_percentiles(upstream)
        else:
            price_rows, indicator_rows = inputs["prices"], inputs["indicators"]
            upstream = price_rows[price_rows["date"].isin(set(indicator_rows["date"]))].reset_index(drop=True)
            indicator_rows = indicator_rows[indicator_rows["date"].isin(set(upstream["date"]))].reset_index(
                drop=True
            )
            values = compute_features(upstream, indicator_rows)
        values = values.assign(date=upstream["date"].to_numpy())
        sources = dict(
            zip(
                upstream["date"],
                zip(upstream["source_raw_key"], upstream["source_raw_version"], strict=True),
                strict=True,
            )
        )
        wanted = [d for d in dates if d in sources]
        for date in dates:
            if date not in sources:
                result.skipped[(ticker, date)] = f"no upstream row for {dataset}"
        frame = values[values["date"].isin(set(wanted))].reset_index(drop=True)
        lineages = {
            date: Lineage(
                source_raw_key=sources[date][0],
                source_raw_version=sources[date][1],
                computation_version=COMPUTATION_VERSION[dataset],
                computed_at=computed_at,
                run_id=run_id,
                computation_type=dataset,
            )
            for date in wanted
        }
        _write_valid(lake, dataset, ticker, frame, lineages, {}, result)
    return result


def quarantined_now(lake: Lake, dataset: str, partitions: Iterable[Partition]) -> dict[Partition, str]:
    """Partitions whose newest quarantine record is newer than their newest data (or that have no data).

    This is the lake's own view, independent of which run did what: a partition quarantined and later
    repaired by a good payload no longer counts.
    """
    found: dict[Partition, str] = {}
    for ticker, dates in group_by_ticker(partitions).items():
        wanted = set(dates)
        records: dict[str, dict[str, Any]] = {}
        found_records = list(lake.quarantine_records(dataset, ticker))
        if dataset == "prices":  # a payload refused before it became a raw object stops prices too
            found_records += lake.quarantine_records("raw", ticker)
        for record in found_records:
            date = str(record.get("date"))
            if date in wanted and str(record.get("quarantined_at", "")) >= str(
                records.get(date, {}).get("quarantined_at", "")
            ):
                records[date] = record
        if not records:
            continue
        data = {d: info for d, info in _latest_by_date(lake, dataset, ticker).items() if d in records}
        for date, record in records.items():
            info = data.get(date)
            quarantined_at = dt.datetime.fromisoformat(str(record.get("quarantined_at")))
            if info is None or info.last_modified < quarantined_at:
                found[(ticker, date)] = str(record.get("reason", "quarantined"))
    return found


def _latest_by_date(lake: Lake, dataset: str, ticker: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for info in lake.store.list(layout.dataset_prefix(dataset, ticker)):
        try:
            _, date = layout.parse_partition(info.key)
        except ValueError:
            continue
        latest[date] = info
    return latest
