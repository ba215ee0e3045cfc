"""scripts.bench_inference (make bench-inference): the job's type inference against DuckDB's CSV sniffing, at a tiny
scale."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from scripts import bench_inference as bench
from scripts.common import REPO, module_command, module_environment

FINAL_LINE = re.compile(r"inference_s=(\d+\.\d{2}) duckdb_sniff_s=(\d+\.\d{3}) ratio=(\d+\.\d) rows=(\d+)")


def test_both_engines_type_the_columns_and_the_last_line_reports_the_ratio() -> None:
    result = subprocess.run(
        module_command("scripts.bench_inference", "--rows", "2000", "--rounds", "1"),
        cwd=REPO, env=module_environment(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    final = FINAL_LINE.fullmatch(lines[-1])
    assert final, lines[-1]
    assert final.group(4) == "2000"
    inference_s, sniff_s = float(final.group(1)), float(final.group(2))
    # The ratio is of the unrounded medians; a sniff of 2,000 rows takes milliseconds, printed to three places.
    assert float(final.group(3)) == pytest.approx(inference_s / sniff_s, rel=0.3)
    assert result.stderr.count("running spark ...") == result.stderr.count("running duckdb ...") == 1
    assert re.fullmatch(r"round 1: load average \d+\.\d{2} \d+\.\d{2} \d+\.\d{2}", lines[0])
    # Both engines' types, side by side: the job reads "s/n" as a stray value and "sí"/"no" as booleans.
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in bench.HEADER}
    assert rows["cantidad"][1] == "bigint" and rows["cantidad"][-1] == "VARCHAR"
    assert rows["activo"][1] == "boolean" and rows["activo"][-1] == "VARCHAR"
    assert rows["codigo"][1] == "string" and rows["codigo"][-1] == "VARCHAR"
    assert rows["fecha"][1] == "date" and rows["fecha"][-1] == "DATE"


def test_generated_file_is_deterministic_with_the_stray_values(tmp_path: Path) -> None:
    bench.generate(tmp_path / "a.csv", 3000, seed=7)
    bench.generate(tmp_path / "b.csv", 3000, seed=7)
    bench.generate(tmp_path / "c.csv", 3000, seed=8)
    text = (tmp_path / "a.csv").read_text("utf-8")
    assert text == (tmp_path / "b.csv").read_text("utf-8") != (tmp_path / "c.csv").read_text("utf-8")
    lines = text.splitlines()
    assert lines[0] == ",".join(bench.HEADER) and len(lines) == 3001
    assert [line.split(",")[1] for line in lines[1:]].count("s/n") == 3000 // bench.STRAY_EVERY


def test_unexpected_types_are_reported_by_engine_and_column() -> None:
    found = {"types": dict(bench.EXPECTED["spark"], cantidad="string"), "date_format": "MM/dd/yyyy"}
    assert bench.type_problems("spark", found) == [
        "spark typed cantidad as string, expected bigint",
        "spark read fecha as MM/dd/yyyy, expected d/M/yyyy or dd/MM/yyyy",
    ]
