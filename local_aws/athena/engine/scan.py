"""How to read a Glue table's files with DuckDB: its layout (columns, partition keys, format) and the
read_parquet / read_json / read_csv call with the projection of its declared columns.

Table data
    Parquet (ParquetHiveSerDe, MapredParquetInputFormat or classification=parquet): columns are matched
    by name, case-insensitively; a column missing from every file reads as NULL.
    Text through LazySimpleSerDe: field.delim (or serialization.format; a number means that byte, as in
    Hive; default \\x01), escape.delim, serialization.null.format (default \\N), no quoting; values are
    cast to the declared types with TRY_CAST, so a bad value becomes NULL as in Hive; missing trailing
    fields are NULL, extra fields are ignored.
    Text through OpenCSVSerde: separatorChar / quoteChar / escapeChar (defaults , " \\); Athena reads
    every field as a string (empty fields are empty strings) and the engine then casts to the declared
    types with TRY_CAST.
    Both text SerDes honour skip.header.line.count (per file) and serialization.encoding UTF-8,
    ISO-8859-1 / latin1 and UTF-16. Files ending in .gz or .zst are decompressed.
    JSON lines (org.openx.data.jsonserde.JsonSerDe, org.apache.hive.hcatalog.data.JsonSerDe,
    classification=json): keys are matched to columns by exact name; ignore.malformed.json=true skips
    bad lines.
    Partition columns come from each partition's Values, typed per PartitionKeys; the Hive default
    partition (__HIVE_DEFAULT_PARTITION__) reads as NULL. Objects whose path below the table or
    partition location has a segment starting with '_' or '.' are ignored, as are empty objects.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable

import sqlglot
import sqlglot.errors
from sqlglot import exp

from local_aws.athena.engine.errors import error

_NOT_READABLE = ("OrcSerde", "AvroSerDe", "Orc", "Avro")
TEXT_COMPRESSION_NOT_READABLE = (".bz2", ".snappy", ".lz4", ".deflate", ".lzo")
_OPEN_CSV_DEFAULTS = (("separatorChar", ","), ("quoteChar", '"'), ("escapeChar", "\\"))
_HIVE_NULL = "\\N"  # LazySimpleSerDe's default serialization.null.format
_DUCKDB_ENCODINGS = {"utf8": "utf-8", "iso88591": "latin-1", "latin1": "latin-1", "utf16": "utf-16"}


@dataclasses.dataclass
class TableLayout:
    """How to read a Glue table: its columns (name, Hive type), partition keys and file format."""

    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    format: str  # parquet | lazy_csv | open_csv | json
    serde_parameters: dict[str, str]
    table_parameters: dict[str, str]

    @property
    def date_columns(self) -> set[str]:
        return {name for name, hive_type in self.columns + self.partition_keys if hive_type == "date"}


def table_layout(table: dict, qualified_name: str) -> TableLayout:
    parameters = table.get("Parameters") or {}
    if table.get("TableType") == "VIRTUAL_VIEW" or parameters.get("table_type", "").upper() == "ICEBERG":
        raise error("NOT_SUPPORTED", f"Table '{qualified_name}' is a view or an Iceberg table, which the local "
                                     "Athena engine cannot read")
    storage = table["StorageDescriptor"]
    serde_info = storage.get("SerdeInfo") or {}
    return TableLayout(
        columns=[(c["Name"].lower(), c["Type"].lower()) for c in storage.get("Columns", [])],
        partition_keys=[(k["Name"].lower(), k["Type"].lower()) for k in table.get("PartitionKeys", [])],
        format=_data_format(serde_info.get("SerializationLibrary") or "", storage.get("InputFormat") or "",
                            parameters.get("classification", "").lower(), qualified_name),
        serde_parameters=serde_info.get("Parameters") or {},
        table_parameters=parameters,
    )


def _data_format(serde: str, input_format: str, classification: str, qualified_name: str) -> str:
    if "Parquet" in serde or "Parquet" in input_format or classification == "parquet":
        return "parquet"
    if "JsonSerDe" in serde or classification == "json":
        return "json"
    if "OpenCSVSerde" in serde:
        return "open_csv"
    if any(marker in serde or marker in input_format for marker in _NOT_READABLE):
        raise error("NOT_SUPPORTED", f"The data format of table '{qualified_name}' ({serde or input_format}) "
                                     "cannot be read by the local Athena engine")
    if "LazySimpleSerDe" in serde or "TextInputFormat" in input_format or classification == "csv":
        return "lazy_csv"
    raise error("NOT_SUPPORTED", f"Unknown data format of table '{qualified_name}': {serde or input_format}")


@functools.lru_cache(maxsize=512)
def duckdb_type(hive_type: str) -> str:
    try:
        data_type = exp.DataType.build(hive_type, dialect="hive")
    except sqlglot.errors.ParseError as err:
        raise error("NOT_SUPPORTED", f"Column type '{hive_type}' is not supported by the local Athena engine") from err
    for node in data_type.find_all(exp.DataType):
        if node.this == exp.DataType.Type.DECIMAL and not node.expressions:
            # Hive's bare DECIMAL is decimal(10,0); DuckDB's would be DECIMAL(18,3).
            node.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(10)),
                                     exp.DataTypeParam(this=exp.Literal.number(0))])
    return data_type.sql(dialect="duckdb")


def _hive_separator(value: str) -> str:
    """Hive reads a delimiter property that is a number as that byte value (serialization.format=1 is \\x01)."""
    return chr(int(value)) if value.isdigit() else value[:1]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_literal(value) for value in values) + "]"


def _text_options(layout: TableLayout) -> list[str]:
    """read_csv options shared by both text SerDes: header lines, encoding, raw string columns."""
    encoding_name = layout.serde_parameters.get("serialization.encoding", "UTF-8")
    encoding = _DUCKDB_ENCODINGS.get(re.sub(r"[-_]", "", encoding_name.lower()))
    if encoding is None:
        raise error("NOT_SUPPORTED", f"serialization.encoding '{encoding_name}' is not supported by the local "
                                     "Athena engine")
    raw_columns = ", ".join(f"'c{index}': 'VARCHAR'" for index in range(len(layout.columns)))
    skip = int(layout.table_parameters.get("skip.header.line.count", "0"))
    return ["header = false", f"skip = {skip}", f"encoding = {_sql_literal(encoding)}", "auto_detect = false",
            f"columns = {{{raw_columns}}}", "null_padding = true", "strict_mode = false", "filename = '__file'"]


def scan_sql(layout: TableLayout, paths: list[str], file_columns: Callable[[str], list[str]]) -> tuple[str, list[str]]:
    """DuckDB table function reading the files (with a __file column), and the projection of the declared
    columns out of it (alias d), typed as the catalog says."""
    files = _sql_list(paths)
    if layout.format == "parquet":
        scan = f"read_parquet({files}, union_by_name = true, filename = '__file')"
        available = {name.lower(): name for name in file_columns(scan)}
        projection = [f"CAST(d.{sql_name(available[name])} AS {duckdb_type(hive_type)})" if name in available
                      else f"CAST(NULL AS {duckdb_type(hive_type)})" for name, hive_type in layout.columns]
        return scan, projection
    if layout.format == "json":
        columns = ", ".join(f"{_sql_literal(name)}: {_sql_literal(duckdb_type(hive_type))}"
                            for name, hive_type in layout.columns)
        ignore_errors = layout.serde_parameters.get("ignore.malformed.json", "false").lower() == "true"
        scan = (f"read_json({files}, format = 'newline_delimited', columns = {{{columns}}}, "
                f"ignore_errors = {str(ignore_errors).lower()}, filename = '__file')")
        return scan, [f"d.{sql_name(name)}" for name, _ in layout.columns]
    return _text_scan(layout, files)


def _text_scan(layout: TableLayout, files: str) -> tuple[str, list[str]]:
    params = layout.serde_parameters
    if layout.format == "open_csv":
        separator, quote, escape = (params.get(name, default) for name, default in _OPEN_CSV_DEFAULTS)
        options = [f"delim = {_sql_literal(separator)}", f"quote = {_sql_literal(quote)}",
                   f"escape = {_sql_literal(escape)}", "allow_quoted_nulls = false"]
        # OpenCSVSerde yields empty strings, never NULL, for empty fields.
        raw = [f"COALESCE(d.c{index}, '')" for index in range(len(layout.columns))]
    else:
        delimiter = params.get("field.delim") or params.get("serialization.format") or "1"
        options = [f"delim = {_sql_literal(_hive_separator(delimiter))}", "quote = ''",
                   f"escape = {_sql_literal(params.get('escape.delim', ''))}",
                   f"nullstr = {_sql_literal(params.get('serialization.null.format', _HIVE_NULL))}"]
        raw = [f"d.c{index}" for index in range(len(layout.columns))]
    scan = f"read_csv({files}, {', '.join(options + _text_options(layout))})"
    projection = [value if duckdb_type(hive_type) in ("TEXT", "VARCHAR") else
                  f"TRY_CAST({value} AS {duckdb_type(hive_type)})"
                  for value, (_, hive_type) in zip(raw, layout.columns)]
    return scan, projection
