"""`tickerlake init`, `tickerlake ls` and `tickerlake lineage`: creating the lake, listing its month
objects and reading the history of one row."""

from typing import Annotated

import typer

from tickerlake_cli._errors import fail, user_errors
from tickerlake_cli._output import Column, FormatOption, OutputFormat, render

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        envvar="TICKERLAKE_LAKE_URI",
        help="Lake URI: s3://bucket/prefix, file:///path or a path (default: TICKERLAKE_LAKE_URI, else ./lake).",
        show_default=False,
    ),
]


def _lake(uri: str | None):
    from lake.api import Lake
    from lake.config import Settings

    return Lake.open(uri or Settings.from_env().lake_uri)


def init(lake: LakeOption = None) -> None:
    """Create the lake; on S3 create/configure the bucket (versioning, SSE, public-access block, lifecycle).

    Idempotent: run it again and it only reports what is already in place.
    """
    with user_errors():
        opened = _lake(lake)
        for line in opened.init():
            typer.echo(f"- {line}")
        typer.echo(f"lake ready: {opened.uri}")


def _existing_lake(uri: str | None):
    """The lake at `uri` for reading (`lineage`, `quality`): a local lake folder that is missing (or a
    file) is an error naming it; an S3 bucket that is missing is reported by the store on first use."""
    from lake.store import LocalStore

    opened = _lake(uri)
    if isinstance(opened.store, LocalStore):
        root = opened.store.root
        if not root.exists():
            raise FileNotFoundError(f"lake {str(root)!r} does not exist (create it with `tickerlake init`)")
        if not root.is_dir():
            raise ValueError(f"lake {str(root)!r} is not valid: it is a file, not a folder")
    return opened


_LS_COLUMNS = (
    Column("dataset"),
    Column("month"),
    Column("key"),
    Column("version_id", "version id"),
    Column("last_modified", "last modified"),
    Column("size", "bytes", justify="right"),
    Column("rows", justify="right"),
    Column("tickers", justify="right"),
    Column("computation_version", "computation"),
    Column("computed_at"),
    Column("run_id", "run"),
)


def ls(
    dataset: Annotated[
        str | None, typer.Argument(help="prices, indicators, percentiles or features (default: all).")
    ] = None,
    lake: LakeOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """The lake's month objects, one row each: dataset, month, latest version, rows, tickers, run.

    Read from each object's metadata (one HEAD per month object), never from the Parquet itself."""
    with user_errors():
        from lake import layout
        from lake.api import MonthVersion

        datasets = [layout.validate_dataset(dataset)] if dataset else list(layout.DATASETS)
        opened = _existing_lake(lake)
        rows = []
        for name in datasets:
            for month in opened.months(name):
                latest = MonthVersion.from_info(opened.store.head(layout.month_key(name, month)))
                rows.append(
                    {
                        "dataset": name,
                        "month": month,
                        "key": latest.key,
                        "version_id": latest.version_id,
                        "last_modified": latest.last_modified,
                        "size": latest.size,
                        "rows": latest.row_count,
                        "tickers": latest.ticker_count,
                        "computation_version": latest.computation_version,
                        "computed_at": latest.computed_at,
                        "run_id": latest.run_id,
                    }
                )
        render(rows, output, _LS_COLUMNS, caption=f"{len(rows)} month object(s) in {opened.uri}")


_LINEAGE_COLUMNS = (
    Column("version_id", "version id"),
    Column("is_latest", "latest", show=lambda latest: "yes" if latest else ""),
    Column("last_modified", "last modified"),
    Column("computed_at"),
    Column("computation_version", "computation"),
    Column("run_id", "run"),
    Column("source_raw_key", "source raw key"),
    Column("source_raw_version", "raw version"),
    Column("key"),
)


def lineage(
    dataset: Annotated[str, typer.Argument(help="prices, indicators, percentiles or features.")],
    ticker: Annotated[str, typer.Argument(help="Yahoo symbol, e.g. D05.SI.")],
    date: Annotated[str, typer.Argument(help="Trading date, YYYY-MM-DD.")],
    lake: LakeOption = None,
    output: FormatOption = OutputFormat.table,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """Every version of one ticker's row for one date, newest first.

    From the versions of its month object: the month object's version id, computed_at, computation
    version, run, and the source raw object with its version. A table with no version exits 1; csv and
    json print an empty result (a header, or []) and exit 0."""
    with user_errors():
        from lake import layout

        dataset = layout.validate_dataset(dataset)
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        key = layout.month_key(dataset, layout.month_of(date))
        versions = [
            {column.key: version.get(column.key) for column in _LINEAGE_COLUMNS}
            for version in _existing_lake(lake).row_versions(dataset, ticker, date)
        ]
        output = OutputFormat.json if as_json else output
        if output is OutputFormat.table and not versions:
            raise fail(f"no versions of {ticker} {date} in {key}", code=1)
        render(
            versions,
            output,
            _LINEAGE_COLUMNS,
            title=f"{dataset} {ticker} {date} in {key}",
            caption=f"{len(versions)} version(s), newest first",
        )


def register(app: typer.Typer) -> None:
    """Adds `init`, `ls` and `lineage` to the `tickerlake` app."""
    app.command("init")(init)
    app.command("ls")(ls)
    app.command("lineage")(lineage)
