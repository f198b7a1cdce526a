"""The pipelines' settings: the universe file."""

from __future__ import annotations

from pathlib import Path

from lake.config import EnvSettings, env

__all__ = ["PipelineSettings"]


class PipelineSettings(EnvSettings):
    """What `pipelines` reads from the environment."""

    universe: Path | None = env(
        "TICKERLAKE_UNIVERSE", None, description="a universe CSV; default the bundled universe.csv"
    )
