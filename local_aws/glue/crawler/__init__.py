"""The data plane of the local Glue crawler: read S3 targets, infer tables, write them to the catalog.

moto's own crawler only flips states; `run_crawl` does what a real crawler run does in between.
It talks to S3 and Glue only through the boto3 clients it is given, so it works against any
endpoint (the local stack's moto server in practice).

Behaviour (modelled on the AWS Glue docs: built-in classifiers, "How does a crawler determine when
to create partitions", include/exclude patterns, SchemaChangePolicy):

* Targets: every ``Targets.S3Targets[].Path`` (``s3://bucket/prefix``, trailing slash optional) is
  listed with pagination. Skipped: 0-byte objects (folder placeholders, empty files), ``*_$folder$``
  markers, and anything with a path component starting with ``_`` or ``.`` below the include path
  (``_SUCCESS``, ``_temporary/``, ``.spark-staging``...), as Spark/Hadoop and Glue ignore them.
* Exclusions: AWS glob syntax relative to the include path: ``*`` and ``?`` stay within one folder,
  ``**`` crosses folders, ``[a-z]``/``[!x]`` brackets, ``{a,b}`` groups, ``\\`` escapes. As in AWS a
  pattern that matches a folder excludes everything below it (``myfolder/*`` drops ``myfolder/x/y``).
* Table boundaries: if the include path directly holds data files or Hive ``key=value`` folders, it is
  one table named after its last path segment (the bucket for a bucket root); otherwise each immediate
  subfolder is a table. Names are lowercased, characters outside ``[a-z0-9_]`` become ``_`` and
  ``TablePrefix`` is prepended. A name already used by another location (in this run or in the
  catalog) gets ``_<8 hex of md5(location)>`` appended, like the crawler's hash suffix.
* Partitions: the folders between the table root and its files, down to the shallowest file's depth.
  A level where every folder is ``key=value`` with one key gives partition key ``key``; otherwise
  ``partition_<level>`` with the folder name as value. Keys are typed ``string``. One partition per
  folder combination, Location = that folder with a trailing slash. Each partition gets the schema of
  its own files (the crawler default), or the table's with the Configuration
  ``CrawlerOutput.Partitions.AddOrUpdateBehavior = InheritFromTable``.
* Classification, in the built-in order, from the first 1 MiB of each object (ranged GET), gzip
  decompressed when the object starts with the gzip magic (``compressionType=gzip``):
  - Parquet (``PAR1`` magic): schema from the footer (ranged GET of the tail), Arrow types mapped to
    Hive (int32->int, int64->bigint, float->float, double->double, decimal(p,s), date, timestamp,
    string, boolean, binary, array<>, struct<>, map<>); ``recordCount`` from the footer.
  - JSON (first value is an object or array): JSON lines and concatenated (even pretty-printed)
    objects; bool->boolean, int->bigint, float->double, str->string, object->struct<...>,
    list->array<...>. A file holding one top-level array is, as with the built-in classifier (the
    Glue docs' "$[*]" example), ONE record with a single column ``array`` of type array<...>.
  - CSV: delimiter among , | tab ; Ctrl-A chosen by the most consistent field count (ties in that
    order), at least 2 columns and 2 rows; RFC 4180 quotes, embedded delimiters/newlines. Cell types
    (after trimming, empty = null): bigint, double, boolean (true/false), else string; dates and
    decimal commas stay string. Header rule (AWS's documented heuristics, decided per table over all
    its files): every file's first row is non-empty, unique (case-insensitive), shorter than 150
    characters and all string-typed, AND some column of the data rows is not string. So an all-string
    file gets ``col0, col1...`` exactly like AWS. Quoted fields anywhere -> OpenCSVSerde
    ``{separatorChar, quoteChar}`` keeping the inferred types (Athena's OpenCSVSerde reads
    bigint/double/boolean), ``areColumnsQuoted=true``; otherwise LazySimpleSerDe ``{field.delim}``.
  - Anything else: classification ``UNKNOWN`` with no columns, as the crawler does.
  Schemas merge across files by column name: union of columns, types widen along
  tinyint < smallint < int < bigint < float < double, structs merge field-wise, anything else -> string.
* Catalog: missing database -> ``CrawlError('Database <name> not found')``. New table ->
  CreateTable (EXTERNAL_TABLE, Owner ``owner``, Parameters: classification, compressionType,
  typeOfData, recordCount, averageRecordSize, sizeKey, objectCount, CrawlerSchema(De)SerializerVersion,
  UPDATED_BY_CRAWLER plus the format's keys; the StorageDescriptor carries the same Parameters).
  Existing table under UPDATE_IN_DATABASE: when its schema or format changed, UpdateTable keeps the
  existing column order (for CSV the files' order, its columns being positional), appends new
  columns and drops vanished ones (kept with Configuration
  ``CrawlerOutput.Tables.AddOrUpdateBehavior = MergeNewColumns``); user Parameters are kept and
  DEPRECATED_BY_CRAWLER cleared. Under LOG the table is left alone. New partitions ->
  BatchCreatePartition (chunks of 100), also under LOG; existing partitions are updated only under
  UPDATE_IN_DATABASE when their schema/format changed. DeleteBehavior for tables carrying
  ``UPDATED_BY_CRAWLER=<this crawler>`` that this run did not produce: DEPRECATE_IN_DATABASE sets
  ``DEPRECATED_BY_CRAWLER=<epoch ms>`` (counted in tables_deleted), DELETE_FROM_DATABASE deletes
  them and also the partitions whose folders are gone, LOG does nothing.
  RecrawlPolicy CRAWL_NEW_FOLDERS_ONLY behaves as UpdateBehavior=LOG, DeleteBehavior=LOG.
* An include path without objects yields no tables and no error.

Deviations from AWS:

* Table grouping is structural (above), not AWS's schema-similarity heuristic (70% rule, per-file
  tables for dissimilar files). Files of different formats (or CSV delimiters) under one table raise
  ``CrawlError`` naming the table and formats, where AWS would silently split them.
* Non-UTF-8 text is decoded as cp1252 so latin-1 names survive ("Código" -> ``código``); AWS reads
  UTF-8 and would show U+FFFD. No ``serialization.encoding`` is written (AWS writes none either).
* Table statistics (recordCount, sizeKey...) are rewritten only when a table is updated for a schema
  or format change, so adding partitions leaves ``tables_updated`` at 0. Estimates for objects larger
  than the sample are extrapolated from the sample.
* Not modelled: custom classifiers, table-level / grouping Configuration options, CRAWL_EVENT_MODE
  (crawls everything), bzip2/snappy/zip/lz4 text (UNKNOWN), Avro/ORC/XML/Ion/logs (UNKNOWN), include
  paths naming a single object, partition indexes, CRAWL_RUN_ID / partition_filtering parameters.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Union

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from local_aws.hive import (
    JSON_SERDE, LAZY_SIMPLE_SERDE, OPEN_CSV_SERDE, PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE, PARTITION_CREATE_BATCH,
    PARTITION_DELETE_BATCH, TEXT_INPUT, TEXT_OUTPUT, chunks, is_hidden, split_s3_folder,
)

SAMPLE_BYTES = 1 << 20
MAX_GUNZIPPED_BYTES = 8 << 20
PARQUET_TAIL_BYTES = 64 << 10
CSV_DELIMITERS = (",", "|", "\t", ";", "\x01")  # AWS's list; the order breaks ties
CSV_MIN_CONSISTENCY = 0.9
MAX_HEADER_CELL = 150
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"

STATS_KEYS = ("recordCount", "averageRecordSize", "sizeKey", "objectCount")
NUMERIC_LADDER = ("tinyint", "smallint", "int", "bigint", "float", "double")
TABLE_INPUT_KEYS = (
    "Name", "Description", "Owner", "LastAccessTime", "LastAnalyzedTime", "Retention",
    "StorageDescriptor", "PartitionKeys", "ViewOriginalText", "ViewExpandedText",
    "TableType", "Parameters", "TargetTable",
)

_HIVE_FOLDER = re.compile(r"([^=]+)=(.*)")
_JSON_WS = re.compile(r"[ \t\r\n]*")
_BIGINT = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_ARROW_SCALARS = {
    "bool": "boolean", "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
    "uint8": "smallint", "uint16": "int", "uint32": "bigint", "uint64": "bigint",
    "halffloat": "float", "float": "float", "double": "double",
    "string": "string", "large_string": "string", "string_view": "string",
    "binary": "binary", "large_binary": "binary", "binary_view": "binary",
    "date32[day]": "date", "date64[ms]": "date",
}


@dataclass
class CrawlMetrics:
    tables_created: int = 0
    tables_updated: int = 0
    tables_deleted: int = 0
    partitions_created: int = 0  # extra, for logs


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


HiveType = Union[str, ArrayType, StructType, MapType]
Schema = dict[str, Union[HiveType, None]]


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


def _columns(schema: Schema) -> list[dict[str, str]]:
    return [{"Name": name, "Type": render_type(t)} for name, t in schema.items()]


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

    @classmethod
    def from_crawler(cls, crawler: dict[str, Any]) -> Policy:
        change = crawler.get("SchemaChangePolicy") or {}
        update = change.get("UpdateBehavior", "UPDATE_IN_DATABASE") == "UPDATE_IN_DATABASE"
        delete = change.get("DeleteBehavior", "DEPRECATE_IN_DATABASE")
        if (crawler.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY":
            update, delete = False, "LOG"  # AWS only allows LOG/LOG with this policy
        output = _configuration(crawler).get("CrawlerOutput", {})
        return cls(
            update_in_database=update,
            delete_behavior=delete,
            merge_new_columns=output.get("Tables", {}).get("AddOrUpdateBehavior") == "MergeNewColumns",
            partitions_inherit=output.get("Partitions", {}).get("AddOrUpdateBehavior") == "InheritFromTable",
        )


def _configuration(crawler: dict[str, Any]) -> dict[str, Any]:
    raw = crawler.get("Configuration")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise CrawlError(f"Crawler configuration is not valid JSON: {err}") from err


# --- Entry point ------------------------------------------------------------------------------


def run_crawl(s3_client, glue_client, crawler: dict) -> CrawlMetrics:
    """crawler: the Crawler structure as returned by Glue GetCrawler (Name, DatabaseName, TablePrefix, Targets.S3Targets[{Path, Exclusions}],
    SchemaChangePolicy {UpdateBehavior: UPDATE_IN_DATABASE|LOG, DeleteBehavior: DEPRECATE_IN_DATABASE|DELETE_FROM_DATABASE|LOG},
    RecrawlPolicy, Configuration (JSON string, may be absent)). Reads the targets from S3 and creates/updates tables and partitions in the catalog."""
    database = crawler.get("DatabaseName") or "default"
    _require_database(glue_client, database)
    policy = Policy.from_crawler(crawler)
    metrics = CrawlMetrics()
    claimed: dict[str, str] = {}  # table name -> location, for this run
    for table in _discover_tables(s3_client, crawler):
        name, existing = _resolve_name(glue_client, database, crawler.get("TablePrefix") or "", table, claimed)
        inferred = _infer_table(s3_client, table, name)
        _apply_table(glue_client, database, name, existing, inferred, policy, crawler["Name"], metrics)
    _retire_vanished_tables(glue_client, database, set(claimed), policy, crawler["Name"], metrics)
    return metrics


def _require_database(glue, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except ClientError as err:
        if err.response["Error"]["Code"] == "EntityNotFoundException":
            raise CrawlError(f"Database {database} not found") from err
        raise


# --- Listing and table boundaries -------------------------------------------------------------


def _discover_tables(s3, crawler: dict[str, Any]) -> list[TableData]:
    tables: dict[str, TableData] = {}
    for target in (crawler.get("Targets") or {}).get("S3Targets", []):
        bucket, prefix = _parse_s3_path(target["Path"])
        patterns = [_glob_to_regex(p) for p in target.get("Exclusions", [])]
        objects = _list_objects(s3, bucket, prefix, patterns)
        for table in _split_tables(bucket, prefix, objects):
            # Overlapping targets must not register the same folder twice.
            tables.setdefault(table.location, table)
    return [tables[location] for location in sorted(tables)]


def _parse_s3_path(path: str) -> tuple[str, str]:
    try:
        return split_s3_folder(path)
    except ValueError:
        raise CrawlError(f"Invalid S3 path {path}") from None


def _list_objects(s3, bucket: str, prefix: str, patterns: list[re.Pattern]) -> list[S3Object]:
    found = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if _is_data_object(rel, obj["Size"]) and not _is_excluded(rel, patterns):
                    found.append(S3Object(obj["Key"], obj["Size"]))
    except ClientError as err:
        raise CrawlError(f"Cannot list s3://{bucket}/{prefix}: {err.response['Error']['Code']}") from err
    return found


def _is_data_object(rel: str, size: int) -> bool:
    if size == 0 or rel.endswith("/") or rel.endswith("_$folder$"):
        return False
    return not is_hidden(rel)


def _is_excluded(rel: str, patterns: list[re.Pattern]) -> bool:
    """True when a pattern matches the object or one of its folders (relative to the include path)."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(p.fullmatch(c) for p in patterns for c in candidates)


def _glob_to_regex(pattern: str) -> re.Pattern:
    out: list[str] = []
    in_group = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        end = _bracket_end(pattern, i) if char == "[" else -1
        if end != -1:
            out.append(_bracket_to_regex(pattern[i + 1:end]))
            i = end + 1
            continue
        if char == "{" and not in_group:
            in_group = True
            out.append("(?:")
        elif char == "}" and in_group:
            in_group = False
            out.append(")")
        elif char == "," and in_group:
            out.append("|")
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char) or re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _bracket_end(pattern: str, start: int) -> int:
    """Index of the "]" closing the bracket at start, or -1 (then "[" is literal)."""
    first = start + 1 + pattern.startswith("!", start + 1)
    # A "]" right after "[" or "[!" is a member, not the end.
    return pattern.find("]", first + pattern.startswith("]", first))


def _bracket_to_regex(body: str) -> str:
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    # Inside brackets *, ? and \ are literal; only "-" keeps its range meaning.
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    return f"[^/{escaped}]" if negate else f"[{escaped}]"


def _split_tables(bucket: str, prefix: str, objects: list[S3Object]) -> list[TableData]:
    if not objects:
        return []
    first_parts = [obj.key[len(prefix):].split("/", 1) for obj in objects]
    if any(len(parts) == 1 or _HIVE_FOLDER.fullmatch(parts[0]) for parts in first_parts):
        segments = prefix.rstrip("/").split("/")
        return [TableData(segments[-1] if prefix else bucket, bucket, prefix, objects)]
    groups: dict[str, list[S3Object]] = {}
    for parts, obj in zip(first_parts, objects):
        groups.setdefault(parts[0], []).append(obj)
    return [TableData(folder, bucket, f"{prefix}{folder}/", objs) for folder, objs in groups.items()]


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def _resolve_name(glue, database: str, table_prefix: str, table: TableData,
                  claimed: dict[str, str]) -> tuple[str, dict | None]:
    """The table's catalog name and its current catalog entry, if any."""
    name = (table_prefix + _sanitize(table.base_name)).lower()
    existing = _get_table(glue, database, name)
    if name in claimed or (existing is not None and not _same_location(existing, table.location)):
        name = f"{name}_{hashlib.md5(table.location.encode()).hexdigest()[:8]}"
        existing = _get_table(glue, database, name)
    claimed[name] = table.location
    return name, existing


def _same_location(table: dict, location: str) -> bool:
    current = table.get("StorageDescriptor", {}).get("Location", "")
    return current.rstrip("/") == location.rstrip("/")


def _get_table(glue, database: str, name: str) -> dict | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except ClientError as err:
        if err.response["Error"]["Code"] == "EntityNotFoundException":
            return None
        raise


# --- Sampling objects -------------------------------------------------------------------------


def _get_range(s3, bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()


def _sample_object(s3, table: TableData, obj: S3Object) -> FileSample:
    rel = obj.key[len(table.prefix):]
    head = _get_range(s3, table.bucket, obj.key, 0, min(obj.size, SAMPLE_BYTES))
    complete = len(head) >= obj.size
    if head.startswith(PARQUET_MAGIC):
        return _sample_parquet(s3, table.bucket, obj, rel, head if complete else None)
    compression = "none"
    raw = head
    if head.startswith(GZIP_MAGIC):
        compression = "gzip"
        decompressor = zlib.decompressobj(wbits=31)
        raw = decompressor.decompress(head, MAX_GUNZIPPED_BYTES)
        complete = complete and decompressor.eof
    if not complete:
        # Drop the partial last line so a cut record does not skew the types.
        raw = raw[:raw.rfind(b"\n") + 1] or raw
    sample = FileSample(rel, obj.size, "UNKNOWN", compression, sample_bytes=len(raw))
    _classify_text(sample, _decode(raw), complete)
    sample.records = sample.sample_records
    if not complete and raw:
        # Extrapolate by the share of the object (compressed bytes for gzip) the sample covers.
        consumed = len(head) if compression == "gzip" else len(raw)
        sample.records = round(sample.sample_records * obj.size / consumed)
    return sample


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1/Windows exports are common; AWS would show U+FFFD instead (see docstring).
        return raw.decode("cp1252", errors="replace")


def _classify_text(sample: FileSample, text: str, complete: bool) -> None:
    json_values = _json_values(text, complete)
    if json_values is not None:
        sample.classification = "json"
        sample.schema, sample.sample_records = json_values
        return
    layout = _sniff_csv(text, complete)
    if layout is not None:
        sample.classification = "csv"
        sample.csv = layout
        sample.sample_records = len(layout.rows)


def _sample_parquet(s3, bucket: str, obj: S3Object, rel: str, whole: bytes | None) -> FileSample:
    tail = whole or _get_range(s3, bucket, obj.key, max(0, obj.size - PARQUET_TAIL_BYTES), obj.size)
    if not tail.endswith(PARQUET_MAGIC) or len(tail) < 12:
        raise CrawlError(f"s3://{bucket}/{obj.key} starts like Parquet but has no Parquet footer")
    footer_len = int.from_bytes(tail[-8:-4], "little")
    if footer_len + 8 > len(tail):
        tail = _get_range(s3, bucket, obj.key, obj.size - footer_len - 8, obj.size)
    try:
        # The footer alone is enough for pyarrow: column offsets are not followed.
        metadata = pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + tail[-(footer_len + 8):]))
    except (pa.ArrowException, OSError) as err:
        raise CrawlError(f"Cannot read the Parquet footer of s3://{bucket}/{obj.key}: {err}") from err
    schema = {f.name.lower(): _arrow_to_hive(f.type) for f in metadata.schema.to_arrow_schema()}
    return FileSample(rel, obj.size, "parquet", schema=schema, records=metadata.num_rows,
                      sample_records=metadata.num_rows, sample_bytes=obj.size)


def _arrow_to_hive(arrow_type: pa.DataType) -> HiveType | None:
    types = pa.types
    if str(arrow_type) in _ARROW_SCALARS:
        return _ARROW_SCALARS[str(arrow_type)]
    if types.is_dictionary(arrow_type):
        return _arrow_to_hive(arrow_type.value_type)
    if types.is_timestamp(arrow_type):
        return "timestamp"
    if types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if types.is_fixed_size_binary(arrow_type):
        return "binary"
    if types.is_map(arrow_type):
        return MapType(_arrow_to_hive(arrow_type.key_type), _arrow_to_hive(arrow_type.item_type))
    if types.is_list(arrow_type) or types.is_large_list(arrow_type) or types.is_fixed_size_list(arrow_type):
        return ArrayType(_arrow_to_hive(arrow_type.value_type))
    if types.is_struct(arrow_type):
        return StructType(tuple((f.name.lower(), _arrow_to_hive(f.type)) for f in arrow_type))
    if types.is_null(arrow_type):
        return None
    return "string"  # time, duration, interval: Hive has no equivalent


# --- JSON -------------------------------------------------------------------------------------


def _json_values(text: str, complete: bool) -> tuple[Schema, int] | None:
    """(schema, records) when the text is JSON objects, or a top-level array; None otherwise."""
    pos = _JSON_WS.match(text).end()
    if text.startswith("[", pos):
        elements = _json_array_elements(text, pos, complete)
        if elements is None:
            return None
        element_type = None
        for element in elements:
            element_type = merge_types(element_type, _json_type(element))
        return {"array": ArrayType(element_type)}, 1
    if not text.startswith("{", pos):
        return None
    decoder = json.JSONDecoder()
    schema: Schema = {}
    records = 0
    while pos < len(text):
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            if records and not complete:
                break  # the sample ends inside a record
            return None
        if not isinstance(value, dict):
            return None
        schema = merge_schemas(schema, _json_record_schema(value))
        records += 1
        pos = _JSON_WS.match(text, pos).end()
    return schema, records


def _json_array_elements(text: str, pos: int, complete: bool) -> list[Any] | None:
    """Elements of the array starting at pos, streamed so a sample cut mid-array still yields some."""
    decoder = json.JSONDecoder()
    elements: list[Any] = []
    pos = _JSON_WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        return elements
    while True:
        try:
            element, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return None if complete else elements
        elements.append(element)
        pos = _JSON_WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _JSON_WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            return elements
        else:
            return None if complete else elements


def _json_record_schema(record: dict[str, Any]) -> Schema:
    schema: Schema = {}
    for key, value in record.items():
        # The catalog is case-insensitive; keys differing only in case become one column.
        schema = merge_schemas(schema, {key.lower(): _json_type(value)})
    return schema


def _json_type(value: Any) -> HiveType | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if -(2**63) <= value < 2**63 else "double"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        element_type = None
        for element in value:
            element_type = merge_types(element_type, _json_type(element))
        return ArrayType(element_type)
    return StructType(tuple(_json_record_schema(value).items()))


# --- CSV --------------------------------------------------------------------------------------


def _sniff_csv(text: str, complete: bool) -> CsvLayout | None:
    best: tuple[float, int] | None = None
    layout = None
    for delimiter in CSV_DELIMITERS:
        rows = _parse_csv(text, delimiter, complete)
        score = _csv_consistency(rows) if rows else None
        if score and (best is None or score > best):
            best = score
            quoted = re.search(f'(?:^|{re.escape(delimiter)})"', text, re.MULTILINE) is not None
            layout = CsvLayout(delimiter, quoted, rows)
    return layout


def _parse_csv(text: str, delimiter: str, complete: bool) -> list[list[str]] | None:
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    except csv.Error:
        return None  # NUL bytes, runaway quotes: not this delimiter (or not CSV)
    return rows if complete else rows[:-1]


def _csv_consistency(rows: list[list[str]]) -> tuple[float, int] | None:
    """(share of rows with the usual width, that width), when it looks like a table."""
    width, count = Counter(len(row) for row in rows).most_common(1)[0]
    share = count / len(rows)
    if len(rows) < 2 or width < 2 or share < CSV_MIN_CONSISTENCY:
        return None
    return share, width


def _csv_cell_type(cell: str) -> str | None:
    value = cell.strip()
    if not value:
        return None
    if _BIGINT.fullmatch(value):
        return "bigint" if -(2**63) <= int(value) < 2**63 else "string"
    if _DOUBLE.fullmatch(value):
        return "double"
    if value.lower() in ("true", "false"):
        return "boolean"
    return "string"


def _csv_column_types(rows: list[list[str]]) -> list[HiveType | None]:
    types: list[HiveType | None] = []
    for row in rows:
        types.extend([None] * (len(row) - len(types)))
        for i, cell in enumerate(row):
            types[i] = merge_types(types[i], _csv_cell_type(cell))
    return types


def _looks_like_header(row: list[str]) -> bool:
    names = [cell.strip().lower() for cell in row]
    named = names[:-1] if names and not names[-1] else names  # a trailing delimiter is allowed
    return (
        all(name and len(name) < MAX_HEADER_CELL and _csv_cell_type(name) == "string" for name in named)
        and len(set(named)) == len(named)
    )


def _csv_has_header(layouts: list[CsvLayout]) -> bool:
    if not all(_looks_like_header(layout.rows[0]) for layout in layouts):
        return False
    data_types = (t for layout in layouts for t in _csv_column_types(layout.rows[1:]))
    return any(t not in (None, "string") for t in data_types)


def _csv_schema(layout: CsvLayout, has_header: bool) -> Schema:
    data = layout.rows[1:] if has_header else layout.rows
    types = _csv_column_types(data)
    header = [cell.strip().lower() for cell in layout.rows[0]] if has_header else []
    width = max(len(types), len(header))
    types.extend([None] * (width - len(types)))
    names = [header[i] if i < len(header) and header[i] else f"col{i}" for i in range(width)]
    return dict(zip(names, types))


# --- Per-table inference ----------------------------------------------------------------------


def _infer_table(s3, table: TableData, name: str) -> InferredTable:
    files = [_sample_object(s3, table, obj) for obj in sorted(table.objects)]
    fmt = _table_format(name, table.location, files)
    schema: Schema = {}
    for sample in files:
        schema = merge_schemas(schema, sample.schema)
    keys, partitions = _partition_layout(table.location, files)
    return InferredTable(table.location, fmt, schema, files, keys, partitions)


def _table_format(name: str, location: str, files: list[FileSample]) -> TableFormat:
    classifications = sorted({f.classification for f in files})
    if len(classifications) > 1:
        raise CrawlError(
            f"Table {name} ({location}) mixes {', '.join(classifications)} files; a Glue crawler would "
            "split them into separate tables. Keep one format per folder or add Exclusions.")
    compression = Counter(f.compression for f in files).most_common(1)[0][0]
    base = {"classification": classifications[0], "compressionType": compression, "typeOfData": "file"}
    if classifications[0] == "csv":
        return _csv_format(name, location, files, base)
    if classifications[0] == "json":
        return TableFormat("json", base, JSON_SERDE, {}, TEXT_INPUT, TEXT_OUTPUT)
    if classifications[0] == "parquet":
        return TableFormat("parquet", base, PARQUET_SERDE, {"serialization.format": "1"},
                           PARQUET_INPUT, PARQUET_OUTPUT)
    return TableFormat("UNKNOWN", base)


def _csv_format(name: str, location: str, files: list[FileSample], base: dict[str, str]) -> TableFormat:
    """The table's CSV format; also fills each sample's schema, which needs the table-wide header decision."""
    layouts = [f.csv for f in files if f.csv]
    delimiters = sorted({layout.delimiter for layout in layouts})
    if len(delimiters) > 1:
        raise CrawlError(f"Table {name} ({location}) mixes CSV delimiters {delimiters}; "
                         "a Glue crawler would split them into separate tables.")
    delimiter = delimiters[0]
    has_header = _csv_has_header(layouts)
    for sample in files:
        sample.schema = _csv_schema(sample.csv, has_header)
        if has_header:
            sample.records = max(0, sample.records - 1)
            sample.sample_records -= 1
    quoted = any(layout.quoted for layout in layouts)
    params = {**base, "delimiter": delimiter, "areColumnsQuoted": str(quoted).lower(), "columnsOrdered": "true"}
    if has_header:
        params["skip.header.line.count"] = "1"
    if quoted:
        serde, serde_params = OPEN_CSV_SERDE, {"separatorChar": delimiter, "quoteChar": '"'}
    else:
        serde, serde_params = LAZY_SIMPLE_SERDE, {"field.delim": delimiter}
    return TableFormat("csv", params, serde, serde_params, TEXT_INPUT, TEXT_OUTPUT)


def _partition_layout(location: str, files: list[FileSample]) -> tuple[list[str], list[Partition]]:
    folders = [sample.rel.split("/")[:-1] for sample in files]
    depth = min(len(f) for f in folders)
    if depth == 0:
        return [], []
    hive_levels = [all(_HIVE_FOLDER.fullmatch(f[level]) for f in folders) for level in range(depth)]
    keys: list[str] = []
    for level in range(depth):
        names = {_sanitize(f[level].split("=", 1)[0]) for f in folders} if hive_levels[level] else set()
        name = names.pop() if len(names) == 1 else f"partition_{level}"
        keys.append(name if name not in keys else f"partition_{level}")
    groups: dict[tuple[str, ...], list[FileSample]] = {}
    for path, sample in zip(folders, files):
        groups.setdefault(tuple(path[:depth]), []).append(sample)
    partitions = [
        Partition(
            values=[p.split("=", 1)[1] if hive else p for p, hive in zip(path, hive_levels)],
            location=location + "/".join(path) + "/",
            files=group,
        )
        for path, group in sorted(groups.items())
    ]
    return keys, partitions


# --- Catalog structures -----------------------------------------------------------------------


def _stats(files: list[FileSample]) -> dict[str, str]:
    records = sum(f.records for f in files)
    sampled_records = sum(f.sample_records for f in files)
    sampled_bytes = sum(f.sample_bytes for f in files)
    return {
        "recordCount": str(records),
        "averageRecordSize": str(round(sampled_bytes / sampled_records) if sampled_records else 0),
        "sizeKey": str(sum(f.size for f in files)),
        "objectCount": str(len(files)),
    }


def _storage_descriptor(fmt: TableFormat, schema: Schema, location: str, params: dict[str, str]) -> dict:
    serde_params = dict(fmt.serde_params)
    if fmt.classification == "json":
        serde_params["paths"] = ",".join(schema)  # the JSON SerDe's column list, as the crawler writes it
    descriptor = {
        "Columns": _columns(schema),
        "Location": location,
        "Compressed": False,
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": fmt.serde_library, "Parameters": serde_params}
        if fmt.serde_library else {},
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": params,
        "StoredAsSubDirectories": False,
    }
    if fmt.input_format:
        descriptor.update(InputFormat=fmt.input_format, OutputFormat=fmt.output_format)
    return descriptor


def _table_input(name: str, inferred: InferredTable, schema: Schema, crawler_name: str) -> dict:
    params = {
        **inferred.fmt.params,
        **_stats(inferred.files),
        "CrawlerSchemaSerializerVersion": "1.0",
        "CrawlerSchemaDeserializerVersion": "1.0",
        "UPDATED_BY_CRAWLER": crawler_name,
    }
    return {
        "Name": name,
        "Owner": "owner",
        "Retention": 0,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in inferred.partition_keys],
        "StorageDescriptor": _storage_descriptor(inferred.fmt, schema, inferred.location, dict(params)),
    }


def _partition_input(inferred: InferredTable, partition: Partition, table_schema: Schema,
                     policy: Policy) -> dict:
    schema: Schema = table_schema
    if not policy.partitions_inherit:
        schema = {}
        for sample in partition.files:
            schema = merge_schemas(schema, sample.schema)
    params = {**inferred.fmt.params, **_stats(partition.files)}
    return {
        "Values": partition.values,
        "StorageDescriptor": _storage_descriptor(inferred.fmt, schema, partition.location, params),
        "Parameters": {},
    }


def _signature(entity: dict) -> tuple:
    """What a crawler change means: schema, format and non-statistics parameters."""
    sd = entity.get("StorageDescriptor", {})
    serde = sd.get("SerdeInfo", {})
    params = {k: v for k, v in entity.get("Parameters", {}).items() if k not in STATS_KEYS}
    return (
        [(c["Name"], c["Type"]) for c in sd.get("Columns", [])],
        [(c["Name"], c["Type"]) for c in entity.get("PartitionKeys", [])],
        sd.get("InputFormat"), sd.get("OutputFormat"), sd.get("Location"),
        serde.get("SerializationLibrary"), serde.get("Parameters", {}),
        params,
    )


def _evolved_schema(old_columns: list[dict], new: Schema, keep_missing: bool, keep_order: bool) -> Schema:
    """The inferred schema, in the catalog's column order when keep_order; new columns go last.

    keep_missing keeps catalog columns no file has any more (their rendered type renders as itself).
    """
    old_types = {c["Name"]: c["Type"] for c in old_columns}
    missing = {n: t for n, t in old_types.items() if n not in new} if keep_missing else {}
    if keep_order:
        ordered: Schema = {n: new.get(n, t) for n, t in old_types.items() if n in new or n in missing}
    else:
        ordered = {**new, **missing}
    ordered.update((n, t) for n, t in new.items() if n not in ordered)
    return ordered


# --- Applying to the catalog ------------------------------------------------------------------


def _apply_table(glue, database: str, name: str, existing: dict | None, inferred: InferredTable,
                 policy: Policy, crawler_name: str, metrics: CrawlMetrics) -> None:
    schema = inferred.schema
    if existing is None:
        glue.create_table(DatabaseName=database, TableInput=_table_input(name, inferred, schema, crawler_name))
        metrics.tables_created += 1
        catalog_keys = inferred.partition_keys
    elif policy.update_in_database:
        # CSV columns are positional: there the files' order wins over the catalog's.
        schema = _evolved_schema(existing.get("StorageDescriptor", {}).get("Columns", []), schema,
                                 keep_missing=policy.merge_new_columns,
                                 keep_order=inferred.fmt.classification != "csv")
        _update_table(glue, database, existing, _table_input(name, inferred, schema, crawler_name), metrics)
        catalog_keys = inferred.partition_keys
    else:
        catalog_keys = [k["Name"] for k in existing.get("PartitionKeys", [])]
    if catalog_keys != inferred.partition_keys:
        return  # LOG keeps a table whose partitioning no longer matches: nothing fits it
    _sync_partitions(glue, database, name, inferred, schema, policy, metrics)


def _update_table(glue, database: str, existing: dict, fresh: dict, metrics: CrawlMetrics) -> None:
    kept = {k: v for k, v in existing.get("Parameters", {}).items() if k != "DEPRECATED_BY_CRAWLER"}
    table_input = {k: existing[k] for k in TABLE_INPUT_KEYS if k in existing}
    table_input.update(fresh, Parameters={**kept, **fresh["Parameters"]})
    if _signature(table_input) == _signature(existing):
        return
    table_input["StorageDescriptor"]["Parameters"] = dict(table_input["Parameters"])
    glue.update_table(DatabaseName=database, TableInput=table_input)
    metrics.tables_updated += 1
    old_keys = [k["Name"] for k in existing.get("PartitionKeys", [])]
    new_keys = [k["Name"] for k in fresh["PartitionKeys"]]
    if old_keys != new_keys:
        # Partitions of the old layout cannot belong to the new one.
        stale = [p["Values"] for p in _get_partitions(glue, database, fresh["Name"])]
        _delete_partitions(glue, database, fresh["Name"], stale)


def _sync_partitions(glue, database: str, name: str, inferred: InferredTable, schema: Schema,
                     policy: Policy, metrics: CrawlMetrics) -> None:
    if not inferred.partition_keys:
        return
    existing = {tuple(p["Values"]): p for p in _get_partitions(glue, database, name)}
    wanted = {tuple(p.values): _partition_input(inferred, p, schema, policy) for p in inferred.partitions}
    new = [entry for values, entry in wanted.items() if values not in existing]
    for chunk in chunks(new, PARTITION_CREATE_BATCH):
        _check_batch(glue.batch_create_partition(DatabaseName=database, TableName=name, PartitionInputList=chunk),
                     name, "create")
    metrics.partitions_created += len(new)
    if policy.update_in_database:
        changed = [
            {"PartitionValueList": list(values), "PartitionInput": entry}
            for values, entry in wanted.items()
            if values in existing and _signature(existing[values]) != _signature(entry)
        ]
        for chunk in chunks(changed, PARTITION_CREATE_BATCH):
            _check_batch(glue.batch_update_partition(DatabaseName=database, TableName=name, Entries=chunk),
                         name, "update")
    if policy.delete_behavior == "DELETE_FROM_DATABASE":
        _delete_partitions(glue, database, name, [list(v) for v in existing if v not in wanted])


def _delete_partitions(glue, database: str, name: str, values: list[list[str]]) -> None:
    for chunk in chunks([{"Values": v} for v in values], PARTITION_DELETE_BATCH):
        _check_batch(glue.batch_delete_partition(DatabaseName=database, TableName=name, PartitionsToDelete=chunk),
                     name, "delete")


def _check_batch(response: dict, table: str, action: str) -> None:
    # Batch partition calls report failures in the body instead of raising.
    errors = response.get("Errors") or []
    if errors:
        detail = errors[0].get("ErrorDetail", {})
        raise CrawlError(f"Failed to {action} {len(errors)} partition(s) of table {table}: "
                         f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}")


def _get_partitions(glue, database: str, name: str) -> list[dict]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
    return [p for page in pages for p in page["Partitions"]]


def _retire_vanished_tables(glue, database: str, produced: set[str], policy: Policy,
                            crawler_name: str, metrics: CrawlMetrics) -> None:
    if policy.delete_behavior not in ("DEPRECATE_IN_DATABASE", "DELETE_FROM_DATABASE"):
        return
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=database)
    for table in (t for page in pages for t in page["TableList"]):
        params = table.get("Parameters", {})
        if params.get("UPDATED_BY_CRAWLER") != crawler_name or table["Name"] in produced:
            continue
        if policy.delete_behavior == "DELETE_FROM_DATABASE":
            glue.delete_table(DatabaseName=database, Name=table["Name"])
        elif "DEPRECATED_BY_CRAWLER" not in params:
            table_input = {k: table[k] for k in TABLE_INPUT_KEYS if k in table}
            table_input["Parameters"] = {**params, "DEPRECATED_BY_CRAWLER": str(int(time.time() * 1000))}
            glue.update_table(DatabaseName=database, TableInput=table_input)
        else:
            continue  # deprecated by an earlier run
        metrics.tables_deleted += 1
