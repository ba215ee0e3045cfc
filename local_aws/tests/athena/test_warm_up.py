"""The Athena engine's warm-up: `python -m local_aws` loads the engine in the background once it serves, so the
first query after a start does not pay the imports, sqlglot's dialects and DuckDB's first Parquet read; an
in-process stack (the tests' own) loads it on its first query instead."""
from __future__ import annotations

import logging
import time

import boto3
import pytest

from local_aws.athena.engine.binding import warm_up_query
from local_aws.server import LocalAWS


def test_warm_up_query_runs_the_path_of_a_checks_query():
    warm_up_query()  # parse, transpile, an Arrow table, a Parquet file written and read: any error is raised


@pytest.mark.parametrize("warm", [True, False])
def test_the_engine_is_loaded_at_start_only_when_asked(warm, caplog):
    caplog.set_level(logging.INFO, logger="local_aws.athena")
    stack = LocalAWS(port=0, state_dir=None, warm_athena=warm).start()
    try:
        if warm:
            assert stack.warming is not None
            stack.warming.join(timeout=60)
            assert stack.athena.engine_loaded
            assert any("Athena engine loaded in" in record.message for record in caplog.records)
            assert not any("warm-up failed" in record.message for record in caplog.records)
        else:
            assert stack.warming is None and not stack.athena.engine_loaded
        athena = boto3.client("athena", endpoint_url=stack.endpoint, region_name="us-east-1")
        boto3.client("s3", endpoint_url=stack.endpoint, region_name="us-east-1").create_bucket(Bucket="warm")
        query = athena.start_query_execution(QueryString="SELECT 1 AS one",
                                             ResultConfiguration={"OutputLocation": "s3://warm/results/"})
        deadline = time.monotonic() + 60
        while (state := athena.get_query_execution(QueryExecutionId=query["QueryExecutionId"])[
                "QueryExecution"]["Status"]["State"]) in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state == "SUCCEEDED"
        assert stack.athena.engine_loaded
    finally:
        stack.stop()
