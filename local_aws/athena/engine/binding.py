"""One SELECT: every catalog table reference bound to a DuckDB view over local copies of its (pruned)
partitions' objects, then the query run and its rows rendered.

Partition pruning
    Top-level AND-ed WHERE conditions that reference only partition columns of a table (qualified by its
    alias, or unqualified when the table is the only source of its SELECT) are evaluated against the
    partition values before any object is listed or read. Conditions may use any SQL (=, IN, ranges,
    functions); queries with an outer join in the same SELECT are not pruned. data_scanned_bytes is the
    sum of the sizes of the objects a query reads (whole objects: unlike Athena, no column projection
    discount for Parquet); a table referenced twice is counted twice, as in Athena.
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
from collections.abc import Iterator

import duckdb
import pyarrow as pa
from sqlglot import exp

from local_aws.athena.engine.catalog import Catalog
from local_aws.athena.engine.dialect import athena_to_duckdb, duckdb_query, parse_query
from local_aws.athena.engine.errors import (
    cancelled_error,
    error,
    node_position,
    raise_if_cancelled,
    translate_duckdb_error,
)
from local_aws.athena.engine.partitions import partition_path
from local_aws.athena.engine.results import QueryOutcome, column_info, renderer
from local_aws.athena.engine.s3_cache import ObjectCache, S3Object
from local_aws.athena.engine.scan import (
    TEXT_COMPRESSION_NOT_READABLE,
    TableLayout,
    duckdb_type,
    scan_sql,
    sql_name,
    table_layout,
)
from local_aws.hive import HIVE_DEFAULT_PARTITION, folder


@dataclasses.dataclass
class _Partition:
    values: tuple[str | None, ...]
    location: str


class QueryRun:
    """One SELECT: binds every catalog table reference to a DuckDB view over local copies, runs the query."""

    def __init__(self, catalog: Catalog, objects: ObjectCache, sql: str, database: str,
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
        ast = parse_query(self._sql)
        self._conn = duckdb.connect()
        try:
            self._conn.execute("SET integer_division = true")  # Trino's / truncates on integers
            self._conn.execute("SET TimeZone = 'UTC'")  # Athena sessions run in UTC
            wants_path = any(column.name == "$path" for column in ast.find_all(exp.Column))
            for index, reference in enumerate(_catalog_tables(ast)):
                self._bind(reference, f"__table{index}", wants_path)
            raise_if_cancelled(self._cancelled)
            duckdb_sql = duckdb_query(ast, self._date_columns)
            with _interrupt_on(self._cancelled, self._conn):
                relation = self._conn.sql(duckdb_sql)
                rows = relation.fetchall()
            raise_if_cancelled(self._cancelled)
            columns = [column_info(name, dtype) for name, dtype in zip(relation.columns, relation.types)]
            renderers = [renderer(dtype) for dtype in relation.types]
            rendered = [[render(value) for render, value in zip(renderers, row)] for row in rows]
            return QueryOutcome(columns, rendered, self._scanned, "DML")
        except duckdb.Error as err:
            if self._cancelled is not None and self._cancelled.is_set():
                raise cancelled_error() from err
            raise translate_duckdb_error(err, ast, self._sql, self._local_to_uri) from err
        finally:
            self._conn.close()

    def _bind(self, reference: exp.Table, view: str, wants_path: bool) -> None:
        """Creates the view a table reference reads from, and points the reference at it."""
        position = node_position(self._sql, reference.parts[0])
        if reference.catalog and reference.catalog.lower() != "awsdatacatalog":
            raise error("CATALOG_NOT_FOUND", f"Catalog '{reference.catalog}' does not exist", position)
        db, name = (reference.db or self._database).lower(), reference.name.lower()
        table = self._catalog.table(db, name, position)
        layout = table_layout(table, f"{db}.{name}")
        self._date_columns |= layout.date_columns
        partitions = self._partitions(db, name, table, layout)
        if layout.partition_keys:
            partitions = self._prune(partitions, layout, _pruning_conditions(reference, layout))
        files = self._fetch(partitions, layout)
        self._conn.execute(f"CREATE TEMP VIEW {sql_name(view)} AS {self._view_sql(view, layout, files, wants_path)}")
        if reference.args.get("alias") is None:  # keep "t.column" working once t is renamed
            reference.set("alias", exp.TableAlias(this=exp.to_identifier(reference.name)))
        reference.set("catalog", None)
        reference.set("db", None)
        reference.set("this", exp.to_identifier(view, quoted=True))

    def _partitions(self, db: str, name: str, table: dict, layout: TableLayout) -> list[_Partition]:
        location = folder(table["StorageDescriptor"].get("Location") or "")
        if not layout.partition_keys:
            return [_Partition((), location)]
        keys = [key for key, _ in layout.partition_keys]
        partitions = []
        for partition in self._catalog.partitions(db, name):
            values = tuple(None if value == HIVE_DEFAULT_PARTITION else value for value in partition["Values"])
            own_location = (partition.get("StorageDescriptor") or {}).get("Location")
            partitions.append(_Partition(values, folder(own_location) if own_location
                                         else location + partition_path(keys, tuple(partition["Values"]))))
        return partitions

    def _prune(self, partitions: list[_Partition], layout: TableLayout, conditions: list[str]) -> list[_Partition]:
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

    def _fetch(self, partitions: list[_Partition], layout: TableLayout) -> list[tuple[S3Object, str, _Partition]]:
        files = []
        for partition in partitions:
            for obj in self._objects.list(partition.location):
                if layout.format != "parquet" and obj.key.endswith(TEXT_COMPRESSION_NOT_READABLE):
                    raise error("NOT_SUPPORTED", f"Compression of {obj.uri} is not supported by the local "
                                                 "Athena engine (gzip and zstd are)")
                raise_if_cancelled(self._cancelled)
                local = str(self._objects.local_copy(obj))
                self._local_to_uri[local] = obj.uri
                self._scanned += obj.size
                files.append((obj, local, partition))
        return files

    def _view_sql(self, view: str, layout: TableLayout, files: list[tuple[S3Object, str, _Partition]],
                  wants_path: bool) -> str:
        names = [sql_name(name) for name, _ in layout.columns + layout.partition_keys]
        if wants_path:
            names.append(sql_name("$path"))
        if not files:
            types = [duckdb_type(hive_type) for _, hive_type in layout.columns + layout.partition_keys]
            nulls = [f"CAST(NULL AS {t}) AS {name}" for t, name in zip(types + ["VARCHAR"], names)]
            return f"SELECT {', '.join(nulls)} WHERE false"
        file_table = self._file_table(view, layout, files)
        # Each file is scanned once; a file shared by two partitions then joins to both, as Athena reads it twice.
        paths = list(dict.fromkeys(local for _, local, _ in files))
        scan, projection = scan_sql(layout, paths, self._file_columns)
        values = projection + _typed_partition_columns(layout, "f", with_alias=False)
        if wants_path:
            values.append('f."$path"')
        select = ", ".join(f"{value} AS {name}" for value, name in zip(values, names))
        return f'SELECT {select} FROM {scan} AS d JOIN {file_table} AS f ON d."__file" = f."__file"'

    def _file_table(self, view: str, layout: TableLayout, files: list[tuple[S3Object, str, _Partition]]) -> str:
        """A table mapping each local file to its S3 URI and partition values (as strings)."""
        columns = {"__file": [local for _, local, _ in files], "$path": [obj.uri for obj, _, _ in files]}
        for index in range(len(layout.partition_keys)):
            columns[f"p{index}"] = [partition.values[index] for _, _, partition in files]
        name = f"{view}_files"
        arrow = pa.table(columns, schema=pa.schema([(column, pa.string()) for column in columns]))
        self._conn.from_arrow(arrow).create(name)
        return sql_name(name)

    def _file_columns(self, scan: str) -> list[str]:
        return [row[0] for row in self._conn.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]


# The shape of the checks' queries (CTEs, GROUP BY ... HAVING, a partition condition on a date string).
WARM_UP_SQL = ("WITH keys AS (SELECT k FROM __warm_up WHERE dt = '2026-01-01'), duplicated AS (SELECT k FROM keys "
               "GROUP BY k HAVING COUNT(*) > 1) SELECT (SELECT COUNT(*) FROM keys) AS n, "
               "(SELECT COUNT(*) FROM duplicated) AS duplicated")


def warm_up_query() -> None:
    """A query's path without the catalog or S3: parse and transpile, an Arrow table and a Parquet file read."""
    sql = duckdb_query(parse_query(WARM_UP_SQL), set())
    conn = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="athena-warm-up-") as scratch:
            parquet = f"{scratch}/warm_up.parquet"
            conn.register("__rows", pa.table({"k": ["a", "a"], "dt": ["2026-01-01", "2026-01-01"]}))
            conn.execute(f"COPY (SELECT * FROM __rows) TO '{parquet}' (FORMAT parquet)")
            conn.execute(f"CREATE TEMP VIEW __warm_up AS SELECT * FROM read_parquet(['{parquet}'], "
                         "union_by_name = true, filename = '__file')")
            conn.sql(sql).fetchall()
    finally:
        conn.close()


def _typed_partition_columns(layout: TableLayout, alias: str, with_alias: bool = True) -> list[str]:
    typed = [f"CAST({alias}.p{index} AS {duckdb_type(hive_type)})"
             for index, (_, hive_type) in enumerate(layout.partition_keys)]
    if with_alias:
        return [f"{value} AS {sql_name(name)}" for value, (name, _) in zip(typed, layout.partition_keys)]
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


def _catalog_tables(ast: exp.Expression) -> list[exp.Table]:
    """Table references that name catalog tables (not CTEs, UNNEST or VALUES)."""
    cte_names = {cte.alias_or_name.lower() for cte in ast.find_all(exp.CTE)}
    return [table for table in ast.find_all(exp.Table)
            if isinstance(table.this, exp.Identifier) and (table.db or table.name.lower() not in cte_names)]


def _pruning_conditions(reference: exp.Table, layout: TableLayout) -> list[str]:
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
            conditions.append(athena_to_duckdb(condition, layout.date_columns))
    return conditions


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]
