"""`tickerlake quality check` and `tickerlake quality docs`: the data quality suites and their data docs."""

from __future__ import annotations

import http.server
import threading
from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import Column, FormatOption, OutputFormat, note, print_json, render

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        envvar="TICKERLAKE_LAKE_URI",
        help="Lake URI: s3://bucket/prefix, file:///path or a path (default: TICKERLAKE_LAKE_URI, else ./lake).",
        show_default=False,
    ),
]

quality_app = typer.Typer(
    name="quality",
    help="Data quality: expectation suites generated from the schemas, rules, data docs.",
    no_args_is_help=True,
)


def _lake(uri: str | None):
    """The lake to check: a local lake folder that does not exist is an error naming it."""
    from tickerlake_cli.lake_cmds import _existing_lake

    return _existing_lake(uri)


def _tickers(text: str | None) -> list[str] | None:
    if text is None:
        return None
    tickers = [part.strip() for part in text.split(",") if part.strip()]
    if not tickers:
        raise ValueError(f"--tickers {text!r} names no ticker")
    return tickers


def _rows(reports) -> list[dict]:
    return [
        {"dataset": report.dataset, **result.to_dict()} for report in reports for result in report.results
    ]


_CHECK_COLUMNS = tuple(
    Column(key) for key in ("dataset", "rule", "kind", "status", "checked", "failed", "message", "examples")
)
_CHECK_TABLE = (
    Column("rule", "check"),
    Column("kind"),
    Column("status"),
    Column("checked", justify="right"),
    Column("failed", justify="right"),
    Column("message", "message / examples"),
)


@quality_app.command("check")
def check(
    dataset: Annotated[
        str | None, typer.Argument(help="prices, indicators, percentiles or features (default: all).")
    ] = None,
    tickers: Annotated[str | None, typer.Option("--tickers", help="Comma-separated Yahoo symbols.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date, YYYY-MM-DD.")] = None,
    output: FormatOption = OutputFormat.table,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Keep the report under quality/results/ for the docs.")
    ] = True,
    alert: Annotated[
        bool, typer.Option("--alert/--no-alert", help="Raise one alert per failing incident.")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Table: list passing checks too.")] = False,
    lake: LakeOption = None,
) -> None:
    """Run the expectation suite and the quality rules; exit 1 when a check failed.

    One row per check: dataset, rule, kind, status, checked, failed, message, examples (csv: JSON text).
    The table lists the failing and warning checks (--all: every check) under each dataset's summary."""
    with user_errors():
        from lake import layout
        from pipelines.quality import alert_failures, check_dataset, save_report

        datasets = [layout.validate_dataset(dataset)] if dataset else list(layout.DATASETS)
        opened = _lake(lake)
        wanted = _tickers(tickers)
        reports = []
        for name in datasets:
            if dataset is None and not opened.months(name):
                continue
            report = check_dataset(opened, name, wanted, start, end)
            if save:
                save_report(opened, report)
            if alert:
                alert_failures(opened, report)
            reports.append(report)
        if output is OutputFormat.json:
            print_json(_rows(reports))
        elif output is OutputFormat.csv:
            render(_rows(reports), output, _CHECK_COLUMNS)
        else:
            for report in reports:
                render(
                    (
                        {
                            **result.to_dict(),
                            "status": result.status.upper(),
                            "message": "\n".join(
                                [result.message]
                                + [
                                    f"{e.ticker or '-'} {e.date or '-'}: {e.detail}"
                                    for e in result.examples[:5]
                                ]
                            ),
                        }
                        for result in report.results
                        if show_all or result.status != "pass"
                    ),
                    output,
                    _CHECK_TABLE,
                    title=report.summary(),
                )
            if not reports:
                note("no dataset has data in this lake")
        if any(not report.passed for report in reports):
            raise typer.Exit(1)


class _DocsHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``quality/docs/`` from the lake's store (local folder or S3), read-only."""

    store = None  # set on a subclass per server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        from lake import layout
        from lake.exceptions import LakeError
        from pipelines.quality_docs import content_type

        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        try:
            key = layout.quality_docs_key(name)
            body = self.store.get(key).data
        except (ValueError, LakeError, KeyError):
            self.send_error(404, "not a data docs file")
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type(name))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        pass


def serve_docs(store, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0: any free port) serving the lake's data docs; the caller
    runs ``serve_forever`` (or a thread) and ``shutdown``."""
    handler = type("DocsHandler", (_DocsHandler,), {"store": store})
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


@quality_app.command("docs")
def docs(
    lake: LakeOption = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the docs on http://127.0.0.1:PORT/.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve.")] = 8765,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Re-run the checks of every dataset before building.")
    ] = False,
) -> None:
    """Build the data docs into the lake (quality/docs/) and print where they are, or serve them."""
    with user_errors():
        from pipelines.quality_docs import build_docs

        opened = _lake(lake)
        site = build_docs(opened, refresh=refresh)
        typer.echo(site.location)
        if not serve:
            return
        if not 0 < port < 65536:
            raise fail(f"--port {port} is not valid: expected 1-65535")
        try:
            server = serve_docs(opened.store, port)
        except OSError as exc:
            raise fail(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
        typer.echo(f"serving http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()


def register(app: typer.Typer) -> None:
    """Adds the `quality` command group (`check`, `docs`) to the `tickerlake` app."""
    app.add_typer(quality_app, name="quality")
