"""The lake API used by pipelines, dagster_project, report_app, glue and the CLI.

The grain (shared/DESIGN.md)
----------------------------
- **raw**: one immutable object per source fetch, `raw/<source>/ticker=T/date=<fetch date>/<ts>.json`,
  the envelope verbatim (`put_raw`).
- **processed**: one object per dataset and month, `processed/<dataset>/month=YYYY-MM/data.parquet`, every
  ticker's rows of the month sorted by ticker and date, in row groups whose statistics let a reader skip
  to one ticker (`write_month`, `read_dataset`).

Writes of a month are read-modify-write: read the current version and its ETag, replace the rows of the
(ticker, date)s being written, keep every other row, and write back *conditionally* (`If-Match` on the
ETag read, `If-None-Match: *` for a new month; the local backend does the same compare-and-swap under the
key's lock). A writer that lost the race reads again and retries, a bounded number of times: two runs
writing the same month (a daily run and a backfill of other tickers) never lose each other's rows.

Every write is a new version of the month's stable key. Its S3 tags and metadata carry the run, the
computation and a reference to its lineage manifest (`lineage/<dataset>/month=M/<token>.json`, the raw
keys and versions its rows were computed from); each row carries its own `source_raw_key`/`version`,
`computation_version`, `computed_at` and `run_id`. Athena and DuckDB list keys, not versions, so they see
exactly the latest version of each month. Older versions stay readable by id and by time (`as_of`).

Examples
--------
>>> from lake import Lake
>>> lake = Lake.open("/tmp/lake")  # doctest: +SKIP
>>> raw = lake.put_raw(envelope, ticker="D05.SI", source="yfinance")  # doctest: +SKIP
>>> lake.write_month("prices", "2025-01", rows, run_id="r1", computation_version="1.0.0")  # doctest: +SKIP
>>> lake.read_dataset("prices", tickers=["D05.SI"], start="2025-01-01", columns=["close"])  # doctest: +SKIP
"""

import base64
import datetime as dt
import hashlib
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake import layout
from lake.exceptions import (
    InvalidArgumentValue,
    LakeError,
    ObjectNotFound,
    PreconditionFailed,
    WriteConflict,
)
from lake.store import ObjectInfo, ObjectStore, PutResult, check_key, open_store

__all__ = ["LINEAGE_COLUMNS", "Lake", "MonthVersion", "MonthWrite", "open_lake"]

logger = logging.getLogger("tickerlake.lake.api")

LINEAGE_COLUMNS: tuple[str, ...] = (
    "source_raw_key",
    "source_raw_version",
    "computation_version",
    "computed_at",
    "run_id",
)
#: Lineage columns the lake itself fills on every row it writes (`write_month`'s computation and run).
COMPUTATION_COLUMNS: tuple[str, ...] = ("computation_version", "computed_at", "run_id")
#: Columns the lake adds to every processed row (appended to a schema that lacks them).
LAKE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("ticker", pa.string()),
    pa.field("date", pa.date32()),
    pa.field("source_raw_key", pa.string()),
    pa.field("source_raw_version", pa.string()),
    pa.field("computation_version", pa.string()),
    pa.field("computed_at", pa.timestamp("us", tz="UTC")),
    pa.field("run_id", pa.string()),
)
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
#: Rows per Parquet row group of a month object: ~90 tickers of a month, so that the statistics of the
#: sorted `ticker` column let a reader of one ticker skip the other groups.
ROW_GROUP_ROWS = 2048
#: Attempts of one month's read-modify-write before WriteConflict (each after a growing, jittered pause).
MAX_WRITE_ATTEMPTS = 10
#: Quarantined payloads up to this size are inlined (base64) in the record; larger ones get a sibling object.
QUARANTINE_INLINE_BYTES = 256 * 1024
#: Threads that read month objects (pyarrow reads and decodes without the GIL).
READ_THREADS = 4
_TEXT = re.compile(r"[\x20-\x7e]{1,1024}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(name: str, value: object) -> str:
    """A lineage field: printable ASCII (it travels as S3 metadata), 1-1024 characters."""
    if not isinstance(value, str) or not _TEXT.fullmatch(value):
        raise InvalidArgumentValue(
            f"{name} {value!r} is not valid: expected 1-1024 printable ASCII characters"
        )
    return value


def _utc(name: str, when: object) -> dt.datetime:
    if not isinstance(when, dt.datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise InvalidArgumentValue(f"{name} {when!r} is not valid: expected a timezone-aware datetime")
    return when.astimezone(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class MonthWrite:
    """What one `write_month` did: the new version of the month object and its lineage manifest."""

    dataset: str
    month: str
    key: str
    version_id: str
    rows: int  # rows in the new version (every ticker)
    tickers: int  # tickers in the new version
    rows_written: int  # rows this write replaced or added
    first_date: str | None
    last_date: str | None
    manifest_key: str
    attempts: int  # 1 unless another writer went first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MonthVersion:
    """One version of a month object, with what its tags and metadata say about it."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: dt.datetime
    size: int
    computed_at: str | None
    computation_type: str | None
    computation_version: str | None
    run_id: str | None
    row_count: int | None
    ticker_count: int | None
    manifest_key: str | None
    #: The schema fingerprint every row of this version was validated against when written (None: not
    #: known to be validated; `schemas.fingerprint`).
    schema_validated: str | None = None

    @classmethod
    def from_info(cls, info: ObjectInfo) -> "MonthVersion":
        meta = info.metadata

        def number(name: str) -> int | None:
            value = meta.get(name)
            return int(value) if value and value.isdigit() else None

        return cls(
            key=info.key,
            version_id=info.version_id,
            is_latest=info.is_latest,
            last_modified=info.last_modified,
            size=info.size,
            computed_at=meta.get("computed-at"),
            computation_type=meta.get("computation-type"),
            computation_version=meta.get("computation-version"),
            run_id=meta.get("run-id"),
            row_count=number("row-count"),
            ticker_count=number("ticker-count"),
            manifest_key=meta.get("lineage-manifest"),
            schema_validated=meta.get("schema-validated"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_modified"] = self.last_modified.isoformat()
        return data


def _with_lake_columns(schema: pa.Schema) -> pa.Schema:
    """The schema with ticker, date and the lineage columns appended where it lacks them."""
    for lake_field in LAKE_FIELDS:
        if schema.get_field_index(lake_field.name) < 0:
            schema = schema.append(lake_field)
    return schema


def dataset_schema(dataset: str, schema: pa.Schema | None = None) -> pa.Schema:
    """The Arrow schema of a dataset's month objects: `schema` or `schemas.arrow_schema(dataset)`, with the
    lake's own columns."""
    if schema is None:
        try:  # written alongside the lake; imported lazily so `lake` never needs it to start
            from schemas import arrow_schema

            schema = arrow_schema(dataset)
        except (ImportError, AttributeError, KeyError) as exc:
            raise LakeError(f"no Arrow schema for dataset {dataset!r}: pass schema= ({exc})") from exc
    if not isinstance(schema, pa.Schema):
        raise InvalidArgumentValue(f"schema must be a pyarrow.Schema, got {type(schema).__name__}")
    return _with_lake_columns(schema)


def _tickers(tickers: str | Iterable[str] | None) -> list[str] | None:
    if tickers is None:
        return None
    if isinstance(tickers, str):
        tickers = [tickers]
    return sorted({layout.validate_ticker(ticker) for ticker in tickers})


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS, write_statistics=True)
    return sink.getvalue().to_pybytes()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A stored table in `schema`'s column order; a column an older file lacks comes back null."""
    columns = []
    for schema_field in schema:
        if schema_field.name in table.column_names:
            columns.append(table.column(schema_field.name).cast(schema_field.type))
        else:
            columns.append(pa.nulls(table.num_rows, schema_field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _row_filter(tickers: list[str] | None, start: str | None, end: str | None) -> pc.Expression | None:
    expression = None
    parts = []
    if tickers is not None:
        parts.append(pc.field("ticker").isin(pa.array(tickers, pa.string())))  # typed: [] is no ticker
    if start is not None:
        parts.append(pc.field("date") >= pa.scalar(dt.date.fromisoformat(start), pa.date32()))
    if end is not None:
        parts.append(pc.field("date") <= pa.scalar(dt.date.fromisoformat(end), pa.date32()))
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


class Lake:
    """The lake over one object store (see the module docstring for the grain and the write protocol).

    Parameters
    ----------
    store:
        A `lake.store.ObjectStore` (`LocalStore` or `S3Store`); `Lake.open(uri)` picks it from the URI.
    data_classification:
        The `data-classification` metadata of every object written.
    max_workers:
        Threads for reads of many objects.
    """

    def __init__(self, store: ObjectStore, *, data_classification: str = "internal", max_workers: int = 8):
        if not isinstance(store, ObjectStore):
            raise InvalidArgumentValue(f"store must be a lake.store.ObjectStore, got {type(store).__name__}")
        self.store = store
        self.data_classification = data_classification
        self.max_workers = max_workers

    @classmethod
    def open(cls, uri: str | None = None, **kwargs: Any) -> "Lake":
        """The lake at `uri` (None: TICKERLAKE_LAKE_URI, default ./lake)."""
        return cls(open_store(uri), **kwargs)

    @property
    def uri(self) -> str:
        return self.store.uri

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    def init(self) -> list[str]:
        """Create/configure the lake (`tickerlake init`); idempotent; returns what was done."""
        return self.store.initialize()

    def list_keys(self, prefix: str) -> list[str]:
        """The keys under `prefix`, sorted."""
        return self.store.list_keys(prefix)

    # ------------------------------------------------------------------ raw

    def put_raw(
        self,
        envelope: Mapping[str, Any] | bytes,
        *,
        ticker: str,
        source: str,
        fetched_at: dt.datetime | None = None,
    ) -> PutResult:
        """Store one source fetch verbatim: `raw/<source>/ticker=T/date=<fetch date>/<fetched_at>.json`.

        Bytes are stored byte-for-byte (they must be a JSON object, parsed here to check it); a mapping is
        serialised as given (compact strict JSON, `pipelines.sources.envelope_bytes`) without a parse. The
        key's time is `fetched_at`, else the envelope's `fetched_at`, else now. An envelope whose `symbol`
        contradicts `ticker` is refused (InvalidArgumentValue). Raw objects are immutable: the put is
        conditional on the key being new; putting the same bytes again returns the stored object, other
        bytes at the same key are refused.
        """
        ticker, source = layout.validate_ticker(ticker), layout.validate_source(source)
        body, parsed = self._envelope_body(envelope, ticker)
        symbol = parsed.get("symbol")
        if symbol is not None and symbol != ticker:
            raise InvalidArgumentValue(f"raw envelope is for symbol {symbol!r}, not for ticker {ticker!r}")
        when = _utc("fetched_at", fetched_at) if fetched_at is not None else self._fetched_at(parsed)
        key = layout.raw_key(source, ticker, when)
        digest = hashlib.sha256(body).hexdigest()
        metadata = {
            "ticker": ticker,
            "fetched-at": _iso(when),
            "content-sha256": digest,
            "data-classification": self.data_classification,
        }
        bars = self._bar_range(parsed)
        if bars:
            metadata["first-bar"], metadata["last-bar"] = bars
        envelope_source = parsed.get("source")
        if isinstance(envelope_source, str) and _NAME.fullmatch(envelope_source):
            metadata["envelope-source"] = envelope_source
        tags = {"source": source, "ticker": ticker, "fetched_at": _iso(when)}
        try:
            result = self.store.put(
                key, body, metadata=metadata, tags=tags, content_type="application/json", if_none_match=True
            )
        except PreconditionFailed:
            existing = self.store.head(key)
            if existing.metadata.get("content-sha256") != digest:
                raise InvalidArgumentValue(
                    f"raw object {key} exists with other content: a fetch is stored once and never replaced"
                ) from None
            result = PutResult(key=key, version_id=existing.version_id)
        logger.info(
            "lake write", extra={"area": "raw", "key": key, "version": result.version_id, "bytes": len(body)}
        )
        return result

    @staticmethod
    def _envelope_body(envelope: Mapping[str, Any] | bytes, ticker: str) -> tuple[bytes, Mapping[str, Any]]:
        if isinstance(envelope, bytes | bytearray | memoryview):
            body = bytes(envelope)
            try:
                parsed = json.loads(body)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                detail = str(exc) or type(exc).__name__
                raise InvalidArgumentValue(f"raw envelope for {ticker} is not JSON: {detail}") from None
        elif isinstance(envelope, Mapping):
            parsed = envelope
            try:
                body = json.dumps(
                    envelope, ensure_ascii=False, allow_nan=False, separators=(",", ":")
                ).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentValue(
                    f"raw envelope for {ticker} is not JSON-serialisable: {exc}"
                ) from None
        else:
            raise InvalidArgumentValue(
                f"raw envelope must be a dict or JSON bytes, got {type(envelope).__name__}"
            )
        if not isinstance(parsed, Mapping):
            raise InvalidArgumentValue(f"raw envelope for {ticker} must be a JSON object")
        return body, parsed

    @staticmethod
    def _fetched_at(parsed: Mapping[str, Any]) -> dt.datetime:
        value = parsed.get("fetched_at")
        if value is None:
            return _now()
        try:
            when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentValue(
                f"fetched_at {value!r} is not valid: expected an ISO UTC timestamp"
            ) from None
        if when.tzinfo is None:
            raise InvalidArgumentValue(
                f"fetched_at {value!r} is not valid: expected a timezone-aware timestamp"
            )
        return when.astimezone(dt.UTC)

    @staticmethod
    def _bar_range(parsed: Mapping[str, Any]) -> tuple[str, str] | None:
        """(first, last) bar date of an envelope's history when they read as dates (metadata only)."""
        payload = parsed.get("payload")
        history = payload.get("history") if isinstance(payload, Mapping) else None
        if not isinstance(history, list) or not history:
            return None
        dates = [row.get("date") for row in history if isinstance(row, Mapping)]
        dates = [d for d in dates if isinstance(d, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)]
        return (min(dates), max(dates)) if dates else None

    def raw_fetches(
        self, ticker: str, *, source: str | None = None, since: str | None = None
    ) -> list[ObjectInfo]:
        """The ticker's raw fetches (latest version of each key; no metadata), oldest fetch first.

        `source` limits them to one source; `since` to fetches made on or after that (UTC) date — a
        fetch cannot hold a bar dated after it was made, so a reader of bars from `since` on needs no
        older fetch unless it wants bars from before `since`.
        """
        ticker = layout.validate_ticker(ticker)
        first = layout.validate_date(since) if since is not None else None
        sources = [layout.validate_source(source)] if source is not None else list(layout.RAW_SOURCES)
        found: list[ObjectInfo] = []
        for name in sources:
            prefix = layout.raw_prefix(name, ticker)
            descend = layout.date_folders(first, None) if first else None
            keys = [
                key
                for key in self.store.list_keys(prefix, descend=descend)
                if key.endswith(".json") and (first is None or layout.parse_raw_key(key)[2] >= first)
            ]
            if not keys:
                continue
            wanted = set(keys)
            found.extend(info for info in self.store.list(prefix) if info.key in wanted)
        return sorted(found, key=lambda info: (info.key.rpartition("/")[2], info.key))

    def get_raw(self, key: str, version_id: str | None = None) -> bytes:
        """The bytes of a raw object (latest version, or `version_id`)."""
        return self.store.get(self._raw_key(key), version_id).data

    @staticmethod
    def _raw_key(key: object) -> str:
        key = check_key(key)
        try:
            layout.parse_raw_key(key)
        except ValueError as exc:
            raise InvalidArgumentValue(str(exc)) from None
        return key

    # ------------------------------------------------------------------ processed: writes

    def write_month(
        self,
        dataset: str,
        month: str,
        rows: pd.DataFrame,
        *,
        run_id: str,
        computation_version: str,
        computed_at: dt.datetime | None = None,
        schema: pa.Schema | None = None,
        validated: str | None = None,
    ) -> MonthWrite:
        """Merge `rows` into the month object: a new version holding them and every other row it had.

        `rows` has `ticker`, `date` (all in `month`), `source_raw_key`, `source_raw_version` and exactly the
        dataset's value columns; one row per (ticker, date). The lake adds `computation_version`,
        `computed_at` and `run_id`. A row of the current version with the same (ticker, date) is replaced;
        every other row is kept as it was (with its own lineage). The write is conditional on the version
        read (module docstring); after MAX_WRITE_ATTEMPTS lost races, WriteConflict.

        `validated`: the schema fingerprint the caller validated `rows` against (`schemas.fingerprint`).
        The new version records it (metadata `schema-validated`) only when every row it keeps from the
        current version was validated against the same fingerprint, so a stamped version is wholly valid.
        """
        month = layout.validate_month(month)
        writes = self.write_months(
            dataset,
            rows,
            run_id=run_id,
            computation_version=computation_version,
            computed_at=computed_at,
            schema=schema,
            month=month,
            validated=validated,
        )
        return writes[0]

    def write_months(
        self,
        dataset: str,
        rows: pd.DataFrame,
        *,
        run_id: str,
        computation_version: str,
        computed_at: dt.datetime | None = None,
        schema: pa.Schema | None = None,
        month: str | None = None,
        validated: str | None = None,
    ) -> list[MonthWrite]:
        """`write_month` for rows of any months: the rows are checked and converted to Arrow once, sorted
        by month, ticker and date, and each month's slice is merged into its object (one conditional write
        per month, up to `max_workers` months at a time); the writes in month order. With `month`, every row
        must be in it. Each month is written whole or not at all; when one fails, the others still finish
        (each is an object of its own) and the first error is raised."""
        dataset = layout.validate_dataset(dataset)
        run_id = _text("run_id", run_id)
        computation_version = _text("computation_version", computation_version)
        when = _utc("computed_at", computed_at) if computed_at is not None else _now()
        full_schema = dataset_schema(dataset, schema)
        validated = _text("validated", validated) if validated is not None else None
        table, months = self._arrow_rows(dataset, month, rows, full_schema, run_id, computation_version, when)
        bounds = np.flatnonzero(months[1:] != months[:-1]) + 1
        starts, ends = [0, *bounds.tolist()], [*bounds.tolist(), len(months)]

        def merge(bounds: tuple[int, int]) -> MonthWrite:
            lo, hi = bounds
            month_rows = table.slice(lo, hi - lo)
            return self._merge_month(
                dataset,
                str(months[lo]),
                month_rows,
                full_schema,
                run_id,
                computation_version,
                when,
                validated,
            )

        spans = list(zip(starts, ends, strict=True))
        if len(spans) == 1:
            return [merge(spans[0])]
        # The months are independent objects: their writes overlap (each waits mostly on the store: a PUT,
        # or a local file's fsyncs; Parquet encoding releases the GIL). Results come back in month order.
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(spans)))) as pool:
            return list(pool.map(merge, spans))

    def _merge_month(
        self,
        dataset: str,
        month: str,
        new: pa.Table,
        full_schema: pa.Schema,
        run_id: str,
        computation_version: str,
        when: dt.datetime,
        validated: str | None,
    ) -> MonthWrite:
        """The compare-and-swap of one month object: `new` (sorted by ticker and date) merged into it."""
        key = layout.month_key(dataset, month)
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                current = self.store.get(key)
            except ObjectNotFound:
                current = None
            merged, kept_rows = new, 0
            if current is not None:
                old = _conform(pq.read_table(pa.BufferReader(current.data)), full_schema)
                new_keys = pc.binary_join_element_wise(
                    new.column("ticker"), pc.cast(new.column("date"), pa.string()), "|"
                )
                old_keys = pc.binary_join_element_wise(
                    old.column("ticker"), pc.cast(old.column("date"), pa.string()), "|"
                )
                kept = old.filter(pc.invert(pc.is_in(old_keys, value_set=new_keys)))
                kept_rows = kept.num_rows
                merged = pa.concat_tables([kept, new]).sort_by(
                    [("ticker", "ascending"), ("date", "ascending")]
                )
            manifest_key = self._put_manifest(dataset, month, merged, run_id, computation_version, when)
            dates = merged.column("date")
            first = pc.min(dates).as_py()
            last = pc.max(dates).as_py()
            tickers = len(pc.unique(merged.column("ticker")))
            metadata = {
                "computation-type": dataset,
                "computation-version": computation_version,
                "computed-at": _iso(when),
                "run-id": run_id,
                "data-classification": self.data_classification,
                "row-count": str(merged.num_rows),
                "ticker-count": str(tickers),
                "first-date": first.isoformat(),
                "last-date": last.isoformat(),
                "lineage-manifest": manifest_key,
            }
            kept_validated = kept_rows == 0 or current.info.metadata.get("schema-validated") == validated
            if validated is not None and kept_validated:
                metadata["schema-validated"] = validated
            tags = {
                "source": "computed",
                "computation_type": dataset,
                "computation_version": computation_version,
                "computed_at": _iso(when),
                "run_id": run_id[:256],
                "lineage_manifest": manifest_key,
                "rows": str(merged.num_rows),
                "tickers": str(tickers),
            }
            try:
                put = self.store.put(
                    key,
                    _parquet_bytes(merged),
                    metadata=metadata,
                    tags=tags,
                    content_type=PARQUET_CONTENT_TYPE,
                    if_match=current.info.etag if current is not None else None,
                    if_none_match=current is None,
                )
            except PreconditionFailed:
                pause = random.uniform(0.01, 0.05) * attempt
                logger.info(
                    "lake write conflict",
                    extra={"key": key, "attempt": attempt, "retry_in_s": round(pause, 3)},
                )
                time.sleep(pause)
                continue
            logger.info(
                "lake write",
                extra={
                    "area": "processed",
                    "key": key,
                    "version": put.version_id,
                    "rows": merged.num_rows,
                    "written": new.num_rows,
                    "run_id": run_id,
                    "attempts": attempt,
                },
            )
            return MonthWrite(
                dataset=dataset,
                month=month,
                key=key,
                version_id=put.version_id,
                rows=merged.num_rows,
                tickers=tickers,
                rows_written=new.num_rows,
                first_date=first.isoformat(),
                last_date=last.isoformat(),
                manifest_key=manifest_key,
                attempts=attempt,
            )
        raise WriteConflict(
            f"{key} in {self.uri}: other writers changed it during each of {MAX_WRITE_ATTEMPTS} attempts "
            "to merge this write; nothing was written (run it again)"
        )

    def _arrow_rows(
        self,
        dataset: str,
        month: str | None,
        rows: pd.DataFrame,
        schema: pa.Schema,
        run_id: str,
        computation_version: str,
        computed_at: dt.datetime,
    ) -> tuple[pa.Table, np.ndarray]:
        """The rows as one Arrow table in `schema` with the lake's lineage columns, sorted by month, ticker
        and date, and each row's month (`YYYY-MM` text); every problem an InvalidArgumentValue naming it."""
        where = f"{dataset} month={month}" if month else dataset
        if not isinstance(rows, pd.DataFrame):
            raise InvalidArgumentValue(
                f"rows for {where} must be a pandas DataFrame, got {type(rows).__name__}"
            )
        if rows.empty:
            raise InvalidArgumentValue(f"no rows given for {where}")
        for name in ("ticker", "date", "source_raw_key", "source_raw_version"):
            if name not in rows.columns:
                raise InvalidArgumentValue(f"rows for {where} have no {name!r} column")
        extra = [str(name) for name in rows.columns if name not in schema.names]
        if extra:
            raise InvalidArgumentValue(
                f"columns {', '.join(extra)} are not in the {dataset} schema ({where})"
            )
        missing = [
            name for name in schema.names if name not in rows.columns and name not in COMPUTATION_COLUMNS
        ]
        if missing:
            raise InvalidArgumentValue(
                f"columns {', '.join(missing)} of the {dataset} schema are missing ({where})"
            )
        for ticker in pd.unique(rows["ticker"].astype(object)):
            layout.validate_ticker(ticker)
        # Each distinct value validated once (a month has at most 31 dates, a backfill's frame millions of rows).
        distinct = pd.unique(rows["date"])
        texts: dict[Any, str] = {value: layout.validate_date(value) for value in distinct}
        if month is not None:
            outside = sorted({d for d in texts.values() if d[:7] != month})
            if outside:
                raise InvalidArgumentValue(
                    f"rows dated {', '.join(outside[:5])} are not in month {month} ({where})"
                )
        given = [name for name in schema.names if name not in COMPUTATION_COLUMNS]
        frame = rows[given]
        if not all(type(value) is dt.date for value in distinct):  # text or timestamps: stored as dates
            frame = frame.assign(
                date=rows["date"].map({value: dt.date.fromisoformat(text) for value, text in texts.items()})
            )
        given_schema = pa.schema([schema.field(name) for name in given])
        try:
            table = pa.Table.from_pandas(frame, schema=given_schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as exc:
            raise InvalidArgumentValue(f"rows for {where} do not fit the {dataset} schema: {exc}") from None
        days = table.column("date").cast(pa.int32()).to_numpy()
        month_numbers = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        tickers = table.column("ticker").to_numpy(zero_copy_only=False)
        order = np.lexsort((days, tickers, month_numbers))
        table = table.take(pa.array(order))
        days, tickers, month_numbers = days[order], tickers[order], month_numbers[order]
        repeated = np.flatnonzero((tickers[1:] == tickers[:-1]) & (days[1:] == days[:-1]))
        if len(repeated):
            at = int(repeated[0])
            day = np.datetime64(int(days[at]), "D").astype(str)
            raise InvalidArgumentValue(f"rows for {where} repeat (ticker, date) {tickers[at]} {day}")
        n = table.num_rows
        constants = {
            "computation_version": pa.repeat(pa.scalar(computation_version, pa.string()), n),
            "computed_at": pa.repeat(pa.scalar(computed_at, schema.field("computed_at").type), n),
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), n),
        }
        columns = [
            constants[name].cast(schema.field(name).type) if name in constants else table.column(name)
            for name in schema.names
        ]
        months = np.datetime_as_string(month_numbers.astype("datetime64[M]"), unit="M")
        return pa.Table.from_arrays(columns, schema=schema), months

    def _put_manifest(
        self,
        dataset: str,
        month: str,
        table: pa.Table,
        run_id: str,
        computation_version: str,
        computed_at: dt.datetime,
    ) -> str:
        """Write the lineage manifest of a month version about to be written; its key."""
        pairs = (
            table.select(["source_raw_key", "source_raw_version"])
            .group_by(["source_raw_key", "source_raw_version"])
            .aggregate([])
        )
        sources = sorted(
            zip(
                pairs.column("source_raw_key").to_pylist(),
                pairs.column("source_raw_version").to_pylist(),
                strict=True,
            )
        )
        token = f"{layout.timestamp_token(_now())}-{secrets.token_hex(6)}"
        key = layout.lineage_manifest_key(dataset, month, token)
        document = {
            "dataset": dataset,
            "month": month,
            "object_key": layout.month_key(dataset, month),
            "run_id": run_id,
            "computation_type": dataset,
            "computation_version": computation_version,
            "computed_at": _iso(computed_at),
            "rows": table.num_rows,
            "raw_sources": [{"key": k, "version_id": v} for k, v in sources],
        }
        self.store.put(
            key,
            json.dumps(document, separators=(",", ":")).encode(),
            metadata={"data-classification": self.data_classification},
            tags={"source": "lineage", "computation_type": dataset},
            content_type="application/json",
        )
        return key

    # ------------------------------------------------------------------ processed: reads

    def months(self, dataset: str) -> list[str]:
        """The months the dataset has an object for, sorted."""
        found = []
        for key in self.store.list_keys(layout.dataset_root(dataset)):
            try:
                found.append(layout.parse_month_key(key)[1])
            except ValueError:  # a foreign file under the table: not a month object
                continue
        return sorted(found)

    def read_month(self, dataset: str, month: str, version_id: str | None = None) -> pd.DataFrame:
        """Every row of one month object (latest version, or `version_id`); ObjectNotFound if absent.
        `df.attrs` carries its `key`, `version_id` and `etag`."""
        key = layout.month_key(dataset, month)
        stored = self.store.get(key, version_id)
        frame = self._decode(key, stored.info.version_id, stored.data).to_pandas()
        frame.attrs.update(key=key, version_id=stored.info.version_id, etag=stored.info.etag)
        return frame

    @staticmethod
    def _decode(key: str, version_id: str, data: bytes, **kwargs: Any) -> pa.Table:
        try:
            return pq.read_table(pa.BufferReader(data), **kwargs)
        except pa.ArrowInvalid as exc:
            raise LakeError(f"{key} (version {version_id}) is not readable Parquet: {exc}") from exc

    def read_dataset(
        self,
        dataset: str,
        tickers: str | Iterable[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        columns: Iterable[str] | None = None,
        as_of: dt.datetime | None = None,
        *,
        schema: pa.Schema | None = None,
    ) -> pd.DataFrame:
        """Rows of `tickers` (None: all) dated `start`..`end` (inclusive), sorted by ticker and date.

        Reads only the months in the range and, inside them, only the row groups whose statistics can hold
        the tickers and dates asked for, and only `columns` (plus `ticker` and `date`). `as_of` reads, for
        each month, the version that was the latest at that time (months written later are absent).
        With nothing to read: an empty frame with the columns asked for.
        """
        dataset = layout.validate_dataset(dataset)
        wanted = _tickers(tickers)
        first = layout.validate_date(start) if start is not None else None
        last = layout.validate_date(end) if end is not None else None
        if first and last and first > last:
            raise InvalidArgumentValue(f"start {first} is after end {last}")
        full_schema = dataset_schema(dataset, schema)
        names = self._columns(dataset, full_schema, columns)
        out_schema = pa.schema([full_schema.field(name) for name in names])
        months = [
            m
            for m in self.months(dataset)
            if (first is None or m >= first[:7]) and (last is None or m <= last[:7])
        ]
        expression = _row_filter(wanted, first, last)
        if as_of is not None:
            when = _utc("as_of", as_of)
            tables = self._read_as_of(dataset, months, when, names, expression, full_schema)
        else:
            tables = self._read_latest(dataset, months, names, expression, full_schema)
        tables = [t for t in tables if t is not None and t.num_rows]
        if not tables:
            return out_schema.empty_table().to_pandas()
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        table = table.sort_by([("ticker", "ascending"), ("date", "ascending")])
        return table.to_pandas()

    @staticmethod
    def _columns(dataset: str, schema: pa.Schema, columns: Iterable[str] | None) -> list[str]:
        if columns is None:
            return list(schema.names)
        if isinstance(columns, str):
            columns = [columns]
        asked = list(dict.fromkeys(columns))
        unknown = [name for name in asked if name not in schema.names]
        if unknown:
            raise InvalidArgumentValue(
                f"column(s) {', '.join(map(repr, unknown))} are not in {dataset}: expected some of "
                f"{', '.join(schema.names)}"
            )
        return ["ticker", "date", *[name for name in asked if name not in ("ticker", "date")]]

    def _read_latest(
        self,
        dataset: str,
        months: list[str],
        names: list[str],
        expression: pc.Expression | None,
        schema: pa.Schema,
    ) -> list[pa.Table | None]:
        if not months:
            return []
        out_schema = pa.schema([schema.field(n) for n in names])

        def load(month: str) -> pa.Table | None:
            key = layout.month_key(dataset, month)
            try:  # one version, whole, even while a writer replaces the key (ObjectStore.read_parquet)
                table = self.store.read_parquet(key, columns=names, filter=expression)
            except ObjectNotFound:  # replaced by a delete marker since the listing
                return None
            except LakeError as exc:
                raise LakeError(f"{key} in {self.uri} is not readable: {exc}") from exc
            return _conform(table, out_schema)

        if len(months) == 1:
            return [load(months[0])]
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(months))) as pool:
            return list(pool.map(load, months))

    def _read_as_of(
        self,
        dataset: str,
        months: list[str],
        when: dt.datetime,
        names: list[str],
        expression: pc.Expression | None,
        schema: pa.Schema,
    ) -> list[pa.Table | None]:
        out_schema = pa.schema([schema.field(n) for n in names])

        def load(month: str) -> pa.Table | None:
            key = layout.month_key(dataset, month)
            versions = [v for v in self.store.list_versions(key) if v.last_modified <= when]
            if not versions:
                return None
            chosen = max(versions, key=lambda v: v.last_modified)
            table = self.store.read_parquet(key, chosen.version_id, columns=names, filter=expression)
            return _conform(table, out_schema)

        with ThreadPoolExecutor(max_workers=max(1, min(READ_THREADS, len(months)))) as pool:
            return list(pool.map(load, months))

    def month_version(self, dataset: str, month: str) -> MonthVersion | None:
        """The current version of a month object (one HEAD), None when the month has none."""
        try:
            info = self.store.head(
                layout.month_key(layout.validate_dataset(dataset), layout.validate_month(month))
            )
        except ObjectNotFound:
            return None
        return MonthVersion.from_info(info)

    def month_versions(self, dataset: str, month: str) -> list[MonthVersion]:
        """Every version of the month object, newest first, with what its metadata records."""
        key = layout.month_key(dataset, month)
        return [MonthVersion.from_info(info) for info in self.store.list_versions(key)]

    def read_manifest(self, key: str) -> dict[str, Any]:
        """A lineage manifest (`MonthVersion.manifest_key`)."""
        key = check_key(key)
        if not key.startswith("lineage/") or not key.endswith(".json"):
            raise InvalidArgumentValue(
                f"key {key!r} is not a lineage manifest key (lineage/.../<token>.json)"
            )
        return json.loads(self.store.get(key).data)

    def row_versions(self, dataset: str, ticker: str, date: str) -> list[dict[str, Any]]:
        """Every version of one row, newest first: for each distinct computation of (ticker, date) found in
        the versions of its month object, the first month version that held it, with the row's lineage.

        Each entry: key, version_id (of the month object), is_latest, last_modified, computed_at,
        computation_version, run_id, source_raw_key, source_raw_version, month_computation_type.
        """
        dataset = layout.validate_dataset(dataset)
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        key = layout.month_key(dataset, layout.month_of(date))
        # Oldest first in the store's own order: S3 reports LastModified in whole seconds, so versions
        # written within one second would tie (and sort in any order) by time.
        versions = list(reversed(self.store.list_versions(key)))
        expression = _row_filter([ticker], date, date)
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for info in versions:
            table = self.store.read_parquet(key, info.version_id, filter=expression)
            if not table.num_rows:
                continue
            row = table.slice(0, 1).to_pylist()[0]
            computed_at = row.get("computed_at")
            identity = (
                row.get("run_id"),
                computed_at,
                row.get("source_raw_key"),
                row.get("source_raw_version"),
            )
            if identity in found:
                if info.is_latest:
                    found[identity]["is_latest"] = True
                continue
            found[identity] = {
                "key": key,
                "version_id": info.version_id,
                "is_latest": info.is_latest,
                "last_modified": info.last_modified.isoformat(),
                "computed_at": _iso(computed_at) if isinstance(computed_at, dt.datetime) else computed_at,
                "computation_version": row.get("computation_version"),
                "run_id": row.get("run_id"),
                "source_raw_key": row.get("source_raw_key"),
                "source_raw_version": row.get("source_raw_version"),
            }
        return list(reversed(found.values()))  # newest first: in the order their first versions were written

    def latest_date(self, dataset: str, ticker: str) -> str | None:
        """The newest date the dataset has a row for `ticker`, or None (reads the newest months first)."""
        ticker = layout.validate_ticker(ticker)
        only = _row_filter([ticker], None, None)
        for month in reversed(self.months(dataset)):  # one listing, then one read per month until found
            try:
                table = self.store.read_parquet(
                    layout.month_key(dataset, month), columns=["date"], filter=only
                )
            except ObjectNotFound:  # replaced by a delete marker since the listing
                continue
            if table.num_rows:
                return pc.max(table.column("date")).as_py().isoformat()
        return None

    # ------------------------------------------------------------------ quarantine

    def quarantine(
        self,
        dataset: str,
        ticker: str,
        date: str,
        reason: str,
        *,
        source_key: str | None = None,
        source_version: str | None = None,
        payload: bytes | None = None,
    ) -> PutResult:
        """Record rejected input under `quarantine/<dataset>/ticker=T/date=D/<time>.json`.

        The record (JSON) holds the reason, the partition, the source object and version, the time, and
        the payload: inlined as base64 up to 256 KiB, else stored as a sibling `<time>.payload` object
        whose key the record names. The source (raw) object is never touched. `dataset` may be "raw".
        """
        name = "raw" if dataset == "raw" else layout.validate_dataset(dataset)
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgumentValue(
                f"quarantine reason {reason!r} is not valid: expected a non-empty text"
            )
        if source_key is not None:
            check_key(_text("source_key", source_key))
        if source_version is not None:
            _text("source_version", source_version)
        if payload is not None and not isinstance(payload, bytes | bytearray | memoryview):
            raise InvalidArgumentValue(f"quarantine payload must be bytes, got {type(payload).__name__}")
        when = _now()
        key = layout.quarantine_key(name, ticker, date, when)
        record: dict[str, Any] = {
            "reason": reason,
            "dataset": name,
            "ticker": ticker,
            "date": date,
            "source_key": source_key,
            "source_version": source_version,
            "quarantined_at": when.isoformat(),
        }
        tags = {"source": "quarantine", "ticker": ticker, "dataset": name}
        if payload is not None:
            payload = bytes(payload)
            record["payload_size"] = len(payload)
            record["payload_sha256"] = hashlib.sha256(payload).hexdigest()
            if len(payload) <= QUARANTINE_INLINE_BYTES:
                record["payload_base64"] = base64.b64encode(payload).decode()
            else:
                payload_key = layout.quarantine_payload_key(key)
                stored = self.store.put(
                    payload_key,
                    payload,
                    metadata={"data-classification": self.data_classification},
                    tags=tags,
                    content_type="application/octet-stream",
                )
                record["payload_key"], record["payload_version"] = payload_key, stored.version_id
        metadata = {"data-classification": self.data_classification, "quarantined-at": when.isoformat()}
        if source_key is not None:
            metadata["source-raw-data-key"] = source_key
        if source_version is not None:
            metadata["source-raw-version-id"] = source_version
        body = json.dumps(record, ensure_ascii=False, indent=1).encode()
        result = self.store.put(key, body, metadata=metadata, tags=tags, content_type="application/json")
        logger.warning(
            "lake quarantine",
            extra={"key": key, "version": result.version_id, "source": source_key, "reason": reason[:200]},
        )
        return result

    def quarantine_records(self, dataset: str, ticker: str, date: str | None = None) -> list[dict[str, Any]]:
        """The quarantine records of a ticker (optionally one date), oldest first, each with its `key`."""
        name = "raw" if dataset == "raw" else layout.validate_dataset(dataset)
        prefix = layout.partition_prefix("quarantine", name, ticker, date)
        records = []
        for info in self.store.list(prefix):
            if info.key.endswith(".json"):
                record = json.loads(self.store.get(info.key).data)
                record["key"] = info.key
                records.append(record)
        return records


def open_lake(uri: str | None = None, **kwargs: Any) -> Lake:
    """The lake at `uri` (None: TICKERLAKE_LAKE_URI, default ./lake). Same as `Lake.open`."""
    return Lake.open(uri, **kwargs)
