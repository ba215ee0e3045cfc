"""`make bench-backup`: the backup operator against `aws s3 sync` on the same local endpoint, in one run.

Cases, each on the same files for both tools, on a fresh local stack (temp state, removed at the end); the
tools alternate for a few rounds, each first run starting from an empty destination, and the medians are shown
(other work on the machine moves single timings by tens of percent):

  small   5,000 files of 16 KiB
  large   2 files of 256 MiB
  rerun   the no-change rerun of small

Both tools run as they would for a user: `aws s3 sync` as a process (.venv/bin/aws --endpoint-url), the backup as
BackupFilesOperator.execute in this process (client, listing, hashing, upload, HEAD verification, manifest).
Prints a table (wall seconds, throughput, CPU seconds of the client and of the endpoint's process, which shows
which side is the limit), then the final line

    backup_small_ratio=<x> backup_large_ratio=<y> rerun_fraction=<z> rerun_bytes=<n>

ratios = our throughput / aws s3 sync throughput; rerun_fraction = our rerun time / our first-run time;
rerun_bytes = file bytes our rerun sent.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.common import REPO

MiB = 1024 * 1024
DAY = "2026-11-01"
BUCKET = "bench-backup"
REGION = "us-east-1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Measure:
    case: str
    tool: str
    files: int
    size: int
    seconds: float
    client_cpu: float
    endpoint_cpu: float
    sent: int | None = None

    def row(self) -> str:
        rate = f"{self.files / self.seconds:8.0f} {self.size / MiB / self.seconds:8.1f}"
        sent = "-" if self.sent is None else str(self.sent)
        return (f"{self.case:<6} {self.tool:<12} {self.files:>6} {self.size / MiB:>8.1f} {self.seconds:>8.2f} {rate} "
                f"{self.client_cpu:>8.1f} {self.endpoint_cpu:>8.1f} {sent:>10}")


HEADER = (f"{'case':<6} {'tool':<12} {'files':>6} {'MiB':>8} {'seconds':>8} {'files/s':>8} {'MiB/s':>8} "
          f"{'cli cpu':>8} {'srv cpu':>8} {'sent':>10}")


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_files(folder: Path, count: int, size: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"part-{index:05d}.bin").write_bytes(os.urandom(size))
    return count * size


def measured(case: str, tool: str, files: int, size: int, endpoint_pid: int,
             action: Callable[[], int | None]) -> Measure:
    client_before, endpoint_before = own_cpu() + children_cpu(), process_cpu(endpoint_pid)
    started = time.perf_counter()
    sent = action()
    seconds = time.perf_counter() - started
    return Measure(case, tool, files, size, seconds, own_cpu() + children_cpu() - client_before,
                   process_cpu(endpoint_pid) - endpoint_before, sent)


def median(runs: list[Measure]) -> Measure:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def aws_sync(endpoint: str, folder: Path, destination: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run([str(REPO / ".venv" / "bin" / "aws"), "--endpoint-url", endpoint, "--region", REGION, "s3",
                        "sync", "--quiet", str(folder), destination], check=True)
    return run


def our_backup(root: Path, name: str) -> Callable[[], int]:
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator

    dataset = dataclasses.replace(load_config().datasets[0], name=name, source=f"{name}/{{ds}}/*")

    def run() -> int:
        operator = BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(root),
                                       run_date=DAY, bucket=BUCKET)
        return operator.execute({})["bytes_sent"]
    return run


class Bench:
    """Both tools on one case, alternating, each round starting from an empty destination; medians."""

    def __init__(self, s3: Any, endpoint: str, endpoint_pid: int, source: Path):
        self.s3, self.endpoint, self.pid, self.source = s3, endpoint, endpoint_pid, source

    def empty(self, *prefixes: str) -> None:
        for prefix in prefixes:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})

    def first_runs(self, case: str, files: int, size: int, rounds: int) -> dict[str, Measure]:
        sync = aws_sync(self.endpoint, self.source / case / DAY, f"s3://{BUCKET}/sync/{case}/")
        ours = our_backup(self.source, case)
        runs: dict[str, list[Measure]] = {"aws s3 sync": [], "backup": []}
        for _ in range(rounds):
            self.empty(f"sync/{case}/", f"raw/{case}/", f"manifests/{case}/")
            runs["aws s3 sync"].append(measured(case, "aws s3 sync", files, size, self.pid, sync))
            runs["backup"].append(measured(case, "backup", files, size, self.pid, ours))
        return {tool: median(measures) for tool, measures in runs.items()}

    def rerun(self, case: str, files: int, size: int, rounds: int) -> dict[str, Measure]:
        sync = aws_sync(self.endpoint, self.source / case / DAY, f"s3://{BUCKET}/sync/{case}/")
        ours = our_backup(self.source, case)
        return {"aws s3 sync": median([measured("rerun", "aws s3 sync", files, size, self.pid, sync)
                                       for _ in range(rounds)]),
                "backup": median([measured("rerun", "backup", files, size, self.pid, ours) for _ in range(rounds)])}


def bench(work: Path, rounds: int) -> list[Measure]:
    import boto3

    from local_aws.testing import StackProcess

    stack = StackProcess(work / "aws-state")
    stack.start()
    try:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
            "conn_type": "aws", "login": "local", "password": "local",
            "extra": {"endpoint_url": stack.endpoint, "region_name": REGION}})
        s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        source = work / "source"
        small_size = make_files(source / "small" / DAY, 5000, 16 * 1024)
        large_size = make_files(source / "large" / DAY, 2, 256 * MiB)
        assert stack.process is not None  # started above
        bench = Bench(s3, stack.endpoint, stack.process.pid, source)
        small = bench.first_runs("small", 5000, small_size, rounds)
        large = bench.first_runs("large", 2, large_size, rounds + 1)  # seconds each: more rounds, steadier median
        rerun = bench.rerun("small", 5000, small_size, rounds)  # after the last first run of small
    finally:
        stack.stop()
    return [*small.values(), *large.values(), *rerun.values()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="where files and stack state go (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per case (medians are shown)")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION})
    os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "airflow"))
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # the table, not every run's progress lines
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        runs = bench(work, args.rounds)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(HEADER)
    print("-" * len(HEADER))
    for run in runs:
        print(run.row())
    by = {(run.case, run.tool): run for run in runs}
    ratio = lambda case: by[(case, "aws s3 sync")].seconds / by[(case, "backup")].seconds  # noqa: E731
    rerun = by[("rerun", "backup")]
    print(f"backup_small_ratio={ratio('small'):.2f} backup_large_ratio={ratio('large'):.2f} "
          f"rerun_fraction={rerun.seconds / by[('small', 'backup')].seconds:.3f} rerun_bytes={rerun.sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
