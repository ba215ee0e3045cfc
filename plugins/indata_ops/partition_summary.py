"""A small profile of one clean partition, for DAGs that consume the clean tables' Assets."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from indata_ops.config import Dataset
from indata_ops.quality.sql import quote
from indata_ops.run_date import checked_run_date


def partition_summary_sql(database: str, dataset: Dataset, run_date: str) -> str:
    """Rows, distinct first keys, and the range of the order_by column (when the dataset has them)."""
    columns = ["COUNT(*) AS row_count"]
    if dataset.keys:
        columns.append(f"COUNT(DISTINCT {quote(dataset.keys[0])}) AS distinct_{dataset.keys[0]}")
    if dataset.order_by:
        columns += [f"MIN({quote(dataset.order_by)}) AS first_{dataset.order_by}",
                    f"MAX({quote(dataset.order_by)}) AS last_{dataset.order_by}"]
    return (f"SELECT {', '.join(columns)} FROM {quote(database)}.{quote(dataset.name)} "
            f"WHERE dt = '{checked_run_date(run_date)}'")


def partitions_from_events(events: Iterable[Any]) -> list[tuple[str, str]]:
    """(dataset, run date) of each asset event that validate_clean emitted, in order, without repeats."""
    seen: dict[tuple[str, str], None] = {}
    for event in events:
        extra: Mapping[str, Any] = getattr(event, "extra", None) or {}
        if extra.get("dataset") and extra.get("run_date"):
            seen[(str(extra["dataset"]), str(extra["run_date"]))] = None
    return list(seen)
