"""What a crawl writes to the Data Catalog: table and partition inputs, and applying them under the crawler's
SchemaChangePolicy (create, update, deprecate or delete)."""
from __future__ import annotations

import hashlib
import logging
import time

from botocore.exceptions import ClientError

from local_aws.glue.crawler.discovery import sanitize_name
from local_aws.glue.crawler.model import (
    CrawlError,
    CrawlMetrics,
    FileSample,
    InferredTable,
    Partition,
    Policy,
    Schema,
    TableData,
    TableFormat,
    merge_schemas,
    render_type,
)
from local_aws.hive import PARTITION_CREATE_BATCH, PARTITION_DELETE_BATCH, chunks

log = logging.getLogger("local_aws.glue.crawler")

STATS_KEYS = ("recordCount", "averageRecordSize", "sizeKey", "objectCount")
TABLE_INPUT_KEYS = (
    "Name", "Description", "Owner", "LastAccessTime", "LastAnalyzedTime", "Retention",
    "StorageDescriptor", "PartitionKeys", "ViewOriginalText", "ViewExpandedText",
    "TableType", "Parameters", "TargetTable",
)


def require_database(glue, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except ClientError as err:
        if err.response["Error"]["Code"] == "EntityNotFoundException":
            raise CrawlError(f"Database {database} not found") from err
        raise


def resolve_name(glue, database: str, table_prefix: str, table: TableData,
                  claimed: dict[str, str]) -> tuple[str, dict | None]:
    """The table's catalog name and its current catalog entry, if any."""
    name = (table_prefix + sanitize_name(table.base_name)).lower()
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


def _columns(schema: Schema) -> list[dict[str, str]]:
    return [{"Name": name, "Type": render_type(t)} for name, t in schema.items()]


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


def apply_table(glue, database: str, name: str, existing: dict | None, inferred: InferredTable,
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
        if policy.new_folders_only and not _same_format(existing, inferred.fmt):
            # AWS's incremental crawl ignores objects its table cannot take, and says so in the crawler's log.
            log.warning("Crawler %s: %s holds %s; table %s is %s: its new folders are not added", crawler_name,
                        inferred.location, _format_name(inferred.fmt.params), name,
                        _format_name(existing.get("Parameters") or {}))
            return
        # The table stays as it is, so partitions that inherit its schema get the cataloged one.
        schema = {c["Name"]: c["Type"] for c in existing.get("StorageDescriptor", {}).get("Columns", [])}
    if catalog_keys != inferred.partition_keys:
        return  # LOG keeps a table whose partitioning no longer matches: nothing fits it
    _sync_partitions(glue, database, name, inferred, schema, policy, metrics)


def _same_format(table: dict, fmt: TableFormat) -> bool:
    return _format_name(table.get("Parameters") or {}) == _format_name(fmt.params)


def _format_name(params: dict[str, str]) -> str:
    delimiter = params.get("delimiter")
    return params.get("classification", "UNKNOWN") + (f" delimited by {delimiter!r}" if delimiter else "")


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
    wanted = {tuple(p.values): _partition_input(inferred, p, schema, policy) for p in inferred.partitions}
    if not policy.update_in_database and policy.delete_behavior != "DELETE_FROM_DATABASE":
        # Only additions: BatchCreatePartition says which exist, so the table's partitions (one per date backed
        # up) are not read, and the crawl's cost does not grow with them.
        _create_partitions(glue, database, name, list(wanted.values()), metrics, existing_ok=True)
        return
    existing = {tuple(p["Values"]): p for p in _get_partitions(glue, database, name)}
    _create_partitions(glue, database, name, [entry for values, entry in wanted.items() if values not in existing],
                       metrics)
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


def _create_partitions(glue, database: str, name: str, entries: list[dict], metrics: CrawlMetrics,
                       existing_ok: bool = False) -> None:
    for chunk in chunks(entries, PARTITION_CREATE_BATCH):
        errors = glue.batch_create_partition(DatabaseName=database, TableName=name,
                                             PartitionInputList=chunk).get("Errors") or []
        existed = [e for e in errors if existing_ok and e["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"]
        _check_batch({"Errors": [e for e in errors if e not in existed]}, name, "create")
        metrics.partitions_created += len(chunk) - len(existed)


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


def retire_vanished_tables(glue, database: str, produced: set[str], policy: Policy,
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
