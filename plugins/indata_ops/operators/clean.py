"""Run the cleaning Glue job; a failed run fails the task with Glue's own error message."""
from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.sdk.exceptions import AirflowException

from indata_ops.errors import failure, is_permanent_job_error
from indata_ops.operators.deferral import BoundedDeferralMixin


class CleanJobOperator(BoundedDeferralMixin, GlueJobOperator):
    """GlueJobOperator whose failure names the run, its final state and Glue's ``ErrorMessage``.

    The provider reports "Exiting Job <id> Run State: FAILED" when polling, and the waiter's status when
    deferred; the reason (a Spark exception, a missing column, a timeout) is only in the job run. That reason is
    what the task log, the retry decision and the failure notice need. A run that failed on the job's own
    contract (a ValueError for a column missing from the data, a type conflict with the clean table; see
    indata_ops.errors) fails the task without retries: the same input fails the same way again. Other failures
    (Spark, S3, capacity, a timeout) keep the task's retries.
    """

    def execute(self, context: Any) -> str | None:
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
