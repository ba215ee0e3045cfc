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
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from indata_ops.layout import manifest_key
from indata_ops.manifest import manifest_problems
from indata_ops.run_date import checked_run_date

OK, MISMATCH, MISSING = "ok", "mismatch", "missing"
READ_CHUNK = 8 * 1024 * 1024
# HEAD answers 404 for a missing key; GET names it; a deleted version answers NoSuchVersion.
_MISSING_CODES = {"404", "NotFound", "NoSuchKey", "NoSuchVersion"}


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
    size, sha256 = _hash_stream(response["Body"])
    return ObjectState(size, sha256, response.get("VersionId"))


# --- restore ----------------------------------------------------------------------------------------------------


def restore(s3: Any, bucket: str, dataset: str, run_date: str, target_dir: Path) -> Report:
    """Download every file of the date's backup to ``target_dir/<path>``, byte for byte, with its mtime.

    Every destination is checked before the first download, so a manifest with an escaping path restores
    nothing. Each file is hashed while it is written to a temporary name beside its destination and renamed
    only when size and SHA-256 match the manifest: a mismatch never replaces a file that is already there.
    In a versioned bucket the version the backup recorded is fetched, so an overwrite since then does not matter.
    """
    files = read_manifest(s3, bucket, dataset, run_date)
    destinations = [path_under(target_dir, f.path) for f in files]
    return Report(dataset, run_date, tuple(
        _restore_file(s3, bucket, f, destination) for f, destination in zip(files, destinations)))


def _restore_file(s3: Any, bucket: str, file: ManifestFile, destination: Path) -> FileCheck:
    version = {"VersionId": file.expected.version_id} if file.expected.version_id else {}
    response = _unless_missing(s3.get_object, Bucket=bucket, Key=file.key, **version)
    if response is None:
        return FileCheck(file.path, file.key, file.expected, None)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, random and created exclusively: never clobbers a real file, and a crash leaves only a .part.
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
    try:
        with temporary.open("xb") as out:
            size, sha256 = _hash_stream(response["Body"], out)
        check = FileCheck(file.path, file.key, file.expected, ObjectState(size, sha256, response.get("VersionId")))
        if check.status == OK:
            if file.mtime:
                mtime = datetime.fromisoformat(file.mtime).timestamp()
                os.utime(temporary, (mtime, mtime))
            temporary.replace(destination)
        return check
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


def _hash_stream(body: Any, sink: BinaryIO | None = None) -> tuple[int, str]:
    """Size and base64 SHA-256 of a streaming body, copied to ``sink`` on the way when one is given."""
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(body):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return size, base64.b64encode(digest.digest()).decode()


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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [_table_line(row, widths) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    counts = {status: sum(r.count(status) for r in reports) for status in (OK, MISMATCH, MISSING)}
    without = sum(r.error is not None for r in reports)
    summary = f"{sum(counts.values())} files: " + ", ".join(f"{n} {status}" for status, n in counts.items())
    return "\n".join([*lines, summary + (f"; {without} dataset(s) without a committed backup" if without else "")])


def _table_line(row: tuple[str, ...], widths: list[int]) -> str:
    cells = [cell.ljust(width) for cell, width in zip(row, widths)]
    cells[3] = row[3].rjust(widths[3])  # the byte counts, aligned right as numbers are
    return "  ".join([*cells, row[-1]]).rstrip()
