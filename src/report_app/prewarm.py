"""Pre-warm the report cache: generate and cache the reports (and PDFs) users are about to ask for.

Run after the daily pipeline (the Dagster ``reports`` asset), so the first user of the day hits L2 instead
of waiting for a generation (seconds; more with the LLM narrative):

    popular_tickers(lake, n)  ── event log (user requests, last 7 days), then PREWARM_TICKERS, then the
                                 universe order ──>  prewarm_reports(lake, tickers, date)  ──>  one result
                                 dict per ticker; the cache event log and the adaptive-TTL activity refreshed

The lookups it makes are recorded with ``origin = prewarm``, so they neither count as user traffic for
popularity and the adaptive TTL nor lower the hit ratio `tickerlake cache stats` shows.

Examples
--------
>>> from report_app.prewarm import popular_tickers, prewarm_reports
>>> tickers = popular_tickers(lake, 10)                            # doctest: +SKIP
>>> prewarm_reports(lake, tickers, "2025-11-11")[0]                # doctest: +SKIP
{'ticker': 'D05.SI', 'display': 'DBS19', 'date': '2025-11-11', 'status': 'generated', 'cache': 'miss', ...}
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from report_app.narrative import LANGS
from report_app.settings import ReportSettings

log = logging.getLogger(f"tickerlake.{__name__}")

__all__ = ["popular_tickers", "prewarm_reports", "configured_tickers"]


def configured_tickers(universe: Any | None = None) -> list[str]:
    """PREWARM_TICKERS (comma-separated DR or Yahoo symbols) as Yahoo symbols; ValueError naming an
    unknown one."""
    names = ReportSettings.from_env().prewarm_ticker_names
    if not names:
        return []
    universe = universe or _universe()
    symbols = []
    for name in names:
        resolution = universe.resolve(name)
        if not resolution.found:
            hint = f" (did you mean {resolution.suggestion}?)" if resolution.suggestion else ""
            raise ValueError(f"PREWARM_TICKERS names {name!r}, which is not in the universe{hint}")
        symbols.append(resolution.symbol)
    return symbols


def _universe() -> Any:
    from pipelines.sources.universe import load_universe

    return load_universe()


def _store_of(lake: Any) -> Any:
    if hasattr(lake, "store"):
        return lake.store
    if isinstance(lake, str):
        from lake.store import open_store

        return open_store(lake)
    return lake


def popular_tickers(
    lake: Any,
    n: int = 10,
    *,
    days: int = 7,
    today: str | None = None,
    universe: Any | None = None,
) -> list[str]:
    """The `n` tickers (Yahoo symbols) most requested by users over the last `days` UTC days of the cache
    event log, ties by symbol; topped up from PREWARM_TICKERS, then the universe in its file order.

    `lake`: a `Lake`, an ObjectStore or a lake URI. An unreadable event log is logged and treated as empty.
    """
    if n < 1:
        raise ValueError(f"the number of tickers to pre-warm must be at least 1, got {n}")
    from report_app.cache_events import read_cache_events
    from report_app.cache_stats import window

    chosen: list[str] = []
    start, end = window(days, today)
    try:
        events = read_cache_events(_store_of(lake), start=start, end=end)
    except Exception as exc:
        log.warning(
            "prewarm: cache event log unreadable (%s: %s); using the configured tickers",
            type(exc).__name__,
            exc,
        )
        events = None
    if events is not None and not events.empty:
        users = events[events["origin"].fillna("request") == "request"]
        counts = users.groupby("ticker").size().reset_index(name="requests")
        counts = counts.sort_values(["requests", "ticker"], ascending=[False, True])
        chosen.extend(str(t) for t in counts["ticker"])
    if len(chosen) < n:
        universe = universe or _universe()
        chosen.extend(configured_tickers(universe))
        chosen.extend(listing.yahoo_symbol for listing in universe)
    unique = list(dict.fromkeys(chosen))
    return unique[:n]


def _service_for(target: Any) -> tuple[Any, bool]:
    """(service, whether we built it and must close it) for a service, a Lake or a lake URI."""
    if hasattr(target, "report") and hasattr(target, "cache"):
        return target, False
    from report_app.service import ReportService

    settings = ReportSettings.from_env()
    if isinstance(target, str):
        return ReportService.from_settings(settings.replace(lake_uri=target)), True
    if hasattr(target, "store"):
        return ReportService.from_settings(settings, lake=target), True
    raise TypeError(
        f"prewarm_reports needs a lake URI, a Lake or a ReportService, got {type(target).__name__}"
    )


def prewarm_reports(
    lake_uri_or_service: Any,
    tickers: Iterable[str],
    date: str | None = None,
    *,
    langs: Sequence[str] = LANGS,
    with_pdf: bool = True,
    refresh: bool = False,
    max_workers: int = 1,
    publish_activity: bool = True,
) -> list[dict[str, Any]]:
    """Generate and cache the reports (and PDFs) of `tickers` for `date` (None: each ticker's latest date).

    A report already cached is left alone (``status: "cached"``) unless `refresh` (after reprocessing:
    the entry and the PDF are rebuilt). One ticker failing never stops the others: its result has
    ``status: "error"`` and the error. Results come in the order of `tickers`:

        {"ticker", "display", "date", "status": "generated"|"cached"|"error", "cache": "l1"|"l2"|"miss",
         "langs", "pdf_key", "pdf_keys", "seconds", "error"?}

    With `with_pdf`, the PDF of every language in `langs` is stored (``reports/<T>/<D>/<lang>.pdf``);
    `pdf_key` is the first language's, `pdf_keys` maps each language to its key.

    Afterwards the event log is flushed and, with `publish_activity`, the requests-per-ticker snapshot the
    adaptive TTL reads is refreshed (`report_app.ttl.publish_ticker_activity`).
    """
    langs = tuple(langs)
    unknown = [lang for lang in langs if lang not in LANGS]
    if not langs or unknown:
        raise ValueError(
            f"langs {list(langs)!r} is not valid: expected a non-empty subset of {', '.join(LANGS)}"
        )
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers}")
    tickers = list(tickers)
    service, owned = _service_for(lake_uri_or_service)

    def one(ticker: str) -> dict[str, Any]:
        started = time.perf_counter()
        result: dict[str, Any] = {"ticker": ticker, "date": date, "langs": list(langs)}
        try:
            answer = service.report(
                ticker, date, langs[0], with_pdf=with_pdf, refresh=refresh, origin="prewarm"
            )
            pdfs = {langs[0]: (answer.pdf_key, answer.pdf_url)}
            for lang in langs[1:]:  # one report.json holds every language: check each renders
                answer.document.text(lang)
                if with_pdf and answer.pdf_key and getattr(service, "pdf_store", None) is not None:
                    from report_app.cache import CacheEntry

                    entry = CacheEntry(answer.document, answer.chart_b64)
                    pdfs[lang] = service.ensure_pdf(answer.symbol, answer.date, entry, lang, replace=refresh)
            result.update(
                ticker=answer.symbol,
                display=answer.display,
                date=answer.date,
                status="cached" if answer.cache in ("l1", "l2") else "generated",
                cache=answer.cache,
                pdf_key=answer.pdf_key,
                pdf_keys={lang: key for lang, (key, _url) in pdfs.items() if key},
            )
            if with_pdf and any(key and url is None for key, url in pdfs.values()):
                result["pdf_error"] = "the PDF could not be stored (see the log)"
        except Exception as exc:  # one bad ticker must not stop the warm-up
            result.update(status="error", error=f"{type(exc).__name__}: {exc}")
            log.warning("prewarm failed", extra={"ticker": ticker, "date": date, "error": result["error"]})
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result

    try:
        if max_workers == 1 or len(tickers) <= 1:
            results = [one(ticker) for ticker in tickers]
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="prewarm") as pool:
                results = list(pool.map(one, tickers))
    finally:
        if hasattr(service, "flush_events"):
            service.flush_events()
        if owned:
            service.close()
    if publish_activity:
        try:
            from report_app.ttl import TtlConfig, publish_ticker_activity

            publish_ticker_activity(service.lake.store, days=TtlConfig.from_env().window_days)
        except Exception as exc:
            log.warning("prewarm: ticker activity not published (%s: %s)", type(exc).__name__, exc)
    done = {
        status: sum(r["status"] == status for r in results) for status in ("generated", "cached", "error")
    }
    log.info(
        "prewarm done",
        extra={
            "tickers": len(results),
            "generated": done["generated"],
            "cached": done["cached"],
            "errors": done["error"],
        },
    )
    return results
