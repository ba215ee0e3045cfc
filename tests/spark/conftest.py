"""Fixtures for the Glue job's tests: one local Spark session and a plain moto server per test session.

The job is include/spark/clean_dataset.py, the package indata_clean beside it and the contract in
plugins/indata_contract (Glue gets both packages as --extra-py-files); the pytest settings' pythonpath lists both
folders. Fake credentials only: nothing here can reach real AWS.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

try:
    import pandas  # noqa: F401
except ImportError:
    # pyspark 3.5's pyspark.testing/__init__ imports its pandas helpers unconditionally, but pandas is not in our
    # requirements (the job does not use it) and assertDataFrameEqual in pyspark.testing.utils does not need it.
    # Register the package without running that __init__, so tests can import the assertion as documented.
    _testing = types.ModuleType("pyspark.testing")
    _testing.__path__ = [str(Path(pyspark.__file__).parent / "testing")]
    sys.modules["pyspark.testing"] = _testing
    from pyspark.testing.utils import assertDataFrameEqual

    _testing.assertDataFrameEqual = assertDataFrameEqual

import clean_dataset

# No Python UDFs run, but should a Python worker start it must be this interpreter, not whatever python3 is.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tests-spark")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # The transforms rely on these (date formats that fail must give NULL); run_job applies them the same way.
    clean_dataset.configure_session(session)
    yield session
    session.stop()
    # py4j logs from __del__ at interpreter exit, after pytest has closed the streams it captured.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh moto state, reached by plain boto3 clients through AWS_ENDPOINT_URL, as the job's are."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    return moto_endpoint
