"""Athena (Trino) SQL to DuckDB SQL: sqlglot's transpilation plus the rewrites that keep Athena's semantics.

Athena SQL behaviour the engine adds on top of sqlglot
    Integer division truncates (DuckDB's integer_division setting); count_if never returns NULL;
    DATE +/- INTERVAL, date_add and date_trunc on a date stay dates when the operand is visibly a date
    (a DATE literal or cast, current_date, a date column of a queried table); TIMESTAMP literals compare
    with current_timestamp; format_datetime and parse_datetime with a literal Joda pattern; "$path".
"""
from __future__ import annotations

import re

import sqlglot
import sqlglot.errors
from sqlglot import exp

from local_aws.athena.engine.errors import error


def parse_query(sql: str) -> exp.Expression:
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
        raise error("SYNTAX_ERROR", f"mismatched input '{highlight}'. {description}", position) from err
    except sqlglot.errors.TokenError as err:
        raise error("SYNTAX_ERROR", str(err)) from err
    if len(statements) != 1:
        raise error("SYNTAX_ERROR", "Only one sql statement is allowed")
    return statements[0]


def duckdb_query(ast: exp.Expression, date_columns: set[str]) -> str:
    _name_unnamed_columns(ast)
    for column in ast.find_all(exp.Column):
        # db.table.column: the table part is now the view's alias, the db part means nothing to DuckDB.
        column.set("db", None)
        column.set("catalog", None)
    return athena_to_duckdb(ast, date_columns)


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


def athena_to_duckdb(node: exp.Expression, date_columns: set[str]) -> str:
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
                raise error("NOT_SUPPORTED", f"Date-time pattern field '{token['field']}' is not supported "
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
            raise error("NOT_SUPPORTED", f"{call.sql('athena')}: only a literal pattern is supported")
        call.replace(exp.Anonymous(this=function, expressions=[
            value.copy(), exp.Literal.string(_joda_to_strftime(pattern.this))]))
