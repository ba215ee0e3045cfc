"""BackupFilesOperator against the local stack: byte-identical, checksummed, manifest last, idempotent by date."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil

import pytest
from airflow.sdk.exceptions import AirflowException

from indata_ops.config import load_config
from indata_ops.operators.backup import BackupFilesOperator

BUCKET = "optest-backup"
DAY = "2026-11-01"
DATASET = load_config().dataset("ventas")  # source pattern ventas/{ds}/*.csv


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture()
def source(tmp_path, aws):
    aws("s3").create_bucket(Bucket=BUCKET)
    folder = tmp_path / "ventas" / DAY
    folder.mkdir(parents=True)
    files = {"ventas mañana.csv": "Código;Importe\n1;2,5\n".encode("cp1252"),
             "ventas_tarde.csv": b"x;y\n" + bytes(range(256)),
             "notes.txt": b"not matched by *.csv"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return tmp_path, folder, files


def backup(root, conn) -> BackupFilesOperator:
    return BackupFilesOperator(task_id="backup_files", dataset=DATASET, source_root=str(root), run_date=DAY,
                               bucket=BUCKET, aws_conn_id=conn)


def manifest(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"manifests/ventas/dt={DAY}/manifest.json")["Body"].read())


def test_files_land_byte_identical_with_checksums_and_a_manifest(source, aws, aws_connection):
    root, _, files = source
    s3 = aws("s3")
    result = backup(root, aws_connection).execute({})
    csvs = {name: data for name, data in files.items() if name.endswith(".csv")}
    assert result["files"] == 2 and result["bytes"] == sum(map(len, csvs.values()))
    assert result["bytes_sent"] == result["bytes"]
    for name, data in csvs.items():
        key = f"raw/ventas/dt={DAY}/{name}"
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
        assert s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")["ChecksumSHA256"] == sha256_b64(data)
    document = manifest(s3)
    assert [(f["path"], f["size"], f["sha256"]) for f in document["files"]] == [
        (name, len(data), sha256_b64(data)) for name, data in sorted(csvs.items())]
    assert document["totals"] == {"files": 2, "bytes": result["bytes"]}


def test_rerun_sends_nothing_and_drops_what_is_gone(source, aws, aws_connection):
    root, folder, _ = source
    s3 = aws("s3")
    backup(root, aws_connection).execute({})
    rerun = backup(root, aws_connection).execute({})
    assert (rerun["bytes_sent"], rerun["files_skipped"]) == (0, 2)
    (folder / "ventas_tarde.csv").unlink()
    third = backup(root, aws_connection).execute({})
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"raw/ventas/dt={DAY}/")["Contents"]]
    assert keys == [f"raw/ventas/dt={DAY}/ventas mañana.csv"]
    assert third["stale_removed"] == 1
    assert [f["path"] for f in manifest(s3)["files"]] == ["ventas mañana.csv"]


def test_a_changed_file_is_sent_again(source, aws, aws_connection):
    root, folder, _ = source
    backup(root, aws_connection).execute({})
    (folder / "ventas_tarde.csv").write_bytes(b"changed")
    result = backup(root, aws_connection).execute({})
    assert result["bytes_sent"] == len(b"changed")
    body = aws("s3").get_object(Bucket=BUCKET, Key=f"raw/ventas/dt={DAY}/ventas_tarde.csv")["Body"].read()
    assert body == b"changed"


@pytest.mark.parametrize("problem", ["missing root", "no files for the date"])
def test_bad_source_fails_clearly_and_commits_nothing(source, aws, aws_connection, problem):
    root, folder, _ = source
    s3 = aws("s3")
    backup(root, aws_connection).execute({})  # a committed backup from before
    before = manifest(s3)
    if problem == "missing root":
        shutil.rmtree(root)
        message = f"Source root {root} does not exist"
    else:
        for path in folder.glob("*.csv"):
            path.unlink()
        message = "No files match 'ventas/2026-11-01/*.csv'"
    with pytest.raises(AirflowException, match=re.escape(message)):
        backup(root, aws_connection).execute({})
    # Bad input loses nothing: the earlier backup of that date and its manifest are untouched.
    assert manifest(s3) == before
    for entry in before["files"]:
        assert s3.head_object(Bucket=BUCKET, Key=entry["key"], ChecksumMode="ENABLED")["ChecksumSHA256"] == (
            entry["sha256"])
