"""Fixtures of the local AWS stack's tests (the stack itself and fake credentials: the repository's conftest.py)."""
from __future__ import annotations

import boto3
import pytest


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
def s3(moto_clients):
    """S3 on the plain moto server (the crawler and engine tests need S3 and the catalog, no data plane)."""
    return moto_clients("s3")


@pytest.fixture(scope="session")
def glue(moto_clients):
    return moto_clients("glue")
