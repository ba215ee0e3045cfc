"""Classifying one object from its first bytes (ranged GETs): Parquet from its footer, else JSON, else CSV."""
from __future__ import annotations

import zlib

import pyarrow as pa
import pyarrow.parquet as pq

from local_aws.glue.crawler.csv_schema import sniff_csv
from local_aws.glue.crawler.json_schema import json_sample_schema
from local_aws.glue.crawler.model import (
    ArrayType,
    CrawlError,
    FileSample,
    HiveType,
    MapType,
    S3Object,
    StructType,
    TableData,
)

SAMPLE_BYTES = 1 << 20
MAX_GUNZIPPED_BYTES = 8 << 20
PARQUET_TAIL_BYTES = 64 << 10
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
_ARROW_SCALARS = {
    "bool": "boolean", "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
    "uint8": "smallint", "uint16": "int", "uint32": "bigint", "uint64": "bigint",
    "halffloat": "float", "float": "float", "double": "double",
    "string": "string", "large_string": "string", "string_view": "string",
    "binary": "binary", "large_binary": "binary", "binary_view": "binary",
    "date32[day]": "date", "date64[ms]": "date",
}



def _get_range(s3, bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()


def sample_object(s3, table: TableData, obj: S3Object) -> FileSample:
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
    json_values = json_sample_schema(text, complete)
    if json_values is not None:
        sample.classification = "json"
        sample.schema, sample.sample_records = json_values
        return
    layout = sniff_csv(text, complete)
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
