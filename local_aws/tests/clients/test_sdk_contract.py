"""What an SDK client sees of the stack, with boto3 alone: Athena (workgroups, start/get/list/stop, result paging,
errors, tags on an ARN, DDL) and a smoke call of every other service the stack answers (S3, Glue, CloudWatch Logs,
IAM, STS, CloudFormation).

It runs twice: in the suite with the pinned boto3 (Athena over the JSON protocol, X-Amz-Target), and from
local_aws/tests/test_newest_sdk.py in the virtualenv of requirements/newest-sdk.txt (Athena over REST-JSON), so it
imports nothing but boto3 and pytest. Its data is its own: one bucket, database, table and workgroup per run.
"""
from __future__ import annotations

import time
import uuid

import boto3
import botocore
import pytest
from botocore.exceptions import ClientError

SUFFIX = uuid.uuid4().hex[:8]
BUCKET = f"sdkcontract-{SUFFIX}"
DB = f"sdkcontract_{SUFFIX}"
WORKGROUP = f"sdkcontract-{SUFFIX}"
PEOPLE_CSV = b"id,name,score\n1,Ann,7.5\n2,Bob,\n3,Cy,9\n"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ENDLESS = "SELECT count(*) FROM UNNEST(sequence(1, 1000000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 1000000)) AS b(y)"


@pytest.fixture(scope="module")
def client(stack):
    def make(service: str):
        return boto3.client(service, endpoint_url=stack.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    return make


@pytest.fixture(scope="module")
def athena(client):
    return client("athena")


@pytest.fixture(scope="module")
def lake(client, athena):
    """A workgroup whose results go to the bucket, and a CSV table made with Athena DDL."""
    s3, glue = client("s3"), client("glue")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="warehouse/people/people.csv", Body=PEOPLE_CSV)
    glue.create_database(DatabaseInput={"Name": DB})
    athena.create_work_group(Name=WORKGROUP, Description="SDK contract", Tags=[{"Key": "team", "Value": "data"}],
                             Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/results/"}})
    query_id = start(athena, f"""CREATE EXTERNAL TABLE people (id int, name string, score double)
                                 ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
                                 LOCATION 's3://{BUCKET}/warehouse/people/'
                                 TBLPROPERTIES ('skip.header.line.count'='1')""")
    execution = wait(athena, query_id)
    assert (execution["Status"]["State"], execution["StatementType"]) == ("SUCCEEDED", "DDL"), execution["Status"]


def start(athena, sql: str) -> str:
    return athena.start_query_execution(QueryString=sql, WorkGroup=WORKGROUP,
                                        QueryExecutionContext={"Database": DB})["QueryExecutionId"]


def wait(athena, query_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in TERMINAL:
            return execution
        time.sleep(0.05)
    raise TimeoutError(f"query {query_id} not finished after {timeout} s")


def values(rows: list[dict]) -> list[list[str | None]]:
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows]


def test_the_sdk_under_test(athena):
    """Says which botocore and which Athena protocol this run exercises (the caller checks the newest one's)."""
    protocol = athena.meta.service_model.protocol
    print(f"botocore {botocore.__version__}, Athena protocol {protocol}")
    assert protocol in ("json", "rest-json")


def test_workgroups(athena, lake):
    group = athena.get_work_group(WorkGroup=WORKGROUP)["WorkGroup"]
    assert group["Name"] == WORKGROUP and group["Description"] == "SDK contract"
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/results/"
    names = [g["Name"] for g in athena.list_work_groups(MaxResults=50)["WorkGroups"]]
    assert {"primary", WORKGROUP} <= set(names)
    # The ARN goes in the path in REST-JSON, its '/' percent-encoded within one segment.
    arn = f"arn:aws:athena:us-east-1:123456789012:workgroup/{WORKGROUP}"
    assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    with pytest.raises(athena.exceptions.InvalidRequestException, match=f"WorkGroup {WORKGROUP}-missing is not found"):
        athena.get_work_group(WorkGroup=f"{WORKGROUP}-missing")


def test_start_get_list_and_batch_get(client, athena, lake):
    query_id = start(athena, "SELECT count(*) AS n, sum(score) AS total FROM people")
    execution = wait(athena, query_id)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["WorkGroup"] == WORKGROUP and execution["QueryExecutionContext"]["Database"] == DB
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/results/{query_id}.csv"
    assert execution["Status"]["CompletionDateTime"] >= execution["Status"]["SubmissionDateTime"]
    result = athena.get_query_results(QueryExecutionId=query_id)
    assert values(result["ResultSet"]["Rows"]) == [["n", "total"], ["3", "16.5"]]
    assert [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["bigint", "double"]
    body = client("s3").get_object(Bucket=BUCKET, Key=f"results/{query_id}.csv")["Body"].read()
    assert body == b'"n","total"\n"3","16.5"\n'
    assert query_id in athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    batch = athena.batch_get_query_execution(QueryExecutionIds=[query_id, "no-such-query"])
    assert [e["QueryExecutionId"] for e in batch["QueryExecutions"]] == [query_id]
    assert [e["QueryExecutionId"] for e in batch["UnprocessedQueryExecutionIds"]] == ["no-such-query"]


def test_results_are_paged(athena, lake):
    query_id = start(athena, "SELECT x FROM UNNEST(sequence(1, 25)) AS t(x) ORDER BY x")
    assert wait(athena, query_id)["Status"]["State"] == "SUCCEEDED"
    pages = list(athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": 10}))
    assert [len(page["ResultSet"]["Rows"]) for page in pages] == [10, 10, 6]  # the header row counts on page 1
    rows = [row for page in pages for row in values(page["ResultSet"]["Rows"])]
    assert rows == [["x"]] + [[str(i)] for i in range(1, 26)]
    # Paging ListQueryExecutions: NextToken and MaxResults travel in the query string under REST-JSON.
    first = athena.list_query_executions(WorkGroup=WORKGROUP, MaxResults=1)
    assert len(first["QueryExecutionIds"]) == 1 and first["NextToken"]
    rest = athena.list_query_executions(WorkGroup=WORKGROUP, MaxResults=50, NextToken=first["NextToken"])
    assert first["QueryExecutionIds"][0] not in rest["QueryExecutionIds"]


def test_errors_have_their_codes(athena, lake):
    with pytest.raises(athena.exceptions.InvalidRequestException, match="was not found"):
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="is not found"):
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup=f"{WORKGROUP}-missing")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="QueryString"):
        athena.start_query_execution(QueryString="   ", WorkGroup=WORKGROUP)
    query_id = start(athena, "SELECT * FROM no_such_table")
    execution = wait(athena, query_id)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("TABLE_NOT_FOUND: ")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="TABLE_NOT_FOUND"):
        athena.get_query_results(QueryExecutionId=query_id)


def test_stop_query_execution(athena, lake):
    query_id = start(athena, ENDLESS)
    athena.stop_query_execution(QueryExecutionId=query_id)
    execution = wait(athena, query_id)
    assert execution["Status"]["State"] == "CANCELLED"
    assert execution["Status"]["StateChangeReason"] == "Query cancelled by user"


def test_glue_s3_logs_iam_sts_cloudformation_smoke(client, lake):
    glue, s3 = client("glue"), client("s3")
    assert [t["Name"] for t in glue.get_tables(DatabaseName=DB)["TableList"]] == ["people"]
    assert glue.get_table(DatabaseName=DB, Name="people")["Table"]["StorageDescriptor"]["Columns"][1] == {
        "Name": "name", "Type": "string"}
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName=DB, Name="nope")
    s3.put_object(Bucket=BUCKET, Key="smoke/a b.txt", Body=b"hello")
    assert s3.get_object(Bucket=BUCKET, Key="smoke/a b.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="smoke/")["Contents"]] == ["smoke/a b.txt"]
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=BUCKET, Key="smoke/missing")
    assert raised.value.response["Error"]["Code"] == "404"

    logs = client("logs")
    group = f"/sdk-contract/{SUFFIX}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello"}])
    events = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["hello"]

    assert client("sts").get_caller_identity()["Account"] == "123456789012"
    iam = client("iam")
    iam.create_role(RoleName=f"sdk-contract-{SUFFIX}", AssumeRolePolicyDocument='{"Version": "2012-10-17"}')
    assert iam.get_role(RoleName=f"sdk-contract-{SUFFIX}")["Role"]["RoleName"] == f"sdk-contract-{SUFFIX}"
    cloudformation = client("cloudformation")
    assert isinstance(cloudformation.list_stacks()["StackSummaries"], list)
    with pytest.raises(ClientError) as raised:
        cloudformation.describe_stacks(StackName=f"sdk-contract-{SUFFIX}-missing")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
