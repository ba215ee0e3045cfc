"""Connections to the stack stay open between requests, and nothing one request leaves behind reaches the next."""
from __future__ import annotations

import http.client
import logging
import socket
import urllib.parse

import boto3
import pytest

from local_aws.server import LocalAWS


@pytest.fixture
def stack():
    """An in-process, memory-only stack (these tests look at its sockets, not at its state)."""
    aws = LocalAWS(port=0).start()
    yield aws
    aws.stop()


def connection(aws: LocalAWS) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", aws.port, timeout=10)


def signed_path(s3, operation: str, **params) -> str:
    """Path and query of a presigned URL: the stack answers unsigned requests 403, as S3 does."""
    url = urllib.parse.urlsplit(s3.generate_presigned_url(operation, Params=params))
    return f"{url.path}?{url.query}"


def test_boto3_reuses_one_connection_for_many_requests(stack, caplog):
    s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="keepalive")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        for index in range(20):
            s3.put_object(Bucket="keepalive", Key=f"k{index}", Body=b"x" * 1000)
            assert s3.head_object(Bucket="keepalive", Key=f"k{index}")["ContentLength"] == 1000
    opened = [record for record in caplog.records
              if "Starting new" in record.getMessage() or "Resetting dropped" in record.getMessage()]
    assert opened == []  # 40 requests, all on the connection create_bucket opened


def test_unread_body_is_drained_before_the_next_request(stack):
    """The health endpoint never reads a body; the next request on the connection must still parse."""
    conn = connection(stack)
    conn.request("POST", "/_local_aws/health", body=b"ignored " * 10_000)
    first = conn.getresponse()
    assert first.status == 200 and first.getheader("Connection") != "close"
    first_body = first.read()
    conn.request("GET", "/_local_aws/health")
    second = conn.getresponse()
    assert second.status == 200 and second.read() == first_body
    conn.close()


def test_head_answers_the_object_size_once(stack):
    s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="keepalive")
    s3.put_object(Bucket="keepalive", Key="sized", Body=b"y" * 1234)
    conn = connection(stack)
    conn.request("HEAD", signed_path(s3, "head_object", Bucket="keepalive", Key="sized"))
    response = conn.getresponse()
    lengths = [value for name, value in response.getheaders() if name.lower() == "content-length"]
    assert response.status == 200 and lengths == ["1234"]
    response.read()
    # The same connection: the HEAD sent no body.
    conn.request("GET", signed_path(s3, "get_object", Bucket="keepalive", Key="sized"))
    assert conn.getresponse().read() == b"y" * 1234


def test_stop_ends_idle_connections(stack):
    conn = connection(stack)
    conn.request("GET", "/_local_aws/health")
    conn.getresponse().read()
    stack.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, socket.timeout, OSError)):
        conn.request("GET", "/_local_aws/health")
        conn.getresponse()
    stack.start()  # the fixture stops it again


def test_the_stack_sends_without_waiting_for_acks(stack):
    # A kept-alive connection's body must not wait for the ACK of its headers (Nagle against delayed ACKs: 40 ms
    # on every GET), so the server's side of each connection has TCP_NODELAY.
    conn = connection(stack)
    conn.request("GET", "/_local_aws/health")
    conn.getresponse().read()
    (server_side,) = stack._server._connections
    assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    conn.close()
