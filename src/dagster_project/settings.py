"""The Dagster code location's settings: the first month partition.

The lake URI and the deployment come from `lake.config.LakeSettings` (the resources read them through
`dagster.EnvVar`); ``DAGSTER_HOME`` is Dagster's own variable, read by Dagster.
"""

from __future__ import annotations

from pydantic import field_validator

from lake import layout
from lake.config import EnvSettings, env

__all__ = ["DEFAULT_START", "DagsterSettings"]

DEFAULT_START = "2015-01"


class DagsterSettings(EnvSettings):
    """What `dagster_project` reads from the environment."""

    partitions_start: str = env(
        "TICKERLAKE_PARTITIONS_START", DEFAULT_START, description="first month partition, YYYY-MM"
    )

    @field_validator("partitions_start")
    @classmethod
    def _month(cls, value: str) -> str:
        """A month as YYYY-MM (a date is read as its month)."""
        try:
            return layout.validate_month(value)
        except ValueError:
            try:
                return layout.month_of(value)
            except ValueError:
                raise ValueError("is not valid: expected a month as YYYY-MM") from None
