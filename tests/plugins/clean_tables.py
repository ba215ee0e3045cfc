"""Clean tables as the Glue job registers them, for the validation tests: a Parquet StorageDescriptor."""
from __future__ import annotations

from collections.abc import Mapping


def parquet_storage(location: str, columns: Mapping[str, str]) -> dict:
    """A Parquet StorageDescriptor at ``location`` with ``columns`` (name -> Glue type)."""
    return {"Columns": [{"Name": name, "Type": glue_type} for name, glue_type in columns.items()],
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}
