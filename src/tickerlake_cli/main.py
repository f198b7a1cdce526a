"""`tickerlake`: one entry point for the whole project (shared/INTERFACE.md, command line; docs/cli.md).

Each command group lives in its own module with a `register(app)` function. This module only names them:
a command's module (and what it imports: pandas, pyarrow, boto3, Dagster, DuckDB) is loaded when the
command runs or its own help is asked, so `tickerlake --help` stays fast. An unexpected exception (a bug)
is one line and exit 1, or its full traceback with `--debug`.
"""

import importlib
import sys

import typer
from typer.core import TyperCommand, TyperGroup

#: command → (its module in tickerlake_cli, the line `tickerlake --help` shows for it). Each line starts
#: the command's own help (tests/test_cli_conventions.py checks it).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("lake_cmds", "Create the lake; on S3 create/configure the bucket (versioning, SSE, public-access block, lifecycle)."),
    "ls": ("lake_cmds", "The lake's month objects, one row each: dataset, month, latest version, rows, tickers, run."),
    "lineage": ("lake_cmds", "Every version of one ticker's row for one date, newest first."),
    "run": ("run_cmds", "Materialize raw → prices → indicators → percentiles → features (and reports) through Dagster."),
    "ui": ("run_cmds", "The Dagster UI over the project's definitions, and the daemon that runs the schedule and the sensor."),
    "sql": ("sql_cmds", "Run Athena SQL over the lake's tables: locally on DuckDB (translated), or on Athena with --athena."),
    "catalog": ("sql_cmds", "The Glue catalog of the lake: database and tables with partition projection."),
    "report": ("report_cmds", "The bot's report from precomputed lake data, through the hybrid cache."),
    "bot": ("report_cmds", "The LINE chat bot."),
    "cache": ("cache_cmds", "Report cache operations: stats, dashboard, adaptive TTL, pre-warm."),
    "quality": ("quality_cmds", "Data quality: expectation suites generated from the schemas, rules, data docs."),
    "deploy": ("deploy_cmds", "Deployment of the report bot: its Lambda function package and its dependencies zip in S3."),
}  # fmt: skip


_LOADED: dict[str, dict[str, TyperCommand | TyperGroup]] = {}


def load_module_commands(module: str) -> dict[str, TyperCommand | TyperGroup]:
    """The click commands a command module registers (imports the module)."""
    found = _LOADED.get(module)
    if found is None:
        holder = typer.Typer()
        importlib.import_module(f"tickerlake_cli.{module}").register(holder)
        found = _LOADED[module] = dict(typer.main.get_group(holder).commands)
    return found


class LazyCommands(TyperGroup):
    """The root group: a command's module is imported only when the command is resolved to run (or to
    show its own help). Listing the commands (`tickerlake --help`) shows the lines of COMMANDS instead."""

    _listing = False

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, line = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=line, short_help=line)
        return load_module_commands(module)[cmd_name]

    def format_help(self, ctx, formatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="tickerlake",
    cls=LazyCommands,
    help="A data-lake ETL framework for daily market data: local folder or S3, Dagster, Athena SQL, report bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_debug = {"on": False}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"tickerlake {version('tickerlake')}")
        except PackageNotFoundError:  # running from a checkout that was never installed
            print("tickerlake (not installed)")
        raise typer.Exit(0)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(level: str) -> None:
    """One handler on the `tickerlake` logger (every module logs under `tickerlake.*`): lake.logs."""
    from lake.logs import configure_logging as configure

    configure(level)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    log_level: str = typer.Option(
        "WARNING",
        "--log-level",
        envvar="TICKERLAKE_LOG_LEVEL",
        help="DEBUG, INFO, WARNING or ERROR: what the tickerlake.* loggers write to stderr.",
    ),
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar="TICKERLAKE_DEBUG",
        help="Show the full traceback of an unexpected error (a bug to report).",
    ),
) -> None:
    """A data-lake ETL framework for daily market data: local folder or S3, Dagster, Athena SQL, report bot."""
    level = log_level.strip().upper()
    if level not in LOG_LEVELS:
        print(
            f"error: --log-level {log_level!r} is not valid: expected one of {', '.join(LOG_LEVELS)}",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    configure_logging(level)
    _debug["on"] = debug


def main() -> None:
    """The `tickerlake` entry point: an unexpected exception is one line on stderr and exit 1, or its
    traceback with --debug (user errors and unavailable services are handled where they arise)."""
    _debug["on"] = False
    try:
        app()
    except Exception as exc:
        if _debug["on"]:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
        print(
            f"error: unexpected {type(exc).__name__}: {first} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
