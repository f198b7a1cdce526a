"""The Glue catalog of the lake: one database, one table per dataset, generated from `schemas/`.

Each table is an external Parquet table over `processed/<dataset>/` with one partition key, `month`
(a string 'YYYY-MM'), found by partition projection — no crawler, no `MSCK REPAIR`, no partition API
calls: a month the pipeline writes is queryable at once. `ticker` and `date` (a DATE) are ordinary columns
of the month objects, so no query has to name a ticker and a cross-section of one day is one month object.

- `month` is projected as a `date` with format `yyyy-MM`, one month apart, from `MONTH_PROJECTION_START`
  to NOW (the current month included); the partition column itself is a string ('2025-03'), compared as
  text (`month = '2025-03'`, `month >= '2025-01'`). A `month` condition in WHERE limits the objects Athena
  opens; without one Athena opens every month, which stays correct (docs/analysts.md).
- `storage.location.template` maps a month to its folder, `processed/<dataset>/month=${month}/`.

The same table definition (`table_input`) feeds `sync_catalog` (boto3 Glue), `athena_ddl` (the
equivalent CREATE EXTERNAL TABLE) and `terraform_tables` (infra/glue_tables.tf.json), so the three never
drift apart; columns are never hand-copied: they are the dataset's Arrow schema (`schemas.arrow_schema`)
with Glue's type names (`schemas.glue_type`).

Examples
--------
>>> from glue.catalog import sync_catalog
>>> sync_catalog("s3://my-lake/tickerlake")  # doctest: +SKIP
['created database tickerlake', 'created table tickerlake.prices', ...]
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

from glue.settings import GlueSettings
from lake import layout
from lake.exceptions import InvalidArgumentValue

__all__ = [
    "INPUT_FORMAT",
    "MONTH_PROJECTION_RANGE",
    "MONTH_PROJECTION_START",
    "OUTPUT_FORMAT",
    "PARTITION_KEYS",
    "SERDE",
    "TERRAFORM_LAKE_ROOT",
    "athena_ddl",
    "database_input",
    "database_name",
    "lake_root",
    "sync_catalog",
    "table_input",
    "terraform_json",
    "terraform_tables",
]

INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARTITION_KEYS: tuple[str, ...] = ("month",)
_PARTITION_COMMENTS = {
    "month": "YYYY-MM, the folder of the month object (projected as a date, yyyy-MM); optional in WHERE, prunes",
}
_COLUMN_COMMENTS = {
    "ticker": "Yahoo symbol, e.g. D05.SI",
    "date": "trading date, exchange-local",
}
#: The first month Athena projects; months before it are invisible to Athena (the local engine lists them).
MONTH_PROJECTION_START = "2000-01"
MONTH_PROJECTION_RANGE = f"{MONTH_PROJECTION_START},NOW"
#: Where the Terraform tables put the lake: a local of infra/ ("s3://bucket" or "s3://bucket/prefix").
TERRAFORM_LAKE_ROOT = "${local.lake_uri}"
TERRAFORM_DATABASE = "${aws_glue_catalog_database.tickerlake.name}"

_DESCRIPTIONS = {
    "prices": "Daily OHLCV rows per ticker and trading date; one partition (object) per month.",
    "indicators": "Technical indicators (TA-Lib conventions) per ticker and trading date; one partition per month.",
    "percentiles": "Trailing 252-session percentiles and frequencies of the indicators; one partition per month.",
    "features": "Model features (returns, volatility, z-scores, distances) per ticker and date; one partition per month.",
}
# Keys Athena or Glue add to a table's parameters on their own; never a reason to update the table.
_VOLATILE_PARAMETERS = ("transient_lastDdlTime",)


def database_name(name: str | None = None) -> str:
    """The Glue database: `name`, else TICKERLAKE_GLUE_DATABASE, else `tickerlake`."""
    name = name or GlueSettings.from_env().glue_database
    if not name.replace("_", "").isalnum() or not name.islower() or len(name) > 255:
        raise InvalidArgumentValue(
            f"Glue database {name!r} is not valid: expected 1-255 characters of a-z, 0-9 and '_'"
        )
    return name


def lake_root(lake_uri: str) -> str:
    """`s3://bucket[/prefix]` without a trailing slash; InvalidArgumentValue for anything but an S3 lake."""
    if not isinstance(lake_uri, str) or not lake_uri.startswith("s3://"):
        raise InvalidArgumentValue(
            f"lake URI {lake_uri!r} is not an S3 lake: the Glue catalog describes s3://bucket/prefix "
            "(give --lake s3://... or set TICKERLAKE_LAKE_URI)"
        )
    bucket, _, prefix = lake_uri[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    if not bucket or "//" in prefix or any(part in (".", "..") for part in prefix.split("/") if prefix):
        raise InvalidArgumentValue(f"lake URI {lake_uri!r} is not valid: expected s3://bucket/prefix")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _data_columns(dataset: str) -> list[dict[str, str]]:
    """Every column of the dataset's month objects, in storage order, with Glue's type names."""
    import schemas

    columns = []
    for column in schemas.glue_columns(dataset):
        if column["Name"] in _COLUMN_COMMENTS:
            column["Comment"] = _COLUMN_COMMENTS[column["Name"]]
        columns.append(column)
    clash = [column["Name"] for column in columns if column["Name"] in PARTITION_KEYS]
    if clash:  # Glue refuses a partition key that is also a data column
        raise ValueError(
            f"schemas.arrow_schema({dataset!r}) has columns named like the partition keys: {clash}"
        )
    return columns


def _partition_keys() -> list[dict[str, str]]:
    import schemas

    keys = [{**key, "Comment": _PARTITION_COMMENTS[key["Name"]]} for key in schemas.glue_partition_keys()]
    if [key["Name"] for key in keys] != list(PARTITION_KEYS):
        raise ValueError(
            f"schemas.glue_partition_keys() {keys} differ from the projection's {PARTITION_KEYS}"
        )
    return keys


def table_input(dataset: str, root: str) -> dict[str, Any]:
    """The Glue TableInput of a dataset's table over the lake at `root` (`s3://bucket[/prefix]`)."""
    dataset = layout.validate_dataset(dataset)
    location = f"{root}/{layout.dataset_root(dataset)}"
    return {
        "Name": dataset,
        "Description": _DESCRIPTIONS[dataset],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            "projection.enabled": "true",
            "projection.month.type": "date",
            "projection.month.format": "yyyy-MM",
            "projection.month.range": MONTH_PROJECTION_RANGE,
            "projection.month.interval": "1",
            "projection.month.interval.unit": "MONTHS",
            "storage.location.template": location + "month=${month}/",
        },
        "PartitionKeys": _partition_keys(),
        "StorageDescriptor": {
            "Columns": _data_columns(dataset),
            "Location": location,
            "InputFormat": INPUT_FORMAT,
            "OutputFormat": OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def database_input(name: str) -> dict[str, str]:
    return {
        "Name": name,
        "Description": "tickerlake: daily market data (prices, indicators, percentiles, features).",
    }


# --- sync -------------------------------------------------------------------------------------------------


def _matches(existing: Any, wanted: Any, *, exact_keys: bool = False) -> bool:
    """True if `existing` (as Glue returns it) already says everything `wanted` says.

    Glue adds fields of its own (CreateTime, VersionId, Compressed, ...): only the keys we set are compared,
    except for parameter maps, which must hold exactly our keys (ignoring Athena's own bookkeeping).
    """
    if isinstance(wanted, Mapping):
        if not isinstance(existing, Mapping):
            return False
        if exact_keys:
            extra = set(existing) - set(wanted) - set(_VOLATILE_PARAMETERS)
            if extra:
                return False
        return all(
            _matches(existing.get(key), value, exact_keys=key == "Parameters")
            for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(_matches(e, w) for e, w in zip(existing, wanted, strict=True))
        )
    return existing == wanted


def sync_catalog(lake_uri: str, *, database: str | None = None, glue_client: Any = None) -> list[str]:
    """Create or update the Glue database and the four tables; idempotent.

    A table that already matches its definition is left alone (no UpdateTable call, no new table version).

    Returns
    -------
    One line per object: `created ...`, `updated ...` or `unchanged ...`.
    """
    root = lake_root(lake_uri)
    database = database_name(database)
    if glue_client is None:
        import boto3

        glue_client = boto3.client("glue")
    done: list[str] = []
    try:
        glue_client.get_database(Name=database)
        done.append(f"unchanged database {database}")
    except glue_client.exceptions.EntityNotFoundException:
        glue_client.create_database(DatabaseInput=database_input(database))
        done.append(f"created database {database}")
    for dataset in layout.DATASETS:
        wanted = table_input(dataset, root)
        try:
            existing = glue_client.get_table(DatabaseName=database, Name=dataset)["Table"]
        except glue_client.exceptions.EntityNotFoundException:
            glue_client.create_table(DatabaseName=database, TableInput=wanted)
            done.append(f"created table {database}.{dataset}")
            continue
        if _matches(existing, wanted):
            done.append(f"unchanged table {database}.{dataset}")
        else:
            glue_client.update_table(DatabaseName=database, TableInput=wanted)
            done.append(f"updated table {database}.{dataset}")
    return done


# --- Athena DDL -------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def athena_ddl(dataset: str, root: str, database: str | None = None) -> str:
    """The Athena (Hive DDL) statement creating the same table as `table_input`."""
    table = table_input(dataset, root)
    database = database_name(database)
    descriptor = table["StorageDescriptor"]

    def column(c: Mapping[str, str]) -> str:
        comment = f" COMMENT {_quote(c['Comment'])}" if c.get("Comment") else ""
        return f"  `{c['Name']}` {c['Type']}{comment}"

    properties = {k: v for k, v in table["Parameters"].items() if k != "EXTERNAL"}
    lines = [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table['Name']}` (",
        ",\n".join(column(c) for c in descriptor["Columns"]),
        ")",
        f"COMMENT {_quote(table['Description'])}",
        "PARTITIONED BY (",
        ",\n".join(column(c) for c in table["PartitionKeys"]),
        ")",
        "STORED AS PARQUET",
        f"LOCATION {_quote(descriptor['Location'])}",
        "TBLPROPERTIES (",
        ",\n".join(f"  {_quote(k)} = {_quote(v)}" for k, v in properties.items()),
        ");",
    ]
    return "\n".join(lines)


# --- Terraform --------------------------------------------------------------------------------------------


def _escape_terraform(value: Any) -> Any:
    """Terraform JSON strings are templates: a literal `${` (the projection template) is written `$${`."""
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return [_escape_terraform(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_terraform(v) for k, v in value.items()}
    return value


def terraform_tables() -> dict[str, Any]:
    """The `aws_glue_catalog_table` resources of infra/ (Terraform JSON), from the same `table_input`."""
    placeholder = "s3://__tickerlake_lake_root__"
    resources: dict[str, Any] = {}
    for dataset in layout.DATASETS:
        table = _escape_terraform(copy.deepcopy(table_input(dataset, placeholder)))
        descriptor = table["StorageDescriptor"]
        resource = {
            "name": table["Name"],
            "database_name": TERRAFORM_DATABASE,
            "description": table["Description"],
            "table_type": table["TableType"],
            "parameters": table["Parameters"],
            "partition_keys": [
                {"name": k["Name"], "type": k["Type"], "comment": k["Comment"]}
                for k in table["PartitionKeys"]
            ],
            "storage_descriptor": {
                "location": descriptor["Location"],
                "input_format": descriptor["InputFormat"],
                "output_format": descriptor["OutputFormat"],
                "ser_de_info": {
                    "name": "parquet",
                    "serialization_library": descriptor["SerdeInfo"]["SerializationLibrary"],
                    "parameters": descriptor["SerdeInfo"]["Parameters"],
                },
                "columns": [
                    {
                        "name": c["Name"],
                        "type": c["Type"],
                        **({"comment": c["Comment"]} if c.get("Comment") else {}),
                    }
                    for c in descriptor["Columns"]
                ],
            },
        }
        text = json.dumps(resource).replace(placeholder, TERRAFORM_LAKE_ROOT)
        resources[dataset] = json.loads(text)
    return {
        "//": "Generated by `tickerlake catalog terraform` from schemas/ through glue/catalog.py: do not edit.",
        "resource": {"aws_glue_catalog_table": resources},
    }


def terraform_json() -> str:
    """`terraform_tables()` as the text of infra/glue_tables.tf.json (stable: sorted by dataset order)."""
    return json.dumps(terraform_tables(), indent=2) + "\n"
