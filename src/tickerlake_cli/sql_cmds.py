"""`tickerlake sql` and `tickerlake catalog sync|ddl|terraform`: the analysts' side of the lake."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import FormatOption, OutputFormat, Renderer

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        envvar="TICKERLAKE_LAKE_URI",
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
_CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root when run from a checkout's src/
# From a checkout: its infra/; installed: infra/ under the current directory (the operator's Terraform).
DEFAULT_TERRAFORM_FILE = (
    _CHECKOUT / "infra" / "glue_tables.tf.json"
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "infra").is_dir()
    else Path("infra") / "glue_tables.tf.json"
)


def _lake_uri(uri: str | None) -> str:
    from lake.config import Settings

    return uri or Settings.from_env().lake_uri


# --- output ---------------------------------------------------------------------------------------------


def _row_values(batch) -> list[list[Any]]:
    """The rows of a record batch, by position (a name may repeat in a result)."""
    columns = [c.to_pylist() for c in batch.columns]
    return [list(values) for values in zip(*columns, strict=True)]


def _caption(renderer: Renderer, complete: bool) -> str:
    return f"{renderer.rows} row(s)" + ("" if complete else ", the query stopped after them")


def _print_rows(table, output: OutputFormat) -> None:
    renderer = Renderer(table.column_names, output, null="NULL")
    for batch in table.to_batches():
        renderer.write(_row_values(batch))
    renderer.finish(complete=True, caption=_caption(renderer, True))


def _stream(query, output: OutputFormat) -> None:
    """Print a running local query's batches as they come; a stop or a failure part-way closes the output."""
    renderer = Renderer(query.schema.names, output, null="NULL")
    complete = False
    try:
        for batch in query.batches():
            renderer.write(_row_values(batch))
        complete = True
    finally:
        renderer.finish(complete, caption=_caption(renderer, complete))


# --- tickerlake sql -------------------------------------------------------------------------------------


def sql(
    query: Annotated[
        str,
        typer.Argument(help="Athena (Trino) SQL: one SELECT over prices, indicators, percentiles, features."),
    ],
    lake: LakeOption = None,
    output: FormatOption = OutputFormat.table,
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
    out: Annotated[
        Path, typer.Option("--out", help="File to write; - for stdout (default: infra/glue_tables.tf.json).")
    ] = DEFAULT_TERRAFORM_FILE,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the file is up to date (exit 1 if not).")
    ] = False,
) -> None:
    """Write the Terraform Glue tables (infra/glue_tables.tf.json) generated from schemas/."""
    with user_errors():
        from glue.catalog import terraform_json

        text = terraform_json()
        if str(out) == "-" and not check:
            typer.echo(text, nl=False)
            return
        if not check and not out.parent.is_dir():
            raise fail(
                f"--out {out}: the folder {out.parent} does not exist (pass --out FILE, or - for stdout)"
            )
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
