"""What the tools in scripts/ share: the repository's root, the local AWS stack, the Airflow environment that
points at it, and an S3 client for either the local stack or real AWS."""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def local_connection_extra(endpoint: str) -> dict[str, Any]:
    """The aws_default connection's extra for the local stack. The provider assumes a role (the backup's narrowed
    session, settings.worker_role) through service_config.sts.endpoint_url only, never through endpoint_url:
    without it the assume would go to AWS's public STS."""
    return {"endpoint_url": endpoint, "region_name": "us-east-1", "service_config": {"sts": {"endpoint_url": endpoint}}}


def airflow_environment(endpoint: str, local: Path) -> dict[str, str]:
    """What Airflow needs to run this repo's DAG against the local stack; only the connection names the endpoint."""
    connection = {"conn_type": "aws", "login": "local", "password": "local", "extra": local_connection_extra(endpoint)}
    return {
        "AIRFLOW_HOME": str(local / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


def ensure_stack(port: int, local: Path, enforce_iam: bool = False) -> tuple[str, Any]:
    """A running stack on the port, or a new one; returns (endpoint, process or None when reused).

    ``enforce_iam``: the stack must check IAM (a running one that does not is refused); a new one keeps its state
    apart (``aws-iam``), since a plain stack holds no roles and lets everything through."""
    from local_aws.server import HEALTH_PATH
    from local_aws.testing import StackProcess

    endpoint = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=1) as response:
            health = json.load(response)
    except OSError:
        state = local / "aws-iam" if enforce_iam else Path(os.environ.get("LOCAL_AWS_STATE", local / "aws"))
        stack = StackProcess(state, port=port, enforce_iam=enforce_iam)
        seconds = stack.start()
        print(f"Local AWS stack{' enforcing IAM' if enforce_iam else ''} started on {endpoint} in {seconds:.1f} s "
              f"(log: {stack.log_path})")
        return endpoint, stack
    if enforce_iam and not health.get("iam_enforced"):
        raise SystemExit(f"make run IAM=1: the local AWS stack on {endpoint} does not enforce IAM; stop it, or set "
                         "LOCAL_AWS_PORT to a free port")
    return endpoint, None


@contextmanager
def s3_client(local_port: int | None, region: str) -> Iterator[Any]:
    """An S3 client for the local stack on the port (started and stopped here if needed) or for boto3's chain."""
    import boto3
    from botocore.config import Config

    # As the DAG's BackupHook: throttling, 5xx and resets retried with backoff for about a minute before a file's
    # next attempt.
    retries = Config(retries={"mode": "standard", "max_attempts": 10})
    if local_port is None:
        yield boto3.client("s3", region_name=region, config=retries)
        return
    endpoint, stack = ensure_stack(local_port, REPO / ".local")
    try:
        # The local stack takes any credentials; explicit ones keep a real profile out of it.
        yield boto3.client("s3", endpoint_url=endpoint, region_name=region, config=retries,
                           aws_access_key_id="local", aws_secret_access_key="local")
    finally:
        if stack is not None:
            stack.stop()


def module_command(module: str, *args: str) -> list[str]:
    """The command that runs one of these tools (or any module of the repository) in a child process, as the
    Makefile runs it; pair it with module_environment() and cwd=REPO."""
    return [sys.executable, "-m", module, *args]


def module_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment (os.environ by default) with the repository and plugins/ first on PYTHONPATH, as the
    Makefile sets it: the tools import local_aws, scripts and indata_ops."""
    env = dict(os.environ if env is None else env)
    paths = [str(REPO), str(REPO / "plugins"), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def load_file_module(name: str, path: Path) -> Any:
    """A standalone file that is no package's module (the Glue job, the sample-data generator) loaded by its path,
    as Glue runs the job's single file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while a class is made
    spec.loader.exec_module(module)
    return module
