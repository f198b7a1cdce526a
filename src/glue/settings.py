"""The catalog's and the query engines' settings: Glue database, Athena workgroup, local SQL bounds."""

from __future__ import annotations

from lake.config import EnvSettings, env

__all__ = ["GlueSettings"]


class GlueSettings(EnvSettings):
    """What `glue` reads from the environment (`tickerlake sql` options override the SQL bounds)."""

    glue_database: str = env("TICKERLAKE_GLUE_DATABASE", "tickerlake", description="Glue database")
    athena_workgroup: str = env("TICKERLAKE_ATHENA_WORKGROUP", "tickerlake", description="Athena workgroup")
    sql_timeout: float | None = env("TICKERLAKE_SQL_TIMEOUT", None, description="local query time limit, s")
    sql_memory_limit: str | None = env("TICKERLAKE_SQL_MEMORY_LIMIT", None, description="e.g. 2GB")
    sql_max_rows: int | None = env("TICKERLAKE_SQL_MAX_ROWS", None, description="local query row limit")
