"""The analysts' side of the lake: the Glue catalog, Athena, and the same SQL locally on DuckDB.

- `glue.catalog`: database and tables generated from `schemas/` (`month` partition projection), `sync_catalog`,
  `athena_ddl`, `terraform_tables` (infra/glue_tables.tf.json);
- `glue.translate`: one read-only Athena query, checked and translated to DuckDB (`QueryRefused`);
- `glue.local_sql`: `run_local`, DuckDB over the month objects the query can match;
- `glue.athena`: `run_athena`, the real Athena through awswrangler.
"""

from glue.athena import run_athena
from glue.catalog import athena_ddl, sync_catalog, table_input, terraform_tables
from glue.local_sql import LocalResult, run_local
from glue.translate import QueryRefused, parse_query, to_duckdb

__all__ = [
    "LocalResult",
    "QueryRefused",
    "athena_ddl",
    "parse_query",
    "run_athena",
    "run_local",
    "sync_catalog",
    "table_input",
    "terraform_tables",
    "to_duckdb",
]
