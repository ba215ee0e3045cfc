"""Lines as exports write them: a delimiter ending every line, blank lines, and the order of JSON fields."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from indata_clean.columns import CORRUPT_RECORD, data_columns, name_columns
from indata_clean.reading import json_keys, read_csv, read_raw, trailing_fields
from indata_contract import ColumnSpec, DatasetConfig

SEMICOLON = {"delimiter": ";"}


@pytest.mark.parametrize(("text", "expected"), [
    ("a;b;c;\n1;2;3;\n4;5;6;\n", (True, True)),
    ("a;b;c\n1;2;3;\n4;5;;\n", (False, True)),
    ("a;b;c;\n1;2;3\n", (True, False)),
    ("a;b;c\n1;2;3\n", (False, False)),
    # A value after the last delimiter in every line is a column the header does not name, not a trailing field.
    ("a;b;c\n1;2;3;x\n4;5;6;y\n", (False, False)),
    # Lines that disagree keep their own width: the longer ones are malformed.
    ("a;b;c\n1;2;3;\n4;5;6\n", (False, False)),
    # Blank lines are no records; a header alone says nothing of the data lines.
    ("a;b;c;\n\n   \n", (True, False)),
    ("a;b;c\n1;2;3;\n\n \t\n4;5;6;\n", (False, True)),
])
def test_trailing_fields(text: str, expected: tuple[bool, bool]) -> None:
    assert trailing_fields(text.encode(), SEMICOLON) == expected


def test_trailing_fields_after_skipped_lines() -> None:
    head = b"Ventas;;;\nGenerado hoy\nid;nombre;\n1;Ana;\n"
    assert trailing_fields(head, {**SEMICOLON, "skip_rows": 2}) == (True, True)


def test_read_csv_drops_only_empty_trailing_fields(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id;nombre\n1;Ana;\n\n  \n2;;\n3;Eva;x\n4;Noa;\n", encoding="utf-8")
    config = DatasetConfig(format="csv", reader=SEMICOLON)
    frame, dropped = read_csv(spark, config, [(tmp_path / "a.csv").as_uri()])
    assert frame is not None and dropped == (0,)
    assert data_columns(frame) == ["id", "nombre"]
    rows = sorted((row["id"], row["nombre"], row[CORRUPT_RECORD]) for row in frame.collect())
    # A value after the last delimiter is never dropped: that record is malformed; the blank lines are gone.
    assert rows == [("1", "Ana", None), ("2", None, None), ("3", "Eva", "3;Eva;x"), ("4", "Noa", None)]


def _two_files(tmp_path: Path) -> list[str]:
    (tmp_path / "a.csv").write_text("Código,Fecha\n1,2026-11-01\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("Código,Tienda\n2,Vigo\n", encoding="utf-8")
    return [(tmp_path / name).as_uri() for name in ("a.csv", "b.csv")]


MISSING_SCHEMA = (ColumnSpec("codigo", "bigint", source="Código"), ColumnSpec("tienda", "string", source="Tienda"),
                  ColumnSpec("importe", "int", source="Importe (€)"))


def test_missing_columns_null_reads_absent_schema_columns_as_null(spark: SparkSession, tmp_path: Path) -> None:
    _two_files(tmp_path)
    config = DatasetConfig(format="csv", schema=MISSING_SCHEMA, missing_columns="null")
    named = name_columns(read_raw(spark, config, tmp_path.as_uri()), config)
    rows = sorted(tuple(row) for row in named.select("codigo", "tienda", "importe", "fecha").collect())
    assert rows == [("1", None, None, "2026-11-01"), ("2", "Vigo", None, None)]


def test_missing_columns_fail_names_the_absent_columns(spark: SparkSession, tmp_path: Path) -> None:
    _two_files(tmp_path)
    config = DatasetConfig(format="csv", schema=MISSING_SCHEMA)
    with pytest.raises(ValueError, match=r"not found in the data: importe \(source 'Importe \(€\)'\);"):
        name_columns(read_raw(spark, config, tmp_path.as_uri()), config)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"b": 1, "a": 2}\n{"c": 3, "a": 4}\n', ["b", "a", "c"]),
    ('[\n  {"z": 1},\n  {"y": 2, "z": 3}\n]\n', ["z", "y"]),
    ('{\n  "z": 1,\n  "a": {"c": 1, "b": 2}\n}\n', ["z", "a"]),
    # A broken line gives no keys; the records around it still do.
    ('{"b": 1}\n{"x": \n{"a": 2}\n', ["b", "a"]),
    ("", []),
])
def test_json_keys_in_first_seen_order(text: str, expected: list[str]) -> None:
    assert json_keys(text.encode()) == expected


def test_read_csv_finds_the_header_after_blank_lines(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("\n \t\nid;nombre\n1;Ana\n", encoding="utf-8")
    frame, dropped = read_csv(spark, DatasetConfig(format="csv", reader=SEMICOLON), [(tmp_path / "a.csv").as_uri()])
    assert frame is not None and dropped == (0,)
    assert [(row["id"], row["nombre"], row[CORRUPT_RECORD]) for row in frame.collect()] == [("1", "Ana", None)]
