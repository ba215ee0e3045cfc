"""The shape of the cleaning's Spark plan, which decides its cost (make bench-spark measures it at 1,000,000 rows)."""
from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import types as T

import clean_dataset as job
from clean_dataset import ColumnSpec, DatasetConfig, Locale


def classified_frame(spark: SparkSession, keys: tuple[str, ...]):
    columns = ["codigo", "fecha", "importe"]
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in columns]
        + [T.StructField(job.SOURCE_FILE, T.StringType()), T.StructField(job.ROW_ID, T.LongType())]
    )
    rows = [("A1", "01/11/2026", "1.234,50", "f", 0), ("A1", "02/11/2026", "3,00", "f", 1), ("B2", "x", "1", "f", 2)]
    config = DatasetConfig(
        format="csv",
        keys=keys,
        order_by="fecha" if keys else None,
        schema=(
            ColumnSpec("codigo", "string", nullable=False),
            ColumnSpec("fecha", "date", formats=("dd/MM/yyyy",)),
            ColumnSpec("importe", "decimal(12,2)"),
        ),
        locale=Locale(decimal=",", thousands="."),
    )
    return job.classify_rows(spark.createDataFrame(rows, schema), config)


def test_exact_and_key_deduplication_share_one_shuffle(spark: SparkSession) -> None:
    classified = classified_frame(spark, keys=("codigo",))
    plan = classified._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange hashpartitioning") == 1, plan
    assert sorted(row[job.OUTCOME] for row in classified.collect()) == ["clean", "key_duplicate", "rejected"]


def test_reasons_are_collected_without_higher_order_functions(spark: SparkSession) -> None:
    """A lambda (filter, transform, exists) over every row is interpreted and takes its projection, parsing
    included, out of whole-stage code generation; a dataset without rules must not have one."""
    plan = classified_frame(spark, keys=()).select(job.REASONS)._jdf.queryExecution().optimizedPlan().toString()
    assert "lambdafunction" not in plan, plan
