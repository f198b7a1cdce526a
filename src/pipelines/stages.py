"""The stages of the pipeline, one per dataset: what a Dagster asset (or any caller) runs for some tickers
over a date range, against the lake.

    ingest_raw      one source fetch per ticker for the range → raw/<source>/ticker=T/date=<today>/<ts>.json
    build_prices    the ticker's raw fetches that can hold bars of the range → for each bar date the newest
                    fetch wins → processed/prices, one merged write per month
    build_derived   each dataset's declaration (`DERIVED`: inputs, warm-up, compute, version): the inputs over
                    the range plus the warm-up sessions before it, read once for every ticker → one
                    vectorised pass per ticker → processed/<dataset>, one merged write per month

A month write replaces the rows of the (ticker, date)s computed and keeps every other row (`Lake.write_month`),
so a run narrowed to some tickers leaves the others as they were. Bad input never stops the rest: a bad
fetch, a bad bar or a row its pandera model refuses is quarantined per ticker and date with its reason, and
the raw object is kept.
"""

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lake import Lake, layout
from lake.api import COMPUTATION_COLUMNS, MonthWrite
from lake.exceptions import InvalidArgumentValue, ObjectNotFound
from pipelines import COMPUTATION_VERSION

log = logging.getLogger("tickerlake.pipelines.stages")

#: Threads that fetch from a source and read raw objects (network and disk waits, not the GIL).
IO_THREADS = 8
#: Called as `observer(dataset, write)` after each month object a stage writes (progress displays).
OBSERVERS: list[Callable[[str, MonthWrite], None]] = []


@dataclass
class StageResult:
    """What one stage did for its tickers and range."""

    dataset: str
    writes: list[MonthWrite] = field(default_factory=list)  # one per month object written
    rows: int = 0  # rows written (replaced or added)
    tickers: set[str] = field(default_factory=set)  # tickers with rows written (raw: fetches stored)
    raw: dict[str, list[str]] = field(default_factory=dict)  # raw stage: ticker → keys stored
    quarantined: dict[tuple[str, str], str] = field(default_factory=dict)  # (ticker, date) → reason
    skipped: dict[str, str] = field(default_factory=dict)  # ticker → why nothing was written
    failed: dict[str, str] = field(default_factory=dict)  # ticker → infrastructure or source error

    def counts(self) -> dict[str, int]:
        return {
            "objects": len(self.writes) + sum(len(keys) for keys in self.raw.values()),
            "rows": self.rows,
            "tickers": len(self.tickers),
            "quarantined": len(self.quarantined),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }


@dataclass(frozen=True)
class Derived:
    """One derived dataset, declared once: what it reads, how many sessions before the first output row
    its windows and recursions need, how it computes one ticker, and its computation version."""

    name: str
    inputs: tuple[str, ...]
    warmup: int
    compute: Callable[[Mapping[str, pd.DataFrame]], pd.DataFrame]

    @property
    def version(self) -> str:
        return COMPUTATION_VERSION[self.name]


def _indicators(inputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    from pipelines.indicators import compute_indicators

    return compute_indicators(inputs["prices"])


def _percentiles(inputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    from pipelines.percentiles import compute_percentiles

    return compute_percentiles(inputs["indicators"])


def _features(inputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    from pipelines.features import compute_features

    return compute_features(inputs["prices"], inputs["indicators"])


def _derived() -> dict[str, Derived]:
    from pipelines import features, indicators, percentiles

    return {
        "indicators": Derived("indicators", ("prices",), indicators.WARMUP_SESSIONS, _indicators),
        "percentiles": Derived("percentiles", ("indicators",), percentiles.WARMUP_SESSIONS, _percentiles),
        "features": Derived("features", ("prices", "indicators"), features.WARMUP_SESSIONS, _features),
    }


DERIVED: dict[str, Derived] = _derived()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _range(start: object, end: object) -> tuple[str, str]:
    first, last = layout.validate_date(start), layout.validate_date(end)
    if first > last:
        raise InvalidArgumentValue(f"start {first} is after end {last}")
    return first, last


def _tickers(tickers: Iterable[str]) -> list[str]:
    if isinstance(tickers, str):
        tickers = [tickers]
    found = list(dict.fromkeys(layout.validate_ticker(ticker) for ticker in tickers))
    if not found:
        raise InvalidArgumentValue("no ticker given: expected at least one")
    return found


def _quarantine(
    lake: Lake,
    result: StageResult,
    dataset: str,
    ticker: str,
    date: str,
    reason: str,
    *,
    source_key: str | None = None,
    source_version: str | None = None,
    payload: bytes | None = None,
    run_id: str | None = None,
) -> None:
    """Set (ticker, date) aside with its reason (the raw object is never touched) and raise one alert."""
    lake.quarantine(
        dataset, ticker, date, reason, source_key=source_key, source_version=source_version, payload=payload
    )
    result.quarantined[(ticker, date)] = reason
    try:
        from lake.alerts import raise_alert

        raise_alert(lake, "quarantine", dataset, ticker, date, reason, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - an alert sink failing must not lose the quarantine
        log.warning(
            "alert not raised",
            extra={"dataset": dataset, "ticker": ticker, "date": date, "error": str(exc)},
        )


# ---------------------------------------------------------------------------------------------- raw


def ingest_raw(
    lake: Lake,
    source: Any,
    tickers: Iterable[str],
    start: str,
    end: str,
    run_id: str | None = None,
    *,
    clock: Callable[[], dt.datetime] = _now,
) -> StageResult:
    """One fetch per ticker for [start, end], each stored verbatim as one raw object.

    A ticker with no bar in the range is `skipped`. A payload the lake cannot store (not JSON, for another
    symbol) is quarantined as `raw` with its exact bytes. A source error for one ticker is recorded in
    `failed` and the others go on; if every ticker failed the first error is raised (the orchestrator
    retries with backoff).
    """
    from pipelines.sources import FileEnvelope, raw_body, unreadable_reason

    first, last = _range(start, end)
    symbols = _tickers(tickers)
    result = StageResult("raw")
    tag = source.source_tag

    def fetch_and_store(ticker: str) -> tuple[str, list[str], list[tuple[str, str, bytes]], Exception | None]:
        """Fetch the ticker and store each envelope as it arrives (a backfill never holds every ticker's
        fetch in memory at once): (ticker, stored keys, refused (day, problem, bytes), source error).
        A source error is the ticker's; a lake error (S3 unreachable) is the run's and propagates."""
        stored: list[str] = []
        refused: list[tuple[str, str, bytes]] = []
        try:
            envelopes = iter(source.fetch(ticker, first, last))
        except Exception as exc:  # noqa: BLE001 - recorded per ticker below
            return ticker, stored, refused, exc
        while True:
            try:
                envelope = next(envelopes)
            except StopIteration:
                return ticker, stored, refused, None
            except Exception as exc:  # noqa: BLE001 - recorded per ticker below
                return ticker, stored, refused, exc
            problem = unreadable_reason(envelope)
            if problem is None:
                # A file's bytes verbatim; a source's mapping serialised by the lake (no parse back).
                storable = envelope.raw if isinstance(envelope, FileEnvelope) else envelope
                try:
                    stored.append(lake.put_raw(storable, ticker=ticker, source=tag, fetched_at=clock()).key)
                    continue
                except InvalidArgumentValue as exc:
                    problem = str(exc)
            data = raw_body(envelope)
            as_of = getattr(envelope, "as_of", None) or envelope.get("as_of")
            day = as_of if isinstance(as_of, str) and len(as_of) == 10 else last
            try:
                day = layout.validate_date(day)
            except InvalidArgumentValue:
                day = last
            refused.append((day, problem, data))

    errors: list[Exception] = []
    with ThreadPoolExecutor(max_workers=max(1, min(IO_THREADS, len(symbols)))) as pool:
        done = list(pool.map(fetch_and_store, symbols))  # a lake error in any worker is raised here
    for ticker, stored, refused, error in done:
        if stored:
            result.raw.setdefault(ticker, []).extend(stored)
            result.tickers.add(ticker)
        if error is not None:
            errors.append(error)
            result.failed[ticker] = f"{type(error).__name__}: {error}"
            log.warning("source fetch failed", extra={"ticker": ticker, "error": str(error)})
        elif not stored and not refused:
            result.skipped[ticker] = f"no bar from the source between {first} and {last}"
        for day, problem, data in refused:
            _quarantine(
                lake,
                result,
                "raw",
                ticker,
                day,
                f"raw payload not stored: {problem}",
                payload=data,
                run_id=run_id,
            )
    release_memory()
    if errors and len(errors) == len(symbols):
        raise errors[0]
    return result


# ---------------------------------------------------------------------------------------------- prices


def build_prices(lake: Lake, tickers: Iterable[str], start: str, end: str, run_id: str) -> StageResult:
    """The `prices` rows of [start, end] from the tickers' raw fetches; for each bar date the newest fetch
    with a good bar wins. Bad fetches and bad bars are quarantined per ticker and date."""
    from pipelines.exceptions import PayloadError
    from pipelines.parsing import parse_fetch

    first, last = _range(start, end)
    symbols = _tickers(tickers)
    result = StageResult("prices")
    # A fetch holds no bar dated after its (UTC) date plus a day (exchange-local dates run ahead of UTC).
    since = (dt.date.fromisoformat(first) - dt.timedelta(days=1)).isoformat()

    def load(ticker: str) -> tuple[str, list[tuple[Any, bytes]]]:
        fetches = lake.raw_fetches(ticker, since=since)
        return ticker, [(info, lake.get_raw(info.key, info.version_id)) for info in fetches]

    frames: list[pd.DataFrame] = []
    with ThreadPoolExecutor(max_workers=max(1, min(IO_THREADS, len(symbols)))) as pool:
        loaded = list(pool.map(load, symbols))
    first_day, last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    for ticker, fetches in loaded:
        parts: list[pd.DataFrame] = []  # each fetch's good bars of the range, oldest fetch first
        bad: list[tuple[str, str, str, str, bytes]] = []  # (date, reason, key, version, payload)
        for info, body in fetches:
            fetch_date = layout.parse_raw_key(info.key)[2]
            try:
                frame, rejected = parse_fetch(body, expected_symbol=ticker)
            except PayloadError as exc:
                day = _fetch_day(body, fetch_date, first, last)
                bad.append((day, f"bad raw payload: {exc}", info.key, info.version_id, body))
                continue
            days = frame["date"]
            inside = frame[(days >= first_day) & (days <= last_day)] if len(frame) else frame
            if len(inside):
                parts.append(inside.assign(source_raw_key=info.key, source_raw_version=info.version_id))
            for item in rejected:  # a bar without a readable date: the fetch's own date
                day = item.date or _fetch_day(body, fetch_date, first, last)
                if first <= day <= last:
                    bad.append((day, f"bad raw bar: {item.reason}", info.key, info.version_id, body))
        # For each date the newest fetch with a good bar wins (the fetches come oldest first).
        rows = (
            pd.concat(parts, ignore_index=True).drop_duplicates("date", keep="last")
            if len(parts) > 1
            else (parts[0] if parts else None)
        )
        good_days = {day.isoformat() for day in rows["date"]} if rows is not None and bad else set()
        # Every bad fetch and bar is recorded once (a later run reading the same fetch adds no record);
        # one a newer good bar replaced is recorded too, but the run does not count it as quarantined.
        merged: dict[tuple[str, str, str], tuple[list[str], bytes]] = {}  # one record per date and fetch
        for day, reason, key, version, payload in bad:
            merged.setdefault((day, key, version), ([], payload))[0].append(reason)
        known = _recorded(lake, "prices", ticker) if bad else set()
        for (day, key, version), (reasons, payload) in merged.items():
            reason = "; ".join(dict.fromkeys(reasons))
            if (day, key, version, reason) in known:
                if day not in good_days:
                    result.quarantined[(ticker, day)] = reason
                continue
            known.add((day, key, version, reason))
            _quarantine(
                lake,
                result,
                "prices",
                ticker,
                day,
                reason,
                source_key=key,
                source_version=version,
                payload=payload,
                run_id=run_id,
            )
            if day in good_days:
                result.quarantined.pop((ticker, day), None)
        if rows is None or rows.empty:
            if ticker not in {t for t, _ in result.quarantined}:
                result.skipped[ticker] = f"no raw bar between {first} and {last}"
            continue
        frames.append(rows.sort_values("date", ignore_index=True))
    del loaded
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        frames.clear()
        _write_valid(lake, "prices", frame, result, run_id)
    release_memory()
    return result


def _fetch_day(body: bytes, fetch_date: str, first: str, last: str) -> str:
    """The (ticker, date) a whole bad fetch is recorded under: its `as_of` when that is a date in the
    range, else its fetch date brought into the range."""
    import json

    try:
        as_of = json.loads(body).get("as_of")
        as_of = layout.validate_date(as_of)
    except (ValueError, AttributeError, TypeError, RecursionError):
        as_of = None
    if as_of is not None and first <= as_of <= last:
        return as_of
    return min(max(fetch_date, first), last)


def _recorded(lake: Lake, dataset: str, ticker: str) -> set[tuple[str, str, str, str]]:
    """(date, source key, source version, reason) of the ticker's quarantine records."""
    return {
        (str(r.get("date")), str(r.get("source_key")), str(r.get("source_version")), str(r.get("reason")))
        for r in lake.quarantine_records(dataset, ticker)
    }


# ---------------------------------------------------------------------------------------------- derived


def warmup_start(start: str, sessions: int) -> str:
    """A date early enough that [it, start) holds `sessions` weekday sessions (a 5 % margin for holidays)."""
    if sessions <= 0:
        return start
    days = math.ceil(sessions * 7 / 5 * 1.05) + 10
    return (dt.date.fromisoformat(start) - dt.timedelta(days=days)).isoformat()


def build_derived(
    lake: Lake, dataset: str, tickers: Iterable[str], start: str, end: str, run_id: str
) -> StageResult:
    """Compute a derived dataset (`DERIVED`) for the tickers' rows dated [start, end].

    The inputs are read once for every ticker over the range plus the warm-up window before it (what the
    dataset's windows and recursions need); each ticker is computed in one vectorised pass; the rows of
    the range are validated and written, one merged write per month. A row's lineage is the raw object
    (and version) behind the input row of the same date.
    """
    if dataset not in DERIVED:
        raise InvalidArgumentValue(
            f"dataset {dataset!r} is not derived: expected one of {', '.join(DERIVED)}"
        )
    import schemas

    spec = DERIVED[dataset]
    first, last = _range(start, end)
    symbols = _tickers(tickers)
    result = StageResult(dataset)
    low = warmup_start(first, spec.warmup)
    first_day, last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    # Every input column but the lake's own bookkeeping (the new rows get their own computation and run).
    wanted = {
        name: [c for c in schemas.column_names(name) if c not in COMPUTATION_COLUMNS] for name in spec.inputs
    }
    inputs = {name: lake.read_dataset(name, symbols, low, last, columns=wanted[name]) for name in spec.inputs}
    # Each ticker's rows are one block of each input (read_dataset sorts by ticker and date): sliced when
    # it is computed and let go after (a copy of every input split by ticker would double the memory).
    blocks = {name: _ticker_blocks(frame) for name, frame in inputs.items()}
    frames = []
    for ticker in symbols:
        parts = {
            name: inputs[name].iloc[slice(*blocks[name][ticker])].reset_index(drop=True)
            if ticker in blocks[name]
            else None
            for name in spec.inputs
        }
        missing = [name for name, frame in parts.items() if frame is None or frame.empty]
        if missing:
            result.skipped[ticker] = f"no {missing[0]} rows up to {last}"
            continue
        if len(parts) > 1:  # every input on the same dates (features: prices with their indicators)
            dates = [frame["date"].to_numpy() for frame in parts.values()]
            if not all(len(d) == len(dates[0]) and (d == dates[0]).all() for d in dates[1:]):
                common = set.intersection(*(set(d) for d in dates))
                parts = {n: f[f["date"].isin(common)].reset_index(drop=True) for n, f in parts.items()}
        upstream = parts[spec.inputs[0]]
        values = spec.compute(parts)
        values["ticker"] = ticker  # a frame of its own: filled in place, not copied by assign
        values["date"] = upstream["date"].to_numpy()
        values["source_raw_key"] = upstream["source_raw_key"].to_numpy()
        values["source_raw_version"] = upstream["source_raw_version"].to_numpy()
        days = values["date"].to_numpy()
        inside = (days >= first_day) & (days <= last_day)
        values = values if inside.all() else values[inside]
        if values.empty:
            result.skipped[ticker] = f"no {spec.inputs[0]} rows between {first} and {last}"
            continue
        frames.append(values)
    del inputs, blocks, parts  # the inputs are not needed for the write: free them before the concat
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        frames.clear()
        _write_valid(lake, dataset, frame, result, run_id)
    release_memory()
    return result


def _ticker_blocks(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Ticker → (first, stop) row positions of a frame sorted by ticker and date (one block each)."""
    import numpy as np

    if frame.empty:
        return {}
    tickers = frame["ticker"].to_numpy()
    change = np.flatnonzero(tickers[1:] != tickers[:-1]) + 1
    starts, stops = np.r_[0, change], np.r_[change, len(tickers)]
    blocks = {str(tickers[a]): (int(a), int(b)) for a, b in zip(starts, stops, strict=True)}
    if len(blocks) != len(starts):
        raise ValueError("input rows are not sorted by ticker")  # read_dataset's contract broken
    return blocks


# ---------------------------------------------------------------------------------------------- writing


def schema_failures(dataset: str, frame: pd.DataFrame, *, chunk_rows: int | None = None) -> dict[int, str]:
    """Row position → first failure of the dataset's pandera model, validated a block of rows at a time
    (pandera copies what it validates: a 10-year frame of 500 tickers at once costs gigabytes)."""
    size = chunk_rows or CHUNK_ROWS
    failures: dict[int, str] = {}
    for begin in range(0, len(frame), size):
        part = frame.iloc[begin : begin + size].reset_index(drop=True)
        failures.update(
            {begin + position: reason for position, reason in _schema_failures(dataset, part).items()}
        )
    return failures


def _schema_failures(dataset: str, frame: pd.DataFrame) -> dict[int, str]:
    """Row position → first failure of the dataset's pandera model ({} when the frame is valid)."""
    import pandera.errors

    import schemas

    try:
        schemas.validate(dataset, frame)
        return {}
    except pandera.errors.SchemaErrors as exc:
        failures: dict[int, str] = {}
        for case in exc.failure_cases.itertuples(index=False):
            index = getattr(case, "index", None)
            message = f"{dataset} schema: column {case.column!r} failed {case.check} with value {case.failure_case!r}"
            if index is None or pd.isna(index):  # a frame-level failure: every row is affected
                return {position: message for position in range(len(frame))}
            failures.setdefault(int(index), message)
        return failures or {position: str(exc).splitlines()[0] for position in range(len(frame))}


def _write_valid(lake: Lake, dataset: str, frame: pd.DataFrame, result: StageResult, run_id: str) -> None:
    """Validate the rows with the dataset's pandera model (as they will be stored), quarantine the failing
    ones, and write the others: one merged write per month, stamped with the model's fingerprint (a version
    whose every row passed it; the schema check then need not validate it again)."""
    import numpy as np

    import schemas

    computed_at = _now()
    version = COMPUTATION_VERSION[dataset]
    stamp = schemas.fingerprint(dataset)  # every row written below passed the model: the versions say so
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)
    if isinstance(frame["date"].iloc[0], str):  # ISO text from a caller: dates, as they are stored
        frame["date"] = pd.to_datetime(frame["date"], format="ISO8601").dt.date
    days = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")  # 30x np.array over objects
    months = np.datetime_as_string(days.astype("datetime64[M]"), unit="M")
    del days
    tickers: set[str] = set()
    # Validated and written a few months at a time: the validation's copies stay the size of a chunk.
    for chunk in _month_chunks(months):
        part = frame.take(chunk).reset_index(drop=True)
        failures = _schema_failures(
            dataset,
            part.assign(computation_version=version, computed_at=pd.Timestamp(computed_at), run_id=run_id),
        )
        for position, reason in sorted(failures.items()):
            row = part.iloc[position]
            ticker, date = str(row["ticker"]), str(row["date"])
            _quarantine(
                lake,
                result,
                dataset,
                ticker,
                date,
                reason,
                source_key=str(row["source_raw_key"]),
                source_version=str(row["source_raw_version"]),
                payload=part.iloc[[position]]
                .assign(date=date)
                .to_json(orient="records", date_format="iso")
                .encode(),
                run_id=run_id,
            )
        if failures:
            keep = np.ones(len(part), dtype=bool)
            keep[list(failures)] = False
            part = part[keep]
        if part.empty:
            continue
        # One conversion to Arrow for the chunk, then one conditional write per month.
        for write in lake.write_months(
            dataset,
            part,
            run_id=run_id,
            computation_version=version,
            computed_at=computed_at,
            validated=stamp,
        ):
            result.writes.append(write)
            result.rows += write.rows_written
            for observer in list(OBSERVERS):
                observer(dataset, write)
        tickers.update(part["ticker"].unique())
    result.tickers.update(tickers)


#: Rows validated at once by `_write_valid` (whole months, at least one).
CHUNK_ROWS = 200_000


def _month_chunks(months):
    """Row positions of consecutive groups of whole months, each about `CHUNK_ROWS` rows or one month."""
    import numpy as np

    order = np.argsort(months, kind="stable")
    ordered = months[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    chunk_start = 0
    for month_start, month_end in zip(starts, ends, strict=True):
        if month_end - chunk_start > CHUNK_ROWS and month_start > chunk_start:
            yield order[chunk_start:month_start]
            chunk_start = month_start
    if chunk_start < len(ordered):
        yield order[chunk_start:]


def release_memory() -> None:
    """Give the memory a stage freed back to the system (glibc keeps freed blocks in its arenas, so the
    steps of one process would otherwise stack their peaks), and pyarrow's pool its unused buffers."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - an optional hint
        pass


# ---------------------------------------------------------------------------------------------- checks


def quarantined_now(
    lake: Lake, dataset: str, tickers: Sequence[str] | None, start: str, end: str
) -> dict[tuple[str, str], str]:
    """(ticker, date) in [start, end] whose newest quarantine record is newer than its stored row (or that
    has no row): the lake's own view, whichever run did what — a row quarantined and later repaired by a
    good payload no longer counts."""
    first, last = _range(start, end)
    wanted = set(tickers) if tickers is not None else None
    names = [dataset, "raw"] if dataset == "prices" else [dataset]
    records: dict[tuple[str, str], tuple[str, str]] = {}  # → (quarantined_at, reason)
    import json

    for name in names:
        for key in lake.list_keys(f"quarantine/{name}/"):
            if not key.endswith(".json"):
                continue
            try:
                ticker, date = layout.parse_partition(key)
            except ValueError:
                continue
            if not first <= date <= last or (wanted is not None and ticker not in wanted):
                continue
            try:
                record = json.loads(lake.store.get(key).data)
            except (ObjectNotFound, ValueError):
                continue
            when = str(record.get("quarantined_at", ""))
            if when >= records.get((ticker, date), ("", ""))[0]:
                records[(ticker, date)] = (when, str(record.get("reason", "quarantined")))
    if not records:
        return {}
    stored = lake.read_dataset(dataset, sorted({t for t, _ in records}), first, last, columns=["computed_at"])
    computed = {(row.ticker, row.date.isoformat()): row.computed_at for row in stored.itertuples(index=False)}
    found = {}
    for (ticker, date), (when, reason) in records.items():
        row_time = computed.get((ticker, date))
        if row_time is None or row_time.to_pydatetime() < dt.datetime.fromisoformat(when):
            found[(ticker, date)] = reason
    return dict(sorted(found.items()))


def missing_sessions(
    lake: Lake,
    dataset: str,
    tickers: Sequence[str],
    start: str,
    end: str,
    *,
    rows: pd.DataFrame | None = None,
) -> dict[str, list[str]]:
    """Ticker → the sessions of its exchange's calendar in [start, end] (up to today) with no stored row.

    `rows`: the dataset's stored rows (`ticker` and `date` columns) already read by the caller over a range
    that covers [start, end]; without them the dates are read from the lake.
    """
    import numpy as np

    from pipelines.sources.calendars import session_days

    first, last = _range(start, end)
    last = min(last, _now().date().isoformat())
    if first > last:
        return {}
    if rows is None:
        rows = lake.read_dataset(dataset, list(tickers), first, last, columns=["date"])
    days = (
        pd.to_datetime(rows["date"]).to_numpy().astype("datetime64[D]")
        if len(rows)
        else np.array([], "datetime64[D]")
    )
    lo, hi = np.datetime64(first, "D"), np.datetime64(last, "D")
    inside = (days >= lo) & (days <= hi)
    codes, names = pd.factorize(rows["ticker"].to_numpy()[inside]) if len(rows) else (np.array([], int), [])
    days = days[inside]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    present = {str(name): days[order[bounds[i] : bounds[i + 1]]] for i, name in enumerate(names)}
    missing = {}
    for ticker in tickers:
        sessions = session_days(ticker, first, last)
        gaps = np.setdiff1d(sessions, present.get(ticker, sessions[:0]), assume_unique=False)
        if len(gaps):
            missing[ticker] = [str(day) for day in gaps]
    return missing
