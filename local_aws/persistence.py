"""State that survives a stop and a start (and a crash: every completed write is on disk before it is answered).

Layout under the state directory:

    s3/<account>/<bucket>/bucket.pkl            bucket settings (versioning, lifecycle, encryption, public access ...)
    s3/<account>/<bucket>/journal               the bucket's key records, appended: every version of one key per
                                                record (a key without versions is a deletion); the bytes of a
                                                small "null" version are inside its record
    s3/<account>/<bucket>/data/<hash>/<version> the bytes of any other version
    backends/<service>.pkl                      the whole moto backend of a small service (Glue catalog, IAM,
                                                CloudFormation stacks, ...)
    docs/<kind>/<name>.json                     the data plane's own records (crawlers, jobs, runs, queries)

S3 is saved key by key because its backend holds the bulk of the data: re-pickling it on every PUT would make
uploads O(bucket size). A key's record is appended to its bucket's journal with one write() before the PUT is
answered, not written as a file of its own: creating a file costs ~0.2 ms of kernel time here, more than the rest
of the save, and an unversioned bucket's PUT then creates no file at all when the object is at most INLINE_MAX
bytes. Real version ids never change their bytes, so each is written once to its own data file; big bytes are
copied in the kernel (sendfile) when moto has spilled them to a temp file. The data files are written before the
record that names them. Each record is framed (length, CRC-32): a record torn by a crash belongs to a PUT that was
never answered and is dropped at restore. The journal is rewritten with only the live records at restore and when
superseded records outweigh the live ones (and exceed JOURNAL_GARBAGE_MIN). State directories written with one
file per key (keys/<hash>.pkl) are read and moved into the journal at restore.

Small services are pickled whole after each change. Private keys (a stack's KMS key holds one) are pickled as
their PEM bytes: the cryptography package's key objects refuse pickling. No fsync anywhere: "on disk" means in the
kernel, which a crash of the stack's process cannot lose. Limits: multipart uploads in progress, S3 object tags and
moto's internal part lists of completed multipart objects are not kept.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from moto.backends import get_backend
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, MultipartDict, s3_backends
from moto.s3.utils import _VersionedKeyStore

log = logging.getLogger("local_aws.persistence")

S3_REGION = "aws"  # moto keeps one S3 backend per partition, under the partition's name
_KEY_RUNTIME_FIELDS = ("_value_buffer", "lock")
_BUCKET_CONTENT_FIELDS = ("keys", "multiparts")
INLINE_MAX = 1024 * 1024  # a "null" version up to this size is stored inside its key's record
JOURNAL_GARBAGE_MIN = 64 * 1024 * 1024  # superseded bytes a journal may hold before it is compacted
_INLINE = "_local_aws_inline"  # the record field holding those bytes (not a FakeKey attribute)
_FRAME = struct.Struct("<II")  # record length, CRC-32 of the record
_COPY_CHUNK = 8 * 1024 * 1024


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _mkstemp(directory: Path) -> tuple[int, str]:
    """A temp file in the directory, creating the directory only when it is missing (no mkdir per write)."""
    try:
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except FileNotFoundError:
        directory.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = _mkstemp(path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy_buffer(buffer: Any, out: Any) -> None:
    """Copies a key's whole value buffer (a SpooledTemporaryFile) into an open file; the caller holds its lock."""
    if getattr(buffer, "_rolled", False):  # on disk: copy in the kernel, without passing the bytes through Python
        try:
            source, size, offset = buffer.fileno(), os.fstat(buffer.fileno()).st_size, 0
            out.flush()
            while offset < size:
                sent = os.sendfile(out.fileno(), source, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
            if offset == size:
                return
        except OSError:  # no sendfile between these files: copy through Python
            pass
        out.seek(0)
        out.truncate()
    buffer.seek(0)
    shutil.copyfileobj(buffer, out, _COPY_CHUNK)


class _Journal:
    """One bucket's append-only file of framed key records, with the position of each key's live record."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0  # bytes in the file
        self._live: dict[str, tuple[int, int]] = {}  # key name -> (offset, length) of its last record
        self._live_bytes = 0
        self.closed = False

    @staticmethod
    def frame(record: dict[str, Any]) -> tuple[bytes, bytes]:
        """(header, payload): written with one writev, without copying the payload into a new buffer."""
        payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        return _FRAME.pack(len(payload), zlib.crc32(payload)), payload

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def append(self, name: str, frame: tuple[bytes, bytes], deleted: bool) -> None:
        """Appends one record; it is in the file (in the kernel) when this returns."""
        header, payload = frame
        length = len(header) + len(payload)
        with self.lock:
            if self.closed:
                return  # the bucket was deleted meanwhile
            fd = self._open()
            offset = self._size
            try:
                written = os.writev(fd, (header, payload))
                if written < length:  # a short write: the rest follows at once, still under the lock
                    _write_all(fd, (header + payload)[written:])
            except BaseException:
                os.ftruncate(fd, offset)  # never leave a torn record in front of later ones
                raise
            self._size += length
            previous = self._live.pop(name, None)
            if previous is not None:
                self._live_bytes -= previous[1]
            if not deleted:
                self._live[name] = (offset, length)
                self._live_bytes += length
            if self.needs_compaction():
                self._compact()

    def _compact(self) -> None:
        """Rewrites the journal with only the live records (copied from the file); the caller holds the lock."""
        before = self._size
        with self.path.open("rb") as source:
            def live_frames() -> Iterator[tuple[str, bytes]]:
                for name, (offset, length) in sorted(self._live.items(), key=lambda item: item[1][0]):
                    source.seek(offset)
                    yield name, source.read(length)

            size = self._replace(live_frames())
        log.info("Compacted %s from %d to %d bytes", self.path, before, size)

    def _replace(self, frames: Iterable[tuple[str, bytes]]) -> int:
        """Writes (name, frame) pairs to a new journal that atomically replaces this one; the caller holds the lock.
        Returns the new size."""
        fd, tmp = _mkstemp(self.path.parent)
        live, size = {}, 0
        try:
            with os.fdopen(fd, "wb") as out:
                for name, frame in frames:
                    out.write(frame)
                    live[name] = (size, len(frame))
                    size += len(frame)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._live, self._size, self._live_bytes = live, size, size
        return size

    def load(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """Reads every intact record, one at a time: (offset, length, record). A torn tail is cut off."""
        try:
            source = self.path.open("rb")
        except FileNotFoundError:
            return
        with source:
            total = os.fstat(source.fileno()).st_size
            offset = 0
            while True:
                header = source.read(_FRAME.size)
                if len(header) < _FRAME.size:
                    break
                length, crc = _FRAME.unpack(header)
                if offset + _FRAME.size + length > total:
                    break
                payload = source.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                yield offset, _FRAME.size + length, pickle.loads(payload)
                offset += _FRAME.size + length
        if offset != total:
            log.warning("Dropping %d bytes of a torn record at the end of %s (a write the stack never answered)",
                        total - offset, self.path)
            os.truncate(self.path, offset)

    def rewrite(self, records: dict[str, dict[str, Any]]) -> None:
        """Replaces the journal with one record per live key (at restore)."""
        with self.lock:
            self._replace((name, b"".join(self.frame(record))) for name, record in records.items())

    def track(self, live: dict[str, tuple[int, int]], size: int) -> None:
        with self.lock:
            self._live, self._size = live, size
            self._live_bytes = sum(length for _, length in live.values())

    def needs_compaction(self) -> bool:
        garbage = self._size - self._live_bytes
        return garbage > JOURNAL_GARBAGE_MIN and garbage > self._live_bytes

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _BackendPickler(pickle.Pickler):
    """pickle.Pickler that writes a private key as its PEM bytes, loaded back with the same function."""

    def reducer_override(self, obj: Any) -> Any:
        # called for every object pickled: the module test keeps the ABC check off everything but cryptography's
        private_key_types = PrivateKeyTypes.__args__  # type: ignore[attr-defined]
        if type(obj).__module__.startswith("cryptography") and isinstance(obj, private_key_types):
            pem = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _load_private_key, (pem,)
        return NotImplemented


def _load_private_key(pem: bytes) -> PrivateKeyTypes:
    # a function of this module: cryptography's own loader is a Rust builtin that pickle cannot name
    return serialization.load_pem_private_key(pem, None)


class StateStore:
    """Saves and restores the stack's state in one directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # (account, bucket) -> (bucket folder, journal): no path arithmetic on the PUT path
        self._buckets: dict[tuple[str, str], tuple[Path, _Journal]] = {}
        # (account, bucket, key) of the keys that have a data folder: the others need no look at the disk
        self._data_dirs: set[tuple[str, str, str]] = set()

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    # --- S3 ---------------------------------------------------------------------------------------------------
    def _bucket_dir(self, account: str, bucket: str) -> Path:
        return self.root / "s3" / account / bucket

    def _bucket_state(self, account: str, bucket_name: str) -> tuple[Path, _Journal]:
        state = self._buckets.get((account, bucket_name))
        if state is None:
            with self._locks_guard:
                state = self._buckets.get((account, bucket_name))
                if state is None:
                    bucket_dir = self._bucket_dir(account, bucket_name)
                    state = self._buckets[(account, bucket_name)] = (bucket_dir, _Journal(bucket_dir / "journal"))
        return state

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
            with self._locks_guard:
                gone = [self._buckets.pop(key) for key in list(self._buckets) if key[1] == bucket_name]
                self._data_dirs -= {key for key in self._data_dirs if key[1] == bucket_name}
            for _, journal in gone:
                journal.close()
            for account_dir in (self.root / "s3").glob("*"):
                shutil.rmtree(account_dir / bucket_name, ignore_errors=True)
            return
        account, bucket = found
        settings = {k: v for k, v in bucket.__dict__.items() if k not in _BUCKET_CONTENT_FIELDS}
        bucket_dir = self._bucket_dir(account, bucket_name)
        with self._lock(f"bucket:{bucket_name}"):
            _atomic_write(bucket_dir / "bucket.pkl", pickle.dumps(settings))

    def save_key(self, bucket_name: str, key_name: str) -> None:
        found = self._find_bucket(bucket_name)
        if found is None:
            return
        account, bucket = found
        bucket_dir, journal = self._bucket_state(account, bucket_name)
        data_key = (account, bucket_name, key_name)
        with self._lock(f"key:{bucket_name}/{key_name}"):
            data_dir = bucket_dir / "data" / _digest(key_name) if data_key in self._data_dirs else None
            versions = list(bucket.keys.getlist(key_name, []))
            if not versions:
                journal.append(key_name, journal.frame({"name": key_name, "versions": []}), deleted=True)
                if data_dir is not None:
                    shutil.rmtree(data_dir, ignore_errors=True)
                    self._data_dirs.discard(data_key)
                return
            metas, in_files = [], set()
            for version in versions:
                if isinstance(version, FakeDeleteMarker):
                    # The marker points at the version it hides; that version is saved on its own.
                    metas.append({"delete_marker": {k: v for k, v in version.__dict__.items() if k != "key"}})
                    continue
                meta = {k: v for k, v in version.__dict__.items() if k not in _KEY_RUNTIME_FIELDS}
                meta["multipart"] = None  # its parts hold buffers of their own; the assembled bytes are enough
                inline = self._inline_bytes(version)
                if inline is not None:
                    meta[_INLINE] = inline
                else:
                    if data_dir is None:
                        data_dir = bucket_dir / "data" / _digest(key_name)
                    self._data_dirs.add(data_key)
                    self._save_version_bytes(version, data_dir)
                    in_files.add(str(version.version_id))
                metas.append(meta)
            # The data files are complete before the record naming them: a crash in between keeps the old record.
            journal.append(key_name, journal.frame({"name": key_name, "versions": metas}), deleted=False)
            if data_dir is not None and self._remove_stale_data(data_dir, in_files):
                self._data_dirs.discard(data_key)

    @staticmethod
    def _inline_bytes(version: FakeKey) -> bytes | None:
        if version.version_id != "null" or version.contentsize > INLINE_MAX or getattr(version, "disposed", False):
            return None
        with version.lock:
            version._value_buffer.seek(0)
            return version._value_buffer.read()

    @staticmethod
    def _remove_stale_data(data_dir: Path, kept: set[str]) -> bool:
        """Deletes data files no version needs any more; True when the key's data folder is gone."""
        try:
            entries = list(os.scandir(data_dir))
        except FileNotFoundError:
            return True
        for entry in entries:
            if entry.name not in kept and not entry.name.startswith(".tmp-"):
                Path(entry.path).unlink(missing_ok=True)
        if kept:
            return False
        try:
            data_dir.rmdir()
            return True
        except OSError:
            return False

    @staticmethod
    def _save_version_bytes(version: FakeKey, data_dir: Path) -> None:
        target = data_dir / str(version.version_id)
        # A real version id never changes its bytes; the "null" version is overwritten in place by each PUT.
        if version.version_id != "null" and target.exists():
            return
        if getattr(version, "disposed", False):
            return
        fd, tmp = _mkstemp(data_dir)
        try:
            with os.fdopen(fd, "wb") as out, version.lock:
                _copy_buffer(version._value_buffer, out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _restore_s3(self) -> int:
        restored = 0
        for bucket_file in sorted((self.root / "s3").glob("*/*/bucket.pkl")):
            bucket_dir = bucket_file.parent
            account = bucket_dir.parent.name
            bucket = FakeBucket.__new__(FakeBucket)
            bucket.__dict__.update(pickle.loads(bucket_file.read_bytes()))
            bucket.keys = _VersionedKeyStore()
            bucket.multiparts = MultipartDict()
            backend = s3_backends[account][S3_REGION]
            backend.buckets[bucket.name] = bucket
            s3_backends.bucket_accounts[bucket.name] = (bucket.partition, account)
            data_dirs = {path.name for path in (bucket_dir / "data").glob("*")}
            for name, record in self._restore_records(bucket_dir).items():
                digest = _digest(name)
                data_dir = bucket_dir / "data" / digest
                bucket.keys.setlist(name, self._restore_versions(record["versions"], data_dir))
                if digest in data_dirs:
                    self._data_dirs.add((account, bucket.name, name))
                    data_dirs.discard(digest)
                restored += 1
            for orphan in data_dirs:  # bytes of a PUT a crash interrupted before its record was written
                shutil.rmtree(bucket_dir / "data" / orphan, ignore_errors=True)
        return restored

    def _restore_records(self, bucket_dir: Path) -> dict[str, dict[str, Any]]:
        """The live record of every key: per-key files of older state directories, then the journal."""
        records: dict[str, dict[str, Any]] = {}
        legacy = sorted((bucket_dir / "keys").glob("*.pkl"))
        for meta_file in legacy:
            record = pickle.loads(meta_file.read_bytes())
            records[record["name"]] = record
        _, journal = self._bucket_state(bucket_dir.parent.name, bucket_dir.name)
        live: dict[str, tuple[int, int]] = {}
        size = 0
        for offset, length, record in journal.load():
            size = offset + length
            if record["versions"]:
                records[record["name"]] = record
                live[record["name"]] = (offset, length)
            else:
                records.pop(record["name"], None)
                live.pop(record["name"], None)
        journal.track(live, size)
        if legacy or journal.needs_compaction():
            journal.rewrite(records)  # only the live records, in one journal: then the per-key files can go
            shutil.rmtree(bucket_dir / "keys", ignore_errors=True)
        for stray in bucket_dir.glob(".tmp-*"):  # a compaction a crash interrupted
            stray.unlink(missing_ok=True)
        return records

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
        meta = dict(meta)
        inline = meta.pop(_INLINE, None)
        version = FakeKey.__new__(FakeKey)
        version.__dict__.update(meta)
        version.lock = threading.Lock()
        version._value_buffer = tempfile.SpooledTemporaryFile(max_size=version._max_buffer_size)
        data_file = data_dir / str(version.version_id)
        if inline is not None:
            version._value_buffer.write(inline)
        elif data_file.exists():
            with data_file.open("rb") as source:
                shutil.copyfileobj(source, version._value_buffer, 8 * 1024 * 1024)
        return version

    # --- small services, pickled whole -----------------------------------------------------------------------
    def save_backend(self, service: str) -> None:
        backends = get_backend(service)
        with self._lock(f"backend:{service}"):
            snapshot = {account: dict(regions) for account, regions in list(backends.items())}
            buffer = io.BytesIO()
            _BackendPickler(buffer).dump(snapshot)
            _atomic_write(self.root / "backends" / f"{service}.pkl", buffer.getvalue())

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
