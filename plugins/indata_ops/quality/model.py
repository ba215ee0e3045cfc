"""What a dataset declares about good data, as the config loader builds it and validation runs it.

The YAML shapes (include/config/datasets.yaml, ``checks:`` and ``anomalies:`` of a dataset) are validated at
parse time against the dataset's columns by ``indata_ops.config``; these objects are already checked: column
names are clean names of the dataset's schema, literals have the column's type (dates as ``datetime.date``,
timestamps as timezone-aware ``datetime.datetime`` in UTC, decimals as ``decimal.Decimal``).
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]
CheckKind = Literal["not_null", "unique", "accepted_values", "range", "relationship", "row_count", "freshness",
                    "sql"]
CHECK_KINDS: tuple[str, ...] = ("not_null", "unique", "accepted_values", "range", "relationship", "row_count",
                                "freshness", "sql")


@dataclass(frozen=True)
class DeclaredCheck:
    """One declared check of a dataset's clean partition for the run date.

    Per kind, the fields that apply (the others keep their defaults):

    * ``not_null``: ``columns`` (one or more; each column is checked, NULL rows fail);
    * ``unique``: ``columns`` (one column, or a set whose combination must be unique within the partition);
    * ``accepted_values``: ``columns`` (exactly one) and ``values`` (typed literals); NULL passes, as in dbt;
    * ``range``: ``columns`` (exactly one) and ``min`` and/or ``max`` (inclusive, typed): every non-NULL value
      of the partition within them;
    * ``relationship``: ``columns`` (exactly one), ``to_dataset`` and ``to_column``: every non-NULL value exists
      in that dataset's clean table, in its partition of the same run date (``same_date``) or of any date;
    * ``row_count``: ``min`` and/or ``max`` (integers) on the partition's rows;
    * ``freshness``: ``columns`` (exactly one date or timestamp column) and ``max_age``: the column's maximum is
      at least (end of the run date, UTC) - ``max_age``;
    * ``sql``: ``sql``, an Athena query returning the failing rows (zero rows = pass), with ``{table}`` (the
      quoted clean table) and ``{run_date}`` (YYYY-MM-DD) substituted; it filters the partition itself.

    ``name`` is what the report calls the check: given in the config, or derived (``not_null(cliente)``).
    """

    kind: CheckKind
    name: str
    severity: Severity = "error"
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    min: Any = None
    max: Any = None
    to_dataset: str | None = None
    to_column: str | None = None
    same_date: bool = True
    max_age: datetime.timedelta | None = None
    sql: str | None = None


@dataclass(frozen=True)
class AnomalySettings:
    """The partition compared with the median of the previous ``history`` committed dates (dates before the run
    date with a validation report; fewer than ``min_history`` of them: nothing is compared, and the report says
    so).

    * row count: outside ``[median * (1 - row_count_band), median * (1 + row_count_band)]``;
    * each numeric column's share of NULL rows (0-1): further than ``null_share_band`` from the median share;
    * schema drift: columns added, removed or retyped since the previous committed date.

    Each finding has ``severity`` (``warn`` by default: it fails nothing, it is reported).
    """

    history: int = 7
    min_history: int = 3
    row_count_band: float = 0.5
    null_share_band: float = 0.1
    severity: Severity = "warn"


@dataclass(frozen=True)
class DatasetQuality:
    """A dataset's declared checks and anomaly settings."""

    checks: tuple[DeclaredCheck, ...] = ()
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)

    @property
    def related_datasets(self) -> tuple[str, ...]:
        """The other datasets whose clean tables this dataset's ``relationship`` checks read, sorted."""
        return tuple(sorted({check.to_dataset for check in self.checks
                             if check.kind == "relationship" and check.to_dataset}))


@dataclass(frozen=True)
class CheckResult:
    """One line of a validation report.

    ``kind``: a declared kind (CHECK_KINDS), or one of validation's own: ``manifest``, ``accounting`` (the job's
    counts against Athena's and against themselves), ``input_count`` (the backup's record count against the job's
    input), ``keys`` (NULL or duplicated keys), ``anomaly`` or ``schema_drift``. ``expected`` and ``actual`` are
    what a person reads ("> 0", "<= 100000", "12 rows"). ``failing_rows``: a few of the rows that failed (column
    -> Athena's string, NULL as None), for the checks that can show them.
    """

    name: str
    kind: str
    severity: Severity
    expected: str
    actual: str
    passed: bool
    failing_rows: tuple[Mapping[str, str | None], ...] = ()
    detail: str = ""

    @property
    def result(self) -> str:
        """``ok``, ``FAILED`` (an error) or ``WARN`` (a failed check of severity warn: it fails nothing)."""
        if self.passed:
            return "ok"
        return "FAILED" if self.severity == "error" else "WARN"


@dataclass(frozen=True)
class PartitionMetrics:
    """What the next dates' anomaly checks compare with, kept in each date's validation.json.

    ``null_shares``: each numeric column's share of NULL rows (0-1; absent for an empty partition);
    ``columns``: the partition's columns and their Glue types, in order.
    """

    rows: int
    null_shares: Mapping[str, float] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found for one dataset's date; written as reports/<dataset>/dt=<date>/validation.json
    and validation.html, and printed as a table in the task log.

    ``bytes_scanned``: the data Athena scanned for the checks of the partition itself (the main query);
    ``extra_bytes_scanned``: the other queries (relationship and sql checks, which read other tables, and the
    queries for a failed check's failing rows); ``partition_bytes``: the
    partition's Parquet size. ``notes``: sentences about what was not checked and why.
    """

    dataset: str
    run_date: str
    table: str
    results: tuple[CheckResult, ...]
    metrics: PartitionMetrics
    counts: Mapping[str, Any] = field(default_factory=dict)
    queries: int = 0
    bytes_scanned: int = 0
    extra_bytes_scanned: int = 0
    partition_bytes: int = 0
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed and r.severity == "error")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed and r.severity == "warn")

    @property
    def passed(self) -> bool:
        return not self.failures
