"""The lake's key layout: every object key is built here and nowhere else.

Tickers, dates and months are validated before they reach a key (shared/DESIGN.md, storage contract).

    raw/<source>/ticker=<T>/date=<fetch date>/<UTC timestamp>.json   one source fetch, verbatim
    processed/<dataset>/month=<YYYY-MM>/data.parquet                 every ticker's rows of the month
    lineage/<dataset>/month=<YYYY-MM>/<token>.json                   the manifest of one month version
    quarantine/<dataset>/ticker=<T>/date=<D>/<UTC timestamp>.json
    cache/reports/<T>/<D>/report.json | chart.b64 | news.json
    cache/webhook_events/<event id>.json                           (the bot's cross-container dedupe)
    reports/<T>/<D>/<lang>.pdf                                     one PDF per ticker, date and language
    ops/cache_events/day=<UTC day>/<UTC timestamp>-<hex>.parquet   (the report cache's event log)
    ops/cache_activity/latest.json                                 (requests per ticker: adaptive TTL)
    ops/dashboard/index.html                                       (the cache dashboard)

A processed month has one *stable* key; every write is a new version of that key (S3 object versions;
emulated by the local backend). Athena and DuckDB list keys, not versions, so they see exactly the latest
version of each month and never two versions of a row. Lineage manifests live outside `processed/`, where
Athena's table locations never see them.
"""

import datetime as dt
import re
from collections.abc import Callable

from lake.exceptions import InvalidArgumentValue
from schemas.values import (  # the value types live at the bottom layer; re-exported for key builders
    DATASETS,
    _shown,
    month_bounds,
    month_of,
    months_between,
    validate_dataset,
    validate_date,
    validate_month,
    validate_ticker,
)

__all__ = [
    "DATASETS",
    "RAW_SOURCES",
    "month_bounds",
    "month_of",
    "months_between",
    "validate_dataset",
    "validate_date",
    "validate_month",
    "validate_ticker",
]

#: Where raw fetches come from: live Yahoo, the offline sample generator, or a folder of recorded envelopes.
RAW_SOURCES: tuple[str, ...] = ("yfinance", "sample", "dir")
PARTITION_FILE = "data.parquet"
CACHE_FILES = ("report.json", "chart.b64", "news.json")
_TOKEN_RE = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{8,32}")


def validate_source(source: object) -> str:
    if source not in RAW_SOURCES:
        raise InvalidArgumentValue(
            f"raw source {_shown(source)} is not valid: expected one of {', '.join(RAW_SOURCES)}"
        )
    return source  # type: ignore[return-value]


def timestamp_token(when: dt.datetime) -> str:
    """A sortable UTC timestamp for object names: 20261128T211739123456Z."""
    if when.tzinfo is None:
        raise ValueError(f"timestamp {when!r} must be timezone-aware (UTC)")
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def partition_prefix(area: str, name: str, ticker: str, date: str | None = None) -> str:
    prefix = f"{area}/{name}/ticker={validate_ticker(ticker)}/"
    return prefix if date is None else prefix + f"date={validate_date(date)}/"


def raw_root(source: str | None = None) -> str:
    return "raw/" if source is None else f"raw/{validate_source(source)}/"


def raw_prefix(source: str, ticker: str, date: str | None = None) -> str:
    """``raw/<source>/ticker=T/`` or, for one fetch date, ``raw/<source>/ticker=T/date=D/``."""
    return partition_prefix("raw", validate_source(source), ticker, date)


def raw_key(source: str, ticker: str, fetched_at: dt.datetime) -> str:
    """One fetch: ``raw/<source>/ticker=T/date=<UTC date of the fetch>/<UTC timestamp>.json``."""
    if not isinstance(fetched_at, dt.datetime) or fetched_at.tzinfo is None:
        raise InvalidArgumentValue(f"fetched_at {fetched_at!r} is not valid: expected a timezone-aware time")
    day = fetched_at.astimezone(dt.UTC).date().isoformat()
    return raw_prefix(source, ticker, day) + f"{timestamp_token(fetched_at)}.json"


_RAW_KEY_RE = re.compile(r"raw/([a-z]+)/ticker=([^/]+)/date=([^/]+)/(\d{8}T\d{12}Z)\.json")


def parse_raw_key(key: str) -> tuple[str, str, str]:
    """(source, ticker, fetch date) of a raw fetch key; ValueError otherwise."""
    match = _RAW_KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if not match:
        raise ValueError(f"key {key!r} is not a raw fetch key (raw/<source>/ticker=T/date=D/<ts>.json)")
    return validate_source(match.group(1)), validate_ticker(match.group(2)), validate_date(match.group(3))


def date_folders(
    low: str | None = None, high: str | None = None, dates: set[str] | None = None
) -> Callable[[str], bool]:
    """A `descend(folder)` filter for folder walks (LocalStore.list_keys): every folder is entered except
    `date=D/` folders with D outside [low, high] or, given `dates`, not in it."""

    def descend(folder: str) -> bool:
        name = folder.rstrip("/").rpartition("/")[2]
        if not name.startswith("date="):
            return True
        date = name[5:]
        if dates is not None:
            return date in dates
        return (low is None or date >= low) and (high is None or date <= high)

    return descend


def dataset_root(dataset: str) -> str:
    return f"processed/{validate_dataset(dataset)}/"


def month_key(dataset: str, month: str) -> str:
    """``processed/<dataset>/month=YYYY-MM/data.parquet``: every ticker's rows of the month."""
    return dataset_root(dataset) + f"month={validate_month(month)}/{PARTITION_FILE}"


_MONTH_KEY_RE = re.compile(r"processed/([a-z]+)/month=([^/]+)/" + re.escape(PARTITION_FILE))


def parse_month_key(key: str) -> tuple[str, str]:
    """(dataset, month) of a processed month key; ValueError otherwise."""
    match = _MONTH_KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if not match:
        raise ValueError(
            f"key {key!r} is not a processed month key (processed/<dataset>/month=M/data.parquet)"
        )
    return validate_dataset(match.group(1)), validate_month(match.group(2))


def lineage_manifest_key(dataset: str, month: str, token: str) -> str:
    """``lineage/<dataset>/month=YYYY-MM/<token>.json``: the raw keys and versions of one month version.

    `token` is `timestamp_token(computed_at)` + ``-`` + lowercase hex."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ValueError(f"manifest token {_shown(token)} is not valid: expected <UTC timestamp token>-<hex>")
    return f"lineage/{validate_dataset(dataset)}/month={validate_month(month)}/{token}.json"


def quarantine_key(dataset: str, ticker: str, date: str, when: dt.datetime) -> str:
    name = dataset if dataset == "raw" else validate_dataset(dataset)
    return partition_prefix("quarantine", name, ticker, validate_date(date)) + f"{timestamp_token(when)}.json"


def quarantine_payload_key(record_key: str) -> str:
    """The sibling object holding a quarantined payload too large to inline in its record."""
    if not record_key.startswith("quarantine/") or not record_key.endswith(".json"):
        raise ValueError(f"key {record_key!r} is not a quarantine record key")
    parse_partition(record_key)
    return record_key[: -len(".json")] + ".payload"


def cache_key(ticker: str, date: str, name: str) -> str:
    if name not in CACHE_FILES:
        raise ValueError(f"cache file {_shown(name)} is not valid: expected one of {', '.join(CACHE_FILES)}")
    return f"cache/reports/{validate_ticker(ticker)}/{validate_date(date)}/{name}"


def report_pdf_key(ticker: str, date: str, lang: str) -> str:
    """``reports/<T>/<D>/<lang>.pdf``: one PDF per ticker, trading date and language (``th`` or ``en``)."""
    if lang not in ("th", "en"):
        raise InvalidArgumentValue(f"report language {_shown(lang)} is not valid: expected th or en")
    return f"reports/{validate_ticker(ticker)}/{validate_date(date)}/{lang}.pdf"


_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def webhook_event_key(event_id: str) -> str:
    """``cache/webhook_events/<event id>.json``: the claim of one LINE webhook event, written with
    ``If-None-Match: *`` by the container that answers it (so a redelivery reaching another container is
    not answered twice). Under ``cache/`` so the cache bucket's one-day expiry rule removes old claims.

    `event_id` is LINE's ``webhookEventId``, a ULID: 26 characters of Crockford base32, upper case.
    """
    if not isinstance(event_id, str) or not _ULID_RE.fullmatch(event_id):
        raise InvalidArgumentValue(
            f"webhook event id {_shown(event_id)} is not valid: expected a ULID (26 characters, 0-9 A-Z "
            "without I L O U)"
        )
    return f"cache/webhook_events/{event_id}.json"


OPS_ROOT = "ops/"
CACHE_EVENTS_ROOT = "ops/cache_events/"
_EVENTS_TOKEN_RE = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{8,32}")
_DAY_PARTITION_RE = re.compile(r"/day=(\d{4}-\d{2}-\d{2})/")


def cache_events_prefix(day: str | None = None) -> str:
    """``ops/cache_events/`` or, for one UTC day, ``ops/cache_events/day=<D>/``."""
    return CACHE_EVENTS_ROOT if day is None else f"{CACHE_EVENTS_ROOT}day={validate_date(day)}/"


def cache_events_key(day: str, token: str) -> str:
    """One flushed batch of cache events: ``ops/cache_events/day=<D>/<token>.parquet``.

    `token` is `timestamp_token(flushed_at)` + ``-`` + lowercase hex (unique per writer and flush), so
    batches never overwrite each other and sort by flush time.
    """
    if not isinstance(token, str) or not _EVENTS_TOKEN_RE.fullmatch(token):
        raise ValueError(
            f"cache events token {_shown(token)} is not valid: expected <UTC timestamp token>-<8-32 hex>"
        )
    return cache_events_prefix(day) + f"{token}.parquet"


def cache_events_day(key: str) -> str:
    """The ``day=`` of a cache events key; ValueError if the key has none."""
    match = _DAY_PARTITION_RE.search(key)
    if not key.startswith(CACHE_EVENTS_ROOT) or not match:
        raise ValueError(f"key {key!r} is not a cache events key")
    return validate_date(match.group(1))


def cache_activity_key() -> str:
    """The published requests-per-ticker snapshot that the adaptive TTL reads."""
    return "ops/cache_activity/latest.json"


def dashboard_key(name: str = "index.html") -> str:
    if name not in ("index.html",):
        raise ValueError(f"dashboard file {_shown(name)} is not valid: expected index.html")
    return f"ops/dashboard/{name}"


def parse_partition(key: str) -> tuple[str, str]:
    """(ticker, date) of a key under a ticker=<T>/date=<D>/ partition; raises ValueError otherwise."""
    match = re.search(r"/ticker=([^/]+)/date=([^/]+)/", key)
    if not match:
        raise ValueError(f"key {key!r} is not inside a ticker=/date= partition")
    return validate_ticker(match.group(1)), validate_date(match.group(2))


# ---------------------------------------------------------------- quality results, data docs, alerts
#   quality/results/<dataset>/<UTC timestamp>.json     one saved QualityReport (pipelines.quality)
#   quality/docs/index.html | <dataset>.html | results.json | static/style.css    the data docs site
#   alerts/<D>/<incident id>.json                      one record per incident (lake.alerts); D = its date

QUALITY_DOCS_ROOT = "quality/docs/"
_DOCS_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}(/[a-z0-9][a-z0-9_\-]{0,63})*\.(html|css|json)")
_INCIDENT_RE = re.compile(r"[0-9a-f]{16,64}")


def quality_results_prefix(dataset: str) -> str:
    return f"quality/results/{validate_dataset(dataset)}/"


def quality_results_key(dataset: str, when: dt.datetime) -> str:
    return quality_results_prefix(dataset) + f"{timestamp_token(when)}.json"


def quality_docs_key(name: str = "index.html") -> str:
    """A file of the data docs site: ``quality/docs/<name>`` (lowercase path segments, .html/.css/.json)."""
    if not isinstance(name, str) or not _DOCS_NAME_RE.fullmatch(name):
        raise ValueError(
            f"data docs file {_shown(name)} is not valid: expected a lowercase relative path ending in "
            ".html, .css or .json"
        )
    return QUALITY_DOCS_ROOT + name


def alert_key(date: str, incident_id: str) -> str:
    """``alerts/<D>/<incident id>.json``: D is the incident's (partition) date, so a retry on another day
    finds the same key."""
    if not isinstance(incident_id, str) or not _INCIDENT_RE.fullmatch(incident_id):
        raise ValueError(f"incident id {_shown(incident_id)} is not valid: expected 16-64 lowercase hex")
    return f"alerts/{validate_date(date)}/{incident_id}.json"
