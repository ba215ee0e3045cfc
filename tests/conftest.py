"""A committed backup on the local stack, made by the real BackupFilesOperator, for restore and verify tests."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import pytest

BACKUP_DAY = "2026-11-01"
# Spaces, accents, a subfolder and every byte value: what must round-trip exactly.
BACKUP_FILES = {
    "ventas mañana.csv": "Código;Importe (€)\n1;2,5\n".encode("cp1252"),
    "bytes.csv": b"x;y\n" + bytes(range(256)),
    "sub dir/Ñandú café.csv": "código;nota\n7;señal ✓\n".encode(),
}


@dataclasses.dataclass(frozen=True)
class Backup:
    bucket: str
    dataset: str
    run_date: str
    files: dict[str, bytes]  # manifest path -> content

    def key(self, path: str) -> str:
        return f"raw/{self.dataset}/dt={self.run_date}/{path}"


@pytest.fixture()
def make_backup(tmp_path_factory: pytest.TempPathFactory, aws, aws_connection) -> Callable[..., Backup]:
    """Backs BACKUP_FILES up into a fresh bucket (so a test may tamper freely) and returns where it went."""
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator

    dataset = dataclasses.replace(load_config().dataset("ventas"), source="ventas/{ds}/**/*.csv")

    def make(versioned: bool = False) -> Backup:
        bucket = f"restore-{uuid.uuid4().hex[:12]}"
        s3 = aws("s3")
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        source = tmp_path_factory.mktemp("backup-source")  # not the test's tmp_path: tests check it stays empty
        folder = source / "ventas" / BACKUP_DAY
        for path, data in {**BACKUP_FILES, "notes.txt": b"not a csv: not backed up"}.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(source),
                            run_date=BACKUP_DAY, bucket=bucket, aws_conn_id=aws_connection).execute({})
        return Backup(bucket, dataset.name, BACKUP_DAY, dict(BACKUP_FILES))

    return make


@pytest.fixture()
def backup(make_backup) -> Backup:
    return make_backup()
