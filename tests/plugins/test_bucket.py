"""Storage safety on the local stack: the bucket settings from the config, applied twice, and SSE-KMS objects."""
from __future__ import annotations

import os
import uuid

import pytest

from indata_ops.bucket import PUBLIC_ACCESS_BLOCK, apply_bucket_settings, bucket_settings
from indata_ops.config import load_config
from indata_ops.operators.backup import BackupFilesOperator
from indata_ops.transfer import TransferSettings

DAY = "2026-11-01"
SETTINGS = load_config().settings
KMS = SETTINGS.model_copy(update={"sse": "sse-kms", "sse_kms_key_id": "alias/indata-backup", "sse_bucket_key": True,
                                  "transition_after_days": 30, "expire_after_days": 365})


@pytest.fixture()
def bucket():
    return f"safety-{uuid.uuid4().hex[:12]}"


def test_setup_is_idempotent_and_sets_versioning_public_block_encryption_lifecycle(aws, bucket):
    s3 = aws("s3")
    apply_bucket_settings(s3, bucket, KMS)  # creates the bucket
    first = bucket_settings(s3, bucket)
    apply_bucket_settings(s3, bucket, KMS)
    assert bucket_settings(s3, bucket) == first
    assert first["versioning"] == "Enabled" and first["public_access_block"] == PUBLIC_ACCESS_BLOCK
    (encryption,) = first["encryption"]["Rules"]
    assert encryption["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                                "KMSMasterKeyID": "alias/indata-backup"}
    rules = {rule["ID"]: rule for rule in first["lifecycle"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    for prefix in ("raw", "manifests"):
        rule = rules[f"old-dates-{prefix}"]
        assert rule["Filter"] == {"Prefix": f"{prefix}/"} and rule["Expiration"] == {"Days": 365}
        assert rule["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER_IR"}]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 365}


def test_without_optional_rules_only_unfinished_uploads_are_aborted(aws, bucket):
    s3 = aws("s3")
    apply_bucket_settings(s3, bucket, SETTINGS)
    settings = bucket_settings(s3, bucket)
    assert [rule["ID"] for rule in settings["lifecycle"]] == ["abort-incomplete-multipart-uploads"]
    assert settings["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_a_backup_into_a_safe_bucket_is_kms_encrypted_and_versioned(tmp_path, aws, aws_connection, bucket):
    s3 = aws("s3")
    apply_bucket_settings(s3, bucket, KMS)
    folder = tmp_path / "ventas" / DAY
    folder.mkdir(parents=True)
    (folder / "small.csv").write_bytes(b"a;b\n1;2\n")
    (folder / "large.csv").write_bytes(os.urandom(6 * 1024 * 1024))  # multipart with the settings below
    BackupFilesOperator(task_id="backup_files", dataset=load_config().dataset("ventas"), source_root=str(tmp_path),
                        run_date=DAY, bucket=bucket, extra_args=KMS.encryption_args(), aws_conn_id=aws_connection,
                        transfer=TransferSettings(multipart_threshold=5 * 1024 * 1024, part_size=5 * 1024 * 1024)
                        ).execute({})
    for name in ("small.csv", "large.csv"):
        head = s3.head_object(Bucket=bucket, Key=f"raw/ventas/dt={DAY}/{name}")
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"], head["BucketKeyEnabled"]) == (
            "aws:kms", "alias/indata-backup", True)
        assert head["VersionId"] not in (None, "null")
