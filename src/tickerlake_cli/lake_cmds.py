"""`tickerlake init` and `tickerlake lineage`: creating the lake and reading the history of one row."""

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tickerlake_cli._errors import fail, user_errors

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


_LINEAGE_FIELDS = (
    "version_id",
    "is_latest",
    "last_modified",
    "computed_at",
    "computation_version",
    "run_id",
    "source_raw_key",
    "source_raw_version",
    "key",
)


def lineage(
    dataset: Annotated[str, typer.Argument(help="prices, indicators, percentiles or features.")],
    ticker: Annotated[str, typer.Argument(help="Yahoo symbol, e.g. D05.SI.")],
    date: Annotated[str, typer.Argument(help="Trading date, YYYY-MM-DD.")],
    lake: LakeOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array (one object per version, [] when none).")
    ] = False,
) -> None:
    """Every version of one ticker's row for one date, newest first, from the versions of its month object:
    the month object's version id, computed_at, computation version, run, and the source raw object with
    its version."""
    with user_errors():
        from lake import layout

        dataset = layout.validate_dataset(dataset)
        ticker, date = layout.validate_ticker(ticker), layout.validate_date(date)
        key = layout.month_key(dataset, layout.month_of(date))
        versions = [
            {name: version.get(name) for name in _LINEAGE_FIELDS}
            for version in _existing_lake(lake).row_versions(dataset, ticker, date)
        ]
        if as_json:
            typer.echo(json.dumps(versions, indent=2, default=str))
            return
        if not versions:
            raise fail(f"no versions of {ticker} {date} in {key}", code=1)
        table = Table(title=f"{dataset} {ticker} {date} in {key}: {len(versions)} version(s), newest first")
        for column in (
            "version id",
            "latest",
            "computed_at",
            "computation",
            "run",
            "source raw key",
            "raw version",
        ):
            table.add_column(column, overflow="fold")
        for row in versions:
            table.add_row(
                row["version_id"],
                "yes" if row["is_latest"] else "",
                row["computed_at"] or "-",
                f"{dataset} v{row['computation_version'] or '-'}",
                row["run_id"] or "-",
                row["source_raw_key"] or "-",
                row["source_raw_version"] or "-",
            )
        Console().print(table)


def register(app: typer.Typer) -> None:
    """Adds `init` and `lineage` to the `tickerlake` app."""
    app.command("init")(init)
    app.command("lineage")(lineage)
