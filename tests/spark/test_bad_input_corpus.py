"""The bad-input corpus: each case of tests/spark/corpus/ through the job's real entry, ``run_job``, with exact counts.

A case is a folder: ``case.yaml`` (``about``; ``dataset``, an entry as in datasets.yaml without name and source;
``expected`` counts and facts, or ``error``, a pattern the job's error must match) and ``input/``, the files of
one raw partition, byte for byte. Cases marked ``generated`` get their files from GENERATORS below (seeded: the
same bytes every run). The dataset entry goes through the config model (``load_config`` and
``Dataset.job_config()``) as the DAG's does, so the corpus also checks that every field reaches the job.

``expected`` holds input, clean, rejected, duplicates and rejects_by_reason, and optionally exact_duplicates,
key_duplicates, columns, types (Glue types of the clean table), schema_changes, clean_values and reject_values
(column -> the values of every clean / rejected row, in any order), clean_lengths, and rejects (every reject's
[reason, columns]).
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import random
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

import clean_dataset as job
from indata_ops.config import load_config

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(path.name for path in CORPUS.iterdir() if (path / "case.yaml").is_file())
RUN_DATE = "2026-11-01"
BUCKET = "indata-corpus"
SETTINGS = {
    "bucket": BUCKET,
    "raw_database": "corpus_raw",
    "clean_database": "corpus_clean",
    "glue_job_role": "arn:aws:iam::123456789012:role/corpus",
    "region": "us-east-1",
}
MIB = 1 << 20


def binary_junk(folder: Path) -> None:
    (folder / "a_ventas.csv").write_bytes(b"codigo;importe\n1;10\n2;20\n")
    rng = random.Random(20261101)
    not_a_line_break = bytes(b for b in range(256) if b not in b"\r\n")
    # NUL and 0xFF first: no text export starts so, whatever the random bytes after them.
    lines = [b"\x00\xff" + bytes(rng.choice(not_a_line_break) for _ in range(298)) for _ in range(3)]
    (folder / "b_corrupto.csv").write_bytes(b"\n".join(lines) + b"\n")


def huge_field(folder: Path) -> None:
    rows = [b"id;nota;importe", b"1;corta;5", b"2;" + b"x" * MIB + b";6", b"3;ok;" + b"9" * MIB]
    (folder / "notas.csv").write_bytes(b"\n".join(rows) + b"\n")


def parquet_nested(folder: Path) -> None:
    cliente = pa.struct([("nombre", pa.string()), ("dir", pa.struct([("cp", pa.string())]))])
    morning = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "cliente": pa.array([{"nombre": "Ana", "dir": {"cp": "36201"}}, {"nombre": "Luis", "dir": None}], cliente),
            "importe": ["7.50", "x"],
            "fecha": pa.array([dt.date(2026, 11, 1), None], pa.date32()),
        }
    )
    afternoon = pa.table(
        {
            "id": pa.array([3], pa.int64()),
            "cliente": pa.array([{"nombre": "Eva", "dir": {"cp": "15001"}}], cliente),
            "importe": ["1"],
            "fecha": pa.array([dt.date(2026, 11, 2)], pa.date32()),
            "canal": ["web"],
        }
    )
    pq.write_table(morning, folder / "a_manana.parquet")
    pq.write_table(afternoon, folder / "b_tarde.parquet")


def parquet_junk(folder: Path) -> None:
    parquet_nested(folder)
    # An upload cut short: the magic bytes of a Parquet file and then nothing that makes one.
    (folder / "x_truncada.parquet").write_bytes(b"PAR1" + bytes(range(200)))


def parquet_typed_casts(folder: Path) -> None:
    utc = dt.UTC
    midnight, morning = dt.datetime(2026, 11, 1, tzinfo=utc), dt.datetime(2026, 11, 1, 10, 30, tzinfo=utc)
    # One defect per row after the first; the last row is clean at the types' lower bounds.
    rows = [
        (1, 5, 2.0, "1.2300", midnight),
        (2, 3_000_000_000, 1.0, "1", midnight),  # a long Spark would wrap to -1294967296
        (3, 1, 1.5, "1", midnight),  # a fraction Spark would truncate to 1
        (4, 1, float("nan"), "1", midnight),  # NaN, which Spark would make 0
        (5, 1, 1.0, "1.2345", midnight),  # four decimals Spark would round to 1.23
        (6, 1, 1.0, "123456789012.0000", midnight),  # twelve integer digits in decimal(12,2)
        (7, 1, 1.0, "1", morning),  # a time of day Spark would drop
        (8, -(2**31), -3.0, "-0.0100", dt.datetime(2026, 11, 2, tzinfo=utc)),
    ]
    ids, unidades, cantidades, importes, fechas = zip(*rows)
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "unidades": pa.array(unidades, pa.int64()),
        "cantidad": pa.array(cantidades, pa.float64()),
        "importe": pa.array([Decimal(v) for v in importes], pa.decimal128(20, 4)),
        "fecha": pa.array(fechas, pa.timestamp("us", tz="UTC")),
    })
    pq.write_table(table, folder / "stock.parquet")


GENERATORS = {f.__name__: f for f in (binary_junk, huge_field, parquet_nested, parquet_junk, parquet_typed_casts)}


def load_case(name: str) -> dict[str, Any]:
    return yaml.safe_load((CORPUS / name / "case.yaml").read_text(encoding="utf-8"))


def job_config(case: dict[str, Any], tmp_path: Path) -> str:
    """The case's dataset through the config model, as the DAG passes it to the job."""
    document = {"settings": SETTINGS, "datasets": [{"name": "corpus", "source": "corpus/{ds}/*", **case["dataset"]}]}
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return json.dumps(load_config(path, environ={}).dataset("corpus").job_config())


def raw_partition(name: str, case: dict[str, Any], root: Path) -> Path:
    folder = root / "raw" / "corpus" / f"dt={RUN_DATE}"
    if case.get("generated"):
        folder.mkdir(parents=True)
        GENERATORS[name](folder)
    else:
        shutil.copytree(CORPUS / name / "input", folder)
    return folder


def comparable(value: Any) -> str:
    """Values of either side as one JSON text: Decimals and dates as the corpus writes them."""
    if isinstance(value, (Decimal, dt.date)):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def same_values(actual: list[Any], expected: list[Any]) -> bool:
    return sorted(map(comparable, actual)) == sorted(map(comparable, expected))


@pytest.fixture
def s3(aws: str):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(spark: SparkSession, tmp_path: Path, s3, name: str) -> None:
    case = load_case(name)
    raw_partition(name, case, tmp_path)
    counts_key = f"job-reports/corpus/dt={RUN_DATE}/counts.json"
    args = {
        "JOB_NAME": "clean-corpus",
        "dataset": "corpus",
        "run_date": RUN_DATE,
        "raw_path": f"{(tmp_path / 'raw' / 'corpus').as_uri()}/dt={RUN_DATE}/",
        "clean_path": f"{(tmp_path / 'clean' / 'corpus').as_uri()}/",
        "rejects_path": f"{(tmp_path / 'rejects' / 'corpus').as_uri()}/",
        "counts_path": f"s3://{BUCKET}/{counts_key}",
        "clean_database": SETTINGS["clean_database"],
        "dataset_config": job_config(case, tmp_path),
    }
    clean_folder = tmp_path / "clean" / "corpus" / f"dt={RUN_DATE}"
    rejects_folder = tmp_path / "rejects" / "corpus" / f"dt={RUN_DATE}"

    if "error" in case:
        with pytest.raises(Exception, match=case["error"]):
            job.run_job(args, spark)
        # A failed run publishes nothing.
        assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
        assert not clean_folder.exists() and not rejects_folder.exists()
        return

    job.run_job(args, spark)

    expected = case["expected"]
    counts = json.loads(s3.get_object(Bucket=BUCKET, Key=counts_key)["Body"].read())
    assert {key: counts[key] for key in expected if key in counts} == {
        key: value for key, value in expected.items() if key in counts
    }
    assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"]

    reject_files = sorted(rejects_folder.glob("*.json"))
    # JSON lines end with "\n" only; str.splitlines would also split at characters such as U+2028 inside values.
    lines = [line for path in reject_files for line in path.read_text(encoding="utf-8").split("\n") if line]
    rejects = [json.loads(line) for line in lines]
    assert len(rejects) == counts["rejected"]
    assert collections.Counter(r["reject_reason"] for r in rejects) == collections.Counter(counts["rejects_by_reason"])
    if "rejects" in expected:
        as_listed = sorted([r["reject_reason"], r["reject_columns"]] for r in rejects)
        assert as_listed == sorted(expected["rejects"])
    for column, values in expected.get("reject_values", {}).items():
        assert same_values([r[column] for r in rejects], values), column

    clean = spark.read.parquet(str(clean_folder))
    glue_types = {f.name: job.hive_type(f.dataType) for f in clean.schema.fields}
    assert list(glue_types) == counts["columns"]
    for column, type_name in expected.get("types", {}).items():
        assert glue_types[column] == type_name, column
    # Timestamps as UTC text, whatever the zone of this Python process.
    as_text = [
        F.date_format(f.name, "yyyy-MM-dd HH:mm:ss").alias(f.name) if isinstance(f.dataType, T.TimestampType)
        else F.col(f.name) for f in clean.schema.fields
    ]
    rows = clean.select(*as_text).collect()
    assert len(rows) == counts["clean"]
    for column, values in expected.get("clean_values", {}).items():
        assert same_values([row[column] for row in rows], values), column
    for column, lengths in expected.get("clean_lengths", {}).items():
        assert sorted(len(row[column]) for row in rows) == sorted(lengths), column


def test_the_corpus_covers_every_kind_of_bad_input() -> None:
    """At least one case per kind of bad input the job must survive; a renamed or lost case fails here."""
    kinds = {
        "encodings": ["encoding_cp1252", "encoding_latin1", "encoding_mismatch"],
        "utf-8 bom": ["utf8_bom"],
        "ragged rows": ["ragged_rows"],
        "quoted newlines": ["quoted_newlines"],
        "crlf": ["crlf"],
        "empty file": ["empty_file"],
        "header only": ["header_only", "header_only_skip"],
        "binary junk": ["binary_junk", "parquet_junk"],
        "huge field": ["huge_field"],
        "mixed types": ["mixed_types", "mixed_types_inferred"],
        "types by vote": ["inference_votes_na_in_integers", "inference_dates_day_first", "inference_dates_undecided",
                          "inference_hints"],
        "unexpected columns": ["unexpected_column_add", "unexpected_column_ignore", "unexpected_column_fail"],
        "missing columns": ["missing_columns", "missing_columns_null"],
        "json array vs lines": ["json_array_and_lines"],
        "json key order": ["json_column_order"],
        "nested json": ["json_nested", "parquet_nested"],
        "duplicate keys": ["duplicate_keys", "duplicate_keys_first_seen"],
        "out-of-range dates": ["out_of_range_dates", "dates_beyond_year_9999"],
        "numbers with both separators": ["numbers_both_separators", "numbers_certain_separators"],
        "numbers with exponents, signs and symbols": ["numbers_exponent_and_signs", "numbers_symbols"],
        "month names": ["dates_spanish_months", "dates_english_months"],
        "decimals beyond the scale or precision": ["decimal_scale_comma", "decimal_rounding_half_up"],
        "integer overflow": ["integer_overflow"],
        "doubles beyond a double": ["double_overflow"],
        "sub-microsecond timestamps": ["timestamp_nanoseconds"],
        "booleans outside the tokens": ["booleans_outside_tokens"],
        "typed values a narrower type would change": ["parquet_typed_casts"],
        "rule violations": ["rule_violations"],
        "title lines before the header": ["csv_title_lines", "csv_title_lines_quote"],
        "delimiters ending every line": ["csv_trailing_delimiters"],
        "blank lines": ["csv_blank_lines"],
    }
    listed = [name for names in kinds.values() for name in names]
    assert sorted(listed) == CASES
    for name in CASES:
        case = load_case(name)
        assert case["about"] and ("error" in case) != ("expected" in case), name
        assert case.get("generated", False) == (name in GENERATORS) != (CORPUS / name / "input").is_dir(), name
