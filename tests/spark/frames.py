"""Helpers for the transform tests: frames shaped as read_raw gives them, reasons in short, configs."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

import clean_dataset as job
from clean_dataset import DatasetConfig, Locale

COMMA_LOCALE = Locale(decimal=",", thousands=".")


def raw_frame(spark: SparkSession, columns: list[str], rows: list[tuple], files: list[str] | None = None) -> DataFrame:
    """Rows as read_raw gives them: string columns plus the source file and the position in it."""
    files = files or ["file:///raw/a.csv"] * len(rows)
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in columns]
        + [T.StructField(job.SOURCE_FILE, T.StringType()), T.StructField(job.ROW_ID, T.LongType())]
    )
    return spark.createDataFrame([(*row, file, i) for i, (row, file) in enumerate(zip(rows, files))], schema)


def reasons_of(df: DataFrame) -> DataFrame:
    """Typed columns plus the list of reason strings, for compact assertions."""
    reasons = F.transform(F.col(job.REASONS), lambda reason: reason["reason"]).alias("reasons")
    return df.select(*job.data_columns(df), reasons)


def config(**kwargs) -> DatasetConfig:
    return DatasetConfig(format="csv", **kwargs)
