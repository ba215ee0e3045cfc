"""Start the local AWS stack as a separate process, the way `make aws` runs it: for tests and `make run`."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from local_aws import processes
from local_aws.iam_enforcement import ADMIN_KEYS, ROLE_CREDENTIALS_PATH
from local_aws.server import HEALTH_PATH

# scripts/deploy.py's template (not imported from there: the stack's code does not depend on the DAG package).
TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "indata-backup.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StackProcess:
    """`python -m local_aws` on a port and a state directory; restartable, with the log kept in the state dir."""

    def __init__(self, state_dir: Path, port: int | None = None, enforce_iam: bool = False):
        self.state_dir = Path(state_dir)
        self.enforce_iam = enforce_iam
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.identity: processes.Identity | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, timeout: float = 60) -> float:
        """Start and wait until healthy; returns the seconds it took. Whatever stops the wait (the stack exiting,
        the timeout, Ctrl-C) also stops the stack and what it started."""
        started = time.monotonic()
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_aws", "--port", str(self.port), "--state-dir", str(self.state_dir),
                 *(["--enforce-iam"] if self.enforce_iam else [])],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.identity = processes.Identity.of(self.process.pid)
        try:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"local AWS stack exited with {self.process.returncode}; see {self.log_path}")
                try:
                    with urllib.request.urlopen(self.endpoint + HEALTH_PATH, timeout=1):
                        return time.monotonic() - started
                except OSError:
                    time.sleep(0.1)
            raise TimeoutError(f"local AWS stack not healthy after {timeout} s; see {self.log_path}")
        except BaseException:
            self.stop()
            raise

    def stop(self, kill: bool = False) -> None:
        """Stop cleanly (SIGTERM, SIGKILL after 30 s), or crash it (SIGKILL) to prove that completed writes survive;
        either way with everything it started (a Glue job run's script and its Spark JVM, in groups of their own)."""
        if self.identity is None:
            return
        (outcome,) = processes.stop([self.identity], grace=0 if kill else 30)
        self.identity = None
        if self.process is not None:
            self.process.wait()  # reaped already by the stop, or now: no zombie either way
        if outcome.survivors:
            raise RuntimeError(f"local AWS stack: processes {[p.pid for p in outcome.survivors]} survived SIGKILL")

    def restart(self, kill: bool = False) -> float:
        self.stop(kill=kill)
        return self.start()


@contextlib.contextmanager
def deployed_enforcing_stack(state_parent: Path, bucket: str, **parameters: str) -> Iterator[StackProcess]:
    """A stack that enforces IAM, with deploy/indata-backup.yaml deployed by the administrator as `make deploy`
    deploys it (stack `indata-backup`, the given bucket and parameters, the others' defaults); stopped on exit."""
    import boto3

    process = StackProcess(Path(state_parent) / "state", enforce_iam=True)
    process.start()
    try:
        key_id, secret = ADMIN_KEYS[0]
        admin = boto3.client("cloudformation", endpoint_url=process.endpoint, region_name="us-east-1",
                             aws_access_key_id=key_id, aws_secret_access_key=secret)
        admin.create_stack(StackName="indata-backup", TemplateBody=TEMPLATE.read_text(),
                           Parameters=[{"ParameterKey": key, "ParameterValue": value}
                                       for key, value in {"BucketName": bucket, **parameters}.items()],
                           Capabilities=["CAPABILITY_NAMED_IAM"])
        (stack,) = admin.describe_stacks(StackName="indata-backup")["Stacks"]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"deploying {TEMPLATE} ended in {stack['StackStatus']}: "
                               f"{stack.get('StackStatusReason')}; see {process.log_path}")
        yield process
    finally:
        process.stop()


def role_credentials(endpoint: str, service: str, role: str) -> dict[str, str]:
    """A role's credentials as the service it trusts gets them (an instance profile, a task role), in the container
    provider's format: AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn."""
    with urllib.request.urlopen(f"{endpoint}{ROLE_CREDENTIALS_PATH}{service}/{role}", timeout=10) as response:
        return json.load(response)
