"""ValidateCleanOperator's checks beyond the job's own accounting, on the local stack's real Athena engine: the
independent input count (a job that under-reads its input is caught), declared checks (error and warn), anomalies
against seven prior dates, and the report in S3 that the task's "Validation report" link opens."""
from __future__ import annotations

import io
import json
import urllib.request
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException
from clean_tables import parquet_storage
from deferred_run import task_context

from indata_ops.operators.report_link import ValidationReportLink
from indata_ops.operators.validate import ValidateCleanOperator
from indata_ops.quality.model import AnomalySettings, DatasetQuality, DeclaredCheck

BUCKET = "optest-validate-report"
DATABASE = "optest_report"
DAY = "2026-11-08"
PRIOR_DAYS = [f"2026-11-0{day}" for day in range(1, 8)]
COLUMNS = {"id": "bigint", "region": "string", "amount": "double"}


def storage(location: str) -> dict:
    return parquet_storage(location, COLUMNS)


@pytest.fixture(scope="module")
def tables(aws):
    """Table ``sales``: seven dates of 20 rows (regions N and S), and on the run date 4 rows, one in region X;
    each with the job's counts.json and a manifest with the backup's record count."""
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(DatabaseName=DATABASE, TableInput={
        "Name": "sales", "TableType": "EXTERNAL_TABLE", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": storage(f"s3://{BUCKET}/clean/sales/"), "Parameters": {"classification": "parquet"}})

    for day in PRIOR_DAYS:
        partition(s3, glue, day, 20, ["N", "S"] * 10)
        job_counts(s3, day, input_rows=20)
        manifest(s3, day, records=20)
    partition(s3, glue, DAY, 4, ["N", "S", "X", "N"])
    job_counts(s3, DAY, input_rows=4)
    manifest(s3, DAY, records=4)
    return s3, glue


def partition(s3, glue, day: str, rows: int, regions: list[str]) -> None:
    """ids 1..rows, amount NULL on every tenth row; registered in Glue as the clean job does."""
    table = pa.table({"id": pa.array(range(1, rows + 1), pa.int64()), "region": regions,
                      "amount": [None if i % 10 == 0 else 2.5 for i in range(1, rows + 1)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    s3.put_object(Bucket=BUCKET, Key=f"clean/sales/dt={day}/part-0.parquet", Body=buffer.getvalue())
    glue.batch_create_partition(DatabaseName=DATABASE, TableName="sales", PartitionInputList=[
        {"Values": [day], "StorageDescriptor": storage(f"s3://{BUCKET}/clean/sales/dt={day}/")}])


def job_counts(s3, day: str, input_rows: int, clean: int | None = None) -> None:
    clean = input_rows if clean is None else clean
    s3.put_object(Bucket=BUCKET, Key=f"job-reports/sales/dt={day}/counts.json", Body=json.dumps(
        {"input": input_rows, "clean": clean, "rejected": input_rows - clean, "duplicates": 0}).encode())


def manifest(s3, day: str, records: int | None) -> None:
    """A one-file manifest; records None: as a backup that did not count them wrote it."""
    counted = {"records": records} if records is not None else {}
    document = {"files": [{"path": "sales.csv", "size": 100, **counted}], "totals": {"files": 1, "bytes": 100,
                                                                                   **counted}}
    s3.put_object(Bucket=BUCKET, Key=f"manifests/sales/dt={day}/manifest.json", Body=json.dumps(document).encode())


def validate(conn: str, day: str = DAY, quality: DatasetQuality | None = None, **kwargs) -> ValidateCleanOperator:
    return ValidateCleanOperator(task_id="validate_clean", dataset="sales", keys=["id"], run_date=day,
                                 bucket=BUCKET, database=DATABASE, output_location=f"s3://{BUCKET}/athena-results/",
                                 aws_conn_id=conn, quality=quality, **kwargs)


def table_lines(report: str) -> dict[str, list[str]]:
    """The report table's rows by check name (the header left out): [expected, actual, severity, result]."""
    rows = {cells[0]: cells[1:] for line in report.splitlines() if line.count("|") == 4
            for cells in [[cell.strip() for cell in line.split("|")]]}
    rows.pop("check", None)
    return rows


def checks_by_name(result: dict) -> dict[str, tuple[str, str, str]]:
    return {c["name"]: (c["expected"], c["actual"], c["result"]) for c in result["checks"]}


def test_a_job_that_under_reads_its_input_is_caught_by_the_backups_count(tables, aws_connection):
    # The job read 3 of the day's 4 records and says so consistently: 3 in, 3 clean. Its own accounting holds,
    # and Athena finds its 3 clean rows; only the backup's count of the records in the files disagrees.
    s3, glue = tables
    day = "2026-11-09"
    partition(s3, glue, day, 3, ["N", "S", "N"])
    job_counts(s3, day, input_rows=3)
    manifest(s3, day, records=4)
    with pytest.raises(AirflowFailException) as failure:
        validate(aws_connection, day).execute({})
    lines = table_lines(str(failure.value))
    assert lines["job's input = records the backup counted"] == ["4", "3", "error", "FAILED"]
    assert lines["input = clean + rejected + duplicates"][-1] == "ok"
    assert lines["clean rows = job's clean count"][-1] == "ok"


def test_a_manifest_without_a_record_count_is_said_not_checked(tables, aws_connection):
    s3, _ = tables
    manifest(s3, DAY, records=None)  # a manifest from before the backup counted records
    try:
        result = validate(aws_connection).execute({})
    finally:
        manifest(s3, DAY, records=4)
    assert "job's input = records the backup counted" not in checks_by_name(result)
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"reports/sales/dt={DAY}/validation.json")["Body"].read())
    assert ("The job's input was not checked against an independent count: not counted: sales.csv (backed up "
            "before records were counted).") in report["notes"]


def test_declared_checks_errors_fail_warnings_only_report_and_the_report_is_linked(tables, aws_connection):
    accepted = DeclaredCheck("accepted_values", "accepted_values(region)", severity="warn", columns=("region",),
                             values=("N", "S"))
    at_least = DeclaredCheck("row_count", "row_count", min=1)
    quality = DatasetQuality(checks=(accepted, at_least), anomalies=AnomalySettings(history=7))
    for day in PRIOR_DAYS:  # the history: each prior date's own validation report
        validate(aws_connection, day, quality=quality).execute({})
    operator = validate(aws_connection, quality=quality)
    result = operator.execute({})

    checks = checks_by_name(result)
    assert checks["job's input = records the backup counted"] == ("4", "4", "ok")
    assert checks["accepted_values(region)"] == ("region in ('N', 'S')", "1 row outside", "WARN")
    assert checks["row_count"][2] == "ok"
    # Seven prior dates of 20 rows: a day of 4 is outside 10-30 (a warning). amount is NULL on 2 of 20 rows
    # before and on none of 4 today: 10 points off its median, on the band's edge, so within it.
    assert checks["row count vs history"] == ("between 10 and 30 rows (median 20 of 7 dates)", "4 rows", "WARN")
    assert checks["null share of amount vs history"][2] == "ok"
    assert checks["schema drift vs previous date"][2] == "ok"
    assert result["warnings"][:1] == ["accepted_values(region): expected region in ('N', 'S'), actual 1 row outside"]
    assert result["report"]["html"] == f"s3://{BUCKET}/reports/sales/dt={DAY}/validation.html"

    # The link the UI shows opens the HTML report (a presigned GET: the local stack's bucket is private).
    url = ValidationReportLink().get_link(operator, ti_key=None)
    assert url.startswith("http://127.0.0.1:") and "Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert 'data-check="accepted_values(region)"' in page and 'data-result="WARN"' in page
    assert "<td>X</td>" in page  # the failing row


def test_the_link_is_signed_for_the_address_the_browser_uses(tables, aws_connection, stack):
    # As under docker-compose: the workers reach S3 at one address (here 127.0.0.1), a browser at another
    # (here localhost). The link is signed for the browser's: SigV4 signs the Host header.
    browser = stack.endpoint.replace("127.0.0.1", "localhost")
    assert browser != stack.endpoint
    operator = validate(aws_connection, report_link_endpoint=browser)
    operator.execute({})
    url = ValidationReportLink().get_link(operator, ti_key=None)
    assert url.startswith(f"{browser}/{BUCKET}/reports/sales/dt%3D{DAY}/validation.html?") and "Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<html" in response.read().decode()
    # The local stack does not check a presigned link's signature (S3 and other S3-compatible stores do), so
    # only the link's address and that it opens are checked here: the signature is botocore's, for that address.


CRAFTED_JOB = '''"""The clean job, crafted to lose the first record it reads: its accounting stays self-consistent."""
import indata_clean.job as job
from indata_clean.reading import ROW_ID, read_partition
from pyspark.sql import functions as F


def dropping_one(spark, config, path):
    frame, dropped = read_partition(spark, config, path)
    first = frame.agg(F.min(ROW_ID)).first()[0]
    return frame.where(F.col(ROW_ID) != first), dropped


job.read_partition = dropping_one
job.main()
'''


def test_validation_catches_a_real_job_that_drops_an_input_record(aws, aws_connection, tmp_path):
    # A real backup of the sample's ventas day (the manifest counts its records), then the real job on the local
    # Glue, crafted to drop one record as it reads. Its own accounting holds (input = clean + rejected +
    # duplicates) and Athena finds its clean rows: only the backup's count disagrees, and validation names both.
    from dags import indata_backup  # the DAG's own job arguments and packages
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator
    from indata_ops.operators.clean import CleanJobOperator
    from indata_ops.run_date import RUN_DATE_TEMPLATE

    tag = uuid.uuid4().hex[:8]
    config = load_config(environ={"BACKUP_BUCKET": f"crafted-{tag}", "BACKUP_CLEAN_DATABASE": f"crafted_{tag}"})
    bucket, database, day = config.settings.bucket, config.settings.clean_database, "2026-11-01"
    dataset = config.dataset("ventas")
    aws("s3").create_bucket(Bucket=bucket)
    aws("glue").create_database(DatabaseInput={"Name": database})
    BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(config.settings.source_root),
                        bucket=bucket, run_date=day, aws_conn_id=aws_connection).execute({})
    script = tmp_path / "crafted_clean.py"
    script.write_text(CRAFTED_JOB)
    arguments = {name: value.replace(RUN_DATE_TEMPLATE, day)
                 for name, value in indata_backup.clean_job_arguments(config, dataset).items()}
    CleanJobOperator(
        task_id="clean_dataset", job_name=f"crafted-{tag}", script_location=str(script),
        py_packages=[str(indata_backup.CLEAN_SCRIPT.parent / "indata_clean"), str(indata_backup.CONTRACT_PACKAGE)],
        s3_bucket=bucket, iam_role_arn=config.settings.glue_job_role, replace_script_file=True, update_config=True,
        script_args=arguments, create_job_kwargs={"GlueVersion": "5.0", "WorkerType": "G.1X", "NumberOfWorkers": 2},
        aws_conn_id=aws_connection, deferrable=False, job_poll_interval=1).execute(task_context())

    operator = ValidateCleanOperator(
        task_id="validate_clean", dataset="ventas", keys=list(dataset.keys), run_date=day, bucket=bucket,
        database=database, output_location=f"s3://{bucket}/athena-results/", aws_conn_id=aws_connection)
    with pytest.raises(AirflowFailException) as failure:
        operator.execute({})
    lines = table_lines(str(failure.value))
    rows_in = 47  # include/sample_data/expected_counts.json: ventas 2026-11-01 rows_in
    assert lines["job's input = records the backup counted"] == [str(rows_in), str(rows_in - 1), "error", "FAILED"]
    assert [name for name, cells in lines.items() if cells[-1] != "ok"] == ["job's input = records the backup counted"]


def test_a_declared_check_on_a_column_the_table_lacks_fails_without_retries(tables, aws_connection):
    from indata_ops.errors import PermanentError

    gone = DeclaredCheck("not_null", "not_null(descuento)", columns=("descuento",))
    with pytest.raises(PermanentError, match=rf"{DATABASE}.sales: .*descuento"):
        validate(aws_connection, quality=DatasetQuality(checks=(gone,))).execute({})
