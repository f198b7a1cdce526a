"""`tickerlake`: one entry point for the whole project (shared/INTERFACE.md, command line).

Each command group lives in its own module with a `register(app)` function; this module only assembles
them and turns user errors into one line on stderr with a non-zero exit (never a traceback).
"""

import sys

import typer

from tickerlake_cli import cache_cmds, deploy_cmds, lake_cmds, quality_cmds, report_cmds, run_cmds, sql_cmds

app = typer.Typer(
    name="tickerlake",
    help="A data-lake ETL framework for daily market data: local folder or S3, Dagster, Athena SQL, report bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"tickerlake {version('tickerlake')}")
        except PackageNotFoundError:  # running from a checkout that was never installed
            print("tickerlake (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """A data-lake ETL framework for daily market data: local folder or S3, Dagster, Athena SQL, report bot."""


for module in (lake_cmds, run_cmds, sql_cmds, report_cmds, deploy_cmds, cache_cmds, quality_cmds):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
