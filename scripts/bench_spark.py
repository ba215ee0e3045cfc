"""`make bench-spark`: the Glue cleaning job (include/spark/clean_dataset.py) on local Spark against DuckDB SQL.

    python -m scripts.bench_spark [--rows 1000000] [--rounds 3] [--profile] [--keep DIR] [--job PATH]

1. Generates ``--rows`` messy rows in the shape of the ``ventas`` dataset of include/config/datasets.yaml,
   deterministically (seeded ``random.Random``, no clock), as two Windows-1252 ";" CSV files of one run date (the
   morning export and the afternoon re-export, as in include/sample_data): accented headers, decimal commas with
   thousands dots, dd/MM/yyyy and yyyy-MM-dd dates, null tokens, stray spaces, exact duplicates (some across the
   two files), newer versions of a sale (same key, later ``Actualizado``, a third of them written before the version
   they replace), unparseable values and missing keys. Rows are made by include/sample_data/generate.py's
   ``VentasMaker``; what happens to each row is planned, so the expected counts are known by construction
   (scripts/bench_spark_data.py).
2. Spark: the job's own ``run_job`` (``--job``: another version of the script, to compare) with the shipped
   ventas config (``Dataset.job_config()``, as the DAG passes it), Spark ``local[2]`` configured as the local AWS
   stack's job runner starts the job. Data paths are local; the job's AWS calls (Glue catalog lookup and
   registration, the counts object) go to a plain moto server in the same process. The SparkSession's start (JVM
   launch included) is timed on its own and excluded from the Spark wall time.
3. DuckDB: the same cleaning written in SQL (``duckdb_cleaning_sql`` in scripts/bench_spark_duckdb.py) over the
   same files, with the same outputs.
4. Both must report the same counts (input, clean, rejected, duplicates, exact and key duplicates, rejects by
   reason), equal to the planned ones, and write the same clean rows and rejects; otherwise the bench fails.

Each engine runs in its own process, so that neither's memory or JIT state affects the other, ``--rounds`` times,
alternating which goes first; every round is checked, and the table shows medians. Peak memory is sampled with
psutil every 50 ms (scripts/bench_spark_memory.py): for Spark the RSS of the JVM (the ``java`` processes under it),
for DuckDB the RSS of its process; CPU seconds are user + system of the same processes. ``--profile`` adds a Spark
run in a fresh JVM that forces each stage with an explicit action (a ``noop`` write, a count, a cached frame) and
prints seconds per stage.

Stdout gets a table, then the final line

    spark_vs_duckdb=<x> spark_rows_per_s=<n> jvm_start_s=<s>

where x = Spark wall time (JVM start excluded) / DuckDB wall time. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scripts.bench_spark_data import DATASET, FILE_SHARES, RUN_DATE, SEED, generate, ventas_job_config
from scripts.bench_spark_duckdb import run_duckdb, sql_name, sql_text
from scripts.bench_spark_memory import PeakRss
from scripts.common import REPO, load_file_module, module_command, module_environment

BUCKET = "bench-spark"
JOB_FILE = REPO / "include" / "spark" / "clean_dataset.py"
# As the local AWS stack's job runner starts the job (local_aws/glue/job_runner.py): two cores, a 2 GiB driver.
SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
ENGINES = ("spark", "duckdb")
COUNT_FIELDS = ("input", "clean", "rejected", "duplicates", "exact_duplicates", "key_duplicates", "rejects_by_reason")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Spark: the job itself
# --------------------------------------------------------------------------------------------------------------


def spark_job_args(raw: Path, out: Path, config: dict[str, Any]) -> dict[str, str]:
    return {
        "JOB_NAME": f"bench-clean-{DATASET}",
        "dataset": DATASET,
        "run_date": RUN_DATE,
        # Plain file: URIs: Path.as_uri() would escape the "=" of dt=... and Hadoop would not unescape it.
        "raw_path": f"file://{raw.resolve()}/",
        "clean_path": f"file://{(out / 'clean' / DATASET).resolve()}/",
        "rejects_path": f"file://{(out / 'rejects' / DATASET).resolve()}/",
        "counts_path": f"s3://{BUCKET}/job-reports/{DATASET}/dt={RUN_DATE}/counts.json",
        "clean_database": "bench_clean",
        "dataset_config": json.dumps(config, ensure_ascii=False, sort_keys=True),
    }


def import_job(job_file: Path) -> Any:
    """The job script as a module (Glue runs the single file; ``--job`` can point at another version of it)."""
    return load_file_module("clean_dataset", job_file)


def start_spark() -> Any:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("bench-spark")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def moto_for_the_job() -> Iterator[None]:
    """A plain moto server (fake credentials, loopback only) for the job's own AWS calls: the Glue catalog lookup
    and registration and the counts object. They are part of the job's wall time, as on Glue."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(variable, None)
    try:
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield
    finally:
        server.stop()


def counts_dict(counts: Any) -> dict[str, Any]:
    return {name: getattr(counts, name) for name in COUNT_FIELDS}


def run_spark(raw: Path, out: Path, config: dict[str, Any], job_file: Path) -> dict[str, Any]:
    with moto_for_the_job(), PeakRss(jvm=True) as memory:
        started = time.perf_counter()
        spark = start_spark()
        jvm_start_s = time.perf_counter() - started
        job = import_job(job_file)
        cpu_before, started = memory.cpu(), time.perf_counter()
        counts = job.run_job(spark_job_args(raw, out, config), spark)
        wall_s, cpu_s = time.perf_counter() - started, memory.cpu() - cpu_before
        spark.stop()
    return {"engine": "spark", "wall_s": wall_s, "cpu_s": cpu_s, "jvm_start_s": jvm_start_s,
            "peak_rss": memory.peak, "counts": counts_dict(counts)}


def profile_spark(raw: Path, out: Path, config: dict[str, Any], job_file: Path) -> dict[str, Any]:
    """Seconds per stage of the job's pipeline, each forced by an explicit action, in a fresh JVM.

    A ``noop`` write computes every column of a frame and writes nothing. Frames are built on one another and
    not cached, so a stage's time is its frame's time minus the previous frame's. Counts and writes then run on
    the persisted frame as run_job does. Reported per stage: wall seconds and JVM CPU seconds.
    """
    with moto_for_the_job(), PeakRss(jvm=True) as memory:
        spark = start_spark()
        job = import_job(job_file)
        args = spark_job_args(raw, out, config)
        dataset_config = job.DatasetConfig.from_json(args["dataset_config"])
        job.configure_session(spark)
        stages: dict[str, tuple[float, float]] = {}

        def timed(name: str, action: Any) -> Any:
            cpu_before, started = memory.cpu(), time.perf_counter()
            result = action()
            stages[name] = (time.perf_counter() - started, memory.cpu() - cpu_before)
            return result

        raw_frame = timed("list files, read headers", lambda: job.read_raw(spark, dataset_config, args["raw_path"]))
        input_rows = timed("input count (separate scan)", raw_frame.count)
        classified = job.classify_rows(raw_frame, dataset_config)
        # Without __outcome the optimizer prunes both windows: trimming, null tokens, parsing and reasons remain.
        typed = classified.drop(job.OUTCOME)
        previous = (0.0, 0.0)
        for name, frame in (("scan + parse CSV", raw_frame), ("+ trim, null tokens, parse, reasons", typed),
                            ("+ exact and key de-dup (windows, shuffle)", classified)):
            timed(name, lambda frame=frame: frame.write.format("noop").mode("overwrite").save())
            cumulative = stages[name]
            stages[name] = (cumulative[0] - previous[0], cumulative[1] - previous[1])
            previous = cumulative
        classified = classified.persist()
        timed("counts (computes and caches all)", lambda: job.count_outcomes(classified, input_rows, DATASET, RUN_DATE))
        timed("write clean Parquet + rejects JSON", lambda: job.write_outputs(classified, args))
        classified.unpersist()
        spark.stop()
    return {"stages": stages}


# --------------------------------------------------------------------------------------------------------------
# Checks, table, main
# --------------------------------------------------------------------------------------------------------------


def differing_rows(left: str, right: str) -> int:
    """Rows in one relation and not the other (as multisets), counted both ways, by DuckDB."""
    import duckdb

    with duckdb.connect() as connection:
        return sum(connection.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall()[0][0]
                   for a, b in ((left, right), (right, left)))


def compare_outputs(spark_out: Path, duckdb_out: Path, config: dict[str, Any]) -> list[str]:
    """Problems found comparing the two engines' clean Parquet and rejects, value by value (empty: identical)."""
    names = [column["name"] for column in config["schema"]]
    partition = Path(DATASET) / f"dt={RUN_DATE}"
    problems = []
    # Spark writes timestamps as INT96 and DuckDB as INT64 micros: compare them as the same naive UTC type.
    typed = ", ".join(
        f"CAST({sql_name(c['name'])} AS TIMESTAMP)" if c["type"] == "timestamp" else sql_name(c["name"])
        for c in config["schema"]
    )
    clean = [f"SELECT {typed} FROM read_parquet({sql_text(str(out / 'clean' / partition / '*.parquet'))})"
             for out in (spark_out, duckdb_out)]
    if (n := differing_rows(*clean)) != 0:
        problems.append(f"clean rows differ: {n} rows are in one engine's output only")
    json_columns = "{" + ", ".join(f"{sql_text(n)}: 'VARCHAR'" for n in names) + \
        ", 'reject_reason': 'VARCHAR', 'reject_columns': 'VARCHAR[]'}"
    rejects = [f"SELECT * FROM read_json({sql_text(str(out / 'rejects' / partition / '*.json'))}, "
               f"format = 'newline_delimited', columns = {json_columns})" for out in (spark_out, duckdb_out)]
    if (n := differing_rows(*rejects)) != 0:
        problems.append(f"rejects differ: {n} rows are in one engine's output only")
    return problems


def count_problems(results: dict[str, dict[str, Any]], planned: dict[str, Any]) -> list[str]:
    problems = []
    for engine, result in results.items():
        for name in COUNT_FIELDS:
            if result["counts"][name] != planned[name]:
                problems.append(f"{engine} {name}={result['counts'][name]}, planned {planned[name]}")
    return problems


def run_child(engine: str, raw: Path, out: Path, config_file: Path, job_file: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    result_file = out / "result.json"
    command = module_command("scripts.bench_spark", "--engine", engine, "--raw", str(raw), "--out", str(out),
                             "--config-file", str(config_file), "--result", str(result_file), "--job", str(job_file))
    env = module_environment()
    # The job's packages on PYTHONPATH, as Glue's --extra-py-files puts them: indata_contract from plugins/ (there
    # already) and indata_clean from beside the script, so that --job runs the package of its own version.
    env["PYTHONPATH"] = os.pathsep.join([str(job_file.resolve().parent), env["PYTHONPATH"]])
    log(f"running {engine} ...")
    completed = subprocess.run(command, stdout=sys.stderr, cwd=REPO, env=env)
    if completed.returncode != 0:
        raise SystemExit(f"bench-spark: the {engine} run failed (exit {completed.returncode}); see its output above")
    return json.loads(result_file.read_text("utf-8"))


def table(results: dict[str, dict[str, Any]], rows: int) -> str:
    header = f"{'engine':<8} {'wall s':>8} {'CPU s':>7} {'peak RSS MiB':>13} {'rows/s':>10}"
    lines = [header, "-" * len(header)]
    for engine, result in results.items():
        lines.append(f"{engine:<8} {result['wall_s']:>8.2f} {result['cpu_s']:>7.1f} "
                     f"{result['peak_rss'] / 2**20:>13.0f} {rows / result['wall_s']:>10,.0f}")
    return "\n".join(lines)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine's rounds: median times, the largest peak memory (counts are the same in every round)."""
    summary = {**runs[-1], "rounds": len(runs), "peak_rss": max(run["peak_rss"] for run in runs)}
    for name in ("wall_s", "cpu_s", "jvm_start_s"):
        if name in runs[-1]:
            summary[name] = statistics.median(run[name] for run in runs)
    return summary


def child_main(args: argparse.Namespace) -> None:
    config = json.loads(args.config_file.read_text("utf-8"))
    if args.engine == "duckdb":
        result = run_duckdb(args.raw, args.out, config)
    else:
        runner = {"spark": run_spark, "spark-profile": profile_spark}[args.engine]
        result = runner(args.raw, args.out, config, args.job)
    args.result.write_text(json.dumps(result), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Glue cleaning job on local Spark against DuckDB SQL.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", action="store_true", help="also time each stage of the Spark job")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a removed temp dir)")
    parser.add_argument("--job", type=Path, default=JOB_FILE, help="the job script (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each engine, alternating (default 3)")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    for hidden in ("--raw", "--out", "--config-file", "--result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS, type=Path)
    args = parser.parse_args(argv)
    if args.engine:
        child_main(args)
        return 0
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        raw = work / "raw" / DATASET / f"dt={RUN_DATE}"
        shutil.rmtree(raw, ignore_errors=True)
        started = time.perf_counter()
        planned = generate(raw, args.rows, args.seed)
        size = sum(path.stat().st_size for path in raw.iterdir())
        log(f"generated {args.rows:,} rows ({size / 2**20:.1f} MiB) in {time.perf_counter() - started:.1f} s: "
            f"{json.dumps(planned)}")
        config = ventas_job_config()
        config_file = work / "job_config.json"
        config_file.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        outputs = {engine: work / engine for engine in ENGINES}
        runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
        for round_number in range(args.rounds):
            # Alternating which engine goes first spreads slow moments of a shared machine over both.
            order = ENGINES if round_number % 2 == 0 else ENGINES[::-1]
            latest = {engine: run_child(engine, raw, outputs[engine], config_file, args.job) for engine in order}
            problems = count_problems(latest, planned) + compare_outputs(outputs["spark"], outputs["duckdb"], config)
            if problems:
                print("bench-spark: the engines disagree:\n  " + "\n  ".join(problems), file=sys.stderr)
                return 1
            for engine, result in latest.items():
                runs[engine].append(result)
        results = {engine: medians(runs[engine]) for engine in ENGINES}
        (work / "summary.json").write_text(json.dumps({"planned": planned, "results": results}), "utf-8")
        profile = (run_child("spark-profile", raw, work / "spark-profile", config_file, args.job)
                   if args.profile else None)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    spark, duck = results["spark"], results["duckdb"]
    c = planned
    print(f"ventas, {args.rows:,} rows ({size / 2**20:.1f} MiB, {len(FILE_SHARES)} files): clean={c['clean']} "
          f"rejected={c['rejected']} duplicates={c['duplicates']} (exact={c['exact_duplicates']} "
          f"key={c['key_duplicates']}); both engines: same counts, same clean rows and rejects")
    print(f"medians of {args.rounds} rounds, each engine in a fresh process, alternating; peak RSS: the largest")
    print(table(results, args.rows))
    print(f"Spark session start (JVM launch), not in Spark's wall time: {spark['jvm_start_s']:.2f} s")
    if profile:
        print("Spark stages (--profile: a fresh JVM, each stage forced by an action), wall s / JVM CPU s:")
        for stage, (seconds, cpu) in profile["stages"].items():
            print(f"  {stage:<44} {seconds:>7.2f} {cpu:>7.2f}")
    print(f"spark_vs_duckdb={spark['wall_s'] / duck['wall_s']:.2f} "
          f"spark_rows_per_s={args.rows / spark['wall_s']:.0f} jvm_start_s={spark['jvm_start_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
