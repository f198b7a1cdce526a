"""The report cache: SQLite L1 (milliseconds, per instance) in front of an object-store L2 (shared, TTL).

    get:  L1 (SQLite)  --miss-->  L2 (object store)  --miss-->  None (the caller generates)
                                   hit: backfill L1 with the same expiry
    put:  write-through to both tiers

L2 keys follow the lake layout: ``cache/reports/<T>/<D>/report.json`` and ``chart.b64``, each with the
metadata ``expires-at`` (ISO 8601 UTC). L1 has one row per key with an ``expires_at`` column.
CACHE_BACKEND selects ``hybrid`` (both), ``sqlite`` (L1 only) or ``s3`` (L2 only).

A corrupt entry (bad JSON, truncated, not a PNG) or an expired one is a miss, never a crash. When the
object store cannot be reached, the cache logs a warning once and keeps answering from L1 (or lets the
caller generate); it retries the store after `l2_retry_after` seconds. Every lookup logs one line:
``cache hit tier=l1 key=...`` or ``cache miss key=... reason=...``, and its `Lookup` carries the tier, the
miss reason and the lookup latency, which `ReportService` records in the cache event log
(`report_app.cache_events`).

The time to live of a new entry is `CACHE_TTL_HOURS`, or, with a `ttl_policy` (the adaptive TTL of
`report_app.ttl`), whatever the policy answers for the ticker.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lake import layout
from lake.exceptions import InvalidArgumentValue, ObjectNotFound
from report_app.chart import from_base64
from report_app.document import ReportDocument

log = logging.getLogger(f"tickerlake.{__name__}")

BACKENDS = ("hybrid", "s3", "sqlite")
REPORT_FILE = "report.json"
CHART_FILE = "chart.b64"
EXPIRES_AT = "expires-at"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_expiry(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_expiry(text: str | None) -> dt.datetime | None:
    """An ``expires-at`` value as an aware UTC datetime; None when absent or unreadable (= expired)."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass
class CacheEntry:
    """One cached report: the document (report.json) and the chart (chart.b64, may be absent)."""

    document: ReportDocument
    chart_b64: str | None = None
    expires_at: dt.datetime | None = None

    @property
    def chart_png(self) -> bytes | None:
        return from_base64(self.chart_b64) if self.chart_b64 else None


@dataclass(frozen=True)
class Lookup:
    """The answer of `ReportCache.get`: the entry and the tier that had it ("l1", "l2"), or a miss.

    `reason` says why it missed (absent, absent-or-expired, corrupt, l2-unreachable); `latency_ms` is the
    time the lookup took (both tiers on an L2 hit or a miss).
    """

    entry: CacheEntry | None
    tier: str  # "l1" | "l2" | "miss"
    reason: str | None = None
    latency_ms: float = 0.0


class CorruptEntry(ValueError):
    """A cache entry that cannot be read back (bad JSON, truncated, wrong shape)."""


def decode_entry(report_text: str, chart_text: str | None) -> CacheEntry:
    """Parse and validate a report.json (+ chart.b64); CorruptEntry on any defect."""
    try:
        document = ReportDocument.from_dict(json.loads(report_text))
        if chart_text is not None:
            from_base64(chart_text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptEntry(f"{type(exc).__name__}: {exc}") from None
    return CacheEntry(document, chart_text)


# ------------------------------------------------------------------------------------------------ L1


class SqliteTier:
    """L1: one SQLite file (WAL), one row per cache key with its expiry. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:  # a damaged file: set it aside and start an empty cache
            aside = self.path.with_name(self.path.name + f".corrupt-{int(time.time())}")
            log.warning(
                "cache l1 unreadable: moved aside",
                extra={"path": str(self.path), "error": str(exc), "aside": str(aside)},
            )
            self.path.rename(aside)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS report_cache ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at TEXT NOT NULL, stored_at TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX IF NOT EXISTS report_cache_expires ON report_cache(expires_at)")
        return conn

    def get(self, key: str) -> tuple[str, dt.datetime] | None:
        """(value, expiry) of a live row; None when absent or expired (expired rows are removed)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value, expires_at FROM report_cache WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            expires = parse_expiry(row[1])
            if expires is None or expires <= utcnow():
                self._conn.execute("DELETE FROM report_cache WHERE key = ?", (key,))
                return None
            return row[0], expires

    def put(self, key: str, value: str, expires_at: dt.datetime) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO report_cache (key, value, expires_at, stored_at) VALUES (?, ?, ?, ?)",
                (key, value, format_expiry(expires_at), format_expiry(utcnow())),
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM report_cache WHERE key = ?", (key,))

    def purge_expired(self) -> int:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM report_cache WHERE expires_at <= ?", (format_expiry(utcnow()),)
            )
            return cursor.rowcount

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM report_cache")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# ------------------------------------------------------------------------------------------------ L2


class StoreUnreachable(Exception):
    """The L2 object store did not answer (connection refused, timeout, ...)."""


class StoreTier:
    """L2: objects in an ObjectStore with the ``expires-at`` metadata."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, key: str) -> tuple[str, dt.datetime] | None:
        """(text, expiry) of a live object; None when absent or expired; StoreUnreachable; CorruptEntry."""
        try:
            stored = self.store.get(key)
        except ObjectNotFound:
            return None
        except (InvalidArgumentValue, ValueError):
            raise
        except Exception as exc:  # botocore/urllib3/OS errors and the store's StoreUnavailable alike
            raise StoreUnreachable(f"{type(exc).__name__}: {exc}") from exc
        expires = parse_expiry(stored.info.metadata.get(EXPIRES_AT))
        if expires is None or expires <= utcnow():
            return None
        try:
            return stored.data.decode("utf-8"), expires
        except UnicodeDecodeError as exc:
            raise CorruptEntry(f"not UTF-8: {exc}") from None

    def put(self, key: str, value: str, expires_at: dt.datetime, content_type: str) -> None:
        try:
            self.store.put(
                key,
                value.encode("utf-8"),
                metadata={EXPIRES_AT: format_expiry(expires_at)},
                content_type=content_type,
            )
        except (InvalidArgumentValue, ValueError):
            raise
        except Exception as exc:
            raise StoreUnreachable(f"{type(exc).__name__}: {exc}") from exc


# ------------------------------------------------------------------------------------------------ cache


class ReportCache:
    """The hybrid report cache.

    Parameters
    ----------
    l1: the SQLite tier, or None (CACHE_BACKEND=s3).
    l2: the object-store tier, or None (CACHE_BACKEND=sqlite).
    ttl_hours: time to live of a new entry (CACHE_TTL_HOURS).
    l2_retry_after: seconds to skip the store after it was unreachable (so a dead S3 endpoint costs one
        timeout, not one per request).
    ttl_policy: hours to live of a new entry for a ticker (e.g. `report_app.ttl.AdaptiveTtl`); None: the
        fixed `ttl_hours`.

    Examples
    --------
    >>> cache = ReportCache.create("hybrid", sqlite_path="/tmp/c.db", store=lake.store)   # doctest: +SKIP
    >>> cache.get("D05.SI", "2025-11-11").tier
    'miss'
    """

    def __init__(
        self,
        l1: SqliteTier | None,
        l2: StoreTier | None,
        *,
        ttl_hours: float = 24.0,
        l2_retry_after: float = 30.0,
        ttl_policy: Callable[[str], float] | None = None,
    ) -> None:
        if l1 is None and l2 is None:
            raise ValueError("a report cache needs at least one tier")
        if ttl_hours <= 0:
            raise ValueError(f"CACHE_TTL_HOURS must be positive, got {ttl_hours}")
        self.l1, self.l2 = l1, l2
        self.ttl = dt.timedelta(hours=ttl_hours)
        self.l2_retry_after = l2_retry_after
        self.ttl_policy = ttl_policy
        self._l2_down_until = 0.0

    @property
    def backend(self) -> str:
        """The CACHE_BACKEND this cache implements: hybrid, sqlite or s3."""
        if self.l1 is not None and self.l2 is not None:
            return "hybrid"
        return "sqlite" if self.l1 is not None else "s3"

    def ttl_for(self, symbol: str) -> dt.timedelta:
        """The time to live of a new entry of `symbol`: the policy's answer, else CACHE_TTL_HOURS.

        A policy that fails or answers nonsense falls back to the fixed TTL (with a warning): a TTL problem
        must never fail a report.
        """
        if self.ttl_policy is None:
            return self.ttl
        try:
            hours = float(self.ttl_policy(symbol))
        except Exception as exc:
            log.warning(
                "cache ttl policy failed: using the default TTL",
                extra={"ticker": symbol, "error": str(exc), "ttl_hours": self.ttl.total_seconds() / 3600},
            )
            return self.ttl
        if not hours > 0 or hours == float("inf"):
            log.warning(
                "cache ttl policy answered no usable TTL: using the default TTL",
                extra={"ticker": symbol, "hours": hours, "ttl_hours": self.ttl.total_seconds() / 3600},
            )
            return self.ttl
        return dt.timedelta(hours=hours)

    @classmethod
    def create(
        cls,
        backend: str = "hybrid",
        *,
        sqlite_path: str | Path | None = None,
        store: Any | None = None,
        ttl_hours: float = 24.0,
        ttl_policy: Callable[[str], float] | None = None,
    ) -> ReportCache:
        """The cache for CACHE_BACKEND: `hybrid` needs both a path and a store, `sqlite` a path, `s3` a store."""
        if backend not in BACKENDS:
            raise ValueError(f"CACHE_BACKEND must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if backend in ("hybrid", "sqlite") and sqlite_path is None:
            raise ValueError(f"CACHE_BACKEND={backend} needs CACHE_SQLITE_PATH")
        if backend in ("hybrid", "s3") and store is None:
            raise ValueError(f"CACHE_BACKEND={backend} needs an object store")
        l1 = SqliteTier(sqlite_path) if backend in ("hybrid", "sqlite") else None
        l2 = StoreTier(store) if backend in ("hybrid", "s3") else None
        return cls(l1, l2, ttl_hours=ttl_hours, ttl_policy=ttl_policy)

    # --------------------------------------------------------------------------------------- L2 health

    def _l2_available(self) -> bool:
        return self.l2 is not None and time.monotonic() >= self._l2_down_until

    def _l2_failed(self, action: str, key: str, exc: Exception) -> None:
        self._l2_down_until = time.monotonic() + self.l2_retry_after
        log.warning(
            "cache l2 unreachable: S3 is unreachable, answering without it",
            extra={
                "tier": "l2",
                "action": action,
                "key": key,
                "error": str(exc),
                "retry_in_s": self.l2_retry_after,
            },
        )

    # --------------------------------------------------------------------------------------- get / put

    def get(self, symbol: str, date: str) -> Lookup:
        """The cached report of (symbol, date) and the tier that had it; a miss is ``Lookup(None, "miss")``."""
        started = time.perf_counter()
        report_key = layout.cache_key(symbol, date, REPORT_FILE)
        chart_key = layout.cache_key(symbol, date, CHART_FILE)
        reason = "absent"

        def elapsed_ms() -> float:
            return (time.perf_counter() - started) * 1000.0

        if self.l1 is not None:
            try:
                report = self.l1.get(report_key)
                if report is not None:
                    chart = self.l1.get(chart_key)
                    entry = decode_entry(report[0], chart[0] if chart else None)
                    entry.expires_at = report[1]
                    log.info("cache hit", extra={"tier": "l1", "key": report_key})
                    return Lookup(entry, "l1", latency_ms=elapsed_ms())
            except CorruptEntry as exc:
                reason = "corrupt"
                log.warning("cache corrupt", extra={"tier": "l1", "key": report_key, "error": str(exc)})
                self.l1.delete(report_key)
                self.l1.delete(chart_key)
            except sqlite3.Error as exc:
                log.warning("cache l1 error", extra={"tier": "l1", "key": report_key, "error": str(exc)})

        if self._l2_available():
            assert self.l2 is not None
            try:
                report = self.l2.get(report_key)
                if report is None:
                    reason = "absent-or-expired" if reason == "absent" else reason
                else:
                    chart = self.l2.get(chart_key)
                    entry = decode_entry(report[0], chart[0] if chart else None)
                    entry.expires_at = report[1]
                    self._backfill(report_key, report, chart_key, chart)
                    log.info("cache hit", extra={"tier": "l2", "key": report_key})
                    return Lookup(entry, "l2", latency_ms=elapsed_ms())
            except CorruptEntry as exc:
                reason = "corrupt"
                log.warning("cache corrupt", extra={"tier": "l2", "key": report_key, "error": str(exc)})
            except StoreUnreachable as exc:
                reason = "l2-unreachable"
                self._l2_failed("get", report_key, exc)

        log.info("cache miss", extra={"tier": "miss", "key": report_key, "reason": reason})
        return Lookup(None, "miss", reason=reason, latency_ms=elapsed_ms())

    def _backfill(
        self,
        report_key: str,
        report: tuple[str, dt.datetime],
        chart_key: str,
        chart: tuple[str, dt.datetime] | None,
    ) -> None:
        if self.l1 is None:
            return
        try:
            if chart is not None:
                self.l1.put(chart_key, chart[0], chart[1])
            self.l1.put(report_key, report[0], report[1])  # the report row last: it marks the entry complete
            log.info("cache backfill", extra={"tier": "l1", "key": report_key})
        except sqlite3.Error as exc:
            log.warning(
                "cache l1 backfill failed", extra={"tier": "l1", "key": report_key, "error": str(exc)}
            )

    def put(
        self, symbol: str, date: str, entry: CacheEntry, *, ttl: dt.timedelta | None = None
    ) -> dt.datetime:
        """Write-through: the entry goes to every tier with one expiry (now + TTL), which is returned.

        The TTL is `ttl` when given, else `ttl_for(symbol)`.
        """
        report_key = layout.cache_key(symbol, date, REPORT_FILE)
        chart_key = layout.cache_key(symbol, date, CHART_FILE)
        report_text = json.dumps(entry.document.to_dict(), ensure_ascii=False, separators=(",", ":"))
        expires_at = utcnow() + (ttl if ttl is not None else self.ttl_for(symbol))
        if self.l1 is not None:
            try:
                if entry.chart_b64:
                    self.l1.put(chart_key, entry.chart_b64, expires_at)
                self.l1.put(report_key, report_text, expires_at)
            except sqlite3.Error as exc:
                log.warning(
                    "cache l1 write failed", extra={"tier": "l1", "key": report_key, "error": str(exc)}
                )
        if self._l2_available():
            assert self.l2 is not None
            try:
                if entry.chart_b64:  # the chart first: a reader that sees report.json finds its chart
                    self.l2.put(chart_key, entry.chart_b64, expires_at, "text/plain")
                self.l2.put(report_key, report_text, expires_at, "application/json")
            except StoreUnreachable as exc:
                self._l2_failed("put", report_key, exc)
        log.info("cache write", extra={"key": report_key, "expires_at": format_expiry(expires_at)})
        entry.expires_at = expires_at
        return expires_at
