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


def _print_rows(table, output: OutputFormat) -> None:
    names = table.column_names
    rows = (
        table.to_pylist()
        if len(set(names)) == len(names)
        else [
            dict(zip(names, r, strict=True))
            for r in zip(*(c.to_pylist() for c in table.columns), strict=True)
        ]
    )
    if output is OutputFormat.json:
        sys.stdout.write(
            json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], indent=2) + "\n"
        )
    elif output is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_text(row[name]) for name in names])
    else:
        from rich.console import Console
        from rich.table import Table

        cells = [[_text(row[name]) if row[name] is not None else "NULL" for name in names] for row in rows]
        widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(names)]
        shown = Table(caption=f"{len(rows)} row(s)")
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
) -> None:
    """Run Athena SQL over the lake's tables: locally on DuckDB (translated), or on Athena with --athena.

    Every table shows the latest version of each month object. `date` is a DATE (compare it with
    DATE '2025-03-28'); `month` ('YYYY-MM') is the partition key. Locally only the month objects the WHERE
    clause's `month` and `date` conditions can match are read ("files read: N of M" on stderr).
    """
    with user_errors():
        import pyarrow as pa

        from glue.catalog import database_name

        if athena:
            from glue.athena import run_athena

            frame = run_athena(query, params=params or (), database=database, workgroup=workgroup)
            _print_rows(pa.Table.from_pandas(frame, preserve_index=False), output)
            return
        from glue.local_sql import run_local

        result = run_local(
            query, lake_uri=_lake_uri(lake), params=params or (), database=database_name(database)
        )
        _print_rows(result.table, output)
        if show_files:
            for key in result.files_read:
                print(f"read {key}", file=sys.stderr)
        print(f"files read: {len(result.files_read)} of {result.files_total}", file=sys.stderr)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)


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
