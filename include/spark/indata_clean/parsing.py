"""Text to typed values: trimming, null tokens, numbers as the locale writes them, booleans, dates, timestamps."""
from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.columns import RAW_VALUES, data_columns, spark_type, text_columns
from indata_contract import ColumnSpec, Locale, folded

# What trimming strips from both ends of a value: Java's \s (space, \t, \n, \x0B, \f, \r), the
# non-breaking space and the byte order mark.
TRIMMED_CHARACTERS = " \t\n\x0b\x0c\r\u00a0\ufeff"
# Strict ISO day when a date column lists no formats: Spark's plain cast would also accept "2026" or "2026-11".
ISO_DATE_FORMAT = "yyyy-MM-dd"
# Strict ISO timestamp (a day alone is midnight) when a timestamp column lists no formats: Spark's cast also
# takes "2026", "2026-11", a time alone (today's date: not idempotent) and zone names (converted twice).
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?))?)?$"
# Longer text is no number of any column type (the largest double has 309 digits).
MAX_NUMBER_LENGTH = 400


def capture_raw_values(df: DataFrame) -> DataFrame:
    """Keep every column's value as read, as a string, in a struct: rejects show exactly what the source held."""
    names = data_columns(df)
    raw = F.struct(*[F.col(name).cast("string").alias(name) for name in names])
    return df.select(*df.columns, raw.alias(RAW_VALUES))


def clean_strings(df: DataFrame, null_tokens: Sequence[str]) -> DataFrame:
    """Trim string columns and turn null tokens (compared case-insensitively, after trimming) into NULL."""
    tokens = [token.strip().lower() for token in null_tokens]
    string_columns = set(text_columns(df))

    def cleaned(name: str) -> Column:
        # F.trim only strips spaces; exports also carry tabs, carriage returns, non-breaking spaces and BOMs.
        # btrim takes a set of characters: a third of the CPU of the equivalent regexp_replace.
        trimmed = F.btrim(F.col(name), F.lit(TRIMMED_CHARACTERS))
        is_null_token = F.lower(trimmed).isin(tokens)
        return F.when(is_null_token, F.lit(None).cast("string")).otherwise(trimmed).alias(name)

    return df.select(
        *[cleaned(name) if name in string_columns else F.col(name) for name in df.columns]
    )


def _number_patterns(locale: Locale) -> tuple[str, str]:
    """Regexes for an integer and a decimal number as written in the locale.

    Once the locale's marks are read, a number must be plain: ``-?\\d+`` or ``-?\\d+(\\.\\d+)?`` (no ``+``, no
    exponent, digits on both sides of the mark), as include/sample_data/README.md has it. Stricter than simply
    dropping the thousands separator: it must separate groups of three digits, so that in a "1.234,56" locale
    "1234.56" is rejected rather than read as 123456.
    """
    digits = r"\d+"
    if locale.thousands is not None:
        digits = rf"(?:\d{{1,3}}(?:{re.escape(locale.thousands)}\d{{3}})+|\d+)"
    integer = rf"-?{digits}"
    decimal = rf"-?{digits}(?:{re.escape(locale.decimal)}\d+)?"
    return integer, decimal


def _delocalized(value: Column, locale: Locale) -> Column:
    """The number with thousands separators removed and a ``.`` decimal mark, ready for Spark's cast."""
    if locale.thousands is not None:
        value = F.translate(value, locale.thousands, "")
    return F.translate(value, locale.decimal, ".")


def number_shape(value: Column, spec: ColumnSpec, locale: Locale) -> Column | None:
    """True when the text is a number as the locale writes it, for a number column; None for other types."""
    integer_pattern, decimal_pattern = _number_patterns(locale)
    if spec.type in ("int", "bigint"):
        return value.rlike(f"^{integer_pattern}$")
    if spec.type == "double" or spec.type.startswith("decimal"):
        return value.rlike(f"^{decimal_pattern}$")
    return None


def parse_string(value: Column, spec: ColumnSpec, locale: Locale, time_zone: str = "UTC") -> Column:
    """Parse a trimmed string as ``spec.type``; NULL when the value does not parse (a try-cast).

    Spark 3.5's non-ANSI cast is too lenient for a gate ("12.5" -> 12 as int, "1d" -> 1.0 as double), so numbers
    must first match the locale's pattern; the cast then only yields NULL on overflow (which ``value_change``
    tells apart). What the cast would change without a NULL is ``value_change``'s business too.
    """
    looks_valid = number_shape(value, spec, locale)
    if looks_valid is not None:
        # Java parses a long digit string in quadratic time (a 1 MiB value: minutes); none this long fits a type.
        is_short = F.length(value) <= MAX_NUMBER_LENGTH
        return F.when(looks_valid & is_short, _delocalized(value, locale).cast(spark_type(spec.type)))
    if spec.type == "boolean":
        lowered = F.lower(value)
        is_true = lowered.isin(list(folded(locale.true_values)))
        is_false = lowered.isin(list(folded(locale.false_values)))
        return F.when(is_true, True).when(is_false, False)
    if spec.type == "date":
        # With timeParserPolicy=CORRECTED a value that does not match a format is NULL, so the first match wins.
        return F.coalesce(*[F.to_date(value, fmt) for fmt in spec.formats or (ISO_DATE_FORMAT,)])
    if spec.type == "timestamp":
        return _parse_timestamp(value, spec.formats, time_zone)
    return value.cast(spark_type(spec.type))


def _names_a_zone(pattern: str) -> bool:
    """True when a datetime pattern reads an offset or zone (X, x, Z, z, O, V outside quoted literals)."""
    return re.search(r"[XxZzOV]", re.sub(r"'[^']*'", "", pattern)) is not None


def _parse_timestamp(value: Column, formats: Sequence[str], time_zone: str) -> Column:
    """A timestamp written in ``time_zone`` unless the value carries its own offset; the session reads UTC."""

    def from_local(timestamp: Column) -> Column:
        return timestamp if time_zone == "UTC" else F.to_utc_timestamp(timestamp, time_zone)

    if not formats:
        # Spark's cast takes ISO values with or without an offset ("...T10:00:00+01:00", "...10:00:00Z").
        has_offset = value.rlike(r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$")
        cast = F.when(value.rlike(ISO_TIMESTAMP), value.cast(T.TimestampType()))
        return F.when(has_offset, cast).otherwise(from_local(cast))
    parsed = [F.to_timestamp(value, fmt) for fmt in formats]
    return F.coalesce(*[p if _names_a_zone(fmt) else from_local(p) for p, fmt in zip(parsed, formats)])


