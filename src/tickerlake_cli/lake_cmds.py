"""`tickerlake init` and `tickerlake lineage`: creating the lake and reading a partition's history."""

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


def lineage(
    dataset: Annotated[str, typer.Argument(help="prices, indicators, percentiles or features.")],
    ticker: Annotated[str, typer.Argument(help="Yahoo symbol, e.g. D05.SI.")],
    date: Annotated[str, typer.Argument(help="Trading date, YYYY-MM-DD.")],
    lake: LakeOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array (one object per version).")
    ] = False,
) -> None:
    """Every version of one partition, newest first: version id, computed_at, computation version, and the
    source raw object with its version."""
    with user_errors():
        from lake import layout

        versions = _lake(lake).list_versions(dataset, ticker, date)
        if as_json:
            typer.echo(json.dumps([version.to_dict() for version in versions], indent=2))
            return
        if not versions:
            raise fail(f"no versions of {layout.dataset_key(dataset, ticker, date)}", code=1)
        table = Table(title=f"{dataset} {ticker} {date}: {len(versions)} version(s), newest first")
        for column in (
            "version id",
            "latest",
            "computed_at",
            "computation",
            "source raw key",
            "raw version",
            "rows",
        ):
            table.add_column(column, overflow="fold")
        for version in versions:
            row = version.to_dict()
            table.add_row(
                row["version_id"],
                "yes" if row["is_latest"] else "",
                row["computed_at"] or "-",
                f"{row['computation_type'] or '-'} v{row['computation_version'] or '-'}",
                row["source_raw_key"] or "-",
                row["source_raw_version"] or "-",
                "" if row["row_count"] is None else str(row["row_count"]),
            )
        Console().print(table)


def register(app: typer.Typer) -> None:
    """Adds `init` and `lineage` to the `tickerlake` app."""
    app.command("init")(init)
    app.command("lineage")(lineage)
