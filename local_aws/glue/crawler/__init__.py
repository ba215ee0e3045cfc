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
* RecrawlPolicy CRAWL_NEW_FOLDERS_ONLY (AWS's incremental crawl; the API refuses it with any SchemaChangePolicy
  but LOG/LOG): ``known`` holds the folders the crawler's earlier crawls in this mode read (partition folders, or
  an unpartitioned table's folder), and objects under them are not read again; the LIST still covers the whole
  target. With no known folders (the first crawl in this mode) everything is read, as AWS's first crawl does.
  After that: no new table is created; a new folder's partition gets its own files' schema and the table is left
  alone; a folder whose format (or CSV delimiter) differs from its table's is skipped with a log line, as AWS
  ignores incompatible objects; a CSV table keeps the header decision it was created with (only the new files
  are seen); the crawl adds partitions without reading the table's existing ones. Files added to a known folder
  later are not seen, as with AWS: re-crawling a changed date takes a CRAWL_EVERYTHING crawl.
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
  paths naming a single object, partition indexes, CRAWL_RUN_ID / partition_filtering parameters, AWS's refusal to
  change the S3 targets of a CRAWL_NEW_FOLDERS_ONLY crawler (here a change of targets forgets the known folders).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection

from local_aws.glue.crawler.catalog import apply_table, require_database, resolve_name, retire_vanished_tables
from local_aws.glue.crawler.discovery import discover_tables
from local_aws.glue.crawler.inference import infer_table
from local_aws.glue.crawler.model import CrawlError, CrawlMetrics, InferredTable, Policy

__all__ = ["CrawlError", "CrawlMetrics", "run_crawl"]

log = logging.getLogger("local_aws.glue.crawler")


def run_crawl(s3_client, glue_client, crawler: dict, known: Collection[str] = ()) -> CrawlMetrics:
    """crawler: the Crawler structure as returned by Glue GetCrawler (Name, DatabaseName, TablePrefix,
    Targets.S3Targets[{Path, Exclusions}], SchemaChangePolicy {UpdateBehavior: UPDATE_IN_DATABASE|LOG,
    DeleteBehavior: DEPRECATE_IN_DATABASE|DELETE_FROM_DATABASE|LOG}, RecrawlPolicy, Configuration (JSON string, may
    be absent)). Reads the targets from S3 and creates/updates tables and partitions in the catalog.

    known: the folders earlier crawls read (``CrawlMetrics.folders`` of each), skipped under CRAWL_NEW_FOLDERS_ONLY.
    """
    database = crawler.get("DatabaseName") or "default"
    require_database(glue_client, database)
    policy = Policy.from_crawler(crawler)
    known_folders = set(known) if policy.new_folders_only else set()
    metrics = CrawlMetrics()
    claimed: dict[str, str] = {}  # table name -> location, for this run
    for table in discover_tables(s3_client, crawler):
        table = dataclasses.replace(table, objects=[
            obj for obj in table.objects if not _under_known(f"s3://{table.bucket}/{obj.key}", known_folders)])
        if not table.objects:
            continue
        name, existing = resolve_name(glue_client, database, crawler.get("TablePrefix") or "", table, claimed)
        if existing is None and known_folders:
            log.warning("Crawler %s: new folders under %s belong to no table; an incremental crawl adds no tables",
                        crawler["Name"], table.location)
            continue
        inferred = infer_table(s3_client, table, name, existing if known_folders else None)
        apply_table(glue_client, database, name, existing, inferred, policy, crawler["Name"], metrics)
        metrics.folders.update(_folders(inferred))
    retire_vanished_tables(glue_client, database, set(claimed), policy, crawler["Name"], metrics)
    return metrics


def _under_known(uri: str, known: set[str]) -> bool:
    """True when one of the object's folders (s3://bucket/a/, s3://bucket/a/b/, ...) is known."""
    if not known:
        return False
    parts = uri.split("/")
    return any("/".join(parts[:end]) + "/" in known for end in range(3, len(parts)))


def _folders(inferred: InferredTable) -> set[str]:
    if inferred.partition_keys:
        return {partition.location for partition in inferred.partitions}
    return {inferred.location}  # ends with a slash, as every folder here does
