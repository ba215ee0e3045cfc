"""Inference for a dataset without a schema: the vote over a spread sample, date shapes, hints and the report."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row, SparkSession
from pyspark.testing import assertDataFrameEqual

import clean_dataset as job
from clean_dataset import ColumnSpec, Locale
from indata_contract import ColumnHint, Inference
from tests.spark.frames import config, raw_frame, reasons_of


def report(df, **kwargs) -> dict:
    specs, found = job.infer_columns(df, Locale(), **kwargs)
    return {"specs": {spec.name: spec for spec in specs}, **{name: c.to_json() for name, c in found.items()}}


def test_a_type_wins_at_the_share_and_the_highest_share_wins(spark: SparkSession) -> None:
    integers = [str(n) for n in range(1, 200)]
    df = raw_frame(spark, ["na", "fraction", "codes"],
                   [(n, n, n) for n in integers] + [("n/a", "1.5", "007")])
    found = report(df)
    assert found["specs"]["na"] == ColumnSpec("na", "bigint")
    assert found["na"] == {"type": "bigint", "share": 0.995, "examples": ["n/a"], "looks_like": None}
    # Every integer is a double too: one fraction makes double the better vote, with nothing to reject.
    assert found["fraction"] == {"type": "double", "share": 1.0, "examples": [], "looks_like": None}
    # A leading zero vetoes numbers whatever the share: codes stay text, by decision (no "looks like a number").
    assert found["codes"] == {"type": "string", "share": 0.005, "examples": ["007", "99", "100"], "looks_like": None}

    strict = report(df, inference=Inference(min_share=1.0))
    assert strict["specs"]["na"] == ColumnSpec("na", "string")
    assert strict["na"] == {"type": "string", "share": 0.995, "examples": ["n/a"], "looks_like": "number"}


def test_the_vote_rejects_what_does_not_parse_instead_of_keeping_text(spark: SparkSession) -> None:
    df = raw_frame(spark, ["n"], [(str(n),) for n in range(1, 200)] + [("uno",)])
    classified = job.classify_rows(df, config())
    rejected = reasons_of(classified).where("size(reasons) > 0").collect()
    assert [(row["n"], row["reasons"]) for row in rejected] == [(None, ["unparseable:n"])]
    assert dict(classified.dtypes)["n"] == "bigint"


def test_the_sample_is_spread_over_the_input_and_the_same_every_time(spark: SparkSession) -> None:
    # The last tenth of the day is text: a sample of the first rows would call the column bigint.
    rows = [(str(n),) for n in range(900)] + [(f"x{n}",) for n in range(100)]
    df = raw_frame(spark, ["late_text"], rows)
    sample = job.spread_sample(df, 100, 1000)
    ids = [row[job.ROW_ID] for row in sample.collect()]
    assert 50 <= len(ids) <= 150 and min(ids) < 300 and max(ids) >= 900
    assert [row[job.ROW_ID] for row in job.spread_sample(df, 100, 1000).collect()] == ids

    first = report(df, inference=Inference(sample_rows=100), row_count=1000)
    assert first["specs"]["late_text"].type == "string"
    assert 0.75 < first["late_text"]["share"] < 0.97 and first["late_text"]["looks_like"] == "number"
    assert report(df, inference=Inference(sample_rows=100), row_count=1000) == first
    # Without a row count, inference counts the rows itself: the same sample.
    assert report(df, inference=Inference(sample_rows=100)) == first


DATE_SHAPES = {
    "iso_date": (["2026-11-01", "2026-11-30"], "date", ()),
    "iso_timestamp": (["2026-11-01T10:00:00", "2026-11-01 10:00", "2026-11-01T10:00:00.123+01:00",
                       "2026-11-01 10:00:00Z", "2026-11-02"], "timestamp", ()),
    "slashes_year_first": (["2026/11/01", "2026/11/30"], "date", ("yyyy/M/d",)),
    "day_first": (["13/11/2026", "01/11/2026"], "date", ("d/M/yyyy",)),
    "month_first": (["11/13/2026", "11/01/2026"], "date", ("M/d/yyyy",)),
    "dashes": (["01-11-2026", "30-11-2026"], "date", ("d-M-yyyy",)),
    "dots": (["01.11.2026", "30.11.2026"], "date", ("d.M.yyyy",)),
    "month_abbreviation": (["01-Nov-2026", "30-NOV-2026"], "date", ("d-MMM-yyyy",)),
    "short_year": (["1-Nov-26", "30-Nov-26"], "date", ("d-MMM-yy",)),
    "month_first_words": (["Nov 1 2026", "Nov 30 2026"], "date", ("MMM d yyyy",)),
    "de_month_de": (["1 de November de 2026", "30 de November de 2026"], "date", ("d 'de' MMMM 'de' yyyy",)),
    "iso_and_day_first": (["2026-11-01", "30/11/2026"], "date", ("yyyy-MM-dd", "d/M/yyyy")),
}


def test_every_date_shape_gives_its_type_and_formats(spark: SparkSession) -> None:
    names = list(DATE_SHAPES)
    depth = max(len(values) for values, _, _ in DATE_SHAPES.values())
    rows = [tuple(DATE_SHAPES[name][0][i] if i < len(DATE_SHAPES[name][0]) else None for name in names)
            for i in range(depth)]
    found = report(raw_frame(spark, names, rows))
    for name, (_, type_name, formats) in DATE_SHAPES.items():
        assert found["specs"][name] == ColumnSpec(name, type_name, formats=formats), name
        assert found[name]["share"] == 1.0, name


def test_the_chosen_formats_read_the_values(spark: SparkSession) -> None:
    # One or two digits for the day and the month; a value no chosen format reads is a reject.
    df = raw_frame(spark, ["dia"], [("13/11/2026",), ("02/11/2026",), ("2/1/2026",), ("31/02/2026",)])
    classified = reasons_of(job.classify_rows(df, config(inference=Inference(min_share=0.6))))
    assertDataFrameEqual(classified, [Row(dia=dt.date(2026, 11, 13), reasons=[]),
                                      Row(dia=dt.date(2026, 11, 2), reasons=[]),
                                      Row(dia=dt.date(2026, 1, 2), reasons=[]),
                                      Row(dia=None, reasons=["unparseable:dia"])])


def test_day_and_month_order_needs_evidence(spark: SparkSession) -> None:
    df = raw_frame(spark, ["undecided", "contradictory"],
                   [("01/02/2026", "13/01/2026"), ("03/04/2026", "01/13/2026"), ("12/12/2026", "02/02/2026")])
    found = report(df)
    assert found["specs"]["undecided"] == ColumnSpec("undecided", "string")
    assert found["undecided"] == {"type": "string", "share": 1.0, "examples": [], "looks_like": "date",
                                  "undecided": "day/month order"}
    # One value each way: neither order reads more values, the sample cannot decide either.
    assert found["contradictory"]["type"] == "string"
    assert found["contradictory"]["undecided"] == "day/month order"


def test_hints_set_the_type_the_formats_and_nullable(spark: SparkSession) -> None:
    df = raw_frame(spark, ["typed", "dotted", "stamped", "required", "free"],
                   [("x", "2026.11.01", "01/11/2026 10:30", "1", "a"),
                    ("1", "2026.11.30", "30/11/2026 23:59", None, "b")])
    hints = (ColumnHint("typed", type="bigint"), ColumnHint("dotted", formats=("yyyy.MM.dd",)),
             ColumnHint("stamped", formats=("dd/MM/yyyy HH:mm",)), ColumnHint("required", nullable=False))
    found = report(df, hints=hints)
    assert list(found["specs"].values()) == [
        ColumnSpec("typed", "bigint"),  # used as is: half of its values will be rejected
        ColumnSpec("dotted", "date", formats=("yyyy.MM.dd",)),
        ColumnSpec("stamped", "timestamp", formats=("dd/MM/yyyy HH:mm",)),
        ColumnSpec("required", "bigint", nullable=False),
        ColumnSpec("free", "string"),
    ]
    assert found["typed"] == {"type": "bigint", "share": 0.5, "examples": ["x"], "looks_like": None}
    with pytest.raises(ValueError, match=r"hints name columns \['otra'\] that are not in the data"):
        job.infer_columns(df, Locale(), hints=(ColumnHint("otra", type="bigint"),))


def test_the_report_names_the_previous_type_and_columns_without_candidates(spark: SparkSession) -> None:
    df = raw_frame(spark, ["retyped", "text", "empty", "kept"],
                   [("1.5", "1", None, "1"), ("2", "2", None, "2")])
    known = {"retyped": "bigint", "text": "string", "empty": "date", "kept": "double"}
    found = report(df, known_types=known)
    assert found["retyped"] == {"type": "double", "share": 1.0, "examples": [], "looks_like": None,
                                "previous_type": "bigint"}
    assert found["text"] == {"type": "string", "share": None, "examples": [], "looks_like": None}
    assert found["empty"] == {"type": "date", "share": None, "examples": [], "looks_like": None}
    assert found["kept"] == {"type": "double", "share": 1.0, "examples": [], "looks_like": None}


def test_examples_are_cut_short(spark: SparkSession) -> None:
    df = raw_frame(spark, ["n"], [("1",), ("x" * 500,), ("2",)])
    found = report(df, inference=Inference(min_share=0.5))
    assert found["n"]["type"] == "bigint" and found["n"]["examples"] == ["x" * 80 + "…"]
