"""`make bench-inference`: the cleaning job's type inference against DuckDB's CSV type sniffing, on one file.

    python -m scripts.bench_inference [--rows 1000000] [--rounds 3] [--seed N] [--keep DIR]

1. Writes ``--rows`` rows (seeded ``random.Random``, no clock) as one UTF-8 "," CSV with eight text columns:
   ``id`` (1, 2, ...), ``cantidad`` (integers, one in 997 written "s/n"), ``precio`` (decimals "115.78"),
   ``activo`` ("sí"/"no"), ``fecha`` (dd/MM/yyyy), ``alta`` (ISO timestamps "2026-02-24T01:15:00"), ``codigo``
   (zero-padded five-digit codes) and ``nombre`` (text).
2. Spark: a dataset without a schema read by the job's ``read_raw``, counted, then ``infer_columns`` on the cleaned
   strings with that count, as ``run_job`` calls it (through ``classify_rows_inferring``): one aggregation over
   about ``inference.sample_rows`` rows spread over the whole file, so the file is read in full. Spark ``local[2]``
   as bench-spark starts it; the session's start (JVM launch) and the count are timed apart, not in inference.
3. DuckDB (the alternative): ``sniff_csv`` of the same file with ``sample_size = -1``, every row, on two threads;
   its default sample (the file's first 20,480 rows) is timed too, for reference.
4. Both must give the expected types, printed side by side: the job reads "s/n" as a stray value of an integer
   column (rejected later as unparseable) and "sí"/"no" as booleans; DuckDB's sniffer leaves both columns text.
   Both keep the zero-padded codes as text.

Each engine runs in its own fresh process, ``--rounds`` times, alternating which goes first; the load average is
printed before each round and the table shows medians. The last line is

    inference_s=<x> duckdb_sniff_s=<y> ratio=<x/y> rows=<n>
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from random import Random
from typing import Any

from scripts.common import REPO, module_command, module_environment

SEED = 20261101
HEADER = ("id", "cantidad", "precio", "activo", "fecha", "alta", "codigo", "nombre")
STRAY_EVERY = 997  # one "s/n" in this many cantidad values: 0.1 %, under the 1 % inference tolerates
ENGINES = ("spark", "duckdb")
# What each engine should make of the columns. The job: a vote over a sample, with the locale's booleans; DuckDB:
# a type every value must fit, and true/false for booleans.
EXPECTED = {
    "spark": {"id": "bigint", "cantidad": "bigint", "precio": "double", "activo": "boolean", "fecha": "date",
              "alta": "timestamp", "codigo": "string", "nombre": "string"},
    "duckdb": {"id": "BIGINT", "cantidad": "VARCHAR", "precio": "DOUBLE", "activo": "VARCHAR", "fecha": "DATE",
               "alta": "TIMESTAMP", "codigo": "VARCHAR", "nombre": "VARCHAR"},
}
# Day first: the job's pattern (either spelling reads "05/03/2026") and DuckDB's strptime format.
EXPECTED_DATE_FORMATS = {"spark": ("d/M/yyyy", "dd/MM/yyyy"), "duckdb": ("%d/%m/%Y",)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(path: Path, rows: int, seed: int = SEED) -> None:
    rng = Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        for i in range(1, rows + 1):
            cantidad = "s/n" if i % STRAY_EVERY == 0 else str(rng.randint(1, 500))
            day, month = rng.randint(1, 28), rng.randint(1, 12)
            out.write(f"{i},{cantidad},{rng.random() * 1000:.2f},{rng.choice(('sí', 'no'))},"
                      f"{day:02d}/{month:02d}/2026,2026-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:15:00,"
                      f"{rng.randint(0, 99999):05d},cliente {rng.randint(1, 5000)}\n")


def run_spark(folder: Path) -> dict[str, Any]:
    from indata_clean.parsing import capture_raw_values
    from scripts.bench_spark import import_job, start_spark

    started = time.perf_counter()
    spark = start_spark()
    jvm_start_s = time.perf_counter() - started
    job = import_job(REPO / "include" / "spark" / "clean_dataset.py")
    config = job.DatasetConfig(format="csv")
    job.configure_session(spark)
    started = time.perf_counter()
    raw = job.read_raw(spark, config, f"file://{folder.resolve()}/")
    input_rows = raw.count()
    count_s = time.perf_counter() - started
    # The frame classify_rows_inferring hands to infer_columns (no catalog: a first run).
    cleaned = job.clean_strings(capture_raw_values(job.name_columns(raw, config)), config.null_tokens)
    started = time.perf_counter()
    specs, inferred = job.infer_columns(cleaned, config.locale, config.keys, None, config.inference, config.columns,
                                        input_rows)
    inference_s = time.perf_counter() - started
    spark.stop()
    return {"wall_s": inference_s, "jvm_start_s": jvm_start_s, "count_s": count_s, "rows": input_rows,
            "types": {spec.name: spec.type for spec in specs},
            "date_format": ",".join(next(spec.formats for spec in specs if spec.name == "fecha")),
            "evidence": {name: found.to_json() for name, found in inferred.items()}}


def run_duckdb(csv_file: Path) -> dict[str, Any]:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads = 2")  # the two cores Spark's local[2] gets
    sniff = "SELECT Columns, DateFormat FROM sniff_csv(?, sample_size = ?)"
    started = time.perf_counter()
    head = connection.execute(sniff, [str(csv_file), 20_480]).fetchone()
    head_s = time.perf_counter() - started
    started = time.perf_counter()
    found = connection.execute(sniff, [str(csv_file), -1]).fetchone()
    wall_s = time.perf_counter() - started
    connection.close()
    assert found is not None and head is not None
    columns, date_format = found
    return {"wall_s": wall_s, "head_s": head_s, "types": {c["name"]: c["type"] for c in columns},
            "date_format": date_format, "head_types": {c["name"]: c["type"] for c in head[0]}}


def run_child(engine: str, csv_file: Path, result_file: Path) -> dict[str, Any]:
    command = module_command("scripts.bench_inference", "--engine", engine, "--csv", str(csv_file),
                             "--result", str(result_file))
    env = module_environment()
    # The job's package beside its script, as Glue's --extra-py-files puts it.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "include" / "spark"), env["PYTHONPATH"]])
    log(f"running {engine} ...")
    completed = subprocess.run(command, stdout=sys.stderr, cwd=REPO, env=env)
    if completed.returncode != 0:
        raise SystemExit(f"bench-inference: the {engine} run failed (exit {completed.returncode}); see above")
    result: dict[str, Any] = json.loads(result_file.read_text("utf-8"))
    return result


def type_problems(engine: str, result: dict[str, Any]) -> list[str]:
    problems = [f"{engine} typed {name} as {result['types'].get(name)}, expected {expected}"
                for name, expected in EXPECTED[engine].items() if result["types"].get(name) != expected]
    if result["date_format"] not in EXPECTED_DATE_FORMATS[engine]:
        problems.append(f"{engine} read fecha as {result['date_format']}, expected "
                        f"{' or '.join(EXPECTED_DATE_FORMATS[engine])}")
    return problems


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The job's type inference against DuckDB's CSV sniffing.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows to generate (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each engine, alternating (default 3)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a removed temp dir)")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        result = run_spark(args.csv.parent) if args.engine == "spark" else run_duckdb(args.csv)
        args.result.write_text(json.dumps(result), "utf-8")
        return 0
    if args.rows < STRAY_EVERY:
        parser.error(f"--rows must be at least {STRAY_EVERY}, so that cantidad holds a stray value")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        csv_file = work / "raw" / "datos.csv"
        started = time.perf_counter()
        generate(csv_file, args.rows, args.seed)
        log(f"generated {args.rows:,} rows ({csv_file.stat().st_size / 2**20:.1f} MiB) in "
            f"{time.perf_counter() - started:.1f} s")
        runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
        loads = []
        for round_number in range(args.rounds):
            loads.append(load_average())
            print(f"round {round_number + 1}: load average {loads[-1]}", flush=True)
            order = ENGINES if round_number % 2 == 0 else ENGINES[::-1]
            for engine in order:
                runs[engine].append(run_child(engine, csv_file, work / f"{engine}.json"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    spark, duck = runs["spark"][-1], runs["duckdb"][-1]
    print(f"{'column':<10} {'job (infer_columns)':<22} DuckDB sniff_csv (all rows)")
    for name in HEADER:
        evidence = spark["evidence"].get(name, {})
        share = "" if evidence.get("share") is None else f" {evidence['share']:.4f}"
        print(f"{name:<10} {spark['types'].get(name, '-') + share:<22} {duck['types'].get(name, '-')}")
    print(f"fecha's format: job {spark['date_format']}, DuckDB {duck['date_format']}; DuckDB on its default sample: "
          + ", ".join(f"{n}={t}" for n, t in duck["head_types"].items()))
    problems = [p for engine in ENGINES for run in runs[engine] for p in type_problems(engine, run)]
    if spark["rows"] != args.rows:
        problems.append(f"spark counted {spark['rows']} rows, expected {args.rows}")
    if problems:
        print("bench-inference: unexpected types:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1

    def median(engine: str, name: str) -> float:
        return statistics.median(run[name] for run in runs[engine])

    inference_s, sniff_s = median("spark", "wall_s"), median("duckdb", "wall_s")
    print(f"medians of {args.rounds} rounds, each engine in a fresh process, alternating")
    print(f"job inference (infer_columns)     {inference_s:>8.2f} s  (JVM start {median('spark', 'jvm_start_s'):.2f} s"
          f" and the input count {median('spark', 'count_s'):.2f} s not included)")
    print(f"DuckDB sniff_csv, all rows        {sniff_s:>8.3f} s")
    print(f"DuckDB sniff_csv, first 20,480    {median('duckdb', 'head_s'):>8.3f} s")
    print(f"inference_s={inference_s:.2f} duckdb_sniff_s={sniff_s:.3f} ratio={inference_s / sniff_s:.1f} "
          f"rows={args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
