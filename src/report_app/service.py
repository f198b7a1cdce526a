"""The report service: ticker text in, report out, through the hybrid cache; used by the CLI and the bot.

    resolve "DBS19" -> D05.SI  ->  session (the date asked for, or the last session before it: weekends and
    holidays have none)  ->  cache (L1 -> L2)  ->  on a miss: lake -> ReportData -> narratives (th, en)
    -> chart -> write-through  ->  PDF reports/<T>/<D>/<lang>.pdf (head first, generated once) -> presigned URL

On a miss both languages are built at once, so the report.json of a (ticker, date) serves either language
(the cache keys need no language); the PDF is one per ticker, date and language, in that language only.

Every lookup is recorded in the cache event log (`report_app.cache_events`) when the service has one
(`from_settings` gives it one unless CACHE_EVENTS=0); `close()` flushes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from lake import layout
from lake.exceptions import InvalidArgumentValue, ObjectNotFound
from pipelines.exceptions import UnknownTicker
from report_app.cache import CacheEntry, Lookup, ReportCache
from report_app.cache_events import CacheEvent, CacheEventLog
from report_app.chart import ChartDataMissing, render_chart, to_base64
from report_app.document import ReportDocument, build_document
from report_app.narrative import LANGS, openai_client
from report_app.report import has_indicators, latest_date, load_report_data, session_on_or_before
from report_app.settings import ReportSettings

log = logging.getLogger(f"tickerlake.{__name__}")

__all__ = ["ReportResult", "ReportService", "UnknownTicker"]

#: The line that opens the text when the date asked for had no session (weekend, holiday, not yet run).
SESSION_NOTES = {
    "th": "ℹ️ วันที่ {requested} ไม่มีข้อมูลการซื้อขาย (วันหยุดหรือยังไม่ได้ประมวลผล) "
    "รายงานนี้แสดงวันทำการล่าสุดก่อนหน้า: {session}",
    "en": "ℹ️ No trading session on {requested} (a weekend, a holiday or not processed yet): "
    "this report shows the last session before it, {session}.",
}


@dataclass
class ReportResult:
    """One answered report request."""

    symbol: str
    display: str
    date: str
    lang: str
    text: str
    cache: str  # "l1" | "l2" | "miss"
    document: ReportDocument
    chart_b64: str | None = None
    pdf_key: str | None = None
    pdf_url: str | None = None
    requested_date: str | None = None  # the date asked for (None: the latest session was asked for)

    @property
    def session(self) -> str:
        """The trading session the report shows (= `date`)."""
        return self.date

    @property
    def moved(self) -> bool:
        """Whether the date asked for had no session, so an earlier one is shown."""
        return self.requested_date is not None and self.requested_date != self.date

    def to_json(self) -> dict[str, Any]:
        """The `tickerlake report --json` object: `date` and `session` are the session shown;
        `requested_date` is added when the date asked for had no session."""
        body: dict[str, Any] = {
            "ticker": self.display,
            "date": self.date,
            "session": self.session,
            "cache": self.cache,
            "text": self.text,
        }
        if self.moved:
            body["requested_date"] = self.requested_date
        if self.symbol != self.display:
            body["symbol"] = self.symbol
        if self.pdf_url:
            body["pdf_url"] = self.pdf_url
        return body


class ReportService:
    """Reports from precomputed lake data through the cache.

    Parameters
    ----------
    lake: a `lake.api.Lake`.
    cache: the `ReportCache`.
    pdf_store: the ObjectStore for ``reports/<T>/<D>/<lang>.pdf`` and the cache (PDF_BUCKET_NAME's, else the
        lake's); None: no PDF.
    url_expiration_hours: PDF_URL_EXPIRATION_HOURS.
    llm_client: an OpenAI-compatible client for the LLM narrative, or None for the rules.
    universe: a `pipelines.sources.universe.Universe` (default: the bundled one).
    events: the `CacheEventLog` every lookup is recorded in, or None (nothing recorded).
    """

    def __init__(
        self,
        lake: Any,
        cache: ReportCache,
        pdf_store: Any | None = None,
        *,
        url_expiration_hours: float = 24.0,
        llm_client: Any | None = None,
        universe: Any | None = None,
        events: CacheEventLog | None = None,
    ) -> None:
        self.lake = lake
        self.cache = cache
        self.pdf_store = pdf_store
        self.url_expiration_seconds = max(1, min(int(url_expiration_hours * 3600), 7 * 24 * 3600))
        self.llm_client = llm_client
        self._universe = universe
        self.events = events

    @classmethod
    def from_settings(
        cls, settings: ReportSettings | None = None, *, lake: Any | None = None, llm_client: Any | None = None
    ) -> ReportService:
        """Wire the service from the environment (TICKERLAKE_LAKE_URI, CACHE_*, PDF_*, OPENAI_API_KEY).

        The cache event log goes to the lake's store (CACHE_EVENTS); the adaptive TTL (CACHE_TTL_ADAPTIVE)
        reads the activity published there.
        """
        from report_app.ttl import AdaptiveTtl, TtlConfig

        settings = settings or ReportSettings.from_env()
        ttl_config = TtlConfig.from_settings(settings)
        if lake is None:
            from lake.api import Lake

            lake = Lake.open(settings.lake_uri)
        lake_store = store = lake.store
        if settings.pdf_bucket_name:
            from lake.store import open_store

            store = open_store(f"s3://{settings.pdf_bucket_name}")
        cache = ReportCache.create(
            settings.cache_backend,
            sqlite_path=settings.cache_sqlite_path,
            store=store,
            ttl_hours=settings.cache_ttl_hours,
            ttl_policy=AdaptiveTtl.from_store(lake_store, ttl_config) if ttl_config.adaptive else None,
        )
        return cls(
            lake,
            cache,
            store,
            url_expiration_hours=settings.pdf_url_expiration_hours,
            llm_client=llm_client if llm_client is not None else openai_client(settings.openai_api_key),
            events=CacheEventLog.from_settings(lake_store, settings),
        )

    def flush_events(self) -> list[str]:
        """Write the buffered cache events now; the keys written."""
        return self.events.flush() if self.events is not None else []

    def close(self) -> None:
        """Flush the cache event log (the CLI commands call this before exiting)."""
        self.flush_events()

    # ------------------------------------------------------------------------------------------ resolve

    @property
    def universe(self) -> Any:
        if self._universe is None:
            from pipelines.sources.universe import load_universe

            self._universe = load_universe()
        return self._universe

    def resolve(self, text: str) -> tuple[str, str]:
        """(Yahoo symbol, symbol to show) for a DR or Yahoo symbol; UnknownTicker with a suggestion otherwise.

        A well-formed Yahoo symbol outside the universe is accepted when the lake has indicators for it in
        its newest months (`report.has_indicators`: a read of the symbol's rows only, newest month first).
        """
        resolution = self.universe.resolve(text)
        if resolution.found:
            return resolution.symbol, resolution.dr or resolution.symbol
        candidate = text.strip().upper()
        try:
            layout.validate_ticker(candidate)
            if has_indicators(self.lake, candidate):
                return candidate, candidate
        except InvalidArgumentValue:
            pass
        raise UnknownTicker(candidate, resolution.suggestion)

    # ------------------------------------------------------------------------------------------ report

    def report(
        self,
        text: str,
        date: str | None = None,
        lang: str = "th",
        *,
        with_pdf: bool = True,
        refresh: bool = False,
        origin: str = "request",
    ) -> ReportResult:
        """The report of a ticker (DR or Yahoo symbol) on `date` (default: the latest with data) in `lang`.

        A `date` without a session (a weekend, a holiday, a day not processed yet) is answered with the
        last session before it; the result's `date` is that session, `requested_date` the date asked for,
        and the text opens with a line saying so.
        `refresh` skips the cache lookup and regenerates (cache entry and PDF); `origin` is what the event
        log records (``request`` from a user, ``prewarm`` from the warm-up).
        Raises UnknownTicker, InvalidDate, ReportDataNotFound (no precomputed data for it).
        """
        if lang not in LANGS:
            raise InvalidArgumentValue(f"language {lang!r} is not valid: expected one of {', '.join(LANGS)}")
        symbol, display = self.resolve(text)
        requested = layout.validate_date(date) if date else None
        date = (
            session_on_or_before(self.lake, symbol, requested)
            if requested
            else latest_date(self.lake, symbol)
        )
        if requested and requested != date:
            log.info(
                "report session moved", extra={"ticker": symbol, "requested": requested, "session": date}
            )

        started = dt.datetime.now(dt.UTC)
        lookup = Lookup(None, "miss", reason="refresh") if refresh else self.cache.get(symbol, date)
        entry = lookup.entry
        generate_ms = ttl_hours = None
        if entry is None:
            generating = time.perf_counter()
            try:
                entry = self.generate(symbol, date, display)
            except Exception as exc:
                self._record(started, symbol, date, lang, lookup, None, None, origin, type(exc).__name__)
                raise
            generate_ms = (time.perf_counter() - generating) * 1000.0
            ttl = self.cache.ttl_for(symbol)
            ttl_hours = ttl.total_seconds() / 3600.0
            self.cache.put(symbol, date, entry, ttl=ttl)
        self._record(started, symbol, date, lang, lookup, generate_ms, ttl_hours, origin, None)
        document = entry.document
        text = document.text(lang)
        if requested and requested != date:
            text = SESSION_NOTES[lang].format(requested=requested, session=date) + "\n\n" + text
        result = ReportResult(
            symbol=symbol,
            display=document.display,
            date=date,
            lang=lang,
            text=text,
            cache=lookup.tier,
            document=document,
            chart_b64=entry.chart_b64,
            requested_date=requested,
        )
        if with_pdf and self.pdf_store is not None:
            result.pdf_key, result.pdf_url = self.ensure_pdf(symbol, date, entry, lang, replace=refresh)
        return result

    def _record(
        self,
        ts: dt.datetime,
        symbol: str,
        date: str,
        lang: str,
        lookup: Lookup,
        generate_ms: float | None,
        ttl_hours: float | None,
        origin: str,
        error: str | None,
    ) -> None:
        if self.events is None:
            return
        try:
            self.events.record(
                CacheEvent(
                    ts=ts,
                    ticker=symbol,
                    date=date,
                    lang=lang,
                    tier=lookup.tier,
                    lookup_ms=lookup.latency_ms,
                    generate_ms=generate_ms,
                    ttl_hours=ttl_hours,
                    reason=lookup.reason,
                    backend=self.cache.backend,
                    origin=origin,
                    error=error,
                )
            )
        except Exception:  # bookkeeping must never fail an answer
            log.exception("cache event not recorded", extra={"ticker": symbol, "date": date})

    def generate(self, symbol: str, date: str, display: str) -> CacheEntry:
        """Build the report of (symbol, date) from the lake: both languages and the chart."""
        data = load_report_data(self.lake, symbol, date, display=display)
        document = build_document(data, client=self.llm_client)
        try:
            chart_b64 = to_base64(render_chart(data.history, f"{data.display} ({symbol})"))
        except ChartDataMissing as exc:
            log.warning("report chart skipped: %s", exc)
            chart_b64 = None
        log.info(
            "report generated",
            extra={"ticker": symbol, "date": date, "narrative": document.narrative("th").source},
        )
        return CacheEntry(document, chart_b64)

    # ------------------------------------------------------------------------------------------ PDF

    def ensure_pdf(
        self, symbol: str, date: str, entry: CacheEntry, lang: str, *, replace: bool = False
    ) -> tuple[str, str | None]:
        """(key, presigned URL) of ``reports/<T>/<D>/<lang>.pdf`` (the report in `lang` only), generating
        and uploading it only if absent (or always, with `replace`: a regenerated report gets a matching PDF).

        Never raises for a store problem: the URL is None and a warning is logged (the text still goes out).
        """
        from report_app.pdf import render_pdf  # reportlab is only loaded when a PDF is needed

        key = layout.report_pdf_key(symbol, date, lang)
        assert self.pdf_store is not None
        try:
            try:
                if replace:
                    raise ObjectNotFound(key)
                self.pdf_store.head(key)
                log.info("pdf hit", extra={"key": key})
            except ObjectNotFound:
                pdf = render_pdf(entry.document, entry.chart_png, langs=(lang,))
                self.pdf_store.put(
                    key,
                    pdf,
                    metadata={"generated-at": entry.document.generated_at},
                    content_type="application/pdf",
                )
                log.info("pdf write", extra={"key": key, "bytes": len(pdf)})
            return key, self.pdf_store.presigned_url(key, self.url_expiration_seconds)
        except Exception as exc:  # the PDF is a bonus: the text answer must still go out
            log.warning("pdf unavailable", extra={"key": key, "error": f"{type(exc).__name__}: {exc}"})
            return key, None

    def pdf_bytes(self, result: ReportResult) -> bytes:
        """The PDF of a result (in its language): the stored one when there is one, else rendered now."""
        from report_app.pdf import render_pdf

        if self.pdf_store is not None and result.pdf_key:
            try:
                return self.pdf_store.get(result.pdf_key).data
            except Exception as exc:
                log.warning(
                    "pdf read failed: rendering it",
                    extra={"key": result.pdf_key, "error": f"{type(exc).__name__}: {exc}"},
                )
        chart = CacheEntry(result.document, result.chart_b64).chart_png
        return render_pdf(result.document, chart, langs=(result.lang,))
