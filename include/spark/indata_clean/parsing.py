"""Text to typed values: trimming, null tokens, numbers as the locale writes them, booleans, dates, timestamps."""
from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from indata_clean.columns import RAW_VALUES, data_columns, spark_type, text_columns
from indata_clean.dates import parse_with_month_names
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
NUMBER_TYPES = ("int", "bigint", "double")
# The two marks numbers are written with: a locale using both reads a value written the other way round when
# only that reading is possible.
MARKS = ".,"
# Spaces between a symbol and its number: Java's \s, the no-break and the narrow no-break space.
SYMBOL_GAP = "[\\s\u00a0\u202f]*"


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


def _number_pattern(decimal: str, thousands: str | None) -> str:
    """A number as written with these marks: an optional sign, digits (thousands separators between groups of
    three), an optional fraction (digits on both sides of the mark) and an optional exponent.

    Stricter than simply dropping the thousands separator: it must separate groups of three digits, so that in a
    "1.234,56" locale "1.23,4" is rejected rather than read as 123.4.
    """
    digits = r"\d+"
    if thousands is not None:
        digits = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)"
    return rf"^[+-]?{digits}(?:{re.escape(decimal)}\d+)?(?:[eE][+-]?\d+)?$"


def _without_symbols(value: Column, symbols: Sequence[str]) -> Column:
    """The value without one of the locale's symbols written before it (after its sign or before it: "-$5",
    "$-5") or after it ("12,50 €", "15%"), spaces between them included."""
    if not symbols:
        return value
    symbol = "|".join(re.escape(s) for s in sorted(symbols, key=len, reverse=True))
    before, after = rf"^([+-]?)(?:{symbol}){SYMBOL_GAP}", rf"{SYMBOL_GAP}(?:{symbol})$"
    # One symbol at most: "$12 $" keeps its second one and is no number.
    return F.when(value.rlike(before), F.regexp_replace(value, before, "$1")).otherwise(
        F.regexp_replace(value, after, ""))


def plain_number(value: Column, locale: Locale) -> Column:
    """The text as Spark's cast reads a number (``-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?``: no symbol, no ``+``, no
    thousands separator, a ``.`` mark), or NULL when it is no number as the locale writes it.

    When the locale's marks are ``.`` and ``,``, a value only the other way round can be read is read so: both
    marks ("1,234.50" with a ``,`` decimal mark: the last one is the decimal mark), or one mark not followed by a
    group of three digits ("1234.50", "1.5"). A value both ways can be read ("1.234") keeps the locale's reading.
    """
    text = _without_symbols(value, locale.symbols)
    readings = [(locale.decimal, locale.thousands)]
    if {locale.decimal, locale.thousands} == set(MARKS):
        readings.append((locale.thousands or "", locale.decimal))
    plain = None
    for decimal, thousands in readings:
        shaped = text.rlike(_number_pattern(decimal, thousands))
        # translate deletes the characters past the replacement's length: the sign + and the thousands mark.
        delocalized = F.translate(text, f"{decimal}+{thousands or ''}", ".")
        plain = F.when(shaped, delocalized) if plain is None else plain.when(shaped, delocalized)
    assert plain is not None
    return plain


def decimal_places(plain: Column) -> Column:
    """How many decimal places a ``plain_number`` needs ("1.50" 1, "1.5e-3" 4, "1500" or "1.5e3" 0 or less)."""
    fraction = F.regexp_extract(plain, r"\.(\d+)", 1)
    exponent = F.coalesce(F.regexp_extract(plain, r"[eE]([+-]?\d+)$", 1).cast(T.LongType()), F.lit(0))
    digits = F.regexp_replace(plain, r"^-|\.|[eE].*$", "")
    trailing_zeros = F.length(digits) - F.length(F.regexp_replace(digits, "0+$", ""))
    with_exponent = F.length(fraction) - exponent - trailing_zeros
    # Most numbers have no exponent: their places are the fraction's digits but its trailing zeros, one regex
    # on a few characters instead of four on the whole number (a value without a mark needs none: 0).
    without_exponent = F.when(plain.contains("."), F.length(F.regexp_replace(F.substring_index(plain, ".", -1),
                                                                             "0+$", ""))).otherwise(F.lit(0))
    return F.when(_has_exponent(plain), with_exponent).otherwise(without_exponent)


def _has_exponent(plain: Column) -> Column:
    # Substring tests on a plain number, cheaper than a regex on every value.
    return plain.contains("e") | plain.contains("E")


def number_shape(value: Column, spec: ColumnSpec, locale: Locale, plain: Column | None = None) -> Column | None:
    """True when the text is a number as the locale writes it, for a number column; None for other types.

    An integer column takes digits alone, or a number with an exponent whose value is whole ("1e3", "1.5E3"); a
    fraction ("1.5", "15e-1") is no integer. ``plain``: the value's ``plain_number``, when the caller has it (one
    expression, not two: Spark does not share it between a CASE's branches).
    """
    plain = plain_number(value, locale) if plain is None else plain
    if spec.type in ("int", "bigint"):
        has_exponent = _has_exponent(plain)
        digits_only = ~plain.contains(".") & ~has_exponent
        return digits_only | (has_exponent & (decimal_places(plain) <= 0))
    if spec.type == "double" or spec.type.startswith("decimal"):
        return plain.isNotNull()
    return None


def is_number(spec: ColumnSpec) -> bool:
    """True for the column types read from text through ``plain_number``."""
    return spec.type in NUMBER_TYPES or spec.type.startswith("decimal")


def _parse_number(value: Column, spec: ColumnSpec, locale: Locale, plain: Column | None = None) -> Column:
    """The number, or NULL: not a number (``number_shape``), too long or out of the type's range. ``plain``: the
    value's ``plain_number``, when the caller has it."""
    plain = plain_number(value, locale) if plain is None else plain
    # Java parses a long digit string in quadratic time (a 1 MiB value: minutes); none this long fits a type. An
    # exponent of five digits is beyond every type, and a decimal cast would build 10^n first.
    huge_exponent = _has_exponent(plain) & plain.rlike(r"[eE]-?0*[1-9]\d{4,}$")
    castable = number_shape(value, spec, locale, plain) & (F.length(value) <= MAX_NUMBER_LENGTH) & ~huge_exponent
    data_type = spark_type(spec.type)
    if spec.type not in ("int", "bigint"):
        return F.when(castable, plain.cast(data_type))
    # Spark's integer cast takes no exponent and wraps a decimal out of range: a whole number with an exponent goes
    # through decimal(38,0) and the type's bounds.
    limit = 1 << (31 if spec.type == "int" else 63)
    whole = plain.cast(T.DecimalType(38, 0))
    in_range = (whole >= F.lit(Decimal(-limit))) & (whole < F.lit(Decimal(limit)))
    return F.when(castable & ~_has_exponent(plain), plain.cast(data_type)).when(
        castable & in_range, whole.cast(data_type))


def parse_string(value: Column, spec: ColumnSpec, locale: Locale, time_zone: str = "UTC",
                 plain: Column | None = None) -> Column:
    """Parse a trimmed string as ``spec.type``; NULL when the value does not parse (a try-cast).

    Spark 3.5's non-ANSI cast is too lenient for a gate ("12.5" -> 12 as int, "1d" -> 1.0 as double), so numbers
    must first match the locale's pattern; the cast then only yields NULL on overflow (which ``value_change``
    tells apart). What the cast would change without a NULL is ``value_change``'s business too. ``plain``: for a
    number, the value's ``plain_number`` when the caller has it.
    """
    if is_number(spec):
        return _parse_number(value, spec, locale, plain)
    if spec.type == "boolean":
        lowered = F.lower(value)
        is_true = lowered.isin(list(folded(locale.true_values)))
        is_false = lowered.isin(list(folded(locale.false_values)))
        return F.when(is_true, True).when(is_false, False)
    if spec.type == "date":
        # With timeParserPolicy=CORRECTED a value that does not match a format is NULL, so the first match wins.
        formats = spec.formats or (ISO_DATE_FORMAT,)
        return F.coalesce(*[parse_with_month_names(value, fmt, locale.language, F.to_date) for fmt in formats])
    if spec.type == "timestamp":
        return _parse_timestamp(value, spec.formats, time_zone, locale.language)
    return value.cast(spark_type(spec.type))


def _names_a_zone(pattern: str) -> bool:
    """True when a datetime pattern reads an offset or zone (X, x, Z, z, O, V outside quoted literals)."""
    return re.search(r"[XxZzOV]", re.sub(r"'[^']*'", "", pattern)) is not None


def _parse_timestamp(value: Column, formats: Sequence[str], time_zone: str, language: str) -> Column:
    """A timestamp written in ``time_zone`` unless the value carries its own offset; the session reads UTC."""

    def from_local(timestamp: Column) -> Column:
        return timestamp if time_zone == "UTC" else F.to_utc_timestamp(timestamp, time_zone)

    if not formats:
        # Spark's cast takes ISO values with or without an offset ("...T10:00:00+01:00", "...10:00:00Z").
        has_offset = value.rlike(r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$")
        cast = F.when(value.rlike(ISO_TIMESTAMP), value.cast(T.TimestampType()))
        return F.when(has_offset, cast).otherwise(from_local(cast))
    parsed = [parse_with_month_names(value, fmt, language, F.to_timestamp) for fmt in formats]
    return F.coalesce(*[p if _names_a_zone(fmt) else from_local(p) for p, fmt in zip(parsed, formats)])


