"""The pipeline's bookkeeping columns, Spark types for the contract's type names, and naming: each source
field (a CSV header, a nested JSON or Parquet path) becomes a clean column name."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_contract import DECIMAL_TYPE, ColumnSpec, DatasetConfig, snake_case

# Bookkeeping columns carried through the pipeline. Normalized names never start with "_", so they cannot clash.
ROW_ID = "__row_id"
SOURCE_FILE = "__source_file"
CORRUPT_RECORD = "__corrupt_record"
RAW_VALUES = "__raw"
REASONS = "__reasons"
OUTCOME = "__outcome"
ROUNDED_COLUMNS = "__rounded"  # names of the columns whose value was rounded (rounding: half_up only)
SOURCE_NAME = "source"  # column metadata key: the field's name in the source
INTERNAL_COLUMNS = frozenset({ROW_ID, SOURCE_FILE, CORRUPT_RECORD, RAW_VALUES, REASONS, OUTCOME, ROUNDED_COLUMNS})

SIMPLE_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def spark_type(type_name: str) -> T.DataType:
    """The Spark type for a config type name (string, int, bigint, double, boolean, date, timestamp, decimal(p,s))."""
    if type_name in SIMPLE_TYPES:
        return SIMPLE_TYPES[type_name]
    decimal = DECIMAL_TYPE.fullmatch(type_name)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        if 0 < precision <= 38 and scale <= precision:
            return T.DecimalType(precision, scale)
    raise ValueError(f"Unsupported column type {type_name!r}")




def quoted(name: str) -> Column:
    """A top-level column by its exact name, even when it holds dots or spaces (raw headers do)."""
    return F.col("`" + name.replace("`", "``") + "`")


def data_columns(df: DataFrame) -> list[str]:
    """The dataset's own columns, without the pipeline's bookkeeping columns."""
    return [name for name in df.columns if name not in INTERNAL_COLUMNS]


def text_columns(df: DataFrame) -> list[str]:
    return [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType) and f.name not in INTERNAL_COLUMNS]


def _leaves(df: DataFrame) -> list[tuple[tuple[str, ...], Column]]:
    """Every data leaf as (path from the top-level field, column); structs are walked, arrays and maps are leaves."""
    leaves: list[tuple[tuple[str, ...], Column]] = []

    def add(column: Column, path: tuple[str, ...], data_type: T.DataType) -> None:
        if isinstance(data_type, T.StructType):
            for child in data_type.fields:
                # getField takes the name as written: a key holding a dot is not split.
                add(column.getField(child.name), (*path, child.name), child.dataType)
        else:
            leaves.append((path, column))

    for top in df.schema.fields:
        if top.name not in INTERNAL_COLUMNS:
            add(quoted(top.name), (top.name,), top.dataType)
    return leaves


# ASCII snake_case, defined with the contract: the Airflow side resolves names written as source headers with it.
to_snake_case = snake_case


def flat_name(path: Sequence[str], separator: str = "_") -> str:
    """A nested field's name: each level in snake_case, joined by ``separator`` (``cliente.dir`` -> ``cliente_dir``)."""
    return separator.join(part for part in map(to_snake_case, path) if part)


def normalize_names(
    names: Sequence[str | tuple[str, ...]], reserved: Sequence[str] = (), separator: str = "_"
) -> list[str]:
    """Unique snake_case names: a leading digit or an empty name gets a ``col_`` prefix, repeats get ``_2``, ``_3``.

    A name may be a path into nested fields (a tuple), flattened with ``separator``. ``reserved`` names are taken
    already (the schema's): a name that would repeat one gets a suffix too.
    """
    bases = []
    for position, name in enumerate(names, start=1):
        base = to_snake_case(name) if isinstance(name, str) else flat_name(name, separator)
        if not base:
            base = f"col_{position}"
        elif base[0].isdigit():
            base = f"col_{base}"
        bases.append(base)

    taken: set[str] = set(reserved)
    unique = []
    for base in bases:
        candidate, suffix = base, 2
        # A suffixed name must not steal a name that another column has in its own right.
        while candidate in taken or (candidate != base and candidate in bases):
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique


def header_key(name: str) -> str:
    """A header as written, forgiving only what cannot be seen: Unicode composition, edge spaces and a BOM."""
    return unicodedata.normalize("NFC", name).strip().strip("\ufeff").strip()


def _source_leaf(
    spec: ColumnSpec, paths: Sequence[tuple[str, ...]], normalized: Sequence[str], nested: bool
) -> int | None:
    """The index in ``paths`` of the field ``spec`` reads, or None.

    A field named exactly ``source`` wins over a dotted path (JSON keys and Parquet names may hold dots); headers
    that differ only invisibly (NFC vs NFD accents, edge spaces, a BOM) still match when only one does.
    """
    source = spec.source or spec.name
    wanted = [(source,)]
    if nested and "." in source:
        wanted.append(tuple(source.split(".")))
    for path in wanted:
        if path in paths:
            return paths.index(path)
    loose_wanted = {tuple(map(header_key, path)) for path in wanted}
    loose = [i for i, path in enumerate(paths) if tuple(map(header_key, path)) in loose_wanted]
    if len(loose) == 1:
        return loose[0]
    if not spec.names_its_source and spec.name in normalized:
        return list(normalized).index(spec.name)
    return None


def name_columns(df: DataFrame, config: DatasetConfig) -> DataFrame:
    """Flatten the raw columns and name them: each schema column reads its ``source``, the rest are normalized.

    Output: the data leaves in source order (schema columns under their ``name``, others under unique snake_case
    names that never take a schema name), then the bookkeeping columns. Raises when a schema column's source is
    not in the data, naming what the data holds.
    """
    leaves = _leaves(df)
    internal = [quoted(name) for name in df.columns if name in INTERNAL_COLUMNS]
    if not leaves:
        # Every file was empty: there are no rows, and the schema's columns are all there is to name.
        return df.select(*[F.lit(None).cast("string").alias(spec.name) for spec in config.schema], *internal)
    paths = [path for path, _ in leaves]
    separator = config.flatten_separator
    normalized = normalize_names(paths, separator=separator)
    nested = config.format != "csv"  # a CSV header is one name, dots and all

    claimed: dict[int, str] = {}
    not_found: list[str] = []
    for spec in config.schema:
        index = _source_leaf(spec, paths, normalized, nested)
        if index is None:
            not_found.append(f"{spec.name} (source {spec.source or spec.name!r})")
        elif index in claimed:
            raise ValueError(
                f"Schema columns {claimed[index]!r} and {spec.name!r} both read the field {'.'.join(paths[index])!r}"
            )
        else:
            claimed[index] = spec.name
    if not_found:
        found = ", ".join(repr(".".join(path)) for path in paths)
        raise ValueError(f"Schema columns not found in the data: {', '.join(not_found)}; the data has {found}")

    others = [i for i in range(len(leaves)) if i not in claimed]
    other_names = normalize_names([paths[i] for i in others], [s.name for s in config.schema], separator)
    names = {**claimed, **dict(zip(others, other_names))}
    # The field as the source names it travels in the column's metadata, for messages about unexpected columns.
    return df.select(
        *[column.alias(names[i], metadata={SOURCE_NAME: ".".join(paths[i])}) for i, (_, column) in enumerate(leaves)],
        *internal,
    )


