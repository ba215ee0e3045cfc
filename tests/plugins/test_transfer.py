"""The backup engine on the local stack: concurrent PUTs, multipart with per-part SHA-256, verification (S3's
answer and one listing, no HEAD), resume, cheap reruns, server-side copies for snapshots, concurrency that follows
the round trip within a memory budget, progress, and files that change while they are read."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter

import pytest
from airflow.sdk.exceptions import AirflowException

from indata_ops.config import load_config
from indata_ops.hooks.backup import MAX_POOL_CONNECTIONS, BackupHook
from indata_ops.sources import list_sources
from indata_ops.transfer import BackupRun, Progress, TransferSettings, VerificationError, in_flight

MiB = 1024 * 1024
DAY, NEXT_DAY = "2026-11-01", "2026-11-02"
DATED = dataclasses.replace(load_config().dataset("ventas"), source="ventas/{ds}/**/*")
SNAPSHOT = dataclasses.replace(DATED, source="ventas/**/*")
# Parts of 5 MiB (S3's minimum) so that an 11 MiB file has three parts.
SMALL_PARTS = TransferSettings(workers=4, multipart_threshold=5 * MiB, part_size=5 * MiB, part_workers=2,
                               max_buffered_bytes=15 * MiB, retry_pause=0.1)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


@pytest.fixture()
def bucket(aws):
    name = f"transfer-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture()
def hook(aws_connection):
    return BackupHook(aws_conn_id=aws_connection, region_name="us-east-1")


def write(root, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def run(hook, bucket, root, dataset=DATED, day=DAY, settings=SMALL_PARTS, **kwargs):
    engine = BackupRun(hook, bucket=bucket, dataset=dataset.name, run_date=day, snapshot=dataset.is_snapshot,
                       package_version="test", extra_args={"ServerSideEncryption": "AES256"}, settings=settings,
                       **kwargs)
    return engine.run(list_sources(root, dataset, day))


def manifest(s3, bucket, day=DAY) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=f"manifests/ventas/dt={day}/manifest.json")["Body"].read())


def test_many_small_files_and_a_multipart_file_land_verified(tmp_path, aws, bucket, hook):
    small = {f"sub/f{i:03d}.csv": os.urandom(100 + i) for i in range(40)}
    large = os.urandom(11 * MiB + 5)
    for relative, data in small.items():
        write(tmp_path, f"ventas/{DAY}/{relative}", data)
    write(tmp_path, f"ventas/{DAY}/big.bin", large)
    summary = run(hook, bucket, tmp_path)
    assert (summary.files, summary.sent, summary.bytes_sent) == (41, 41, sum(map(len, small.values())) + len(large))
    s3 = aws("s3")
    document = manifest(s3, bucket)
    entries = {entry["path"]: entry for entry in document["files"]}
    assert document["totals"] == {"files": 41, "bytes": summary.bytes, "records": None}  # no format: not counted
    big = entries["big.bin"]
    assert s3.get_object(Bucket=bucket, Key=big["key"])["Body"].read() == large
    assert big["sha256"] == b64(hashlib.sha256(large).digest())
    parts = [large[start:start + 5 * MiB] for start in range(0, len(large), 5 * MiB)]
    composite = b64(hashlib.sha256(b"".join(hashlib.sha256(part).digest() for part in parts)).digest())
    # S3 reports the checksum of the parts' checksums; the local stack leaves out AWS's "-3" suffix.
    assert big["part_size"] == 5 * MiB and big["s3_checksum"] in (composite, f"{composite}-3")
    for relative, data in small.items():
        entry = entries[relative]
        assert entry["sha256"] == entry["s3_checksum"] == b64(hashlib.sha256(data).digest())
        assert s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read() == data


def test_an_unchanged_rerun_reads_nothing_and_keeps_the_commit(tmp_path, aws, bucket, hook):
    write(tmp_path, f"ventas/{DAY}/a.csv", b"a")
    write(tmp_path, f"ventas/{DAY}/b.csv", b"b")
    run(hook, bucket, tmp_path)
    before = aws("s3").head_object(Bucket=bucket, Key=f"manifests/ventas/dt={DAY}/manifest.json")["ETag"]
    os.chmod(tmp_path / "ventas" / DAY / "a.csv", 0)  # would fail a read by anyone but root; proves no read
    rerun = run(hook, bucket, tmp_path)
    assert (rerun.bytes_sent, rerun.kept, rerun.committed) == (0, 2, False)
    assert aws("s3").head_object(Bucket=bucket, Key=f"manifests/ventas/dt={DAY}/manifest.json")["ETag"] == before


def test_a_full_refresh_rechecks_and_repairs_what_changed_behind_its_back(tmp_path, aws, bucket, hook):
    write(tmp_path, f"ventas/{DAY}/a.csv", b"original")
    run(hook, bucket, tmp_path)
    aws("s3").put_object(Bucket=bucket, Key=f"raw/ventas/dt={DAY}/a.csv", Body=b"tampered")
    assert run(hook, bucket, tmp_path).bytes_sent == 0  # trusted by size and mtime: the documented trade-off
    repaired = run(hook, bucket, tmp_path, full_refresh=True)
    assert (repaired.sent, repaired.bytes_sent) == (1, len(b"original"))
    assert aws("s3").get_object(Bucket=bucket, Key=f"raw/ventas/dt={DAY}/a.csv")["Body"].read() == b"original"


def test_an_interrupted_multipart_upload_resumes_sending_only_missing_parts(tmp_path, aws, bucket, hook):
    data = os.urandom(11 * MiB)
    write(tmp_path, f"ventas/{DAY}/big.bin", data)
    key = f"raw/ventas/dt={DAY}/big.bin"
    upload_id = hook.start_upload(bucket, key, {})
    first = data[:5 * MiB]
    hook.upload_part(bucket, key, upload_id, 1, first, b64(hashlib.sha256(first).digest()))
    # A part is reused only when S3 reports its SHA-256 (AWS does; the local stack's ListParts does not, so
    # there it is sent again): an ETag is no proof of content.
    reported = hook.pending_upload(bucket, key).parts[1][1] is not None
    summary = run(hook, bucket, tmp_path)
    assert summary.bytes_sent == len(data) - (5 * MiB if reported else 0)
    s3 = aws("s3")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)  # the interrupted upload was the one completed


def test_snapshot_files_unchanged_since_the_previous_date_are_copied(tmp_path, aws, bucket, hook):
    write(tmp_path, "ventas/same.csv", b"unchanged")
    write(tmp_path, "ventas/big.bin", os.urandom(6 * MiB))
    write(tmp_path, "ventas/moved.csv", b"before")
    run(hook, bucket, tmp_path, dataset=SNAPSHOT, day=DAY)
    write(tmp_path, "ventas/moved.csv", b"after!")
    summary = run(hook, bucket, tmp_path, dataset=SNAPSHOT, day=NEXT_DAY)
    assert (summary.copied, summary.sent, summary.bytes_sent) == (2, 1, len(b"after!"))
    s3 = aws("s3")
    for entry in manifest(s3, bucket, NEXT_DAY)["files"]:
        assert s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read() == (tmp_path / "ventas" / entry[
            "path"]).read_bytes()


def test_a_file_changed_between_listing_and_reading_fails_naming_it(tmp_path, aws, bucket, hook):
    write(tmp_path, f"ventas/{DAY}/growing.csv", b"first line\n")
    listing = list_sources(tmp_path, DATED, DAY)
    with (tmp_path / "ventas" / DAY / "growing.csv").open("ab") as handle:
        handle.write(b"second line\n")
    engine = BackupRun(hook, bucket=bucket, dataset="ventas", run_date=DAY, snapshot=False, package_version="test",
                       extra_args={}, settings=SMALL_PARTS)
    with pytest.raises(AirflowException, match=re.escape(f"{tmp_path}/ventas/{DAY}/growing.csv changed while")):
        engine.run(listing)
    assert "Contents" not in aws("s3").list_objects_v2(Bucket=bucket, Prefix="manifests/")


def test_progress_reports_files_bytes_rate_and_eta(caplog):
    progress = Progress("Backup of ventas", files=4, size=4 * MiB, interval=0)
    with caplog.at_level(logging.INFO, logger="indata_ops.transfer"):
        progress.advance(files=1, size=MiB)
    (message,) = [record.getMessage() for record in caplog.records]
    assert re.fullmatch(r"Backup of ventas: 1/4 files, 1\.0/4\.0 MiB, [\d.]+ MiB/s, \d+ files/s, ETA \d+ s", message)


def count_requests(hook) -> Counter:
    """Every S3 request the hook's client makes, by operation (botocore's before-call event)."""
    calls: Counter = Counter()
    hook.get_conn().meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    return calls


def test_one_request_per_small_file_and_one_listing_per_thousand_keys(tmp_path, bucket, hook):
    files = 1005
    for i in range(files):
        write(tmp_path, f"ventas/{DAY}/f{i:04d}.csv", f"{i}\n".encode())
    calls = count_requests(hook)
    summary = run(hook, bucket, tmp_path, settings=TransferSettings())
    assert (summary.files, summary.sent) == (files, files)
    # The manifest's GET and its delete, the LIST that finds what a run left, one PUT per file, the LIST that
    # confirms them (2 pages of 1,000 keys), the manifest's PUT. No HEAD.
    assert calls == {"GetObject": 1, "DeleteObjects": 1, "ListObjectsV2": 1 + 2, "PutObject": files + 1}


def test_small_bodies_go_without_waiting_for_100_continue_and_parts_still_ask_for_it(tmp_path, bucket, hook):
    # botocore asks every PUT to wait one round trip for "100 Continue"; the hook drops that below 2 MiB.
    write(tmp_path, f"ventas/{DAY}/small.csv", b"id\n1\n")
    write(tmp_path, f"ventas/{DAY}/large.csv", b"x" * (11 * MiB))
    sent: list[tuple[str, int, bytes | str | None]] = []
    hook.get_conn().meta.events.register("before-send.s3", lambda request, **_: sent.append((
        request.method, int(request.headers.get("Content-Length") or 0), request.headers.get("Expect"))))
    run(hook, bucket, tmp_path)
    expects = {(size, expect) for method, size, expect in sent if method == "PUT" and size}
    # the small file, the 1 MiB last part and the manifest go at once; the 5 MiB parts wait for the go-ahead
    assert (5, None) in expects and (1 * MiB, None) in expects
    assert (5 * MiB, b"100-continue") in expects
    assert all(expect is None for size, expect in expects if size < 2 * MiB)


class Tampering(BackupHook):
    """Answers a PUT as S3 did, then deletes one object and shortens another behind the backup's back."""

    def put_bytes(self, bucket, key, data, checksum_sha256, extra_args):
        stored = super().put_bytes(bucket, key, data, checksum_sha256, extra_args)
        if key.endswith("/gone.csv"):
            self.get_conn().delete_object(Bucket=bucket, Key=key)
        if key.endswith("/short.csv"):
            self.get_conn().put_object(Bucket=bucket, Key=key, Body=data[:-3])
        return stored


def test_a_missing_or_short_object_fails_naming_it_and_the_retry_repairs_it(tmp_path, aws, bucket, hook,
                                                                              aws_connection):
    content = {"gone.csv": b"id\n1\n", "short.csv": b"id\n1\n2\n", "fine.csv": b"id\n3\n"}
    for name, data in content.items():
        write(tmp_path, f"ventas/{DAY}/{name}", data)
    tampering = Tampering(aws_conn_id=aws_connection, region_name="us-east-1")
    with pytest.raises(VerificationError) as failed:
        run(tampering, bucket, tmp_path)
    prefix = f"raw/ventas/dt={DAY}/"
    assert f"2 of 3 objects in s3://{bucket}/{prefix} are not as written" in str(failed.value)
    assert f"{prefix}gone.csv is missing" in str(failed.value)
    assert f"{prefix}short.csv has 4 bytes, 7 were sent" in str(failed.value)
    s3 = aws("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="manifests/")

    retried = run(hook, bucket, tmp_path)  # the task's retry
    assert (retried.sent, retried.kept) == (2, 1)
    for name, data in content.items():
        assert s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read() == data
    assert manifest(s3, bucket)["totals"] == {"files": 3, "bytes": sum(map(len, content.values())), "records": None}


class Lying(BackupHook):
    """A store whose answer names a checksum the bytes sent do not have."""

    def put_bytes(self, bucket, key, data, checksum_sha256, extra_args):
        stored = super().put_bytes(bucket, key, data, checksum_sha256, extra_args)
        return dataclasses.replace(stored, checksum_sha256=b64(hashlib.sha256(b"other").digest()))


def test_a_write_answered_with_another_checksum_fails_naming_the_key(tmp_path, bucket, aws_connection):
    data = b"id\n1\n"
    write(tmp_path, f"ventas/{DAY}/a.csv", data)
    settings = dataclasses.replace(SMALL_PARTS, file_attempts=1)
    answered, expected = b64(hashlib.sha256(b"other").digest()), b64(hashlib.sha256(data).digest())
    with pytest.raises(VerificationError, match=re.escape(
            f"s3://{bucket}/raw/ventas/dt={DAY}/a.csv: S3 answered the write with SHA-256 {answered}, "
            f"expected {expected}")):
        run(Lying(aws_conn_id=aws_connection, region_name="us-east-1"), bucket, tmp_path, settings=settings)


def test_files_in_flight_follow_the_round_trip():
    settings = TransferSettings()
    assert [in_flight(rtt, settings) for rtt in (0.0, 0.001, 0.020, 0.100, 1.0)] == [16, 16, 17, 84, 128]
    assert in_flight(0.100, TransferSettings(workers=2)) == 2
    # Every file and part in flight has a pooled connection: none waits for a socket.
    assert MAX_POOL_CONNECTIONS >= settings.workers + settings.part_workers


class Distant(BackupHook):
    """Each LIST and GET takes 50 ms longer, as over a long round trip."""

    def list_objects(self, bucket, prefix):
        time.sleep(0.05)
        return super().list_objects(bucket, prefix)

    def get_json_or_none(self, bucket, key):
        time.sleep(0.05)
        return super().get_json_or_none(bucket, key)


def test_a_long_round_trip_puts_more_files_in_flight(tmp_path, bucket, aws_connection, caplog):
    write(tmp_path, f"ventas/{DAY}/a.csv", b"a")
    engine = BackupRun(Distant(aws_conn_id=aws_connection, region_name="us-east-1"), bucket=bucket,
                       dataset="ventas", run_date=DAY, snapshot=False, package_version="test", extra_args={})
    with caplog.at_level(logging.INFO, logger="indata_ops.transfer"):
        engine.run(list_sources(tmp_path, DATED, DAY))
    assert engine.round_trip is not None and engine.round_trip >= 0.05
    workers = in_flight(engine.round_trip, TransferSettings())
    assert workers >= 42
    assert f"{workers} files in flight" in caplog.text


class Slow(BackupHook):
    """Sends slowly and records the most bytes its requests carried at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock, self.sending, self.most = threading.Lock(), 0, 0

    def _sending(self, size: int, send):
        with self.lock:
            self.sending += size
            self.most = max(self.most, self.sending)
        try:
            time.sleep(0.05)
            return send()
        finally:
            with self.lock:
                self.sending -= size

    def put_bytes(self, bucket, key, data, checksum_sha256, extra_args):
        return self._sending(len(data), lambda: super(Slow, self).put_bytes(bucket, key, data, checksum_sha256,
                                                                            extra_args))

    def upload_part(self, bucket, key, upload_id, number, data, checksum_sha256):
        return self._sending(len(data), lambda: super(Slow, self).upload_part(bucket, key, upload_id, number, data,
                                                                              checksum_sha256))


def test_bytes_read_and_not_yet_sent_stay_within_the_budget(tmp_path, bucket, aws_connection):
    for i in range(2):
        write(tmp_path, f"ventas/{DAY}/big{i}.bin", os.urandom(11 * MiB))
    for i in range(16):
        write(tmp_path, f"ventas/{DAY}/small{i:02d}.bin", os.urandom(MiB))
    # Unbounded, 8 file threads and 4 part threads would hold 8 MiB of small files and 20 MiB of parts at once.
    budget = 12 * MiB
    settings = TransferSettings(workers=8, min_workers=8, multipart_threshold=5 * MiB, part_size=5 * MiB,
                                part_workers=4, max_buffered_bytes=budget, retry_pause=0.1)
    hook = Slow(aws_conn_id=aws_connection, region_name="us-east-1")
    engine = BackupRun(hook, bucket=bucket, dataset="ventas", run_date=DAY, snapshot=False, package_version="test",
                       extra_args={}, settings=settings)
    summary = engine.run(list_sources(tmp_path, DATED, DAY))
    assert (summary.files, summary.sent) == (18, 18)
    assert 5 * MiB < hook.most <= engine.budget.peak <= budget
    assert engine.budget.used == 0
