"""`tickerlake`: one entry point for the whole project (shared/INTERFACE.md, command line).

Each command group lives in its own module with a `register(app)` function; this module only assembles
them and turns user errors into one line on stderr with a non-zero exit (never a traceback).
"""

import logging
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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Fields(logging.Formatter):
    """`LEVEL logger: message` and the record's structured fields (`extra=`) as key=value."""

    _PLAIN = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in self._PLAIN}
        return text + "".join(f" {k}={v}" for k, v in fields.items())


def configure_logging(level: str) -> None:
    """One handler on the `tickerlake` logger (every module logs under `tickerlake.*`), on stderr."""
    root = logging.getLogger("tickerlake")
    for handler in list(root.handlers):
        if getattr(handler, "_tickerlake", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Fields("%(levelname)s %(name)s: %(message)s"))
    handler._tickerlake = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


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


for module in (lake_cmds, run_cmds, sql_cmds, report_cmds, deploy_cmds, cache_cmds, quality_cmds):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
