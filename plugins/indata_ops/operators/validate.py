"""Validate a clean partition with Athena, against the Glue job's own counts; fail with a readable report."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from indata_ops.hooks.backup import BackupHook
from indata_ops.hooks.validation import RUNNING_STATES, ValidationQueryHook
from indata_ops.inference_report import inference_warnings
from indata_ops.layout import job_counts_key, manifest_key
from indata_ops.operators.deferral import BoundedDeferralMixin
from indata_ops.run_date import checked_run_date


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    actual: str
    passed: bool


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def checks_sql(database: str, table: str, run_date: str, keys: Sequence[str]) -> str:
    """Row count, rows with a NULL key and duplicated keys of the partition, as one query (one wait)."""
    source = f"{quote(database)}.{quote(table)} WHERE dt = '{run_date}'"
    if not keys:
        return f"SELECT COUNT(*) AS clean_rows, 0 AS null_key_rows, 0 AS duplicate_keys FROM {source}"
    columns = ", ".join(quote(k) for k in keys)
    null_key = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    return (f"WITH partition_keys AS (SELECT {columns} FROM {source}), "
            f"duplicated AS (SELECT {columns} FROM partition_keys GROUP BY {columns} HAVING COUNT(*) > 1) "
            f"SELECT (SELECT COUNT(*) FROM partition_keys) AS clean_rows, "
            f"(SELECT COUNT_IF({null_key}) FROM partition_keys) AS null_key_rows, "
            f"(SELECT COUNT(*) FROM duplicated) AS duplicate_keys")


def report(title: str, checks: Sequence[Check], warnings: Sequence[str] = ()) -> str:
    """A fixed-width table a person reads in the task log, then the warnings (which fail nothing)."""
    rows = [("check", "expected", "actual", "result")] + [
        (c.name, c.expected, c.actual, "ok" if c.passed else "FAILED") for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [" | ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    if warnings:
        lines += ["", "Warnings (not failures): column types to look at", *(f"- {line}" for line in warnings)]
    return f"{title}\n" + "\n".join(lines)


class ValidateCleanOperator(BoundedDeferralMixin, AwsBaseOperator[BackupHook]):
    """Check the clean partition of a run date with Athena queries and the job's counts.

    Checks: the backup's manifest is committed with files; the partition has rows (none, when the job read no
    record and ``allow_empty``: the dataset's on_empty is skip); Athena's row count equals the
    job's clean count; the job's accounting holds (input = clean + rejected + duplicates); key columns are never
    NULL; keys are unique. All checks run; the task fails when any fails, with the whole table in the error, and
    does not retry (the data will not change by itself). An Athena error fails it with Athena's reason.

    The Athena checks are one query; while it runs, the triggerer waits (``deferrable=True``, AthenaTrigger)
    or this process polls. A deferrable task first polls for up to ``wait_before_deferring`` seconds: most days'
    checks finish within that, and handing a query to the triggerer costs a deferral and a resume. On success each
    outlet Asset's event carries the dataset, the run date and the clean row count, for the DAGs scheduled on it.
    """

    aws_hook_class = BackupHook  # S3: the job's counts and the manifest; Athena gets a hook of its own
    template_fields: Sequence[str] = aws_template_fields("run_date", "bucket", "database", "output_location",
                                                         "workgroup")
    ui_color = "#ffe8cc"

    def __init__(self, *, dataset: str, keys: Sequence[str], run_date: str, bucket: str, database: str,
                 output_location: str, workgroup: str = "primary", poll_seconds: int = 1, deferrable: bool = False,
                 max_wait_seconds: int = 3600, allow_empty: bool = False, wait_before_deferring: float = 2.0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.allow_empty = allow_empty
        self.dataset = dataset
        self.keys = keys
        self.run_date = run_date
        self.bucket = bucket
        self.database = database
        self.output_location = output_location
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.deferrable = deferrable
        self.max_wait_seconds = max_wait_seconds
        self.wait_before_deferring = wait_before_deferring

    @cached_property
    def athena(self) -> ValidationQueryHook:
        return ValidationQueryHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _manifest_files(self, s3: BackupHook, run_date: str) -> int:
        """Files in the date's committed backup; 0 when the manifest is missing (the backup did not happen)."""
        manifest = s3.get_json_or_none(self.bucket, manifest_key(self.dataset, run_date))
        return 0 if manifest is None else int(manifest["totals"]["files"])

    def _sql(self, run_date: str) -> str:
        return checks_sql(self.database, self.dataset, run_date, self.keys)

    def execute(self, context: Any) -> dict[str, Any]:
        run_date = checked_run_date(self.run_date)
        query_id = self.athena.start(self._sql(run_date), self.database, self.output_location, self.workgroup)
        state = self.athena.wait(query_id, self.wait_before_deferring if self.deferrable else self.max_wait_seconds,
                                 self.poll_seconds)
        if state in RUNNING_STATES and self.deferrable:
            self.defer(trigger=AthenaTrigger(query_id, waiter_delay=self.poll_seconds,
                                             waiter_max_attempts=self.max_wait_seconds // self.poll_seconds,
                                             aws_conn_id=self.aws_conn_id, region_name=self.region_name),
                       method_name="execute_complete")
        return self._after(context, run_date, query_id, succeeded=state == "SUCCEEDED")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        # Everything comes back from the event and the re-rendered fields, not from defer() kwargs.
        if not event or not event.get("value"):
            raise AirflowException(f"Athena wait ended without a query id: {event}")
        return self._after(context, checked_run_date(self.run_date), event["value"],
                           succeeded=event.get("status") == "success")

    def _after(self, context: Any, run_date: str, query_id: str, succeeded: bool) -> dict[str, Any]:
        if not succeeded:
            raise self.athena.failure(query_id, self._sql(run_date))
        return self._check(context, run_date, self.athena.rows(query_id)[0])

    def _check(self, context: Any, run_date: str, row: dict[str, str | None]) -> dict[str, Any]:
        s3 = self.hook
        counts = s3.get_json(self.bucket, job_counts_key(self.dataset, run_date))
        manifest_files = self._manifest_files(s3, run_date)
        clean_rows = int(row["clean_rows"] or 0)
        null_keys = int(row["null_key_rows"] or 0)
        accounted = counts["clean"] + counts["rejected"] + counts["duplicates"]
        # A day of files without records is clean only for a dataset that allows empty days (on_empty: skip).
        empty_day = self.allow_empty and counts["input"] == 0
        checks = [
            Check("backup manifest committed, files", "> 0", str(manifest_files), manifest_files > 0),
            Check("clean rows = 0 (no records, on_empty: skip)", "0", str(clean_rows), clean_rows == 0) if empty_day
            else Check("clean rows > 0", "> 0", str(clean_rows), clean_rows > 0),
            Check("clean rows = job's clean count", str(counts["clean"]), str(clean_rows),
                  clean_rows == counts["clean"]),
            Check("input = clean + rejected + duplicates", str(counts["input"]), str(accounted),
                  counts["input"] == accounted),
        ]
        if self.keys:
            duplicates = int(row["duplicate_keys"] or 0)
            key_list = ", ".join(self.keys)
            checks += [Check(f"rows with a NULL key ({key_list})", "0", str(null_keys), null_keys == 0),
                       Check(f"duplicated keys ({key_list})", "0", str(duplicates), duplicates == 0)]
        warnings = inference_warnings(counts)
        table = report(f"Validation of {self.database}.{self.dataset} dt={run_date}", checks, warnings)
        if not all(check.passed for check in checks):
            raise AirflowFailException(table)
        if warnings:
            self.log.warning("%s", table)
        else:
            self.log.info("%s", table)
        for outlet in self.outlets if "outlet_events" in context else ():
            context["outlet_events"][outlet].extra = {"dataset": self.dataset, "run_date": run_date,
                                                      "clean_rows": clean_rows}
        return {"dataset": self.dataset, "run_date": run_date, "counts": counts,
                "checks": [asdict(check) for check in checks], "warnings": warnings}
