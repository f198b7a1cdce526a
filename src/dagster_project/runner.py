"""Launch the asset graph for some tickers over some dates: what `tickerlake run` does.

Not a second orchestrator: one run of `lake_job` over the month partitions of the range (a single-run
backfill), with the run's tickers and dates in its run config (`resources.scope`), executed by Dagster in
this process against the instance in DAGSTER_HOME, so the run, its checks and materializations show up in
`tickerlake ui`. Then, unless told otherwise, one run of `reports_job` pre-warms the report cache.

One process, no workers: nothing else initialises DAGSTER_HOME, and a SIGTERM or Ctrl-C stops all of the
work. Two `tickerlake run`s started at once on a brand-new DAGSTER_HOME are serialised while the instance
is created (a file lock), so neither sees half-created tables.
"""

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.partitions import partitions_start, range_tags
from lake import layout
from lake.api import MonthWrite
from lake.exceptions import StoreUnavailable

LAKE_ASSET_NAMES = ("raw_prices", "prices", "indicators", "percentiles", "features")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    """What `run_lake` did, for the CLI's summary."""

    tickers: int = 0
    months: int = 0
    start: str = ""
    end: str = ""
    run_id: str = ""
    success: bool = True
    error: str = ""
    rows: dict[str, int] = field(default_factory=dict)  # dataset → rows written
    objects: dict[str, int] = field(default_factory=dict)  # asset → objects written (month versions, raw)
    versions: list[str] = field(default_factory=list)  # "<key> <version id>" of each month version written
    quarantined: dict[str, str] = field(default_factory=dict)  # "<dataset> <ticker> <date>" → reason
    skipped: dict[str, str] = field(default_factory=dict)  # "<asset> <ticker>" → reason
    failed: dict[str, str] = field(default_factory=dict)  # "<asset> <ticker>" → reason
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    events: int = 0  # events Dagster recorded for the run
    reports: int = 0
    reports_run_id: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.success and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "tickers": self.tickers,
            "months": self.months,
            "start": self.start,
            "end": self.end,
            "run_id": self.run_id,
            "success": self.ok,
            "error": self.error,
            "rows": self.rows,
            "objects": self.objects,
            "versions": len(self.versions),
            "quarantined": len(self.quarantined),
            "skipped": len(self.skipped),
            "failed": self.failed,
            "checks_failed": self.checks_failed,
            "checks_warned": self.checks_warned,
            "events": self.events,
            "reports": self.reports,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def dagster_home() -> Path:
    """DAGSTER_HOME, or ./.dagster_home (created with a minimal dagster.yaml) when it is not set."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        temp = home / f".dagster.yaml.{os.getpid()}"
        temp.write_text("telemetry:\n  enabled: false\n")
        os.replace(temp, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """Exclusive while an instance is created over `home`: Dagster creates its SQLite tables and stamps
    their schema on first use, and two processes doing that at once break the home for good. (Postgres
    storages also survive a race between machines: dagster-postgres retries a table creation it lost.)"""
    fd = os.open(home / ".tickerlake-init.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _relaxed_sqlite_sync() -> None:
    """Run history lives in SQLite; WAL with synchronous=OFF skips the fsync of every commit and of the
    checkpoint each closed connection makes (Dagster opens one per event): a 4-ticker 2-year run took
    24.7 s with synchronous=NORMAL and 11.5 s with OFF. The cost: an operating-system crash or power loss
    (not a killed process) may lose or damage the local run history — never the lake, which is the record.
    Production runs use Postgres (issue 18), which is never tuned: `recorded_instance` calls this only for
    a SQLite instance."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if getattr(_relaxed_sqlite_sync, "done", False):
        return

    @event.listens_for(Engine, "connect")
    def _pragma(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    _relaxed_sqlite_sync.done = True  # type: ignore[attr-defined]


class InstanceConfigError(ValueError):
    """DAGSTER_HOME's dagster.yaml cannot be used as it is: not YAML, a field Dagster refuses, an unset
    environment variable it names, a database driver that is not installed. The operator's to fix."""


class InstanceUnavailable(StoreUnavailable):
    """The instance's database (Postgres) could not be reached after dagster-postgres's retries."""


_STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def instance_storage(home: Path) -> str:
    """What keeps the run history of the instance in `home`: "sqlite" (Dagster's default: no storage
    configured, or `storage: sqlite:`), "postgres" (`storage: postgres:`, or dagster_postgres storage
    classes), or "other". The file is only read, never rewritten; InstanceConfigError if it is not YAML."""
    import yaml

    config_path = home / "dagster.yaml"
    try:
        config = yaml.safe_load(config_path.read_text()) if config_path.exists() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InstanceConfigError(f"{config_path} is not valid YAML{where}: {problem}") from None
    if config is None:
        return "sqlite"
    if not isinstance(config, dict):
        raise InstanceConfigError(
            f"{config_path} is not valid: expected a mapping of settings, got {type(config).__name__}"
        )
    configured = {key: config[key] for key in _STORAGE_KEYS if config.get(key) is not None}
    if not configured:
        return "sqlite"
    storage = configured.get("storage")
    if isinstance(storage, dict) and set(storage) == {"sqlite"} and len(configured) == 1:
        return "sqlite"
    if isinstance(storage, dict) and "postgres" in storage:
        return "postgres"
    modules = {str(v.get("module", "")) for v in configured.values() if isinstance(v, dict)}
    if modules and all(module.startswith("dagster_postgres") for module in modules):
        return "postgres"
    return "other"


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _config_problem(exc: Any) -> str:
    """The first problem of a DagsterInvalidConfigError, on one line."""
    import re

    errors = getattr(exc, "errors", None) or []
    message = str(errors[0].message) if errors else str(exc)
    unset = re.search(r'environment variable "([^"]+)" which is not set', message)
    if unset:
        path = re.search(r"at path (\S+)", message)
        field = f" (read by {path.group(1)})" if path else ""
        return f"environment variable {unset.group(1)} is not set{field}"
    return _first_line(message).split(" Expected: ")[0]


class _OneLineRetries:
    """A logging filter for the root logger while the instance is created: dagster-postgres logs each
    retry of an unreachable database as a multi-line warning on the root logger; it becomes one line
    on `tickerlake.dagster` instead (shown with `tickerlake --log-level INFO` / `run --verbose`)."""

    def filter(self, record: Any) -> bool:
        message = record.getMessage()
        if record.name == "root" and message.startswith("Retrying failed database"):
            import logging

            logging.getLogger("tickerlake.dagster").warning(
                "Dagster's database: %s", _first_line(message.replace("(psycopg2.OperationalError) ", ""))
            )
            return False
        return True


@contextlib.contextmanager
def _instance_errors(config_path: Path) -> Iterator[None]:
    """Errors of creating the instance from `config_path` as one line: InstanceConfigError (the file's
    fault) or InstanceUnavailable (its database cannot be reached)."""
    import logging

    import sqlalchemy.exc
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster_shared.check import CheckError

    try:
        from dagster_postgres.utils import DagsterPostgresException
    except ImportError:  # pragma: no cover - dagster-postgres is a dependency
        DagsterPostgresException = type("DagsterPostgresException", (Exception,), {})  # noqa: N806

    retries = _OneLineRetries()
    logging.getLogger().addFilter(retries)
    try:
        yield
    except DagsterInvalidConfigError as exc:
        raise InstanceConfigError(f"{config_path} is not valid: {_config_problem(exc)}") from None
    except CheckError as exc:  # dagster-postgres checks its config with invariants
        problem = str(exc).removeprefix("Invariant failed. Description: ")
        raise InstanceConfigError(f"{config_path} is not valid: {_first_line(problem)}") from None
    except ModuleNotFoundError as exc:
        if exc.name == "psycopg":
            raise InstanceConfigError(
                f"{config_path}: the postgresql:// scheme needs the psycopg driver, which is not installed;"
                " set `scheme: postgresql+psycopg2` under postgres_db (or a postgresql+psycopg2:// postgres_url)"
            ) from None
        raise InstanceConfigError(
            f"{config_path} needs the Python module {exc.name!r}, which is not installed"
        ) from None
    except (DagsterPostgresException, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        cause = exc if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc.__cause__ or exc
        reason = getattr(cause, "orig", None) or cause
        raise InstanceUnavailable(
            f"the Dagster database of {config_path} is unavailable: {_first_line(reason)}"
        ) from None
    finally:
        logging.getLogger().removeFilter(retries)


def recorded_instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME (made if missing), its storage created under a lock.

    The operator's dagster.yaml is used as it is: SQLite (the default) is tuned for speed, Postgres or any
    other storage is left alone. InstanceConfigError when the file cannot be used, InstanceUnavailable when
    its database cannot be reached."""
    home = dagster_home()
    if instance_storage(home) == "sqlite":
        _relaxed_sqlite_sync()
    with _home_lock(home), _instance_errors(home / "dagster.yaml"):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches the run, event and schedule storages: created now, locked
    return instance


def check_range(start: str, end: str) -> tuple[str, str]:
    """The dates as given when they lie inside the partitions; ValueError naming the value otherwise."""
    start, end = layout.validate_date(start), layout.validate_date(end)
    if start > end:
        raise ValueError(f"start date {start} is after end date {end}")
    first = partitions_start()
    if start[:7] < first:
        raise ValueError(
            f"start date {start} is before the first month partition {first} (set TICKERLAKE_PARTITIONS_START)"
        )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    if end > today:
        raise ValueError(f"end date {end} is in the future (today is {today} UTC)")
    return start, end


def _value(metadata: dict[str, Any], name: str) -> Any:
    value = metadata.get(name)
    return getattr(value, "value", value)


def run_lake(
    defs: dg.Definitions,
    tickers: Sequence[str] | None,
    start: str,
    end: str,
    *,
    instance: dg.DagsterInstance | None = None,
    with_reports: bool = True,
    on_write: Callable[[str, MonthWrite], None] | None = None,
) -> RunSummary:
    """Materialize raw → features for `tickers` (None: the universe) and dates [start, end] in one run of
    `lake_job` over the months of the range, then (with `with_reports`) pre-warm the reports.

    `instance` defaults to the recorded one in DAGSTER_HOME. `on_write(dataset, write)` is called after each
    month object a stage writes (the CLI's progress display)."""
    from pipelines import stages

    started = time.monotonic()
    start, end = check_range(start, end)
    months = layout.months_between(start, end)
    symbols = list(dict.fromkeys(tickers)) if tickers else []
    if instance is None:
        instance = recorded_instance()
    scope = {"tickers": symbols, "start": start, "end": end}
    run_config = {**QUIET, "resources": {"scope": {"config": scope}}}
    summary = RunSummary(months=len(months), start=start, end=end)
    if symbols:
        summary.tickers = len(symbols)
    else:
        from pipelines.sources import load_universe

        summary.tickers = len(load_universe().symbols)
    job = defs.resolve_job_def("lake_job")
    observer = (lambda dataset, write: on_write(dataset, write)) if on_write else None
    if observer:
        stages.OBSERVERS.append(observer)
    try:
        # One month: a partition key, so the checks' results are recorded on that month in the UI (Dagster
        # records a ranged run's checks without a partition).
        where = (
            {"partition_key": months[0]} if len(months) == 1 else {"tags": range_tags(months[0], months[-1])}
        )
        result = job.execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False, **where
        )
    finally:
        if observer:
            stages.OBSERVERS.remove(observer)
    summary.run_id = result.run_id
    summary.success = result.success
    # Each month partition's materialization carries the run's counts and its own month version; the
    # lists (quarantined, skipped, failed) are on one of them (dagster_project.assets._metadata).
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        metadata = dict(materialization.metadata)
        summary.objects[name] = int(_value(metadata, "objects_written") or 0)
        if name != "raw_prices":
            summary.rows[name] = int(_value(metadata, "rows") or 0)
            key, version = _value(metadata, "object_key"), _value(metadata, "version_id")
            if key and version:
                summary.versions.append(f"{key} {version}")
        for kind, target in (("quarantined_list", summary.quarantined), ("skipped_list", summary.skipped)):
            for item, reason in (_value(metadata, kind) or {}).items():
                target[f"{name} {item.replace('|', ' ')}"] = reason
        for item, reason in (_value(metadata, "failed_list") or {}).items():
            summary.failed[f"{name} {item}"] = reason
    summary.versions = sorted(set(summary.versions))
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            target = (
                summary.checks_warned
                if evaluation.severity == dg.AssetCheckSeverity.WARN
                else summary.checks_failed
            )
            if evaluation.check_name not in target:
                target.append(evaluation.check_name)
    if not result.success:
        failures = [
            _root_cause(e.step_failure_data.error)
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
        ]
        summary.error = failures[0] if failures else "run failed"
    summary.events = len(instance.get_records_for_run(result.run_id, limit=100_000).records)
    if with_reports and summary.ok:
        summary.reports, summary.reports_run_id = run_reports(defs, symbols, instance)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _root_cause(error: Any) -> str:
    """The first line of the innermost error of a step failure (a retry limit wraps the real cause)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(error.message).strip().splitlines()[0]


def run_reports(
    defs: dg.Definitions, tickers: Sequence[str], instance: dg.DagsterInstance
) -> tuple[int, str]:
    """Pre-warm the report cache (the `reports` asset) for the tickers' latest dates: (reports, run id)."""
    job = defs.resolve_job_def("reports_job")
    result = job.execute_in_process(
        instance=instance,
        run_config={**QUIET, "resources": {"scope": {"config": {"tickers": list(tickers)}}}},
        raise_on_error=False,
    )
    done = 0
    for event in result.get_asset_materialization_events():
        done += int(_value(dict(event.event_specific_data.materialization.metadata), "reports") or 0)
    return done, result.run_id
