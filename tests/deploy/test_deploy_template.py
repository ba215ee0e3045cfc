"""deploy/indata-backup.yaml deployed into the local AWS stack through boto3's CloudFormation client, and
`make deploy` (scripts.deploy, the AWS CLI) as a user runs it.

The stack's resources are checked with the services' own read calls: the bucket's versioning, public access
block, encryption and lifecycle (the same as `make setup-bucket` gives a bucket for the same settings), both Glue
databases, the workgroup's enforced output location and bytes-scanned cutoff, both roles' trust and inline
policies. What the local stack does not enforce (IAM decisions, the workgroup's cutoff, ManagedPolicyArns) is
left to real AWS.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from indata_ops.bucket import apply_bucket_settings, bucket_settings
from indata_ops.config import load_config
from indata_ops.config.settings_model import SSE_MODES, STORAGE_CLASSES
from scripts.common import module_command, module_environment
from scripts.deploy import TEMPLATE, aws_command, aws_environment, deployed_settings, template_parameters
from tests.deploy.test_deploy_policy_doc import load_template

GLUE_STATEMENTS = ["Bucket", "ReadRawAndTheJobScript", "WriteCleanRejectsAndCounts", "CatalogTablesAndPartitions"]
WORKER_STATEMENTS = ["BucketLevel", "RawBackup", "Manifests", "AthenaResults", "GlueScriptUpload", "ReadJobReports",
                     "ValidationReports",
                     "ReadCleanOnlyThroughAthena", "RawCatalogAndCrawlers", "CrawlerMetricsHasNoResourceLevel",
                     "CleanJob", "PassTheGlueRole", "AthenaValidation", "AthenaTableMetadata",
                     "AthenaReadsTheCleanCatalog",
                     "GlueJobLogsInTaskLogs", "NarrowItsOwnSession"]


def unique_environment(**extra: str) -> dict[str, str]:
    """BACKUP_* names no other test uses (the local stack is shared by the session)."""
    tag = uuid.uuid4().hex[:10]
    return {"BACKUP_BUCKET": f"deploy-{tag}", "BACKUP_RAW_DATABASE": f"raw_{tag}",
            "BACKUP_CLEAN_DATABASE": f"clean_{tag}", "BACKUP_ATHENA_WORKGROUP": f"wg-{tag}",
            "BACKUP_GLUE_ROLE": f"arn:aws:iam::123456789012:role/glue-{tag}", **extra}


def as_parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def create(cloudformation, name: str, parameters: dict[str, str]) -> dict[str, str]:
    cloudformation.create_stack(StackName=name, TemplateBody=TEMPLATE.read_text(), Parameters=as_parameters(parameters),
                                Capabilities=["CAPABILITY_NAMED_IAM"])
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def inline_policy(iam, role: str) -> dict:
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def statements(document: dict) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


# Parameters no setting feeds: the template's defaults, or --parameter-overrides.
TEMPLATE_ONLY = {"BytesScannedCutoffPerQuery", "WorkerRoleName", "WorkerTrustedService"}


def test_make_deploy_feeds_every_other_parameter_from_the_config_with_the_values_the_config_accepts():
    declared = load_template()["Parameters"]
    env = {"BACKUP_ATHENA_WORKGROUP": "indata", "BACKUP_SSE": "sse-kms",
           "BACKUP_SSE_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
    fed = template_parameters(load_config(environ=env).settings)
    assert set(declared) - set(fed) == TEMPLATE_ONLY
    assert set(fed) <= set(declared)
    assert declared["Sse"]["AllowedValues"] == list(SSE_MODES)
    assert declared["TransitionStorageClass"]["AllowedValues"] == list(STORAGE_CLASSES)
    # The shipped config's values pass the template's own constraints (the local stack checks them as AWS does).
    from local_aws.cloudformation import parameter_problem

    shipped = template_parameters(load_config(environ={}).settings)
    assert {name: parameter_problem(name, declared[name], value) for name, value in {**fed, **shipped}.items()
            if parameter_problem(name, declared[name], value)} == {}


def test_real_aws_keeps_the_users_credentials_and_the_local_stack_gets_dummy_ones(monkeypatch):
    # Real AWS is not reachable here: this checks what the AWS CLI is given, not a deployment.
    monkeypatch.setenv("AWS_PROFILE", "deploy")
    real = aws_command(["cloudformation", "deploy"], None, "eu-west-1")
    assert real[1:] == ["cloudformation", "deploy", "--region", "eu-west-1"]
    assert aws_environment(None)["AWS_PROFILE"] == "deploy"
    local = aws_command(["cloudformation", "deploy"], "http://127.0.0.1:4566", "us-east-1")
    assert local[-2:] == ["--endpoint-url", "http://127.0.0.1:4566"]
    env = aws_environment("http://127.0.0.1:4566")
    assert "AWS_PROFILE" not in env and (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("local", "local")


def test_the_template_creates_what_the_config_names_with_the_settings_of_setup_bucket(stack, aws):
    env = unique_environment(BACKUP_EXPIRE_AFTER_DAYS="400", BACKUP_TRANSITION_AFTER_DAYS="90",
                             BACKUP_ABORT_MULTIPART_DAYS="3")
    settings = load_config(environ=env).settings
    parameters = {**template_parameters(settings), "WorkerRoleName": f"worker-{env['BACKUP_BUCKET']}",
                  "BytesScannedCutoffPerQuery": "20000000"}
    outputs = create(aws("cloudformation"), f"stack-{env['BACKUP_BUCKET']}", parameters)

    assert {key: outputs[key] for key in ("Bucket", "RawDatabase", "CleanDatabase", "AthenaWorkgroup",
                                          "AthenaOutput", "GlueJobRoleArn")} == {
        "Bucket": settings.bucket, "RawDatabase": settings.raw_database, "CleanDatabase": settings.clean_database,
        "AthenaWorkgroup": settings.athena_workgroup, "AthenaOutput": settings.athena_output,
        "GlueJobRoleArn": settings.glue_job_role}
    assert "KmsKeyArn" not in outputs  # sse-s3: no key

    # The bucket has exactly what `make setup-bucket` gives a bucket for the same settings.
    s3 = aws("s3")
    reference = f"{settings.bucket}-ref"
    apply_bucket_settings(s3, reference, settings)
    deployed = bucket_settings(s3, settings.bucket)
    assert deployed == bucket_settings(s3, reference)
    assert deployed["versioning"] == "Enabled"
    assert deployed["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    rules = {rule["ID"]: rule for rule in deployed["lifecycle"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    assert rules["old-dates-raw"]["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER_IR"}]
    assert rules["old-dates-manifests"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 400}

    glue = aws("glue")
    for database in (settings.raw_database, settings.clean_database):
        assert glue.get_database(Name=database)["Database"]["Name"] == database

    group = aws("athena").get_work_group(WorkGroup=settings.athena_workgroup)["WorkGroup"]["Configuration"]
    assert group["EnforceWorkGroupConfiguration"] is True
    assert group["BytesScannedCutoffPerQuery"] == 20000000
    assert group["ResultConfiguration"] == {"OutputLocation": f"s3://{settings.bucket}/athena-results/",
                                            "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}

    iam = aws("iam")
    glue_role = iam.get_role(RoleName=settings.glue_job_role.rsplit("/", 1)[1])["Role"]
    assert glue_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "glue.amazonaws.com"}
    glue_policy = statements(inline_policy(iam, glue_role["RoleName"]))
    assert list(glue_policy) == GLUE_STATEMENTS
    assert glue_policy["ReadRawAndTheJobScript"]["Resource"] == [
        f"arn:aws:s3:::{settings.bucket}/raw/*", f"arn:aws:s3:::{settings.bucket}/artifacts/glue-scripts/*"]
    assert f"arn:aws:glue:us-east-1:123456789012:table/{settings.clean_database}/*" in (
        glue_policy["CatalogTablesAndPartitions"]["Resource"])
    worker_policy = statements(inline_policy(iam, parameters["WorkerRoleName"]))
    assert list(worker_policy) == WORKER_STATEMENTS
    assert worker_policy["PassTheGlueRole"]["Resource"] == settings.glue_job_role
    assert worker_policy["AthenaValidation"]["Resource"] == (
        f"arn:aws:athena:us-east-1:123456789012:workgroup/{settings.athena_workgroup}")
    assert worker_policy["CleanJob"]["Resource"] == "arn:aws:glue:us-east-1:123456789012:job/indata-backup-clean-*"
    assert outputs["WorkerRoleArn"] == f"arn:aws:iam::123456789012:role/{parameters['WorkerRoleName']}"
    assert outputs["WorkerInstanceProfileArn"].endswith(f":instance-profile/{parameters['WorkerRoleName']}")


def test_with_sse_kms_the_stack_creates_a_key_for_the_bucket_athena_and_both_roles(stack, aws):
    env = unique_environment()
    parameters = {**template_parameters(load_config(environ=env).settings), "Sse": "sse-kms",
                  "WorkerRoleName": f"worker-{env['BACKUP_BUCKET']}", "WorkerTrustedService": "ecs-tasks.amazonaws.com"}
    outputs = create(aws("cloudformation"), f"stack-{env['BACKUP_BUCKET']}", parameters)

    key = outputs["KmsKeyArn"]  # the local stack serves no KMS API calls to look the key up with
    assert key.startswith("arn:aws:kms:us-east-1:123456789012:key/")
    (rule,) = aws("s3").get_bucket_encryption(Bucket=env["BACKUP_BUCKET"])["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule == {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
                    "BucketKeyEnabled": True}
    group = aws("athena").get_work_group(WorkGroup=env["BACKUP_ATHENA_WORKGROUP"])["WorkGroup"]["Configuration"]
    assert group["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": key}
    iam = aws("iam")
    for role in (env["BACKUP_GLUE_ROLE"].rsplit("/", 1)[1], parameters["WorkerRoleName"]):
        kms = statements(inline_policy(iam, role))["UseTheBucketKey"]
        assert (kms["Action"], kms["Resource"]) == (["kms:GenerateDataKey", "kms:Decrypt"], key)
    worker = iam.get_role(RoleName=parameters["WorkerRoleName"])["Role"]
    assert worker["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert "WorkerInstanceProfileArn" not in outputs  # ECS tasks need no instance profile


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("Sse", "sse-c", "Parameter 'Sse' must be one of AllowedValues"),
    ("BucketName", "Backups_2026", "Malformed input-Parameter BucketName must be an S3 bucket name "
                                   "(3-63 lowercase letters, digits, dots and hyphens)"),
    ("BytesScannedCutoffPerQuery", "1000", "Malformed input-Parameter BytesScannedCutoffPerQuery must be at least "
                                           "10000000 bytes (Athena's minimum)"),
    ("RetentionDays", "30", "Parameters: [RetentionDays] do not exist in the template"),
])
def test_a_bad_parameter_fails_with_cloudformations_reason_and_creates_nothing(stack, aws, name, value, reason):
    cloudformation = aws("cloudformation")
    stack_name = f"bad-{uuid.uuid4().hex[:10]}"
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName=stack_name, TemplateBody=TEMPLATE.read_text(),
                                    Parameters=as_parameters({name: value}), Capabilities=["CAPABILITY_NAMED_IAM"])
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == reason
    with pytest.raises(ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName=stack_name)


def run_deploy(stack, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = module_command("scripts.deploy", "--local-port", str(stack.port), *args)
    return subprocess.run(command, capture_output=True, text=True, env=module_environment({**os.environ, **env}),
                          cwd=Path(__file__).resolve().parents[2], timeout=120)


def test_make_deploy_creates_then_updates_the_stack_and_prints_the_settings(stack, aws):
    env = unique_environment()
    stack_name = f"deploy-{env['BACKUP_BUCKET']}"
    env["BACKUP_GLUE_JOB_PREFIX"] = stack_name  # the worker role's name comes from the template's default
    first = run_deploy(stack, env, "--stack-name", stack_name)
    assert first.returncode == 0, first.stderr
    printed = dict(line.split("=", 1) for line in first.stdout.splitlines() if line.startswith("BACKUP_"))
    assert printed == {"BACKUP_BUCKET": env["BACKUP_BUCKET"], "BACKUP_RAW_DATABASE": env["BACKUP_RAW_DATABASE"],
                       "BACKUP_CLEAN_DATABASE": env["BACKUP_CLEAN_DATABASE"],
                       "BACKUP_ATHENA_WORKGROUP": env["BACKUP_ATHENA_WORKGROUP"],
                       "BACKUP_ATHENA_OUTPUT": f"s3://{env['BACKUP_BUCKET']}/athena-results/",
                       "BACKUP_GLUE_ROLE": env["BACKUP_GLUE_ROLE"],
                       "BACKUP_WORKER_ROLE": "arn:aws:iam::123456789012:role/indata-airflow-worker"}
    assert deployed_settings(aws("cloudformation"), stack_name) == printed
    assert deployed_settings(aws("cloudformation"), f"{stack_name}-never-deployed") == {}  # make run: the config

    unchanged = run_deploy(stack, env, "--stack-name", stack_name)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "up to date" in unchanged.stdout or "No changes to deploy" in unchanged.stdout

    updated = run_deploy(stack, {**env, "BACKUP_EXPIRE_AFTER_DAYS": "30"}, "--stack-name", stack_name)
    assert updated.returncode == 0, updated.stderr
    rules = {r["ID"]: r for r in aws("s3").get_bucket_lifecycle_configuration(Bucket=env["BACKUP_BUCKET"])["Rules"]}
    assert rules["old-dates-raw"]["Expiration"] == {"Days": 30}


def test_make_deploy_refuses_a_kms_alias_and_a_stopped_local_stack(stack):
    kms_alias = run_deploy(stack, {"BACKUP_SSE": "sse-kms", "BACKUP_SSE_KMS_KEY_ID": "alias/indata"}, "--dry-run")
    assert kms_alias.returncode == 1
    assert "BACKUP_SSE_KMS_KEY_ID) must be a KMS key ARN" in kms_alias.stderr
    assert "'alias/indata'" in kms_alias.stderr
    created = run_deploy(stack, {"BACKUP_SSE": "sse-kms", "BACKUP_SSE_KMS_KEY_ID": "alias/indata"}, "--dry-run",
                         "--create-kms-key")
    assert json.loads(created.stdout)["Sse"] == "sse-kms"
    assert "KmsKeyArn" not in json.loads(created.stdout)
    command = module_command("scripts.deploy", "--local-port", "9")  # nothing listens on the discard port
    stopped = subprocess.run(command, capture_output=True, text=True, env=module_environment(), timeout=60)
    assert stopped.returncode == 1
    assert "No local AWS stack answers on http://127.0.0.1:9" in stopped.stderr
