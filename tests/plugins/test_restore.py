"""indata_ops.restore against the local stack: byte-identical restores that go past damaged objects and report
them, verify by HEAD and by download, refusals."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, FlexibleChecksumError, ReadTimeoutError

from indata_ops.restore import (
    ACCESS,
    CHECKSUM,
    ERROR,
    MISMATCH,
    MISSING,
    OK,
    REPORT_NAME,
    BadManifest,
    Failure,
    NoCommittedBackup,
    UnsafePath,
    classify,
    is_transient,
    path_under,
    restore,
    verify,
)
from tests.plugins.damaged_backup import CORRUPTED, damaged_backup  # noqa: F401  (a fixture)
from tests.plugins.test_fault_tolerance import FaultyProxy

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


def restored_paths(report) -> list[str]:
    return [file.path for file in report.restored]


def written_report(target: Path, name: str = REPORT_NAME) -> dict:
    return json.loads((target / name).read_text())


def without_report(folder: Path) -> dict[str, bytes]:
    """The folder's files but the restore's JSON report (which every restore writes)."""
    return {path: data for path, data in tree(folder).items() if path != REPORT_NAME}


def test_restore_writes_every_file_byte_for_byte_with_its_mtime(backup, aws, tmp_path):
    s3 = aws("s3")
    target = tmp_path / "restored"

    report = restore(s3, backup.bucket, backup.dataset, backup.run_date, target)

    assert report.ok and report.failed == () and restored_paths(report) == sorted(backup.files)
    # Accents and spaces intact, no temporary file left, notes.txt not there; and the report beside them.
    assert set(tree(target)) == {*backup.files, REPORT_NAME}
    assert without_report(target) == backup.files
    assert written_report(target)["counts"] == {"files": 3, "restored": 3, "failed": 0}
    assert report.table() == (f"ventas {backup.run_date}: 3 of 3 files restored "
                              f"({sum(map(len, backup.files.values()))} bytes), 0 failed; "
                              f"report: {target.resolve() / REPORT_NAME}")
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
    other = tamper(aws("s3"), backup)
    target = tmp_path / "restored"
    (target / TAMPERED).parent.mkdir(parents=True)
    (target / TAMPERED).write_bytes(b"the copy we already had")

    report = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, target)

    (failure,) = report.failed
    assert (failure.path, failure.reason) == (TAMPERED, CHECKSUM) and not report.ok
    assert failure.detail == (f"sha256 expected {sha256_b64(backup.files[TAMPERED])}, got {sha256_b64(other)}; "
                              f"the file already at {TAMPERED} was left as it was")
    assert without_report(target) == {**backup.files, TAMPERED: b"the copy we already had"}


@pytest.mark.parametrize("deep", [False, True], ids=["head", "deep"])
def test_a_deleted_object_is_missing(backup, aws, tmp_path, deep):
    aws("s3").delete_object(Bucket=backup.bucket, Key=backup.key("ventas mañana.csv"))

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset], deep=deep)
    restored = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    assert statuses(report) == {**dict.fromkeys(backup.files, OK), "ventas mañana.csv": MISSING}
    assert restored.failed == (Failure("ventas mañana.csv", backup.key("ventas mañana.csv"), None, MISSING,
                                       "NoSuchKey: The specified key does not exist."),)
    assert without_report(tmp_path / "restored") == {p: d for p, d in backup.files.items() if p != "ventas mañana.csv"}


def test_a_versioned_bucket_restores_the_recorded_version_after_an_overwrite(make_backup, aws, tmp_path):
    backup = make_backup(versioned=True)
    tamper(aws("s3"), backup)

    (report,) = verify(aws("s3"), backup.bucket, backup.run_date, [backup.dataset])
    restored = restore(aws("s3"), backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    (check,) = [c for c in report.files if c.status == MISMATCH]
    assert check.differences == ("sha256", "version_id") and check.expected.version_id
    assert restored.ok and without_report(tmp_path / "restored") == backup.files


def test_a_deleted_version_is_missing_and_named_in_the_report(make_backup, aws, tmp_path):
    backup = make_backup(versioned=True)
    s3 = aws("s3")
    version = s3.head_object(Bucket=backup.bucket, Key=backup.key(TAMPERED))["VersionId"]
    s3.delete_object(Bucket=backup.bucket, Key=backup.key(TAMPERED), VersionId=version)

    restored = restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path / "restored")

    assert restored.failed == (Failure(TAMPERED, backup.key(TAMPERED), version, MISSING,
                                       "NoSuchVersion: The specified version does not exist."),)
    assert written_report(tmp_path / "restored")["failed"] == [
        {"path": TAMPERED, "key": backup.key(TAMPERED), "version_id": version, "reason": MISSING,
         "detail": "NoSuchVersion: The specified version does not exist."}]
    assert without_report(tmp_path / "restored") == {p: d for p, d in backup.files.items() if p != TAMPERED}


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


# --- a damaged backup: restore what can be, report the rest -----------------------------------------------------


def assert_restored_around_the_damage(report, damaged, target: Path) -> None:
    """Every intact file restored byte for byte, exactly the damaged ones reported, and the JSON report beside."""
    assert report.failed == damaged.failures and not report.ok
    assert restored_paths(report) == sorted(damaged.intact)
    assert without_report(target) == damaged.intact  # no damaged file under its name, no temporary file left
    intact_bytes = sum(map(len, damaged.intact.values()))
    assert written_report(target) == {
        "dataset": "ventas", "run_date": damaged.run_date, "bucket": damaged.bucket,
        "manifest": f"s3://{damaged.bucket}/manifests/ventas/dt={damaged.run_date}/manifest.json",
        "target": str(target.resolve()),
        "counts": {"files": 240, "restored": 237, "failed": 3}, "restored_bytes": intact_bytes,
        "failed_by_reason": {"checksum": 1, "missing": 1, "size": 1},
        "failed": [dataclasses.asdict(failure) for failure in damaged.failures],
        "restored": sorted(damaged.intact)}


def test_a_restore_goes_past_damaged_objects_and_reports_exactly_them(damaged_backup, aws, tmp_path):
    target = tmp_path / "restored"

    report = restore(aws("s3"), damaged_backup.bucket, "ventas", damaged_backup.run_date, target)

    assert_restored_around_the_damage(report, damaged_backup, target)
    lines = report.table().splitlines()
    width = max(len(failure.path) for failure in damaged_backup.failures)
    assert lines[:2] == [f"reason    {'path':{width}}  version  detail", "-" * (width + 27)]
    assert lines[2:5] == [f"{f.reason:8}  {f.path:{width}}  -        {f.detail}" for f in damaged_backup.failures]
    assert [f.reason for f in damaged_backup.failures] == ["checksum", "missing", "size"]
    assert lines[5:] == [f"ventas {damaged_backup.run_date}: 237 of 240 files restored "
                         f"({sum(map(len, damaged_backup.intact.values()))} bytes), 3 failed: 1 checksum, "
                         f"1 missing, 1 size; report: {target.resolve() / REPORT_NAME}"]


def test_a_second_restore_into_the_same_target_writes_the_same_report(backup, aws, tmp_path):
    s3 = aws("s3")
    s3.delete_object(Bucket=backup.bucket, Key=backup.key(TAMPERED))
    restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path)
    first = (tmp_path / REPORT_NAME).read_bytes()

    report = restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path)

    assert (tmp_path / REPORT_NAME).read_bytes() == first  # no timestamp: the same outcome, the same report
    assert [(f.path, f.reason) for f in report.failed] == [(TAMPERED, MISSING)]
    assert without_report(tmp_path) == {p: d for p, d in backup.files.items() if p != TAMPERED}


@pytest.fixture()
def proxy(stack):
    """The fault-injecting proxy of test_fault_tolerance, half the requests answered 503, 500 or reset. Requests
    are sequential, so the seed fixes the faults: none on the first (the manifest's GET, botocore's to retry),
    then each kind at least once."""
    server = FaultyProxy(stack.endpoint, fault_rate=0.5, seed=27)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_transient_faults_are_retried_per_file_and_only_the_damage_is_reported(backup, aws, proxy, tmp_path):
    aws("s3").delete_object(Bucket=backup.bucket, Key=backup.key(TAMPERED))
    # botocore's own retries off: every fault reaches the restore's per-file attempts.
    s3 = boto3.client("s3", endpoint_url=proxy.endpoint, region_name="us-east-1",
                      config=Config(retries={"mode": "standard", "max_attempts": 1}))

    report = restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path, attempts=10, retry_pause=0)

    assert report.failed == (Failure(TAMPERED, backup.key(TAMPERED), None, MISSING,
                                     "NoSuchKey: The specified key does not exist."),)
    assert without_report(tmp_path) == {p: d for p, d in backup.files.items() if p != TAMPERED}
    # Four answers that count (the manifest, two files, one NoSuchKey) and five faults retried on the way.
    assert proxy.faults == {"slowdown": 2, "internal": 1, "reset before": 1, "reset after": 1}
    assert proxy.requests == 9


def client_error(code: str, status: int, message: str = "msg") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(("error", "reason", "detail"), [
    (client_error("AccessDenied", 403, "Access Denied"), ACCESS, "AccessDenied: Access Denied"),
    (client_error("KMS.DisabledException", 400, "arn:aws:kms:... is disabled."), ACCESS,
     "KMS.DisabledException: arn:aws:kms:... is disabled."),
    (client_error("NoSuchKey", 404, "The specified key does not exist."), MISSING,
     "NoSuchKey: The specified key does not exist."),
    (client_error("InvalidObjectState", 403, "The operation is not valid for the object's storage class"), ERROR,
     "InvalidObjectState: The operation is not valid for the object's storage class"),
    (FlexibleChecksumError(error_msg="Expected checksum A did not match calculated checksum: B"), CHECKSUM,
     "Expected checksum A did not match calculated checksum: B"),
    (IsADirectoryError(21, "Is a directory"), ERROR, "IsADirectoryError: [Errno 21] Is a directory"),
], ids=["access", "kms", "missing", "archived", "s3-checksum", "local"])
def test_permanent_errors_are_classified_with_their_detail(error, reason, detail):
    # Mocked: AWS's answers for a denied grant, a disabled key or an archived object; the local stack has no IAM.
    assert not is_transient(error)
    assert classify(error) == (reason, detail)


@pytest.mark.parametrize("error", [
    client_error("SlowDown", 503), client_error("InternalError", 500), client_error("Throttling", 400),
    client_error("RequestTimeout", 400), ConnectionClosedError(endpoint_url="http://s3"),
    ReadTimeoutError(endpoint_url="http://s3"),
], ids=["slowdown", "internal", "throttling", "request-timeout", "reset", "read-timeout"])
def test_throttling_5xx_and_resets_are_transient(error):
    assert is_transient(error)


def test_a_backup_file_named_like_the_report_keeps_its_name(backup, aws, tmp_path):
    s3 = aws("s3")
    s3.put_object(Bucket=backup.bucket, Key=backup.key(REPORT_NAME), Body=backup.files[TAMPERED],
                  ChecksumAlgorithm="SHA256")
    edit_manifest(s3, backup, lambda manifest: manifest["files"][0].update(path=REPORT_NAME,
                                                                          key=backup.key(REPORT_NAME)))

    report = restore(s3, backup.bucket, backup.dataset, backup.run_date, tmp_path)

    assert report.ok and report.path == tmp_path.resolve() / "restore-report-1.json"
    assert (tmp_path / REPORT_NAME).read_bytes() == backup.files[TAMPERED]
    assert written_report(tmp_path, "restore-report-1.json")["restored"][0] == REPORT_NAME


def test_deep_verify_finds_bytes_that_no_longer_match_the_checksum_s3_stored(damaged_backup, aws):
    (head,) = verify(aws("s3"), damaged_backup.bucket, damaged_backup.run_date, ["ventas"])
    (deep,) = verify(aws("s3"), damaged_backup.bucket, damaged_backup.run_date, ["ventas"], deep=True)

    damage = {failure.path: (MISMATCH if failure.reason != MISSING else MISSING) for failure in damaged_backup.failures}
    assert statuses(deep) == {**dict.fromkeys(damaged_backup.files, OK), **damage}
    # HEAD reports the checksum S3 stored at upload, which still matches: only reading the bytes shows the rot.
    assert statuses(head) == {**dict.fromkeys(damaged_backup.files, OK), **damage, CORRUPTED: OK}
