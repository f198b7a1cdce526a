"""`tickerlake cache …`: the report cache's operations — metrics, dashboard, adaptive TTL, pre-warm."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import Column, FormatOption, OutputFormat, note, print_json, render

cache_app = typer.Typer(
    name="cache",
    help="Report cache operations: stats, dashboard, adaptive TTL, pre-warm.",
    no_args_is_help=True,
)

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        envvar="TICKERLAKE_LAKE_URI",
        help="Lake URI: s3://bucket/prefix, file:///path or a path (default: TICKERLAKE_LAKE_URI, else ./lake).",
        show_default=False,
    ),
]
TodayOption = Annotated[
    str | None,
    typer.Option(
        "--today", help="Last UTC day of the window, YYYY-MM-DD (default: today).", show_default=False
    ),
]


def _store(uri: str | None):
    from lake.config import Settings
    from lake.store import open_store

    return open_store(uri or Settings.from_env().lake_uri)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


class StatsTable(StrEnum):
    tier = "tier"
    day = "day"
    ticker = "ticker"


def _num(value: int | float | None) -> str:
    return "–" if value is None else str(value)


_STATS_COLUMNS = {
    StatsTable.tier: (
        "by tier (latency = lookup + generation, ms)",
        "by_tier",
        (
            Column("tier"),
            Column("requests", "lookups", _num, "right"),
            Column("share", show=_pct, justify="right"),
            Column("p50_ms", "p50", _ms, "right"),
            Column("p95_ms", "p95", _ms, "right"),
            Column("lookup_p95_ms", "lookup p95", _ms, "right"),
            Column("generate_p95_ms", "generate p95", _ms, "right"),
        ),
    ),
    StatsTable.day: (
        "by day",
        "by_day",
        (
            Column("day"),
            Column("requests", "lookups", _num, "right"),
            *(Column(tier, show=_num, justify="right") for tier in ("l1", "l2", "miss")),
            *(Column(f"{tier}_share", show=_pct, justify="right") for tier in ("l1", "l2", "miss")),
            Column("hit_ratio", "hit ratio", _pct, "right"),
            Column("p95_ms", "p95 ms", _ms, "right"),
        ),
    ),
    StatsTable.ticker: (
        "by ticker",
        "by_ticker",
        (
            Column("ticker"),
            Column("requests", "lookups", _num, "right"),
            *(Column(tier, show=_num, justify="right") for tier in ("l1", "l2", "miss")),
            Column("hit_ratio", "hit ratio", _pct, "right"),
            Column("p95_ms", "p95 ms", _ms, "right"),
        ),
    ),
}


@cache_app.command("stats")
def stats(
    lake: LakeOption = None,
    days: Annotated[int, typer.Option("--days", help="UTC days to cover, ending today.")] = 7,
    fmt: FormatOption = OutputFormat.table,
    by: Annotated[
        StatsTable | None,
        typer.Option(
            "--by",
            help="Only this table: tier, day or ticker (csv: default day; json: that table as an array).",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Tickers to list (busiest first).")] = 20,
    include_prewarm: Annotated[
        bool, typer.Option("--include-prewarm", help="Count the pre-warm's lookups too.")
    ] = False,
    today: TodayOption = None,
) -> None:
    """Hit ratio by tier, by day and by ticker, and latency p50/p95 per tier, from the cache event log.

    JSON: one object {start, end, requests, hits, hit_ratio, errors, by_tier[], by_day[], by_day_tier[],
    by_ticker[]} (ratios 0..1, latencies in ms, null where there is nothing to measure), or with --by the
    array of that table. CSV: one table (--by, default day). The headline goes to stderr.
    """
    if top < 1:
        raise fail(f"--top must be at least 1, got {top}")
    with user_errors():
        from report_app.cache_stats import load_cache_stats

        result = load_cache_stats(
            _store(lake), days=days, today=today, include_prewarm=include_prewarm, top=top
        )
    body = result.to_dict()
    if fmt is OutputFormat.json and by is None:
        print_json(body)
        return
    scope = "all lookups" if include_prewarm else "user lookups"
    note(
        f"report cache {result.start} → {result.end} (UTC), {scope}: {result.requests} lookups, "
        f"hit ratio {_pct(result.hit_ratio)}, {result.errors} generation error(s)"
    )
    if fmt is OutputFormat.json:
        print_json(body[_STATS_COLUMNS[by][1]])
        return
    if fmt is OutputFormat.csv:
        by = by or StatsTable.day
    elif not result.requests:
        note("no cache events in this window (is CACHE_EVENTS on, and has the bot answered anything?)")
        return
    for table in [by] if by else list(StatsTable):
        title, field, columns = _STATS_COLUMNS[table]
        if table is StatsTable.ticker:
            title = f"by ticker (top {top})"
        render(body[field], fmt, columns, title=title)


@cache_app.command("dashboard")
def dashboard(
    lake: LakeOption = None,
    days: Annotated[int, typer.Option("--days", help="UTC days to cover, ending today.")] = 14,
    out: Annotated[
        str | None, typer.Option("--out", help="Also write the page to this file.", show_default=False)
    ] = None,
    to_lake: Annotated[
        bool, typer.Option("--lake-copy/--no-lake-copy", help="Write ops/dashboard/index.html in the lake.")
    ] = True,
    today: TodayOption = None,
) -> None:
    """Build the cache dashboard (static HTML, inline SVG charts) from the event log and write it to the
    lake (ops/dashboard/index.html) and/or --out."""
    if not to_lake and out is None:
        raise fail("--no-lake-copy without --out writes nothing: give --out FILE")
    with user_errors():
        from report_app.dashboard import build_dashboard, publish_dashboard

        store = _store(lake)
        page = build_dashboard(store, days=days, today=today)
        try:
            written = publish_dashboard(page, store=store if to_lake else None, out=out)
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc}") from None
    for where in written:
        typer.echo(f"wrote {where}")


@cache_app.command("ttl")
def ttl(
    lake: LakeOption = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="UTC days of traffic to use (default: CACHE_TTL_WINDOW_DAYS, 7).",
            show_default=False,
        ),
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish", help="Write ops/cache_activity/latest.json (what the bot's adaptive TTL reads)."
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.table,
    today: TodayOption = None,
) -> None:
    """The adaptive TTL each ticker gets from its request rate, and what the last days' traffic would have
    done with it versus the fixed CACHE_TTL_HOURS (hit ratio, mean age of cached answers).

    JSON: one object (settings, tickers[], replay); CSV: the per-ticker rows (ticker, requests_per_day,
    ttl_hours); the table shows both, the settings line goes to stderr."""
    with user_errors():
        from dataclasses import replace

        from report_app.cache_events import read_cache_events
        from report_app.cache_stats import window
        from report_app.ttl import (
            AdaptiveTtl,
            TtlConfig,
            compute_ticker_activity,
            publish_ticker_activity,
            replay,
        )

        config = TtlConfig.from_env()
        days = days or config.window_days
        adaptive_config = replace(config, adaptive=True)  # validate the bounds even when the flag is off
        store = _store(lake)
        start, end = window(days, today)
        events = read_cache_events(store, start=start, end=end)
        activity = compute_ticker_activity(events, start=start, end=end)
        if publish:
            activity = publish_ticker_activity(store, days=days, today=today)
        policy = AdaptiveTtl(adaptive_config, activity)
        users = events[events["origin"].fillna("request") == "request"] if not events.empty else events
        requests = [(row.ts.to_pydatetime(), row.ticker, row.date) for row in users.itertuples()]
        fixed = replay(requests, lambda _t: config.base_hours)
        adaptive = replay(requests, policy)
    rows = [
        {"ticker": ticker, "requests_per_day": round(rate, 3), "ttl_hours": round(policy(ticker), 2)}
        for ticker, rate in sorted(activity.rates.items(), key=lambda item: (-item[1], item[0]))
    ]
    body = {
        "start": start,
        "end": end,
        "adaptive_enabled": config.adaptive,
        "base_hours": config.base_hours,
        "min_hours": config.min_hours,
        "max_hours": config.max_hours,
        "reference_rate": activity.reference_rate,
        "tickers": rows,
        "replay": {"fixed": fixed.to_dict(), "adaptive": adaptive.to_dict()},
    }
    if fmt is OutputFormat.json:
        print_json(body)
    else:
        state = "on" if config.adaptive else "off (CACHE_TTL_ADAPTIVE=1 turns it on)"
        note(
            f"adaptive TTL {state}: base {config.base_hours:g} h, bounds "
            f"{config.min_hours:g}–{config.max_hours:g} h; traffic {start} → {end}"
        )
        render(
            rows,
            fmt,
            (
                Column("ticker"),
                Column("requests_per_day", "requests/day", lambda v: f"{v:g}", "right"),
                Column("ttl_hours", "TTL hours", lambda v: f"{v:g}", "right"),
            ),
            title="TTL by ticker (tickers not listed get the maximum)",
        )
        if fmt is OutputFormat.table:
            render(
                [
                    {"policy": name, **result.to_dict()}
                    for name, result in (("fixed", fixed), ("adaptive", adaptive))
                ],
                fmt,
                (
                    Column("policy"),
                    Column("requests", "lookups", _num, "right"),
                    Column("hit_ratio", "hit ratio", _pct, "right"),
                    Column("mean_age_hours", "mean age of cached answers (h)", lambda v: f"{v:.2f}", "right"),
                ),
                title="the same traffic replayed (one shared cache)",
            )
    if publish:
        note("published ops/cache_activity/latest.json")


_PREWARM_COLUMNS = tuple(
    Column(key)
    for key in (
        "ticker",
        "display",
        "date",
        "status",
        "cache",
        "seconds",
        "langs",
        "pdf_key",
        "pdf_keys",
        "error",
        "pdf_error",
    )  # fmt: skip
)
_PREWARM_TABLE = (
    Column("display", "ticker"),
    Column("date", show=lambda v: v or "–"),
    Column("status"),
    Column("seconds", show=lambda v: f"{v:.2f}", justify="right"),
    Column("detail"),
)


@cache_app.command("prewarm")
def prewarm(
    lake: LakeOption = None,
    tickers: Annotated[
        str | None,
        typer.Option(
            "--tickers",
            help="Comma-separated DR or Yahoo symbols (default: the most requested).",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="How many popular tickers, without --tickers.")] = 10,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Trading date (default: each ticker's latest).", show_default=False),
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Regenerate even when cached.")] = False,
    with_pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also store the PDFs.")] = True,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Generate and cache the reports (and PDFs) of the popular tickers; exit 1 if any failed.

    One row per ticker: ticker, display, date, status, cache, seconds, langs, pdf_key(s), error, pdf_error."""
    with user_errors():
        from lake.api import Lake
        from report_app.prewarm import popular_tickers, prewarm_reports
        from report_app.service import ReportService
        from report_app.settings import ReportSettings

        settings = ReportSettings.from_env(lake_uri=lake)
        opened = Lake.open(settings.lake_uri)
        service = ReportService.from_settings(settings, lake=opened)
        try:
            wanted = (
                [t.strip() for t in tickers.split(",") if t.strip()]
                if tickers
                else popular_tickers(opened, top)
            )
            if not wanted:
                raise fail("--tickers names no ticker")
            results = prewarm_reports(service, wanted, date, with_pdf=with_pdf, refresh=refresh)
        finally:
            service.close()
    if fmt is OutputFormat.json:
        print_json(results)
    else:
        shown = results
        if fmt is OutputFormat.table:
            shown = [
                {
                    **row,
                    "display": row.get("display") or row["ticker"],
                    "detail": row.get("error") or row.get("pdf_error") or row.get("pdf_key") or "",
                }
                for row in results
            ]
        render(
            shown,
            fmt,
            _PREWARM_COLUMNS if fmt is OutputFormat.csv else _PREWARM_TABLE,
            title=f"pre-warm: {len(results)} ticker(s)",
        )
    if any(row["status"] == "error" for row in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `cache` group to the `tickerlake` app."""
    app.add_typer(cache_app, name="cache")
