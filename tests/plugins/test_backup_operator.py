"""BackupFilesOperator against the local stack: byte-identical, checksummed, manifest last, idempotent by date."""
from __future__ import annotations

import base64
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import re
import shutil

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

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


def backup(root, conn, dataset=DATASET) -> BackupFilesOperator:
    return BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(root), run_date=DAY,
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
    # One record in the first file; the second has a quote inside a value, which the backup does not count.
    assert document["totals"] == {"files": 2, "bytes": result["bytes"], "records": None}
    assert [f["records"] for f in document["files"]] == [1, None]


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


@pytest.mark.parametrize("problem", ["missing root", "missing dataset folder", "no files for the date"])
def test_bad_source_fails_clearly_and_commits_nothing(source, aws, aws_connection, problem):
    root, folder, _ = source
    s3 = aws("s3")
    backup(root, aws_connection).execute({})  # a committed backup from before
    before = manifest(s3)
    if problem == "missing root":
        shutil.rmtree(root)
        message = f"Source root {root} does not exist"
    elif problem == "missing dataset folder":
        shutil.rmtree(root / "ventas")
        message = f"Folder {root / 'ventas'} of dataset ventas does not exist"
    else:
        for path in folder.glob("*.csv"):
            path.unlink()
        message = "No files match 'ventas/2026-11-01/*.csv'"
    # Nothing to back up does not heal by retrying: the task fails at once (AirflowFailException: no retries).
    with pytest.raises(AirflowFailException, match=re.escape(message)):
        backup(root, aws_connection).execute({})
    # Bad input loses nothing: the earlier backup of that date and its manifest are untouched.
    assert manifest(s3) == before
    for entry in before["files"]:
        assert s3.head_object(Bucket=BUCKET, Key=entry["key"], ChecksumMode="ENABLED")["ChecksumSHA256"] == (
            entry["sha256"])


def test_a_date_without_files_may_be_skipped_with_an_empty_manifest(source, aws, aws_connection):
    root, folder, _ = source
    s3 = aws("s3")
    backup(root, aws_connection).execute({})
    shutil.rmtree(folder)  # the export of that date is gone: the date is now seen empty
    skipping = backup(root, aws_connection, dataclasses.replace(DATASET, on_empty="skip"))
    with pytest.raises(AirflowSkipException, match="date skipped \\(on_empty: skip\\), empty manifest committed"):
        skipping.execute({})
    assert (manifest(s3)["files"], manifest(s3)["totals"]) == ([], {"files": 0, "bytes": 0, "records": 0})
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"raw/ventas/dt={DAY}/")


@contextlib.contextmanager
def without_root_file_access():
    """Root reads any file; drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread (and the threads it
    starts) so that file modes apply to it as to the service account a worker runs as."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3, this thread
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.capget(ctypes.byref(header), data) == 0
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))
    assert libc.capset(ctypes.byref(header), data) == 0
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def test_an_unreadable_file_fails_naming_it_and_commits_nothing(source, aws, aws_connection):
    root, folder, _ = source
    locked = folder / "ventas_tarde.csv"
    locked.chmod(0)
    # Permissions do not change by retrying: it fails at once.
    with without_root_file_access(), pytest.raises(AirflowFailException, match=re.escape(f"Cannot read {locked}")):
        backup(root, aws_connection).execute({})
    assert "Contents" not in aws("s3").list_objects_v2(Bucket=BUCKET, Prefix="manifests/")


UNUSUAL_NAMES = ["año 2026/ventas día 1.csv", "a+b=c&d.csv", "100% sure #1 (copy).csv", "semi;colon, comma'.csv",
                 "日本語 ファイル.csv", "tilde~and@at$.csv", "dot..dot .csv", "percent%20encoded.csv"]


def test_paths_with_spaces_accents_and_unusual_characters_round_trip(tmp_path, aws, aws_connection):
    aws("s3").create_bucket(Bucket=BUCKET)
    folder = tmp_path / "ventas" / DAY
    contents = {name: f"{name}\n".encode() for name in UNUSUAL_NAMES}
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    dataset = dataclasses.replace(DATASET, source="ventas/{ds}/**/*.csv")
    BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(tmp_path), run_date=DAY,
                        bucket=BUCKET, aws_conn_id=aws_connection).execute({})
    s3 = aws("s3")
    entries = manifest(s3)["files"]
    assert sorted(entry["path"] for entry in entries) == sorted(UNUSUAL_NAMES)
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"raw/ventas/dt={DAY}/")["Contents"]}
    assert listed == {f"raw/ventas/dt={DAY}/{name}" for name in UNUSUAL_NAMES}
    for entry in entries:
        assert s3.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read() == contents[entry["path"]]


def test_the_operator_hook_keeps_the_backup_retry_policy(aws_connection):
    operator = BackupFilesOperator(task_id="backup_files", dataset=DATASET, source_root="/", run_date=DAY,
                                   bucket=BUCKET, aws_conn_id=aws_connection)
    config = operator.hook.get_conn().meta.config
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] > 3
