"""`tickerlake cache …`: the report cache's operations — metrics, dashboard, adaptive TTL, pre-warm."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from tickerlake_cli._errors import fail, user_errors

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
FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]
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


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise fail(f"--format {fmt!r} is not valid: expected table or json")
    return fmt


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@cache_app.command("stats")
def stats(
    lake: LakeOption = None,
    days: Annotated[int, typer.Option("--days", help="UTC days to cover, ending today.")] = 7,
    fmt: FormatOption = "table",
    top: Annotated[int, typer.Option("--top", help="Tickers to list (busiest first).")] = 20,
    include_prewarm: Annotated[
        bool, typer.Option("--include-prewarm", help="Count the pre-warm's lookups too.")
    ] = False,
    today: TodayOption = None,
) -> None:
    """Hit ratio by tier, by day and by ticker, and latency p50/p95 per tier, from the cache event log.

    JSON: one object {start, end, requests, hits, hit_ratio, errors, by_tier[], by_day[], by_day_tier[],
    by_ticker[]} (ratios 0..1, latencies in ms, null where there is nothing to measure).
    """
    _check_format(fmt)
    if top < 1:
        raise fail(f"--top must be at least 1, got {top}")
    with user_errors():
        from report_app.cache_stats import load_cache_stats

        result = load_cache_stats(
            _store(lake), days=days, today=today, include_prewarm=include_prewarm, top=top
        )
    if fmt == "json":
        _print_json(result.to_dict())
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    scope = "all lookups" if include_prewarm else "user lookups"
    console.print(
        f"[bold]report cache[/bold] {result.start} → {result.end} (UTC), {scope}: {result.requests} lookups, "
        f"hit ratio {_pct(result.hit_ratio)}, {result.errors} generation error(s)"
    )
    if not result.requests:
        console.print(
            "no cache events in this window (is CACHE_EVENTS on, and has the bot answered anything?)"
        )
        return
    tiers = Table(title="by tier (latency = lookup + generation, ms)")
    for column in ("tier", "lookups", "share", "p50", "p95", "lookup p95", "generate p95"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for row in result.by_tier:
        tiers.add_row(
            row["tier"],
            str(row["requests"]),
            _pct(row["share"]),
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            _ms(row["lookup_p95_ms"]),
            _ms(row["generate_p95_ms"]),
        )
    console.print(tiers)
    by_day = Table(title="by day")
    for column in ("day", "lookups", "l1", "l2", "miss", "hit ratio", "p95 ms"):
        by_day.add_column(column, justify="left" if column == "day" else "right")
    for row in result.by_day:
        by_day.add_row(
            row["day"], str(row["requests"]), str(row["l1"]), str(row["l2"]), str(row["miss"]),
            _pct(row["hit_ratio"]), _ms(row["p95_ms"]),
        )  # fmt: skip
    console.print(by_day)
    tickers = Table(title=f"by ticker (top {top})")
    for column in ("ticker", "lookups", "l1", "l2", "miss", "hit ratio", "p95 ms"):
        tickers.add_column(column, justify="left" if column == "ticker" else "right")
    for row in result.by_ticker:
        tickers.add_row(
            row["ticker"], str(row["requests"]), str(row["l1"]), str(row["l2"]), str(row["miss"]),
            _pct(row["hit_ratio"]), _ms(row["p95_ms"]),
        )  # fmt: skip
    console.print(tickers)


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
    fmt: FormatOption = "table",
    today: TodayOption = None,
) -> None:
    """The adaptive TTL each ticker gets from its request rate, and what the last days' traffic would have
    done with it versus the fixed CACHE_TTL_HOURS (hit ratio, mean age of cached answers)."""
    _check_format(fmt)
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
    if fmt == "json":
        _print_json(body)
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        state = "on" if config.adaptive else "off (CACHE_TTL_ADAPTIVE=1 turns it on)"
        console.print(
            f"[bold]adaptive TTL[/bold] {state}: base {config.base_hours:g} h, bounds "
            f"{config.min_hours:g}–{config.max_hours:g} h; traffic {start} → {end}"
        )
        table = Table(title="TTL by ticker (tickers not listed get the maximum)")
        for column in ("ticker", "requests/day", "TTL hours"):
            table.add_column(column, justify="left" if column == "ticker" else "right")
        for row in rows:
            table.add_row(row["ticker"], f"{row['requests_per_day']:g}", f"{row['ttl_hours']:g}")
        console.print(table)
        what_if = Table(title="the same traffic replayed (one shared cache)")
        for column in ("policy", "lookups", "hit ratio", "mean age of cached answers (h)"):
            what_if.add_column(column, justify="left" if column == "policy" else "right")
        for name, result in (("fixed", fixed), ("adaptive", adaptive)):
            what_if.add_row(
                name, str(result.requests), _pct(result.hit_ratio), f"{result.mean_age_hours:.2f}"
            )
        console.print(what_if)
    if publish:
        print("published ops/cache_activity/latest.json", file=sys.stderr)


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
    fmt: FormatOption = "table",
) -> None:
    """Generate and cache the reports (and PDFs) of the popular tickers; exit 1 if any failed."""
    _check_format(fmt)
    with user_errors():
        from dataclasses import replace

        from lake.api import Lake
        from lake.config import Settings
        from report_app.prewarm import popular_tickers, prewarm_reports
        from report_app.service import ReportService

        settings = Settings.from_env()
        if lake:
            settings = replace(settings, lake_uri=lake)
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
    if fmt == "json":
        _print_json(results)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"pre-warm: {len(results)} ticker(s)")
        for column in ("ticker", "date", "status", "seconds", "detail"):
            table.add_column(column, justify="right" if column == "seconds" else "left")
        for row in results:
            detail = row.get("error") or row.get("pdf_error") or row.get("pdf_key") or ""
            table.add_row(
                str(row.get("display") or row["ticker"]), str(row.get("date") or "–"), row["status"],
                f"{row['seconds']:.2f}", detail,
            )  # fmt: skip
        Console().print(table)
    if any(row["status"] == "error" for row in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `cache` group to the `tickerlake` app."""
    app.add_typer(cache_app, name="cache")
