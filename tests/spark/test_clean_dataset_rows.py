"""The cleaning transforms that decide each row's outcome, on small in-memory DataFrames, with exact expected values:
trimming and null tokens, typed parsing, rejects, exact and key duplicates, counts, time zones and rules."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job
from clean_dataset import ColumnSpec, DatasetConfig, Locale
from tests.spark.frames import COMMA_LOCALE, config, raw_frame, reasons_of

# --- strings and null tokens ----------------------------------------------------------------------------------


def test_clean_strings_trims_and_maps_null_tokens_case_insensitively(spark: SparkSession) -> None:
    values = ["  Madrid ", "N/A", "n/a", "NULL", "", "   ", "\tx\u00a0", None, "N/A tienda"]
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)], "v string, n int")
    cleaned = job.clean_strings(df, ["", "N/A", "null"])
    assert cleaned.schema == df.schema
    assertDataFrameEqual(
        cleaned,
        [Row(v=v, n=i) for i, v in enumerate(["Madrid", None, None, None, None, None, "x", None, "N/A tienda"])],
    )


# --- casts ----------------------------------------------------------------------------------------------------


def test_locale_numbers_parse_and_bad_ones_are_rejected(spark: SparkSession) -> None:
    schema = [ColumnSpec("importe", "decimal(12,2)"), ColumnSpec("cantidad", "bigint"), ColumnSpec("ratio", "double")]
    df = raw_frame(
        spark,
        ["importe", "cantidad", "ratio"],
        [
            ("1.234,56", "1.234", "-3,5"),
            ("-1234,56", "-12", "1.500,25"),
            ("1234.56", "12,5", "abc"),  # "1234.56" can only be read the English way; "12,5" is a fraction
            ("12.34,5", "99999999999999999999", "1,5e3"),  # not groups of three; bigint overflow; an exponent
            ("12,", "+12", ",5"),  # digits on both sides of the mark; a leading "+"
            ("12,50,3", "1.2.3", "1..5"),
        ],
    )
    every_column_fails = ["unparseable:importe", "unparseable:cantidad", "unparseable:ratio"]
    assertDataFrameEqual(
        reasons_of(job.apply_schema(df, schema, COMMA_LOCALE)).drop(job.SOURCE_FILE, job.ROW_ID),
        [
            Row(importe=Decimal("1234.56"), cantidad=1234, ratio=-3.5, reasons=[]),
            Row(importe=Decimal("-1234.56"), cantidad=-12, ratio=1500.25, reasons=[]),
            Row(importe=Decimal("1234.56"), cantidad=None, ratio=None,
                reasons=["unparseable:cantidad", "unparseable:ratio"]),
            Row(importe=None, cantidad=None, ratio=1500.0, reasons=["unparseable:importe", "out_of_range:cantidad"]),
            Row(importe=None, cantidad=12, ratio=None, reasons=["unparseable:importe", "unparseable:ratio"]),
            Row(importe=None, cantidad=None, ratio=None, reasons=every_column_fails),
        ],
    )


def test_default_locale_reads_dot_decimals_and_no_thousands(spark: SparkSession) -> None:
    df = raw_frame(spark, ["importe"], [("1234.5",), ("1,234.50",), ("12.345",)])
    typed = job.apply_schema(df, [ColumnSpec("importe", "decimal(12,2)")], Locale())
    assertDataFrameEqual(
        reasons_of(typed).drop(job.SOURCE_FILE, job.ROW_ID),
        [
            Row(importe=Decimal("1234.50"), reasons=[]),
            Row(importe=None, reasons=["unparseable:importe"]),
            # Spark's cast rounds to 12.35; a third decimal is a value the column cannot hold.
            Row(importe=Decimal("12.35"), reasons=["precision:importe"]),
        ],
    )


def test_booleans_accept_spanish_and_english_tokens(spark: SparkSession) -> None:
    tokens = ["Sí", "si", "S", "yes", "Y", "TRUE", "1", "Verdadero", "no", "N", "false", "0", "FALSO", "quizás"]
    df = raw_frame(spark, ["pagado"], [(t,) for t in tokens])
    typed = job.apply_schema(df, [ColumnSpec("pagado", "boolean")], Locale())
    expected = [True] * 8 + [False] * 5
    assertDataFrameEqual(
        reasons_of(typed).drop(job.SOURCE_FILE, job.ROW_ID),
        [Row(pagado=v, reasons=[]) for v in expected] + [Row(pagado=None, reasons=["unparseable:pagado"])],
    )


def test_configured_boolean_tokens_replace_the_defaults(spark: SparkSession) -> None:
    cfg = DatasetConfig.from_json(
        json.dumps(
            {
                "format": "csv",
                "schema": [{"name": "pagado", "type": "boolean"}],
                "locale": {"true_values": ["Pagado", "ok"], "false_values": ["pendiente"]},
            }
        )
    )
    tokens = ["pagado", "OK", "PENDIENTE", "sí", "true", "no"]  # the defaults' spellings no longer count
    typed = job.apply_schema(raw_frame(spark, ["pagado"], [(t,) for t in tokens]), cfg.schema, cfg.locale)
    failed = Row(pagado=None, reasons=["unparseable:pagado"])
    assertDataFrameEqual(
        reasons_of(typed).drop(job.SOURCE_FILE, job.ROW_ID),
        [Row(pagado=True, reasons=[]), Row(pagado=True, reasons=[]), Row(pagado=False, reasons=[])] + [failed] * 3,
    )


def test_dates_and_timestamps_try_each_format_in_order(spark: SparkSession) -> None:
    schema = [
        ColumnSpec("fecha", "date", formats=("dd/MM/yyyy", "yyyy-MM-dd")),
        ColumnSpec("alta", "timestamp", formats=("dd/MM/yyyy HH:mm", "yyyy-MM-dd'T'HH:mm:ss")),
        ColumnSpec("iso", "date"),
    ]
    df = raw_frame(
        spark,
        ["fecha", "alta", "iso"],
        [
            ("01/11/2026", "01/11/2026 08:30", "2026-11-01"),
            ("2026-11-02", "2026-11-02T23:59:58", None),
            ("31/02/2026", "2026-11-02 23:59", "2026-11"),
        ],
    )
    assertDataFrameEqual(
        reasons_of(job.apply_schema(df, schema, Locale())).drop(job.SOURCE_FILE, job.ROW_ID),
        [
            Row(fecha=dt.date(2026, 11, 1), alta=dt.datetime(2026, 11, 1, 8, 30), iso=dt.date(2026, 11, 1), reasons=[]),
            Row(fecha=dt.date(2026, 11, 2), alta=dt.datetime(2026, 11, 2, 23, 59, 58), iso=None, reasons=[]),
            Row(
                fecha=None,
                alta=None,
                iso=None,
                reasons=["unparseable:fecha", "unparseable:alta", "unparseable:iso"],
            ),
        ],
    )


def test_schema_column_missing_from_data_fails_loudly(spark: SparkSession) -> None:
    df = raw_frame(spark, ["a"], [("1",)])
    with pytest.raises(ValueError, match=r"\['b'\] of the schema are not in the data"):
        job.apply_schema(df, [ColumnSpec("a", "int"), ColumnSpec("b", "int")], Locale())


# --- rejects --------------------------------------------------------------------------------------------------


def test_cast_failures_and_missing_required_values_are_rejected_with_raw_values(spark: SparkSession) -> None:
    cfg = config(
        null_tokens=("", "N/A"),
        keys=("codigo",),
        schema=(
            ColumnSpec("codigo", "bigint"),  # a key: required although the schema says nullable
            ColumnSpec("tienda", "string", nullable=False),
            ColumnSpec("importe", "decimal(10,2)"),
        ),
        locale=COMMA_LOCALE,
    )
    df = raw_frame(
        spark,
        ["Código", "Tienda", "Importe"],
        [
            (" 7 ", "Vigo", "N/A"),  # clean: importe is nullable
            ("N/A", "Vigo", "1,00"),
            ("8", " n/a ", "1,00"),
            ("x9", "Lugo", "dos"),
        ],
    )
    classified = job.classify_rows(df, cfg)
    assertDataFrameEqual(job.clean_rows(classified), [Row(codigo=7, tienda="Vigo", importe=None)])
    assertDataFrameEqual(
        job.reject_rows(classified),
        [
            Row(codigo="N/A", tienda="Vigo", importe="1,00", reject_reason="missing:codigo", reject_columns=["codigo"]),
            Row(codigo="8", tienda=" n/a ", importe="1,00", reject_reason="missing:tienda", reject_columns=["tienda"]),
            Row(
                codigo="x9",
                tienda="Lugo",
                importe="dos",
                reject_reason="unparseable:codigo",
                reject_columns=["codigo", "importe"],
            ),
        ],
    )


def test_malformed_records_are_rejected_first(spark: SparkSession) -> None:
    df = raw_frame(spark, ["a"], [("1",), ("2",)]).withColumn(
        job.CORRUPT_RECORD, F.when(F.col(job.ROW_ID) == 1, F.lit("2;;;")).cast("string")
    )
    classified = job.classify_rows(df, config(schema=(ColumnSpec("a", "int"),)))
    assertDataFrameEqual(
        job.reject_rows(classified),
        [Row(a="2", reject_reason="malformed_record", reject_columns=[], raw_record="2;;;")],
    )


# --- duplicates -----------------------------------------------------------------------------------------------


def outcomes(classified: DataFrame) -> list[tuple]:
    return sorted((r["id"], r["v"], r[job.OUTCOME]) for r in classified.collect())


def test_exact_duplicates_then_key_duplicates_keep_first_seen(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["id", "v"],
        [
            ("1", "a"),
            ("1", "a"),  # exact duplicate
            ("2", "c"),  # same key as the next row but seen later: b.csv sorts after a.csv
            ("2", "b"),
            ("3", "x"),
            ("3", "1.0"),
        ],
        files=["file:///raw/a.csv"] * 2 + ["file:///raw/b.csv", "file:///raw/a.csv"] + ["file:///raw/a.csv"] * 2,
    )
    cfg = config(keys=("id",), schema=(ColumnSpec("id", "int"), ColumnSpec("v", "string")))
    assert outcomes(job.classify_rows(df, cfg)) == [
        (1, "a", "clean"),
        (1, "a", "exact_duplicate"),
        (2, "b", "clean"),
        (2, "c", "key_duplicate"),
        (3, "1.0", "key_duplicate"),
        (3, "x", "clean"),
    ]


def test_exact_duplicates_compare_values_as_read(spark: SparkSession) -> None:
    df = raw_frame(spark, ["importe"], [("1.234,5",), (" 1234,50",), ("1.234,5",), ("1234,51",)])
    cfg = config(schema=(ColumnSpec("importe", "decimal(10,2)"),), locale=COMMA_LOCALE)
    rows = sorted((r[job.ROW_ID], r["importe"], r[job.OUTCOME]) for r in job.classify_rows(df, cfg).collect())
    # " 1234,50" is the same amount written differently: not a copy of the record (keys would catch it).
    assert rows == [
        (0, Decimal("1234.50"), "clean"),
        (1, Decimal("1234.50"), "clean"),
        (2, Decimal("1234.50"), "exact_duplicate"),
        (3, Decimal("1234.51"), "clean"),
    ]


def test_exact_duplicates_of_rejected_rows_are_duplicates_and_malformed_records_are_compared_by_text(
    spark: SparkSession,
) -> None:
    df = raw_frame(spark, ["id", "v"], [("x", "a"), ("x", "a"), (None, None), (None, None), (None, None)])
    df = df.withColumn(
        job.CORRUPT_RECORD,
        F.when(F.col(job.ROW_ID) == 2, "1;2;3").when(F.col(job.ROW_ID) >= 3, "4;5;6").cast("string"),
    )
    cfg = config(keys=("id",), schema=(ColumnSpec("id", "int"), ColumnSpec("v", "string")))
    rows = sorted((r[job.ROW_ID], r[job.OUTCOME]) for r in job.classify_rows(df, cfg).collect())
    assert rows == [(0, "rejected"), (1, "exact_duplicate"), (2, "rejected"), (3, "rejected"), (4, "exact_duplicate")]


def test_key_duplicates_keep_latest_by_order_by(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["id", "v", "actualizado"],
        [
            ("2", "b", "01/11/2026"),
            ("2", "c", "03/11/2026"),
            ("2", "d", "02/11/2026"),
            ("2", "e", None),  # no date: never the latest
            ("4", "early", "05/11/2026"),
            ("4", "late", "05/11/2026"),  # tie: the later row in the export wins
        ],
    )
    cfg = config(
        keys=("id",),
        order_by="actualizado",
        schema=(
            ColumnSpec("id", "int"),
            ColumnSpec("v", "string"),
            ColumnSpec("actualizado", "date", formats=("dd/MM/yyyy",)),
        ),
    )
    assert outcomes(job.classify_rows(df, cfg)) == [
        (2, "b", "key_duplicate"),
        (2, "c", "clean"),
        (2, "d", "key_duplicate"),
        (2, "e", "key_duplicate"),
        (4, "early", "key_duplicate"),
        (4, "late", "clean"),
    ]


# --- accounting -----------------------------------------------------------------------------------------------


def test_counts_account_for_every_input_row(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["id", "v"],
        [("1", "a"), ("1", "a"), ("1", "b"), ("x", "a"), ("x", "a"), (None, "z"), ("2", "b")],
    )
    cfg = config(keys=("id",), schema=(ColumnSpec("id", "int"), ColumnSpec("v", "string")))
    counts = job.count_outcomes(job.classify_rows(df, cfg), df.count(), "ventas", "2026-11-01")
    # Exact duplicates go first, valid or not: the second ("x", "a") is a copy, so only one bad "x" is rejected.
    assert (counts.input, counts.clean, counts.rejected, counts.duplicates) == (7, 2, 2, 3)
    assert (counts.exact_duplicates, counts.key_duplicates) == (2, 1)
    assert counts.rejects_by_reason == {"unparseable:id": 1, "missing:id": 1}
    assert counts.columns == ["id", "v"]


def test_counts_refuse_a_broken_identity() -> None:
    with pytest.raises(RuntimeError, match=r"input 10 != clean 4 \+ rejected 3 \+ duplicates 2 = 9"):
        job.Counts("ventas", "2026-11-01", 10, 4, 3, 1, 1, {}, [])


# --- time zone ------------------------------------------------------------------------------------------------


def test_timestamps_without_an_offset_are_read_in_the_dataset_time_zone(spark: SparkSession) -> None:
    schema = [
        ColumnSpec("local", "timestamp", formats=("dd/MM/yyyy HH:mm",)),
        ColumnSpec("with_offset", "timestamp", formats=("yyyy-MM-dd HH:mmXXX",)),
        ColumnSpec("iso", "timestamp"),
    ]
    df = raw_frame(
        spark,
        ["local", "with_offset", "iso"],
        [
            ("01/11/2026 08:30", "2026-11-01 08:30+05:00", "2026-11-01T08:30:00"),  # CET: UTC+1
            ("01/07/2026 08:30", "2026-07-01 08:30Z", "2026-07-01T08:30:00+05:00"),  # CEST: UTC+2
            ("30/02/2026 08:30", None, "2026-07-01 08:30:00Z"),
        ],
    )
    typed = job.apply_schema(df, schema, Locale(), time_zone="Europe/Madrid")

    as_utc = [F.date_format(name, "yyyy-MM-dd HH:mm").alias(name) for name in ("local", "with_offset", "iso")]
    assertDataFrameEqual(
        reasons_of(typed.select(*as_utc, job.REASONS)),
        [
            Row(local="2026-11-01 07:30", with_offset="2026-11-01 03:30", iso="2026-11-01 07:30", reasons=[]),
            Row(local="2026-07-01 06:30", with_offset="2026-07-01 08:30", iso="2026-07-01 03:30", reasons=[]),
            Row(local=None, with_offset=None, iso="2026-07-01 08:30", reasons=["unparseable:local"]),
        ],
    )


# --- rules ----------------------------------------------------------------------------------------------------


RULES = (
    job.ColumnRule("importe", min=0, max="1000.5"),
    job.ColumnRule("fecha", required=True, min="2020-01-01", max=dt.date(2026, 12, 31)),
    job.ColumnRule("region", allowed=("Norte", "Sur")),
    job.ColumnRule("email", regex=r"[^@\s]+@[^@\s]+\.[a-z]+"),
    job.ColumnRule("unidades", required=True, allowed=(1, 2, 3)),
)
RULE_SCHEMA = (
    ColumnSpec("importe", "decimal(8,2)"),
    ColumnSpec("fecha", "date"),
    ColumnSpec("region", "string"),
    ColumnSpec("email", "string"),
    ColumnSpec("unidades", "int"),
)


def test_rules_reject_with_their_column_and_kind(spark: SparkSession) -> None:
    df = raw_frame(
        spark,
        ["importe", "fecha", "region", "email", "unidades"],
        [
            ("1000.50", "2026-12-31", "Norte", "ana@example.es", "3"),  # bounds are inclusive
            ("-0.01", "2019-12-31", "Este", "ana@example", "4"),  # every rule broken, in column order
            (None, None, None, None, None),  # only the required checks look at NULLs
            ("x", "2026-02-30", "Sur", "luis@example.es x", "2"),  # unparseable first; the regex is anchored
        ],
    )
    typed = job.apply_rules(job.apply_schema(df, RULE_SCHEMA, Locale()), RULES)
    assert [r["reasons"] for r in reasons_of(typed).orderBy(job.ROW_ID).collect()] == [
        [],
        ["rule:importe:range", "rule:fecha:range", "rule:region:allowed", "rule:email:regex",
         "rule:unidades:allowed"],
        ["rule:fecha:required", "rule:unidades:required"],
        ["unparseable:importe", "unparseable:fecha", "rule:email:regex"],
    ]


def test_a_row_breaking_two_rules_on_one_column_names_it_once(spark: SparkSession) -> None:
    cfg = config(schema=(ColumnSpec("code", "string"),), rules=(job.ColumnRule("code", allowed=("A1",), regex="B.*"),))
    rejects = job.reject_rows(job.classify_rows(raw_frame(spark, ["code"], [("C3",)]), cfg))
    assertDataFrameEqual(rejects, [Row(code="C3", reject_reason="rule:code:allowed", reject_columns=["code"])])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (job.ColumnRule("unidades", min="many"), r"rules.unidades.min: 'many' is not a int value"),
        (job.ColumnRule("fecha", max="31/12/2026"), r"rules.fecha.max: '31/12/2026' is not a date value"),
        (job.ColumnRule("region", min="A"), r"rules.region: min/max need a number, date or timestamp column"),
        (job.ColumnRule("tienda", required=True), r"rules: column 'tienda' is not in the data"),
    ],
)
def test_rules_that_cannot_apply_fail_before_reading(spark: SparkSession, rule: job.ColumnRule, message: str) -> None:
    df = raw_frame(spark, [spec.name for spec in RULE_SCHEMA], [])
    with pytest.raises(ValueError, match=message):
        job.apply_rules(job.apply_schema(df, RULE_SCHEMA, Locale()), (rule,))


def test_rules_from_the_job_argument_are_checked() -> None:
    parsed = DatasetConfig.from_json(
        json.dumps({"format": "csv", "schema": [{"name": "a", "type": "int"}], "rules": {"a": {"min": 1, "max": 9}}})
    )
    assert parsed.rules == (job.ColumnRule("a", min=1, max=9),)
    with pytest.raises(ValueError, match=r"rules name columns \['b'\] that are not in the dataset_config schema"):
        DatasetConfig(format="csv", schema=(ColumnSpec("a", "int"),), rules=(job.ColumnRule("b", required=True),))
    with pytest.raises(ValueError, match=r"rules.a has unknown checks \['maximum'\]"):
        job.ColumnRule.from_json("a", {"maximum": 3})
    with pytest.raises(ValueError, match=r"rules.a.regex '\(' is not a regular expression"):
        job.ColumnRule("a", regex="(")
    with pytest.raises(ValueError, match="schema_evolution must be add, ignore or fail, got 'drop'"):
        DatasetConfig(format="csv", schema_evolution="drop")
