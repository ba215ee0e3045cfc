"""A committed backup of many files in which three objects were damaged after the backup: the restore tests' case.

One object's bytes are changed but S3 keeps the SHA-256 it stored on upload (what bit rot looks like: same size,
wrong bytes; no PUT can make it, since the stack refuses a checksum that does not match, so the stack's
/_local_aws/s3/decay flips a stored byte), one object is deleted and one is replaced by a longer file (with a
checksum of its own, so only the size gives it away).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import random
import urllib.request
import uuid

import pytest

from indata_ops.restore import CHECKSUM, MISSING, SIZE, Failure

DAY = "2026-11-01"
FILES = 240
CORRUPTED, DELETED, RESIZED = "norte/ventas 016.csv", "sur/año 2026/ventas 101.csv", "ventas 222.csv"
TAIL = b"999;0,01\n"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def many_files() -> dict[str, bytes]:
    """FILES CSV files of 0 to 6 KiB in three folders (one with a space and an accent), seeded."""
    rng = random.Random(1501)
    folders = ("", "norte/", "sur/año 2026/")
    return {f"{folders[i % 3]}ventas {i:03d}.csv": f"id;importe\n{i};{i},5\n".encode() + rng.randbytes(
        rng.randrange(0, 6144)) for i in range(FILES)}


@dataclasses.dataclass(frozen=True)
class DamagedBackup:
    bucket: str
    dataset: str
    run_date: str
    files: dict[str, bytes]  # everything that was backed up, by manifest path
    failures: tuple[Failure, ...]  # what a restore must report, in manifest (path) order

    def key(self, path: str) -> str:
        return f"raw/{self.dataset}/dt={self.run_date}/{path}"

    @property
    def intact(self) -> dict[str, bytes]:
        damaged = {failure.path for failure in self.failures}
        return {path: data for path, data in self.files.items() if path not in damaged}


@pytest.fixture()
def damaged_backup(stack, aws, aws_connection, tmp_path_factory) -> DamagedBackup:
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator

    dataset = dataclasses.replace(load_config().dataset("ventas"), source="ventas/{ds}/**/*.csv")
    bucket = f"damaged-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    files = many_files()
    source = tmp_path_factory.mktemp("damaged-source")
    for path, data in files.items():
        (source / "ventas" / DAY / path).parent.mkdir(parents=True, exist_ok=True)
        (source / "ventas" / DAY / path).write_bytes(data)
    BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(source), run_date=DAY,
                        bucket=bucket, aws_conn_id=aws_connection).execute({})
    backup = DamagedBackup(bucket, dataset.name, DAY, files, ())

    original = files[CORRUPTED]
    rotten = original[:5] + bytes([original[5] ^ 0xFF]) + original[6:]
    decay = {"bucket": bucket, "key": backup.key(CORRUPTED), "offset": 5}
    with urllib.request.urlopen(urllib.request.Request(f"{stack.endpoint}/_local_aws/s3/decay", method="POST",
                                                       data=json.dumps(decay).encode())) as answer:
        assert json.load(answer)["size"] == len(original)
    s3.delete_object(Bucket=bucket, Key=backup.key(DELETED))
    s3.put_object(Bucket=bucket, Key=backup.key(RESIZED), Body=files[RESIZED] + TAIL, ChecksumAlgorithm="SHA256")

    checksums = f"sha256 expected {sha256_b64(original)}, got {sha256_b64(rotten)}"
    failures = sorted([
        Failure(CORRUPTED, backup.key(CORRUPTED), None, CHECKSUM,
                f"{checksums}; S3: Expected checksum {sha256_b64(original)} did not match calculated checksum: "
                f"{sha256_b64(rotten)}"),
        Failure(DELETED, backup.key(DELETED), None, MISSING, "NoSuchKey: The specified key does not exist."),
        Failure(RESIZED, backup.key(RESIZED), None, SIZE,
                f"size expected {len(files[RESIZED])}, got {len(files[RESIZED]) + len(TAIL)}"),
    ], key=lambda failure: failure.path)
    return dataclasses.replace(backup, failures=tuple(failures))
