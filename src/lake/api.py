"""The lake API used by dagster_project, report_app, glue and the CLI.

Latest-version visibility
-------------------------
Every processed partition has one *stable* key, `processed/<dataset>/ticker=<T>/date=<D>/data.parquet`
(built by `lake.layout.dataset_key`). Reprocessing writes a new *version of the same key*, never a second
file: on S3 the older versions are S3 object versions (bucket versioning, turned on by `tickerlake init`);
on a local folder the real file is the latest version and the older ones live in the sidecar
`<root>/.tickerlake/`, outside `processed/`. Athena (through the Glue table's location and partition
projection) and DuckDB (through a glob such as `processed/prices/*/*/*.parquet`) list *keys*, not versions,
so each sees exactly one file per partition - the latest - and never two versions of a row. Older versions
stay readable by id (`read_partition(..., version_id=...)`) and are listed with their lineage by
`list_versions`. A write is a single PUT (S3) or a rename (local), so a reader sees the old or the new
version of a partition, never a mix.

Examples
--------
>>> from lake import Lake, Lineage
>>> lake = Lake.open("/tmp/lake")  # doctest: +SKIP
>>> raw = lake.put_raw(envelope, ticker="D05.SI", date="2025-01-02")  # doctest: +SKIP
>>> lineage = Lineage(raw.key, raw.version_id, "1", computed_at, run_id, "prices")  # doctest: +SKIP
>>> lake.write_partition("prices", "D05.SI", "2025-01-02", rows, lineage)  # doctest: +SKIP
>>> lake.read_dataset("prices", tickers=["D05.SI"], start="2025-01-01")  # doctest: +SKIP
"""

import base64
import datetime as dt
import hashlib
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lake import compaction, layout
from lake.exceptions import (
    InvalidArgumentValue,
    InvalidDate,
    LakeError,
    ObjectNotFound,
    PartialWriteError,
)
from lake.store import ObjectInfo, ObjectStore, PutItem, PutResult, check_key, open_store

__all__ = ["LINEAGE_COLUMNS", "Lake", "Lineage", "VersionLineage", "open_lake"]

logger = logging.getLogger("lake")

LINEAGE_COLUMNS: tuple[str, ...] = (
    "source_raw_key",
    "source_raw_version",
    "computation_version",
    "computed_at",
    "run_id",
)
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
PARQUET_CONTENT_TYPE = compaction.PARQUET_CONTENT_TYPE
#: Quarantined payloads up to this size are inlined (base64) in the record; larger ones get a sibling object.
QUARANTINE_INLINE_BYTES = 256 * 1024
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


@dataclass(frozen=True)
class Lineage:
    """Where a processed partition came from: stored as S3 tags + metadata and as columns in its rows."""

    source_raw_key: str
    source_raw_version: str
    computation_version: str
    computed_at: dt.datetime
    run_id: str
    computation_type: str

    def __post_init__(self) -> None:
        check_key(_text("source_raw_key", self.source_raw_key))
        for name in ("source_raw_version", "computation_version", "run_id", "computation_type"):
            _text(name, getattr(self, name))
        when = self.computed_at
        if not isinstance(when, dt.datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise InvalidArgumentValue(
                f"computed_at {when!r} is not valid: expected a timezone-aware datetime"
            )
        object.__setattr__(self, "computed_at", when.astimezone(dt.UTC))

    @property
    def computed_at_iso(self) -> str:
        return self.computed_at.isoformat(timespec="microseconds")

    def metadata(self) -> dict[str, str]:
        return {
            "source-raw-data-key": self.source_raw_key,
            "source-raw-version-id": self.source_raw_version,
            "computation-version": self.computation_version,
            "computation-type": self.computation_type,
            "computed-at": self.computed_at_iso,
            "run-id": self.run_id,
        }

    def tags(self, ticker: str) -> dict[str, str]:
        return {
            "source": "computed",
            "ticker": ticker,
            "computed_at": self.computed_at_iso,
            "computation_type": self.computation_type,
            "computation_version": self.computation_version,
            "source_raw_data": self.source_raw_key,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> "Lineage | None":
        """The lineage recorded in an object's metadata; None when it has none (or it is incomplete)."""
        try:
            return cls(
                source_raw_key=metadata["source-raw-data-key"],
                source_raw_version=metadata["source-raw-version-id"],
                computation_version=metadata["computation-version"],
                computed_at=dt.datetime.fromisoformat(metadata["computed-at"]),
                run_id=metadata["run-id"],
                computation_type=metadata.get("computation-type", "unknown"),
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class VersionLineage:
    """One version of a processed partition with the lineage read back from its metadata."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: dt.datetime
    size: int
    lineage: Lineage | None
    row_count: int | None = None

    @classmethod
    def from_info(cls, info: ObjectInfo) -> "VersionLineage":
        rows = info.metadata.get("row-count")
        return cls(
            key=info.key,
            version_id=info.version_id,
            is_latest=info.is_latest,
            last_modified=info.last_modified,
            size=info.size,
            lineage=Lineage.from_metadata(info.metadata),
            row_count=int(rows) if rows and rows.isdigit() else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: version_id, is_latest, computed_at, computation_version, source raw key/version, ..."""
        lineage = self.lineage
        return {
            "key": self.key,
            "version_id": self.version_id,
            "is_latest": self.is_latest,
            "computed_at": lineage.computed_at_iso if lineage else None,
            "computation_type": lineage.computation_type if lineage else None,
            "computation_version": lineage.computation_version if lineage else None,
            "source_raw_key": lineage.source_raw_key if lineage else None,
            "source_raw_version": lineage.source_raw_version if lineage else None,
            "run_id": lineage.run_id if lineage else None,
            "row_count": self.row_count,
            "size": self.size,
            "last_modified": self.last_modified.isoformat(),
        }


def _with_lake_columns(schema: pa.Schema) -> pa.Schema:
    """The schema with ticker, date and the lineage columns appended where it lacks them."""
    for lake_field in LAKE_FIELDS:
        if schema.get_field_index(lake_field.name) < 0:
            schema = schema.append(lake_field)
    return schema


def _dataset_schema(dataset: str, schema: pa.Schema | None, *, required: bool) -> pa.Schema | None:
    if schema is None:
        try:  # written alongside the lake; imported lazily so `lake` never needs it to start
            from schemas import arrow_schema

            schema = arrow_schema(dataset)
        except (ImportError, AttributeError, KeyError) as exc:
            if required:
                raise LakeError(
                    f"no Arrow schema for dataset {dataset!r}: pass schema= or provide schemas.arrow_schema "
                    f"({exc})"
                ) from exc
            return None
    if not isinstance(schema, pa.Schema):
        raise InvalidArgumentValue(f"schema must be a pyarrow.Schema, got {type(schema).__name__}")
    return _with_lake_columns(schema)


def _one_date(value: object) -> str:
    if isinstance(value, pd.Timestamp) and pd.isna(value):
        raise InvalidDate("date NaT is not valid: expected a calendar date as YYYY-MM-DD")
    return layout.validate_date(value)


def _row_dates(frame: pd.DataFrame) -> pd.Series:
    """The rows' `date` column as 'YYYY-MM-DD' strings (dates, timestamps or strings accepted)."""
    if "date" not in frame.columns:
        raise InvalidArgumentValue(
            f"rows have no 'date' column (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame["date"].map(_one_date).astype(object)


def _tickers(tickers: str | Iterable[str] | None) -> list[str] | None:
    if tickers is None:
        return None
    if isinstance(tickers, str):
        tickers = [tickers]
    return sorted({layout.validate_ticker(ticker) for ticker in tickers})


#: Threads that encode a write's partitions (pyarrow's Parquet writer runs without the GIL).
ENCODE_THREADS = 4


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


class Lake:
    """The lake over one object store (see the module docstring for how readers see versions).

    Parameters
    ----------
    store:
        A `lake.store.ObjectStore` (`LocalStore` or `S3Store`); `Lake.open(uri)` picks it from the URI.
    data_classification:
        The `data-classification` metadata of every object written.
    max_workers:
        Threads for multi-partition writes.
    """

    def __init__(self, store: ObjectStore, *, data_classification: str = "internal", max_workers: int = 8):
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

    # ------------------------------------------------------------------ raw

    def put_raw(self, envelope: Mapping[str, Any] | bytes, *, ticker: str, date: str) -> PutResult:
        """Store one fetch verbatim under `raw/yfinance/ticker=T/date=D/<fetched_at>.json`.

        Bytes are stored byte-for-byte (they must be a JSON object); a mapping is serialised as given.
        The key's timestamp is the envelope's `fetched_at` (now, if it has none). An envelope whose
        `symbol` or `as_of` contradicts `ticker` / `date` is refused.
        """
        item = self._raw_item(envelope, ticker, date)
        result = self.store.put(
            item.key, item.data, metadata=item.metadata, tags=item.tags, content_type=item.content_type
        )
        self._log_raw(item, result)
        return result

    def put_raw_many(
        self, entries: Sequence[tuple[Mapping[str, Any] | bytes, str, str]]
    ) -> list[PutResult | Exception]:
        """`put_raw` for many (envelope, ticker, date) at once, with the store's group commit when it has
        one (LocalStore): one result per entry, in order — its PutResult, or the exception that entry was
        refused or failed with (InvalidArgumentValue for an envelope `put_raw` would refuse)."""
        items: list[PutItem | None] = []
        results: list[PutResult | Exception | None] = []
        for envelope, ticker, date in entries:
            try:
                items.append(self._raw_item(envelope, ticker, date))
                results.append(None)
            except InvalidArgumentValue as exc:
                items.append(None)
                results.append(exc)
        valid = [item for item in items if item is not None]
        put_many = getattr(self.store, "put_many", None)
        if put_many is not None:
            outcomes = iter(put_many(valid))
        else:  # S3: independent PUTs, a few at a time
            with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(valid)))) as pool:
                outcomes = iter(list(pool.map(self._put_or_error, valid)))
        for index, item in enumerate(items):
            if item is None:
                continue
            outcome = next(outcomes)
            results[index] = outcome
            if not isinstance(outcome, Exception):
                self._log_raw(item, outcome)
        return results  # type: ignore[return-value]

    def _put_or_error(self, item: PutItem) -> PutResult | Exception:
        try:
            return self.store.put(
                item.key, item.data, metadata=item.metadata, tags=item.tags, content_type=item.content_type
            )
        except (LakeError, OSError) as exc:
            return exc

    @staticmethod
    def _log_raw(item: PutItem, result: PutResult) -> None:
        logger.info(
            "lake.write area=raw key=%s version=%s bytes=%d", item.key, result.version_id, len(item.data)
        )

    def _raw_item(self, envelope: Mapping[str, Any] | bytes, ticker: str, date: str) -> PutItem:
        """The PutItem of a raw envelope (validated as `put_raw` documents)."""
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        if isinstance(envelope, bytes | bytearray | memoryview):
            body = bytes(envelope)
            try:
                parsed = json.loads(body)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                detail = str(exc) or type(exc).__name__
                raise InvalidArgumentValue(
                    f"raw envelope for {ticker} {date} is not JSON: {detail}"
                ) from None
        elif isinstance(envelope, Mapping):
            parsed = envelope
            try:
                body = json.dumps(envelope, ensure_ascii=False).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentValue(
                    f"raw envelope for {ticker} {date} is not JSON-serialisable: {exc}"
                ) from None
        else:
            raise InvalidArgumentValue(
                f"raw envelope must be a dict or JSON bytes, got {type(envelope).__name__}"
            )
        if not isinstance(parsed, Mapping):
            raise InvalidArgumentValue(f"raw envelope for {ticker} {date} must be a JSON object")
        symbol, as_of = parsed.get("symbol"), parsed.get("as_of")
        if symbol is not None and symbol != ticker:
            raise InvalidArgumentValue(f"raw envelope is for symbol {symbol!r}, not for ticker {ticker!r}")
        if as_of is not None and as_of != date:
            raise InvalidArgumentValue(f"raw envelope is as of {as_of!r}, not for date {date!r}")
        fetched_at = self._fetched_at(parsed.get("fetched_at"))
        key = layout.raw_key(ticker, date, fetched_at)
        metadata = {
            "ticker": ticker,
            "as-of": date,
            "fetched-at": fetched_at.isoformat(),
            "content-sha256": hashlib.sha256(body).hexdigest(),
            "data-classification": self.data_classification,
        }
        source = parsed.get("source")
        if isinstance(source, str) and _NAME.fullmatch(source):
            metadata["envelope-source"] = source
        return PutItem(
            key,
            body,
            metadata,
            {"source": layout.RAW_SOURCE, "ticker": ticker, "fetched_at": fetched_at.isoformat()},
            "application/json",
        )

    @staticmethod
    def _fetched_at(value: object) -> dt.datetime:
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

    def raw_objects(self, ticker: str, date: str) -> list[ObjectInfo]:
        """Every raw object of the partition (latest version of each key), oldest fetch first."""
        return list(self.store.list(layout.raw_prefix(ticker, layout.validate_date(date))))

    def latest_raw(self, ticker: str, date: str) -> ObjectInfo | None:
        """The newest raw object of the partition (with its metadata), or None when there is none."""
        objects = [info for info in self.raw_objects(ticker, date) if info.key.endswith(".json")]
        if not objects:
            return None
        try:
            return self.store.head(objects[-1].key)
        except ObjectNotFound:
            return None

    def get_raw(self, key: str, version_id: str | None = None) -> bytes:
        """The bytes of a raw object (latest version, or `version_id`)."""
        return self.store.get(self._raw_key(key), version_id).data

    @staticmethod
    def _raw_key(key: object) -> str:
        key = check_key(key)
        if not key.startswith(f"raw/{layout.RAW_SOURCE}/") or not key.endswith(".json"):
            raise InvalidArgumentValue(
                f"key {key!r} is not a raw object key (raw/{layout.RAW_SOURCE}/...json)"
            )
        try:
            layout.parse_partition(key)
        except ValueError as exc:
            raise InvalidArgumentValue(f"key {key!r} is not a raw object key: {exc}") from None
        return key

    # ------------------------------------------------------------------ processed: writes

    def write_partition(
        self,
        dataset: str,
        ticker: str,
        date: str,
        df: pd.DataFrame,
        lineage: Lineage,
        *,
        schema: pa.Schema | None = None,
    ) -> PutResult:
        """Write one partition as one Parquet object (a single PUT): a new version of its stable key.

        The rows get `ticker`, `date` and the lineage columns; the object gets the lineage as tags and
        metadata. `schema` defaults to `schemas.arrow_schema(dataset)`; the rows must have exactly its
        columns (the lake's own columns may be omitted).
        """
        dataset = layout.validate_dataset(dataset)
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        full_schema = _dataset_schema(dataset, schema, required=True)
        body, rows = self._encode_partition(dataset, ticker, date, df, lineage, full_schema)
        return self._put_partition(dataset, ticker, date, body, rows, lineage)

    def write_partitions(
        self,
        dataset: str,
        ticker: str,
        df: pd.DataFrame,
        lineages: Mapping[str, Lineage],
        *,
        schema: pa.Schema | None = None,
        compact_months: Iterable[str] = (),
    ) -> dict[str, PutResult]:
        """Write one partition per date in `df` (each its own object), in parallel.

        Every date needs a lineage; all partitions are encoded (and so validated) before the first write.
        Returns {date: PutResult} in date order; raises PartialWriteError if some writes failed.
        `compact_months`: then refresh those months' compacted read copies (`lake.compaction`) from the rows
        in hand; a failure there is logged, never raised (the partitions are written; readers fall back).
        """
        dataset = layout.validate_dataset(dataset)
        ticker = layout.validate_ticker(ticker)
        full_schema = _dataset_schema(dataset, schema, required=True)
        if not isinstance(df, pd.DataFrame):
            raise InvalidArgumentValue(f"rows must be a pandas DataFrame, got {type(df).__name__}")
        if not isinstance(lineages, Mapping):
            raise InvalidArgumentValue(f"lineages must map dates to Lineage, got {type(lineages).__name__}")
        by_date = {layout.validate_date(day): lineage for day, lineage in lineages.items()}
        dates = _row_dates(df)
        missing = sorted(set(dates) - set(by_date))
        if missing:
            raise InvalidArgumentValue(
                f"no lineage given for date(s) {', '.join(missing)} of {dataset} {ticker}"
            )
        slices: dict[str, pa.Table] = {}
        encoded = self._encode_many(dataset, ticker, df, dates, by_date, full_schema, slices=slices)
        written: dict[str, PutResult] = {}
        failed: dict[str, BaseException] = {}
        put_many = getattr(self.store, "put_many", None)
        if put_many is not None:  # LocalStore: one group commit per batch instead of fsyncs per object
            days = list(encoded)
            items = []
            for day in days:
                body, rows = encoded[day]
                metadata, tags = self._partition_labels(ticker, rows, by_date[day])
                key = layout.dataset_key(dataset, ticker, day)
                items.append(PutItem(key, body, metadata, tags, PARQUET_CONTENT_TYPE))
            for day, item, outcome in zip(days, items, put_many(items), strict=True):
                if isinstance(outcome, Exception):
                    failed[day] = outcome
                    continue
                written[day] = outcome
                self._log_write(item.key, outcome.version_id, encoded[day][1], by_date[day])
        else:
            workers = max(1, min(self.max_workers, len(encoded)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake-write") as pool:
                futures = {
                    day: pool.submit(self._put_partition, dataset, ticker, day, body, rows, by_date[day])
                    for day, (body, rows) in encoded.items()
                }
                for day, future in futures.items():
                    try:
                        written[day] = future.result()
                    except Exception as exc:  # noqa: BLE001 - collected and reported together below
                        failed[day] = exc
        if failed:
            first = next(iter(failed.values()))
            raise PartialWriteError(
                f"{len(failed)} of {len(encoded)} partitions of {dataset} {ticker} were not written "
                f"({', '.join(sorted(failed))}): {first}",
                written=written,
                failed=failed,
            )
        months = sorted(set(compact_months))
        if months:
            self._compact_written(dataset, ticker, months, full_schema, written, slices)
        return dict(sorted(written.items()))

    def _compact_written(
        self,
        dataset: str,
        ticker: str,
        months: list[str],
        schema: pa.Schema,
        written: Mapping[str, PutResult],
        slices: Mapping[str, pa.Table],
    ) -> None:
        version_fingerprint = getattr(self.store, "version_fingerprint", None)
        known = {
            day: (
                version_fingerprint(put.key, put.version_id) if version_fingerprint else None,
                slices[day].replace_schema_metadata(None),
            )
            for day, put in written.items()
        }
        try:
            compaction.compact(self.store, dataset, ticker, months, schema=schema, known=known)
        except (LakeError, OSError, pa.ArrowException) as exc:
            logger.warning(
                "lake.compaction skipped dataset=%s ticker=%s months=%s: %s", dataset, ticker, months, exc
            )

    def _encode_many(
        self,
        dataset: str,
        ticker: str,
        df: pd.DataFrame,
        dates: pd.Series,
        by_date: Mapping[str, Lineage],
        schema: pa.Schema,
        *,
        slices: dict[str, pa.Table] | None = None,
    ) -> dict[str, tuple[bytes, int]]:
        """Encode one Parquet body per date: the frame goes to Arrow once, then is sliced per date
        (converting each date's rows separately costs ~8 ms a partition in pandas overhead)."""
        where = f"{dataset} ticker={ticker}"
        if "ticker" in df.columns:
            others = sorted({str(value) for value in df["ticker"]} - {ticker})
            if others:
                raise InvalidArgumentValue(f"rows for ticker(s) {', '.join(others)} given for {where}")
        extra = [str(name) for name in df.columns if name not in schema.names]
        if extra:
            raise InvalidArgumentValue(
                f"columns {', '.join(extra)} are not in the {dataset} schema ({where})"
            )
        order = np.argsort(dates.to_numpy(dtype=object), kind="stable")
        frame = df.iloc[order].reset_index(drop=True)
        days = dates.iloc[order].reset_index(drop=True)
        lineages = [by_date[day] for day in days]
        frame = frame.assign(
            ticker=ticker,
            date=[dt.date.fromisoformat(day) for day in days],
            source_raw_key=[lin.source_raw_key for lin in lineages],
            source_raw_version=[lin.source_raw_version for lin in lineages],
            computation_version=[lin.computation_version for lin in lineages],
            computed_at=pd.to_datetime([lin.computed_at for lin in lineages], utc=True),
            run_id=[lin.run_id for lin in lineages],
        )
        missing = [name for name in schema.names if name not in frame.columns]
        if missing:
            raise InvalidArgumentValue(
                f"columns {', '.join(missing)} of the {dataset} schema are missing ({where})"
            )
        try:
            table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as exc:
            raise InvalidArgumentValue(f"rows for {where} do not fit the {dataset} schema: {exc}") from None
        parts: dict[str, pa.Table] = {}
        start = 0
        values = days.to_numpy(dtype=object)
        while start < len(values):
            day = values[start]
            stop = start
            while stop < len(values) and values[stop] == day:
                stop += 1
            part = table.slice(start, stop - start)
            if slices is not None:
                slices[day] = part
            file_metadata = dict(part.schema.metadata or {})
            file_metadata[b"tickerlake.lineage"] = json.dumps(
                by_date[day].metadata(), sort_keys=True
            ).encode()
            parts[day] = part.replace_schema_metadata(file_metadata)
            start = stop
        # Parquet encoding into Arrow buffers releases the GIL: a few threads overlap it.
        if len(parts) > 1:
            with ThreadPoolExecutor(max_workers=min(ENCODE_THREADS, len(parts))) as pool:
                bodies = list(pool.map(_parquet_bytes, parts.values()))
        else:
            bodies = [_parquet_bytes(part) for part in parts.values()]
        return {day: (body, part.num_rows) for (day, part), body in zip(parts.items(), bodies, strict=True)}

    def _encode_partition(
        self,
        dataset: str,
        ticker: str,
        date: str,
        df: pd.DataFrame,
        lineage: Lineage,
        schema: pa.Schema,
    ) -> tuple[bytes, int]:
        where = f"{dataset} ticker={ticker} date={date}"
        if not isinstance(df, pd.DataFrame):
            raise InvalidArgumentValue(
                f"rows for {where} must be a pandas DataFrame, got {type(df).__name__}"
            )
        if not isinstance(lineage, Lineage):
            raise InvalidArgumentValue(f"lineage for {where} must be a Lineage, got {type(lineage).__name__}")
        if df.empty:
            raise InvalidArgumentValue(f"no rows given for {where}")
        if "date" in df.columns:
            others = sorted(set(_row_dates(df)) - {date})
            if others:
                raise InvalidArgumentValue(f"rows dated {', '.join(others)} given for {where}")
        dates = pd.Series([date] * len(df), index=df.index, dtype=object)
        return self._encode_many(dataset, ticker, df, dates, {date: lineage}, schema)[date]

    def _put_partition(
        self, dataset: str, ticker: str, date: str, body: bytes, rows: int, lineage: Lineage
    ) -> PutResult:
        key = layout.dataset_key(dataset, ticker, date)
        metadata, tags = self._partition_labels(ticker, rows, lineage)
        result = self.store.put(key, body, metadata=metadata, tags=tags, content_type=PARQUET_CONTENT_TYPE)
        self._log_write(key, result.version_id, rows, lineage)
        return result

    def _partition_labels(
        self, ticker: str, rows: int, lineage: Lineage
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(metadata, tags) of a partition object: the lineage, the classification and the row count."""
        metadata = lineage.metadata() | {
            "data-classification": self.data_classification,
            "row-count": str(rows),
        }
        return metadata, lineage.tags(ticker)

    @staticmethod
    def _log_write(key: str, version_id: str, rows: int, lineage: Lineage) -> None:
        logger.info(
            "lake.write area=processed key=%s version=%s rows=%d run_id=%s",
            key,
            version_id,
            rows,
            lineage.run_id,
        )

    # ------------------------------------------------------------------ processed: reads

    def read_partition(
        self, dataset: str, ticker: str, date: str, version_id: str | None = None
    ) -> pd.DataFrame:
        """The rows of one partition (latest version, or `version_id`); ObjectNotFound if absent.

        `df.attrs` carries the object's `key` and `version_id`.
        """
        key = layout.dataset_key(dataset, ticker, date)
        stored = self.store.get(key, version_id)
        try:
            frame = pq.read_table(pa.BufferReader(stored.data)).to_pandas()
        except pa.ArrowInvalid as exc:
            raise LakeError(
                f"{key} (version {stored.info.version_id}) is not readable Parquet: {exc}"
            ) from exc
        frame.attrs.update(key=key, version_id=stored.info.version_id)
        return frame

    def list_keys(self, prefix: str, descend: Callable[[str], bool] | None = None) -> list[str]:
        """The keys under `prefix`: the store's key-only listing when it has one (LocalStore), which skips the
        per-key version lookup of `list` (on a 10-year history that lookup was half of an increment's time).
        `descend(folder)` may keep a folder walk out of folders the caller does not need (`layout.date_folders`);
        a store that lists by prefix (S3) lists them anyway, so callers still filter the keys."""
        return compaction.list_keys(self.store, prefix, descend)

    def partitions(
        self, dataset: str, ticker: str | None = None, start: str | None = None, end: str | None = None
    ) -> list[tuple[str, str]]:
        """(ticker, date) of every partition present (dated start..end when given), sorted; by key listing."""
        prefix = layout.dataset_root(dataset) if ticker is None else layout.dataset_prefix(dataset, ticker)
        first = layout.validate_date(start) if start is not None else None
        last = layout.validate_date(end) if end is not None else None
        descend = layout.date_folders(first, last) if first or last else None
        found = set()
        for key in self.list_keys(prefix, descend):
            if key.endswith("/" + layout.PARTITION_FILE):
                try:
                    part = layout.parse_partition(key)
                except ValueError:  # a foreign file in the folder: not a partition
                    continue
                if (first is None or part[1] >= first) and (last is None or part[1] <= last):
                    found.add(part)
        return sorted(found)

    def read_dataset(
        self,
        dataset: str,
        tickers: str | Iterable[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        *,
        schema: pa.Schema | None = None,
        warmup: int = 0,
    ) -> pd.DataFrame:
        """The latest version of each partition for `tickers` and `start` <= date <= `end` (inclusive).

        `warmup` (with `start`): also the last `warmup` partitions of each ticker dated before `start` — the
        sessions a windowed or recursive computation needs before its first output row, without reading the
        whole history.

        Partitions are pruned by listing keys, then the chosen files are read with pyarrow over the
        store's filesystem. Sorted by ticker, date. With nothing to read: an empty frame with the
        dataset's columns. `schema` (default `schemas.arrow_schema(dataset)`) lets older files that lack a
        newer column be read (the column is null).
        """
        dataset = layout.validate_dataset(dataset)
        wanted = _tickers(tickers)
        first = layout.validate_date(start) if start is not None else None
        last = layout.validate_date(end) if end is not None else None
        if first and last and first > last:
            raise InvalidArgumentValue(f"start {first} is after end {last}")
        if not isinstance(warmup, int) or warmup < 0:
            raise InvalidArgumentValue(f"warmup must be a non-negative number of partitions, got {warmup!r}")
        full_schema = _dataset_schema(dataset, schema, required=False)
        chosen: list[tuple[str, str, str]] = []  # (key, ticker, date)
        current: dict[str, str] = {}  # key → fingerprint of its latest version
        # The walk enters only the date folders the read can need: from `first` (less a calendar margin
        # that holds `warmup` sessions) to `last`. Should the margin hold fewer (a long gap in the history),
        # the ticker is listed again in full.
        low = first
        if first is not None and warmup:
            margin = dt.timedelta(days=math.ceil(warmup * 7 / 5 * 1.05) + 10)
            low = (dt.date.fromisoformat(first) - margin).isoformat()
        for ticker in wanted if wanted is not None else [None]:
            prefix = (
                layout.dataset_root(dataset) if ticker is None else layout.dataset_prefix(dataset, ticker)
            )
            bounded = low is not None or last is not None
            listed = compaction.fingerprints(
                self.store, prefix, layout.date_folders(low, last) if bounded else None
            )
            picked, short = self._pick(listed, first, last, warmup)
            if short and low is not None and low != first:
                listed = compaction.fingerprints(self.store, prefix, layout.date_folders(None, last))
                picked, _ = self._pick(listed, first, last, warmup)
            current.update(listed)
            chosen.extend(picked)
        rows = compaction.read_rows(self.store, dataset, chosen, current, full_schema)
        pieces = [rows.copies] if rows.copies is not None else []
        days = compaction.read_partitions(
            self.store, rows.partitions, full_schema, f"{dataset} in {self.uri}"
        )
        if days is not None:
            pieces.append(days)
        if not pieces:
            if full_schema is None:
                return pd.DataFrame(
                    {name: pd.Series(dtype=object) for name in ("ticker", "date", *LINEAGE_COLUMNS)}
                )
            return full_schema.empty_table().to_pandas()
        table = pa.concat_tables(pieces, promote_options="permissive") if len(pieces) > 1 else pieces[0]
        table = table.sort_by([("ticker", "ascending"), ("date", "ascending")])
        return table.to_pandas()

    @staticmethod
    def _pick(
        listed: Mapping[str, str], first: str | None, last: str | None, warmup: int
    ) -> tuple[list[tuple[str, str, str]], bool]:
        """(key, ticker, date) of the listed partitions in [first, last] plus each ticker's last `warmup`
        before `first`; and whether some ticker had fewer than `warmup` before `first`."""
        chosen: list[tuple[str, str, str]] = []
        earlier: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # before `first`, by ticker
        tickers: set[str] = set()
        for key in sorted(listed):
            if not key.endswith("/" + layout.PARTITION_FILE):
                continue
            try:
                part_ticker, part_date = layout.parse_partition(key)
            except ValueError:  # a foreign file in the folder: not a partition
                continue
            if last is not None and part_date > last:
                continue
            tickers.add(part_ticker)
            if first is not None and part_date < first:
                if warmup:
                    earlier[part_ticker].append((key, part_ticker, part_date))
            else:
                chosen.append((key, part_ticker, part_date))
        for items in earlier.values():
            chosen.extend(items[-warmup:])
        short = bool(warmup) and any(len(earlier.get(t, [])) < warmup for t in tickers)
        return chosen, short

    def compact(self, dataset: str, ticker: str, months: Iterable[str] | None = None) -> dict[str, str]:
        """Refresh the compacted read copy of the ticker's months (`lake.compaction`); {month: outcome}."""
        schema = _dataset_schema(dataset, None, required=False)
        return compaction.compact(self.store, dataset, ticker, months, schema=schema)

    def list_versions(self, dataset: str, ticker: str, date: str) -> list[VersionLineage]:
        """Every version of the partition, newest first, with the lineage from its metadata."""
        key = layout.dataset_key(dataset, ticker, date)
        return [VersionLineage.from_info(info) for info in self.store.list_versions(key)]

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
            "lake.quarantine key=%s version=%s source=%s reason=%s",
            key,
            result.version_id,
            source_key,
            json.dumps(reason[:200], ensure_ascii=False),
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
