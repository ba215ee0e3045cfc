"""No value changes silently: every cast the job makes, on small in-memory DataFrames, with exact results.

Spark 3.5's non-ANSI casts round decimals, truncate fractions and sub-microseconds, wrap or saturate integers and
overflow doubles to Infinity, all without a NULL. Each such value must be an ``out_of_range:<column>`` or
``precision:<column>`` reject, or (decimals beyond the scale, under ``rounding: half_up``) rounded and counted.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job
from clean_dataset import ColumnSpec, DatasetConfig, Locale

COMMA = Locale(decimal=",", thousands=".")
DEFAULT_LOCALE = Locale()
# A string column, as read from text: the default type of the test column.
TEXT = T.StringType()


def frame(spark: SparkSession, values: list[Any], data_type: T.DataType = TEXT) -> DataFrame:
    """One column ``v`` of ``data_type`` (a string column as read from text, or a typed Parquet column)."""
    schema = T.StructType([
        T.StructField("v", data_type), T.StructField(job.SOURCE_FILE, T.StringType()),
        T.StructField(job.ROW_ID, T.LongType()),
    ])
    return spark.createDataFrame([(value, "file:///raw/a", i) for i, value in enumerate(values)], schema)


def judged(spark: SparkSession, type_name: str, values: list[Any], data_type: T.DataType = TEXT,
           locale: Locale = DEFAULT_LOCALE, rounding: str = "reject", formats: tuple[str, ...] = ()) -> list[tuple]:
    """(value as text, reasons[, rounded columns]) per input value, in input order."""
    typed = job.apply_schema(frame(spark, values, data_type), [ColumnSpec("v", type_name, formats=formats)], locale,
                             rounding)
    columns = [F.col("v").cast("string"), F.transform(job.REASONS, lambda reason: reason["reason"])]
    if rounding == "half_up":
        columns.append(F.col(job.ROUNDED_COLUMNS))
    return [tuple(row) for row in typed.orderBy(job.ROW_ID).select(*columns).collect()]


# --- decimals -------------------------------------------------------------------------------------------------


def test_decimals_beyond_the_scale_are_precision_rejects_and_overflow_is_out_of_range(spark: SparkSession) -> None:
    values = ["12,345", "12,340", "-12,345", "0,005", "1.234,5", "9.999.999.999,99", "10.000.000.000", "12,3"]
    assert judged(spark, "decimal(12,2)", values, locale=COMMA) == [
        ("12.35", ["precision:v"]),  # what Spark's cast would have stored
        ("12.34", []),  # a trailing zero past the scale loses nothing
        ("-12.35", ["precision:v"]),
        ("0.01", ["precision:v"]),
        ("1234.50", []),
        ("9999999999.99", []),
        (None, ["out_of_range:v"]),  # 11 integer digits in decimal(12,2)
        ("12.30", []),
    ]


def test_rounding_half_up_rounds_and_names_the_column_but_never_overflows(spark: SparkSession) -> None:
    values = ["12,345", "-12,345", "12,344", "12,34", "9.999.999.999,995", "0,5"]
    assert judged(spark, "decimal(12,2)", values, locale=COMMA, rounding="half_up") == [
        ("12.35", [], ["v"]),
        ("-12.35", [], ["v"]),  # half up: away from zero
        ("12.34", [], ["v"]),
        ("12.34", [], []),
        (None, ["out_of_range:v"], []),  # rounds to 10,000,000,000.00: digits beyond the precision
        ("0.50", [], []),
    ]
    assert judged(spark, "decimal(5,0)", ["12.5", "12.4", "99999", "100000"], rounding="half_up") == [
        ("13", [], ["v"]), ("12", [], ["v"]), ("99999", [], []), (None, ["out_of_range:v"], []),
    ]


# --- integers and doubles -------------------------------------------------------------------------------------


def test_integer_overflow_is_out_of_range_at_the_exact_bounds(spark: SparkSession) -> None:
    assert judged(spark, "int", ["2147483647", "2147483648", "-2147483648", "-2147483649", "1.5", "9" * 401]) == [
        ("2147483647", []), (None, ["out_of_range:v"]), ("-2147483648", []), (None, ["out_of_range:v"]),
        (None, ["unparseable:v"]),  # text with a fraction is no integer
        (None, ["out_of_range:v"]),  # too long to be cast at all, and no int anyway
    ]
    assert judged(spark, "bigint", ["9223372036854775807", "9223372036854775808", "-9223372036854775809"]) == [
        ("9223372036854775807", []), (None, ["out_of_range:v"]), (None, ["out_of_range:v"]),
    ]


def test_doubles_that_would_be_infinity_or_zero_are_out_of_range(spark: SparkSession) -> None:
    huge, tiny = "1" + "0" * 309, "0," + "0" * 330 + "1"
    assert judged(spark, "double", [huge, "-" + huge, tiny, "0,000", "-0", "1" + "0" * 308, "0,5"], locale=COMMA) == [
        ("Infinity", ["out_of_range:v"]), ("-Infinity", ["out_of_range:v"]), ("0.0", ["out_of_range:v"]),
        ("0.0", []), ("-0.0", []), ("1.0E308", []), ("0.5", []),
    ]


# --- dates and timestamps -------------------------------------------------------------------------------------


def test_sub_microsecond_digits_are_precision_rejects(spark: SparkSession) -> None:
    values = ["2024-01-01T00:00:00.123456789", "2024-01-01T00:00:00.123456000", "2024-01-01 10:00:00.1234567Z",
              "2024-01-01T00:00:00.5"]
    assert judged(spark, "timestamp", values) == [
        ("2024-01-01 00:00:00.123456", ["precision:v"]), ("2024-01-01 00:00:00.123456", []),
        ("2024-01-01 10:00:00.123456", ["precision:v"]), ("2024-01-01 00:00:00.5", []),
    ]
    nanos = ("dd/MM/yyyy HH:mm:ss.SSSSSSSSS",)
    assert judged(spark, "timestamp", ["01/01/2024 00:00:00.000000001", "01/01/2024 00:00:00.250"],
                  formats=nanos) == [("2024-01-01 00:00:00", ["precision:v"]), ("2024-01-01 00:00:00.25", [])]


def test_timestamps_without_formats_take_iso_values_only(spark: SparkSession) -> None:
    # Spark's cast reads a time alone as today (a rerun tomorrow would differ), completes "2024" to January 1st,
    # and converts a zone name that time_zone would then convert again.
    values = ["10:00:00", "T10:00:00", "2024", "2024-01", "2024-1-1 1:2:3", "2024-01-01T10:00:00 Europe/Madrid",
              "2024-01-01", "2024-01-01 10:00", "2024-01-01T10:00:00+0100"]
    assert judged(spark, "timestamp", values) == [
        *[(None, ["unparseable:v"])] * 6,
        ("2024-01-01 00:00:00", []), ("2024-01-01 10:00:00", []), ("2024-01-01 09:00:00", []),
    ]


def test_dates_and_timestamps_outside_years_1_to_9999_are_out_of_range(spark: SparkSession) -> None:
    assert judged(spark, "date", ["0000-01-01", "-0001-01-01", "0001-01-01", "9999-12-31"]) == [
        ("0000-01-01", ["out_of_range:v"]), ("-0001-01-01", ["out_of_range:v"]), ("0001-01-01", []),
        ("9999-12-31", []),
    ]
    assert judged(spark, "date", ["10000-01-01", "9999-12-31"], formats=("y-MM-dd",)) == [
        ("+10000-01-01", ["out_of_range:v"]), ("9999-12-31", []),
    ]
    assert judged(spark, "timestamp", ["0000-12-31 23:00:00", "9999-12-31 23:59:59.999999"]) == [
        ("0000-12-31 23:00:00", ["out_of_range:v"]), ("9999-12-31 23:59:59.999999", []),
    ]


# --- typed sources (Parquet) ----------------------------------------------------------------------------------


def test_typed_integers_that_would_wrap_or_saturate_are_out_of_range(spark: SparkSession) -> None:
    assert judged(spark, "int", [3_000_000_000, -3_000_000_000, 2**31 - 1, -(2**31)], T.LongType()) == [
        ("-1294967296", ["out_of_range:v"]), ("1294967296", ["out_of_range:v"]), ("2147483647", []),
        ("-2147483648", []),
    ]
    doubles = [1.5, -1.5, 3.0, 1e20, float("nan"), float("-inf"), 2.0**31, -(2.0**31)]
    assert judged(spark, "int", doubles, T.DoubleType()) == [
        ("1", ["precision:v"]), ("-1", ["precision:v"]), ("3", []), ("2147483647", ["out_of_range:v"]),
        ("0", ["out_of_range:v"]), ("-2147483648", ["out_of_range:v"]), ("2147483647", ["out_of_range:v"]),
        ("-2147483648", []),
    ]
    # 2^63 as a double saturates to 2^63 - 1, which reads back as the same double: only the bound catches it.
    assert judged(spark, "bigint", [2.0**63, 9.2e18], T.DoubleType()) == [
        ("9223372036854775807", ["out_of_range:v"]), ("9200000000000000000", []),
    ]
    assert judged(spark, "int", [Decimal("1.5"), Decimal("1E+12"), Decimal("7")], T.DecimalType(20, 4)) == [
        ("1", ["precision:v"]), ("-727379968", ["out_of_range:v"]), ("7", []),
    ]


def test_typed_decimals_and_doubles_are_rounded_only_under_half_up(spark: SparkSession) -> None:
    decimals = [Decimal("1.2345"), Decimal("1.2300"), Decimal("12345678901.0000")]
    assert judged(spark, "decimal(12,2)", decimals, T.DecimalType(20, 4)) == [
        ("1.23", ["precision:v"]), ("1.23", []), (None, ["out_of_range:v"]),
    ]
    assert judged(spark, "decimal(12,2)", [1.005, 0.1, 1e20, float("nan")], T.DoubleType()) == [
        ("1.01", ["precision:v"]), ("0.10", []), (None, ["out_of_range:v"]), (None, ["out_of_range:v"]),
    ]
    assert judged(spark, "decimal(12,2)", [Decimal("1.2345"), Decimal("1.2300")], T.DecimalType(20, 4),
                  rounding="half_up") == [("1.23", [], ["v"]), ("1.23", [], [])]


def test_typed_times_of_day_into_dates_and_numbers_into_booleans(spark: SparkSession) -> None:
    # Spark runs in UTC here (configure_session): these are UTC instants.
    utc = dt.UTC
    timestamps = [dt.datetime(2024, 1, 1, 10, 30, tzinfo=utc), dt.datetime(2024, 1, 1, tzinfo=utc)]
    assert judged(spark, "date", timestamps, T.TimestampType()) == [
        ("2024-01-01", ["precision:v"]), ("2024-01-01", []),
    ]
    assert judged(spark, "timestamp", [dt.date(2024, 1, 1)], T.DateType()) == [("2024-01-01 00:00:00", [])]
    # A long as epoch seconds; 10^13 seconds is the year 318857.
    assert judged(spark, "timestamp", [1_700_000_000, 10**13], T.LongType()) == [
        ("2023-11-14 22:13:20", []), ("+294247-01-10 04:00:54.775807", ["out_of_range:v"]),
    ]
    # Spark makes any non-zero number true.
    assert judged(spark, "boolean", [0, 1, 2, -1], T.LongType()) == [
        ("false", []), ("true", []), (None, ["unparseable:v"]), (None, ["unparseable:v"]),
    ]
    assert judged(spark, "string", [1e20, 0.1], T.DoubleType()) == [("1.0E20", []), ("0.1", [])]


def test_text_booleans_outside_the_token_lists_are_unparseable(spark: SparkSession) -> None:
    # Spark's own cast would read "t" and "2" as true; only the configured tokens count.
    assert judged(spark, "boolean", ["sí", "t", "2", "on", "0"]) == [
        ("true", []), (None, ["unparseable:v"]), (None, ["unparseable:v"]), (None, ["unparseable:v"]),
        ("false", []),
    ]


# --- counts and config ----------------------------------------------------------------------------------------


def test_counts_report_values_rounded_in_clean_rows_only(spark: SparkSession) -> None:
    cfg = DatasetConfig(
        format="csv", keys=("id",), locale=COMMA, rounding="half_up",
        schema=(ColumnSpec("id", "bigint"), ColumnSpec("importe", "decimal(12,2)"), ColumnSpec("iva", "decimal(5,1)"),
                ColumnSpec("fecha", "date")),
    )
    schema = T.StructType([T.StructField(name, T.StringType()) for name in ("id", "importe", "iva", "fecha")]
                          + [T.StructField(job.SOURCE_FILE, T.StringType()), T.StructField(job.ROW_ID, T.LongType())])
    rows = [
        ("1", "12,345", "21,05", "2026-11-01"),  # clean, both rounded
        ("2", "12,34", "21,0", "2026-11-01"),  # clean, nothing rounded
        ("3", "1,005", "10", "2026-11-01"),  # clean, importe rounded
        ("3", "1,004", "10", "2026-11-01"),  # key duplicate of id 3: not published, not counted
        ("4", "7,777", "1", "31/11/2026"),  # rejected for its date: not counted
    ]
    df = spark.createDataFrame([(*row, "file:///raw/a.csv", i) for i, row in enumerate(rows)], schema)

    classified = job.classify_rows(df, cfg)
    counts = job.count_outcomes(classified, len(rows), "ventas", "2026-11-01")

    assert (counts.clean, counts.rejected, counts.key_duplicates) == (3, 1, 1)
    assert counts.rounded_by_column == {"importe": 2, "iva": 1} and counts.rounded == 3
    assert "rounded=3" in counts.summary()
    assertDataFrameEqual(job.clean_rows(classified).select("id", "importe", "iva"), [
        Row(id=1, importe=Decimal("12.35"), iva=Decimal("21.1")),
        Row(id=2, importe=Decimal("12.34"), iva=Decimal("21.0")),
        Row(id=3, importe=Decimal("1.01"), iva=Decimal("10.0")),
    ])


def test_without_rounding_counts_report_none_and_carry_no_rounded_column(spark: SparkSession) -> None:
    cfg = DatasetConfig(format="csv", schema=(ColumnSpec("importe", "decimal(12,2)"),))
    df = frame(spark, ["1.005", "1.00"]).withColumnRenamed("v", "importe")

    classified = job.classify_rows(df, cfg)
    counts = job.count_outcomes(classified, 2, "ventas", "2026-11-01")

    assert job.ROUNDED_COLUMNS not in classified.columns
    assert (counts.clean, counts.rejects_by_reason, counts.rounded_by_column) == (1, {"precision:importe": 1}, {})


def test_rounding_and_nanosecond_formats_are_checked_before_reading() -> None:
    with pytest.raises(ValueError, match="rounding must be reject or half_up, got 'half_even'"):
        DatasetConfig.from_json(json.dumps({"format": "csv", "rounding": "half_even"}))
    assert DatasetConfig.from_json(json.dumps({"format": "csv", "rounding": "half_up"})).rounding == "half_up"
    assert DatasetConfig.from_json(json.dumps({"format": "csv"})).rounding == "reject"
    compact = {"name": "t", "type": "timestamp", "formats": ["yyyyMMddHHmmssSSSSSSSSS"]}
    with pytest.raises(ValueError, match="column t: format 'yyyyMMddHHmmssSSSSSSSSS' reads digits past"):
        DatasetConfig.from_json(json.dumps({"format": "csv", "schema": [compact]}))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (job.ColumnRule("importe", max="99999.999"), r"rules.importe.max: '99999.999' is not a decimal\(8,2\) value"),
        (job.ColumnRule("importe", min=1_000_000), r"rules.importe.min: 1000000 is not a decimal\(8,2\) value"),
        (job.ColumnRule("unidades", allowed=(1, 2**31)), "rules.unidades.allowed: 2147483648 is not a int value"),
        (job.ColumnRule("ratio", max="1e400"), "rules.ratio.max: '1e400' is not a double value"),
    ],
)
def test_rule_bounds_that_the_column_cannot_hold_exactly_fail_before_reading(
    spark: SparkSession, rule: job.ColumnRule, message: str
) -> None:
    # Cast as they were, 99999.999 would become 100000.00 and 2^31 a NULL that no value ever equals.
    schema = [ColumnSpec("importe", "decimal(8,2)"), ColumnSpec("unidades", "int"), ColumnSpec("ratio", "double")]
    df = job.apply_schema(frame(spark, []).select(*[F.lit(None).cast("string").alias(c.name) for c in schema],
                                                  job.SOURCE_FILE, job.ROW_ID), schema, Locale())
    with pytest.raises(ValueError, match=message):
        job.apply_rules(df, [rule])
