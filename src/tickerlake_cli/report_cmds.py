"""`tickerlake report` and `tickerlake bot serve`: the report bot from the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import FormatOption, OutputFormat, note, print_json, render

bot_app = typer.Typer(name="bot", help="The LINE chat bot.", no_args_is_help=True)


def _settings(lake: str | None):
    from report_app.settings import ReportSettings

    return ReportSettings.from_env(lake_uri=lake)


def _check_out(out: Path) -> None:
    """--out must be a file path whose folder is (or can be) a folder: checked before any work."""
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder: expected the path of a PDF file (e.g. report.pdf)")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(f"--out {str(out)!r} is not valid: {str(blocker)!r} is a file, not a folder")


def _write_atomically(out: Path, data: bytes) -> None:
    """The PDF appears whole or not at all (temp file in the same folder, then a rename)."""
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


_REPORT_COLUMNS = ("ticker", "symbol", "date", "requested_date", "session", "cache", "text", "pdf_url")


def report(
    ticker: Annotated[str, typer.Argument(help="DR symbol (DBS19) or Yahoo symbol (D05.SI).")],
    date: Annotated[
        str | None, typer.Option("--date", help="Trading date YYYY-MM-DD (default: the latest with data).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="th or en.")] = "th",
    out: Annotated[Path | None, typer.Option("--out", help="Also write the PDF report to this file.")] = None,
    output: FormatOption = OutputFormat.table,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    lake: Annotated[
        str | None,
        typer.Option(
            "--lake", envvar="TICKERLAKE_LAKE_URI", help="Lake URI (default: TICKERLAKE_LAKE_URI or ./lake)."
        ),
    ] = None,
) -> None:
    """The bot's report from precomputed lake data, through the hybrid cache.

    table: the report's text (and the PDF link); json: one object {"ticker", "date", "session", "cache",
    "text", "pdf_url"?, "requested_date"?, "symbol"?}; csv: that object as a header and one row."""
    from pipelines.exceptions import UnknownTicker
    from report_app.service import ReportService

    if lang not in ("th", "en"):
        raise fail(f"--lang {lang!r} is not valid: expected th or en")
    with user_errors():
        if out is not None:
            _check_out(out)
        service = ReportService.from_settings(_settings(lake))
        try:
            try:
                result = service.report(ticker, date, lang)
            except UnknownTicker as exc:
                raise fail(str(exc)) from None
            if out is not None:
                _write_atomically(out, service.pdf_bytes(result))
        finally:
            service.close()  # writes the cache event of this lookup
    output = OutputFormat.json if as_json else output
    body = result.to_json()
    if output is OutputFormat.json:
        print_json(body)
    elif output is OutputFormat.csv:
        render([body], output, _REPORT_COLUMNS)
    else:
        print(result.text)
        if result.pdf_url:
            print(f"\nPDF: {result.pdf_url}")
    if out is not None:
        note(f"wrote {out}")


@bot_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    lake: Annotated[
        str | None,
        typer.Option(
            "--lake", envvar="TICKERLAKE_LAKE_URI", help="Lake URI (default: TICKERLAKE_LAKE_URI or ./lake)."
        ),
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections", min=1, help="Connections served at once; more are answered 503 at once."
        ),
    ] = 64,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout", min=0.1, help="Seconds any one read (or write) of a connection may wait."
        ),
    ] = 10.0,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            min=0.1,
            help="Seconds a request (headers and body) may take to arrive before the connection is closed.",
        ),
    ] = 30.0,
) -> None:
    """Serve the LINE webhook (POST /callback) locally."""
    from report_app.line_bot import LineWebhookApp, make_server

    settings = _settings(lake)
    try:
        app = LineWebhookApp.from_settings(settings)
    except ValueError as exc:
        raise fail(f"{exc}; the bot refuses to start without them") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with user_errors():
        try:
            server = make_server(
                app,
                host,
                port,
                max_connections=max_connections,
                read_timeout=read_timeout,
                request_timeout=request_timeout,
            )
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc}") from None
    print(
        f"LINE webhook listening on http://{host}:{server.server_address[1]}/callback "
        f"(max {max_connections} connections, read timeout {read_timeout:g}s, "
        f"request timeout {request_timeout:g}s)",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add `report` and the `bot` group to the `tickerlake` app."""
    app.command("report")(report)
    app.add_typer(bot_app, name="bot")
