"""The backup manifest: the commit marker of one dataset's date, written last (docs/architecture.md).

Readers rely on ``files[].path/key/size/sha256/version_id`` and ``totals`` (files, bytes); later versions only add
fields. ``sha256`` is always the whole file's SHA-256 (base64), what a restore recomputes. ``s3_checksum`` is the
additional checksum S3 reports for the object: the same value for a single PUT, a checksum of the parts' checksums
("<base64>-<parts>") for a multipart upload. ``etag`` is kept only as an opaque change token (never as an MD5).

``records`` is the file's record count as the clean job counts its input, made by the backup from the bytes it
read (record_count.py): an int with ``records_method``, or None with ``records_note`` saying why it was not
counted. ``totals.records`` is their sum, None when a file is not counted; ``records_method`` names who counted.
Entries of manifests written before counting have no ``records``: not counted either.
"""
from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import Any

MANIFEST_VERSION = 2
RECORDS_METHOD = "backup: per file while reading it, as the clean job counts its input (record_count.py)"
ENTRY_FIELDS = ("path", "key", "size", "sha256", "version_id")


def package_version() -> str:
    try:
        return metadata.version("indata-backup")
    except metadata.PackageNotFoundError:  # run from the repository, not installed: the version of record
        return "0.1.0"


def build_manifest(*, dataset: str, run_date: str, bucket: str, prefix: str, package_version: str,
                   entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    files = sorted(entries, key=lambda entry: entry["path"])
    return {"manifest_version": MANIFEST_VERSION, "package_version": package_version, "dataset": dataset,
            "run_date": run_date, "bucket": bucket, "prefix": prefix, "files": files,
            "totals": {"files": len(files), "bytes": sum(entry["size"] for entry in files),
                       "records": total_records(files)},
            "records_method": RECORDS_METHOD}


def total_records(files: Iterable[dict[str, Any]]) -> int | None:
    """The sum of ``files[].records``; None as soon as one file is not counted (no partial sum passes for a total)."""
    total = 0
    for entry in files:
        records = entry.get("records")
        if not isinstance(records, int) or isinstance(records, bool):
            return None
        total += records
    return total


def manifest_problems(document: Any, dataset: str, run_date: str) -> list[str]:
    """Why a manifest is not a complete commit of the date (empty when it is).

    A manifest cut short or written by something else must not let the chain go on: the file list has to be
    whole, every entry under the date's prefix, and the totals have to add up.
    """
    if not isinstance(document, dict):
        return ["not a JSON object"]
    problems = _identity_problems(document, dataset, run_date)
    files, totals, prefix = document.get("files"), document.get("totals"), document.get("prefix")
    if not isinstance(files, list) or not isinstance(totals, dict) or not isinstance(prefix, str):
        return problems + ["files, totals or prefix missing"]
    for index, entry in enumerate(files):
        missing = [name for name in ENTRY_FIELDS if not isinstance(entry, dict) or name not in entry]
        if missing:
            problems.append(f"files[{index}] lacks {', '.join(missing)}")
        elif not entry["key"].startswith(prefix):
            problems.append(f"files[{index}] key {entry['key']!r} is outside {prefix!r}")
    if problems:
        return problems
    counted = {"files": len(files), "bytes": sum(entry["size"] for entry in files)}
    if "records" in totals:  # written since records are counted
        counted["records"] = total_records(files)
    if {name: totals.get(name) for name in counted} != counted:
        problems.append(f"totals {totals} do not match the file list {counted}")
    return problems


def manifest_contradiction(document: Any, dataset: str, run_date: str) -> str | None:
    """Why a manifest at the date's key can never become its commit: it names another dataset or date.

    A manifest cut short may still be completed by its writer; one written for something else will not be, so a
    wait for it fails at once instead of running into its timeout.
    """
    if not isinstance(document, dict) or not {"dataset", "run_date"} <= document.keys():
        return None
    problems = _identity_problems(document, dataset, run_date)
    return "; ".join(problems) if problems else None


def _identity_problems(document: dict[str, Any], dataset: str, run_date: str) -> list[str]:
    return [f"{name} is {document.get(name)!r}, expected {expected!r}"
            for name, expected in (("dataset", dataset), ("run_date", run_date)) if document.get(name) != expected]
