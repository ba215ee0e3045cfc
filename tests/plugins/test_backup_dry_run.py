"""The dry run of backup_files on the local stack: it lists what a real run would do and writes nothing."""
from __future__ import annotations

import os
import uuid

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from deferred_run import task_context

from indata_ops.config import load_config
from indata_ops.operators.backup import BackupFilesOperator

DAY = "2026-11-01"
DATASET = load_config().dataset("ventas")  # source pattern ventas/{ds}/*.csv


def everything(s3, bucket: str) -> dict[str, str]:
    """key -> ETag of every object in the bucket."""
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.fixture()
def committed(tmp_path, aws, aws_connection):
    """A committed backup of two files, then local changes: one file edited, one added, one object left over."""
    s3, bucket = aws("s3"), f"dryrun-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    folder = tmp_path / "ventas" / DAY
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"id;x\n1;2\n")
    (folder / "b.csv").write_bytes(b"id;x\n3;4\n")
    operator(tmp_path, bucket, aws_connection, dry_run=False).execute(task_context())
    (folder / "b.csv").write_bytes(b"id;x\n3;4\n5;6\n")
    os.utime(folder / "b.csv", ns=(1, 1))
    (folder / "c.csv").write_bytes(b"id;x\n7;8\n")
    s3.put_object(Bucket=bucket, Key=f"raw/ventas/dt={DAY}/gone.csv", Body=b"old")
    return tmp_path, bucket


def operator(root, bucket: str, conn: str, dry_run: str | bool) -> BackupFilesOperator:
    return BackupFilesOperator(task_id="backup_files", dataset=DATASET, source_root=str(root), run_date=DAY,
                               bucket=bucket, aws_conn_id=conn, dry_run=dry_run)


def test_a_dry_run_lists_each_file_and_stale_object_and_writes_nothing(committed, aws, aws_connection):
    root, bucket = committed
    s3 = aws("s3")
    before = everything(s3, bucket)
    context = task_context()

    with pytest.raises(AirflowSkipException) as skipped:
        operator(root, bucket, aws_connection, dry_run="True").execute(context)  # as the param renders

    assert everything(s3, bucket) == before  # no PUT, no DELETE, the committed manifest stands
    assert context["ti"].pushed["dry_run_plan"] == [
        {"path": "a.csv", "size": 9, "action": "unchanged"},
        {"path": "b.csv", "size": 13, "action": "changed"},
        {"path": "c.csv", "size": 9, "action": "new"},
        {"path": "gone.csv", "size": 3, "action": "remove"}]
    assert str(skipped.value) == (f"Dry run: 3 files (31 bytes) of ventas on {DAY}: 1 changed, 1 new, 1 remove, "
                                  "1 unchanged; nothing written to S3, the rest of the chain is skipped")


def test_without_dry_run_the_same_changes_are_backed_up(committed, aws, aws_connection):
    root, bucket = committed
    result = operator(root, bucket, aws_connection, dry_run="False").execute(task_context())
    assert (result["files"], result["files_sent"], result["stale_removed"]) == (3, 2, 1)
    assert f"raw/ventas/dt={DAY}/gone.csv" not in everything(aws("s3"), bucket)
