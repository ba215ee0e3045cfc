"""The backup survives a bad network and a killed worker: a fault-injecting proxy in front of the local stack
(503 SlowDown, 500, connections reset before or after the stack answered), and kill -9 half-way then a rerun."""
from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from indata_ops.hooks.backup import BackupHook
from indata_ops.sources import list_sources
from indata_ops.transfer import BackupRun
from tests.plugins.test_transfer import DATED, DAY, SMALL_PARTS, manifest, write

REPO = Path(__file__).resolve().parents[2]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
FAULTS = ("slowdown", "internal", "reset before", "reset after")
ERRORS = {"slowdown": (503, "SlowDown", "Please reduce your request rate."),
          "internal": (500, "InternalError", "We encountered an internal error. Please try again.")}


class FaultyProxy(http.server.ThreadingHTTPServer):
    """Forwards to the stack, but answers a share of requests with a fault instead (seeded, so reproducible)."""

    daemon_threads = True

    def __init__(self, upstream: str, fault_rate: float, seed: int = 5):
        super().__init__(("127.0.0.1", 0), _FaultyHandler)
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.fault_rate, self.random, self.lock = fault_rate, random.Random(seed), threading.Lock()
        self.requests, self.faults = 0, dict.fromkeys(FAULTS, 0)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def draw(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.random.random() >= self.fault_rate:
                return None
            fault = self.random.choice(FAULTS)
            self.faults[fault] += 1
            return fault


class _FaultyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyProxy

    def log_message(self, *args) -> None:  # quiet: the test reports the counts
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = self.server.draw()
        if fault in ERRORS:
            return self._error(*ERRORS[fault])
        if fault == "reset before":
            return self._reset()
        status, headers, answer = self._forward(body)
        if fault == "reset after":  # the stack did the work, the client never hears of it
            return self._reset()
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            upstream.close()

    def _error(self, status: int, code: str, message: str) -> None:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>" \
               f"</Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP RST, as a load balancer dropping the connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


@pytest.fixture()
def proxy(stack):
    server = FaultyProxy(stack.endpoint, fault_rate=0.25)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def bucket(aws):
    name = f"faults-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=name)
    return name


def connect_through(monkeypatch, endpoint: str) -> BackupHook:
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    return BackupHook(aws_conn_id="aws_default", region_name="us-east-1")


def test_a_backup_through_a_faulty_network_completes_and_verifies(tmp_path, aws, bucket, proxy, monkeypatch):
    files = {f"f{i:02d}.csv": os.urandom(2000 + i) for i in range(60)}
    files["big.bin"] = os.urandom(11 * 1024 * 1024)
    for name, data in files.items():
        write(tmp_path, f"ventas/{DAY}/{name}", data)
    hook = connect_through(monkeypatch, proxy.endpoint)
    engine = BackupRun(hook, bucket=bucket, dataset="ventas", run_date=DAY, snapshot=False, package_version="test",
                       extra_args={}, settings=SMALL_PARTS)
    summary = engine.run(list_sources(tmp_path, DATED, DAY))
    assert summary.files == len(files)
    assert sum(proxy.faults.values()) >= 0.2 * proxy.requests and all(proxy.faults.values()), proxy.faults
    s3 = aws("s3")  # straight to the stack: what really landed
    document = manifest(s3, bucket)
    assert {entry["path"] for entry in document["files"]} == set(files)
    for entry in document["files"]:
        assert s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read() == files[entry["path"]]


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from indata_ops.hooks.backup import BackupHook
    from indata_ops.sources import list_sources
    from indata_ops.transfer import BackupRun, TransferSettings
    from tests.plugins.test_transfer import DATED, DAY

    root, bucket = Path(sys.argv[1]), sys.argv[2]
    hook = BackupHook(aws_conn_id="aws_default", region_name="us-east-1")
    BackupRun(hook, bucket=bucket, dataset="ventas", run_date=DAY, snapshot=False, package_version="test",
              extra_args={}, settings=TransferSettings(workers=2)).run(list_sources(root, DATED, DAY))
""")


def test_a_backup_killed_half_way_resumes_sending_only_what_is_missing(tmp_path, aws, bucket, aws_connection):
    files = {f"f{i:04d}.csv": os.urandom(4096) for i in range(1000)}
    for name, data in files.items():
        write(tmp_path, f"ventas/{DAY}/{name}", data)
    s3 = aws("s3")
    prefix = f"raw/ventas/dt={DAY}/"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), bucket], env=env, cwd=REPO)
    deadline = time.monotonic() + 60
    while s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) < 200:
        assert child.poll() is None and time.monotonic() < deadline, "the child ended before it could be killed"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(0.5)  # a PUT whose body had fully arrived still completes on the stack
    landed = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
              for item in page.get("Contents", [])}
    assert 200 <= len(landed) < len(files)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="manifests/")  # no commit from the killed run

    hook = BackupHook(aws_conn_id=aws_connection, region_name="us-east-1")
    summary = BackupRun(hook, bucket=bucket, dataset="ventas", run_date=DAY, snapshot=False,
                        package_version="test", extra_args={}).run(list_sources(tmp_path, DATED, DAY))
    assert (summary.kept, summary.sent) == (len(landed), len(files) - len(landed))
    assert summary.bytes_sent == 4096 * (len(files) - len(landed))
    document = manifest(s3, bucket)
    assert document["totals"] == {"files": 1000, "bytes": 4096 * 1000, "records": None}  # no format: not counted
    for entry in document["files"][::97]:
        assert s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read() == files[entry["path"]]
