"""The crawl and the cleaning job, polling and deferred, on the local stack; a failure carries Glue's own error."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from datetime import timedelta

import pytest
from airflow.providers.amazon.aws.triggers.glue import GlueJobCompleteTrigger
from airflow.providers.amazon.aws.triggers.glue_crawler import GlueCrawlerCompleteTrigger
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from deferred_run import run_deferred, task_context

from indata_ops.operators.clean import CleanJobOperator, package_zip
from indata_ops.operators.crawl import CrawlRawOperator

BUCKET = "optest-glue"
DATABASE = "optest_glue_raw"
DAY = "2026-11-01"
TIMEOUT = timedelta(minutes=5)
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])

# A job script without Spark: what matters here is how a run's end reaches the task, not the cleaning.
SCRIPT = '''
import sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("cleaning", args["--dataset"], "for", args["--run_date"])
if args.get("--fail") == "yes":
    raise ValueError("Schema columns not found in the data: importe; the data has id, nombre")
if args.get("--fail") == "spark":
    raise RuntimeError("An error occurred while calling o87.parquet: SlowDown (Service: S3; Status Code: 503)")
'''


@pytest.fixture(scope="module")
def raw(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"raw/ventas/dt={DAY}/ventas.csv", Body=b"id;nombre\n1;uno\n2;dos\n")
    # CSV and JSON in one table's folder: the crawler refuses to guess (AWS would split them into tables).
    s3.put_object(Bucket=BUCKET, Key=f"raw/mixed/dt={DAY}/a.csv", Body=b"id,nombre\n1,uno\n")
    s3.put_object(Bucket=BUCKET, Key=f"raw/mixed/dt={DAY}/b.json", Body=b'{"id": 1, "nombre": "uno"}\n')
    return s3


def crawl(name: str, prefix: str, conn: str, deferrable: bool) -> CrawlRawOperator:
    config = {"Name": name, "Role": "arn:aws:iam::123456789012:role/glue", "DatabaseName": DATABASE,
              "Targets": {"S3Targets": [{"Path": f"s3://{BUCKET}/{prefix}"}]},
              "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}}
    return CrawlRawOperator(task_id="crawl_raw", config=config, aws_conn_id=conn, poll_interval=1,
                            deferrable=deferrable, execution_timeout=TIMEOUT)


def run(operator, deferrable: bool, trigger_class: type):
    if not deferrable:
        return operator.execute(task_context())
    result, deferrals = run_deferred(operator)
    [deferred] = deferrals
    assert isinstance(deferred.trigger, trigger_class)
    assert deferred.timeout == TIMEOUT  # the task's execution_timeout bounds the wait in the triggerer too
    return result


@MODES
def test_the_crawl_creates_its_database_crawler_and_table(raw, aws, aws_connection, deferrable):
    name = f"optest-raw-ventas-{int(deferrable)}"
    assert run(crawl(name, "raw/ventas/", aws_connection, deferrable), deferrable, GlueCrawlerCompleteTrigger) == name
    glue = aws("glue")
    assert glue.get_crawler(Name=name)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="ventas")["Partitions"]
    assert [p["Values"] for p in partitions] == [[DAY]]


@MODES
def test_a_failed_crawl_fails_the_task_with_the_crawlers_error(raw, aws, aws_connection, deferrable):
    name = f"optest-raw-mixed-{int(deferrable)}"
    with pytest.raises(AirflowException) as failure:
        run(crawl(name, "raw/mixed/", aws_connection, deferrable), deferrable, GlueCrawlerCompleteTrigger)
    error = aws("glue").get_crawler(Name=name)["Crawler"]["LastCrawl"]["ErrorMessage"]
    assert error  # the stack's crawler explains itself, as AWS's does
    assert str(failure.value) == f"Glue crawler {name}: last crawl FAILED: {error}"


@pytest.fixture(scope="module")
def script(raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("glue-script") / "clean.py"
    path.write_text(SCRIPT)
    return path


def clean(task_id: str, script, conn: str, deferrable: bool, fail: str = "no") -> CleanJobOperator:
    return CleanJobOperator(
        task_id=task_id, job_name=f"optest-clean-{task_id}", script_location=str(script), s3_bucket=BUCKET,
        iam_role_arn="arn:aws:iam::123456789012:role/glue", replace_script_file=True, update_config=True,
        script_args={"--dataset": "ventas", "--run_date": DAY, "--fail": fail},
        create_job_kwargs={"GlueVersion": "5.0", "WorkerType": "G.1X", "NumberOfWorkers": 2},
        aws_conn_id=conn, deferrable=deferrable, job_poll_interval=1, waiter_delay=1, waiter_max_attempts=120,
        execution_timeout=TIMEOUT)


@MODES
def test_the_job_run_succeeds(script, aws, aws_connection, deferrable):
    task_id = f"ok-{int(deferrable)}"
    run_id = run(clean(task_id, script, aws_connection, deferrable), deferrable, GlueJobCompleteTrigger)
    assert aws("glue").get_job_run(JobName=f"optest-clean-{task_id}", RunId=run_id)["JobRun"]["JobRunState"] == \
        "SUCCEEDED"


@MODES
def test_a_failed_run_fails_the_task_with_glues_error_message(script, aws, aws_connection, deferrable):
    task_id = f"fail-{int(deferrable)}"
    with pytest.raises(AirflowException) as failure:
        run(clean(task_id, script, aws_connection, deferrable, fail="yes"), deferrable, GlueJobCompleteTrigger)
    [job_run] = aws("glue").get_job_runs(JobName=f"optest-clean-{task_id}")["JobRuns"]
    assert str(failure.value) == (f"Glue job optest-clean-{task_id} run {job_run['Id']} ended FAILED: ValueError: "
                                  "Schema columns not found in the data: importe; the data has id, nombre\n"
                                  "(an error of the job's contract: not retried)")
    # The same data fails the same way on the next try: Airflow must not retry it.
    assert isinstance(failure.value, AirflowFailException)


@MODES
def test_a_run_that_failed_in_spark_or_s3_keeps_the_tasks_retries(script, aws, aws_connection, deferrable):
    task_id = f"transient-{int(deferrable)}"
    with pytest.raises(AirflowException) as failure:
        run(clean(task_id, script, aws_connection, deferrable, fail="spark"), deferrable, GlueJobCompleteTrigger)
    assert "ended FAILED: RuntimeError: An error occurred while calling o87.parquet: SlowDown" in str(failure.value)
    assert not isinstance(failure.value, AirflowFailException)


# The script imports its module from the package the operator ships, as clean_dataset.py imports indata_clean.
PACKAGE_SCRIPT = '''
from optest_pkg.names import greeting
from optest_terms import PUNCTUATION
print(greeting() + PUNCTUATION)
'''


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue-package")
    (root / "optest_pkg" / "__pycache__").mkdir(parents=True)
    (root / "optest_pkg" / "__init__.py").write_text("")
    (root / "optest_pkg" / "names.py").write_text("def greeting():\n    return 'shipped with the script'\n")
    (root / "optest_pkg" / "__pycache__" / "names.cpython-311.pyc").write_bytes(b"stale")
    (root / "optest_terms").mkdir()  # a second package, shipped in the same zip (as the contract is)
    (root / "optest_terms" / "__init__.py").write_text("PUNCTUATION = '!'\n")
    (root / "package_script.py").write_text(PACKAGE_SCRIPT)
    return root


@MODES
def test_the_package_is_zipped_next_to_the_script_and_reaches_the_run(raw, package, aws, aws_connection, deferrable):
    task_id = f"pkg-{int(deferrable)}"
    operator = CleanJobOperator(
        task_id=task_id, job_name=f"optest-clean-{task_id}", script_location=str(package / "package_script.py"),
        py_packages=[str(package / "optest_pkg"), str(package / "optest_terms")],
        s3_bucket=BUCKET, iam_role_arn="arn:aws:iam::123456789012:role/glue",
        replace_script_file=True, update_config=True, script_args={"--dataset": "ventas", "--run_date": DAY},
        create_job_kwargs={"GlueVersion": "5.0", "WorkerType": "G.1X", "NumberOfWorkers": 2},
        aws_conn_id=aws_connection, deferrable=deferrable, job_poll_interval=1, waiter_delay=1,
        waiter_max_attempts=120, execution_timeout=TIMEOUT)
    run_id = run(operator, deferrable, GlueJobCompleteTrigger)

    job_run = aws("glue").get_job_run(JobName=f"optest-clean-{task_id}", RunId=run_id)["JobRun"]
    assert job_run["JobRunState"] == "SUCCEEDED", job_run.get("ErrorMessage")
    location = f"s3://{BUCKET}/artifacts/glue-scripts/optest_pkg.zip"
    assert job_run["Arguments"]["--extra-py-files"] == location
    shipped = aws("s3").get_object(Bucket=BUCKET, Key="artifacts/glue-scripts/optest_pkg.zip")["Body"].read()
    assert shipped == package_zip(package / "optest_pkg", package / "optest_terms")
    output = aws("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=run_id)["events"]
    assert "shipped with the script!" in [event["message"] for event in output]


def test_the_package_zip_is_deterministic_and_holds_only_sources(package, tmp_path):
    first = package_zip(package / "optest_pkg")
    copy = tmp_path / "optest_pkg"
    shutil.copytree(package / "optest_pkg", copy)
    os.utime(copy / "names.py", (0, 0))  # another checkout: other mtimes, same sources
    assert package_zip(copy) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["optest_pkg/__init__.py", "optest_pkg/names.py"]
    (copy / "names.py").write_text("def greeting():\n    return 'changed'\n")
    assert package_zip(copy) != first
