"""Glue job: clean one dataset's raw partition for one run date.

This is the job's entry script (its ``script_location``); the job itself is the package ``indata_clean`` next
to it, which the clean task zips and uploads beside this file and passes as ``--extra-py-files``. Neither imports
Airflow or the rest of the repository. The names below are the job's API, for tests and the bench. The packages
(indata_clean and the contract indata_contract) come from the path, as Glue's ``--extra-py-files`` puts them there:
in a checkout, PYTHONPATH lists include/spark and plugins (pytest's settings do, and the bench for its Spark run).

Arguments (Glue style ``--key value``; unknown keys are ignored, ``JOB_RUN_ID`` and Glue's own included):

``--JOB_NAME``        the Glue job name (``job.init``/``job.commit`` on Glue).
``--dataset``         dataset name; also the clean table's name.
``--run_date``        the run date, ``YYYY-MM-DD``; the ``dt`` partition value.
``--raw_path``        raw partition to read, e.g. ``s3://B/raw/ventas/dt=2026-11-01/`` (read recursively).
``--clean_path``      clean table root, e.g. ``s3://B/clean/ventas/``.
``--rejects_path``    rejects root, e.g. ``s3://B/rejects/ventas/``.
``--counts_path``     S3 key for the counts JSON, e.g. ``s3://B/job-reports/ventas/dt=2026-11-01/counts.json``.
``--clean_database``  Glue database of the clean table (created when missing).
``--dataset_config``  JSON: format, reader options, null tokens, keys, order_by, schema (name, source, type,
                      nullable, formats), locale (decimal, thousands, true_values, false_values), time_zone,
                      rules ({column: {required, min, max, allowed, regex}}), schema_evolution (add, ignore,
                      fail), flatten_separator, rounding (reject, half_up); ``DatasetConfig`` in the package
                      indata_contract, the contract plugins/indata_ops/config builds from the YAML.
``--input_fingerprint`` optional: the fingerprint of the run's inputs (plugins/indata_ops/fingerprint.py), stored
                      as is in counts.json; the DAG skips the job on a rerun whose inputs have the same one.

On Glue, the arguments come from ``awsglue.utils.getResolvedOptions`` and the session from a ``GlueContext``,
with ``job.init`` before the work and ``job.commit`` only after it succeeded. Elsewhere (the local stack, tests,
the PyPI awsglue stubs whose GlueContext cannot start) argparse and a plain SparkSession do, and nothing commits.

Reading: every file under ``--raw_path`` (files and folders starting with ``_`` or ``.`` skipped, as Spark
skips them). CSV files are each read with their own header, so files of one day may order, add or lack
columns (a lacking column is NULL); a file whose first record is not text (binary, or bytes the encoding cannot
decode) is not parsed as CSV, each of its lines becomes a ``malformed_record`` reject. JSON files are lines or
one document each (a top-level array or a single object), decided per file (``reader.layout: auto``) or by the
config. Parquet files are read with their schemas merged. Empty files hold no rows. A file that cannot be read
at all (a corrupt Parquet file) fails the job naming it.

Outputs, all replaced as a whole on a rerun of the same date and never touching other dates:

* ``<clean_path>dt=<run_date>/``   clean rows, Parquet (snappy), typed per the schema.
* ``<rejects_path>dt=<run_date>/`` rejected rows, JSON lines: the raw values as read (strings, under the clean
  column names), ``reject_reason`` (the first failed check), ``reject_columns`` (every column that failed) and,
  for records the reader could not parse, ``raw_record``.
* Glue table ``<clean_database>.<dataset>`` (Parquet, partitioned by ``dt``) and its partition ``dt=<run_date>``.
  The table keeps columns of earlier dates that this run lacks; the partition lists this run's columns.
* ``counts_path``, written last (and deleted before the partition is replaced, so a run that stops half-way
  leaves none): ``{"dataset", "run_date", "input", "clean", "rejected", "duplicates", "exact_duplicates",
  "key_duplicates", "rejects_by_reason", "columns", "schema_changes", "rounded", "rounded_by_column",
  "skipped_lines", "inference", "text_read_as_null", "input_fingerprint"}`` with
  ``input == clean + rejected + duplicates`` and ``duplicates == exact_duplicates + key_duplicates``, checked
  before anything is written. ``schema_changes`` lists the columns ``added`` or ``ignored`` under
  schema_evolution and those ``retyped``; ``rounded`` counts the clean rows' values rounded under rounding
  half_up (``rounded_by_column``: per column, columns with none left out). ``inference`` (without a schema):
  per inferred or hinted column ``{"type", "share", "examples", "looks_like"}``, with ``undecided`` and
  ``previous_type`` when they apply (``ColumnInference``).

Every input row is exactly one of clean, rejected or duplicate, decided in this order (the rules of
include/sample_data/README.md):

1. Exact duplicates: rows identical in every column *as read* (before trimming or null tokens) are kept once, the
   first seen (by source file, then position in the file); the copies are ``exact_duplicates``, valid or not.
2. Rejects, with the first failed check as the reason: ``malformed_record`` (the reader could not split the
   record into the header's columns), ``missing:<column>`` (NULL in a non-nullable or key column),
   ``out_of_range:<column>`` (a value beyond what the column's type holds), ``unparseable:<column>`` (a value
   that does not parse as the column's type), ``precision:<column>`` (a value with digits the type would drop),
   then ``rule:<column>:<kind>`` (a configured rule broken: required, range, allowed, regex).
3. Key duplicates: among the rows left, rows sharing the keys keep the latest by ``order_by`` (ties: the later
   row in the export) or else the first seen; the others are ``key_duplicates``.

Naming: a schema column reads the source field its ``source`` names, the CSV header exactly as written or, for
JSON and Parquet, a dotted path into nested objects (``direccion.cp``); a column whose ``source`` is absent (or
equal to its name) reads the field whose normalized name equals its name. Normalized names are unique
snake_case ASCII, nested fields joined with ``flatten_separator`` (``_``). The schema's columns come first, in
schema order. Source fields the schema does not list (without a schema: that the clean table does not have) are
unexpected: ``schema_evolution`` add keeps them under their normalized names, ignore leaves them out of the clean
table (rejects still show them), fail stops the job naming them. Without a schema, string columns are inferred
by a vote over a sample spread over the day (``indata_clean.inference``): bigint, double, boolean, date (in the
shapes found, day/month order by evidence) or timestamp when at least ``inference.min_share`` of the sampled
values parse so, the values that do not then rejected as unparseable; else string (numbers with leading zeros
stay text); the clean table's type first, ``columns`` hints as given. A type that differs from the clean
table's fails the job, naming the column and both types, unless the schema sets it: then the schema wins and the
table is updated.
Timestamps without an offset are read in ``time_zone`` (default UTC) and stored as UTC instants.

Values are trimmed and null tokens become NULL (ignoring case). Numbers take the locale's decimal mark and
optional thousands separator (groups of three digits only) and must otherwise be plain: ``-?\\d+`` for integers,
``-?\\d+(\\.\\d+)?`` for decimals and doubles. Booleans are the locale's ``true_values``/``false_values``
(ignoring case), or a built-in Spanish/English list when the config gives none. A timestamp column without
formats takes ISO values only (a day alone is midnight).

No value is changed silently (Spark 3.5's casts round, truncate, wrap or saturate without a word):
``out_of_range`` for an int/bigint/decimal overflow (a typed long into int would wrap, a double saturate), a
number longer than 400 characters, a double that would be Infinity or 0, a date or timestamp outside years
1-9999; ``precision`` for decimals beyond a decimal column's scale (unless ``rounding`` is half_up: then rounded
half up, as Spark's cast rounds, and counted), a typed fraction into an integer column (as text, ``1.5`` is
no integer: unparseable), sub-microsecond digits, a typed timestamp with a time of day into a date column.
Lossless and accepted: trailing zeros past the scale, a date into a timestamp (midnight UTC), anything into
string. A double is the nearest double to the number written (about 16 significant digits), as its type
promises. A typed number into boolean must be 0 or 1.
"""
from __future__ import annotations

from indata_clean.accounting import Counts, count_outcomes, write_counts
from indata_clean.catalog import (
    PARQUET_INPUT_FORMAT,
    PARQUET_OUTPUT_FORMAT,
    PARQUET_SERDE,
    catalog_columns,
    hive_type,
    register_table,
    retyped_columns,
    write_outputs,
)
from indata_clean.columns import (
    CORRUPT_RECORD,
    OUTCOME,
    REASONS,
    ROUNDED_COLUMNS,
    ROW_ID,
    SOURCE_FILE,
    SOURCE_NAME,
    data_columns,
    name_columns,
    normalize_names,
    spark_type,
)
from indata_clean.inference import ColumnInference, infer_columns, infer_schema, spread_sample
from indata_clean.job import JOB_ARGUMENTS, main, parse_args, run_job, start_session
from indata_clean.parsing import TRIMMED_CHARACTERS, clean_strings, parse_string
from indata_clean.reading import HEAD_BYTES, configure_session, csv_header, json_layout, read_raw
from indata_clean.transforms import (
    SchemaEvolutionError,
    apply_rules,
    apply_schema,
    classify_rows,
    classify_rows_inferring,
    clean_rows,
    reject_rows,
)
from indata_contract import FALSE_TOKENS, TRUE_TOKENS, ColumnRule, ColumnSpec, DatasetConfig, Locale

__all__ = [
    "CORRUPT_RECORD", "FALSE_TOKENS", "HEAD_BYTES", "JOB_ARGUMENTS", "OUTCOME", "PARQUET_INPUT_FORMAT",
    "PARQUET_OUTPUT_FORMAT", "PARQUET_SERDE", "REASONS", "ROUNDED_COLUMNS", "ROW_ID", "SOURCE_FILE", "SOURCE_NAME",
    "TRIMMED_CHARACTERS", "TRUE_TOKENS", "ColumnInference", "ColumnRule", "ColumnSpec", "Counts", "DatasetConfig",
    "Locale", "SchemaEvolutionError", "apply_rules", "apply_schema", "catalog_columns", "classify_rows",
    "classify_rows_inferring", "clean_rows", "clean_strings", "configure_session", "count_outcomes", "csv_header",
    "data_columns", "hive_type", "infer_columns", "infer_schema", "json_layout", "main", "name_columns",
    "normalize_names", "parse_args", "parse_string", "read_raw", "register_table", "reject_rows", "retyped_columns",
    "run_job", "spark_type", "spread_sample", "start_session", "write_counts", "write_outputs",
]

if __name__ == "__main__":
    main()
