"""Run a dataset's declared checks on Athena and turn their rows into the report's CheckResults.

Two rounds at most: the main query and the relationship and sql checks' queries start together and are waited
for together; then, only when checks failed, one query per failed check for a few of its failing rows (also
started together). A day whose checks all pass costs only the first round.

``start_checks`` and ``finish_checks`` split the run for a caller that waits elsewhere (a deferred task resumes
with the query ids); ``run_checks`` does both. ``check_results`` is the pure part: rows in, results out.
"""
from __future__ import annotations

import dataclasses
import datetime
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from indata_ops.hooks.validation import ValidationQueryHook
from indata_ops.quality.model import CheckResult, DeclaredCheck, PartitionMetrics
from indata_ops.quality.sql import (
    CheckQueries,
    failing_rows_sql,
    freshness_threshold,
    null_rows_sql,
    repeated_sql,
)

Row = Mapping[str, str | None]
MAIN = "main"
SHOWN_VALUES = 3  # accepted values named in a check's expected text
NULL_KEYS = "keys_null"
DUPLICATE_KEYS = "keys_duplicated"


@dataclass(frozen=True)
class ChecksRun:
    """What the checks of one dataset's date found.

    ``results``: validation's key checks first (kind ``keys``, when the dataset has keys), then the declared
    checks in their order. ``bytes_scanned``: Athena's DataScannedInBytes of the main query;
    ``extra_bytes_scanned``: of the relationship and sql checks' queries; ``failing_rows_bytes_scanned``: of the
    queries for failing rows (none when every check passed). ``queries``: how many queries ran.
    """

    results: tuple[CheckResult, ...]
    metrics: PartitionMetrics
    clean_rows: int
    null_key_rows: int
    duplicate_keys: int
    queries: int
    bytes_scanned: int
    extra_bytes_scanned: int
    failing_rows_bytes_scanned: int = 0


def query_label(index: int) -> str:
    return f"check_{index}"


def start_checks(hook: ValidationQueryHook, queries: CheckQueries, output_location: str,
                 workgroup: str = "primary") -> dict[str, str]:
    """Starts the main query and the extra queries; returns label (``main``, ``check_<n>``) -> query id."""
    statements = {MAIN: queries.main, **{query_label(i): sql for i, sql in queries.extra.items()}}
    return {label: hook.start(sql, queries.database, output_location, workgroup) for label, sql in statements.items()}


def finish_checks(hook: ValidationQueryHook, queries: CheckQueries, query_ids: Mapping[str, str],
                  output_location: str, workgroup: str = "primary", max_seconds: float = 600,
                  poll_seconds: float = 1) -> ChecksRun:
    """Waits for the started queries, reads them, asks for failing rows of the failed checks; the results.

    A query that does not succeed fails with Athena's reason and the SQL (``ValidationQueryHook.failure``).
    """
    sql = {MAIN: queries.main, **{query_label(i): text for i, text in queries.extra.items()}}
    answers = _finish_all(hook, query_ids, sql, max_seconds, poll_seconds)
    main_row = answers[MAIN][0][0]
    extra_rows = {i: answers[query_label(i)][0][0] for i in queries.extra}
    results = check_results(queries, main_row, extra_rows)
    failing = _failing_rows_queries(queries, results)
    found: dict[str, tuple[list[dict[str, str | None]], int]] = {}
    if failing:
        started = {label: hook.start(text, queries.database, output_location, workgroup)
                   for label, text in failing.items()}
        found = _finish_all(hook, started, failing, max_seconds, poll_seconds)
    results = [dataclasses.replace(result, failing_rows=tuple(found[label][0]))
               if (label := _result_label(queries, position)) in found else result
               for position, result in enumerate(results)]
    return ChecksRun(
        results=tuple(results), metrics=partition_metrics(queries, main_row),
        clean_rows=_count(main_row, "clean_rows"), null_key_rows=_count(main_row, "null_key_rows"),
        duplicate_keys=_count(main_row, "duplicate_keys"), queries=len(answers) + len(found),
        bytes_scanned=answers[MAIN][1],
        extra_bytes_scanned=sum(scanned for label, (_, scanned) in answers.items() if label != MAIN),
        failing_rows_bytes_scanned=sum(scanned for _, scanned in found.values()))


def run_checks(hook: ValidationQueryHook, queries: CheckQueries, output_location: str, workgroup: str = "primary",
               max_seconds: float = 600, poll_seconds: float = 1) -> ChecksRun:
    """Every check of the date, waited for in this process."""
    started = start_checks(hook, queries, output_location, workgroup)
    return finish_checks(hook, queries, started, output_location, workgroup, max_seconds, poll_seconds)


def _finish_all(hook: ValidationQueryHook, query_ids: Mapping[str, str], sql: Mapping[str, str],
                max_seconds: float, poll_seconds: float) -> dict[str, tuple[list[dict[str, str | None]], int]]:
    """label -> (rows, bytes scanned). The queries run side by side: once the first is waited for, the others
    have mostly finished too."""
    answers: dict[str, tuple[list[dict[str, str | None]], int]] = {}
    for label, query_id in query_ids.items():
        if hook.wait(query_id, max_seconds, poll_seconds) != "SUCCEEDED":
            raise hook.failure(query_id, sql[label])
        statistics = hook.get_query_info(query_id, use_cache=False)["QueryExecution"].get("Statistics") or {}
        answers[label] = (hook.rows(query_id), int(statistics.get("DataScannedInBytes") or 0))
    return answers


def _count(row: Row, alias: str) -> int:
    return int(row.get(alias) or 0)


def partition_metrics(queries: CheckQueries, main_row: Row) -> PartitionMetrics:
    """Rows, each numeric column's share of NULL rows (none for an empty partition), the columns and types."""
    rows = _count(main_row, "clean_rows")
    shares = {column: _count(main_row, f"column_{n}_nulls") / rows
              for n, column in enumerate(queries.numeric)} if rows else {}
    return PartitionMetrics(rows=rows, null_shares=shares, columns=dict(queries.columns))


def display(value: Any) -> str:
    """A config value as a person reads it: strings quoted, timestamps in UTC, decimals exact."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime.datetime):
        text = value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(sep=" ")
        return f"{text} UTC"
    if isinstance(value, decimal.Decimal):
        return f"{value:f}"
    return str(value)


def age(span: datetime.timedelta) -> str:
    """``2 days``, ``12 hours``, ``90 minutes``: the largest whole unit of a max_age."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return _values(seconds // size, unit)
    return str(span)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _values(n: int, noun: str = "value") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _bounds(subject: str, low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{display(low)} <= {subject} <= {display(high)}"
    return f"{subject} >= {display(low)}" if low is not None else f"{subject} <= {display(high)}"


def key_results(queries: CheckQueries, main_row: Row) -> list[CheckResult]:
    """Validation's own checks of the key columns: never NULL, never repeated (NULL combinations included)."""
    if not queries.keys:
        return []
    listed = ", ".join(queries.keys)
    nulls, duplicates = _count(main_row, "null_key_rows"), _count(main_row, "duplicate_keys")
    return [CheckResult(f"rows with a NULL key ({listed})", "keys", "error", "0", str(nulls), nulls == 0),
            CheckResult(f"duplicated keys ({listed})", "keys", "error", "0", str(duplicates), duplicates == 0)]


def check_results(queries: CheckQueries, main_row: Row, extra_rows: Mapping[int, Row]) -> list[CheckResult]:
    """The key checks' and each declared check's result, from the queries' rows (no failing rows yet)."""
    results = key_results(queries, main_row)
    for index, check in enumerate(queries.checks):
        expected, actual, passed, detail = _judge(queries, check, index, main_row, extra_rows.get(index, {}))
        results.append(CheckResult(check.name, check.kind, check.severity, expected, actual, passed, detail=detail))
    return results


def _judge(queries: CheckQueries, check: DeclaredCheck, index: int, row: Row,
           extra: Row) -> tuple[str, str, bool, str]:
    """(expected, actual, passed, detail) of one declared check."""
    name = f"check_{index}"
    failing = _count(row, f"{name}_failing")
    column = check.columns[0] if check.columns else ""
    if check.kind == "not_null":
        actual = _rows(failing)
        if len(check.columns) > 1 and failing:
            per_column = ", ".join(f"{c} {_count(row, f'{name}_null_{n}')}" for n, c in enumerate(check.columns))
            actual += f" ({per_column})"
        return "0 rows with NULL", actual, failing == 0, ""
    if check.kind == "unique":
        noun = "value" if len(check.columns) == 1 else "combination"
        in_rows = _count(row, f"{name}_rows")
        actual = _values(failing, noun) + (f" in {_rows(in_rows)}" if failing else "")
        return f"0 repeated {noun}s", actual, failing == 0, ""
    if check.kind == "accepted_values":
        accepted = ", ".join(display(v) for v in check.values)
        if len(check.values) <= SHOWN_VALUES:
            return f"{column} in ({accepted})", f"{_rows(failing)} outside", failing == 0, ""
        # A long list would widen the log's table past reading: the first values there, all of them in the detail.
        first = ", ".join(display(v) for v in check.values[:SHOWN_VALUES])
        return (f"{column} in {len(check.values)} values ({first}, ...)", f"{_rows(failing)} outside",
                failing == 0, f"accepted values: {accepted}")
    if check.kind == "range":
        low, high = row.get(f"{name}_min"), row.get(f"{name}_max")
        seen = "no value" if low is None else f"min {low}, max {high}"
        return _bounds(column, check.min, check.max), f"{_rows(failing)} outside ({seen})", failing == 0, ""
    if check.kind == "row_count":
        rows = _count(row, "clean_rows")
        passed = (check.min is None or rows >= check.min) and (check.max is None or rows <= check.max)
        return _bounds("rows", check.min, check.max), _rows(rows), passed, ""
    if check.kind == "freshness":
        assert check.max_age is not None  # check_queries refused it
        threshold = freshness_threshold(queries.run_date, check.max_age)
        shown = display(threshold) if queries.columns[column].strip().lower() != "date" else (
            f"{display(threshold)} (a date: its midnight)")
        latest = row.get(f"{name}_max")
        return (f"max({column}) >= {shown}", "no value" if latest is None else f"max {latest}",
                _count(row, f"{name}_fresh") > 0, f"max_age {age(check.max_age)} before the end of {queries.run_date}")
    failing = _count(extra, "failing")
    if check.kind == "relationship":
        scope = f"dt={queries.run_date}" if check.same_date else "any date"
        return (f"0 values of {column} missing from {check.to_dataset}.{check.to_column} ({scope})",
                _values(failing), failing == 0, "")
    return "0 rows", _rows(failing), failing == 0, ""  # sql


def _result_label(queries: CheckQueries, position: int) -> str:
    """The label of the failing-rows query of the result at ``position`` of check_results' list."""
    keys = 2 if queries.keys else 0
    if position < keys:
        return (NULL_KEYS, DUPLICATE_KEYS)[position]
    return query_label(position - keys)


def _failing_rows_queries(queries: CheckQueries, results: Sequence[CheckResult]) -> dict[str, str]:
    """label -> query of a few failing rows, for each failed check that can show them."""
    wanted: dict[str, str | None] = {}
    for position, result in enumerate(results):
        if result.passed:
            continue
        label = _result_label(queries, position)
        if label == NULL_KEYS:
            wanted[label] = null_rows_sql(queries, queries.keys)
        elif label == DUPLICATE_KEYS:
            wanted[label] = repeated_sql(queries, queries.keys, skip_nulls=False)
        else:
            wanted[label] = failing_rows_sql(queries, position - (2 if queries.keys else 0))
    return {label: sql for label, sql in wanted.items() if sql is not None}
