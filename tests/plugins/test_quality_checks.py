"""Declared checks on the local stack's Athena engine: the SQL really runs on Parquet partitions in S3.

Two partitions of the same table shape, ``good`` (every check passes) and ``bad`` (every check fails), with the
same checks declared, so each kind is seen both ways with its exact counts and failing rows.
"""
from __future__ import annotations

import datetime
import decimal
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clean_tables import parquet_storage

from indata_ops.hooks.validation import ValidationQueryHook
from indata_ops.quality.evaluate import ChecksRun, check_results, run_checks
from indata_ops.quality.model import DeclaredCheck
from indata_ops.quality.sql import check_queries, literal, quote

BUCKET = "qtest-checks"
DATABASE = "qtest_clean"
DAY = "2026-11-01"
EARLIER = "2026-10-31"
OUTPUT = f"s3://{BUCKET}/athena-results/"
UTC = datetime.UTC
D = decimal.Decimal

COLUMNS = {"id": "bigint", "cliente": "string", "estado": "string", "importe": "decimal(12,2)", "cantidad": "int",
           "precio": "double", "fecha": "date", "creado": "timestamp"}
ARROW = pa.schema([("id", pa.int64()), ("cliente", pa.string()), ("estado", pa.string()),
                   ("importe", pa.decimal128(12, 2)), ("cantidad", pa.int32()), ("precio", pa.float64()),
                   ("fecha", pa.date32()), ("creado", pa.timestamp("us", tz="UTC"))])


def ts(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


GOOD = [
    (1, "ana", "pagado", D("10.50"), 1, 1.5, day("2026-11-01"), ts("2026-11-01 13:00:00")),
    (2, "o'neil", "pendiente", D("100000.00"), 2, None, day("2026-10-31"), ts("2026-10-31 23:59:59.500")),
    (3, "luis", "o'k", D("0.00"), None, 100.0, day("2026-11-01"), ts("2026-10-30 00:00:00")),
]
BAD = [
    (1, "ana", "pagado", D("10.50"), 1, 1.5, day("2026-10-31"), ts("2026-11-01 10:00:00")),
    (1, "pepe", "borrado", D("-5.00"), 2, 0.25, day("2026-10-30"), ts("2026-10-30 08:00:00")),
    (None, None, None, None, None, None, None, None),
    (4, "zoe", "it's", D("120000.00"), 7, 200.0, day("2026-10-29"), ts("2026-10-29 09:30:00.250")),
    (5, "ana", None, D("3.00"), None, 2.0, day("2026-10-31"), ts("2026-10-31 01:00:00")),
]
CHECKS = (
    DeclaredCheck("not_null", "not_null(cliente, estado)", columns=("cliente", "estado")),
    DeclaredCheck("unique", "unique(id)", columns=("id",)),
    DeclaredCheck("accepted_values", "accepted_values(estado)", columns=("estado",),
                  values=("pagado", "pendiente", "o'k")),
    DeclaredCheck("range", "range(importe)", columns=("importe",), min=D("0"), max=D("100000.00")),
    # 01:00 at UTC+1 is midnight UTC: the literal is the UTC wall time Athena reads from Parquet.
    DeclaredCheck("range", "range(creado)", columns=("creado",),
                  min=datetime.datetime(2026, 10, 30, 1, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
                  max=ts("2026-11-01 23:59:59")),
    DeclaredCheck("range", "range(fecha)", columns=("fecha",), min=day("2026-10-30"), max=day("2026-11-01")),
    DeclaredCheck("row_count", "row_count", min=2, max=4),
    DeclaredCheck("freshness", "freshness(fecha)", columns=("fecha",), max_age=datetime.timedelta(days=1)),
    DeclaredCheck("freshness", "freshness(creado)", columns=("creado",), max_age=datetime.timedelta(hours=12)),
    DeclaredCheck("relationship", "cliente in clientes (same date)", columns=("cliente",), to_dataset="clientes",
                  to_column="nombre"),
    DeclaredCheck("relationship", "cliente in clientes (any date)", severity="warn", columns=("cliente",),
                  to_dataset="clientes", to_column="nombre", same_date=False),
    DeclaredCheck("sql", "no price over 100",
                  sql="SELECT id, precio FROM {table} WHERE dt = '{run_date}' AND precio > 100 -- big prices;"),
    DeclaredCheck("range", "range(precio)", severity="warn", columns=("precio",), min=0.5, max=100.0),
    DeclaredCheck("unique", "unique(cliente, fecha)", columns=("cliente", "fecha")),
)


@pytest.fixture(scope="module")
def catalog(aws):
    """Tables good, bad (DAY) and clientes (DAY and EARLIER) in the clean database; partition sizes by table."""
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    sizes: dict[str, int] = {}

    def table(name: str, columns: dict[str, str], partitions: dict[str, list[pa.Table]]) -> None:
        glue.create_table(DatabaseName=DATABASE, TableInput={
            "Name": name, "TableType": "EXTERNAL_TABLE", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": parquet_storage(f"s3://{BUCKET}/clean/{name}/", columns),
            "Parameters": {"classification": "parquet"}})
        for date, parts in partitions.items():
            for number, part in enumerate(parts):
                buffer = io.BytesIO()
                pq.write_table(part, buffer)
                s3.put_object(Bucket=BUCKET, Key=f"clean/{name}/dt={date}/part-{number}.parquet",
                              Body=buffer.getvalue())
                if date == DAY:
                    sizes[name] = sizes.get(name, 0) + len(buffer.getvalue())
            glue.batch_create_partition(DatabaseName=DATABASE, TableName=name, PartitionInputList=[
                {"Values": [date],
                 "StorageDescriptor": parquet_storage(f"s3://{BUCKET}/clean/{name}/dt={date}/", columns)}])

    def rows(records: list[tuple]) -> pa.Table:
        return pa.Table.from_pylist([dict(zip(COLUMNS, record)) for record in records], schema=ARROW)

    table("good", COLUMNS, {DAY: [rows(GOOD)]})
    # Two files and another date: the checks read the run's partition only, each file once.
    table("bad", COLUMNS, {DAY: [rows(BAD[:2]), rows(BAD[2:])], EARLIER: [rows(GOOD)]})
    names = {"nombre": "string"}
    table("clientes", names, {DAY: [pa.table({"nombre": ["ana", "o'neil", "luis", None]})],
                              EARLIER: [pa.table({"nombre": ["pepe"]})]})
    table("nulos", {"id": "bigint"}, {DAY: [pa.table({"id": pa.array([None, None, 7, 7, 8], pa.int64())})]})
    return sizes


@pytest.fixture(scope="module")
def hook(stack):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_AWS_QUALITY", json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": stack.endpoint, "region_name": "us-east-1"}}))
        yield ValidationQueryHook(aws_conn_id="aws_quality", region_name="us-east-1")


def checks_of(hook: ValidationQueryHook, table: str, checks=CHECKS, keys=("id",)) -> ChecksRun:
    return run_checks(hook, check_queries(DATABASE, table, DAY, COLUMNS, keys, checks), OUTPUT, poll_seconds=0.2)


@pytest.fixture(scope="module")
def good(catalog, hook) -> ChecksRun:
    return checks_of(hook, "good")


@pytest.fixture(scope="module")
def bad(catalog, hook) -> ChecksRun:
    return checks_of(hook, "bad")


def table_of(run: ChecksRun) -> list[tuple[str, str, str, str, str]]:
    return [(r.name, r.severity, r.expected, r.actual, r.result) for r in run.results]


# What each result says it expects, in report order: the key checks, then the declared checks.
EXPECTED = [
    ("rows with a NULL key (id)", "error", "0"),
    ("duplicated keys (id)", "error", "0"),
    ("not_null(cliente, estado)", "error", "0 rows with NULL"),
    ("unique(id)", "error", "0 repeated values"),
    ("accepted_values(estado)", "error", "estado in ('pagado', 'pendiente', 'o''k')"),
    ("range(importe)", "error", "0 <= importe <= 100000.00"),
    ("range(creado)", "error", "2026-10-30 00:00:00 UTC <= creado <= 2026-11-01 23:59:59 UTC"),
    ("range(fecha)", "error", "2026-10-30 <= fecha <= 2026-11-01"),
    ("row_count", "error", "2 <= rows <= 4"),
    ("freshness(fecha)", "error", "max(fecha) >= 2026-11-01 00:00:00 UTC (a date: its midnight)"),
    ("freshness(creado)", "error", "max(creado) >= 2026-11-01 12:00:00 UTC"),
    ("cliente in clientes (same date)", "error", "0 values of cliente missing from clientes.nombre (dt=2026-11-01)"),
    ("cliente in clientes (any date)", "warn", "0 values of cliente missing from clientes.nombre (any date)"),
    ("no price over 100", "error", "0 rows"),
    ("range(precio)", "warn", "0.5 <= precio <= 100.0"),
    ("unique(cliente, fecha)", "error", "0 repeated combinations"),
]


def test_every_check_passes_on_a_good_partition_with_what_it_saw(good):
    assert [(r.name, r.severity, r.expected) for r in good.results] == EXPECTED
    assert [(r.actual, r.result) for r in good.results] == [
        ("0", "ok"), ("0", "ok"), ("0 rows", "ok"), ("0 values", "ok"), ("0 rows outside", "ok"),
        ("0 rows outside (min 0.00, max 100000.00)", "ok"),
        ("0 rows outside (min 2026-10-30 00:00:00.000, max 2026-11-01 13:00:00.000)", "ok"),
        ("0 rows outside (min 2026-10-31, max 2026-11-01)", "ok"),
        ("3 rows", "ok"), ("max 2026-11-01", "ok"), ("max 2026-11-01 13:00:00.000", "ok"),
        ("0 values", "ok"), ("0 values", "ok"), ("0 rows", "ok"),
        ("0 rows outside (min 1.5, max 100.0)", "ok"), ("0 combinations", "ok")]
    assert all(not r.failing_rows for r in good.results)
    # A passing day costs the main query and one query per relationship or sql check, nothing more.
    assert good.queries == 1 + 3 and good.failing_rows_bytes_scanned == 0
    assert (good.clean_rows, good.null_key_rows, good.duplicate_keys) == (3, 0, 0)


def test_every_check_fails_on_a_bad_partition_with_exact_counts_and_severity(bad):
    assert [(r.name, r.severity, r.expected) for r in bad.results] == EXPECTED
    # A failed check of severity warn reads WARN: it fails nothing.
    assert [(r.actual, r.result) for r in bad.results] == [
        ("1", "FAILED"), ("1", "FAILED"), ("2 rows (cliente 1, estado 2)", "FAILED"), ("1 value in 2 rows", "FAILED"),
        ("2 rows outside", "FAILED"), ("2 rows outside (min -5.00, max 120000.00)", "FAILED"),
        ("1 row outside (min 2026-10-29 09:30:00.250, max 2026-11-01 10:00:00.000)", "FAILED"),
        ("1 row outside (min 2026-10-29, max 2026-10-31)", "FAILED"),
        ("5 rows", "FAILED"), ("max 2026-10-31", "FAILED"), ("max 2026-11-01 10:00:00.000", "FAILED"),
        ("2 values", "FAILED"), ("1 value", "WARN"), ("1 row", "FAILED"),
        ("2 rows outside (min 0.25, max 200.0)", "WARN"), ("1 combination in 2 rows", "FAILED")]
    assert (bad.clean_rows, bad.null_key_rows, bad.duplicate_keys) == (5, 1, 1)


def test_failed_checks_show_a_few_failing_rows(bad):
    rows = {r.name: [dict(row) for row in r.failing_rows] for r in bad.results}
    null_row = dict.fromkeys(COLUMNS)
    assert rows["rows with a NULL key (id)"] == [null_row]
    assert rows["duplicated keys (id)"] == [{"id": "1", "rows": "2"}]
    # Ordered by every column, NULLs last (Athena's default).
    assert rows["not_null(cliente, estado)"] == [
        {"id": "5", "cliente": "ana", "estado": None, "importe": "3.00", "cantidad": None, "precio": "2.0",
         "fecha": "2026-10-31", "creado": "2026-10-31 01:00:00.000"}, null_row]
    assert rows["unique(id)"] == [{"id": "1", "rows": "2"}]
    assert rows["accepted_values(estado)"] == [{"estado": "borrado", "rows": "1"}, {"estado": "it's", "rows": "1"}]
    assert rows["range(importe)"] == [{"importe": "-5.00", "rows": "1"}, {"importe": "120000.00", "rows": "1"}]
    assert rows["range(creado)"] == [{"creado": "2026-10-29 09:30:00.250", "rows": "1"}]
    assert rows["range(fecha)"] == [{"fecha": "2026-10-29", "rows": "1"}]
    assert rows["range(precio)"] == [{"precio": "0.25", "rows": "1"}, {"precio": "200.0", "rows": "1"}]
    assert rows["cliente in clientes (same date)"] == [{"cliente": "pepe"}, {"cliente": "zoe"}]
    assert rows["cliente in clientes (any date)"] == [{"cliente": "zoe"}]
    assert rows["no price over 100"] == [{"id": "4", "precio": "200.0"}]
    assert rows["unique(cliente, fecha)"] == [{"cliente": "ana", "fecha": "2026-10-31", "rows": "2"}]
    assert rows["row_count"] == rows["freshness(fecha)"] == rows["freshness(creado)"] == []
    # One more query per failed check that has rows to show: 13 of the 16 results.
    assert bad.queries == 1 + 3 + 13 and bad.failing_rows_bytes_scanned > 0


def test_partition_metrics_hold_each_numeric_columns_null_share(good, bad):
    assert [r.detail for r in good.results if r.kind == "freshness"] == [
        "max_age 1 day before the end of 2026-11-01", "max_age 12 hours before the end of 2026-11-01"]
    assert bad.metrics.rows == 5 and good.metrics.rows == 3
    assert bad.metrics.null_shares == {"id": 0.2, "importe": 0.2, "cantidad": 0.4, "precio": 0.2}
    assert good.metrics.null_shares == pytest.approx({"id": 0, "importe": 0, "cantidad": 1 / 3, "precio": 1 / 3})
    assert dict(good.metrics.columns) == COLUMNS


def test_the_main_query_scans_the_partition_once(bad, catalog):
    # Two files of the run's partition (the earlier date is not read); the other tables are the extra queries'.
    assert 0 < bad.bytes_scanned <= 1.1 * catalog["bad"]
    queries = check_queries(DATABASE, "bad", DAY, COLUMNS, ["id"], CHECKS)
    # The local engine counts a table reference's objects once even when a CTE repeats it (Athena would read it
    # at every reference): the SQL itself names the table once, without a CTE.
    assert queries.main.count(f'"{DATABASE}"."bad"') == 1 and not queries.main.lstrip().upper().startswith("WITH")
    # Relationship checks read the partition and the other table; sql reads the partition.
    assert bad.extra_bytes_scanned >= 3 * catalog["bad"] + catalog["clientes"]


def test_without_keys_or_unique_checks_the_main_query_needs_no_grouping(catalog, hook):
    checks = (DeclaredCheck("row_count", "row_count", min=1),
              DeclaredCheck("freshness", "fresh", columns=("fecha",), max_age=datetime.timedelta(days=3)),
              DeclaredCheck("range", "range(cantidad)", columns=("cantidad",), max=5))
    assert "GROUPING" not in check_queries(DATABASE, "bad", DAY, COLUMNS, (), checks).main
    run = checks_of(hook, "bad", checks=checks, keys=())
    assert table_of(run) == [
        ("row_count", "error", "rows >= 1", "5 rows", "ok"),
        ("fresh", "error", "max(fecha) >= 2026-10-30 00:00:00 UTC (a date: its midnight)", "max 2026-10-31", "ok"),
        ("range(cantidad)", "error", "cantidad <= 5", "1 row outside (min 1, max 7)", "FAILED")]
    assert [dict(row) for row in run.results[2].failing_rows] == [{"cantidad": "7", "rows": "1"}]
    assert (run.null_key_rows, run.duplicate_keys) == (0, 0)


def test_an_empty_partition_fails_row_count_and_freshness_and_has_no_null_shares(catalog, hook, aws):
    glue = aws("glue")
    glue.batch_create_partition(DatabaseName=DATABASE, TableName="good", PartitionInputList=[
        {"Values": ["2026-11-02"], "StorageDescriptor": parquet_storage(f"s3://{BUCKET}/clean/good/dt=2026-11-02/",
                                                                COLUMNS)}])
    queries = check_queries(DATABASE, "good", "2026-11-02", COLUMNS, ["id"], CHECKS[:2] + CHECKS[6:8])
    run = run_checks(hook, queries, OUTPUT, poll_seconds=0.2)
    assert [(r.name, r.actual, r.result) for r in run.results] == [
        ("rows with a NULL key (id)", "0", "ok"), ("duplicated keys (id)", "0", "ok"),
        ("not_null(cliente, estado)", "0 rows", "ok"), ("unique(id)", "0 values", "ok"),
        ("row_count", "0 rows", "FAILED"), ("freshness(fecha)", "no value", "FAILED")]
    assert run.metrics.rows == 0 and run.metrics.null_shares == {} and run.bytes_scanned == 0


@pytest.mark.parametrize(("value", "expected"), [
    ("it's", "it's"),
    (D("12345678901234567890.123456"), "12345678901234567890.123456"),
    (D("-0.001"), "-0.001"),
    (D("1E+3"), "1000"),
    (day("2026-02-28"), "2026-02-28"),
    (datetime.datetime(2026, 11, 1, 8, 30, 0, 250000, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
     "2026-11-01 11:30:00.250"),
    (1.25, "1.25"),
    (1e20, "1.0E20"),
    (-7, "-7"),
    (True, "true"),
], ids=["string-quote", "decimal-38", "decimal-small", "decimal-exponent", "date", "timestamp-utc", "double",
        "double-exponent", "int", "boolean"])
def test_literals_reach_athena_with_their_exact_value(hook, value, expected):
    [row] = hook.query_rows(f"SELECT {literal(value)} AS v", DATABASE, OUTPUT, "primary", sleep_time=0.2)
    assert row["v"] == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), D("NaN"), datetime.datetime(2026, 1, 1), object()])
def test_values_without_a_literal_are_refused(value):
    with pytest.raises(ValueError, match="literal|time zone"):
        literal(value)


def test_bad_declarations_are_refused_naming_the_check():
    with pytest.raises(ValueError, match=r"check range\(nada\): nada not among the table's columns"):
        check_queries(DATABASE, "good", DAY, COLUMNS, ["id"],
                      [DeclaredCheck("range", "range(nada)", columns=("nada",), max=1)])
    with pytest.raises(ValueError, match="check old: freshness needs a date or timestamp column, cliente is string"):
        check_queries(DATABASE, "good", DAY, COLUMNS, ["id"], [DeclaredCheck(
            "freshness", "old", columns=("cliente",), max_age=datetime.timedelta(days=1))])
    with pytest.raises(ValueError, match="run_date must be a date"):
        check_queries(DATABASE, "good", "2026-11-01' OR '1'='1", COLUMNS, ["id"], [])


def test_results_come_from_the_rows_alone():
    # The pure part: a row as Athena returns it (strings, NULL as None) gives the results without a query.
    queries = check_queries(DATABASE, "good", DAY, COLUMNS, [], CHECKS[6:7] + CHECKS[11:12])
    [row_count, sql] = check_results(queries, {"clean_rows": "1"}, {1: {"failing": "4"}})
    assert (row_count.actual, row_count.passed, sql.actual, sql.passed) == ("1 row", False, "4 rows", False)


def reference_checks_sql(database: str, table: str, run_date: str, keys) -> str:
    """The validation operator's query before declared checks (a CTE read three times), as the reference."""
    source = f"{quote(database)}.{quote(table)} WHERE dt = '{run_date}'"
    if not keys:
        return f"SELECT COUNT(*) AS clean_rows, 0 AS null_key_rows, 0 AS duplicate_keys FROM {source}"
    columns = ", ".join(quote(k) for k in keys)
    null_key = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    return (f"WITH partition_keys AS (SELECT {columns} FROM {source}), "
            f"duplicated AS (SELECT {columns} FROM partition_keys GROUP BY {columns} HAVING COUNT(*) > 1) "
            f"SELECT (SELECT COUNT(*) FROM partition_keys) AS clean_rows, "
            f"(SELECT COUNT_IF({null_key}) FROM partition_keys) AS null_key_rows, "
            f"(SELECT COUNT(*) FROM duplicated) AS duplicate_keys")


@pytest.mark.parametrize("keys", [("id",), ("cliente", "fecha"), ()], ids=["one-key", "two-keys", "no-keys"])
def test_the_main_query_answers_the_key_counts_as_the_operators_query_does(catalog, hook, keys):
    # clean_rows, null_key_rows and duplicate_keys mean what the operator's former query's columns meant (NULL
    # combinations of the keys count as duplicates there too): that query, kept below, is the reference.
    names = ("clean_rows", "null_key_rows", "duplicate_keys")
    for table in ("good", "bad"):
        [today] = hook.query_rows(reference_checks_sql(DATABASE, table, DAY, keys), DATABASE, OUTPUT, "primary",
                                  sleep_time=0.2)
        [main] = hook.query_rows(check_queries(DATABASE, table, DAY, COLUMNS, keys, CHECKS).main, DATABASE, OUTPUT,
                                 "primary", sleep_time=0.2)
        assert {name: main[name] for name in names} == {name: today[name] for name in names}
    assert main["null_key_rows"] == ("1" if keys else "0")


def test_null_passes_a_unique_check_but_repeats_as_a_key(catalog, hook):
    # dbt's unique lets NULL through (a missing value repeats nothing); validation's own key check counts a
    # repeated NULL key as a duplicate, as validate.checks_sql does.
    queries = check_queries(DATABASE, "nulos", DAY, {"id": "bigint"}, ["id"],
                            [DeclaredCheck("unique", "unique(id)", columns=("id",))])
    run = run_checks(hook, queries, OUTPUT, poll_seconds=0.2)
    assert [(r.name, r.actual, r.result) for r in run.results] == [
        ("rows with a NULL key (id)", "2", "FAILED"), ("duplicated keys (id)", "2", "FAILED"),
        ("unique(id)", "1 value in 2 rows", "FAILED")]
    assert [dict(row) for row in run.results[1].failing_rows] == [{"id": "7", "rows": "2"}, {"id": None, "rows": "2"}]
    assert [dict(row) for row in run.results[2].failing_rows] == [{"id": "7", "rows": "2"}]
