"""`make deploy`: deploy/indata-backup.yaml with the AWS CLI, its parameters from the config; prints the settings.

    python -m scripts.deploy [--local-port PORT] [--stack-name NAME] [--create-kms-key] [--dry-run]

The template's parameters come from the datasets config (datasets.yaml and its BACKUP_* variables), so the stack
creates what the DAG will use: bucket, databases, lifecycle, encryption, job prefix and the Glue role's name. Two
exceptions: the workgroup `primary` exists in every account and cannot be created, so the template's own name is
used then; and with sse-kms the template needs the key's ARN (an alias or key id is refused) unless
--create-kms-key lets the stack create the key. Runs `aws cloudformation deploy` (idempotent: an unchanged stack
is left alone), then prints the stack's outputs as the BACKUP_* variables to set where Airflow runs.

With --local-port the local AWS stack on that port is used, with dummy credentials; it must be running (`make aws`
or `make up`): a stack started only for the deploy would keep the resources but not the stack's record. Without
it the AWS CLI's own chain decides (AWS_PROFILE, the credentials file, the instance's role), as for real AWS.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from indata_ops.config import Settings, load_config
from scripts.common import REPO

TEMPLATE = REPO / "deploy" / "indata-backup.yaml"
DEFAULT_STACK = "indata-backup"
# AWS's built-in workgroup: every account has it, no stack can create it.
BUILT_IN_WORKGROUP = "primary"
# Stack outputs -> the variables that override the config's settings.
OUTPUT_VARIABLES = {
    "Bucket": "BACKUP_BUCKET", "RawDatabase": "BACKUP_RAW_DATABASE", "CleanDatabase": "BACKUP_CLEAN_DATABASE",
    "AthenaWorkgroup": "BACKUP_ATHENA_WORKGROUP", "AthenaOutput": "BACKUP_ATHENA_OUTPUT",
    "GlueJobRoleArn": "BACKUP_GLUE_ROLE", "KmsKeyArn": "BACKUP_SSE_KMS_KEY_ID",
    "WorkerRoleArn": "BACKUP_WORKER_ROLE",
}


class DeployError(Exception):
    """A setting the template cannot take, or the AWS CLI failing; the message says which and why."""


def template_parameters(settings: Settings, create_kms_key: bool = False) -> dict[str, str]:
    """The template's parameters for these settings (0 stands for a lifecycle setting that is not set)."""
    parameters = {
        "BucketName": settings.bucket, "RawDatabaseName": settings.raw_database,
        "CleanDatabaseName": settings.clean_database, "GlueJobNamePrefix": settings.glue_job_name_prefix,
        "GlueJobRoleName": settings.glue_job_role.rsplit("/", 1)[-1], "Sse": settings.sse,
        "SseBucketKey": str(settings.sse_bucket_key).lower(),
        "AbortMultipartDays": str(settings.abort_multipart_days),
        "TransitionAfterDays": str(settings.transition_after_days or 0),
        "TransitionStorageClass": settings.transition_storage_class,
        "ExpireAfterDays": str(settings.expire_after_days or 0),
    }
    if settings.athena_workgroup != BUILT_IN_WORKGROUP:
        parameters["AthenaWorkgroupName"] = settings.athena_workgroup
    if settings.sse == "sse-kms" and not create_kms_key:
        key = settings.sse_kms_key_id or ""
        if not key.startswith("arn:"):
            raise DeployError(
                f"settings.sse_kms_key_id (BACKUP_SSE_KMS_KEY_ID) must be a KMS key ARN for the template, which "
                f"grants both roles the key by ARN (got {key!r}); or pass --create-kms-key (make deploy "
                f"CREATE_KMS_KEY=1) to let the stack create the key")
        parameters["KmsKeyArn"] = key
    return parameters


def aws_command(args: list[str], endpoint: str | None, region: str) -> list[str]:
    """The AWS CLI (the one installed next to this Python, else PATH's) with the endpoint and region."""
    local_cli = Path(sys.executable).with_name("aws")
    command = [str(local_cli) if local_cli.exists() else "aws", *args, "--region", region]
    return command + (["--endpoint-url", endpoint] if endpoint else [])


def aws_environment(endpoint: str | None) -> dict[str, str]:
    """The local stack takes any credentials: dummy ones keep a real profile or session out of it."""
    if endpoint is None:
        return dict(os.environ)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")}
    return {**env, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def run_aws(args: list[str], endpoint: str | None, region: str, capture: bool = False) -> str:
    command = aws_command(args, endpoint, region)
    result = subprocess.run(command, env=aws_environment(endpoint), text=True,
                            stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise DeployError(f"`aws {' '.join(args[:2])}` failed (exit {result.returncode}): {result.stderr.strip()}")
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)
    return result.stdout or ""


# What the local stack (moto) answers CreateChangeSet when nothing changed; AWS creates a FAILED change set
# instead, which --no-fail-on-empty-changeset accepts.
NO_UPDATES = "No updates are to be performed"


def deploy(stack_name: str, parameters: dict[str, str], endpoint: str | None, region: str) -> dict[str, str]:
    """Create or update the stack (nothing when it is up to date); returns its outputs by key."""
    try:
        run_aws(["cloudformation", "deploy", "--template-file", str(TEMPLATE), "--stack-name", stack_name,
                 "--capabilities", "CAPABILITY_NAMED_IAM", "--no-fail-on-empty-changeset",
                 "--parameter-overrides", *(f"{key}={value}" for key, value in parameters.items())],
                endpoint, region)
    except DeployError as error:
        if NO_UPDATES not in str(error):
            raise
        print(f"Stack {stack_name} is up to date")
    return stack_outputs(stack_name, endpoint, region)


def stack_outputs(stack_name: str, endpoint: str | None, region: str) -> dict[str, str]:
    described = run_aws(["cloudformation", "describe-stacks", "--stack-name", stack_name, "--output", "json"],
                        endpoint, region, capture=True)
    (stack,) = json.loads(described)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs") or ()}


def settings_from_outputs(outputs: dict[str, str]) -> dict[str, str]:
    """The BACKUP_* variables that point the DAG at the stack's resources."""
    return {variable: outputs[key] for key, variable in OUTPUT_VARIABLES.items() if key in outputs}


def deployed_settings(cloudformation: Any, stack_name: str = DEFAULT_STACK) -> dict[str, str]:
    """The BACKUP_* variables from a deployed stack's outputs through a boto3 CloudFormation client, or {} when
    no such stack is deployed (`make run` then uses the config as it is)."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return {}
        raise
    return settings_from_outputs({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or ()})


def local_endpoint(port: int) -> str:
    endpoint = f"http://127.0.0.1:{port}"
    from local_aws.server import HEALTH_PATH

    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=2):
            return endpoint
    except OSError:
        raise DeployError(f"No local AWS stack answers on {endpoint}: start it with `make aws` (or `make up`), "
                          "then deploy") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-port", type=int, help="deploy into the local AWS stack on this port")
    parser.add_argument("--stack-name", default=DEFAULT_STACK)
    parser.add_argument("--create-kms-key", action="store_true", help="with sse-kms, let the stack create the key")
    parser.add_argument("--dry-run", action="store_true", help="print the parameters and deploy nothing")
    args = parser.parse_args(argv)
    settings = load_config().settings
    try:
        parameters = template_parameters(settings, args.create_kms_key)
        if args.dry_run:
            print(json.dumps(parameters, indent=2))
            return 0
        endpoint = local_endpoint(args.local_port) if args.local_port else None
        where = endpoint or f"AWS ({settings.region})"
        print(f"Deploying stack {args.stack_name} from {TEMPLATE.relative_to(REPO)} to {where}", flush=True)
        outputs = deploy(args.stack_name, parameters, endpoint, settings.region)
    except DeployError as error:
        print(f"make deploy: {error}", file=sys.stderr)
        return 1
    print(f"\nStack {args.stack_name} outputs, as the settings that use them (set them where Airflow runs):")
    for variable, value in settings_from_outputs(outputs).items():
        print(f"{variable}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
