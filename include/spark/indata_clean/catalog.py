"""The run's outputs: the clean and rejects partitions, and the clean table and partition in the Glue catalog."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from indata_clean.reading import partition_path
from indata_clean.transforms import clean_rows, reject_rows
from indata_contract import DatasetConfig

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def write_outputs(classified: DataFrame, args: Mapping[str, str]) -> None:
    """Replace the run date's clean and rejects partitions, and nothing else.

    Writing straight to the ``dt=`` folder with overwrite replaces exactly that partition, like dynamic partition
    overwrite does, but also when the clean result is empty (dynamic overwrite would leave the old files there).
    """
    run_date = args["run_date"]
    clean_rows(classified).write.mode("overwrite").option("compression", "snappy").parquet(
        partition_path(args["clean_path"], run_date)
    )
    reject_rows(classified).write.mode("overwrite").option("ignoreNullFields", "false").json(
        partition_path(args["rejects_path"], run_date)
    )


def hive_type(data_type: T.DataType) -> str:
    """The Glue/Hive column type; Spark's simple strings match Hive's except for timestamp_ntz."""
    if isinstance(data_type, T.TimestampNTZType):
        return "timestamp"
    return data_type.simpleString()


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def catalog_columns(args: Mapping[str, str]) -> dict[str, str] | None:
    """The clean table's columns and their Glue types, in order; None when the table (or database) does not exist."""
    glue = boto3.client("glue", region_name=aws_region())
    try:
        table = glue.get_table(DatabaseName=args["clean_database"], Name=args["dataset"])["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    return {column["Name"]: column["Type"] for column in table["StorageDescriptor"].get("Columns", [])}


def retyped_columns(
    schema: T.StructType, catalog: Mapping[str, str] | None, config: DatasetConfig, table: str
) -> list[str]:
    """Columns whose type differs from the clean table's: allowed (and returned) when the configured schema sets
    the type, the table then takes it; otherwise a ValueError naming each column and both types."""
    if not catalog:
        return []
    configured = {spec.name for spec in config.schema}
    changed = [(f.name, catalog[f.name], hive_type(f.dataType)) for f in schema.fields
               if f.name in catalog and catalog[f.name] != hive_type(f.dataType)]
    conflicts = [f"{name!r} is {old} in the table but {new} in this run" for name, old, new in changed
                 if name not in configured]
    if conflicts:
        raise ValueError(
            f"Column types conflict with the clean table {table}: {'; '.join(conflicts)}. Declare the type in the "
            "dataset's schema (the schema's type wins and the table is updated), or fix the export"
        )
    return [name for name, _, _ in changed]


def register_table(schema: T.StructType, args: Mapping[str, str], catalog: Mapping[str, str] | None = None) -> None:
    """Create or update the clean table and its ``dt=<run_date>`` partition in the Glue catalog.

    The table keeps the columns of ``catalog`` (the table as it was) that this run lacks, after this run's own:
    earlier dates still hold them. The partition lists only this run's columns.
    """
    glue = boto3.client("glue", region_name=aws_region())
    database, table, run_date = args["clean_database"], args["dataset"], args["run_date"]
    partition_columns = [{"Name": f.name, "Type": hive_type(f.dataType)} for f in schema.fields]
    earlier_only = [{"Name": name, "Type": type_name} for name, type_name in (catalog or {}).items()
                    if name not in schema.fieldNames()]

    def storage(location: str, columns: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "Columns": columns,
            "Location": location,
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        }

    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        pass  # another dataset's run created it

    table_input = {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": storage(args["clean_path"], partition_columns + earlier_only),
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table_input)

    partition_input = {
        "Values": [run_date],
        "StorageDescriptor": storage(partition_path(args["clean_path"], run_date), partition_columns),
    }
    try:
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_partition(
            DatabaseName=database, TableName=table, PartitionValueList=[run_date], PartitionInput=partition_input
        )


