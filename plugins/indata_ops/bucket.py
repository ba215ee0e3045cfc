"""Storage safety of the backup bucket, from the config: versioning, no public access, default encryption and
lifecycle rules. Applying them is idempotent (each is a PUT of the whole setting), so `make setup-bucket` can run
on every deploy.

Pure functions over a boto3 S3 client (a plain client in scripts/setup_bucket.py, ``BackupHook.get_conn()`` in a
task), like indata_ops.restore: nothing here imports Airflow.
"""
from __future__ import annotations

from typing import Any

from indata_ops.config import Settings

# The prefixes that hold dated backups; the lifecycle's optional transition and expiry apply to these only.
DATED_PREFIXES = ("raw/", "manifests/")
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}


def default_encryption(settings: Settings) -> dict[str, Any]:
    """The bucket's default encryption, the same as the backup asks for on each object."""
    if settings.sse == "sse-kms":
        default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": settings.sse_kms_key_id}
        return {"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": settings.sse_bucket_key}]}
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def lifecycle_rules(settings: Settings) -> list[dict[str, Any]]:
    """Unfinished multipart uploads are aborted everywhere; old dates move and expire when configured."""
    rules: list[dict[str, Any]] = [{
        "ID": "abort-incomplete-multipart-uploads", "Filter": {"Prefix": ""}, "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": settings.abort_multipart_days}}]
    for prefix in DATED_PREFIXES:
        rule: dict[str, Any] = {}
        if settings.transition_after_days is not None:
            rule["Transitions"] = [{"Days": settings.transition_after_days,
                                    "StorageClass": settings.transition_storage_class}]
        if settings.expire_after_days is not None:
            # With versioning an expiry only hides the current version: drop the older ones on the same clock.
            rule["Expiration"] = {"Days": settings.expire_after_days}
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": settings.expire_after_days}
        if rule:
            rules.append({"ID": f"old-dates-{prefix.rstrip('/')}", "Filter": {"Prefix": prefix}, "Status": "Enabled",
                          **rule})
    return rules


def apply_bucket_settings(s3: Any, bucket: str, settings: Settings) -> None:
    """Creates the bucket when missing, then sets versioning, the public access block, encryption and lifecycle."""
    if bucket not in {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}:
        location = {} if settings.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": settings.region}}
        s3.create_bucket(Bucket=bucket, **location)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=default_encryption(settings))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(settings)})


def bucket_settings(s3: Any, bucket: str) -> dict[str, Any]:
    """What the bucket has now, in the shapes apply_bucket_settings writes: to report and to check."""
    return {
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "public_access_block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
        "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
    }
