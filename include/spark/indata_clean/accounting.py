"""Counts of a run: every input row is exactly one of clean, rejected or duplicate, checked before anything is
written, then written as JSON next to the outputs."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.catalog import aws_region
from indata_clean.columns import INTERNAL_COLUMNS, OUTCOME, RAW_VALUES, REASONS, ROUNDED_COLUMNS, data_columns
from indata_clean.parsing import TRIMMED_CHARACTERS
from indata_contract import CLEAN, EXACT_DUPLICATE, KEY_DUPLICATE, REJECTED


@dataclass(frozen=True)
class Counts:
    """What the job did with its input; ``input == clean + rejected + duplicates`` or the job fails."""

    dataset: str
    run_date: str
    input: int
    clean: int
    rejected: int
    exact_duplicates: int
    key_duplicates: int
    rejects_by_reason: dict[str, int]
    columns: list[str]
    # Columns "added" or "ignored" under schema_evolution, and "retyped" to the schema's type in the clean table.
    schema_changes: dict[str, list[str]] = field(default_factory=dict)
    # Clean values rounded to their column's scale (rounding: half_up), per column.
    rounded_by_column: dict[str, int] = field(default_factory=dict)
    # Non-blank lines before the CSV headers that reader.skip_rows dropped: not rows, so not in input.
    skipped_lines: int = 0
    # Without a schema: per inferred or hinted column, the type chosen and its evidence (ColumnInference.to_json).
    inference: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Under the default null_tokens: per text column, the values a token turned into NULL, by the token as
    # written ("NA" is also Namibia's country code): never silent, so a person can tell data from a null.
    text_read_as_null: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rounded(self) -> int:
        return sum(self.rounded_by_column.values())

    @property
    def duplicates(self) -> int:
        return self.exact_duplicates + self.key_duplicates

    def __post_init__(self) -> None:
        accounted = self.clean + self.rejected + self.duplicates
        if self.input != accounted:
            raise RuntimeError(
                f"Row accounting broken for {self.dataset} dt={self.run_date}: input {self.input} != "
                f"clean {self.clean} + rejected {self.rejected} + duplicates {self.duplicates} = {accounted}"
            )

    def summary(self) -> str:
        reasons = ", ".join(f"{reason}={n}" for reason, n in sorted(self.rejects_by_reason.items()))
        return (
            f"clean_dataset {self.dataset} dt={self.run_date}: input={self.input} clean={self.clean} "
            f"rejected={self.rejected} duplicates={self.duplicates} (exact={self.exact_duplicates} "
            f"key={self.key_duplicates})" + (f" rejects: {reasons}" if reasons else "")
            + (f" rounded={self.rounded}" if self.rounded else "")
            + (f" skipped_lines={self.skipped_lines}" if self.skipped_lines else "")
        )


def count_outcomes(classified: DataFrame, input_rows: int, dataset: str, run_date: str) -> Counts:
    """Count outcomes and reject reasons; ``input_rows`` comes from a separate count of the source, so a row the
    pipeline lost or duplicated breaks the identity instead of going unnoticed."""
    # One pass for both: the first reason of a rejected row is its reject_reason; other outcomes have none.
    is_rejected = F.col(OUTCOME) == REJECTED
    first_reason = F.when(is_rejected, F.element_at(F.col(REASONS), 1)["reason"]).alias("reason")
    # Rounded values in the same pass; only clean rows' count, as only they are published.
    roundable = [f.name for f in classified.schema.fields if isinstance(f.dataType, T.DecimalType)
                 and f.name not in INTERNAL_COLUMNS] if ROUNDED_COLUMNS in classified.columns else []
    rounded_sums = [F.sum(F.array_contains(ROUNDED_COLUMNS, name).cast("long")).alias(f"__rounded_{i}")
                    for i, name in enumerate(roundable)]
    by_outcome: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    rounded: dict[str, int] = {}
    for row in classified.groupBy(OUTCOME, first_reason).agg(F.count(F.lit(1)).alias("count"), *rounded_sums).collect():
        by_outcome[row[OUTCOME]] = by_outcome.get(row[OUTCOME], 0) + row["count"]
        if row["reason"] is not None:
            by_reason[row["reason"]] = row["count"]
        if row[OUTCOME] == CLEAN:
            rounded = {name: row[f"__rounded_{i}"] for i, name in enumerate(roundable) if row[f"__rounded_{i}"]}
    return Counts(
        dataset=dataset,
        run_date=run_date,
        input=input_rows,
        clean=by_outcome.get(CLEAN, 0),
        rejected=by_outcome.get(REJECTED, 0),
        exact_duplicates=by_outcome.get(EXACT_DUPLICATE, 0),
        key_duplicates=by_outcome.get(KEY_DUPLICATE, 0),
        rejects_by_reason=by_reason,
        columns=data_columns(classified),
        rounded_by_column=rounded,
    )


def text_read_as_null(classified: DataFrame, null_tokens: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per text column of the clean table, how many values as read were one of ``null_tokens`` (other than the
    empty string), by token; columns and tokens without any are left out. One aggregation over ``classified``."""
    tokens = {token.strip().lower(): token for token in null_tokens if token.strip()}
    if not tokens or RAW_VALUES not in classified.columns:
        return {}
    read = set(classified.schema[RAW_VALUES].dataType.names)
    text = [f.name for f in classified.schema.fields if isinstance(f.dataType, T.StringType)
            and f.name in read and f.name not in INTERNAL_COLUMNS]
    if not text:
        return {}
    aggregates = []
    for i, name in enumerate(text):
        value = F.lower(F.btrim(F.col(RAW_VALUES)[name], F.lit(TRIMMED_CHARACTERS)))
        aggregates += [F.count_if(value == token).alias(f"__null_{i}_{j}") for j, token in enumerate(tokens)]
    row = classified.agg(*aggregates).first()
    found = {name: {written: row[f"__null_{i}_{j}"] for j, written in enumerate(tokens.values())
                    if row[f"__null_{i}_{j}"]} for i, name in enumerate(text)}
    return {name: by_token for name, by_token in found.items() if by_token}


# --------------------------------------------------------------------------------------------------------------

def _bucket_key(counts_path: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", counts_path)
    if not match:
        raise ValueError(f"counts_path must be s3://bucket/key, got {counts_path}")
    return match.group(1), match.group(2)


def delete_counts(counts_path: str) -> None:
    """Remove a committed counts.json (none is fine) before its partition is replaced."""
    bucket, key = _bucket_key(counts_path)
    boto3.client("s3", region_name=aws_region()).delete_object(Bucket=bucket, Key=key)


def write_counts(counts: Counts, counts_path: str, input_fingerprint: str | None = None) -> None:
    """The counts as JSON; ``input_fingerprint`` (None when the job was not given one) identifies the inputs the
    partition was made from (plugins/indata_ops/fingerprint.py), so a rerun of the same inputs can skip the job."""
    bucket, key = _bucket_key(counts_path)
    body = json.dumps(
        {
            "dataset": counts.dataset,
            "run_date": counts.run_date,
            "input": counts.input,
            "clean": counts.clean,
            "rejected": counts.rejected,
            "duplicates": counts.duplicates,
            "exact_duplicates": counts.exact_duplicates,
            "key_duplicates": counts.key_duplicates,
            "rejects_by_reason": counts.rejects_by_reason,
            "columns": counts.columns,
            "schema_changes": counts.schema_changes,
            "rounded": counts.rounded,
            "rounded_by_column": counts.rounded_by_column,
            "skipped_lines": counts.skipped_lines,
            "inference": counts.inference,
            "text_read_as_null": counts.text_read_as_null,
            "input_fingerprint": input_fingerprint,
        },
        ensure_ascii=False,
        indent=2,
    )
    s3 = boto3.client("s3", region_name=aws_region())
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType="application/json")


