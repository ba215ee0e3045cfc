"""The verified backup of one dataset's date: what to send, sending it concurrently, checking it, committing it.

Each file is read once and hashed while it is read. Small files go up as one PUT each from a thread pool; large
files as multipart uploads whose parts travel concurrently, each part with its own SHA-256. S3 refuses a PUT or a
part whose bytes do not match the SHA-256 sent along (BadDigest) and answers each PUT, complete and copy with the
checksum it stored: that answer must be one the local bytes give. One request per file, then: no HEAD. After the
transfer one LIST of the date's prefix (a request per 1,000 keys) confirms that every object is there with its
size and ETag; anything missing or short fails the task naming the keys, and its retry sends them again. The
manifest is written last.

Files in flight follow the round trip (``in_flight``): the shortest of the first requests' times divided by the
client's CPU per request, between ``min_workers`` and ``workers``, so a long round trip keeps more requests
waiting at once. Memory stays bounded whatever the concurrency: small files and parts read but not yet sent share
one budget of ``max_buffered_bytes`` (``ByteBudget``); a reader waits while it is spent.

Reruns are cheap on purpose. A file whose size and mtime (nanoseconds) equal the committed manifest's entry is not
read again, and when every file is such a file the committed manifest simply stands: no request but its GET.
Trade-off: an object deleted or replaced in S3 behind the backup's back is not noticed by such a rerun; it is by
``make verify`` and by a ``full_refresh`` run, which re-reads every file and HEADs every object S3 lists with its
size. A rerun that has anything to send LISTs the date's prefix and trusts a kept object only while its size and
ETag are unchanged; a retry after a failed attempt HEADs the object first (the answer may have been lost).

Records are counted from the same chunks the hash reads (record_count.py): ``files[].records``, kept with the rest of
an unchanged file's entry.
"""
from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime
import functools
import hashlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowException
from botocore.exceptions import BotoCoreError, ClientError

from indata_ops.hooks.backup import BackupHook, ListedObject, PendingUpload, StoredObject, b64_sha256
from indata_ops.layout import manifest_key, raw_prefix
from indata_ops.manifest import build_manifest, manifest_problems
from indata_ops.record_count import Counted, RecordCounter, RecordRules, uncounted
from indata_ops.sources import SourceFile, SourceListing, read_parts, read_whole

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit per multipart upload
COPY_MAX = 5 * 1024 * MiB  # CopyObject's limit; larger objects would need UploadPartCopy, so they are sent
PROGRESS_SECONDS = 10.0
LIST_PAGE = 1000  # keys per ListObjectsV2 answer
LISTED_PROBLEMS = 20  # keys named in a failed listing check; the count says how many more


class VerificationError(AirflowException):
    """S3 does not hold what was sent; the message names the key."""


@dataclass(frozen=True)
class TransferSettings:
    """How hard the backup pushes. Defaults measured on the local stack (see scripts/bench_backup.py)."""

    workers: int = 128  # most files in flight, reached when round trips are long (see in_flight)
    min_workers: int = 16  # files in flight when round trips are short
    request_cpu: float = 0.0012  # client CPU seconds per request (~1.2 ms measured here): what a thread costs
    multipart_threshold: int = 16 * MiB  # at or above: multipart; below: one PUT from memory
    part_size: int = 16 * MiB
    part_workers: int = 8
    max_buffered_bytes: int = 256 * MiB  # read but not yet sent, small files and parts together: the memory bound
    file_attempts: int = 3  # per file, on top of botocore's own retries of each request
    retry_pause: float = 1.0


def in_flight(round_trip: float, settings: TransferSettings) -> int:
    """Files in flight for a round trip of ``round_trip`` seconds: enough that the client's CPU, not the wait for
    answers, sets the pace (RTT / CPU per request), between ``min_workers`` and ``workers``."""
    wanted = math.ceil(max(round_trip, 0.0) / settings.request_cpu) if settings.request_cpu > 0 else settings.workers
    return max(min(settings.min_workers, settings.workers), min(wanted, settings.workers))


class ByteBudget:
    """Bytes read from files and not yet sent, shared by small files and parts; ``acquire`` blocks while the
    budget is spent. A single item larger than the whole budget waits until it is alone."""

    def __init__(self, limit: int):
        self.limit, self.used, self.peak = limit, 0, 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> int:
        size = min(size, self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
            self.peak = max(self.peak, self.used)
        return size

    def release(self, size: int) -> None:
        if size:
            with self._changed:
                self.used -= size
                self._changed.notify_all()

    @contextlib.contextmanager
    def held(self, size: int) -> Iterator[None]:
        taken = self.acquire(size)
        try:
            yield
        finally:
            self.release(taken)


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
                 settings: TransferSettings = TransferSettings(), records: RecordRules | None = None):
        self.hook, self.bucket, self.dataset, self.run_date = hook, bucket, dataset, run_date
        self.snapshot, self.package_version, self.extra_args = snapshot, package_version, extra_args
        self.full_refresh, self.settings, self.records = full_refresh, settings, records
        self.prefix = raw_prefix(dataset, run_date)
        self.manifest_key = manifest_key(dataset, run_date)
        self.budget = ByteBudget(settings.max_buffered_bytes)
        self.round_trip: float | None = None  # the shortest of the first requests' times, seconds
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
        self.hook.get_conn()  # the client (and a narrowed session's assume) is made before any request is timed
        committed = self._timed(self._committed_entries, lambda _: 1)
        trusted = {} if self.full_refresh else _unchanged(listing.files, committed)
        if committed is not None and len(trusted) == len(committed) == len(listing.files):
            log.info("%s on %s: all %d files unchanged since the committed manifest; nothing to send",
                     self.dataset, self.run_date, len(listing.files))
            return self._summary(list(trusted.values()), [], stale=0, committed=False)
        # From here on objects change: until the new manifest lands, this date has no committed backup.
        self.hook.delete(self.bucket, [self.manifest_key])
        listed = self._timed(lambda: self.hook.list_objects(self.bucket, self.prefix),
                             lambda found: max(1, math.ceil(len(found) / LIST_PAGE)))
        kept = [entry for entry in trusted.values() if listed.get(entry["key"]) == _listed(entry)]
        kept_paths = {entry["path"] for entry in kept}
        todo = [file for file in listing.files if file.relative not in kept_paths]
        outcomes = self._transfer(todo, listed, sum(e["size"] for e in kept), len(listing.files))
        entries = kept + [outcome.entry for outcome in outcomes]
        listed = self._confirm_listed(entries)
        stale = sorted(set(listed) - {entry["key"] for entry in entries})
        self.hook.delete(self.bucket, stale)
        self.hook.put_json(self.bucket, self.manifest_key, build_manifest(
            dataset=self.dataset, run_date=self.run_date, bucket=self.bucket, prefix=self.prefix,
            package_version=self.package_version, entries=entries))
        return self._summary(kept, outcomes, stale=len(stale), committed=True)

    def _timed(self, call: Callable[[], Any], requests: Callable[[Any], int]) -> Any:
        """Runs a call of ``requests(result)`` requests (a LIST: one per 1,000 keys) and keeps the shortest time per
        request seen: the first request also opens the connection, the shortest is nearest to one round trip."""
        started = time.monotonic()
        result = call()
        elapsed = (time.monotonic() - started) / requests(result)
        self.round_trip = elapsed if self.round_trip is None else min(self.round_trip, elapsed)
        return result

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
        workers = in_flight(self.round_trip or 0.0, self.settings)
        log.info("%d files in flight (round trip %.1f ms), at most %.0f MiB read and not yet sent", workers,
                 (self.round_trip or 0.0) * 1000, self.settings.max_buffered_bytes / MiB)
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="file") as pool:
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
        if large:
            # A large file is hashed before it is sent only when it may need no sending: then a mismatch costs a
            # second read, which is rare (an interrupted run, or a snapshot file changed without changing size).
            with self.budget.held(self._part_size(file.size)):  # one part at a time in memory
                expected = _expected_of(file, self._part_size(file.size), self._counter(file))
            return self._send_unless_there(file, key, None, expected, maybe_there, copyable, previous)
        with self.budget.held(file.size):  # the bytes stay in memory until their PUT is answered
            data = read_whole(file)
            counter = self._counter(file)
            counter.update(data)
            return self._send_unless_there(file, key, data, _expected_small(data, counter.result()), maybe_there,
                                           copyable, previous)

    def _send_unless_there(self, file: SourceFile, key: str, data: bytes | None, expected: Expected,
                           maybe_there: bool, copyable: bool, previous: dict[str, Any] | None) -> Outcome:
        """Keeps what S3 holds already (a HEAD, only when it may), copies from the previous date, or sends."""
        if maybe_there:
            stored = self.hook.stored(self.bucket, key)
            if stored is not None and expected.matches(stored):
                return Outcome(self._entry(file, key, expected, stored), "kept")
        if copyable and previous is not None and previous["sha256"] == expected.sha256:
            stored = self.hook.copy(self.bucket, previous["key"], previous.get("version_id"), key, file.size,
                                    self.extra_args)
            expected = Expected(file.size, expected.sha256, previous.get("s3_checksum") or expected.s3_checksum,
                                previous.get("part_size"), expected.records)
            return Outcome(self._entry(file, key, expected, self._trusted(stored, expected)), "copied")
        if data is None:
            return self._send_large(file, key)
        stored = self.hook.put_bytes(self.bucket, key, data, expected.sha256, self.extra_args)
        return Outcome(self._entry(file, key, expected, self._trusted(stored, expected)), "sent", file.size)

    def _send_large(self, file: SourceFile, key: str) -> Outcome:
        expected, sent, stored = self._multipart(file, key)
        return Outcome(self._entry(file, key, expected, self._trusted(stored, expected)), "sent", sent)

    def _multipart(self, file: SourceFile, key: str) -> tuple[Expected, int, StoredObject]:
        """Reads the file once, part by part, while earlier parts travel; reuses parts an interrupted run left."""
        part_size = self._part_size(file.size)
        pending = self.hook.pending_upload(self.bucket, key)
        upload_id = pending.upload_id if pending else self.hook.start_upload(self.bucket, key, self.extra_args)
        whole, futures, counter = hashlib.sha256(), [], self._counter(file)
        chunks = read_parts(file, part_size)
        try:
            for number in itertools.count(1):
                taken = self.budget.acquire(part_size)  # before the read: blocks while the budget is spent
                try:
                    chunk = next(chunks, None)
                except BaseException:
                    self.budget.release(taken)
                    raise
                if chunk is None:
                    self.budget.release(taken)
                    break
                whole.update(chunk)
                counter.update(chunk)
                future = self._parts_pool.submit(self._part, key, upload_id, number, chunk, pending)
                future.add_done_callback(functools.partial(self._release_part, taken))  # also when cancelled
                futures.append(future)
        except BaseException:
            _cancel(futures)
            raise
        parts = _results(futures)
        stored = self.hook.complete_upload(self.bucket, key, upload_id, [part for part, _ in parts], file.size)
        digests = [base64.b64decode(part["ChecksumSHA256"]) for part, _ in parts]
        expected = Expected(file.size, _b64(whole.digest()), _composite(digests), part_size, counter.result())
        return expected, sum(sent for _, sent in parts), stored

    def _release_part(self, taken: int, _: concurrent.futures.Future) -> None:
        self.budget.release(taken)

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

    def _counter(self, file: SourceFile) -> RecordCounter:
        """A fresh counter for one read of ``file`` (a second read, after a mismatch, counts again)."""
        return (self.records or RecordRules("")).counter(file.relative, file.path)

    def _part_size(self, size: int) -> int:
        part_size = self.settings.part_size
        while part_size * MAX_PARTS < size:
            part_size *= 2
        return part_size

    # --- checks and entries -------------------------------------------------------------------------------------
    def _trusted(self, stored: StoredObject, expected: Expected) -> StoredObject:
        """The write's answer, once its checksum is one the local bytes give. S3 computed it from the bytes it
        received (and refused them, BadDigest, had they not matched the SHA-256 sent along), so no HEAD follows;
        the listing after the transfer confirms that each object is there with its size."""
        if stored.checksum_sha256 not in expected.accepted:
            raise VerificationError(f"s3://{self.bucket}/{stored.key}: S3 answered the write with SHA-256 "
                                    f"{stored.checksum_sha256}, expected {' or '.join(expected.accepted)}")
        return stored

    def _confirm_listed(self, entries: list[dict[str, Any]]) -> dict[str, ListedObject]:
        """One LIST of the date's prefix (a request per 1,000 keys) instead of a HEAD per object: every entry's
        object must be there with its size and ETag. Returns the listing."""
        listed = self.hook.list_objects(self.bucket, self.prefix)
        wrong = []
        for entry in entries:
            found = listed.get(entry["key"])
            if found is None:
                wrong.append(f"{entry['key']} is missing")
            elif found.size != entry["size"]:
                wrong.append(f"{entry['key']} has {found.size} bytes, {entry['size']} were sent")
            elif entry.get("etag") and found.etag != entry["etag"]:
                wrong.append(f"{entry['key']} has ETag {found.etag}, the write answered {entry['etag']}")
        if wrong:
            shown = "; ".join(wrong[:LISTED_PROBLEMS]) + ("; ..." if len(wrong) > LISTED_PROBLEMS else "")
            raise VerificationError(f"{len(wrong)} of {len(entries)} objects in s3://{self.bucket}/{self.prefix} "
                                    f"are not as written: {shown}. No manifest was written; a retry sends them "
                                    "again.")
        return listed

    def _entry(self, file: SourceFile, key: str, expected: Expected, stored: StoredObject) -> dict[str, Any]:
        mtime = datetime.datetime.fromtimestamp(file.mtime_ns / 1e9, datetime.UTC)
        return {"path": file.relative, "key": key, "size": file.size, "sha256": expected.sha256,
                "mtime": mtime.isoformat(), "mtime_ns": file.mtime_ns, "version_id": stored.version_id,
                "etag": stored.etag, "s3_checksum": stored.checksum_sha256, "part_size": expected.part_size,
                **(expected.records or uncounted("not counted")).fields()}

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
    records: Counted | None = None  # counted from the bytes read (record_count.py); not an S3 check

    @property
    def accepted(self) -> tuple[str, ...]:
        # A multipart object reports "<composite>-<parts>" on AWS; moto (the local stack) drops the "-<parts>";
        # a copy of it may be stored with the whole file's checksum. Each form is derived from the local bytes.
        return tuple(dict.fromkeys((self.s3_checksum, self.s3_checksum.split("-")[0], self.sha256)))

    def matches(self, stored: StoredObject) -> bool:
        return stored.size == self.size and stored.checksum_sha256 in self.accepted


def _expected_small(data: bytes, records: Counted) -> Expected:
    checksum = b64_sha256(data)
    return Expected(len(data), checksum, checksum, records=records)


def _expected_of(file: SourceFile, part_size: int, counter: RecordCounter) -> Expected:
    """Whole-file and composite SHA-256 of a large file, and its records, read once."""
    whole, digests = hashlib.sha256(), []
    for chunk in read_parts(file, part_size):
        whole.update(chunk)
        counter.update(chunk)
        digests.append(hashlib.sha256(chunk).digest())
    return Expected(file.size, _b64(whole.digest()), _composite(digests), part_size, counter.result())


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
