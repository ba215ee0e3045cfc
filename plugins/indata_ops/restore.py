"""Restore and verify committed backups, straight from their manifests.

Pure functions over a boto3 S3 client (``BackupHook.get_conn()`` in a task, a plain boto3 client in a script), so
the DAG's operator and the command line share one implementation and neither needs an Airflow context. Nothing
here imports Airflow: the scripts start fast and run where Airflow is not installed.

The manifest is the only source of truth: a date without one has no committed backup, and every object is judged
against the size, SHA-256 and version id the manifest recorded when the backup was verified.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoCoreConnectionError

from indata_ops.layout import manifest_key
from indata_ops.manifest import manifest_problems
from indata_ops.run_date import checked_run_date

OK, MISMATCH, MISSING = "ok", "mismatch", "missing"
# Why a file could not be restored (besides MISSING); ERROR is any other permanent error, named in the detail.
SIZE, CHECKSUM, ACCESS, ERROR = "size", "checksum", "access", "error"
REPORT_NAME = "restore-report.json"
READ_CHUNK = 8 * 1024 * 1024
# HEAD answers 404 for a missing key; GET names it; a deleted version answers NoSuchVersion.
_MISSING_CODES = {"404", "NotFound", "NoSuchKey", "NoSuchVersion"}
# S3 answers AccessDenied for a missing s3:GetObject(Version) or kms:Decrypt grant; KMS.* when the key is disabled,
# pending deletion or gone.
_ACCESS_CODES = {"AccessDenied", "AllAccessDisabled", "403"}
# Throttling and 5xx codes (botocore's standard mode retries them too): when its attempts run out, a file gets another.
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestLimitExceeded",
                    "InternalError", "ServiceUnavailable", "TooManyRequestsException"}

log = logging.getLogger(__name__)


class NoCommittedBackup(LookupError):
    """The date has no manifest: its backup never completed, or was never made."""

    def __init__(self, dataset: str, run_date: str) -> None:
        super().__init__(f"no committed backup for {dataset} on {run_date}")


class BadManifest(ValueError):
    """The manifest is there but is not a complete commit (cut short, hand-edited, or another date's)."""


class UnsafePath(ValueError):
    """A path that would put restored files outside the folder they were meant for."""


@dataclass(frozen=True)
class ObjectState:
    """What the manifest recorded for one object, or what S3 (or the downloaded bytes) say about it now."""

    size: int
    sha256: str | None  # base64, as S3's ChecksumSHA256
    version_id: str | None


@dataclass(frozen=True)
class ManifestFile:
    path: str  # relative to the dataset's source folder, and so to the restore target
    key: str
    expected: ObjectState  # sha256: the whole file's
    mtime: str | None  # ISO 8601, from the local file at backup time; not part of the manifest's reader contract
    # What HEAD reports as ChecksumSHA256: the file's SHA-256, except for a multipart upload (a checksum of the
    # parts' checksums), which manifests from version 2 record as s3_checksum.
    s3_checksum: str


@dataclass(frozen=True)
class FileCheck:
    path: str
    key: str
    expected: ObjectState
    actual: ObjectState | None  # None when the object is missing

    @property
    def differences(self) -> tuple[str, ...]:
        """The fields that differ; the version id only counts when the backup recorded one (versioned bucket)."""
        if self.actual is None:
            return ()
        names = ["size", "sha256"] + (["version_id"] if self.expected.version_id is not None else [])
        return tuple(name for name in names if getattr(self.expected, name) != getattr(self.actual, name))

    @property
    def status(self) -> str:
        if self.actual is None:
            return MISSING
        return MISMATCH if self.differences else OK

    def detail(self) -> str:
        if self.actual is None:
            return "object not found" + (f" (version {self.expected.version_id})" if self.expected.version_id else "")
        return "; ".join(f"{name} expected {getattr(self.expected, name)}, got {getattr(self.actual, name)}"
                         for name in self.differences)


@dataclass(frozen=True)
class Report:
    """One dataset and date: a check per manifest file, or the error that stopped it (no committed backup)."""

    dataset: str
    run_date: str
    files: tuple[FileCheck, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(check.status == OK for check in self.files)

    def count(self, status: str) -> int:
        return sum(check.status == status for check in self.files)


@dataclass(frozen=True)
class Failure:
    """A file a restore could not bring back: why (``reason``, one of missing, size, checksum, access, error), and
    the detail that proves it (expected and actual values, or S3's error code and message)."""

    path: str
    key: str
    version_id: str | None
    reason: str
    detail: str


@dataclass(frozen=True)
class RestoreReport:
    """One dataset and date restored into ``target``: the files restored and verified, and those that were not."""

    dataset: str
    run_date: str
    bucket: str
    target: Path
    restored: tuple[ManifestFile, ...]
    failed: tuple[Failure, ...]
    report_name: str = REPORT_NAME

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def path(self) -> Path:
        """Where the JSON report is written: beside the restored files."""
        return self.target / self.report_name

    @property
    def restored_bytes(self) -> int:
        return sum(file.expected.size for file in self.restored)

    def reasons(self) -> dict[str, int]:
        """How many files failed for each reason, in the order of the reasons' first appearance."""
        counts: dict[str, int] = {}
        for failure in self.failed:
            counts[failure.reason] = counts.get(failure.reason, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        """The report as written to ``path``: counts, every failure, and the paths restored (to tell them from
        other files in the target). No timestamp, so a rerun with the same outcome writes the same report."""
        return {"dataset": self.dataset, "run_date": self.run_date, "bucket": self.bucket,
                "manifest": f"s3://{self.bucket}/{manifest_key(self.dataset, self.run_date)}",
                "target": str(self.target),
                "counts": {"files": len(self.restored) + len(self.failed), "restored": len(self.restored),
                           "failed": len(self.failed)},
                "restored_bytes": self.restored_bytes, "failed_by_reason": self.reasons(),
                "failed": [{"path": f.path, "key": f.key, "version_id": f.version_id, "reason": f.reason,
                            "detail": f.detail} for f in self.failed],
                "restored": [file.path for file in self.restored]}

    def summary(self) -> str:
        failed = ", ".join(f"{n} {reason}" for reason, n in self.reasons().items())
        return (f"{self.dataset} {self.run_date}: {len(self.restored)} of {len(self.restored) + len(self.failed)} "
                f"files restored ({self.restored_bytes} bytes), {len(self.failed)} failed"
                f"{': ' + failed if failed else ''}; report: {self.path}")

    def table(self) -> str:
        """The files that failed, one row each with the reason and its detail, then the summary line."""
        if not self.failed:
            return self.summary()
        rows = [("reason", "path", "version", "detail")]
        rows += [(f.reason, f.path, f.version_id or "-", f.detail) for f in self.failed]
        return "\n".join([*_table(rows), self.summary()])


# --- manifest ---------------------------------------------------------------------------------------------------


def read_manifest(s3: Any, bucket: str, dataset: str, run_date: str) -> list[ManifestFile]:
    """The files of a committed backup.

    NoCommittedBackup when the date has no manifest, BadManifest when it is not a complete commit, ValueError for
    a bad date.
    """
    key = manifest_key(dataset, checked_run_date(run_date))
    response = _unless_missing(s3.get_object, Bucket=bucket, Key=key)
    if response is None:
        raise NoCommittedBackup(dataset, run_date)
    try:
        document = json.loads(response["Body"].read())
    except ValueError as error:
        raise BadManifest(f"s3://{bucket}/{key} is not JSON: {error}") from None
    problems = manifest_problems(document, dataset, run_date)
    if problems:
        raise BadManifest(f"s3://{bucket}/{key} is not a complete commit: {'; '.join(problems)}")
    return [ManifestFile(path=entry["path"], key=entry["key"], mtime=entry.get("mtime"),
                         expected=ObjectState(entry["size"], entry["sha256"], entry["version_id"]),
                         s3_checksum=entry.get("s3_checksum") or entry["sha256"])
            for entry in document["files"]]


# --- verify -----------------------------------------------------------------------------------------------------


def verify(s3: Any, bucket: str, run_date: str, datasets: Iterable[str], *, deep: bool = False) -> list[Report]:
    """Check every object of each dataset's manifest for the date against what the manifest recorded.

    Without ``deep`` nothing is downloaded: a HEAD with ChecksumMode gives the size, the SHA-256 S3 checked on
    upload, and the version id. ``deep`` downloads and hashes every byte, for when S3's own checksum is not trusted.
    A dataset without a complete manifest gets a report with that error, so it does not hide the others.
    """
    return [_verify_dataset(s3, bucket, dataset, run_date, deep) for dataset in datasets]


def _verify_dataset(s3: Any, bucket: str, dataset: str, run_date: str, deep: bool) -> Report:
    try:
        files = read_manifest(s3, bucket, dataset, run_date)
    except (NoCommittedBackup, BadManifest) as error:
        return Report(dataset, run_date, error=str(error))
    return Report(dataset, run_date, tuple(_check_object(s3, bucket, f, deep) for f in files))


def _check_object(s3: Any, bucket: str, file: ManifestFile, deep: bool) -> FileCheck:
    if deep:
        return FileCheck(file.path, file.key, file.expected, _downloaded_state(s3, bucket, file.key))
    expected = replace(file.expected, sha256=file.s3_checksum)
    return FileCheck(file.path, file.key, expected, _stored_state(s3, bucket, file.key))


def _stored_state(s3: Any, bucket: str, key: str) -> ObjectState | None:
    head = _unless_missing(s3.head_object, Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if head is None:
        return None
    # An object overwritten without an additional checksum has no ChecksumSHA256: that is a mismatch too.
    return ObjectState(head["ContentLength"], head.get("ChecksumSHA256"), head.get("VersionId"))


def _downloaded_state(s3: Any, bucket: str, key: str) -> ObjectState | None:
    response = _unless_missing(s3.get_object, Bucket=bucket, Key=key)
    if response is None:
        return None
    sink = _HashingSink()
    try:
        _copy(response["Body"], sink)
    except FlexibleChecksumError as error:  # the manifest's SHA-256 judges the bytes; this says S3's disagrees too
        log.warning("%s: %s", key, error)
    return ObjectState(sink.size, sink.sha256(), response.get("VersionId"))


# --- restore ----------------------------------------------------------------------------------------------------


def restore(s3: Any, bucket: str, dataset: str, run_date: str, target_dir: Path, *, attempts: int = 3,
            retry_pause: float = 1.0) -> RestoreReport:
    """Download every file of the date's backup to ``target_dir/<path>``, byte for byte, with its mtime.

    Every destination is checked before the first download, so a manifest with an escaping path restores
    nothing. Each file is hashed while it is written to a temporary name beside its destination and renamed
    only when size and SHA-256 match the manifest; a file that fails is deleted, never renamed, so nothing under a
    final name is unverified (and a file already there is left as it was). A file that cannot be restored for good
    (missing, size, checksum, access, any other permanent error) is recorded and the restore goes on with the next
    one. Transient errors (throttling, 5xx, connections reset) are retried by botocore, then ``attempts`` times per
    file; one that outlasts them all stops the restore, since every remaining file would fail the same way. In a
    versioned bucket the version the backup recorded is fetched, so an overwrite since then does not matter.
    The report is also written to ``target_dir/restore-report.json`` (see RestoreReport.as_json).
    """
    files = read_manifest(s3, bucket, dataset, run_date)
    destinations = [path_under(target_dir, f.path) for f in files]
    restored, failed = [], []
    for file, destination in zip(files, destinations):
        failure = _restore_with_attempts(s3, bucket, file, destination, attempts, retry_pause)
        if failure is None:
            restored.append(file)
        else:
            failed.append(failure)
    report = RestoreReport(dataset, run_date, bucket, target_dir.resolve(), tuple(restored), tuple(failed),
                           report_name(files))
    _write_atomically(report.path, json.dumps(report.as_json(), indent=2, ensure_ascii=False).encode() + b"\n")
    return report


def _restore_with_attempts(s3: Any, bucket: str, file: ManifestFile, destination: Path, attempts: int,
                           pause: float) -> Failure | None:
    for attempt in range(1, attempts + 1):
        try:
            return _restore_file(s3, bucket, file, destination)
        except (ClientError, BotoCoreError, OSError) as error:
            if not is_transient(error):
                return _failure(file, destination, *classify(error))
            if attempt == attempts:
                raise
            log.warning("%s: attempt %d of %d failed (%s); retrying", file.path, attempt, attempts, error)
            time.sleep(pause * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _restore_file(s3: Any, bucket: str, file: ManifestFile, destination: Path) -> Failure | None:
    """None when the file is in place and verified; the Failure when the object does not match the manifest."""
    version = {"VersionId": file.expected.version_id} if file.expected.version_id else {}
    # ChecksumMode: botocore checks the bytes against S3's stored SHA-256 too, whatever the client's config.
    response = s3.get_object(Bucket=bucket, Key=file.key, ChecksumMode="ENABLED", **version)
    if response["ContentLength"] != file.expected.size:  # no need to download what cannot match
        response["Body"].close()
        return _failure(file, destination, SIZE, f"size expected {file.expected.size}, got {response['ContentLength']}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, random and created exclusively: never clobbers a real file, and a crash leaves only a .part.
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
    try:
        with temporary.open("xb") as out:
            hashed = _HashingSink(out)
            try:
                _copy(response["Body"], hashed)
            except FlexibleChecksumError as error:  # raised after the last byte: the hash is complete
                return _failure(file, destination, CHECKSUM, f"sha256 expected {file.expected.sha256}, got "
                                                             f"{hashed.sha256()}; S3: {error}")
        if hashed.size != file.expected.size:
            return _failure(file, destination, SIZE, f"size expected {file.expected.size}, got {hashed.size}")
        if hashed.sha256() != file.expected.sha256:
            return _failure(file, destination, CHECKSUM,
                            f"sha256 expected {file.expected.sha256}, got {hashed.sha256()}")
        if file.mtime:
            mtime = datetime.fromisoformat(file.mtime).timestamp()
            os.utime(temporary, (mtime, mtime))
        temporary.replace(destination)
        return None
    finally:
        temporary.unlink(missing_ok=True)


def _failure(file: ManifestFile, destination: Path, reason: str, detail: str) -> Failure:
    if destination.exists():  # so nobody takes it for this restore's file
        detail += f"; the file already at {file.path} was left as it was"
    return Failure(file.path, file.key, file.expected.version_id, reason, detail)


def is_transient(error: BaseException) -> bool:
    """Whether a retry may succeed: throttling, a 5xx, a connection reset or timed out, a body cut short."""
    if isinstance(error, ClientError):
        answer = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return answer.get("Code") in _TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(error, (BotoCoreConnectionError, HTTPClientError, IncompleteReadError))


def classify(error: BaseException) -> tuple[str, str]:
    """The reason (missing, checksum, access, error) and detail of a permanent error reading one object."""
    if isinstance(error, ClientError):
        answer = error.response.get("Error", {})
        code, message = answer.get("Code", "?"), answer.get("Message", "")
        if code in _MISSING_CODES:
            return MISSING, f"{code}: {message}" if message else f"{code}: object not found"
        if code in _ACCESS_CODES or code.startswith("KMS."):
            return ACCESS, f"{code}: {message}"
        return ERROR, f"{code}: {message}"
    if isinstance(error, FlexibleChecksumError):
        return CHECKSUM, str(error)
    return ERROR, f"{type(error).__name__}: {error}"


class _HashingSink:
    """Counts and hashes what goes through it (on to a file when one is given): known even if the read then fails."""

    def __init__(self, out: BinaryIO | None = None) -> None:
        self.out, self.size, self.digest = out, 0, hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        if self.out is not None:
            self.out.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def sha256(self) -> str:
        return base64.b64encode(self.digest.digest()).decode()


def _copy(body: Any, sink: _HashingSink) -> None:
    for chunk in _chunks(body):
        sink.write(chunk)


def report_name(files: Iterable[ManifestFile]) -> str:
    """restore-report.json, or restore-report-<n>.json when the backup itself holds a file of that name."""
    taken = {file.path for file in files}
    name, n = REPORT_NAME, 0
    while name in taken:
        n += 1
        name = REPORT_NAME.replace(".json", f"-{n}.json")
    return name


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def path_under(root: Path, relative: str) -> Path:
    """``root/relative`` resolved, refused when it lands anywhere but inside ``root`` (``..``, absolute, links)."""
    if not relative or ".." in PurePosixPath(relative).parts:
        raise UnsafePath(f"{relative!r} must be a path inside {root} without '..'")
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        raise UnsafePath(f"{relative!r} must name a path inside {base} (it resolves to {path})")
    return path


# --- shared -----------------------------------------------------------------------------------------------------


def _unless_missing(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """The response of an S3 object call, or None when there is no such object (or version)."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING_CODES:
            return None
        raise


def _chunks(body: Any) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(READ_CHUNK)


# --- report -----------------------------------------------------------------------------------------------------


def format_reports(reports: Iterable[Report]) -> str:
    """A plain-text table, one row per file (or per dataset without a backup), and a closing count.

    Problems are in capitals so they stand out among the ``ok`` rows; the detail column comes last and is not
    padded, because full base64 checksums make it long.
    """
    reports = list(reports)
    rows = [("dataset", "date", "status", "bytes", "path", "detail")]
    for report in reports:
        if report.error:
            rows.append((report.dataset, report.run_date, "NO BACKUP", "-", "-", report.error))
        for check in report.files:
            status = check.status if check.status == OK else check.status.upper()
            rows.append((report.dataset, report.run_date, status, str(check.expected.size), check.path,
                         check.detail()))
    lines = _table(rows, numeric=3)
    counts = {status: sum(r.count(status) for r in reports) for status in (OK, MISMATCH, MISSING)}
    without = sum(r.error is not None for r in reports)
    summary = f"{sum(counts.values())} files: " + ", ".join(f"{n} {status}" for status, n in counts.items())
    return "\n".join([*lines, summary + (f"; {without} dataset(s) without a committed backup" if without else "")])


def _table(rows: Sequence[tuple[str, ...]], numeric: int | None = None) -> list[str]:
    """Rows as aligned columns under a rule below the header; the last column (the detail) is not padded, the
    ``numeric`` one is aligned right as numbers are."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(width) if i == numeric else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths))]
        return "  ".join([*cells, row[-1]]).rstrip()

    lines = [line(row) for row in rows]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]
