"""Athena query engine of the local AWS stack: Glue Data Catalog + S3 data, queried with DuckDB.

A query's tables are looked up in the Glue Data Catalog, their S3 objects are downloaded into a local
cache (keyed by bucket, key and ETag, so a changed object is fetched again) and exposed to DuckDB as one
view per table reference. The SQL itself is Athena's dialect (Trino), transpiled to DuckDB with sqlglot.
DDL statements are applied to the catalog through the Glue API; no DDL touches S3 data.

Modules, by concern: statement_text, ddl, create_table and partitions (DDL and utility statements); catalog (Glue
calls); s3_cache (objects and their local copies); scan (reading a table's files); binding (a SELECT's tables
bound to DuckDB views, partition pruning); dialect (Athena SQL to DuckDB SQL); results (types and values);
errors (Athena's error types).

Known limits
    Not supported: INSERT, CTAS, UNLOAD, views, Iceberg tables, EXPLAIN, information_schema, prepared
    statements, ORC / Avro data (tables can be created but not read), complex types in text tables,
    JSON SerDe options (mapping.*, case-insensitive keys), per-partition SerDe overrides (the table's is
    used), text compression other than gzip / zstd, encodings other than the three scan.py reads.
    Semantics that differ from Trino: division by zero gives NULL (Trino: DIVISION_BY_ZERO for
    integers, Infinity / NaN for doubles); decimal / decimal yields a double; parse_datetime returns a
    timestamp without time zone; "$path" also shows up in SELECT * of a query that names it; DATE -
    INTERVAL on an expression not visibly a date (e.g. a date returned by a function) still yields a
    timestamp; approx_distinct / approx_percentile use DuckDB's estimators; reals nested in arrays, maps
    or rows print with double digits; unnamed struct fields and dereferences are named _colN.
    The object cache is never evicted: superseded ETags stay on disk until cache_dir is removed.
"""
from __future__ import annotations

import pathlib
import re
import threading

import botocore.exceptions

from local_aws.athena.engine.binding import QueryRun, warm_up_query
from local_aws.athena.engine.catalog import Catalog
from local_aws.athena.engine.ddl import CatalogStatements
from local_aws.athena.engine.errors import AthenaQueryError, error, raise_if_cancelled, sql_position
from local_aws.athena.engine.results import ColumnInfo, QueryOutcome, to_csv
from local_aws.athena.engine.s3_cache import ObjectCache
from local_aws.athena.engine.statement_text import KNOWN_UNSUPPORTED, QUERY_START, blank_comments

__all__ = ["AthenaEngine", "AthenaQueryError", "ColumnInfo", "QueryOutcome"]


class AthenaEngine:
    """Runs Athena statements. Thread-safe: every execute() has its own DuckDB connection, and the shared
    object cache serialises downloads of the same object."""

    def __init__(self, glue_client, s3_client, cache_dir: pathlib.Path):
        self._catalog = Catalog(glue_client)
        self._objects = ObjectCache(s3_client, pathlib.Path(cache_dir))
        self._statements = CatalogStatements(glue_client, self._catalog, self._objects)

    def execute(self, sql: str, database: str | None, catalog: str = "AwsDataCatalog",
                cancelled: threading.Event | None = None) -> QueryOutcome:
        raise_if_cancelled(cancelled)
        if catalog.lower() != "awsdatacatalog":
            raise error("CATALOG_NOT_FOUND", f"Catalog '{catalog}' does not exist")
        database = (database or "default").lower()
        text = blank_comments(sql)
        try:
            if QUERY_START.match(text):
                return QueryRun(self._catalog, self._objects, sql, database, cancelled).run()
            return self._run_statement(text, database)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise error("GENERIC_INTERNAL_ERROR", str(err)) from err

    def warm_up(self) -> None:
        """Runs once what every first query loads: sqlglot's Athena and DuckDB dialects, a DuckDB connection
        reading an Arrow table (pyarrow's dataset modules) and a Parquet file. No request is sent."""
        warm_up_query()

    def to_csv(self, outcome: QueryOutcome) -> bytes:
        """The result file Athena writes: a header, every value double-quoted, NULL as an empty field."""
        return to_csv(outcome)

    def _run_statement(self, text: str, database: str) -> QueryOutcome:
        statement = re.sub(r"[\s;]+$", "", text).strip()
        for prefix, handler, statement_type in self._statements.routes:
            if prefix.match(statement):
                outcome = handler(statement, database)
                outcome.statement_type = statement_type
                return outcome
        words = statement.split()
        first_word = words[0] if words else "<EOF>"
        if first_word.upper() in KNOWN_UNSUPPORTED:
            raise error("NOT_SUPPORTED", f"{' '.join(words[:2]).upper()} statements are not supported by the "
                                         "local Athena engine")
        offset = len(text) - len(text.lstrip())
        raise error("SYNTAX_ERROR", f"mismatched input '{first_word}'", sql_position(text, offset))
