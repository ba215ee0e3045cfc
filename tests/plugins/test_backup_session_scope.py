"""The backup task's narrowed session: with settings.worker_role, its S3 client writes only its dataset and date.

The policy and the hook's connection are checked without AWS. The backup itself runs on a local stack of its own
that enforces IAM and evaluates session policies, with deploy/indata-backup.yaml deployed, as the worker does on
EC2 (`make run IAM=1`'s environment: no keys, the instance profile's role credentials, the connection without
login): every refusal below is the stack's AccessDenied.
"""
from __future__ import annotations

import json
import os
import re

import boto3
import botocore.exceptions
import pytest

from indata_ops.config.dataset_model import DatasetEntry
from indata_ops.hooks.backup import SESSION_SECONDS, BackupHook
from indata_ops.layout import manifest_key
from indata_ops.operators.backup import BackupFilesOperator
from indata_ops.run_date import InvalidRunDate
from indata_ops.session_policy import MAX_POLICY_CHARS, MAX_SESSION_NAME_CHARS, BackupSessionScope
from local_aws.iam_enforcement import ADMIN_KEYS
from local_aws.testing import deployed_enforcing_stack
from scripts.common import local_connection_extra
from scripts.deploy import deployed_settings
from scripts.run_local import worker_environment
from tests.plugins.test_transfer import DAY, NEXT_DAY, SMALL_PARTS, SNAPSHOT, MiB, run, write

BUCKET = "session-scoped"
ROLE = "arn:aws:iam::123456789012:role/indata-airflow-worker"
OTHER_DAY = "2026-10-31"
ENDPOINT = "http://127.0.0.1:9"  # the fast tests only build connections: nothing is called


def statements(scope: BackupSessionScope) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in json.loads(scope.policy())["Statement"]}


def connection(monkeypatch, **extra) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "extra": {**local_connection_extra(ENDPOINT), **extra}}))


# --- the policy and the connection, without AWS --------------------------------------------------------------------
def test_the_session_policy_names_only_its_dataset_and_date():
    by_sid = statements(BackupSessionScope(ROLE, BUCKET, "ventas", DAY))
    assert by_sid["WriteTheDate"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/raw/ventas/dt={DAY}/*",
                                                  f"arn:aws:s3:::{BUCKET}/manifests/ventas/dt={DAY}/manifest.json"]
    assert set(by_sid["WriteTheDate"]["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                                     "s3:ListMultipartUploadParts"}
    assert by_sid["ReadTheDataset"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/raw/ventas/*",
                                                    f"arn:aws:s3:::{BUCKET}/manifests/ventas/*"]
    assert set(by_sid["ReadTheDataset"]["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert by_sid["Bucket"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    # Nothing else writes: every object action but the reads is limited to the date's resources.
    assert {sid for sid, s in by_sid.items() if any(a.startswith("s3:Put") or a.startswith("s3:Delete")
                                                   for a in s["Action"])} == {"WriteTheDate"}
    china = statements(BackupSessionScope("arn:aws-cn:iam::123456789012:role/w", BUCKET, "ventas", DAY))
    assert china["Bucket"]["Resource"] == f"arn:aws-cn:s3:::{BUCKET}"

    # The longest names the config accepts still fit AWS's limits.
    name_pattern = DatasetEntry.model_json_schema()["properties"]["name"]["pattern"]
    longest = "d" * 63
    assert re.fullmatch(name_pattern, longest) and not re.fullmatch(name_pattern, longest + "d")
    widest = BackupSessionScope(ROLE, "b" * 63, longest, DAY)
    assert len(widest.policy()) <= MAX_POLICY_CHARS
    session = widest.session_name()
    assert len(session) <= MAX_SESSION_NAME_CHARS and re.fullmatch(r"[\w+=,.@-]{2,64}", session)
    assert session.startswith("indata-backup-ddd") and session.endswith(f"-{DAY}")
    assert BackupSessionScope(ROLE, BUCKET, "ventas", DAY).session_name() == f"indata-backup-ventas-{DAY}"


def test_a_policy_over_awss_limit_is_refused_naming_the_dataset_and_bucket():
    with pytest.raises(ValueError, match=f"dataset {'d' * 900} in bucket {BUCKET} has .* at most 2048"):
        BackupSessionScope(ROLE, BUCKET, "d" * 900, DAY).policy()
    with pytest.raises(ValueError, match="BACKUP_WORKER_ROLE.*'not-an-arn'"):
        BackupSessionScope("not-an-arn", BUCKET, "ventas", DAY).policy()


def test_the_hook_assumes_the_role_with_the_policy_through_the_connections_sts_endpoint(monkeypatch):
    connection(monkeypatch)
    scope = BackupSessionScope(ROLE, BUCKET, "ventas", DAY)
    hook = BackupHook(aws_conn_id="aws_default", session_scope=scope)
    config = hook.conn_config
    assert (config.role_arn, config.assume_role_method) == (ROLE, "assume_role")
    assert config.assume_role_kwargs == {"RoleSessionName": f"indata-backup-ventas-{DAY}", "Policy": scope.policy(),
                                         "DurationSeconds": SESSION_SECONDS}
    assert config.get_service_endpoint_url("sts", sts_connection_assume=True) == ENDPOINT
    assert config.endpoint_url == ENDPOINT and config.region_name == "us-east-1"
    # Cached once, scoped: the base class's property would have cached the unscoped wrapper under the same name.
    assert hook.conn_config is config and hook.__dict__["conn_config"] is config
    # The connection itself is untouched: a hook without a scope has the base session.
    assert BackupHook(aws_conn_id="aws_default").conn_config.role_arn is None


def test_without_a_connection_the_hook_still_assumes_the_role(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    config = BackupHook(aws_conn_id="aws_missing", session_scope=BackupSessionScope(ROLE, BUCKET, "ventas",
                                                                                     DAY)).conn_config
    # The provider skips the assume for a falsy wrapper (no connection) and uses boto3's chain as it is.
    assert bool(config) and config.role_arn == ROLE and "Policy" in config.assume_role_kwargs
    assert not BackupHook(aws_conn_id="aws_missing").conn_config


@pytest.mark.parametrize(("extra", "message"), [
    ({"role_arn": ROLE, "assume_role_method": "assume_role_with_web_identity"},
     "assumes .* with assume_role_with_web_identity"),
    ({"role_arn": "arn:aws:iam::123456789012:role/another"}, "assumes another role, .*role/another"),
    ({"role_arn": ROLE, "assume_role_kwargs": {"Policy": "{}"}}, "already has a Policy"),
])
def test_a_connection_that_assumes_otherwise_is_refused_naming_setting_and_connection(monkeypatch, extra, message):
    connection(monkeypatch, **extra)
    hook = BackupHook(aws_conn_id="aws_default", session_scope=BackupSessionScope(ROLE, BUCKET, "ventas", DAY))
    with pytest.raises(ValueError, match=f"BACKUP_WORKER_ROLE.*connection 'aws_default': .*{message}"):
        hook.conn_config  # noqa: B018


def test_a_connection_that_assumes_the_worker_role_carries_the_policy_on_that_hop(monkeypatch):
    connection(monkeypatch, role_arn=ROLE, assume_role_kwargs={"ExternalId": "x"})
    scope = BackupSessionScope(ROLE, BUCKET, "ventas", DAY)
    config = BackupHook(aws_conn_id="aws_default", session_scope=scope).conn_config
    assert config.role_arn == ROLE
    assert config.assume_role_kwargs["ExternalId"] == "x" and config.assume_role_kwargs["Policy"] == scope.policy()


def test_without_a_worker_role_the_backup_uses_the_connection_as_is(monkeypatch):
    connection(monkeypatch)
    dataset = SNAPSHOT

    def operator(**kwargs):
        return BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root="/nowhere", bucket=BUCKET,
                                   **kwargs)

    plain = operator(run_date=DAY)
    assert "session_scope" not in plain._hook_parameters
    assert plain.hook.conn_config.role_arn is None
    scoped = operator(run_date=DAY, worker_role=ROLE)
    assert scoped._hook_parameters["session_scope"] == BackupSessionScope(ROLE, BUCKET, "ventas", DAY)
    assert scoped.hook.conn_config.assume_role_kwargs["RoleSessionName"] == f"indata-backup-ventas-{DAY}"
    # The scope takes the run date as rendered; a template not rendered yet is no date.
    templated = operator(run_date="{{ ds }}", worker_role=ROLE)
    with pytest.raises(InvalidRunDate, match=re.escape("got '{{ ds }}'")):
        templated._hook_parameters  # noqa: B018
    templated.render_template_fields({"ds": NEXT_DAY})
    assert templated._hook_parameters["session_scope"].run_date == NEXT_DAY


# --- the backup on a stack that enforces IAM ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    with deployed_enforcing_stack(tmp_path_factory.mktemp("session-scope"), BUCKET) as process:
        yield process


@pytest.fixture(scope="module")
def admin(enforced):
    key_id, secret = ADMIN_KEYS[0]

    def client(service: str):
        return boto3.client(service, endpoint_url=enforced.endpoint, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    return client


@pytest.fixture(scope="module")
def worker_role(admin):
    """The ARN as `make deploy` prints it, BACKUP_WORKER_ROLE."""
    return deployed_settings(admin("cloudformation"))["BACKUP_WORKER_ROLE"]


@pytest.fixture()
def as_worker(enforced, worker_role, monkeypatch):
    """This process's environment as `make run IAM=1` gives the DAG: no keys, the worker role's credentials from
    the instance-profile endpoint, the aws_default connection without login."""
    env = worker_environment(enforced.endpoint, {"WorkerRoleArn": worker_role})
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return worker_role


def narrowed(role: str, day: str = DAY) -> BackupHook:
    return BackupHook(aws_conn_id="aws_default", region_name="us-east-1",
                      session_scope=BackupSessionScope(role, BUCKET, "ventas", day))


def denied(call) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "AccessDenied", caught.value.response["Error"]


def test_the_backup_runs_whole_in_its_narrowed_session(tmp_path, as_worker, admin, enforced):
    write(tmp_path, "ventas/same.csv", b"unchanged")
    write(tmp_path, "ventas/big.bin", os.urandom(11 * MiB + 5))  # three parts of SMALL_PARTS
    write(tmp_path, "ventas/moved.csv", b"before")
    write(tmp_path, "ventas/gone.csv", b"removed before the rerun")
    hook = narrowed(as_worker)
    credentials = hook.get_conn()._request_signer._credentials.get_frozen_credentials()
    identity = boto3.client("sts", endpoint_url=enforced.endpoint, region_name="us-east-1",
                            aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
                            aws_session_token=credentials.token).get_caller_identity()
    assert identity["Arn"].endswith(f":assumed-role/indata-airflow-worker/indata-backup-ventas-{DAY}"), identity

    first = run(hook, BUCKET, tmp_path, dataset=SNAPSHOT, day=DAY, settings=SMALL_PARTS)
    assert (first.files, first.sent, first.committed) == (4, 4, True)
    # A rerun: the date's manifest is deleted first, a stale object removed, a changed file sent again.
    (tmp_path / "ventas" / "gone.csv").unlink()
    write(tmp_path, "ventas/moved.csv", b"changed")
    rerun = run(hook, BUCKET, tmp_path, dataset=SNAPSHOT, day=DAY, settings=SMALL_PARTS)
    assert (rerun.files, rerun.sent, rerun.stale_removed, rerun.committed) == (3, 1, 1, True)
    # The next date copies the unchanged files from this one: it reads another date, and writes only its own.
    write(tmp_path, "ventas/moved.csv", b"after!")
    following = run(narrowed(as_worker, NEXT_DAY), BUCKET, tmp_path, dataset=SNAPSHOT, day=NEXT_DAY,
                    settings=SMALL_PARTS)
    assert (following.copied, following.sent, following.bytes_sent) == (2, 1, len(b"after!"))

    s3 = admin("s3")
    for day in (DAY, NEXT_DAY):
        document = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key("ventas", day))["Body"].read())
        assert sorted(entry["path"] for entry in document["files"]) == ["big.bin", "moved.csv", "same.csv"]
    for entry in document["files"]:
        assert s3.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read() == (
            tmp_path / "ventas" / entry["path"]).read_bytes()


@pytest.mark.parametrize("key", [
    f"raw/ventas/dt={OTHER_DAY}/x.csv", f"raw/clientes/dt={DAY}/x.csv", manifest_key("ventas", OTHER_DAY),
    manifest_key("clientes", DAY), f"clean/ventas/dt={DAY}/x.parquet", "athena-results/x.csv",
    "artifacts/glue-scripts/x.py", f"job-reports/ventas/dt={DAY}/counts.json",
])
def test_the_backup_session_cannot_write_outside_its_date(as_worker, admin, key):
    admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    hook = narrowed(as_worker)
    s3 = hook.get_conn()
    denied(lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten"))
    denied(lambda: s3.delete_object(Bucket=BUCKET, Key=key))
    denied(lambda: hook.delete(BUCKET, [manifest_key("ventas", DAY), key]))  # DeleteObjects, as a rerun calls it
    assert admin("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"kept"


def test_the_refusal_comes_from_the_session_not_the_role(as_worker, admin):
    """The control: the worker's own credentials (no scope) may delete another date's manifest and write another
    date's raw objects, so the refusals above are the session policy's."""
    key = manifest_key("ventas", OTHER_DAY)
    admin("s3").put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    plain = BackupHook(aws_conn_id="aws_default", region_name="us-east-1")
    plain.delete(BUCKET, [key])
    assert "Contents" not in admin("s3").list_objects_v2(Bucket=BUCKET, Prefix=key)
    plain.get_conn().put_object(Bucket=BUCKET, Key=f"raw/ventas/dt={OTHER_DAY}/x.csv", Body=b"x")
    denied(lambda: narrowed(as_worker).get_conn().put_object(Bucket=BUCKET, Key=f"raw/ventas/dt={OTHER_DAY}/x.csv",
                                                             Body=b"x"))
