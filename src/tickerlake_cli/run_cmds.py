"""`tickerlake run` (the asset graph in-process, with progress and a summary) and `tickerlake ui`."""

import datetime as dt
import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors

LakeOption = Annotated[
    str | None, typer.Option("--lake", help="Lake URI (default: TICKERLAKE_LAKE_URI or ./lake).")
]


def _resolve_tickers(text: str | None) -> list[str]:
    from dagster_project.partitions import universe_tickers
    from pipelines.sources import load_universe

    if not text:
        return universe_tickers()
    universe = load_universe()
    symbols = []
    for item in [part.strip() for part in text.split(",")]:
        if not item:
            raise ValueError(f"--tickers {text!r} is not valid: an empty ticker between commas")
        resolution = universe.resolve(item)
        if resolution.symbol is None or not resolution.exact:
            hint = f" (did you mean {resolution.suggestion}?)" if resolution.suggestion else ""
            raise ValueError(f"ticker {item!r} is not in the universe{hint}")
        symbols.append(resolution.symbol)
    return list(dict.fromkeys(symbols))


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        lake: LakeOption = None,
        tickers: Annotated[
            str | None, typer.Option(help="Comma-separated DR or Yahoo symbols (default: the universe).")
        ] = None,
        start: Annotated[
            str | None, typer.Option(help="First date, YYYY-MM-DD (default: a year before --end).")
        ] = None,
        end: Annotated[str | None, typer.Option(help="Last date, YYYY-MM-DD (default: today, UTC).")] = None,
        source: Annotated[str, typer.Option(help="sample (offline), yahoo, or dir:PATH.")] = "sample",
        chunk: Annotated[int, typer.Option(help="Tickers per Dagster run.", min=1)] = 4,
        workers: Annotated[int, typer.Option(help="Processes running chunks in parallel.", min=1)] = 2,
        record: Annotated[
            bool,
            typer.Option("--record/--no-record", help="Keep the Dagster run history (for `tickerlake ui`)."),
        ] = True,
        reports: Annotated[
            bool, typer.Option("--reports/--no-reports", help="Pre-warm the report cache.")
        ] = True,
    ) -> None:
        """Materialize raw → prices → indicators → percentiles → features (and reports) through Dagster."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        console = Console(stderr=True)
        with user_errors():
            from lake import layout
            from lake.config import Settings

            end_date = layout.validate_date(end) if end else dt.datetime.now(dt.UTC).date().isoformat()
            start_date = (
                layout.validate_date(start)
                if start
                else (dt.date.fromisoformat(end_date) - dt.timedelta(days=365)).isoformat()
            )
            symbols = _resolve_tickers(tickers)
            from dagster_project.definitions import build_defs
            from dagster_project.runner import date_keys, run_lake

            dates = date_keys(start_date, end_date)
            uri = lake or Settings.from_env().lake_uri
            defs = build_defs(lake_uri=uri, source=source)
            from lake import Lake

            Lake.open(uri).init()
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task("partitions", total=len(symbols) * len(dates))

                def advance(chunk: list[str], count: int) -> None:
                    progress.update(task, advance=count, description=f"done {chunk[-1]}")

                summary = run_lake(
                    defs,
                    symbols,
                    dates[0],
                    dates[-1],
                    chunk_size=chunk,
                    workers=workers,
                    on_chunk=advance,
                    with_reports=reports,
                    lake_uri=uri,
                    source=source,
                    record=record,
                )
        table = Table(
            title=f"tickerlake run: {len(symbols)} tickers × {len(dates)} weekdays ({dates[0]} … {dates[-1]})"
        )
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("partitions requested", str(summary.partitions))
        table.add_row("partitions done (features written)", str(summary.done))
        table.add_row("no session (holiday or missing bar)", str(summary.skipped))
        table.add_row("quarantined", str(len(summary.quarantined)))
        table.add_row("failed", str(summary.failed_partitions))
        table.add_row("objects written", str(summary.objects_written))
        table.add_row("reports pre-warmed", str(summary.reports))
        table.add_row(
            "checks failed / warned", f"{len(summary.checks_failed)} / {len(summary.checks_warned)}"
        )
        table.add_row("elapsed", f"{summary.elapsed_s:.1f} s")
        Console().print(table)
        for ticker, date in sorted(summary.quarantined)[:20]:
            console.print(
                f"quarantined: {ticker} {date} (see `tickerlake lineage` and quarantine/ in the lake)"
            )
        for line in summary.failed:
            console.print(f"[red]failed[/red]: {line}")
        if not summary.ok:
            raise typer.Exit(1)

    @app.command()
    def ui(
        lake: LakeOption = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port of the Dagster webserver.")] = 3000,
    ) -> None:
        """The Dagster UI (webserver) over the project's definitions; stop it with Ctrl-C."""
        from dagster_project.runner import dagster_home

        env = dict(os.environ)
        if lake:
            env["TICKERLAKE_LAKE_URI"] = lake
        env["DAGSTER_HOME"] = str(dagster_home())
        command = [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-m",
            "dagster_project.definitions",
            "-h",
            host,
            "-p",
            str(port),
        ]
        # dagster's webserver started from a background shell ignores SIGTERM: restore SIGINT handling so
        # `kill -INT` (and Ctrl-C) stops it, and forward our own signals to it.
        process = subprocess.Popen(
            command, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
        )

        def forward(signum: int, _frame: object) -> None:
            process.send_signal(signal.SIGINT)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        code = process.wait()
        if code not in (0, -signal.SIGINT, 130):
            raise fail(f"the Dagster webserver exited with code {code}", code=1)
