"""What a parse or a cast would change without a word (Spark 3.5 rounds, truncates, wraps or saturates):
the ``out_of_range`` and ``precision`` reasons, and ``rounded`` under rounding half_up."""
from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.columns import NUMERIC_TYPES, spark_type
from indata_clean.parsing import decimal_places, is_number, number_shape, parse_string, plain_number
from indata_contract import OUT_OF_RANGE, PRECISION, ROUNDED, ColumnSpec, Locale

# A fraction of a second with a non-zero digit past the sixth: Spark keeps microseconds and drops the rest.
SUB_MICROSECOND = r":\d{2}[.,]\d{6}0*[1-9]"
# The years every reader of the clean table takes (Athena, Hive, Python's datetime); Spark also takes 0 and 10000+.
FIRST_DAY, LAST_DAY = "0001-01-01", "9999-12-31"



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


def text_change(value: Column, parsed: Column, spec: ColumnSpec, locale: Locale, rounding: str,
                plain: Column | None = None) -> Column | None:
    """How parsing the text ``value`` into ``parsed`` would change it: ``out_of_range``, ``precision``,
    ``rounded`` (decimals beyond the scale under rounding half_up) or NULL; None when the type cannot change it.

    Only cheap checks run on every value: the conditions are tried in order and mostly fail at their first test.
    ``plain``: for a number, the value's ``plain_number`` when the caller has it.
    """
    data_type = spark_type(spec.type)
    # Judged on the number as the cast read it: no symbol, thousands mark or "+", a "." mark, maybe an exponent.
    if is_number(spec) and plain is None:
        plain = plain_number(value, locale)
    looks_valid = number_shape(value, spec, locale, plain)
    # A number as the locale writes it that the cast turned into NULL overflowed the type (or was too long).
    overflow = parsed.isNull() & looks_valid if looks_valid is not None else None
    if isinstance(data_type, (T.DecimalType, T.DoubleType)):
        assert plain is not None
    if isinstance(data_type, T.DecimalType):
        # Substring tests first: most values have no places to count.
        may_have_places = plain.contains(".") | plain.contains("e-") | plain.contains("E-")
        beyond_scale = may_have_places & (decimal_places(plain) > data_type.scale)
        return _change([(overflow, OUT_OF_RANGE), (beyond_scale, ROUNDED if rounding == "half_up" else PRECISION)])
    if isinstance(data_type, T.DoubleType):
        # Beyond +-1.8e308 the cast gives Infinity; below 4.9e-324 a number that is not zero gives 0.
        zero_written_otherwise = F.translate(F.regexp_replace(plain, "[eE].*$", ""), "-0.", "") != ""
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


def typed_value(df: DataFrame, spec: ColumnSpec, locale: Locale, time_zone: str = "UTC",
                plain: Column | None = None) -> Column:
    """The column as ``spec.type``: text parsed (timestamps without an offset in ``time_zone``), typed values cast.
    ``plain``: for a number read from text, its ``plain_number`` when the caller has it."""
    source_type = df.schema[spec.name].dataType
    column = F.col(spec.name)
    data_type = spark_type(spec.type)
    if source_type == data_type:
        return column
    if isinstance(source_type, T.StringType):
        return parse_string(column, spec, locale, time_zone, plain)
    if isinstance(data_type, T.BooleanType) and isinstance(source_type, NUMERIC_TYPES):
        # Spark makes any non-zero number true; only 1 and 0 are booleans, anything else is unparseable.
        return F.when(column.isin(0, 1), column.cast(T.BooleanType()))
    # Typed sources (Parquet): Spark's cast gives NULL where it cannot convert, which is caught as unparseable.
    return column.cast(data_type)


def value_change(
    source_type: T.DataType, spec: ColumnSpec, locale: Locale, rounding: str, source: Column, typed: Column,
    plain: Column | None = None,
) -> Column | None:
    """How ``typed_value`` changed ``source`` into ``typed`` (``text_change``, ``cast_change``); None when the
    column's value cannot change. ``plain``: for a number read from text, its ``plain_number``, if at hand."""
    if source_type == spark_type(spec.type):
        return _change([(_out_of_years(typed, source_type), OUT_OF_RANGE)])
    if isinstance(source_type, T.StringType):
        return text_change(source, typed, spec, locale, rounding, plain)
    if isinstance(spark_type(spec.type), T.BooleanType) and isinstance(source_type, NUMERIC_TYPES):
        return None
    return cast_change(source, source_type, typed, spark_type(spec.type), rounding)


