"""Query results as Athena returns them: ColumnInfo types, rendered values, the result CSV.

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
"""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import math
import struct
from collections.abc import Callable

import duckdb

VARCHAR_PRECISION = 2147483647


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


def varchar_column(name: str) -> ColumnInfo:
    return ColumnInfo(name, "varchar", VARCHAR_PRECISION)


def no_rows() -> QueryOutcome:
    return QueryOutcome(columns=[], rows=[])


def _csv_line(values: list[str | None]) -> str:
    return ",".join("" if value is None else '"' + value.replace('"', '""') + '"' for value in values)


def to_csv(outcome: QueryOutcome) -> bytes:
    """The result file Athena writes: a header, every value double-quoted, NULL as an empty field."""
    if not outcome.columns:
        return b""
    lines = [[column.name for column in outcome.columns], *outcome.rows]
    return "".join(_csv_line(values) + "\n" for values in lines).encode("utf-8")


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


def column_info(name: str, dtype: duckdb.DuckDBPyType) -> ColumnInfo:
    if dtype.id == "decimal":
        parameters = dict(dtype.children)
        return ColumnInfo(name, "decimal", parameters["precision"], parameters["scale"])
    athena_type, precision = _ATHENA_TYPES.get(dtype.id, ("varchar", VARCHAR_PRECISION))
    return ColumnInfo(name, athena_type, precision, 0)


def renderer(dtype: duckdb.DuckDBPyType) -> Callable[[object], str | None]:
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
