"""``checks:`` and ``anomalies:`` of a dataset in datasets.yaml, checked against the dataset's columns and built
into the plain objects validation runs (``indata_ops.quality.model``).

They stay out of the job's contract (``indata_contract.Dataset``): the Glue job does not run them, and editing a
check must not change the job's input fingerprint (that would clean an unchanged date again).

A check is one list item with exactly one kind key; not_null and unique take a column or a list of columns as
they are, every kind takes a mapping (``severity`` and ``name`` optional). Columns are named as keys are (clean
name or source header, resolved to the clean name); a dataset without a schema names only the columns it
declares in ``columns:`` or ``keys``. Literals are checked against the column's type and kept typed. A
relationship's target dataset and column are checked once every dataset of the file is known
(``resolve_relationships``, called by the document). A problem's place is ``checks[<n>]`` (the n-th item, from 1)
and the field inside it; ``problems.py`` words it with the check's kind or given name.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from indata_ops.config.checks import Matching, fail
from indata_ops.config.literals import rule_value, typed_literal
from indata_ops.config.problems import message
from indata_ops.quality.model import CHECK_KINDS, AnomalySettings, DatasetQuality, DeclaredCheck, Severity

Problems = list[tuple[tuple[str | int, ...], str, Any]]
CheckName = Annotated[str, Matching(r"[a-z][a-z0-9_]{0,62}", "lowercase letters, digits and _, starting with a letter")]
Literal_ = Annotated[Any, WithJsonSchema({"type": ["number", "string"]})]
_DURATION = re.compile(r"([1-9][0-9]{0,4})([hd])")
_UNITS = {"h": "hours", "d": "days"}
_TARGET = re.compile(r"([a-z][a-z0-9_]{0,62})\.(.+)")
_SELECT = re.compile(r"\s*(select|with)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SQL_PLACEHOLDERS = ("table", "run_date")
# Types a relationship may join, by family: Athena compares numbers of any of these types with each other.
_FAMILIES = {"int": "number", "bigint": "number", "double": "number"}


class _Options(BaseModel):
    """What every check takes."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    severity: Severity = "error"
    """error: a failing check fails validation; warn: it is reported and fails nothing."""
    name: CheckName | None = None
    """What the report calls the check; default: derived from it, e.g. not_null(cliente)."""


class ColumnsCheck(_Options):
    """not_null (no NULL in any of the columns) and unique (no two rows share the column, or the combination of the
    columns). The short form is the column or the list itself: ``not_null: [cliente, importe]``."""

    columns: Annotated[Any, WithJsonSchema({"anyOf": [{"type": "string"}, {
        "type": "array", "items": {"type": "string"}, "minItems": 1}]})]
    """A column, or a list of columns."""


class AcceptedValuesCheck(_Options):
    """Every non-NULL value of the column is one of ``values`` (NULL passes: add not_null for it)."""

    column: str
    """The column (string, number, boolean or date)."""
    values: Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": ["number", "string", "boolean"]},
                                           "minItems": 1})]
    """The accepted values, of the column's type."""


class RangeCheck(_Options):
    """Every non-NULL value of the column within min and max (inclusive; one of them may be left out)."""

    column: str
    """A number, date or timestamp column."""
    min: Literal_ = None
    """The least value: a number, a date YYYY-MM-DD, a timestamp (without an offset: in the dataset's time_zone)."""
    max: Literal_ = None
    """The greatest value, as min."""


class RelationshipCheck(_Options):
    """Every non-NULL value of the column exists in another dataset's clean table (a foreign key). The dataset's
    validation runs after the other dataset's Glue job of the same run."""

    column: str
    """The column of this dataset."""
    to: str
    """The other dataset and its column: <dataset>.<column>, e.g. clientes.id_cliente."""
    dates: Literal["same", "any"] = "same"
    """same: the other dataset's partition of the same run date; any: any of its dates."""


class RowCountCheck(_Options):
    """The partition's rows within min and max (inclusive; one of them may be left out)."""

    min: Annotated[int, Field(ge=0)] | None = None
    """The fewest rows."""
    max: Annotated[int, Field(ge=0)] | None = None
    """The most rows."""


class FreshnessCheck(_Options):
    """The column's greatest value is at most max_age before the end of the run date (UTC)."""

    column: str
    """A date or timestamp column."""
    max_age: Annotated[str, Matching(_DURATION.pattern, "a duration in hours or days such as 36h or 2d")]
    """Nh (hours) or Nd (days), e.g. 2d."""


class SqlCheck(_Options):
    """A query returning the failing rows (none: the check passes)."""

    name: CheckName
    """What the report calls the check (required: a query has no name to derive)."""
    query: str
    """One Athena SELECT (or WITH ... SELECT), without ';'. {table} is the quoted clean table and {run_date} the
    run date (YYYY-MM-DD): filter the run's partition with dt = '{run_date}'. No other braces."""


SHAPES: dict[str, type[_Options]] = {
    "not_null": ColumnsCheck, "unique": ColumnsCheck, "accepted_values": AcceptedValuesCheck, "range": RangeCheck,
    "relationship": RelationshipCheck, "row_count": RowCountCheck, "freshness": FreshnessCheck, "sql": SqlCheck}
SHORT_FORMS = ("not_null", "unique")


class AnomalyOptions(BaseModel):
    """The partition against the median of the previous committed dates: its row count, each numeric column's
    share of NULL rows, and schema drift (columns added, removed or retyped since the previous date)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    history: int = Field(AnomalySettings.history, ge=1)
    """Previous committed dates whose median is the reference."""
    min_history: int = Field(AnomalySettings.min_history, ge=1)
    """Fewer committed dates than this: nothing is compared (the report says so); at most history."""
    row_count_band: float = Field(AnomalySettings.row_count_band, gt=0)
    """Rows outside median * (1 ± band) are an anomaly (0.5: half to one and a half times the median)."""
    null_share_band: float = Field(AnomalySettings.null_share_band, gt=0, le=1)
    """A numeric column's NULL share (0-1) further than this from its median share is an anomaly."""
    severity: Severity = AnomalySettings.severity
    """warn (reported, fails nothing) or error (fails validation)."""

    @model_validator(mode="after")
    def _history_reaches_the_minimum(self) -> AnomalyOptions:
        if self.min_history > self.history:
            fail([(("min_history",), f"must not exceed history ({self.history})", self.min_history)])
        return self

    def to_settings(self) -> AnomalySettings:
        return AnomalySettings(history=self.history, min_history=self.min_history,
                               row_count_band=self.row_count_band, null_share_band=self.null_share_band,
                               severity=self.severity)


def shape_schemas() -> dict[str, dict[str, Any]]:
    """Each check kind's mapping as a JSON Schema, its own keys first and severity and name last."""
    schemas = {}
    for kind, shape in SHAPES.items():
        schema = shape.model_json_schema()
        options = {key: schema["properties"].pop(key) for key in _Options.model_fields}
        schemas[kind] = {**schema, "properties": {**schema["properties"], **options}}
    return schemas


def checks_json_schema(schema: dict[str, Any]) -> None:
    """``checks:`` items for editors: one kind key each, its short form or its mapping (built for `make schema`)."""
    kinds = shape_schemas()
    for kind in SHORT_FORMS:
        kinds[kind] = {"anyOf": [*kinds[kind]["properties"]["columns"]["anyOf"], kinds[kind]]}
    schema["items"] = {"type": "object", "properties": kinds, "additionalProperties": False,
                       "minProperties": 1, "maxProperties": 1}


@dataclass(frozen=True)
class CheckColumns:
    """The columns a dataset's checks may name.

    ``types``: clean name -> type (None: left to the job's inference); ``resolve``: a name as written -> (its
    clean name, or the problem with it); ``declared_only``: a dataset without a schema, whose checked columns must
    be declared in ``columns:`` or ``keys``.
    """

    types: Mapping[str, str | None]
    resolve: Callable[[str], tuple[str | None, str | None]]
    declared_only: bool

    @classmethod
    def of(cls, schema: Sequence[Any], hints: Sequence[Any], keys: Sequence[str],
           resolve: Callable[[str], tuple[str | None, str | None]]) -> CheckColumns:
        """From a dataset's schema columns, or else its column hints and keys (objects with name and type)."""
        if schema:
            return cls({column.name: column.type for column in schema}, resolve, False)
        return cls({**dict.fromkeys(keys), **{hint.name: hint.type for hint in hints}}, resolve, True)

    def column(self, name: Any) -> tuple[str | None, str | None]:
        """(the clean column ``name`` stands for, or the problem with it)."""
        if not isinstance(name, str) or not name:
            return None, f"must be a column name (got {name!r})"
        clean, problem = self.resolve(name)
        if problem or clean is None:
            return None, problem
        if self.declared_only and clean not in self.types:
            declared = ", ".join(self.types) or "none"
            return None, (f"{name!r} is not declared: a dataset without a schema declares the columns its checks "
                          f"name in columns: or keys (declared: {declared})")
        return clean, None

    def typed(self, name: Any) -> tuple[str | None, str | None, str | None]:
        """(clean name, its type, or the problem) for a check that needs the column's type."""
        clean, problem = self.column(name)
        if clean is None:
            return None, None, problem
        column_type = self.types.get(clean)
        if column_type is None:
            return None, None, f"needs the type of {clean!r}: declare it in columns: ({clean}: {{type: ...}})"
        return clean, column_type, None


def declared_checks(raw: list[Any], columns: CheckColumns | None, time_zone: str
                    ) -> tuple[Problems, list[tuple[int, DeclaredCheck]]]:
    """A dataset's ``checks:`` list: (every problem, at its place ``(index, field)``; the checks that were built,
    by index).

    ``columns`` None: the dataset's schema, hints or keys have problems of their own (reported there), so only the
    checks' shapes are judged. A relationship's ``to_column`` is the name as written until ``resolve_relationships``.
    """
    problems: Problems = []
    built: list[tuple[int, DeclaredCheck]] = []
    for index, item in enumerate(raw):
        found, check = _one_check(item, columns, time_zone)
        problems += [((index, *loc), text, value) for loc, text, value in found]
        if check is not None:
            built.append((index, check))
    return problems + duplicate_names(built), built


def duplicate_names(checks: Sequence[tuple[int, DeclaredCheck]]) -> Problems:
    seen: dict[str, int] = {}
    problems: Problems = []
    for index, check in checks:
        if check.name in seen:
            problems.append(((index,), f"duplicate name {check.name!r}: checks[{seen[check.name] + 1}] has the same "
                                       "name (give one of them another name)", check.name))
        seen.setdefault(check.name, index)
    return problems


def _one_check(item: Any, columns: CheckColumns | None, time_zone: str) -> tuple[Problems, DeclaredCheck | None]:
    kinds = ", ".join(CHECK_KINDS)
    if not isinstance(item, Mapping) or not item:
        return [((), f"must be a mapping with one check kind ({kinds}) (got {item!r})", item)], None
    if len(item) > 1:
        return [((), f"has {len(item)} keys ({', '.join(map(str, item))}): one check kind per item", item)], None
    ((kind, value),) = item.items()
    if kind not in SHAPES:
        return [((), f"unknown check kind {kind!r} (known: {kinds})", item)], None
    shape = SHAPES[kind]
    keys = (*(key for key in shape.model_fields if key not in _Options.model_fields), *_Options.model_fields)
    short = kind in SHORT_FORMS and not isinstance(value, Mapping)
    if not short and not isinstance(value, Mapping):
        return [((), f"must be a mapping ({', '.join(keys)}) (got {value!r})", value)], None
    try:
        options = shape.model_validate({"columns": value} if short else value)
    except ValidationError as error:
        return [(found["loc"], message(found, keys), found.get("input"))
                for found in error.errors(include_url=False)], None
    if columns is None:
        return [], None
    problems, fields = _BUILDERS[kind](options, columns, time_zone)
    if short:  # no "columns" key was written: the problem is the item's
        problems = [(loc[1:], text, bad) for loc, text, bad in problems]
    if problems:
        return problems, None
    return [], DeclaredCheck(kind=kind, name=options.name or derived_name(kind, fields), severity=options.severity,
                             **fields)


def derived_name(kind: str, fields: Mapping[str, Any]) -> str:
    """The name of a check declared without one: not_null(cliente), relationship(cliente -> clientes.id_cliente)."""
    if kind == "relationship":
        return f"relationship({fields['columns'][0]} -> {fields['to_dataset']}.{fields['to_column']})"
    return f"{kind}({', '.join(fields['columns'])})" if fields.get("columns") else kind


Built = tuple[Problems, dict[str, Any]]


def _columns(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    names = options.columns if isinstance(options.columns, list) else [options.columns]
    if not names:
        return [(("columns",), "must name at least one column", options.columns)], {}
    problems: Problems = []
    clean: list[str] = []
    for name in names:
        column, problem = columns.column(name)
        if column is None:
            problems.append((("columns",), problem or "", name))
        elif column in clean:
            problems.append((("columns",), f"repeats the column {column!r}", name))
        else:
            clean.append(column)
    return problems, {"columns": tuple(clean)}


def _literal(value: Any, kind: str, column_type: str, time_zone: str) -> tuple[str | None, Any]:
    """A bound (kind min or max) or the accepted values (kind allowed), checked as rules are, then typed."""
    problem, literal = rule_value(value, kind, column_type)
    if problem:
        return problem, None
    if kind != "allowed":
        return typed_literal(literal, column_type, time_zone)
    typed = [typed_literal(item, column_type, time_zone) for item in literal]
    return next((p for p, _ in typed if p), None), tuple(item for _, item in typed)


def _accepted_values(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    column, column_type, problem = columns.typed(options.column)
    if column is None or column_type is None:
        return [(("column",), problem or "", options.column)], {}
    problem, values = _literal(options.values, "allowed", column_type, time_zone)
    if problem:
        return [(("values",), problem, options.values)], {}
    return [], {"columns": (column,), "values": values}


def _range(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    column, column_type, problem = columns.typed(options.column)
    if column is None or column_type is None:
        return [(("column",), problem or "", options.column)], {}
    if options.min is None and options.max is None:
        return [((), "needs min, max or both", None)], {}
    problems: Problems = []
    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        given = getattr(options, key)
        if given is not None:
            problem, bounds[key] = _literal(given, key, column_type, time_zone)
            if problem:
                problems.append(((key,), problem, given))
    low, high = bounds.get("min"), bounds.get("max")
    if not problems and low is not None and high is not None and low > high:
        problems.append((("max",), f"must not be less than min ({options.min!r})", options.max))
    return problems, {"columns": (column,), **bounds}


def _relationship(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    problems: Problems = []
    column, problem = columns.column(options.column)
    if column is None:
        problems.append((("column",), problem or "", options.column))
    target = _TARGET.fullmatch(options.to)
    if target is None:
        problems.append((("to",), f"must be <dataset>.<column> such as clientes.id_cliente (got {options.to!r})",
                         options.to))
    if problems or target is None:
        return problems, {}
    return [], {"columns": (column,), "to_dataset": target.group(1), "to_column": target.group(2),
                "same_date": options.dates == "same"}


def _row_count(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    if options.min is None and options.max is None:
        return [((), "needs min, max or both", None)], {}
    if options.min is not None and options.max is not None and options.min > options.max:
        return [(("max",), f"must not be less than min ({options.min})", options.max)], {}
    return [], {"min": options.min, "max": options.max}


def _freshness(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    column, column_type, problem = columns.typed(options.column)
    if column is None or column_type is None:
        return [(("column",), problem or "", options.column)], {}
    if column_type not in ("date", "timestamp"):
        return [(("column",), f"needs a date or timestamp column ({column!r} is {column_type})", options.column)], {}
    duration = _DURATION.fullmatch(options.max_age)
    assert duration is not None  # the shape's pattern
    age = datetime.timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    return [], {"columns": (column,), "max_age": age}


def sql_problem(query: str) -> str | None:
    """A check's query must be one SELECT of the run's partition with only the two placeholders."""
    if not _SELECT.match(query):
        first = query.split(None, 1)[0] if query.strip() else ""
        return f"must be a SELECT (or WITH ... SELECT) returning the failing rows (it starts with {first!r})"
    if ";" in query:
        return "must be one statement, without ';'"
    names = _PLACEHOLDER.findall(query)
    unknown = sorted({name for name in names if name not in SQL_PLACEHOLDERS})
    if unknown or "{" in _PLACEHOLDER.sub("", query) or "}" in _PLACEHOLDER.sub("", query):
        return (f"the only placeholders are {{table}} and {{run_date}}, and braces are for them alone "
                f"(got {', '.join('{' + name + '}' for name in unknown) or 'a stray brace'})")
    missing = [f"{{{name}}}" for name in SQL_PLACEHOLDERS if name not in names]
    if missing:
        return (f"must use {' and '.join(missing)}: it queries {{table}} and filters the run's partition "
                "(dt = '{run_date}')")
    return None


def _sql(options: Any, columns: CheckColumns, time_zone: str) -> Built:
    problem = sql_problem(options.query)
    if problem:
        return [(("query",), problem, options.query)], {}
    return [], {"sql": options.query.strip()}


_BUILDERS: dict[str, Callable[[Any, CheckColumns, str], Built]] = {
    "not_null": _columns, "unique": _columns, "accepted_values": _accepted_values, "range": _range,
    "relationship": _relationship, "row_count": _row_count, "freshness": _freshness, "sql": _sql}


# --- across datasets ----------------------------------------------------------------------------------------------


def _family(column_type: str) -> str:
    return "number" if column_type.startswith("decimal") else _FAMILIES.get(column_type, column_type)


def resolve_relationships(datasets: Mapping[int, tuple[str, Sequence[tuple[int, DeclaredCheck]], CheckColumns]],
                          names: Collection[str]) -> tuple[Problems, dict[int, tuple[DeclaredCheck, ...]]]:
    """Relationship checks against their targets: (problems at ``(position, "checks", index, "to")``, each
    dataset's checks with the target column's clean name).

    ``datasets``: by position in the file, the datasets whose columns could be judged: (name, the checks that were
    built with their index in ``checks:``, the columns). ``names``: every dataset name of the file, so that a
    target whose columns have problems of their own is skipped, not called unknown.
    """
    targets = {name: columns for name, _, columns in datasets.values()}
    problems: Problems = []
    resolved: dict[int, tuple[DeclaredCheck, ...]] = {}
    for position, (name, checks, columns) in datasets.items():
        found: Problems = []
        new: list[tuple[int, DeclaredCheck]] = []
        for index, check in checks:
            if check.kind == "relationship" and check.to_dataset in targets and check.to_dataset != name:
                problem, check = _resolved(check, columns, targets[check.to_dataset])
                if problem:
                    found.append(((index, "to"), problem, check.to_dataset))
            elif check.kind == "relationship":
                text = ("must name another dataset" if check.to_dataset == name else
                        None if check.to_dataset in names else
                        f"no dataset {check.to_dataset!r} in this file (datasets: {', '.join(names)})")
                if text:
                    found.append(((index, "to"), text, check.to_dataset))
            new.append((index, check))
        if not found and any(now.name != was.name for (_, now), (_, was) in zip(new, checks)):
            found = duplicate_names(new)  # a renamed relationship may now share its name with another check
        problems += [((position, "checks", *loc), text, value) for loc, text, value in found]
        resolved[position] = tuple(check for _, check in new)
    return problems, resolved


def _resolved(check: DeclaredCheck, columns: CheckColumns, target: CheckColumns) -> tuple[str | None, DeclaredCheck]:
    to_column, problem = target.column(check.to_column)
    if to_column is None:
        return f"{check.to_dataset}: {problem}", check
    here, there = columns.types.get(check.columns[0]), target.types.get(to_column)
    if here is not None and there is not None and _family(here) != _family(there):
        return (f"{check.columns[0]} ({here}) cannot be compared with {check.to_dataset}.{to_column} ({there})",
                check)
    written = {"columns": check.columns, "to_dataset": check.to_dataset, "to_column": check.to_column}
    name = check.name
    if name == derived_name("relationship", written):  # no name given: derived from the clean column
        name = derived_name("relationship", {**written, "to_column": to_column})
    return None, replace(check, to_column=to_column, name=name)


def dataset_quality(checks: Sequence[DeclaredCheck], anomalies: AnomalyOptions) -> DatasetQuality:
    return DatasetQuality(checks=tuple(checks), anomalies=anomalies.to_settings())
