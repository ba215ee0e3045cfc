"""Athena through the stack: the API as boto3, the Amazon provider and PyAthena drive it.

Everything goes over HTTP to `python -m local_aws` (the session's `stack`): S3 objects written with boto3,
tables created with Athena DDL sent through StartQueryExecution, queries polled with GetQueryExecution and read
with GetQueryResults, the result files Athena leaves in S3, AthenaOperator (polling and deferrable),
AthenaSQLHook / PyAthena with common.sql's check operators, and a restart of the stack.

Fixture data (one bucket and database per module run; the stack is shared with other modules):
  sales   Parquet, PARTITIONED BY (dt string): three partitions found by MSCK REPAIR TABLE under the table
          location (plus a _SUCCESS marker that must not be read), one added with ALTER TABLE ADD PARTITION
          at its own location.
  people  a CSV with a header line, registered with boto3's Glue CreateTable (LazySimpleSerDe).
"""
from __future__ import annotations

import datetime
import decimal
import io
import json
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from botocore.exceptions import ClientError

from local_aws.tests.glue.test_api import run_deferred, task_context

SUFFIX = uuid.uuid4().hex[:8]
BUCKET = f"athenaapi-{SUFFIX}"
DB = f"athenaapi_{SUFFIX}"
RESULTS = f"s3://{BUCKET}/results/"
WORKGROUP = f"athenaapi-{SUFFIX}"  # its ResultConfiguration sends results to s3://BUCKET/wg-results/
BARE_WORKGROUP = f"athenaapi-{SUFFIX}-bare"  # no output location anywhere
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

SALES_SCHEMA = pa.schema([("id", pa.int64()), ("customer", pa.string()), ("amount", pa.decimal128(10, 2)),
                          ("price", pa.float64())])
SALES = {  # dt -> rows
    "2026-11-01": [(1, "alice", "10.50", 1.5), (2, "bob", "20.00", 2.25)],
    "2026-11-02": [(3, "alice", "5.25", 0.1)],
    "2026-11-03": [(4, "carol", None, 100.0), (5, "bob", "1.00", 1e10)],
    "2026-11-04": [(6, "dave", "7.75", 3.0)],  # outside the table location: added with its own LOCATION
}
PEOPLE_CSV = b"id,name,score\n1,Ann,7.5\n2,Bob,\n3,Cy,9\n"
# A query that cannot finish in time: 10^12 rows of cross join.
ENDLESS = "SELECT count(*) FROM UNNEST(sequence(1, 1000000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 1000000)) AS b(y)"


def parquet_bytes(rows) -> bytes:
    records = [dict(zip(SALES_SCHEMA.names, (i, c, decimal.Decimal(a) if a else None, p))) for i, c, a, p in rows]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, SALES_SCHEMA), buffer)
    return buffer.getvalue()


def sales_key(dt: str) -> str:
    if dt == "2026-11-04":
        return "late/sales-2026-11-04/part-0.parquet"
    return f"warehouse/sales/dt={dt}/part-0.parquet"


# ----------------------------------------------------------------------------------------------- helpers


def start(athena, sql: str, database: str | None = DB, output: str | None = RESULTS, **kwargs) -> str:
    request = {"QueryString": sql, **kwargs}
    if database:
        request["QueryExecutionContext"] = {"Database": database}
    if output:
        request["ResultConfiguration"] = {"OutputLocation": output}
    return athena.start_query_execution(**request)["QueryExecutionId"]


def wait(athena, query_id: str, timeout: float = 30) -> tuple[dict, list[str]]:
    """Poll GetQueryExecution to a final state; returns the execution and the distinct states seen, in order."""
    states: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if not states or states[-1] != state:
            states.append(state)
        if state in TERMINAL:
            return execution, states
        time.sleep(0.02)
    raise TimeoutError(f"query {query_id} still {states[-1]} after {timeout} s")


def run(athena, sql: str, **kwargs) -> tuple[str, dict]:
    query_id = start(athena, sql, **kwargs)
    execution, states = wait(athena, query_id)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert states[-1] == "SUCCEEDED" and states == [s for s in ("QUEUED", "RUNNING", "SUCCEEDED") if s in states]
    return query_id, execution


def values(rows: list[dict]) -> list[list[str | None]]:
    """GetQueryResults rows as lists of strings, None for a NULL cell ({})."""
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows]


def all_rows(athena, query_id: str) -> list[list[str | None]]:
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
    return [row for page in pages for row in values(page["ResultSet"]["Rows"])]


def s3_text(s3, uri: str) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def failure(athena, sql: str, **kwargs) -> dict:
    execution, states = wait(athena, start(athena, sql, **kwargs))
    assert states[-1] == "FAILED", execution["Status"]
    return execution["Status"]


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def athena(aws):
    return aws("athena")


@pytest.fixture(scope="module")
def sizes(aws):
    """Uploads the data; returns the size in bytes of each sales partition's file, and of the CSV."""
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    sizes = {}
    for dt, rows in SALES.items():
        body = parquet_bytes(rows)
        s3.put_object(Bucket=BUCKET, Key=sales_key(dt), Body=body)
        sizes[dt] = len(body)
    s3.put_object(Bucket=BUCKET, Key="warehouse/sales/dt=2026-11-01/_SUCCESS", Body=b"not parquet")
    s3.put_object(Bucket=BUCKET, Key="warehouse/people/people.csv", Body=PEOPLE_CSV)
    sizes["people"] = len(PEOPLE_CSV)
    athena = aws("athena")
    athena.create_work_group(Name=WORKGROUP, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/wg-results/"}})
    athena.create_work_group(Name=BARE_WORKGROUP, Configuration={})
    return sizes


@pytest.fixture(scope="module")
def catalog(aws, athena, sizes):
    """The catalog, built the way a data engineer builds it: Athena DDL for sales, Glue CreateTable for people."""
    for sql in (f"CREATE DATABASE {DB} COMMENT 'athena api tests'",
                f"""CREATE EXTERNAL TABLE sales (
                        id bigint, customer string, amount decimal(10,2), price double)
                    PARTITIONED BY (dt string)
                    STORED AS PARQUET
                    LOCATION 's3://{BUCKET}/warehouse/sales/'""",
                "MSCK REPAIR TABLE sales",
                f"ALTER TABLE sales ADD PARTITION (dt='2026-11-04') LOCATION 's3://{BUCKET}/late/sales-2026-11-04/'"):
        _, execution = run(athena, sql)
        assert execution["StatementType"] == "DDL"
    aws("glue").create_table(DatabaseName=DB, TableInput={
        "Name": "people", "TableType": "EXTERNAL_TABLE", "Parameters": {"skip.header.line.count": "1"},
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "int"}, {"Name": "name", "Type": "string"},
                        {"Name": "score", "Type": "double"}],
            "Location": f"s3://{BUCKET}/warehouse/people/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                          "Parameters": {"field.delim": ","}}}})
    return sizes


# --------------------------------------------------------------------------------------------- metadata


def test_get_table_metadata_describes_a_catalog_table(athena, catalog):
    sales = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=DB, TableName="sales")
    metadata = sales["TableMetadata"]
    assert [(c["Name"], c["Type"]) for c in metadata["Columns"]] == [
        ("id", "bigint"), ("customer", "string"), ("amount", "decimal(10,2)"), ("price", "double")]
    assert [(c["Name"], c["Type"]) for c in metadata["PartitionKeys"]] == [("dt", "string")]
    assert metadata["Name"] == "sales" and metadata["TableType"] == "EXTERNAL_TABLE"
    people = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=DB, TableName="people")
    assert people["TableMetadata"]["Parameters"]["skip.header.line.count"] == "1"
    assert people["TableMetadata"]["PartitionKeys"] == []
    for database, table, catalog_name in ((DB, "nothing_here", "AwsDataCatalog"), ("no_such_db", "sales",
                                                                                 "AwsDataCatalog"),
                                          (DB, "sales", "other")):
        with pytest.raises(ClientError) as refused:
            athena.get_table_metadata(CatalogName=catalog_name, DatabaseName=database, TableName=table)
        assert refused.value.response["Error"]["Code"] == "MetadataException"


# --------------------------------------------------------------------------------------------- DDL


def test_ddl_statements_change_the_glue_catalog(aws, athena, catalog):
    glue, s3 = aws("glue"), aws("s3")
    assert glue.get_database(Name=DB)["Database"]["Description"] == "athena api tests"
    table = glue.get_table(DatabaseName=DB, Name="sales")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"), ("customer", "string"), ("amount", "decimal(10,2)"), ("price", "double")]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
    partitions = glue.get_partitions(DatabaseName=DB, TableName="sales")["Partitions"]
    assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in partitions) == [
        ("2026-11-01", f"s3://{BUCKET}/warehouse/sales/dt=2026-11-01/"),
        ("2026-11-02", f"s3://{BUCKET}/warehouse/sales/dt=2026-11-02/"),
        ("2026-11-03", f"s3://{BUCKET}/warehouse/sales/dt=2026-11-03/"),
        ("2026-11-04", f"s3://{BUCKET}/late/sales-2026-11-04/")]

    query_id, execution = run(athena, "SHOW PARTITIONS sales")
    assert execution["StatementType"] == "UTILITY"
    # SHOW output is text, written as <id>.txt; unlike a SELECT's, its rows have no header row.
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{RESULTS}{query_id}.txt"
    expected = ["dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03", "dt=2026-11-04"]
    assert all_rows(athena, query_id) == [[p] for p in expected]
    assert s3_text(s3, execution["ResultConfiguration"]["OutputLocation"]).splitlines() == expected
    result = athena.get_query_results(QueryExecutionId=query_id)
    assert [c["Name"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["partition"]

    run(athena, f"CREATE EXTERNAL TABLE scratch (a int) STORED AS PARQUET LOCATION 's3://{BUCKET}/scratch/'")
    _, execution = run(athena, "DROP TABLE scratch")
    assert execution["StatementType"] == "DDL"
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName=DB, Name="scratch")
    assert failure(athena, "DROP TABLE scratch")["StateChangeReason"] == (
        f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{DB}.scratch' does not exist")
    run(athena, "DROP TABLE IF EXISTS scratch")
    assert failure(athena, "ALTER TABLE sales ADD PARTITION (dt='2026-11-02')")["StateChangeReason"] == (
        f"ALREADY_EXISTS: Partition dt=2026-11-02/ already exists in table '{DB}.sales'")


# ---------------------------------------------------------------------------- queries, statistics, files


def test_select_states_statistics_and_result_files(aws, athena, catalog):
    s3 = aws("s3")
    query_id, execution = run(athena, "SELECT id, customer, amount, dt FROM sales ORDER BY id")
    assert execution["QueryExecutionId"] == query_id
    assert execution["StatementType"] == "DML"
    assert execution["QueryExecutionContext"] == {"Database": DB}
    assert execution["WorkGroup"] == "primary"
    status, statistics = execution["Status"], execution["Statistics"]
    assert status["CompletionDateTime"] >= status["SubmissionDateTime"]
    assert "StateChangeReason" not in status
    # Every partition's file, the one at its own location included; the _SUCCESS marker is not read.
    assert statistics["DataScannedInBytes"] == sum(catalog[dt] for dt in SALES)
    assert isinstance(statistics["EngineExecutionTimeInMillis"], int) and statistics["EngineExecutionTimeInMillis"] >= 0
    assert statistics["TotalExecutionTimeInMillis"] == (
        statistics["EngineExecutionTimeInMillis"] + statistics["QueryQueueTimeInMillis"])

    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{BUCKET}/results/{query_id}.csv"
    assert s3_text(s3, location) == (
        '"id","customer","amount","dt"\n'
        '"1","alice","10.50","2026-11-01"\n'
        '"2","bob","20.00","2026-11-01"\n'
        '"3","alice","5.25","2026-11-02"\n'
        '"4","carol",,"2026-11-03"\n'
        '"5","bob","1.00","2026-11-03"\n'
        '"6","dave","7.75","2026-11-04"\n')
    metadata = json.loads(s3_text(s3, location + ".metadata"))
    assert [(c["Name"], c["Type"]) for c in metadata["ColumnInfo"]] == [
        ("id", "bigint"), ("customer", "varchar"), ("amount", "decimal"), ("dt", "varchar")]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"results/{query_id}")["Contents"]]
    assert sorted(keys) == [f"results/{query_id}.csv", f"results/{query_id}.csv.metadata"]


@pytest.mark.parametrize("where, partitions", [
    ("dt = '2026-11-02'", ["2026-11-02"]),
    ("dt >= '2026-11-03' AND price > 1", ["2026-11-03", "2026-11-04"]),
    ("dt IN ('2026-11-01', '2026-11-04')", ["2026-11-01", "2026-11-04"]),
    ("dt = '2027-01-01'", []),
])
def test_partition_pruning_scans_fewer_bytes(athena, catalog, where, partitions):
    query_id, execution = run(athena, f"SELECT count(*) AS n FROM sales WHERE {where}")
    assert execution["Statistics"]["DataScannedInBytes"] == sum(catalog[dt] for dt in partitions)
    expected = sum(1 for dt in partitions for row in SALES[dt] if "price" not in where or row[3] > 1)
    assert all_rows(athena, query_id) == [["n"], [str(expected)]]


def test_text_table_scans_the_whole_csv(athena, catalog):
    query_id, execution = run(athena, "SELECT id, name, score FROM people ORDER BY id")
    assert execution["Statistics"]["DataScannedInBytes"] == catalog["people"] == len(PEOPLE_CSV)
    assert all_rows(athena, query_id) == [["id", "name", "score"], ["1", "Ann", "7.5"], ["2", "Bob", None],
                                          ["3", "Cy", "9.0"]]


def test_output_location_from_the_workgroup(aws, athena, catalog):
    s3 = aws("s3")
    query_id, execution = run(athena, "SELECT count(*) FROM people", output=None, WorkGroup=WORKGROUP)
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/wg-results/{query_id}.csv"
    assert s3_text(s3, f"s3://{BUCKET}/wg-results/{query_id}.csv") == '"_col0"\n"3"\n'
    assert athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == [query_id]
    # The request's own location wins over the workgroup's; a location without a trailing slash is a folder.
    query_id, execution = run(athena, "SELECT 1", output=f"s3://{BUCKET}/own", WorkGroup=WORKGROUP)
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/own/{query_id}.csv"
    assert s3_text(s3, f"s3://{BUCKET}/own/{query_id}.csv") == '"_col0"\n"1"\n'

    with pytest.raises(ClientError) as raised:
        start(athena, "SELECT 1", output=None, WorkGroup=BARE_WORKGROUP)
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "No output location provided" in raised.value.response["Error"]["Message"]
    for output in (None, RESULTS):  # an unknown workgroup is refused whether or not a location is given
        with pytest.raises(ClientError) as raised:
            start(athena, "SELECT 1", output=output, WorkGroup=f"athenaapi-{SUFFIX}-missing")
        assert raised.value.response["Error"] == {
            "Code": "InvalidRequestException", "Message": f"WorkGroup athenaapi-{SUFFIX}-missing is not found."}
    assert athena.list_query_executions(WorkGroup=BARE_WORKGROUP)["QueryExecutionIds"] == []


def test_batch_get_query_execution(athena, catalog):
    first, _ = run(athena, "SELECT 1")
    second, _ = run(athena, "SELECT 2")
    missing = str(uuid.uuid4())
    batch = athena.batch_get_query_execution(QueryExecutionIds=[first, missing, second])
    assert [e["QueryExecutionId"] for e in batch["QueryExecutions"]] == [first, second]
    assert [e["Query"] for e in batch["QueryExecutions"]] == ["SELECT 1", "SELECT 2"]
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == [missing]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_execution(QueryExecutionId=missing)


# ------------------------------------------------------------------------------------------ GetQueryResults


def test_results_header_column_info_and_nulls(athena, catalog):
    query_id, _ = run(athena, "SELECT id, customer, amount, price, CAST(NULL AS varchar) AS nothing, dt, "
                              "id * 2 FROM sales WHERE id IN (1, 4) ORDER BY id")
    result = athena.get_query_results(QueryExecutionId=query_id)
    assert "NextToken" not in result
    rows = result["ResultSet"]["Rows"]
    assert rows[0] == {"Data": [{"VarCharValue": name} for name in
                                ("id", "customer", "amount", "price", "nothing", "dt", "_col6")]}
    assert rows[1:] == [
        {"Data": [{"VarCharValue": "1"}, {"VarCharValue": "alice"}, {"VarCharValue": "10.50"},
                  {"VarCharValue": "1.5"}, {}, {"VarCharValue": "2026-11-01"}, {"VarCharValue": "2"}]},
        {"Data": [{"VarCharValue": "4"}, {"VarCharValue": "carol"}, {}, {"VarCharValue": "100.0"}, {},
                  {"VarCharValue": "2026-11-03"}, {"VarCharValue": "8"}]}]
    columns = result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Label"], c["Type"], c["Precision"], c["Scale"], c["Nullable"], c["CaseSensitive"])
            for c in columns] == [
        ("id", "id", "bigint", 19, 0, "UNKNOWN", False),
        ("customer", "customer", "varchar", 2147483647, 0, "UNKNOWN", True),
        ("amount", "amount", "decimal", 10, 2, "UNKNOWN", False),
        ("price", "price", "double", 17, 0, "UNKNOWN", False),
        ("nothing", "nothing", "varchar", 2147483647, 0, "UNKNOWN", True),
        ("dt", "dt", "varchar", 2147483647, 0, "UNKNOWN", True),
        ("_col6", "_col6", "bigint", 19, 0, "UNKNOWN", False)]


def test_results_are_paged(athena, catalog):
    query_id, _ = run(athena, "SELECT x AS n, IF(x % 100 = 0, NULL, 'v' || CAST(x AS varchar)) AS label "
                              "FROM UNNEST(sequence(1, 2500)) AS t(x) ORDER BY x", database=None)
    pages = list(athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000}))
    assert [len(page["ResultSet"]["Rows"]) for page in pages] == [1000, 1000, 501]  # the header counts on page 1
    rows = [row for page in pages for row in values(page["ResultSet"]["Rows"])]
    assert len(rows) == 2501
    assert rows.count(["n", "label"]) == 1 and rows[0] == ["n", "label"]
    assert rows[1:] == [[str(x), None if x % 100 == 0 else f"v{x}"] for x in range(1, 2501)]
    for page in pages:  # every page carries the column metadata
        assert [c["Type"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["bigint", "varchar"]

    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=7)
    assert values(first["ResultSet"]["Rows"]) == [["n", "label"]] + [[str(x), f"v{x}"] for x in range(1, 7)]
    second = athena.get_query_results(QueryExecutionId=query_id, MaxResults=3, NextToken=first["NextToken"])
    assert values(second["ResultSet"]["Rows"]) == [["7", "v7"], ["8", "v8"], ["9", "v9"]]
    last = athena.get_query_results(QueryExecutionId=query_id, MaxResults=1000, NextToken="2000")
    assert values(last["ResultSet"]["Rows"])[-1] == ["2500", None] and "NextToken" not in last


# ----------------------------------------------------------------------------------------------- failures


def test_failed_queries_say_why(athena, catalog):
    status = failure(athena, "SELECT id FROM sales WHERE")
    assert status["StateChangeReason"].startswith("SYNTAX_ERROR: line 1:")
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    status = failure(athena, "SELEC id FROM sales")
    assert status["StateChangeReason"] == "SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'"
    status = failure(athena, "SELECT * FROM no_such_table")
    assert status["StateChangeReason"] == (
        f"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{DB}.no_such_table' does not exist")
    status = failure(athena, "SELECT nope FROM sales")
    assert status["StateChangeReason"].startswith("COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved")

    query_id = start(athena, "SELECT * FROM no_such_table")
    wait(athena, query_id)
    with pytest.raises(athena.exceptions.InvalidRequestException, match="TABLE_NOT_FOUND"):
        athena.get_query_results(QueryExecutionId=query_id)
    with pytest.raises(athena.exceptions.InvalidRequestException, match="QueryString"):
        start(athena, "   ")


def test_stop_queue_and_cancel(athena, catalog):
    """Two endless queries fill the stack's two query slots: a third waits QUEUED until they are stopped."""
    slow = [start(athena, ENDLESS, database=None) for _ in range(2)]
    deadline = time.monotonic() + 10
    while {athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Status"]["State"]
           for q in slow} != {"RUNNING"}:
        assert time.monotonic() < deadline, "the endless queries never ran"
        time.sleep(0.02)
    queued = start(athena, "SELECT count(*) FROM sales")
    time.sleep(0.3)
    assert athena.get_query_execution(QueryExecutionId=queued)["QueryExecution"]["Status"]["State"] == "QUEUED"
    for query_id, state in ((slow[0], "RUNNING"), (queued, "QUEUED")):
        with pytest.raises(athena.exceptions.InvalidRequestException,
                           match=f"Query has not yet finished. Current state: {state}"):
            athena.get_query_results(QueryExecutionId=query_id)

    stopped_at = time.monotonic()
    for query_id in slow:
        athena.stop_query_execution(QueryExecutionId=query_id)
    for query_id in slow:
        execution, _ = wait(athena, query_id)
        assert execution["Status"]["State"] == "CANCELLED"
        assert execution["Status"]["StateChangeReason"] == "Query cancelled by user"
        with pytest.raises(athena.exceptions.InvalidRequestException):
            athena.get_query_results(QueryExecutionId=query_id)
    # It was QUEUED (asserted above); by the time the cancelled ones are confirmed it may already be running.
    execution, states = wait(athena, queued)
    assert states[-1] == "SUCCEEDED"
    assert time.monotonic() - stopped_at < 5  # the slots were freed, not held until the cross joins ended
    assert values(athena.get_query_results(QueryExecutionId=queued)["ResultSet"]["Rows"]) == [["_col0"], ["6"]]
    assert execution["Statistics"]["QueryQueueTimeInMillis"] >= 300
    # Stopping a finished query changes nothing.
    athena.stop_query_execution(QueryExecutionId=queued)
    assert athena.get_query_execution(QueryExecutionId=queued)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"


# -------------------------------------------------------------------------------------- Amazon provider


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_athena_operator(aws, athena, catalog, aws_connection, deferrable):
    operator = AthenaOperator(
        task_id=f"totals_{int(deferrable)}", aws_conn_id=aws_connection, database=DB, deferrable=deferrable,
        query="SELECT customer, sum(amount) AS total, count(*) AS n FROM sales GROUP BY customer ORDER BY customer",
        output_location=f"s3://{BUCKET}/operator/", sleep_time=1)
    query_id = run_deferred(operator) if deferrable else operator.execute(task_context())

    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["QueryExecutionContext"] == {"Database": DB, "Catalog": "AwsDataCatalog"}
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/operator/{query_id}.csv"
    assert all_rows(athena, query_id) == [["customer", "total", "n"], ["alice", "15.75", "2"], ["bob", "21.00", "2"],
                                          ["carol", None, "1"], ["dave", "7.75", "1"]]
    columns = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Type"], c["Precision"], c["Scale"]) for c in columns] == [
        ("varchar", 2147483647, 0), ("decimal", 38, 2), ("bigint", 19, 0)]


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_athena_operator_with_a_workgroup_and_a_failing_query(athena, catalog, aws_connection, deferrable):
    operator = AthenaOperator(task_id="wg", aws_conn_id=aws_connection, database=DB, workgroup=WORKGROUP,
                              query="SELECT max(score) FROM people", sleep_time=1, deferrable=deferrable)
    query_id = run_deferred(operator) if deferrable else operator.execute(task_context())
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/wg-results/{query_id}.csv"
    assert all_rows(athena, query_id) == [["_col0"], ["9.0"]]

    failing = AthenaOperator(task_id="broken", aws_conn_id=aws_connection, database=DB, query="SELECT * FROM nope",
                             output_location=RESULTS, sleep_time=1, deferrable=deferrable)
    reason = f"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{DB}.nope' does not exist"
    with pytest.raises(AirflowException, match="FAILED") as raised:
        run_deferred(failing) if deferrable else failing.execute(task_context())
    assert failing.query_execution_id in str(raised.value)
    # The polling operator quotes Athena's reason; the trigger's event only says the waiter matched FAILED.
    assert (reason in str(raised.value)) is not deferrable
    failed = athena.get_query_execution(QueryExecutionId=failing.query_execution_id)["QueryExecution"]
    assert failed["Status"]["State"] == "FAILED" and failed["Status"]["StateChangeReason"] == reason


# ------------------------------------------------------------------------------ PyAthena via AthenaSQLHook


@pytest.fixture()
def athena_conn(stack, catalog, aws_connection, monkeypatch):
    """An `athena` connection for AthenaSQLHook / PyAthena. It needs its own keys: the hook puts them in place of
    the AWS connection's (aws_default, whose extra is merged over this one's). Every extra goes to
    pyathena.connect(); PyAthena hands endpoint_url to its Athena client (not to its S3 client, which the
    default cursor never uses: it reads results with GetQueryResults). In provider 9.39.0,
    AthenaSQLHook(aws_conn_id=None) fails with UnboundLocalError: leave aws_conn_id at its default."""
    conn = {"conn_type": "athena", "login": "testing", "password": "testing", "schema": DB,
            "extra": {"region_name": "us-east-1", "endpoint_url": stack.endpoint,
                      "s3_staging_dir": f"s3://{BUCKET}/pyathena/", "poll_interval": 0.05}}
    monkeypatch.setenv("AIRFLOW_CONN_ATHENA_LOCAL", json.dumps(conn))
    return "athena_local"


def test_athena_sql_hook_runs_queries_through_pyathena(athena, athena_conn):
    from airflow.providers.amazon.aws.hooks.athena_sql import AthenaSQLHook

    hook = AthenaSQLHook(athena_conn_id=athena_conn)
    records = hook.get_records("SELECT id, customer, amount, price, CAST(dt AS date) AS day FROM sales "
                               "WHERE dt <= '2026-11-02' OR amount IS NULL ORDER BY id")
    assert records == [(1, "alice", decimal.Decimal("10.50"), 1.5, datetime.date(2026, 11, 1)),
                       (2, "bob", decimal.Decimal("20.00"), 2.25, datetime.date(2026, 11, 1)),
                       (3, "alice", decimal.Decimal("5.25"), 0.1, datetime.date(2026, 11, 2)),
                       (4, "carol", None, 100.0, datetime.date(2026, 11, 3))]
    assert hook.get_first("SELECT count(*), count_if(score IS NULL) FROM people") == (3, 1)
    assert [row[0] for row in hook.get_records("SHOW PARTITIONS sales")] == [
        "dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03", "dt=2026-11-04"]

    with hook.get_conn() as connection:  # the DB-API cursor tells which query it ran
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM sales WHERE dt = '2026-11-03'")
        assert cursor.fetchall() == [(2,)]
        execution = athena.get_query_execution(QueryExecutionId=cursor.query_id)["QueryExecution"]
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/pyathena/{cursor.query_id}.csv"
    assert execution["QueryExecutionContext"]["Database"] == DB
    with pytest.raises(Exception, match="TABLE_NOT_FOUND"):
        hook.get_records("SELECT * FROM nope")


def test_common_sql_check_operators_over_athena(athena_conn):
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLValueCheckOperator

    SQLValueCheckOperator(task_id="rows", conn_id=athena_conn, sql="SELECT count(*) FROM sales",
                          pass_value=6).execute(task_context())
    SQLValueCheckOperator(task_id="total", conn_id=athena_conn, sql="SELECT sum(amount) FROM sales",
                          pass_value=44.5, tolerance=0.01).execute(task_context())
    SQLCheckOperator(task_id="checks", conn_id=athena_conn,
                     sql="SELECT count(*) = 6, count_if(amount IS NULL) = 1, max(dt) = '2026-11-04' FROM sales"
                     ).execute(task_context())
    with pytest.raises(AirflowException, match="Test failed"):
        SQLValueCheckOperator(task_id="rows_wrong", conn_id=athena_conn, sql="SELECT count(*) FROM sales",
                              pass_value=7).execute(task_context())
    with pytest.raises(AirflowException, match="Test failed"):
        SQLCheckOperator(task_id="no_nulls", conn_id=athena_conn,
                         sql="SELECT count_if(amount IS NULL) = 0 FROM sales").execute(task_context())


# ---------------------------------------------------------------------------------------------- restart


def test_queries_survive_a_restart(stack, aws, athena, catalog):
    done, _ = run(athena, "SELECT customer, amount FROM sales WHERE dt = '2026-11-03' ORDER BY customer")
    failed = start(athena, "SELECT * FROM nope")
    wait(athena, failed)
    before = {q: athena.get_query_execution(QueryExecutionId=q)["QueryExecution"] for q in (done, failed)}
    results = athena.get_query_results(QueryExecutionId=done, MaxResults=2)
    results_page2 = athena.get_query_results(QueryExecutionId=done, NextToken=results["NextToken"])

    stack.restart()

    athena = aws("athena")
    for query_id, execution in before.items():
        assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"] == execution
    again = athena.get_query_results(QueryExecutionId=done, MaxResults=2)
    assert again["ResultSet"] == results["ResultSet"] and again["NextToken"] == results["NextToken"]
    assert athena.get_query_results(QueryExecutionId=done, NextToken=results["NextToken"])["ResultSet"] == (
        results_page2["ResultSet"])
    assert values(results["ResultSet"]["Rows"]) + values(results_page2["ResultSet"]["Rows"]) == [
        ["customer", "amount"], ["bob", "1.00"], ["carol", None]]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="TABLE_NOT_FOUND"):
        athena.get_query_results(QueryExecutionId=failed)
    # The workgroup (moto's state) and the catalog came back too: new queries run as before.
    query_id, execution = run(athena, "SELECT customer, amount FROM sales WHERE dt = '2026-11-03' ORDER BY customer",
                              output=None, WorkGroup=WORKGROUP)
    assert all_rows(athena, query_id) == [["customer", "amount"], ["bob", "1.00"], ["carol", None]]
    assert execution["Statistics"]["DataScannedInBytes"] == catalog["2026-11-03"]
