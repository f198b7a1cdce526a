"""Month compaction: a read-optimised copy of a ticker's month of partitions, and the read path that uses it.

The lake's contract stays one object per (dataset, ticker, date) under `processed/` (what Athena reads).
A history read of those objects pays a file open per session (~1–2 ms for a one-row Parquet file, mostly
footer and schema), so a 2-year series is ~500 opens. `compact()` copies the latest version of every
partition of one (dataset, ticker, month) into `compacted/<dataset>/ticker=<T>/month=<YYYY-MM>/data.parquet`
and records, per date, the *fingerprint* of the partition version it copied (LocalStore: inode, mtime and
size of the file, which is a hard link of its version; S3: the version id from the version listing).

`read_rows()` is the read path of `Lake.read_dataset` and of the local SQL engine: for every wanted
partition it takes the row from the month's compacted file when the partition's current fingerprint equals
the recorded one (and at least `MIN_DATES_FOR_COPY` wanted dates fall in that month), and leaves the
partition's own object to be read otherwise. The fingerprints are taken from a listing
made *before* the copy reads the partitions, so a partition rewritten during or after a compaction has a
different fingerprint and is read from `processed/`: the copy can be stale, never wrong. A missing or
unreadable compacted file only costs speed.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lake import layout
from lake.exceptions import LakeError, ObjectNotFound, StoreUnavailable

log = logging.getLogger("tickerlake.compaction")

MANIFEST_KEY = b"tickerlake.compacted"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"  # of every Parquet object the lake writes


def month_of(date: str) -> str:
    return date[:7]


def fingerprints(store, prefix: str, descend: Callable[[str], bool] | None = None) -> dict[str, str]:
    """key → fingerprint of its latest version, for every key under `prefix` (one listing)."""
    own = getattr(store, "fingerprints", None)
    if own is not None:
        return own(prefix, descend=descend)
    return {info.key: f"{info.version_id}:{info.etag}:{info.size}" for info in store.list(prefix)}


def list_keys(store, prefix: str, descend: Callable[[str], bool] | None = None) -> list[str]:
    """The keys under `prefix`: the store's key-only listing when it has one (LocalStore, which also takes
    `descend`), else the keys of `store.list`."""
    own = getattr(store, "list_keys", None)
    if own is not None:
        return own(prefix, descend=descend)
    return [info.key for info in store.list(prefix)]


@dataclass
class Compacted:
    """One compacted month file: its rows and {date: fingerprint of the partition version copied}."""

    key: str
    table: pa.Table
    manifest: dict[str, str]


def _load(
    store, key: str, columns: Collection[str] | None = None, filesystem: tuple[Any, str] | None = None
) -> Compacted | None:
    """The compacted file at `key` (read as a plain file of the store: the latest version), or None.

    `columns`: read only these (and `date`) of the file's columns; None reads them all. `filesystem`: the
    store's `arrow_filesystem()`, when the caller has it already."""
    filesystem, base = filesystem or store.arrow_filesystem()
    try:
        with filesystem.open_input_file(f"{base}/{key}") as source:
            parquet = pq.ParquetFile(source)
            names = parquet.schema_arrow.names
            if columns is not None:
                names = [name for name in names if name in columns or name == "date"]
            table = parquet.read(columns=names)
            manifest = json.loads((parquet.schema_arrow.metadata or {}).get(MANIFEST_KEY, b"{}"))
        dates = manifest.get("dates")
        if not isinstance(dates, dict):
            raise ValueError("no dates in its manifest")
    except FileNotFoundError:
        return None
    except (pa.ArrowInvalid, ValueError, TypeError) as exc:  # damaged copy: read the partitions instead
        log.warning("compaction.unreadable key=%s error=%s", key, exc)
        return None
    except OSError as exc:
        raise StoreUnavailable(f"reading {key} from {store.uri} failed: {exc}") from exc
    return Compacted(key=key, table=table, manifest={str(d): str(fp) for d, fp in dates.items()})


def _conform(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """The table with exactly `schema`'s columns (a column an older file lacks is null)."""
    if schema is None or table.schema.equals(schema, check_metadata=False):
        return table.replace_schema_metadata(None)
    columns = []
    for target in schema:
        if target.name in table.column_names:
            columns.append(table[target.name].cast(target.type))
        else:
            columns.append(pa.nulls(table.num_rows, target.type))
    return pa.Table.from_arrays(columns, schema=schema.remove_metadata())


def _read_objects(store, keys: Sequence[str], schema: pa.Schema | None, what: str) -> pa.Table | None:
    if not keys:
        return None
    filesystem, base = store.arrow_filesystem()
    try:
        return pads.dataset(
            [f"{base}/{key}" for key in keys], filesystem=filesystem, format="parquet", schema=schema
        ).to_table()
    except FileNotFoundError as exc:
        raise ObjectNotFound(f"a partition of {what} vanished while it was read: {exc}") from exc
    except pa.ArrowInvalid as exc:  # a file under processed/ that is not (valid) Parquet
        raise LakeError(f"a partition of {what} is not readable Parquet: {exc}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"reading {len(keys)} partitions of {what} failed: {exc}") from exc


#: A month's copy is used when at least this many of the wanted partitions fall in it: for a single date
#: (a point or cross-section query) the partition's own one-row file is as cheap to open.
MIN_DATES_FOR_COPY = 2


@dataclass
class Rows:
    """What `read_rows` found: rows taken from compacted copies (None if none), the copies they came
    from, and the keys of the wanted partitions still to be read from their own objects."""

    copies: pa.Table | None = None
    copies_read: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)


#: Compacted copies are read by this many threads at most (Parquet decoding releases the GIL).
LOAD_THREADS = 4


def read_rows(
    store,
    dataset: str,
    wanted: Iterable[tuple[str, str, str]],
    current: Mapping[str, str],
    schema: pa.Schema | None,
    descend: Callable[[str], bool] | None = None,
    columns: Collection[str] | None = None,
) -> Rows:
    """Split the `wanted` partitions ((key, ticker, date) triples) into rows served by compacted months
    whose fingerprints (`current`: key → fingerprint, from a listing) still match, and keys to read.

    `columns`: the columns the caller will look at; the copies' other columns are not read and come back
    null (the rows keep `schema`). None reads every column."""
    by_month: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key, ticker, date in wanted:
        by_month[(ticker, month_of(date))].append((key, date))
    result = Rows()
    if not by_month:
        return result
    candidates = {group for group, items in by_month.items() if len(items) >= MIN_DATES_FOR_COPY}
    present = set()
    if candidates:
        tickers = sorted({ticker for ticker, _ in candidates})
        if len(tickers) == 1:
            listed = list_keys(store, layout.compacted_prefix(dataset, tickers[0]))
        else:
            listed = list_keys(store, layout.compacted_prefix(dataset), descend)
        for key in listed:
            try:
                present.add(layout.parse_compacted(key))
            except ValueError:
                continue
    to_load = sorted(group for group in candidates if group in present)
    keys = [layout.compacted_key(dataset, ticker, month) for ticker, month in to_load]
    filesystem = store.arrow_filesystem() if keys else None

    def load(key: str) -> Compacted | None:
        return _load(store, key, columns, filesystem)

    if len(keys) > 1:
        with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(keys))) as pool:
            loaded = dict(zip(to_load, pool.map(load, keys), strict=True))
    else:
        loaded = {group: load(key) for group, key in zip(to_load, keys, strict=True)}
    pieces: list[pa.Table] = []
    for group, items in sorted(by_month.items()):
        copy = loaded.get(group)
        if copy is None:
            result.partitions.extend(key for key, _ in items)
            continue
        fresh = {date for key, date in items if copy.manifest.get(date) == current.get(key)}
        result.partitions.extend(key for key, date in items if date not in fresh)
        if fresh:
            result.copies_read.append(copy.key)
            dates = copy.table["date"].cast(pa.string())
            rows = copy.table.filter(pc.is_in(dates, value_set=pa.array(sorted(fresh))))
            pieces.append(rows.replace_schema_metadata(None))
    if pieces:
        # Copies written by one version of the code share a schema: conform once, not per month.
        combined = pa.concat_tables(pieces, promote_options="permissive") if len(pieces) > 1 else pieces[0]
        result.copies = _conform(combined, schema)
    result.partitions.sort()
    return result


def read_partitions(store, keys: Sequence[str], schema: pa.Schema | None, what: str) -> pa.Table | None:
    """The rows of these partition objects (all columns), None for no keys."""
    table = _read_objects(store, keys, schema, what)
    return None if table is None else _conform(table, schema)


def compact(
    store,
    dataset: str,
    ticker: str,
    months: Iterable[str] | None = None,
    *,
    schema: pa.Schema | None = None,
    known: Mapping[str, tuple[str | None, pa.Table]] | None = None,
) -> dict[str, str]:
    """Bring the compacted copy of each month (default: every month with partitions) up to date.

    Returns {month: "written" | "fresh" | "empty"}: a month already matching every partition's fingerprint
    is left alone; one with no partitions has nothing to copy (an old copy is then never used: its dates
    have no current fingerprint). `known` ({date: (fingerprint of the version written, its rows)}, from
    the writer that just wrote them) spares reading back a month whose every partition is still that
    version; any other month is read from its partitions.
    """
    dataset = layout.validate_dataset(dataset)
    ticker = layout.validate_ticker(ticker)
    chosen = None if months is None else {layout.validate_month(m) for m in months}
    descend = None
    if chosen is not None:
        descend = layout.date_folders(min(chosen) + "-01", max(chosen) + "-31")
    current = fingerprints(store, layout.dataset_prefix(dataset, ticker), descend)
    by_month: dict[str, dict[str, str]] = defaultdict(dict)  # month → {date: key}
    for key in current:
        try:
            _, date = layout.parse_partition(key)
        except ValueError:
            continue
        if key.endswith("/" + layout.PARTITION_FILE):
            by_month[month_of(date)][date] = key
    wanted = sorted(by_month) if chosen is None else sorted(chosen)
    outcome: dict[str, str] = {}
    for month in wanted:
        dates = by_month.get(month, {})
        if not dates:
            outcome[month] = "empty"
            continue
        target = layout.compacted_key(dataset, ticker, month)
        manifest = {date: current[key] for date, key in sorted(dates.items())}
        existing = _load(store, target, columns=())  # its manifest (and dates) only
        if existing is not None and existing.manifest == manifest:
            outcome[month] = "fresh"
            continue
        keys = [dates[d] for d in sorted(dates)]
        in_hand = known or {}
        if all(
            d in in_hand and in_hand[d][0] is not None and in_hand[d][0] == fp for d, fp in manifest.items()
        ):
            table = pa.concat_tables([in_hand[d][1] for d in sorted(manifest)])
        else:
            table = _read_objects(store, keys, schema, f"{dataset} {ticker} {month} in {store.uri}")
            table = table.sort_by([("date", "ascending")])
        metadata = dict(table.schema.metadata or {})
        metadata[MANIFEST_KEY] = json.dumps(
            {"dataset": dataset, "ticker": ticker, "month": month, "dates": manifest}, sort_keys=True
        ).encode()
        sink = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(metadata), sink, compression="snappy")
        store.put(
            target,
            sink.getvalue().to_pybytes(),
            metadata={"row-count": str(table.num_rows), "compacted-partitions": str(len(keys))},
            tags={"source": "computed", "ticker": ticker, "computation_type": "compaction"},
            content_type=PARQUET_CONTENT_TYPE,
        )
        log.info("compaction.write key=%s partitions=%d", target, len(keys))
        outcome[month] = "written"
    return outcome


def months_to_compact(dates: Sequence[str], today: str) -> list[str]:
    """The months worth compacting after writing `dates`: the written months and the month before the
    first of them (a run that opens a new month closes the previous one), except the current month of
    `today` (YYYY-MM-DD), which the daily runs are still filling."""
    if not dates:
        return []
    written = {month_of(d) for d in dates}
    first = min(written)
    year, month = int(first[:4]), int(first[5:7])
    written.add(f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}")
    return sorted(m for m in written if m < month_of(today))
