"""The job on the bundled sample data under the shipped config: exactly include/sample_data/expected_counts.json.

Each (dataset, date) goes through ``run_job`` as the DAG starts it: the files the dataset's ``source`` pattern
matches, laid out as the backup lays out a raw partition, and ``--dataset_config`` from ``Dataset.job_config()``.
The expected counts follow the cleaning rules in include/sample_data/README.md; tests/config checks them
independently against the files.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import clean_dataset as job
from indata_ops.config import DEFAULT_SOURCE_ROOT, Dataset, load_config

SHIPPED = load_config(environ={})  # the repository's datasets.yaml and sample data, whatever the environment
EXPECTED = json.loads((DEFAULT_SOURCE_ROOT / "expected_counts.json").read_text(encoding="utf-8"))
CASES = [(dataset.name, run_date) for dataset in SHIPPED.datasets for run_date in EXPECTED.get(dataset.name, {})]


def test_every_shipped_dataset_has_sample_data_and_counts() -> None:
    assert sorted(dataset.name for dataset in SHIPPED.datasets) == sorted(EXPECTED)
    assert all(EXPECTED[name] for name in EXPECTED)


def back_up(dataset: Dataset, run_date: str, raw_root: Path) -> list[str]:
    """Copy the files the dataset's pattern matches into a raw dt= partition, paths relative to the fixed folder."""
    source_root = SHIPPED.settings.source_root
    folder = source_root / dataset.source_folder(run_date)
    partition = raw_root / dataset.name / f"dt={run_date}"
    names = []
    for path in sorted(source_root.glob(dataset.source_glob(run_date))):
        target = partition / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        names.append(path.name)
    return names


@pytest.mark.parametrize(("dataset_name", "run_date"), CASES, ids=[f"{d}-{r}" for d, r in CASES])
def test_sample_data_cleans_to_the_expected_counts(
    spark: SparkSession, tmp_path: Path, aws: str, dataset_name: str, run_date: str
) -> None:
    dataset = SHIPPED.dataset(dataset_name)
    expected = EXPECTED[dataset_name][run_date]
    assert back_up(dataset, run_date, tmp_path / "raw") == sorted(expected["files"])
    bucket, counts_key = SHIPPED.settings.bucket, f"job-reports/{dataset_name}/dt={run_date}/counts.json"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    args = {
        "JOB_NAME": f"clean-{dataset_name}",
        "dataset": dataset_name,
        "run_date": run_date,
        "raw_path": f"{(tmp_path / 'raw' / dataset_name).as_uri()}/dt={run_date}/",
        "clean_path": f"{(tmp_path / 'clean' / dataset_name).as_uri()}/",
        "rejects_path": f"{(tmp_path / 'rejects' / dataset_name).as_uri()}/",
        "counts_path": f"s3://{bucket}/{counts_key}",
        "clean_database": SHIPPED.settings.clean_database,
        "dataset_config": json.dumps(dataset.job_config()),
    }

    job.run_job(args, spark)

    counts = json.loads(s3.get_object(Bucket=bucket, Key=counts_key)["Body"].read())
    assert {
        "input": counts["input"],
        "exact_duplicates": counts["exact_duplicates"],
        "rejected": counts["rejected"],
        "rejected_by_reason": counts["rejects_by_reason"],
        "duplicate_keys": counts["key_duplicates"],
        "clean": counts["clean"],
    } == {
        "input": expected["rows_in"],
        "exact_duplicates": expected["exact_duplicates"],
        "rejected": expected["rejected"],
        "rejected_by_reason": expected["rejected_by_reason"],
        "duplicate_keys": expected["duplicate_keys"],
        "clean": expected["clean"],
    }
    assert counts["duplicates"] == expected["exact_duplicates"] + expected["duplicate_keys"]
    assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"]
    # Every source field is mapped to a schema column: nothing passes through under a raw name.
    assert counts["columns"] == [column.name for column in dataset.schema]

    # The published partitions hold what the counts say: clean rows with unique keys, and every reject.
    clean = spark.read.parquet(f"{args['clean_path']}dt={run_date}/")
    summary = clean.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct(*dataset.keys).alias("keys")).first()
    assert (summary["rows"], summary["keys"]) == (expected["clean"], expected["clean"])
    rejects_folder = tmp_path / "rejects" / dataset_name / f"dt={run_date}"
    rejects = [json.loads(line) for path in rejects_folder.glob("*.json")
               for line in path.read_text("utf-8").splitlines()]
    assert sorted(r["reject_reason"] for r in rejects) == sorted(
        reason for reason, n in expected["rejected_by_reason"].items() for _ in range(n)
    )
