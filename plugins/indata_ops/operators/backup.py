"""Back one dataset's files for a run date up to S3, verified, with the manifest written last."""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from indata_ops.config import Dataset
from indata_ops.hooks.backup import BackupHook, sha256_b64
from indata_ops.layout import manifest_key, raw_prefix
from indata_ops.run_date import checked_run_date

MANIFEST_VERSION = 1


def _package_version() -> str:
    try:
        return metadata.version("indata-backup")
    except metadata.PackageNotFoundError:
        return "0.1.0"


class BackupFilesOperator(BaseOperator):
    """Upload the files matching the dataset's pattern for the run date to raw/<dataset>/dt=<date>/.

    Each object carries a SHA-256 additional checksum computed while the file is read; after upload every object
    is checked against its local size and checksum (HEAD with ChecksumMode). Objects already there and identical
    are not sent again. Objects of that date that no longer match a local file are removed, so a rerun replaces
    exactly that date. The manifest goes last: a backup without its manifest did not happen.

    :param dataset: the dataset's config (name, source pattern)
    :param source_root: the local server's data root
    :param run_date: YYYY-MM-DD (templated)
    :param bucket: the backup bucket
    """

    template_fields: Sequence[str] = ("run_date", "bucket", "source_root")
    ui_color = "#d8f3dc"

    def __init__(self, *, dataset: Dataset, source_root: str, run_date: str, bucket: str,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.source_root = source_root
        self.run_date = run_date
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    @cached_property
    def hook(self) -> BackupHook:
        return BackupHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _source_files(self, run_date: str) -> tuple[Path, list[Path]]:
        root = Path(self.source_root)
        if not root.is_dir():
            raise AirflowException(f"Source root {root} does not exist or is not a folder")
        pattern = self.dataset.source_glob(run_date)
        base = root / self.dataset.source_folder(run_date)  # S3 keys keep the path relative to it
        files = sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())
        if not files:
            raise AirflowException(f"No files match {pattern!r} under {root} for dataset {self.dataset.name} "
                                   f"on {run_date}")
        return base, files

    def execute(self, context: Any) -> dict[str, Any]:
        run_date = checked_run_date(self.run_date)
        base, files = self._source_files(run_date)
        hook, prefix = self.hook, raw_prefix(self.dataset.name, run_date)
        manifest = manifest_key(self.dataset.name, run_date)
        hook.delete(self.bucket, [manifest])  # until the new manifest lands, this date has no committed backup
        entries, sent_bytes, skipped = [], 0, 0
        for path in files:
            relative = path.relative_to(base).as_posix()
            key = prefix + relative
            before = path.stat()
            checksum, size = sha256_b64(path)
            if size != before.st_size or path.stat().st_mtime_ns != before.st_mtime_ns:
                raise AirflowException(f"{path} changed while it was read; rerun when it is complete")
            stored = hook.stored(self.bucket, key)
            if stored and stored.size == size and stored.checksum_sha256 == checksum:
                version_id, skipped = stored.version_id, skipped + 1
            else:
                version_id = hook.upload(path, self.bucket, key, checksum, {"ServerSideEncryption": "AES256"})
                sent_bytes += size
            entries.append({"path": relative, "key": key, "size": size, "sha256": checksum,
                            "mtime": datetime.datetime.fromtimestamp(before.st_mtime, datetime.timezone.utc)
                            .isoformat(), "version_id": version_id})
        self._verify(hook, entries)
        stale = sorted(set(hook.keys_under(self.bucket, prefix)) - {entry["key"] for entry in entries})
        hook.delete(self.bucket, stale)
        total = sum(entry["size"] for entry in entries)
        hook.put_json(self.bucket, manifest, {
            "manifest_version": MANIFEST_VERSION, "package_version": _package_version(), "dataset": self.dataset.name,
            "run_date": run_date, "bucket": self.bucket, "prefix": prefix, "files": entries,
            "totals": {"files": len(entries), "bytes": total}})
        self.log.info("Backed up %s files (%s bytes) for %s on %s: %s bytes sent, %s already there, %s stale "
                      "objects removed", len(entries), total, self.dataset.name, run_date, sent_bytes, skipped, len(stale))
        return {"dataset": self.dataset.name, "run_date": run_date, "files": len(entries), "bytes": total,
                "bytes_sent": sent_bytes, "files_skipped": skipped, "stale_removed": len(stale),
                "manifest": f"s3://{self.bucket}/{manifest}"}

    def _verify(self, hook: BackupHook, entries: list[dict[str, Any]]) -> None:
        problems = []
        for entry in entries:
            stored = hook.stored(self.bucket, entry["key"])
            if stored is None:
                problems.append(f"{entry['key']}: missing after upload")
            elif (stored.size, stored.checksum_sha256) != (entry["size"], entry["sha256"]):
                problems.append(f"{entry['key']}: S3 has {stored.size} bytes sha256={stored.checksum_sha256}, "
                                f"local {entry['size']} bytes sha256={entry['sha256']}")
        if problems:
            raise AirflowException("Backup verification failed; no manifest written:\n" + "\n".join(problems))
