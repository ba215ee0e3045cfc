"""S3 side of the verified backup: checksummed uploads, verification, the manifest."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

READ_CHUNK = 8 * 1024 * 1024


def sha256_b64(path: Path) -> tuple[str, int]:
    """SHA-256 of a file as S3 reports ChecksumSHA256 (base64), and the bytes read."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return base64.b64encode(digest.digest()).decode(), size


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    checksum_sha256: str | None
    version_id: str | None


class BackupHook(S3Hook):
    """S3Hook plus the calls a verified backup needs (additional checksums, ChecksumMode heads, listings)."""

    def stored(self, bucket: str, key: str) -> StoredObject | None:
        """The object's size and SHA-256 as S3 stored them, or None when there is no such object."""
        try:
            head = self.get_conn().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except self.get_conn().exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(key, head["ContentLength"], head.get("ChecksumSHA256"), head.get("VersionId"))

    def upload(self, path: Path, bucket: str, key: str, checksum_sha256: str, extra_args: dict[str, Any]) -> str | None:
        """PUT the file with its SHA-256, which S3 checks against the bytes it receives; returns the version id."""
        with path.open("rb") as body:
            response = self.get_conn().put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                                                  ChecksumSHA256=checksum_sha256,
                                                  **extra_args)
        return response.get("VersionId")

    def keys_under(self, bucket: str, prefix: str) -> list[str]:
        return self.list_keys(bucket_name=bucket, prefix=prefix) or []

    def delete(self, bucket: str, keys: list[str]) -> None:
        if keys:
            self.delete_objects(bucket=bucket, keys=keys)

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> str | None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
        response = self.get_conn().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                                              ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        return response.get("VersionId")

    def get_json(self, bucket: str, key: str) -> dict[str, Any]:
        return json.loads(self.read_key(key=key, bucket_name=bucket))
