"""Reading a raw partition: the files under it, each CSV file with its own header, JSON lines or arrays per file,
Parquet with merged schemas; every record kept, text values as strings."""
from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import operator
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.columns import (
    CORRUPT_RECORD,
    ROW_ID,
    SOURCE_FILE,
    _leaves,
    _source_leaf,
    header_key,
    normalize_names,
    quoted,
)
from indata_contract import DatasetConfig

# The extra field after the last delimiter of a line that ends with one; never a data column.
TRAILING_FIELD = "__trailing_field"
# Bytes read from the start of each file to find its CSV header or JSON layout.
HEAD_BYTES = 1 << 20


class DroppedLines(NamedTuple):
    """CSV lines that are no records and were counted: ``skipped`` before the headers by ``reader.skip_rows``
    (non-blank ones). Blank lines (empty, or only spaces and tabs) are no records either, and are not counted:
    telling them apart would take another pass over every line of the day."""

    skipped: int = 0


def configure_session(spark: SparkSession) -> None:
    """Session settings the cleaning and the writes rely on."""
    # A date that does not match a format must give NULL (next format, or unparseable), not a SparkUpgradeException.
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    # Timestamps without a zone are read as UTC, whatever the host's zone.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # Dates before 1582-10-15 and timestamps before 1900 are written as they are (proleptic Gregorian, as Athena
    # reads them). Spark's default fails the write on them; LEGACY would shift them to the Julian calendar.
    for mode in ("datetimeRebaseModeInWrite", "int96RebaseModeInWrite"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")
    # No _SUCCESS objects in the partitions: the backup manifest is the commit marker, not Hadoop's.
    spark.conf.set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    # A stage whose generated code exceeds HotSpot's limit for compiling a method (8000 bytes of bytecode) would run
    # interpreted, several times slower: a dataset of many typed columns gets there. At 8000, as Spark's own
    # documentation advises on HotSpot, Spark runs such a stage without whole-stage code generation instead (the
    # ventas parse: 14 -> 7 CPU s per million rows; measured by make bench-spark, see docs/benchmarks.md).
    spark.conf.set("spark.sql.codegen.hugeMethodLimit", "8000")


def partition_path(root: str, run_date: str) -> str:
    return f"{root.rstrip('/')}/dt={run_date}/"


def _is_hidden(relative_path: str) -> bool:
    """Spark skips files and folders whose names start with ``_`` or ``.`` (``_SUCCESS``, ``.crc``, staging)."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/"))


def input_files(spark: SparkSession, path: str) -> list[str]:
    """The data files under ``path``, recursively, sorted; raise unless there is at least one.

    Spark's own errors for these cases do not always name the path ("Unable to infer schema for CSV").
    """
    # Spark has no public Python API to list files; the Hadoop FileSystem sees the same paths Spark reads.
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        raise FileNotFoundError(f"Raw path {path} does not exist")
    root = fs.makeQualified(hadoop_path).toString().rstrip("/") + "/"
    files = []
    listing = fs.listFiles(hadoop_path, True)
    while listing.hasNext():
        file = listing.next().getPath().toString()
        if not _is_hidden(file[len(root):] if file.startswith(root) else file.rsplit("/", 1)[-1]):
            files.append(file)
    if not files:
        raise FileNotFoundError(f"No input files under raw path {path}")
    return sorted(files)


def _file_head(spark: SparkSession, file: str, limit: int = HEAD_BYTES) -> bytes:
    """The first ``limit`` bytes of ``file`` as Spark would read them (decompressed when its name says .gz...)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(file)
    stream = path.getFileSystem(conf).open(path)
    try:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
        source = codec.createInputStream(stream) if codec is not None else stream
        bounded = jvm.org.apache.commons.io.input.BoundedInputStream(source, limit)
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(bounded))
    finally:
        stream.close()


def _spark_path(file: str) -> str:
    """A listed file as a path Spark reads literally: its reader expands glob characters such as ``[1]``."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", file)


def _python_codec(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _java_charset(encoding: str) -> str:
    """Accept Python spellings such as ``latin-1``; Java knows ISO-8859-1 as ``iso8859-1`` but not ``latin-1``."""
    name = codecs.lookup(encoding).name
    # A BOM is skipped by Spark's reader whatever the UTF-8 spelling; Java has no "utf-8-sig".
    return "utf-8" if name == "utf-8-sig" else name


def _is_text(value: str) -> bool:
    """False for what a text export never holds: control characters, or bytes the encoding could not decode."""
    return not any(
        char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\r\n") for char in value
    )


def csv_header(head: bytes, reader_options: Mapping[str, Any]) -> list[str] | None:
    """The column names in the first record of a CSV file whose first bytes are ``head``, after the
    ``reader_options["skip_rows"]`` lines before it.

    ``[]`` for an empty file (or one with no line after those skipped); None when the first record is not text (a
    binary or wrongly encoded file), so the file cannot be parsed as CSV. Names are as written, with Unicode
    composition, edge spaces and a BOM normalized; repeated names get `` (2)``, `` (3)``; empty ones Spark's
    ``_c<index>``.
    """
    fields = _header_fields(head, reader_options)
    if fields is None or not fields:
        return fields
    names: list[str] = []
    for index, name in enumerate(fields):
        name = header_key(name) or f"_c{index}"
        repeat = 2
        while name in names:
            name, repeat = f"{header_key(fields[index])} ({repeat})", repeat + 1
        names.append(name)
    return names


def _header_fields(head: bytes, reader_options: Mapping[str, Any]) -> list[str] | None:
    """The header's fields exactly as written (see csv_header)."""
    records = _head_records(head, reader_options)
    try:
        fields = next(records)
        while _is_blank(fields):
            fields = next(records)
    except StopIteration:
        return []
    except csv.Error:  # e.g. a NUL byte or a name longer than the csv module's field limit: not a header
        return None
    return fields if all(_is_text(name) for name in fields) else None


def _is_blank(record: Sequence[str]) -> bool:
    """An empty line, or one of only spaces and tabs: no record (a line of delimiters is one, of empty fields)."""
    return len(record) <= 1 and not "".join(record).strip()


def starts_blank(head: bytes, reader_options: Mapping[str, Any]) -> bool:
    """Whether blank lines come before a CSV file's header. Spark's reader would take a line of spaces for the
    header and the header for data, so such files are read with the header as a record, found by its fields."""
    try:
        first = next(_head_records(head, reader_options), None)
    except csv.Error:
        return False
    return first is not None and _is_blank(first)


def _head_records(head: bytes, reader_options: Mapping[str, Any]) -> Iterator[list[str]]:
    """The CSV records of ``head`` from the header on (after ``skip_rows`` lines), as Python's csv module reads
    them; blank lines give ``[]``."""
    text = head.decode(_python_codec(reader_options.get("encoding", "utf-8")), errors="replace")
    skip_rows = reader_options.get("skip_rows", 0)
    if skip_rows:
        lines = text.split("\n", skip_rows)  # "\r\n" too: the "\r" stays with the line skipped
        if len(lines) <= skip_rows:
            if len(head) == HEAD_BYTES:
                raise ValueError(f"the {skip_rows} lines before the CSV header are longer than {HEAD_BYTES} bytes")
            return iter(())
        text = lines[skip_rows]
    quote = reader_options.get("quote", '"')
    escape = reader_options.get("escape", '"')
    records = csv.reader(
        io.StringIO(text.lstrip("\ufeff"), newline=""),
        delimiter=reader_options.get("delimiter", ","),
        quotechar=quote,
        doublequote=escape == quote,
        escapechar=None if escape == quote else escape,
    )
    if len(head) == HEAD_BYTES and not re.search(r"[\r\n]", text):
        raise ValueError(f"the CSV header is longer than {HEAD_BYTES} bytes")
    return records


def trailing_fields(head: bytes, reader_options: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether a CSV file's lines end with a delimiter, as Excel and other exports write them: (the header's last
    field is empty; every data record in ``head`` has exactly one field more than the header's names, empty in at
    least one). Either may hold without the other.
    """
    records = _head_records(head, reader_options)
    try:
        header = next(records)
        while _is_blank(header):
            header = next(records)
        data = [record for record in records if not _is_blank(record)]
    except StopIteration:
        return False, False
    except csv.Error:
        return False, False
    if len(head) == HEAD_BYTES and data:
        data.pop()  # the last record may be cut short by the head's end
    header_trailing = len(header) > 1 and not header[-1].strip()
    width = len(header) - header_trailing
    # One line with a value there (a column the header does not name) must not turn every other line into a
    # malformed record: it alone stays malformed, when its extra field is dropped only if empty.
    data_trailing = (all(len(record) == width + 1 for record in data)
                     and any(record[-1] == "" for record in data))
    return header_trailing, data_trailing


def json_layout(head: bytes) -> str | None:
    """``array`` when a file is one JSON document (a top-level array, or one object spread over lines), ``lines``
    for one value per line; None for an empty file."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    first_line = text.splitlines()[0].strip()
    return "array" if text.startswith("[") or first_line == "{" else "lines"


def json_keys(head: bytes) -> list[str]:
    """The top-level keys of the JSON records in a file's first bytes ``head``, in first-seen order: JSON lines,
    an array of objects or one object. Records cut by the end of ``head`` or not JSON give no keys."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    decoder = json.JSONDecoder()
    records: list[Any] = []
    if text.startswith("["):
        position = 1
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if position >= len(text) or text[position] == "]":
                break
            try:
                record, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                break
            records.append(record)
    else:
        # "\n" only: str.splitlines would also split at characters such as U+2028 inside values.
        lines = text.split("\n") if json_layout(head) == "lines" else [text]
        for line in lines[:-1] if len(head) == HEAD_BYTES and len(lines) > 1 else lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    # Python's dicts keep the keys in the order the text has them.
    return list(dict.fromkeys(key for record in records if isinstance(record, dict) for key in record))


def _in_source_order(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The data columns in the order ``keys`` first has them, the rest after (Spark's JSON reader sorts them by
    name), then the bookkeeping columns."""
    internal = [name for name in df.columns if name in (CORRUPT_RECORD, SOURCE_FILE)]
    data = [name for name in df.columns if name not in internal]
    first = [key for key in dict.fromkeys(keys) if key in data]
    return df.select(*[quoted(name) for name in [*first, *[n for n in data if n not in first], *internal]])


def _string_schema(names: Sequence[str]) -> T.StructType:
    return T.StructType([T.StructField(name, T.StringType()) for name in names])


def _with_source_file(df: DataFrame) -> DataFrame:
    return df.select(*[quoted(name) for name in df.columns], F.input_file_name().alias(SOURCE_FILE))


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    """Frames unioned by column name; a column missing from a frame is NULL in its rows."""
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)
    return union


def _unreadable_as_rejects(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """Files that are not text in the dataset's format: every line a record with only ``__corrupt_record``."""
    lines = spark.read.text([_spark_path(file) for file in files])
    return _with_source_file(lines.select(F.col("value").alias(CORRUPT_RECORD)))


def read_csv(spark: SparkSession, config: DatasetConfig, files: Sequence[str]
             ) -> tuple[DataFrame | None, DroppedLines]:
    """CSV files, each read with the columns of its own header (files of one day may differ), unioned by name,
    and the lines skipped before the headers (``reader.skip_rows``). Blank lines are dropped: no records.

    None when every file is empty. Files whose first record is not text become rejects, one per line.
    """
    reader_options = config.reader
    skip_rows = reader_options.get("skip_rows", 0)
    # Spark's reader cannot skip lines: with skip_rows it reads the header as a record, found and dropped below.
    header = bool(reader_options.get("header", True)) and not skip_rows
    csv_options = {
        "header": str(header).lower(),
        "sep": reader_options.get("delimiter", ","),
        "quote": reader_options.get("quote", '"'),
        # RFC 4180 doubles quotes inside quoted values; Spark's default escape is a backslash.
        "escape": reader_options.get("escape", '"'),
        "encoding": _java_charset(reader_options.get("encoding", "utf-8")),
        # Quoted values may span lines; this makes a file one split, fine for daily exports.
        "multiLine": str(bool(reader_options.get("multiline", True))).lower(),
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT_RECORD,
    }
    # Files read alike: their column names, the header's fields as written (with skip_rows, to find its record),
    # and whether each line ends with an extra, empty field.
    by_layout: dict[tuple[tuple[str, ...], tuple[str, ...] | None, bool], list[str]] = {}
    unreadable: list[str] = []
    for file in files:
        try:
            head = _file_head(spark, file)
            names = csv_header(head, reader_options)
            # Without a header there is no name count to tell an extra field from a column.
            header_trailing, data_trailing = (
                trailing_fields(head, reader_options) if names and reader_options.get("header", True)
                else (False, False))
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from error
        if names is None:
            unreadable.append(file)
            continue
        if header_trailing:
            names = names[:-1]  # the empty name after the header's last delimiter names no column
        if names and (skip_rows or (header and starts_blank(head, reader_options))):
            # Grouped by the header as written, which is how its record is recognised among the lines.
            by_layout.setdefault((tuple(names), tuple(_header_fields(head, reader_options)), data_trailing),
                                 []).append(file)
        elif names and not header and config.schema:
            # Named as the schema's sources say, so name_columns maps them like headers; the first record is data,
            # and one with too few or too many fields is malformed like any other.
            by_layout.setdefault((tuple(spec.source or spec.name for spec in config.schema), None, False),
                                 []).append(file)
        elif names:
            by_layout.setdefault((tuple(names) if header else tuple(f"_c{i}" for i in range(len(names))), None,
                                  data_trailing), []).append(file)
    # An all-string schema: nothing is inferred, and the corrupt-record column (which Spark fills only when it
    # is in the schema) is there.
    frames, skipped = [], 0
    for (names, fields, data_trailing), group in by_layout.items():
        frame = _with_source_file(
            spark.read.schema(_string_schema([*names, *([TRAILING_FIELD] if data_trailing else []), CORRUPT_RECORD]))
            .options(**{**csv_options, **({"header": "false"} if fields is not None else {})})
            .csv([_spark_path(file) for file in group])
        )
        frame = frame.where(~_is_blank_line())
        if fields is not None:
            frame, group_skipped = _after_header(frame, names, fields, skip_rows)
            skipped += group_skipped
        if data_trailing:
            frame = _without_trailing_field(frame, csv_options["sep"])
        frames.append(frame)
    if unreadable:
        frames.append(_unreadable_as_rejects(spark, unreadable))
    return (_union(frames) if frames else None), DroppedLines(skipped)


def _is_blank_line() -> Column:
    """A line of only spaces or tabs: Spark's multi-line reader makes it a malformed record (it drops empty ones)."""
    return F.coalesce(F.col(CORRUPT_RECORD).rlike(r"^\s*$"), F.lit(False))


def _without_trailing_field(frame: DataFrame, delimiter: str) -> DataFrame:
    """Drop the extra field after each line's last delimiter; a record whose extra field holds a value is
    malformed, its ``__corrupt_record`` its fields joined again (Spark parsed it, so it kept no text)."""
    extra = F.col(TRAILING_FIELD)
    names = [name for name in frame.columns if name not in (TRAILING_FIELD, CORRUPT_RECORD, SOURCE_FILE)]
    joined = F.concat_ws(delimiter, *[F.coalesce(quoted(name), F.lit("")) for name in [*names, TRAILING_FIELD]])
    has_value = F.col(CORRUPT_RECORD).isNull() & extra.isNotNull() & (extra != "")
    return frame.select(
        *[quoted(name) for name in names],
        F.when(has_value, joined).otherwise(F.col(CORRUPT_RECORD)).alias(CORRUPT_RECORD),
        F.col(SOURCE_FILE),
    )


def _after_header(frame: DataFrame, names: Sequence[str], fields: Sequence[str], skip_rows: int
                  ) -> tuple[DataFrame, int]:
    """The records after each file's header, read as a record, and the number of records dropped before it.

    The header is the file's first record whose values are its fields as written. Spark's reader leaves out blank
    lines, so the count is of the non-blank lines skipped. A file whose header is not found among its records (a
    quote in a skipped line joined lines) fails the job, naming it: its rows would otherwise be lost unseen.
    """
    position = "__position"
    numbered = frame.select(*frame.columns, F.monotonically_increasing_id().alias(position))
    is_header = functools.reduce(operator.and_, [
        quoted(name).eqNullSafe(F.lit(value if value != "" else None).cast("string"))  # "" is read as NULL
        for name, value in zip(names, fields)
    ])
    starts = numbered.groupBy(SOURCE_FILE).agg(
        F.min(position).alias("__first"), F.min(F.when(is_header, F.col(position))).alias("__header")
    ).collect()
    lost = sorted(row[SOURCE_FILE] for row in starts if row["__header"] is None)
    if lost:
        raise ValueError(f"{', '.join(lost)}: no header {list(fields)!r} after the {skip_rows} lines of "
                         "reader.skip_rows (a quote in a skipped line?)")
    headers = frame.sparkSession.createDataFrame(
        [(row[SOURCE_FILE], row["__header"]) for row in starts], f"{SOURCE_FILE} string, __header long")
    kept = numbered.join(F.broadcast(headers), on=SOURCE_FILE, how="inner").where(F.col(position) > F.col("__header"))
    skipped = sum(row["__header"] - row["__first"] for row in starts)
    return kept.select(*[quoted(name) for name in frame.columns]), skipped


def _merged_type(left: T.DataType, right: T.DataType) -> T.DataType:
    """The type that holds both: structs merge field by field; any other disagreement is kept as text."""
    if left == right:
        return left
    if isinstance(left, T.StructType) and isinstance(right, T.StructType):
        return _merged_struct(left, right)
    return T.StringType()


def _merged_struct(left: T.StructType, right: T.StructType) -> T.StructType:
    fields = {f.name: f.dataType for f in left.fields}
    for f in right.fields:
        fields[f.name] = _merged_type(fields[f.name], f.dataType) if f.name in fields else f.dataType
    return T.StructType([T.StructField(name, data_type) for name, data_type in fields.items()])


def read_json(spark: SparkSession, config: DatasetConfig, files: Sequence[str]) -> DataFrame | None:
    """JSON files: lines (one record per line) and arrays (one document per file), detected per file unless
    ``reader.layout`` says; both kinds are read with one merged schema. None when every file is empty.

    Columns are in the order the records first have them, file by file (in each file's first ``HEAD_BYTES``);
    fields seen only later follow by name, as Spark's reader sorts them.
    """
    layout = config.reader.get("layout", "auto")
    by_layout: dict[str, list[str]] = {}
    keys: list[str] = []
    for file in files:
        head = _file_head(spark, file)
        file_layout = json_layout(head) if layout == "auto" else layout
        if file_layout is not None:
            by_layout.setdefault(file_layout, []).append(file)
            keys += json_keys(head)

    def reader(file_layout: str):
        return spark.read.options(
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD,
            multiLine=str(file_layout == "array").lower(),
            # Values keep their text ("007", "1.50"); the schema decides the types.
            primitivesAsString="true",
        )

    groups = {file_layout: [_spark_path(file) for file in group] for file_layout, group in by_layout.items()}
    if len(groups) == 1:
        ((file_layout, paths),) = groups.items()
        return _in_source_order(_with_source_file(reader(file_layout).json(paths)), keys)
    if not groups:
        return None
    schemas = [reader(file_layout).json(paths).schema for file_layout, paths in groups.items()]
    merged = schemas[0]
    for schema in schemas[1:]:
        merged = _merged_struct(merged, schema)
    if CORRUPT_RECORD not in merged.fieldNames():
        merged = merged.add(CORRUPT_RECORD, T.StringType())
    return _in_source_order(
        _union([_with_source_file(reader(kind).schema(merged).json(paths)) for kind, paths in groups.items()]), keys)


def with_absent_columns(df: DataFrame, config: DatasetConfig) -> DataFrame:
    """With ``missing_columns: null``, a NULL text column for each schema column whose source no file holds.

    A column some files of the day lack is already NULL in their rows (the files are unioned by name); one that
    none holds would fail naming the schema's columns, which ``missing_columns: fail`` keeps. A non-nullable
    column read as NULL then rejects its rows as ``missing:<column>``.
    """
    leaves = _leaves(df)
    if config.missing_columns != "null" or not config.schema or not leaves:
        return df  # with no data columns at all (every file empty), the schema names the columns anyway
    paths = [path for path, _ in leaves]
    normalized = normalize_names(paths, separator=config.flatten_separator)
    nested = config.format != "csv"
    absent = [spec.source_field for spec in config.schema if _source_leaf(spec, paths, normalized, nested) is None]
    return df.select(*[quoted(name) for name in df.columns],
                     *[F.lit(None).cast("string").alias(name) for name in absent])


def read_raw(spark: SparkSession, config: DatasetConfig, path: str) -> DataFrame:
    """Read the raw partition per the config; every record is kept (PERMISSIVE), text values stay strings.

    Adds ``__source_file`` and ``__row_id`` (file, then position) as the "first seen" order, and, for CSV/JSON,
    ``__corrupt_record`` holding the text of records the reader could not parse. When every file is empty the
    frame has no data columns and no rows.
    """
    return read_partition(spark, config, path)[0]


def read_partition(spark: SparkSession, config: DatasetConfig, path: str) -> tuple[DataFrame, DroppedLines]:
    """``read_raw``'s frame, and the CSV lines that were no records: neither input nor rejects."""
    files = input_files(spark, path)
    dropped = DroppedLines()
    if config.format == "csv":
        df, dropped = read_csv(spark, config, files)
    elif config.format == "json":
        df = read_json(spark, config, files)
    else:
        # Files of one day may carry different columns: read them all, not only the first file's footer.
        df = _with_source_file(spark.read.option("mergeSchema", "true").parquet(*map(_spark_path, files)))
    if df is None:
        df = spark.createDataFrame([], T.StructType([T.StructField(SOURCE_FILE, T.StringType())]))
    df = with_absent_columns(df, config)
    return df.select(*[quoted(name) for name in df.columns], F.monotonically_increasing_id().alias(ROW_ID)), dropped


