"""The real DAG, end to end, on the local AWS stack: `make run` for two dates, then a rerun of the first (nothing
changed: its crawl and Glue job are skipped, its validation runs).

Everything is real: Airflow (dag.test with its metadata DB), the local stack (S3, crawler, a Glue job on local
PySpark, Athena on DuckDB) and the bundled sample data.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from indata_ops.config import load_config
from scripts.common import REPO, module_command, module_environment

FIRST, SECOND = "2026-11-01", "2026-11-02"
EXPECTED = json.loads((REPO / "include" / "sample_data" / "expected_counts.json").read_text())
CONFIG = load_config()
BUCKET = CONFIG.settings.bucket
TASKS = ("backup_files", "wait_for_manifest", "check_fingerprint", "crawl_raw", "clean_dataset", "validate_clean")


def make_run(stack, local_dir: Path, run_date: str) -> dict:
    result = subprocess.run(module_command("scripts.run_local", "--date", run_date, "--port", str(stack.port),
                                           "--local-dir", str(local_dir)),
                            cwd=REPO, env=module_environment(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads((local_dir / "runs" / run_date / "summary.json").read_text())


def objects(s3, prefix: str) -> dict[str, str]:
    """key -> ETag under a prefix."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture(scope="module")
def runs(stack, aws, tmp_path_factory):
    """Run FIRST, SECOND, then FIRST again; keep what each run left behind."""
    local_dir = tmp_path_factory.mktemp("make-run")
    s3 = aws("s3")
    first = make_run(stack, local_dir, FIRST)
    after_first = objects(s3, "clean/")
    second = make_run(stack, local_dir, SECOND)
    after_second = objects(s3, "clean/")
    rerun = make_run(stack, local_dir, FIRST)
    after_rerun = objects(s3, "clean/")
    return {"first": first, "second": second, "rerun": rerun, "clean_after_first": after_first,
            "clean_after_second": after_second, "clean_after_rerun": after_rerun}


@pytest.mark.parametrize("which,run_date", [("first", FIRST), ("second", SECOND), ("rerun", FIRST)])
def test_every_task_succeeds_with_the_expected_counts(runs, which, run_date):
    summary = runs[which]
    assert summary["state"] == "success"
    for dataset in CONFIG.datasets:
        result = summary["datasets"][dataset.name]
        skipped = {"crawl_raw", "clean_dataset"} if which == "rerun" else set()
        assert result["states"] == {task: "skipped" if task in skipped else "success" for task in TASKS}
        assert set(result["durations"]) == set(TASKS)
        assert all(result["durations"][task] == 0.0 for task in skipped)
        assert all(result["durations"][task] > 0 for task in TASKS if task not in skipped)
        expected = EXPECTED[dataset.name][run_date]
        counts = result["counts"]
        assert (counts["input"], counts["clean"], counts["rejected"], counts["duplicates"]) == (
            expected["rows_in"], expected["clean"], expected["rejected"],
            expected["exact_duplicates"] + expected["duplicate_keys"])
        assert counts["rejects_by_reason"] == expected["rejected_by_reason"]
        assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"]
        # Validation's own 7 checks (keys, accounting, the backup's record count), the dataset's declared ones, and
        # schema drift once a previous date has a report (row count and null shares need 3 prior dates).
        checks = 7 + len(CONFIG.quality[dataset.name].checks) + (run_date > FIRST)
        assert result["checks_passed"] == f"{checks}/{checks}"
        assert result["warnings"] == []  # both datasets declare a schema: nothing was inferred


def test_raw_objects_are_byte_identical_to_the_source_files(runs, aws):
    s3 = aws("s3")
    for dataset in CONFIG.datasets:
        for run_date in (FIRST, SECOND):
            manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"manifests/{dataset.name}/dt={run_date}/"
                                                "manifest.json")["Body"].read())
            local_files = sorted(CONFIG.settings.source_root.glob(dataset.source_glob(run_date)))
            assert [entry["path"] for entry in manifest["files"]] == [p.name for p in local_files]
            for entry, path in zip(manifest["files"], local_files):
                body = s3.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
                assert body == path.read_bytes()
                assert entry["sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
            assert manifest["totals"] == {"files": len(local_files),
                                          "bytes": sum(p.stat().st_size for p in local_files),
                                          "records": EXPECTED[dataset.name][run_date]["rows_in"]}


def test_rerun_sends_nothing_and_rewrites_nothing(runs):
    for dataset in CONFIG.datasets:
        assert runs["first"]["datasets"][dataset.name]["bytes_sent"] > 0
        assert runs["rerun"]["datasets"][dataset.name]["bytes_sent"] == 0
    second_date = {k: v for k, v in runs["clean_after_second"].items() if f"/dt={SECOND}/" in k}
    assert second_date and all(runs["clean_after_rerun"].get(k) == v for k, v in second_date.items())
    first_date = {k: v for k, v in runs["clean_after_first"].items() if f"/dt={FIRST}/" in k}
    # The rerun's inputs did not change, so its Glue job did not run: the first date's files are those of the
    # first run (Spark would have named new ones).
    assert first_date and {k: v for k, v in runs["clean_after_rerun"].items() if f"/dt={FIRST}/" in k} == first_date
    # Its task time is a fraction of the first run's (the measured figures are in docs/operating.md).
    task_time = lambda which: sum(sum(d["durations"].values()) for d in runs[which]["datasets"].values())  # noqa: E731
    assert task_time("rerun") < task_time("first") / 2


def test_catalog_has_both_partitions_in_raw_and_clean(runs, aws):
    glue = aws("glue")
    for dataset in CONFIG.datasets:
        for database in (CONFIG.settings.raw_database, CONFIG.settings.clean_database):
            partitions = glue.get_partitions(DatabaseName=database, TableName=dataset.name)["Partitions"]
            assert sorted(p["Values"][0] for p in partitions) == [FIRST, SECOND], (database, dataset.name)
