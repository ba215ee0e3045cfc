"""indata_ops.restore against the local stack: byte-identical restores, verify by HEAD and by download, refusals."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from indata_ops.restore import (
    MISMATCH,
    MISSING,
    OK,
    BadManifest,
    NoCommittedBackup,
    UnsafePath,
    path_under,
    restore,
    verify,
)

TAMPERED = "bytes.csv"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def tamper(s3, backup, path: str = TAMPERED, with_checksum: bool = True) -> bytes:
    """Overwrite the object with other bytes of the same size, so only the content gives it away."""
    other = bytes(reversed(backup.files[path]))
    checksum = {"ChecksumAlgorithm": "SHA256"} if with_checksum else {}
    s3.put_object(Bucket=backup.bucket, Key=backup.key(path), Body=other, **checksum)
    return other


def edit_manifest(s3, backup, change) -> None:
    """Rewrites the committed manifest after ``change(manifest)``."""
    key = f"manifests/{backup.dataset}/dt={backup.run_date}/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=backup.bucket, Key=key)["Body"].read())
    change(manifest)
    s3.put_object(Bucket=backup.bucket, Key=key, Body=json.dumps(manifest).encode())


def statuses(report) -> dict[str, str]:
    return {check.path: check.status for check in report.files}


def test_restore_writes_every_file_byte_for_byte_with_its_mtime(backup, aws, tmp_path):
    s3 = aws("s3")
    target = tmp_path / "restored"

    report = restore(s3, backup.bucket, backup.dataset, backup.run_date, target)

    assert report.ok and statuses(report) == dict.fromkeys(backup.files, OK)
    assert tree(target) == backup.files  # accents and spaces intact, no temporary file left, notes.txt not there
    manifest = json.loads(s3.get_object(Bucket=backup.bucket, Key=f"manifests/ventas/dt={backup.run_date}/"
                                                                   "manifest.json")["Body"].read())
    for entry in manifest["files"]:
        restored = target / entry["path"]
        assert sha256_b64(restored.read_bytes()) == entry["sha256"]
        assert restored.stat().st_mtime == pytest.approx(datetime.fromisoformat(entry["mtime"]).timestamp())


@pytest.mark.parametrize("deep", [False, True], ids=["head", "deep"])
def test_verify_passes_on_an_untouched_backup(backup, aws, deep):
    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset], deep=deep)

    assert report.ok and statuses(report) == dict.fromkeys(backup.files, OK)


@pytest.mark.parametrize("with_checksum", [True, False], ids=["new-checksum", "no-checksum"])
@pytest.mark.parametrize("deep", [False, True], ids=["head", "deep"])
def test_verify_reports_an_overwritten_object_as_a_mismatch(backup, aws, deep, with_checksum):
    other = tamper(aws("s3"), backup, with_checksum=with_checksum)

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset], deep=deep)

    assert not report.ok
    assert statuses(report) == {**dict.fromkeys(backup.files, OK), TAMPERED: MISMATCH}
    (check,) = [c for c in report.files if c.status == MISMATCH]
    assert check.differences == ("sha256",)  # same size: only the checksum gives it away
    assert check.expected.sha256 == sha256_b64(backup.files[TAMPERED])
    # HEAD has no SHA-256 for an object written without one; the download always does.
    assert check.actual.sha256 == (sha256_b64(other) if deep or with_checksum else None)
    assert f"sha256 expected {check.expected.sha256}, got {check.actual.sha256}" in check.detail()


def test_restore_of_an_overwritten_object_leaves_the_existing_file_alone(backup, aws, tmp_path):
    tamper(aws("s3"), backup)
    target = tmp_path / "restored"
    (target / TAMPERED).parent.mkdir(parents=True)
    (target / TAMPERED).write_bytes(b"the copy we already had")

    report = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, target)

    assert statuses(report)[TAMPERED] == MISMATCH and not report.ok
    assert tree(target) == {**backup.files, TAMPERED: b"the copy we already had"}


@pytest.mark.parametrize("deep", [False, True], ids=["head", "deep"])
def test_a_deleted_object_is_missing(backup, aws, tmp_path, deep):
    aws("s3").delete_object(Bucket=backup.bucket, Key=backup.key("ventas mañana.csv"))

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset], deep=deep)
    restored = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    for result in (report, restored):
        assert statuses(result) == {**dict.fromkeys(backup.files, OK), "ventas mañana.csv": MISSING}
    assert "ventas mañana.csv" not in tree(tmp_path / "restored")


def test_a_versioned_bucket_restores_the_recorded_version_after_an_overwrite(make_backup, aws, tmp_path):
    backup = make_backup(versioned=True)
    tamper(aws("s3"), backup)

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset])
    restored = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    (check,) = [c for c in report.files if c.status == MISMATCH]
    assert check.differences == ("sha256", "version_id") and check.expected.version_id
    assert restored.ok and tree(tmp_path / "restored") == backup.files


def upload_in_two_parts(s3, bucket: str, key: str, data: bytes, part_size: int) -> str:
    """A multipart upload with SHA-256 checksums, as large files go; returns the checksum HEAD reports."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for number, chunk in enumerate((data[:part_size], data[part_size:]), start=1):
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk,
                              ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["ChecksumSHA256"]


def test_a_multipart_object_is_checked_by_s3_checksum_on_head_and_by_sha256_on_download(backup, aws, tmp_path):
    s3 = aws("s3")
    part_size = 5 * 1024 * 1024  # S3's smallest part
    data = bytes(range(256)) * (part_size // 256 + 1)
    s3_checksum = upload_in_two_parts(s3, backup.bucket, backup.key("big.csv"), data, part_size)
    assert s3_checksum != sha256_b64(data)  # a checksum of the parts' checksums

    def add_big_file(manifest: dict) -> None:  # as a version 2 manifest records it: SHA-256 and S3's checksum
        manifest["files"].append({"path": "big.csv", "key": backup.key("big.csv"), "size": len(data),
                                  "sha256": sha256_b64(data), "s3_checksum": s3_checksum, "version_id": None})
        manifest["totals"] = {"files": len(manifest["files"]), "bytes": manifest["totals"]["bytes"] + len(data)}

    edit_manifest(s3, backup, add_big_file)

    reports = [verify(s3, backup.bucket, backup.run_date, [backup.dataset], deep=deep)[0] for deep in (False, True)]
    restored = restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    assert [report.ok for report in (*reports, restored)] == [True, True, True]
    assert (tmp_path / "restored" / "big.csv").read_bytes() == data


def test_a_date_without_manifest_has_no_committed_backup(backup, aws, tmp_path):
    (report,) = verify(aws("s3"), backup.bucket, "2026-11-02", [backup.dataset])
    assert not report.ok and report.error == "no committed backup for ventas on 2026-11-02"

    with pytest.raises(NoCommittedBackup, match="^no committed backup for ventas on 2026-11-02$"):
        restore(aws("s3"), backup.bucket, backup.dataset, "2026-11-02", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize(("change", "problem"), [
    (lambda manifest: manifest["files"].pop(), "do not match the file list"),
    (lambda manifest: manifest["files"][0].update(key="raw/clientes/dt=2026-11-01/x.json"), "is outside"),
    (lambda manifest: manifest.update(run_date="2026-11-02"), "run_date is '2026-11-02'"),
], ids=["cut short", "foreign key", "another date"])
def test_a_manifest_that_is_not_a_complete_commit_is_refused(backup, aws, tmp_path, change, problem):
    edit_manifest(aws("s3"), backup, change)

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset])
    assert "is not a complete commit" in report.error and problem in report.error and not report.ok
    with pytest.raises(BadManifest, match=problem):
        restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")
    assert tree(tmp_path) == {}


@pytest.mark.parametrize("bad_path", ["../escape.csv", "sub dir/../../escape.csv", "{outside}/escape.csv"])
def test_a_manifest_path_escaping_the_target_restores_nothing(backup, aws, tmp_path, bad_path):
    s3 = aws("s3")
    edit_manifest(s3, backup, lambda manifest: manifest["files"][-1].update(
        path=bad_path.format(outside=tmp_path / "outside")))

    with pytest.raises(UnsafePath):
        restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path / "target" / "restored")
    assert tree(tmp_path) == {}  # not even the safe files: every path is checked before the first download


def test_a_link_out_of_the_target_is_refused(backup, aws, tmp_path):
    target = tmp_path / "restored"
    target.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (target / "sub dir").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(UnsafePath, match="resolves to"):
        restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, target)
    assert tree(tmp_path) == {}


@pytest.mark.parametrize(("relative", "expected"), [("a b/ñ.csv", "a b/ñ.csv"), ("./x/./y", "x/y"),
                                                    ("{root}/inside", "inside")])
def test_path_under_accepts_paths_inside_the_root(tmp_path, relative, expected):
    assert path_under(tmp_path, relative.format(root=tmp_path)) == tmp_path.resolve() / expected


@pytest.mark.parametrize("relative", ["", ".", "..", "../x", "a/../../x", "a/../b", "/etc", "{root}"])
def test_path_under_refuses_anything_else(tmp_path, relative):
    with pytest.raises(UnsafePath):
        path_under(tmp_path, relative.format(root=tmp_path))
