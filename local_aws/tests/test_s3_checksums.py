"""The stack checks the checksums a client sends, as S3 does: a wrong SHA-256, SHA-1, CRC32 or Content-MD5 on a
PutObject or an UploadPart is a 400 BadDigest and stores nothing; a right one is stored and reported back. The
calls are real boto3 calls (the pinned SDK and, in a child process, the newest one, whose default checksums differ).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import subprocess
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError, FlexibleChecksumError

from local_aws.tests.test_newest_sdk import newest_sdk_python

MiB = 1024 * 1024
WRONG_SHA256 = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def sha256(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def crc32(data: bytes) -> str:
    return b64(binascii.crc32(data).to_bytes(4, "big"))


@pytest.fixture()
def s3(aws):
    return aws("s3")


@pytest.fixture()
def bucket(s3):
    name = f"checksums-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def keys(s3, bucket) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def bad_digest(raised: pytest.ExceptionInfo) -> tuple[int, str, str]:
    error = raised.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


@pytest.mark.parametrize(("algorithm", "wrong", "name"), [
    ("SHA256", WRONG_SHA256, "SHA256"),
    ("SHA1", b64(hashlib.sha1(b"other bytes").digest()), "SHA1"),
    ("CRC32", crc32(b"other bytes"), "CRC32"),
])
def test_a_put_with_a_wrong_checksum_is_refused_and_stores_nothing(s3, bucket, algorithm, wrong, name):
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="a.csv", Body=b"id\n1\n", ChecksumAlgorithm=algorithm,
                      **{f"Checksum{algorithm}": wrong})
    assert bad_digest(raised) == (400, "BadDigest", f"The {name} you specified did not match the calculated "
                                                     "checksum.")
    assert keys(s3, bucket) == []


def test_a_put_with_the_right_sha256_is_stored_and_reported(s3, bucket):
    data = b"id\n1\n"
    answer = s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ChecksumAlgorithm="SHA256",
                           ChecksumSHA256=sha256(data))
    assert answer["ChecksumSHA256"] == sha256(data)
    head = s3.head_object(Bucket=bucket, Key="a.csv", ChecksumMode="ENABLED")
    assert (head["ContentLength"], head["ChecksumSHA256"]) == (len(data), sha256(data))


def test_a_wrong_content_md5_is_refused_and_a_right_one_stored(s3, bucket):
    data = b"id\n1\n"
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert bad_digest(raised) == (400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ContentMD5="not base64!")
    assert bad_digest(raised)[:2] == (400, "InvalidDigest")
    assert keys(s3, bucket) == []
    s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ContentMD5=b64(hashlib.md5(data).digest()))
    assert s3.get_object(Bucket=bucket, Key="a.csv")["Body"].read() == data


def test_a_part_with_a_wrong_sha256_is_refused_and_not_kept(s3, bucket):
    part = b"p" * (5 * MiB)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big.bin", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as raised:
        s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=1, Body=part,
                       ChecksumAlgorithm="SHA256", ChecksumSHA256=WRONG_SHA256)
    assert bad_digest(raised) == (400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload_id)

    tail = b"tail"
    sent = [(1, part), (2, tail)]
    parts = [{"PartNumber": number, "ChecksumSHA256": sha256(data), "ETag": s3.upload_part(
        Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=number, Body=data, ChecksumAlgorithm="SHA256",
        ChecksumSHA256=sha256(data))["ETag"]} for number, data in sent]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    # The complete answers with the composite checksum, as S3 does (which appends "-2"), in the form HEAD gives.
    composite = b64(hashlib.sha256(hashlib.sha256(part).digest() + hashlib.sha256(tail).digest()).digest())
    head = s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert done["ChecksumSHA256"] == head["ChecksumSHA256"] == composite
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == part + tail


def trailer_checksums(s3) -> None:
    """Send the checksum in an aws-chunked trailer, as botocore does over TLS (this endpoint is plain HTTP)."""
    def in_trailer(params, context, **_):
        algorithm = context.get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"

    s3.meta.events.register("before-call.s3.PutObject", in_trailer)
    s3.meta.events.register("before-call.s3.UploadPart", in_trailer)


def test_a_crc32_trailer_is_checked(aws, bucket):
    s3 = aws("s3")
    trailer_checksums(s3)
    sent: list[dict] = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(
        {name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()}))
    data = b"id,name\n1,Ann\n" * 1000
    answer = s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ChecksumAlgorithm="CRC32")
    assert sent[-1]["X-Amz-Trailer"] == "x-amz-checksum-crc32" and sent[-1]["Content-Encoding"] == "aws-chunked"
    assert answer["ChecksumCRC32"] == crc32(data)
    assert s3.get_object(Bucket=bucket, Key="a.csv")["Body"].read() == data

    def corrupt_trailer(request, **_):  # the trailer arrives with another value: the bytes or it changed on the way
        request.body.seek(0)  # botocore retries a BadDigest: each attempt reads the body again
        body = request.body.read()
        request.body = io.BytesIO(body.replace(f"x-amz-checksum-crc32:{crc32(data)}".encode(),
                                               f"x-amz-checksum-crc32:{crc32(b'other')}".encode()))

    s3.meta.events.register("before-send.s3.PutObject", corrupt_trailer)
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="b.csv", Body=data, ChecksumAlgorithm="CRC32")
    assert bad_digest(raised) == (400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    assert keys(s3, bucket) == ["a.csv"]


NEWEST_SDK_SCRIPT = """
import base64, binascii, hashlib, json, sys
import boto3, botocore
from botocore.exceptions import ClientError, FlexibleChecksumError
endpoint, bucket = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
data = b"id\\n1\\n" * 100
sent = []
s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(
    sorted(name.lower() for name in request.headers if name.lower().startswith("x-amz-checksum-"))))
default = s3.put_object(Bucket=bucket, Key="default.csv", Body=data)
try:
    s3.put_object(Bucket=bucket, Key="wrong.csv", Body=data, ChecksumSHA256=base64.b64encode(
        hashlib.sha256(b"other").digest()).decode())
    wrong = None
except ClientError as error:
    wrong = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
print(json.dumps({"botocore": botocore.__version__, "default_headers": sent[0],
                  "default_crc32": default.get("ChecksumCRC32"), "wrong": wrong, "listed": listed}))
"""


def test_the_newest_sdk_default_checksum_is_checked(stack, s3, bucket):
    result = subprocess.run([newest_sdk_python(), "-c", NEWEST_SDK_SCRIPT, stack.endpoint, bucket], check=True,
                            capture_output=True, text=True, timeout=120)
    found = json.loads(result.stdout)
    data = b"id\n1\n" * 100
    # The newest botocore sends a CRC32 of every PutObject by default: checked, stored, reported.
    assert found["default_headers"] == ["x-amz-checksum-crc32"], found
    assert found["default_crc32"] == crc32(data)
    assert found["wrong"] == ["BadDigest", "The SHA256 you specified did not match the calculated checksum."]
    assert found["listed"] == ["default.csv"]


def test_decay_flips_a_stored_byte_and_keeps_the_checksum(stack, s3, bucket):
    data = b"id\n1\n2\n"
    s3.put_object(Bucket=bucket, Key="a.csv", Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=sha256(data))
    request = urllib.request.Request(f"{stack.endpoint}/_local_aws/s3/decay", method="POST",
                                     data=json.dumps({"bucket": bucket, "key": "a.csv", "offset": 3}).encode())
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer) == {"bucket": bucket, "key": "a.csv", "offset": 3, "size": len(data)}
    head = s3.head_object(Bucket=bucket, Key="a.csv", ChecksumMode="ENABLED")
    assert (head["ContentLength"], head["ChecksumSHA256"]) == (len(data), sha256(data))
    rotten = data[:3] + bytes([data[3] ^ 0xFF]) + data[4:]
    with pytest.raises(FlexibleChecksumError, match=re.escape(
            f"Expected checksum {sha256(data)} did not match calculated checksum: {sha256(rotten)}")):
        s3.get_object(Bucket=bucket, Key="a.csv")["Body"].read()
