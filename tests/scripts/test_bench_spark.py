"""scripts.bench_spark (make bench-spark) and its data and DuckDB modules: the job on local Spark against the DuckDB
SQL, at a tiny scale."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from scripts import bench_spark as bench
from scripts import bench_spark_data as bench_data
from scripts import bench_spark_duckdb as bench_duckdb
from scripts.common import REPO, load_file_module, module_command, module_environment

FINAL_LINE = re.compile(r"spark_vs_duckdb=(\d+\.\d{2}) spark_rows_per_s=(\d+) jvm_start_s=(\d+\.\d{2})")

def test_both_engines_clean_the_same_rows_and_the_last_line_reports_the_ratio(tmp_path: Path) -> None:
    result = subprocess.run(
        module_command("scripts.bench_spark", "--rows", "2000", "--rounds", "2", "--keep", str(tmp_path)),
        cwd=REPO, env=module_environment(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    final = FINAL_LINE.fullmatch(lines[-1])
    assert final, lines[-1]
    assert result.stderr.count("running spark ...") == result.stderr.count("running duckdb ...") == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    spark, duck = summary["results"]["spark"], summary["results"]["duckdb"]
    assert spark["rounds"] == duck["rounds"] == 2
    assert float(final.group(1)) == pytest.approx(spark["wall_s"] / duck["wall_s"], abs=0.01)
    assert int(final.group(2)) == round(2000 / spark["wall_s"])
    assert float(final.group(3)) == pytest.approx(spark["jvm_start_s"], abs=0.01)

    assert spark["counts"] == duck["counts"]
    counts = spark["counts"]
    assert {name: counts[name] for name in summary["planned"]} == summary["planned"]
    assert counts["input"] == 2000 == counts["clean"] + counts["rejected"] + counts["duplicates"]
    assert counts["exact_duplicates"] > 0 and counts["key_duplicates"] > 0 and counts["rejected"] > 0
    assert sum(counts["rejects_by_reason"].values()) == counts["rejected"]
    # The table has one row per engine with the same rows/s the final line gives for Spark.
    spark_row = next(line for line in lines if line.startswith("spark "))
    assert spark_row.split()[-1] == f"{round(2000 / spark['wall_s']):,}"


def test_generated_data_is_deterministic_and_has_the_planned_dirt(tmp_path: Path) -> None:
    def digest(folder: Path) -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.iterdir()))).hexdigest()

    planned = bench_data.generate(tmp_path / "a", 3000, seed=7)
    assert bench_data.generate(tmp_path / "b", 3000, seed=7) == planned
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    bench_data.generate(tmp_path / "c", 3000, seed=8)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")

    files = sorted((tmp_path / "a").iterdir())
    assert [f.name for f in files] == ["ventas_2026-11-01.csv", "ventas_2026-11-01_tarde.csv"]
    text = files[0].read_bytes()
    assert text.startswith("Código Venta;Fecha;Cliente;Importe (€);".encode("cp1252"))
    rows = sum(f.read_bytes().count(b"\r\n") - 1 for f in files)
    assert rows == planned["input"] == 3000
    assert planned["clean"] + planned["rejected"] + planned["duplicates"] == 3000
    assert {reason.split(":")[0] for reason in planned["rejects_by_reason"]} == {"missing", "unparseable"}


def test_the_comparison_fails_on_any_difference_in_counts_or_rows(tmp_path: Path) -> None:
    """What makes the bench fail loudly: the DuckDB side against itself, then with one row and one count off."""
    raw = tmp_path / "raw"
    planned = bench_data.generate(raw, 1500)
    config = bench_data.ventas_job_config()
    results = {engine: bench_duckdb.run_duckdb(raw, tmp_path / engine, config) for engine in ("spark", "duckdb")}
    assert bench.count_problems(results, planned) == []
    assert bench.compare_outputs(tmp_path / "spark", tmp_path / "duckdb", config) == []

    results["spark"]["counts"]["key_duplicates"] += 1
    assert bench.count_problems(results, planned) == [
        f"spark key_duplicates={planned['key_duplicates'] + 1}, planned {planned['key_duplicates']}"
    ]
    clean = tmp_path / "spark" / "clean" / "ventas" / "dt=2026-11-01" / "part-0.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{clean}') LIMIT {planned['clean'] - 1}) TO '{clean}.tmp' "
               "(FORMAT parquet)")
    Path(f"{clean}.tmp").replace(clean)
    assert bench.compare_outputs(tmp_path / "spark", tmp_path / "duckdb", config) == [
        "clean rows differ: 1 rows are in one engine's output only"
    ]


def test_duckdb_trims_the_characters_the_job_trims() -> None:
    job = load_file_module("clean_dataset_for_bench_test", REPO / "include" / "spark" / "clean_dataset.py")
    assert bench_duckdb.TRIMMED_CHARACTERS == job.TRIMMED_CHARACTERS


def test_date_patterns_translate_to_strptime_or_fail_by_name() -> None:
    assert bench_duckdb.strptime_format("dd/MM/yyyy") == "%d/%m/%Y"
    assert bench_duckdb.strptime_format("yyyy-MM-dd'T'HH:mm:ss") == "%Y-%m-%dT%H:%M:%S"
    with pytest.raises(ValueError, match="'EEE'"):
        bench_duckdb.strptime_format("EEE, dd MMM yyyy")
