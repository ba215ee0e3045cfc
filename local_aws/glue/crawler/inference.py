"""A table from its samples: one format, the merged schema, and the partitions its folders spell."""
from __future__ import annotations

from collections import Counter

from local_aws.glue.crawler.csv_schema import csv_has_header, csv_schema
from local_aws.glue.crawler.discovery import HIVE_FOLDER, sanitize_name
from local_aws.glue.crawler.model import (
    CrawlError,
    FileSample,
    InferredTable,
    Partition,
    Schema,
    TableData,
    TableFormat,
    merge_schemas,
)
from local_aws.glue.crawler.sampling import sample_object
from local_aws.hive import (
    JSON_SERDE,
    LAZY_SIMPLE_SERDE,
    OPEN_CSV_SERDE,
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    TEXT_INPUT,
    TEXT_OUTPUT,
)


def infer_table(s3, table: TableData, name: str, cataloged: dict | None = None) -> InferredTable:
    """The table its objects spell. ``cataloged``: the table as an incremental crawl finds it in the catalog; it
    has only the new folders' objects, so the CSV header decision and the partition depth are the table's."""
    files = [sample_object(s3, table, obj) for obj in sorted(table.objects)]
    fmt = _table_format(name, table.location, files, _cataloged_header(cataloged))
    schema: Schema = {}
    for sample in files:
        schema = merge_schemas(schema, sample.schema)
    depth = len(cataloged.get("PartitionKeys") or []) if cataloged else None
    keys, partitions = _partition_layout(table.location, files, depth or None)
    return InferredTable(table.location, fmt, schema, files, keys, partitions)


def _cataloged_header(cataloged: dict | None) -> bool | None:
    """Whether a cataloged CSV table skips a header line; None when there is no such table to follow."""
    params = (cataloged or {}).get("Parameters") or {}
    if params.get("classification") != "csv":
        return None
    return params.get("skip.header.line.count") == "1"


def _table_format(name: str, location: str, files: list[FileSample], header: bool | None) -> TableFormat:
    classifications = sorted({f.classification for f in files})
    if len(classifications) > 1:
        raise CrawlError(
            f"Table {name} ({location}) mixes {', '.join(classifications)} files; a Glue crawler would "
            "split them into separate tables. Keep one format per folder or add Exclusions.")
    compression = Counter(f.compression for f in files).most_common(1)[0][0]
    base = {"classification": classifications[0], "compressionType": compression, "typeOfData": "file"}
    if classifications[0] == "csv":
        return _csv_format(name, location, files, base, header)
    if classifications[0] == "json":
        return TableFormat("json", base, JSON_SERDE, {}, TEXT_INPUT, TEXT_OUTPUT)
    if classifications[0] == "parquet":
        return TableFormat("parquet", base, PARQUET_SERDE, {"serialization.format": "1"},
                           PARQUET_INPUT, PARQUET_OUTPUT)
    return TableFormat("UNKNOWN", base)


def _csv_format(name: str, location: str, files: list[FileSample], base: dict[str, str],
                header: bool | None) -> TableFormat:
    """The table's CSV format; also fills each sample's schema, which needs the table-wide header decision (made
    here over all the table's files, or ``header`` when the table already made it)."""
    layouts = [f.csv for f in files if f.csv]
    delimiters = sorted({layout.delimiter for layout in layouts})
    if len(delimiters) > 1:
        raise CrawlError(f"Table {name} ({location}) mixes CSV delimiters {delimiters}; "
                         "a Glue crawler would split them into separate tables.")
    delimiter = delimiters[0]
    has_header = csv_has_header(layouts) if header is None else header
    for sample in files:
        sample.schema = csv_schema(sample.csv, has_header)
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


def _partition_layout(location: str, files: list[FileSample],
                      cataloged_depth: int | None = None) -> tuple[list[str], list[Partition]]:
    """Partition keys and partitions, down to the shallowest file's folder (or the cataloged table's depth, when
    the new files all lie deeper: an incremental crawl does not see the files that set it)."""
    folders = [sample.rel.split("/")[:-1] for sample in files]
    depth = min(len(f) for f in folders)
    if cataloged_depth is not None:
        depth = min(depth, cataloged_depth)
    if depth == 0:
        return [], []
    hive_levels = [all(HIVE_FOLDER.fullmatch(f[level]) for f in folders) for level in range(depth)]
    keys: list[str] = []
    for level in range(depth):
        names = {sanitize_name(f[level].split("=", 1)[0]) for f in folders} if hive_levels[level] else set()
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
