"""Restore one dataset's committed backup for a date into a folder under the allowed restore root."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from indata_ops.hooks.backup import BackupHook
from indata_ops.restore import path_under, restore
from indata_ops.run_date import checked_run_date


class RestoreBackupOperator(AwsBaseOperator[BackupHook]):
    """Download every file of the date's manifest to ``target``, verified byte for byte (see indata_ops.restore).

    The request comes from a trigger form, so everything is checked before the first download: the dataset must be
    configured, the date real, and the target must resolve inside ``restore_root`` (no ``..``, no absolute path
    elsewhere, no link out). Every file that can be restored is; then the task fails, without retries (a missing or
    corrupted object does not heal), with the table of the files that could not be and why. The JSON report is in
    ``<target>/restore-report.json`` either way.

    :param dataset: the dataset to restore (templated), one of ``datasets``
    :param run_date: YYYY-MM-DD (templated)
    :param target: folder relative to ``restore_root``, or absolute inside it (templated); empty: <dataset>/<date>
    :param datasets: the configured dataset names
    :param bucket: the backup bucket
    :param restore_root: the only folder restores may write in
    """

    aws_hook_class = BackupHook
    template_fields: Sequence[str] = aws_template_fields("dataset", "run_date", "target")
    ui_color = "#e0f0ff"

    def __init__(self, *, dataset: str, run_date: str, target: str, datasets: Sequence[str], bucket: str,
                 restore_root: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.run_date = run_date
        self.target = target
        self.datasets = datasets
        self.bucket = bucket
        self.restore_root = restore_root

    def execute(self, context: Any) -> dict[str, Any]:
        run_date, target = self._checked_request()
        report = restore(self.hook.get_conn(), self.bucket, self.dataset, run_date, target)
        if not report.ok:
            raise AirflowFailException(f"Restore of {self.dataset} on {run_date} into {target}: "
                                       f"{len(report.failed)} file(s) could not be restored:\n{report.table()}")
        self.log.info("Restored %s", report.summary())
        return {"dataset": self.dataset, "run_date": run_date, "target": str(target), "files": len(report.restored),
                "bytes": report.restored_bytes, "report": str(report.path)}

    def _checked_request(self) -> tuple[str, Path]:
        if self.dataset not in self.datasets:
            raise ValueError(f"unknown dataset {self.dataset!r} (known: {', '.join(self.datasets)})")
        run_date = checked_run_date(self.run_date)
        return run_date, path_under(Path(self.restore_root), self.target or f"{self.dataset}/{run_date}")
