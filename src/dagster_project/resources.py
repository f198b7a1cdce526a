"""Resources, chosen by deployment from one variable: TICKERLAKE_DEPLOYMENT = local | aws.

- local: the lake is a folder (TICKERLAKE_LAKE_URI, default ./lake), the source is the offline sample;
- aws:   the lake is s3://bucket/prefix (TICKERLAKE_LAKE_URI must say which), the source is Yahoo.

`scope` is set per run (run config, the launchpad's `resources.scope.config`): the tickers and the dates
inside the run's months; left empty, the whole universe and the whole months.

The lake URI reaches the resource as `dagster.EnvVar("TICKERLAKE_LAKE_URI")` when the variable is set: the
UI shows the variable, not its value, and the value is read where the run executes. The run config
(``resources.lake.config.uri``) still overrides it. Without the variable the default ``./lake`` is used.

Tests and `tickerlake run` pass their own values to `build_resources`; nothing is monkeypatched.
"""

import datetime as dt
import functools

import dagster as dg

from lake import Lake, layout
from lake.config import LakeSettings

DEFAULT_SOURCE = {"local": "sample", "aws": "yahoo"}
LAKE_URI = dg.EnvVar(LakeSettings.variable_of("lake_uri"))  # TICKERLAKE_LAKE_URI


@functools.lru_cache(maxsize=8)
def _open_lake(uri: str) -> Lake:
    return Lake.open(uri)


class LakeResource(dg.ConfigurableResource):
    """The lake every asset reads and writes through (versioned, lineage-tagged month objects)."""

    uri: str

    def lake(self) -> Lake:
        return _open_lake(self.uri)


class SourceResource(dg.ConfigurableResource):
    """Where raw data comes from: `sample` (offline), `yahoo` (yfinance) or `dir:PATH` (recorded envelopes)."""

    name: str = "sample"

    def source(self):
        from pipelines.sources import get_source

        return get_source(self.name)


class ScopeResource(dg.ConfigurableResource):
    """What one run covers inside its month partitions (set in the run config)."""

    tickers: list[str] = []  # Yahoo symbols; empty: the universe (TICKERLAKE_UNIVERSE or the bundled one)
    start: str = ""  # first date (YYYY-MM-DD) inside the run's months; empty: the first month's first day
    end: str = ""  # last date; empty: the last month's last day (never after today)

    def resolve(self, window: dg.TimeWindow) -> tuple[list[str], str, str]:
        """(tickers, first date, last date) of a run over `window`; ValueError naming a bad value."""
        from dagster_project.partitions import window_dates
        from pipelines.sources import load_universe

        first, last = window_dates(window)
        if self.start:
            first = max(first, layout.validate_date(self.start))
        if self.end:
            last = min(last, layout.validate_date(self.end))
        last = min(last, dt.datetime.now(dt.UTC).date().isoformat())
        if first > last:
            raise ValueError(f"the run covers no date: {first} is after {last}")
        universe = list(load_universe().symbols)
        tickers = [layout.validate_ticker(t) for t in self.tickers]
        outside = [t for t in tickers if t not in set(universe)]
        if outside:
            raise ValueError(
                f"ticker(s) {', '.join(outside)} are not in the universe (TICKERLAKE_UNIVERSE or the bundled "
                "universe.csv): add them to the universe file first"
            )
        return list(dict.fromkeys(tickers or universe)), first, last


def build_resources(
    deployment: str | None = None, lake_uri: str | None = None, source: str | None = None
) -> dict[str, object]:
    settings = LakeSettings.from_env()  # the deployment is the environment's, whatever lake a caller names
    deployment = (deployment or settings.deployment).lower()
    if deployment not in DEFAULT_SOURCE:
        raise ValueError(f"deployment {deployment!r} is not valid: expected 'local' or 'aws'")
    uri = lake_uri or settings.lake_uri
    if deployment == "aws" and not uri.startswith("s3://"):
        raise ValueError(
            f"TICKERLAKE_LAKE_URI {uri!r} is not valid for the aws deployment: expected s3://bucket/prefix"
        )
    return {
        "lake": LakeResource(
            uri=uri if lake_uri or "lake_uri" not in settings.model_fields_set else LAKE_URI
        ),
        "source": SourceResource(name=source or DEFAULT_SOURCE[deployment]),
        "scope": ScopeResource.configure_at_launch(),
    }
