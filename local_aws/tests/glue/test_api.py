"""Glue crawlers and jobs on the stack, driven by boto3 and by the Amazon provider's own operators.

Deferrable mode is exercised the way the triggerer runs it: the operator raises TaskDeferred, the trigger's
async run() yields its event against the live endpoint, and execute_complete() receives that event.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from airflow.exceptions import AirflowException, TaskDeferred
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.glue_crawler import (
    GlueCrawlerCreateOperator,
    GlueCrawlerRunOperator,
    GlueCrawlerUpdateOperator,
)

BUCKET = "glue-test"
DATABASE = "glue_test_raw"


class XComRecorder:
    """Stands in for the task instance's XCom in these operator-level tests (the DAG tests use a real Airflow)."""

    def __init__(self):
        self.pushed: dict[str, object] = {}
        self.stats_tags: dict[str, str] = {}
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = "tests", "task", "manual", -1, 1

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def task_context() -> dict:
    return {"ti": XComRecorder()}


def run_deferred(operator, context=None):
    """Execute an operator in deferrable mode to the end, as worker + triggerer would."""
    context = context or task_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event

    event = asyncio.run(first_event())
    return getattr(operator, deferred.value.method_name)(context, event.payload)


def wait_for(predicate, timeout: float = 120, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met")


@pytest.fixture(scope="module")
def raw_data(aws):
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=BUCKET)
    for day, rows in (("2026-11-01", "1;uno;2,5\n2;dos;3,5\n"), ("2026-11-02", "3;tres;4,0\n")):
        s3.put_object(Bucket=BUCKET, Key=f"raw/ventas/dt={day}/ventas.csv",
                      Body=("id;nombre;importe\n" + rows).encode())
    glue.create_database(DatabaseInput={"Name": DATABASE})
    return s3, glue


def crawler_config(name: str, path: str, database: str = DATABASE) -> dict:
    return {"Name": name, "Role": "arn:aws:iam::123456789012:role/glue", "DatabaseName": database,
            "Targets": {"S3Targets": [{"Path": path, "Exclusions": ["**/_SUCCESS"]}]},
            "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}}


@pytest.mark.parametrize("deferrable", [False, True], ids=["waiter", "deferrable"])
def test_provider_crawler_operators_create_tables(raw_data, aws_connection, deferrable):
    _, glue = raw_data
    name = f"ventas-crawler-{int(deferrable)}"
    config = {**crawler_config(name, f"s3://{BUCKET}/raw/ventas/"), "TablePrefix": f"d{int(deferrable)}_"}
    GlueCrawlerCreateOperator(task_id="create", config=config, aws_conn_id=aws_connection).execute({})
    GlueCrawlerUpdateOperator(task_id="update", config={**config, "Description": "raw ventas"},
                              aws_conn_id=aws_connection).execute({})
    run = GlueCrawlerRunOperator(task_id="crawl", crawler_name=name, poll_interval=1, deferrable=deferrable,
                                 aws_conn_id=aws_connection)
    assert (run_deferred(run) if deferrable else run.execute({})) == name

    table = glue.get_table(DatabaseName=DATABASE, Name=f"d{int(deferrable)}_ventas")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "nombre", "importe"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
    assert table["Parameters"]["classification"] == "csv"
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName=f"d{int(deferrable)}_ventas")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2026-11-01", "2026-11-02"]
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["Description"] == "raw ventas"
    assert crawler["State"] == "READY" and crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    metrics = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]
    assert metrics["TablesCreated"] == 1 and metrics["LastRuntimeSeconds"] > 0


def test_crawler_states_and_second_start(raw_data):
    _, glue = raw_data
    glue.create_crawler(**crawler_config("state-crawler", f"s3://{BUCKET}/raw/"))
    glue.start_crawler(Name="state-crawler")
    seen = {glue.get_crawler(Name="state-crawler")["Crawler"]["State"]}
    try:
        glue.start_crawler(Name="state-crawler")
        second_start_refused = False
    except glue.exceptions.CrawlerRunningException:
        second_start_refused = True
    final = wait_for(lambda: (c := glue.get_crawler(Name="state-crawler")["Crawler"])["State"] == "READY" and c)
    assert final["LastCrawl"]["Status"] == "SUCCEEDED"
    # The crawl may finish before the second start lands; if it was still running, the start had to be refused.
    assert second_start_refused or seen == {"READY"} or "RUNNING" not in seen
    assert seen <= {"RUNNING", "STOPPING", "READY"}


def test_empty_prefix_and_missing_database(raw_data):
    _, glue = raw_data
    glue.create_crawler(**crawler_config("empty-crawler", f"s3://{BUCKET}/nothing-here/"))
    glue.create_crawler(**crawler_config("orphan-crawler", f"s3://{BUCKET}/raw/", database="no_such_db"))
    for name in ("empty-crawler", "orphan-crawler"):
        glue.start_crawler(Name=name)
    empty = wait_for(lambda: (c := glue.get_crawler(Name="empty-crawler")["Crawler"])["State"] == "READY" and c)
    orphan = wait_for(lambda: (c := glue.get_crawler(Name="orphan-crawler")["Crawler"])["State"] == "READY" and c)
    assert empty["LastCrawl"]["Status"] == "SUCCEEDED"  # AWS: an empty path is a successful crawl with no tables
    assert glue.get_crawler_metrics(CrawlerNameList=["empty-crawler"])["CrawlerMetricsList"][0]["TablesCreated"] == 0
    assert orphan["LastCrawl"]["Status"] == "FAILED"
    assert "no_such_db" in orphan["LastCrawl"]["ErrorMessage"]


NEW_FOLDERS = {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
LOG_LOG = {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
ONLY_LOG = ('The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have only LOG '
            "DeleteBehavior value and LOG UpdateBehavior value.")


def test_new_folders_only_is_refused_without_log_log(raw_data):
    _, glue = raw_data
    config = crawler_config("incremental-crawler", f"s3://{BUCKET}/raw/ventas/")
    without_policy = {k: v for k, v in config.items() if k != "SchemaChangePolicy"}  # AWS's default: UPDATE/DEPRECATE
    for refused in ({**config, "RecrawlPolicy": NEW_FOLDERS}, {**without_policy, "RecrawlPolicy": NEW_FOLDERS}):
        with pytest.raises(glue.exceptions.InvalidInputException) as error:
            glue.create_crawler(**refused)
        assert error.value.response["Error"]["Message"] == ONLY_LOG
    glue.create_crawler(**config)  # UPDATE_IN_DATABASE/LOG, CRAWL_EVERYTHING
    with pytest.raises(glue.exceptions.InvalidInputException, match="can have only LOG"):
        glue.update_crawler(Name="incremental-crawler", RecrawlPolicy=NEW_FOLDERS)

    glue.update_crawler(Name="incremental-crawler", RecrawlPolicy=NEW_FOLDERS, SchemaChangePolicy=LOG_LOG)
    with pytest.raises(glue.exceptions.InvalidInputException, match="can have only LOG"):
        glue.update_crawler(Name="incremental-crawler",
                            SchemaChangePolicy={**LOG_LOG, "DeleteBehavior": "DEPRECATE_IN_DATABASE"})
    crawler = glue.get_crawler(Name="incremental-crawler")["Crawler"]
    assert (crawler["RecrawlPolicy"], crawler["SchemaChangePolicy"]) == (NEW_FOLDERS, LOG_LOG)


def crawl(glue, name: str) -> dict:
    glue.start_crawler(Name=name)
    return wait_for(lambda: (c := glue.get_crawler(Name=name)["Crawler"])["State"] == "READY" and c)["LastCrawl"]


def incremental_crawler_after_day_one(s3, glue, name: str, prefix: str) -> None:
    """A CRAWL_NEW_FOLDERS_ONLY crawler over prefix that has crawled its first folder, dt=1, successfully."""
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}dt=1/v.csv", Body=b"id;importe\n1;2.5\n")
    glue.create_crawler(**{**crawler_config(name, f"s3://{BUCKET}/{prefix}"), "RecrawlPolicy": NEW_FOLDERS,
                           "SchemaChangePolicy": LOG_LOG})
    assert crawl(glue, name)["Status"] == "SUCCEEDED"


def test_crawled_folders_survive_a_restart_and_count_only_after_a_successful_crawl(stack, raw_data):
    s3, glue = raw_data
    name, prefix = "folders-crawler", "raw/folders/"
    incremental_crawler_after_day_one(s3, glue, name, prefix)
    assert not [key for key in glue.get_crawler(Name=name)["Crawler"] if key.startswith("_")]  # bookkeeping only
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}dt=2/v.csv", Body=b"id;importe\n2;3.5\n")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}dt=2/w.json", Body=b'{"id": 2}\n')
    assert crawl(glue, name)["Status"] == "FAILED"  # two formats in one folder

    stack.restart()
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix}dt=2/w.json")
    # Were dt=1 read again, this would fail the crawl as dt=2 did.
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}dt=1/w.json", Body=b'{"id": 1}\n')

    assert crawl(glue, name)["Status"] == "SUCCEEDED"
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="folders")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["1", "2"]  # the failed crawl left dt=2 to this one


def test_turning_incremental_crawls_on_again_reads_everything(raw_data):
    s3, glue = raw_data
    name, prefix = "toggled-crawler", "raw/toggled/"
    incremental_crawler_after_day_one(s3, glue, name, prefix)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}dt=1/w.json", Body=b'{"id": 1}\n')  # fails a crawl that reads dt=1
    assert crawl(glue, name)["Status"] == "SUCCEEDED"

    glue.update_crawler(Name=name, RecrawlPolicy={"RecrawlBehavior": "CRAWL_EVERYTHING"})
    glue.update_crawler(Name=name, RecrawlPolicy=NEW_FOLDERS)

    assert crawl(glue, name)["Status"] == "FAILED"  # AWS's first crawl after turning the option on reads everything


SCRIPT = '''
import sys
from pyspark.sql import SparkSession, functions as F
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("job", args["--JOB_NAME"], "run", args["--JOB_RUN_ID"], "date", args["--run_date"])
if args.get("--fail") == "yes":
    raise ValueError("no rows for " + args["--run_date"])
if args.get("--sleep"):
    import time; time.sleep(float(args["--sleep"]))
spark = SparkSession.builder.getOrCreate()
rows = spark.read.option("header", True).option("sep", ";").csv(args["--raw_path"])
rows.withColumn("dt", F.lit(args["--run_date"])).write.mode("overwrite").partitionBy("dt").parquet(args["--out_path"])
print("rows written", rows.count())
'''


@pytest.fixture(scope="module")
def job_script(tmp_path_factory, raw_data):
    path = tmp_path_factory.mktemp("glue-scripts") / "copy_rows.py"
    path.write_text(SCRIPT)
    return path


def job_operator(task_id: str, script: Path, conn: str, **kwargs) -> GlueJobOperator:
    arguments = {"--run_date": "2026-11-01", "--raw_path": f"s3://{BUCKET}/raw/ventas/dt=2026-11-01/",
                 "--out_path": f"s3://{BUCKET}/clean/{task_id}/", **kwargs.pop("script_args", {})}
    return GlueJobOperator(
        task_id=task_id, job_name=f"copy-rows-{task_id}", script_location=str(script), s3_bucket=BUCKET,
        iam_role_arn="arn:aws:iam::123456789012:role/glue", script_args=arguments, replace_script_file=True,
        update_config=True, create_job_kwargs={"GlueVersion": "5.0", "WorkerType": "G.1X", "NumberOfWorkers": 2},
        aws_conn_id=conn, job_poll_interval=1, **kwargs)


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_glue_job_operator_runs_the_script(raw_data, job_script, aws_connection, aws, deferrable):
    s3, glue = raw_data
    task_id = f"job{int(deferrable)}"
    operator = job_operator(task_id, job_script, aws_connection, verbose=True, deferrable=deferrable,
                            waiter_delay=2)
    run_id = run_deferred(operator) if deferrable else operator.execute(task_context())

    run = glue.get_job_run(JobName=f"copy-rows-{task_id}", RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "SUCCEEDED" and run["ExecutionTime"] >= 1
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"clean/{task_id}/")["Contents"]]
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert len(parquet) == 1 and parquet[0].startswith(f"clean/{task_id}/dt=2026-11-01/part-")
    output = aws("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=run_id)["events"]
    messages = [e["message"] for e in output]
    assert f"job copy-rows-{task_id} run {run_id} date 2026-11-01" in messages
    assert "rows written 2" in messages


def test_failing_script_ends_failed_with_its_error(raw_data, job_script, aws_connection):
    _, glue = raw_data
    operator = job_operator("failing", job_script, aws_connection, script_args={"--fail": "yes"})
    with pytest.raises(AirflowException, match="Run State: FAILED"):
        operator.execute(task_context())
    run = glue.get_job_runs(JobName="copy-rows-failing")["JobRuns"][0]
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: no rows for 2026-11-01"


def test_concurrency_limit_stop_and_update(raw_data, job_script):
    s3, glue = raw_data
    s3.upload_file(str(job_script), BUCKET, "scripts/copy_rows.py")
    glue.create_job(Name="slow-job", Role="r", ExecutionProperty={"MaxConcurrentRuns": 1},
                    Command={"Name": "glueetl", "ScriptLocation": f"s3://{BUCKET}/scripts/copy_rows.py"},
                    DefaultArguments={"--run_date": "2026-11-02", "--sleep": "120",
                                      "--raw_path": f"s3://{BUCKET}/raw/ventas/dt=2026-11-02/",
                                      "--out_path": f"s3://{BUCKET}/clean/slow/"})
    run_id = glue.start_job_run(JobName="slow-job")["JobRunId"]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName="slow-job")
    wait_for(lambda: glue.get_job_run(JobName="slow-job", RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING")
    stopped = glue.batch_stop_job_run(JobName="slow-job", JobRunIds=[run_id])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "slow-job", "JobRunId": run_id}]
    run = wait_for(lambda: (r := glue.get_job_run(JobName="slow-job", RunId=run_id)["JobRun"])["JobRunState"]
                   in ("STOPPED", "FAILED", "SUCCEEDED") and r)
    assert run["JobRunState"] == "STOPPED"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="clean/slow/")["KeyCount"] == 0  # a stopped run writes nothing
    glue.update_job(JobName="slow-job", JobUpdate={
        "Role": "r2", "Command": {"Name": "glueetl", "ScriptLocation": f"s3://{BUCKET}/scripts/copy_rows.py"},
        "ExecutionProperty": {"MaxConcurrentRuns": 2}})
    job = glue.get_job(JobName="slow-job")["Job"]
    assert job["Role"] == "r2" and job["ExecutionProperty"]["MaxConcurrentRuns"] == 2
    assert "DefaultArguments" not in job  # UpdateJob replaces the whole definition
