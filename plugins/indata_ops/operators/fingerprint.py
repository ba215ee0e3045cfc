"""Skip the crawl and the Glue job of a date whose inputs did not change since its clean partition was committed."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.branch import BaseBranchOperator

from indata_ops.fingerprint import input_fingerprint, short
from indata_ops.hooks.backup import BackupHook
from indata_ops.layout import job_counts_key, manifest_key
from indata_ops.manifest import package_version
from indata_ops.operators.clean import package_zip
from indata_ops.run_date import checked_run_date

FINGERPRINT_KEY = "fingerprint"


class CheckFingerprintOperator(BaseBranchOperator):
    """Follow ``crawl_task_id`` when the date's inputs changed, else only ``validate_task_id``.

    The date's input fingerprint (indata_ops.fingerprint: manifest content, job script and packages, job
    arguments with the dataset's contract, crawler config, versions) is pushed as XCom ``fingerprint``; the Glue
    job stores it in the date's counts.json, written last. When the committed counts.json holds the same
    fingerprint, the crawl and the job would redo the same work: they are skipped (Airflow's skip; the reason is
    in this task's log, as skipped tasks have none) and validation still checks the committed partition.
    ``full_refresh`` and a date without counts.json (never cleaned, or a job that did not finish) always run.

    :param run_date: the rendered run date (templated)
    :param job_arguments: the Glue job's arguments, as the clean task passes them (templated)
    :param full_refresh: run everything whatever the fingerprint ("True"/"False" once rendered; templated)
    """

    template_fields: Sequence[str] = ("run_date", "bucket", "job_arguments", "full_refresh")
    template_fields_renderers = {"job_arguments": "json"}
    ui_color = "#f1f3f5"

    def __init__(self, *, dataset: str, run_date: str, bucket: str, script_location: str,
                 py_packages: Sequence[str], job_arguments: Mapping[str, str], crawler_config: Mapping[str, Any],
                 glue_version: str, crawl_task_id: str, validate_task_id: str, full_refresh: bool | str = False,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.run_date = run_date
        self.bucket = bucket
        self.script_location = script_location
        self.py_packages = py_packages
        self.job_arguments = job_arguments
        self.crawler_config = crawler_config
        self.glue_version = glue_version
        self.crawl_task_id = crawl_task_id
        self.validate_task_id = validate_task_id
        self.full_refresh = full_refresh
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    @cached_property
    def hook(self) -> BackupHook:
        return BackupHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def fingerprint(self, run_date: str) -> str:
        """The current input fingerprint of the date (reads the committed manifest and the local job code)."""
        manifest = self.hook.get_json(self.bucket, manifest_key(self.dataset, run_date))
        return input_fingerprint(
            manifest=manifest, script=Path(self.script_location).read_bytes(),
            packages=package_zip(*self.py_packages), job_arguments=self.job_arguments,
            crawler_config=self.crawler_config,
            versions={"glue": self.glue_version, "indata_backup": package_version()})

    def choose_branch(self, context: Any) -> str:
        run_date = checked_run_date(self.run_date)
        current = self.fingerprint(run_date)
        context["ti"].xcom_push(key=FINGERPRINT_KEY, value=current)
        counts_key = job_counts_key(self.dataset, run_date)
        if str(self.full_refresh).lower() == "true":
            self.log.info("full_refresh: crawling and cleaning %s dt=%s (input fingerprint %s)", self.dataset,
                          run_date, short(current))
            return self.crawl_task_id
        counts = self.hook.get_json_or_none(self.bucket, counts_key)
        committed = counts.get("input_fingerprint") if isinstance(counts, dict) else None
        if committed != current:
            self.log.info("Crawling and cleaning %s dt=%s: input fingerprint %s, committed clean partition's %s "
                          "(s3://%s/%s)", self.dataset, run_date, short(current),
                          short(committed) if committed else "none", self.bucket, counts_key)
            return self.crawl_task_id
        self.log.info("%s and the Glue job after it skipped: input fingerprint %s equals the committed clean "
                      "partition's (s3://%s/%s); %s still checks the partition. A full_refresh run redoes them.",
                      self.crawl_task_id, current, self.bucket, counts_key, self.validate_task_id)
        return self.validate_task_id
