"""Athena's errors: AthenaQueryError, the line:col positions in messages, and DuckDB's errors translated.

Errors (AthenaQueryError.error_type): SYNTAX_ERROR (with line:col from sqlglot), TABLE_NOT_FOUND,
SCHEMA_NOT_FOUND, CATALOG_NOT_FOUND, COLUMN_NOT_FOUND, FUNCTION_NOT_FOUND, EXPRESSION_NOT_AGGREGATE,
TYPE_MISMATCH, INVALID_CAST_ARGUMENT, INVALID_FUNCTION_ARGUMENT, NUMERIC_VALUE_OUT_OF_RANGE,
HIVE_BAD_DATA (unreadable data file; the message names its s3:// URI), NOT_SUPPORTED,
TABLE_ALREADY_EXISTS, SCHEMA_ALREADY_EXISTS, SCHEMA_NOT_EMPTY, ALREADY_EXISTS / NOT_FOUND (partitions),
CANCELLED, GENERIC_INTERNAL_ERROR (anything else from DuckDB, Glue or S3). Positions of semantic errors
are those of the offending identifier in the original SQL.
"""
from __future__ import annotations

import re
import threading

import duckdb
from sqlglot import exp


class AthenaQueryError(Exception):
    """A failed query. error_type is Athena's error category (TABLE_NOT_FOUND, SYNTAX_ERROR, ...);
    str(exc) is the full StateChangeReason, e.g. "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.db.t'
    does not exist"."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def error(error_type: str, detail: str, position: tuple[int, int] | None = None) -> AthenaQueryError:
    where = f"line {position[0]}:{position[1]}: " if position else ""
    return AthenaQueryError(error_type, f"{error_type}: {where}{detail}")


def cancelled_error() -> AthenaQueryError:
    return error("CANCELLED", "Query was cancelled by user")


def raise_if_cancelled(cancelled: threading.Event | None) -> None:
    if cancelled is not None and cancelled.is_set():
        raise cancelled_error()


def sql_position(sql: str, offset: int) -> tuple[int, int]:
    line_start = sql.rfind("\n", 0, offset) + 1
    return sql.count("\n", 0, offset) + 1, offset - line_start + 1


def node_position(sql: str, node: exp.Expression) -> tuple[int, int] | None:
    start = node.meta.get("start") if isinstance(node, exp.Identifier) else None
    return sql_position(sql, start) if start is not None else None


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


def translate_duckdb_error(err: duckdb.Error, ast: exp.Expression, sql: str,
                           local_to_uri: dict[str, str]) -> AthenaQueryError:
    # DuckDB's first line is the message; further lines point into the DuckDB SQL, which the user never wrote.
    message = re.sub(r"^[A-Za-z ]*Error: ", "", str(err).split("\n")[0])
    if isinstance(err, duckdb.InterruptException):
        return cancelled_error()
    if match := _COLUMN_NOT_FOUND.search(message):
        name = next(group for group in match.groups() if group)
        return error("COLUMN_NOT_FOUND", f"Column '{name}' cannot be resolved or requester is not authorized "
                                         "to access requested resources", _column_position(ast, sql, name))
    if match := _FUNCTION_NOT_FOUND.search(message):
        return error("FUNCTION_NOT_FOUND", f"Function '{match[1]}' not registered")
    if "must appear in the GROUP BY clause" in message:
        return error("EXPRESSION_NOT_AGGREGATE", message)
    for local, uri in local_to_uri.items():
        if local in message:
            return error("HIVE_BAD_DATA", message.replace(local, uri))
    error_type = next((name for cls, name in _ERROR_TYPES_BY_CLASS if isinstance(err, cls)), "GENERIC_INTERNAL_ERROR")
    return error(error_type, message)


def _column_position(ast: exp.Expression, sql: str, name: str) -> tuple[int, int] | None:
    for column in ast.find_all(exp.Column):
        if column.name.lower() == name.lower():
            return node_position(sql, column.this)
    return None
