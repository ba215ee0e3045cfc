"""Fixtures shared by every test tree: fake AWS credentials, a throwaway Airflow home, the local AWS stack, and a
check that the session leaves no process running.

Nothing here can reach real AWS: credentials are fake and every client is pointed at the local stack.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parent

# Whatever a test or fixture leaves running is stopped at the session's end and fails it (tests/process_guard.py).
pytest_plugins = ["tests.process_guard"]

# Set before anything imports Airflow: its configuration is read once, at import.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="indata-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
})
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The local AWS stack in its own process, shared by the session; its state survives restarts by design."""
    from local_aws.testing import StackProcess

    process = StackProcess(tmp_path_factory.mktemp("local-aws") / "state")
    try:
        process.start()
        yield process
    finally:
        process.stop()  # also when the session is interrupted; a no-op when start() already stopped it


@pytest.fixture(scope="session")
def aws(stack):
    """boto3 clients for the local stack."""

    def client(service: str):
        return boto3.client(service, endpoint_url=stack.endpoint, region_name="us-east-1")

    return client


@pytest.fixture()
def aws_connection(stack, monkeypatch):
    """The Airflow `aws_default` connection pointing at the local stack, through the environment (STS too: the
    provider assumes roles only through service_config.sts.endpoint_url)."""
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": stack.endpoint, "region_name": "us-east-1",
                      "service_config": {"sts": {"endpoint_url": stack.endpoint}}}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return "aws_default"


# The fast tier (`make test-fast`, `pytest -m fast`): tests that need no local AWS stack, no JVM and no Airflow
# metadata DB. A test leaves it by using one of these fixtures, directly or through another fixture (the local
# stack, its clients and connection; a moto server; the Spark session; the running Airflow of tests/ui), or by
# being in a module below, whose tests start such a thing themselves in a child process.
HEAVY_FIXTURES = frozenset({"stack", "aws", "aws_connection", "moto_endpoint", "spark", "airflow"})
SELF_STARTING = {
    "tests/dags/test_indata_backup_runs.py": "Airflow with its metadata DB (airflow db migrate, dag.test)",
    "tests/dags/test_indata_restore_dag.py": "Airflow with its metadata DB (airflow db migrate, dag.test)",
    "tests/scripts/test_bench_spark.py": "Spark (the bench's engine processes)",
    "tests/scripts/test_bench_inference.py": "Spark (the bench's engine processes)",
    "tests/scripts/test_bench_backup.py": "a local stack of its own (make bench-backup's, at a tiny scale)",
    "tests/test_end_to_end.py": "the local stack, Spark and Airflow (make run)",
    "tests/deploy/test_deploy_restart.py": "a local stack of its own, restarted",
    "local_aws/tests/test_iam_enforcement.py": "a local stack of its own, enforcing IAM",
    "tests/plugins/test_backup_session_scope.py": "a local stack of its own, enforcing IAM",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = Path(str(item.path)).resolve().relative_to(REPO).as_posix()
        if HEAVY_FIXTURES.isdisjoint(item.fixturenames) and module not in SELF_STARTING:
            item.add_marker(pytest.mark.fast)
