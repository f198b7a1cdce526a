"""Run a query on Amazon Athena through the Glue catalog (awswrangler).

The query is checked first with the same rules as the local engine (exactly one SELECT); it is sent as
written (Athena is the reference dialect), with `?` parameters bound server-side (Athena execution
parameters, `paramstyle="qmark"`), in the analysts' workgroup whose settings (result location,
encryption, bytes-scanned cutoff) are enforced.

Examples
--------
>>> from glue.athena import run_athena
>>> run_athena("SELECT close FROM prices WHERE ticker = ? AND date = ?",
...            params=["'D05.SI'", "DATE '2025-01-02'"])  # doctest: +SKIP
"""

from collections.abc import Sequence

import pandas as pd

from glue.catalog import database_name
from glue.settings import GlueSettings
from glue.translate import parse_query
from lake.exceptions import LakeError

__all__ = ["DEFAULT_WORKGROUP", "AthenaQueryFailed", "run_athena", "workgroup_name"]

DEFAULT_WORKGROUP = "tickerlake"


class AthenaQueryFailed(LakeError):
    """Athena refused or failed the query, or could not be reached; the message is Athena's reason."""


def workgroup_name(name: str | None = None) -> str:
    """`name`, else TICKERLAKE_ATHENA_WORKGROUP, else `tickerlake` (the workgroup infra/ creates)."""
    return name or GlueSettings.from_env().athena_workgroup or DEFAULT_WORKGROUP


def _wrangler_errors(wr) -> tuple[type[Exception], ...]:
    """awswrangler's exceptions (QueryFailed, QueryCancelled, NoFilesFound, ...): they share no base class."""
    return tuple(v for v in vars(wr.exceptions).values() if isinstance(v, type) and issubclass(v, Exception))


def run_athena(
    sql: str,
    *,
    params: Sequence[str] = (),
    database: str | None = None,
    workgroup: str | None = None,
    boto3_session=None,
) -> pd.DataFrame:
    """Run one SELECT on Athena and return its rows.

    Parameters
    ----------
    sql
        Athena SQL: exactly one SELECT (QueryRefused otherwise, before anything is sent).
    params
        Values of the `?` placeholders as SQL literals (`'NVDA'`, `10`, `DATE '2025-01-02'`), bound by
        Athena.
    database, workgroup
        Default TICKERLAKE_GLUE_DATABASE / `tickerlake` and TICKERLAKE_ATHENA_WORKGROUP / `tickerlake`.
    """
    import awswrangler as wr
    import botocore.exceptions

    parse_query(sql, params)  # the same refusals as locally; parameters must be literals
    database, workgroup = database_name(database), workgroup_name(workgroup)
    try:
        return wr.athena.read_sql_query(
            sql,
            database=database,
            workgroup=workgroup,
            params=list(params) or None,
            paramstyle="qmark",
            ctas_approach=False,  # analysts have read-only rights: no CTAS table in the catalog
            boto3_session=boto3_session,
        )
    except (*_wrangler_errors(wr), botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AthenaQueryFailed(
            f"Athena query in workgroup {workgroup!r}, database {database!r} failed: {reason}"
        ) from exc
