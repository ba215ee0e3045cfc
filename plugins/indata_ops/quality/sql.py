"""The Athena SQL of a dataset's declared checks for one run date.

The main query reads the run's partition once: Athena (Trino) inlines a CTE at each reference, so a CTE read
twice is a table scanned twice. It groups the partition's rows once by ``GROUPING SETS``: the whole partition
(``()``: row count, NULL counts, values outside a list or a range, minimum and maximum), the key columns and each
unique check's column set (how many combinations occur more than once). An outer aggregate folds those rows into
one result row whose column names are fixed here (``check_<n>_...``, ``column_<n>_nulls``): nothing the config
says becomes an alias, and every identifier is quoted.

Relationship and sql checks read other tables: one query each, started with the main query. Failing rows are
asked for only for failed checks, one small query each (``LIMIT 5``).

Literals are rendered by their Python type, as the config builds them: strings with quotes doubled, dates as
``DATE '...'``, timestamps (timezone-aware) in UTC as ``TIMESTAMP '...'`` without a zone (Athena reads Parquet
timestamps as UTC wall times of type timestamp), decimals as a cast of their exact text to a decimal of their own
precision and scale (``DECIMAL '...'`` would become decimal(18,3) on engines that default its precision).
"""
from __future__ import annotations

import datetime
import decimal
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from indata_ops.quality.model import DeclaredCheck
from indata_ops.run_date import checked_run_date

PARTITION_COLUMN = "dt"
FAILING_ROWS_LIMIT = 5
# Built-in kinds answered by the main query; relationship and sql need a query of their own.
MAIN_QUERY_KINDS = frozenset({"not_null", "unique", "accepted_values", "range", "row_count", "freshness"})
EXTRA_QUERY_KINDS = frozenset({"relationship", "sql"})
_NUMERIC_TYPE = re.compile(r"(tinyint|smallint|int|integer|bigint|float|real|double|decimal(\(\s*\d+\s*,\s*\d+\s*\))?)")
_UNORDERABLE_TYPE = re.compile(r"(array|map|struct)\b")
_END_OF_QUERY = re.compile(r"[\s;]+$")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def literal(value: Any) -> str:
    """A typed Athena literal for a config value; a value that has none (NaN, a naive timestamp) is refused."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no SQL literal: a check's value must be a finite number")
        text = repr(value).upper()  # the shortest text that reads back as the same double
        return text if "E" in text else text + "E0"
    if isinstance(value, decimal.Decimal):
        return _decimal_literal(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone: a check's timestamp must be in UTC")
        utc = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{utc.isoformat(sep=' ', timespec='microseconds')}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"{value!r} ({type(value).__name__}) has no SQL literal")


def _decimal_literal(value: decimal.Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} has no SQL literal: a check's value must be a finite number")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    scale = max(0, -exponent)
    precision = max(len(digits) + max(0, exponent), scale, 1)
    if precision > 38:
        raise ValueError(f"{value} has more than 38 digits: Athena's decimals hold 38")
    return f"CAST('{value:f}' AS DECIMAL({precision}, {scale}))"


def is_numeric(glue_type: str) -> bool:
    return bool(_NUMERIC_TYPE.fullmatch(glue_type.strip().lower()))


def freshness_threshold(run_date: str, max_age: datetime.timedelta) -> datetime.datetime:
    """The oldest maximum a freshness check accepts: the end of the run date (UTC) minus max_age."""
    end = datetime.datetime.combine(datetime.date.fromisoformat(run_date), datetime.time(), datetime.UTC)
    return end + datetime.timedelta(days=1) - max_age


def _freshness_literal(run_date: str, check: DeclaredCheck, glue_type: str) -> str:
    if check.max_age is None:
        raise ValueError(f"check {check.name}: freshness needs max_age")
    threshold = freshness_threshold(run_date, check.max_age)
    if glue_type.strip().lower() != "date":
        return literal(threshold)
    # A date is its midnight: it reaches the threshold when it is the threshold's day, or the day after when the
    # threshold falls within a day.
    day = threshold.date() + datetime.timedelta(days=0 if threshold.time() == datetime.time() else 1)
    return literal(day)


@dataclass(frozen=True)
class CheckQueries:
    """The SQL of one dataset's date: ``main`` (one row, the aliases below) and ``extra`` (check index -> query
    with one row and one column ``failing``). ``numeric`` are the columns whose NULLs the main query counts
    (``column_<n>_nulls``, n their position here)."""

    database: str
    table: str
    run_date: str
    columns: Mapping[str, str]
    keys: tuple[str, ...]
    checks: tuple[DeclaredCheck, ...]
    main: str
    extra: Mapping[int, str] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"{qualified(self.database, self.table)} WHERE {quote(PARTITION_COLUMN)} = '{self.run_date}'"


def check_queries(database: str, table: str, run_date: str, columns: Mapping[str, str], keys: Sequence[str],
                  checks: Sequence[DeclaredCheck]) -> CheckQueries:
    """Every query a dataset's date needs when all its checks pass.

    ``columns``: the clean table's columns and Glue types (the partition column excluded); ``keys``: the key
    columns (validation's own NULL and duplicate checks); ``checks``: the declared ones, in report order. A
    relationship reads ``to_dataset``'s clean table, ``<database>.<to_dataset>``.
    """
    run_date = checked_run_date(run_date)
    checks = tuple(checks)
    for check in checks:
        _check_columns(check, columns)
    missing_keys = [key for key in keys if key not in columns]
    if missing_keys:
        raise ValueError(f"key columns {missing_keys} are not columns of {database}.{table}")
    numeric = tuple(name for name, glue_type in columns.items() if is_numeric(glue_type))
    partial = CheckQueries(database, table, run_date, dict(columns), tuple(keys), checks, main="",
                           numeric=numeric)
    extra = {index: _extra_sql(partial, check) for index, check in enumerate(checks) if check.kind in EXTRA_QUERY_KINDS}
    return CheckQueries(database, table, run_date, dict(columns), tuple(keys), checks, main=_main_sql(partial),
                        extra=extra, numeric=numeric)


def _check_columns(check: DeclaredCheck, columns: Mapping[str, str]) -> None:
    unknown = [column for column in check.columns if column not in columns]
    if unknown:
        raise ValueError(f"check {check.name}: {', '.join(unknown)} not among the table's columns")
    one_column = {"accepted_values", "range", "relationship", "freshness"}
    if check.kind in one_column and len(check.columns) != 1:
        raise ValueError(f"check {check.name}: {check.kind} takes exactly one column, got {len(check.columns)}")
    if check.kind in {"not_null", "unique"} and not check.columns:
        raise ValueError(f"check {check.name}: {check.kind} needs at least one column")
    if check.kind == "freshness" and columns[check.columns[0]].strip().lower() not in ("date", "timestamp"):
        raise ValueError(f"check {check.name}: freshness needs a date or timestamp column, "
                         f"{check.columns[0]} is {columns[check.columns[0]]}")
    if check.kind == "accepted_values" and not check.values:
        raise ValueError(f"check {check.name}: accepted_values needs values")
    if check.kind == "range" and check.min is None and check.max is None:
        raise ValueError(f"check {check.name}: range needs min or max")
    if check.kind == "relationship" and not (check.to_dataset and check.to_column):
        raise ValueError(f"check {check.name}: relationship needs to_dataset and to_column")
    if check.kind == "sql" and not (check.sql or "").strip():
        raise ValueError(f"check {check.name}: sql needs a query")


def _any_null(columns: Sequence[str]) -> str:
    return " OR ".join(f"{quote(c)} IS NULL" for c in columns)


def _outside(check: DeclaredCheck) -> str:
    """The condition a failing value of an accepted_values or range check meets (NULL never does)."""
    column = quote(check.columns[0])
    if check.kind == "accepted_values":
        return f"{column} NOT IN ({', '.join(literal(v) for v in check.values)})"
    bounds = ([f"{column} < {literal(check.min)}"] if check.min is not None else []) + (
        [f"{column} > {literal(check.max)}"] if check.max is not None else [])
    return " OR ".join(bounds)


def _total_aggregates(queries: CheckQueries) -> list[tuple[str, str]]:
    """(alias, aggregate) over the whole partition: what the main query returns besides row and key counts."""
    aggregates: list[tuple[str, str]] = []
    if queries.keys:
        aggregates.append(("null_key_rows", f"COUNT_IF({_any_null(queries.keys)})"))
    for index, check in enumerate(queries.checks):
        name = f"check_{index}"
        if check.kind == "not_null":
            aggregates.append((f"{name}_failing", f"COUNT_IF({_any_null(check.columns)})"))
            aggregates += [(f"{name}_null_{n}", f"COUNT_IF({quote(c)} IS NULL)") for n, c in enumerate(check.columns)]
        elif check.kind in ("accepted_values", "range"):
            aggregates.append((f"{name}_failing", f"COUNT_IF({_outside(check)})"))
            if check.kind == "range":
                aggregates += [(f"{name}_min", f"MIN({quote(check.columns[0])})"),
                               (f"{name}_max", f"MAX({quote(check.columns[0])})")]
        elif check.kind == "freshness":
            column = check.columns[0]
            threshold = _freshness_literal(queries.run_date, check, queries.columns[column])
            aggregates += [(f"{name}_max", f"MAX({quote(column)})"),
                           (f"{name}_fresh", f"COUNT_IF({quote(column)} >= {threshold})")]
    aggregates += [(f"column_{n}_nulls", f"COUNT_IF({quote(c)} IS NULL)") for n, c in enumerate(queries.numeric)]
    return aggregates


def _grouping_sets(queries: CheckQueries) -> list[tuple[str, ...]]:
    """The column sets whose repeated combinations are counted: the keys, then each unique check's (deduplicated)."""
    sets: list[tuple[str, ...]] = []
    for columns in ([queries.keys] if queries.keys else []) + [
            check.columns for check in queries.checks if check.kind == "unique"]:
        if not any(set(columns) == set(known) for known in sets):
            sets.append(tuple(columns))
    return sets


def _main_sql(queries: CheckQueries) -> str:
    totals = _total_aggregates(queries)
    sets = _grouping_sets(queries)
    if not sets:
        select = ", ".join(["COUNT(*) AS clean_rows"] + [f"{agg} AS {alias}" for alias, agg in totals] +
                           (["0 AS null_key_rows", "0 AS duplicate_keys"] if not queries.keys else []))
        return f"SELECT {select} FROM {queries.source}"
    grouped = list(dict.fromkeys(column for columns in sets for column in columns))
    everything = (1 << len(grouped)) - 1

    def grouping(columns: Sequence[str]) -> int:
        # GROUPING() sets the bit of each argument not grouped on, the last argument being the lowest bit.
        return sum(1 << (len(grouped) - 1 - i) for i, column in enumerate(grouped) if column not in columns)

    def key(column: str) -> str:
        return quote(f"__key_{grouped.index(column)}")

    inner = ", ".join(
        [f"GROUPING({', '.join(quote(c) for c in grouped)}) AS \"__grouping\"", 'COUNT(*) AS "__rows"']
        + [f"{quote(c)} AS {key(c)}" for c in grouped]
        + [f"{agg} AS {quote('__' + alias)}" for alias, agg in totals])
    sets_sql = ", ".join(["()"] + [f"({', '.join(quote(c) for c in columns)})" for columns in sets])
    total = f'"__grouping" = {everything}'
    # The outer aggregate always gives one row; COALESCE keeps counts at 0 on an empty partition, where some
    # engines give no row for the () set.
    outer = [f'COALESCE(MAX(IF({total}, "__rows")), 0) AS clean_rows']
    for alias, agg in totals:
        value = f"MAX(IF({total}, {quote('__' + alias)}))"
        counted = agg.startswith("COUNT")
        outer.append(f"{f'COALESCE({value}, 0)' if counted else value} AS {alias}")
    if queries.keys:
        outer.append(f'COUNT_IF("__grouping" = {grouping(queries.keys)} AND "__rows" > 1) AS duplicate_keys')
    else:
        outer += ["0 AS null_key_rows", "0 AS duplicate_keys"]
    for index, check in enumerate(queries.checks):
        if check.kind != "unique":
            continue
        repeated = " AND ".join([f'"__grouping" = {grouping(check.columns)}', '"__rows" > 1'] +
                                [f"{key(c)} IS NOT NULL" for c in check.columns])
        outer += [f"COUNT_IF({repeated}) AS check_{index}_failing",
                  f'COALESCE(SUM(IF({repeated}, "__rows")), 0) AS check_{index}_rows']
    return (f"SELECT {', '.join(outer)} FROM (SELECT {inner} FROM {queries.source} "
            f"GROUP BY GROUPING SETS ({sets_sql}))")


def user_query(queries: CheckQueries, check: DeclaredCheck) -> str:
    """A sql check's query with ``{table}`` and ``{run_date}`` in place (replaced, not formatted: the query may
    hold braces of its own), without a trailing semicolon."""
    text = (check.sql or "").replace("{table}", qualified(queries.database, queries.table))
    return _END_OF_QUERY.sub("", text.replace("{run_date}", queries.run_date))


def _missing_values(queries: CheckQueries, check: DeclaredCheck) -> tuple[str, str]:
    """The column and the FROM ... WHERE of a relationship check's values missing from the other table."""
    column, target = quote(check.columns[0]), quote(check.to_column or "")
    other = qualified(queries.database, check.to_dataset or "")
    same_date = f" AND {quote(PARTITION_COLUMN)} = '{queries.run_date}'" if check.same_date else ""
    return column, (f"FROM {queries.source} AND {column} IS NOT NULL AND {column} NOT IN "
                    f"(SELECT {target} FROM {other} WHERE {target} IS NOT NULL{same_date})")


def _extra_sql(queries: CheckQueries, check: DeclaredCheck) -> str:
    if check.kind == "relationship":
        column, source = _missing_values(queries, check)
        return f"SELECT COUNT(DISTINCT {column}) AS failing {source}"
    # A newline before the closing parenthesis: the query may end with a -- comment.
    return f"SELECT COUNT(*) AS failing FROM (\n{user_query(queries, check)}\n) AS declared"


def _ordered(columns: Mapping[str, str], names: Sequence[str]) -> str:
    orderable = [quote(n) for n in names if not _UNORDERABLE_TYPE.match(columns[n].strip().lower())]
    return f" ORDER BY {', '.join(orderable)}" if orderable else ""


def null_rows_sql(queries: CheckQueries, columns: Sequence[str]) -> str:
    """A few whole rows with a NULL in one of the columns."""
    names = list(queries.columns)
    return (f"SELECT {', '.join(quote(n) for n in names)} FROM {queries.source} AND ({_any_null(columns)})"
            f"{_ordered(queries.columns, names)} LIMIT {FAILING_ROWS_LIMIT}")


def repeated_sql(queries: CheckQueries, columns: Sequence[str], skip_nulls: bool) -> str:
    """A few combinations of the columns that occur more than once, with their row count (most repeated first)."""
    listed = ", ".join(quote(c) for c in columns)
    nulls = "".join(f" AND {quote(c)} IS NOT NULL" for c in columns) if skip_nulls else ""
    # By position: a column may be called "rows" too.
    order = "".join(f", {n}" for n, c in enumerate(columns, start=1)
                    if not _UNORDERABLE_TYPE.match(queries.columns[c].strip().lower()))
    return (f'SELECT {listed}, COUNT(*) AS "rows" FROM {queries.source}{nulls} GROUP BY {listed} '
            f'HAVING COUNT(*) > 1 ORDER BY {len(columns) + 1} DESC{order} LIMIT {FAILING_ROWS_LIMIT}')


def failing_rows_sql(queries: CheckQueries, index: int) -> str | None:
    """The query of a few failing rows of the check at ``index``, or None for the kinds that have none."""
    check = queries.checks[index]
    if check.kind == "not_null":
        return null_rows_sql(queries, check.columns)
    if check.kind == "unique":
        return repeated_sql(queries, check.columns, skip_nulls=True)
    if check.kind in ("accepted_values", "range"):
        column = quote(check.columns[0])
        return (f'SELECT {column}, COUNT(*) AS "rows" FROM {queries.source} AND ({_outside(check)}) '
                f"GROUP BY {column} ORDER BY {column} LIMIT {FAILING_ROWS_LIMIT}")
    if check.kind == "relationship":
        column, source = _missing_values(queries, check)
        return f"SELECT DISTINCT {column} {source} ORDER BY {column} LIMIT {FAILING_ROWS_LIMIT}"
    if check.kind == "sql":
        return f"SELECT * FROM (\n{user_query(queries, check)}\n) AS declared LIMIT {FAILING_ROWS_LIMIT}"
    return None
