"""The input fingerprint and the branch that skips an unchanged date's crawl and Glue job, on the local stack.

The manifest is written by the real BackupFilesOperator; the committed counts.json is what the Glue job writes
(tests/dags/test_indata_backup_runs.py runs the whole chain twice through Airflow).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path

import pytest
from deferred_run import task_context

from indata_ops.fingerprint import input_fingerprint, manifest_content
from indata_ops.layout import job_counts_key, manifest_key
from indata_ops.operators.fingerprint import CheckFingerprintOperator

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "include" / "spark" / "clean_dataset.py"
PACKAGES = [REPO / "include" / "spark" / "indata_clean", REPO / "plugins" / "indata_contract"]
DAY = "2026-11-01"
CRAWL, VALIDATE = "ventas.crawl_raw", "ventas.validate_clean"
FILES = {"a.csv": b"id;nombre\n1;uno\n", "sub/b.csv": b"id;nombre\n2;dos\n"}


@pytest.fixture()
def date(aws, aws_connection, tmp_path):
    """A bucket holding one backed-up date of ventas, and the source folder it came from."""
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator

    bucket = f"fingerprint-{uuid.uuid4().hex[:12]}"
    aws("s3").create_bucket(Bucket=bucket)
    dataset = dataclasses.replace(load_config().dataset("ventas"), source="ventas/{ds}/**/*.csv")
    for path, data in FILES.items():
        (tmp_path / "source" / "ventas" / DAY / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "source" / "ventas" / DAY / path).write_bytes(data)

    def backup(full_refresh: bool = False) -> None:
        BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(tmp_path / "source"),
                            run_date=DAY, bucket=bucket, full_refresh=full_refresh,
                            aws_conn_id=aws_connection).execute({})

    backup()
    return {"bucket": bucket, "source": tmp_path / "source" / "ventas" / DAY, "backup": backup,
            "conn": aws_connection, "s3": aws("s3")}


def check(date, **changes) -> CheckFingerprintOperator:
    arguments = {"--dataset": "ventas", "--run_date": DAY, "--dataset_config": json.dumps({"keys": ["id"]})}
    settings = {"dataset": "ventas", "run_date": DAY, "bucket": date["bucket"], "script_location": str(SCRIPT),
                "py_packages": [str(p) for p in PACKAGES], "job_arguments": arguments,
                "crawler_config": {"Name": "raw-ventas", "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"}},
                "glue_version": "5.0", "crawl_task_id": CRAWL, "validate_task_id": VALIDATE,
                "full_refresh": "False", "aws_conn_id": date["conn"]}
    return CheckFingerprintOperator(task_id="check_fingerprint", **{**settings, **changes})


def branch(operator: CheckFingerprintOperator) -> tuple[str, str]:
    """(the task followed, the fingerprint pushed for the clean job)."""
    context = task_context()
    followed = operator.choose_branch(context)
    return followed, context["ti"].pushed["fingerprint"]


def commit(date, fingerprint: str | None) -> None:
    """counts.json as the Glue job leaves it after a successful run given ``--input_fingerprint``."""
    body = {"dataset": "ventas", "run_date": DAY, "input": 2, "clean": 2, "input_fingerprint": fingerprint}
    date["s3"].put_object(Bucket=date["bucket"], Key=job_counts_key("ventas", DAY), Body=json.dumps(body).encode())


@pytest.fixture()
def committed(date):
    """The date after a run that cleaned it: counts.json holds the fingerprint of its inputs."""
    followed, fingerprint = branch(check(date))
    assert followed == CRAWL  # no counts.json yet: never cleaned
    commit(date, fingerprint)
    return fingerprint


def test_an_unchanged_date_skips_to_validation_and_says_why(date, committed, capsys):
    operator = check(date)
    assert branch(operator) == (VALIDATE, committed)
    assert (f"{CRAWL} and the Glue job after it skipped: input fingerprint {committed} equals the committed clean "
            f"partition's (s3://{date['bucket']}/job-reports/ventas/dt={DAY}/counts.json)") in capsys.readouterr().out


def test_a_manifest_rewritten_for_the_same_bytes_keeps_the_fingerprint(date, committed):
    key = manifest_key("ventas", DAY)
    before = json.loads(date["s3"].get_object(Bucket=date["bucket"], Key=key)["Body"].read())
    date["backup"](full_refresh=True)  # re-reads and re-checks every file, writes the manifest again
    (date["source"] / "a.csv").touch()  # a new mtime, the same bytes
    date["backup"]()
    after = json.loads(date["s3"].get_object(Bucket=date["bucket"], Key=key)["Body"].read())
    assert after["files"] != before["files"]  # the touched file's mtime
    assert manifest_content(after) == manifest_content(before)
    assert branch(check(date)) == (VALIDATE, committed)


def test_a_changed_file_runs_the_crawl_and_the_job(date, committed):
    (date["source"] / "sub" / "b.csv").write_bytes(FILES["sub/b.csv"] + b"3;tres\n")
    date["backup"]()
    followed, fingerprint = branch(check(date))
    assert (followed, fingerprint != committed) == (CRAWL, True)


def test_a_new_file_runs_the_crawl_and_the_job(date, committed):
    (date["source"] / "c.csv").write_bytes(b"id;nombre\n4;cuatro\n")
    date["backup"]()
    assert branch(check(date))[0] == CRAWL


def test_a_changed_dataset_contract_runs_the_crawl_and_the_job(date, committed):
    arguments = {"--dataset": "ventas", "--run_date": DAY, "--dataset_config": json.dumps({"keys": ["nombre"]})}
    assert branch(check(date, job_arguments=arguments))[0] == CRAWL


def test_a_changed_crawler_config_or_glue_version_runs_the_crawl_and_the_job(date, committed):
    assert branch(check(date, crawler_config={"Name": "raw-ventas"}))[0] == CRAWL
    assert branch(check(date, glue_version="4.0"))[0] == CRAWL


def test_a_changed_job_script_runs_the_crawl_and_the_job(date, committed, tmp_path):
    script = tmp_path / "clean_dataset.py"
    shutil.copy(SCRIPT, script)
    assert branch(check(date, script_location=str(script))) == (VALIDATE, committed)  # a copy is the same script
    script.write_text(SCRIPT.read_text() + "\n# a changed line\n")
    assert branch(check(date, script_location=str(script)))[0] == CRAWL


def test_a_changed_job_module_runs_the_crawl_and_the_job(date, committed, tmp_path):
    package = tmp_path / "indata_clean"
    shutil.copytree(PACKAGES[0], package, ignore=shutil.ignore_patterns("__pycache__"))
    packages = [str(package), str(PACKAGES[1])]
    assert branch(check(date, py_packages=packages))[0] == VALIDATE
    (package / "parsing.py").write_text((package / "parsing.py").read_text() + "\n# a changed line\n")
    assert branch(check(date, py_packages=packages))[0] == CRAWL


def test_full_refresh_runs_everything_whatever_the_fingerprint(date, committed, capsys):
    assert branch(check(date, full_refresh="True")) == (CRAWL, committed)
    assert "full_refresh: crawling and cleaning ventas dt=2026-11-01" in capsys.readouterr().out


@pytest.mark.parametrize("counts", ["missing", "without a fingerprint", "not JSON"])
def test_a_date_without_a_committed_fingerprint_runs(date, counts, capsys):
    key = job_counts_key("ventas", DAY)
    if counts == "without a fingerprint":  # written by a job before fingerprints, or run without one
        commit(date, None)
    elif counts == "not JSON":
        date["s3"].put_object(Bucket=date["bucket"], Key=key, Body=b"{cut short")
    assert branch(check(date))[0] == CRAWL
    assert "committed clean partition's none" in capsys.readouterr().out


def test_the_fingerprint_covers_each_input_and_ignores_version_ids():
    manifest = {"files": [{"path": "a.csv", "size": 3, "sha256": "x", "version_id": "v1", "mtime": 1}]}
    inputs = {"manifest": manifest, "script": b"s", "packages": b"p", "job_arguments": {"--a": "1"},
              "crawler_config": {"Name": "c"}, "versions": {"glue": "5.0"}}
    base = input_fingerprint(**inputs)
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64
    renamed = {"files": [{**manifest["files"][0], "version_id": "v2", "mtime": 2}]}
    assert input_fingerprint(**{**inputs, "manifest": renamed}) == base
    for name, value in [("manifest", {"files": [{**manifest["files"][0], "size": 4}]}), ("script", b"t"),
                        ("packages", b"q"), ("job_arguments", {"--a": "2"}), ("crawler_config", {"Name": "d"}),
                        ("versions", {"glue": "4.0"})]:
        assert input_fingerprint(**{**inputs, name: value}) != base, name


def test_a_manifest_without_content_fields_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"manifest of 'ventas' dt='2026-11-01' lacks files\[\]\.path/size/sha256"):
        manifest_content({"dataset": "ventas", "run_date": DAY, "files": [{"path": "a.csv", "size": 1}]})
