"""IAM enforcement (`--enforce-iam`): deploy/indata-backup.yaml's policies, checked by a stack that enforces them.

A stack of its own (enforcement is per process) gets the template deployed by the administrator (the repository's
dummy keys); the Airflow worker role and the Glue job role are then assumed the way their trusted services assume
them (the stack's role-credentials endpoint, as an instance profile or Glue would) and every call is answered as
AWS answers an identity without the permission: AccessDenied from S3, AccessDeniedException from Glue and Athena.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import boto3
import botocore.exceptions
import pytest

from local_aws.iam_enforcement import CALLED_VIA_HEADER, conditions_hold
from local_aws.testing import deployed_enforcing_stack, role_credentials

BUCKET = "iam-enforced"
PREFIX = "indata-backup"
RAW_DB, CLEAN_DB, WORKGROUP = "indata_raw", "indata_clean", "indata-backup"
GLUE_ROLE, WORKER_ROLE = "indata-glue-job", "indata-airflow-worker"
ACCOUNT = "123456789012"
WORKER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{WORKER_ROLE}"


@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    """A stack with IAM enforced and the template deployed, its default parameters but the bucket's name."""
    with deployed_enforcing_stack(tmp_path_factory.mktemp("iam-enforced"), BUCKET) as process:
        yield process


def clients_for(endpoint: str, credentials: dict | None = None, **keys: str):
    keys = keys or {"aws_access_key_id": credentials["AccessKeyId"],
                    "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials["Token"]}

    def client(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **keys)

    return client


@pytest.fixture(scope="module")
def admin(enforced):
    return clients_for(enforced.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def worker(enforced):
    return clients_for(enforced.endpoint, role_credentials(enforced.endpoint, "ec2.amazonaws.com", WORKER_ROLE))


@pytest.fixture(scope="module")
def glue_role(enforced):
    return clients_for(enforced.endpoint, role_credentials(enforced.endpoint, "glue.amazonaws.com", GLUE_ROLE))


def denied(call, code: str = "AccessDenied") -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    assert 400 <= caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    return error.get("Message", "")


def wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


# --- the worker role -----------------------------------------------------------------------------------------------
def test_the_worker_writes_and_reads_what_the_dag_writes_and_reads(worker):
    s3 = worker("s3")
    for key in ("raw/sales/dt=2026-11-01/a.csv", "manifests/sales/2026-11-01.json",
                "athena-results/q.csv", "artifacts/glue-scripts/clean_dataset.py"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert s3.get_object(Bucket=BUCKET, Key="raw/sales/dt=2026-11-01/a.csv")["Body"].read() == b"x"
    assert s3.head_object(Bucket=BUCKET, Key="manifests/sales/2026-11-01.json")["ContentLength"] == 1
    s3.delete_object(Bucket=BUCKET, Key="manifests/sales/2026-11-01.json")  # a rerun rewrites its manifest
    s3.put_object(Bucket=BUCKET, Key="manifests/sales/2026-11-01.json", Body=b"x")
    deleted = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "manifests/sales/2026-11-01.json"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["manifests/sales/2026-11-01.json"], deleted
    # Without s3:ListBucket a missing key would be a 403; the backup's "already uploaded?" check needs the 404.
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        s3.head_object(Bucket=BUCKET, Key="raw/sales/dt=2026-11-01/missing.csv")
    assert missing.value.response["Error"]["Code"] == "404"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/")["Contents"]]


@pytest.mark.parametrize("key", ["clean/sales/dt=2026-11-01/part-0.parquet", "rejects/sales/x.csv",
                                 "job-reports/sales/2026-11-01.json", "other/x.csv", "x.csv"])
def test_the_worker_writes_nothing_outside_raw_manifests_results_and_the_script(worker, admin, key):
    admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    s3 = worker("s3")
    denied(lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten"))
    denied(lambda: s3.delete_object(Bucket=BUCKET, Key=key))
    denied(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "raw/sales/x.csv"}, {"Key": key}]}))
    assert admin("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"kept"


def test_the_worker_reads_only_what_it_is_granted(worker, admin):
    for key in ("rejects/sales/x.csv", "artifacts/glue-scripts/clean_dataset.py", "other/y.csv"):
        admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"x")
        denied(lambda key=key: worker("s3").get_object(Bucket=BUCKET, Key=key))
    admin("s3").put_object(Bucket=BUCKET, Key="athena-results/old.csv", Body=b"x")
    denied(lambda: worker("s3").delete_object(Bucket=BUCKET, Key="athena-results/old.csv"))  # no delete there


def test_the_worker_reads_clean_only_through_athena(worker, admin):
    key = "clean/direct/dt=2026-11-01/part-0.parquet"
    admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"x")
    s3 = worker("s3")
    denied(lambda: s3.get_object(Bucket=BUCKET, Key=key))
    denied(lambda: s3.head_object(Bucket=BUCKET, Key=key), "403")
    # Claiming Athena's path without the data plane's proof changes nothing.
    s3.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(
        CALLED_VIA_HEADER, "athena.amazonaws.com forged"))
    denied(lambda: s3.get_object(Bucket=BUCKET, Key=key))
    # The conditioned statement does not turn into a Deny for the prefixes granted without a condition.
    admin("s3").put_object(Bucket=BUCKET, Key="job-reports/direct/2026-11-01.json", Body=b"{}")
    assert s3.get_object(Bucket=BUCKET, Key="job-reports/direct/2026-11-01.json")["Body"].read() == b"{}"


def test_the_worker_cannot_touch_another_bucket_or_iam(worker, admin):
    admin("s3").create_bucket(Bucket="another-team")
    denied(lambda: worker("s3").put_object(Bucket="another-team", Key="raw/x.csv", Body=b"x"))
    denied(lambda: worker("s3").list_objects_v2(Bucket="another-team"))
    denied(lambda: worker("s3").create_bucket(Bucket="worker-made"))
    denied(lambda: worker("iam").create_user(UserName="intruder"))
    denied(lambda: worker("iam").put_role_policy(RoleName=WORKER_ROLE, PolicyName="more",
                                                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                                     {"Effect": "Allow", "Action": "*", "Resource": "*"}]})))


def glue_job(name: str, role: str = GLUE_ROLE, script: str = f"s3://{BUCKET}/artifacts/glue-scripts/job.py") -> dict:
    return {"Name": name, "Role": role, "Command": {"Name": "glueetl", "ScriptLocation": script,
                                                     "PythonVersion": "3"}, "GlueVersion": "5.0"}


def test_the_worker_runs_its_own_jobs_and_crawlers_only(worker, admin):
    glue = worker("glue")
    glue.create_job(**glue_job(f"{PREFIX}-clean-sales"))
    assert glue.get_job(JobName=f"{PREFIX}-clean-sales")["Job"]["Role"] == GLUE_ROLE
    admin("glue").create_job(**glue_job("another-team-clean-sales"))
    denied(lambda: glue.start_job_run(JobName="another-team-clean-sales"), "AccessDeniedException")
    denied(lambda: glue.get_job_run(JobName="another-team-clean-sales", RunId="jr_x"), "AccessDeniedException")
    denied(lambda: glue.create_job(**glue_job("another-team-clean-other")), "AccessDeniedException")
    # iam:PassRole is granted for the Glue role only.
    admin("iam").create_role(RoleName="powerful", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "glue.amazonaws.com"}}]}))
    message = denied(lambda: glue.create_job(**glue_job(f"{PREFIX}-clean-powerful", role="powerful")),
                     "AccessDeniedException")
    assert "iam:PassRole" in message
    targets = {"S3Targets": [{"Path": f"s3://{BUCKET}/raw/sales/"}]}
    glue.create_crawler(Name=f"{PREFIX}-raw-sales", Role=GLUE_ROLE, DatabaseName=RAW_DB, Targets=targets)
    denied(lambda: glue.create_crawler(Name="another-team-raw-sales", Role=GLUE_ROLE, DatabaseName=RAW_DB,
                                       Targets=targets), "AccessDeniedException")
    glue.get_crawler_metrics(CrawlerNameList=[f"{PREFIX}-raw-sales"])


def test_the_worker_reads_the_clean_catalog_and_changes_no_table(worker):
    glue = worker("glue")
    assert glue.get_database(Name=RAW_DB)["Database"]["Name"] == RAW_DB
    assert glue.get_database(Name=CLEAN_DB)["Database"]["Name"] == CLEAN_DB
    denied(lambda: glue.create_table(DatabaseName=CLEAN_DB, TableInput={"Name": "forged"}), "AccessDeniedException")
    denied(lambda: glue.get_tables(DatabaseName=RAW_DB), "AccessDeniedException")
    denied(lambda: glue.delete_database(Name=CLEAN_DB), "AccessDeniedException")
    denied(lambda: glue.get_database(Name="another_team"), "AccessDeniedException")


def test_the_worker_queries_in_its_workgroup_only(worker):
    athena = worker("athena")
    denied(lambda: athena.start_query_execution(QueryString="SELECT 1", WorkGroup="primary"),
           "AccessDeniedException")
    denied(lambda: athena.create_work_group(Name="worker-made"), "AccessDeniedException")
    denied(lambda: worker("logs").filter_log_events(logGroupName="/another/group"), "AccessDeniedException")


def test_the_worker_reads_clean_table_metadata_through_athena_only_in_its_catalog(worker, admin):
    # GetTableMetadata is authorized on the data catalog's ARN (AthenaTableMetadata), then Athena reads Glue with
    # the worker's own permissions: a clean table is described; another team's is not, nor another catalog's.
    admin("glue").create_table(DatabaseName=CLEAN_DB, TableInput={
        "Name": "described", "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}]},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}]})
    admin("glue").create_database(DatabaseInput={"Name": "other_team"})
    admin("glue").create_table(DatabaseName="other_team", TableInput={"Name": "theirs"})
    athena = worker("athena")
    metadata = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=CLEAN_DB,
                                         TableName="described")["TableMetadata"]
    assert [(c["Name"], c["Type"]) for c in metadata["Columns"]] == [("id", "bigint")]
    denied(lambda: athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="other_team",
                                             TableName="theirs"), "AccessDeniedException")
    denied(lambda: athena.get_table_metadata(CatalogName="another", DatabaseName=CLEAN_DB, TableName="described"),
           "AccessDeniedException")


# --- the Glue job role ---------------------------------------------------------------------------------------------
def test_the_job_role_reads_raw_and_writes_clean_but_never_raw_or_manifests(glue_role, admin):
    admin("s3").put_object(Bucket=BUCKET, Key="raw/sales/dt=2026-11-02/a.csv", Body=b"a\n1\n")
    admin("s3").put_object(Bucket=BUCKET, Key="manifests/sales/2026-11-02.json", Body=b"{}")
    s3 = glue_role("s3")
    assert s3.get_object(Bucket=BUCKET, Key="raw/sales/dt=2026-11-02/a.csv")["Body"].read() == b"a\n1\n"
    s3.put_object(Bucket=BUCKET, Key="clean/sales/dt=2026-11-02/part-0.parquet", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="job-reports/sales/2026-11-02.json", Body=b"{}")
    for key in ("raw/sales/dt=2026-11-02/a.csv", "manifests/sales/2026-11-02.json"):
        denied(lambda key=key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"forged"))
        denied(lambda key=key: s3.delete_object(Bucket=BUCKET, Key=key))
    denied(lambda: s3.get_object(Bucket=BUCKET, Key="manifests/sales/2026-11-02.json"))
    denied(lambda: glue_role("glue").create_table(DatabaseName="another_team", TableInput={"Name": "t"}),
           "AccessDeniedException")
    denied(lambda: glue_role("glue").start_job_run(JobName=f"{PREFIX}-clean-sales"), "AccessDeniedException")


def test_only_the_trusted_service_gets_a_roles_credentials(enforced):
    with urllib.request.urlopen(f"{enforced.endpoint}/_local_aws/health", timeout=10) as health:
        assert json.load(health)["iam_enforced"] is True
    with pytest.raises(urllib.error.HTTPError) as refused:
        role_credentials(enforced.endpoint, "ec2.amazonaws.com", GLUE_ROLE)
    assert refused.value.code == 400
    assert json.load(refused.value)["__type"] == "AccessDeniedException"


def test_a_role_is_assumed_only_by_whom_its_trust_policy_names(enforced, admin, worker):
    # The template's roles trust their services, and the worker role its own sessions (a trust of the account
    # whose condition names the role): not even the administrator, whose policy allows everything, assumes them.
    denied(lambda: admin("sts").assume_role(RoleArn=WORKER_ARN, RoleSessionName="admin"))
    denied(lambda: worker("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{GLUE_ROLE}",
                                             RoleSessionName="worker"))
    admin("iam").create_role(RoleName="trusts-the-account", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}))
    session = admin("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/trusts-the-account",
                                       RoleSessionName="admin")["Credentials"]
    assert session["AccessKeyId"]
    # The worker's own policies grant sts:AssumeRole on the worker role only, whatever another role trusts.
    denied(lambda: worker("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/trusts-the-account",
                                             RoleSessionName="worker"))


# --- session policies: the intersection of the role's policies and the Policy passed to AssumeRole -----------------
DATE, OTHER_DATE = "2026-11-01", "2026-10-31"


def s3_arn(key: str = "") -> str:
    return f"arn:aws:s3:::{BUCKET}" + (f"/{key}" if key else "")


def manifest(dataset: str, date: str) -> str:
    return f"manifests/{dataset}/dt={date}/manifest.json"  # indata_ops.layout.manifest_key's format


def allow(actions: list[str], resources: list[str], effect: str = "Allow") -> dict:
    return {"Effect": effect, "Action": actions, "Resource": resources}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TRUSTS_THE_ACCOUNT = policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}})
# What a backup of sales on DATE needs, as the backup task's session policy grants it.
BACKUP_OF_THE_DATE = policy(
    allow(["s3:ListBucket", "s3:ListBucketMultipartUploads"], [s3_arn()]),
    allow(["s3:GetObject", "s3:GetObjectVersion"], [s3_arn("raw/sales/*"), s3_arn("manifests/sales/*")]),
    allow(["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
          [s3_arn(f"raw/sales/dt={DATE}/*"), s3_arn(manifest("sales", DATE))]))


def narrowed(clients: Callable, session_policy: dict | None, role: str = WORKER_ARN, **kwargs) -> Callable:
    """The clients of a session of `role` assumed by `clients`' identity, with `session_policy` (None: without)."""
    if session_policy is not None:
        kwargs["Policy"] = json.dumps(session_policy)
    credentials = clients("sts").assume_role(RoleArn=role, RoleSessionName="narrowed", **kwargs)["Credentials"]
    return clients_for(clients("s3").meta.endpoint_url, {"AccessKeyId": credentials["AccessKeyId"],
                                                         "SecretAccessKey": credentials["SecretAccessKey"],
                                                         "Token": credentials["SessionToken"]})


def role_allowed(admin, name: str, actions: list[str], **kwargs) -> str:
    """A role of the account, trusting the account, allowed `actions` on everything; its ARN."""
    admin("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUSTS_THE_ACCOUNT), **kwargs)
    admin("iam").put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(
        policy(allow(actions, ["*"]))))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_the_worker_role_assumes_itself_and_the_trust_condition_keeps_everyone_else_out(worker, admin):
    session = narrowed(worker, None)
    assert session("sts").get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{WORKER_ROLE}/narrowed")
    assert narrowed(session, None)("sts").get_caller_identity()["Arn"].endswith(f"/{WORKER_ROLE}/narrowed")
    # Another role of the account, free to assume any role, is not the principal the condition names (the
    # administrator, a user, is refused in test_a_role_is_assumed_only_by_whom_its_trust_policy_names).
    other = narrowed(admin, None, role=role_allowed(admin, "assumes-anything", ["sts:AssumeRole"]))
    denied(lambda: other("sts").assume_role(RoleArn=WORKER_ARN, RoleSessionName="other"))


def test_a_session_policy_leaves_the_intersection_of_role_and_session(worker):
    session = narrowed(worker, policy(allow(["s3:PutObject", "s3:DeleteObject"], [
        s3_arn(f"raw/sales/dt={DATE}/*"), s3_arn(manifest("sales", DATE)), s3_arn("clean/*")])))
    s3 = session("s3")
    s3.put_object(Bucket=BUCKET, Key=f"raw/sales/dt={DATE}/a.csv", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=manifest("sales", DATE), Body=b"{}")
    other_date = f"raw/sales/dt={OTHER_DATE}/a.csv"
    denied(lambda: s3.put_object(Bucket=BUCKET, Key=other_date, Body=b"x"))  # the role allows it, the session not
    denied(lambda: s3.put_object(Bucket=BUCKET, Key="clean/x", Body=b"x"))  # the session allows it, the role not
    denied(lambda: s3.put_object(Bucket=BUCKET, Key="athena-results/x", Body=b"x"))
    worker("s3").put_object(Bucket=BUCKET, Key="athena-results/x", Body=b"x")  # the role alone allows it
    # Every way S3 writes or reads is bound, not only PutObject.
    denied(lambda: s3.create_multipart_upload(Bucket=BUCKET, Key=other_date))
    denied(lambda: s3.copy_object(Bucket=BUCKET, Key=other_date,
                                  CopySource={"Bucket": BUCKET, "Key": f"raw/sales/dt={DATE}/a.csv"}))
    denied(lambda: s3.get_object(Bucket=BUCKET, Key=f"raw/sales/dt={DATE}/a.csv"))
    denied(lambda: s3.head_object(Bucket=BUCKET, Key=f"raw/sales/dt={DATE}/a.csv"), "403")
    denied(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/"))
    assert worker("s3").get_object(Bucket=BUCKET, Key=f"raw/sales/dt={DATE}/a.csv")["Body"].read() == b"x"


def test_a_narrowed_session_cannot_delete_another_dates_manifest(worker, admin):
    others = manifest("sales", OTHER_DATE)
    admin("s3").put_object(Bucket=BUCKET, Key=others, Body=b"kept")
    s3 = narrowed(worker, BACKUP_OF_THE_DATE)("s3")
    s3.put_object(Bucket=BUCKET, Key=manifest("sales", DATE), Body=b"{}")
    assert s3.get_object(Bucket=BUCKET, Key=others)["Body"].read() == b"kept"  # earlier dates stay readable
    denied(lambda: s3.delete_object(Bucket=BUCKET, Key=others))
    denied(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": manifest("sales", DATE)},
                                                                         {"Key": others}]}))
    denied(lambda: s3.put_object(Bucket=BUCKET, Key=others, Body=b"overwritten"))
    assert admin("s3").get_object(Bucket=BUCKET, Key=others)["Body"].read() == b"kept"
    deleted = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": manifest("sales", DATE)}]})
    assert [d["Key"] for d in deleted["Deleted"]] == [manifest("sales", DATE)], deleted
    worker("s3").delete_object(Bucket=BUCKET, Key=others)  # the role alone allows it: the session refused it


@pytest.mark.parametrize("session_policy", [
    policy(allow(["s3:*"], [s3_arn("*")]), allow(["s3:DeleteObject"], [s3_arn("manifests/*")], effect="Deny")),
    policy(allow(["s3:*"], [s3_arn("*")]), {"Effect": "Deny", "Action": "s3:DeleteObject",
                                            "NotResource": s3_arn("raw/*")}),
    policy({"Effect": "Allow", "Action": "s3:*", "NotResource": s3_arn("manifests/*")},
           allow(["s3:GetObject"], [s3_arn("manifests/*")])),  # no Allow of the delete is a refusal too
], ids=["deny", "deny-not-resource", "allow-not-resource"])
def test_a_deny_in_the_session_policy_wins(worker, admin, session_policy):
    key = manifest("denied", DATE)
    admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    s3 = narrowed(worker, session_policy)("s3")
    s3.put_object(Bucket=BUCKET, Key=f"raw/denied/dt={DATE}/a.csv", Body=b"x")
    denied(lambda: s3.delete_object(Bucket=BUCKET, Key=key))
    denied(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key}]}))
    assert admin("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"kept"
    worker("s3").delete_object(Bucket=BUCKET, Key=key)  # the role alone allows it


def test_a_session_policy_binds_glue_athena_logs_iam_and_sts_too(worker, admin):
    session = narrowed(worker, BACKUP_OF_THE_DATE)
    assert worker("glue").get_database(Name=RAW_DB)["Database"]["Name"] == RAW_DB
    denied(lambda: session("glue").get_database(Name=RAW_DB), "AccessDeniedException")
    assert worker("athena").start_query_execution(QueryString="SELECT 1", WorkGroup=WORKGROUP)["QueryExecutionId"]
    denied(lambda: session("athena").start_query_execution(QueryString="SELECT 1", WorkGroup=WORKGROUP),
           "AccessDeniedException")
    denied(lambda: session("logs").filter_log_events(logGroupName="/aws-glue/jobs/output"), "AccessDeniedException")
    # Creating the job is allowed by both; passing the Glue role is not allowed by the session.
    with_jobs = narrowed(worker, policy(allow(["glue:CreateJob"], ["*"])))
    message = denied(lambda: with_jobs("glue").create_job(**glue_job(f"{PREFIX}-clean-narrowed")),
                     "AccessDeniedException")
    assert "iam:PassRole" in message
    # A narrowed session cannot widen itself: its session policy grants no sts:AssumeRole.
    denied(lambda: session("sts").assume_role(RoleArn=WORKER_ARN, RoleSessionName="wider"))
    # What moto decides (IAM, CloudFormation) is bound as well: a role allowed everything, narrowed to S3.
    everything = role_allowed(admin, "everything", ["*"])
    assert narrowed(admin, None, role=everything)("iam").get_role(RoleName=WORKER_ROLE)["Role"]["Arn"] == WORKER_ARN
    only_s3 = narrowed(admin, policy(allow(["s3:*"], ["*"])), role=everything)
    denied(lambda: only_s3("iam").get_role(RoleName=WORKER_ROLE))
    denied(lambda: only_s3("cloudformation").describe_stacks(StackName="indata-backup"))
    assert only_s3("s3").get_object(Bucket=BUCKET, Key="athena-results/x")["Body"].read() == b"x"


def test_assume_role_refuses_a_long_or_malformed_session_policy_and_long_chained_sessions(worker, admin):
    valid = json.dumps(BACKUP_OF_THE_DATE)
    padded = valid[:-1] + " " * (2049 - len(valid)) + "}"
    assert json.loads(padded) and len(padded) == 2049
    assert "2048" in denied(lambda: narrowed(worker, None, Policy=padded), "ValidationError")
    narrowed(worker, None, Policy=padded[:-2] + "}")  # 2,048 characters pass
    denied(lambda: narrowed(worker, None, Policy="{"), "MalformedPolicyDocument")
    denied(lambda: narrowed(worker, None, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject"}]})), "MalformedPolicyDocument")  # no Resource
    # The worker's credentials are a role session: what it assumes is chained, one hour at most.
    assert "role chaining" in denied(lambda: narrowed(worker, BACKUP_OF_THE_DATE, DurationSeconds=7200),
                                     "ValidationError")
    narrowed(worker, BACKUP_OF_THE_DATE, DurationSeconds=3600)
    # A user is not chained: the role's maximum session duration applies.
    long_sessions = role_allowed(admin, "long-sessions", ["s3:GetObject"], MaxSessionDuration=43200)
    narrowed(admin, None, role=long_sessions, DurationSeconds=7200)
    assert "MaxSessionDuration" in denied(lambda: narrowed(admin, None, role=role_allowed(
        admin, "hour-sessions", ["s3:GetObject"]), DurationSeconds=7200), "ValidationError")


# --- the data plane, as the caller or as the role ------------------------------------------------------------------
JOB_SCRIPT = b"""
import sys, boto3
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
boto3.client("s3").put_object(Bucket=args["--bucket"], Key=args["--key"], Body=b"written by the job")
"""


def run_job(worker, admin, key: str) -> dict:
    name = f"{PREFIX}-clean-{uuid.uuid4().hex[:8]}"
    admin("s3").put_object(Bucket=BUCKET, Key="artifacts/glue-scripts/job.py", Body=JOB_SCRIPT)
    glue = worker("glue")
    glue.create_job(**glue_job(name), DefaultArguments={"--bucket": BUCKET, "--key": key})
    run_id = glue.start_job_run(JobName=name)["JobRunId"]
    return wait_for(lambda: (run := glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])["JobRunState"] in (
        "SUCCEEDED", "FAILED") and run)


def test_a_job_run_has_the_job_roles_permissions(worker, admin):
    allowed = run_job(worker, admin, "clean/from-job/part-0.txt")
    assert allowed["JobRunState"] == "SUCCEEDED", allowed.get("ErrorMessage")
    assert admin("s3").get_object(Bucket=BUCKET, Key="clean/from-job/part-0.txt")["Body"].read() == (
        b"written by the job")
    refused = run_job(worker, admin, "raw/from-job/forged.csv")
    assert refused["JobRunState"] == "FAILED"
    assert "AccessDenied" in refused["ErrorMessage"]


MIRROR_SCRIPT = b"""
import pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
# What Spark writes to an s3:// path named in the arguments lands in the run's mirror (the working directory's s3/).
target = pathlib.Path("s3") / args["--output"].removeprefix("s3://") / "part-0.txt"
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text("written through the mirror")
"""


def test_what_spark_writes_reaches_s3_with_the_job_roles_permissions(worker, admin):
    admin("s3").put_object(Bucket=BUCKET, Key="artifacts/glue-scripts/mirror.py", Body=MIRROR_SCRIPT)
    glue = worker("glue")
    states = {}
    for prefix in ("clean", "raw"):
        name = f"{PREFIX}-clean-mirror-{prefix}"
        glue.create_job(**glue_job(name, script=f"s3://{BUCKET}/artifacts/glue-scripts/mirror.py"),
                        DefaultArguments={"--output": f"s3://{BUCKET}/{prefix}/mirrored/"})
        run_id = glue.start_job_run(JobName=name)["JobRunId"]
        states[prefix] = wait_for(lambda name=name, run_id=run_id: (
            run := glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])["JobRunState"] in (
            "SUCCEEDED", "FAILED") and run)
    assert states["clean"]["JobRunState"] == "SUCCEEDED", states["clean"].get("ErrorMessage")
    assert admin("s3").get_object(Bucket=BUCKET, Key="clean/mirrored/part-0.txt")["Body"].read() == (
        b"written through the mirror")
    assert states["raw"]["JobRunState"] == "FAILED"
    assert "AccessDenied" in states["raw"]["ErrorMessage"]
    assert "Contents" not in admin("s3").list_objects_v2(Bucket=BUCKET, Prefix="raw/mirrored/")


def test_a_crawl_runs_as_the_crawlers_role(worker, admin):
    admin("s3").put_object(Bucket=BUCKET, Key="raw/crawled/dt=2026-11-01/a.csv", Body=b"id,name\n1,a\n2,b\n")
    admin("s3").put_object(Bucket=BUCKET, Key="manifests/crawled/2026-11-01.json", Body=b'{"id": 1}\n')
    glue = worker("glue")
    for name, path in (("crawled", "raw/crawled/"), ("manifests", "manifests/crawled/")):
        glue.create_crawler(Name=f"{PREFIX}-raw-{name}", Role=GLUE_ROLE, DatabaseName=RAW_DB,
                            Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/{path}"}]})
        glue.start_crawler(Name=f"{PREFIX}-raw-{name}")
    done = {name: wait_for(lambda name=name: (c := glue.get_crawler(Name=f"{PREFIX}-raw-{name}")["Crawler"])[
        "State"] == "READY" and c.get("LastCrawl") and c) for name in ("crawled", "manifests")}
    assert done["crawled"]["LastCrawl"]["Status"] == "SUCCEEDED"
    assert admin("glue").get_table(DatabaseName=RAW_DB, Name="crawled")["Table"]["Name"] == "crawled"
    assert done["manifests"]["LastCrawl"]["Status"] == "FAILED"  # the role reads raw/, not manifests/
    assert "AccessDenied" in done["manifests"]["LastCrawl"]["ErrorMessage"]


def test_the_worker_reads_the_raw_partition_and_the_full_crawl_updates_it(worker, admin):
    """What crawl_raw does around an incremental crawl: read the raw table and partition, run the full crawler."""
    admin("s3").put_object(Bucket=BUCKET, Key="raw/grown/dt=2026-11-01/a.csv", Body=b"id;importe\n1;2.5\n")
    glue = worker("glue")
    target = {"Role": GLUE_ROLE, "DatabaseName": RAW_DB,
              "Targets": {"S3Targets": [{"Path": f"s3://{BUCKET}/raw/grown/"}]}}
    glue.create_crawler(Name=f"{PREFIX}-raw-grown", **target,
                        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
                        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"})
    glue.create_crawler(Name=f"{PREFIX}-raw-grown-full", **target,
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"})

    def crawl(name: str) -> dict:
        glue.start_crawler(Name=name)
        return wait_for(lambda: (c := glue.get_crawler(Name=name)["Crawler"])["State"] == "READY" and c)["LastCrawl"]

    assert crawl(f"{PREFIX}-raw-grown")["Status"] == "SUCCEEDED"
    assert glue.get_table(DatabaseName=RAW_DB, Name="grown")["Table"]["Name"] == "grown"
    admin("s3").put_object(Bucket=BUCKET, Key="raw/grown/dt=2026-11-01/b.csv", Body=b"id;importe;caja\n2;3.5;4\n")
    assert crawl(f"{PREFIX}-raw-grown-full")["Status"] == "SUCCEEDED"  # BatchUpdatePartition as the crawler's role
    partition = glue.get_partition(DatabaseName=RAW_DB, TableName="grown", PartitionValues=["2026-11-01"])
    assert [c["Name"] for c in partition["Partition"]["StorageDescriptor"]["Columns"]] == ["id", "importe", "caja"]


def athena_query(athena, sql: str, database: str = CLEAN_DB) -> dict:
    query_id = athena.start_query_execution(QueryString=sql, WorkGroup=WORKGROUP,
                                            QueryExecutionContext={"Database": database})["QueryExecutionId"]
    return wait_for(lambda: (e := athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"])[
        "Status"]["State"] in ("SUCCEEDED", "FAILED") and e)


def test_athena_reads_and_writes_with_the_callers_permissions(worker, admin):
    admin_glue = admin("glue")
    admin_glue.create_database(DatabaseInput={"Name": "another_team"})
    for database, key in ((CLEAN_DB, "clean/counted/part-0.csv"), ("another_team", "raw/counted/part-0.csv")):
        admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"1\n2\n3\n")
        admin_glue.create_table(DatabaseName=database, TableInput={
            "Name": "counted", "TableType": "EXTERNAL_TABLE", "StorageDescriptor": {
                "Columns": [{"Name": "n", "Type": "int"}], "Location": f"s3://{BUCKET}/{key.rsplit('/', 1)[0]}/",
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"}}})
    athena = worker("athena")
    counted = athena_query(athena, "SELECT count(*) AS n FROM counted")
    assert counted["Status"]["State"] == "SUCCEEDED", counted["Status"]
    rows = athena.get_query_results(QueryExecutionId=counted["QueryExecutionId"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == "3"
    assert counted["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{BUCKET}/athena-results/")
    # The worker has no glue:GetTable on another database: Athena, acting for it, cannot read that table (although
    # the worker may read its files in raw/ directly).
    raw = athena_query(athena, "SELECT count(*) AS n FROM counted", database="another_team")
    assert raw["Status"]["State"] == "FAILED"
    assert "AccessDenied" in raw["Status"]["StateChangeReason"]
    # Nor can another identity without Athena permissions read the worker's results.
    admin("iam").create_user(UserName="reader")
    keys = admin("iam").create_access_key(UserName="reader")["AccessKey"]
    reader = clients_for(worker("s3").meta.endpoint_url, aws_access_key_id=keys["AccessKeyId"],
                         aws_secret_access_key=keys["SecretAccessKey"])
    denied(lambda: reader("athena").get_query_results(QueryExecutionId=counted["QueryExecutionId"]),
           "AccessDeniedException")


VIA_ATHENA = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["athena.amazonaws.com"]}}


@pytest.mark.parametrize("conditions, context, holds", [
    (VIA_ATHENA, {"aws:CalledVia": ["athena.amazonaws.com"]}, True),
    (VIA_ATHENA, {"aws:CalledVia": ["cloudformation.amazonaws.com", "athena.amazonaws.com"]}, True),
    (VIA_ATHENA, {"AWS:calledvia": ["athena.amazonaws.com"]}, True),  # key names are case-insensitive
    (VIA_ATHENA, {"aws:CalledVia": ["glue.amazonaws.com"]}, False),
    (VIA_ATHENA, {"aws:CalledVia": ["ATHENA.amazonaws.com"]}, False),  # values are not
    (VIA_ATHENA, {"aws:CalledVia": []}, False),
    (VIA_ATHENA, {}, False),
    ({"ForAllValues:StringEquals": {"aws:CalledVia": ["athena.amazonaws.com"]}}, {}, True),
    ({"ForAllValues:StringEquals": {"aws:CalledVia": ["athena.amazonaws.com"]}},
     {"aws:CalledVia": ["athena.amazonaws.com", "glue.amazonaws.com"]}, False),
    ({"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, {"iam:PassedToService": "glue.amazonaws.com"},
     True),
    ({"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, {}, False),
    ({"StringEqualsIfExists": {"iam:PassedToService": "glue.amazonaws.com"}}, {}, True),
    ({"StringLike": {"s3:prefix": ["raw/*"]}}, {"s3:prefix": "raw/sales/"}, True),
    ({"ArnEquals": {"aws:PrincipalArn": WORKER_ARN}}, {"aws:PrincipalArn": WORKER_ARN}, True),
    ({"ArnEquals": {"aws:PrincipalArn": WORKER_ARN}}, {"aws:PrincipalArn": f"{WORKER_ARN}-2"}, False),
    ({"ArnEquals": {"aws:PrincipalArn": WORKER_ARN}}, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/x"}, False),
    ({"ArnEquals": {"aws:PrincipalArn": WORKER_ARN}}, {}, False),
    ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/indata-*"}}, {"aws:PrincipalArn": WORKER_ARN},
     True),
    ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/indata-*"}},
     {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/indata-admin"}, False),
    ({**VIA_ATHENA, "StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
     {"aws:CalledVia": ["athena.amazonaws.com"]}, False),  # every operator must hold
])
def test_conditions_are_evaluated_as_iam_does_over_multi_valued_keys(conditions, context, holds):
    assert conditions_hold(conditions, context) is holds


# --- bad credentials -----------------------------------------------------------------------------------------------
def test_unknown_or_forged_credentials_are_refused_with_the_aws_error_code(enforced):
    unknown = clients_for(enforced.endpoint, aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x")
    denied(lambda: unknown("glue").get_databases(), "InvalidClientTokenId")
    denied(lambda: unknown("athena").list_work_groups(), "InvalidClientTokenId")
    denied(lambda: unknown("sts").get_caller_identity(), "InvalidClientTokenId")
    denied(lambda: unknown("s3").list_objects_v2(Bucket=BUCKET), "InvalidAccessKeyId")
    wrong_secret = clients_for(enforced.endpoint, aws_access_key_id="testing", aws_secret_access_key="wrong")
    denied(lambda: wrong_secret("glue").get_databases(), "SignatureDoesNotMatch")
    denied(lambda: wrong_secret("s3").list_objects_v2(Bucket=BUCKET), "SignatureDoesNotMatch")
    worker = role_credentials(enforced.endpoint, "ec2.amazonaws.com", WORKER_ROLE)
    forged_token = clients_for(enforced.endpoint, {**worker, "Token": "forged"})
    denied(lambda: forged_token("glue").get_database(Name=RAW_DB), "InvalidClientTokenId")


@pytest.mark.parametrize("path, headers, code", [
    ("/", {"X-Amz-Target": "AWSGlue.GetDatabases", "Content-Type": "application/x-amz-json-1.1"},
     "MissingAuthenticationTokenException"),
    (f"/{BUCKET}/raw/x.csv", {}, "AccessDenied"),
    ("/moto-api/reset-auth", {}, "AccessDenied"),
])
def test_unsigned_requests_are_refused_not_failed(enforced, path, headers, code):
    request = urllib.request.Request(enforced.endpoint + path, data=b"{}" if headers else None, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert code.encode() in refused.value.read()
