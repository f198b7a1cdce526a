"""The Glue catalog: table definitions from schemas/, sync against the moto server, DDL, Terraform."""

from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import schemas
from glue import catalog
from lake import layout
from tickerlake_cli.main import app

DATASETS = ("prices", "indicators", "percentiles", "features")
INFRA = Path(__file__).resolve().parent.parent / "infra"

# Athena's names for the Arrow types the lake stores, written out independently of schemas.glue_type.
_ATHENA_TYPES = {
    pa.float64(): "double",
    pa.int64(): "bigint",
    pa.string(): "string",
    pa.date32(): "date",
    pa.bool_(): "boolean",
}


def _athena_type(arrow_type: pa.DataType) -> str:
    return "timestamp" if pa.types.is_timestamp(arrow_type) else _ATHENA_TYPES[arrow_type]


def _expected_columns(dataset: str) -> list[tuple[str, str]]:
    return [(f.name, _athena_type(f.type)) for f in schemas.arrow_schema(dataset)]


def test_table_columns_are_the_month_objects_parquet_schema_and_month_is_the_partition_key():
    for dataset in DATASETS:
        table = catalog.table_input(dataset, "s3://lake/pfx")
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert columns == _expected_columns(dataset)
        assert columns[:2] == [("ticker", "string"), ("date", "date")]  # plain columns, date a DATE
        assert "month" not in dict(columns)  # the partition key is the folder, not a column of the file
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("month", "string")]


def test_table_is_parquet_with_month_projection():
    table = catalog.table_input("indicators", "s3://lake/pfx")
    descriptor = table["StorageDescriptor"]
    assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert (
        descriptor["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert descriptor["Location"] == "s3://lake/pfx/processed/indicators/"
    assert table["Parameters"] | {} == {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.month.type": "date",
        "projection.month.format": "yyyy-MM",
        "projection.month.range": "2000-01,NOW",
        "projection.month.interval": "1",
        "projection.month.interval.unit": "MONTHS",
        "storage.location.template": "s3://lake/pfx/processed/indicators/month=${month}/",
    }
    assert not any("ticker" in name or "injected" in value for name, value in table["Parameters"].items())


def test_the_location_template_names_the_layouts_month_key():
    """A month's folder under the template is where lake.layout puts that month's object."""
    for dataset in DATASETS:
        table = catalog.table_input(dataset, "s3://lake/pfx")
        folder = table["Parameters"]["storage.location.template"].replace("${month}", "2025-03")
        assert folder + "data.parquet" == "s3://lake/pfx/" + layout.month_key(dataset, "2025-03")


@pytest.mark.parametrize("uri", ["./lake", "file:///tmp/lake", "s3://", "s3://bucket/a//b"])
def test_a_non_s3_lake_is_refused_for_the_catalog(uri):
    with pytest.raises(ValueError, match="lake URI"):
        catalog.lake_root(uri)


def test_lake_root_drops_trailing_slashes():
    assert catalog.lake_root("s3://bucket/") == "s3://bucket"
    assert catalog.lake_root("s3://bucket/a/b/") == "s3://bucket/a/b"


def test_ddl_states_the_same_table():
    ddl = catalog.athena_ddl("prices", "s3://lake/pfx", "tickerlake")
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `tickerlake`.`prices` (")
    assert "  `volume` bigint,\n" in ddl and "  `computed_at` timestamp,\n" in ddl
    assert "  `date` date COMMENT" in ddl and "  `ticker` string COMMENT" in ddl
    assert "PARTITIONED BY (\n  `month` string COMMENT" in ddl
    assert "STORED AS PARQUET\nLOCATION 's3://lake/pfx/processed/prices/'" in ddl
    assert "'projection.month.type' = 'date'" in ddl and "'projection.month.format' = 'yyyy-MM'" in ddl
    assert "'projection.month.interval.unit' = 'MONTHS'" in ddl
    assert "injected" not in ddl
    assert "'storage.location.template' = 's3://lake/pfx/processed/prices/month=${month}/'" in ddl
    assert ddl.rstrip().endswith(");")


def test_committed_terraform_tables_equal_a_fresh_generation():
    committed = (INFRA / "glue_tables.tf.json").read_text()
    assert committed == catalog.terraform_json(), "run `tickerlake catalog terraform` and commit the file"


def test_terraform_tables_carry_the_same_columns_and_parameters():
    tables = catalog.terraform_tables()["resource"]["aws_glue_catalog_table"]
    for dataset in DATASETS:
        wanted = catalog.table_input(dataset, "s3://x")
        got = tables[dataset]
        assert [c["name"] for c in got["storage_descriptor"]["columns"]] == [
            c["Name"] for c in wanted["StorageDescriptor"]["Columns"]
        ]
        assert set(got["parameters"]) == set(wanted["Parameters"])
        assert [k["name"] for k in got["partition_keys"]] == ["month"]
        assert got["parameters"]["storage.location.template"] == (
            "${local.lake_uri}/processed/" + dataset + "/month=$${month}/"
        )


def test_cli_catalog_terraform_check_passes_on_the_committed_file():
    result = CliRunner().invoke(
        app, ["catalog", "terraform", "--check", "--out", str(INFRA / "glue_tables.tf.json")]
    )
    assert result.exit_code == 0, result.output


def test_cli_catalog_ddl_prints_all_four_tables():
    result = CliRunner().invoke(app, ["catalog", "ddl", "--lake", "s3://lake/pfx"])
    assert result.exit_code == 0, result.output
    assert result.output.count("CREATE EXTERNAL TABLE") == 4


# --- against the moto server --------------------------------------------------------------------------------


@pytest.fixture
def glue_client(moto_server):
    return boto3.client("glue")


@pytest.fixture
def database(s3_bucket) -> str:
    return s3_bucket.replace("-", "_")


@pytest.mark.s3
def test_sync_creates_the_database_and_four_tables(glue_client, s3_bucket, database):
    done = catalog.sync_catalog(f"s3://{s3_bucket}/lake", database=database, glue_client=glue_client)
    assert done == [f"created database {database}"] + [
        f"created table {database}.{name}" for name in DATASETS
    ]
    tables = {t["Name"]: t for t in glue_client.get_tables(DatabaseName=database)["TableList"]}
    assert set(tables) == set(DATASETS)
    for name, table in tables.items():
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == _expected_columns(
            name
        )
        assert [k["Name"] for k in table["PartitionKeys"]] == ["month"]
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert parameters["projection.month.type"] == "date"
        assert parameters["projection.month.format"] == "yyyy-MM"
        assert parameters["storage.location.template"] == (
            f"s3://{s3_bucket}/lake/processed/{name}/month=${{month}}/"
        )


@pytest.mark.s3
def test_resync_changes_nothing(glue_client, s3_bucket, database):
    uri = f"s3://{s3_bucket}/lake"
    catalog.sync_catalog(uri, database=database, glue_client=glue_client)
    versions = {
        n: glue_client.get_table(DatabaseName=database, Name=n)["Table"].get("VersionId") for n in DATASETS
    }
    calls: list[str] = []
    glue_client.meta.events.register("before-call.glue.UpdateTable", lambda **kw: calls.append("update"))
    glue_client.meta.events.register("before-call.glue.CreateTable", lambda **kw: calls.append("create"))

    done = catalog.sync_catalog(uri, database=database, glue_client=glue_client)

    assert calls == []
    assert done == [f"unchanged database {database}"] + [
        f"unchanged table {database}.{name}" for name in DATASETS
    ]
    after = {
        n: glue_client.get_table(DatabaseName=database, Name=n)["Table"].get("VersionId") for n in DATASETS
    }
    assert after == versions


@pytest.mark.s3
def test_sync_updates_a_table_that_drifted(glue_client, s3_bucket, database):
    uri = f"s3://{s3_bucket}/lake"
    catalog.sync_catalog(uri, database=database, glue_client=glue_client)
    drifted = catalog.table_input("prices", uri)
    drifted["StorageDescriptor"]["Columns"] = drifted["StorageDescriptor"]["Columns"][:2]
    drifted["Parameters"]["projection.month.range"] = "2020-01,NOW"
    glue_client.update_table(DatabaseName=database, TableInput=drifted)

    done = catalog.sync_catalog(uri, database=database, glue_client=glue_client)

    assert f"updated table {database}.prices" in done
    assert f"unchanged table {database}.indicators" in done
    table = glue_client.get_table(DatabaseName=database, Name="prices")["Table"]
    assert len(table["StorageDescriptor"]["Columns"]) == len(schemas.arrow_schema("prices"))
    assert table["Parameters"]["projection.month.range"] == "2000-01,NOW"


@pytest.mark.s3
def test_sync_moves_a_table_of_the_ticker_day_grain_to_the_month_grain(glue_client, s3_bucket, database):
    """A catalog synced before the month grain (ticker/date partition keys, injected ticker projection) is
    updated in place: month partition key, ticker and date as columns, no ticker projection left."""
    uri = f"s3://{s3_bucket}/lake"
    catalog.sync_catalog(uri, database=database, glue_client=glue_client)
    old = catalog.table_input("features", uri)
    old["PartitionKeys"] = [{"Name": "ticker", "Type": "string"}, {"Name": "date", "Type": "string"}]
    old["StorageDescriptor"]["Columns"] = old["StorageDescriptor"]["Columns"][2:]
    old["Parameters"] = {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.ticker.type": "injected",
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": "2000-01-01,NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": f"{uri}/processed/features/ticker=${{ticker}}/date=${{date}}/",
    }
    glue_client.update_table(DatabaseName=database, TableInput=old)

    done = catalog.sync_catalog(uri, database=database, glue_client=glue_client)

    assert f"updated table {database}.features" in done
    table = glue_client.get_table(DatabaseName=database, Name="features")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["month"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]][:2] == ["ticker", "date"]
    assert not [
        name for name in table["Parameters"] if name.startswith(("projection.ticker", "projection.date"))
    ]


@pytest.mark.s3
def test_cli_catalog_sync_uses_the_environment_database(glue_client, s3_bucket, database, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_GLUE_DATABASE", database)
    runner = CliRunner()
    first = runner.invoke(app, ["catalog", "sync", "--lake", f"s3://{s3_bucket}"])
    assert first.exit_code == 0, first.output
    assert f"- created table {database}.features" in first.output
    second = runner.invoke(app, ["catalog", "sync", "--lake", f"s3://{s3_bucket}"])
    assert second.exit_code == 0 and "created" not in second.output and "updated" not in second.output


def test_cli_catalog_sync_refuses_a_local_lake(tmp_path):
    result = CliRunner().invoke(app, ["catalog", "sync", "--lake", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not an S3 lake" in result.output
