"""`tickerlake sql` and `tickerlake catalog sync|ddl|terraform`: the analysts' side of the lake."""

import base64
import csv
import datetime as dt
import decimal
import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tickerlake_cli._errors import fail, user_errors

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Lake URI: s3://bucket/prefix, file:///path or a path (default: TICKERLAKE_LAKE_URI, else ./lake).",
        show_default=False,
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Glue database (default: TICKERLAKE_GLUE_DATABASE, else tickerlake).",
        show_default=False,
    ),
]
PLACEHOLDER_ROOT = "s3://YOUR-LAKE-BUCKET/PREFIX"
DEFAULT_TERRAFORM_FILE = Path(__file__).resolve().parents[2] / "infra" / "glue_tables.tf.json"


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _lake_uri(uri: str | None) -> str:
    from lake.config import Settings

    return uri or Settings.from_env().lake_uri


# --- output ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready value: ISO dates and times, numbers (NaN and infinities as null), lists and objects."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow gives a MAP as a list of (key, value) pairs
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    return str(value)


def _text(value: Any) -> str:
    plain = _plain(value)
    if plain is None:
        return ""
    return plain if isinstance(plain, str) else json.dumps(plain)


def _row_values(batch) -> list[list[Any]]:
    """The rows of a record batch, by position (a name may repeat in a result)."""
    columns = [c.to_pylist() for c in batch.columns]
    return [list(values) for values in zip(*columns, strict=True)]


class _Printer:
    """Writes a result batch by batch: JSON (an array, valid even when the query stops part-way), CSV, or a
    table (buffered: it needs the column widths; the row limit bounds it)."""

    def __init__(self, names: list[str], output: OutputFormat) -> None:
        self.names = names
        self.output = output
        self.started = False
        self.cells: list[list[str]] = []

    def write(self, batch) -> None:
        if self.output is OutputFormat.json:
            for values in _row_values(batch):
                row = json.dumps({k: _plain(v) for k, v in zip(self.names, values, strict=True)}, indent=2)
                body = "\n".join("  " + line for line in row.splitlines())
                sys.stdout.write(("[\n" if not self.started else ",\n") + body)
                self.started = True
        elif self.output is OutputFormat.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            self._header(writer)
            for values in _row_values(batch):
                writer.writerow([_text(v) for v in values])
        else:
            for values in _row_values(batch):
                self.cells.append([_text(v) if v is not None else "NULL" for v in values])
        sys.stdout.flush()

    def _header(self, writer) -> None:
        if not self.started:
            writer.writerow(self.names)
            self.started = True

    def finish(self, complete: bool) -> None:
        """Close the output; `complete` is False when the query stopped or failed part-way."""
        if self.output is OutputFormat.json:
            if self.started:
                sys.stdout.write("\n]\n")
            elif complete:
                sys.stdout.write("[]\n")
        elif self.output is OutputFormat.csv:
            if complete:
                self._header(csv.writer(sys.stdout, lineterminator="\n"))
        elif complete or self.cells:
            self._table(complete)
        sys.stdout.flush()

    def _table(self, complete: bool) -> None:
        from rich.console import Console
        from rich.table import Table

        names, cells = self.names, self.cells
        widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(names)]
        caption = f"{len(cells)} row(s)" + ("" if complete else ", the query stopped after them")
        shown = Table()  # the rows only on stdout: the row count goes to stderr
        for name in names:
            shown.add_column(name, no_wrap=True)
        for line in cells:
            shown.add_row(*(cell if cell != "NULL" else "[dim]NULL[/dim]" for cell in line))
        console = Console()
        # Values are never folded or cut: a pipe or a file gets a console as wide as the table.
        needed = sum(widths) + 3 * len(names) + 1
        if not console.is_terminal and needed > console.width:
            console = Console(width=needed)
        console.print(shown)
        print(caption, file=sys.stderr)


def _print_rows(table, output: OutputFormat) -> None:
    printer = _Printer(table.column_names, output)
    for batch in table.to_batches():
        printer.write(batch)
    printer.finish(complete=True)


def _stream(query, output: OutputFormat) -> None:
    """Print a running local query's batches as they come; a stop or a failure part-way closes the output."""
    printer = _Printer(query.schema.names, output)
    complete = False
    try:
        for batch in query.batches():
            printer.write(batch)
        complete = True
    finally:
        printer.finish(complete)


# --- tickerlake sql -------------------------------------------------------------------------------------


def sql(
    query: Annotated[
        str,
        typer.Argument(help="Athena (Trino) SQL: one SELECT over prices, indicators, percentiles, features."),
    ],
    lake: LakeOption = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output: a table, CSV or a JSON array.")
    ] = OutputFormat.table,
    athena: Annotated[
        bool, typer.Option("--athena", help="Run on Amazon Athena through the Glue catalog.")
    ] = False,
    show_files: Annotated[
        bool, typer.Option("--show-files", help="List the month objects read (on stderr).")
    ] = False,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Value of the next '?' as a SQL literal ('NVDA', 10, DATE '2025-01-02'); repeatable.",
        ),
    ] = None,
    database: DatabaseOption = None,
    workgroup: Annotated[
        str | None,
        typer.Option(
            "--workgroup",
            help="Athena workgroup (default: TICKERLAKE_ATHENA_WORKGROUP, else tickerlake).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Stop a local query after SECONDS (default: TICKERLAKE_SQL_TIMEOUT, else 300; 0: no limit).",
            show_default=False,
            metavar="SECONDS",
        ),
    ] = None,
    max_rows: Annotated[
        int | None,
        typer.Option(
            "--max-rows",
            help="Stop after N result rows (default: TICKERLAKE_SQL_MAX_ROWS, else 100000; 0: no limit).",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="Memory a local query may use, e.g. 4GB (default: TICKERLAKE_SQL_MEMORY_LIMIT, else 2GB).",
            show_default=False,
            metavar="SIZE",
        ),
    ] = None,
) -> None:
    """Run Athena SQL over the lake's tables: locally on DuckDB (translated), or on Athena with --athena.

    Every table shows the latest version of each month object. `date` is a DATE (compare it with
    DATE '2025-03-28'); `month` ('YYYY-MM') is the partition key. Locally only the month objects the WHERE
    clause's `month` and `date` conditions can match are read ("files read: N of M" on stderr).

    A construct the local engine would answer differently from Athena is refused (exit 2, one line naming
    it). A local query is bounded: --timeout, --memory-limit and --max-rows; a query one of them stops
    exits 3 with a line naming the limit (rows printed before it stay printed).
    """
    with user_errors():
        import pyarrow as pa

        from glue.catalog import database_name
        from glue.local_sql import Limits, QueryStopped, open_local

        limits = Limits.from_env(timeout=timeout, max_rows=max_rows, memory_limit=memory_limit)
        try:
            if athena:
                from glue.athena import run_athena

                frame = run_athena(query, params=params or (), database=database, workgroup=workgroup)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if limits.max_rows is not None and table.num_rows > limits.max_rows:
                    _print_rows(table.slice(0, limits.max_rows), output)
                    raise QueryStopped(
                        f"stopped after {limits.max_rows:,} rows (the row limit, --max-rows): the result has "
                        f"{table.num_rows:,} rows; raise --max-rows (0: no limit)",
                        "max_rows",
                    )
                _print_rows(table, output)
                return
            from tickerlake_cli.lake_cmds import _existing_lake

            _existing_lake(_lake_uri(lake))  # a mistyped path is an error naming it, not an empty answer
            with open_local(
                query,
                lake_uri=_lake_uri(lake),
                params=params or (),
                database=database_name(database),
                limits=limits,
            ) as running:
                if show_files:
                    for key in running.files_read:
                        print(f"read {key}", file=sys.stderr)
                print(f"files read: {len(running.files_read)} of {running.files_total}", file=sys.stderr)
                for note in running.notes:
                    print(f"note: {note}", file=sys.stderr)
                _stream(running, output)
        except QueryStopped as exc:
            raise fail(str(exc), code=3) from None


# --- tickerlake catalog ---------------------------------------------------------------------------------

catalog_app = typer.Typer(
    name="catalog",
    help="The Glue catalog of the lake: database and tables with partition projection.",
    no_args_is_help=True,
)


@catalog_app.command("sync")
def catalog_sync(lake: LakeOption = None, database: DatabaseOption = None) -> None:
    """Create or update the Glue database and the tables prices, indicators, percentiles, features.

    Idempotent: a table that already matches is left unchanged (no new table version).
    """
    with user_errors():
        from glue.catalog import sync_catalog

        for line in sync_catalog(_lake_uri(lake), database=database):
            typer.echo(f"- {line}")


@catalog_app.command("ddl")
def catalog_ddl(
    lake: LakeOption = None,
    database: DatabaseOption = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this table.", show_default=False)
    ] = None,
) -> None:
    """Print the Athena DDL (CREATE EXTERNAL TABLE ... with partition projection) of the tables."""
    with user_errors():
        from glue.catalog import athena_ddl, lake_root
        from lake import layout

        uri = _lake_uri(lake)
        if uri.startswith("s3://"):
            root = lake_root(uri)
        else:
            root = PLACEHOLDER_ROOT
            typer.echo(
                f"-- the lake {uri} is not on S3: LOCATION shows {root}; pass --lake s3://bucket/prefix"
            )
        datasets = [layout.validate_dataset(dataset)] if dataset else list(layout.DATASETS)
        typer.echo("\n\n".join(athena_ddl(name, root, database) for name in datasets))


@catalog_app.command("terraform")
def catalog_terraform(
    out: Annotated[Path, typer.Option("--out", help="File to write.")] = DEFAULT_TERRAFORM_FILE,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the file is up to date (exit 1 if not).")
    ] = False,
) -> None:
    """Write the Terraform Glue tables (infra/glue_tables.tf.json) generated from schemas/."""
    with user_errors():
        from glue.catalog import terraform_json

        text = terraform_json()
        if check:
            current = out.read_text() if out.exists() else None
            if current != text:
                raise fail(f"{out} is out of date: run `tickerlake catalog terraform`", code=1)
            typer.echo(f"{out} is up to date")
            return
        out.write_text(text)
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Adds `sql` and the `catalog` group to the `tickerlake` app."""
    app.command("sql")(sql)
    app.add_typer(catalog_app, name="catalog")
