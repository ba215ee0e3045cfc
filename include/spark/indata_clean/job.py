"""The job's arguments and its run: read, classify, check the counts, write, register (see clean_dataset.py)."""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

from indata_clean.accounting import Counts, count_outcomes, delete_counts, text_read_as_null, write_counts
from indata_clean.catalog import catalog_columns, register_table, retyped_columns, write_outputs
from indata_clean.columns import data_columns, name_columns
from indata_clean.reading import configure_session, input_files, read_partition
from indata_clean.transforms import classify_rows_inferring, clean_rows, unexpected_columns
from indata_contract import DEFAULT_NULL_TOKENS, DatasetConfig

JOB_ARGUMENTS = (
    "JOB_NAME",
    "dataset",
    "run_date",
    "raw_path",
    "clean_path",
    "rejects_path",
    "counts_path",
    "clean_database",
    "dataset_config",
)
# Optional: the orchestrator's fingerprint of this run's inputs, stored in counts.json so a rerun of unchanged
# inputs can be skipped. getResolvedOptions has no optional arguments: it is asked for only when given.
OPTIONAL_ARGUMENTS = ("input_fingerprint",)


def run_job(args: Mapping[str, str], spark: SparkSession) -> Counts:
    """Clean ``raw_path`` into the run date's partitions, register the table, write the counts; return the counts.

    Counts are checked before anything is written, so a broken accounting publishes nothing.
    """
    config = DatasetConfig.from_json(args["dataset_config"])
    run_date = args["run_date"]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", run_date):
        raise ValueError(f"run_date must be YYYY-MM-DD, got {run_date!r}")
    datetime.date.fromisoformat(run_date)  # rejects 2026-13-45 with Python's own message
    configure_session(spark)

    raw, dropped = read_partition(spark, config, args["raw_path"])
    catalog = catalog_columns(args)
    unexpected = unexpected_columns(data_columns(name_columns(raw, config)), config, catalog)
    # Counted first: the count is the accounting's input and the stride of inference's sample.
    input_rows = raw.count()
    if input_rows == 0 and config.on_empty == "fail":
        # Files arrived but hold no record (a header alone, 0 bytes): as much an error as files that did not.
        files = ", ".join(input_files(spark, args["raw_path"]))
        raise ValueError(f"{args['dataset']} {run_date}: the files hold no records ({files}); a dataset whose "
                         "days may be empty sets on_empty: skip")
    classified, inferred = classify_rows_inferring(raw, config, catalog, input_rows)
    classified = classified.persist()
    try:
        clean_schema = clean_rows(classified).schema
        # Type conflicts with the table fail the run before anything is written.
        retyped = retyped_columns(clean_schema, catalog, config, f"{args['clean_database']}.{args['dataset']}")
        counts = dataclasses.replace(
            count_outcomes(classified, input_rows, args["dataset"], run_date),
            schema_changes={"added": unexpected if config.schema_evolution == "add" else [],
                            "ignored": unexpected if config.schema_evolution == "ignore" else [],
                            "retyped": retyped},
            skipped_lines=dropped.skipped,
            inference={name: found.to_json() for name, found in inferred.items()},
            # Only under the default tokens: a dataset that lists its own has said what its nulls look like.
            text_read_as_null=text_read_as_null(classified, config.null_tokens)
            if tuple(config.null_tokens) == DEFAULT_NULL_TOKENS else {},
        )
        # The partition is replaced now: its commit marker goes first, so a run that stops half-way leaves no
        # counts.json (and no fingerprint) that would let a rerun skip the partial partition.
        delete_counts(args["counts_path"])
        write_outputs(classified, args)
        register_table(clean_schema, args, catalog)
        write_counts(counts, args["counts_path"], input_fingerprint=args.get("input_fingerprint"))
    finally:
        classified.unpersist()
    print(counts.summary())
    return counts


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """The job arguments from a Glue-style argv (``argv[0]`` is the script)."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(description="Clean one dataset's raw partition for one run date.")
        for name in JOB_ARGUMENTS:
            parser.add_argument(f"--{name}", required=True)
        for name in OPTIONAL_ARGUMENTS:
            parser.add_argument(f"--{name}")
        known, _unknown = parser.parse_known_args(argv[1:])
        return {name: value for name, value in vars(known).items() if value is not None}
    given = [name for name in OPTIONAL_ARGUMENTS if f"--{name}" in argv]
    return getResolvedOptions(list(argv), list(JOB_ARGUMENTS) + given)


def start_session(args: Mapping[str, str]) -> tuple[SparkSession, Any]:
    """A Spark session, plus the Glue ``Job`` (already initialised) when running on Glue, else None."""
    spark = SparkSession.builder.getOrCreate()
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
    except ImportError:
        return spark, None
    try:
        glue_context = GlueContext(spark.sparkContext)
    except (TypeError, Py4JError):
        # The awsglue package from PyPI has no Glue classes in the JVM ("'JavaPackage' object is not callable").
        return spark, None
    job = Job(glue_context)
    job.init(args["JOB_NAME"], dict(args))
    return glue_context.spark_session, job


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv if argv is None else argv)
    spark, job = start_session(args)
    run_job(args, spark)
    if job is not None:
        job.commit()

