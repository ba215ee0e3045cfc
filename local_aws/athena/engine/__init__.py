"""Athena query engine of the local AWS stack: Glue Data Catalog + S3 data, queried with DuckDB.

A query's tables are looked up in the Glue Data Catalog, their S3 objects are downloaded into a local
cache (keyed by bucket, key and ETag, so a changed object is fetched again) and exposed to DuckDB as one
view per table reference. The SQL itself is Athena's dialect (Trino), transpiled to DuckDB with sqlglot.
DDL statements are applied to the catalog through the Glue API; no DDL touches S3 data.

Supported statements
    Queries: SELECT / WITH / VALUES. Table references: ``t`` (in the query's database, "default" when
    none is given), ``db.t``, ``"awsdatacatalog"."db"."t"``, quoted or not; the pseudo column ``"$path"``.
    CREATE EXTERNAL TABLE [IF NOT EXISTS] (columns, COMMENT, PARTITIONED BY, ROW FORMAT SERDE ... WITH
    SERDEPROPERTIES, ROW FORMAT DELIMITED ..., STORED AS PARQUET|TEXTFILE|ORC|AVRO or INPUTFORMAT ...
    OUTPUTFORMAT ..., LOCATION, TBLPROPERTIES) - the StorageDescriptor is the one Athena's DDL writes.
    CREATE DATABASE|SCHEMA [IF NOT EXISTS] [COMMENT] [LOCATION] [WITH DBPROPERTIES];
    DROP TABLE [IF EXISTS]; DROP DATABASE|SCHEMA [IF EXISTS] [CASCADE|RESTRICT]; MSCK REPAIR TABLE;
    ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION '...'] [PARTITION ...];
    ALTER TABLE t DROP [IF EXISTS] PARTITION (k='v', ...)[, PARTITION ...] (a partial spec drops every
    partition it matches); SHOW PARTITIONS t; SHOW TABLES [IN db] ['pattern']; SHOW DATABASES|SCHEMAS
    [LIKE 'pattern']; SHOW COLUMNS IN t; DESCRIBE t.
    DDL returns statement type "DDL" and no rows; SHOW / DESCRIBE return "UTILITY" with one varchar
    column each (tab_name, database_name, partition, field, col_name). DESCRIBE rows imitate Hive's
    text output: name, type and comment padded to 20 characters and joined by tabs, followed by a
    "# Partition Information" section for partitioned tables.

Table data
    Parquet (ParquetHiveSerDe, MapredParquetInputFormat or classification=parquet): columns are matched
    by name, case-insensitively; a column missing from every file reads as NULL.
    Text through LazySimpleSerDe: field.delim (or serialization.format; a number means that byte, as in
    Hive; default \\x01), escape.delim, serialization.null.format (default \\N), no quoting; values are
    cast to the declared types with TRY_CAST, so a bad value becomes NULL as in Hive; missing trailing
    fields are NULL, extra fields are ignored.
    Text through OpenCSVSerde: separatorChar / quoteChar / escapeChar (defaults , " \\); Athena reads
    every field as a string (empty fields are empty strings) and the engine then casts to the declared
    types with TRY_CAST.
    Both text SerDes honour skip.header.line.count (per file) and serialization.encoding UTF-8,
    ISO-8859-1 / latin1 and UTF-16. Files ending in .gz or .zst are decompressed.
    JSON lines (org.openx.data.jsonserde.JsonSerDe, org.apache.hive.hcatalog.data.JsonSerDe,
    classification=json): keys are matched to columns by exact name; ignore.malformed.json=true skips
    bad lines.
    Partition columns come from each partition's Values, typed per PartitionKeys; the Hive default
    partition (__HIVE_DEFAULT_PARTITION__) reads as NULL. Objects whose path below the table or
    partition location has a segment starting with '_' or '.' are ignored, as are empty objects.

Partition pruning
    Top-level AND-ed WHERE conditions that reference only partition columns of a table (qualified by its
    alias, or unqualified when the table is the only source of its SELECT) are evaluated against the
    partition values before any object is listed or read. Conditions may use any SQL (=, IN, ranges,
    functions); queries with an outer join in the same SELECT are not pruned. data_scanned_bytes is the
    sum of the sizes of the objects a query reads (whole objects: unlike Athena, no column projection
    discount for Parquet); a table referenced twice is counted twice, as in Athena.

Results
    Column types are Athena's (varchar, integer, bigint, double, real, decimal, date, timestamp,
    array, map, row, varbinary, ...) with the Precision / Scale Athena reports (varchar 2147483647,
    bigint 19, integer 10, double 17, real 9, timestamp 3, decimal p/s, otherwise 0); Nullable is
    "UNKNOWN" and CaseSensitive is true for varchar / char only, as in Athena. DuckDB's HUGEINT (e.g. SUM
    of integers) is reported as bigint, which is Trino's type for those sums. Unnamed expressions are
    named _col0, _col1, ... after their position in the select list. Values are rendered as Athena
    renders them: true/false; timestamps "2024-01-01 10:00:00.000" (milliseconds; " UTC" appended for
    timestamp with time zone); dates ISO; decimals with all scale digits; varbinary as space-separated
    hex; arrays "[a, b]"; maps and rows "{k=v, ...}". Doubles and reals follow Java's toString: the
    shortest digits that round-trip, plain notation for 1e-3 <= |x| < 1e7 ("1.5", "100.0") and
    scientific otherwise ("1.0E10", "1.234E-5"), plus NaN / Infinity.

Athena SQL behaviour the engine adds on top of sqlglot
    Integer division truncates (DuckDB's integer_division setting); count_if never returns NULL;
    DATE +/- INTERVAL, date_add and date_trunc on a date stay dates when the operand is visibly a date
    (a DATE literal or cast, current_date, a date column of a queried table); TIMESTAMP literals compare
    with current_timestamp; format_datetime and parse_datetime with a literal Joda pattern; "$path".

Errors (AthenaQueryError.error_type): SYNTAX_ERROR (with line:col from sqlglot), TABLE_NOT_FOUND,
SCHEMA_NOT_FOUND, CATALOG_NOT_FOUND, COLUMN_NOT_FOUND, FUNCTION_NOT_FOUND, EXPRESSION_NOT_AGGREGATE,
TYPE_MISMATCH, INVALID_CAST_ARGUMENT, INVALID_FUNCTION_ARGUMENT, NUMERIC_VALUE_OUT_OF_RANGE,
HIVE_BAD_DATA (unreadable data file; the message names its s3:// URI), NOT_SUPPORTED,
TABLE_ALREADY_EXISTS, SCHEMA_ALREADY_EXISTS, SCHEMA_NOT_EMPTY, ALREADY_EXISTS / NOT_FOUND (partitions),
CANCELLED, GENERIC_INTERNAL_ERROR (anything else from DuckDB, Glue or S3). Positions of semantic errors
are those of the offending identifier in the original SQL.

Known limits
    Not supported: INSERT, CTAS, UNLOAD, views, Iceberg tables, EXPLAIN, information_schema, prepared
    statements, ORC / Avro data (tables can be created but not read), complex types in text tables,
    JSON SerDe options (mapping.*, case-insensitive keys), per-partition SerDe overrides (the table's is
    used), text compression other than gzip / zstd, encodings other than the three above.
    Semantics that differ from Trino: division by zero gives NULL (Trino: DIVISION_BY_ZERO for
    integers, Infinity / NaN for doubles); decimal / decimal yields a double; parse_datetime returns a
    timestamp without time zone; "$path" also shows up in SELECT * of a query that names it; DATE -
    INTERVAL on an expression not visibly a date (e.g. a date returned by a function) still yields a
    timestamp; approx_distinct / approx_percentile use DuckDB's estimators; reals nested in arrays, maps
    or rows print with double digits; unnamed struct fields and dereferences are named _colN.
    The object cache is never evicted: superseded ETags stay on disk until cache_dir is removed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import decimal
import hashlib
import math
import os
import pathlib
import re
import shutil
import struct
import tempfile
import threading
import urllib.parse
from typing import Callable, Iterator

import botocore.exceptions
import duckdb
import pyarrow as pa
import sqlglot
import sqlglot.errors
from sqlglot import exp

from local_aws.hive import (
    AVRO_INPUT, AVRO_OUTPUT, AVRO_SERDE, HIVE_DEFAULT_PARTITION, LAZY_SIMPLE_SERDE, ORC_INPUT, ORC_OUTPUT, ORC_SERDE,
    PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE, PARTITION_CREATE_BATCH, PARTITION_DELETE_BATCH, TEXT_INPUT,
    TEXT_OUTPUT, chunks, folder, is_hidden, split_s3_uri,
)

VARCHAR_PRECISION = 2147483647


# ----------------------------------------------------------------------------------------- public types


class AthenaQueryError(Exception):
    """A failed query. error_type is Athena's error category (TABLE_NOT_FOUND, SYNTAX_ERROR, ...);
    str(exc) is the full StateChangeReason, e.g. "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.db.t'
    does not exist"."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclasses.dataclass
class ColumnInfo:
    """One entry of Athena's ResultSetMetadata.ColumnInfo."""

    name: str
    type: str
    precision: int = 0
    scale: int = 0
    nullable: str = "UNKNOWN"

    def to_api(self) -> dict:
        return {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": self.name,
            "Label": self.name,
            "Type": self.type,
            "Precision": self.precision,
            "Scale": self.scale,
            "Nullable": self.nullable,
            "CaseSensitive": self.type in ("varchar", "char"),
        }


@dataclasses.dataclass
class QueryOutcome:
    columns: list[ColumnInfo]
    rows: list[list[str | None]]
    data_scanned_bytes: int = 0
    statement_type: str = "DML"


def _error(error_type: str, detail: str, position: tuple[int, int] | None = None) -> AthenaQueryError:
    where = f"line {position[0]}:{position[1]}: " if position else ""
    return AthenaQueryError(error_type, f"{error_type}: {where}{detail}")


def _cancelled_error() -> AthenaQueryError:
    return _error("CANCELLED", "Query was cancelled by user")


def _raise_if_cancelled(cancelled: threading.Event | None) -> None:
    if cancelled is not None and cancelled.is_set():
        raise _cancelled_error()


def _varchar_column(name: str) -> ColumnInfo:
    return ColumnInfo(name, "varchar", VARCHAR_PRECISION)


# ----------------------------------------------------------------------------------------------- engine


class AthenaEngine:
    """Runs Athena statements. Thread-safe: every execute() has its own DuckDB connection, and the shared
    object cache serialises downloads of the same object."""

    def __init__(self, glue_client, s3_client, cache_dir: pathlib.Path):
        self._glue = glue_client
        self._catalog = _Catalog(glue_client)
        self._objects = _ObjectStore(s3_client, pathlib.Path(cache_dir))
        # (prefix pattern, handler, statement type); a handler gets the comment-free statement text.
        self._routes: list[tuple[re.Pattern, Callable[[str, str], QueryOutcome], str]] = [
            (_ddl(r"CREATE\s+EXTERNAL\s+TABLE\b"), self._create_table, "DDL"),
            (_ddl(r"CREATE\s+(?:DATABASE|SCHEMA)\b"), self._create_database, "DDL"),
            (_ddl(r"DROP\s+TABLE\b"), self._drop_table, "DDL"),
            (_ddl(r"DROP\s+(?:DATABASE|SCHEMA)\b"), self._drop_database, "DDL"),
            (_ddl(r"MSCK\s+REPAIR\s+TABLE\b"), self._repair_table, "DDL"),
            (_ddl(rf"ALTER\s+TABLE\s+{_QNAME}\s+ADD\s+(?:IF\s+NOT\s+EXISTS\s+)?PARTITION\b"),
             self._add_partitions, "DDL"),
            (_ddl(rf"ALTER\s+TABLE\s+{_QNAME}\s+DROP\s+(?:IF\s+EXISTS\s+)?PARTITION\b"),
             self._drop_partitions, "DDL"),
            (_ddl(r"SHOW\s+PARTITIONS\b"), self._show_partitions, "UTILITY"),
            (_ddl(r"SHOW\s+TABLES\b"), self._show_tables, "UTILITY"),
            (_ddl(r"SHOW\s+(?:DATABASES|SCHEMAS)\b"), self._show_databases, "UTILITY"),
            (_ddl(r"SHOW\s+COLUMNS\b"), self._show_columns, "UTILITY"),
            (_ddl(r"(?:DESCRIBE|DESC)\b"), self._describe, "UTILITY"),
        ]

    def execute(self, sql: str, database: str | None, catalog: str = "AwsDataCatalog",
                cancelled: threading.Event | None = None) -> QueryOutcome:
        _raise_if_cancelled(cancelled)
        if catalog.lower() != "awsdatacatalog":
            raise _error("CATALOG_NOT_FOUND", f"Catalog '{catalog}' does not exist")
        database = (database or "default").lower()
        text = _blank_comments(sql)
        try:
            if _QUERY_START.match(text):
                return _QueryRun(self._catalog, self._objects, sql, database, cancelled).run()
            return self._run_statement(text, database)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise _error("GENERIC_INTERNAL_ERROR", str(err)) from err

    def to_csv(self, outcome: QueryOutcome) -> bytes:
        """The result file Athena writes: a header, every value double-quoted, NULL as an empty field."""
        if not outcome.columns:
            return b""
        lines = [[column.name for column in outcome.columns], *outcome.rows]
        return "".join(_csv_line(values) + "\n" for values in lines).encode("utf-8")

    def _run_statement(self, text: str, database: str) -> QueryOutcome:
        statement = re.sub(r"[\s;]+$", "", text).strip()
        for prefix, handler, statement_type in self._routes:
            if prefix.match(statement):
                outcome = handler(statement, database)
                outcome.statement_type = statement_type
                return outcome
        words = statement.split()
        first_word = words[0] if words else "<EOF>"
        if first_word.upper() in _KNOWN_UNSUPPORTED:
            raise _error("NOT_SUPPORTED", f"{' '.join(words[:2]).upper()} statements are not supported by the "
                                          "local Athena engine")
        offset = len(text) - len(text.lstrip())
        raise _error("SYNTAX_ERROR", f"mismatched input '{first_word}'", _position(text, offset))

    # ------------------------------------------------------------------------------------------ DDL

    def _create_database(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_CREATE_DATABASE, statement, "CREATE DATABASE")
        name = _unquote(match["name"])
        database_input: dict = {"Name": name}
        if match["comment"] is not None:
            database_input["Description"] = _unquote_literal(match["comment"])
        if match["location"] is not None:
            database_input["LocationUri"] = _unquote_literal(match["location"])
        if match["props"] is not None:
            database_input["Parameters"] = _key_values(match["props"])
        try:
            self._glue.create_database(DatabaseInput=database_input)
        except self._glue.exceptions.AlreadyExistsException as err:
            if not match["exists"]:
                raise _error("SCHEMA_ALREADY_EXISTS", f"Schema '{name}' already exists") from err
        return _no_rows()

    def _drop_database(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_DROP_DATABASE, statement, "DROP DATABASE")
        name = _unquote(match["name"])
        if not self._catalog.database_exists(name):
            if match["exists"]:
                return _no_rows()
            raise _error("SCHEMA_NOT_FOUND", f"Schema '{name}' does not exist")
        tables = self._catalog.table_names(name)
        if tables and (match["mode"] or "").upper() != "CASCADE":
            raise _error("SCHEMA_NOT_EMPTY", f"Schema '{name}' is not empty: drop its tables or use CASCADE")
        for table in tables:
            self._glue.delete_table(DatabaseName=name, Name=table)
        self._glue.delete_database(Name=name)
        return _no_rows()

    def _create_table(self, statement: str, database: str) -> QueryOutcome:
        create = _parse_create_table(statement)
        db, name = _ddl_table_name(create.this.this, database)
        table_input = _table_input(create, name)
        self._catalog.require_database(db)
        try:
            self._glue.create_table(DatabaseName=db, TableInput=table_input)
        except self._glue.exceptions.AlreadyExistsException as err:
            if not create.args.get("exists"):
                raise _error("TABLE_ALREADY_EXISTS", f"Table 'awsdatacatalog.{db}.{name}' already exists") from err
        return _no_rows()

    def _drop_table(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_DROP_TABLE, statement, "DROP TABLE")
        db, name = _split_qualified(match["table"], database)
        try:
            self._glue.delete_table(DatabaseName=db, Name=name)
        except self._glue.exceptions.EntityNotFoundException as err:
            if not match["exists"]:
                self._catalog.require_database(db)
                raise _error("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{db}.{name}' does not exist") from err
        return _no_rows()

    def _repair_table(self, statement: str, database: str) -> QueryOutcome:
        """MSCK REPAIR TABLE: register every key=value/... folder below the table location that holds data."""
        match = _full_match(_REPAIR_TABLE, statement, "MSCK REPAIR TABLE")
        db, name = _split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        location = folder(table["StorageDescriptor"]["Location"])
        prefix = _split_s3_uri(location)[1]
        known = {tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)}
        found: dict[tuple[str, ...], str] = {}
        for obj in self._objects.list(location):
            values = _partition_values_from_path(obj.key[len(prefix):], keys)
            if values is not None and values not in known:
                found.setdefault(values, location + _partition_path(keys, values))
        self._catalog.add_partitions(db, name, table, sorted(found.items()))
        return _no_rows()

    def _add_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_ADD_PARTITIONS, statement, "ALTER TABLE ADD PARTITION")
        db, name = _split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        location = folder(table["StorageDescriptor"]["Location"])
        known = {tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)}
        new: dict[tuple[str, ...], str] = {}
        for spec, spec_location in _partition_specs(match["specs"]):
            values = _complete_spec_values(spec, keys)
            if values in known or values in new:
                if match["exists"]:
                    continue
                raise _error("ALREADY_EXISTS", f"Partition {_partition_path(keys, values)} already exists in "
                                               f"table '{db}.{name}'")
            new[values] = folder(spec_location) if spec_location else location + _partition_path(keys, values)
        self._catalog.add_partitions(db, name, table, list(new.items()))
        return _no_rows()

    def _drop_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_DROP_PARTITIONS, statement, "ALTER TABLE DROP PARTITION")
        db, name = _split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        existing = [tuple(partition["Values"]) for partition in self._catalog.partitions(db, name)]
        doomed: set[tuple[str, ...]] = set()
        for spec, _location in _partition_specs(match["specs"]):
            matching = {values for values in existing if _spec_matches(spec, keys, values)}
            if not matching and not match["exists"]:
                raise _error("NOT_FOUND", f"No partition of table '{db}.{name}' matches {_spec_text(spec)}")
            doomed |= matching
        self._catalog.delete_partitions(db, name, sorted(doomed))
        return _no_rows()

    # -------------------------------------------------------------------------------------- utility

    def _show_partitions(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_SHOW_PARTITIONS, statement, "SHOW PARTITIONS")
        db, name = _split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        keys = [key["Name"].lower() for key in table.get("PartitionKeys", [])]
        if not keys:
            raise _error("NOT_SUPPORTED", f"Table '{db}.{name}' is not partitioned")
        paths = sorted(_partition_path(keys, tuple(p["Values"])).rstrip("/")
                       for p in self._catalog.partitions(db, name))
        return QueryOutcome([_varchar_column("partition")], [[path] for path in paths])

    def _show_tables(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_SHOW_TABLES, statement, "SHOW TABLES")
        db = _unquote(match["db"]) if match["db"] else database
        self._catalog.require_database(db)
        names = _filter_names(self._catalog.table_names(db), match["pattern"])
        return QueryOutcome([_varchar_column("tab_name")], [[name] for name in names])

    def _show_databases(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_SHOW_DATABASES, statement, "SHOW DATABASES")
        names = _filter_names(self._catalog.database_names(), match["pattern"])
        return QueryOutcome([_varchar_column("database_name")], [[name] for name in names])

    def _show_columns(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_SHOW_COLUMNS, statement, "SHOW COLUMNS")
        db, name = _split_qualified(match["table"], _unquote(match["db"]) if match["db"] else database)
        table = self._catalog.table(db, name)
        columns = table["StorageDescriptor"].get("Columns", []) + table.get("PartitionKeys", [])
        return QueryOutcome([_varchar_column("field")], [[column["Name"]] for column in columns])

    def _describe(self, statement: str, database: str) -> QueryOutcome:
        match = _full_match(_DESCRIBE, statement, "DESCRIBE")
        db, name = _split_qualified(match["table"], database)
        table = self._catalog.table(db, name)
        return QueryOutcome([_varchar_column("col_name")], [[line] for line in _describe_lines(table)])


# ------------------------------------------------------------------------------------- statement text

_NAME = r'(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_]+)'
_QNAME = rf"{_NAME}(?:\s*\.\s*{_NAME}){{0,2}}"
_STRING = r"'(?:[^']|'')*'"
_QUERY_START = re.compile(r"\s*(?:\(|SELECT\b|WITH\b|VALUES\b)", re.I)
_KNOWN_UNSUPPORTED = {"INSERT", "UNLOAD", "EXPLAIN", "CREATE", "ALTER", "DROP", "SHOW", "DELETE", "UPDATE",
                      "MERGE", "PREPARE", "EXECUTE", "DEALLOCATE", "OPTIMIZE", "VACUUM", "USE", "DESCRIBE",
                      "DESC", "MSCK"}


def _ddl(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I | re.S)


_CREATE_DATABASE = _ddl(
    rf"CREATE\s+(?:DATABASE|SCHEMA)\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
    rf"(?:\s+COMMENT\s+(?P<comment>{_STRING}))?(?:\s+LOCATION\s+(?P<location>{_STRING}))?"
    r"(?:\s+WITH\s+DBPROPERTIES\s*\((?P<props>.*)\))?")
_DROP_DATABASE = _ddl(rf"DROP\s+(?:DATABASE|SCHEMA)\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{_NAME})"
                      r"(?:\s+(?P<mode>CASCADE|RESTRICT))?")
_DROP_TABLE = _ddl(rf"DROP\s+TABLE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<table>{_QNAME})")
_REPAIR_TABLE = _ddl(rf"MSCK\s+REPAIR\s+TABLE\s+(?P<table>{_QNAME})")
_ADD_PARTITIONS = _ddl(rf"ALTER\s+TABLE\s+(?P<table>{_QNAME})\s+ADD\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?"
                       r"(?P<specs>PARTITION\b.*)")
_DROP_PARTITIONS = _ddl(rf"ALTER\s+TABLE\s+(?P<table>{_QNAME})\s+DROP\s+(?P<exists>IF\s+EXISTS\s+)?"
                        r"(?P<specs>PARTITION\b.*)")
_SHOW_PARTITIONS = _ddl(rf"SHOW\s+PARTITIONS\s+(?P<table>{_QNAME})")
_SHOW_TABLES = _ddl(rf"SHOW\s+TABLES(?:\s+(?:IN|FROM)\s+(?P<db>{_NAME}))?(?:\s+(?:LIKE\s+)?(?P<pattern>{_STRING}))?")
_SHOW_DATABASES = _ddl(rf"SHOW\s+(?:DATABASES|SCHEMAS)(?:\s+(?:LIKE\s+)?(?P<pattern>{_STRING}))?")
_SHOW_COLUMNS = _ddl(rf"SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<table>{_QNAME})(?:\s+(?:IN|FROM)\s+(?P<db>{_NAME}))?")
_DESCRIBE = _ddl(rf"(?:DESCRIBE|DESC)\s+(?P<table>{_QNAME})")
_PARTITION_SPEC = _ddl(r"\s*,?\s*PARTITION\s*\((?P<spec>(?:[^()'\"`]|'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`)*)\)"
                       rf"(?:\s*LOCATION\s*(?P<location>{_STRING}))?")
_SPEC_ITEM = _ddl(rf"\s*(?P<key>{_NAME})\s*=\s*(?P<value>{_STRING}|\"[^\"]*\"|[^,\s]+)\s*(?:,|$)")
_KEY_VALUE = _ddl(rf"(?P<key>{_STRING})\s*=\s*(?P<value>{_STRING})")
_COMMENT_OR_QUOTED = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|`[^`]*`|(?P<comment>--[^\n]*|/\*.*?\*/)", re.S)


def _blank_comments(sql: str) -> str:
    """sql with comments replaced by spaces (newlines kept), so offsets still point into the original."""
    def blank(match: re.Match) -> str:
        if match["comment"] is None:
            return match[0]
        return re.sub(r"[^\n]", " ", match[0])
    return _COMMENT_OR_QUOTED.sub(blank, sql)


def _position(sql: str, offset: int) -> tuple[int, int]:
    line_start = sql.rfind("\n", 0, offset) + 1
    return sql.count("\n", 0, offset) + 1, offset - line_start + 1


def _full_match(pattern: re.Pattern, statement: str, what: str) -> re.Match:
    match = pattern.fullmatch(statement)
    if match is None:
        raise _error("NOT_SUPPORTED", f"This form of {what} is not supported by the local Athena engine: "
                                      f"{statement[:200]}")
    return match


def _unquote(name: str) -> str:
    """An identifier as Glue stores it: without quotes, lower case."""
    if name[:1] in "`\"" and name[-1:] == name[:1]:
        name = name[1:-1]
    return name.lower()


def _unquote_literal(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _split_qualified(qualified: str, database: str) -> tuple[str, str]:
    parts = [_unquote(part) for part in re.findall(_NAME, qualified)]
    if len(parts) == 3 and parts[0] != "awsdatacatalog":
        raise _error("CATALOG_NOT_FOUND", f"Catalog '{parts[0]}' does not exist")
    return (parts[-2] if len(parts) > 1 else database), parts[-1]


def _key_values(text: str) -> dict[str, str]:
    return {_unquote_literal(m["key"]): _unquote_literal(m["value"]) for m in _KEY_VALUE.finditer(text)}


def _filter_names(names: list[str], pattern: str | None) -> list[str]:
    """Hive's SHOW patterns: '*' is any text, '|' separates alternatives, matching ignores case."""
    if pattern is None:
        return sorted(names)
    alternatives = [re.escape(part.strip()).replace(r"\*", ".*") for part in _unquote_literal(pattern).split("|")]
    regex = re.compile("|".join(alternatives), re.I)
    return sorted(name for name in names if regex.fullmatch(name))


def _no_rows() -> QueryOutcome:
    return QueryOutcome(columns=[], rows=[])


def _csv_line(values: list[str | None]) -> str:
    return ",".join("" if value is None else '"' + value.replace('"', '""') + '"' for value in values)


# ------------------------------------------------------------------------------------------ partitions

# Characters Hive escapes as %XX in partition folder names (FileUtils.escapePathName).
_HIVE_ESCAPED = set('"#%\'*/:=?\\\x7f{[]^')


def _hive_escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 else c for c in value)


def _partition_path(keys: list[str], values: tuple[str, ...]) -> str:
    return "".join(f"{key}={_hive_escape(value)}/" for key, value in zip(keys, values))


def _partition_values_from_path(relative_key: str, keys: list[str]) -> tuple[str, ...] | None:
    """Values of the k1=v1/k2=v2/ folders an object sits in, or None when its folders don't spell them."""
    folders = relative_key.split("/")[:-1]
    if not keys or len(folders) < len(keys):
        return None
    values = []
    for key, segment in zip(keys, folders):
        name, equals, value = segment.partition("=")
        if not equals or name.lower() != key:
            return None
        values.append(urllib.parse.unquote(value))
    return tuple(values)


def _partition_specs(text: str) -> Iterator[tuple[dict[str, str], str | None]]:
    """(spec, location) for each PARTITION (k='v', ...) [LOCATION '...'] in text."""
    position = 0
    while position < len(text.rstrip()):
        match = _PARTITION_SPEC.match(text, position)
        if match is None:
            raise _error("SYNTAX_ERROR", f"Cannot parse partition specification: {text[position:][:200]}")
        yield _spec(match["spec"]), _unquote_literal(match["location"]) if match["location"] else None
        position = match.end()


def _spec(text: str) -> dict[str, str]:
    spec, position = {}, 0
    while position < len(text.rstrip()):
        match = _SPEC_ITEM.match(text, position)
        if match is None:
            raise _error("SYNTAX_ERROR", f"Cannot parse partition specification: ({text})")
        value = match["value"]
        if value[0] == "'":
            value = _unquote_literal(value)
        elif value[0] == '"':
            value = value[1:-1]
        spec[_unquote(match["key"])] = value
        position = match.end()
    return spec


def _spec_text(spec: dict[str, str]) -> str:
    return "(" + ", ".join(f"{key}='{value}'" for key, value in spec.items()) + ")"


def _check_spec_keys(spec: dict[str, str], keys: list[str]) -> None:
    for key in spec:
        if key not in keys:
            raise _error("COLUMN_NOT_FOUND", f"Column '{key}' is not a partition column")


def _complete_spec_values(spec: dict[str, str], keys: list[str]) -> tuple[str, ...]:
    _check_spec_keys(spec, keys)
    if set(spec) != set(keys):
        raise _error("SYNTAX_ERROR", f"Partition specification {_spec_text(spec)} must name every partition "
                                     f"column ({', '.join(keys)})")
    return tuple(spec[key] for key in keys)


def _spec_matches(spec: dict[str, str], keys: list[str], values: tuple[str, ...]) -> bool:
    _check_spec_keys(spec, keys)
    return all(values[keys.index(key)] == value for key, value in spec.items())


# ------------------------------------------------------------------------------------ CREATE TABLE DDL

# STORED AS <format> -> (InputFormat, OutputFormat, SerDe), as Athena's DDL records them.
_STORED_AS = {
    "TEXTFILE": (TEXT_INPUT, TEXT_OUTPUT, LAZY_SIMPLE_SERDE),
    "PARQUET": (PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE),
    "ORC": (ORC_INPUT, ORC_OUTPUT, ORC_SERDE),
    "AVRO": (AVRO_INPUT, AVRO_OUTPUT, AVRO_SERDE),
}
# ROW FORMAT DELIMITED clause -> LazySimpleSerDe parameter.
_DELIMITED_PARAMETERS = {"fields": "field.delim", "escaped": "escape.delim", "collection_items": "collection.delim",
                         "map_keys": "mapkey.delim", "lines": "line.delim", "null": "serialization.null.format"}


def _parse_create_table(statement: str) -> exp.Create:
    # sqlglot's Hive dialect parses Athena's CREATE EXTERNAL TABLE (Athena runs its DDL on Hive).
    try:
        create = sqlglot.parse_one(statement, read="hive")
    except sqlglot.errors.SqlglotError as err:
        raise _error("SYNTAX_ERROR", f"Cannot parse CREATE EXTERNAL TABLE: {err}") from err
    if not isinstance(create, exp.Create) or not isinstance(create.this, exp.Schema):
        raise _error("NOT_SUPPORTED", "CREATE EXTERNAL TABLE needs a column list")
    if create.expression is not None:
        raise _error("NOT_SUPPORTED", "CREATE TABLE AS SELECT is not supported by the local Athena engine")
    return create


def _ddl_table_name(table: exp.Table, database: str) -> tuple[str, str]:
    if table.catalog and table.catalog.lower() != "awsdatacatalog":
        raise _error("CATALOG_NOT_FOUND", f"Catalog '{table.catalog}' does not exist")
    return (table.db or database).lower(), table.name.lower()


def _table_input(create: exp.Create, name: str) -> dict:
    properties = create.args["properties"].expressions if create.args.get("properties") else []
    storage = _storage_descriptor(properties)
    storage["Columns"] = [_glue_column(column) for column in create.this.expressions]
    table_input = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": storage,
        "PartitionKeys": [],
        "Parameters": {"EXTERNAL": "TRUE"},
    }
    for prop in properties:
        if isinstance(prop, exp.PartitionedByProperty):
            table_input["PartitionKeys"] = [_glue_column(column) for column in prop.this.expressions]
        elif isinstance(prop, exp.SchemaCommentProperty):
            table_input["Description"] = prop.this.name
        elif type(prop) is exp.Property:  # TBLPROPERTIES entries; subclasses are the clauses handled above
            table_input["Parameters"][prop.name] = prop.args["value"].name
    return table_input


def _storage_descriptor(properties: list[exp.Expression]) -> dict:
    input_format, output_format, serde = _STORED_AS["TEXTFILE"]
    serde_parameters = {"serialization.format": "1"}
    explicit_serde = False
    location = None
    for prop in properties:
        if isinstance(prop, exp.RowFormatSerdeProperty):
            serde, explicit_serde = prop.this.name, True
            serde_parameters = {"serialization.format": "1"}
            if prop.args.get("serde_properties"):
                entries = prop.args["serde_properties"].expressions
                serde_parameters.update({entry.name: entry.args["value"].name for entry in entries})
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            serde, explicit_serde = LAZY_SIMPLE_SERDE, True
            serde_parameters = {_DELIMITED_PARAMETERS[arg]: value.name for arg, value in prop.args.items()
                                if arg in _DELIMITED_PARAMETERS and value is not None}
            if "field.delim" in serde_parameters:
                serde_parameters["serialization.format"] = serde_parameters["field.delim"]
        elif isinstance(prop, exp.FileFormatProperty):
            input_format, output_format, stored_serde = _file_format(prop)
            if stored_serde and not explicit_serde:
                serde = stored_serde
        elif isinstance(prop, exp.LocationProperty):
            location = prop.this.name
    storage = {
        "InputFormat": input_format,
        "OutputFormat": output_format,
        "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_parameters},
        "Compressed": False,
        "NumberOfBuckets": -1,
    }
    if location:
        storage["Location"] = location
    return storage


def _file_format(prop: exp.FileFormatProperty) -> tuple[str, str, str | None]:
    if isinstance(prop.this, exp.InputOutputFormat):
        return prop.this.args["input_format"].name, prop.this.args["output_format"].name, None
    stored_as = prop.name.upper()
    if stored_as not in _STORED_AS:
        raise _error("NOT_SUPPORTED", f"STORED AS {stored_as} is not supported by the local Athena engine")
    return _STORED_AS[stored_as]


def _glue_column(column: exp.ColumnDef) -> dict:
    glue_column = {"Name": column.name.lower(), "Type": re.sub(r"\s+", "", column.args["kind"].sql("hive")).lower()}
    for constraint in column.args.get("constraints") or []:
        if isinstance(constraint.args.get("kind"), exp.CommentColumnConstraint):
            glue_column["Comment"] = constraint.args["kind"].name
    return glue_column


def _describe_lines(table: dict) -> list[str]:
    def line(*fields: str) -> str:
        return "\t".join(f"{field:<20}" for field in fields)

    def column_line(column: dict) -> str:
        return line(column["Name"], column["Type"], column.get("Comment", ""))

    keys = table.get("PartitionKeys", [])
    lines = [column_line(column) for column in table["StorageDescriptor"].get("Columns", []) + keys]
    if keys:
        lines += ["", "# Partition Information", line("# col_name", "data_type", "comment"), ""]
        lines += [column_line(key) for key in keys]
    return lines


# --------------------------------------------------------------------------------------------- catalog


class _Catalog:
    """The Glue calls the engine needs, with Athena's errors for missing databases and tables."""

    def __init__(self, glue):
        self._glue = glue

    def table(self, db: str, name: str, position: tuple[int, int] | None = None) -> dict:
        try:
            return self._glue.get_table(DatabaseName=db, Name=name)["Table"]
        except self._glue.exceptions.EntityNotFoundException as err:
            self.require_database(db, position)
            raise _error("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{db}.{name}' does not exist", position) from err

    def database_exists(self, db: str) -> bool:
        try:
            self._glue.get_database(Name=db)
        except self._glue.exceptions.EntityNotFoundException:
            return False
        return True

    def require_database(self, db: str, position: tuple[int, int] | None = None) -> None:
        if not self.database_exists(db):
            raise _error("SCHEMA_NOT_FOUND", f"Schema '{db}' does not exist", position)

    def database_names(self) -> list[str]:
        pages = self._glue.get_paginator("get_databases").paginate()
        return [database["Name"] for page in pages for database in page["DatabaseList"]]

    def table_names(self, db: str) -> list[str]:
        pages = self._glue.get_paginator("get_tables").paginate(DatabaseName=db)
        return [table["Name"] for page in pages for table in page["TableList"]]

    def partitions(self, db: str, name: str) -> list[dict]:
        pages = self._glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=name)
        return [partition for page in pages for partition in page["Partitions"]]

    def add_partitions(self, db: str, name: str, table: dict, partitions: list[tuple[tuple[str, ...], str]]) -> None:
        """Registers (values, location) pairs; each partition gets the table's storage with its own location."""
        inputs = [{"Values": list(values), "StorageDescriptor": {**table["StorageDescriptor"], "Location": location}}
                  for values, location in partitions]
        for chunk in chunks(inputs, PARTITION_CREATE_BATCH):
            response = self._glue.batch_create_partition(DatabaseName=db, TableName=name, PartitionInputList=chunk)
            _raise_batch_errors(response)

    def delete_partitions(self, db: str, name: str, partitions: list[tuple[str, ...]]) -> None:
        for chunk in chunks([{"Values": list(values)} for values in partitions], PARTITION_DELETE_BATCH):
            response = self._glue.batch_delete_partition(DatabaseName=db, TableName=name, PartitionsToDelete=chunk)
            _raise_batch_errors(response)


def _raise_batch_errors(response: dict) -> None:
    if response.get("Errors"):
        first = response["Errors"][0]
        raise _error("GENERIC_INTERNAL_ERROR", f"Partition {first['PartitionValues']}: "
                                               f"{first['ErrorDetail'].get('ErrorMessage', '')}")


# ------------------------------------------------------------------------------------------ S3 objects


@dataclasses.dataclass(frozen=True)
class _S3Object:
    bucket: str
    key: str
    size: int
    etag: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _split_s3_uri(location: str) -> tuple[str, str]:
    try:
        return split_s3_uri(location)
    except ValueError:
        raise _error("GENERIC_INTERNAL_ERROR",
                     f"Unsupported table location '{location}': expected s3://bucket/prefix/") from None


class _ObjectStore:
    """Lists table objects and keeps local copies of them, keyed by bucket, key and ETag."""

    _LOCK_STRIPES = 64

    def __init__(self, s3, cache_dir: pathlib.Path):
        self._s3 = s3
        self._dir = cache_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        # A bounded set of locks: two queries needing the same object download it once.
        self._locks = [threading.Lock() for _ in range(self._LOCK_STRIPES)]

    def list(self, location: str) -> list[_S3Object]:
        """The data objects under a location, Athena's way: hidden paths and empty objects are skipped."""
        bucket, prefix = _split_s3_uri(folder(location))
        objects = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Size"] > 0 and not is_hidden(item["Key"][len(prefix):]):
                    objects.append(_S3Object(bucket, item["Key"], item["Size"], item["ETag"].strip('"')))
        return objects

    def local_copy(self, obj: _S3Object) -> pathlib.Path:
        digest = hashlib.sha256(f"{obj.bucket}\0{obj.key}\0{obj.etag}".encode()).hexdigest()
        # Keep a compression suffix: DuckDB's text readers detect compression from it.
        suffix = next((s for s in (".gz", ".zst") if obj.key.endswith(s)), "")
        path = self._dir / digest[:2] / (digest + suffix)
        with self._locks[int(digest[:8], 16) % self._LOCK_STRIPES]:
            if not path.exists():
                self._download(obj, path)
        return path

    def _download(self, obj: _S3Object, path: pathlib.Path) -> None:
        path.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            # IfMatch: the copy must be the version listed, or the cache key would lie about its content.
            body = self._s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')["Body"]
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


# ---------------------------------------------------------------------------------------- table layout

_NOT_READABLE = ("OrcSerde", "AvroSerDe", "Orc", "Avro")
_TEXT_COMPRESSION_NOT_READABLE = (".bz2", ".snappy", ".lz4", ".deflate", ".lzo")
_OPEN_CSV_DEFAULTS = (("separatorChar", ","), ("quoteChar", '"'), ("escapeChar", "\\"))
_HIVE_NULL = "\\N"  # LazySimpleSerDe's default serialization.null.format
_DUCKDB_ENCODINGS = {"utf8": "utf-8", "iso88591": "latin-1", "latin1": "latin-1", "utf16": "utf-16"}


@dataclasses.dataclass
class _Layout:
    """How to read a Glue table: its columns (name, Hive type), partition keys and file format."""

    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    format: str  # parquet | lazy_csv | open_csv | json
    serde_parameters: dict[str, str]
    table_parameters: dict[str, str]

    @property
    def date_columns(self) -> set[str]:
        return {name for name, hive_type in self.columns + self.partition_keys if hive_type == "date"}


def _layout(table: dict, qualified_name: str) -> _Layout:
    parameters = table.get("Parameters") or {}
    if table.get("TableType") == "VIRTUAL_VIEW" or parameters.get("table_type", "").upper() == "ICEBERG":
        raise _error("NOT_SUPPORTED", f"Table '{qualified_name}' is a view or an Iceberg table, which the local "
                                      "Athena engine cannot read")
    storage = table["StorageDescriptor"]
    serde_info = storage.get("SerdeInfo") or {}
    return _Layout(
        columns=[(c["Name"].lower(), c["Type"].lower()) for c in storage.get("Columns", [])],
        partition_keys=[(k["Name"].lower(), k["Type"].lower()) for k in table.get("PartitionKeys", [])],
        format=_data_format(serde_info.get("SerializationLibrary") or "", storage.get("InputFormat") or "",
                            parameters.get("classification", "").lower(), qualified_name),
        serde_parameters=serde_info.get("Parameters") or {},
        table_parameters=parameters,
    )


def _data_format(serde: str, input_format: str, classification: str, qualified_name: str) -> str:
    if "Parquet" in serde or "Parquet" in input_format or classification == "parquet":
        return "parquet"
    if "JsonSerDe" in serde or classification == "json":
        return "json"
    if "OpenCSVSerde" in serde:
        return "open_csv"
    if any(marker in serde or marker in input_format for marker in _NOT_READABLE):
        raise _error("NOT_SUPPORTED", f"The data format of table '{qualified_name}' ({serde or input_format}) "
                                      "cannot be read by the local Athena engine")
    if "LazySimpleSerDe" in serde or "TextInputFormat" in input_format or classification == "csv":
        return "lazy_csv"
    raise _error("NOT_SUPPORTED", f"Unknown data format of table '{qualified_name}': {serde or input_format}")


@functools.lru_cache(maxsize=512)
def _duckdb_type(hive_type: str) -> str:
    try:
        data_type = exp.DataType.build(hive_type, dialect="hive")
    except sqlglot.errors.ParseError as err:
        raise _error("NOT_SUPPORTED", f"Column type '{hive_type}' is not supported by the local Athena engine") from err
    for node in data_type.find_all(exp.DataType):
        if node.this == exp.DataType.Type.DECIMAL and not node.expressions:
            # Hive's bare DECIMAL is decimal(10,0); DuckDB's would be DECIMAL(18,3).
            node.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(10)),
                                     exp.DataTypeParam(this=exp.Literal.number(0))])
    return data_type.sql(dialect="duckdb")


def _hive_separator(value: str) -> str:
    """Hive reads a delimiter property that is a number as that byte value (serialization.format=1 is \\x01)."""
    return chr(int(value)) if value.isdigit() else value[:1]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_literal(value) for value in values) + "]"


def _text_options(layout: _Layout) -> list[str]:
    """read_csv options shared by both text SerDes: header lines, encoding, raw string columns."""
    encoding_name = layout.serde_parameters.get("serialization.encoding", "UTF-8")
    encoding = _DUCKDB_ENCODINGS.get(re.sub(r"[-_]", "", encoding_name.lower()))
    if encoding is None:
        raise _error("NOT_SUPPORTED", f"serialization.encoding '{encoding_name}' is not supported by the local "
                                      "Athena engine")
    raw_columns = ", ".join(f"'c{index}': 'VARCHAR'" for index in range(len(layout.columns)))
    skip = int(layout.table_parameters.get("skip.header.line.count", "0"))
    return ["header = false", f"skip = {skip}", f"encoding = {_sql_literal(encoding)}", "auto_detect = false",
            f"columns = {{{raw_columns}}}", "null_padding = true", "strict_mode = false", "filename = '__file'"]


def _scan(layout: _Layout, paths: list[str], file_columns: Callable[[str], list[str]]) -> tuple[str, list[str]]:
    """DuckDB table function reading the files (with a __file column), and the projection of the declared
    columns out of it (alias d), typed as the catalog says."""
    files = _sql_list(paths)
    if layout.format == "parquet":
        scan = f"read_parquet({files}, union_by_name = true, filename = '__file')"
        available = {name.lower(): name for name in file_columns(scan)}
        projection = [f"CAST(d.{_sql_name(available[name])} AS {_duckdb_type(hive_type)})" if name in available
                      else f"CAST(NULL AS {_duckdb_type(hive_type)})" for name, hive_type in layout.columns]
        return scan, projection
    if layout.format == "json":
        columns = ", ".join(f"{_sql_literal(name)}: {_sql_literal(_duckdb_type(hive_type))}"
                            for name, hive_type in layout.columns)
        ignore_errors = layout.serde_parameters.get("ignore.malformed.json", "false").lower() == "true"
        scan = (f"read_json({files}, format = 'newline_delimited', columns = {{{columns}}}, "
                f"ignore_errors = {str(ignore_errors).lower()}, filename = '__file')")
        return scan, [f"d.{_sql_name(name)}" for name, _ in layout.columns]
    return _text_scan(layout, files)


def _text_scan(layout: _Layout, files: str) -> tuple[str, list[str]]:
    params = layout.serde_parameters
    if layout.format == "open_csv":
        separator, quote, escape = (params.get(name, default) for name, default in _OPEN_CSV_DEFAULTS)
        options = [f"delim = {_sql_literal(separator)}", f"quote = {_sql_literal(quote)}",
                   f"escape = {_sql_literal(escape)}", "allow_quoted_nulls = false"]
        # OpenCSVSerde yields empty strings, never NULL, for empty fields.
        raw = [f"COALESCE(d.c{index}, '')" for index in range(len(layout.columns))]
    else:
        delimiter = params.get("field.delim") or params.get("serialization.format") or "1"
        options = [f"delim = {_sql_literal(_hive_separator(delimiter))}", "quote = ''",
                   f"escape = {_sql_literal(params.get('escape.delim', ''))}",
                   f"nullstr = {_sql_literal(params.get('serialization.null.format', _HIVE_NULL))}"]
        raw = [f"d.c{index}" for index in range(len(layout.columns))]
    scan = f"read_csv({files}, {', '.join(options + _text_options(layout))})"
    projection = [value if _duckdb_type(hive_type) in ("TEXT", "VARCHAR") else
                  f"TRY_CAST({value} AS {_duckdb_type(hive_type)})"
                  for value, (_, hive_type) in zip(raw, layout.columns)]
    return scan, projection


# ---------------------------------------------------------------------------------------------- queries


@dataclasses.dataclass
class _Partition:
    values: tuple[str | None, ...]
    location: str


class _QueryRun:
    """One SELECT: binds every catalog table reference to a DuckDB view over local copies, runs the query."""

    def __init__(self, catalog: _Catalog, objects: _ObjectStore, sql: str, database: str,
                 cancelled: threading.Event | None):
        self._catalog = catalog
        self._objects = objects
        self._sql = sql
        self._database = database
        self._cancelled = cancelled
        self._scanned = 0
        self._local_to_uri: dict[str, str] = {}  # names data files in DuckDB's error messages
        self._date_columns: set[str] = set()
        self._conn: duckdb.DuckDBPyConnection | None = None

    def run(self) -> QueryOutcome:
        ast = _parse_query(self._sql)
        self._conn = duckdb.connect()
        try:
            self._conn.execute("SET integer_division = true")  # Trino's / truncates on integers
            self._conn.execute("SET TimeZone = 'UTC'")  # Athena sessions run in UTC
            wants_path = any(column.name == "$path" for column in ast.find_all(exp.Column))
            for index, reference in enumerate(_catalog_tables(ast)):
                self._bind(reference, f"__table{index}", wants_path)
            _raise_if_cancelled(self._cancelled)
            duckdb_sql = _duckdb_query(ast, self._date_columns)
            with _interrupt_on(self._cancelled, self._conn):
                relation = self._conn.sql(duckdb_sql)
                rows = relation.fetchall()
            _raise_if_cancelled(self._cancelled)
            columns = [_column_info(name, dtype) for name, dtype in zip(relation.columns, relation.types)]
            renderers = [_renderer(dtype) for dtype in relation.types]
            rendered = [[render(value) for render, value in zip(renderers, row)] for row in rows]
            return QueryOutcome(columns, rendered, self._scanned, "DML")
        except duckdb.Error as err:
            if self._cancelled is not None and self._cancelled.is_set():
                raise _cancelled_error() from err
            raise _translate_duckdb_error(err, ast, self._sql, self._local_to_uri) from err
        finally:
            self._conn.close()

    def _bind(self, reference: exp.Table, view: str, wants_path: bool) -> None:
        """Creates the view a table reference reads from, and points the reference at it."""
        position = _node_position(self._sql, reference.parts[0])
        if reference.catalog and reference.catalog.lower() != "awsdatacatalog":
            raise _error("CATALOG_NOT_FOUND", f"Catalog '{reference.catalog}' does not exist", position)
        db, name = (reference.db or self._database).lower(), reference.name.lower()
        table = self._catalog.table(db, name, position)
        layout = _layout(table, f"{db}.{name}")
        self._date_columns |= layout.date_columns
        partitions = self._partitions(db, name, table, layout)
        if layout.partition_keys:
            partitions = self._prune(partitions, layout, _pruning_conditions(reference, layout))
        files = self._fetch(partitions, layout)
        self._conn.execute(f"CREATE TEMP VIEW {_sql_name(view)} AS {self._view_sql(view, layout, files, wants_path)}")
        if reference.args.get("alias") is None:  # keep "t.column" working once t is renamed
            reference.set("alias", exp.TableAlias(this=exp.to_identifier(reference.name)))
        reference.set("catalog", None)
        reference.set("db", None)
        reference.set("this", exp.to_identifier(view, quoted=True))

    def _partitions(self, db: str, name: str, table: dict, layout: _Layout) -> list[_Partition]:
        location = folder(table["StorageDescriptor"].get("Location") or "")
        if not layout.partition_keys:
            return [_Partition((), location)]
        keys = [key for key, _ in layout.partition_keys]
        partitions = []
        for partition in self._catalog.partitions(db, name):
            values = tuple(None if value == HIVE_DEFAULT_PARTITION else value for value in partition["Values"])
            own_location = (partition.get("StorageDescriptor") or {}).get("Location")
            partitions.append(_Partition(values, folder(own_location) if own_location
                                         else location + _partition_path(keys, tuple(partition["Values"]))))
        return partitions

    def _prune(self, partitions: list[_Partition], layout: _Layout, conditions: list[str]) -> list[_Partition]:
        """The partitions whose values satisfy the conditions, evaluated by DuckDB on typed partition values."""
        if not conditions or not partitions:
            return partitions
        keys = [f"p{index}" for index in range(len(layout.partition_keys))]
        values = pa.table({"__idx": list(range(len(partitions))),
                           **{key: [p.values[i] for p in partitions] for i, key in enumerate(keys)}},
                          schema=pa.schema([("__idx", pa.int64())] + [(key, pa.string()) for key in keys]))
        self._conn.register("__partition_values", values)
        try:
            typed = ", ".join(_typed_partition_columns(layout, "v"))
            where = " AND ".join(f"({condition})" for condition in conditions)
            survivors = self._conn.execute(
                f"SELECT __idx FROM (SELECT __idx, {typed} FROM __partition_values AS v) WHERE {where}").fetchall()
        finally:
            self._conn.unregister("__partition_values")
        return [partitions[index] for (index,) in sorted(survivors)]

    def _fetch(self, partitions: list[_Partition], layout: _Layout) -> list[tuple[_S3Object, str, _Partition]]:
        files = []
        for partition in partitions:
            for obj in self._objects.list(partition.location):
                if layout.format != "parquet" and obj.key.endswith(_TEXT_COMPRESSION_NOT_READABLE):
                    raise _error("NOT_SUPPORTED", f"Compression of {obj.uri} is not supported by the local "
                                                  "Athena engine (gzip and zstd are)")
                _raise_if_cancelled(self._cancelled)
                local = str(self._objects.local_copy(obj))
                self._local_to_uri[local] = obj.uri
                self._scanned += obj.size
                files.append((obj, local, partition))
        return files

    def _view_sql(self, view: str, layout: _Layout, files: list[tuple[_S3Object, str, _Partition]],
                  wants_path: bool) -> str:
        names = [_sql_name(name) for name, _ in layout.columns + layout.partition_keys]
        if wants_path:
            names.append(_sql_name("$path"))
        if not files:
            types = [_duckdb_type(hive_type) for _, hive_type in layout.columns + layout.partition_keys]
            nulls = [f"CAST(NULL AS {t}) AS {name}" for t, name in zip(types + ["VARCHAR"], names)]
            return f"SELECT {', '.join(nulls)} WHERE false"
        file_table = self._file_table(view, layout, files)
        # Each file is scanned once; a file shared by two partitions then joins to both, as Athena reads it twice.
        paths = list(dict.fromkeys(local for _, local, _ in files))
        scan, projection = _scan(layout, paths, self._file_columns)
        values = projection + _typed_partition_columns(layout, "f", with_alias=False)
        if wants_path:
            values.append('f."$path"')
        select = ", ".join(f"{value} AS {name}" for value, name in zip(values, names))
        return f'SELECT {select} FROM {scan} AS d JOIN {file_table} AS f ON d."__file" = f."__file"'

    def _file_table(self, view: str, layout: _Layout, files: list[tuple[_S3Object, str, _Partition]]) -> str:
        """A table mapping each local file to its S3 URI and partition values (as strings)."""
        columns = {"__file": [local for _, local, _ in files], "$path": [obj.uri for obj, _, _ in files]}
        for index in range(len(layout.partition_keys)):
            columns[f"p{index}"] = [partition.values[index] for _, _, partition in files]
        name = f"{view}_files"
        arrow = pa.table(columns, schema=pa.schema([(column, pa.string()) for column in columns]))
        self._conn.from_arrow(arrow).create(name)
        return _sql_name(name)

    def _file_columns(self, scan: str) -> list[str]:
        return [row[0] for row in self._conn.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]


def _typed_partition_columns(layout: _Layout, alias: str, with_alias: bool = True) -> list[str]:
    typed = [f"CAST({alias}.p{index} AS {_duckdb_type(hive_type)})"
             for index, (_, hive_type) in enumerate(layout.partition_keys)]
    if with_alias:
        return [f"{value} AS {_sql_name(name)}" for value, (name, _) in zip(typed, layout.partition_keys)]
    return typed


@contextlib.contextmanager
def _interrupt_on(cancelled: threading.Event | None, conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Interrupts conn while the block runs once cancelled is set. It keeps interrupting, because an
    interrupt that lands between two DuckDB statements is forgotten when the next one starts."""
    if cancelled is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancelled.is_set():
                conn.interrupt()
            done.wait(0.05)

    watcher = threading.Thread(target=watch, name="athena-cancel-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


# ------------------------------------------------------------------------------------- SQL translation


def _parse_query(sql: str) -> exp.Expression:
    try:
        statements = [statement for statement in sqlglot.parse(sql, read="athena") if statement is not None]
    except sqlglot.errors.ParseError as err:
        details = err.errors[0] if err.errors else {}
        highlight = details.get("highlight") or ""
        position = None
        if details.get("line"):
            position = (details["line"], max(1, details["col"] - len(highlight) + 1))
        # sqlglot names its expression classes in some messages; keep only the class name.
        description = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", details.get("description", str(err)))
        raise _error("SYNTAX_ERROR", f"mismatched input '{highlight}'. {description}", position) from err
    except sqlglot.errors.TokenError as err:
        raise _error("SYNTAX_ERROR", str(err)) from err
    if len(statements) != 1:
        raise _error("SYNTAX_ERROR", "Only one sql statement is allowed")
    return statements[0]


def _node_position(sql: str, node: exp.Expression) -> tuple[int, int] | None:
    start = node.meta.get("start") if isinstance(node, exp.Identifier) else None
    return _position(sql, start) if start is not None else None


def _catalog_tables(ast: exp.Expression) -> list[exp.Table]:
    """Table references that name catalog tables (not CTEs, UNNEST or VALUES)."""
    cte_names = {cte.alias_or_name.lower() for cte in ast.find_all(exp.CTE)}
    return [table for table in ast.find_all(exp.Table)
            if isinstance(table.this, exp.Identifier) and (table.db or table.name.lower() not in cte_names)]


def _pruning_conditions(reference: exp.Table, layout: _Layout) -> list[str]:
    """DuckDB SQL of the WHERE conjuncts that only involve this reference's partition columns."""
    select = reference.parent.parent if isinstance(reference.parent, (exp.From, exp.Join)) else None
    if not isinstance(select, exp.Select) or select.args.get("where") is None:
        return []
    joins = select.args.get("joins") or []
    if any(join.side for join in joins):
        return []  # pruning the null-supplying side of an outer join would change which rows get NULLs
    keys = {name for name, _ in layout.partition_keys}
    qualifier = reference.alias_or_name.lower()
    conditions = []
    for conjunct in _conjuncts(select.args["where"].this):
        columns = list(conjunct.find_all(exp.Column))
        usable = columns and not conjunct.find(exp.Query, exp.Subquery, exp.Rand) and all(
            column.name.lower() in keys and (column.table.lower() == qualifier if column.table else not joins)
            for column in columns)
        if usable:
            condition = conjunct.copy()
            for column in condition.find_all(exp.Column):
                column.set("table", None)
                column.set("db", None)
                column.set("catalog", None)
            conditions.append(_athena_to_duckdb(condition, layout.date_columns))
    return conditions


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]


def _duckdb_query(ast: exp.Expression, date_columns: set[str]) -> str:
    _name_unnamed_columns(ast)
    for column in ast.find_all(exp.Column):
        # db.table.column: the table part is now the view's alias, the db part means nothing to DuckDB.
        column.set("db", None)
        column.set("catalog", None)
    return _athena_to_duckdb(ast, date_columns)


def _name_unnamed_columns(ast: exp.Expression) -> None:
    """Trino names an unaliased expression _col<position>; DuckDB would name it after its text."""
    select = ast
    while isinstance(select, (exp.SetOperation, exp.Subquery)):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for index, projection in enumerate(select.expressions):
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            projection.replace(exp.alias_(projection.copy(), f"_col{index}", quoted=True))


def _athena_to_duckdb(node: exp.Expression, date_columns: set[str]) -> str:
    _translate_joda_calls(node)
    _keep_dates_dates(node, date_columns)
    _count_if_as_count(node)
    _plain_timestamps(node)
    return node.sql(dialect="duckdb")


def _plain_timestamps(node: exp.Expression) -> None:
    """TIMESTAMP '...' literals become timestamp(0) / timestamp(3), which DuckDB maps to TIMESTAMP_S /
    TIMESTAMP_MS, types it refuses to compare with current_timestamp. Plain TIMESTAMP holds them all."""
    for data_type in node.find_all(exp.DataType):
        if data_type.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
            data_type.set("expressions", [])


def _count_if_as_count(node: exp.Expression) -> None:
    """DuckDB's count_if gives NULL when every input is NULL; Trino's, like any count, gives 0."""
    for count_if in list(node.find_all(exp.CountIf)):
        count_if.replace(exp.Count(this=exp.If(this=count_if.this.copy(), true=exp.Literal.number(1))))


_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
_DATE_ARITHMETIC = (exp.Add, exp.Sub, exp.DateAdd, exp.DateSub, exp.DateTrunc)


def _keep_dates_dates(node: exp.Expression, date_columns: set[str]) -> None:
    """DuckDB turns DATE +/- INTERVAL and date_trunc of a date into timestamps; Trino keeps dates.
    Cast such results back."""
    shifts = [n for n in node.find_all(*_DATE_ARITHMETIC) if _is_date_shift(n, date_columns)]
    for shift in reversed(shifts):  # innermost first, so outer copies include the inner casts
        shift.replace(exp.cast(shift.copy(), exp.DataType.Type.DATE))


def _is_date_shift(node: exp.Expression, date_columns: set[str]) -> bool:
    if isinstance(node, exp.DateTrunc):
        return _is_date(node.this, date_columns)
    if isinstance(node, (exp.DateAdd, exp.DateSub)):
        return node.text("unit").upper() in _DATE_UNITS and _is_date(node.this, date_columns)
    if isinstance(node, (exp.Add, exp.Sub)):
        for operand, other in ((node.this, node.expression), (node.expression, node.this)):
            if isinstance(other, exp.Interval) and other.text("unit").upper() in _DATE_UNITS:
                return _is_date(operand, date_columns)
    return False


def _is_date(node: exp.Expression, date_columns: set[str]) -> bool:
    if isinstance(node, exp.Cast):
        return node.to.is_type(exp.DataType.Type.DATE)
    if isinstance(node, (exp.CurrentDate, exp.TsOrDsToDate, exp.StrToDate)):
        return True
    if isinstance(node, exp.Column):
        return node.name.lower() in date_columns
    if isinstance(node, exp.Paren):
        return _is_date(node.this, date_columns)
    return isinstance(node, _DATE_ARITHMETIC) and _is_date_shift(node, date_columns)


# Joda-Time pattern letters (format_datetime / parse_datetime) -> DuckDB strftime / strptime specifiers.
_JODA_FIELDS = {
    "yyyy": "%Y", "y": "%Y", "yy": "%y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "M": "%-m", "dd": "%d", "d": "%-d",
    "HH": "%H", "H": "%-H", "hh": "%I", "h": "%-I", "mm": "%M", "m": "%-M", "ss": "%S", "s": "%-S",
    "SSS": "%g", "SSSSSS": "%f", "a": "%p", "EEEE": "%A", "EEE": "%a", "E": "%a", "DDD": "%j", "Z": "%z",
    "ZZ": "%z", "z": "%Z",
}
_JODA_TOKEN = re.compile(r"'(?P<literal>[^']*)'|(?P<field>(?P<letter>[A-Za-z])(?P=letter)*)|(?P<other>.)", re.S)


def _joda_to_strftime(pattern: str) -> str:
    parts = []
    for token in _JODA_TOKEN.finditer(pattern):
        if token["field"]:
            if token["field"] not in _JODA_FIELDS:
                raise _error("NOT_SUPPORTED", f"Date-time pattern field '{token['field']}' is not supported "
                                              "by the local Athena engine")
            parts.append(_JODA_FIELDS[token["field"]])
        else:
            text = token["literal"] if token["literal"] is not None else token["other"]
            parts.append((text or "'").replace("%", "%%"))  # '' inside a pattern is a quote
    return "".join(parts)


def _translate_joda_calls(node: exp.Expression) -> None:
    """format_datetime / parse_datetime take Joda patterns, which sqlglot passes through unchanged."""
    calls = [n for n in node.find_all(exp.Anonymous, exp.ParseDatetime)
             if isinstance(n, exp.ParseDatetime) or n.name.lower() == "format_datetime"]
    for call in reversed(calls):
        if isinstance(call, exp.ParseDatetime):
            function, value, pattern = "strptime", call.this, call.args.get("format")
        else:
            function, (value, pattern) = "strftime", (call.expressions + [None, None])[:2]
        if not (isinstance(pattern, exp.Literal) and pattern.is_string) or value is None:
            raise _error("NOT_SUPPORTED", f"{call.sql('athena')}: only a literal pattern is supported")
        call.replace(exp.Anonymous(this=function, expressions=[
            value.copy(), exp.Literal.string(_joda_to_strftime(pattern.this))]))


# ------------------------------------------------------------------------------------ errors of DuckDB

_COLUMN_NOT_FOUND = re.compile(r'Referenced column "([^"]+)" not found|does not have a column named "([^"]+)"'
                               r'|Referenced table "([^"]+)" not found')
_FUNCTION_NOT_FOUND = re.compile(r"(?:Scalar|Aggregate|Table) Function with name (\S+) does not exist")
_ERROR_TYPES_BY_CLASS = (
    (duckdb.ConversionException, "INVALID_CAST_ARGUMENT"),
    (duckdb.OutOfRangeException, "NUMERIC_VALUE_OUT_OF_RANGE"),
    (duckdb.ParserException, "SYNTAX_ERROR"),
    (duckdb.NotImplementedException, "NOT_SUPPORTED"),
    (duckdb.InvalidInputException, "INVALID_FUNCTION_ARGUMENT"),
    (duckdb.BinderException, "TYPE_MISMATCH"),
)


def _translate_duckdb_error(err: duckdb.Error, ast: exp.Expression, sql: str,
                            local_to_uri: dict[str, str]) -> AthenaQueryError:
    # DuckDB's first line is the message; further lines point into the DuckDB SQL, which the user never wrote.
    message = re.sub(r"^[A-Za-z ]*Error: ", "", str(err).split("\n")[0])
    if isinstance(err, duckdb.InterruptException):
        return _cancelled_error()
    if match := _COLUMN_NOT_FOUND.search(message):
        name = next(group for group in match.groups() if group)
        return _error("COLUMN_NOT_FOUND", f"Column '{name}' cannot be resolved or requester is not authorized "
                                          "to access requested resources", _column_position(ast, sql, name))
    if match := _FUNCTION_NOT_FOUND.search(message):
        return _error("FUNCTION_NOT_FOUND", f"Function '{match[1]}' not registered")
    if "must appear in the GROUP BY clause" in message:
        return _error("EXPRESSION_NOT_AGGREGATE", message)
    for local, uri in local_to_uri.items():
        if local in message:
            return _error("HIVE_BAD_DATA", message.replace(local, uri))
    error_type = next((name for cls, name in _ERROR_TYPES_BY_CLASS if isinstance(err, cls)), "GENERIC_INTERNAL_ERROR")
    return _error(error_type, message)


def _column_position(ast: exp.Expression, sql: str, name: str) -> tuple[int, int] | None:
    for column in ast.find_all(exp.Column):
        if column.name.lower() == name.lower():
            return _node_position(sql, column.this)
    return None


# --------------------------------------------------------------------------------------- result values

# DuckDB type id -> (Athena type, ColumnInfo.Precision)
_ATHENA_TYPES = {
    "varchar": ("varchar", VARCHAR_PRECISION),
    "boolean": ("boolean", 0),
    "tinyint": ("tinyint", 3),
    "smallint": ("smallint", 5),
    "integer": ("integer", 10),
    "bigint": ("bigint", 19),
    "hugeint": ("bigint", 19),  # DuckDB widens SUM(bigint) to HUGEINT; Trino keeps bigint
    "utinyint": ("smallint", 5),
    "usmallint": ("integer", 10),
    "uinteger": ("bigint", 19),
    "ubigint": ("bigint", 19),
    "float": ("real", 9),
    "double": ("double", 17),
    "date": ("date", 0),
    "time": ("time", 3),
    "timestamp": ("timestamp", 3),
    "timestamp_s": ("timestamp", 3),
    "timestamp_ms": ("timestamp", 3),
    "timestamp_ns": ("timestamp", 3),
    "timestamp with time zone": ("timestamp with time zone", 3),
    "blob": ("varbinary", VARCHAR_PRECISION),
    "list": ("array", 0),
    "array": ("array", 0),
    "map": ("map", 0),
    "struct": ("row", 0),
    "uuid": ("uuid", 0),
    "interval": ("interval day to second", 0),
    "json": ("json", 0),
}


def _column_info(name: str, dtype: duckdb.DuckDBPyType) -> ColumnInfo:
    if dtype.id == "decimal":
        parameters = dict(dtype.children)
        return ColumnInfo(name, "decimal", parameters["precision"], parameters["scale"])
    athena_type, precision = _ATHENA_TYPES.get(dtype.id, ("varchar", VARCHAR_PRECISION))
    return ColumnInfo(name, athena_type, precision, 0)


def _renderer(dtype: duckdb.DuckDBPyType) -> Callable[[object], str | None]:
    render = _render_real if dtype.id == "float" else _render
    return lambda value: None if value is None else render(value)


def _render(value: object) -> str:
    """A value as Athena prints it; None only reaches here inside arrays, maps and rows."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_number(repr(value))
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return _render_timestamp(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"
    if isinstance(value, (bytes, bytearray)):
        return " ".join(f"{byte:02x}" for byte in value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_render(key)}={_render(item)}" for key, item in value.items()) + "}"
    return str(value)


def _render_timestamp(value: datetime.datetime) -> str:
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}")
    return f"{text} {value.tzname()}" if value.tzinfo is not None else text


def _render_real(value: float) -> str:
    """A REAL (float32) the way Java's Float.toString prints it: shortest digits that round-trip."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == value:
            return _java_number(text)
    return _java_number(repr(value))  # NaN never compares equal


def _java_number(shortest: str) -> str:
    """Java's Double.toString layout for a number given by its shortest round-trip digits."""
    value = float(shortest)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    _, digit_tuple, exponent = decimal.Decimal(shortest.lstrip("-")).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # where the decimal point goes, counted from the first digit
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            text = "0." + "0" * -point + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits)) + ".0"
        else:
            text = digits[:point] + "." + digits[point:]
    else:
        text = f"{digits[0]}.{digits[1:] or '0'}E{point - 1}"
    return sign + text
