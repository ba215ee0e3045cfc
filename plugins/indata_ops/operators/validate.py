"""Validate a clean partition with Athena: the job's counts against an independent count and Athena's, the keys,
the checks the dataset declares, anomalies against the previous dates; a report people read, in S3 and the log."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from indata_ops.errors import PermanentError
from indata_ops.hooks.backup import BackupHook
from indata_ops.hooks.validation import RUNNING_STATES, ValidationQueryHook
from indata_ops.inference_report import inference_warnings
from indata_ops.layout import job_counts_key, manifest_key
from indata_ops.operators.deferral import BoundedDeferralMixin
from indata_ops.operators.fingerprint import FINGERPRINT_KEY
from indata_ops.operators.report_link import ValidationReportLink, report_url
from indata_ops.quality.anomalies import anomalies_against_history
from indata_ops.quality.evaluate import MAIN, ChecksRun, finish_checks, query_label
from indata_ops.quality.model import CheckResult, DatasetQuality, ValidationReport
from indata_ops.quality.report import report_text, write_report
from indata_ops.quality.sql import PARTITION_COLUMN, CheckQueries, check_queries
from indata_ops.run_date import checked_run_date


def own_check(name: str, kind: str, expected: Any, actual: Any, passed: bool) -> CheckResult:
    """One of validation's own checks: always an error when it fails."""
    return CheckResult(name=name, kind=kind, severity="error", expected=str(expected), actual=str(actual),
                       passed=passed)


def uncounted(manifest: Mapping[str, Any], shown: int = 3) -> str:
    """Why the backup's manifest has no record total: the first files it could not count, with its reasons."""
    files = [entry for entry in manifest.get("files") or () if not isinstance(entry.get("records"), int)]
    if not files:
        return "the manifest has no record count"
    reasons = [f"{entry.get('path')} ({entry.get('records_note') or 'backed up before records were counted'})"
               for entry in files[:shown]]
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    return f"not counted: {', '.join(reasons)}{more}"


class ValidateCleanOperator(BoundedDeferralMixin, AwsBaseOperator[BackupHook]):
    """Check the clean partition of a run date, write its report, fail when an error-severity check fails.

    Validation's own checks: the backup's manifest is committed with files; the partition has rows (none, when the
    job read no record and ``allow_empty``: the dataset's on_empty is skip); Athena's row count equals the job's
    clean count; the job's accounting holds (input = clean + rejected + duplicates); the job's input equals the
    records the backup counted in the files it read (the manifest's ``totals.records``; where the backup could not
    count exactly, the report says so); key columns are never NULL; keys are unique. Then the dataset's declared
    checks (``quality.checks``: each error or warn) and its anomalies against the previous committed dates
    (``quality.anomalies``).

    The partition's own checks are one Athena query that scans it once; relationship and sql checks add one query
    each, started with it; failed checks get one more query each for a few failing rows. While the main query runs
    the triggerer waits (``deferrable=True``, AthenaTrigger) or this process polls; a deferrable task first polls
    for up to ``wait_before_deferring`` seconds, as most days' checks finish within that.

    ``chain_task_id``: set when the task also waits for other datasets' Glue jobs (its relationship checks read
    their clean tables). Its trigger rule then also counts those jobs' successes, so the task checks that its own
    dataset's chain reached it: the fingerprint check (that task) pushed this run's fingerprint. When it did not
    (the dataset was not selected, a dry run, an on_empty skip), the task skips.

    The report goes to ``reports/<dataset>/dt=<date>/validation.json`` and ``validation.html`` (the task's
    "Validation report" link; with an endpoint in the connection, a presigned GET for ``report_link_endpoint``
    when set) and to the log, before the task fails or succeeds; a failure does not retry (the data will not
    change by itself). On success each outlet Asset's event carries the dataset, the run date, the
    job's counts and the number of warnings.
    """

    aws_hook_class = BackupHook  # S3: counts, manifest, reports; Athena and Glue get hooks of their own
    template_fields: Sequence[str] = aws_template_fields("run_date", "bucket", "database", "output_location",
                                                         "workgroup")
    operator_extra_links = (ValidationReportLink(),)
    ui_color = "#ffe8cc"

    def __init__(self, *, dataset: str, keys: Sequence[str], run_date: str, bucket: str, database: str,
                 output_location: str, workgroup: str = "primary", poll_seconds: int = 1, deferrable: bool = False,
                 max_wait_seconds: int = 3600, allow_empty: bool = False, wait_before_deferring: float = 2.0,
                 quality: DatasetQuality | None = None, chain_task_id: str | None = None,
                 report_link_endpoint: str | None = None, **kwargs: Any):
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
        self.quality = quality or DatasetQuality()
        self.chain_task_id = chain_task_id
        self.report_link_endpoint = report_link_endpoint
        self.report_url: str | None = None  # set once the report is written; the extra link shows it

    @cached_property
    def athena(self) -> ValidationQueryHook:
        return ValidationQueryHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _queries(self, run_date: str) -> CheckQueries:
        """The date's queries, over the clean table's columns as the catalog has them (read through Athena:
        GetTableMetadata; no Glue client to load). Without the table, the main query alone: Athena then fails it
        with its own reason (TABLE_NOT_FOUND, not retried)."""
        checks = self.quality.checks
        athena = self.athena.get_conn()
        try:
            columns = {column["Name"]: column["Type"] for column in athena.get_table_metadata(
                CatalogName="AwsDataCatalog", DatabaseName=self.database, TableName=self.dataset,
            )["TableMetadata"]["Columns"]}
        except athena.exceptions.MetadataException:
            columns, checks = {key: "string" for key in self.keys}, ()
        try:
            return check_queries(self.database, self.dataset, run_date, columns, self.keys, checks)
        except ValueError as error:  # a declared check on a column the table does not have: no retry fixes it
            raise PermanentError(f"{self.database}.{self.dataset}: {error}") from error

    def _start(self, queries: CheckQueries, labels: Sequence[str]) -> dict[str, str]:
        statements = {MAIN: queries.main, **{query_label(i): sql for i, sql in queries.extra.items()}}
        return {label: self.athena.start(statements[label], self.database, self.output_location, self.workgroup)
                for label in labels}

    def execute(self, context: Any) -> dict[str, Any]:
        run_date = checked_run_date(self.run_date)
        if self.chain_task_id and context["ti"].xcom_pull(task_ids=self.chain_task_id, key=FINGERPRINT_KEY) is None:
            raise AirflowSkipException(
                f"{self.dataset} dt={run_date}: this dataset's chain did not run ({self.chain_task_id} did not "
                "succeed in this run); only another dataset's job, which a relationship check waits for, did")
        queries = self._queries(run_date)
        started = self._start(queries, [MAIN, *(query_label(i) for i in queries.extra)])
        state = self.athena.wait(started[MAIN], self.wait_before_deferring if self.deferrable
                                 else self.max_wait_seconds, self.poll_seconds)
        if state in RUNNING_STATES and self.deferrable:
            # The trigger waits for the main query; the others keep running in Athena, and their ids reach
            # execute_complete through the defer kwargs, so no query runs twice.
            self.defer(trigger=AthenaTrigger(started[MAIN], waiter_delay=self.poll_seconds,
                                             waiter_max_attempts=self.max_wait_seconds // self.poll_seconds,
                                             aws_conn_id=self.aws_conn_id, region_name=self.region_name),
                       method_name="execute_complete",
                       kwargs={"extra_queries": {label: started[label] for label in started if label != MAIN}})
        return self._after(context, run_date, queries, started)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None,
                         extra_queries: Mapping[str, str] | None = None) -> dict[str, Any]:
        # The main query's id comes from the event, the others' from the defer kwargs; the SQL from the re-rendered
        # fields. An extra query whose id did not come back (a task deferred by an older version) starts again.
        if not event or not event.get("value"):
            raise AirflowException(f"Athena wait ended without a query id: {event}")
        run_date = checked_run_date(self.run_date)
        queries = self._queries(run_date)
        if event.get("status") != "success":
            raise self.athena.failure(event["value"], queries.main)
        kept = extra_queries or {}
        labels = [query_label(i) for i in queries.extra]
        started = {MAIN: event["value"], **{label: kept[label] for label in labels if label in kept},
                   **self._start(queries, [label for label in labels if label not in kept])}
        return self._after(context, run_date, queries, started)

    def _after(self, context: Any, run_date: str, queries: CheckQueries, started: Mapping[str, str]
               ) -> dict[str, Any]:
        run = finish_checks(self.athena, queries, started, self.output_location, self.workgroup,
                            self.max_wait_seconds, self.poll_seconds)
        counts = self.hook.get_json(self.bucket, job_counts_key(self.dataset, run_date))
        manifest = self.hook.get_json_or_none(self.bucket, manifest_key(self.dataset, run_date))
        own, notes = self._own_checks(run, counts, manifest)
        metrics = run.metrics  # with the table's columns as the date was validated: what schema drift compares
        anomalies, history_notes = anomalies_against_history(self.hook, self.bucket, self.dataset, run_date, metrics,
                                                             self.quality.anomalies)
        notes += history_notes
        notes += [f"Column types to look at (type inference): {line}" for line in inference_warnings(counts)]
        report = ValidationReport(
            dataset=self.dataset, run_date=run_date, table=f"{self.database}.{self.dataset}",
            results=(*own, *run.results, *anomalies), metrics=metrics, counts=counts, queries=run.queries,
            bytes_scanned=run.bytes_scanned,
            extra_bytes_scanned=run.extra_bytes_scanned + run.failing_rows_bytes_scanned,
            partition_bytes=self._partition_bytes(run_date), notes=tuple(notes))
        return self._publish(context, report, inference_warnings(counts))

    def _own_checks(self, run: ChecksRun, counts: Mapping[str, Any], manifest: Mapping[str, Any] | None
                    ) -> tuple[list[CheckResult], list[str]]:
        totals = (manifest or {}).get("totals") or {}
        files = int(totals.get("files") or 0)
        accounted = counts["clean"] + counts["rejected"] + counts["duplicates"]
        # A day of files without records is clean only for a dataset that allows empty days (on_empty: skip).
        empty_day = self.allow_empty and counts["input"] == 0
        checks = [
            own_check("backup manifest committed, files", "manifest", "> 0", files, files > 0),
            own_check("clean rows = 0 (no records, on_empty: skip)", "accounting", 0, run.clean_rows,
                      run.clean_rows == 0) if empty_day
            else own_check("clean rows > 0", "accounting", "> 0", run.clean_rows, run.clean_rows > 0),
            own_check("clean rows = job's clean count", "accounting", counts["clean"], run.clean_rows,
                      run.clean_rows == counts["clean"]),
            own_check("input = clean + rejected + duplicates", "accounting", counts["input"], accounted,
                      counts["input"] == accounted),
        ]
        notes = []
        records = totals.get("records")
        if isinstance(records, int):
            checks.append(own_check("job's input = records the backup counted", "input_count", records,
                                     counts["input"], counts["input"] == records))
        elif manifest is not None:
            notes.append(f"The job's input was not checked against an independent count: {uncounted(manifest)}.")
        return checks, notes

    def _partition_bytes(self, run_date: str) -> int:
        pages = self.hook.get_conn().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"clean/{self.dataset}/{PARTITION_COLUMN}={run_date}/")
        return sum(item["Size"] for page in pages for item in page.get("Contents", []))

    def _publish(self, context: Any, report: ValidationReport, column_warnings: list[str]) -> dict[str, Any]:
        """Writes the report (S3, the link, the log), then fails or returns what the run summary shows."""
        keys = write_report(self.hook, self.bucket, report)
        self.report_url = report_url(self.hook, self.bucket, keys["html"], self.report_link_endpoint)
        text = report_text(report)
        if not report.passed:
            raise AirflowFailException(f"{text}\n\nReport: {keys['html_uri']}")
        (self.log.warning if report.warnings or column_warnings else self.log.info)("%s\n\nReport: %s", text,
                                                                                    keys["html_uri"])
        warnings = [f"{r.name}: expected {r.expected}, actual {r.actual}" for r in report.warnings] + column_warnings
        counts = {key: report.counts.get(key) for key in ("input", "clean", "rejected", "duplicates")}
        for outlet in self.outlets if "outlet_events" in context else ():
            context["outlet_events"][outlet].extra = {
                "dataset": self.dataset, "run_date": report.run_date, "clean_rows": report.metrics.rows,
                "counts": counts, "warnings": len(warnings)}
        return {"dataset": self.dataset, "run_date": report.run_date, "counts": dict(report.counts),
                "checks": [{**asdict(r), "failing_rows": list(r.failing_rows), "result": r.result}
                           for r in report.results],
                "warnings": warnings, "report": {"json": keys["json_uri"], "html": keys["html_uri"]},
                "bytes_scanned": report.bytes_scanned, "partition_bytes": report.partition_bytes}
