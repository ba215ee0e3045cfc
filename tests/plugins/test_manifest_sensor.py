"""ManifestSensor on the local stack: a manifest counts only when it exists and is complete."""
from __future__ import annotations

import json
import uuid

import pytest

from indata_ops.manifest import build_manifest
from indata_ops.sensors.manifest import ManifestSensor

DAY = "2026-11-01"
KEY = f"manifests/ventas/dt={DAY}/manifest.json"
ENTRIES = [{"path": name, "key": f"raw/ventas/dt={DAY}/{name}", "size": size, "sha256": "x", "version_id": None}
           for name, size in (("a.csv", 3), ("b.csv", 5))]
COMPLETE = build_manifest(dataset="ventas", run_date=DAY, bucket="b", prefix=f"raw/ventas/dt={DAY}/",
                          package_version="test", entries=ENTRIES)


@pytest.fixture()
def sensor(aws, aws_connection):
    bucket = f"sensor-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=bucket)
    return ManifestSensor(task_id="wait_for_manifest", bucket_name=bucket, bucket_key=KEY, dataset="ventas",
                          run_date=DAY, aws_conn_id=aws_connection)


def put(aws, sensor, body: bytes) -> None:
    aws("s3").put_object(Bucket=sensor.bucket_name, Key=KEY, Body=body)


def test_a_complete_manifest_satisfies_the_sensor(aws, sensor):
    assert sensor.poke({}) is False  # not there yet
    put(aws, sensor, json.dumps(COMPLETE).encode())
    assert sensor.poke({}) is True


@pytest.mark.parametrize("broken", ["file list cut short", "another date", "entry without sha256", "not JSON"])
def test_an_incomplete_manifest_does_not(aws, sensor, broken):
    document = json.loads(json.dumps(COMPLETE))
    if broken == "file list cut short":
        document["files"].pop()
    elif broken == "another date":
        document["run_date"] = "2026-11-02"
    elif broken == "entry without sha256":
        del document["files"][0]["sha256"]
    body = json.dumps(document).encode()
    put(aws, sensor, body[: len(body) // 2] if broken == "not JSON" else body)
    assert sensor.poke({}) is False
