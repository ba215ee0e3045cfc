"""Back one dataset's files for a run date up to S3, verified, with the manifest written last."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowSkipException

from indata_ops.config import Dataset
from indata_ops.hooks.backup import BackupHook
from indata_ops.manifest import package_version
from indata_ops.record_count import RecordRules
from indata_ops.run_date import checked_run_date
from indata_ops.session_policy import BackupSessionScope
from indata_ops.sources import BadSource, SourceListing, list_sources
from indata_ops.transfer import BackupRun, BackupSummary, TransferSettings


class BackupFilesOperator(AwsBaseOperator[BackupHook]):
    """Upload the files matching the dataset's pattern for the run date to raw/<dataset>/dt=<date>/.

    Each object carries a SHA-256 additional checksum computed while the file is read: S3 refuses bytes that do
    not match it (BadDigest), and the checksum S3 answers each write with must be the local one. One listing per
    1,000 keys then confirms that every object is there with its size (no HEAD per object); a missing or short
    object fails the task naming it, and the retry sends it again. Objects already there and identical are not
    sent again; for snapshot datasets, files unchanged since the previous date are copied server-side.
    A date without files fails at once, without retries, or with the dataset's ``on_empty: skip`` commits an empty
    manifest and skips.
    Objects of that date that no longer match a local file are removed, so a rerun replaces exactly that date.
    The manifest goes last: a backup without its manifest did not happen. See indata_ops.transfer.

    With ``worker_role`` set, every S3 call of the task runs in a session of that role whose session policy allows
    writes only under raw/<dataset>/dt=<date>/ and to that date's manifest (indata_ops.session_policy): a wrong
    key is refused by S3 with AccessDenied. It narrows this task's client, not the role; without it the task has
    the connection's full rights.

    :param dataset: the dataset's config (name, source pattern)
    :param source_root: the local server's data root
    :param run_date: YYYY-MM-DD (templated)
    :param bucket: the backup bucket
    :param extra_args: S3 arguments of every written object, e.g. server-side encryption
    :param full_refresh: re-read every file and re-check every object instead of trusting the committed manifest
        for files whose size and mtime did not change (templated: "True"/"False" from a param works)
    :param dry_run: only list what would be backed up (files new, changed or unchanged since the committed
        manifest, stale objects that would be removed), then skip: nothing is written to S3 and the rest of the
        chain is skipped (templated, like full_refresh). The list is in the log and in XCom ``dry_run_plan``.
    :param transfer: concurrency bounds (files in flight follow the round trip), the memory budget, part size and
        retry settings
    :param worker_role: the ARN of the connection's role (settings.worker_role), assumed again with the session
        policy; None uses the connection as it is
    """

    aws_hook_class = BackupHook
    template_fields: Sequence[str] = aws_template_fields("run_date", "bucket", "source_root", "full_refresh",
                                                         "dry_run")
    ui_color = "#d8f3dc"
    # The argument keeps the DAG param's name: it shadows BaseOperator.dry_run(), a debugging helper that only logs.
    dry_run: bool | str  # type: ignore[assignment]

    def __init__(self, *, dataset: Dataset, source_root: str, run_date: str, bucket: str,
                 extra_args: dict[str, Any] | None = None, full_refresh: bool | str = False,
                 dry_run: bool | str = False, transfer: TransferSettings = TransferSettings(),
                 worker_role: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.source_root = source_root
        self.run_date = run_date
        self.bucket = bucket
        self.extra_args = extra_args
        self.full_refresh = full_refresh
        self.dry_run = dry_run
        self.transfer = transfer
        self.worker_role = worker_role

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        # The hook is first made in execute, after rendering: run_date is the date by then.
        parameters = super()._hook_parameters
        if self.worker_role:
            parameters["session_scope"] = BackupSessionScope(self.worker_role, self.bucket, self.dataset.name,
                                                             checked_run_date(self.run_date))
        return parameters

    def execute(self, context: Any) -> dict[str, Any]:
        run_date = checked_run_date(self.run_date)
        listing = list_sources(Path(self.source_root), self.dataset, run_date)
        nothing = (f"No files match {self.dataset.source_glob(run_date)!r} under {self.source_root} for dataset "
                   f"{self.dataset.name} on {run_date}")
        if not listing.files and self.dataset.on_empty == "fail":
            raise BadSource(f"{nothing} (a date without files fails at once; `on_empty: skip` in the dataset's "
                                "config skips such dates instead)")
        backup = BackupRun(
            self.hook, bucket=self.bucket, dataset=self.dataset.name, run_date=run_date,
            snapshot=self.dataset.is_snapshot, package_version=package_version(),
            extra_args=self.extra_args if self.extra_args is not None else {"ServerSideEncryption": "AES256"},
            full_refresh=_flag(self.full_refresh), settings=self.transfer, records=RecordRules.of(self.dataset))
        if _flag(self.dry_run):
            self._dry_run(context, backup, listing, run_date)
        summary = backup.run(listing)
        if not listing.files:
            # The empty manifest records that the date was seen empty; the chain has nothing to crawl or clean.
            raise AirflowSkipException(f"{nothing}: date skipped (on_empty: skip), empty manifest committed")
        self.log.info("Backed up %s files (%s bytes) of %s on %s: %s bytes sent in %s files, %s copied server-side, "
                      "%s already there, %s stale objects removed%s", summary.files, summary.bytes,
                      self.dataset.name, run_date, summary.bytes_sent, summary.sent, summary.copied, summary.kept,
                      summary.stale_removed, "" if summary.committed else "; the committed manifest stands")
        return self._result(summary, run_date)

    def _dry_run(self, context: Any, backup: BackupRun, listing: SourceListing, run_date: str) -> NoReturn:
        plan = backup.plan(listing)
        context["ti"].xcom_push(key="dry_run_plan", value=plan)
        rows = [f"{row['action']:<9} {row['size'] if row['size'] is not None else '-':>12}  {row['path']}"
                for row in plan]
        actions = Counter(row["action"] for row in plan)
        self.log.info("Dry run of %s on %s (s3://%s/%s), nothing written:\n%s\n%s", self.dataset.name, run_date,
                      self.bucket, backup.prefix, f"{'action':<9} {'bytes':>12}  path", "\n".join(rows))
        raise AirflowSkipException(
            f"Dry run: {len(listing.files)} files ({sum(f.size for f in listing.files)} bytes) of "
            f"{self.dataset.name} on {run_date}: {', '.join(f'{n} {a}' for a, n in sorted(actions.items()))}; "
            f"nothing written to S3, the rest of the chain is skipped")

    def _result(self, summary: BackupSummary, run_date: str) -> dict[str, Any]:
        return {"dataset": self.dataset.name, "run_date": run_date, "files": summary.files, "bytes": summary.bytes,
                "bytes_sent": summary.bytes_sent, "files_sent": summary.sent, "files_copied": summary.copied,
                "files_skipped": summary.kept, "stale_removed": summary.stale_removed,
                "manifest": f"s3://{self.bucket}/{summary.manifest_key}"}


def _flag(value: bool | str) -> bool:
    """A boolean param arrives rendered as "True"/"False" through a template."""
    return str(value).lower() == "true"
