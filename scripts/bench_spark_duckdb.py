"""The bench-spark reference: the job's cleaning written in DuckDB SQL over the same files, with the same outputs.

It cleans CSV without rules, in UTC (what the ventas dataset needs) and refuses any other config by name.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.bench_spark_data import DATASET, RUN_DATE
from scripts.bench_spark_memory import PeakRss

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


def number_readings(locale: dict[str, Any]) -> list[tuple[str, str]]:
    """The job's readings of a number (parsing.plain_number), in order: (pattern, characters ``translate`` maps to
    "." then deletes: the decimal mark, then the sign + and the thousands mark). RE2 reads the patterns as Java does.

    The locale's marks first; when they are "." and ",", the other way round for a value only that way can be
    read ("1234.56" with a "," decimal mark). The generated data has both kinds and no symbols.
    """
    marks = [(locale.get("decimal") or ".", locale.get("thousands") or "")]
    if {marks[0][0], marks[0][1]} == {".", ","}:
        marks.append((marks[0][1], marks[0][0]))
    readings = []
    for decimal, thousands in marks:
        digits = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)" if thousands else r"\d+"
        readings.append((rf"[+-]?{digits}(?:{re.escape(decimal)}\d+)?(?:[eE][+-]?\d+)?", f"{decimal}+{thousands}"))
    return readings


def parse_sql(value: str, column: dict[str, Any], locale: dict[str, Any]) -> str:
    """SQL parsing a trimmed, non-token string as the column's type; NULL when it does not parse.

    An integer column takes digits alone: the job also takes a whole number written with an exponent ("1e3"),
    which the generated data does not hold.
    """
    type_name = column["type"]
    sql_types = {"int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE"}
    if type_name == "string":
        return value
    if type_name in ("int", "bigint") or type_name == "double" or type_name.startswith("decimal"):
        plain = "CASE " + " ".join(
            f"WHEN regexp_full_match({value}, {sql_text(pattern)}) THEN translate({value}, {sql_text(dropped)}, '.')"
            for pattern, dropped in number_readings(locale)) + " END"
        sql_type = sql_types.get(type_name) or type_name.upper()
        if type_name in ("int", "bigint"):
            return f"CASE WHEN regexp_full_match({plain}, '-?\\d+') THEN TRY_CAST({plain} AS {sql_type}) END"
        return f"TRY_CAST({plain} AS {sql_type})"
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
    unsupported += ["locale symbols"] if config["locale"].get("symbols") else []
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
