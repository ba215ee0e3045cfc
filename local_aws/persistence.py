"""State that survives a stop and a start (and a crash: every completed write is on disk before it is answered).

Layout under the state directory:

    s3/<account>/<bucket>/bucket.pkl            bucket settings (versioning, lifecycle, encryption, public access ...)
    s3/<account>/<bucket>/keys/<hash>.pkl       every version of one key, without its bytes
    s3/<account>/<bucket>/data/<hash>/<version> the bytes of one version
    backends/<service>.pkl                      the whole moto backend of a small service (Glue catalog, IAM, ...)
    docs/<kind>/<name>.json                     the data plane's own records (crawlers, jobs, runs, queries)

S3 is saved key by key because its backend holds the bulk of the data: re-pickling it on every PUT would make
uploads O(bucket size). Small services are pickled whole after each change. Limits: multipart uploads in progress,
S3 object tags and moto's internal part lists of completed multipart objects are not kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from moto.backends import get_backend
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, MultipartDict, s3_backends
from moto.s3.utils import _VersionedKeyStore

S3_REGION = "aws"  # moto keeps one S3 backend per partition, under the partition's name
_KEY_RUNTIME_FIELDS = ("_value_buffer", "lock")
_BUCKET_CONTENT_FIELDS = ("keys", "multiparts")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class StateStore:
    """Saves and restores the stack's state in one directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    # --- S3 ---------------------------------------------------------------------------------------------------
    def _bucket_dir(self, account: str, bucket: str) -> Path:
        return self.root / "s3" / account / bucket

    @staticmethod
    def _find_bucket(bucket_name: str) -> tuple[str, FakeBucket] | None:
        for account in list(s3_backends.keys()):
            backend = s3_backends[account][S3_REGION]
            bucket = backend.buckets.get(bucket_name)
            if bucket is not None:
                return account, bucket
        return None

    def save_bucket(self, bucket_name: str) -> None:
        found = self._find_bucket(bucket_name)
        if found is None:  # deleted
            for account_dir in (self.root / "s3").glob("*"):
                shutil.rmtree(account_dir / bucket_name, ignore_errors=True)
            return
        account, bucket = found
        settings = {k: v for k, v in bucket.__dict__.items() if k not in _BUCKET_CONTENT_FIELDS}
        with self._lock(f"bucket:{bucket_name}"):
            _atomic_write(self._bucket_dir(account, bucket_name) / "bucket.pkl", pickle.dumps(settings))

    def save_key(self, bucket_name: str, key_name: str) -> None:
        found = self._find_bucket(bucket_name)
        if found is None:
            return
        account, bucket = found
        bucket_dir = self._bucket_dir(account, bucket_name)
        digest = _digest(key_name)
        meta_path = bucket_dir / "keys" / f"{digest}.pkl"
        data_dir = bucket_dir / "data" / digest
        with self._lock(f"key:{bucket_name}/{key_name}"):
            versions = list(bucket.keys.getlist(key_name, []))
            if not versions:
                meta_path.unlink(missing_ok=True)
                shutil.rmtree(data_dir, ignore_errors=True)
                return
            metas = []
            for version in versions:
                if isinstance(version, FakeDeleteMarker):
                    # The marker points at the version it hides; that version is saved on its own.
                    metas.append({"delete_marker": {k: v for k, v in version.__dict__.items() if k != "key"}})
                    continue
                self._save_version_bytes(version, data_dir)
                meta = {k: v for k, v in version.__dict__.items() if k not in _KEY_RUNTIME_FIELDS}
                meta["multipart"] = None  # its parts hold buffers of their own; the assembled bytes are enough
                metas.append(meta)
            _atomic_write(meta_path, pickle.dumps({"name": key_name, "versions": metas}))
            kept = {str(v.version_id) for v in versions}
            for stale in data_dir.glob("*"):
                if stale.name not in kept and not stale.name.startswith(".tmp-"):
                    stale.unlink(missing_ok=True)

    @staticmethod
    def _save_version_bytes(version: FakeKey, data_dir: Path) -> None:
        target = data_dir / str(version.version_id)
        # A real version id never changes its bytes; the "null" version is overwritten in place by each PUT.
        if target.exists() and version.version_id != "null":
            return
        if getattr(version, "disposed", False):
            return
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out, version.lock:
            version._value_buffer.seek(0)
            shutil.copyfileobj(version._value_buffer, out, 8 * 1024 * 1024)
        os.replace(tmp, target)

    def _restore_s3(self) -> int:
        restored = 0
        for bucket_file in sorted((self.root / "s3").glob("*/*/bucket.pkl")):
            account = bucket_file.parent.parent.name
            bucket = FakeBucket.__new__(FakeBucket)
            bucket.__dict__.update(pickle.loads(bucket_file.read_bytes()))
            bucket.keys = _VersionedKeyStore()
            bucket.multiparts = MultipartDict()
            backend = s3_backends[account][S3_REGION]
            backend.buckets[bucket.name] = bucket
            s3_backends.bucket_accounts[bucket.name] = (bucket.partition, account)
            for meta_file in (bucket_file.parent / "keys").glob("*.pkl"):
                record = pickle.loads(meta_file.read_bytes())
                data_dir = bucket_file.parent / "data" / meta_file.stem
                bucket.keys.setlist(record["name"], self._restore_versions(record["versions"], data_dir))
                restored += 1
        return restored

    def _restore_versions(self, metas: list[dict[str, Any]], data_dir: Path) -> list[Any]:
        versions: list[Any] = []
        for meta in metas:
            if "delete_marker" in meta:
                marker = FakeDeleteMarker.__new__(FakeDeleteMarker)
                marker.__dict__.update(meta["delete_marker"])
                marker.key = next((v for v in reversed(versions) if isinstance(v, FakeKey)), None)
                versions.append(marker)
            else:
                versions.append(self._restore_version(meta, data_dir))
        return versions

    @staticmethod
    def _restore_version(meta: dict[str, Any], data_dir: Path) -> FakeKey:
        version = FakeKey.__new__(FakeKey)
        version.__dict__.update(meta)
        version.lock = threading.Lock()
        version._value_buffer = tempfile.SpooledTemporaryFile(max_size=version._max_buffer_size)
        data_file = data_dir / str(version.version_id)
        if data_file.exists():
            with data_file.open("rb") as source:
                shutil.copyfileobj(source, version._value_buffer, 8 * 1024 * 1024)
        return version

    # --- small services, pickled whole -----------------------------------------------------------------------
    def save_backend(self, service: str) -> None:
        backends = get_backend(service)
        with self._lock(f"backend:{service}"):
            snapshot = {account: dict(regions) for account, regions in list(backends.items())}
            _atomic_write(self.root / "backends" / f"{service}.pkl", pickle.dumps(snapshot))

    def _restore_backends(self) -> list[str]:
        services = []
        for path in sorted((self.root / "backends").glob("*.pkl")):
            backends = get_backend(path.stem)
            for account, regions in pickle.loads(path.read_bytes()).items():
                for region, backend in regions.items():
                    backends[account][region] = backend
            services.append(path.stem)
        return services

    # --- the data plane's own records ------------------------------------------------------------------------
    def save_doc(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        _atomic_write(self.root / "docs" / kind / f"{_digest(name)}.json", json.dumps(doc, default=str).encode())

    def delete_doc(self, kind: str, name: str) -> None:
        (self.root / "docs" / kind / f"{_digest(name)}.json").unlink(missing_ok=True)

    def load_docs(self, kind: str) -> Iterator[dict[str, Any]]:
        for path in sorted((self.root / "docs" / kind).glob("*.json")):
            yield json.loads(path.read_text())

    def restore(self) -> dict[str, Any]:
        """Load everything saved into moto's backends; returns what was restored, for the start-up log."""
        return {"s3_keys": self._restore_s3(), "services": self._restore_backends()}
