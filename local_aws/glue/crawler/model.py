"""What a crawl works with: Hive types and schemas, the objects and samples it reads, the tables it infers, the
crawler's policy and the crawl's outcome."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

NUMERIC_LADDER = ("tinyint", "smallint", "int", "bigint", "float", "double")
NEW_FOLDERS_ONLY = "CRAWL_NEW_FOLDERS_ONLY"


@dataclass
class CrawlMetrics:
    tables_created: int = 0
    tables_updated: int = 0
    tables_deleted: int = 0
    partitions_created: int = 0  # extra, for logs
    # The folders this crawl read (partition folders; an unpartitioned table's own). Bookkeeping for
    # CRAWL_NEW_FOLDERS_ONLY, not an outcome: left out of comparisons.
    folders: set[str] = field(default_factory=set, compare=False)


class CrawlError(Exception):
    """Message as AWS would put in LastCrawl.ErrorMessage (e.g. 'Database indata_raw not found')."""


# --- Hive types -------------------------------------------------------------------------------
# None stands for "only nulls seen": it yields to any other type and renders as string.


@dataclass(frozen=True)
class ArrayType:
    element: HiveType | None


@dataclass(frozen=True)
class StructType:
    fields: tuple[tuple[str, HiveType | None], ...]


@dataclass(frozen=True)
class MapType:
    key: HiveType | None
    value: HiveType | None


HiveType = str | ArrayType | StructType | MapType
Schema = dict[str, HiveType | None]


def merge_types(a: HiveType | None, b: HiveType | None) -> HiveType | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, str) and isinstance(b, str) and a in NUMERIC_LADDER and b in NUMERIC_LADDER:
        return max(a, b, key=NUMERIC_LADDER.index)
    if isinstance(a, StructType) and isinstance(b, StructType):
        return StructType(tuple(merge_schemas(dict(a.fields), dict(b.fields)).items()))
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(merge_types(a.element, b.element))
    return "string"


def merge_schemas(a: Schema, b: Schema) -> Schema:
    merged = dict(a)
    for name, hive_type in b.items():
        merged[name] = merge_types(merged.get(name), hive_type)
    return merged


def render_type(hive_type: HiveType | None) -> str:
    if hive_type is None:
        return "string"
    if isinstance(hive_type, str):
        return hive_type
    if isinstance(hive_type, ArrayType):
        return f"array<{render_type(hive_type.element)}>"
    if isinstance(hive_type, MapType):
        return f"map<{render_type(hive_type.key)},{render_type(hive_type.value)}>"
    return "struct<" + ",".join(f"{n}:{render_type(t)}" for n, t in hive_type.fields) + ">"


# --- What was found in S3 ---------------------------------------------------------------------


class S3Object(NamedTuple):
    key: str
    size: int


@dataclass
class CsvLayout:
    delimiter: str
    quoted: bool
    rows: list[list[str]]


@dataclass
class FileSample:
    rel: str  # path relative to the table root
    size: int
    classification: str  # parquet | json | csv | UNKNOWN
    compression: str = "none"
    schema: Schema = field(default_factory=dict)
    records: int = 0  # estimated for the whole object
    sample_records: int = 0
    sample_bytes: int = 0
    csv: CsvLayout | None = None


@dataclass
class TableData:
    base_name: str
    bucket: str
    prefix: str
    objects: list[S3Object]

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class TableFormat:
    classification: str
    params: dict[str, str]  # format keys of table and partition Parameters
    serde_library: str | None = None
    serde_params: dict[str, str] = field(default_factory=dict)
    input_format: str | None = None
    output_format: str | None = None


@dataclass
class Partition:
    values: list[str]
    location: str
    files: list[FileSample]


@dataclass
class InferredTable:
    location: str
    fmt: TableFormat
    schema: Schema
    files: list[FileSample]
    partition_keys: list[str]
    partitions: list[Partition]


@dataclass(frozen=True)
class Policy:
    update_in_database: bool
    delete_behavior: str
    merge_new_columns: bool
    partitions_inherit: bool
    new_folders_only: bool = False

    @classmethod
    def from_crawler(cls, crawler: dict[str, Any]) -> Policy:
        change = crawler.get("SchemaChangePolicy") or {}
        output = _configuration(crawler).get("CrawlerOutput", {})
        # CRAWL_NEW_FOLDERS_ONLY comes with LOG/LOG: the Glue API refuses any other SchemaChangePolicy with it.
        return cls(
            update_in_database=change.get("UpdateBehavior", "UPDATE_IN_DATABASE") == "UPDATE_IN_DATABASE",
            delete_behavior=change.get("DeleteBehavior", "DEPRECATE_IN_DATABASE"),
            merge_new_columns=output.get("Tables", {}).get("AddOrUpdateBehavior") == "MergeNewColumns",
            partitions_inherit=output.get("Partitions", {}).get("AddOrUpdateBehavior") == "InheritFromTable",
            new_folders_only=(crawler.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == NEW_FOLDERS_ONLY,
        )


def _configuration(crawler: dict[str, Any]) -> dict[str, Any]:
    raw = crawler.get("Configuration")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise CrawlError(f"Crawler configuration is not valid JSON: {err}") from err
