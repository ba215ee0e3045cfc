"""Hive conventions shared by the Glue crawler, the Glue job runner and the Athena engine.

The Glue Data Catalog is a Hive metastore: tables name their data format by Hive class names (SerDe, input and
output format), partitions live in `key=value` folders, and Hadoop's readers skip files whose path has a segment
starting with `_` or `.`. Locations are `s3://bucket/prefix` URIs (`s3a://` is read the same way).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
ORC_INPUT = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"
ORC_OUTPUT = "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat"
AVRO_INPUT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat"
AVRO_OUTPUT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat"

LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
ORC_SERDE = "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
AVRO_SERDE = "org.apache.hadoop.hive.serde2.avro.AvroSerDe"

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # the folder value of a NULL partition key

PARTITION_CREATE_BATCH = 100  # BatchCreatePartition / BatchUpdatePartition limit
PARTITION_DELETE_BATCH = 25  # BatchDeletePartition limit

_S3_URI = re.compile(r"s3a?://([^/]+)/?(.*)")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// or s3a:// URI; ValueError for anything else."""
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise ValueError(f"not an s3:// URI: {uri}")
    return match[1], match[2]


def folder(location: str) -> str:
    """A location or key prefix as a folder: with a trailing slash."""
    return location if location.endswith("/") else location + "/"


def split_s3_folder(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of an S3 folder URI: the prefix is empty (the bucket's root) or ends with a slash."""
    bucket, prefix = split_s3_uri(uri)
    return bucket, folder(prefix) if prefix else prefix


def is_hidden(relative_key: str) -> bool:
    """Whether Hadoop (and so Glue and Athena) skips the object: a path segment starts with '_' or '.'."""
    return any(part.startswith(("_", ".")) for part in relative_key.split("/"))


def chunks(items: list, size: int) -> Iterator[list]:
    """items in lists of at most size, for the catalog's batch calls."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
