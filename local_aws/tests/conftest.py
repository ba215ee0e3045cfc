"""Shared fixtures for the local AWS stack's tests.

Fake credentials only: nothing here can reach real AWS.
"""
from __future__ import annotations

import os
import boto3
import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def moto_endpoint():
    """A plain moto server (no data plane): the baseline the local stack builds on."""
    from moto.server import ThreadedMotoServer

    from local_aws.testing import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def moto_clients(moto_endpoint):
    def client(service: str):
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")

    return client


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The local AWS stack in its own process, shared by the session; its state survives restarts by design."""
    from local_aws.testing import StackProcess

    process = StackProcess(tmp_path_factory.mktemp("local-aws") / "state")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def aws(stack):
    """boto3 clients for the local stack."""

    def client(service: str):
        return boto3.client(service, endpoint_url=stack.endpoint, region_name="us-east-1")

    return client


@pytest.fixture()
def aws_connection(stack, monkeypatch):
    """The Airflow `aws_default` connection pointing at the local stack, through the environment."""
    import json

    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": stack.endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return "aws_default"
