"""Users' usual tools against the local data lake, unmodified: the AWS CLI, PyAthena and AWS SDK for pandas
(awswrangler), configured only as docs/clients.md shows (endpoint URL, dummy credentials, region, a workgroup with
an output location).

The clean table is registered by the cleaning job's own code (indata_clean.catalog.register_table: Parquet,
partitioned by dt, one partition per run date) over Parquet files written here. The AWS CLI is v1 (awscli 1.46.3,
the newest release, pinned by requirements/local-stack.txt, with its own botocore: Athena over the JSON protocol);
PyAthena and awswrangler run in the newest SDK's virtualenv (requirements/newest-sdk.txt: Athena over REST-JSON),
through tests/clients/read_with.py.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
NEWEST_SDK = REPO / ".venv" / "newest-sdk" / "bin" / "python"
AWS_CLI = Path(sys.executable).parent / "aws"
SUFFIX = uuid.uuid4().hex[:8]
BUCKET = f"clients-{SUFFIX}"
DATABASE = f"clients_clean_{SUFFIX}"
TABLE = "people"
WORKGROUP = f"clients-{SUFFIX}"
CLEAN_PATH = f"s3://{BUCKET}/clean/{TABLE}/"
ROWS = {"2026-11-01": [(1, "Ann", 7.5), (2, "Bob", None)], "2026-11-02": [(3, "Cy", 0.5)]}
ALL_ROWS = [[i, name, amount, dt] for dt, rows in ROWS.items() for i, name, amount in rows]


@pytest.fixture(scope="module")
def lake(stack, aws):
    """The clean table, registered as the cleaning job registers it, and a workgroup with an output location."""
    from pyspark.sql import types as T

    from indata_clean.catalog import register_table

    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("name", T.StringType()),
                           T.StructField("amount", T.DoubleType())])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", stack.endpoint)  # register_table's own boto3 client reads it
        for dt, rows in ROWS.items():
            buffer = io.BytesIO()
            pq.write_table(pa.table({"id": pa.array([r[0] for r in rows], pa.int64()),
                                     "name": pa.array([r[1] for r in rows], pa.string()),
                                     "amount": pa.array([r[2] for r in rows], pa.float64())}), buffer)
            s3.put_object(Bucket=BUCKET, Key=f"clean/{TABLE}/dt={dt}/part-00000.snappy.parquet",
                          Body=buffer.getvalue())
            register_table(schema, {"clean_database": DATABASE, "dataset": TABLE, "run_date": dt,
                                    "clean_path": CLEAN_PATH})
    aws("athena").create_work_group(Name=WORKGROUP, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"}})
    # What docs/clients.md tells users to set, and nothing else of the suite's environment.
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_ENDPOINT_URL": stack.endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1"}


def aws_cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(AWS_CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=check)


def read_with(env: dict, tool: str) -> list[dict]:
    assert NEWEST_SDK.exists(), f"{NEWEST_SDK} is missing: run make newest-sdk (requirements/newest-sdk.txt)"
    result = subprocess.run([str(NEWEST_SDK), str(Path(__file__).with_name("read_with.py")), tool, DATABASE, TABLE,
                             WORKGROUP, CLEAN_PATH], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_aws_cli(lake):
    version = aws_cli(lake, "--version")
    assert "aws-cli/1.46.3" in version.stdout + version.stderr
    listed = aws_cli(lake, "s3", "ls", "--recursive", f"s3://{BUCKET}/clean/").stdout
    assert listed.count(".parquet") == 2 and f"{TABLE}/dt=2026-11-02/" in listed
    location = aws_cli(lake, "glue", "get-table", "--database-name", DATABASE, "--name", TABLE, "--query",
                       "Table.StorageDescriptor.Location", "--output", "text").stdout.strip()
    assert location == CLEAN_PATH
    query_id = aws_cli(lake, "athena", "start-query-execution", "--work-group", WORKGROUP,
                       "--query-execution-context", f"Database={DATABASE}", "--query-string",
                       f"SELECT name, amount FROM {TABLE} WHERE dt = '2026-11-01' ORDER BY id",
                       "--query", "QueryExecutionId", "--output", "text").stdout.strip()
    deadline = time.monotonic() + 30
    while (state := aws_cli(lake, "athena", "get-query-execution", "--query-execution-id", query_id, "--query",
                            "QueryExecution.Status.State", "--output", "text").stdout.strip()) in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, f"query {query_id} still {state}"
        time.sleep(0.2)
    assert state == "SUCCEEDED"
    results = json.loads(aws_cli(lake, "athena", "get-query-results", "--query-execution-id", query_id).stdout)
    assert [[cell.get("VarCharValue") for cell in row["Data"]] for row in results["ResultSet"]["Rows"]] == [
        ["name", "amount"], ["Ann", "7.5"], ["Bob", None]]
    missing = aws_cli(lake, "athena", "get-query-execution", "--query-execution-id", "no-such-query", check=False)
    assert missing.returncode != 0 and "(InvalidRequestException)" in missing.stderr


def test_pyathena(lake):
    (result,) = read_with(lake, "pyathena")
    assert result["description"] == [["id", "bigint"], ["name", "varchar"], ["amount", "double"], ["dt", "varchar"]]
    assert result["rows"] == [[1, "Ann", 7.5, "2026-11-01"]]  # WHERE amount > %(least)s, least = 1.0


def test_awswrangler_read_sql_query_and_read_parquet(lake):
    query, parquet = read_with(lake, "awswrangler")
    assert query["read_sql_query"] == {
        "dtypes": {"id": "Int64", "name": "string", "amount": "float64", "dt": "string"}, "rows": ALL_ROWS}
    assert parquet["read_parquet"]["rows"] == ALL_ROWS
    assert parquet["read_parquet"]["dtypes"]["id"] == "Int64" and parquet["read_parquet"]["dtypes"]["dt"] == "category"
