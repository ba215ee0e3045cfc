"""CRAWL_NEW_FOLDERS_ONLY in the crawler's data plane: new folders are read, known ones are not, the table stays."""
from __future__ import annotations

import pytest

from local_aws.glue.crawler import CrawlMetrics, run_crawl

NEW_FOLDERS = {"RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
               "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}}


@pytest.fixture
def reads(s3):
    """The keys of every GET the S3 client makes (the crawler samples each object it reads with ranged GETs)."""
    keys: list[str] = []

    def record(params, **_):
        keys.append(params["Key"])

    s3.meta.events.register("provide-client-params.s3.GetObject", record)
    yield keys
    s3.meta.events.unregister("provide-client-params.s3.GetObject", record)


def crawler(database: str, path: str) -> dict:
    return {"Name": "newfolders-crawler", "DatabaseName": database,
            "Targets": {"S3Targets": [{"Path": path, "Exclusions": []}]}, **NEW_FOLDERS}


def columns(entity: dict) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in entity["StorageDescriptor"]["Columns"]]


def partition(glue, database: str, table: str, day: str) -> dict:
    return glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=[day])["Partition"]


def test_the_first_crawl_reads_everything_then_only_new_folders(s3, glue, bucket, database, reads):
    for day in ("1", "2"):
        s3.put_object(Bucket=bucket, Key=f"raw/ventas/dt={day}/v.csv", Body=b"id;importe\n1;2.5\n")
    config = crawler(database, f"s3://{bucket}/raw/ventas/")

    first = run_crawl(s3, glue, config)
    assert first == CrawlMetrics(tables_created=1, partitions_created=2)
    assert first.folders == {f"s3://{bucket}/raw/ventas/dt=1/", f"s3://{bucket}/raw/ventas/dt=2/"}

    # A known folder is not read again: JSON next to its CSV would fail the crawl if it were.
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/late.json", Body=b'{"id": 1}\n')
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=3/v.csv", Body=b"id;importe\n3;4.5\n")
    reads.clear()
    second = run_crawl(s3, glue, config, known=first.folders)

    assert second == CrawlMetrics(partitions_created=1)
    assert second.folders == {f"s3://{bucket}/raw/ventas/dt=3/"}
    assert set(reads) == {"raw/ventas/dt=3/v.csv"}
    parts = glue.get_partitions(DatabaseName=database, TableName="ventas")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["1", "2", "3"]
    assert run_crawl(s3, glue, config, known=first.folders | second.folders) == CrawlMetrics()


def test_a_new_column_reaches_its_partition_and_the_table_stays(s3, glue, bucket, database):
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/v.csv", Body=b"id;importe\n1;2.5\n")
    config = crawler(database, f"s3://{bucket}/raw/ventas/")
    known = run_crawl(s3, glue, config).folders
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=2/v.csv", Body=b"id;importe;tienda\n2;3.5;7\n")

    assert run_crawl(s3, glue, config, known) == CrawlMetrics(partitions_created=1)

    table = glue.get_table(DatabaseName=database, Name="ventas")["Table"]
    assert columns(table) == [("id", "bigint"), ("importe", "double")]
    assert columns(partition(glue, database, "ventas", "2")) == [("id", "bigint"), ("importe", "double"),
                                                                  ("tienda", "bigint")]


def test_a_csv_table_keeps_its_header_decision(s3, glue, bucket, database):
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/v.csv", Body=b"id;nombre\n1;uno\n")
    config = crawler(database, f"s3://{bucket}/raw/ventas/")
    known = run_crawl(s3, glue, config).folders
    # Alone, an all-string file has no header for the crawler (col0, col1); the table says it has one.
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=2/v.csv", Body=b"id;nombre\nA7;dos\n")

    run_crawl(s3, glue, config, known)

    new = partition(glue, database, "ventas", "2")
    assert columns(new) == [("id", "string"), ("nombre", "string")]
    assert new["StorageDescriptor"]["Parameters"]["skip.header.line.count"] == "1"


def test_new_files_deeper_than_the_table_keep_its_partitioning(s3, glue, bucket, database):
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/v.csv", Body=b"id;importe\n1;2.5\n")
    config = crawler(database, f"s3://{bucket}/raw/ventas/")
    known = run_crawl(s3, glue, config).folders
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=2/tienda_7/v.csv", Body=b"id;importe\n2;3.5\n")

    assert run_crawl(s3, glue, config, known) == CrawlMetrics(partitions_created=1)
    assert partition(glue, database, "ventas", "2")["StorageDescriptor"]["Location"] == \
        f"s3://{bucket}/raw/ventas/dt=2/"


def test_an_incremental_crawl_adds_no_table_and_skips_another_format(s3, glue, bucket, database):
    s3.put_object(Bucket=bucket, Key="raw/a/dt=1/a.csv", Body=b"id;importe\n1;2.5\n")
    config = crawler(database, f"s3://{bucket}/raw/")
    known = run_crawl(s3, glue, config).folders
    s3.put_object(Bucket=bucket, Key="raw/b/dt=1/b.csv", Body=b"id;importe\n1;2.5\n")
    s3.put_object(Bucket=bucket, Key="raw/a/dt=2/a.json", Body=b'{"id": 2}\n')

    metrics = run_crawl(s3, glue, config, known)

    assert metrics == CrawlMetrics()
    assert metrics.folders == {f"s3://{bucket}/raw/a/dt=2/"}  # read, found incompatible, not read again
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]] == ["a"]
    assert [p["Values"] for p in glue.get_partitions(DatabaseName=database, TableName="a")["Partitions"]] == [["1"]]


def test_known_folders_are_read_again_by_a_crawl_of_everything(s3, glue, bucket, database):
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/v.csv", Body=b"id;importe\n1;2.5\n")
    everything = {**crawler(database, f"s3://{bucket}/raw/ventas/"),
                  "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
                  "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}}
    known = run_crawl(s3, glue, everything).folders
    s3.put_object(Bucket=bucket, Key="raw/ventas/dt=1/w.csv", Body=b"id;importe;tienda\n1;2.5;7\n")

    assert run_crawl(s3, glue, everything, known).tables_updated == 1

    assert columns(partition(glue, database, "ventas", "1"))[-1] == ("tienda", "bigint")
