"""Run the cleaning Glue job; a failed run fails the task with Glue's own error message."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.sdk.exceptions import AirflowException

from indata_ops.errors import failure, is_permanent_job_error
from indata_ops.operators.deferral import BoundedDeferralMixin

PY_FILES_ARGUMENT = "--extra-py-files"
# A fixed time and mode for every zip entry: the same sources always give the same bytes (and the same ETag).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def package_zip(*packages: str | Path) -> bytes:
    """Python package folders as one zip whose root holds the packages (``<name>/...``), .py files only, sorted."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for root in map(Path, packages):
            for path in sorted(root.rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                entry = zipfile.ZipInfo(f"{root.name}/{path.relative_to(root).as_posix()}", date_time=_ZIP_DATE)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


class CleanJobOperator(BoundedDeferralMixin, GlueJobOperator):
    """GlueJobOperator whose failure names the run, its final state and Glue's ``ErrorMessage``.

    The provider reports "Exiting Job <id> Run State: FAILED" when polling, and the waiter's status when
    deferred; the reason (a Spark exception, a missing column, a timeout) is only in the job run. That reason is
    what the task log, the retry decision and the failure notice need. A run that failed on the job's own
    contract (a ValueError for a column missing from the data, a type conflict with the clean table; see
    indata_ops.errors) fails the task without retries: the same input fails the same way again. Other failures
    (Spark, S3, capacity, a timeout) keep the task's retries.

    ``py_packages``: local package folders the script imports. They are zipped together (same bytes for the same
    sources) and uploaded next to a local ``script_location``, as ``artifacts/glue-scripts/<first name>.zip``,
    whenever the script is, and each run gets the zip as ``--extra-py-files``, so script and packages always come
    from the same checkout.
    """

    def __init__(self, *, py_packages: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.py_packages = tuple(py_packages)

    @property
    def py_package_key(self) -> str:
        return f"{self.s3_artifacts_prefix}{Path(self.py_packages[0]).name}.zip"

    @property
    def s3_py_package_location(self) -> str:
        return f"{self.s3_protocol}{self.s3_bucket}/{self.py_package_key}"

    def upload_etl_script_to_s3(self) -> None:
        super().upload_etl_script_to_s3()
        if self.py_packages:
            S3Hook(aws_conn_id=self.aws_conn_id).load_bytes(
                package_zip(*self.py_packages), self.py_package_key,
                bucket_name=self.s3_bucket, replace=self.replace_script_file)
            self.log.info("Uploaded the packages %s to %s", ", ".join(self.py_packages), self.s3_py_package_location)

    def execute(self, context: Any) -> str | None:
        if self.py_packages:
            self.script_args = {**(self.script_args or {}), PY_FILES_ARGUMENT: self.s3_py_package_location}
        try:
            return super().execute(context)
        except AirflowException as error:
            if self._job_run_id is None:  # no run started: the error is about the job, not a run
                raise
            raise self._run_failed(self._job_run_id, error) from None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        if not event or event.get("status") != "success":
            event = event or {}
            raise self._run_failed(event.get("run_id"), event.get("message", event))
        return event["run_id"]

    def _run_failed(self, run_id: str | None, cause: Any) -> AirflowException:
        if not run_id:
            return AirflowException(f"Glue job {self.job_name}: {cause}")
        run = self.hook.conn.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"]
        message = run.get("ErrorMessage")
        permanent = run["JobRunState"] == "FAILED" and is_permanent_job_error(message)
        return failure(f"Glue job {self.job_name} run {run_id} ended {run['JobRunState']}: {message or cause}"
                       + ("\n(an error of the job's contract: not retried)" if permanent else ""), permanent)
