"""The S3 journal of the state store, in-process against moto's backend: what a restart must give back.

test_s3_and_state.py covers the same through the server (clean stop and crash); these cover the journal's own
cases: a torn last record, compaction, deletions, the data-file path for big objects, and state directories
written by the earlier one-file-per-key layout.
"""
from __future__ import annotations

import os
import pickle

import boto3
import pytest
from moto import mock_aws
from moto.s3.models import s3_backends

from local_aws import persistence
from local_aws.persistence import S3_REGION, StateStore, _digest

ACCOUNT = "123456789012"
BUCKET = "journal-test"


@pytest.fixture()
def s3():
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def restart(root) -> StateStore:
    """A new process, as far as moto and the store can tell: S3 emptied, then restored from the directory."""
    s3_backends[ACCOUNT][S3_REGION].reset()
    store = StateStore(root)
    store.restore()
    return store


def put(s3, store: StateStore, key: str, body: bytes, bucket: str = BUCKET) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    store.save_key(bucket, key)


def body(s3, key: str, bucket: str = BUCKET, **kwargs) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def make_bucket(s3, store: StateStore, bucket: str = BUCKET) -> None:
    s3.create_bucket(Bucket=bucket)
    store.save_bucket(bucket)


def test_small_objects_live_in_the_journal_and_come_back(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "a.txt", b"first")
    put(s3, store, "a.txt", b"second")  # an overwrite: the later record wins
    put(s3, store, "dir/b.bin", os.urandom(70_000))
    expected = body(s3, "dir/b.bin")
    etag = s3.head_object(Bucket=BUCKET, Key="a.txt")["ETag"]
    bucket_dir = tmp_path / "s3" / ACCOUNT / BUCKET
    assert (bucket_dir / "journal").is_file()
    assert not (bucket_dir / "data").exists() and not (bucket_dir / "keys").exists()  # no file per small key

    restart(tmp_path)
    assert body(s3, "a.txt") == b"second"
    assert body(s3, "dir/b.bin") == expected
    assert s3.head_object(Bucket=BUCKET, Key="a.txt")["ETag"] == etag


def test_deleted_keys_stay_deleted(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "gone.txt", b"x")
    put(s3, store, "kept.txt", b"y")
    s3.delete_object(Bucket=BUCKET, Key="gone.txt")
    store.save_key(BUCKET, "gone.txt")

    restart(tmp_path)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["kept.txt"]


def test_a_torn_last_record_is_dropped_and_writing_goes_on(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "whole.txt", b"complete")
    journal = tmp_path / "s3" / ACCOUNT / BUCKET / "journal"
    size = journal.stat().st_size
    with journal.open("ab") as handle:  # a crash in the middle of the next record's write
        handle.write(persistence._FRAME.pack(1000, 0) + b"only part of it")

    store = restart(tmp_path)
    assert body(s3, "whole.txt") == b"complete"
    assert journal.stat().st_size == size  # cut back to the last whole record
    put(s3, store, "after.txt", b"after the crash")
    restart(tmp_path)
    assert body(s3, "after.txt") == b"after the crash"
    assert body(s3, "whole.txt") == b"complete"


def test_big_objects_and_versions_go_to_data_files(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    big = os.urandom(6 * 1024 * 1024)  # spilled to a temp file by moto: copied with sendfile
    middle = os.urandom(2 * 1024 * 1024)  # over INLINE_MAX, still in moto's memory
    put(s3, store, "big.bin", big)
    put(s3, store, "middle.bin", middle)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    store.save_bucket(BUCKET)
    v1 = s3.put_object(Bucket=BUCKET, Key="v.txt", Body=b"one")["VersionId"]
    store.save_key(BUCKET, "v.txt")
    put(s3, store, "v.txt", b"two")

    restart(tmp_path)
    assert body(s3, "big.bin") == big
    assert body(s3, "middle.bin") == middle
    assert body(s3, "v.txt") == b"two"
    assert body(s3, "v.txt", VersionId=v1) == b"one"


def test_a_small_overwrite_of_a_big_object_drops_its_data_file(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "k.bin", os.urandom(2 * 1024 * 1024))
    data_dir = tmp_path / "s3" / ACCOUNT / BUCKET / "data" / _digest("k.bin")
    assert data_dir.is_dir()
    put(s3, store, "k.bin", b"small now")
    assert not data_dir.exists()
    restart(tmp_path)
    assert body(s3, "k.bin") == b"small now"


def test_the_journal_is_compacted(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(persistence, "JOURNAL_GARBAGE_MIN", 200_000)
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "stable.bin", b"s" * 1000)
    for round_ in range(40):
        put(s3, store, "hot.bin", bytes([round_]) * 50_000)
    journal = tmp_path / "s3" / ACCOUNT / BUCKET / "journal"
    assert journal.stat().st_size < 500_000  # 40 x 50 KB written, most of it superseded and compacted away

    store = restart(tmp_path)
    assert body(s3, "hot.bin") == bytes([39]) * 50_000
    assert body(s3, "stable.bin") == b"s" * 1000
    put(s3, store, "new.txt", b"appended after a compaction")
    restart(tmp_path)
    assert body(s3, "new.txt") == b"appended after a compaction"


def test_state_of_the_one_file_per_key_layout_is_read_and_moved_into_the_journal(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    s3.put_object(Bucket=BUCKET, Key="old.txt", Body=b"written by the earlier layout")
    version = s3_backends[ACCOUNT][S3_REGION].buckets[BUCKET].keys.getlist("old.txt")[0]
    meta = {k: v for k, v in version.__dict__.items() if k not in ("_value_buffer", "lock")}
    meta["multipart"] = None
    bucket_dir = tmp_path / "s3" / ACCOUNT / BUCKET
    (bucket_dir / "keys").mkdir()
    (bucket_dir / "keys" / f"{_digest('old.txt')}.pkl").write_bytes(
        pickle.dumps({"name": "old.txt", "versions": [meta]}))
    (bucket_dir / "data" / _digest("old.txt")).mkdir(parents=True)
    (bucket_dir / "data" / _digest("old.txt") / "null").write_bytes(b"written by the earlier layout")

    store = restart(tmp_path)
    assert body(s3, "old.txt") == b"written by the earlier layout"
    assert not (bucket_dir / "keys").exists()
    put(s3, store, "old.txt", b"rewritten")  # now inline: the old data file goes
    assert not (bucket_dir / "data" / _digest("old.txt")).exists()
    restart(tmp_path)
    assert body(s3, "old.txt") == b"rewritten"


def test_a_deleted_and_recreated_bucket_starts_empty(s3, tmp_path):
    store = StateStore(tmp_path)
    make_bucket(s3, store)
    put(s3, store, "x.txt", b"x")
    s3.delete_object(Bucket=BUCKET, Key="x.txt")
    store.save_key(BUCKET, "x.txt")
    s3.delete_bucket(Bucket=BUCKET)
    store.save_bucket(BUCKET)
    make_bucket(s3, store)
    put(s3, store, "y.txt", b"y")

    restart(tmp_path)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["y.txt"]
