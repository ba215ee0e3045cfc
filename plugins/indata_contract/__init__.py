"""The dataset contract: what one dataset's cleaning needs, defined once for the DAG and the Glue job.

The Airflow side validates ``include/config/datasets.yaml`` (plugins/indata_ops/config, every problem named)
and builds these objects; ``Dataset.job_config()`` turns one into the ``--dataset_config`` JSON the job reads back
with ``DatasetConfig.from_json``. Plain frozen dataclasses: no Spark, no Airflow, no pydantic (Glue has none of
them but Spark), so the same package runs in both places: Airflow finds it in plugins/, the Glue job gets it in
the ``--extra-py-files`` zip with ``indata_clean``. Adding a dataset option means a field here, its field in
the config's dataset model (plugins/indata_ops/config/dataset_model.py), and its use in the job.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

FORMATS = ("csv", "json", "parquet")
SIMPLE_TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
# The canonical decimal type name is decimal(p,s); a space after the comma is read too.
DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")
RUN_DATE_PLACEHOLDER = "{ds}"
ON_EMPTY = ("fail", "skip")
# What to do with a source column that the schema (or, without one, the clean table) does not have.
SCHEMA_EVOLUTION = ("add", "ignore", "fail")
# Decimals beyond a decimal column's scale: a precision:<column> reject, or rounded half up and counted.
ROUNDING = ("reject", "half_up")
JSON_LAYOUTS = ("auto", "lines", "array")
RULE_KINDS = ("required", "range", "allowed", "regex")
RULE_CHECKS = ("required", "min", "max", "allowed", "regex")  # the keys of a rule; min and max make "range"
# Spellings of a missing value when a dataset lists none (compared trimmed and case-insensitively): what pandas, R,
# Spark's CSV reader and spreadsheets write. A dataset's own null_tokens replace the list ([] for none).
DEFAULT_NULL_TOKENS = ("", "NA", "N/A", "NULL", "NaN", "-", "#N/A", "None")
# Languages whose month names and abbreviations dates may use (locale.language); English is always read too.
LANGUAGES = ("es", "en")
# A schema column absent from a file: fail the job, or read it as NULL (a required column then rejects the row).
MISSING_COLUMNS = ("fail", "null")
# Boolean spellings when a dataset's locale lists none.
TRUE_TOKENS = ("sí", "si", "s", "yes", "y", "true", "1", "verdadero")
FALSE_TOKENS = ("no", "n", "false", "0", "falso")
# Read options per format with their defaults; CSV escapes quotes by doubling them, as Excel and Python write.
# skip_rows: lines before the header (a title some exports write above it), dropped unread.
READER_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "csv": MappingProxyType({"delimiter": ",", "quote": '"', "escape": '"', "encoding": "UTF-8", "header": True,
                             "skip_rows": 0}),
    "json": MappingProxyType({"layout": "auto"}),
    "parquet": MappingProxyType({}),
})

# Outcomes and reject reasons, as the job writes them in the rejects and counts.
CLEAN, REJECTED = "clean", "rejected"
EXACT_DUPLICATE, KEY_DUPLICATE = "exact_duplicate", "key_duplicate"
MALFORMED_RECORD = "malformed_record"
MISSING, UNPARSEABLE = "missing", "unparseable"  # reasons "missing:<column>", "unparseable:<column>"
RULE = "rule"  # reasons "rule:<column>:<kind>", kind one of RULE_KINDS
# A value is never changed silently. "out_of_range:<column>": beyond what the type holds (an integer or decimal
# overflow, a double that would be Infinity or 0, a year outside 1-9999). "precision:<column>": digits the type
# would drop (decimals beyond the scale, a fraction into an integer, sub-microsecond digits, a time of day into
# a date). ROUNDED is no reason: under rounding half_up, decimals beyond the scale are rounded and counted.
OUT_OF_RANGE, PRECISION, ROUNDED = "out_of_range", "precision", "rounded"


def snake_case(name: str) -> str:
    """A source field's clean name: ASCII snake_case, accents stripped, camelCase split, other runs one ``_``.

    The job names columns with it (adding a prefix or suffix only for empty, digit-led or repeated names); the
    Airflow side resolves ``keys``, ``order_by``, rules and column hints written as source headers with it.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    split_camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_name)
    return re.sub(r"[^0-9A-Za-z]+", "_", split_camel).strip("_").lower()


def is_column_type(type_name: str) -> bool:
    """True for a type name the job can hold: a simple type or decimal(p,s) with 1 <= p <= 38, 0 <= s <= p."""
    if type_name in SIMPLE_TYPES:
        return True
    decimal = DECIMAL_TYPE.fullmatch(type_name)
    return decimal is not None and 0 < int(decimal.group(1)) <= 38 and int(decimal.group(2)) <= int(decimal.group(1))


def folded(tokens: Sequence[str]) -> tuple[str, ...]:
    """Tokens as values are compared with them: trimmed and lowercased."""
    return tuple(token.strip().lower() for token in tokens)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a dataset's clean schema.

    ``name`` is the clean column's name. ``source`` is the field it is read from when that differs: the CSV header
    exactly as written (``Importe (€)``), or for JSON and Parquet a dotted path (``direccion.cp``). Without it (or
    when it equals ``name``) the column reads the source field whose normalized name is ``name``.
    ``formats`` are Spark datetime patterns (``dd/MM/yyyy``) tried in order, for date and timestamp columns.
    """

    name: str
    type: str
    nullable: bool = True
    formats: tuple[str, ...] = ()
    source: str | None = None

    @property
    def source_field(self) -> str:
        return self.source or self.name

    @property
    def names_its_source(self) -> bool:
        """True when ``source`` is given and differs from ``name``: then only that field will do."""
        return self.source is not None and self.source != self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source_field, "type": self.type, "nullable": self.nullable,
                "formats": list(self.formats)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ColumnSpec:
        return cls(name=raw["name"], type=raw["type"], nullable=raw.get("nullable", True),
                   formats=tuple(raw.get("formats") or ()), source=raw.get("source") or None)


@dataclass(frozen=True)
class Locale:
    """How text sources write numbers (decimal mark, optional thousands separator) and booleans.

    Boolean tokens match trimmed values ignoring case; they default to common Spanish and English spellings.
    """

    decimal: str = "."
    thousands: str | None = None  # None: numbers carry no thousands separator
    true_values: tuple[str, ...] = TRUE_TOKENS
    false_values: tuple[str, ...] = FALSE_TOKENS
    language: str = "es"  # month names in dates: this language's, and English
    # Symbols written around numbers (a currency, %), dropped before the number is read; the value is unchanged
    # otherwise ("12 %" is 12, not 0.12).
    symbols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"locale language must be one of {', '.join(LANGUAGES)}, got {self.language!r}")
        bad = [symbol for symbol in self.symbols if not symbol or any(c.isdigit() or c in "+-.," for c in symbol)]
        if bad:
            raise ValueError(f"locale symbols must not be empty nor hold digits, signs or separators: {bad}")
        if len(self.decimal) != 1 or (self.thousands is not None and len(self.thousands) != 1):
            raise ValueError("locale decimal and thousands must be single characters")
        if self.decimal == self.thousands:
            raise ValueError("locale decimal and thousands separators must differ")
        both = sorted(set(folded(self.true_values)) & set(folded(self.false_values)))
        if both:
            raise ValueError(f"locale true_values and false_values share {both}")

    def to_json(self) -> dict[str, Any]:
        return {"decimal": self.decimal, "thousands": self.thousands, "true_values": list(self.true_values),
                "false_values": list(self.false_values), "language": self.language, "symbols": list(self.symbols)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Locale:
        # Given token lists define the booleans, even when short; absent (or null) ones keep the defaults.
        tokens = {key: tuple(raw[key]) for key in ("true_values", "false_values") if raw.get(key) is not None}
        return cls(decimal=raw.get("decimal") or ".", thousands=raw.get("thousands") or None, **tokens,
                   language=raw.get("language") or "es", symbols=tuple(raw.get("symbols") or ()))


@dataclass(frozen=True)
class Inference:
    """How a text column without a declared type gets one.

    A type wins when at least ``min_share`` of the column's non-null sampled values parse as it; the values that do
    not are then rejected as ``unparseable:<column>``. ``sample_rows`` values are sampled spread over the whole
    day's input.
    """

    min_share: float = 0.99
    sample_rows: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.min_share <= 1:
            raise ValueError(f"inference min_share must be in (0, 1], got {self.min_share!r}")
        if self.sample_rows < 1:
            raise ValueError(f"inference sample_rows must be >= 1, got {self.sample_rows!r}")

    def to_json(self) -> dict[str, Any]:
        return {"min_share": self.min_share, "sample_rows": self.sample_rows}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Inference:
        return cls(min_share=raw.get("min_share", 0.99), sample_rows=raw.get("sample_rows", 10_000))


@dataclass(frozen=True)
class ColumnHint:
    """What is known of one column of a dataset without a schema; what it leaves out is inferred.

    ``name`` is the clean column's name (the Airflow side resolves a source header to it).
    """

    name: str
    type: str | None = None
    formats: tuple[str, ...] = ()
    nullable: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "formats": list(self.formats), "nullable": self.nullable}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ColumnHint:
        return cls(name=raw["name"], type=raw.get("type"), formats=tuple(raw.get("formats") or ()),
                   nullable=raw.get("nullable"))


@dataclass(frozen=True)
class ColumnRule:
    """Optional checks on one column's typed value; a row failing one is rejected as ``rule:<column>:<kind>``.

    ``required``: not NULL. ``range``: ``min <= value <= max`` (either bound may be absent; numbers, dates,
    timestamps; dates as ISO text). ``allowed``: one of the listed values. ``regex``: the whole value (as text)
    matches. The checks run only on values that parsed: an unparseable value is already rejected as such.
    """

    column: str
    required: bool = False
    min: Any = None
    max: Any = None
    allowed: tuple[Any, ...] | None = None
    regex: str | None = None

    def __post_init__(self) -> None:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise ValueError(
                    f"rules.{self.column}.regex {self.regex!r} is not a regular expression: {error}") from error
        if self.allowed is not None and not self.allowed:
            raise ValueError(f"rules.{self.column}.allowed must list at least one value")

    def to_json(self) -> dict[str, Any]:
        checks = {"required": self.required or None, "min": self.min, "max": self.max,
                  "allowed": None if self.allowed is None else list(self.allowed), "regex": self.regex}
        return {kind: value for kind, value in checks.items() if value is not None}

    @classmethod
    def from_json(cls, column: str, raw: Mapping[str, Any]) -> ColumnRule:
        unknown = sorted(set(raw) - set(RULE_CHECKS))
        if unknown:
            raise ValueError(f"rules.{column} has unknown checks {unknown}")
        allowed = raw.get("allowed")
        return cls(column=column, required=bool(raw.get("required", False)), min=raw.get("min"), max=raw.get("max"),
                   allowed=None if allowed is None else tuple(allowed), regex=raw.get("regex"))


@dataclass(frozen=True, kw_only=True)
class DatasetConfig:
    """What the cleaning job needs of a dataset: the ``--dataset_config`` JSON (``to_json``/``from_json``).

    Checked on construction, so a bad ``--dataset_config`` fails the job before any data is read; the Airflow
    side reports the same mistakes earlier, field by field, when it loads datasets.yaml.
    """

    format: str
    # Read options with the format's defaults filled in (READER_DEFAULTS); left out of the hash (a mapping).
    reader: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    null_tokens: tuple[str, ...] = DEFAULT_NULL_TOKENS
    keys: tuple[str, ...] = ()
    order_by: str | None = None  # among rows sharing the keys, the one with the greatest value is kept
    schema: tuple[ColumnSpec, ...] = ()  # empty: the job infers the schema
    locale: Locale = Locale()
    rules: tuple[ColumnRule, ...] = ()
    schema_evolution: str = "add"  # a source column the schema does not list: add | ignore | fail
    flatten_separator: str = "_"  # joins nested JSON/Parquet field names: cliente.dir -> cliente_dir
    time_zone: str = "UTC"  # the zone of timestamps written without an offset
    rounding: str = "reject"  # decimals beyond a decimal column's scale: reject | half_up
    inference: Inference = Inference()
    columns: tuple[ColumnHint, ...] = ()  # hints for a dataset without a schema
    missing_columns: str = "fail"  # a schema column absent from a file: fail | null
    # A run date without records: fail (the backup, for a date without files; the job, for files without records)
    # or skip (an empty manifest; an empty clean partition with zero counts).
    on_empty: str = "fail"

    def __post_init__(self) -> None:
        if self.on_empty not in ON_EMPTY:
            raise ValueError(f"dataset_config on_empty must be fail or skip, got {self.on_empty!r}")
        if self.missing_columns not in MISSING_COLUMNS:
            raise ValueError(f"dataset_config missing_columns must be fail or null, got {self.missing_columns!r}")
        for hint in self.columns:
            if hint.type is not None and not is_column_type(hint.type):
                raise ValueError(f"Unsupported column type {hint.type!r} (columns.{hint.name})")
        if self.format not in FORMATS:
            raise ValueError(f"dataset_config format must be csv, json or parquet, got {self.format!r}")
        if self.schema_evolution not in SCHEMA_EVOLUTION:
            raise ValueError(
                f"dataset_config schema_evolution must be add, ignore or fail, got {self.schema_evolution!r}")
        if not re.fullmatch(r"[a-z0-9_]{1,8}", self.flatten_separator):
            # Flattened names must stay valid Glue column names.
            raise ValueError(
                f"dataset_config flatten_separator must be 1-8 of a-z, 0-9, _ (got {self.flatten_separator!r})")
        if self.format == "json" and self.reader.get("layout", "auto") not in JSON_LAYOUTS:
            raise ValueError(
                f"dataset_config reader.layout must be auto, lines or array, got {self.reader['layout']!r}")
        skip_rows = self.reader.get("skip_rows", 0)
        if not isinstance(skip_rows, int) or isinstance(skip_rows, bool) or skip_rows < 0:
            raise ValueError(f"dataset_config reader.skip_rows must be a whole number >= 0, got {skip_rows!r}")
        if skip_rows and not self.reader.get("header", True):
            raise ValueError("dataset_config reader.skip_rows skips the lines before the header: it needs header true")
        if self.rounding not in ROUNDING:
            raise ValueError(f"dataset_config rounding must be reject or half_up, got {self.rounding!r}")
        for column in self.schema:
            if not is_column_type(column.type):
                raise ValueError(f"Unsupported column type {column.type!r}")
            for fmt in column.formats if column.type == "timestamp" else ():
                # Sub-microsecond digits are found after the seconds; elsewhere Spark would drop them unseen.
                if re.search(r"S{7,}", fmt) and not re.search(r"ss[.,]S{7,}", fmt):
                    raise ValueError(f"dataset_config column {column.name}: format {fmt!r} reads digits past "
                                     "microseconds; they must follow the seconds (ss.SSSSSSSSS)")
        for what, values in (("names", [c.name for c in self.schema]),
                             ("sources", [c.source_field for c in self.schema if c.names_its_source])):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"dataset_config schema repeats the column {what} {repeated}")
        if self.schema:
            # Keys must be in the schema so that a NULL key is caught as missing:<key>.
            names = {column.name for column in self.schema}
            unknown = [name for name in (*self.keys, self.order_by) if name is not None and name not in names]
            if unknown:
                raise ValueError(f"keys/order_by {unknown} are not in the dataset_config schema")
            unknown = [rule.column for rule in self.rules if rule.column not in names]
            if unknown:
                raise ValueError(f"rules name columns {unknown} that are not in the dataset_config schema")

    def to_json(self) -> dict[str, Any]:
        """The job's fields as plain JSON values (the ``--dataset_config`` argument, once dumped)."""
        return {
            "format": self.format,
            "reader": dict(self.reader),
            "null_tokens": list(self.null_tokens),
            "keys": list(self.keys),
            "order_by": self.order_by,
            "schema": [column.to_json() for column in self.schema],
            "locale": self.locale.to_json(),
            "rules": {rule.column: rule.to_json() for rule in self.rules},
            "schema_evolution": self.schema_evolution,
            "flatten_separator": self.flatten_separator,
            "time_zone": self.time_zone,
            "rounding": self.rounding,
            "inference": self.inference.to_json(),
            "columns": [hint.to_json() for hint in self.columns],
            "missing_columns": self.missing_columns,
            "on_empty": self.on_empty,
        }

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> DatasetConfig:
        raw = json.loads(text) if isinstance(text, str) else text
        unknown = sorted(set(raw) - {f.name for f in fields(DatasetConfig)})
        if unknown:
            # A field this job does not know would be ignored: the DAG and the shipped job disagree.
            raise ValueError(f"dataset_config has unknown fields {unknown}")
        defaults = {f.name: f.default for f in fields(DatasetConfig) if isinstance(f.default, str)}
        if not isinstance(raw.get("format"), str):
            raise ValueError(f"dataset_config needs a format (got {raw.get('format')!r})")
        return DatasetConfig(
            format=raw["format"],
            reader=MappingProxyType(dict(raw.get("reader") or {})),
            null_tokens=tuple(raw["null_tokens"]) if raw.get("null_tokens") is not None else DEFAULT_NULL_TOKENS,
            keys=tuple(raw.get("keys") or ()),
            order_by=raw.get("order_by"),
            schema=tuple(ColumnSpec.from_json(column) for column in raw.get("schema") or ()),
            locale=Locale.from_json(raw.get("locale") or {}),
            rules=tuple(ColumnRule.from_json(column, rule) for column, rule in (raw.get("rules") or {}).items()),
            inference=Inference.from_json(raw.get("inference") or {}),
            columns=tuple(ColumnHint.from_json(hint) for hint in raw.get("columns") or ()),
            **{name: raw.get(name) or default for name, default in defaults.items() if name != "format"},
        )


@dataclass(frozen=True, kw_only=True)
class Dataset(DatasetConfig):
    """One family of exported files, backed up and cleaned as one table named ``name``."""

    name: str
    source: str  # glob relative to the source root; {ds} is the run date, no {ds} means a snapshot

    @property
    def is_snapshot(self) -> bool:
        return RUN_DATE_PLACEHOLDER not in self.source

    def job_config(self) -> dict[str, Any]:
        """Everything the Spark job needs to clean this dataset, as plain JSON-serialisable values."""
        return self.to_json()

    def source_glob(self, run_date: str) -> str:
        """The source pattern for one run date (YYYY-MM-DD), relative to the source root."""
        check_run_date(run_date)
        return self.source.replace(RUN_DATE_PLACEHOLDER, run_date)

    def source_folder(self, run_date: str) -> str:
        """The fixed folder part of ``source_glob``: backed-up files keep their path relative to it.

        ``ventas/{ds}/*.csv`` -> ``ventas/2026-11-01``; ``exports/**/*.json`` -> ``exports``.
        """
        fixed: list[str] = []
        for part in PurePosixPath(self.source_glob(run_date)).parts[:-1]:
            if any(char in part for char in "*?["):
                break
            fixed.append(part)
        return "/".join(fixed)


_RUN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_run_date(run_date: str) -> None:
    """A ValueError unless ``run_date`` is a real date written YYYY-MM-DD."""
    if isinstance(run_date, str) and _RUN_DATE.fullmatch(run_date):
        try:
            date.fromisoformat(run_date)
            return
        except ValueError:
            pass
    raise ValueError(f"run_date must be a date as YYYY-MM-DD (got {run_date!r})")
