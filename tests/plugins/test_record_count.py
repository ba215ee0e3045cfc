"""The backup's record counts (plugins/indata_ops/record_count.py) against the clean job's ``input``.

The job is the real one (include/spark/clean_dataset.py ``run_job``), on local Spark, writing its counts.json to the
local AWS stack: the count validation compares. Each case backs files up into a raw partition, runs the job on it,
and asserts that the sum of the counter's per-file counts equals ``input``, fed whole and in small chunks.
"""
from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from indata_contract import READER_DEFAULTS
from indata_ops.config import DEFAULT_SOURCE_ROOT, load_config
from indata_ops.fingerprint import input_fingerprint
from indata_ops.hooks.backup import BackupHook
from indata_ops.record_count import CSV_RECORDS, HEAD_BYTES, TEXT_LINES, Counted, RecordRules, _QuotedState
from indata_ops.sources import list_sources
from indata_ops.transfer import BackupRun

SHIPPED = load_config(environ={})
EXPECTED = json.loads((DEFAULT_SOURCE_ROOT / "expected_counts.json").read_text(encoding="utf-8"))
SAMPLES = [(dataset.name, day) for dataset in SHIPPED.datasets for day in EXPECTED[dataset.name]]
CSV = dict(READER_DEFAULTS["csv"])


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    """The test session's local Spark session, as tests/spark makes it (the same one when it already runs)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    import clean_dataset

    running = SparkSession.getActiveSession()
    session = running or (
        SparkSession.builder.master("local[2]").appName("tests-record-count")
        .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    clean_dataset.configure_session(session)
    yield session
    if running is None:
        session.stop()
        # py4j logs from __del__ at interpreter exit, after pytest has closed the streams it captured.
        logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture()
def job_input(spark, stack, aws, tmp_path, monkeypatch):
    """Runs the real job on ``{path: bytes}`` under a dataset config; returns counts.json's ``input``."""
    import clean_dataset

    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    bucket = f"records-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=bucket)

    def run(files: dict[str, bytes], config: dict) -> int:
        name = f"t{uuid.uuid4().hex[:8]}"
        raw = tmp_path / name / "raw"
        for relative, data in files.items():
            (raw / "dt=2026-11-01" / relative).parent.mkdir(parents=True, exist_ok=True)
            (raw / "dt=2026-11-01" / relative).write_bytes(data)
        key = f"job-reports/{name}/dt=2026-11-01/counts.json"
        clean_dataset.run_job({
            "JOB_NAME": f"clean-{name}", "dataset": name, "run_date": "2026-11-01",
            "raw_path": f"{raw.as_uri()}/dt=2026-11-01/", "clean_path": f"{(tmp_path / name / 'clean').as_uri()}/",
            "rejects_path": f"{(tmp_path / name / 'rejects').as_uri()}/", "counts_path": f"s3://{bucket}/{key}",
            "clean_database": SHIPPED.settings.clean_database, "dataset_config": json.dumps(config),
        }, spark)
        return json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())["input"]

    return run


def count(rules: RecordRules, relative: str, data: bytes, chunk: int | None = None) -> Counted:
    counter = rules.counter(relative)
    step = chunk or max(len(data), 1)
    for start in range(0, len(data), step):
        counter.update(data[start:start + step])
    return counter.result()


def counted_total(rules: RecordRules, files: dict[str, bytes]) -> int | None:
    """The files' total, the same whole and in 7-byte chunks (or the test fails on the difference)."""
    results = [count(rules, relative, data) for relative, data in files.items()]
    assert [count(rules, relative, data, 7) for relative, data in files.items()] == results
    records = [result.records for result in results]
    return None if None in records else sum(records)  # type: ignore[arg-type]


@pytest.mark.parametrize(("dataset_name", "day"), SAMPLES, ids=[f"{d}-{r}" for d, r in SAMPLES])
def test_sample_data_counts_equal_the_jobs_input(job_input, dataset_name: str, day: str) -> None:
    dataset = SHIPPED.dataset(dataset_name)
    folder = SHIPPED.settings.source_root / dataset.source_folder(day)
    files = {str(path.relative_to(folder)): path.read_bytes()
             for path in sorted(SHIPPED.settings.source_root.glob(dataset.source_glob(day)))}
    counted = counted_total(RecordRules.of(dataset), files)
    assert counted == job_input(files, dataset.job_config()) == EXPECTED[dataset_name][day]["rows_in"]


def csv_config(**reader) -> dict:
    return {"format": "csv", "reader": {**CSV, **reader}}


TRICKY_CSV = {
    "quoted line breaks": ({"a.csv": b'id,nota\n1,"una\nlinea\n\nmas"\n2,"x"\n3,""\n'}, {}),
    "doubled quotes": ({"a.csv": b'id,nota\n1,"dice ""hola""\ny adios"\n2,""""\n3,"a,""b"""\n'}, {}),
    "backslash escape": ({"a.csv": b'id,nota\n1,"dice \\"hola\\"\ny"\n2,"c:\\\\"\n3,"\\\\\\"\n"\n'},
                         {"escape": "\\"}),
    "crlf": ({"a.csv": b'id,nota\r\n1,"a\r\nb"\r\n\r\n2,c\r\n   \r\n3,d\r\n'}, {}),
    "blank lines inside and at the end": (
        {"a.csv": b"id;nota\n\n1;a\n \t \n\n2;b\n\n\n  \n", "b.csv": b"\n\nid;nota\n1;x\n"}, {"delimiter": ";"}),
    "skip_rows": ({"a.csv": b'Informe de ventas\nGenerado el 2026-11-01;;\nid;nota\n1;a\n\n2;"b\nc"\n'},
                  {"delimiter": ";", "skip_rows": 2}),
    "no trailing newline": ({"a.csv": b"id,nota\n1,a\n2,b", "b.csv": b'id,nota\n1,"a\nb"'}, {}),
    "bom": ({"a.csv": b"\xef\xbb\xbfid,nota\n1,a\n2,b\n", "b.csv": b"\xef\xbb\xbf\nid,nota\n1,a\n"}, {}),
    "windows-1252": ({"a.csv": "Código;Importe (€)\n1;\"2,5 €\"\n2;ñandú\n\n".encode("cp1252")},
                     {"delimiter": ";", "encoding": "windows-1252"}),
    "header only and empty": ({"a.csv": b"id,nota\n", "b.csv": b"", "c.csv": b"\n \n", "d.csv": b"id,nota\n1,a\n"},
                              {}),
    # One field: a line of spaces is a value, not a malformed record the job drops as blank.
    "one column": ({"a.csv": b"id\n1\n   \n\n2\n"}, {}),
    # A line of tabs is a record of empty fields, a line of spaces a blank one.
    "tab delimiter": ({"a.csv": b"id\tnota\n1\ta\n\t\n \n2\tb\n"}, {"delimiter": "\t"}),
    "carriage returns only": ({"a.csv": b'id,nota\r1,"a\rb"\r\r2,b\r'}, {}),
    "a quoted empty value alone": ({"a.csv": b'id,nota\n""\n1,a\n'}, {}),
    "no header": ({"a.csv": b"1,a\n\n2,b\n", "b.csv": b"\n3,c\n"}, {"header": False}),
    "binary": ({"a.csv": b"id,nota\n1,a\n", "b.csv": bytes(range(256)) * 5 + b"\x00\r\n\rend"}, {}),
}


@pytest.mark.parametrize("case", list(TRICKY_CSV))
def test_tricky_csv_counts_equal_the_jobs_input(job_input, case: str) -> None:
    files, reader = TRICKY_CSV[case]
    config = csv_config(**reader)
    counted = counted_total(RecordRules("csv", config["reader"]), files)
    assert counted is not None
    assert counted == job_input(files, config)


def test_json_lines_count_non_blank_lines_as_the_job(job_input) -> None:
    files = {"a.json": b'{"id": 1}\n\n{"id": 2}\r\n  \n{"id": 3}', "b.json": b'{"id": 4}\n\t \t\n{"id": "5"}\n\n'}
    config = {"format": "json", "reader": {"layout": "lines"}}
    assert counted_total(RecordRules("json", config["reader"]), files) == job_input(files, config) == 5


def test_json_arrays_count_their_objects_as_the_job(job_input) -> None:
    files = {"a.json": b'[{"id": 1, "nota": "]},[\\"x"},\n {"id": 2, "sub": [{"x": 1}, []]},\n {}\n]\n',
             "b.json": b'{\n  "id": 7,\n  "nota": "one object over lines"\n}\n', "c.json": b" [ ]\n",
             "d.json": b'{"id": 8}\n{"id": 9}\n'}
    config = {"format": "json", "reader": {"layout": "auto"}}
    assert counted_total(RecordRules("json", config["reader"]), files) == job_input(files, config) == 6


def test_parquet_counts_the_footers_rows_as_the_job(job_input, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {}
    for name, rows in (("a.parquet", 3), ("b.parquet", 0), ("sub/c.parquet", 5)):
        pq.write_table(pa.table({"id": list(range(rows))}, schema=pa.schema([("id", pa.int64())])),
                       tmp_path / "x.parquet")
        files[name] = (tmp_path / "x.parquet").read_bytes()
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(files[name])
    rules = RecordRules("parquet")
    counted = [rules.counter(name, tmp_path / name).result() for name in files]
    assert [result.records for result in counted] == [3, 0, 5]
    assert job_input(files, {"format": "parquet"}) == 8
    assert rules.counter("a.parquet", tmp_path / "x.parquet.missing").result().note.startswith("not a readable")


def test_what_cannot_be_counted_exactly_is_left_out_with_the_reason() -> None:
    csv, json_documents = RecordRules("csv", CSV), RecordRules("json", {"layout": "array"})
    assert count(json_documents, "a.json", b"[1, 2]").note == "a JSON array whose elements are not all objects"
    assert count(json_documents, "a.json", b'[{"id": 1},]').note.startswith("not well-formed JSON")
    assert count(json_documents, "a.json", b"[" + b'{"id": 1},' * (2 << 20) + b"{}]", 1 << 20).note.startswith(
        "a JSON document (array layout) larger than 16 MiB")
    mid_value = count(csv, "a.csv", b'id,nota\n1,ab"c\n2,d\n')
    assert mid_value.records is None and "does not start a value" in str(mid_value.note)
    assert count(RecordRules("csv", {**CSV, "encoding": "utf-16"}), "a.csv",
                 "id,nota\n1,a\n".encode("utf-16")).note.startswith("encoding utf-16 is not counted")
    assert count(csv, "a.csv.gz", b"\x1f\x8b").note.startswith("compressed (gz)")
    assert count(csv, "_tmp/a.csv", b"id\n1\n") == Counted(0, "not-read-by-the-job")  # Spark skips it


def test_a_counter_never_raises_into_the_backup() -> None:
    broken = RecordRules("csv", {**CSV, "encoding": "no-such-encoding"})
    result = count(broken, "a.csv", b"id\n1\n")
    assert result.records is None and "the counter failed" in str(result.note)


def test_random_bytes_are_counted_as_the_lines_the_job_rejects() -> None:
    # A NUL in the first record makes it no header (about 7 % of random windows-1252 heads start with a short
    # record of text: the job parses those as CSV, and the counter marks them uncounted at their first stray quote).
    data = b"\x00" + random.Random(7).randbytes(3 * HEAD_BYTES)
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + (data[-1:] not in (b"\n", b"\r"))
    assert count(RecordRules("csv", CSV), "big.csv", data, 1 << 16) == Counted(lines, TEXT_LINES)


TRICKY_TEXT = b'a,"b\r\n""c""",d\r\n\r\n"e",f\r\n  \r\n"",g\r\n"h\r\n'


@pytest.mark.parametrize("escape", ['"', "\\"])
def test_a_quote_an_escape_or_a_crlf_split_between_chunks_changes_nothing(escape: str) -> None:
    text = TRICKY_TEXT if escape == '"' else TRICKY_TEXT.replace(b'""c""', b'\\"c\\\\\\"')
    whole = _QuotedState(escape=escape)
    assert whole.feed(text) is None
    expected = whole.finish()
    assert expected == 4  # the last record runs, unclosed, to the end
    for cut in range(1, len(text)):
        for second in range(cut, len(text)):
            state = _QuotedState(escape=escape)
            for piece in (text[:cut], text[cut:second], text[second:]):
                assert state.feed(piece) is None
            assert state.finish() == expected, (cut, second)


def test_a_large_file_streams_past_the_head_in_any_chunking() -> None:
    row = b'1,"dos\r\nlineas",""""\r\n\r\n'
    data = b"id,a,b\r\n" + row * (2 * HEAD_BYTES // len(row)) + b"2,x,y"
    expected = Counted(2 * HEAD_BYTES // len(row) + 1, CSV_RECORDS)
    for chunk in (HEAD_BYTES - 1, HEAD_BYTES + 1, 65_537, len(row) * 1000 + 3):
        assert count(RecordRules("csv", CSV), "a.csv", data, chunk) == expected


def test_the_manifest_carries_records_and_their_total(tmp_path: Path, aws, aws_connection) -> None:
    bucket = f"records-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=bucket)
    dataset = SHIPPED.dataset("ventas")
    day = "2026-11-02"
    shutil.copytree(SHIPPED.settings.source_root / "ventas" / day, tmp_path / "ventas" / day)
    hook = BackupHook(aws_conn_id=aws_connection, region_name="us-east-1")

    def back_up() -> dict:
        BackupRun(hook, bucket=bucket, dataset="ventas", run_date=day, snapshot=False, package_version="test",
                  extra_args={}, records=RecordRules.of(dataset)).run(list_sources(tmp_path, dataset, day))
        key = f"manifests/ventas/dt={day}/manifest.json"
        return json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    document = back_up()
    records = {entry["path"]: (entry["records"], entry["records_method"]) for entry in document["files"]}
    assert records == {"ventas_2026-11-02.csv": (41, CSV_RECORDS), "ventas_2026-11-02_tarde.csv": (23, CSV_RECORDS)}
    assert document["totals"]["records"] == EXPECTED["ventas"][day]["rows_in"] == 64
    assert document["records_method"].startswith("backup")

    # A file that changed is counted again; the unchanged one keeps its committed entry.
    changed = tmp_path / "ventas" / day / "ventas_2026-11-02_tarde.csv"
    changed.write_bytes(changed.read_bytes() + "VX-9;02/11/2026;Ana;1,00;1;Norte;sí;2026-11-02 20:00:00\r\n"
                        .encode("cp1252"))
    assert back_up()["totals"]["records"] == 65


def test_entries_from_before_counting_stay_uncounted_and_the_fingerprint_ignores_records(
        tmp_path: Path, aws, aws_connection) -> None:
    bucket = f"records-{uuid.uuid4().hex[:12]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    dataset, day = SHIPPED.dataset("ventas"), "2026-11-02"
    shutil.copytree(SHIPPED.settings.source_root / "ventas" / day, tmp_path / "ventas" / day)
    hook = BackupHook(aws_conn_id=aws_connection, region_name="us-east-1")
    key = f"manifests/ventas/dt={day}/manifest.json"

    def back_up() -> dict:
        BackupRun(hook, bucket=bucket, dataset="ventas", run_date=day, snapshot=False, package_version="test",
                  extra_args={}, records=RecordRules.of(dataset)).run(list_sources(tmp_path, dataset, day))
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    counted = back_up()
    # The same manifest as a release before counting wrote it: no records anywhere.
    older = json.loads(json.dumps(counted))
    for entry in older["files"]:
        for name in ("records", "records_method"):
            del entry[name]
    del older["totals"]["records"], older["records_method"]
    arguments = {"script": b"job", "packages": b"zip", "job_arguments": {}, "crawler_config": {}, "versions": {}}
    assert input_fingerprint(manifest=older, **arguments) == input_fingerprint(manifest=counted, **arguments)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(older).encode())

    changed = tmp_path / "ventas" / day / "ventas_2026-11-02_tarde.csv"
    changed.write_bytes(changed.read_bytes() + b"VX-9;02/11/2026;Ana;1,00;1;Norte;no;2026-11-02 20:00:00\r\n")
    document = back_up()
    entries = {entry["path"]: entry for entry in document["files"]}
    assert "records" not in entries["ventas_2026-11-02.csv"]  # kept as committed: not counted, not guessed
    assert entries["ventas_2026-11-02_tarde.csv"]["records"] == 24
    assert document["totals"]["records"] is None
