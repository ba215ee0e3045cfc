"""Runs one Glue job run: the job's script from S3, on local PySpark, with Glue-style arguments.

How a script reads and writes `s3://` with no jar and no download: before the run, every S3 prefix named in the
run's arguments is mirrored into a local directory, and Hadoop's ViewFileSystemOverloadScheme (shipped with
PySpark) maps `s3://<bucket>/...` and `s3a://<bucket>/...` onto `<mirror>/<bucket>/...`. After the script
succeeds, new and changed files under the mirror are uploaded and mirrored files the script deleted are deleted,
so a dynamic partition overwrite replaces exactly what it replaced locally. boto3 in the script reaches this stack
through AWS_ENDPOINT_URL.

Python modules: `--extra-py-files` (comma-separated `s3://` .py and .zip files, as on Glue) are downloaded before
the run and put on the script's PYTHONPATH (a .zip itself, the folder of a .py), in the order given.

Limits: only prefixes named in the arguments are visible to Spark before the run (other paths read as empty);
the mirror costs a copy of those prefixes per run; results reach S3 only when the run succeeds (a failed run
writes nothing, which is stricter than S3); the `s3` paths are the only remote filesystem.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_aws.hive import split_s3_uri

log = logging.getLogger("local_aws.jobs")

TERMINAL_STATES = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
OUTPUT_LOG_GROUP = "/aws-glue/jobs/output"
ERROR_LOG_GROUP = "/aws-glue/jobs/error"
LOG_FLUSH_SECONDS = 1.0
# The last line of a Python traceback: "module.path.SomeError: message".
PYTHON_ERROR = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt))(?:: (.*))?$")
# A module-qualified exception with any name, e.g. botocore's "botocore.errorfactory.AccessDenied: ...".
QUALIFIED_ERROR = re.compile(r"^[a-z_]\w*(?:\.[a-z_]\w*)+\.([A-Z]\w*): (.+)$")
EXTRA_PY_FILES = "--extra-py-files"


def glue_argv(job: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """sys.argv[1:] as Glue builds it: its own ids first, then default, run and non-overridable arguments."""
    arguments = {**(job.get("DefaultArguments") or {}), **(run.get("Arguments") or {}),
                 **(job.get("NonOverridableArguments") or {})}
    argv = ["--JOB_ID", "j_" + run["Id"][3:35], "--JOB_RUN_ID", run["Id"], "--JOB_NAME", job["Name"]]
    for key, value in arguments.items():
        flag = key if key.startswith("--") else f"--{key}"
        argv += [flag, str(value)]
    return argv


def extra_py_files(argv: list[str]) -> list[str]:
    """The `--extra-py-files` URIs of a Glue argv, in order; a ValueError for one Glue would not take."""
    pairs = dict(zip(argv[0::2], argv[1::2]))
    uris = [uri.strip() for uri in pairs.get(EXTRA_PY_FILES, "").split(",") if uri.strip()]
    for uri in uris:
        if not uri.startswith("s3://") or not uri.endswith((".py", ".zip")):
            raise ValueError(f"{EXTRA_PY_FILES} takes s3:// paths of .py and .zip files (got {uri!r})")
    return uris


def python_error(stderr_text: str, exit_code: int) -> str:
    """The script's Python error, as Glue reports it in ErrorMessage."""
    for line in reversed(stderr_text.strip().splitlines()):
        match = PYTHON_ERROR.match(line.strip()) or QUALIFIED_ERROR.match(line.strip())
        if match:
            name, message = match.groups()
            return f"{name}: {message}" if message else name
    return f"Command failed with exit code {exit_code}"


class S3Mirror:
    """A local copy of S3 prefixes that Spark sees as s3:// paths, synced back after a successful run."""

    def __init__(self, root: Path, s3_client):
        self.root = root
        self.s3 = s3_client
        self.snapshot: dict[str, tuple[int, int]] = {}  # "bucket/key" -> (size, mtime_ns) after download

    def local_path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def pull(self, uri: str) -> int:
        bucket, prefix = split_s3_uri(uri)
        self.local_path(bucket, "").mkdir(parents=True, exist_ok=True)
        paginator = self.s3.get_paginator("list_objects_v2")
        count = 0
        # "s3://b/a/x" may be an object or a folder: take the object and anything under "a/x/".
        folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/")):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/") or not (key == prefix or key.startswith(folder) or not prefix):
                    continue
                target = self.local_path(bucket, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, key, str(target))
                stat = target.stat()
                self.snapshot[f"{bucket}/{key}"] = (stat.st_size, stat.st_mtime_ns)
                count += 1
        if prefix.endswith("/") or not Path(prefix).suffix:
            self.local_path(bucket, prefix).mkdir(parents=True, exist_ok=True)  # a folder the job may write into
        return count

    def push(self) -> tuple[int, int]:
        """Upload new and changed files, delete the mirrored ones that are gone; returns (uploaded, deleted)."""
        seen, uploaded = set(), 0
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            bucket, key = path.relative_to(self.root).as_posix().split("/", 1)
            name = f"{bucket}/{key}"
            seen.add(name)
            stat = path.stat()
            if self.snapshot.get(name) != (stat.st_size, stat.st_mtime_ns):
                self.s3.upload_file(str(path), bucket, key)
                uploaded += 1
        deleted = 0
        for name in sorted(set(self.snapshot) - seen):
            bucket, key = name.split("/", 1)
            self.s3.delete_object(Bucket=bucket, Key=key)
            deleted += 1
        return uploaded, deleted

    def spark_conf(self, buckets: list[str]) -> dict[str, str]:
        conf = {}
        for scheme in ("s3", "s3a"):
            conf[f"spark.hadoop.fs.{scheme}.impl"] = "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme"
            conf[f"spark.hadoop.fs.viewfs.overload.scheme.target.{scheme}.impl"] = (
                "org.apache.hadoop.fs.RawLocalFileSystem"
            )
        conf["spark.hadoop.fs.file.impl"] = "org.apache.hadoop.fs.RawLocalFileSystem"  # no .crc side files
        for bucket in buckets:
            bucket_root = self.local_path(bucket, "")
            bucket_root.mkdir(parents=True, exist_ok=True)
            conf[f"spark.hadoop.fs.viewfs.mounttable.{bucket}.linkFallback"] = bucket_root.resolve().as_uri()
        return conf


class JobRunProcess:
    """One job run: STARTING (script and mirror), RUNNING (the script), then a terminal state."""

    def __init__(self, run: dict[str, Any], job: dict[str, Any], endpoint: str, work_dir: Path,
                 on_update: Callable[[dict[str, Any]], None], client_factory: Callable[..., Any],
                 credentials=None):
        self.run, self.job = run, job
        # With IAM enforced: the job role's credentials, for the script and for Spark's S3 reads and writes (the
        # mirror); the stack's own keys still list the buckets and ship the logs.
        self.credentials = credentials
        self.endpoint = endpoint
        self.work_dir = Path(work_dir)
        self.on_update = on_update
        self.client = client_factory
        self._process: subprocess.Popen | None = None
        self._stop_request: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._execute, name=f"job-{self.run['Id'][:12]}", daemon=True).start()

    def stop(self, state: str, message: str) -> None:
        with self._lock:
            self._stop_request = (state, message)
            process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the whole group: python and its Spark JVM
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def _set(self, **fields: Any) -> None:
        self.run.update(fields, LastModifiedOn=time.time())
        self.on_update(dict(self.run))

    def _execute(self) -> None:
        started = time.time()
        try:
            final = self._prepare_and_run()
        except Exception as exc:  # reported on the run, like a Glue internal error; the stack keeps serving
            log.exception("Job run %s failed before or after its script", self.run["Id"])
            final = {"JobRunState": "FAILED", "ErrorMessage": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            if self._stop_request is not None:
                state, message = self._stop_request
                final = {"JobRunState": state, "ErrorMessage": message}
        completed = time.time()
        self._set(**final, CompletedOn=completed, ExecutionTime=max(1, round(completed - started)))
        log.info("Job run %s of %s: %s in %.1f s", self.run["Id"], self.job["Name"], final["JobRunState"],
                 completed - started)

    def _prepare_and_run(self) -> dict[str, Any]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        s3 = self.client("s3", self.credentials) if self.credentials else self.client("s3")
        script_uri = self.job["Command"]["ScriptLocation"]
        try:
            bucket, key = split_s3_uri(script_uri)
            script = self.work_dir / Path(key).name
            s3.download_file(bucket, key, str(script))
        except Exception as exc:
            return {"JobRunState": "FAILED", "ErrorMessage": f"Script {script_uri} could not be read: {exc}"}
        argv = glue_argv(self.job, self.run)
        try:
            python_path = self._download_py_files(s3, extra_py_files(argv))
        except Exception as exc:
            return {"JobRunState": "FAILED", "ErrorMessage": f"{EXTRA_PY_FILES}: {exc}"}
        mirror = S3Mirror(self.work_dir / "s3", s3)
        for flag, value in zip(argv[0::2], argv[1::2]):
            if value.startswith(("s3://", "s3a://")) and value != script_uri and flag != EXTRA_PY_FILES:
                mirror.pull(value)
        buckets = [b["Name"] for b in self.client("s3").list_buckets().get("Buckets", [])]
        if self._stop_request is not None:
            return {"JobRunState": self._stop_request[0], "ErrorMessage": self._stop_request[1]}
        exit_code = self._run_script(script, argv, mirror.spark_conf(buckets), python_path)
        if exit_code != 0:
            stderr = (self.work_dir / "stderr.log").read_text(errors="replace")
            if exit_code == -9 and self.run.get("JobRunState") == "TIMEOUT":
                return {"JobRunState": "TIMEOUT", "ErrorMessage": "Job run timed out"}
            return {"JobRunState": "FAILED", "ErrorMessage": python_error(stderr, exit_code)}
        uploaded, deleted = mirror.push()
        log.info("Job run %s synced %d files to S3, deleted %d", self.run["Id"], uploaded, deleted)
        return {"JobRunState": "SUCCEEDED"}

    def _download_py_files(self, s3, uris: list[str]) -> list[str]:
        """Each module to its own folder (two may share a file name); the PYTHONPATH entries, in order."""
        entries: list[str] = []
        for index, uri in enumerate(uris):
            bucket, key = split_s3_uri(uri)
            target = self.work_dir / "py-files" / str(index) / Path(key).name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3.download_file(bucket, key, str(target))
            except Exception as exc:
                raise ValueError(f"{uri} could not be read: {exc}") from exc
            entries.append(str(target if target.suffix == ".zip" else target.parent))
        return entries

    def _environment(self, spark_conf: dict[str, str], python_path: list[str] = ()) -> dict[str, str]:
        conf = {"spark.master": "local[2]", "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
                "spark.driver.memory": "2g", **spark_conf}
        submit = " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in conf.items())
        env = dict(os.environ)
        env.update(PYSPARK_SUBMIT_ARGS=f"{submit} pyspark-shell", AWS_ENDPOINT_URL=self.endpoint,
                   AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_REGION="us-east-1",
                   AWS_DEFAULT_REGION="us-east-1", PYTHONUNBUFFERED="1", SPARK_LOCAL_IP="127.0.0.1")
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(variable, None)
        if self.credentials is not None:
            env.update(AWS_ACCESS_KEY_ID=self.credentials.access_key, AWS_SECRET_ACCESS_KEY=self.credentials.secret_key,
                       AWS_SESSION_TOKEN=self.credentials.token)
        if python_path:
            env["PYTHONPATH"] = os.pathsep.join([*python_path, *filter(None, [env.get("PYTHONPATH")])])
        return env

    def _run_script(self, script: Path, argv: list[str], spark_conf: dict[str, str],
                    python_path: list[str] = ()) -> int:
        stdout_path, stderr_path = self.work_dir / "stdout.log", self.work_dir / "stderr.log"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err, self._lock:
            if self._stop_request is not None:
                return -15
            self._process = subprocess.Popen([sys.executable, str(script), *argv], cwd=self.work_dir,
                                             env=self._environment(spark_conf, python_path), stdout=out, stderr=err,
                                             start_new_session=True)
        self._set(JobRunState="RUNNING")
        shipper = LogShipper(self.client("logs"), self.run["Id"],
                             {OUTPUT_LOG_GROUP: stdout_path, ERROR_LOG_GROUP: stderr_path})
        timeout_s = float(self.run.get("Timeout") or 2880) * 60
        deadline = time.monotonic() + timeout_s
        while self._process.poll() is None:
            shipper.ship()
            if time.monotonic() > deadline:
                self.run["JobRunState"] = "TIMEOUT"
                os.killpg(self._process.pid, signal.SIGKILL)
            try:  # wakes as soon as the script ends, not at the next flush
                self._process.wait(timeout=LOG_FLUSH_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        shipper.ship()
        return self._process.returncode


class LogShipper:
    """Sends new lines of the driver's stdout and stderr to CloudWatch Logs, one stream per run id, as Glue does."""

    def __init__(self, logs_client, stream: str, files: dict[str, Path]):
        self.logs = logs_client
        self.stream = stream
        self.files = files
        self.offsets = {group: 0 for group in files}
        for group in files:
            self._ensure(group)

    def _ensure(self, group: str) -> None:
        for create in (lambda: self.logs.create_log_group(logGroupName=group),
                       lambda: self.logs.create_log_stream(logGroupName=group, logStreamName=self.stream)):
            try:
                create()
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass  # groups are shared by all runs

    def ship(self) -> None:
        for group, path in self.files.items():
            with path.open("rb") as handle:
                handle.seek(self.offsets[group])
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a partial last line waits for the next round
            if not complete:
                continue
            self.offsets[group] += len(complete)
            now = int(time.time() * 1000)
            lines = complete.decode("utf-8", "replace").splitlines()
            events = [{"timestamp": now, "message": line or " "} for line in lines]
            for start in range(0, len(events), 5000):  # PutLogEvents takes at most 10,000 events
                self.logs.put_log_events(logGroupName=group, logStreamName=self.stream,
                                         logEvents=events[start:start + 5000])
