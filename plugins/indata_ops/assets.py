"""The Airflow Assets the backup publishes: one per dataset's clean table, updated when it passes validation."""
from __future__ import annotations

from airflow.sdk import Asset

from indata_ops.layout import s3_uri


def clean_asset(bucket: str, dataset: str) -> Asset:
    """The same Asset for the producer (validate_clean's outlet) and every DAG scheduled on it."""
    return Asset(name=f"indata_clean_{dataset}", uri=s3_uri(bucket, f"clean/{dataset}"))
