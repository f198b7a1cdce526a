"""The Dagster code location: `dagster_project.definitions.defs`.

`dagster dev` from the repository root (pyproject's `[tool.dagster]`), `dagster dev -m
dagster_project.definitions` or `tickerlake ui` loads it; resources follow TICKERLAKE_DEPLOYMENT
(local | aws) and TICKERLAKE_LAKE_URI.
"""

import dagster as dg

from dagster_project.assets import LAKE_ASSETS, reports
from dagster_project.checks import CHECKS
from dagster_project.resources import build_resources
from dagster_project.schedules import daily_after_close, lake_job, reports_after_features, reports_job


def build_defs(
    deployment: str | None = None, lake_uri: str | None = None, source: str | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=[*LAKE_ASSETS, reports],
        asset_checks=CHECKS,
        jobs=[lake_job, reports_job],
        schedules=[daily_after_close],
        sensors=[reports_after_features],
        resources=build_resources(deployment, lake_uri, source),
    )


defs = build_defs()
