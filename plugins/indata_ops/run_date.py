"""The run date every task keys on: the logical date for scheduled and backfill runs, `run_date` for manual ones."""
from __future__ import annotations

import datetime

# Rendered at run time. Manual runs in Airflow 3 may have no logical date: then the `run_date` param is required.
RUN_DATE_TEMPLATE = "{{ params.run_date or ds }}"


def checked_run_date(value: str) -> str:
    """The rendered run date, refused unless it is a real YYYY-MM-DD date (it becomes S3 keys and SQL)."""
    try:
        parsed = datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"run_date must be a date as YYYY-MM-DD, got {value!r}") from None
    if parsed.isoformat() != value:
        raise ValueError(f"run_date must be a date as YYYY-MM-DD, got {value!r}")
    return value
