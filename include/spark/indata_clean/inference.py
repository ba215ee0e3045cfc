"""Types for the text columns of a dataset without a schema: a vote over a sample spread over the day's input.

Each candidate type (the clean table's first, then bigint, double, boolean, date, timestamp) counts the sampled
non-null values that parse as it; a type wins when its share reaches ``inference.min_share``. The values that do
not parse are then rejected by ``apply_schema`` as ``unparseable:<column>``: a vote never turns a value into text.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from indata_clean.columns import INTERNAL_COLUMNS, ROW_ID, SOURCE_FILE, data_columns, text_columns
from indata_clean.parsing import parse_string
from indata_contract import ColumnHint, ColumnSpec, Inference, Locale, is_column_type

# Tried in this order; among the types that reach the share, the highest share wins and ties go to the earlier.
INFERABLE_TYPES = ("bigint", "double", "boolean", "date", "timestamp")
NUMBER_TYPES = ("int", "bigint", "double")
# Date shapes tried for a text column without hinted formats. Their shapes exclude one another (separators, field
# widths, literals), except the two slash orders, which evidence decides between: a value's share for a set of
# formats is then the sum of its formats' counts.
# Days and months as one or two digits (d, M): exports write 1/2/2026 as often as 01/02/2026.
ISO_DATE = "yyyy-MM-dd"
DAY_FIRST, MONTH_FIRST = "d/M/yyyy", "M/d/yyyy"
DATE_FORMATS = (ISO_DATE, "yyyy/M/d", DAY_FIRST, MONTH_FIRST, "d-M-yyyy", "d.M.yyyy", "d-MMM-yyyy",
                "d-MMM-yy", "MMM d yyyy", "d 'de' MMMM 'de' yyyy")
SLASH_DATE = r"^(\d{1,2})/(\d{1,2})/\d{4}$"
DAY_MONTH_ORDER = "day/month order"
# A column left as text whose best candidate reads at least this share is reported as looking like that kind.
LOOKS_LIKE_SHARE = 0.5
LOOKS_LIKE = {"int": "number", "bigint": "number", "double": "number", "date": "date", "timestamp": "date"}
DEFAULT_INFERENCE = Inference()
# Examples go into the counts JSON: a 1 MiB field must not.
EXAMPLE_LENGTH = 80


@dataclass(frozen=True)
class ColumnInference:
    """What inference decided for one column and on what evidence; ``to_json`` is its entry in the counts JSON."""

    type: str
    # Share of the sampled non-null values that parse as ``type``; for a column left as text, its best
    # candidate's share; None without candidates or values.
    share: float | None = None
    examples: tuple[str, ...] = ()  # up to 3 sampled values that did not parse
    looks_like: str | None = None  # "number" or "date": left as text, though its best candidate read >= 50%
    undecided: str | None = None  # what the sample could not decide ("day/month order")
    previous_type: str | None = None  # the clean table's type, when it differs from ``type``

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.type, "share": None if self.share is None else round(self.share, 4),
                                 "examples": list(self.examples), "looks_like": self.looks_like}
        if self.undecided is not None:
            entry["undecided"] = self.undecided
        if self.previous_type is not None:
            entry["previous_type"] = self.previous_type
        return entry


@dataclass(frozen=True)
class _Tally:
    """A candidate's count over the sample: values that parse as ``type`` with ``formats``, and failures."""

    type: str
    formats: tuple[str, ...]
    parsed: int
    examples: tuple[str, ...]
    eligible: bool = True  # False when the sample cannot tell which formats apply (day/month order)


def _has_time(pattern: str) -> bool:
    """True when a datetime pattern reads a time of day (letters outside quoted literals)."""
    return re.search(r"[HhkKmsSa]", re.sub(r"'[^']*'", "", pattern)) is not None


def _simple_candidates(known: str | None, hint: ColumnHint | None) -> list[tuple[str, tuple[str, ...]]]:
    """(type, formats) to vote on, in order of preference; ("date", ()) stands for the search of date shapes."""
    if hint is not None and hint.type is not None:
        return [(hint.type, hint.formats)]
    formats = hint.formats if hint is not None else ()
    candidates: list[tuple[str, tuple[str, ...]]] = [("bigint", ()), ("double", ()), ("boolean", ())]
    if any(_has_time(fmt) for fmt in formats):
        candidates.append(("timestamp", formats))
    else:
        candidates += [("date", formats), ("timestamp", ())]
    if known is not None and known != "string" and is_column_type(known):
        first = [c for c in candidates if c[0] == known] or [(known, ())]
        candidates = first + [c for c in candidates if c[0] != known]
    return candidates


def _row_key(df: DataFrame) -> Column:
    """A hash of each row's place in the input (file and row id), or of its values when the frame has no place."""
    if SOURCE_FILE in df.columns and ROW_ID in df.columns:
        return F.xxhash64(F.col(SOURCE_FILE), F.col(ROW_ID))
    return F.xxhash64(*[F.col(name) for name in data_columns(df)])


def spread_sample(df: DataFrame, sample_rows: int, row_count: int) -> DataFrame:
    """About ``sample_rows`` rows spread over the whole input: those whose row hash is 0 modulo a stride.

    Deterministic (the same input gives the same sample) and cheap: the filter runs before any parsing, so only
    the sampled rows are parsed. The sample's size varies around ``row_count / stride`` as hashes do.
    """
    if row_count <= sample_rows:
        return df
    stride = -(-row_count // sample_rows)
    return df.where(F.pmod(_row_key(df), F.lit(stride)) == 0)


def _failure_examples(fails: Column, value: Column, alias: str) -> list[Column]:
    """Three orders of the failing values (smallest, largest, smallest reversed): up to three examples, fixed for
    a given sample, without collecting the values."""
    failing = F.when(fails, value)
    return [F.min(failing).alias(f"{alias}:min"), F.max(failing).alias(f"{alias}:max"),
            F.min(F.reverse(failing)).alias(f"{alias}:rev")]


def _examples(counts: Mapping[str, Any], alias: str) -> tuple[str, ...]:
    found = [counts[f"{alias}:min"], counts[f"{alias}:max"],
             counts[f"{alias}:rev"][::-1] if counts[f"{alias}:rev"] is not None else None]
    unique = list(dict.fromkeys(value for value in found if value is not None))
    return tuple(value if len(value) <= EXAMPLE_LENGTH else value[:EXAMPLE_LENGTH] + "…" for value in unique)


def _date_tally(counts: Mapping[str, Any], alias: str) -> _Tally:
    """The date shapes the sample holds, the slash order decided by evidence: a first field above 12 is a day
    (day-first), a second one above 12 is a day (month-first); all at most 12 decide nothing."""
    parsed = {fmt: counts[f"{alias}:{index}"] for index, fmt in enumerate(DATE_FORMATS)}
    day_first, month_first = counts[f"{alias}:first_over_12"] > 0, counts[f"{alias}:second_over_12"] > 0
    slash = max(parsed[DAY_FIRST], parsed[MONTH_FIRST])
    order: str | None = None
    if day_first != month_first:
        order = DAY_FIRST if day_first else MONTH_FIRST
    elif day_first and parsed[DAY_FIRST] != parsed[MONTH_FIRST]:
        order = DAY_FIRST if parsed[DAY_FIRST] > parsed[MONTH_FIRST] else MONTH_FIRST
    chosen = tuple(fmt for fmt in DATE_FORMATS
                   if parsed[fmt] > 0 and (fmt == order or fmt not in (DAY_FIRST, MONTH_FIRST)))
    others = sum(parsed[fmt] for fmt in chosen if fmt != order)
    examples = _examples(counts, f"{alias}:none")
    if slash > 0 and order is None:
        # Counted for the share (the column does look like dates) but not eligible: the order is unknown.
        return _Tally("date", chosen, others + slash, examples, eligible=False)
    formats = () if chosen == (ISO_DATE,) else chosen
    return _Tally("date", formats, others + (parsed[order] if order else 0), examples)


@dataclass(frozen=True)
class _Plan:
    """One text column's aggregates: the candidates it counts, under aliases made from its position."""

    name: str
    alias: str
    simple: list[tuple[str, tuple[str, ...]]]  # counted as they are
    date_position: int | None  # where the date shape search stands among them, if it runs


def _plan(name: str, position: int, known: str | None, hint: ColumnHint | None) -> _Plan:
    candidates = [] if known == "string" and (hint is None or hint.type is None) else _simple_candidates(known, hint)
    searched = ("date", ()) in candidates and (hint is None or hint.type is None)
    date_position = candidates.index(("date", ())) if searched else None
    simple = [c for c in candidates if not (searched and c == ("date", ()))]
    return _Plan(name, f"c{position}", simple, date_position)


def _flags(plan: _Plan, locale: Locale) -> list[Column]:
    """Per row: the value and whether it parses as each candidate, computed once for every aggregate."""
    value = F.col(plan.name)
    flags = [value.alias(plan.alias), value.rlike(r"^-?0\d").alias(f"{plan.alias}:zeros")]
    for index, (type_name, formats) in enumerate(plan.simple):
        parsed = parse_string(value, ColumnSpec(plan.name, type_name, formats=formats), locale)
        flags.append(parsed.isNotNull().alias(f"{plan.alias}:{index}"))
    if plan.date_position is not None:
        for index, fmt in enumerate(DATE_FORMATS):
            parsed = parse_string(value, ColumnSpec(plan.name, "date", formats=(fmt,)), locale)
            flags.append(parsed.isNotNull().alias(f"{plan.alias}:date:{index}"))
        flags.append(F.when(value.rlike(SLASH_DATE), F.split(value, "/")).alias(f"{plan.alias}:slash"))
    return flags


def _aggregates(plan: _Plan) -> list[Column]:
    alias = plan.alias
    value = F.col(f"`{alias}`")
    has_value = value.isNotNull()
    zeros = F.col(f"`{alias}:zeros`")
    aggregates = [F.count(value).alias(f"{alias}:values"), F.count_if(zeros).alias(f"{alias}:zeros")]
    for index in range(len(plan.simple)):
        ok = F.col(f"`{alias}:{index}`")
        aggregates.append(F.count_if(ok).alias(f"{alias}:{index}"))
        aggregates += _failure_examples(has_value & ~ok, value, f"{alias}:{index}")
    if plan.date_position is not None:
        oks = [F.col(f"`{alias}:date:{index}`") for index in range(len(DATE_FORMATS))]
        aggregates += [F.count_if(ok).alias(f"{alias}:date:{index}") for index, ok in enumerate(oks)]
        none = has_value & ~F.greatest(*oks)
        aggregates += _failure_examples(none, value, f"{alias}:date:none")
        slash = F.col(f"`{alias}:slash`")
        aggregates.append(F.count_if(slash[0].cast("int") > 12).alias(f"{alias}:date:first_over_12"))
        aggregates.append(F.count_if(slash[1].cast("int") > 12).alias(f"{alias}:date:second_over_12"))
    return aggregates


def _tallies(plan: _Plan, counts: Mapping[str, Any]) -> list[_Tally]:
    tallies = [_Tally(type_name, formats, counts[f"{plan.alias}:{index}"], _examples(counts, f"{plan.alias}:{index}"))
               for index, (type_name, formats) in enumerate(plan.simple)]
    if plan.date_position is not None:
        tallies.insert(plan.date_position, _date_tally(counts, f"{plan.alias}:date"))
    return tallies


def _decide(plan: _Plan, counts: Mapping[str, Any], known: str | None, hint: ColumnHint | None,
            min_share: float) -> tuple[ColumnSpec, ColumnInference]:
    values = counts[f"{plan.alias}:values"]
    tallies = _tallies(plan, counts)
    hinted = hint is not None and hint.type is not None
    codes = counts[f"{plan.alias}:zeros"] > 0
    if hinted:
        tally = tallies[0]
        share = tally.parsed / values if values else None
        return ColumnSpec(plan.name, tally.type, formats=tally.formats), ColumnInference(
            tally.type, share, tally.examples if values else ())
    if values == 0:
        chosen = known if known is not None and any(t.type == known for t in tallies) else "string"
        return ColumnSpec(plan.name, chosen), ColumnInference(chosen)

    # Numbers with leading zeros are codes ("007", "08001"), unless the clean table already holds numbers.
    voters = [t for t in tallies if not (codes and t.type in NUMBER_TYPES and t.type != known)]
    passing = [t for t in voters if t.eligible and t.parsed / values >= min_share]
    winner = next((t for t in passing if t.type == known), None)
    if winner is None and passing:
        best_share = max(t.parsed for t in passing)
        winner = next(t for t in passing if t.parsed == best_share)
    undecided = next((DAY_MONTH_ORDER for t in voters if not t.eligible), None)
    if winner is not None:
        return ColumnSpec(plan.name, winner.type, formats=winner.formats), ColumnInference(
            winner.type, winner.parsed / values, winner.examples)
    if not voters:
        return ColumnSpec(plan.name, "string"), ColumnInference("string")
    best = max(voters, key=lambda t: t.parsed)
    share = best.parsed / values
    looks_like = LOOKS_LIKE.get(best.type) if share >= LOOKS_LIKE_SHARE else None
    return ColumnSpec(plan.name, "string"), ColumnInference("string", share, best.examples, looks_like, undecided)


def infer_columns(
    df: DataFrame,
    locale: Locale,
    keys: Sequence[str] = (),
    known_types: Mapping[str, str] | None = None,
    inference: Inference = DEFAULT_INFERENCE,
    hints: Sequence[ColumnHint] = (),
    row_count: int | None = None,
) -> tuple[list[ColumnSpec], dict[str, ColumnInference]]:
    """The schema of a dataset without one, and the evidence for each inferred or hinted column.

    One aggregation over about ``inference.sample_rows`` rows spread over the input (``row_count`` rows; counted
    when not given). A text column becomes bigint, double, boolean, date or timestamp when at least
    ``inference.min_share`` of its sampled non-null values parse as that type; the clean table's type
    (``known_types``) wins when it reaches the share, otherwise the highest share does (ties: that order). Numbers
    with a leading zero in the sample are codes: the column stays text. Dates take the shapes of DATE_FORMATS
    (the chosen ones become the spec's formats); day/month order comes from evidence, and a sample that cannot
    tell keeps the column as text, reported undecided. A hint's type is used as is; its formats are the ones
    voted on for dates and timestamps; ``nullable: false`` and keys make a column required. A column without
    values keeps the table's type, or is text. Typed columns (Parquet) keep their type unless hinted; columns of
    other types (float, arrays, maps) get no spec and pass through unchanged.
    """
    known_types = known_types or {}
    by_name = {hint.name: hint for hint in hints}
    names = data_columns(df)
    absent = [name for name in by_name if name not in names]
    if absent:
        raise ValueError(f"columns: hints name columns {absent} that are not in the data; found {names}")
    string_columns = text_columns(df)
    plans = [_plan(name, position, known_types.get(name), by_name.get(name))
             for position, name in enumerate(string_columns)]
    counts: dict[str, Any] = {}
    if plans:
        rows = df.count() if row_count is None else row_count
        sample = spread_sample(df, inference.sample_rows, rows)
        flags = sample.select(*[flag for plan in plans for flag in _flags(plan, locale)])
        counts = flags.agg(*[aggregate for plan in plans for aggregate in _aggregates(plan)]).first().asDict()

    decided = {plan.name: _decide(plan, counts, known_types.get(plan.name), by_name.get(plan.name),
                                  inference.min_share) for plan in plans}
    specs: list[ColumnSpec] = []
    report: dict[str, ColumnInference] = {}
    for f in df.schema.fields:
        hint = by_name.get(f.name)
        required = f.name in keys or (hint is not None and hint.nullable is False)
        if f.name in decided:
            spec, found = decided[f.name]
        elif f.name in INTERNAL_COLUMNS:
            continue
        elif hint is not None and hint.type is not None:
            spec, found = ColumnSpec(f.name, hint.type, formats=hint.formats), ColumnInference(hint.type)
        elif is_column_type(f.dataType.simpleString()):
            specs.append(ColumnSpec(f.name, f.dataType.simpleString(), nullable=not required))
            continue
        else:
            continue
        specs.append(ColumnSpec(spec.name, spec.type, nullable=not required, formats=spec.formats))
        previous = known_types.get(f.name)
        report[f.name] = found if previous in (None, found.type) else ColumnInference(
            found.type, found.share, found.examples, found.looks_like, found.undecided, previous)
    return specs, report


def infer_schema(df: DataFrame, locale: Locale, *args: Any, **kwargs: Any) -> list[ColumnSpec]:
    """The schema ``infer_columns`` infers (same arguments), without its evidence."""
    return infer_columns(df, locale, *args, **kwargs)[0]
