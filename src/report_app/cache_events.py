"""The report cache's event log: one row per cache lookup, kept in the lake as Parquet.

    ReportService.report ── record(CacheEvent) ──> in-memory buffer ──flush──> ops/cache_events/day=<D>/<token>.parquet

Every lookup the service makes is one `CacheEvent`: when (``ts``, UTC), what (``ticker`` — the Yahoo
symbol —, report ``date``, ``lang``), where it was answered (``tier``: ``l1``, ``l2`` or ``miss``, and the
miss ``reason``), how long it took (``lookup_ms``, ``generate_ms`` on a miss, ``latency_ms`` = both), the
``ttl_hours`` given to the entry written on a miss, the cache ``backend``, the ``origin`` (``request`` from
a user, ``prewarm`` from the daily warm-up) and the ``error`` type when generating failed.

Why a buffer, and when it is flushed
------------------------------------
Writing one S3 object per lookup would add a PUT (tens of milliseconds, and a request charge) to every
answer — more than an L1 hit costs. `record` therefore only appends to memory; a flush writes *all*
buffered events of a UTC day as one Parquet object:

- on AWS Lambda at the end of every invocation (`flush_all`, called by `lambda_handler.handler` after the
  LINE reply has been sent, so the user does not wait for it; a frozen container may never wake up again,
  so nothing is left in memory between invocations);
- in a long-running process (`tickerlake bot serve`) when `flush_every` events are buffered or the oldest is
  `max_age_seconds` old — in a background thread, never in the request;
- when the service is closed (`ReportService.close()`: the CLI commands) and at interpreter exit.

The trade-offs: a process killed between flushes loses at most its buffer (`flush_every` events or
`max_age_seconds` of traffic); and every flush is one small object, so a busy deployment makes many small
files per day (fine for DuckDB and for Athena at this volume; compact them per day if it grows). A store
that cannot be written (unreachable, access denied) costs a warning, never an answer: the events stay
buffered (at most `max_buffer`, the oldest dropped first, with a count in the log) and go out with the next
successful flush.

Configuration: ``CACHE_EVENTS`` (``1`` default; ``0`` records nothing), ``CACHE_EVENTS_FLUSH_EVERY``
(200), ``CACHE_EVENTS_FLUSH_SECONDS`` (60).

Reading it back: `read_cache_events(store, start=..., end=...)`, or DuckDB over the files (see
docs/report-bot.md, "Cache operations")::

    SELECT tier, count(*) FROM read_parquet('lake/ops/cache_events/*/*.parquet', hive_partitioning = true)
    WHERE day >= '2025-11-01' GROUP BY tier
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from lake import layout

log = logging.getLogger(f"tickerlake.{__name__}")

__all__ = [
    "CacheEvent",
    "CacheEventLog",
    "EVENT_COLUMNS",
    "ORIGINS",
    "TIERS",
    "event_schema",
    "events_frame",
    "flush_all",
    "read_cache_events",
]

TIERS = ("l1", "l2", "miss")
ORIGINS = ("request", "prewarm")
EVENT_COLUMNS = (
    "ts",
    "ticker",
    "date",
    "lang",
    "tier",
    "reason",
    "lookup_ms",
    "generate_ms",
    "latency_ms",
    "ttl_hours",
    "backend",
    "origin",
    "error",
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CacheEvent:
    """One cache lookup made for a report request."""

    ts: dt.datetime
    ticker: str
    date: str
    lang: str
    tier: str
    lookup_ms: float
    generate_ms: float | None = None
    ttl_hours: float | None = None
    reason: str | None = None
    backend: str = "hybrid"
    origin: str = "request"
    error: str | None = None

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError(f"cache event ts {self.ts!r} must be timezone-aware (UTC)")
        if self.tier not in TIERS:
            raise ValueError(
                f"cache event tier {self.tier!r} is not valid: expected one of {', '.join(TIERS)}"
            )
        if self.origin not in ORIGINS:
            raise ValueError(
                f"cache event origin {self.origin!r} is not valid: expected one of {', '.join(ORIGINS)}"
            )

    @property
    def day(self) -> str:
        """The UTC day of the lookup: the ``day=`` partition it is stored under."""
        return self.ts.astimezone(dt.UTC).date().isoformat()

    @property
    def latency_ms(self) -> float:
        """What the request waited for its report: the lookup, plus the generation on a miss."""
        return self.lookup_ms + (self.generate_ms or 0.0)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["ts"] = self.ts.astimezone(dt.UTC)
        row["latency_ms"] = self.latency_ms
        return {name: row[name] for name in EVENT_COLUMNS}


def event_schema():
    """The Arrow schema of the event log (the Parquet files and `read_cache_events`)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("ticker", pa.string(), nullable=False),
            pa.field("date", pa.string(), nullable=False),
            pa.field("lang", pa.string()),
            pa.field("tier", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
            pa.field("lookup_ms", pa.float64()),
            pa.field("generate_ms", pa.float64()),
            pa.field("latency_ms", pa.float64()),
            pa.field("ttl_hours", pa.float64()),
            pa.field("backend", pa.string()),
            pa.field("origin", pa.string()),
            pa.field("error", pa.string()),
        ]
    )


def _events_table(events: Iterable[CacheEvent]):
    import pyarrow as pa

    rows = [event.to_row() for event in events]
    return pa.Table.from_pylist(rows, schema=event_schema())


def _parquet_bytes(events: Iterable[CacheEvent]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(_events_table(events), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def events_frame(events: Iterable[CacheEvent | Mapping[str, Any]]):
    """A pandas frame with the event log's columns from events (or row dicts): for tests and replays."""
    import pyarrow as pa

    rows = [e.to_row() if isinstance(e, CacheEvent) else dict(e) for e in events]
    for row in rows:
        if "latency_ms" not in row or row["latency_ms"] is None:
            row["latency_ms"] = (row.get("lookup_ms") or 0.0) + (row.get("generate_ms") or 0.0)
    return pa.Table.from_pylist(rows, schema=event_schema()).to_pandas()


# ------------------------------------------------------------------------------------------------ log

_LIVE: weakref.WeakSet[CacheEventLog] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class CacheEventLog:
    """Buffers `CacheEvent`s and writes them to the lake, one Parquet object per UTC day and flush.

    Parameters
    ----------
    store: the lake's ObjectStore (events are lake data, next to ``processed/``).
    flush_every: flush (in the background) once this many events are buffered.
    max_age_seconds: flush (in the background) once the oldest buffered event is this old.
    max_buffer: events kept while the store cannot be written; beyond it the oldest are dropped.
    background: run the size/age-triggered flushes in a thread (True) or inline in `record` (False).
    metrics: writes the CloudWatch EMF line of each recorded event (`report_app.metrics.EmfEmitter`).

    Examples
    --------
    >>> events = CacheEventLog(lake.store)                                        # doctest: +SKIP
    >>> events.record(CacheEvent(ts, "D05.SI", "2025-11-11", "th", "l1", 0.8))   # doctest: +SKIP
    >>> events.flush()                                                            # doctest: +SKIP
    ['ops/cache_events/day=2025-11-12/20251112T031500123456Z-9f1c2a4b7d3e.parquet']
    """

    def __init__(
        self,
        store: Any,
        *,
        flush_every: int = 200,
        max_age_seconds: float = 60.0,
        max_buffer: int = 10_000,
        background: bool = True,
        metrics: Any | None = None,
    ) -> None:
        if flush_every < 1:
            raise ValueError(f"CACHE_EVENTS_FLUSH_EVERY must be at least 1, got {flush_every}")
        if max_age_seconds < 0:
            raise ValueError(f"CACHE_EVENTS_FLUSH_SECONDS must not be negative, got {max_age_seconds}")
        self.store = store
        self.flush_every = flush_every
        self.max_age_seconds = max_age_seconds
        self.max_buffer = max(max_buffer, flush_every)
        self.background = background
        self.metrics = metrics  # a report_app.metrics.EmfEmitter: one CloudWatch EMF line per lookup
        self.dropped = 0
        self._buffer: list[CacheEvent] = []
        self._oldest = 0.0  # time.monotonic() of the oldest buffered event
        self._lock = threading.Lock()  # the buffer
        self._flush_lock = threading.Lock()  # one flush at a time
        self._flusher: threading.Thread | None = None
        with _LIVE_LOCK:
            _LIVE.add(self)

    @classmethod
    def from_env(cls, store: Any) -> CacheEventLog | None:
        """The log configured by CACHE_EVENTS, CACHE_EVENTS_FLUSH_EVERY, CACHE_EVENTS_FLUSH_SECONDS;
        None when CACHE_EVENTS is off."""
        from report_app.settings import ReportSettings

        return cls.from_settings(store, ReportSettings.from_env())

    @classmethod
    def from_settings(cls, store: Any, settings: Any) -> CacheEventLog | None:
        """The log a `report_app.settings.ReportSettings` asks for; None when CACHE_EVENTS is off."""
        from report_app.metrics import EmfEmitter

        if not settings.cache_events:
            return None
        return cls(
            store,
            metrics=EmfEmitter.from_settings(settings),
            flush_every=settings.cache_events_flush_every,
            max_age_seconds=settings.cache_events_flush_seconds,
        )

    @property
    def pending(self) -> int:
        """Events recorded and not yet written."""
        with self._lock:
            return len(self._buffer)

    def record(self, event: CacheEvent) -> None:
        """Buffer one event (no I/O here but its metrics line); starts a flush when the buffer is full or
        old enough."""
        if self.metrics is not None:
            try:
                self.metrics.emit(event)
            except Exception:  # bookkeeping never fails the answer
                log.exception("cache metrics line not written")
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(event)
            overflow = len(self._buffer) - self.max_buffer
            if overflow > 0:
                del self._buffer[:overflow]
                self.dropped += overflow
                log.warning("cache events dropped: the store could not be written", extra={"count": overflow})
            due = len(self._buffer) >= self.flush_every or (
                time.monotonic() - self._oldest >= self.max_age_seconds
            )
        if due:
            self._flush_soon()

    def _flush_soon(self) -> None:
        if not self.background:
            self.flush()
            return
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(target=self.flush, name="cache-events-flush", daemon=True)
            self._flusher.start()

    def flush(self) -> list[str]:
        """Write every buffered event (one object per UTC day); returns the keys written.

        Never raises for a store problem: the events go back to the buffer and a warning is logged.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return []
            by_day: dict[str, list[CacheEvent]] = {}
            for event in batch:
                by_day.setdefault(event.day, []).append(event)
            written: list[str] = []
            failed: list[CacheEvent] = []
            for day, events in sorted(by_day.items()):
                token = f"{layout.timestamp_token(_utcnow())}-{secrets.token_hex(6)}"
                key = layout.cache_events_key(day, token)
                try:
                    self.store.put(
                        key,
                        _parquet_bytes(events),
                        metadata={"events": str(len(events)), "dataset": "cache_events"},
                        content_type="application/vnd.apache.parquet",
                    )
                except Exception as exc:  # unreachable, access denied...: keep them for the next flush
                    failed.extend(events)
                    log.warning(
                        "cache events not written; kept for the next flush",
                        extra={"key": key, "events": len(events), "error": f"{type(exc).__name__}: {exc}"},
                    )
                    continue
                written.append(key)
                log.info("cache events write", extra={"key": key, "events": len(events)})
            if failed:
                with self._lock:
                    self._buffer[:0] = failed
                    self._oldest = time.monotonic()
                    overflow = len(self._buffer) - self.max_buffer
                    if overflow > 0:
                        del self._buffer[:overflow]
                        self.dropped += overflow
                        log.warning(
                            "cache events dropped: the store could not be written",
                            extra={"count": overflow},
                        )
            return written

    def close(self) -> list[str]:
        """Flush what is left (waiting for a background flush in progress)."""
        return self.flush()


def flush_all() -> list[str]:
    """Flush every live event log of the process: the Lambda handler's last step, and at exit."""
    with _LIVE_LOCK:
        logs = list(_LIVE)
    written: list[str] = []
    for events in logs:
        try:
            written.extend(events.flush())
        except Exception:  # never let bookkeeping break the caller
            log.exception("cache events flush failed")
    return written


atexit.register(flush_all)


# ------------------------------------------------------------------------------------------------ read


def read_cache_events(store: Any, *, start: str | None = None, end: str | None = None):
    """The events of UTC days `start` to `end` (inclusive; None: unbounded) as a pandas frame sorted by ts.

    Partitions are pruned by listing keys (``day=``); the chosen files are read with pyarrow over the
    store's filesystem. An empty log is an empty frame with the event columns.
    """
    import pyarrow.dataset as pads

    first = layout.validate_date(start) if start is not None else None
    last = layout.validate_date(end) if end is not None else None
    keys = []
    for info in store.list(layout.cache_events_prefix()):
        if not info.key.endswith(".parquet"):
            continue
        try:
            day = layout.cache_events_day(info.key)
        except ValueError:
            continue
        if (first is None or day >= first) and (last is None or day <= last):
            keys.append(info.key)
    schema = event_schema()
    if not keys:
        return schema.empty_table().to_pandas()
    filesystem, base = store.arrow_filesystem()
    table = pads.dataset(
        [f"{base}/{key}" for key in keys], filesystem=filesystem, format="parquet", schema=schema
    ).to_table()
    return table.sort_by([("ts", "ascending")]).to_pandas()
