"""`make bench-spark`: the Glue cleaning job (include/spark/clean_dataset.py) on local Spark against DuckDB SQL.

    python -m scripts.bench_spark [--rows 1000000] [--rounds 3] [--profile] [--keep DIR] [--job PATH]

1. Generates ``--rows`` messy rows in the shape of the ``ventas`` dataset of include/config/datasets.yaml,
   deterministically (seeded ``random.Random``, no clock), as two Windows-1252 ";" CSV files of one run date (the
   morning export and the afternoon re-export, as in include/sample_data): accented headers, decimal commas with
   thousands dots, dd/MM/yyyy and yyyy-MM-dd dates, null tokens, stray spaces, exact duplicates (some across the
   two files), newer versions of a sale (same key, later ``Actualizado``, a third of them written before the version
   they replace), unparseable values and missing keys. Rows are made by include/sample_data/generate.py's
   ``VentasMaker``; what happens to each row is planned, so the expected counts are known by construction.
2. Spark: the job's own ``run_job`` (``--job``: another version of the script, to compare) with the shipped
   ventas config (``Dataset.job_config()``, as the DAG passes it), Spark ``local[2]`` configured as the local AWS
   stack's job runner starts the job. Data paths are local; the job's AWS calls (Glue catalog lookup and
   registration, the counts object) go to a plain moto server in the same process. The SparkSession's start (JVM
   launch included) is timed on its own and excluded from the Spark wall time.
3. DuckDB: the same cleaning written in SQL (``duckdb_cleaning_sql``) over the same files, with the same outputs.
4. Both must report the same counts (input, clean, rejected, duplicates, exact and key duplicates, rejects by
   reason), equal to the planned ones, and write the same clean rows and rejects; otherwise the bench fails.

Each engine runs in its own process, so that neither's memory or JIT state affects the other, ``--rounds`` times,
alternating which goes first; every round is checked, and the table shows medians. Peak memory is
sampled with psutil every 50 ms: for Spark the RSS of the JVM (the ``java`` processes under it), for DuckDB the RSS
of its process; CPU seconds are user + system of the same processes. ``--profile`` adds a Spark run in a fresh
JVM that forces each stage with an explicit action (a ``noop`` write, a count, a cached frame) and prints seconds
per stage.

Stdout gets a table, then the final line

    spark_vs_duckdb=<x> spark_rows_per_s=<n> jvm_start_s=<s>

where x = Spark wall time (JVM start excluded) / DuckDB wall time. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import csv
import heapq
import json
import logging
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

from scripts.common import REPO, load_file_module, module_command, module_environment

DATASET = "ventas"
BUCKET = "bench-spark"
JOB_FILE = REPO / "include" / "spark" / "clean_dataset.py"
RUN_DATE = "2026-11-01"
SEED = 20261101
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
SAMPLE_SECONDS = 0.05
ENGINES = ("spark", "duckdb")
# The day's rows: the morning export, then the afternoon re-export (which repeats some morning rows).
FILE_SHARES = (("ventas_{day}.csv", 0.6), ("ventas_{day}_tarde.csv", 0.4))
# What becomes of each new sale, besides being written once: an exact copy written a little later, or a newer
# version (same key, later Actualizado). Disjoint, so each key group holds at most two rows.
EXACT_COPY_RATE, NEWER_VERSION_RATE = 0.03, 0.03
# A row with one defect (and a key of its own) follows a sale this often.
DEFECT_RATE = 0.012
COPY_DELAY = 200  # a copy or newer version lands within this many rows of its original
# (column, value, reason): every value fails exactly the check its reason names.
DEFECTS = (
    ("codigo_venta", "", "missing"),
    ("codigo_venta", " N/A ", "missing"),
    ("fecha", "pendiente", "unparseable"),
    ("fecha", "31/11/2026", "unparseable"),
    ("fecha", "-", "missing"),
    ("importe", "doce", "unparseable"),
    ("importe", "12,50,3", "unparseable"),
    ("importe", "1234.56", "unparseable"),  # "." is the thousands mark: it must separate groups of three
    ("unidades", "tres", "unparseable"),
    ("unidades", "2,5", "unparseable"),
    ("pagado", "quizás", "unparseable"),
    ("actualizado", "ayer", "unparseable"),
    ("actualizado", "null", "missing"),
)
COUNT_FIELDS = ("input", "clean", "rejected", "duplicates", "exact_duplicates", "key_duplicates", "rejects_by_reason")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def generate(folder: Path, rows: int, seed: int = SEED) -> dict[str, Any]:
    """Write ``rows`` data rows of ventas for RUN_DATE under ``folder``; return the counts the cleaning must give."""
    generator = load_file_module("sample_generator", REPO / "include" / "sample_data" / "generate.py")
    VENTAS_ENCODING, VENTAS_HEADERS = generator.VENTAS_ENCODING, generator.VENTAS_HEADERS
    Defect, VentasMaker = generator.Defect, generator.VentasMaker

    rng = Random(seed)
    maker = VentasMaker(RUN_DATE)
    pending: list[tuple[int, int, list[str], str]] = []  # (due row, tie-break, row, what it is)
    planned: Counter[str] = Counter()
    folder.mkdir(parents=True, exist_ok=True)
    boundaries = []
    written = 0
    for share_name, share in FILE_SHARES:
        written += round(rows * share)
        boundaries.append((share_name.format(day=RUN_DATE), min(written, rows)))
    boundaries[-1] = (boundaries[-1][0], rows)

    emitted = 0
    sequence = 0  # orders equal due rows in the heap without comparing rows
    for name, end in boundaries:
        with open(folder / name, "w", encoding=VENTAS_ENCODING, newline="") as handle:
            writer = csv.writer(handle, delimiter=";", quotechar='"', lineterminator="\r\n")
            writer.writerow(VENTAS_HEADERS.values())
            while emitted < end:
                if pending and pending[0][0] <= emitted:
                    _, _, row, kind = heapq.heappop(pending)
                    writer.writerow(row)
                    planned[kind] += 1
                    emitted += 1
                    continue
                sale = maker.new_row(rng)
                draw = rng.random()
                if draw < NEWER_VERSION_RATE:
                    newer = maker.updated(rng, sale)
                    if rng.random() < 1 / 3:  # the newer version written first: "keep the last row" would be wrong
                        sale, newer = newer, sale
                    writer.writerow(sale)
                    planned["clean"] += 1
                    emitted += 1
                    sequence += 1
                    heapq.heappush(pending, (emitted + rng.randint(0, COPY_DELAY), sequence, newer, "key_duplicates"))
                else:
                    writer.writerow(sale)
                    planned["clean"] += 1
                    emitted += 1
                    if draw < NEWER_VERSION_RATE + EXACT_COPY_RATE:
                        sequence += 1
                        copy = list(sale)
                        due = emitted + rng.randint(0, COPY_DELAY)
                        heapq.heappush(pending, (due, sequence, copy, "exact_duplicates"))
                if emitted < end and rng.random() < DEFECT_RATE:
                    column, value, reason = rng.choice(DEFECTS)
                    writer.writerow(maker.with_defect(maker.new_row(rng), Defect(column, value, reason)))
                    planned[f"{reason}:{column}"] += 1
                    emitted += 1
    # Copies still pending when the rows ran out are simply not written; nothing counted them yet.
    by_reason = {k: v for k, v in planned.items() if ":" in k}
    counts: dict[str, Any] = {
        "input": rows,
        "clean": planned["clean"],
        "rejected": sum(by_reason.values()),
        "exact_duplicates": planned["exact_duplicates"],
        "key_duplicates": planned["key_duplicates"],
        "rejects_by_reason": dict(sorted(by_reason.items())),
    }
    counts["duplicates"] = counts["exact_duplicates"] + counts["key_duplicates"]
    assert counts["input"] == counts["clean"] + counts["rejected"] + counts["duplicates"], counts
    return counts


def ventas_job_config() -> dict[str, Any]:
    """The ventas dataset's job config from the shipped include/config/datasets.yaml, as the DAG passes it."""
    from indata_ops.config import load_config

    return load_config(REPO / "include" / "config" / "datasets.yaml", environ={}).dataset(DATASET).job_config()


# --------------------------------------------------------------------------------------------------------------
# Peak memory
# --------------------------------------------------------------------------------------------------------------


class PeakRss:
    """Samples RSS in a thread: ``peak`` is the largest seen, in bytes; ``cpu()`` gives CPU seconds so far.

    ``jvm=True`` measures the JVMs that PySpark launches (``java`` processes under this one), without the Python
    driver; else this process. Hadoop forks the JVM to run ``ls`` and ``rm`` on local files: until the exec such a
    child shows the JVM's RSS again under a thread's name, so only processes named ``java`` count.
    """

    def __init__(self, jvm: bool) -> None:
        import psutil

        self.root = psutil.Process()
        self.jvm = jvm
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _measured(self) -> list[Any]:
        if not self.jvm:
            return [self.root]
        return [p for p in self.root.children(recursive=True) if self._name(p) == "java"]

    @staticmethod
    def _name(process: Any) -> str:
        import psutil

        try:
            return process.name()
        except psutil.Error:
            return ""  # ended between listing and reading

    def _total(self, read: Any) -> float:
        import psutil

        total = 0.0
        for process in self._measured():
            try:
                total += read(process)
            except psutil.Error:
                pass  # ended between listing and reading
        return total

    def cpu(self) -> float:
        """User + system CPU seconds so far of the measured processes that are still running."""
        return self._total(lambda p: sum(p.cpu_times()[:2]))

    def rss(self) -> int:
        return int(self._total(lambda p: p.memory_info().rss))

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


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
# DuckDB: the same cleaning in SQL
# --------------------------------------------------------------------------------------------------------------

# As clean_dataset.TRIMMED_CHARACTERS (tests/scripts checks it): this process does not import the job (pyspark).
TRIMMED_CHARACTERS = " \t\n\x0b\x0c\r\u00a0\ufeff"
# Spark datetime pattern letters -> strptime directives, for the patterns the config uses.
STRPTIME_DIRECTIVES = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
# DuckDB's CSV reader (with the encodings extension) names some charsets differently from Python and Java.
DOUBLE_QUOTE = '"'  # the reader's default quote and escape, as in the job
DUCKDB_ENCODINGS = {"utf-8": "utf-8", "iso8859-1": "latin-1", "cp1252": "cp1252", "utf-16": "utf-16"}


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def strptime_format(pattern: str) -> str:
    """A Spark pattern such as ``dd/MM/yyyy`` or ``yyyy-MM-dd'T'HH:mm:ss`` as a strptime format."""
    tokens = re.findall(r"'[^']*'|yyyy|MM|dd|HH|mm|ss|[A-Za-z]+|[^A-Za-z']+", pattern)
    parts = []
    for token in tokens:
        if token.startswith("'"):
            parts.append(token[1:-1].replace("%", "%%"))
        elif token in STRPTIME_DIRECTIVES:
            parts.append(STRPTIME_DIRECTIVES[token])
        elif token[0].isalpha():
            raise ValueError(f"Date pattern {pattern!r}: {token!r} has no strptime equivalent in this bench")
        else:
            parts.append(token.replace("%", "%%"))
    return "".join(parts)


def number_patterns(locale: dict[str, Any]) -> tuple[str, str]:
    """The job's integer and decimal patterns (clean_dataset._number_patterns): RE2 reads them as Java does."""
    digits = r"\d+"
    if locale.get("thousands"):
        digits = rf"(?:\d{{1,3}}(?:{re.escape(locale['thousands'])}\d{{3}})+|\d+)"
    return rf"-?{digits}", rf"-?{digits}(?:{re.escape(locale.get('decimal') or '.')}\d+)?"


def parse_sql(value: str, column: dict[str, Any], locale: dict[str, Any]) -> str:
    """SQL parsing a trimmed, non-token string as the column's type; NULL when it does not parse."""
    type_name = column["type"]
    integer, decimal = number_patterns(locale)
    delocalized = value
    if locale.get("thousands"):
        delocalized = f"replace({delocalized}, {sql_text(locale['thousands'])}, '')"
    delocalized = f"replace({delocalized}, {sql_text(locale.get('decimal') or '.')}, '.')"
    sql_types = {"int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE"}
    if type_name == "string":
        return value
    if type_name in ("int", "bigint") or type_name == "double" or type_name.startswith("decimal"):
        pattern = integer if type_name in ("int", "bigint") else decimal
        sql_type = sql_types.get(type_name) or type_name.upper()
        return (f"CASE WHEN regexp_full_match({value}, {sql_text(pattern)}) "
                f"THEN TRY_CAST({delocalized} AS {sql_type}) END")
    if type_name == "boolean":
        true_values = ", ".join(sql_text(v.strip().lower()) for v in locale["true_values"])
        false_values = ", ".join(sql_text(v.strip().lower()) for v in locale["false_values"])
        return (f"CASE WHEN lower({value}) IN ({true_values}) THEN true "
                f"WHEN lower({value}) IN ({false_values}) THEN false END")
    if type_name in ("date", "timestamp"):
        formats = column["formats"] or (["yyyy-MM-dd"] if type_name == "date" else [])
        if not formats:
            return f"TRY_CAST({value} AS TIMESTAMP)"
        cast = "::DATE" if type_name == "date" else ""
        parses = (f"try_strptime({value}, {sql_text(strptime_format(f))}){cast}" for f in formats)
        return "coalesce(" + ", ".join(parses) + ")"
    raise ValueError(f"Column type {type_name!r} is not supported by the DuckDB side of this bench")


def duckdb_cleaning_sql(config: dict[str, Any], files: list[Path], header: list[str]) -> str:
    """Statements that read ``files`` into ``raw`` and classify every row into ``classified``, as the job does.

    ``classified`` has ``__raw_<name>`` (values as read), the typed schema columns, ``__reasons`` and ``__outcome``.
    """
    schema, locale, reader = config["schema"], config["locale"], config["reader"]
    unsupported = [f"format {config['format']}"] if config["format"] != "csv" else []
    unsupported += ["rules"] if config.get("rules") else []
    unsupported += [f"time_zone {config['time_zone']}"] if config.get("time_zone", "UTC") != "UTC" else []
    if unsupported:
        raise ValueError(f"The DuckDB side of this bench cleans CSV without rules, in UTC; the config has "
                         f"{', '.join(unsupported)}")
    by_source = {column["source"] or column["name"]: column for column in schema}
    unknown = [name for name in header if name not in by_source]
    if unknown or len(header) != len(schema):
        raise ValueError(f"This bench needs every CSV header in the schema; header {header}, schema {list(by_source)}")
    encoding = codecs.lookup(reader.get("encoding", "utf-8")).name
    columns = "{" + ", ".join(f"{sql_text(name)}: 'VARCHAR'" for name in header) + "}"
    file_list = "[" + ", ".join(sql_text(str(f)) for f in files) + "]"
    read = (
        f"read_csv({file_list}, header = {str(reader.get('header', True)).lower()}, auto_detect = false, "
        f"columns = {columns}, delim = {sql_text(reader.get('delimiter', ','))}, "
        f"quote = {sql_text(reader.get('quote', DOUBLE_QUOTE))}, "
        f"escape = {sql_text(reader.get('escape', DOUBLE_QUOTE))}, "
        f"encoding = {sql_text(DUCKDB_ENCODINGS.get(encoding, encoding))}, filename = '__source_file')"
    )
    tokens = ", ".join(sql_text(t.strip().lower()) for t in config["null_tokens"])
    trimmed_chars = sql_text(TRIMMED_CHARACTERS)
    names = [column["name"] for column in schema]
    keys = config["keys"]
    required = [c["name"] for c in schema if not c["nullable"] or c["name"] in keys]

    raw_values = [f"{sql_name(column['source'] or column['name'])} AS {sql_name('__raw_' + column['name'])}"
                  for column in schema]
    cleaned = []
    for column in schema:
        trimmed = f"trim({sql_name(column['source'] or column['name'])}, {trimmed_chars})"
        cleaned.append(f"CASE WHEN lower({trimmed}) IN ({tokens}) THEN NULL ELSE {trimmed} END "
                       f"AS {sql_name('__s_' + column['name'])}")
    typed = [f"{parse_sql(sql_name('__s_' + c['name']), c, locale)} AS {sql_name(c['name'])}" for c in schema]
    reasons = []
    for name in names:
        value, string = sql_name(name), sql_name("__s_" + name)
        missing = (f"WHEN {string} IS NULL "
                   f"THEN {{'reason': {sql_text('missing:' + name)}, 'column': {sql_text(name)}}} "
                   if name in required else "")
        reasons.append(f"CASE {missing}WHEN {string} IS NOT NULL AND {value} IS NULL "
                       f"THEN {{'reason': {sql_text('unparseable:' + name)}, 'column': {sql_text(name)}}} END")
    as_read = ", ".join(sql_name("__raw_" + name) for name in names)
    set_aside = "(__exact_rank > 1 OR len(__reasons) > 0)"
    if keys:
        order = (f"{sql_name(config['order_by'])} DESC NULLS LAST, __source_file DESC, __row_id DESC"
                 if config.get("order_by") else "__source_file, __row_id")
        key_rank = (f"row_number() OVER (PARTITION BY {set_aside}, {', '.join(map(sql_name, keys))} "
                    f"ORDER BY {order})")
    else:
        key_rank = "1"
    return f"""
        CREATE TEMP TABLE raw AS SELECT * FROM {read};
        CREATE TEMP TABLE classified AS
        WITH cleaned AS (
            -- rowid: insertion order, i.e. file order then position in the file (preserve_insertion_order)
            SELECT rowid AS __row_id, __source_file, {', '.join(raw_values)}, {', '.join(cleaned)} FROM raw
        ), typed AS (
            SELECT *, {', '.join(typed)} FROM cleaned
        ), reasoned AS (
            SELECT *, list_filter([{', '.join(reasons)}], lambda r: r IS NOT NULL) AS __reasons FROM typed
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY {as_read} ORDER BY __source_file, __row_id) AS __exact_rank
            FROM reasoned
        )
        SELECT *, CASE WHEN __exact_rank > 1 THEN 'exact_duplicate'
                       WHEN len(__reasons) > 0 THEN 'rejected'
                       WHEN {key_rank} > 1 THEN 'key_duplicate'
                       ELSE 'clean' END AS __outcome
        FROM ranked;
    """


def load_duckdb_encodings(connection: Any) -> None:
    """DuckDB reads only UTF-8, UTF-16 and Latin-1 by itself; the PyPI package ships the encodings extension."""
    import duckdb
    import duckdb_extension_encodings

    library = (Path(duckdb_extension_encodings.__file__).parent / "extensions" / f"v{duckdb.__version__}"
               / "encodings.duckdb_extension")
    connection.execute(f"LOAD {sql_text(str(library))}")


def csv_header(path: Path, reader: dict[str, Any]) -> list[str]:
    with open(path, encoding=reader.get("encoding", "utf-8"), newline="") as handle:
        return next(csv.reader(handle, delimiter=reader.get("delimiter", ","), quotechar=reader.get("quote", '"')))


def run_duckdb(raw: Path, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    names = [column["name"] for column in config["schema"]]
    clean_dir = out / "clean" / DATASET / f"dt={RUN_DATE}"
    rejects_dir = out / "rejects" / DATASET / f"dt={RUN_DATE}"
    with PeakRss(jvm=False) as memory:
        cpu_before, started = memory.cpu(), time.perf_counter()
        connection = duckdb.connect()
        connection.execute("SET threads = 2")  # the two cores Spark's local[2] gets
        load_duckdb_encodings(connection)
        files = sorted(path for path in raw.rglob("*") if path.is_file() and not path.name.startswith(("_", ".")))
        if not files:
            raise FileNotFoundError(f"No input files under {raw}")
        connection.execute(duckdb_cleaning_sql(config, files, csv_header(files[0], config["reader"])))
        for folder in (clean_dir, rejects_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        connection.execute(
            f"COPY (SELECT {', '.join(map(sql_name, names))} FROM classified WHERE __outcome = 'clean') "
            f"TO {sql_text(str(clean_dir / 'part-0.parquet'))} (FORMAT parquet, COMPRESSION snappy)"
        )
        raw_as_named = ", ".join(f"{sql_name('__raw_' + name)} AS {sql_name(name)}" for name in names)
        connection.execute(
            f"COPY (SELECT {raw_as_named}, __reasons[1].reason AS reject_reason, "
            f"list_filter(list_transform(__reasons, lambda r: r.column), lambda c: c IS NOT NULL) AS reject_columns "
            f"FROM classified WHERE __outcome = 'rejected') "
            f"TO {sql_text(str(rejects_dir / 'part-0.json'))} (FORMAT json)"
        )
        by_outcome: Counter[str] = Counter()
        by_reason: dict[str, int] = {}
        rows = connection.execute(
            "SELECT __outcome, CASE WHEN __outcome = 'rejected' THEN __reasons[1].reason END, count(*) "
            "FROM classified GROUP BY ALL"
        ).fetchall()
        for outcome, reason, count in rows:
            by_outcome[outcome] += count
            if reason is not None:
                by_reason[reason] = count
        counts: dict[str, Any] = {
            "input": sum(by_outcome.values()),
            "clean": by_outcome["clean"],
            "rejected": by_outcome["rejected"],
            "exact_duplicates": by_outcome["exact_duplicate"],
            "key_duplicates": by_outcome["key_duplicate"],
            "rejects_by_reason": by_reason,
        }
        counts["duplicates"] = counts["exact_duplicates"] + counts["key_duplicates"]
        (out / "counts.json").write_text(json.dumps(counts), "utf-8")
        connection.close()
        wall_s, cpu_s = time.perf_counter() - started, memory.cpu() - cpu_before
    return {"engine": "duckdb", "wall_s": wall_s, "cpu_s": cpu_s, "peak_rss": memory.peak, "counts": counts}


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
    log(f"running {engine} ...")
    completed = subprocess.run(command, stdout=sys.stderr, cwd=REPO, env=module_environment())
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
