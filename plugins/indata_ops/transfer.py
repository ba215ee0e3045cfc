"""The verified backup of one dataset's date: what to send, sending it concurrently, checking it, committing it.

Each file is read once and hashed while it is read. Small files go up as one PUT each from a thread pool; large
files as multipart uploads whose parts travel concurrently (memory bounded by ``max_buffered_parts``), each part
with its own SHA-256. After upload every object is checked with a HEAD (ChecksumMode=ENABLED): size and checksum
against the local ones. The manifest is written last.

Reruns are cheap on purpose. A file whose size and mtime (nanoseconds) equal the committed manifest's entry is not
read again, and when every file is such a file the committed manifest simply stands: no request but its GET.
Trade-off: an object deleted or replaced in S3 behind the backup's back is not noticed by such a rerun; it is by
``make verify`` and by a ``full_refresh`` run, which re-reads every file and HEADs every object. A rerun that has
anything to send LISTs the date's prefix and trusts a kept object only while its size and ETag are unchanged.
"""
from __future__ import annotations

import base64
import concurrent.futures
import datetime
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowException
from botocore.exceptions import BotoCoreError, ClientError

from indata_ops.hooks.backup import BackupHook, ListedObject, PendingUpload, StoredObject, b64_sha256
from indata_ops.layout import manifest_key, raw_prefix
from indata_ops.manifest import build_manifest, manifest_problems
from indata_ops.sources import SourceFile, SourceListing, read_parts, read_whole

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit per multipart upload
COPY_MAX = 5 * 1024 * MiB  # CopyObject's limit; larger objects would need UploadPartCopy, so they are sent
PROGRESS_SECONDS = 10.0


class VerificationError(AirflowException):
    """S3 does not hold what was sent; the message names the key."""


@dataclass(frozen=True)
class TransferSettings:
    """How hard the backup pushes. Defaults measured on the local stack (see scripts/bench_backup.py)."""

    workers: int = 16  # files in flight
    multipart_threshold: int = 16 * MiB  # at or above: multipart; below: one PUT from memory
    part_size: int = 16 * MiB
    part_workers: int = 8
    max_buffered_parts: int = 12  # parts read but not yet sent, across files: the memory bound
    file_attempts: int = 3  # per file, on top of botocore's own retries of each request
    retry_pause: float = 1.0


@dataclass
class Outcome:
    """What happened to one file."""

    entry: dict[str, Any]
    action: str  # sent | copied | kept
    bytes_sent: int = 0


@dataclass
class BackupSummary:
    files: int
    bytes: int
    bytes_sent: int
    sent: int
    copied: int
    kept: int
    stale_removed: int
    committed: bool  # False when the committed manifest already described the files
    manifest_key: str


class Progress:
    """Files and bytes done out of the total, logged at most every ``interval`` seconds, with rate and ETA."""

    def __init__(self, label: str, files: int, size: int, interval: float = PROGRESS_SECONDS):
        self.label, self.total_files, self.total_bytes, self.interval = label, files, size, interval
        self.files = self.bytes = 0
        self.started = self._last = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, files: int = 0, size: int = 0) -> None:
        with self._lock:
            self.files += files
            self.bytes += size
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        self.log_now()

    def log_now(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.bytes / elapsed
        eta = (self.total_bytes - self.bytes) / rate if rate else float("inf")
        log.info("%s: %d/%d files, %.1f/%.1f MiB, %.1f MiB/s, %.0f files/s, ETA %.0f s", self.label, self.files,
                 self.total_files, self.bytes / MiB, self.total_bytes / MiB, rate / MiB, self.files / elapsed, eta)


class BackupRun:
    """One dataset's date: ``run(listing)`` backs the listed files up and commits the manifest."""

    def __init__(self, hook: BackupHook, *, bucket: str, dataset: str, run_date: str, snapshot: bool,
                 package_version: str, extra_args: dict[str, Any], full_refresh: bool = False,
                 settings: TransferSettings = TransferSettings()):
        self.hook, self.bucket, self.dataset, self.run_date = hook, bucket, dataset, run_date
        self.snapshot, self.package_version, self.extra_args = snapshot, package_version, extra_args
        self.full_refresh, self.settings = full_refresh, settings
        self.prefix = raw_prefix(dataset, run_date)
        self.manifest_key = manifest_key(dataset, run_date)
        self._buffers = threading.BoundedSemaphore(settings.max_buffered_parts)
        self._parts_pool = concurrent.futures.ThreadPoolExecutor(settings.part_workers, thread_name_prefix="part")

    def run(self, listing: SourceListing) -> BackupSummary:
        try:
            return self._run(listing)
        finally:
            self._parts_pool.shutdown(wait=True, cancel_futures=True)

    def plan(self, listing: SourceListing) -> list[dict[str, Any]]:
        """What ``run(listing)`` would do, read-only (the committed manifest's GET, the date's LIST): one row per
        local file (``unchanged``: trusted by size and mtime; ``new`` or ``changed``: read, and sent unless S3
        holds it already) and per stale object (``remove``). Nothing is written."""
        self._parts_pool.shutdown()
        committed = self._committed_entries() or {}
        trusted = {} if self.full_refresh else _unchanged(listing.files, committed)
        rows = [{"path": file.relative, "size": file.size,
                 "action": "unchanged" if file.relative in trusted else "changed" if file.relative in committed
                 else "new"} for file in listing.files]
        listed = self.hook.list_objects(self.bucket, self.prefix)
        stale = sorted(set(listed) - {self.prefix + file.relative for file in listing.files})
        return rows + [{"path": key[len(self.prefix):], "size": listed[key].size, "action": "remove"}
                       for key in stale]

    def _run(self, listing: SourceListing) -> BackupSummary:
        committed = self._committed_entries()
        trusted = {} if self.full_refresh else _unchanged(listing.files, committed)
        if committed is not None and len(trusted) == len(committed) == len(listing.files):
            log.info("%s on %s: all %d files unchanged since the committed manifest; nothing to send",
                     self.dataset, self.run_date, len(listing.files))
            return self._summary(list(trusted.values()), [], stale=0, committed=False)
        # From here on objects change: until the new manifest lands, this date has no committed backup.
        self.hook.delete(self.bucket, [self.manifest_key])
        listed = self.hook.list_objects(self.bucket, self.prefix)
        kept = [entry for entry in trusted.values() if listed.get(entry["key"]) == _listed(entry)]
        kept_paths = {entry["path"] for entry in kept}
        todo = [file for file in listing.files if file.relative not in kept_paths]
        outcomes = self._transfer(todo, listed, sum(e["size"] for e in kept), len(listing.files))
        entries = kept + [outcome.entry for outcome in outcomes]
        stale = sorted(set(listed) - {entry["key"] for entry in entries})
        self.hook.delete(self.bucket, stale)
        self.hook.put_json(self.bucket, self.manifest_key, build_manifest(
            dataset=self.dataset, run_date=self.run_date, bucket=self.bucket, prefix=self.prefix,
            package_version=self.package_version, entries=entries))
        return self._summary(kept, outcomes, stale=len(stale), committed=True)

    def _committed_entries(self) -> dict[str, dict[str, Any]] | None:
        """The committed manifest's entries by path; None when the date has no complete manifest of this version."""
        document = self.hook.get_json_or_none(self.bucket, self.manifest_key)
        if document is None or manifest_problems(document, self.dataset, self.run_date):
            return None
        if document.get("package_version") != self.package_version:
            return None  # written by another release: rewrite it, so the manifest names the code that verified
        return {entry["path"]: entry for entry in document["files"]}

    def _summary(self, kept: list[dict[str, Any]], outcomes: list[Outcome], stale: int,
                 committed: bool) -> BackupSummary:
        entries = kept + [outcome.entry for outcome in outcomes]
        count = lambda action: sum(outcome.action == action for outcome in outcomes)  # noqa: E731
        return BackupSummary(files=len(entries), bytes=sum(entry["size"] for entry in entries),
                             bytes_sent=sum(outcome.bytes_sent for outcome in outcomes), sent=count("sent"),
                             copied=count("copied"), kept=len(kept) + count("kept"), stale_removed=stale,
                             committed=committed, manifest_key=self.manifest_key)

    # --- the transfer -------------------------------------------------------------------------------------------
    def _transfer(self, files: list[SourceFile], listed: dict[str, ListedObject], kept_bytes: int,
                  total_files: int) -> list[Outcome]:
        if not files:
            return []
        progress = Progress(f"Backup of {self.dataset} on {self.run_date}", total_files,
                            kept_bytes + sum(file.size for file in files))
        progress.advance(files=total_files - len(files), size=kept_bytes)
        previous = self._previous_date_entries() if self.snapshot else {}
        with concurrent.futures.ThreadPoolExecutor(self.settings.workers, thread_name_prefix="file") as pool:
            futures = [pool.submit(self._with_retries, file, listed.get(self.prefix + file.relative),
                                   previous.get(file.relative), progress) for file in files]
            outcomes = _results(futures)
        progress.log_now()
        return outcomes

    def _with_retries(self, file: SourceFile, listed: ListedObject | None, previous: dict[str, Any] | None,
                      progress: Progress) -> Outcome:
        """Backs one file up; S3 errors left after botocore's retries, and failed checks, get a fresh attempt."""
        for attempt in range(1, self.settings.file_attempts + 1):
            try:
                # After a failed attempt the object may be complete already (an answer lost on the way back).
                outcome = self._back_up(file, listed, previous, check_first=attempt > 1)
                progress.advance(files=1, size=file.size)
                return outcome
            except (BotoCoreError, ClientError, VerificationError) as error:
                if attempt == self.settings.file_attempts:
                    raise
                log.warning("%s: attempt %d failed (%s); retrying", file.path, attempt, error)
                time.sleep(self.settings.retry_pause * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _back_up(self, file: SourceFile, listed: ListedObject | None, previous: dict[str, Any] | None,
                 check_first: bool) -> Outcome:
        key = self.prefix + file.relative
        maybe_there = check_first or (listed is not None and listed.size == file.size)
        copyable = previous is not None and previous["size"] == file.size and file.size <= COPY_MAX
        large = file.size >= self.settings.multipart_threshold
        if large and not (maybe_there or copyable):
            return self._send_large(file, key)
        data = None if large else read_whole(file)
        # A large file is hashed before it is sent only when it may need no sending: then a mismatch costs a
        # second read, which is rare (an interrupted run, or a snapshot file changed without changing size).
        expected = _expected_of(file, self._part_size(file.size)) if data is None else _expected_small(data)
        if maybe_there:
            stored = self.hook.stored(self.bucket, key)
            if stored is not None and expected.matches(stored):
                return Outcome(self._entry(file, key, expected, stored), "kept")
        if copyable and previous is not None and previous["sha256"] == expected.sha256:
            self.hook.copy(self.bucket, previous["key"], previous.get("version_id"), key, self.extra_args)
            expected = Expected(file.size, expected.sha256, previous.get("s3_checksum") or expected.s3_checksum,
                                previous.get("part_size"))
            return Outcome(self._entry(file, key, expected, self._verified(key, expected)), "copied")
        if data is None:
            return self._send_large(file, key)
        self.hook.put_bytes(self.bucket, key, data, expected.sha256, self.extra_args)
        return Outcome(self._entry(file, key, expected, self._verified(key, expected)), "sent", file.size)

    def _send_large(self, file: SourceFile, key: str) -> Outcome:
        expected, sent = self._multipart(file, key)
        return Outcome(self._entry(file, key, expected, self._verified(key, expected)), "sent", sent)

    def _multipart(self, file: SourceFile, key: str) -> tuple[Expected, int]:
        """Reads the file once, part by part, while earlier parts travel; reuses parts an interrupted run left."""
        part_size = self._part_size(file.size)
        pending = self.hook.pending_upload(self.bucket, key)
        upload_id = pending.upload_id if pending else self.hook.start_upload(self.bucket, key, self.extra_args)
        whole, futures = hashlib.sha256(), []
        try:
            for number, chunk in enumerate(read_parts(file, part_size), start=1):
                whole.update(chunk)
                self._buffers.acquire()  # blocks the reader while max_buffered_parts parts wait to be sent
                future = self._parts_pool.submit(self._part, key, upload_id, number, chunk, pending)
                future.add_done_callback(lambda _: self._buffers.release())  # also when cancelled
                futures.append(future)
        except BaseException:
            _cancel(futures)
            raise
        parts = _results(futures)
        self.hook.complete_upload(self.bucket, key, upload_id, [part for part, _ in parts])
        digests = [base64.b64decode(part["ChecksumSHA256"]) for part, _ in parts]
        expected = Expected(file.size, _b64(whole.digest()), _composite(digests), part_size)
        return expected, sum(sent for _, sent in parts)

    def _part(self, key: str, upload_id: str, number: int, chunk: bytes,
              pending: PendingUpload | None) -> tuple[dict[str, Any], int]:
        """Sends one part unless the pending upload already holds it; returns (its Parts entry, bytes sent)."""
        checksum = b64_sha256(chunk)  # here, not in the reader: parts hash in parallel
        held = pending.parts.get(number) if pending else None
        if held is not None and held[:2] == (len(chunk), checksum):
            etag, sent = held[2], 0
        else:
            etag, sent = self.hook.upload_part(self.bucket, key, upload_id, number, chunk, checksum), len(chunk)
        return {"PartNumber": number, "ETag": etag, "ChecksumSHA256": checksum}, sent

    def _part_size(self, size: int) -> int:
        part_size = self.settings.part_size
        while part_size * MAX_PARTS < size:
            part_size *= 2
        return part_size

    # --- checks and entries -------------------------------------------------------------------------------------
    def _verified(self, key: str, expected: Expected) -> StoredObject:
        stored = self.hook.stored(self.bucket, key)
        if stored is None:
            raise VerificationError(f"s3://{self.bucket}/{key} is missing right after its upload")
        if not expected.matches(stored):
            raise VerificationError(f"s3://{self.bucket}/{key}: S3 holds {stored.size} bytes with SHA-256 "
                                    f"{stored.checksum_sha256}, expected {expected.size} bytes with "
                                    f"{' or '.join(expected.accepted)}")
        return stored

    def _entry(self, file: SourceFile, key: str, expected: Expected, stored: StoredObject) -> dict[str, Any]:
        mtime = datetime.datetime.fromtimestamp(file.mtime_ns / 1e9, datetime.UTC)
        return {"path": file.relative, "key": key, "size": file.size, "sha256": expected.sha256,
                "mtime": mtime.isoformat(), "mtime_ns": file.mtime_ns, "version_id": stored.version_id,
                "etag": stored.etag, "s3_checksum": stored.checksum_sha256, "part_size": expected.part_size}

    def _previous_date_entries(self) -> dict[str, dict[str, Any]]:
        """A snapshot's latest committed date before this one, by path: unchanged files are copied from it."""
        manifests = self.manifest_key.rsplit("/dt=", 1)[0] + "/"
        dates = sorted(folder[len(manifests) + len("dt="):].rstrip("/")
                       for folder in self.hook.list_folders(self.bucket, manifests))
        for date in reversed([date for date in dates if date < self.run_date]):
            document = self.hook.get_json_or_none(self.bucket, f"{manifests}dt={date}/manifest.json")
            if document is not None and not manifest_problems(document, self.dataset, date):
                log.info("Files unchanged since %s are copied from that date's backup", date)
                return {entry["path"]: entry for entry in document["files"]}
        return {}


@dataclass(frozen=True)
class Expected:
    """What S3 must report for a file: its size and one of the SHA-256 forms a correct store can give."""

    size: int
    sha256: str  # the whole file's
    s3_checksum: str  # the whole file's for a single PUT; the checksum of the parts' checksums for multipart
    part_size: int | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        # A multipart object reports "<composite>-<parts>" on AWS; moto (the local stack) drops the "-<parts>";
        # a copy of it may be stored with the whole file's checksum. Each form is derived from the local bytes.
        return tuple(dict.fromkeys((self.s3_checksum, self.s3_checksum.split("-")[0], self.sha256)))

    def matches(self, stored: StoredObject) -> bool:
        return stored.size == self.size and stored.checksum_sha256 in self.accepted


def _expected_small(data: bytes) -> Expected:
    checksum = b64_sha256(data)
    return Expected(len(data), checksum, checksum)


def _expected_of(file: SourceFile, part_size: int) -> Expected:
    """Whole-file and composite SHA-256 of a large file, read once."""
    whole, digests = hashlib.sha256(), []
    for chunk in read_parts(file, part_size):
        whole.update(chunk)
        digests.append(hashlib.sha256(chunk).digest())
    return Expected(file.size, _b64(whole.digest()), _composite(digests), part_size)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _composite(part_digests: list[bytes]) -> str:
    """The checksum S3 gives a multipart object: SHA-256 of the parts' SHA-256 digests, "-" the part count."""
    return f"{_b64(hashlib.sha256(b''.join(part_digests)).digest())}-{len(part_digests)}"


def _unchanged(files: Iterable[SourceFile], committed: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Committed entries of files whose size and mtime (ns) did not move: trusted without reading them."""
    if not committed:
        return {}
    trusted = {}
    for file in files:
        entry = committed.get(file.relative)
        if entry is not None and (entry["size"], entry.get("mtime_ns")) == (file.size, file.mtime_ns):
            trusted[file.relative] = entry
    return trusted


def _listed(entry: dict[str, Any]) -> ListedObject | None:
    return ListedObject(entry["size"], entry["etag"]) if entry.get("etag") else None


def _results(futures: list[concurrent.futures.Future]) -> list[Any]:
    """Every future's result in order; on the first failure the others are cancelled or awaited, then it raises."""
    try:
        return [future.result() for future in futures]
    except BaseException:
        _cancel(futures)
        raise


def _cancel(futures: list[concurrent.futures.Future]) -> None:
    """Cancels what has not started and waits for the rest, so no thread outlives the work it belongs to."""
    for future in futures:
        future.cancel()
    concurrent.futures.wait(futures)
