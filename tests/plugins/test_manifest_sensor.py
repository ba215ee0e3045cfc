"""ManifestSensor on the local stack: a manifest counts only when it exists and is complete."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from deferred_run import run_deferred, trigger_events

from indata_ops.manifest import build_manifest
from indata_ops.sensors.manifest import ManifestSensor
from indata_ops.triggers.manifest import ManifestCompleteTrigger

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


@pytest.mark.parametrize("broken", ["file list cut short", "entry without sha256", "not JSON"])
def test_an_incomplete_manifest_does_not(aws, sensor, broken):
    document = json.loads(json.dumps(COMPLETE))
    if broken == "file list cut short":
        document["files"].pop()
    elif broken == "entry without sha256":
        del document["files"][0]["sha256"]
    body = json.dumps(document).encode()
    put(aws, sensor, body[: len(body) // 2] if broken == "not JSON" else body)
    assert sensor.poke({}) is False


@pytest.mark.parametrize(("field", "value"), [("run_date", "2026-11-02"), ("dataset", "clientes")])
def test_a_manifest_of_another_date_or_dataset_fails_the_wait_at_once(aws, sensor, field, value):
    # Its writer will not turn it into this date's commit: waiting the sensor's 6 hours would only hide it.
    put(aws, sensor, json.dumps({**COMPLETE, field: value}).encode())
    with pytest.raises(AirflowFailException, match=f"is not this date's manifest: {field} is '{value}'"):
        sensor.poke({})
    trigger = deferred_sensor(sensor)
    [event] = trigger_events(ManifestCompleteTrigger(bucket_name=sensor.bucket_name, bucket_key=KEY,
                                                     dataset="ventas", run_date=DAY, aws_conn_id=sensor.aws_conn_id))
    assert (event.payload["status"], event.payload["permanent"]) == ("error", True)
    with pytest.raises(AirflowFailException, match=f"{field} is '{value}', expected"):
        trigger.execute_complete({}, event.payload)


# --- deferrable: the wait runs in the triggerer -----------------------------------------------------------------

def deferred_sensor(sensor: ManifestSensor, **kwargs) -> ManifestSensor:
    return ManifestSensor(task_id="wait_for_manifest", bucket_name=sensor.bucket_name, bucket_key=KEY,
                          dataset="ventas", run_date=DAY, aws_conn_id=sensor.aws_conn_id, deferrable=True,
                          poke_interval=0.2, **kwargs)


def test_a_complete_manifest_needs_no_deferral(aws, sensor):
    put(aws, sensor, json.dumps(COMPLETE).encode())
    result, deferrals = run_deferred(deferred_sensor(sensor))
    assert (result, deferrals) == (None, [])


def test_the_trigger_waits_until_the_manifest_is_complete(aws, sensor):
    cut_short = json.loads(json.dumps(COMPLETE))
    cut_short["files"].pop()
    put(aws, sensor, json.dumps(cut_short).encode())
    # The writer finishes while the trigger waits: it must see the incomplete one first, then the complete one.
    finisher = threading.Timer(1.5, put, (aws, sensor, json.dumps(COMPLETE).encode()))
    finisher.start()
    started = time.monotonic()
    try:
        _, deferrals = run_deferred(deferred_sensor(sensor, timeout=600))
    finally:
        finisher.join()
    assert time.monotonic() - started >= 1.5
    [deferred] = deferrals
    assert isinstance(deferred.trigger, ManifestCompleteTrigger)
    assert deferred.timeout == timedelta(seconds=600)
    assert deferred.trigger.serialize() == ("indata_ops.triggers.manifest.ManifestCompleteTrigger", {
        "bucket_name": sensor.bucket_name, "bucket_key": KEY, "dataset": "ventas", "run_date": DAY,
        "poke_interval": 0.2, "aws_conn_id": sensor.aws_conn_id, "region_name": None, "verify": None,
        "botocore_config": None})


def test_the_trigger_reports_an_unreadable_bucket(aws_connection):
    trigger = ManifestCompleteTrigger(bucket_name="no-such-bucket-for-manifests", bucket_key=KEY, dataset="ventas",
                                      run_date=DAY, aws_conn_id=aws_connection)
    [event] = trigger_events(trigger)
    assert event.payload["status"] == "error"
    assert "s3://no-such-bucket-for-manifests/" in event.payload["message"]
    assert "NoSuchBucket" in event.payload["message"]
    with pytest.raises(AirflowException, match="NoSuchBucket"):
        ManifestSensor(task_id="w", bucket_name="b", bucket_key=KEY, dataset="ventas", run_date=DAY,
                       deferrable=True).execute_complete({}, event.payload)
