"""Table objects in S3 and their local copies, cached by bucket, key and ETag (a changed object is fetched
again; superseded copies stay until the cache directory is removed).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import threading

from local_aws.athena.engine.errors import error
from local_aws.hive import folder, is_hidden, split_s3_uri
from local_aws.iam_enforcement import acting_for_a_caller


@dataclasses.dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_table_location(location: str) -> tuple[str, str]:
    try:
        return split_s3_uri(location)
    except ValueError:
        raise error("GENERIC_INTERNAL_ERROR",
                    f"Unsupported table location '{location}': expected s3://bucket/prefix/") from None


class ObjectCache:
    """Lists table objects and keeps local copies of them, keyed by bucket, key and ETag."""

    _LOCK_STRIPES = 64

    def __init__(self, s3, cache_dir: pathlib.Path):
        self._s3 = s3
        self._dir = cache_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        # A bounded set of locks: two queries needing the same object download it once.
        self._locks = [threading.Lock() for _ in range(self._LOCK_STRIPES)]

    def list(self, location: str) -> list[S3Object]:
        """The data objects under a location, Athena's way: hidden paths and empty objects are skipped."""
        bucket, prefix = split_table_location(folder(location))
        objects = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Size"] > 0 and not is_hidden(item["Key"][len(prefix):]):
                    objects.append(S3Object(bucket, item["Key"], item["Size"], item["ETag"].strip('"')))
        return objects

    def local_copy(self, obj: S3Object) -> pathlib.Path:
        digest = hashlib.sha256(f"{obj.bucket}\0{obj.key}\0{obj.etag}".encode()).hexdigest()
        # Keep a compression suffix: DuckDB's text readers detect compression from it.
        suffix = next((s for s in (".gz", ".zst") if obj.key.endswith(s)), "")
        path = self._dir / digest[:2] / (digest + suffix)
        with self._locks[int(digest[:8], 16) % self._LOCK_STRIPES]:
            if not path.exists():
                self._download(obj, path)
            elif acting_for_a_caller():  # IAM enforced: the caller needs s3:GetObject, cached copy or not
                self._s3.head_object(Bucket=obj.bucket, Key=obj.key)
        return path

    def _download(self, obj: S3Object, path: pathlib.Path) -> None:
        path.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            # IfMatch: the copy must be the version listed, or the cache key would lie about its content.
            body = self._s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')["Body"]
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
