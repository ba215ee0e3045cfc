"""``datasets:`` of datasets.yaml as pydantic models, each turned into the contract's ``Dataset``.

The models check what can be checked before any data is read: names, types, Spark date patterns, reader options
per format, rules against the column's type, keys against the schema. A check that needs another field runs as
that field's validator (fields validate in order, and ``info.data`` holds the earlier ones that passed), so one
load reports every problem whose inputs are usable, not only the first.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from indata_contract import (
    DEFAULT_NULL_TOKENS,
    FALSE_TOKENS,
    FORMATS,
    JSON_LAYOUTS,
    LANGUAGES,
    MISSING_COLUMNS,
    ON_EMPTY,
    READER_DEFAULTS,
    ROUNDING,
    RULE_CHECKS,
    RUN_DATE_PLACEHOLDER,
    SCHEMA_EVOLUTION,
    SIMPLE_TYPES,
    TRUE_TOKENS,
    ColumnHint,
    ColumnRule,
    ColumnSpec,
    Dataset,
    Inference,
    Locale,
    snake_case,
)
from indata_ops.config.checks import (
    Character,
    Encoding,
    Matching,
    Names,
    NonEmptyText,
    OptionalCharacter,
    Tokens,
    checked,
    fail,
    problem,
)
from indata_ops.config.literals import rule_value
from indata_ops.config.problems import message
from indata_ops.config.quality_model import (
    AnomalyOptions,
    CheckColumns,
    checks_json_schema,
    dataset_quality,
    declared_checks,
)
from indata_ops.quality.model import DatasetQuality, DeclaredCheck

_DECIMAL_TYPE = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
# Spark 3 datetime pattern letters; the week-based ones (Y, w, u, W, e, c) are rejected by Spark since 3.0.
_SPARK_PATTERN_LETTERS = set("GyDMLdQqEFahKkHmsSVzOXxZ")
_QUOTED_LITERAL = re.compile(r"'[^']*'")


class _Strict(BaseModel):
    """Unknown keys refused, YAML types taken as they are (5.0 is no string, "1" no integer)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


# --- reader options, per format -----------------------------------------------------------------------------------

_CSV = READER_DEFAULTS["csv"]


class CsvReader(_Strict):
    """CSV read options; CSV escapes quotes by doubling them, as Excel and Python write."""

    delimiter: Character = _CSV["delimiter"]
    """The field separator, one character."""
    quote: Character = _CSV["quote"]
    """The quote character; quoted values may hold the delimiter and line breaks."""
    escape: Character = _CSV["escape"]
    """The character that escapes a quote inside a quoted value (the quote itself: doubled quotes)."""
    encoding: Encoding = _CSV["encoding"]
    """Text encoding of the files, e.g. UTF-8 (a BOM is skipped), windows-1252, latin-1."""
    header: bool = _CSV["header"]
    """The first line names the columns; each file is read with its own header."""
    skip_rows: int = Field(_CSV["skip_rows"], ge=0)
    """Lines before the header (a title some exports write above it), dropped unread; needs header: true."""

    @model_validator(mode="after")
    def _skip_needs_header(self) -> CsvReader:
        if self.skip_rows and not self.header:
            fail([(("skip_rows",), "skips the lines before the header: it needs header: true", self.skip_rows)])
        return self


class JsonReader(_Strict):
    """JSON lines or one array per file; auto decides per file."""

    layout: Literal[JSON_LAYOUTS] = READER_DEFAULTS["json"]["layout"]  # type: ignore[valid-type]
    """lines: one record per line; array: one document per file; auto: decided per file."""


class ParquetReader(_Strict):
    """Parquet carries its own schema: no read options."""


READERS: dict[str, type[_Strict]] = {"csv": CsvReader, "json": JsonReader, "parquet": ParquetReader}


def _reader_problems(raw: dict[str, Any], data_format: str) -> list[tuple[tuple[str | int, ...], str, Any]]:
    own = READERS[data_format].model_fields
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    for key, value in raw.items():
        if key in own:
            continue
        if key == "multiline" and data_format == "json":
            text = ("replaced by reader.layout: lines (one record per line), array (one document per file) or auto "
                    "(the default: decided per file)")
        else:
            owners = [fmt for fmt, reader in READERS.items() if key in reader.model_fields]
            options = ", ".join(own) or "none"
            text = (f"not a {data_format} reader option ({'/'.join(owners)} only; {data_format} options: {options})"
                    if owners else f"unknown key ({data_format} options: {options})")
        problems.append(((key,), text, value))
    try:
        READERS[data_format].model_validate({key: value for key, value in raw.items() if key in own})
    except ValidationError as error:
        problems += [(item["loc"], message(item), item.get("input")) for item in error.errors()]
    return problems


# --- columns ------------------------------------------------------------------------------------------------------


def _spark_pattern_problem(pattern: str) -> str | None:
    """Catches the datetime-pattern mistakes Spark only reports at run time (or silently misparses)."""
    if not pattern:
        return "formats must not be empty strings"
    letters = set(re.sub(r"[^A-Za-z]", "", _QUOTED_LITERAL.sub("", pattern)))
    unsupported = sorted(letters - _SPARK_PATTERN_LETTERS)
    if unsupported:
        return (f"pattern {pattern!r} uses {', '.join(unsupported)}, not a Spark datetime pattern letter "
                "(year is 'yyyy', day of month 'dd')")
    if "m" in letters and "M" not in letters and "d" in letters:
        return f"pattern {pattern!r} has minutes ('mm') but no month ('MM')"
    return None


class Column(_Strict):
    """One schema column: the clean column's name, its type, and the source field it is read from."""

    name: Annotated[str, Matching(r"[a-z_][a-z0-9_]{0,254}", "lowercase letters, digits and _")]
    """The clean column's name."""
    type: str = Field(json_schema_extra={
        "pattern": rf"^({'|'.join(SIMPLE_TYPES)}|decimal\(\d+, ?\d+\))$"})
    """string, int, bigint, double, boolean, date, timestamp or decimal(p,s)."""
    nullable: bool = True
    """false: a row without a value is rejected as missing:<column>."""
    formats: Tokens = Field(default_factory=list)
    """Date and timestamp columns: Spark datetime patterns tried in order, e.g. dd/MM/yyyy."""
    source: NonEmptyText | None = None
    """The source field (CSV header, dotted JSON path) when it is not the name."""

    _canonical = field_validator("type")(classmethod(lambda cls, value: canonical_type(value)))
    _formats = field_validator("formats")(classmethod(lambda cls, value, info: date_formats(value, info)))

    def to_contract(self) -> ColumnSpec:
        return ColumnSpec(name=self.name, type=self.type, nullable=self.nullable, formats=tuple(self.formats),
                          source=self.source)


def canonical_type(value: str) -> str:
    """The canonical type name: ``DECIMAL( 12 , 2 )`` is ``decimal(12,2)``."""
    text = value.strip().lower()
    if text in SIMPLE_TYPES:
        return text
    decimal = _DECIMAL_TYPE.fullmatch(text)
    if not decimal:
        raise problem(f"must be one of {', '.join(SIMPLE_TYPES)}, decimal(p,s) (got {value!r})")
    precision, scale = int(decimal.group(1)), int(decimal.group(2))
    if not (1 <= precision <= 38 and 0 <= scale <= precision):
        raise problem(f"decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p (got {value!r})")
    return f"decimal({precision},{scale})"


def date_formats(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    """A column's date or timestamp patterns, checked for the mistakes Spark reports only at run time."""
    column_type = info.data.get("type")
    if value and column_type not in ("date", "timestamp", None):
        raise problem(f"only date and timestamp columns take formats (this one is {column_type})")
    pattern_problem = next(filter(None, map(_spark_pattern_problem, value)), None)
    if pattern_problem:
        raise problem(pattern_problem)
    return tuple(value)


class ColumnTypeHint(_Strict):
    """What is known of one column of a dataset without a schema; the rest is inferred."""

    type: str | None = None
    """string, int, bigint, double, boolean, date, timestamp or decimal(p,s); absent: inferred."""
    formats: Tokens = Field(default_factory=list)
    """Date and timestamp patterns to read the column with (the type may then be left to inference)."""
    nullable: bool | None = None
    """false: a row without a value is rejected as missing:&lt;column>."""

    _canonical = field_validator("type")(classmethod(lambda cls, value: canonical_type(value)))
    _formats = field_validator("formats")(classmethod(lambda cls, value, info: date_formats(value, info)))


class InferenceOptions(_Strict):
    """How a column without a declared type gets one."""

    min_share: float = Field(Inference.min_share, gt=0, le=1)
    """A type wins when at least this share of the column's non-null sampled values parse as it; the others are
    rejected as unparseable:&lt;column>. Below it the column stays text."""
    sample_rows: int = Field(Inference.sample_rows, ge=100)
    """Values sampled per column, spread over the whole day's input."""


def resolve_name(name: str, schema: tuple[Column, ...]) -> tuple[str | None, str | None]:
    """(the clean column a name in keys, order_by, rules or columns stands for, or the problem with it).

    With a schema: a column's name or its source. Without: the clean name the job gives that source header (the
    same ``snake_case``), so ``studyName`` and ``study_name`` name one column.
    """
    if schema:
        names = [column.name for column in schema]
        sources = {column.source: column.name for column in schema if column.source}
        if name in names or name in sources:
            return sources.get(name, name), None
        return None, f"{name!r} is not a schema column (columns: {', '.join(names)})"
    clean = snake_case(name)
    if not clean or clean[0].isdigit():
        return None, f"{name!r} gives no clean column name (letters, digits and _, not starting with a digit)"
    return clean, None


def _repeats(values: list[str], what: str) -> str | None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    return f"repeats the {what} {', '.join(map(repr, repeated))}" if repeated else None


# --- locale and rules -------------------------------------------------------------------------------------------


class LocaleOptions(_Strict):
    """How numbers and booleans are written in the dataset's files."""

    decimal: Character = "."
    """The decimal separator."""
    thousands: OptionalCharacter = ""
    """The thousands separator; empty: numbers carry none."""
    true_values: Tokens = Field(default_factory=lambda: list(TRUE_TOKENS))
    """Spellings of true (compared trimmed and case-insensitively)."""
    false_values: Tokens = Field(default_factory=lambda: list(FALSE_TOKENS))
    """Spellings of false (compared trimmed and case-insensitively)."""
    language: Literal[LANGUAGES] = "es"  # type: ignore[valid-type]
    """Month names and abbreviations in dates are read in this language and in English (15-ene-2024, 15 de enero de
    2024, Jan 15 2024)."""
    symbols: Tokens = Field(default_factory=list)
    """Symbols written before or after numbers, dropped before reading them, e.g. ["€", "$", "%"]: "12,50 €" is
    12.50 and "12 %" is 12 (not 0.12)."""

    @model_validator(mode="after")
    def _separators_differ(self) -> LocaleOptions:
        if self.decimal == self.thousands:
            fail([(("thousands",), f"must differ from locale.decimal (both {self.decimal!r})", self.thousands)])
        return self

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [symbol for symbol in value if not symbol or any(c.isdigit() or c in "+-.," for c in symbol)]
        if bad:
            raise problem(f"must not be empty nor hold digits, signs or separators (got {bad!r})")
        return value

    def to_contract(self) -> Locale:
        return Locale(decimal=self.decimal, thousands=self.thousands or None, true_values=tuple(self.true_values),
                      false_values=tuple(self.false_values), language=self.language, symbols=tuple(self.symbols))


class RuleShape(_Strict):
    """A rule's keys, for the JSON Schema; the values are checked against the column's type when it is known."""

    required: bool = False
    min: float | str | None = None
    max: float | str | None = None
    allowed: list[float | str | bool] | None = None
    regex: str | None = None


def _rules(raw: dict[str, Any], schema: tuple[Column, ...] | None, hints: tuple[ColumnHint, ...]
           ) -> tuple[ColumnRule, ...]:
    """``rules: {column: {required, min, max, allowed, regex}}``; checked against the column's type when the
    schema or a column hint gives it (otherwise the job checks them once it has inferred the types). A rule may
    name the column by its clean name or its source header."""
    types = {column.name: column.type for column in schema or ()} or {
        hint.name: hint.type for hint in hints if hint.type is not None}
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    rules = []
    for name, checks in raw.items():
        column, name_problem = resolve_name(name, tuple(schema or ()))
        if name_problem or column is None:
            problems.append(((name,), name_problem or "", checks))
            continue
        if not isinstance(checks, dict) or not checks:
            text = f"must be a mapping (got {checks!r})" if not isinstance(checks, dict) else \
                f"must set one of {', '.join(RULE_CHECKS)}"
            problems.append(((name,), text, checks))
            continue
        found = [((name, key), f"unknown key (known: {', '.join(RULE_CHECKS)})", checks[key])
                 for key in checks if key not in RULE_CHECKS]
        values = {}
        for key in (key for key in RULE_CHECKS if key in checks):
            rule_problem, values[key] = rule_value(checks[key], key, types.get(column))
            if rule_problem:
                found.append(((name, key), rule_problem, checks[key]))
        low, high = values.get("min"), values.get("max")
        if low is not None and high is not None and type(low) is type(high) and low > high:
            found.append(((name, "max"), f"must not be less than min ({low!r})", checks["max"]))
        problems += found
        if not found:
            allowed = values.get("allowed")
            rules.append(ColumnRule(column=column, required=values.get("required", False), min=low, max=high,
                                    allowed=None if allowed is None else tuple(allowed), regex=values.get("regex")))
    if problems:
        fail(problems)
    return tuple(rules)


# --- the dataset ------------------------------------------------------------------------------------------------


def _source_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if value.startswith(("/", "\\")) or PureWindowsPath(value).drive:
        return f"must be relative to the source root, not absolute (got {value!r})"
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        return f"must not contain '..' (got {value!r})"
    if value.endswith("/"):
        return f"must name files, not a folder: add a file pattern such as '*.csv' (got {value!r})"
    leftover = value.replace(RUN_DATE_PLACEHOLDER, "")
    if "{" in leftover or "}" in leftover:
        return f"the only placeholder is {{ds}} (got {value!r})"
    return None


def _time_zone_problem(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"must be a time zone such as UTC or Europe/Madrid (got {value!r})"
    return None


# The JSON Schema of the options validated by a field validator, built only when a schema is asked for (make
# schema), not when the DAG imports the config.
def _reader_schemas(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [reader.model_json_schema() for reader in READERS.values()]


def _rule_schema(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = RuleShape.model_json_schema()


class DatasetEntry(_Strict):
    """One family of exported files, backed up and cleaned as one table named ``name``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    """The dataset's name: an S3 prefix and a Glue table name in both databases."""
    source: Annotated[str, checked(_source_problem)]
    """A glob relative to the source root; {ds} is the run date, no {ds} means a snapshot."""
    format: Literal[FORMATS]  # type: ignore[valid-type]
    """csv, json or parquet."""
    reader: dict[str, Any] = Field(default_factory=dict, validate_default=True, json_schema_extra=_reader_schemas)
    """Read options of the format (see CsvReader, JsonReader); unset options take their defaults."""
    null_tokens: Tokens = Field(default_factory=lambda: list(DEFAULT_NULL_TOKENS))
    """Values that mean null, compared trimmed and case-insensitively; the default covers what pandas, R, Spark and
    spreadsheets write. A list here replaces it ([] for none)."""
    schema_: list[Column] = Field(default_factory=list, alias="schema")
    """The clean table's columns; empty: the job infers them from a sample."""
    columns: dict[str, ColumnTypeHint] = Field(default_factory=dict)
    """Without a schema: what is known of some columns (type, formats, nullable), by clean name or source header;
    the others are inferred."""
    keys: Names = Field(default_factory=list)
    """Columns that identify a row (declared nullable: false); rows sharing them are duplicates."""
    order_by: NonEmptyText | None = None
    """Among rows sharing the keys, the one with the greatest value of this column is kept."""
    locale: LocaleOptions = Field(default_factory=LocaleOptions)
    """How numbers and booleans are written."""
    on_empty: Literal[ON_EMPTY] = "fail"  # type: ignore[valid-type]
    """A run date without records: fail (the backup for a date without files, the cleaning job for files without a
    record), or skip (an empty manifest; an empty clean partition with zero counts, which validation accepts)."""
    rules: dict[str, Any] = Field(default_factory=dict, json_schema_extra=_rule_schema)
    """Checks per column: required, min, max, allowed, regex; a failing row is rejected as rule:<column>:<kind>."""
    schema_evolution: Literal[SCHEMA_EVOLUTION] = "add"  # type: ignore[valid-type]
    """A source column the schema (or the clean table) lacks: add it, ignore it, or fail the job."""
    flatten_separator: Annotated[str, Matching(r"[a-z0-9_]{1,8}", "1 to 8 of a-z, 0-9, _")] = "_"
    """Joins nested JSON/Parquet field names: cliente.dir -> cliente_dir."""
    time_zone: Annotated[str, checked(_time_zone_problem)] = "UTC"
    """The zone of timestamps written without an offset."""
    rounding: Literal[ROUNDING] = "reject"  # type: ignore[valid-type]
    """Decimals beyond a decimal column's scale: reject the row (precision:<column>) or round half up and count."""
    inference: InferenceOptions = Field(default_factory=lambda: InferenceOptions.model_validate({}))
    """How columns without a declared type get one."""
    missing_columns: Literal[MISSING_COLUMNS] = "fail"  # type: ignore[valid-type]
    """A schema column absent from a file: fail the job, or read it as NULL (a required column then rejects)."""
    checks: list[Any] = Field(default_factory=list, validate_default=True, json_schema_extra=checks_json_schema)
    """Checks validation runs on the run date's clean partition, one kind per item: not_null, unique,
    accepted_values, range, relationship, row_count, freshness, sql. Not the Glue job's input: editing one does
    not clean a date again."""
    anomalies: AnomalyOptions = Field(default_factory=lambda: AnomalyOptions.model_validate({}))
    """The partition against the previous committed dates: row count, NULL shares, schema drift."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _count(cls, value: Any, info: ValidationInfo) -> Any:
        """Numbers the entries as they are validated, for the duplicate-name check."""
        if info.context is not None:
            info.context["index"] = info.context.get("index", 0) + 1
        return value

    @field_validator("name")
    @classmethod
    def _unique_name(cls, value: str, info: ValidationInfo) -> str:
        if info.context is None:
            return value
        seen = info.context.setdefault("names", {})
        if value in seen:
            raise problem(f"duplicate: dataset #{seen[value]} has the same name")
        seen[value] = info.context["index"]
        return value

    @field_validator("reader")
    @classmethod
    def _reader_of_the_format(cls, value: dict[str, Any], info: ValidationInfo) -> MappingProxyType[str, Any]:
        data_format = info.data.get("format")
        if data_format is None:
            return MappingProxyType(value)  # options cannot be judged without a valid format, already reported
        problems = _reader_problems(value, data_format)
        if problems:
            fail(problems)
        return MappingProxyType({**READER_DEFAULTS[data_format], **value})

    @field_validator("schema_")
    @classmethod
    def _unique_columns(cls, value: list[Column]) -> tuple[Column, ...]:
        # Sources default to names, so repeated names would be reported twice: check sources only after names.
        repeats = _repeats([c.name for c in value], "column name") or _repeats(
            [c.source or c.name for c in value], "column source")
        if repeats:
            raise problem(repeats)
        return tuple(value)

    @field_validator("columns")
    @classmethod
    def _hints_without_schema(cls, value: dict[str, ColumnTypeHint], info: ValidationInfo
                              ) -> tuple[ColumnHint, ...]:
        if value and info.data.get("schema_"):
            raise problem("are hints for a dataset without a schema: set type, formats and nullable on the schema")
        hints: list[ColumnHint] = []
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        for name, hint in value.items():
            clean, name_problem = resolve_name(name, ())
            if name_problem or clean is None:
                problems.append(((name,), name_problem or "", name))
                continue
            hints.append(ColumnHint(clean, hint.type, tuple(hint.formats), hint.nullable))
        repeated = _repeats([hint.name for hint in hints], "clean column name")
        if repeated:
            problems.append(((), repeated, list(value)))
        if problems:
            fail(problems)
        return tuple(hints)

    @field_validator("keys")
    @classmethod
    def _keys_in_schema(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        schema = tuple(info.data.get("schema_", ()))
        columns = {column.name: column for column in schema}
        problems, keys = [], []
        for key in value:
            clean, name_problem = resolve_name(key, schema)
            if name_problem or clean is None:
                problems.append(((), name_problem or "", key))
            elif columns and columns[clean].nullable:
                problems.append(((), f"key column {clean!r} must be declared nullable: false", key))
            else:
                keys.append(clean)
        if problems:
            fail(problems)
        repeated = _repeats(keys, "key column")
        if repeated:
            raise problem(repeated)
        return tuple(keys)

    @field_validator("order_by")
    @classmethod
    def _order_by_a_column(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "keys" not in info.data:
            return value
        clean, name_problem = resolve_name(value, tuple(info.data.get("schema_", ())))
        if name_problem:
            raise problem(name_problem)
        if not info.data["keys"]:
            raise problem("needs keys: it picks the latest row among rows sharing the keys")
        return clean

    @field_validator("locale")
    @classmethod
    def _tokens_apart(cls, value: LocaleOptions, info: ValidationInfo) -> LocaleOptions:
        """A token in two lists would make a value both true and false, or both null and a boolean the locale
        lists. Null tokens apply first, so one that is also a default boolean spelling (a dataset's "-" or "n")
        is no conflict: only boolean lists the locale gives are compared with the null tokens."""
        lists = {"null_tokens": info.data.get("null_tokens"), "true_values": value.true_values,
                 "false_values": value.false_values}
        names = list(lists)
        problems = []
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                if lists[first] is None or (first == "null_tokens" and second not in value.model_fields_set):
                    continue
                # Values are trimmed before they are compared with tokens.
                shared = {t.strip().casefold() for t in lists[first] or ()} & {
                    t.strip().casefold() for t in lists[second] or ()}
                if shared:
                    other = first if first == "null_tokens" else f"locale.{first}"
                    problems.append(((second,), f"shares {', '.join(map(repr, sorted(shared)))} with {other}",
                                     lists[second]))
        if problems:
            fail(problems)
        return value

    @field_validator("rules")
    @classmethod
    def _rules_fit_the_columns(cls, value: dict[str, Any], info: ValidationInfo) -> tuple[ColumnRule, ...]:
        return _rules(value, info.data.get("schema_"), info.data.get("columns", ()))

    @field_validator("flatten_separator")
    @classmethod
    def _only_nested_formats(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("format") == "csv":
            raise problem("only json and parquet datasets have nested fields to flatten")
        return value

    @field_validator("checks")
    @classmethod
    def _checks_fit_the_columns(cls, value: list[Any], info: ValidationInfo) -> tuple[DeclaredCheck, ...]:
        # Without a valid schema, hints and keys (their problems are reported) only the checks' shapes are judged.
        data = info.data
        usable = all(key in data for key in ("schema_", "columns", "keys"))
        columns = _check_columns(data["schema_"], data["columns"], data["keys"]) if usable else None
        problems, built = declared_checks(value, columns, data.get("time_zone", "UTC"))
        if info.context is not None and columns is not None and "name" in data:
            # For the document's relationship checks, which are reported with this entry's other problems.
            info.context.setdefault("checks", {})[info.context["index"] - 1] = (data["name"], built, columns)
        if problems:
            fail(problems)
        return tuple(check for _, check in built)

    def check_columns(self) -> CheckColumns:
        return _check_columns(self.schema_, self.columns, self.keys)

    def to_quality(self) -> DatasetQuality:
        return dataset_quality(self.checks, self.anomalies)

    def to_contract(self) -> Dataset:
        return Dataset(
            name=self.name, source=self.source, format=self.format, reader=self.reader,
            null_tokens=tuple(self.null_tokens), keys=tuple(self.keys),
            schema=tuple(column.to_contract() for column in self.schema_), locale=self.locale.to_contract(),
            order_by=self.order_by, on_empty=self.on_empty, rules=tuple(self.rules),  # type: ignore[arg-type]
            schema_evolution=self.schema_evolution, flatten_separator=self.flatten_separator,
            time_zone=self.time_zone, rounding=self.rounding, columns=tuple(self.columns),  # type: ignore[arg-type]
            inference=Inference(self.inference.min_share, self.inference.sample_rows),
            missing_columns=self.missing_columns)


def _check_columns(schema: Any, hints: Any, keys: Any) -> CheckColumns:
    """What a dataset's checks may name, from its validated schema, column hints and keys."""
    columns = tuple(schema)
    return CheckColumns.of(columns, hints, keys, lambda name: resolve_name(name, columns))
