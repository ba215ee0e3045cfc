"""`make run IAM=1` (scripts.run_local --iam): the DAG's environment as on an EC2 worker, and the stack it needs."""
from __future__ import annotations

import json

import pytest

from scripts.common import ensure_stack
from scripts.run_local import worker_environment

OUTPUTS = {"WorkerRoleArn": "arn:aws:iam::123456789012:role/indata-airflow-worker"}


def test_the_dag_gets_no_keys_only_the_worker_roles_credentials_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    env = worker_environment("http://127.0.0.1:4566", OUTPUTS)
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == (
        "http://127.0.0.1:4566/_local_aws/role-credentials/ec2.amazonaws.com/indata-airflow-worker")
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert "login" not in connection and "password" not in connection
    assert connection["extra"]["endpoint_url"] == "http://127.0.0.1:4566"
    # The provider assumes roles (the backup's narrowed session) through this endpoint only, never endpoint_url:
    # without it the AssumeRole would go to AWS's public STS.
    assert connection["extra"]["service_config"] == {"sts": {"endpoint_url": "http://127.0.0.1:4566"}}


def test_a_running_stack_that_does_not_enforce_iam_is_refused(stack, tmp_path):
    with pytest.raises(SystemExit, match="does not enforce IAM"):
        ensure_stack(stack.port, tmp_path, enforce_iam=True)
