"""Glue job: clean one dataset's raw partition for one run date.

Glue uploads only this file, so everything the job needs lives here. It never imports Airflow or the rest of
the repository.

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
                      fail), flatten_separator, rounding (reject, half_up); as ``Dataset.job_config()`` in
                      plugins/indata_ops/config.py.

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
* ``counts_path``: ``{"dataset", "run_date", "input", "clean", "rejected", "duplicates", "exact_duplicates",
  "key_duplicates", "rejects_by_reason", "columns", "schema_changes", "rounded", "rounded_by_column"}`` with
  ``input == clean + rejected + duplicates`` and ``duplicates == exact_duplicates + key_duplicates``, checked
  before anything is written. ``schema_changes`` lists the columns ``added`` or ``ignored`` under
  schema_evolution and those ``retyped``; ``rounded`` counts the clean rows' values rounded under rounding
  half_up (``rounded_by_column``: per column, columns with none left out).

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
conservatively from the first rows (bigint, double, boolean, ISO date, else string; numbers with leading zeros
stay text), trying the clean table's type first. A type that differs from the clean table's fails the job,
naming the column and both types, unless the schema sets it: then the schema wins and the table is updated.
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

import argparse
import codecs
import csv
import dataclasses
import datetime
import functools
import io
import json
import operator
import os
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from py4j.protocol import Py4JError
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

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

# Bookkeeping columns carried through the pipeline. Normalized names never start with "_", so they cannot clash.
ROW_ID = "__row_id"
SOURCE_FILE = "__source_file"
CORRUPT_RECORD = "__corrupt_record"
RAW_VALUES = "__raw"
REASONS = "__reasons"
OUTCOME = "__outcome"
ROUNDED_COLUMNS = "__rounded"  # names of the columns whose value was rounded (rounding: half_up only)
SOURCE_NAME = "source"  # column metadata key: the field's name in the source
INTERNAL_COLUMNS = frozenset({ROW_ID, SOURCE_FILE, CORRUPT_RECORD, RAW_VALUES, REASONS, OUTCOME, ROUNDED_COLUMNS})

CLEAN, REJECTED = "clean", "rejected"
EXACT_DUPLICATE, KEY_DUPLICATE = "exact_duplicate", "key_duplicate"
MALFORMED_RECORD = "malformed_record"
MISSING, UNPARSEABLE = "missing", "unparseable"  # reasons "missing:<column>", "unparseable:<column>"
RULE = "rule"  # reasons "rule:<column>:<kind>", kind one of RULE_KINDS
# A value is never changed silently. "out_of_range:<column>": beyond what the type holds (an integer or decimal
# overflow, a double that would be Infinity or 0, a year outside 1-9999). "precision:<column>": digits the type
# would drop (decimals beyond the scale, a fraction into an integer, sub-microsecond digits, a time of day into
# a date). ROUNDED is no reason: under rounding half_up, decimals beyond the scale are rounded and counted.
OUT_OF_RANGE, PRECISION, ROUNDED = "out_of_range", "precision", "rounded"
ROUNDING = ("reject", "half_up")
RULE_KINDS = ("required", "range", "allowed", "regex")
# What to do with a source column that the schema (or, without one, the clean table) does not have.
SCHEMA_EVOLUTION = ("add", "ignore", "fail")
JSON_LAYOUTS = ("auto", "lines", "array")

# Boolean spellings when the config's locale gives no true_values / false_values.
TRUE_TOKENS = ("sí", "si", "s", "yes", "y", "true", "1", "verdadero")
FALSE_TOKENS = ("no", "n", "false", "0", "falso")
# What trimming strips from both ends of a value: Java's \s (space, \t, \n, \x0B, \f, \r), the
# non-breaking space and the byte order mark.
TRIMMED_CHARACTERS = " \t\n\x0b\x0c\r\u00a0\ufeff"
# Strict ISO day when a date column lists no formats: Spark's plain cast would also accept "2026" or "2026-11".
ISO_DATE_FORMAT = "yyyy-MM-dd"
# Strict ISO timestamp (a day alone is midnight) when a timestamp column lists no formats: Spark's cast also
# takes "2026", "2026-11", a time alone (today's date: not idempotent) and zone names (converted twice).
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?))?)?$"
# A fraction of a second with a non-zero digit past the sixth: Spark keeps microseconds and drops the rest.
SUB_MICROSECOND = r":\d{2}[.,]\d{6}0*[1-9]"
# The years every reader of the clean table takes (Athena, Hive, Python's datetime); Spark also takes 0 and 10000+.
FIRST_DAY, LAST_DAY = "0001-01-01", "9999-12-31"

SIMPLE_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}
DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")
# Conservative inference tries these in order; the first that parses every non-null value wins.
INFERABLE_TYPES = ("bigint", "double", "boolean", "date")
# Longer text is no number of any column type (the largest double has 309 digits).
MAX_NUMBER_LENGTH = 400
# Inference looks at the first rows read, not the whole day: a later value that does not fit is a reject.
INFER_SAMPLE_ROWS = 10_000
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)

# Bytes read from the start of each file to find its CSV header or JSON layout.
HEAD_BYTES = 1 << 20

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------


def spark_type(type_name: str) -> T.DataType:
    """The Spark type for a config type name (string, int, bigint, double, boolean, date, timestamp, decimal(p,s))."""
    if type_name in SIMPLE_TYPES:
        return SIMPLE_TYPES[type_name]
    decimal = DECIMAL_TYPE.fullmatch(type_name)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        if 0 < precision <= 38 and scale <= precision:
            return T.DecimalType(precision, scale)
    raise ValueError(f"Unsupported column type {type_name!r}")


def _is_config_type(type_name: str) -> bool:
    return type_name in SIMPLE_TYPES or DECIMAL_TYPE.fullmatch(type_name) is not None


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the clean schema.

    ``name`` is the clean column's name. ``source`` is the field it is read from when that differs: the CSV header
    exactly as written (``Importe (€)``), or for JSON and Parquet a dotted path (``direccion.cp``). Without it (or
    when it equals ``name``) the column reads the source field whose normalized name is ``name``.
    """

    name: str
    type: str
    nullable: bool = True
    formats: tuple[str, ...] = ()
    source: str | None = None

    @property
    def data_type(self) -> T.DataType:
        return spark_type(self.type)

    @property
    def names_its_source(self) -> bool:
        """True when ``source`` is given and differs from ``name``: then only that field will do."""
        return self.source is not None and self.source != self.name


def _folded(tokens: Sequence[str]) -> tuple[str, ...]:
    """Tokens as values are compared with them: trimmed and lowercased."""
    return tuple(token.strip().lower() for token in tokens)


@dataclass(frozen=True)
class Locale:
    """How text sources write numbers (decimal mark, optional thousands separator) and booleans.

    Boolean tokens match trimmed values ignoring case; they default to common Spanish and English spellings.
    ``time_zone`` is the zone of timestamps written without an offset (a region ID such as Europe/Madrid).
    """

    decimal: str = "."
    thousands: str | None = None
    true_values: tuple[str, ...] = TRUE_TOKENS
    false_values: tuple[str, ...] = FALSE_TOKENS
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if len(self.decimal) != 1 or (self.thousands is not None and len(self.thousands) != 1):
            raise ValueError("locale decimal and thousands must be single characters")
        if self.decimal == self.thousands:
            raise ValueError("locale decimal and thousands separators must differ")
        both = sorted(set(_folded(self.true_values)) & set(_folded(self.false_values)))
        if both:
            raise ValueError(f"locale true_values and false_values share {both}")


@dataclass(frozen=True)
class ColumnRule:
    """Optional checks on one column's typed value; a row failing one is rejected as ``rule:<column>:<kind>``.

    ``required``: not NULL. ``range``: ``min <= value <= max`` (either bound may be absent; numbers, dates,
    timestamps). ``allowed``: one of the listed values. ``regex``: the whole value (as text) matches.
    The checks run only on values that parsed: an unparseable value is already rejected as such.
    """

    column: str
    required: bool = False
    min: Any = None
    max: Any = None
    allowed: tuple[Any, ...] | None = None
    regex: str | None = None

    def __post_init__(self) -> None:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise ValueError(f"rules.{self.column}.regex {self.regex!r} is not a regular expression: {error}")
        if self.allowed is not None and not self.allowed:
            raise ValueError(f"rules.{self.column}.allowed must list at least one value")

    @classmethod
    def from_mapping(cls, column: str, raw: Mapping[str, Any]) -> ColumnRule:
        unknown = sorted(set(raw) - {"required", "min", "max", "allowed", "regex"})
        if unknown:
            raise ValueError(f"rules.{column} has unknown checks {unknown}")
        allowed = raw.get("allowed")
        return cls(
            column=column,
            required=bool(raw.get("required", False)),
            min=raw.get("min"),
            max=raw.get("max"),
            allowed=None if allowed is None else tuple(allowed),
            regex=raw.get("regex"),
        )


@dataclass(frozen=True)
class DatasetConfig:
    """The ``--dataset_config`` JSON, validated."""

    format: str
    reader: Mapping[str, Any] = field(default_factory=dict)
    null_tokens: tuple[str, ...] = ("",)
    keys: tuple[str, ...] = ()
    order_by: str | None = None
    schema: tuple[ColumnSpec, ...] = ()
    locale: Locale = Locale()
    rules: tuple[ColumnRule, ...] = ()
    schema_evolution: str = "add"
    flatten_separator: str = "_"
    # Decimals beyond a decimal column's scale: reject them (precision:<column>) or round them half up.
    rounding: str = "reject"

    def __post_init__(self) -> None:
        # Fail on a bad config before any data is read.
        if self.format not in ("csv", "json", "parquet"):
            raise ValueError(f"dataset_config format must be csv, json or parquet, got {self.format!r}")
        if self.schema_evolution not in SCHEMA_EVOLUTION:
            raise ValueError(
                f"dataset_config schema_evolution must be add, ignore or fail, got {self.schema_evolution!r}"
            )
        if not re.fullmatch(r"[a-z0-9_]{1,8}", self.flatten_separator):
            # Flattened names must stay valid Glue column names.
            raise ValueError(
                f"dataset_config flatten_separator must be 1-8 of a-z, 0-9, _ (got {self.flatten_separator!r})"
            )
        if self.format == "json" and self.reader.get("layout", "auto") not in JSON_LAYOUTS:
            raise ValueError(
                f"dataset_config reader.layout must be auto, lines or array, got {self.reader['layout']!r}"
            )
        if self.rounding not in ROUNDING:
            raise ValueError(f"dataset_config rounding must be reject or half_up, got {self.rounding!r}")
        for column in self.schema:
            spark_type(column.type)
            for fmt in column.formats if column.type == "timestamp" else ():
                # Sub-microsecond digits are found after the seconds; elsewhere Spark would drop them unseen.
                if re.search(r"S{7,}", fmt) and not re.search(r"ss[.,]S{7,}", fmt):
                    raise ValueError(f"dataset_config column {column.name}: format {fmt!r} reads digits past "
                                     "microseconds; they must follow the seconds (ss.SSSSSSSSS)")
        for what, values in (
            ("names", [c.name for c in self.schema]),
            ("sources", [c.source for c in self.schema if c.names_its_source]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"dataset_config schema repeats the column {what} {repeated}")
        if self.schema:
            # Keys must be in the schema so that a NULL key is caught as missing:<key>.
            schema_names = {column.name for column in self.schema}
            unknown = [name for name in (*self.keys, self.order_by) if name is not None and name not in schema_names]
            if unknown:
                raise ValueError(f"keys/order_by {unknown} are not in the dataset_config schema")
            unknown = [rule.column for rule in self.rules if rule.column not in schema_names]
            if unknown:
                raise ValueError(f"rules name columns {unknown} that are not in the dataset_config schema")

    @classmethod
    def from_json(cls, text: str) -> DatasetConfig:
        raw = json.loads(text)
        schema = tuple(
            ColumnSpec(
                name=column["name"],
                type=column["type"],
                nullable=column.get("nullable", True),
                formats=tuple(column.get("formats") or ()),
                source=column.get("source") or None,
            )
            for column in raw.get("schema") or ()
        )
        locale = raw.get("locale") or {}
        # Given token lists define the booleans, even when short; absent (or null) ones keep the defaults.
        tokens = {
            key: tuple(locale[key]) for key in ("true_values", "false_values") if locale.get(key) is not None
        }
        return cls(
            format=raw.get("format"),
            reader=raw.get("reader") or {},
            null_tokens=tuple(raw.get("null_tokens", ("",))),
            keys=tuple(raw.get("keys") or ()),
            order_by=raw.get("order_by"),
            schema=schema,
            # The config model writes "no thousands separator" as "".
            locale=Locale(
                decimal=locale.get("decimal") or ".",
                thousands=locale.get("thousands") or None,
                time_zone=raw.get("time_zone") or "UTC",
                **tokens,
            ),
            rules=tuple(ColumnRule.from_mapping(column, rule) for column, rule in (raw.get("rules") or {}).items()),
            schema_evolution=raw.get("schema_evolution") or "add",
            flatten_separator=raw.get("flatten_separator") or "_",
            rounding=raw.get("rounding") or "reject",
        )


# --------------------------------------------------------------------------------------------------------------
# Pure transforms: DataFrame -> DataFrame
# --------------------------------------------------------------------------------------------------------------


def _quoted(name: str) -> Column:
    """A top-level column by its exact name, even when it holds dots or spaces (raw headers do)."""
    return F.col("`" + name.replace("`", "``") + "`")


def data_columns(df: DataFrame) -> list[str]:
    """The dataset's own columns, without the pipeline's bookkeeping columns."""
    return [name for name in df.columns if name not in INTERNAL_COLUMNS]


def _string_columns(df: DataFrame) -> list[str]:
    return [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType) and f.name not in INTERNAL_COLUMNS]


def _leaves(df: DataFrame) -> list[tuple[tuple[str, ...], Column]]:
    """Every data leaf as (path from the top-level field, column); structs are walked, arrays and maps are leaves."""
    leaves: list[tuple[tuple[str, ...], Column]] = []

    def add(column: Column, path: tuple[str, ...], data_type: T.DataType) -> None:
        if isinstance(data_type, T.StructType):
            for child in data_type.fields:
                # getField takes the name as written: a key holding a dot is not split.
                add(column.getField(child.name), (*path, child.name), child.dataType)
        else:
            leaves.append((path, column))

    for top in df.schema.fields:
        if top.name not in INTERNAL_COLUMNS:
            add(_quoted(top.name), (top.name,), top.dataType)
    return leaves


def to_snake_case(name: str) -> str:
    """ASCII snake_case: accents stripped, camelCase split, runs of other characters turned into one ``_``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    split_camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_name)
    return re.sub(r"[^0-9A-Za-z]+", "_", split_camel).strip("_").lower()


def flat_name(path: Sequence[str], separator: str = "_") -> str:
    """A nested field's name: each level in snake_case, joined by ``separator`` (``cliente.dir`` -> ``cliente_dir``)."""
    return separator.join(part for part in map(to_snake_case, path) if part)


def normalize_names(
    names: Sequence[str | tuple[str, ...]], reserved: Sequence[str] = (), separator: str = "_"
) -> list[str]:
    """Unique snake_case names: a leading digit or an empty name gets a ``col_`` prefix, repeats get ``_2``, ``_3``.

    A name may be a path into nested fields (a tuple), flattened with ``separator``. ``reserved`` names are taken
    already (the schema's): a name that would repeat one gets a suffix too.
    """
    bases = []
    for position, name in enumerate(names, start=1):
        base = to_snake_case(name) if isinstance(name, str) else flat_name(name, separator)
        if not base:
            base = f"col_{position}"
        elif base[0].isdigit():
            base = f"col_{base}"
        bases.append(base)

    taken: set[str] = set(reserved)
    unique = []
    for base in bases:
        candidate, suffix = base, 2
        # A suffixed name must not steal a name that another column has in its own right.
        while candidate in taken or (candidate != base and candidate in bases):
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _header_key(name: str) -> str:
    """A header as written, forgiving only what cannot be seen: Unicode composition, edge spaces and a BOM."""
    return unicodedata.normalize("NFC", name).strip().strip("\ufeff").strip()


def _source_leaf(
    spec: ColumnSpec, paths: Sequence[tuple[str, ...]], normalized: Sequence[str], nested: bool
) -> int | None:
    """The index in ``paths`` of the field ``spec`` reads, or None.

    A field named exactly ``source`` wins over a dotted path (JSON keys and Parquet names may hold dots); headers
    that differ only invisibly (NFC vs NFD accents, edge spaces, a BOM) still match when only one does.
    """
    source = spec.source or spec.name
    wanted = [(source,)]
    if nested and "." in source:
        wanted.append(tuple(source.split(".")))
    for path in wanted:
        if path in paths:
            return paths.index(path)
    loose_wanted = {tuple(map(_header_key, path)) for path in wanted}
    loose = [i for i, path in enumerate(paths) if tuple(map(_header_key, path)) in loose_wanted]
    if len(loose) == 1:
        return loose[0]
    if not spec.names_its_source and spec.name in normalized:
        return list(normalized).index(spec.name)
    return None


def name_columns(df: DataFrame, config: DatasetConfig) -> DataFrame:
    """Flatten the raw columns and name them: each schema column reads its ``source``, the rest are normalized.

    Output: the data leaves in source order (schema columns under their ``name``, others under unique snake_case
    names that never take a schema name), then the bookkeeping columns. Raises when a schema column's source is
    not in the data, naming what the data holds.
    """
    leaves = _leaves(df)
    internal = [_quoted(name) for name in df.columns if name in INTERNAL_COLUMNS]
    if not leaves:
        # Every file was empty: there are no rows, and the schema's columns are all there is to name.
        return df.select(*[F.lit(None).cast("string").alias(spec.name) for spec in config.schema], *internal)
    paths = [path for path, _ in leaves]
    separator = config.flatten_separator
    normalized = normalize_names(paths, separator=separator)
    nested = config.format != "csv"  # a CSV header is one name, dots and all

    claimed: dict[int, str] = {}
    not_found: list[str] = []
    for spec in config.schema:
        index = _source_leaf(spec, paths, normalized, nested)
        if index is None:
            not_found.append(f"{spec.name} (source {spec.source or spec.name!r})")
        elif index in claimed:
            raise ValueError(
                f"Schema columns {claimed[index]!r} and {spec.name!r} both read the field {'.'.join(paths[index])!r}"
            )
        else:
            claimed[index] = spec.name
    if not_found:
        found = ", ".join(repr(".".join(path)) for path in paths)
        raise ValueError(f"Schema columns not found in the data: {', '.join(not_found)}; the data has {found}")

    others = [i for i in range(len(leaves)) if i not in claimed]
    other_names = normalize_names([paths[i] for i in others], [s.name for s in config.schema], separator)
    names = {**claimed, **dict(zip(others, other_names))}
    # The field as the source names it travels in the column's metadata, for messages about unexpected columns.
    return df.select(
        *[column.alias(names[i], metadata={SOURCE_NAME: ".".join(paths[i])}) for i, (_, column) in enumerate(leaves)],
        *internal,
    )


def capture_raw_values(df: DataFrame) -> DataFrame:
    """Keep every column's value as read, as a string, in a struct: rejects show exactly what the source held."""
    names = data_columns(df)
    raw = F.struct(*[F.col(name).cast("string").alias(name) for name in names])
    return df.select(*df.columns, raw.alias(RAW_VALUES))


def clean_strings(df: DataFrame, null_tokens: Sequence[str]) -> DataFrame:
    """Trim string columns and turn null tokens (compared case-insensitively, after trimming) into NULL."""
    tokens = [token.strip().lower() for token in null_tokens]
    string_columns = set(_string_columns(df))

    def cleaned(name: str) -> Column:
        # F.trim only strips spaces; exports also carry tabs, carriage returns, non-breaking spaces and BOMs.
        # btrim takes a set of characters: a third of the CPU of the equivalent regexp_replace.
        trimmed = F.btrim(F.col(name), F.lit(TRIMMED_CHARACTERS))
        is_null_token = F.lower(trimmed).isin(tokens)
        return F.when(is_null_token, F.lit(None).cast("string")).otherwise(trimmed).alias(name)

    return df.select(
        *[cleaned(name) if name in string_columns else F.col(name) for name in df.columns]
    )


def _number_patterns(locale: Locale) -> tuple[str, str]:
    """Regexes for an integer and a decimal number as written in the locale.

    Once the locale's marks are read, a number must be plain: ``-?\\d+`` or ``-?\\d+(\\.\\d+)?`` (no ``+``, no
    exponent, digits on both sides of the mark), as include/sample_data/README.md has it. Stricter than simply
    dropping the thousands separator: it must separate groups of three digits, so that in a "1.234,56" locale
    "1234.56" is rejected rather than read as 123456.
    """
    digits = r"\d+"
    if locale.thousands is not None:
        digits = rf"(?:\d{{1,3}}(?:{re.escape(locale.thousands)}\d{{3}})+|\d+)"
    integer = rf"-?{digits}"
    decimal = rf"-?{digits}(?:{re.escape(locale.decimal)}\d+)?"
    return integer, decimal


def _delocalized(value: Column, locale: Locale) -> Column:
    """The number with thousands separators removed and a ``.`` decimal mark, ready for Spark's cast."""
    if locale.thousands is not None:
        value = F.translate(value, locale.thousands, "")
    return F.translate(value, locale.decimal, ".")


def _number_shape(value: Column, spec: ColumnSpec, locale: Locale) -> Column | None:
    """True when the text is a number as the locale writes it, for a number column; None for other types."""
    integer_pattern, decimal_pattern = _number_patterns(locale)
    if spec.type in ("int", "bigint"):
        return value.rlike(f"^{integer_pattern}$")
    if spec.type == "double" or spec.type.startswith("decimal"):
        return value.rlike(f"^{decimal_pattern}$")
    return None


def parse_string(value: Column, spec: ColumnSpec, locale: Locale) -> Column:
    """Parse a trimmed string as ``spec.type``; NULL when the value does not parse (a try-cast).

    Spark 3.5's non-ANSI cast is too lenient for a gate ("12.5" -> 12 as int, "1d" -> 1.0 as double), so numbers
    must first match the locale's pattern; the cast then only yields NULL on overflow (which ``value_change``
    tells apart). What the cast would change without a NULL is ``value_change``'s business too.
    """
    looks_valid = _number_shape(value, spec, locale)
    if looks_valid is not None:
        # Java parses a long digit string in quadratic time (a 1 MiB value: minutes); none this long fits a type.
        is_short = F.length(value) <= MAX_NUMBER_LENGTH
        return F.when(looks_valid & is_short, _delocalized(value, locale).cast(spec.data_type))
    if spec.type == "boolean":
        lowered = F.lower(value)
        is_true = lowered.isin(list(_folded(locale.true_values)))
        is_false = lowered.isin(list(_folded(locale.false_values)))
        return F.when(is_true, True).when(is_false, False)
    if spec.type == "date":
        # With timeParserPolicy=CORRECTED a value that does not match a format is NULL, so the first match wins.
        return F.coalesce(*[F.to_date(value, fmt) for fmt in spec.formats or (ISO_DATE_FORMAT,)])
    if spec.type == "timestamp":
        return _parse_timestamp(value, spec.formats, locale.time_zone)
    return value.cast(spec.data_type)


def _names_a_zone(pattern: str) -> bool:
    """True when a datetime pattern reads an offset or zone (X, x, Z, z, O, V outside quoted literals)."""
    return re.search(r"[XxZzOV]", re.sub(r"'[^']*'", "", pattern)) is not None


def _parse_timestamp(value: Column, formats: Sequence[str], time_zone: str) -> Column:
    """A timestamp written in ``time_zone`` unless the value carries its own offset; the session reads UTC."""

    def from_local(timestamp: Column) -> Column:
        return timestamp if time_zone == "UTC" else F.to_utc_timestamp(timestamp, time_zone)

    if not formats:
        # Spark's cast takes ISO values with or without an offset ("...T10:00:00+01:00", "...10:00:00Z").
        has_offset = value.rlike(r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$")
        cast = F.when(value.rlike(ISO_TIMESTAMP), value.cast(T.TimestampType()))
        return F.when(has_offset, cast).otherwise(from_local(cast))
    parsed = [F.to_timestamp(value, fmt) for fmt in formats]
    return F.coalesce(*[p if _names_a_zone(fmt) else from_local(p) for p, fmt in zip(parsed, formats)])


def _out_of_years(value: Column, data_type: T.DataType) -> Column | None:
    """True for a date or timestamp outside years 1-9999 (UTC); None for other types."""
    if not isinstance(data_type, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return None
    # A timestamp compares with a date as with its midnight; the literals are folded into constants.
    first_day = F.lit(FIRST_DAY).cast(T.DateType())
    day_after_last = F.date_add(F.lit(LAST_DAY).cast(T.DateType()), 1)
    return (value < first_day) | (value >= day_after_last)


def _change(rules: Sequence[tuple[Column | None, str]]) -> Column | None:
    """The first kind of change whose condition holds (NULL: none); None when no condition applies."""
    rules = [(condition, kind) for condition, kind in rules if condition is not None]
    if not rules:
        return None
    change = F.when(rules[0][0], F.lit(rules[0][1]))
    for condition, kind in rules[1:]:
        change = change.when(condition, F.lit(kind))
    return change


def text_change(value: Column, parsed: Column, spec: ColumnSpec, locale: Locale, rounding: str) -> Column | None:
    """How parsing the text ``value`` into ``parsed`` would change it: ``out_of_range``, ``precision``,
    ``rounded`` (decimals beyond the scale under rounding half_up) or NULL; None when the type cannot change it.

    Only cheap checks run on every value: the conditions are tried in order and mostly fail at their first test.
    """
    data_type = spec.data_type
    looks_valid = _number_shape(value, spec, locale)
    # A number as the locale writes it that the cast turned into NULL overflowed the type (or was too long).
    overflow = parsed.isNull() & looks_valid if looks_valid is not None else None
    if isinstance(data_type, T.DecimalType):
        mark = F.instr(value, locale.decimal)
        beyond_scale = (mark > 0) & (F.length(value) - mark > data_type.scale) & value.rlike(
            f"{re.escape(locale.decimal)}\\d{{{data_type.scale}}}0*[1-9]")
        return _change([(overflow, OUT_OF_RANGE), (beyond_scale, ROUNDED if rounding == "half_up" else PRECISION)])
    if isinstance(data_type, T.DoubleType):
        # Beyond +-1.8e308 the cast gives Infinity; below 4.9e-324 a number that is not zero gives 0.
        zero_written_otherwise = F.translate(value, f"-0{locale.decimal}{locale.thousands or ''}", "") != ""
        lost = (F.abs(parsed) == float("inf")) | ((parsed == 0) & zero_written_otherwise)
        return _change([(overflow, OUT_OF_RANGE), (lost, OUT_OF_RANGE)])
    if isinstance(data_type, T.TimestampType):
        sub_microsecond = None
        if not spec.formats or any(re.search(r"S{7,}", fmt) for fmt in spec.formats):
            sub_microsecond = parsed.isNotNull() & value.rlike(SUB_MICROSECOND)
        return _change([(_out_of_years(parsed, data_type), OUT_OF_RANGE), (sub_microsecond, PRECISION)])
    return _change([(overflow, OUT_OF_RANGE), (_out_of_years(parsed, data_type), OUT_OF_RANGE)])


def cast_change(
    source: Column, source_type: T.DataType, cast: Column, data_type: T.DataType, rounding: str
) -> Column | None:
    """How Spark's cast of a typed (Parquet) value would change it, as ``text_change`` says; None when it cannot.

    Lossless and not checked: anything into string, a date into a timestamp (midnight UTC), a number into double
    (the nearest double, as parsing text gives). Otherwise the cast must come back to the source value: an
    integer overflow wraps and a double into an integer saturates or truncates without a NULL.
    """
    if isinstance(data_type, (T.StringType, T.DoubleType)):
        return None
    overflow = source.isNotNull() & cast.isNull()
    if isinstance(data_type, (T.IntegerType, T.LongType)) and isinstance(source_type, NUMERIC_TYPES):
        limit = 1 << (31 if isinstance(data_type, T.IntegerType) else 63)
        # Bounds of the source's own kind: a double compared with a bigint literal would round the bound. NaN is
        # greater than any number in Spark, so it is out of range too.
        low, high = (float(-limit), float(limit)) if isinstance(source_type, (T.FloatType, T.DoubleType)) else (
            Decimal(-limit), Decimal(limit))
        overflow = (source < F.lit(low)) | (source >= F.lit(high))
    changed = cast.cast(source_type) != source
    lost = ROUNDED if isinstance(data_type, T.DecimalType) and rounding == "half_up" else PRECISION
    return _change([(overflow, OUT_OF_RANGE), (_out_of_years(cast, data_type), OUT_OF_RANGE), (changed, lost)])


def _typed_value(df: DataFrame, spec: ColumnSpec, locale: Locale) -> Column:
    source_type = df.schema[spec.name].dataType
    column = F.col(spec.name)
    if source_type == spec.data_type:
        return column
    if isinstance(source_type, T.StringType):
        return parse_string(column, spec, locale)
    if isinstance(spec.data_type, T.BooleanType) and isinstance(source_type, NUMERIC_TYPES):
        # Spark makes any non-zero number true; only 1 and 0 are booleans, anything else is unparseable.
        return F.when(column.isin(0, 1), column.cast(T.BooleanType()))
    # Typed sources (Parquet): Spark's cast gives NULL where it cannot convert, which is caught as unparseable.
    return column.cast(spec.data_type)


def value_change(
    source_type: T.DataType, spec: ColumnSpec, locale: Locale, rounding: str, source: Column, typed: Column
) -> Column | None:
    """How ``_typed_value`` changed ``source`` into ``typed`` (``text_change``, ``cast_change``); None when the
    column's value cannot change."""
    if source_type == spec.data_type:
        return _change([(_out_of_years(typed, source_type), OUT_OF_RANGE)])
    if isinstance(source_type, T.StringType):
        return text_change(source, typed, spec, locale, rounding)
    if isinstance(spec.data_type, T.BooleanType) and isinstance(source_type, NUMERIC_TYPES):
        return None
    return cast_change(source, source_type, typed, spec.data_type, rounding)


REASON_TYPE = T.StructType([T.StructField("reason", T.StringType(), False), T.StructField("column", T.StringType())])


def _reason(reason: str, column: str | None) -> Column:
    return F.struct(F.lit(reason).alias("reason"), F.lit(column).cast("string").alias("column"))


def apply_schema(df: DataFrame, schema: Sequence[ColumnSpec], locale: Locale, rounding: str = "reject") -> DataFrame:
    """Cast the schema's columns and record why a row cannot be kept.

    Output: the schema's columns (typed, in schema order), then the source's other columns unchanged, the
    bookkeeping columns, and ``__reasons``: an array of ``{reason, column}``, empty for a good row. With
    ``rounding`` half_up, also ``__rounded``: the names of the decimal columns whose value was rounded.
    """
    names = data_columns(df)
    missing = [spec.name for spec in schema if spec.name not in names]
    if missing:
        raise ValueError(f"Columns {missing} of the schema are not in the data; found {names}")

    schema_names = {spec.name for spec in schema}
    others = [F.col(name) for name in df.columns if name not in schema_names]
    # Parse in one projection, tell how parsing changed each value in the next (from the value as read, kept as
    # ``__input_<i>``, and the parsed one), and judge in the last: each value is parsed once and each change
    # computed once, not again for every reason that reads it (Spark does not share a subexpression that only a
    # CASE branch evaluates). ``__has_value_<i>``: the value was not NULL before parsing.
    has_value = {spec.name: f"__has_value_{position}" for position, spec in enumerate(schema)}
    inputs = {spec.name: f"__input_{position}" for position, spec in enumerate(schema)}
    change_names = {spec.name: f"__change_{position}" for position, spec in enumerate(schema)}
    changes = {
        spec.name: value_change(df.schema[spec.name].dataType, spec, locale, rounding, F.col(inputs[spec.name]),
                                F.col(spec.name))
        for spec in schema
    }
    changes = {name: change for name, change in changes.items() if change is not None}
    parsed = df.select(
        *[_typed_value(df, spec, locale).alias(spec.name) for spec in schema],
        *others,
        *[F.col(spec.name).isNotNull().alias(has_value[spec.name]) for spec in schema],
        *[F.col(name).alias(inputs[name]) for name in changes],
    ).select(
        *[F.col(spec.name) for spec in schema],
        *others,
        *[F.col(has_value[spec.name]) for spec in schema],
        *[change.alias(change_names[name]) for name, change in changes.items()],
    )
    change = {name: change_names[name] for name in changes}

    reasons = []
    if CORRUPT_RECORD in df.columns:
        is_malformed = F.col(CORRUPT_RECORD).isNotNull()
        reasons.append(F.when(is_malformed, _reason(MALFORMED_RECORD, None)))
    for spec in schema:
        is_missing_required = ~F.col(has_value[spec.name]) & F.lit(not spec.nullable)
        is_unparseable = F.col(has_value[spec.name]) & F.col(spec.name).isNull()
        reason = F.when(is_missing_required, _reason(f"{MISSING}:{spec.name}", spec.name))
        if spec.name in change:
            # Before unparseable: an overflow is a NULL cast too.
            reason = reason.when(F.col(change[spec.name]) == OUT_OF_RANGE,
                                 _reason(f"{OUT_OF_RANGE}:{spec.name}", spec.name))
        reason = reason.when(is_unparseable, _reason(f"{UNPARSEABLE}:{spec.name}", spec.name))
        if spec.name in change:
            reason = reason.when(F.col(change[spec.name]) == PRECISION, _reason(f"{PRECISION}:{spec.name}", spec.name))
        reasons.append(reason)
    rounded = []
    if rounding == "half_up":
        rounded_names = [F.when(F.col(change[spec.name]) == ROUNDED, F.lit(spec.name)) for spec in schema
                         if spec.name in change and isinstance(spec.data_type, T.DecimalType)]
        rounded = [_present(rounded_names, T.StringType()).alias(ROUNDED_COLUMNS)]
    return parsed.select(*[F.col(spec.name) for spec in schema], *others, _present(reasons).alias(REASONS), *rounded)


def _present(values: Sequence[Column], element_type: T.DataType = REASON_TYPE) -> Column:
    """The non-NULL ``values``, in order, as an array.

    Not ``F.filter``: a higher-order function is interpreted and takes the projection holding it out of
    whole-stage code generation; ``concat`` of zero- or one-element arrays is compiled.
    """
    none = F.array().cast(T.ArrayType(element_type))
    if not values:
        return none
    return F.concat(*[F.when(value.isNotNull(), F.array(value)).otherwise(none) for value in values])


def _candidate_types(known: str | None) -> tuple[str, ...]:
    """Types to try for a text column, the clean table's type (if any) first; none for a table string."""
    if known == "string":
        return ()
    if known is not None and _is_config_type(known):
        return (known, *[t for t in INFERABLE_TYPES if t != known])
    return INFERABLE_TYPES


def infer_schema(
    df: DataFrame,
    locale: Locale,
    keys: Sequence[str] = (),
    known_types: Mapping[str, str] | None = None,
    sample_rows: int = INFER_SAMPLE_ROWS,
) -> list[ColumnSpec]:
    """Conservative inference for a dataset without a configured schema: one aggregation over the first
    ``sample_rows`` rows read.

    A string column becomes bigint, double, boolean or date (ISO) only when every sampled non-null value parses as
    that type and, for numbers, none has a leading zero ("007", "08001" are codes, not quantities); otherwise, and
    when it holds no values, it stays string. ``known_types`` (the clean table's columns, when it exists) are
    tried first: a column keeps its table type when the sample parses as it or holds no values, so a day of NULLs
    or of round numbers does not change the table. Typed columns (Parquet) keep their type. Key columns are
    required. Columns of other types (float, arrays, maps) get no spec and pass through unchanged.
    """
    known_types = known_types or {}
    string_columns = _string_columns(df)
    candidates = {name: _candidate_types(known_types.get(name)) for name in string_columns}
    aggregates = []
    for name in string_columns:
        value = F.col(name)
        for type_name in candidates[name]:
            parsed = parse_string(value, ColumnSpec(name, type_name), locale)
            aggregates.append(F.count_if(value.isNotNull() & parsed.isNull()).alias(f"{name}:{type_name}"))
        aggregates.append(F.count(value).alias(f"{name}:values"))
        aggregates.append(F.count_if(value.rlike(r"^-?0\d")).alias(f"{name}:leading_zeros"))
    counts = df.limit(sample_rows).agg(*aggregates).first().asDict() if aggregates else {}

    def inferred(name: str) -> str:
        known = known_types.get(name)
        if counts[f"{name}:values"] == 0:
            return known if known in candidates[name] else "string"
        for type_name in candidates[name]:
            looks_like_a_code = type_name in ("bigint", "double") and counts[f"{name}:leading_zeros"] > 0
            if counts[f"{name}:{type_name}"] == 0 and (type_name == known or not looks_like_a_code):
                return type_name
        return "string"

    specs = []
    for f in df.schema.fields:
        if f.name in string_columns:
            specs.append(ColumnSpec(f.name, inferred(f.name), nullable=f.name not in keys))
        elif f.name not in INTERNAL_COLUMNS and _is_config_type(f.dataType.simpleString()):
            specs.append(ColumnSpec(f.name, f.dataType.simpleString(), nullable=f.name not in keys))
    return specs


def _rule_literal(value: Any, data_type: T.DataType, where: str, time_zone: str = "UTC") -> Column:
    """A rule's bound or allowed value as a literal of the column's type (a timestamp in ``time_zone``, as the
    data's are read); raise when it cannot be one."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        # The cast below must not change the value either: a bound that overflowed would never fire, and one
        # rounded to the column's scale would move.
        if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
            bits = {T.ByteType: 8, T.ShortType: 16, T.IntegerType: 32, T.LongType: 64}[type(data_type)]
            if not -(1 << bits - 1) <= int(text) < 1 << bits - 1:
                raise ValueError(text)
        elif isinstance(data_type, T.DecimalType):
            number = Decimal(text)
            if number != number.quantize(Decimal(1).scaleb(-data_type.scale)) or \
                    abs(number) >= 10 ** (data_type.precision - data_type.scale):
                raise ValueError(text)
        elif isinstance(data_type, NUMERIC_TYPES):
            if not Decimal(text).is_finite() or abs(float(text)) == float("inf"):
                raise ValueError(text)
        elif isinstance(data_type, T.DateType):
            datetime.date.fromisoformat(text)
        elif isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
            datetime.datetime.fromisoformat(text)
        elif isinstance(data_type, T.BooleanType) and text not in ("true", "false"):
            raise ValueError(text)
    except (ValueError, ArithmeticError):
        raise ValueError(f"{where}: {value!r} is not a {data_type.simpleString()} value") from None
    literal = F.lit(text).cast(data_type)
    if isinstance(data_type, T.TimestampType) and time_zone != "UTC":
        return F.to_utc_timestamp(literal, time_zone)
    return literal


def apply_rules(df: DataFrame, rules: Sequence[ColumnRule], time_zone: str = "UTC") -> DataFrame:
    """Add a ``rule:<column>:<kind>`` reason to ``__reasons`` for every rule a row's typed value breaks.

    A column that already failed (missing or unparseable) is not checked again. Raises, before reading any
    data, when a rule names a column the data does not have or does not fit the column's type.
    """
    names = data_columns(df)
    reasons = []
    for rule in rules:
        if rule.column not in names:
            raise ValueError(f"rules: column {rule.column!r} is not in the data; found {names}")
        data_type = df.schema[rule.column].dataType
        value = F.col(rule.column)
        checks: list[tuple[str, Column]] = []
        if rule.required:
            checks.append(("required", value.isNull()))
        if rule.min is not None or rule.max is not None:
            if not isinstance(data_type, (*NUMERIC_TYPES, T.DateType, T.TimestampType, T.TimestampNTZType)):
                raise ValueError(f"rules.{rule.column}: min/max need a number, date or timestamp column, "
                                 f"not {data_type.simpleString()}")
            bounds = []
            if rule.min is not None:
                bounds.append(value < _rule_literal(rule.min, data_type, f"rules.{rule.column}.min", time_zone))
            if rule.max is not None:
                bounds.append(value > _rule_literal(rule.max, data_type, f"rules.{rule.column}.max", time_zone))
            checks.append(("range", functools.reduce(operator.or_, bounds)))
        if rule.allowed is not None:
            allowed = [_rule_literal(v, data_type, f"rules.{rule.column}.allowed", time_zone) for v in rule.allowed]
            checks.append(("allowed", ~value.isin(allowed)))
        if rule.regex is not None:
            checks.append(("regex", ~value.cast("string").rlike(f"^(?:{rule.regex})$")))
        column = rule.column  # the lambda runs now, while building the expression
        already_failed = F.exists(F.col(REASONS), lambda reason: reason["column"] == F.lit(column))
        for kind, is_broken in checks:
            # Comparisons with NULL are NULL: only "required" fires on a NULL value.
            fails = ~already_failed & F.coalesce(is_broken, F.lit(False))
            reasons.append(F.when(fails, _reason(f"{RULE}:{rule.column}:{kind}", rule.column)))
    if not reasons:
        return df
    found = F.filter(F.array(*reasons), lambda reason: reason.isNotNull())
    return df.select(*[name for name in df.columns if name != REASONS], F.concat(F.col(REASONS), found).alias(REASONS))


def unexpected_columns(columns: Sequence[str], config: DatasetConfig, catalog: Mapping[str, str] | None) -> list[str]:
    """Source columns that the schema does not list or, without a schema, that the clean table does not have
    (none on the first run, when there is no table yet)."""
    if config.schema:
        expected = {spec.name for spec in config.schema}
    elif catalog is not None:
        expected = set(catalog)
    else:
        return []
    return [name for name in columns if name not in expected]


def mark_outcomes(df: DataFrame, keys: Sequence[str], order_by: str | None) -> DataFrame:
    """Add ``__outcome``: exact_duplicate, rejected (any reason), key_duplicate or clean, decided in that order.

    Exact duplicates are rows equal in every column as read (``__raw``, and ``__corrupt_record`` so that two
    different unparseable records are not taken for copies), whether valid or not; the first seen is kept. Among
    the kept rows without reasons, rows sharing the keys keep the latest by ``order_by`` (ties and NULLs: the later
    row in the export wins) or, without ``order_by``, the first seen. "Seen" is source file, then position.
    """
    names = data_columns(df)
    missing = [name for name in (*keys, *([order_by] if order_by else [])) if name not in names]
    if missing:
        raise ValueError(f"keys/order_by columns {missing} are not in the data; found {names}")

    first_seen = [F.col(SOURCE_FILE).asc(), F.col(ROW_ID).asc()]
    last_seen = [F.col(SOURCE_FILE).desc(), F.col(ROW_ID).desc()]

    # Without __raw (a frame that skipped capture_raw_values) the columns themselves are what was read.
    as_read = [RAW_VALUES] if RAW_VALUES in df.columns else names
    as_read += [CORRUPT_RECORD] if CORRUPT_RECORD in df.columns else []
    exact_rank = "__exact_rank"
    # One shuffle for both windows: rows hashed by the keys already meet each window's partitioning. The keys are
    # computed from the values as read, so adding them to the exact window's partition splits no group of copies.
    by_keys = [F.col(k) for k in keys]
    exact_window = Window.partitionBy(*by_keys, *[F.col(name) for name in as_read]).orderBy(*first_seen)
    ranked = (df.repartition(*by_keys) if keys else df).select(
        *df.columns, F.row_number().over(exact_window).alias(exact_rank)
    )
    is_exact_duplicate = F.col(exact_rank) > 1
    is_rejected = F.size(REASONS) > 0
    is_set_aside = is_exact_duplicate | is_rejected

    if keys:
        key_order = [F.col(order_by).desc_nulls_last(), *last_seen] if order_by else first_seen
        key_window = Window.partitionBy(is_set_aside, *by_keys).orderBy(*key_order)
        is_key_duplicate = ~is_set_aside & (F.row_number().over(key_window) > 1)
    else:
        is_key_duplicate = F.lit(False)

    outcome = (
        F.when(is_exact_duplicate, F.lit(EXACT_DUPLICATE))
        .when(is_rejected, F.lit(REJECTED))
        .when(is_key_duplicate, F.lit(KEY_DUPLICATE))
        .otherwise(F.lit(CLEAN))
    )
    return ranked.select(*df.columns, outcome.alias(OUTCOME))


class SchemaEvolutionError(ValueError):
    """The data has columns that the dataset's schema_evolution policy (fail) does not accept."""


def classify_rows(df: DataFrame, config: DatasetConfig, catalog: Mapping[str, str] | None = None) -> DataFrame:
    """The whole cleaning: raw rows as read (with ``__row_id``/``__source_file``) -> every row with its outcome.

    ``catalog`` is the clean table's columns and types when the table exists: without a schema it decides which
    columns are unexpected and is the first guess of inference. Unexpected columns follow
    ``config.schema_evolution``: kept (add), dropped from the clean columns but kept in the rejects' raw values
    (ignore), or a SchemaEvolutionError naming them (fail). Not strictly pure when the schema is inferred:
    inference runs one aggregation over the first rows.
    """
    named = name_columns(df, config)
    unexpected = unexpected_columns(data_columns(named), config, catalog)
    if unexpected and config.schema_evolution == "fail":
        fields = ", ".join(f"{named.schema[name].metadata.get(SOURCE_NAME, name)!r} (as {name})" for name in unexpected)
        against = "schema" if config.schema else "clean table"
        raise SchemaEvolutionError(
            f"Columns not in the dataset's {against}: {fields}; schema_evolution is fail: add them to the schema "
            "or set schema_evolution to add or ignore"
        )
    captured = capture_raw_values(named)
    if unexpected and config.schema_evolution == "ignore":
        captured = captured.drop(*unexpected)
    cleaned = clean_strings(captured, config.null_tokens)
    if config.schema:
        # Keys are required even when the schema forgot to say so.
        schema = [
            dataclasses.replace(spec, nullable=spec.nullable and spec.name not in config.keys)
            for spec in config.schema
        ]
    else:
        schema = infer_schema(cleaned, config.locale, config.keys, known_types=catalog)
    typed = apply_schema(cleaned, schema, config.locale, config.rounding)
    typed = apply_rules(typed, config.rules, config.locale.time_zone)
    return mark_outcomes(typed, config.keys, config.order_by)


def clean_rows(classified: DataFrame) -> DataFrame:
    """The rows to publish, with the clean table's columns only."""
    is_clean = F.col(OUTCOME) == CLEAN
    return classified.where(is_clean).select(*data_columns(classified))


def reject_rows(classified: DataFrame) -> DataFrame:
    """Rejected rows: raw values as read, the first reason, every failed column and, if any, the unparsed record."""
    is_rejected = F.col(OUTCOME) == REJECTED
    failed_columns = F.array_distinct(
        F.filter(F.transform(F.col(REASONS), lambda reason: reason["column"]), lambda c: c.isNotNull())
    )
    raw_record = [F.col(CORRUPT_RECORD).alias("raw_record")] if CORRUPT_RECORD in classified.columns else []
    return classified.where(is_rejected).select(
        f"{RAW_VALUES}.*",
        F.element_at(F.col(REASONS), 1)["reason"].alias("reject_reason"),
        failed_columns.alias("reject_columns"),
        *raw_record,
    )


# --------------------------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------------------------------


def configure_session(spark: SparkSession) -> None:
    """Session settings the cleaning and the writes rely on."""
    # A date that does not match a format must give NULL (next format, or unparseable), not a SparkUpgradeException.
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    # Timestamps without a zone are read as UTC, whatever the host's zone.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # Dates before 1582-10-15 and timestamps before 1900 are written as they are (proleptic Gregorian, as Athena
    # reads them). Spark's default fails the write on them; LEGACY would shift them to the Julian calendar.
    for mode in ("datetimeRebaseModeInWrite", "int96RebaseModeInWrite"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")
    # No _SUCCESS objects in the partitions: the backup manifest is the commit marker, not Hadoop's.
    spark.conf.set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")


def partition_path(root: str, run_date: str) -> str:
    return f"{root.rstrip('/')}/dt={run_date}/"


def _is_hidden(relative_path: str) -> bool:
    """Spark skips files and folders whose names start with ``_`` or ``.`` (``_SUCCESS``, ``.crc``, staging)."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/"))


def input_files(spark: SparkSession, path: str) -> list[str]:
    """The data files under ``path``, recursively, sorted; raise unless there is at least one.

    Spark's own errors for these cases do not always name the path ("Unable to infer schema for CSV").
    """
    # Spark has no public Python API to list files; the Hadoop FileSystem sees the same paths Spark reads.
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        raise FileNotFoundError(f"Raw path {path} does not exist")
    root = fs.makeQualified(hadoop_path).toString().rstrip("/") + "/"
    files = []
    listing = fs.listFiles(hadoop_path, True)
    while listing.hasNext():
        file = listing.next().getPath().toString()
        if not _is_hidden(file[len(root):] if file.startswith(root) else file.rsplit("/", 1)[-1]):
            files.append(file)
    if not files:
        raise FileNotFoundError(f"No input files under raw path {path}")
    return sorted(files)


def _file_head(spark: SparkSession, file: str, limit: int = HEAD_BYTES) -> bytes:
    """The first ``limit`` bytes of ``file`` as Spark would read them (decompressed when its name says .gz...)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(file)
    stream = path.getFileSystem(conf).open(path)
    try:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
        source = codec.createInputStream(stream) if codec is not None else stream
        bounded = jvm.org.apache.commons.io.input.BoundedInputStream(source, limit)
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(bounded))
    finally:
        stream.close()


def _spark_path(file: str) -> str:
    """A listed file as a path Spark reads literally: its reader expands glob characters such as ``[1]``."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", file)


def _python_codec(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _java_charset(encoding: str) -> str:
    """Accept Python spellings such as ``latin-1``; Java knows ISO-8859-1 as ``iso8859-1`` but not ``latin-1``."""
    name = codecs.lookup(encoding).name
    # A BOM is skipped by Spark's reader whatever the UTF-8 spelling; Java has no "utf-8-sig".
    return "utf-8" if name == "utf-8-sig" else name


def _is_text(value: str) -> bool:
    """False for what a text export never holds: control characters, or bytes the encoding could not decode."""
    return not any(
        char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\r\n") for char in value
    )


def csv_header(head: bytes, reader_options: Mapping[str, Any]) -> list[str] | None:
    """The column names in the first record of a CSV file whose first bytes are ``head``.

    ``[]`` for an empty file; None when the first record is not text (a binary or wrongly encoded file), so the
    file cannot be parsed as CSV. Names are as written, with Unicode composition, edge spaces and a BOM
    normalized; repeated names get `` (2)``, `` (3)``; empty ones Spark's ``_c<index>``.
    """
    text = head.decode(_python_codec(reader_options.get("encoding", "utf-8")), errors="replace")
    quote = reader_options.get("quote", '"')
    escape = reader_options.get("escape", '"')
    records = csv.reader(
        io.StringIO(text.lstrip("\ufeff"), newline=""),
        delimiter=reader_options.get("delimiter", ","),
        quotechar=quote,
        doublequote=escape == quote,
        escapechar=None if escape == quote else escape,
    )
    if len(head) == HEAD_BYTES and not re.search(r"[\r\n]", text):
        raise ValueError(f"the CSV header is longer than {HEAD_BYTES} bytes")
    try:
        fields = next(records)
    except StopIteration:
        return []
    except csv.Error:  # e.g. a NUL byte or a name longer than the csv module's field limit: not a header
        return None
    if not all(_is_text(name) for name in fields):
        return None
    names: list[str] = []
    for index, name in enumerate(fields):
        name = _header_key(name) or f"_c{index}"
        repeat = 2
        while name in names:
            name, repeat = f"{_header_key(fields[index])} ({repeat})", repeat + 1
        names.append(name)
    return names


def json_layout(head: bytes) -> str | None:
    """``array`` when a file is one JSON document (a top-level array, or one object spread over lines), ``lines``
    for one value per line; None for an empty file."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    first_line = text.splitlines()[0].strip()
    return "array" if text.startswith("[") or first_line == "{" else "lines"


def _string_schema(names: Sequence[str]) -> T.StructType:
    return T.StructType([T.StructField(name, T.StringType()) for name in names])


def _with_source_file(df: DataFrame) -> DataFrame:
    return df.select(*[_quoted(name) for name in df.columns], F.input_file_name().alias(SOURCE_FILE))


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    """Frames unioned by column name; a column missing from a frame is NULL in its rows."""
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)
    return union


def _unreadable_as_rejects(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """Files that are not text in the dataset's format: every line a record with only ``__corrupt_record``."""
    lines = spark.read.text([_spark_path(file) for file in files])
    return _with_source_file(lines.select(F.col("value").alias(CORRUPT_RECORD)))


def read_csv(spark: SparkSession, config: DatasetConfig, files: Sequence[str]) -> DataFrame | None:
    """CSV files, each read with the columns of its own header (files of one day may differ), unioned by name.

    None when every file is empty. Files whose first record is not text become rejects, one per line.
    """
    reader_options = config.reader
    header = bool(reader_options.get("header", True))
    csv_options = {
        "header": str(header).lower(),
        "sep": reader_options.get("delimiter", ","),
        "quote": reader_options.get("quote", '"'),
        # RFC 4180 doubles quotes inside quoted values; Spark's default escape is a backslash.
        "escape": reader_options.get("escape", '"'),
        "encoding": _java_charset(reader_options.get("encoding", "utf-8")),
        # Quoted values may span lines; this makes a file one split, fine for daily exports.
        "multiLine": str(bool(reader_options.get("multiline", True))).lower(),
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT_RECORD,
    }
    by_header: dict[tuple[str, ...], list[str]] = {}
    unreadable: list[str] = []
    for file in files:
        try:
            names = csv_header(_file_head(spark, file), reader_options)
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from error
        if names is None:
            unreadable.append(file)
        elif names and not header and config.schema:
            # Named as the schema's sources say, so name_columns maps them like headers; the first record is data,
            # and one with too few or too many fields is malformed like any other.
            by_header.setdefault(tuple(spec.source or spec.name for spec in config.schema), []).append(file)
        elif names:
            by_header.setdefault(tuple(names) if header else tuple(f"_c{i}" for i in range(len(names))), []).append(
                file
            )
    # An all-string schema: nothing is inferred, and the corrupt-record column (which Spark fills only when it
    # is in the schema) is there.
    frames = [
        _with_source_file(
            spark.read.schema(_string_schema([*names, CORRUPT_RECORD]))
            .options(**csv_options)
            .csv([_spark_path(file) for file in group])
        )
        for names, group in by_header.items()
    ]
    if unreadable:
        frames.append(_unreadable_as_rejects(spark, unreadable))
    return _union(frames) if frames else None


def _merged_type(left: T.DataType, right: T.DataType) -> T.DataType:
    """The type that holds both: structs merge field by field; any other disagreement is kept as text."""
    if left == right:
        return left
    if isinstance(left, T.StructType) and isinstance(right, T.StructType):
        return _merged_struct(left, right)
    return T.StringType()


def _merged_struct(left: T.StructType, right: T.StructType) -> T.StructType:
    fields = {f.name: f.dataType for f in left.fields}
    for f in right.fields:
        fields[f.name] = _merged_type(fields[f.name], f.dataType) if f.name in fields else f.dataType
    return T.StructType([T.StructField(name, data_type) for name, data_type in fields.items()])


def read_json(spark: SparkSession, config: DatasetConfig, files: Sequence[str]) -> DataFrame | None:
    """JSON files: lines (one record per line) and arrays (one document per file), detected per file unless
    ``reader.layout`` says; both kinds are read with one merged schema. None when every file is empty."""
    layout = config.reader.get("layout", "auto")
    by_layout: dict[str, list[str]] = {}
    for file in files:
        file_layout = json_layout(_file_head(spark, file)) if layout == "auto" else layout
        if file_layout is not None:
            by_layout.setdefault(file_layout, []).append(file)

    def reader(file_layout: str):
        return spark.read.options(
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD,
            multiLine=str(file_layout == "array").lower(),
            # Values keep their text ("007", "1.50"); the schema decides the types.
            primitivesAsString="true",
        )

    groups = {file_layout: [_spark_path(file) for file in group] for file_layout, group in by_layout.items()}
    if len(groups) == 1:
        ((file_layout, paths),) = groups.items()
        return _with_source_file(reader(file_layout).json(paths))
    if not groups:
        return None
    schemas = [reader(file_layout).json(paths).schema for file_layout, paths in groups.items()]
    merged = schemas[0]
    for schema in schemas[1:]:
        merged = _merged_struct(merged, schema)
    if CORRUPT_RECORD not in merged.fieldNames():
        merged = merged.add(CORRUPT_RECORD, T.StringType())
    return _union([_with_source_file(reader(l).schema(merged).json(paths)) for l, paths in groups.items()])


def read_raw(spark: SparkSession, config: DatasetConfig, path: str) -> DataFrame:
    """Read the raw partition per the config; every record is kept (PERMISSIVE), text values stay strings.

    Adds ``__source_file`` and ``__row_id`` (file, then position) as the "first seen" order, and, for CSV/JSON,
    ``__corrupt_record`` holding the text of records the reader could not parse. When every file is empty the
    frame has no data columns and no rows.
    """
    files = input_files(spark, path)
    if config.format == "csv":
        df = read_csv(spark, config, files)
    elif config.format == "json":
        df = read_json(spark, config, files)
    else:
        # Files of one day may carry different columns: read them all, not only the first file's footer.
        df = _with_source_file(spark.read.option("mergeSchema", "true").parquet(*map(_spark_path, files)))
    if df is None:
        df = spark.createDataFrame([], T.StructType([T.StructField(SOURCE_FILE, T.StringType())]))
    return df.select(*[_quoted(name) for name in df.columns], F.monotonically_increasing_id().alias(ROW_ID))


def write_outputs(classified: DataFrame, args: Mapping[str, str]) -> None:
    """Replace the run date's clean and rejects partitions, and nothing else.

    Writing straight to the ``dt=`` folder with overwrite replaces exactly that partition, like dynamic partition
    overwrite does, but also when the clean result is empty (dynamic overwrite would leave the old files there).
    """
    run_date = args["run_date"]
    clean_rows(classified).write.mode("overwrite").option("compression", "snappy").parquet(
        partition_path(args["clean_path"], run_date)
    )
    reject_rows(classified).write.mode("overwrite").option("ignoreNullFields", "false").json(
        partition_path(args["rejects_path"], run_date)
    )


def hive_type(data_type: T.DataType) -> str:
    """The Glue/Hive column type; Spark's simple strings match Hive's except for timestamp_ntz."""
    if isinstance(data_type, T.TimestampNTZType):
        return "timestamp"
    return data_type.simpleString()


def _aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def catalog_columns(args: Mapping[str, str]) -> dict[str, str] | None:
    """The clean table's columns and their Glue types, in order; None when the table (or database) does not exist."""
    glue = boto3.client("glue", region_name=_aws_region())
    try:
        table = glue.get_table(DatabaseName=args["clean_database"], Name=args["dataset"])["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    return {column["Name"]: column["Type"] for column in table["StorageDescriptor"].get("Columns", [])}


def retyped_columns(
    schema: T.StructType, catalog: Mapping[str, str] | None, config: DatasetConfig, table: str
) -> list[str]:
    """Columns whose type differs from the clean table's: allowed (and returned) when the configured schema sets
    the type, the table then takes it; otherwise a ValueError naming each column and both types."""
    if not catalog:
        return []
    configured = {spec.name for spec in config.schema}
    changed = [(f.name, catalog[f.name], hive_type(f.dataType)) for f in schema.fields
               if f.name in catalog and catalog[f.name] != hive_type(f.dataType)]
    conflicts = [f"{name!r} is {old} in the table but {new} in this run" for name, old, new in changed
                 if name not in configured]
    if conflicts:
        raise ValueError(
            f"Column types conflict with the clean table {table}: {'; '.join(conflicts)}. Declare the type in the "
            "dataset's schema (the schema's type wins and the table is updated), or fix the export"
        )
    return [name for name, _, _ in changed]


def register_table(schema: T.StructType, args: Mapping[str, str], catalog: Mapping[str, str] | None = None) -> None:
    """Create or update the clean table and its ``dt=<run_date>`` partition in the Glue catalog.

    The table keeps the columns of ``catalog`` (the table as it was) that this run lacks, after this run's own:
    earlier dates still hold them. The partition lists only this run's columns.
    """
    glue = boto3.client("glue", region_name=_aws_region())
    database, table, run_date = args["clean_database"], args["dataset"], args["run_date"]
    partition_columns = [{"Name": f.name, "Type": hive_type(f.dataType)} for f in schema.fields]
    earlier_only = [{"Name": name, "Type": type_name} for name, type_name in (catalog or {}).items()
                    if name not in schema.fieldNames()]

    def storage(location: str, columns: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "Columns": columns,
            "Location": location,
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        }

    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        pass  # another dataset's run created it

    table_input = {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": storage(args["clean_path"], partition_columns + earlier_only),
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table_input)

    partition_input = {
        "Values": [run_date],
        "StorageDescriptor": storage(partition_path(args["clean_path"], run_date), partition_columns),
    }
    try:
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_partition(
            DatabaseName=database, TableName=table, PartitionValueList=[run_date], PartitionInput=partition_input
        )


def write_counts(counts: Counts, counts_path: str) -> None:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", counts_path)
    if not match:
        raise ValueError(f"counts_path must be s3://bucket/key, got {counts_path}")
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
        },
        ensure_ascii=False,
        indent=2,
    )
    s3 = boto3.client("s3", region_name=_aws_region())
    s3.put_object(Bucket=match.group(1), Key=match.group(2), Body=body.encode("utf-8"), ContentType="application/json")


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

    raw = read_raw(spark, config, args["raw_path"])
    catalog = catalog_columns(args)
    unexpected = unexpected_columns(data_columns(name_columns(raw, config)), config, catalog)
    classified = classify_rows(raw, config, catalog).persist()
    try:
        clean_schema = clean_rows(classified).schema
        # Type conflicts with the table fail the run before anything is written.
        retyped = retyped_columns(clean_schema, catalog, config, f"{args['clean_database']}.{args['dataset']}")
        counts = dataclasses.replace(
            count_outcomes(classified, raw.count(), args["dataset"], run_date),
            schema_changes={"added": unexpected if config.schema_evolution == "add" else [],
                            "ignored": unexpected if config.schema_evolution == "ignore" else [],
                            "retyped": retyped},
        )
        write_outputs(classified, args)
        register_table(clean_schema, args, catalog)
        write_counts(counts, args["counts_path"])
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
        known, _unknown = parser.parse_known_args(argv[1:])
        return vars(known)
    return getResolvedOptions(list(argv), list(JOB_ARGUMENTS))


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


if __name__ == "__main__":
    main()
