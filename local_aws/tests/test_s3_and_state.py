"""S3 through the stack (boto3 and awscli), persistence across a clean stop and a crash, and AWS-style errors."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

BUCKET = "state-test"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def aws_cli(stack, *args: str) -> subprocess.CompletedProcess:
    aws = Path(sys.executable).parent / "aws"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run([str(aws), "--endpoint-url", stack.endpoint, *args], env=env, capture_output=True,
                          text=True, check=True)


def test_checksums_are_stored_and_returned(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="checksums")
    body = "año;importe\n1;2,5\n".encode("latin-1")
    s3.put_object(Bucket="checksums", Key="raw/a b/ñ.csv", Body=body, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket="checksums", Key="raw/a b/ñ.csv", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(body)
    assert head["ContentLength"] == len(body)
    assert s3.get_object(Bucket="checksums", Key="raw/a b/ñ.csv")["Body"].read() == body


def test_awscli_cp_ls_sync(stack, aws, tmp_path):
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    files = {"a.csv": b"x,y\n1,2\n", "nested/b c.json": b'{"k": 1}\n'}
    for name, data in files.items():
        (source / name).write_bytes(data)
        # S3 LastModified has whole seconds: an mtime in the past keeps `sync` from seeing the file as newer.
        os.utime(source / name, (1_700_000_000, 1_700_000_000))
    aws("s3").create_bucket(Bucket="cli-test")
    aws_cli(stack, "s3", "cp", str(source / "a.csv"), "s3://cli-test/one/a.csv")
    aws_cli(stack, "s3", "sync", str(source), "s3://cli-test/synced/")
    listing = aws_cli(stack, "s3", "ls", "--recursive", "s3://cli-test/").stdout
    assert "one/a.csv" in listing and "synced/nested/b c.json" in listing
    # A second sync of unchanged files sends nothing.
    assert aws_cli(stack, "s3", "sync", str(source), "s3://cli-test/synced/").stdout.strip() == ""
    back = tmp_path / "back"
    aws_cli(stack, "s3", "sync", "s3://cli-test/synced/", str(back))
    assert {p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*") if p.is_file()} == files


@pytest.mark.parametrize("kill", [False, True], ids=["clean-stop", "crash"])
def test_state_survives_restart(stack, aws, kill):
    s3, glue, iam = aws("s3"), aws("glue"), aws("iam")
    bucket = f"{BUCKET}-{'crash' if kill else 'stop'}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "abort-mpu", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
    first, second = b"version one", b"version two, longer"
    v1 = s3.put_object(Bucket=bucket, Key="k.txt", Body=first, ChecksumAlgorithm="SHA256")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k.txt", Body=second, ChecksumAlgorithm="SHA256")
    big = os.urandom(6 * 1024 * 1024)  # over moto's 5 MiB in-memory buffer: spilled to a temp file there
    s3.put_object(Bucket=bucket, Key="big.bin", Body=big)
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "gone.txt"}]})
    database = f"db_{'crash' if kill else 'stop'}"
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database, TableInput={
        "Name": "t", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "bigint"}], "Location": f"s3://{bucket}/t/"}})
    glue.batch_create_partition(DatabaseName=database, TableName="t", PartitionInputList=[
        {"Values": ["2026-11-01"], "StorageDescriptor": {"Location": f"s3://{bucket}/t/dt=2026-11-01/"}}])
    glue.create_crawler(Name=f"crawler-{database}", Role="r", DatabaseName=database,
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/t/"}]})
    glue.create_job(Name=f"job-{database}", Role="r", Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"})
    iam.create_role(RoleName=f"role-{database}", AssumeRolePolicyDocument="{}")

    stack.restart(kill=kill)

    assert s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == second
    assert s3.get_object(Bucket=bucket, Key="k.txt", VersionId=v1)["Body"].read() == first
    head = s3.head_object(Bucket=bucket, Key="k.txt", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(second)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="gone.txt")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    partitions = glue.get_partitions(DatabaseName=database, TableName="t")["Partitions"]
    assert [p["Values"] for p in partitions] == [["2026-11-01"]]
    assert glue.get_crawler(Name=f"crawler-{database}")["Crawler"]["State"] == "READY"
    assert glue.get_job(JobName=f"job-{database}")["Job"]["Command"]["ScriptLocation"] == "s3://x/y.py"
    assert iam.get_role(RoleName=f"role-{database}")["Role"]["RoleName"] == f"role-{database}"


def test_unserved_actions_answer_like_aws(stack):
    """moto answers 500 with a traceback for calls it does not implement; the stack answers an AWS error."""
    request = urllib.request.Request(
        stack.endpoint + "/", data=json.dumps({"Name": "x"}).encode(), method="POST",
        headers={"X-Amz-Target": "AWSGlue.GetMLTransform", "Content-Type": "application/x-amz-json-1.1",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/glue/aws4_request, "
                                  "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    body = json.loads(raised.value.read())
    assert raised.value.code in (400, 500, 501)
    assert body["__type"] in ("NotImplemented", "InternalFailure", "EntityNotFoundException")
    assert "Traceback" not in json.dumps(body)


def test_glue_errors_are_aws_errors(aws):
    glue = aws("glue")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_crawler(Name="no-such-crawler")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.start_job_run(JobName="no-such-job")
    with pytest.raises(glue.exceptions.CrawlerNotRunningException):
        glue.create_crawler(Name="idle", Role="r", DatabaseName="d", Targets={"S3Targets": [{"Path": "s3://b/p"}]})
        glue.stop_crawler(Name="idle")


def test_iam_sts_and_logs_are_served(aws):
    assert aws("sts").get_caller_identity()["Account"] == "123456789012"
    role = aws("iam").create_role(RoleName="glue-served", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    assert role["Arn"] == "arn:aws:iam::123456789012:role/glue-served"
    logs = aws("logs")
    logs.create_log_group(logGroupName="/served/test")
    logs.create_log_stream(logGroupName="/served/test", logStreamName="s")
    logs.put_log_events(logGroupName="/served/test", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hola"}])
    events = logs.get_log_events(logGroupName="/served/test", logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["hola"]
