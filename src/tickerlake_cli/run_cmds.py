"""`tickerlake run` (the asset graph in-process, with progress and a summary) and `tickerlake ui`."""

import datetime as dt
import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import Column, FormatOption, OutputFormat, flatten, print_json, render

#: Seconds a stopped run may take to unwind before the process ends regardless.
STOP_GRACE_SECONDS = 10.0

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake", envvar="TICKERLAKE_LAKE_URI", help="Lake URI (default: TICKERLAKE_LAKE_URI or ./lake)."
    ),
]


def _stop_on_signals(grace: float | None = None) -> None:
    """SIGTERM or Ctrl-C stops the run: the interrupt unwinds the step at once (Dagster maps SIGTERM to
    its interrupt handling while a run executes), and should anything delay it, the process ends anyway
    `grace` seconds after the signal. The run is one process, so nothing lives on; a month object is written
    whole or not at all, so an interrupted run leaves no half-written object.

    Dagster replaces the Python signal handlers during a run, so the deadline is armed from the signal
    wake-up file descriptor, which sees every handled signal whoever's handler runs."""
    import socket
    import threading
    import time

    grace = STOP_GRACE_SECONDS if grace is None else grace

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        while True:
            data = reader.recv(16)
            for signum in data:
                if signum in (signal.SIGTERM, signal.SIGINT):
                    time.sleep(grace)
                    os._exit(128 + signum)

    threading.Thread(target=watch, name="tickerlake-stop", daemon=True).start()
    _stop_on_signals.sockets = (reader, writer)  # type: ignore[attr-defined]  # kept open for the process


def _resolve_tickers(text: str | None) -> list[str] | None:
    """The Yahoo symbols named by --tickers (DR symbols resolved); None when the option was not given.

    An empty value is an error, never "everything"."""
    from pipelines.sources import load_universe

    if text is None:
        return None
    items = [part.strip() for part in text.split(",")]
    if not text.strip() or all(not item for item in items):
        raise ValueError(
            f"--tickers {text!r} is not valid: expected comma-separated symbols (e.g. NVDA,D05.SI)"
        )
    universe = load_universe()
    symbols = []
    for item in items:
        if not item:
            raise ValueError(f"--tickers {text!r} is not valid: an empty ticker between commas")
        resolution = universe.resolve(item)
        if resolution.symbol is None or not resolution.exact:
            hint = f" (did you mean {resolution.suggestion}?)" if resolution.suggestion else ""
            raise ValueError(f"ticker {item!r} is not in the universe{hint}")
        symbols.append(resolution.symbol)
    return list(dict.fromkeys(symbols))


def _check_source(name: str | None, uri: str) -> str:
    """The source to run with: the deployment's (sample on a local lake, yahoo on S3) unless given; it is
    opened now, so a bad name or a missing folder is one line before any run starts."""
    from pipelines.sources import get_source

    if name is None:
        name = "yahoo" if uri.startswith("s3://") else "sample"
    if not name.strip():
        raise ValueError("--source '' is not valid: expected sample, yahoo or dir:PATH")
    get_source(name)
    return name


def _check_lake(uri: str) -> None:
    """A local lake path that is a file (or under one) is refused, naming it."""
    if uri.startswith("s3://"):
        return
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    path = Path(unquote(urlsplit(uri).path) if uri.startswith("file:") else uri).expanduser()
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ValueError(f"lake {uri!r} is not valid: {str(candidate)!r} is a file, not a folder")
            return


def _summary_rows(summary) -> list[tuple[str, str]]:
    rows = [
        ("run", summary.run_id or "-"),
        ("tickers × months", f"{summary.tickers} × {summary.months} ({summary.start} … {summary.end})"),
    ]
    for name in ("prices", "indicators", "percentiles", "features"):
        rows.append((f"rows written: {name}", f"{summary.rows.get(name, 0):,}"))
    rows.append(("raw fetches stored", str(summary.objects.get("raw_prices", 0))))
    rows.append(("month versions written", str(len(summary.versions))))
    rows.append(("quarantined (ticker, date)", str(len(summary.quarantined))))
    rows.append(("tickers skipped / failed", f"{len(summary.skipped)} / {len(summary.failed)}"))
    rows.append(("checks failed / warned", f"{len(summary.checks_failed)} / {len(summary.checks_warned)}"))
    rows.append(("Dagster events recorded", str(summary.events)))
    rows.append(("reports pre-warmed", str(summary.reports)))
    rows.append(("elapsed", f"{summary.elapsed_s:.1f} s"))
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        lake: LakeOption = None,
        tickers: Annotated[
            str | None, typer.Option(help="Comma-separated DR or Yahoo symbols (default: the universe).")
        ] = None,
        universe: Annotated[
            str | None,
            typer.Option(
                help="A universe CSV (yahoo_symbol column at least; default: TICKERLAKE_UNIVERSE or the bundled one)."
            ),
        ] = None,
        start: Annotated[
            str | None, typer.Option(help="First date, YYYY-MM-DD (default: a year before --end).")
        ] = None,
        end: Annotated[str | None, typer.Option(help="Last date, YYYY-MM-DD (default: today, UTC).")] = None,
        source: Annotated[
            str | None,
            typer.Option(
                help="sample (offline), yahoo, or dir:PATH (default: sample on a local lake, yahoo on S3)."
            ),
        ] = None,
        record: Annotated[
            bool,
            typer.Option("--record/--no-record", help="Keep the run in DAGSTER_HOME (for `tickerlake ui`)."),
        ] = True,
        reports: Annotated[
            bool, typer.Option("--reports/--no-reports", help="Pre-warm the report cache.")
        ] = True,
        output: FormatOption = OutputFormat.table,
        verbose: Annotated[
            bool, typer.Option("--verbose", help="Log every quarantine and alert as it happens.")
        ] = False,
    ) -> None:
        """Materialize raw → prices → indicators → percentiles → features (and reports) through Dagster.

        One run over the months of the range, recorded in DAGSTER_HOME. The progress and the lists of
        quarantines, failed checks and failures go to stderr; stdout holds the summary: a table, csv
        (field,value rows) or one json object."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        with user_errors():
            if universe is not None:
                from pipelines.sources import load_universe

                if not universe.strip():
                    raise ValueError("--universe '' is not valid: expected the path of a universe CSV")
                load_universe(universe)  # a bad file is one line now, naming the line
                os.environ["TICKERLAKE_UNIVERSE"] = str(universe)
            from lake import layout
            from lake.config import Settings

            end_date = layout.validate_date(end) if end else dt.datetime.now(dt.UTC).date().isoformat()
            start_date = (
                layout.validate_date(start)
                if start
                else (dt.date.fromisoformat(end_date) - dt.timedelta(days=365)).isoformat()
            )
            symbols = _resolve_tickers(tickers)
            uri = lake or Settings.from_env().lake_uri
            _check_lake(uri)
            source_name = _check_source(source, uri)
            from dagster_project.runner import check_range

            check_range(start_date, end_date)
            months = layout.months_between(start_date, end_date)
            import dagster as dg

            from dagster_project.definitions import build_defs
            from dagster_project.runner import run_lake
            from lake import Lake

            Lake.open(uri).init()
            defs = build_defs(lake_uri=uri, source=source_name)
            instance = None if record else dg.DagsterInstance.ephemeral()

            _stop_on_signals()
            import logging

            if verbose:
                logging.getLogger("tickerlake").setLevel(logging.INFO)
            elif logging.getLogger("tickerlake").level == logging.WARNING:
                # the default level: the summary lists quarantines and checks, one line each is noise here
                logging.getLogger("tickerlake").setLevel(logging.ERROR)
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
                disable=output is not OutputFormat.table,
            ) as progress:
                task = progress.add_task("month objects", total=len(months) * 4)
                written = {"rows": 0}

                def advance(dataset: str, write) -> None:
                    written["rows"] += write.rows_written
                    progress.update(
                        task,
                        advance=1,
                        description=f"{dataset} {write.month}: {write.tickers} tickers, {written['rows']:,} rows",
                    )

                try:
                    summary = run_lake(
                        defs,
                        symbols,
                        start_date,
                        end_date,
                        instance=instance,
                        with_reports=reports,
                        on_write=advance,
                    )
                except KeyboardInterrupt:
                    console.print(
                        "[red]stopped[/red]: the run was interrupted; months written so far are kept"
                    )
                    raise typer.Exit(130) from None
        if output is OutputFormat.json:
            print_json(summary.to_dict())
        elif output is OutputFormat.csv:
            render(flatten(summary.to_dict()), output, ("field", "value"))
        else:
            render(
                ({"what": name, "value": value} for name, value in _summary_rows(summary)),
                output,
                (Column("what"), Column("value", justify="right")),
                title="tickerlake run",
            )
        for key, reason in sorted(summary.quarantined.items())[:20]:
            console.print(f"quarantined: {key}: {reason}")
        for name in summary.checks_failed:
            console.print(f"[red]check failed[/red]: {name}")
        for name in summary.checks_warned:
            console.print(f"[yellow]check warned[/yellow]: {name}")
        for key, reason in sorted(summary.failed.items()):
            console.print(f"[red]failed[/red]: {key}: {reason}")
        if summary.error:
            console.print(f"[red]run failed[/red]: {summary.error}")
        if not summary.ok:
            raise typer.Exit(1)

    @app.command()
    def ui(
        lake: LakeOption = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port of the Dagster webserver.")] = 3000,
    ) -> None:
        """The Dagster UI over the project's definitions, and the daemon that runs the schedule and the
        sensor: `dagster dev` against DAGSTER_HOME. Stop it with Ctrl-C (or SIGTERM)."""
        import ctypes
        import time

        from dagster_project.runner import dagster_home

        grace = 75.0  # `dagster dev` waits up to 60 s for each of its services before killing it
        env = dict(os.environ)
        if lake:
            env["TICKERLAKE_LAKE_URI"] = lake
        env["DAGSTER_HOME"] = str(dagster_home())
        command = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-m",
            "dagster_project.definitions",
            "-h",
            host,
            "-p",
            str(port),
        ]
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # Linux: PR_SET_PDEATHSIG below
        except (OSError, AttributeError):
            prctl = None

        def child_setup() -> None:
            # `dagster dev` started from a background shell inherits an ignored SIGINT, and maps SIGTERM to
            # its SIGINT handling, so it would ignore both: restore them. Should this process die without
            # stopping it (kill -9), the kernel sends it SIGINT.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if prctl is not None:
                prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG

        # Its own process group (the webserver, the daemon, the code server and the runs it launches join
        # it): a stop signal reaches every one of them exactly once, as Ctrl-C does to `dagster dev` in a
        # terminal, whether it came from the terminal or from `kill`.
        process = subprocess.Popen(command, env=env, preexec_fn=child_setup, process_group=0)
        stopping: list[float] = []

        def signal_group(signum: int) -> None:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                pass

        def stop(_signum: int, _frame: object) -> None:
            if not stopping:
                stopping.append(time.monotonic())
                signal_group(signal.SIGINT)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while True:
            try:
                code = process.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] > grace:
                    signal_group(signal.SIGKILL)
        # Nothing of the group outlives the command (a service `dagster dev` failed to stop).
        for _ in range(50):
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            signal_group(signal.SIGKILL)
        if stopping:
            return
        if code not in (0, -signal.SIGINT, 130):
            raise fail(f"dagster dev (the Dagster UI and daemon) exited with code {code}", code=1)
