"""Validate a clean partition with Athena, against the Glue job's own counts; fail with a readable report."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowException

from indata_ops.hooks.backup import BackupHook
from indata_ops.hooks.validation import ValidationQueryHook
from indata_ops.layout import job_counts_key, manifest_key
from indata_ops.run_date import checked_run_date


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    actual: str
    passed: bool


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def summary_sql(database: str, table: str, run_date: str, keys: Sequence[str]) -> str:
    """Row count and rows with a NULL key in one scan of the partition."""
    null_key = " OR ".join(f"{quote(k)} IS NULL" for k in keys) or "FALSE"
    return (f"SELECT COUNT(*) AS clean_rows, COUNT_IF({null_key}) AS null_key_rows "
            f"FROM {quote(database)}.{quote(table)} WHERE dt = '{run_date}'")


def duplicate_keys_sql(database: str, table: str, run_date: str, keys: Sequence[str]) -> str:
    columns = ", ".join(quote(k) for k in keys)
    return (f"SELECT COUNT(*) AS duplicate_keys FROM (SELECT {columns} FROM {quote(database)}.{quote(table)} "
            f"WHERE dt = '{run_date}' GROUP BY {columns} HAVING COUNT(*) > 1) AS duplicated")


def report(title: str, checks: Sequence[Check]) -> str:
    """A fixed-width table a person reads in the task log."""
    rows = [("check", "expected", "actual", "result")] + [
        (c.name, c.expected, c.actual, "ok" if c.passed else "FAILED") for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [" | ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return f"{title}\n" + "\n".join(lines)


class ValidateCleanOperator(AwsBaseOperator[BackupHook]):
    """Check the clean partition of a run date with Athena queries and the job's counts.

    Checks: the backup's manifest is committed with files; the partition has rows; Athena's row count equals the
    job's clean count; the job's accounting holds (input = clean + rejected + duplicates); key columns are never
    NULL; keys are unique. All checks run; the task fails when any fails, with the whole table in the error.
    """

    aws_hook_class = BackupHook  # S3: the job's counts and the manifest; Athena gets a hook of its own
    template_fields: Sequence[str] = aws_template_fields("run_date", "bucket", "database", "output_location",
                                                         "workgroup")
    ui_color = "#ffe8cc"

    def __init__(self, *, dataset: str, keys: Sequence[str], run_date: str, bucket: str, database: str,
                 output_location: str, workgroup: str = "primary", poll_seconds: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.keys = keys
        self.run_date = run_date
        self.bucket = bucket
        self.database = database
        self.output_location = output_location
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds

    def _rows(self, sql: str) -> list[dict[str, str | None]]:
        hook = ValidationQueryHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        return hook.query_rows(sql, self.database, self.output_location, self.workgroup, self.poll_seconds)

    def _manifest_files(self, s3: BackupHook, run_date: str) -> int:
        """Files in the date's committed backup; 0 when the manifest is missing (the backup did not happen)."""
        key = manifest_key(self.dataset, run_date)
        if s3.stored(self.bucket, key) is None:
            return 0
        return int(s3.get_json(self.bucket, key)["totals"]["files"])

    def execute(self, context: Any) -> dict[str, Any]:
        run_date = checked_run_date(self.run_date)
        s3 = self.hook
        counts = s3.get_json(self.bucket, job_counts_key(self.dataset, run_date))
        manifest_files = self._manifest_files(s3, run_date)
        summary = self._rows(summary_sql(self.database, self.dataset, run_date, self.keys))[0]
        clean_rows = int(summary["clean_rows"] or 0)
        null_keys = int(summary["null_key_rows"] or 0)
        accounted = counts["clean"] + counts["rejected"] + counts["duplicates"]
        checks = [
            Check("backup manifest committed, files", "> 0", str(manifest_files), manifest_files > 0),
            Check("clean rows > 0", "> 0", str(clean_rows), clean_rows > 0),
            Check("clean rows = job's clean count", str(counts["clean"]), str(clean_rows),
                  clean_rows == counts["clean"]),
            Check("input = clean + rejected + duplicates", str(counts["input"]), str(accounted),
                  counts["input"] == accounted),
        ]
        if self.keys:
            duplicates = int(self._rows(duplicate_keys_sql(self.database, self.dataset, run_date, self.keys))[0]
                             ["duplicate_keys"] or 0)
            key_list = ", ".join(self.keys)
            checks += [Check(f"rows with a NULL key ({key_list})", "0", str(null_keys), null_keys == 0),
                       Check(f"duplicated keys ({key_list})", "0", str(duplicates), duplicates == 0)]
        table = report(f"Validation of {self.database}.{self.dataset} dt={run_date}", checks)
        if not all(check.passed for check in checks):
            raise AirflowException(table)
        self.log.info("%s", table)
        return {"dataset": self.dataset, "run_date": run_date, "counts": counts,
                "checks": [asdict(check) for check in checks]}
