"""The cleaning's pure transforms, DataFrame -> DataFrame: the schema (given or inferred), rules, and each
row's outcome (clean, rejected, exact or key duplicate)."""
from __future__ import annotations

import dataclasses
import datetime
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.columns import (
    CORRUPT_RECORD,
    NUMERIC_TYPES,
    OUTCOME,
    RAW_VALUES,
    REASONS,
    ROUNDED_COLUMNS,
    ROW_ID,
    SOURCE_FILE,
    SOURCE_NAME,
    data_columns,
    name_columns,
    spark_type,
)

# infer_schema is re-exported: callers of the transforms find inference here too.
from indata_clean.inference import ColumnInference, infer_columns, infer_schema  # noqa: F401
from indata_clean.parsing import capture_raw_values, clean_strings, is_number, plain_number
from indata_clean.value_changes import typed_value, value_change
from indata_contract import (
    CLEAN,
    EXACT_DUPLICATE,
    KEY_DUPLICATE,
    MALFORMED_RECORD,
    MISSING,
    OUT_OF_RANGE,
    PRECISION,
    REJECTED,
    ROUNDED,
    RULE,
    UNPARSEABLE,
    ColumnRule,
    ColumnSpec,
    DatasetConfig,
    Locale,
)

REASON_TYPE = T.StructType([T.StructField("reason", T.StringType(), False), T.StructField("column", T.StringType())])


def _reason(reason: str, column: str | None) -> Column:
    return F.struct(F.lit(reason).alias("reason"), F.lit(column).cast("string").alias("column"))


def apply_schema(df: DataFrame, schema: Sequence[ColumnSpec], locale: Locale, rounding: str = "reject",
                 time_zone: str = "UTC") -> DataFrame:
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
    # CASE branch evaluates). ``__has_value_<i>``: the value was not NULL before parsing. A number read from text
    # is first made plain (``__plain_<i>``: symbols, signs and marks as the cast reads them) in a projection of its
    # own, which both the parse and the change read: its regex then runs once per value, not twice.
    has_value = {spec.name: f"__has_value_{position}" for position, spec in enumerate(schema)}
    inputs = {spec.name: f"__input_{position}" for position, spec in enumerate(schema)}
    plains = {spec.name: f"__plain_{position}" for position, spec in enumerate(schema)
              if is_number(spec) and isinstance(df.schema[spec.name].dataType, T.StringType)}
    change_names = {spec.name: f"__change_{position}" for position, spec in enumerate(schema)}

    def plain(name: str) -> Column | None:
        return F.col(plains[name]) if name in plains else None

    changes = {
        spec.name: value_change(df.schema[spec.name].dataType, spec, locale, rounding, F.col(inputs[spec.name]),
                                F.col(spec.name), plain(spec.name))
        for spec in schema
    }
    changes = {name: change for name, change in changes.items() if change is not None}
    with_plain = df.select(*df.columns, *[plain_number(F.col(name), locale).alias(plains[name]) for name in plains])
    parsed = with_plain.select(
        *[typed_value(df, spec, locale, time_zone, plain(spec.name)).alias(spec.name) for spec in schema],
        *others,
        *[F.col(spec.name).isNotNull().alias(has_value[spec.name]) for spec in schema],
        *[F.col(name).alias(inputs[name]) for name in changes],
        *[F.col(plains[name]) for name in plains if name in changes],
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
                         if spec.name in change and isinstance(spark_type(spec.type), T.DecimalType)]
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


def _names_column(column: str) -> Callable[[Column], Column]:
    """A predicate on a reason struct: does it name ``column``? One per rule, so each compares its own column."""
    return lambda reason: reason["column"] == F.lit(column)


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
        already_failed = F.exists(F.col(REASONS), _names_column(rule.column))
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


def classify_rows(df: DataFrame, config: DatasetConfig, catalog: Mapping[str, str] | None = None,
                  row_count: int | None = None) -> DataFrame:
    """The whole cleaning: raw rows as read (with ``__row_id``/``__source_file``) -> every row with its outcome.

    ``catalog`` is the clean table's columns and types when the table exists: without a schema it decides which
    columns are unexpected and is the first guess of inference. Unexpected columns follow
    ``config.schema_evolution``: kept (add), dropped from the clean columns but kept in the rejects' raw values
    (ignore), or a SchemaEvolutionError naming them (fail). Not strictly pure when the schema is inferred:
    inference runs one aggregation over a sample of the ``row_count`` rows (counted when not given).
    """
    return classify_rows_inferring(df, config, catalog, row_count)[0]


def classify_rows_inferring(
    df: DataFrame, config: DatasetConfig, catalog: Mapping[str, str] | None = None, row_count: int | None = None
) -> tuple[DataFrame, dict[str, ColumnInference]]:
    """``classify_rows``, and what inference decided for each inferred or hinted column (empty with a schema)."""
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
    inferred: dict[str, ColumnInference] = {}
    if config.schema:
        # Keys are required even when the schema forgot to say so.
        schema = [
            dataclasses.replace(spec, nullable=spec.nullable and spec.name not in config.keys)
            for spec in config.schema
        ]
    else:
        schema, inferred = infer_columns(cleaned, config.locale, config.keys, catalog, config.inference,
                                         config.columns, row_count)
    typed = apply_schema(cleaned, schema, config.locale, config.rounding, config.time_zone)
    typed = apply_rules(typed, config.rules, config.time_zone)
    return mark_outcomes(typed, config.keys, config.order_by), inferred


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
