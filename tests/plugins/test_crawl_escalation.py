"""CrawlRawOperator with an incremental crawler on the local stack: a plain new day costs one incremental crawl; a
schema change, a rerun that sent new files, and full_refresh add the full crawl that brings the table up to date."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.providers.amazon.aws.triggers.glue_crawler import GlueCrawlerCompleteTrigger
from airflow.sdk.exceptions import AirflowException
from deferred_run import run_deferred, task_context

from indata_ops.hooks.catalog import uncovered_columns
from indata_ops.operators.crawl import CrawlRawOperator

BUCKET = "optest-crawl-escalation"
DATABASE = "optest_escalation_raw"
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])


@pytest.fixture(scope="module")
def s3(aws):
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def backup(s3, dataset: str, day: str, files: dict[str, bytes]) -> None:
    """What the backup task leaves: the date's files, then its manifest (the operator only reads its time)."""
    for name, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"raw/{dataset}/dt={day}/{name}", Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"manifests/{dataset}/dt={day}/manifest.json", Body=b"{}")


def crawl(dataset: str, day: str, conn: str, deferrable: bool, full_refresh: bool = False) -> list[str]:
    """Runs the task for ``day``; returns the crawlers whose completion it waited for, in order."""
    config = {"Name": f"optest-raw-{dataset}", "Role": "arn:aws:iam::123456789012:role/glue",
              "DatabaseName": DATABASE, "Targets": {"S3Targets": [{"Path": f"s3://{BUCKET}/raw/{dataset}/"}]},
              "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
              "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}}
    operator = CrawlRawOperator(task_id="crawl_raw", config=config, run_date=day, full_refresh=str(full_refresh),
                                aws_conn_id=conn, poll_interval=1, deferrable=deferrable,
                                execution_timeout=timedelta(minutes=5))
    if not deferrable:
        before = last_crawls(operator)
        assert operator.execute(task_context()) == config["Name"]
        after = last_crawls(operator)
        return [name for name in after if after[name] != before[name]]
    result, deferrals = run_deferred(operator)
    assert result == config["Name"]
    assert all(isinstance(d.trigger, GlueCrawlerCompleteTrigger) for d in deferrals)
    return [d.trigger.serialize()[1]["crawler_name"] for d in deferrals]


def last_crawls(operator: CrawlRawOperator) -> dict[str, str | None]:
    """Each of the dataset's two crawlers' last crawl (the stack gives every crawl its own MessagePrefix)."""
    found: dict[str, str | None] = {}
    for name in (operator.crawler_name, f"{operator.crawler_name}-full"):
        crawler = operator.catalog.get_crawler(name) if operator.catalog.has_crawler(name) else {}
        found[name] = (crawler.get("LastCrawl") or {}).get("MessagePrefix")
    return found


def columns(glue, dataset: str, day: str | None = None) -> list[str]:
    entity = (glue.get_partition(DatabaseName=DATABASE, TableName=dataset, PartitionValues=[day])["Partition"]
              if day else glue.get_table(DatabaseName=DATABASE, Name=dataset)["Table"])
    return [c["Name"] for c in entity["StorageDescriptor"]["Columns"]]


@MODES
def test_a_new_day_is_one_incremental_crawl_and_a_new_column_adds_the_full_one(s3, aws, aws_connection, deferrable):
    dataset, glue = f"tiendas{int(deferrable)}", aws("glue")
    incremental, full = f"optest-raw-{dataset}", f"optest-raw-{dataset}-full"
    backup(s3, dataset, "2026-11-01", {"t.csv": b"id;importe\n1;2.5\n"})
    assert crawl(dataset, "2026-11-01", aws_connection, deferrable) == [incremental]
    backup(s3, dataset, "2026-11-02", {"t.csv": b"id;importe\n2;3.5\n"})
    assert crawl(dataset, "2026-11-02", aws_connection, deferrable) == [incremental]
    assert not aws("glue").list_crawlers()["CrawlerNames"].count(full)  # never needed so far

    backup(s3, dataset, "2026-11-03", {"t.csv": b"id;importe;tienda\n3;4.5;7\n"})
    assert crawl(dataset, "2026-11-03", aws_connection, deferrable) == [incremental, full]

    assert columns(glue, dataset) == ["id", "importe", "tienda"]
    assert columns(glue, dataset, "2026-11-01") == ["id", "importe"]  # an old partition keeps its own files' schema
    assert glue.get_crawler(Name=full)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"


@MODES
def test_a_rerun_that_sent_new_files_adds_the_full_crawl(s3, aws, aws_connection, deferrable):
    dataset, glue = f"cajas{int(deferrable)}", aws("glue")
    incremental, full = f"optest-raw-{dataset}", f"optest-raw-{dataset}-full"
    backup(s3, dataset, "2026-11-01", {"c.csv": b"id;importe\n1;2.5\n"})
    time.sleep(1.1)  # S3 dates the manifest to the second: this one must be clearly older than the partition
    assert crawl(dataset, "2026-11-01", aws_connection, deferrable) == [incremental]
    # The same date again with nothing new (its manifest stands): nothing to read, nothing to escalate.
    assert crawl(dataset, "2026-11-01", aws_connection, deferrable) == [incremental]

    backup(s3, dataset, "2026-11-01", {"d.csv": b"id;importe;caja\n2;3.5;4\n"})  # rerun: a new file, manifest
    time.sleep(1.1)  # so that the full crawl below clearly starts after this manifest
    # Known before the crawl: the incremental one would read nothing, so only the full crawl runs.
    assert crawl(dataset, "2026-11-01", aws_connection, deferrable) == [full]

    assert columns(glue, dataset) == ["id", "importe", "caja"]
    assert columns(glue, dataset, "2026-11-01") == ["id", "importe", "caja"]
    # The full crawl covers the rewritten manifest: the next rerun with nothing new is incremental again.
    assert crawl(dataset, "2026-11-01", aws_connection, deferrable) == [incremental]


def test_a_date_crawled_while_its_backup_was_writing_gets_the_full_crawl(s3, aws, aws_connection):
    dataset, glue = "bolsas", aws("glue")
    backup(s3, dataset, "2026-11-01", {"b.csv": b"id;importe\n1;2.5\n"})
    time.sleep(1.1)
    # The 2nd's backup has written one file and not its manifest when the 1st's crawl lists its folder.
    s3.put_object(Bucket=BUCKET, Key=f"raw/{dataset}/dt=2026-11-02/b.csv", Body=b"id;importe\n2;3.5\n")
    assert crawl(dataset, "2026-11-01", aws_connection, False) == [f"optest-raw-{dataset}"]
    backup(s3, dataset, "2026-11-02", {"c.csv": b"id;importe;bolsa\n3;4.5;9\n"})

    assert crawl(dataset, "2026-11-02", aws_connection, False) == [f"optest-raw-{dataset}-full"]
    assert columns(glue, dataset, "2026-11-02") == ["id", "importe", "bolsa"]


def test_a_deleted_raw_table_comes_back_through_the_full_crawl(s3, aws, aws_connection):
    dataset, glue = "sobres", aws("glue")
    backup(s3, dataset, "2026-11-01", {"s.csv": b"id;importe\n1;2.5\n"})
    crawl(dataset, "2026-11-01", aws_connection, False)
    glue.delete_table(DatabaseName=DATABASE, Name=dataset)
    backup(s3, dataset, "2026-11-02", {"s.csv": b"id;importe\n2;3.5\n"})

    # An incremental crawl creates no table after its first crawl.
    incremental = f"optest-raw-{dataset}"
    assert crawl(dataset, "2026-11-02", aws_connection, False) == [incremental, f"{incremental}-full"]
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName=dataset)["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2026-11-01", "2026-11-02"]


@MODES
def test_a_date_of_another_format_fails_the_task_with_the_full_crawlers_error(s3, aws, aws_connection, deferrable):
    dataset, glue = f"vales{int(deferrable)}", aws("glue")
    backup(s3, dataset, "2026-11-01", {"v.csv": b"id;importe\n1;2.5\n"})
    crawl(dataset, "2026-11-01", aws_connection, deferrable)
    backup(s3, dataset, "2026-11-02", {"v.json": b'{"id": 2}\n'})  # skipped by the incremental crawl

    with pytest.raises(AirflowException) as failure:
        crawl(dataset, "2026-11-02", aws_connection, deferrable)

    full = f"optest-raw-{dataset}-full"
    error = glue.get_crawler(Name=full)["Crawler"]["LastCrawl"]["ErrorMessage"]
    assert "mixes csv, json files" in error  # the local crawler refuses where AWS would make two tables
    assert str(failure.value) == f"Glue crawler {full}: last crawl FAILED: {error}"


def test_full_refresh_adds_the_full_crawl_to_a_plain_day(s3, aws, aws_connection):
    dataset = "bancos"
    backup(s3, dataset, "2026-11-01", {"b.csv": b"id;importe\n1;2.5\n"})
    assert crawl(dataset, "2026-11-01", aws_connection, False, full_refresh=True) == \
        [f"optest-raw-{dataset}-full"]
    # The incremental crawler has not run: a table exists all the same, made by the full crawl.
    assert columns(aws("glue"), dataset) == ["id", "importe"]


def test_uncovered_columns_name_new_columns_and_wider_types_only():
    table = {"StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "importe", "Type": "double"},
                                               {"Name": "nota", "Type": "string"}]}}
    partition = {"StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "double"}, {"Name": "importe", "Type": "bigint"}, {"Name": "nota", "Type": "bigint"},
        {"Name": "tienda", "Type": "string"}]}}
    assert uncovered_columns(table, partition) == ["id double (the table has bigint)",
                                                   "tienda string (not in the table)"]
    assert uncovered_columns(table, {"StorageDescriptor": {"Columns": [{"Name": "id", "Type": "int"}]}}) == []
