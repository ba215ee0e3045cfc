"""ValidateCleanOperator against the local stack: Athena really answers; a failed check fails with a table."""
from __future__ import annotations

import io
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from clean_tables import parquet_storage
from deferred_run import run_deferred

from indata_ops.operators.validate import ValidateCleanOperator
from indata_ops.quality.model import DatasetQuality, DeclaredCheck

BUCKET = "optest-validate"
DATABASE = "optest_clean"
DAY = "2026-11-01"


def put_partition(s3, table: str, ids: list[int | None]) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "amount": pa.array([1.5] * len(ids))}), buffer)
    s3.put_object(Bucket=BUCKET, Key=f"clean/{table}/dt={DAY}/part-0.parquet", Body=buffer.getvalue())


def storage(location: str) -> dict:
    return parquet_storage(location, {"id": "bigint", "amount": "double"})


@pytest.fixture(scope="module")
def catalog(aws):
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DATABASE})

    def table(name: str, ids: list[int | None], counts: dict) -> None:
        put_partition(s3, name, ids)
        glue.create_table(DatabaseName=DATABASE, TableInput={
            "Name": name, "TableType": "EXTERNAL_TABLE", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": storage(f"s3://{BUCKET}/clean/{name}/"), "Parameters": {"classification": "parquet"}})
        glue.batch_create_partition(DatabaseName=DATABASE, TableName=name, PartitionInputList=[
            {"Values": [DAY], "StorageDescriptor": storage(f"s3://{BUCKET}/clean/{name}/dt={DAY}/")}])
        s3.put_object(Bucket=BUCKET, Key=f"job-reports/{name}/dt={DAY}/counts.json", Body=json.dumps(counts).encode())
        if name != "bad":  # "bad" has no committed backup
            s3.put_object(Bucket=BUCKET, Key=f"manifests/{name}/dt={DAY}/manifest.json",
                          Body=json.dumps({"totals": {"files": 2, "bytes": 10}}).encode())

    table("good", [1, 2, 3], {"input": 5, "clean": 3, "rejected": 1, "duplicates": 1})
    table("bad", [1, 1, None], {"input": 5, "clean": 4, "rejected": 1, "duplicates": 1})
    table("empty", [], {"input": 0, "clean": 0, "rejected": 0, "duplicates": 0})  # files without records
    # Inference kept a mostly numeric column as text and changed another's type: warnings, not failures.
    table("degraded", [1, 2, 3], {"input": 3, "clean": 3, "rejected": 0, "duplicates": 0, "inference": {
        "id": {"type": "bigint", "share": 1.0, "examples": []},
        "presion": {"type": "string", "share": 0.62, "examples": ["1,013.2", "n/d"], "looks_like": "number"},
        "fecha": {"type": "string", "share": None, "examples": [], "undecided": "day/month order"},
        "amount": {"type": "double", "share": 1.0, "examples": [], "previous_type": "bigint"}}})
    return glue


def validate(name: str, conn: str, **kwargs) -> ValidateCleanOperator:
    kwargs.setdefault("wait_before_deferring", 0)  # a deferrable task hands even a short query to the trigger
    return ValidateCleanOperator(task_id="validate_clean", dataset=name, keys=["id"], run_date=DAY, bucket=BUCKET,
                                 database=DATABASE, output_location=f"s3://{BUCKET}/athena-results/",
                                 aws_conn_id=conn, **kwargs)


def run(operator: ValidateCleanOperator) -> dict:
    """Polling, or deferred to AthenaTrigger for each query still running when it looks (as the triggerer would)."""
    if not operator.deferrable:
        return operator.execute({})
    result, deferrals = run_deferred(operator, {})
    # The first look comes right after the start: the query is still running.
    # One wait, for the main query; the other queries' ids go with the defer kwargs.
    [deferred] = deferrals
    assert isinstance(deferred.trigger, AthenaTrigger) and deferred.method_name == "execute_complete"
    assert set(deferred.kwargs or {}) == {"extra_queries"}
    return result


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_all_checks_pass_on_a_good_partition(catalog, aws_connection, deferrable):
    result = run(validate("good", aws_connection, deferrable=deferrable))
    assert [(c["name"], c["actual"], c["passed"]) for c in result["checks"]] == [
        ("backup manifest committed, files", "2", True),
        ("clean rows > 0", "3", True),
        ("clean rows = job's clean count", "3", True),
        ("input = clean + rejected + duplicates", "5", True),
        ("rows with a NULL key (id)", "0", True),
        ("duplicated keys (id)", "0", True)]
    assert result["counts"]["clean"] == 3


def table_lines(report: str) -> dict[str, list[str]]:
    """The report table's rows by check name: [expected, actual, severity, result]."""
    return {cells[0]: cells[1:] for line in report.splitlines() if line.count("|") == 4
            for cells in [[cell.strip() for cell in line.split("|")]]}


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_failed_checks_fail_the_task_with_a_readable_table(catalog, aws_connection, deferrable):
    with pytest.raises(AirflowFailException) as failure:  # the data will not change: no retry
        run(validate("bad", aws_connection, deferrable=deferrable))
    report = str(failure.value)
    assert report.startswith(f"Validation of {DATABASE}.bad (bad) dt={DAY}")
    lines = table_lines(report)
    assert lines["clean rows = job's clean count"] == ["4", "3", "error", "FAILED"]
    assert lines["input = clean + rejected + duplicates"] == ["5", "6", "error", "FAILED"]  # 5 != 4 + 1 + 1
    assert lines["rows with a NULL key (id)"][-1] == "FAILED"
    assert lines["duplicated keys (id)"][-1] == "FAILED"
    assert lines["clean rows > 0"][-1] == "ok"
    assert lines["backup manifest committed, files"][-1] == "FAILED"
    # A few of the failing rows are shown under their check, and the report's place in S3 closes the message.
    assert "Failing rows of duplicated keys (id):" in report
    assert report.rstrip().endswith(f"Report: s3://{BUCKET}/reports/bad/dt={DAY}/validation.html")


def test_a_run_date_that_is_not_a_date_is_refused(aws_connection):
    operator = validate("good", aws_connection)
    operator.run_date = "2026-11-01' OR '1'='1"
    with pytest.raises(ValueError, match="run_date must be a date as YYYY-MM-DD"):
        operator.execute({})


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_an_athena_error_fails_with_athenas_reason_and_the_sql(catalog, aws_connection, deferrable):
    with pytest.raises(AirflowException) as failure:
        run(validate("missing_table", aws_connection, deferrable=deferrable))
    message = str(failure.value)
    assert message.startswith("Athena query ") and " ended FAILED: " in message
    assert "missing_table" in message.split("\n")[0]  # Athena's reason names the table
    assert f'FROM "{DATABASE}"."missing_table" WHERE "dt" = \'{DAY}\'' in message
    # A table that is not there is a user error (AthenaError.ErrorCategory 2): the same on every try.
    assert isinstance(failure.value, AirflowFailException) and "(a user error: not retried)" in message


def test_inference_warnings_are_reported_without_failing(catalog, aws_connection, caplog, capfd):
    result = run(validate("degraded", aws_connection, deferrable=False))

    assert all(check["passed"] for check in result["checks"])
    assert result["warnings"] == [
        "presion: kept as text, but 62% of sampled values read as a number (e.g. '1,013.2', 'n/d')",
        "fecha: kept as text, the sample could not decide the day/month order",
        "amount: inferred as double, the clean table had bigint",
    ]
    # The task logger writes through structlog (to the console here) or logging, depending on the setup.
    captured = capfd.readouterr()
    logged = "\n".join([captured.out, captured.err, *(record.getMessage() for record in caplog.records)])
    assert "- Column types to look at (type inference): presion: kept as text" in logged


@pytest.mark.parametrize("allow_empty", [True, False], ids=["on_empty-skip", "on_empty-fail"])
def test_a_day_without_records_is_clean_only_when_the_dataset_allows_empty_days(catalog, aws_connection, allow_empty):
    operator = validate("empty", aws_connection, deferrable=False, allow_empty=allow_empty)
    if allow_empty:
        checks = {c["name"]: (c["actual"], c["passed"]) for c in run(operator)["checks"]}
        assert checks["clean rows = 0 (no records, on_empty: skip)"] == ("0", True)
        assert "clean rows > 0" not in checks
        return
    with pytest.raises(AirflowFailException, match=r"clean rows > 0 +\| > 0 +\| 0 +\| error +\| FAILED"):
        run(operator)


def test_a_short_query_is_seen_finished_without_sleeping_a_whole_poll_interval(catalog, aws_connection, monkeypatch):
    # The waits between looks are recorded (and still slept): 0.05 s first, then 1.5 times the one before, never
    # above poll_seconds. Only the poll loop's sleeps count: `time.sleep` is patched for the whole process, and the
    # in-process local stack's threads and botocore's retries sleep too.
    import indata_ops.hooks.validation as validation

    waits: list[float] = []
    real_sleep = validation.time.sleep
    poll_loop = validation.ValidationQueryHook.wait.__code__

    def recording_sleep(seconds: float) -> None:
        if sys._getframe(1).f_code is poll_loop:
            waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(validation.time, "sleep", recording_sleep)
    result = run(validate("good", aws_connection, poll_seconds=1))
    assert [check["passed"] for check in result["checks"]] == [True] * 6
    # The provider's poll slept a whole poll interval before its second look.
    assert waits and waits[0] == pytest.approx(0.05)
    assert all(later == pytest.approx(min(1.5 * earlier, 1)) for earlier, later in zip(waits, waits[1:]))


def test_a_deferred_task_resumes_with_its_sql_check_query_instead_of_running_it_again(catalog, aws_connection, aws):
    athena = aws("athena")

    def query_ids() -> set[str]:
        return {query_id for page in athena.get_paginator("list_query_executions").paginate(WorkGroup="primary")
                for query_id in page["QueryExecutionIds"]}

    over_two = DeclaredCheck("sql", "amount_over_two",
                             sql="SELECT * FROM {table} WHERE dt = '{run_date}' AND amount > 2")
    before = query_ids()
    result = run(validate("good", aws_connection, deferrable=True, quality=DatasetQuality(checks=(over_two,))))
    started = query_ids() - before
    assert [(check["name"], check["passed"]) for check in result["checks"]][-1] == ("amount_over_two", True)
    assert len(started) == 2  # the main query and the sql check's, each once


def test_a_deferrable_task_keeps_a_short_query_instead_of_deferring_it(catalog, aws_connection):
    result, deferrals = run_deferred(validate("good", aws_connection, deferrable=True, wait_before_deferring=30), {})
    assert deferrals == []
    assert [check["passed"] for check in result["checks"]] == [True] * 6
