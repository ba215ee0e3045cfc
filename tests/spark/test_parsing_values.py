"""Values as real exports write them, through the job's parsing and its reject reasons, with exact results:
numbers with exponents, a "+", currency and percent symbols, either decimal mark when only one reading is
possible; month names in Spanish and English; the default null spellings."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job
from clean_dataset import ColumnSpec, Locale
from indata_clean.dates import MONTH_NAMES, month_numbers, names_months, numeric_month_pattern
from indata_contract import DEFAULT_NULL_TOKENS

ES = Locale(decimal=",", thousands=".")
EN = Locale(decimal=".", thousands=",")
DEFAULT_LOCALE = Locale()


def frame(spark: SparkSession, values: list[Any]) -> DataFrame:
    """One text column ``v``, as read from a file."""
    schema = T.StructType([
        T.StructField("v", T.StringType()), T.StructField(job.SOURCE_FILE, T.StringType()),
        T.StructField(job.ROW_ID, T.LongType()),
    ])
    return spark.createDataFrame([(value, "file:///raw/a", i) for i, value in enumerate(values)], schema)


def judged(spark: SparkSession, type_name: str, values: list[Any], locale: Locale = DEFAULT_LOCALE,
           formats: tuple[str, ...] = (), rounding: str = "reject") -> list[tuple[Any, list[str]]]:
    """(typed value, reasons) per input value, in input order."""
    typed = job.apply_schema(frame(spark, values), [ColumnSpec("v", type_name, formats=formats)], locale, rounding)
    reasons = F.transform(job.REASONS, lambda reason: reason["reason"])
    return [(row[0], row[1]) for row in typed.orderBy(job.ROW_ID).select("v", reasons).collect()]


def as_text(results: list[tuple[Any, list[str]]]) -> list[tuple[str | None, list[str]]]:
    return [(None if value is None else str(value), reasons) for value, reasons in results]


# --- exponents and signs --------------------------------------------------------------------------------------


def test_exponents_and_a_plus_sign_parse_as_doubles_and_decimals(spark: SparkSession) -> None:
    values = ["1e3", "2.5E-3", "+7", "+1.5e+2", "-4E0", "1e", "e3", "1e3.5", "++1", "+-1", "1e+-3"]
    assert judged(spark, "double", values) == [
        (1000.0, []), (0.0025, []), (7.0, []), (150.0, []), (-4.0, []),
        *[(None, ["unparseable:v"])] * 6,
    ]
    assert as_text(judged(spark, "decimal(10,4)", ["1e3", "2.5E-3", "+12.5", "1.5e-5", "12345678e-2", "1e7"])) == [
        ("1000.0000", []), ("0.0025", []), ("12.5000", []),
        ("0.0000", ["precision:v"]),  # 0.000015 needs six places: the cast would round it
        ("123456.7800", []),
        (None, ["out_of_range:v"]),  # eight integer digits in decimal(10,4)
    ]


def test_integers_take_an_exponent_only_when_the_value_is_whole(spark: SparkSession) -> None:
    values = ["1e3", "1.5E3", "+42", "12000e-3", "2.5e-1", "15e-1", "1.5", "3e9", "-2147483648e0", "2147483648e0"]
    assert judged(spark, "int", values) == [
        (1000, []), (1500, []), (42, []), (12, []),
        (None, ["unparseable:v"]), (None, ["unparseable:v"]),  # fractions are no integers, as "1.5" is not
        (None, ["unparseable:v"]),
        (None, ["out_of_range:v"]),  # never wrapped to another int
        (-(2**31), []), (None, ["out_of_range:v"]),
    ]
    assert judged(spark, "bigint", ["9.223372036854775807e18", "9.223372036854775808E18", "1e40", "1e99999"]) == [
        (2**63 - 1, []), (None, ["out_of_range:v"]), (None, ["out_of_range:v"]), (None, ["out_of_range:v"]),
    ]


def test_exponents_beyond_a_double_are_out_of_range_and_the_comma_locale_reads_them(spark: SparkSession) -> None:
    assert judged(spark, "double", ["1e400", "-1E400", "1e-400", "0e-400", "1,5e3", "1.234,5E-1"], locale=ES) == [
        (float("inf"), ["out_of_range:v"]), (float("-inf"), ["out_of_range:v"]), (0.0, ["out_of_range:v"]),
        (0.0, []), (1500.0, []), (123.45, []),
    ]


# --- symbols --------------------------------------------------------------------------------------------------


def test_symbols_before_or_after_the_number_are_dropped_and_the_number_is_unchanged(spark: SparkSession) -> None:
    euro = Locale(decimal=",", thousands=".", symbols=("€", "%"))
    values = ["12,50 €", "12,50€", "€ 12,50", "-12,50 €", "€-12,50", "-€12,50", "1.234,50\u00a0€", "15%", "15 %",
              "€", "12,50 € €", "€12,50€", "12 50 €", "12,50 $", "EUR 12"]
    assert as_text(judged(spark, "decimal(10,2)", values, locale=euro)) == [
        ("12.50", []), ("12.50", []), ("12.50", []), ("-12.50", []), ("-12.50", []), ("-12.50", []),
        ("1234.50", []), ("15.00", []), ("15.00", []),  # 15%" is 15, not 0.15: the value is unchanged
        *[(None, ["unparseable:v"])] * 6,  # one symbol at most, and only the locale's
    ]
    dollar = Locale(decimal=".", thousands=",", symbols=("US$", "$"))
    assert judged(spark, "double", ["$1,234.50", "US$ 3", "+$2", "$+2", "2$", "$$2"], locale=dollar) == [
        (1234.5, []), (3.0, []), (2.0, []), (2.0, []), (2.0, []), (None, ["unparseable:v"]),
    ]
    assert judged(spark, "int", ["15%", "% 15", "1.5e1%"], locale=Locale(symbols=("%",))) == [
        (15, []), (15, []), (15, []),
    ]


def test_symbols_are_not_dropped_unless_the_locale_lists_them(spark: SparkSession) -> None:
    assert judged(spark, "double", ["12 €", "$3", "15%"]) == [(None, ["unparseable:v"])] * 3


# --- both decimal marks ---------------------------------------------------------------------------------------


def test_a_value_only_the_other_way_round_can_be_read_is_read_so(spark: SparkSession) -> None:
    values = ["1,234.50", "1234.50", "12.34", "1.5", "1,234,567", "1,234,567.8",  # certain: English
              "1.234", "1.234.567", "1,234", "1.234,5",  # the locale's reading (ambiguous or certain)
              "1.23,4", "1,23.4", "1,2345.6", "1.234.5", "1 234,5", "7,", ".5"]  # neither
    assert as_text(judged(spark, "decimal(14,3)", values, locale=ES)) == [
        ("1234.500", []), ("1234.500", []), ("12.340", []), ("1.500", []), ("1234567.000", []),
        ("1234567.800", []),
        ("1234.000", []), ("1234567.000", []), ("1.234", []), ("1234.500", []),
        *[(None, ["unparseable:v"])] * 7,
    ]
    # The English locale reads Spanish values the same way round.
    assert judged(spark, "double", ["1.234,50", "1234,5", "1,234", "1.234", "1,5"], locale=EN) == [
        (1234.5, []), (1234.5, []), (1234.0, []), (1.234, []), (1.5, []),
    ]


def test_integers_keep_the_locale_reading_of_an_ambiguous_value(spark: SparkSession) -> None:
    assert judged(spark, "bigint", ["1.234", "1,234", "1,234,567", "1.5", "1234,0"], locale=ES) == [
        (1234, []),
        (None, ["unparseable:v"]),  # 1,234 is 1.234 in this locale: a fraction
        (1234567, []),
        (None, ["unparseable:v"]), (None, ["unparseable:v"]),
    ]
    assert judged(spark, "bigint", ["1.234", "1.234.567"], locale=EN) == [(None, ["unparseable:v"]), (1234567, [])]


def test_a_locale_without_thousands_or_with_other_marks_reads_its_own_way_only(spark: SparkSession) -> None:
    assert judged(spark, "double", ["1,5", "1,234.5", "1234.5"]) == [
        (None, ["unparseable:v"]), (None, ["unparseable:v"]), (1234.5, []),
    ]
    swiss = Locale(decimal=".", thousands="'")
    assert judged(spark, "double", ["1'234.5", "1,5", "1.234,5"], locale=swiss) == [
        (1234.5, []), (None, ["unparseable:v"]), (None, ["unparseable:v"]),
    ]


def test_precision_and_zero_checks_see_the_number_as_read(spark: SparkSession) -> None:
    # Scale checks on the delocalized text: "1,234.567" has three decimals whichever mark the locale uses.
    assert as_text(judged(spark, "decimal(12,2)", ["1,234.567", "1,234.560", "€1.234,567", "12,345e1"],
                          locale=Locale(decimal=",", thousands=".", symbols=("€",)))) == [
        ("1234.57", ["precision:v"]), ("1234.56", []), ("1234.57", ["precision:v"]), ("123.45", []),
    ]
    assert as_text(judged(spark, "decimal(12,2)", ["1,234.567", "12,345e1"], locale=ES, rounding="half_up")) == [
        ("1234.57", []), ("123.45", []),
    ]
    assert judged(spark, "double", ["+0.000", "-0e5", "0.0000001e-400", "1.000"], locale=EN) == [
        (0.0, []), (-0.0, []), (0.0, ["out_of_range:v"]), (1.0, []),
    ]


# --- month names ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_month_spelling_with_or_without_a_dot_in_any_case(spark: SparkSession, language: str) -> None:
    spellings = [(spelling, month) for lang in dict.fromkeys((language, "en"))
                 for month, names in enumerate(MONTH_NAMES[lang], start=1) for spelling in names]
    values = [f"15-{written}-2024" for spelling, _ in spellings
              for written in (spelling, spelling.upper(), spelling.capitalize() + ".")]
    expected = [(dt.date(2024, month, 15), []) for _, month in spellings for _ in range(3)]
    assert judged(spark, "date", values, locale=Locale(language=language), formats=("dd-MMM-yyyy",)) == expected
    assert len(month_numbers(language)) == (40 if language == "es" else 24)


def test_spanish_names_are_read_only_when_the_language_is_spanish(spark: SparkSession) -> None:
    values = ["15-ene-2024", "15-Jan-2024", "15 de enero de 2024"]
    formats = ("dd-MMM-yyyy", "d 'de' MMMM 'de' yyyy")
    assert judged(spark, "date", values, locale=Locale(language="en"), formats=formats) == [
        (None, ["unparseable:v"]), (dt.date(2024, 1, 15), []), (None, ["unparseable:v"]),
    ]


def test_month_name_formats_as_exports_write_them(spark: SparkSession) -> None:
    cases = [
        ("dd-MMM-yyyy", "15-ene-2024", dt.date(2024, 1, 15)), ("dd-MMM-yyyy", "15-Jan-2024", dt.date(2024, 1, 15)),
        ("d-MMM-yy", "15-ene-24", dt.date(2024, 1, 15)), ("d-MMM-yy", "5-Sept.-99", dt.date(2099, 9, 5)),
        ("MMM d yyyy", "Jan 1 2000", dt.date(2000, 1, 1)), ("MMM d yyyy", "dic. 31 1999", dt.date(1999, 12, 31)),
        ("d 'de' MMMM 'de' yyyy", "15 de enero de 2024", dt.date(2024, 1, 15)),
        ("d 'de' MMMM 'de' yyyy", "1 DE Agosto de 2024", dt.date(2024, 8, 1)),  # Spark ignores the literal's case
        ("d 'de' MMMM 'de' yyyy", "1 de agosto de 2024", dt.date(2024, 8, 1)),
        ("dd.MMM.yyyy", "03.mar.2024", dt.date(2024, 3, 3)), ("ddMMMyyyy", "03MAY2024", dt.date(2024, 5, 3)),
        ("MMMM yyyy d", "September 2024 9", dt.date(2024, 9, 9)),
        # A number where the format wants a name, a word that only starts like a month, two months: not dates.
        ("dd-MMM-yyyy", "15-01-2024", None), ("dd-MMM-yyyy", "15-marzoo-2024", None),
        ("dd-MMM-yyyy", "15-foo-2024", None), ("dd-MMM-yyyy", "31-feb-2024", None),
    ]
    for fmt, value, expected in cases:
        parsed = judged(spark, "date", [value], formats=(fmt,))[0][0]
        assert parsed == expected, (fmt, value)


def test_timestamps_read_month_names_in_their_zone(spark: SparkSession) -> None:
    typed = job.apply_schema(frame(spark, ["15-ene-2024 10:30", "1 Feb 2024 23:00", "15-xx-2024 10:30"]),
                             [ColumnSpec("v", "timestamp", formats=("dd-MMM-yyyy HH:mm", "d MMM yyyy HH:mm"))],
                             Locale(), time_zone="Europe/Madrid")
    rows = typed.orderBy(job.ROW_ID).select(F.date_format("v", "yyyy-MM-dd HH:mm").alias("utc")).collect()
    assert [row.utc for row in rows] == ["2024-01-15 09:30", "2024-02-01 22:00", None]


def test_month_name_fields_outside_quoted_literals_become_numbers() -> None:
    assert numeric_month_pattern("d 'de' MMMM 'de' yyyy") == "d 'de' MM 'de' yyyy"
    assert numeric_month_pattern("'MMM' MMM") == "'MMM' MM"
    assert names_months("dd-MMM-yy") and not names_months("dd-MM-yy") and not names_months("'MMM' dd")


# --- null tokens ----------------------------------------------------------------------------------------------


def test_default_null_tokens_are_compared_trimmed_and_lowercased(spark: SparkSession) -> None:
    values = [" NA ", "n/a", "NULL", "nan", "NaN", " - ", "#n/a", "None", "none", "", "\u00a0",
              "--", "0", "nada", "N/A tienda", "-1", "NAN2"]
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)], "v string, n int")
    kept = ["--", "0", "nada", "N/A tienda", "-1", "NAN2"]
    assertDataFrameEqual(job.clean_strings(df, DEFAULT_NULL_TOKENS),
                         [Row(v=v, n=i) for i, v in enumerate([None] * 11 + kept)])
    assert job.DatasetConfig.from_json({"format": "csv"}).null_tokens == DEFAULT_NULL_TOKENS
