"""Where each dataset's data lives in the bucket, for a run date (docs/architecture.md, S3 layout). One place,
one truth."""
from __future__ import annotations


def raw_prefix(dataset: str, run_date: str) -> str:
    return f"raw/{dataset}/dt={run_date}/"


def manifest_key(dataset: str, run_date: str) -> str:
    return f"manifests/{dataset}/dt={run_date}/manifest.json"


def clean_root(dataset: str) -> str:
    return f"clean/{dataset}/"


def rejects_root(dataset: str) -> str:
    return f"rejects/{dataset}/"


def job_counts_key(dataset: str, run_date: str) -> str:
    return f"job-reports/{dataset}/dt={run_date}/counts.json"


def reports_root(dataset: str) -> str:
    return f"reports/{dataset}/"


def validation_report_key(dataset: str, run_date: str, extension: str) -> str:
    """The date's validation report: ``json`` (what the next dates' anomaly checks read) or ``html``."""
    return f"{reports_root(dataset)}dt={run_date}/validation.{extension}"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
