"""S3 side of the verified backup: checksummed PUTs and multipart uploads, copies, verification, listings, the
manifest and the bucket's safety settings. Every S3 call of the backup goes through this hook.

Given a ``session_scope`` (the operator passes one when ``settings.worker_role`` is set), the hook's clients run
in a session of that role assumed with a session policy that allows writes only to the scope's dataset and date
(indata_ops.session_policy). The assume, and its renewal before the session expires, are the Amazon provider's
own (``role_arn`` and ``assume_role_kwargs`` of the connection, set here for this hook alone): the STS endpoint is
the connection's ``service_config.sts.endpoint_url``, never its ``endpoint_url``.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.config import Config

from indata_ops.session_policy import BackupSessionScope

MISSING_CODES = ("404", "NoSuchKey", "NotFound")
# Throttling (503 SlowDown), 5xx and connection resets are retried by botocore with exponential backoff and
# jitter; ten attempts ride out a minute-long brown-out, where the default three give up within seconds.
RETRY_ATTEMPTS = 10
# Enough pooled connections for the most files in flight (TransferSettings.workers) plus the part uploads, so no
# request waits for a socket; connections are opened only as they are needed.
MAX_POOL_CONNECTIONS = 144
# A session of a role assumed by a session of a role (role chaining) lasts at most one hour; the provider's
# refreshable credentials assume again, with the same session policy, before it ends.
SESSION_SECONDS = 3600
# botocore asks for "Expect: 100-continue" on every PUT and UploadPart: the body waits one more round trip for the
# server's go-ahead, which saves bandwidth only when S3 refuses the request. Below this size the round trip costs
# more than the body (the AWS SDK for Go asks for it only above 2 MiB too).
EXPECT_CONTINUE_MIN_BYTES = 2 * 1024 * 1024


def b64_sha256(data: bytes) -> str:
    """SHA-256 as S3 writes ChecksumSHA256: base64 of the digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    checksum_sha256: str | None
    version_id: str | None
    etag: str | None = None


def _answered(key: str, size: int, response: dict[str, Any]) -> StoredObject:
    """What a write's answer says was stored; the size is the one sent (a write's answer has none: the listing
    that follows confirms it)."""
    return StoredObject(key, size, response.get("ChecksumSHA256"), response.get("VersionId"), response.get("ETag"))


@dataclass(frozen=True)
class ListedObject:
    size: int
    etag: str  # an opaque change token here, never taken as an MD5


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload left unfinished (a run killed half-way), with the parts S3 already has."""

    upload_id: str
    parts: dict[int, tuple[int, str | None, str]]  # part number -> (size, ChecksumSHA256, ETag)


def _continue_only_for_large_bodies(request: Any, **_: Any) -> None:
    # Expect is not a signed header (botocore leaves it out of SigV4), so dropping it after signing is safe.
    if "Expect" in request.headers and int(request.headers.get("Content-Length") or 0) < EXPECT_CONTINUE_MIN_BYTES:
        del request.headers["Expect"]


class BackupHook(S3Hook):
    """S3Hook plus the calls a verified backup needs (additional checksums, ChecksumMode heads, listings)."""

    def __init__(self, *args: Any, session_scope: BackupSessionScope | None = None, **kwargs: Any) -> None:
        self.session_scope = session_scope  # before the base class, which may read conn_config already
        if kwargs.get("config") is None:  # operators pass config=None when no botocore_config is set
            kwargs["config"] = Config(retries={"mode": "standard", "max_attempts": RETRY_ATTEMPTS},
                                      max_pool_connections=MAX_POOL_CONNECTIONS)
        super().__init__(*args, **kwargs)

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        """The connection as it is, or, with a session scope, a copy that assumes the scope's role with its session
        policy (the connection itself is left alone: the other tasks keep the base session)."""
        # Not super().conn_config: the base class's cached_property would cache the unscoped wrapper under this name.
        config = AwsGenericHook.conn_config.func(self)  # type: ignore[attr-defined]
        scope = self.session_scope
        if scope is None:
            return config
        where = f"worker_role (BACKUP_WORKER_ROLE) {scope.role_arn} with connection {self.aws_conn_id!r}"
        if config.role_arn and config.assume_role_method != "assume_role":
            raise ValueError(f"{where}: the connection assumes {config.role_arn} with {config.assume_role_method}; "
                             "the backup narrows its session with assume_role only: unset worker_role, or let the "
                             "connection's identity be the worker role")
        if config.role_arn and config.role_arn != scope.role_arn:
            raise ValueError(f"{where}: the connection assumes another role, {config.role_arn}; worker_role must "
                             "name that role")
        if "Policy" in config.assume_role_kwargs:
            raise ValueError(f"{where}: the connection's assume_role_kwargs already has a Policy; AWS takes one "
                             "inline session policy, and the backup's own would replace it")
        scoped = AwsConnectionWrapper(conn=config)
        if not config:
            # No such connection: the provider would take boto3's chain as it is and skip the assume; naming the
            # connection id keeps the assume, from that chain's credentials.
            scoped.conn_id = self.aws_conn_id
        scoped.role_arn, scoped.assume_role_method = scope.role_arn, "assume_role"
        scoped.assume_role_kwargs = {**config.assume_role_kwargs, "RoleSessionName": scope.session_name(),
                                     "Policy": scope.policy(), "DurationSeconds": SESSION_SECONDS}
        self.log.info("S3 calls of this backup run as %s, session %s, writing only %s", scope.role_arn,
                      scope.session_name(), scope.describe())
        return scoped

    @cached_property
    def conn(self) -> Any:
        """The provider's S3 client, sending small bodies without waiting for 100-continue."""
        client = AwsGenericHook.conn.func(self)  # type: ignore[attr-defined]
        for operation in ("PutObject", "UploadPart"):
            client.meta.events.register(f"before-send.s3.{operation}", _continue_only_for_large_bodies)
        return client

    def _is_missing(self, error: Exception) -> bool:
        return isinstance(error, self.get_conn().exceptions.ClientError) and (
            error.response["Error"]["Code"] in MISSING_CODES)

    # --- objects ------------------------------------------------------------------------------------------------
    def stored(self, bucket: str, key: str) -> StoredObject | None:
        """The object's size and additional checksum as S3 stored them, or None when there is no such object."""
        try:
            head = self.get_conn().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except self.get_conn().exceptions.ClientError as error:
            if self._is_missing(error):
                return None
            raise
        return StoredObject(key, head["ContentLength"], head.get("ChecksumSHA256"), head.get("VersionId"),
                            head.get("ETag"))

    def put_bytes(self, bucket: str, key: str, data: bytes, checksum_sha256: str,
                  extra_args: dict[str, Any]) -> StoredObject:
        """PUT with the SHA-256 computed while the file was read: S3 rejects the PUT when its bytes differ (BadDigest)
        and answers with the checksum it stored."""
        response = self.get_conn().put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256",
                                              ChecksumSHA256=checksum_sha256, **extra_args)
        return _answered(key, len(data), response)

    def copy(self, bucket: str, source_key: str, source_version: str | None, key: str, size: int,
             extra_args: dict[str, Any]) -> StoredObject:
        """Server-side copy within the bucket: nothing is sent, S3 keeps (or recomputes) the SHA-256 and answers
        with it."""
        source = {"Bucket": bucket, "Key": source_key, **({"VersionId": source_version} if source_version else {})}
        response = self.get_conn().copy_object(Bucket=bucket, Key=key, CopySource=source, ChecksumAlgorithm="SHA256",
                                               **extra_args)
        return _answered(key, size, {**response.get("CopyObjectResult", {}), "VersionId": response.get("VersionId")})

    def list_objects(self, bucket: str, prefix: str) -> dict[str, ListedObject]:
        """Every object under the prefix with its size and ETag, in one paginated LIST."""
        listed = {}
        for page in self.get_conn().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                listed[item["Key"]] = ListedObject(item["Size"], item["ETag"])
        return listed

    def list_folders(self, bucket: str, prefix: str) -> list[str]:
        """The 'sub-folders' right under the prefix (common prefixes), e.g. the dt=... of a dataset."""
        folders = []
        for page in self.get_conn().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix,
                                                                              Delimiter="/"):
            folders += [common["Prefix"] for common in page.get("CommonPrefixes", [])]
        return folders

    def delete(self, bucket: str, keys: list[str]) -> None:
        if keys:
            self.delete_objects(bucket=bucket, keys=keys)

    # --- multipart ----------------------------------------------------------------------------------------------
    def pending_upload(self, bucket: str, key: str) -> PendingUpload | None:
        """The newest unfinished multipart upload of exactly this key, with its parts; None when there is none."""
        conn = self.get_conn()
        uploads = [upload for upload in conn.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
                   if upload["Key"] == key]
        if not uploads:
            return None
        upload_id = max(uploads, key=lambda upload: upload["Initiated"])["UploadId"]
        parts: dict[int, tuple[int, str | None, str]] = {}
        paginator = conn.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=upload_id):
            for part in page.get("Parts", []):
                parts[part["PartNumber"]] = (part["Size"], part.get("ChecksumSHA256"), part["ETag"])
        return PendingUpload(upload_id, parts)

    def start_upload(self, bucket: str, key: str, extra_args: dict[str, Any]) -> str:
        response = self.get_conn().create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256",
                                                           **extra_args)
        return response["UploadId"]

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes,
                    checksum_sha256: str) -> str:
        """Sends one part with its SHA-256 (checked by S3 on receipt); returns its ETag."""
        response = self.get_conn().upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                               Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum_sha256)
        return response["ETag"]

    def complete_upload(self, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]],
                        size: int) -> StoredObject:
        """Completes the upload; S3 answers with the object's checksum, computed from the parts it checked."""
        response = self.get_conn().complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                             MultipartUpload={"Parts": parts})
        return _answered(key, size, response)

    # --- JSON documents -----------------------------------------------------------------------------------------
    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> str | None:
        body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode()
        response = self.get_conn().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                                              ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(body))
        return response.get("VersionId")

    def get_json(self, bucket: str, key: str) -> dict[str, Any]:
        # One GET on the hook's client: S3Hook.read_key builds a boto3 resource (a session and its models, about
        # 0.1 s in a task) and sends a HEAD before the GET.
        return json.loads(self.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read())

    def get_json_or_none(self, bucket: str, key: str) -> Any:
        """The parsed document, or None when there is no such object or it is not JSON."""
        try:
            body = self.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.get_conn().exceptions.ClientError as error:
            if self._is_missing(error):
                return None
            raise
        try:
            return json.loads(body)
        except ValueError:
            self.log.warning("s3://%s/%s is not JSON", bucket, key)
            return None
