"""`--extra-py-files`: the job's Python modules come from S3 (.zip and .py), on the script's path as on Glue."""
from __future__ import annotations

import io
import time
import zipfile

import pytest

from local_aws.glue.job_runner import extra_py_files

BUCKET = "glue-py-files"
# Imports one module from a zipped package and one plain .py file; neither is next to the script.
SCRIPT = b'''
import sys
from shipped.greeting import hello
import helper
print(hello(), helper.VALUE)
'''


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _finished(glue, job: str, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module")
def shipped(aws):
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="scripts/main.py", Body=SCRIPT)
    s3.put_object(Bucket=BUCKET, Key="scripts/modules.zip", Body=_zip(
        {"shipped/__init__.py": "", "shipped/greeting.py": "def hello():\n    return 'hello from the zip'\n"}))
    s3.put_object(Bucket=BUCKET, Key="scripts/lib/helper.py", Body=b"VALUE = 'and the .py'\n")
    return s3, glue


def _job(glue, name: str, py_files: str | None) -> str:
    arguments = {"--extra-py-files": py_files} if py_files is not None else {}
    glue.create_job(Name=name, Role="r", Command={"Name": "glueetl", "ScriptLocation": f"s3://{BUCKET}/scripts/main.py"},
                    DefaultArguments=arguments)
    return glue.start_job_run(JobName=name)["JobRunId"]


def test_zip_and_py_modules_are_importable_by_the_script(shipped, aws):
    _, glue = shipped
    py_files = f"s3://{BUCKET}/scripts/modules.zip,s3://{BUCKET}/scripts/lib/helper.py"
    run = _finished(glue, "py-files-ok", _job(glue, "py-files-ok", py_files))
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    events = aws("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=run["Id"])["events"]
    assert "hello from the zip and the .py" in [e["message"] for e in events]


def test_without_the_modules_the_script_cannot_import_them(shipped):
    _, glue = shipped
    run = _finished(glue, "py-files-none", _job(glue, "py-files-none", None))
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ModuleNotFoundError: No module named 'shipped'"


def test_a_missing_module_fails_the_run_naming_it(shipped):
    _, glue = shipped
    missing = f"s3://{BUCKET}/scripts/absent.zip"
    run = _finished(glue, "py-files-missing", _job(glue, "py-files-missing", missing))
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith(f"--extra-py-files: {missing} could not be read")


def test_only_s3_py_and_zip_files_are_taken() -> None:
    argv = ["--JOB_NAME", "j", "--extra-py-files", "s3://b/a.zip, s3://b/c.py"]
    assert extra_py_files(argv) == ["s3://b/a.zip", "s3://b/c.py"]
    assert extra_py_files(["--JOB_NAME", "j"]) == []
    with pytest.raises(ValueError, match="'s3://b/lib.whl'"):
        extra_py_files(["--extra-py-files", "s3://b/lib.whl"])
    with pytest.raises(ValueError, match="'/tmp/a.zip'"):
        extra_py_files(["--extra-py-files", "/tmp/a.zip"])
